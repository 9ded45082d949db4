package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/cairnml/cairn/experiments"
	"github.com/cairnml/cairn/store/internal/sqlrow"
)

// TaskMetrics returns the metrics of the task runs f selects (see
// experiments.MetricsFilter), by run id then task id. One statement: the
// runs by (workflow, id) or their ids, each run's task runs by the
// primary key; the lists travel as one JSON argument each, so that one
// statement text serves every length.
func (s *Store) TaskMetrics(ctx context.Context, f experiments.MetricsFilter) ([]experiments.TaskMetrics, error) {
	where := []string{"t.metrics IS NOT NULL"}
	var args []any
	if f.Workflow != "" {
		where, args = append(where, "r.workflow = ?"), append(args, f.Workflow)
	}
	if f.State != "" {
		where, args = append(where, "r.state = ?"), append(args, string(f.State))
	}
	if f.RunIDs != nil {
		b, err := json.Marshal(f.RunIDs)
		if err != nil {
			return nil, fmt.Errorf("task metrics: %w", err)
		}
		where, args = append(where, "r.id IN (SELECT value FROM json_each(?))"), append(args, string(b))
	}
	if len(f.Tasks) > 0 {
		b, err := json.Marshal(f.Tasks)
		if err != nil {
			return nil, fmt.Errorf("task metrics: %w", err)
		}
		where, args = append(where, "t.task_id IN (SELECT value FROM json_each(?))"), append(args, string(b))
	}
	st, err := s.readStmt(ctx, sqlrow.TaskMetricsSelect+strings.Join(where, " AND ")+sqlrow.TaskMetricsOrder)
	if err != nil {
		return nil, fmt.Errorf("task metrics: %w", err)
	}
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return nil, fmt.Errorf("task metrics: %w", translate(err))
	}
	defer rows.Close()
	out, err := sqlrow.Collect(rows, sqlrow.TaskMetric)
	if err != nil {
		return nil, fmt.Errorf("task metrics: %w", translate(err))
	}
	return out, nil
}
