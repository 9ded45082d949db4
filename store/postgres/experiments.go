package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/cairnml/cairn/experiments"
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
	rows, err := s.db.Query(ctx, `SELECT t.run_id, t.task_id, t.metrics FROM runs r JOIN task_runs t ON t.run_id = r.id
WHERE `+strings.Join(where, " AND ")+` ORDER BY t.run_id DESC, t.seq`, args...)
	if err != nil {
		return nil, fmt.Errorf("task metrics: %w", translate(err))
	}
	defer rows.Close()
	out := []experiments.TaskMetrics{}
	for rows.Next() {
		var (
			m experiments.TaskMetrics
			b []byte
		)
		if err := rows.Scan(&m.RunID, &m.TaskID, &b); err != nil {
			return nil, fmt.Errorf("task metrics: %w", translate(err))
		}
		if err := json.Unmarshal(b, &m.Metrics); err != nil {
			return nil, fmt.Errorf("task metrics: decode metrics of %s/%s: %w", m.RunID, m.TaskID, err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("task metrics: %w", translate(err))
	}
	return out, nil
}
