package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cairnml/cairn"
)

// heartbeatRows is how many leases one statement of HeartbeatMany renews
// at most. A statement for n leases has 4n+6 parameters, well below
// SQLite's limit (32766).
const heartbeatRows = 512

// heartbeatQuery is the statement renewing rows leases, each row a (run,
// task, attempt, token) to match; the expiry comes first, now last. It
// returns one row per lease renewed, with its run's cancel request. A
// running attempt's lease is renewed to its due time (attempt_due_at:
// timeout and cairn.TimeoutGrace over) plus the TTL at most, and refused
// from then on: the server ends an attempt that overran its timeout
// whatever its worker says.
func heartbeatQuery(rows int) string {
	return `UPDATE task_runs SET lease_expires_at = min(?, coalesce(attempt_due_at + ?, ?))
WHERE (run_id, task_id, attempt, lease_token) IN (VALUES ` + strings.TrimSuffix(strings.Repeat(`(?, ?, ?, ?),`, rows), ",") + `)
	AND state IN ('leased', 'running') AND lease_expires_at > ? AND (attempt_due_at IS NULL OR attempt_due_at + ? > ?)
RETURNING run_id, task_id, attempt, lease_token, (SELECT cancel_requested FROM runs INDEXED BY runs_id_small WHERE runs.id = task_runs.run_id)`
}

// heartbeatSize is how many rows the statement renewing n leases (n <=
// heartbeatRows) has: the next power of two, the missing rows repeating
// the last lease, so that a worker's changing number of leases uses a
// handful of prepared statements rather than one per count.
func heartbeatSize(n int) int {
	size := 1
	for size < n {
		size *= 2
	}
	return size
}

// HeartbeatMany extends each of leases to now+ttl, as Heartbeat does one,
// in one transaction of one statement per 512 leases. The results follow
// the order of leases: a renewed lease's reply (its expiry, whether its
// run is being cancelled), or an error wrapping cairn.ErrLeaseLost for
// one that expired, was superseded or whose task left leased/running.
// The attempt of a pooled task cancelled while running is renewed too,
// its hold on the pool's slots (sqlrow.HoldOnCancel) rather than its
// lease, with CancelRequested: one statement each, only for the leases
// the first did not renew.
// The error is the store's own failure, in which case no lease was
// renewed. An empty call writes nothing.
func (s *Store) HeartbeatMany(ctx context.Context, leases []cairn.Lease, now time.Time, ttl time.Duration) ([]cairn.HeartbeatResult, error) {
	out := make([]cairn.HeartbeatResult, len(leases))
	if len(leases) == 0 {
		return out, nil
	}
	if ttl <= 0 {
		return nil, fmt.Errorf("heartbeat %d leases: ttl %v is not positive", len(leases), ttl)
	}
	expires := now.Add(ttl)
	type key struct {
		runID, taskID string
		attempt       int
		token         string
	}
	renewed := make(map[key]bool, len(leases)) // → cancel requested
	// One statement either renews its leases or fails whole, so it needs
	// no savepoint in a shared transaction; several do.
	write := s.inTxCAS
	if len(leases) > heartbeatRows {
		write = s.inTx
	}
	err := write(ctx, func(ctx context.Context, tx *sql.Conn) error {
		clear(renewed)
		for start := 0; start < len(leases); start += heartbeatRows {
			chunk := leases[start:min(start+heartbeatRows, len(leases))]
			size := heartbeatSize(len(chunk))
			args := make([]any, 0, 4*size+6)
			args = append(args, expires.UnixNano(), int64(ttl), expires.UnixNano())
			for i := range size {
				l := chunk[min(i, len(chunk)-1)]
				args = append(args, l.RunID, l.TaskID, l.Attempt, l.Token)
			}
			args = append(args, now.UnixNano(), int64(ttl), now.UnixNano())
			rows, err := s.query(ctx, tx, heartbeatQuery(size), args...)
			if err != nil {
				return err
			}
			for rows.Next() {
				var (
					k      key
					cancel int
				)
				if err := rows.Scan(&k.runID, &k.taskID, &k.attempt, &k.token, &cancel); err != nil {
					rows.Close()
					return translate(err)
				}
				renewed[k] = cancel != 0
			}
			if err := rows.Close(); err != nil {
				return translate(err)
			}
			if err := rows.Err(); err != nil {
				return translate(err)
			}
		}
		// A lease not renewed may be an attempt its run's cancel ended
		// while it ran: its hold on its pool's slots is renewed instead,
		// and its worker told to stop it.
		for _, l := range leases {
			k := key{l.RunID, l.TaskID, l.Attempt, l.Token}
			if _, ok := renewed[k]; ok {
				continue
			}
			held, err := s.renewHold(ctx, tx, l, now, expires, ttl)
			if err != nil {
				return err
			}
			if held {
				renewed[k] = true
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("heartbeat %d leases: %w", len(leases), err)
	}
	for i, l := range leases {
		cancel, ok := renewed[key{l.RunID, l.TaskID, l.Attempt, l.Token}]
		if !ok {
			out[i].Err = fmt.Errorf("heartbeat %s: %w", leaseName(l), cairn.ErrLeaseLost)
			continue
		}
		out[i].Reply = cairn.HeartbeatReply{ExpiresAt: expires, CancelRequested: cancel}
	}
	return out, nil
}

// WriteStats counts what the store's writer did since Open.
type WriteStats struct {
	// Statements is the number of SQL statements run in the store's write
	// transactions: writes, the reads among them, savepoints. BEGIN and
	// COMMIT are not counted.
	Statements int64
	// Transactions is the number of write transactions committed (one
	// commit may carry many callers' writes: see group commit). Open's
	// migrations count too.
	Transactions int64
	// Checkpoints is the number of times the store's checkpointer copied
	// the write-ahead log into the database file, in the background;
	// CheckpointFailures the times it failed (the writer then
	// checkpointed). WriterCheckpoints is the number of checkpoints the
	// writer made itself, in a commit: the rest of a log the checkpointer
	// copied, or the whole of one past 4,000 frames (see checkpoint.go);
	// CheckpointWaits the times it waited for the checkpointer, the log
	// past 8,000 frames.
	Checkpoints, CheckpointFailures, WriterCheckpoints, CheckpointWaits int64
}

// writeCounters are the atomic counts behind WriteStats.
type writeCounters struct {
	stmts, txs atomic.Int64
}

// WriteStats returns the writer's counts so far, to measure how many
// statements some work costs (the bookkeeping of idle runs, say): read
// them before and after.
func (s *Store) WriteStats() WriteStats {
	w := WriteStats{Statements: s.stmts.Load(), Transactions: s.txs.Load()}
	if c := s.ckpt; c != nil {
		w.Checkpoints, w.CheckpointFailures = c.rounds.Load(), c.failures.Load()
		w.WriterCheckpoints, w.CheckpointWaits = c.writerRounds.Load(), c.waits.Load()
	}
	return w
}
