package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/cairnml/cairn/experiments"
	"github.com/cairnml/cairn/store/internal/sqlrow"
)

// TaskMetrics returns the metrics of the task runs f selects (see
// experiments.MetricsFilter), by run id then task id, in one statement:
// the lists bound as arrays.
func (s *Store) TaskMetrics(ctx context.Context, f experiments.MetricsFilter) ([]experiments.TaskMetrics, error) {
	where := []string{"t.metrics IS NOT NULL"}
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, fmt.Sprintf(cond, len(args)))
	}
	if f.Workflow != "" {
		add("r.workflow = $%d", f.Workflow)
	}
	if f.State != "" {
		add("r.state = $%d", string(f.State))
	}
	if f.RunIDs != nil {
		add("r.id = ANY($%d)", f.RunIDs)
	}
	if len(f.Tasks) > 0 {
		add("t.task_id = ANY($%d)", f.Tasks)
	}
	rs, err := s.db.Query(ctx, sqlrow.TaskMetricsSelect+strings.Join(where, " AND ")+sqlrow.TaskMetricsOrder, args...)
	out, err := collect(rs, err, sqlrow.TaskMetric)
	if err != nil {
		return nil, fmt.Errorf("task metrics: %w", err)
	}
	return out, nil
}
