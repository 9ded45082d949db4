package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/store/internal/sqlrow"
)

// RetryRun runs tasks of a finished run again, into the same run, in one
// transaction: see scheduler.RunStore.RetryRun and scheduler.Retry.
func (s *Store) RetryRun(ctx context.Context, r scheduler.Retry) error {
	fn, err := s.retryRunFn(r)
	if err == nil {
		err = s.inTx(ctx, fn)
	}
	if err != nil {
		return fmt.Errorf("retry run %s: %w", r.RunID, err)
	}
	return nil
}

func (b *batchTx) RetryRun(r scheduler.Retry) error {
	fn, err := b.s.retryRunFn(r)
	if err == nil {
		err = b.run(fn, false)
	}
	if err != nil {
		return fmt.Errorf("retry run %s: %w", r.RunID, err)
	}
	return nil
}

func (b *batchTx) ClaimRun(id, owner string, now time.Time, ttl time.Duration, steal bool) (*cairn.Run, error) {
	var run *cairn.Run
	fn, err := b.s.claimRunFn(id, owner, now, ttl, steal, &run)
	if err == nil {
		err = b.run(fn, true)
	}
	if err != nil {
		return nil, claimErr(id, owner, err)
	}
	return run, nil
}

// retryRunFn checks r and returns the body of its transaction.
func (s *Store) retryRunFn(r scheduler.Retry) (txFn, error) {
	ids, err := sqlrow.RetryTasks(r)
	if err != nil {
		return nil, err
	}
	list, err := json.Marshal(ids)
	if err != nil {
		return nil, err
	}
	var expires any
	if r.Owner != "" {
		expires = r.Now.Add(r.TTL).UnixNano()
	}
	return func(ctx context.Context, tx *sql.Conn) error {
		var (
			state   string
			version int64
		)
		s.stmts.Add(1)
		err := tx.QueryRowContext(ctx, `SELECT state, version FROM runs WHERE id = ?`, r.RunID).Scan(&state, &version)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("no such run: %w", cairn.ErrNotFound)
		}
		if err != nil {
			return translate(err)
		}
		if err := sqlrow.CheckRetryState(state); err != nil {
			return err
		}
		// Every task run gets a new version (a plan made before the retry
		// conflicts); then those retried go back to pending.
		if _, err := s.exec(ctx, tx, `UPDATE task_runs SET version = version + 1 WHERE run_id = ?`, r.RunID); err != nil {
			return err
		}
		reset, err := s.queryIDs(ctx, tx, `UPDATE task_runs SET state = 'pending', error = '', params = NULL, inputs = NULL,
	outputs = NULL, metrics = NULL, retry_at = NULL, ready_gen = NULL, finished_at = NULL, interrupted_streak = 0,
	round = round + 1, failed_before = attempt - interrupted, version = version + 1
WHERE run_id = ? AND task_id IN (SELECT value FROM json_each(?))
	AND state IN ('failed', 'upstream_failed', 'cancelled')
RETURNING task_id`, r.RunID, string(list))
		if err != nil {
			return err
		}
		if len(reset) != len(ids) {
			return s.notRetried(ctx, tx, r.RunID, ids, reset)
		}
		n, err := s.exec(ctx, tx, `UPDATE runs SET state = 'running', error = '', finished_at = NULL, cancel_requested = 0,
	owner = ?, owner_expires_at = ?, version = version + 1
WHERE id = ? AND version = ? AND state = ?`, r.Owner, expires, r.RunID, version, state)
		if err != nil {
			return err
		}
		if n != 1 {
			return fmt.Errorf("run at version %d: %w", version, cairn.ErrConflict)
		}
		_, err = s.addEvaluation(ctx, tx, scheduler.Evaluation{RunID: r.RunID, Reason: scheduler.EvalRetried,
			Writer: r.Owner, CreatedAt: r.Now, DueAt: r.Now})
		return err
	}, nil
}

// notRetried explains why some of ids were not reset: unknown, or in a
// state that a retry does not change.
func (s *Store) notRetried(ctx context.Context, tx *sql.Conn, runID string, ids, reset []string) error {
	done := make(map[string]bool, len(reset))
	for _, id := range reset {
		done[id] = true
	}
	for _, id := range ids {
		if done[id] {
			continue
		}
		var state string
		s.stmts.Add(1)
		err := tx.QueryRowContext(ctx, `SELECT state FROM task_runs WHERE run_id = ? AND task_id = ?`, runID, id).Scan(&state)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("no task %q: %w", id, cairn.ErrNotFound)
		}
		if err != nil {
			return translate(err)
		}
		return fmt.Errorf("task %s is %s: only failed, upstream_failed and cancelled tasks run again: %w", id, state, cairn.ErrConflict)
	}
	return fmt.Errorf("tasks %s: %w", strings.Join(ids, ", "), cairn.ErrConflict)
}
