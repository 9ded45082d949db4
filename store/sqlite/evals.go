package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/store/internal/sqlrow"
)

// addEvaluation inserts e in tx and returns its id. A zero DueAt or
// CreatedAt means e.CreatedAt, or now.
func (s *Store) addEvaluation(ctx context.Context, tx *sql.Conn, e scheduler.Evaluation) (int64, error) {
	e, err := sqlrow.NewEvaluation(e)
	if err != nil {
		return 0, err
	}
	st, err := s.txStmt(ctx, tx, `INSERT INTO evaluations (run_id, reason, task_id, writer, created_at, due_at) VALUES (?, ?, ?, ?, ?, ?)
RETURNING id`)
	if err != nil {
		return 0, err
	}
	var id int64
	s.stmts.Add(1)
	if err := st.QueryRowContext(ctx, e.RunID, e.Reason, e.TaskID, e.Writer, e.CreatedAt.UnixNano(), e.DueAt.UnixNano()).Scan(&id); err != nil {
		return 0, fmt.Errorf("add evaluation of run %s: %w", e.RunID, translate(err))
	}
	return id, nil
}

// Evaluations lists evaluations with an id above after, by id, at most
// limit (100 if limit <= 0).
func (s *Store) Evaluations(ctx context.Context, after int64, limit int) ([]scheduler.Evaluation, error) {
	var out []scheduler.Evaluation
	err := s.reading(ctx, `SELECT `+sqlrow.EvaluationCols+` FROM evaluations WHERE id > ? ORDER BY id LIMIT ?`, func(ctx context.Context, st *sql.Stmt) error {
		rows, err := st.QueryContext(ctx, after, sqlrow.PageLimit(limit))
		if err != nil {
			return translate(err)
		}
		defer rows.Close()
		out, err = sqlrow.Collect(rows, sqlrow.Evaluation)
		return translate(err)
	})
	if err != nil {
		return nil, fmt.Errorf("list evaluations: %w", err)
	}
	return out, nil
}

// LastEvaluation returns the highest evaluation id ever given, 0 for none
// (AUTOINCREMENT keeps it in sqlite_sequence even once the row is gone).
func (s *Store) LastEvaluation(ctx context.Context) (int64, error) {
	var id int64
	err := s.reading(ctx, `SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'evaluations'), 0)`, func(ctx context.Context, st *sql.Stmt) error {
		return translate(st.QueryRowContext(ctx).Scan(&id))
	})
	if err != nil {
		return 0, fmt.Errorf("last evaluation: %w", err)
	}
	return id, nil
}

// AckEvaluations deletes run runID's evaluations with id <= upTo that are
// due by now; with upTo < 0, all of them.
func (s *Store) AckEvaluations(ctx context.Context, runID string, upTo int64, now time.Time) error {
	err := s.inTx(ctx, func(ctx context.Context, tx *sql.Conn) error {
		var err error
		if upTo < 0 {
			_, err = s.exec(ctx, tx, `DELETE FROM evaluations WHERE run_id = ?`, runID)
		} else {
			_, err = s.exec(ctx, tx, `DELETE FROM evaluations WHERE run_id = ? AND id <= ? AND due_at <= ?`, runID, upTo, now.UnixNano())
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("acknowledge evaluations of run %s: %w", runID, err)
	}
	return nil
}

// The scheduler.Tx of a Batch: each call in its own savepoint (or none,
// for a compare-and-set first), on the transaction's context.

func (b *batchTx) Complete(l cairn.Lease, c cairn.Completion, now time.Time) (*cairn.TaskRun, error) {
	var t *cairn.TaskRun
	fn, err := b.s.finishFn(l, c, now, leaseLive, &t)
	if err == nil {
		err = b.run(fn, true)
	}
	if err != nil {
		return nil, fmt.Errorf("complete attempt %s: %w", leaseName(l), err)
	}
	return t, nil
}

func (b *batchTx) Expire(l cairn.Lease, c cairn.Completion, now time.Time, force bool) (*cairn.TaskRun, error) {
	var t *cairn.TaskRun
	fn, err := b.s.finishFn(l, c, now, expireCheck(force), &t)
	if err == nil {
		err = b.run(fn, true)
	}
	if err != nil {
		return nil, fmt.Errorf("expire attempt %s: %w", leaseName(l), err)
	}
	return t, nil
}

func (b *batchTx) ApplyPlan(p *scheduler.Plan) error {
	fn, cas, err := b.s.applyPlanFn(p)
	if err == nil && fn != nil {
		err = b.run(fn, cas)
	}
	if err != nil {
		return fmt.Errorf("apply plan run %s: %w", p.RunID, err)
	}
	return nil
}

func (b *batchTx) Lease(r cairn.LeaseRequest, now time.Time, ttl time.Duration) ([]cairn.WorkItem, error) {
	if ttl <= 0 {
		return nil, fmt.Errorf("lease for %s: ttl %v is not positive", r.Worker, ttl)
	}
	var items []cairn.WorkItem
	if err := b.run(b.s.leaseFn(r, now, ttl, &items), true); err != nil {
		return nil, leaseErr(r, err)
	}
	return items, nil
}

func (b *batchTx) AddEvaluation(e scheduler.Evaluation) (int64, error) {
	var id int64
	err := b.run(func(ctx context.Context, tx *sql.Conn) error {
		var err error
		id, err = b.s.addEvaluation(ctx, tx, e)
		return err
	}, true)
	return id, err
}
