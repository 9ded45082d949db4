package core

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/experiments"
	"github.com/cairnml/cairn/scheduler"
)

// ExperimentReader reads the metrics of many runs at once (*sqlite.Store
// and *postgres.Store satisfy it): what the runs list's metric columns,
// its ranking and the experiments page read.
type ExperimentReader interface {
	TaskMetrics(ctx context.Context, f experiments.MetricsFilter) ([]experiments.TaskMetrics, error)
}

// MetricQuery asks a runs list for metric columns (Metrics) and, with
// Sort "asc" or "desc", ranks the runs by the first of them, paging by
// Offset: a ranking has no run id to page from.
type MetricQuery struct {
	Metrics []experiments.MetricRef
	Sort    string
	Offset  int
}

// Sorted reports whether the list is ranked by a metric.
func (q MetricQuery) Sorted() bool { return q.Sort != "" }

// ParseSort reads --sort / ?sort=: asc, desc or "".
func ParseSort(s string) (string, error) {
	switch s = strings.ToLower(strings.TrimSpace(s)); s {
	case "", "asc", "desc":
		return s, nil
	}
	return "", fmt.Errorf("sort %q: want asc or desc", s)
}

// MetricPage is a page of runs with the metrics asked for.
type MetricPage struct {
	Runs []*cairn.Run
	// Metrics are each run's values by "task.metric" (only those asked).
	Metrics map[string]map[string]float64
	// Next is the cursor of the next page of an unsorted list ("" on the
	// last); NextOffset the offset of the next page of a sorted one (-1
	// on the last).
	Next       string
	NextOffset int
}

// RunsWithMetrics lists runs as f selects them with the metrics of q.
// Unsorted, it is the newest-first page of ListRuns (f.Before its cursor)
// with the metrics of its runs read in one query; sorted, every run of
// f's workflow and state that has the first metric, ranked by it, from
// q.Offset (f.Before is not used). Runs without the metric are left out
// of a ranking.
func RunsWithMetrics(ctx context.Context, st Reader, ex ExperimentReader, f scheduler.RunFilter, q MetricQuery) (*MetricPage, error) {
	if ex == nil {
		return nil, fmt.Errorf("this server does not read metrics across runs: %w", ErrNotImplemented)
	}
	tasks := metricTasks(q.Metrics)
	p := &MetricPage{NextOffset: -1}
	if !q.Sorted() {
		page := f
		page.Limit = f.Limit + 1
		runs, err := st.ListRuns(ctx, page)
		if err != nil {
			return nil, fmt.Errorf("list runs: %w", err)
		}
		if len(runs) > f.Limit {
			runs = runs[:f.Limit]
			p.Next = runs[len(runs)-1].ID
		}
		p.Runs = runs
		ids := make([]string, len(runs))
		for i, r := range runs {
			ids[i] = r.ID
		}
		rows, err := ex.TaskMetrics(ctx, experiments.MetricsFilter{RunIDs: ids, Tasks: tasks})
		if err != nil {
			return nil, fmt.Errorf("read metrics: %w", err)
		}
		p.Metrics = pick(experiments.RunMetrics(rows), q.Metrics)
		return p, nil
	}
	if len(q.Metrics) == 0 {
		return nil, BadInput("a sorted list needs a metric to sort by (metric=TASK.METRIC)")
	}
	rows, err := ex.TaskMetrics(ctx, experiments.MetricsFilter{Workflow: f.Workflow, State: f.State, Tasks: tasks})
	if err != nil {
		return nil, fmt.Errorf("read metrics: %w", err)
	}
	by := experiments.RunMetrics(rows)
	ranked := experiments.Rank(by, q.Metrics[0], q.Sort == "desc")
	lo := min(q.Offset, len(ranked))
	hi := min(lo+f.Limit, len(ranked))
	if hi < len(ranked) {
		p.NextOffset = hi
	}
	for _, r := range ranked[lo:hi] {
		run, err := st.GetRun(ctx, r.RunID)
		if errors.Is(err, cairn.ErrNotFound) {
			continue // removed since
		}
		if err != nil {
			return nil, fmt.Errorf("read run %s: %w", r.RunID, err)
		}
		p.Runs = append(p.Runs, run)
	}
	p.Metrics = pick(by, q.Metrics)
	return p, nil
}

// metricTasks are the tasks of ms, each once.
func metricTasks(ms []experiments.MetricRef) []string {
	var out []string
	seen := map[string]bool{}
	for _, m := range ms {
		if !seen[m.Task] {
			seen[m.Task] = true
			out = append(out, m.Task)
		}
	}
	return out
}

// pick keeps of each run's metrics those of ms.
func pick(by map[string]map[string]float64, ms []experiments.MetricRef) map[string]map[string]float64 {
	out := make(map[string]map[string]float64, len(by))
	for id, m := range by {
		for _, ref := range ms {
			if v, ok := m[ref.String()]; ok {
				if out[id] == nil {
					out[id] = map[string]float64{}
				}
				out[id][ref.String()] = v
			}
		}
	}
	return out
}

// CompareRuns reads the runs ids (full ids, two or more) with their task
// runs and compares them.
func CompareRuns(ctx context.Context, st Reader, ids []string) (*experiments.Comparison, error) {
	if len(ids) < 2 {
		return nil, BadInput("compare needs two runs or more, got %d", len(ids))
	}
	sides := make([]experiments.Side, len(ids))
	for i, id := range ids {
		r, err := st.GetRun(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("read run %s: %w", id, err)
		}
		trs, err := st.ListTaskRuns(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("read the tasks of run %s: %w", id, err)
		}
		sides[i] = experiments.Side{Run: r, Tasks: trs}
	}
	return experiments.Compare(sides)
}
