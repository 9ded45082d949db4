package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/store/internal/sqlrow"
)

// Schedules lists every stored schedule, by workflow name.
func (s *Store) Schedules(ctx context.Context) ([]scheduler.ScheduleState, error) {
	st, err := s.readStmt(ctx, `SELECT `+sqlrow.ScheduleCols+` FROM schedules ORDER BY workflow`)
	if err != nil {
		return nil, fmt.Errorf("list schedules: %w", err)
	}
	rows, err := st.QueryContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("list schedules: %w", translate(err))
	}
	defer rows.Close()
	out, err := sqlrow.Collect(rows, sqlrow.Schedule)
	if err != nil {
		return nil, fmt.Errorf("list schedules: %w", translate(err))
	}
	return out, nil
}

// Schedule reads workflow's schedule inside the batch's transaction.
func (b *batchTx) Schedule(workflow string) (scheduler.ScheduleState, error) {
	var out scheduler.ScheduleState
	err := b.run(func(ctx context.Context, tx *sql.Conn) error {
		st, err := b.s.txStmt(ctx, tx, `SELECT `+sqlrow.ScheduleCols+` FROM schedules WHERE workflow = ?`)
		if err != nil {
			return err
		}
		b.s.stmts.Add(1)
		out, err = sqlrow.Schedule(st.QueryRowContext(ctx, workflow))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("schedule of %s: %w", workflow, cairn.ErrNotFound)
		}
		return translate(err)
	}, true)
	return out, err
}

// PutSchedule inserts (Version 0) or compare-and-sets (on Version) a
// schedule's state.
func (b *batchTx) PutSchedule(st *scheduler.ScheduleState) error {
	if err := sqlrow.CheckSchedule(st); err != nil {
		return err
	}
	err := b.run(func(ctx context.Context, tx *sql.Conn) error {
		var n int64
		var err error
		if st.Version == 0 {
			n, err = b.s.exec(ctx, tx, `INSERT INTO schedules (`+sqlrow.ScheduleCols+`) VALUES (?, ?, ?, ?, ?, 1)
				ON CONFLICT (workflow) DO NOTHING`,
				st.Workflow, st.Spec, st.Position.UnixNano(), boolInt(st.Paused), st.UpdatedAt.UnixNano())
		} else {
			n, err = b.s.exec(ctx, tx, `UPDATE schedules SET spec = ?, position = ?, paused = ?, updated_at = ?, version = version + 1
				WHERE workflow = ? AND version = ?`,
				st.Spec, st.Position.UnixNano(), boolInt(st.Paused), st.UpdatedAt.UnixNano(), st.Workflow, st.Version)
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return sqlrow.ScheduleChanged(st.Workflow)
		}
		return nil
	}, true)
	if err != nil {
		return fmt.Errorf("put schedule: %w", err)
	}
	st.Version++
	return nil
}
