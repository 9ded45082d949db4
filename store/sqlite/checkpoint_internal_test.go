package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCheckpointerDecisions: the writer checkpoints itself only for the
// rest of a log a round copied whole while the writer appended to it (a
// little, or less than half of what the round copied), after a failed
// round, or past walWriterFrames; it asks for one round at a time
// otherwise, and a log that restarted since a round (it shrank, or the
// writer appended nothing during the round) is not taken for that
// round's.
func TestCheckpointerDecisions(t *testing.T) {
	c := newCheckpointer("")
	asked := func() bool {
		select {
		case <-c.wake:
			return true
		default:
			return false
		}
	}
	step := func(frames int, writer, ask bool) {
		t.Helper()
		if got := c.grown(frames); got != writer {
			t.Fatalf("grown(%d) = %v, want %v", frames, got, writer)
		}
		if got := asked(); got != ask {
			t.Fatalf("grown(%d) asked for a round: %v, want %v", frames, got, ask)
		}
	}
	step(1000, false, true)
	c.ended(false, 1000, 1000, nil) // the whole log, and no commit meanwhile: it restarts by itself
	step(1002, false, true)         // a new log, not 2 frames past the round's: a round
	step(1010, false, false)        // under way: nothing more
	c.ended(false, 1002, 1002, nil)
	step(1200, true, false) // 190 frames since the round: the writer copies them
	step(1201, false, true) // the log did not restart (a reader): a round again
	c.ended(false, 1201, 900, nil)
	step(1300, false, true) // that round could not copy it all: another
	step(1350, false, false)
	c.ended(false, 1300, 1300, nil)
	step(1900, true, false) // 600 since, less than half of 1,300
	step(1000, false, true)
	step(1100, false, false)
	c.ended(false, 1000, 1000, nil)
	step(1700, false, true) // 700 since, more than 256 and half of 1,000: another round first
	step(1750, false, false)
	c.ended(false, 1700, 1700, nil)
	step(1800, true, false)
	step(1000, false, true)
	step(1650, false, false)
	c.ended(false, 1600, 1600, nil)
	step(1100, false, true) // fewer frames than the round copied: the log restarted, a round
	step(1120, false, false)
	c.ended(false, 1100, 1100, nil)
	step(1150, true, false)
	step(1000, false, true)
	c.ended(true, 1000, 0, nil) // another checkpoint held the log: not copied
	step(1050, false, true)
	c.ended(false, 0, 0, errors.New("disk I/O error"))
	step(1100, true, false)             // after a failure, the writer
	step(1200, false, true)             // and then rounds again
	step(walWriterFrames, false, false) // a round under way: the writer would find the log held
	c.ended(false, 1200, 1200, nil)
	step(walWriterFrames, true, false) // the round's rest is too much, but the log too large
	step(1000, false, true)
	waited := make(chan bool)
	go func() { waited <- c.grown(walWaitFrames) }()
	select {
	case <-waited:
		t.Fatal("past walWaitFrames, the writer did not wait for the round under way")
	case <-time.After(50 * time.Millisecond):
	}
	c.ended(false, 1000, 1000, nil)
	if !<-waited {
		t.Fatal("after its wait, the writer did not checkpoint")
	}
	if got := c.writerRounds.Load(); got != 7 {
		t.Errorf("writer checkpoints %d, want 7", got)
	}
	if got := c.waits.Load(); got != 1 {
		t.Errorf("waits %d, want 1", got)
	}
	if got := c.failures.Load(); got != 1 {
		t.Errorf("failures %d, want 1", got)
	}
}

// walFrames checkpoints the database at path from a connection of its
// own, which copies nothing a reader may still need, and returns the
// frames the log held.
func walFrames(t *testing.T, path string) int {
	t.Helper()
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var busy, log, done int
	if err := db.QueryRow("PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &log, &done); err != nil {
		t.Fatal(err)
	}
	return log
}

// writeFrames commits n transactions of three or four pages each (a
// 6,000-byte blob: a table page and two overflow pages) into scratch.
func writeFrames(t *testing.T, s *Store, n int) {
	t.Helper()
	ctx := context.Background()
	blob := []byte(strings.Repeat("x", 6000))
	for i := range n {
		if err := s.inTx(ctx, func(ctx context.Context, tx *sql.Conn) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO scratch (b) VALUES (?)`, blob)
			return err
		}); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
}

// pinSnapshot writes a little into scratch and begins a read on the
// store's read pool that holds its snapshot until the caller ends it.
func pinSnapshot(t *testing.T, s *Store) *sql.Tx {
	t.Helper()
	writeFrames(t, s, 10)
	rtx, err := s.r.BeginTx(context.Background(), &sql.TxOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := rtx.QueryRow(`SELECT count(*) FROM scratch`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return rtx
}

func scratchStore(t *testing.T) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "c.db")
	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if s.ckpt == nil {
		t.Fatal("the store has no checkpointer: SQLite's own checkpoints, in the writer")
	}
	if err := s.inTx(context.Background(), func(ctx context.Context, tx *sql.Conn) error {
		_, err := tx.ExecContext(ctx, `CREATE TABLE scratch (b BLOB)`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return s, path
}

// TestCheckpointsInTheBackground: writes of 16,000 frames or more are
// checkpointed by the checkpointer, the log restarts (it never holds
// more than walWaitFrames and a write), the writer checkpoints only the rest of a round's log,
// and every write is in the database after Close.
func TestCheckpointsInTheBackground(t *testing.T) {
	s, path := scratchStore(t)
	const writes = 8000 // two or three frames each
	writeFrames(t, s, writes)
	w := s.WriteStats()
	if w.Checkpoints == 0 {
		t.Errorf("no checkpoint in the background: %+v", w)
	}
	if w.WriterCheckpoints == 0 {
		t.Errorf("the writer never copied the rest of a log: it cannot have restarted: %+v", w)
	}
	if w.WriterCheckpoints > w.Checkpoints {
		t.Errorf("the writer checkpointed more often than the checkpointer: %+v", w)
	}
	if w.CheckpointFailures != 0 {
		t.Errorf("checkpoints failed: %+v", w)
	}
	if f := walFrames(t, path); f > walWaitFrames+3 {
		t.Errorf("the log holds %d frames: it did not restart (%+v)", f, w)
	}
	if fi, err := os.Stat(path + "-wal"); err != nil {
		t.Fatal(err)
	} else if max := 32 + int64(walWaitFrames+3)*(4096+24); fi.Size() > max { // its header, its frames
		t.Errorf("the log's file is %d bytes, more than %d: it did not restart", fi.Size(), max)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.ckpt.done:
	default:
		t.Error("the checkpointer's goroutine runs on after Close")
	}
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM scratch`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != writes {
		t.Errorf("%d rows after Close, want %d", n, writes)
	}
}

// TestCheckpointsBehindAReader: a reader's snapshot keeps every
// checkpoint from copying what it may read, so the log grows past
// walWriterFrames, and walWaitFrames; the writer then checkpoints at its
// commits, as SQLite's own policy would, and once the reader is done the
// log restarts.
func TestCheckpointsBehindAReader(t *testing.T) {
	s, path := scratchStore(t)
	rtx := pinSnapshot(t, s)
	before := s.WriteStats()
	writeFrames(t, s, 4500) // 9,000 frames or more
	pinned := s.WriteStats()
	if pinned.WriterCheckpoints-before.WriterCheckpoints == 0 {
		t.Errorf("past %d frames the writer did not checkpoint: %+v", walWaitFrames, pinned)
	}
	if err := rtx.Rollback(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		writeFrames(t, s, 50)
		f := walFrames(t, path)
		if f < walWriterFrames {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the log still holds %d frames after the reader ended (%+v)", f, s.WriteStats())
		}
	}
}

// TestWALWatchOnlyFromAStatement: cairn_wal_watch cannot be called from
// a view or a trigger, which a database file could carry: only the
// store's own statement gives a connection its hook.
func TestWALWatchOnlyFromAStatement(t *testing.T) {
	if !walWatchRegistered() {
		t.Skip("no cgo: no hook")
	}
	db, err := sql.Open("sqlite3", filepath.Join(t.TempDir(), "v.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	var ok int
	if err := db.QueryRow(`SELECT cairn_wal_watch(0)`).Scan(&ok); err != nil || ok != 1 {
		t.Fatalf("cairn_wal_watch from a statement: %d, %v", ok, err)
	}
	if _, err := db.Exec(`CREATE VIEW v AS SELECT cairn_wal_watch(0) AS w`); err != nil {
		t.Fatal(err)
	}
	err = db.QueryRow(`SELECT w FROM v`).Scan(&ok)
	if err == nil || !strings.Contains(err.Error(), "unsafe use of cairn_wal_watch") {
		t.Fatalf("cairn_wal_watch from a view: %v, want refused as unsafe", err)
	}
}

// TestCheckpointsOfAQuietWriter: a writer that commits now and then (a
// server between runs, a chain of long tasks) commits nothing while a
// round copies the log, so the round copies all of it and the log
// restarts at the writer's next transaction by itself: the writer has no
// rest to copy, and the log that grows again to 1,000 frames is a new
// one, for the next round. The writer never checkpoints.
func TestCheckpointsOfAQuietWriter(t *testing.T) {
	s, _ := scratchStore(t)
	c := s.ckpt
	idle := func() {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			c.mu.Lock()
			running := c.running
			c.mu.Unlock()
			if !running {
				return
			}
			if time.Now().After(deadline) {
				t.Fatal("a round did not end in 10 s")
			}
			time.Sleep(time.Millisecond)
		}
	}
	for range 1600 { // three frames or more each: four rounds or more
		writeFrames(t, s, 1)
		idle()
	}
	w := s.WriteStats()
	if w.Checkpoints < 3 || w.CheckpointFailures != 0 {
		t.Errorf("rounds: %+v", w)
	}
	if w.WriterCheckpoints != 0 {
		t.Errorf("the writer checkpointed %d times a log the checkpointer could have copied: %+v", w.WriterCheckpoints, w)
	}
}

// TestWALFileShrinksAfterAReader: a reader's snapshot held through a
// burst of writes grows the log file past walSizeLimit (no checkpoint may
// copy what the reader may read); once the reader is done and the log
// restarted, the writer's next commit truncates the file to the limit.
func TestWALFileShrinksAfterAReader(t *testing.T) {
	s, path := scratchStore(t)
	rtx := pinSnapshot(t, s)
	size := func() int64 {
		t.Helper()
		fi, err := os.Stat(path + "-wal")
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	for size() <= walSizeLimit {
		writeFrames(t, s, 500)
	}
	if err := rtx.Rollback(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for size() > walSizeLimit {
		if time.Now().After(deadline) {
			t.Fatalf("the log file is still %d bytes, over the limit of %d, after the reader ended (%+v)", size(), walSizeLimit, s.WriteStats())
		}
		writeFrames(t, s, 50)
	}
}

// TestSettleCopiesTheLog: after a burst of writes (a log under the 1,000
// frames from which the writer asks for rounds, so none ran), Settle has
// the checkpointer copy the whole log, and a Settle during a round is
// followed by another round: the log another connection then checkpoints
// is all copied (busy 0, log = done). The writer itself never
// checkpointed.
func TestSettleCopiesTheLog(t *testing.T) {
	s, path := scratchStore(t)
	c := s.ckpt
	rounds := func() int64 { return c.rounds.Load() }
	waitRounds := func(n int64) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for rounds() < n {
			if time.Now().After(deadline) {
				t.Fatalf("%d rounds after 10 s, want %d", rounds(), n)
			}
			time.Sleep(time.Millisecond)
		}
	}
	copied := func() (log, done int) {
		t.Helper()
		db, err := sql.Open("sqlite3", path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var busy int
		// PASSIVE with nothing to copy copies nothing: it reports the
		// log and how much of it is in the database.
		if err := db.QueryRow(`PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &log, &done); err != nil || busy != 0 {
			t.Fatalf("wal_checkpoint: busy %d, %v", busy, err)
		}
		return log, done
	}
	writeFrames(t, s, 100)
	if n := rounds(); n != 0 {
		t.Fatalf("%d rounds before Settle (the test reads it wrongly)", n)
	}
	s.Settle()
	waitRounds(1)
	if log, done := copied(); log == 0 || done != log {
		t.Errorf("after Settle: %d of the log's %d frames copied", done, log)
	}
	// Settle while a round is under way: another follows it.
	writeFrames(t, s, 100)
	c.mu.Lock()
	c.askLocked() // a round the writer would have asked for
	c.mu.Unlock()
	s.Settle()
	waitRounds(3)
	if log, done := copied(); log == 0 || done != log {
		t.Errorf("after Settle during a round: %d of the log's %d frames copied", done, log)
	}
	if w := s.WriteStats(); w.WriterCheckpoints != 0 || w.CheckpointFailures != 0 {
		t.Errorf("%+v", w)
	}
	s.Close()
	s.Settle() // closed: nothing
}
