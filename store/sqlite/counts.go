package sqlite

import (
	"context"
	"fmt"

	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/store/internal/sqlrow"
)

// StateCounts is what cairn server's /metrics reads from the database at
// each scrape (scheduler.StateCounts).
type StateCounts = scheduler.StateCounts

// StateCounts counts runs by state, the task runs of active runs by
// state, the ready task runs and the active runs owner holds, in one
// read: one statement, so that the counts are one snapshot
// (sqlrow.CountsQuery says which indexes it reads).
func (s *Store) StateCounts(ctx context.Context, owner string) (StateCounts, error) {
	out := sqlrow.NewStateCounts()
	st, err := s.readStmt(ctx, sqlrow.CountsQuery("?"))
	if err != nil {
		return out, fmt.Errorf("count states: %w", err)
	}
	rows, err := st.QueryContext(ctx, owner)
	if err != nil {
		return out, fmt.Errorf("count states: %w", translate(err))
	}
	defer rows.Close()
	for rows.Next() {
		if err := sqlrow.Count(rows, &out); err != nil {
			return out, fmt.Errorf("count states: %w", translate(err))
		}
	}
	if err := rows.Err(); err != nil {
		return out, fmt.Errorf("count states: %w", translate(err))
	}
	return out, nil
}
