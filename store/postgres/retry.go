package postgres

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/store/internal/sqlrow"
)

// RetryRun runs tasks of a finished run again, into the same run, in one
// transaction: see scheduler.RunStore.RetryRun.
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
	delete(b.owners, r.RunID) // it sets the run's owner
	fn, err := b.s.retryRunFn(r)
	if err == nil {
		err = b.run(fn, false)
	}
	if err != nil {
		return fmt.Errorf("retry run %s: %w", r.RunID, err)
	}
	return nil
}

func (s *Store) retryRunFn(r scheduler.Retry) (txFn, error) {
	ids, err := sqlrow.RetryTasks(r)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, tx pgx.Tx) error {
		var (
			state   string
			version int64
		)
		err := s.queryRow(ctx, tx, `SELECT state, version FROM runs WHERE id = $1 FOR UPDATE`, r.RunID).Scan(&state, &version)
		if noRows(err) {
			return fmt.Errorf("no such run: %w", cairn.ErrNotFound)
		}
		if err != nil {
			return translate(err)
		}
		if err := sqlrow.CheckRetryState(state); err != nil {
			return err
		}
		// Every task run gets a new version (a plan made before the retry
		// conflicts); those retried go back to pending, in one statement.
		reset, err := s.queryIDs(ctx, tx, `UPDATE task_runs SET version = version + 1,
	state = CASE WHEN r THEN 'pending' ELSE state END,
	error = CASE WHEN r THEN '' ELSE error END,
	params = CASE WHEN r THEN NULL ELSE params END,
	inputs = CASE WHEN r THEN NULL ELSE inputs END,
	outputs = CASE WHEN r THEN NULL ELSE outputs END,
	metrics = CASE WHEN r THEN NULL ELSE metrics END,
	retry_at = CASE WHEN r THEN NULL ELSE retry_at END,
	ready_gen = CASE WHEN r THEN NULL ELSE ready_gen END,
	finished_at = CASE WHEN r THEN NULL ELSE finished_at END,
	interrupted_streak = CASE WHEN r THEN 0 ELSE interrupted_streak END,
	round = CASE WHEN r THEN round + 1 ELSE round END,
	failed_before = CASE WHEN r THEN attempt - interrupted ELSE failed_before END
FROM (SELECT task_id AS id, task_id = ANY($2) AND state IN ('failed', 'upstream_failed', 'cancelled') AS r
	FROM task_runs WHERE run_id = $1) x
WHERE task_runs.run_id = $1 AND task_runs.task_id = x.id
RETURNING CASE WHEN r THEN task_runs.task_id ELSE '' END`, r.RunID, ids)
		if err != nil {
			return err
		}
		reset = slices.DeleteFunc(reset, func(id string) bool { return id == "" })
		if len(reset) != len(ids) {
			return s.notRetried(ctx, tx, r.RunID, ids, reset)
		}
		n, err := s.exec(ctx, tx, `UPDATE runs SET state = 'running', error = '', finished_at = NULL, cancel_requested = 0,
	owner = $1, owner_expires_at = CASE WHEN $1 = '' THEN NULL ELSE `+s.clock(2)+` + $6 END, version = version + 1
WHERE id = $3 AND version = $4 AND state = $5`, r.Owner, r.Now.UnixNano(), r.RunID, version, state, int64(r.TTL))
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

// notRetried explains why some of ids were not reset.
func (s *Store) notRetried(ctx context.Context, tx pgx.Tx, runID string, ids, reset []string) error {
	done := make(map[string]bool, len(reset))
	for _, id := range reset {
		done[id] = true
	}
	for _, id := range ids {
		if done[id] {
			continue
		}
		var state string
		err := s.queryRow(ctx, tx, `SELECT state FROM task_runs WHERE run_id = $1 AND task_id = $2`, runID, id).Scan(&state)
		if noRows(err) {
			return fmt.Errorf("no task %q: %w", id, cairn.ErrNotFound)
		}
		if err != nil {
			return translate(err)
		}
		return fmt.Errorf("task %s is %s: only failed, upstream_failed and cancelled tasks run again: %w", id, state, cairn.ErrConflict)
	}
	return fmt.Errorf("tasks %s: %w", strings.Join(ids, ", "), cairn.ErrConflict)
}
