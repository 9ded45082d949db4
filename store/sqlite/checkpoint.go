package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"sync/atomic"
)

// Checkpoints in the background.
//
// A commit in WAL mode appends the pages it changed to the write-ahead
// log; a checkpoint copies them into the database file, syncing the log
// before and the file after, and once the whole log is copied, the next
// write transaction starts it again from its beginning. SQLite's own
// policy (wal_autocheckpoint) checkpoints in the connection that
// commits, right after its commit, whenever the log holds 1,000 frames or
// more: in Cairn that is the writer, and every write waits behind it. A
// 10,000-task fan checkpointed 4 times during its run and a 1,000-hop
// chain 6 times, each 15–25 ms of the writer (two fsyncs and the copy;
// 30–50 ms of a 350 ms run, measured with the checkpoints turned off).
//
// The store's checkpointer does that copy on its own connection and
// goroutine (a PASSIVE checkpoint: it takes no lock a writer or a reader
// waits for), on a second core where there is one, while the writer goes
// on committing. It cannot restart the log by itself: the log restarts
// only when a write transaction begins with all of it copied, and the
// writer appends to it all along. So when a round has copied the log it
// saw, the writer's next commit copies the little it appended since
// (cairn_wal_hook: a checkpoint with little to sync), and its next
// transaction restarts the log. Where the log grows past
// walWriterFrames all the same (a reader holding an old snapshot keeps
// any checkpoint from copying what it may read; a checkpointer that
// failed), the writer checkpoints at each commit, as SQLite's policy
// would; where it outgrows a round under way (walWaitFrames), the writer
// waits for that round.

// walWatches holds the store's checkpointers by token: the number
// cairn_wal_hook is given for its connection (see walhook_cgo.go).
var (
	walWatches sync.Map // uintptr → *checkpointer
	walTokens  atomic.Uintptr
)

const (
	// walWriterFrames is the log size from which the writer checkpoints
	// at each commit while no round is under way, whatever the last one
	// did.
	walWriterFrames = 4000
	// walWaitFrames is the log size from which the writer waits for a
	// round under way before it commits more: where the checkpointer
	// cannot keep up (a writer faster than its copy, a slow disk), the
	// log stays bounded, as it is when the writer checkpoints itself.
	walWaitFrames = 8000
	// walFinishFrames is the most frames the writer copies after a round
	// of the checkpointer, unless that round copied more than twice as
	// many (the checkpointer does not catch up with the writer): past
	// it, another round comes first.
	walFinishFrames = 256
	// walSizeLimit is the size, in bytes, the writer truncates a larger
	// log file to at its first commit after the log restarted
	// (journal_size_limit).
	walSizeLimit = 64 << 20
)

// checkpointer copies a store's log into its database file in the
// background (see above).
type checkpointer struct {
	token uintptr
	dsn   string // the writer's, for the checkpointer's own connection

	wake chan struct{} // a round is asked for
	stop chan struct{} // closed by close
	done chan struct{} // closed when loop returns

	mu sync.Mutex
	// running is set while a round is asked for or under way; roundEnd
	// is closed when it ends.
	running  bool
	roundEnd chan struct{}
	// copied is the log's size that the last round copied whole, 0 if it
	// did not, if the writer committed nothing past it during the round,
	// or if the writer has since checkpointed.
	copied int
	// appended is the largest log the writer committed while the round
	// under way ran (0 if none): more than the round saw, and the log goes
	// on past what the round copied; none, and the round copied the whole
	// log, which restarts at the writer's next transaction by itself.
	appended int
	// failed is set when the last round failed: the writer checkpoints at
	// its next commit, as SQLite's policy would.
	failed bool
	// again asks for a round once the one under way ends (settle).
	again bool

	db *sql.DB // the checkpointer's connection, opened at its first round

	rounds, failures, writerRounds, waits atomic.Int64
}

func newCheckpointer(dsn string) *checkpointer {
	return &checkpointer{
		token: walTokens.Add(1),
		dsn:   dsn,
		wake:  make(chan struct{}, 1),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
}

// grown is told, inside each commit of the writer from 1,000 frames on,
// the log's size; it answers whether the writer checkpoints now, itself,
// and asks for a round when none is under way. It waits only where the
// log has outgrown a round under way (walWaitFrames), for that round.
func (c *checkpointer) grown(frames int) bool {
	c.mu.Lock()
	if frames < c.copied {
		c.copied = 0 // the log restarted since the round
	}
	if c.running && frames >= walWaitFrames {
		end := c.roundEnd
		c.mu.Unlock()
		<-end
		c.mu.Lock()
		c.waits.Add(1)
	}
	defer c.mu.Unlock()
	switch {
	case c.running:
		// A checkpoint of the writer's would find the log held (SQLITE_BUSY).
		c.appended = max(c.appended, frames)
		return false
	case c.failed || frames >= walWriterFrames:
	case c.copied > 0 && frames-c.copied <= max(walFinishFrames, c.copied/2):
	default:
		c.askLocked()
		return false
	}
	c.copied, c.failed = 0, false
	c.writerRounds.Add(1)
	return true
}

// askLocked starts a round; c.mu is held and none is under way.
func (c *checkpointer) askLocked() {
	c.running, c.appended = true, 0
	c.roundEnd = make(chan struct{})
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// settle asks for a round now, or after the one under way: the store's
// writes are over for a while (a command that ran its run and now reads
// and prints its summary, then closes). The round copies the log into the
// database and syncs both on the checkpointer's connection, beside what
// the command does meanwhile, on a second core where there is one; the
// database's last close (Close, when the log is left larger than
// maxLeftWAL) then finds the log copied, with nothing to sync, where it
// copied and synced it itself (a 10,000-task run: its 12–20 ms of close).
// A commit after settle only makes the close copy and sync what it
// appended, as it would have.
func (c *checkpointer) settle() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.running {
		c.again = true
		return
	}
	c.askLocked()
}

// loop runs the rounds asked for until close.
func (c *checkpointer) loop() {
	defer close(c.done)
	for {
		select {
		case <-c.stop:
			return
		case <-c.wake:
		}
		c.round()
	}
}

// round checkpoints the log once, without waiting for any lock (PASSIVE).
func (c *checkpointer) round() {
	var busy, log, done int
	err := c.open()
	if err == nil {
		err = c.db.QueryRowContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &log, &done)
	}
	c.ended(busy != 0, log, done, err)
}

// ended records a round's outcome: whether it found another checkpoint
// under way (busy), the log's size it saw, the frames of it copied so
// far, its error.
func (c *checkpointer) ended(busy bool, log, done int, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.running, c.copied = false, 0
	if c.roundEnd != nil {
		close(c.roundEnd)
		c.roundEnd = nil
	}
	if c.again {
		c.again = false
		defer c.askLocked() // after this round's outcome, below
	}
	if err != nil {
		c.failed = true
		c.failures.Add(1)
		return
	}
	c.rounds.Add(1)
	// A round that copied the whole log, the writer having appended to it
	// meanwhile, leaves the writer the rest to copy. Without a commit past
	// it, the log restarts at the writer's next transaction, and the log
	// its hook reports next, from 1,000 frames, is a new one: no rest of
	// this round's, but a log for the next round (taken for a rest, it
	// was a whole log the writer copied in its commit).
	if !busy && log > 0 && done == log && c.appended > log {
		c.copied = log
	}
}

// open opens the checkpointer's connection, once.
func (c *checkpointer) open() error {
	if c.db != nil {
		return nil
	}
	db, err := sql.Open("sqlite3", c.dsn)
	if err != nil {
		return err
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	c.db = db
	return nil
}

// close ends the loop, after the round under way, and closes the
// checkpointer's connection. The store's writer is still open: closing
// it is not the database's last close, which would checkpoint.
func (c *checkpointer) close() error {
	walWatches.Delete(c.token)
	close(c.stop)
	<-c.done
	if c.db == nil {
		return nil
	}
	return c.db.Close()
}

// watchWAL gives the writer's connection wc the checkpointer, if this
// build can (walWatchRegistered); otherwise the store keeps SQLite's own
// policy.
func (s *Store) watchWAL(ctx context.Context, dsn string) error {
	if !walWatchRegistered() {
		return nil
	}
	c := newCheckpointer(dsn)
	walWatches.Store(c.token, c)
	var ok int
	if err := s.wc.QueryRowContext(ctx, "SELECT cairn_wal_watch(?)", int64(c.token)).Scan(&ok); err != nil {
		walWatches.Delete(c.token)
		return fmt.Errorf("watch the write-ahead log: %w", translate(err))
	}
	s.ckpt = c
	go c.loop()
	return nil
}
