package sqlrow

import (
	"encoding/json"
	"fmt"

	"github.com/cairnml/cairn/experiments"
)

// TaskMetricsSelect is the head of TaskMetrics' statement, both
// dialects': the store adds its conditions (f's, in its dialect) after
// the WHERE and TaskMetricsOrder after them.
const (
	TaskMetricsSelect = `SELECT t.run_id, t.task_id, t.metrics FROM runs r JOIN task_runs t ON t.run_id = r.id
WHERE `
	TaskMetricsOrder = ` ORDER BY t.run_id DESC, t.seq`
)

// TaskMetric decodes a row of TaskMetricsSelect.
func TaskMetric(sc Scanner) (experiments.TaskMetrics, error) {
	var (
		m experiments.TaskMetrics
		b []byte
	)
	if err := sc.Scan(&m.RunID, &m.TaskID, &b); err != nil {
		return m, err
	}
	if err := json.Unmarshal(b, &m.Metrics); err != nil {
		return m, fmt.Errorf("decode metrics of %s/%s: %w", m.RunID, m.TaskID, err)
	}
	return m, nil
}
