package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/store/internal/sqlrow"
)

// Holds: a pooled task cancelled while running keeps its slots while its
// process may still run (sqlrow.HoldOnCancel sets hold_until to when its
// lease would have expired; sqlrow.HoldAttempt matches its worker's calls).
// Its heartbeats renew the hold (and tell it the run is cancelled); its
// report, refused, ends it — the process is gone —; otherwise it ends
// when it expires (a lost worker).

// releaseHoldQuery ends the hold of attempt (?1, ?2, ?3) under token ?4.
var releaseHoldQuery = `UPDATE task_runs SET hold_until = NULL
WHERE run_id = ?1 AND task_id = ?2 AND attempt = ?3 AND hold_until IS NOT NULL AND ` + sqlrow.HoldAttempt("task_runs", "?4")

// renewHoldQuery renews the live hold of attempt (?3, ?4, ?5) under token
// ?6 to ?1 at now ?7, up to the attempt's due time plus the TTL ?2, as a
// heartbeat renews a lease.
var renewHoldQuery = `UPDATE task_runs SET hold_until = min(?1, coalesce(attempt_due_at + ?2, ?1))
WHERE run_id = ?3 AND task_id = ?4 AND attempt = ?5 AND hold_until > ?7
	AND (attempt_due_at IS NULL OR attempt_due_at + ?2 > ?7) AND ` + sqlrow.HoldAttempt("task_runs", "?6")

// releaseHolds ends the holds of the refused reports among fs (errs[i]
// wrapping cairn.ErrLeaseLost): a worker reports an attempt once its
// process is gone. It reports how many it ended. Only refusals cost a
// statement, one each.
func (s *Store) releaseHolds(ctx context.Context, tx *sql.Conn, fs []scheduler.Finish, errs []error) (int, error) {
	n := 0
	for i, f := range fs {
		if !errors.Is(errs[i], cairn.ErrLeaseLost) {
			continue
		}
		l := f.Lease
		k, err := s.exec(ctx, tx, releaseHoldQuery, l.RunID, l.TaskID, l.Attempt, l.Token)
		if err != nil {
			return n, err
		}
		n += int(k)
	}
	return n, nil
}

// renewHold renews the hold of lease l's attempt, cancelled while
// running, to expires at most (see renewHoldQuery), and reports whether
// there was a live one.
func (s *Store) renewHold(ctx context.Context, tx *sql.Conn, l cairn.Lease, now, expires time.Time, ttl time.Duration) (bool, error) {
	n, err := s.exec(ctx, tx, renewHoldQuery, expires.UnixNano(), int64(ttl), l.RunID, l.TaskID, l.Attempt, l.Token, now.UnixNano())
	return n > 0, err
}
