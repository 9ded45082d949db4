package ui

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/lineage"
	"github.com/cairnml/cairn/tasks/ml/drift"
	"github.com/cairnml/cairn/tasks/ml/plot"
	"github.com/cairnml/cairn/ui/core"
	"github.com/cairnml/cairn/ui/draw"
	"github.com/cairnml/cairn/ui/runjson"
	"github.com/cairnml/cairn/workflows"
)

//go:embed templates/*.html
var templateFS embed.FS

// pages are the parsed templates, one set per page (each with the layout).
type pages struct {
	byName map[string]*template.Template
}

func loadPages(marker csrfMarker) (*pages, error) {
	p := &pages{byName: map[string]*template.Template{}}
	for _, name := range []string{"runs", "run", "task", "workflows", "workflow", "error", "signin", "audit", "tokens", "artifact", "lineage", "schedules", "models", "model", "workers", "pools", "experiments", "compare"} {
		t, err := template.New(name).Funcs(funcs(marker)).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("ui: parse the %s page: %w", name, err)
		}
		p.byName[name] = t
	}
	return p, nil
}

// funcs are the templates' helpers; all return text that html/template
// escapes, except the pictures (trusted: ui/draw and tasks/ml/plot escape
// every piece of text they write) and csrfField, the hidden input every
// <form method="post"> holds ({{ csrfField }}): the CSRF token of the
// request, which render writes in place of the marker.
func funcs(marker csrfMarker) template.FuncMap {
	return template.FuncMap{
		"csrfField": marker.field,
		"time":      fmtTime,
		"pct":       func(f float64) float64 { return 100 * f },
		"deref":     func(p *float64) float64 { return *p },
		"dur":       fmtDur,
		"marker":    func(s cairn.TaskState) template.HTML { return template.HTML(draw.Marker(s)) },
		"states":    draw.States,
		"secretEnv": workflows.SecretEnv,
	}
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// fmtDur rounds a duration for a person: milliseconds under a minute,
// seconds above.
func fmtDur(d time.Duration) string {
	if d < time.Minute {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// fmtJSON is v as JSON for a page, markup left as it is (the template
// escapes it).
func fmtJSON(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// page is what every page's layout reads.
type page struct {
	Title   string
	Assets  string       // asset version for ?v=
	Poll    int64        // ms between live updates
	CSRF    string       // the CSRF marker, for the meta tag htmx's requests send as X-CSRF-Token
	Who     *core.Caller // the signed-in caller (nil: none, or no authentication)
	NoAuth  bool         // the server runs without authentication: a banner says so
	Audit   bool         // the audit log is served
	Models  bool         // the model registry is served
	Workers bool         // the workers are listed
	Pools   bool         // the pools are listed
	// Experiments: metrics are read across runs (the experiments and
	// compare pages are served).
	Experiments bool
	Flash       *flash // what the form that sent the browser here did
	Body        any
}

// page fills what the layout reads.
func (h *handler) page(c *gin.Context, title string, body any) page {
	p := page{Title: title, Assets: h.assets, Poll: h.o.Poll.Milliseconds(), CSRF: string(h.marker), Body: body,
		NoAuth: h.authMode() == "none", Audit: h.o.Audit != nil, Models: h.o.Registry != nil,
		Workers: h.o.Workers != nil, Pools: h.o.Pools != nil, Experiments: h.o.Experiments != nil}
	if who, ok := core.CallerFrom(c.Request.Context()); ok && who.Actor != core.NoAuthActor {
		p.Who = &who
	}
	return p
}

// render executes page name into a buffer first, so that a template error
// is a clean 500 rather than half a page.
func (h *handler) render(c *gin.Context, status int, name, title string, body any) {
	var b bytes.Buffer
	pg := h.page(c, title, body)
	pg.Flash = h.takeFlash(c)
	err := h.pages.byName[name].ExecuteTemplate(&b, "layout", pg)
	if err != nil {
		if name == "error" {
			h.o.Logger.Error("ui: render the error page", logAttrs(c, "err", err)...)
			c.Data(http.StatusInternalServerError, "text/plain; charset=utf-8", []byte("internal error"))
			return
		}
		h.fail(c, fmt.Errorf("render the %s page: %w", name, err))
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Data(status, "text/html; charset=utf-8", h.marker.fill(b.Bytes(), h.csrfToken(c.Request)))
}

// renderFragment executes one template of page name alone (an htmx swap).
func (h *handler) renderFragment(c *gin.Context, name, tmpl string, body any) {
	var b bytes.Buffer
	if err := h.pages.byName[name].ExecuteTemplate(&b, tmpl, h.page(c, "", body)); err != nil {
		h.fail(c, fmt.Errorf("render %s: %w", tmpl, err))
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Data(http.StatusOK, "text/html; charset=utf-8", h.marker.fill(b.Bytes(), h.csrfToken(c.Request)))
}

func (h *handler) renderError(c *gin.Context, status int, msg string) {
	back := ""
	if status == http.StatusUnauthorized {
		// A form posted after its session ended (the server restarted,
		// the token expired): sign in, then back to the page it was on.
		back = "/runs"
		if ref, err := url.Parse(c.Request.Referer()); err == nil && ref.Host == c.Request.Host {
			back = localPath(ref.RequestURI())
		}
	}
	h.render(c, status, "error", http.StatusText(status), struct {
		Status int
		Text   string
		Msg    string
		Back   string // with a 401: where signing in again leads
	}{status, http.StatusText(status), msg, back})
}

// securityHeaders go on every answer: no inline script may run (the CSP
// has no 'unsafe-inline'), no other origin is reached, no frame holds a page.
func securityHeaders(c *gin.Context) {
	hd := c.Writer.Header()
	hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
		"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "same-origin")
	if c.Request.TLS != nil {
		// Served over TLS: the browser keeps to https for this host.
		hd.Set("Strict-Transport-Security", "max-age=31536000")
	}
}

func (h *handler) mountPages(e *gin.Engine) {
	g := &e.RouterGroup
	h.route(g, http.MethodGet, "/", core.Read, func(c *gin.Context) { c.Redirect(http.StatusFound, "/runs") })
	h.route(g, http.MethodGet, "/runs", core.Read, h.pageRuns)
	h.route(g, http.MethodGet, "/runs/:id", core.Read, h.pageRun)
	h.route(g, http.MethodGet, "/runs/:id/live", core.Read, h.pageRunLive)
	h.route(g, http.MethodGet, "/runs/:id/tasks/:task", core.Read, h.pageTask)
	h.route(g, http.MethodGet, "/workflows", core.Read, h.pageWorkflows)
	h.route(g, http.MethodGet, "/workflows/:name", core.Read, h.pageWorkflow)
	h.route(g, http.MethodGet, "/workflows/:name/experiments", core.Read, h.pageExperiments)
	h.route(g, http.MethodGet, "/compare", core.Read, h.pageCompare)
	// The forms of the pages' buttons: each sends the browser back (303).
	h.route(g, http.MethodPost, "/workflows/:name/trigger", core.Operate, h.formTrigger)
	h.route(g, http.MethodPost, "/runs/:id/cancel", core.Operate, h.formCancel)
	h.route(g, http.MethodPost, "/runs/:id/retry", core.Operate, h.formRetry)
	h.route(g, http.MethodPost, "/runs/:id/resume", core.Operate, h.formResume)
}

// runRow is one line of the runs page.
type runRow struct {
	Run      *cairn.Run
	Orphaned bool
	Duration string
}

func (h *handler) pageRuns(c *gin.Context) {
	f, err := h.runsQuery(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	runs, next, err := h.listRuns(c.Request.Context(), f)
	if err != nil {
		h.fail(c, err)
		return
	}
	now := h.o.Now()
	body := struct {
		Workflow, State string
		Limit           int
		States          []cairn.RunState
		Rows            []runRow
		Next, First     string // links
		Paged           bool
	}{Workflow: f.Workflow, State: string(f.State), Limit: f.Limit, States: cairn.RunStates, Paged: f.Before != ""}
	for _, r := range runs {
		orph := h.orphaned(r)
		body.Rows = append(body.Rows, runRow{Run: r, Orphaned: orph, Duration: runDuration(r, orph, now)})
	}
	q := url.Values{}
	if f.Workflow != "" {
		q.Set("workflow", f.Workflow)
	}
	if f.State != "" {
		q.Set("state", string(f.State))
	}
	if f.Limit != defaultPage {
		q.Set("limit", fmt.Sprint(f.Limit))
	}
	body.First = "/runs"
	if len(q) > 0 {
		body.First += "?" + q.Encode()
	}
	if next != "" {
		q.Set("before", next)
		body.Next = "/runs?" + q.Encode()
	}
	h.render(c, http.StatusOK, "runs", "Runs", body)
}

// runEnd is the end of a run's time axis: when it finished, now while it
// runs, and for an orphaned run when its owner's claim expired (now for a
// run its owner let go: no claim, no expiry).
func runEnd(r *cairn.Run, orphaned bool, now time.Time) time.Time {
	switch {
	case !r.FinishedAt.IsZero():
		return r.FinishedAt
	case orphaned && !r.OwnerExpiresAt.IsZero() && r.OwnerExpiresAt.Before(now):
		return r.OwnerExpiresAt
	}
	return now
}

func runDuration(r *cairn.Run, orphaned bool, now time.Time) string {
	if r.StartedAt.IsZero() {
		return "-"
	}
	d := fmtDur(runEnd(r, orphaned, now).Sub(r.StartedAt))
	if r.FinishedAt.IsZero() && !orphaned {
		d += "…"
	}
	return d
}

// runPage is what the run page and its live fragment show.
type runPage struct {
	Run         *cairn.Run
	Orphaned    bool
	Live        bool // not terminal: the page polls
	Duration    string
	Description string
	GraphNote   string // why the DAG has no edges
	DAG, Gantt  template.HTML
	Tasks       []taskRow
	Params      []kv
	Results     []result
	Source      string
	Buttons     runButtons
	// WorkflowHref is the page of the run's workflow, when this server
	// offers one of that name (to trigger it again).
	WorkflowHref string
	// Expand is the query naming the for_each tasks whose items the DAG
	// draws one by one ("?expand=train", "" for none), kept by the poll.
	Expand string
}

// expandQuery is the query of a run page whose DAG draws the items of
// the for_each tasks in set one by one ("" for none).
func expandQuery(set map[string]bool) string {
	if len(set) == 0 {
		return ""
	}
	q := url.Values{}
	for _, id := range slices.Sorted(maps.Keys(set)) {
		q.Add("expand", id)
	}
	return "?" + q.Encode()
}

type taskRow struct {
	Task     *cairn.TaskRun
	Href     string
	Attempts string
	Duration string
	Error    string
	Waiting  string       // why the task is not running (cairn.Why), "" when it is or has nothing to say
	Outputs  []outputLink // a succeeded task's artifacts
	// CachedFrom names the attempt whose outputs the task reused
	// ("RUN/TASK#N", "" when it ran); CachedHref is its task's page.
	CachedFrom, CachedHref string
	// Heads are the sub-workflows (uses:) whose tasks start at this row,
	// outermost first; Depth is how many the task is inside of.
	Heads []workflows.GroupHead
	Depth int
	// Items, on a for_each task's row, links to the page with its items'
	// rows shown (ItemsShown false) or hidden: the table folds them, as
	// the DAG does, so that a run of thousands of items sends one row.
	ItemsHref  string
	ItemsShown bool
}

// cachedFrom is the attempt whose outputs task tr's latest attempt
// reused; zero when it ran.
func cachedFrom(tr *cairn.TaskRun, atts []*cairn.Attempt) cairn.AttemptRef {
	if n := len(atts); tr.State == cairn.TaskSucceeded && n > 0 {
		return atts[n-1].CachedFrom
	}
	return cairn.AttemptRef{}
}

// outputLink is an artifact output on the run page: its page and its
// lineage.
type outputLink struct {
	Port, Digest, Href, Lineage string
}

// outputLinks are the artifact outputs of a succeeded task, by port.
func outputLinks(tr *cairn.TaskRun) []outputLink {
	if tr.State != cairn.TaskSucceeded {
		return nil
	}
	var out []outputLink
	for port, v := range tr.Outputs {
		if ref, ok := cairn.AsArtifactRef(v); ok {
			out = append(out, outputLink{Port: port, Digest: ref.Digest, Href: "/artifacts/" + ref.Digest, Lineage: lineageHref(ref.Digest, lineage.Upstream)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Port < out[j].Port })
	return out
}

type kv struct{ Key, Value string }

// result is what an evaluate task (or any task with metrics) measured.
type result struct {
	Task      string
	Href      string
	Metrics   []kv
	ROC       template.HTML
	Confusion *confusion
	Gate      string // "passed", "did not pass" or ""
	// Drift is a retrain task's chart of the PSI per feature, and
	// Decision its should_retrain and reason.
	Drift    template.HTML
	Decision string
}

type confusion struct {
	Classes []string
	Rows    [][]int
}

func taskHref(runID, taskID string) string {
	return "/runs/" + url.PathEscape(runID) + "/tasks/" + url.PathEscape(taskID)
}

func (h *handler) runPage(c *gin.Context) (*runPage, error) {
	v, err := h.loadRun(c.Request.Context(), c.Param("id"))
	if err != nil {
		return nil, err
	}
	r := v.Run
	now := h.o.Now()
	p := &runPage{Run: r, Orphaned: v.Orphaned, Live: !r.State.Terminal(), Duration: runDuration(r, v.Orphaned, now), Source: validText(workflows.RedactWebhooks(r.Source)),
		Buttons: h.buttons(c, v)}
	if _, err := h.lookup(r.Workflow); err == nil {
		p.WorkflowHref = "/workflows/" + url.PathEscape(r.Workflow)
	}
	wf := h.graphs.workflow(c.Request.Context(), h.o.Store, r)
	var g draw.Graph
	if wf != nil {
		g = wf
		p.Description = wf.Description
	} else {
		p.GraphNote = "The workflow file this run stored could not be read again: its tasks are drawn without their edges."
	}
	var b bytes.Buffer
	cached := map[string]cairn.AttemptRef{}
	for _, tr := range v.Tasks {
		if from := cachedFrom(tr, v.Attempts[tr.TaskID]); !from.IsZero() {
			cached[tr.TaskID] = from
		}
	}
	// The items of a for_each task are one node, until it is expanded
	// (?expand=TASK, one per task): its node's link toggles it.
	expand := map[string]bool{}
	for _, id := range c.QueryArray("expand") {
		expand[id] = true
	}
	p.Expand = expandQuery(expand)
	toggle := func(id string, expanded bool) string {
		next := maps.Clone(expand)
		if expanded {
			delete(next, id)
		} else {
			next[id] = true
		}
		return "/runs/" + url.PathEscape(r.ID) + expandQuery(next) + "#dag"
	}
	if err := draw.DAG(&b, g, v.Tasks, draw.DAGOptions{Href: func(id string) string { return taskHref(r.ID, id) }, Cached: cached,
		Expand: expand, Toggle: toggle}); err != nil {
		return nil, err
	}
	p.DAG = template.HTML(b.String())
	b.Reset()
	// The Gantt and the table fold a for_each task's items as the DAG
	// does: one row, the task's (its bar spans its items'), unless it is
	// expanded.
	shown := make([]*cairn.TaskRun, 0, len(v.Tasks))
	for _, tr := range v.Tasks {
		if parent, _, ok := cairn.ParseItemID(tr.TaskID); !ok || expand[parent] {
			shown = append(shown, tr)
		}
	}
	err = draw.Gantt(&b, shown, v.All, draw.GanttOptions{Start: r.StartedAt, End: runEnd(r, v.Orphaned, now),
		Href: func(id string, n int) string { return fmt.Sprintf("%s?attempt=%d", taskHref(r.ID, id), n) }})
	if err != nil {
		return nil, err
	}
	p.Gantt = template.HTML(b.String())
	groups := workflows.CountGroups(v.Tasks)
	var open []string // the sub-workflow groups of the row above
	items := runjson.ItemAttempts(v.Tasks, v.Attempts)
	for _, tr := range shown {
		row := taskRow{Task: tr, Href: taskHref(r.ID, tr.TaskID), Attempts: runjson.AttemptsText(tr, items[tr.TaskID]), Duration: "-", Error: firstLine(tr.Error, 200),
			Waiting: v.Waiting[tr.TaskID]}
		if tr.Expanded && tr.Items > 0 {
			row.ItemsShown = expand[tr.TaskID]
			row.ItemsHref = strings.TrimSuffix(toggle(tr.TaskID, row.ItemsShown), "#dag") + "#task-rows"
		}
		if tr.State == cairn.TaskSkipped && row.Waiting != "" {
			row.Error = "" // the why says it, and why the when: was false
		}
		row.Heads, open = groups.Enter(open, tr.TaskID)
		row.Depth = len(open)
		if h.o.Lineage != nil {
			row.Outputs = outputLinks(tr)
		}
		if from, ok := cached[tr.TaskID]; ok {
			row.CachedFrom, row.CachedHref = from.String(), taskHref(from.RunID, from.TaskID)
		}
		atts := v.Attempts[tr.TaskID]
		if as, ok := items[tr.TaskID]; ok {
			atts = as // a for_each task's row spans its items
		}
		if d, ok := runjson.TaskDuration(tr, atts); ok {
			row.Duration = fmtDur(d)
		}
		p.Tasks = append(p.Tasks, row)
		if res, ok := resultOf(r.ID, tr); ok {
			p.Results = append(p.Results, res)
		}
	}
	keys := make([]string, 0, len(r.Params))
	for k := range r.Params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		p.Params = append(p.Params, kv{k, fmtJSON(r.Params[k])})
	}
	return p, nil
}

// rocCurve is one curve of evaluate's roc output.
type rocCurve struct {
	Class string    `json:"class"`
	AUC   float64   `json:"auc"`
	FPR   []float64 `json:"fpr"`
	TPR   []float64 `json:"tpr"`
}

// resultOf is what task tr measured: its metrics and, for an evaluate
// task, its gate, confusion matrix and ROC curves (tasks/ml/plot's SVG).
func resultOf(runID string, tr *cairn.TaskRun) (result, bool) {
	if len(tr.Metrics) == 0 && tr.Type != "evaluate" || tr.State != cairn.TaskSucceeded {
		return result{}, false
	}
	res := result{Task: tr.TaskID, Href: taskHref(runID, tr.TaskID)}
	keys := make([]string, 0, len(tr.Metrics))
	for k := range tr.Metrics {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		res.Metrics = append(res.Metrics, kv{k, fmt.Sprintf("%.4g", tr.Metrics[k])})
	}
	switch strings.TrimSpace(string(tr.Outputs["passed"])) {
	case "true":
		res.Gate = "passed"
	case "false":
		res.Gate = "did not pass"
	}
	var cm struct {
		Classes []string `json:"classes"`
		Matrix  [][]int  `json:"matrix"`
	}
	if json.Unmarshal(tr.Outputs["confusion_matrix"], &cm) == nil && len(cm.Classes) > 0 && len(cm.Matrix) == len(cm.Classes) {
		ok := true
		for _, row := range cm.Matrix {
			ok = ok && len(row) == len(cm.Classes)
		}
		if ok {
			res.Confusion = &confusion{Classes: cm.Classes, Rows: cm.Matrix}
		}
	}
	var curves []rocCurve
	if json.Unmarshal(tr.Outputs["roc"], &curves) == nil && len(curves) > 0 {
		series := make([]plot.Series, len(curves))
		for i, c := range curves {
			name := c.Class
			if !strings.HasPrefix(name, "class") {
				name = "class " + name
			}
			series[i] = plot.Series{Name: fmt.Sprintf("%s: AUC %.4f", name, c.AUC), X: c.FPR, Y: c.TPR}
		}
		var b bytes.Buffer
		if plot.ROC("ROC of "+tr.TaskID, series...).SVG(&b) == nil {
			res.ROC = template.HTML(b.String())
		}
	}
	if tr.Type == "retrain" {
		res.Drift, res.Decision = driftChart(tr)
	}
	return res, true
}

// driftChart draws a retrain task's drift output (per feature its PSI,
// p-value and verdict) as package drift's bar chart, and says its
// decision.
func driftChart(tr *cairn.TaskRun) (template.HTML, string) {
	var out struct {
		PSIThreshold float64 `json:"psi_threshold"`
		Features     []struct {
			Name    string  `json:"name"`
			PValue  float64 `json:"p_value"`
			PSI     float64 `json:"psi"`
			Drifted bool    `json:"drifted"`
		} `json:"features"`
	}
	var decision string
	if should, reason := strings.TrimSpace(string(tr.Outputs["should_retrain"])), ""; should != "" {
		_ = json.Unmarshal(tr.Outputs["reason"], &reason)
		decision = "should_retrain " + should
		if reason != "" {
			decision += ": " + reason
		}
	}
	if json.Unmarshal(tr.Outputs["drift"], &out) != nil || len(out.Features) == 0 {
		return "", decision
	}
	rep := drift.Report{Settings: drift.Settings{PSIThreshold: out.PSIThreshold}, Drifted: []string{}}
	for _, f := range out.Features {
		rep.Features = append(rep.Features, drift.Feature{Name: f.Name, PValue: f.PValue, PSI: f.PSI, Drifted: f.Drifted})
		if f.Drifted {
			rep.Drifted = append(rep.Drifted, f.Name)
		}
	}
	var b bytes.Buffer
	if rep.SVG(&b) != nil {
		return "", decision // not figures the chart can draw; the outputs have them
	}
	return template.HTML(b.String()), decision
}

func (h *handler) pageRun(c *gin.Context) {
	p, err := h.runPage(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	h.render(c, http.StatusOK, "run", "Run "+p.Run.ID, p)
}

// pageRunLive is the part of the run page that changes, for htmx to swap
// in while the run is not finished; once it is, the fragment no longer
// asks for itself and the polling stops.
func (h *handler) pageRunLive(c *gin.Context) {
	p, err := h.runPage(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	h.renderFragment(c, "run", "live", p)
}

// logTailBytes is how much of a log the attempt page shows; the rest is
// a link away.
const logTailBytes = 256 << 10

type taskPage struct {
	Run         *cairn.Run
	RunHref     string
	Task        *cairn.TaskRun
	Description string
	Attempts    []attemptLink
	Attempt     *cairn.Attempt
	Running     bool
	Duration    string
	Params      string
	Log         string
	LogSkipped  int64
	LogSize     int64
	LogMissing  bool
	LogReused   string // what is said in place of the log of an attempt that reused outputs and wrote none
	LogError    string
	LogURL      string // the whole log, as text
	FollowURL   string // Server-Sent Events while the attempt runs
	CanRetry    bool   // the page shows the task's Retry button
	Waiting     string // why the task is not running (cairn.Why)
	// Cache is the task's cache story (Options.Cache), CacheErr why it
	// could not be told; HitHref and LastHref are the pages of the
	// attempt it reused and of the success it was compared with.
	Cache             *lineage.CacheStory
	CacheErr          string
	HitHref, LastHref string
}

type attemptLink struct {
	Number  int
	State   cairn.TaskState
	Href    string
	Current bool
}

func (h *handler) pageTask(c *gin.Context) {
	v, tr, ok := h.runTask(c)
	if !ok {
		return
	}
	n, err := attemptParam(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	atts := v.Attempts[tr.TaskID]
	at, err := attemptOf(atts, n, tr.TaskID)
	if err != nil {
		h.fail(c, err)
		return
	}
	r := v.Run
	p := taskPage{Run: r, RunHref: "/runs/" + url.PathEscape(r.ID), Task: tr, Attempt: at, Duration: "-",
		CanRetry: h.buttons(c, v).RetryTask[tr.TaskID], Waiting: v.Waiting[tr.TaskID]}
	if params := cairn.RedactWebhookParams(tr.Params); len(params) > 0 && string(params) != "null" {
		p.Params = string(params)
		var v any
		if json.Unmarshal(params, &v) == nil { // indented, markup not \u-escaped: the template escapes it
			var out bytes.Buffer
			enc := json.NewEncoder(&out)
			enc.SetEscapeHTML(false)
			enc.SetIndent("", "  ")
			if enc.Encode(v) == nil {
				p.Params = strings.TrimSuffix(out.String(), "\n")
			}
		}
	}
	if wf := h.graphs.workflow(c.Request.Context(), h.o.Store, r); wf != nil {
		if t := wf.Declared(tr.TaskID); t != nil {
			p.Description = t.Description
		}
	}
	if h.o.Cache != nil {
		story, err := h.cacheStory(c.Request.Context(), v, tr)
		if err != nil { // the page still shows the task
			h.o.Logger.Warn("ui: explain a task's cache", "run", r.ID, "task", tr.TaskID, "err", err)
			p.CacheErr = err.Error()
		} else {
			p.Cache = &story
			if story.Hit != nil {
				p.HitHref = fmt.Sprintf("%s?attempt=%d", taskHref(story.Hit.RunID, story.Hit.TaskID), story.Hit.Number)
			}
			if story.Last != nil {
				p.LastHref = fmt.Sprintf("%s?attempt=%d", taskHref(story.Last.RunID, story.Last.TaskID), story.Last.Number)
			}
		}
	}
	base := taskHref(r.ID, tr.TaskID)
	for _, a := range atts {
		p.Attempts = append(p.Attempts, attemptLink{Number: a.Number, State: a.State, Href: fmt.Sprintf("%s?attempt=%d", base, a.Number), Current: at != nil && a.Number == at.Number})
	}
	if at != nil {
		p.Running = at.FinishedAt.IsZero()
		end := at.FinishedAt
		if p.Running {
			end = h.o.Now()
		}
		p.Duration = fmtDur(end.Sub(at.StartedAt))
		if p.Running {
			p.Duration += "…"
		}
		lt, err := h.readTail(r.ID, tr.TaskID, at.Number, logTailBytes)
		if err != nil { // the page still shows the attempt
			h.o.Logger.Warn("ui: read a log", "run", r.ID, "task", tr.TaskID, "attempt", at.Number, "err", err)
			p.LogError = err.Error()
		}
		p.Log, p.LogSkipped, p.LogSize, p.LogMissing = validText(lt.Data), lt.Skipped, lt.Size, lt.Missing
		if lt.Missing && !at.CachedFrom.IsZero() {
			p.LogReused = cairn.ReusedNote(at.CachedFrom)
		}
		api := fmt.Sprintf("%s/runs/%s/tasks/%s/log?attempt=%d", core.APIPrefix, url.PathEscape(r.ID), url.PathEscape(tr.TaskID), at.Number)
		p.LogURL = api
		if p.Running && h.o.Logs != nil && p.LogError == "" {
			p.FollowURL = fmt.Sprintf("%s&follow=1&from=%d", api, lt.Size)
		}
	}
	h.render(c, http.StatusOK, "task", tr.TaskID+" · run "+r.ID, p)
}

// validText is b as text, its invalid UTF-8 replaced.
func validText(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

// firstLine is the first line of s, cut to n runes.
func firstLine(s string, n int) string {
	s, _, cut := strings.Cut(s, "\n")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	if cut {
		return s + " …"
	}
	return s
}
