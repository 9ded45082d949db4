package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/store/internal/sqlrow"
)

// addAudit inserts a and returns its id. A zero At means now.
func (s *Store) addAudit(ctx context.Context, q querier, a scheduler.Audit) (int64, error) {
	if a.Actor == "" || a.Action == "" {
		return 0, fmt.Errorf("add audit entry: empty actor or action")
	}
	if a.At.IsZero() {
		a.At = time.Now()
	}
	var id int64
	if err := s.queryRow(ctx, q, `INSERT INTO audit (at, actor, action, run_id, task_id, detail) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
		a.At.UnixNano(), a.Actor, a.Action, a.RunID, a.TaskID, string(a.Detail)).Scan(&id); err != nil {
		return 0, fmt.Errorf("add audit entry: %w", translate(err))
	}
	return id, nil
}

// ListAudit returns audit entries newest first, filtered by run, before
// the cursor f.Before, at most f.Limit (50 if 0).
func (s *Store) ListAudit(ctx context.Context, f scheduler.AuditFilter) ([]scheduler.Audit, error) {
	limit, before := sqlrow.AuditPage(f)
	rows, err := s.db.Query(ctx, `SELECT `+sqlrow.AuditCols+` FROM audit
WHERE id < $1 AND ($2 = '' OR run_id = $2) ORDER BY id DESC LIMIT $3`, before, f.RunID, limit)
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
	err := b.run(func(ctx context.Context, tx pgx.Tx) error {
		var err error
		id, err = b.s.addAudit(ctx, tx, a)
		return err
	}, true)
	return id, err
}
