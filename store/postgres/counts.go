package postgres

import (
	"context"
	"fmt"

	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/store/internal/sqlrow"
)

// StateCounts counts runs by state, the task runs of active runs by
// state, the ready task runs and the active runs owner holds, in one
// read: what cairn server's /metrics reads at each scrape.
func (s *Store) StateCounts(ctx context.Context, owner string) (scheduler.StateCounts, error) {
	out := sqlrow.NewStateCounts()
	rs, err := s.db.Query(ctx, sqlrow.CountsQuery("$1"), owner)
	if err != nil {
		return out, fmt.Errorf("count states: %w", translate(err))
	}
	defer rs.Close()
	for rs.Next() {
		if err := sqlrow.Count(rs, &out); err != nil {
			return out, fmt.Errorf("count states: %w", translate(err))
		}
	}
	if err := rs.Err(); err != nil {
		return out, fmt.Errorf("count states: %w", translate(err))
	}
	return out, nil
}
