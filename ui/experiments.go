package ui

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/experiments"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/ui/runjson"
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
		return nil, fmt.Errorf("this server does not read metrics across runs: %w", errNotImplemented)
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
		return nil, badInput("a sorted list needs a metric to sort by (metric=TASK.METRIC)")
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
		return nil, badInput("compare needs two runs or more, got %d", len(ids))
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

// maxCompare bounds the runs one comparison reads.
const maxCompare = 20

// metricQuery reads metric= (comma-separated), sort= and
// offset= of a runs list.
func metricQuery(c *gin.Context) (MetricQuery, error) {
	var q MetricQuery
	for _, v := range c.QueryArray("metric") {
		for _, s := range strings.Split(v, ",") {
			if strings.TrimSpace(s) == "" {
				continue
			}
			m, err := experiments.ParseMetric(s)
			if err != nil {
				return q, badInput("%v", err)
			}
			q.Metrics = append(q.Metrics, m)
		}
	}
	if len(q.Metrics) > maxMetricColumns {
		return q, badInput("at most %d metrics", maxMetricColumns)
	}
	s, err := ParseSort(c.Query("sort"))
	if err != nil {
		return q, badInput("%v", err)
	}
	q.Sort = s
	if o := c.Query("offset"); o != "" {
		n, err := strconv.Atoi(o)
		if err != nil || n < 0 {
			return q, badInput("offset %s: want a whole number from 0", Brief(o))
		}
		if !q.Sorted() {
			return q, badInput("offset pages a sorted list (sort=asc|desc); an unsorted one pages with before=")
		}
		q.Offset = n
	}
	if q.Sorted() && len(q.Metrics) == 0 {
		return q, badInput("sort=%s needs a metric to sort by: metric=TASK.METRIC", q.Sort)
	}
	if q.Sorted() && c.Query("before") != "" {
		return q, badInput("a sorted list pages with offset=, not before=")
	}
	return q, nil
}

// maxMetricColumns bounds the metrics one list asks for.
const maxMetricColumns = 32

// apiMetricRuns is GET /api/v1/runs with metric=: each run with the
// metrics asked for, and with sort= ranked by the first, paged by
// offset= (next_offset).
func (h *handler) apiMetricRuns(c *gin.Context, f scheduler.RunFilter, q MetricQuery) {
	p, err := RunsWithMetrics(c.Request.Context(), h.o.Store, h.o.Experiments, f, q)
	if err != nil {
		h.fail(c, err)
		return
	}
	now := h.o.Now()
	out := runjson.Page{Runs: make([]runjson.Run, 0, len(p.Runs))}
	for _, r := range p.Runs {
		j := runjson.FromRun(r, runjson.Orphaned(r, now, h.o.OwnerGone))
		j.Metrics = p.Metrics[r.ID]
		if j.Metrics == nil {
			j.Metrics = map[string]float64{}
		}
		out.Runs = append(out.Runs, j)
	}
	if p.Next != "" {
		out.Next = &p.Next
	}
	if p.NextOffset >= 0 {
		out.NextOffset = &p.NextOffset
	}
	h.json(c, http.StatusOK, out)
}

// GET /api/v1/compare?run=A,B[,...] → the comparison (the shape
// of cairn compare --json); run ids or unique prefixes.
func (h *handler) apiCompare(c *gin.Context) {
	cmp, ok := h.compareQuery(c, "compare needs 2 to %d runs (run=ID,ID), got %d")
	if !ok {
		return
	}
	h.json(c, http.StatusOK, cmp)
}

// compareQuery compares the runs of the request's run= values (repeated or
// comma-separated; ids or unique prefixes), answering the request itself
// when it cannot: wrong is the message for a count outside 2..maxCompare
// (given maxCompare and the count).
func (h *handler) compareQuery(c *gin.Context, wrong string) (*experiments.Comparison, bool) {
	ctx := c.Request.Context()
	var args []string
	for _, v := range c.QueryArray("run") {
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				args = append(args, s)
			}
		}
	}
	if len(args) < 2 || len(args) > maxCompare {
		h.fail(c, badInput(wrong, maxCompare, len(args)))
		return nil, false
	}
	ids := make([]string, len(args))
	for i, a := range args {
		id, err := h.resolve(ctx, a)
		if err != nil {
			h.fail(c, err)
			return nil, false
		}
		ids[i] = id
	}
	cmp, err := CompareRuns(ctx, h.o.Store, ids)
	if err != nil {
		h.fail(c, err)
		return nil, false
	}
	return cmp, true
}
