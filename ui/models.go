package ui

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/lineage"
	"github.com/cairnml/cairn/tasks/ml/plot"
	"github.com/cairnml/cairn/ui/core"
	"github.com/cairnml/cairn/ui/runjson"
)

func (h *handler) mountModels(e *gin.Engine) {
	g := &e.RouterGroup
	h.route(g, http.MethodGet, "/models", core.Read, h.pageModels)
	h.route(g, http.MethodGet, "/models/:name", core.Read, h.pageModel)
	h.route(g, http.MethodPost, "/models/:name/promote", core.Operate, h.formPromote)
	h.route(g, http.MethodPost, "/models/:name/rollback", core.Operate, h.formRollback)
	api := e.Group(core.APIPrefix)
	h.route(api, http.MethodGet, "/models", core.Read, h.apiModels)
	h.route(api, http.MethodGet, "/models/:name", core.Read, h.apiModel)
	h.route(api, http.MethodGet, "/models/:name/versions/:version", core.Read, h.apiModelVersion)
	h.route(api, http.MethodPost, "/models/:name/promote", core.Operate, h.apiPromote)
	h.route(api, http.MethodPost, "/models/:name/rollback", core.Operate, h.apiRollback)
	h.route(api, http.MethodGet, "/models/:name/rollout", core.Read, h.apiRollout)
	h.route(api, http.MethodPost, "/models/:name/rollout/:action", core.Operate, h.apiChangeRollout)
	h.route(api, http.MethodGet, "/models/:name/alerts", core.Read, h.apiModelAlerts)
	h.route(api, http.MethodPut, "/models/:name/alerts", core.Operate, h.apiSetModelAlerts)
	h.route(api, http.MethodDelete, "/models/:name/alerts", core.Operate, h.apiSetModelAlerts)
}

// registry is Options.Models, or the error of a server without it.
func (h *handler) registry() (core.ModelRegistry, error) {
	if h.o.Registry == nil {
		return nil, fmt.Errorf("this server does not serve the model registry: %w", core.ErrNotImplemented)
	}
	return h.o.Registry, nil
}

// modelName is the request's model name, checked.
func modelName(c *gin.Context) (string, error) {
	name := c.Param("name")
	if err := cairn.ValidModelName(name); err != nil {
		return "", core.BadInput("%s", err.Error())
	}
	return name, nil
}

// parseVersion reads a version: a whole number from 1.
func parseVersion(s string) (int, error) {
	v, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || v < 1 {
		return 0, core.BadInput("version %s: want a whole number from 1", core.Brief(s))
	}
	return v, nil
}

// parseStage reads a stage to promote to ("" is production).
func parseStage(s string) (cairn.ModelStage, error) {
	if s == "" {
		return cairn.StageProduction, nil
	}
	st := cairn.ModelStage(s)
	if !st.Valid() {
		return "", core.BadInput("stage %s: want production, candidate or archived", core.Brief(s))
	}
	return st, nil
}

// GET /api/v1/models → {"models": [...]}: the shape of cairn models list --json.
func (h *handler) apiModels(c *gin.Context) {
	reg, err := h.registry()
	if err != nil {
		h.fail(c, err)
		return
	}
	list, err := core.ModelSummaries(c.Request.Context(), reg)
	if err != nil {
		h.fail(c, err)
		return
	}
	h.json(c, http.StatusOK, runjson.ModelList{Models: list})
}

// GET /api/v1/models/{name} → the model, its versions and history: the
// shape of cairn models show NAME --json.
func (h *handler) apiModel(c *gin.Context) {
	reg, err := h.registry()
	if err != nil {
		h.fail(c, err)
		return
	}
	name, err := modelName(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	m, err := core.ModelDetail(c.Request.Context(), reg, name)
	if err != nil {
		h.fail(c, err)
		return
	}
	h.json(c, http.StatusOK, m)
}

// GET /api/v1/models/{name}/versions/{version} → one version.
func (h *handler) apiModelVersion(c *gin.Context) {
	reg, err := h.registry()
	if err != nil {
		h.fail(c, err)
		return
	}
	name, err := modelName(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	v, err := parseVersion(c.Param("version"))
	if err != nil {
		h.fail(c, err)
		return
	}
	mv, err := core.ModelVersionOf(c.Request.Context(), reg, name, v)
	if err != nil {
		h.fail(c, err)
		return
	}
	h.json(c, http.StatusOK, mv)
}

// promote moves version v of name to stage for the caller.
func (h *handler) promote(ctx context.Context, name string, v int, stage cairn.ModelStage) (*runjson.ModelChange, error) {
	reg, err := h.registry()
	if err != nil {
		return nil, err
	}
	who, _ := core.CallerFrom(ctx)
	ch, err := core.PromoteModel(ctx, reg, name, v, stage, actorOf(who), h.o.Now())
	if err == nil {
		h.servingChanged(ctx, name)
	}
	return ch, err
}

// servingChanged tells the model server (Options.Models) that name's
// stages changed, so that the next predict request is answered by the
// version now in production; a failure to load it is the model server's
// to log (it serves the previous version meanwhile).
func (h *handler) servingChanged(ctx context.Context, name string) {
	if h.o.Models != nil {
		_ = h.o.Models.Refresh(context.WithoutCancel(ctx), name)
	}
}

// rollback puts back in production the version before name's current
// one, for the caller.
func (h *handler) rollback(ctx context.Context, name string) (*runjson.ModelChange, error) {
	reg, err := h.registry()
	if err != nil {
		return nil, err
	}
	who, _ := core.CallerFrom(ctx)
	ch, err := core.RollbackModel(ctx, reg, name, actorOf(who), h.o.Now())
	if err == nil {
		h.servingChanged(ctx, name)
	}
	return ch, err
}

// actorOf is who the audit log says asked.
func actorOf(c core.Caller) string {
	if c.Actor != "" {
		return c.Actor
	}
	return "api"
}

// POST /api/v1/models/{name}/promote {"version": N, "stage": "production"} → the change.
func (h *handler) apiPromote(c *gin.Context) {
	var body struct {
		Version int    `json:"version"`
		Stage   string `json:"stage"`
	}
	if err := decodeBody(c, &body); err != nil {
		h.fail(c, err)
		return
	}
	name, err := modelName(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	if body.Version < 1 {
		h.fail(c, core.BadInput("version: want the version to promote, a whole number from 1 (the body is {\"version\": N, \"stage\": \"production\"})"))
		return
	}
	stage, err := parseStage(body.Stage)
	if err != nil {
		h.fail(c, err)
		return
	}
	ch, err := h.promote(c.Request.Context(), name, body.Version, stage)
	if err != nil {
		h.fail(c, err)
		return
	}
	h.json(c, http.StatusOK, ch)
}

// POST /api/v1/models/{name}/rollback → the change.
func (h *handler) apiRollback(c *gin.Context) {
	if err := decodeBody(c, &struct{}{}); err != nil {
		h.fail(c, err)
		return
	}
	name, err := modelName(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	ch, err := h.rollback(c.Request.Context(), name)
	if err != nil {
		h.fail(c, err)
		return
	}
	h.json(c, http.StatusOK, ch)
}

// The pages.

// modelRow is one line of the models page.
type modelRow struct {
	S       runjson.ModelSummary
	Href    string
	Metrics string
}

func (h *handler) pageModels(c *gin.Context) {
	reg, err := h.registry()
	if err != nil {
		h.fail(c, err)
		return
	}
	list, err := core.ModelSummaries(c.Request.Context(), reg)
	if err != nil {
		h.fail(c, err)
		return
	}
	var rows []modelRow
	for _, s := range list {
		rows = append(rows, modelRow{S: s, Href: "/models/" + url.PathEscape(s.Name), Metrics: metricsText(s.Metrics, 4)})
	}
	h.render(c, http.StatusOK, "models", "Models", struct{ Rows []modelRow }{rows})
}

// metricsText is a few metrics, sorted, for a table cell.
func metricsText(m map[string]float64, max int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for i, k := range keys {
		if i == max {
			parts = append(parts, fmt.Sprintf("… %d more", len(keys)-max))
			break
		}
		parts = append(parts, fmt.Sprintf("%s %.4g", k, m[k]))
	}
	return strings.Join(parts, " · ")
}

// versionRow is one version on the model page.
type versionRow struct {
	V          runjson.ModelVersion
	Metrics    []kv
	RunHref    string
	CanPromote bool // not in production
	CanArchive bool // not archived
	// ArtifactHref and LineageHref link the model's artifact and its
	// lineage, when the server serves them.
	ArtifactHref, LineageHref string
}

type modelPage struct {
	Name        string
	Production  *runjson.ModelVersion
	Versions    []versionRow
	History     []runjson.StageChange
	Charts      []metricChart // metrics across versions
	ROC         template.HTML // the production version's, from its report
	Confusion   *confusion
	ReportNote  string // why the production version's report is not drawn
	CanOperate  bool
	CanRollback bool
	// Rollout is the model's rollout, if it ever had one; RolloutSVG
	// the candidate's share over time.
	Rollout    *runjson.Rollout
	RolloutSVG template.HTML
	// OverTime is each version's requests, latency, errors, live metric
	// and predictions per minute (nil without any).
	OverTime *overTime
	// Alerts are the model's own alerts (HasAlerts: the server keeps
	// them), Fired the newest alerts they sent, Drift the drift the
	// leader last measured of each version a drift_above alert watches.
	HasAlerts bool
	// WatchesDrift: one of the alerts is a drift_above (the page says
	// why no drift is shown yet).
	WatchesDrift bool
	Alerts       []alertRow
	Fired        []cairn.Alert
	Drift        []cairn.ModelDrift
}

// alertRow is one of a model's own alerts on its page.
type alertRow struct {
	On, Bound, Window, Min, Webhook, Format string
}

// maxFired bounds the alerts sent that the model page lists.
const maxFired = 20

// modelAlertsPage fills p's alerts: the model's own, those sent, and the
// drift measured.
func (h *handler) modelAlertsPage(ctx context.Context, p *modelPage) error {
	k, ok := h.o.Registry.(core.ModelAlertsKeeper)
	if !ok {
		return nil
	}
	m, err := k.ModelAlerts(ctx, p.Name)
	if err != nil {
		return err
	}
	p.HasAlerts = true
	for _, a := range core.ModelAlertsJSON(m).Alerts {
		row := alertRow{On: string(a.On), Bound: strconv.FormatFloat(a.Bound, 'g', -1, 64), Window: cairn.DefaultAlertWindow.String() + " (default)",
			Min: "default", Webhook: a.Webhook, Format: a.Format}
		if a.On == cairn.AlertP99Above {
			row.Bound = time.Duration(a.Bound * float64(time.Second)).String()
		}
		p.WatchesDrift = p.WatchesDrift || a.On == cairn.AlertDriftAbove
		if a.Window > 0 {
			row.Window = time.Duration(a.Window).String()
		}
		if a.Min > 0 {
			row.Min = strconv.Itoa(a.Min)
		}
		if row.Format == "" {
			row.Format = cairn.AlertJSON
		}
		p.Alerts = append(p.Alerts, row)
	}
	if h.o.Alerts != nil {
		if p.Fired, err = h.o.Alerts.ListAlerts(ctx, cairn.AlertFilter{Model: p.Name, Limit: maxFired}); err != nil {
			return err
		}
	}
	if dr, ok := h.o.Registry.(core.DriftReader); ok {
		if p.Drift, err = dr.ModelDrifts(ctx, p.Name); err != nil {
			return err
		}
	}
	return nil
}

func (h *handler) pageModel(c *gin.Context) {
	reg, err := h.registry()
	if err != nil {
		h.fail(c, err)
		return
	}
	name, err := modelName(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	ctx := c.Request.Context()
	vs, hist, err := core.ModelOf(ctx, reg, name)
	if err != nil {
		h.fail(c, err)
		return
	}
	m := runjson.FromModel(name, vs, hist)
	p := modelPage{Name: name, History: m.History, CanOperate: h.canChangeModels(c)}
	for i := range m.Versions {
		v := m.Versions[i]
		row := versionRow{V: v, CanPromote: v.Stage != cairn.StageProduction, CanArchive: v.Stage != cairn.StageArchived}
		if v.Producer.RunID != "" {
			row.RunHref = taskHref(v.Producer.RunID, v.Producer.TaskID)
		}
		if h.o.Lineage != nil {
			row.ArtifactHref, row.LineageHref = "/artifacts/"+v.Model.Digest, lineageHref(v.Ref, lineage.Upstream)
		}
		keys := make([]string, 0, len(v.Metrics))
		for k := range v.Metrics {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			row.Metrics = append(row.Metrics, kv{k, fmt.Sprintf("%.4g", v.Metrics[k])})
		}
		if v.Stage == cairn.StageProduction {
			p.Production = &m.Versions[i]
		}
		p.Versions = append(p.Versions, row)
	}
	// A rollback needs a version in production and another that was in
	// production before; the store decides which, and says so when there
	// is none.
	if p.CanOperate && p.Production != nil {
		for _, c := range hist {
			p.CanRollback = p.CanRollback || c.To == cairn.StageProduction && c.Version != p.Production.Version
		}
	}
	p.Charts = metricsCharts(m.Versions)
	if h.o.Rollouts != nil {
		if r, err := core.RolloutDetail(ctx, h.o.Rollouts, name, time.Now()); err == nil {
			p.Rollout = r
			if r.Strategy != string(cairn.StrategyShadow) {
				// A shadow candidate answers no request: its share
				// would be a flat 0 % (the table says what it does).
				p.RolloutSVG = shareChart(r, time.Now())
			}
		} else if !errors.Is(err, cairn.ErrNotFound) {
			h.fail(c, err)
			return
		}
	}
	if mr, ok := h.o.Rollouts.(core.MinuteReader); ok {
		now := time.Now()
		ot, err := overTimeCharts(ctx, mr, name, overTimeWindow(p.Rollout, now), now)
		if err != nil {
			h.fail(c, err)
			return
		}
		p.OverTime = ot
	}
	if err := h.modelAlertsPage(ctx, &p); err != nil {
		h.fail(c, err)
		return
	}
	if p.Production != nil {
		h.drawReport(ctx, &p, p.Production)
	}
	h.render(c, http.StatusOK, "model", "Model "+name, p)
}

// canChangeModels reports whether the caller may promote and roll back.
func (h *handler) canChangeModels(c *gin.Context) bool {
	caller, ok := core.CallerFrom(c.Request.Context())
	return ok && caller.Access >= core.Operate
}

// metricChart is one metric across a model's versions.
type metricChart struct {
	Metric string
	SVG    template.HTML
}

// metricsCharts draws each metric across the versions that have it: one
// SVG chart per metric (each on its own scale), a line with a dot per
// version, versions on the x axis at whole numbers.
func metricsCharts(versions []runjson.ModelVersion) []metricChart {
	byMetric := map[string]*plot.Series{}
	var names []string
	for i := len(versions) - 1; i >= 0; i-- { // oldest first
		v := versions[i]
		keys := make([]string, 0, len(v.Metrics))
		for k := range v.Metrics {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			x := v.Metrics[k]
			if math.IsNaN(x) || math.IsInf(x, 0) {
				continue
			}
			s, ok := byMetric[k]
			if !ok {
				s = &plot.Series{Markers: true}
				byMetric[k] = s
				names = append(names, k)
			}
			s.X = append(s.X, float64(v.Version))
			s.Y = append(s.Y, x)
		}
	}
	sort.Strings(names)
	if len(names) > maxChartMetrics {
		names = names[:maxChartMetrics]
	}
	var out []metricChart
	for _, n := range names {
		s := byMetric[n]
		lo, hi := s.X[0], s.X[len(s.X)-1]
		// Ticks at fifths of the axis fall on whole versions.
		step := math.Ceil((hi - lo + 2) / 5)
		ylo, yhi := s.Y[0], s.Y[0]
		for _, y := range s.Y {
			ylo, yhi = math.Min(ylo, y), math.Max(yhi, y)
		}
		pad := (yhi - ylo) / 10
		if pad == 0 {
			pad = math.Max(math.Abs(ylo)/20, 0.01)
		}
		ch := plot.Chart{Title: n, XLabel: "version", YLabel: n, XMin: lo - 1, XMax: lo - 1 + 5*step,
			YMin: ylo - pad, YMax: yhi + pad, Series: []plot.Series{*s}}
		var b bytes.Buffer
		if ch.SVG(&b) == nil {
			out = append(out, metricChart{Metric: n, SVG: template.HTML(b.String())})
		}
	}
	return out
}

// maxChartMetrics bounds the metrics charted.
const maxChartMetrics = 24

// maxReportBytes bounds the report the model page reads.
const maxReportBytes = 64 << 20

// maxROCPoints bounds the points per ROC curve the page draws, and
// maxROCCurves the curves.
const (
	maxROCPoints = 400
	maxROCCurves = 12
)

// evalReport is what the model page reads of evaluate's report.
type evalReport struct {
	Kind      string `json:"kind"`
	Confusion *struct {
		Classes []string `json:"classes"`
		Matrix  [][]int  `json:"matrix"`
	} `json:"confusion_matrix"`
	ROC []rocCurve `json:"roc"`
}

// drawReport reads the production version's report, if it has one, into
// its ROC curve and confusion matrix; a report that cannot be read is a
// note on the page, not a failed page.
func (h *handler) drawReport(ctx context.Context, p *modelPage, v *runjson.ModelVersion) {
	if v.Report == nil {
		p.ReportNote = fmt.Sprintf("Version %d was deployed without an evaluation report (the deploy's report input): no ROC curve or confusion matrix to draw.", v.Version)
		return
	}
	if h.o.Artifacts == nil {
		p.ReportNote = "This server does not read artifacts: the report is not drawn."
		return
	}
	rc, err := h.o.Artifacts.Open(ctx, *v.Report)
	if err != nil {
		h.o.Logger.Warn("ui: open a model's report", "model", v.Ref, "report", v.Report.Digest, "err", err)
		p.ReportNote = fmt.Sprintf("The report %s of version %d cannot be read: %v.", v.Report.Digest, v.Version, err)
		return
	}
	defer rc.Close()
	raw, err := io.ReadAll(io.LimitReader(rc, maxReportBytes+1))
	if err == nil && len(raw) > maxReportBytes {
		err = fmt.Errorf("larger than %d MiB", maxReportBytes>>20)
	}
	var rep evalReport
	if err == nil {
		err = json.Unmarshal(raw, &rep)
	}
	if err != nil {
		h.o.Logger.Warn("ui: read a model's report", "model", v.Ref, "report", v.Report.Digest, "err", err)
		p.ReportNote = fmt.Sprintf("The report %s of version %d cannot be read: %v.", v.Report.Digest, v.Version, err)
		return
	}
	if cm := rep.Confusion; cm != nil && len(cm.Classes) > 0 && len(cm.Matrix) == len(cm.Classes) {
		ok := true
		for _, row := range cm.Matrix {
			ok = ok && len(row) == len(cm.Classes)
		}
		if ok {
			p.Confusion = &confusion{Classes: cm.Classes, Rows: cm.Matrix}
		}
	}
	if len(rep.ROC) > 0 {
		series := make([]plot.Series, 0, len(rep.ROC))
		for _, c := range rep.ROC {
			if len(series) == maxROCCurves {
				break // a legend of more would cover the chart
			}
			if len(c.FPR) != len(c.TPR) || len(c.FPR) == 0 {
				continue
			}
			name := c.Class
			if !strings.HasPrefix(name, "class") {
				name = "class " + name
			}
			x, y := downsample(c.FPR, c.TPR, maxROCPoints)
			series = append(series, plot.Series{Name: fmt.Sprintf("%s: AUC %.4f", name, c.AUC), X: x, Y: y})
		}
		var b bytes.Buffer
		if len(series) > 0 && plot.ROC(fmt.Sprintf("ROC of %s", v.Ref), series...).SVG(&b) == nil {
			p.ROC = template.HTML(b.String())
		}
	}
	if p.ROC == "" && p.Confusion == nil {
		p.ReportNote = fmt.Sprintf("Version %d's report is of a %s: it has no ROC curve or confusion matrix.", v.Version, rep.Kind)
	}
}

// downsample keeps at most max points of a curve, evenly spaced along
// it, its first and last always among them.
func downsample(x, y []float64, max int) ([]float64, []float64) {
	n := len(x)
	if n <= max {
		return x, y
	}
	ox, oy := make([]float64, max), make([]float64, max)
	for i := range max {
		j := (i*(n-1) + (max-1)/2) / (max - 1)
		ox[i], oy[i] = x[j], y[j]
	}
	return ox, oy
}

// modelForm does a model's change for a form and sends the browser back
// to the model's page (303) with a message.
func (h *handler) modelForm(c *gin.Context, do func(name string) (string, error)) {
	name, err := modelName(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	msg, err := do(name)
	if err != nil {
		status, _ := Status(err)
		msg = err.Error()
		if status == http.StatusInternalServerError {
			h.o.Logger.Error("ui: model action", "path", c.Request.URL.Path, "model", name, "err", err)
			msg = "internal error: the server's log has the cause"
		}
		h.setFlash(c, flashError, msg)
	} else {
		h.setFlash(c, flashOK, msg)
	}
	c.Redirect(http.StatusSeeOther, "/models/"+url.PathEscape(name))
}

// POST /models/{name}/promote (fields version, stage): the Promote and
// Archive buttons.
func (h *handler) formPromote(c *gin.Context) {
	h.modelForm(c, func(name string) (string, error) {
		v, err := parseVersion(c.PostForm("version"))
		if err != nil {
			return "", err
		}
		stage, err := parseStage(c.PostForm("stage"))
		if err != nil {
			return "", err
		}
		ch, err := h.promote(c.Request.Context(), name, v, stage)
		if err != nil {
			return "", err
		}
		return changeText(name, ch), nil
	})
}

// POST /models/{name}/rollback: the Rollback button.
func (h *handler) formRollback(c *gin.Context) {
	h.modelForm(c, func(name string) (string, error) {
		ch, err := h.rollback(c.Request.Context(), name)
		if err != nil {
			return "", err
		}
		return changeText(name, ch), nil
	})
}

// changeText says what a promotion or rollback did.
func changeText(name string, ch *runjson.ModelChange) string {
	v := ch.Version
	if !ch.Changed {
		return fmt.Sprintf("Version %d of %s is %s already: nothing changed.", v.Version, name, v.Stage)
	}
	s := fmt.Sprintf("Version %d of %s moved from %s to %s.", v.Version, name, ch.From, v.Stage)
	if ch.Replaced != nil && *ch.Replaced != v.Version {
		s += fmt.Sprintf(" Version %d, in production before, is archived.", *ch.Replaced)
	}
	return s
}

// shareChart draws the candidate's share of the requests over the
// rollout's life, in minutes from its start: a step at each event.
func shareChart(r *runjson.Rollout, now time.Time) template.HTML {
	if len(r.History) == 0 {
		return ""
	}
	start := r.History[0].At
	end := now
	if r.State != "active" {
		end = r.History[len(r.History)-1].At
	}
	mins := func(t time.Time) float64 { return t.Sub(start).Minutes() }
	s := plot.Series{Name: "candidate's share"}
	share := 0.0
	for _, e := range r.History {
		x := mins(e.At)
		s.X, s.Y = append(s.X, x), append(s.Y, share)
		share = float64(e.Share)
		s.X, s.Y = append(s.X, x), append(s.Y, share)
	}
	s.X, s.Y = append(s.X, mins(end)), append(s.Y, share)
	xmax := math.Max(mins(end), 1)
	ch := plot.Chart{Title: "candidate's share of requests", XLabel: "minutes since the rollout started", YLabel: "%",
		XMin: 0, XMax: xmax * 1.05, YMin: 0, YMax: 100, Series: []plot.Series{s}}
	var b bytes.Buffer
	if ch.SVG(&b) != nil {
		return ""
	}
	return template.HTML(b.String())
}
