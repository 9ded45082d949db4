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

// addAudit inserts a in tx and returns its id. A zero At means now.
func (s *Store) addAudit(ctx context.Context, tx *sql.Conn, a scheduler.Audit) (int64, error) {
	if a.Actor == "" || a.Action == "" {
		return 0, fmt.Errorf("add audit entry: empty actor or action")
	}
	if a.At.IsZero() {
		a.At = time.Now()
	}
	st, err := s.txStmt(ctx, tx, `INSERT INTO audit (at, actor, action, run_id, task_id, detail) VALUES (?, ?, ?, ?, ?, ?) RETURNING id`)
	if err != nil {
		return 0, err
	}
	var id int64
	s.stmts.Add(1)
	if err := st.QueryRowContext(ctx, a.At.UnixNano(), a.Actor, a.Action, a.RunID, a.TaskID, string(a.Detail)).Scan(&id); err != nil {
		return 0, fmt.Errorf("add audit entry: %w", translate(err))
	}
	return id, nil
}

// ListAudit returns audit entries newest first, filtered by run, before
// the cursor f.Before, at most f.Limit (50 if 0).
func (s *Store) ListAudit(ctx context.Context, f scheduler.AuditFilter) ([]scheduler.Audit, error) {
	limit, before := sqlrow.AuditPage(f)
	var (
		st  *sql.Stmt
		err error
	)
	args := []any{before}
	if f.RunID != "" {
		st, err = s.readStmt(ctx, `SELECT `+sqlrow.AuditCols+` FROM audit WHERE id < ? AND run_id = ? ORDER BY id DESC LIMIT ?`)
		args = append(args, f.RunID)
	} else {
		st, err = s.readStmt(ctx, `SELECT `+sqlrow.AuditCols+` FROM audit WHERE id < ? ORDER BY id DESC LIMIT ?`)
	}
	if err != nil {
		return nil, fmt.Errorf("list audit: %w", err)
	}
	rows, err := st.QueryContext(ctx, append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("list audit: %w", translate(err))
	}
	defer rows.Close()
	out, err := sqlrow.Collect(rows, sqlrow.Audit)
	if err != nil {
		return nil, fmt.Errorf("list audit: %w", translate(err))
	}
	return out, nil
}

func (b *batchTx) AddAudit(a scheduler.Audit) (int64, error) {
	var id int64
	err := b.run(func(ctx context.Context, tx *sql.Conn) error {
		var err error
		id, err = b.s.addAudit(ctx, tx, a)
		return err
	}, true)
	return id, err
}

func (b *batchTx) CreateRun(run *cairn.Run, tasks []*cairn.TaskRun) error {
	fn, err := b.s.createRunFn(run, tasks)
	if err == nil {
		err = b.run(fn, false)
	}
	if err != nil {
		return fmt.Errorf("create run %s: %w", run.ID, err)
	}
	// As the store's CreateRun does; meaningful once the batch commits.
	run.Version = 1
	for _, t := range tasks {
		t.Version = 1
	}
	return nil
}

func (b *batchTx) RequestCancel(id string) error {
	if err := b.run(b.s.requestCancelFn(id), false); err != nil {
		return fmt.Errorf("request cancel of run %s: %w", id, err)
	}
	return nil
}
