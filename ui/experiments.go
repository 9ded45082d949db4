package ui

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/cairnml/cairn/experiments"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/ui/core"
	"github.com/cairnml/cairn/ui/runjson"
)

// maxCompare bounds the runs one comparison reads.
const maxCompare = 20

// metricQuery reads metric= (comma-separated), sort= and
// offset= of a runs list.
func metricQuery(c *gin.Context) (core.MetricQuery, error) {
	var q core.MetricQuery
	for _, v := range c.QueryArray("metric") {
		for _, s := range strings.Split(v, ",") {
			if strings.TrimSpace(s) == "" {
				continue
			}
			m, err := experiments.ParseMetric(s)
			if err != nil {
				return q, core.BadInput("%v", err)
			}
			q.Metrics = append(q.Metrics, m)
		}
	}
	if len(q.Metrics) > maxMetricColumns {
		return q, core.BadInput("at most %d metrics", maxMetricColumns)
	}
	s, err := core.ParseSort(c.Query("sort"))
	if err != nil {
		return q, core.BadInput("%v", err)
	}
	q.Sort = s
	if o := c.Query("offset"); o != "" {
		n, err := strconv.Atoi(o)
		if err != nil || n < 0 {
			return q, core.BadInput("offset %s: want a whole number from 0", core.Brief(o))
		}
		if !q.Sorted() {
			return q, core.BadInput("offset pages a sorted list (sort=asc|desc); an unsorted one pages with before=")
		}
		q.Offset = n
	}
	if q.Sorted() && len(q.Metrics) == 0 {
		return q, core.BadInput("sort=%s needs a metric to sort by: metric=TASK.METRIC", q.Sort)
	}
	if q.Sorted() && c.Query("before") != "" {
		return q, core.BadInput("a sorted list pages with offset=, not before=")
	}
	return q, nil
}

// maxMetricColumns bounds the metrics one list asks for.
const maxMetricColumns = 32

// apiMetricRuns is GET /api/v1/runs with metric=: each run with the
// metrics asked for, and with sort= ranked by the first, paged by
// offset= (next_offset).
func (h *handler) apiMetricRuns(c *gin.Context, f scheduler.RunFilter, q core.MetricQuery) {
	p, err := core.RunsWithMetrics(c.Request.Context(), h.o.Store, h.o.Experiments, f, q)
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
		h.fail(c, core.BadInput(wrong, maxCompare, len(args)))
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
	cmp, err := core.CompareRuns(ctx, h.o.Store, ids)
	if err != nil {
		h.fail(c, err)
		return nil, false
	}
	return cmp, true
}
