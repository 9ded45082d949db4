package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
)

// itemInsertRows is how many items one INSERT of an expansion carries.
const itemInsertRows = 200

// itemInsertQuery inserts size items of one for_each task, each a copy of
// the task's row (type, retry policy, timeout, cache, labels, queue, pool
// and its slots, priority) with its own id, seq and item.
func itemInsertQuery(size int) string {
	return `WITH v(task_id, seq, item) AS (VALUES ` + valuesList(size, 3) + `)
INSERT INTO task_runs (run_id, task_id, seq, type, state, retries, backoff_ns, backoff_factor, max_backoff_ns, timeout_ns,
	max_interruptions, cache, labels, queue, pool, pool_slots, priority, item, version)
SELECT p.run_id, v.task_id, v.seq, p.type, 'pending', p.retries, p.backoff_ns, p.backoff_factor, p.max_backoff_ns,
	p.timeout_ns, p.max_interruptions, p.cache, p.labels, p.queue, p.pool, p.pool_slots, p.priority, v.item, 1
FROM task_runs p JOIN v ON 1 WHERE p.run_id = ? AND p.task_id = ?`
}

// applyExpansions records a plan's for_each expansions (see
// scheduler.Expansion) and sets their NewVersion.
func (s *Store) applyExpansions(ctx context.Context, tx *sql.Conn, runID string, es []scheduler.Expansion) error {
	for i := range es {
		e := &es[i]
		st, err := s.txStmt(ctx, tx, `UPDATE task_runs SET items = ?, version = version + 1
WHERE run_id = ? AND task_id = ? AND version = ? AND state = 'pending' AND items IS NULL RETURNING version`)
		if err != nil {
			return err
		}
		s.stmts.Add(1)
		err = st.QueryRowContext(ctx, len(e.Items), runID, e.TaskID, e.FromVersion).Scan(&e.NewVersion)
		if errors.Is(err, sql.ErrNoRows) {
			return s.taskMissOrConflict(ctx, tx, runID, e.TaskID, e.FromVersion)
		}
		if err != nil {
			return translate(err)
		}
		if len(e.Items) == 0 {
			continue
		}
		var base int64
		s.stmts.Add(1)
		if err := tx.QueryRowContext(ctx, `SELECT max(seq) + 1 FROM task_runs WHERE run_id = ?`, runID).Scan(&base); err != nil {
			return translate(err)
		}
		for start := 0; start < len(e.Items); start += itemInsertRows {
			chunk := e.Items[start:min(start+itemInsertRows, len(e.Items))]
			args := make([]any, 0, 3*len(chunk)+2)
			for k, v := range chunk {
				args = append(args, cairn.ItemID(e.TaskID, start+k), base+int64(start+k), string(v))
			}
			args = append(args, runID, e.TaskID)
			if _, err := s.exec(ctx, tx, itemInsertQuery(len(chunk)), args...); err != nil {
				return fmt.Errorf("create the items of %s: %w", e.TaskID, err)
			}
		}
	}
	return nil
}

// checkFanIns refuses a plan's fan-in changes (scheduler.TaskChange.FanIn)
// of tasks that did not expand: only a for_each task whose items ended
// moves from pending to succeeded.
func (s *Store) checkFanIns(ctx context.Context, tx *sql.Conn, runID string, cs []scheduler.TaskChange) error {
	for _, c := range cs {
		if !c.FanIn {
			continue
		}
		var expanded bool
		s.stmts.Add(1)
		err := tx.QueryRowContext(ctx, `SELECT items IS NOT NULL FROM task_runs WHERE run_id = ? AND task_id = ?`, runID, c.TaskID).Scan(&expanded)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("task %s: %w", c.TaskID, cairn.ErrNotFound)
		case err != nil:
			return translate(err)
		case !expanded:
			return fmt.Errorf("task %s has no items: it cannot move from pending to succeeded", c.TaskID)
		}
	}
	return nil
}
