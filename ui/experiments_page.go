package ui

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/experiments"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/ui/core"
	"github.com/cairnml/cairn/ui/draw"
)

// The experiments page of a workflow (issue #22): its runs with their
// params and metrics in a table sorted and paged by the server, a chart
// of a metric across the runs, one of a param against that metric, and
// runs picked (checkboxes) for the compare page.

// maxExperimentRuns bounds the runs the experiments page reads (the
// newest); the page says when a workflow has more.
const maxExperimentRuns = 2000

// defaultExperimentPage is the rows of a page of the table.
const defaultExperimentPage = 50

// expColumn is a column of the experiments table that can sort it.
type expColumn struct {
	Key   string // the sort= value: "created", "param:NAME" or "metric:TASK.METRIC"
	Label string
	Kind  string // created, param, metric
	Name  string // the param's name or TASK.METRIC
	Href  string // the page sorted by this column (the other way when it is already)
	Arrow string // ▲ or ▼ when the table is sorted by it
	Aria  string // aria-sort
}

// expCell is one value of a row.
type expCell struct {
	Text    string
	Missing bool
}

type expRow struct {
	Run     *cairn.Run
	Href    string
	Params  []expCell
	Metrics []expCell
}

type expPage struct {
	Workflow  string
	Href      string // this page, unsorted
	CatalogOK bool   // the server offers the workflow (a link to its page)
	Total     int    // runs read
	Truncated bool   // the workflow has more than maxExperimentRuns
	Created   expColumn
	Params    []expColumn
	Metrics   []expColumn
	CutCols   int // metric columns left out (past maxMetricColumns)
	// Constant is the metric columns hidden for having one value in
	// every run; AllColsHref the page with them shown.
	Constant    int
	AllColsHref string
	Rows        []expRow
	From, To    int // the rows shown, 1-based
	Prev        string
	Next        string
	// Charts: MetricChart across runs of Chart, ParamChart of X against it.
	Chart, X       string
	ChartOptions   []string
	XOptions       []string
	MetricChart    template.HTML
	ParamChart     template.HTML
	ChartNote      string
	ParamNote      string
	Sort, Dir      string
	Offset, Limit  int
	AllCols        bool
	CompareEnabled bool
}

// expQuery is what the page's query asks.
type expQuery struct {
	Sort, Dir     string
	Offset, Limit int
	Chart, X      string
	AllCols       bool // cols=all: the metrics with one value in every run too
}

func experimentQuery(c *gin.Context) (expQuery, error) {
	q := expQuery{Sort: strings.TrimSpace(c.Query("sort")), Dir: strings.ToLower(strings.TrimSpace(c.Query("dir"))), Limit: defaultExperimentPage,
		Chart: strings.TrimSpace(c.Query("chart")), X: strings.TrimSpace(c.Query("x"))}
	if q.Sort == "" {
		q.Sort = "created"
	}
	switch kind, name, _ := strings.Cut(q.Sort, ":"); {
	case q.Sort == "created":
	case kind == "param" && name != "":
	case kind == "metric":
		if _, err := experiments.ParseMetric(name); err != nil {
			return q, core.BadInput("sort %s: %v", core.Brief(q.Sort), err)
		}
	default:
		return q, core.BadInput("sort %s: want created, param:NAME or metric:TASK.METRIC", core.Brief(q.Sort))
	}
	switch q.Dir {
	case "":
		q.Dir = "desc"
		if strings.HasPrefix(q.Sort, "param:") {
			q.Dir = "asc"
		}
	case "asc", "desc":
	default:
		return q, core.BadInput("dir %s: want asc or desc", core.Brief(q.Dir))
	}
	if s := c.Query("offset"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return q, core.BadInput("offset %s: want a whole number from 0", core.Brief(s))
		}
		q.Offset = n
	}
	if s := c.Query("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxPage {
			return q, core.BadInput("limit %s: want a number from 1 to %d", core.Brief(s), maxPage)
		}
		q.Limit = n
	}
	if q.Chart != "" {
		if _, err := experiments.ParseMetric(q.Chart); err != nil {
			return q, core.BadInput("chart: %v", err)
		}
	}
	switch s := c.Query("cols"); s {
	case "":
	case "all":
		q.AllCols = true
	default:
		return q, core.BadInput("cols %s: want all (or leave it out: the metrics that vary)", core.Brief(s))
	}
	return q, nil
}

// href is the page with q's settings, those at their defaults left out.
func (q expQuery) href(workflow string) string {
	v := url.Values{}
	if q.Sort != "created" {
		v.Set("sort", q.Sort)
	}
	def := "desc"
	if strings.HasPrefix(q.Sort, "param:") {
		def = "asc"
	}
	if q.Dir != def {
		v.Set("dir", q.Dir)
	}
	if q.Offset > 0 {
		v.Set("offset", strconv.Itoa(q.Offset))
	}
	if q.Limit != defaultExperimentPage {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.Chart != "" {
		v.Set("chart", q.Chart)
	}
	if q.X != "" {
		v.Set("x", q.X)
	}
	if q.AllCols {
		v.Set("cols", "all")
	}
	h := experimentsHref(workflow)
	if len(v) > 0 {
		h += "?" + v.Encode()
	}
	return h
}

// experimentsHref is the experiments page of workflow name.
func experimentsHref(name string) string {
	return "/workflows/" + url.PathEscape(name) + "/experiments"
}

// paramNumber is a run param's value as a number, when it is one.
func paramNumber(v any) (float64, bool) {
	switch v := v.(type) {
	case int64:
		return float64(v), true
	case int:
		return float64(v), true
	case float64:
		return v, !math.IsNaN(v) && !math.IsInf(v, 0)
	case json.Number:
		f, err := v.Float64()
		return f, err == nil
	}
	return 0, false
}

func (h *handler) pageExperiments(c *gin.Context) {
	ctx := c.Request.Context()
	name := c.Param("name")
	if h.o.Experiments == nil {
		h.fail(c, fmt.Errorf("this server does not read metrics across runs: %w", core.ErrNotImplemented))
		return
	}
	q, err := experimentQuery(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	runs, err := h.o.Store.ListRuns(ctx, scheduler.RunFilter{Workflow: name, Limit: maxExperimentRuns + 1})
	if err != nil {
		h.fail(c, fmt.Errorf("list the runs of workflow %s: %w", name, err))
		return
	}
	_, lookErr := h.lookup(name)
	if len(runs) == 0 && lookErr != nil {
		h.fail(c, fmt.Errorf("no runs of workflow %s: %w", core.Brief(name), cairn.ErrNotFound))
		return
	}
	p := &expPage{Workflow: name, Href: experimentsHref(name), CatalogOK: lookErr == nil, Sort: q.Sort, Dir: q.Dir, Offset: q.Offset, Limit: q.Limit, AllCols: q.AllCols}
	if len(runs) > maxExperimentRuns {
		runs, p.Truncated = runs[:maxExperimentRuns], true
	}
	p.Total = len(runs)
	rows, err := h.o.Experiments.TaskMetrics(ctx, experiments.MetricsFilter{Workflow: name})
	if err != nil {
		h.fail(c, fmt.Errorf("read the metrics of workflow %s: %w", name, err))
		return
	}
	byRun := experiments.RunMetrics(rows)

	// The columns: every param and metric any run read has.
	paramSet, metricSet := map[string]bool{}, map[string]bool{}
	for _, r := range runs {
		for k := range r.Params {
			paramSet[k] = true
		}
		for k, v := range byRun[r.ID] {
			if !math.IsNaN(v) && !math.IsInf(v, 0) {
				metricSet[k] = true
			}
		}
	}
	params, metrics := sortedSet(paramSet), sortedSet(metricSet)
	// A metric with the same value in every run (a data set's columns,
	// a split's rows) says nothing about the runs: hidden unless asked
	// for (cols=all) or sorted or charted by.
	if !q.AllCols {
		var varying []string
		for _, k := range metrics {
			if k == sortMetric(q.Sort) || k == q.Chart || varies(runs, byRun, k) {
				varying = append(varying, k)
			}
		}
		if len(varying) > 0 {
			p.Constant = len(metrics) - len(varying)
			metrics = varying
		}
	}
	if p.Constant > 0 {
		n := q
		n.AllCols = true
		p.AllColsHref = n.href(name)
	}
	if len(metrics) > maxMetricColumns {
		p.CutCols = len(metrics) - maxMetricColumns
		metrics = metrics[:maxMetricColumns]
	}
	if kind, col, _ := strings.Cut(q.Sort, ":"); kind == "param" && !paramSet[col] || kind == "metric" && !metricSet[col] {
		h.fail(c, core.BadInput("sort %s: no run of workflow %s has %s %s", core.Brief(q.Sort), name, kind, core.Brief(col)))
		return
	}

	sortRuns(runs, q, byRun)
	lo := min(q.Offset, len(runs))
	hi := min(lo+q.Limit, len(runs))
	p.From, p.To = lo+1, hi
	if hi < len(runs) {
		n := q
		n.Offset = hi
		p.Next = n.href(name)
	}
	if lo > 0 {
		n := q
		n.Offset = max(0, lo-q.Limit)
		p.Prev = n.href(name)
	}
	for _, r := range runs[lo:hi] {
		row := expRow{Run: r, Href: "/runs/" + url.PathEscape(r.ID)}
		for _, k := range params {
			v, ok := r.Params[k]
			if !ok {
				row.Params = append(row.Params, expCell{Text: "–", Missing: true})
				continue
			}
			row.Params = append(row.Params, expCell{Text: clipRunes(paramText(v), 60)})
		}
		for _, k := range metrics {
			v, ok := byRun[r.ID][k]
			if !ok || math.IsNaN(v) || math.IsInf(v, 0) {
				row.Metrics = append(row.Metrics, expCell{Text: "–", Missing: true})
				continue
			}
			row.Metrics = append(row.Metrics, expCell{Text: strconv.FormatFloat(v, 'g', 4, 64)})
		}
		p.Rows = append(p.Rows, row)
	}

	// Headers: each sorts by its column, and the other way round when the
	// table is sorted by it already.
	col := func(key, label, kind, colName string) expColumn {
		ec := expColumn{Key: key, Label: label, Kind: kind, Name: colName, Aria: "none"}
		if q.Sort == key {
			ec.Arrow, ec.Aria = "▼", "descending"
			if q.Dir == "asc" {
				ec.Arrow, ec.Aria = "▲", "ascending"
			}
		}
		ec.Href = columnHref(ec, q, name)
		return ec
	}
	p.Created = col("created", "Created", "created", "")
	for _, k := range params {
		p.Params = append(p.Params, col("param:"+k, k, "param", k))
	}
	for _, k := range metrics {
		p.Metrics = append(p.Metrics, col("metric:"+k, k, "metric", k))
	}

	// Charts over every run read, not only the page.
	p.ChartOptions, p.XOptions = metrics, params
	p.Chart = q.Chart
	if p.Chart == "" {
		if m := sortMetric(q.Sort); m != "" {
			p.Chart = m
		} else if len(metrics) > 0 {
			p.Chart = metrics[0]
		pick:
			for _, want := range preferredMetrics {
				for _, k := range metrics {
					if _, name, _ := strings.Cut(k, "."); name == want {
						p.Chart = k
						break pick
					}
				}
			}
		}
	}
	p.X = q.X
	if p.X == "" && len(params) > 0 {
		p.X = params[0]
		if kind, x, _ := strings.Cut(q.Sort, ":"); kind == "param" {
			p.X = x
		}
	}
	if p.Chart != "" {
		if err := drawExperimentCharts(p, runs, byRun); err != nil {
			h.fail(c, err)
			return
		}
	}
	h.render(c, http.StatusOK, "experiments", "Experiments · "+name, p)
}

// columnHref is the header link of a column: the page sorted by it (the
// other way when it sorts the table already), from its first row.
func columnHref(ec expColumn, q expQuery, workflow string) string {
	n := q
	n.Offset, n.Sort = 0, ec.Key
	switch {
	case q.Sort == ec.Key && q.Dir == "asc":
		n.Dir = "desc"
	case q.Sort == ec.Key:
		n.Dir = "asc"
	case ec.Kind == "param":
		n.Dir = "asc"
	default:
		n.Dir = "desc"
	}
	return n.href(workflow)
}

// sortMetric is the TASK.METRIC a sort= value names, or "".
func sortMetric(sort string) string {
	if kind, m, _ := strings.Cut(sort, ":"); kind == "metric" {
		return m
	}
	return ""
}

// varies reports whether metric k has more than one value among runs
// (a run without it counting as one more).
func varies(runs []*cairn.Run, byRun map[string]map[string]float64, k string) bool {
	first, seen := 0.0, false
	for _, r := range runs {
		v, ok := byRun[r.ID][k]
		if !ok || math.IsNaN(v) || math.IsInf(v, 0) {
			return true
		}
		if seen && v != first {
			return true
		}
		first, seen = v, true
	}
	return false
}

// preferredMetrics are the metrics charted first when the page does not
// say, in this order: the usual headline of a classifier or a regressor.
var preferredMetrics = []string{"f1", "accuracy", "roc_auc", "r2", "rmse"}

func sortedSet(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// clipRunes cuts s to n runes, ending it with … when cut.
func clipRunes(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// sortRuns orders runs (newest first as read) as q asks: by creation, or
// by a metric or a param, runs without a value after those with one
// whichever the direction (newest first among them), ties newest first.
// Numbers sort as numbers; a param whose values are not all numbers sorts
// as text, numbers before other values.
func sortRuns(runs []*cairn.Run, q expQuery, byRun map[string]map[string]float64) {
	desc := q.Dir == "desc"
	kind, name, _ := strings.Cut(q.Sort, ":")
	if kind == "created" || q.Sort == "created" {
		sort.SliceStable(runs, func(i, j int) bool {
			if desc {
				return runs[i].ID > runs[j].ID
			}
			return runs[i].ID < runs[j].ID
		})
		return
	}
	type key struct {
		has  bool
		num  bool
		f    float64
		text string
	}
	keys := make(map[string]key, len(runs))
	for _, r := range runs {
		var k key
		if kind == "metric" {
			if v, ok := byRun[r.ID][name]; ok && !math.IsNaN(v) && !math.IsInf(v, 0) {
				k = key{has: true, num: true, f: v}
			}
		} else if v, ok := r.Params[name]; ok {
			k.has = true
			if f, ok := paramNumber(v); ok {
				k.num, k.f = true, f
			} else {
				k.text = paramText(v)
			}
		}
		keys[r.ID] = k
	}
	sort.SliceStable(runs, func(i, j int) bool {
		a, b := keys[runs[i].ID], keys[runs[j].ID]
		if a.has != b.has {
			return a.has
		}
		if !a.has {
			return runs[i].ID > runs[j].ID
		}
		less, more := false, false
		switch {
		case a.num && b.num:
			less, more = a.f < b.f, a.f > b.f
		case a.num != b.num:
			less, more = a.num, b.num // numbers first
			if desc {
				less, more = more, less // ...whichever the direction
			}
		default:
			less, more = a.text < b.text, a.text > b.text
		}
		if desc {
			less, more = more, less
		}
		if less || more {
			return less
		}
		return runs[i].ID > runs[j].ID
	})
}

// drawExperimentCharts draws p.Chart across runs (oldest first) and
// against param p.X.
func drawExperimentCharts(p *expPage, runs []*cairn.Run, byRun map[string]map[string]float64) error {
	metric := p.Chart
	oldest := append([]*cairn.Run(nil), runs...)
	sort.Slice(oldest, func(i, j int) bool { return oldest[i].ID < oldest[j].ID })
	var across []draw.Point
	for i, r := range oldest {
		if v, ok := byRun[r.ID][metric]; ok && !math.IsNaN(v) && !math.IsInf(v, 0) {
			across = append(across, draw.Point{Run: r.ID, Href: "/runs/" + url.PathEscape(r.ID), X: float64(i + 1), Y: v})
		}
	}
	if missing := len(runs) - len(across); missing > 0 {
		p.ChartNote = fmt.Sprintf("%s of the %s read have no %s: they are left out of the charts.", plural(missing, "run"), plural(len(runs), "run"), metric)
	}
	var b bytes.Buffer
	err := draw.Chart(&b, draw.RunChart{Title: metric + " across runs", XLabel: "run, oldest to newest", YLabel: metric, Line: true, Points: across,
		Empty: "no run has " + metric})
	if err != nil {
		return fmt.Errorf("draw %s across runs: %w", metric, err)
	}
	p.MetricChart = template.HTML(b.String())
	if p.X == "" {
		return nil
	}

	// The param against the metric: numeric when every value is a number,
	// else one band per value.
	type pv struct {
		run  *cairn.Run
		v    any
		y    float64
		text string
	}
	var pts []pv
	numeric, without := true, 0
	for _, r := range oldest {
		y, ok := byRun[r.ID][metric]
		if !ok || math.IsNaN(y) || math.IsInf(y, 0) {
			continue
		}
		v, ok := r.Params[p.X]
		if !ok {
			without++
			continue
		}
		if _, ok := paramNumber(v); !ok {
			numeric = false
		}
		pts = append(pts, pv{run: r, v: v, y: y, text: clipRunes(paramText(v), 60)})
	}
	if without > 0 {
		p.ParamNote = fmt.Sprintf("%s with %s have no param %s: they are left out.", plural(without, "run"), metric, p.X)
	}
	rc := draw.RunChart{Title: p.X + " against " + metric, XLabel: p.X, YLabel: metric, Categorical: !numeric,
		Empty: fmt.Sprintf("no run has both %s and param %s", metric, p.X)}
	if numeric {
		for _, x := range pts {
			f, _ := paramNumber(x.v)
			rc.Points = append(rc.Points, draw.Point{Run: x.run.ID, Href: "/runs/" + url.PathEscape(x.run.ID), X: f, Y: x.y})
		}
	} else {
		values := make([]string, len(pts))
		for i, x := range pts {
			values[i] = x.text
		}
		cats, fold := draw.Categories(values, "(other values)")
		rc.Categories = cats
		for _, x := range pts {
			cat := x.text
			if f, ok := fold[cat]; ok {
				cat = f
			}
			rc.Points = append(rc.Points, draw.Point{Run: x.run.ID, Href: "/runs/" + url.PathEscape(x.run.ID), Cat: cat, Y: x.y})
		}
	}
	b.Reset()
	if err := draw.Chart(&b, rc); err != nil {
		return fmt.Errorf("draw %s against %s: %w", p.X, metric, err)
	}
	p.ParamChart = template.HTML(b.String())
	return nil
}

// plural is "1 run", "2 runs".
func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}

// comparePage is the compare page: what cairn compare shows.
type comparePage struct {
	Cmp       *experiments.Comparison
	Runs      []compareRun
	Params    []compareRow
	Metrics   []compareRow
	Outputs   []compareRow
	States    []compareRow
	Tasks     []string // tasks whose output digests differ
	Workflows []kv     // experiments pages of the runs' workflows
	N         int
}

type compareRun struct {
	ID, Href, Workflow, WorkflowHref, Digest string
	State                                    cairn.RunState
	Created                                  string
}

type compareRow struct {
	Task, Name string
	Cells      []compareCell
}

type compareCell struct {
	Text, Href, Class string
	Title             string
}

// GET /compare?run=A&run=B (or run=A,B): the runs compared, two or more,
// ids or unique prefixes.
func (h *handler) pageCompare(c *gin.Context) {
	cmp, ok := h.compareQuery(c, "pick 2 to %d runs to compare (got %d): tick them on a workflow's experiments page")
	if !ok {
		return
	}
	p := comparePage{Cmp: cmp, N: len(cmp.Runs), Tasks: cmp.Tasks}
	seenWF := map[string]bool{}
	for _, r := range cmp.Runs {
		cr := compareRun{ID: r.ID, Href: "/runs/" + url.PathEscape(r.ID), Workflow: r.Workflow, Digest: r.Digest, State: r.State, Created: fmtTime(r.Created)}
		if h.o.Experiments != nil {
			cr.WorkflowHref = experimentsHref(r.Workflow)
			if !seenWF[r.Workflow] {
				seenWF[r.Workflow] = true
				p.Workflows = append(p.Workflows, kv{r.Workflow, cr.WorkflowHref})
			}
		}
		p.Runs = append(p.Runs, cr)
	}
	for _, d := range cmp.Params {
		row := compareRow{Task: d.Task, Name: d.Name}
		for _, v := range d.Values {
			cell := compareCell{Text: clipRunes(string(v), 200), Title: string(v)}
			if string(v) == "null" {
				cell = compareCell{Text: "–", Class: "missing", Title: "absent"}
			}
			row.Cells = append(row.Cells, cell)
		}
		p.Params = append(p.Params, row)
	}
	for _, m := range cmp.Metrics {
		row := compareRow{Task: m.Task, Name: m.Metric}
		for i, v := range m.Values {
			if v == nil {
				row.Cells = append(row.Cells, compareCell{Text: "–", Class: "missing"})
			} else {
				row.Cells = append(row.Cells, compareCell{Text: strconv.FormatFloat(*v, 'g', 6, 64), Class: "num"})
			}
			if i == 0 {
				continue
			}
			d := m.Diffs[i]
			switch {
			case d == nil:
				row.Cells = append(row.Cells, compareCell{Text: "–", Class: "missing diff"})
			case *d == 0:
				row.Cells = append(row.Cells, compareCell{Text: "0", Class: "num diff same"})
			case *d > 0:
				row.Cells = append(row.Cells, compareCell{Text: "+" + strconv.FormatFloat(*d, 'g', 6, 64), Class: "num diff up"})
			default:
				row.Cells = append(row.Cells, compareCell{Text: strconv.FormatFloat(*d, 'g', 6, 64), Class: "num diff down"})
			}
		}
		p.Metrics = append(p.Metrics, row)
	}
	for _, o := range cmp.Outputs {
		row := compareRow{Task: o.Task, Name: o.Output}
		for _, d := range o.Digests {
			cell := compareCell{Text: "–", Class: "missing"}
			if d != "" {
				cell = compareCell{Text: shortDigest(d), Title: d, Class: "mono"}
				if h.o.Lineage != nil {
					cell.Href = "/artifacts/" + url.PathEscape(d)
				}
			}
			row.Cells = append(row.Cells, cell)
		}
		p.Outputs = append(p.Outputs, row)
	}
	for _, s := range cmp.States {
		row := compareRow{Task: s.Task}
		for i, st := range s.States {
			cell := compareCell{Text: "–", Class: "missing"}
			if st != "" {
				cell = compareCell{Text: string(st), Class: "badge state-" + string(st), Href: taskHref(cmp.Runs[i].ID, s.Task)}
			}
			row.Cells = append(row.Cells, cell)
		}
		p.States = append(p.States, row)
	}
	ids := make([]string, len(cmp.Runs))
	for i, r := range cmp.Runs {
		ids[i] = r.ID
	}
	title := "Compare " + strings.Join(ids, " ")
	h.render(c, http.StatusOK, "compare", title, p)
}

// shortDigest is sha256:0123456789ab of a digest.
func shortDigest(d string) string {
	if algo, hex, ok := strings.Cut(d, ":"); ok && len(hex) > 12 {
		return algo + ":" + hex[:12]
	}
	return d
}
