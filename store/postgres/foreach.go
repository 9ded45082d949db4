package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
)

// applyExpansions records a plan's for_each expansions (see
// scheduler.Expansion): the task marked expanded as a compare-and-set,
// then its items inserted in one statement over arrays, each a copy of
// the task's row with its own id, seq and item. It sets their NewVersion.
func (s *Store) applyExpansions(ctx context.Context, tx pgx.Tx, runID string, es []scheduler.Expansion) error {
	for i := range es {
		e := &es[i]
		err := s.queryRow(ctx, tx, `UPDATE task_runs SET items = $1, version = version + 1
WHERE run_id = $2 AND task_id = $3 AND version = $4 AND state = 'pending' AND items IS NULL RETURNING version`,
			len(e.Items), runID, e.TaskID, e.FromVersion).Scan(&e.NewVersion)
		if noRows(err) {
			return s.taskMissOrConflict(ctx, tx, runID, e.TaskID, e.FromVersion)
		}
		if err != nil {
			return translate(err)
		}
		if len(e.Items) == 0 {
			continue
		}
		ids, items := make([]string, len(e.Items)), make([]string, len(e.Items))
		for k, v := range e.Items {
			ids[k], items[k] = cairn.ItemID(e.TaskID, k), string(v)
		}
		if _, err := s.exec(ctx, tx, `INSERT INTO task_runs (run_id, task_id, seq, type, state, retries, backoff_ns, backoff_factor,
	max_backoff_ns, timeout_ns, max_interruptions, cache, labels, queue, pool, pool_slots, priority, item, version)
SELECT p.run_id, v.task_id, b.base + v.k - 1, p.type, 'pending', p.retries, p.backoff_ns, p.backoff_factor, p.max_backoff_ns,
	p.timeout_ns, p.max_interruptions, p.cache, p.labels, p.queue, p.pool, p.pool_slots, p.priority, v.item, 1
FROM task_runs p,
	(SELECT max(seq) + 1 AS base FROM task_runs WHERE run_id = $1) b,
	unnest($3::text[], $4::text[]) WITH ORDINALITY AS v(task_id, item, k)
WHERE p.run_id = $1 AND p.task_id = $2`, runID, e.TaskID, ids, items); err != nil {
			return fmt.Errorf("create the items of %s: %w", e.TaskID, err)
		}
	}
	return nil
}

// checkFanIns refuses a plan's fan-in changes (scheduler.TaskChange.FanIn)
// of tasks that did not expand: only a for_each task whose items ended
// moves from pending to succeeded.
func (s *Store) checkFanIns(ctx context.Context, tx pgx.Tx, runID string, cs []scheduler.TaskChange) error {
	for _, c := range cs {
		if !c.FanIn {
			continue
		}
		var expanded bool
		err := s.queryRow(ctx, tx, `SELECT items IS NOT NULL FROM task_runs WHERE run_id = $1 AND task_id = $2`, runID, c.TaskID).Scan(&expanded)
		switch {
		case noRows(err):
			return fmt.Errorf("task %s: %w", c.TaskID, cairn.ErrNotFound)
		case err != nil:
			return translate(err)
		case !expanded:
			return fmt.Errorf("task %s has no items: it cannot move from pending to succeeded", c.TaskID)
		}
	}
	return nil
}
