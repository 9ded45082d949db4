package postgres

import (
	"context"
	"errors"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/store/internal/sqlrow"
)

// Holds: a pooled task cancelled while running keeps its slots while its
// process may still run (see store/sqlite's hold.go; sqlrow.HoldOnCancel
// sets hold_until, sqlrow.HoldAttempt matches its worker's calls).

// releaseHolds ends the holds of the refused reports among fs (errs[i]
// wrapping cairn.ErrLeaseLost): a worker reports an attempt once its
// process is gone. One statement for them all, the rows taken in (run,
// task) order; it reports how many holds it ended.
func (s *Store) releaseHolds(ctx context.Context, tx pgx.Tx, fs []scheduler.Finish, errs []error) (int64, error) {
	var ls []cairn.Lease
	for i, f := range fs {
		if errors.Is(errs[i], cairn.ErrLeaseLost) {
			ls = append(ls, f.Lease)
		}
	}
	if len(ls) == 0 {
		return 0, nil
	}
	sort.Slice(ls, func(i, j int) bool {
		if ls[i].RunID != ls[j].RunID {
			return ls[i].RunID < ls[j].RunID
		}
		return ls[i].TaskID < ls[j].TaskID
	})
	runs, tasks, attempts, tokens := leaseArrays(ls)
	return s.exec(ctx, tx, `UPDATE task_runs t SET hold_until = NULL
FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[]) AS v(run_id, task_id, attempt, token)
WHERE t.run_id = v.run_id AND t.task_id = v.task_id AND t.attempt = v.attempt AND t.hold_until IS NOT NULL
	AND `+sqlrow.HoldAttempt("t", "v.token"), runs, tasks, attempts, tokens)
}

// renewHolds renews the live holds of leases' attempts, cancelled while
// running, as HeartbeatMany renews leases (up to the attempt's due time
// plus the TTL), in one statement, and calls held for each it renewed.
func (s *Store) renewHolds(ctx context.Context, tx pgx.Tx, leases []cairn.Lease, now time.Time, ttl time.Duration,
	held func(runID, taskID string, attempt int, token string)) error {
	runs, tasks, attempts, tokens := leaseArrays(leases)
	rows, err := s.query(ctx, tx, `UPDATE task_runs t SET hold_until = least(`+s.clock(5)+` + $6, coalesce(t.attempt_due_at + $6, `+s.clock(5)+` + $6))
FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[]) AS v(run_id, task_id, attempt, token)
WHERE t.run_id = v.run_id AND t.task_id = v.task_id AND t.attempt = v.attempt AND t.hold_until > `+s.clock(5)+`
	AND (t.attempt_due_at IS NULL OR t.attempt_due_at + $6 > `+s.clock(5)+`) AND `+sqlrow.HoldAttempt("t", "v.token")+`
RETURNING t.run_id, t.task_id, t.attempt, v.token`, runs, tasks, attempts, tokens, now.UnixNano(), int64(ttl))
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			run, task, token string
			attempt          int64
		)
		if err := rows.Scan(&run, &task, &attempt, &token); err != nil {
			return translate(err)
		}
		held(run, task, int(attempt), token)
	}
	return translate(rows.Err())
}

// leaseArrays are the columns of leases, as arrays to bind.
func leaseArrays(leases []cairn.Lease) (runs, tasks []string, attempts []int64, tokens []string) {
	runs, tasks, attempts, tokens = make([]string, len(leases)), make([]string, len(leases)), make([]int64, len(leases)), make([]string, len(leases))
	for i, l := range leases {
		runs[i], tasks[i], attempts[i], tokens[i] = l.RunID, l.TaskID, int64(l.Attempt), l.Token
	}
	return runs, tasks, attempts, tokens
}
