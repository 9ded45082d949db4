package ui

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/artifacts"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/store/sqlite"
	"github.com/cairnml/cairn/tasks/deploy"
	"github.com/cairnml/cairn/ui/core"
	"github.com/cairnml/cairn/ui/runjson"
)

var (
	_ core.ModelRegistry = (*sqlite.Store)(nil)
	_ ArtifactReader     = (*artifacts.Dir)(nil)
)

// shipWF trains a model on a synthetic set (seed: the data, so another
// seed is another model), evaluates it and deploys it with its report
// and metrics.
const shipWF = `name: ship
params:
  seed: {type: int, default: 1}
  stage: {type: string, default: production}
tasks:
  - id: data
    type: collect
    with: {source: synthetic, rows: 200, features: 3, seed: "${{ params.seed }}", label: y}
  - id: split
    type: split
    inputs: {data: "${{ tasks.data.outputs.data }}"}
    with: {label: y, test_size: 0.3, seed: 1}
  - id: train
    type: train
    inputs: {train: "${{ tasks.split.outputs.train }}"}
    with: {model: logistic_regression, label: y}
  - id: evaluate
    type: evaluate
    inputs:
      model: "${{ tasks.train.outputs.model }}"
      test: "${{ tasks.split.outputs.test }}"
    with: {metrics: [accuracy, roc_auc, f1]}
  - id: deploy
    type: deploy
    inputs:
      model: "${{ tasks.train.outputs.model }}"
      report: "${{ tasks.evaluate.outputs.report }}"
    with:
      name: churn
      stage: "${{ params.stage }}"
      metrics: "${{ tasks.evaluate.outputs.metrics }}"
`

// modelFixture is a fixture serving the registry, with the deploy type,
// whose callers are named by the X-Test-Actor header (as bearer tokens:
// no CSRF token) with the access X-Test-Access gives (admin, operate or read).
func modelFixture(t *testing.T) *fixture {
	t.Helper()
	f := newFixture(t, func(o *Options) {
		o.Authorize = func(r *http.Request, need core.Access) (*http.Request, error) {
			who := r.Header.Get("X-Test-Actor")
			if who == "" {
				return nil, ErrUnauthenticated
			}
			have := core.Read
			switch r.Header.Get("X-Test-Access") {
			case "operate":
				have = core.Operate
			case "admin":
				have = core.Admin
			}
			if need > have {
				return nil, fmt.Errorf("%s may not %s: %w", who, need, ErrForbidden)
			}
			return r.WithContext(core.WithCaller(r.Context(), core.Caller{Actor: who, Access: have, Bearer: true})), nil
		}
	})
	if err := f.reg.Register(deploy.New()); err != nil {
		t.Fatal(err)
	}
	f.h.h.o.Registry, f.h.h.o.Artifacts = f.st, f.arts // the fixture opens them before New, after its options
	return f
}

func (f *fixture) call(t *testing.T, method, path, body, actor, access string) (int, string) {
	t.Helper()
	resp, b := f.do(t, method, path, strings.NewReader(body), "X-Test-Actor", actor, "X-Test-Access", access, "Content-Type", "application/json")
	return resp.StatusCode, b
}

func TestModelsAPI(t *testing.T) {
	f := modelFixture(t)
	r1 := f.run(t, shipWF, nil)
	f.run(t, shipWF, map[string]string{"seed": "2", "stage": "candidate"})
	f.run(t, shipWF, nil) // the same bytes as the first: version 1 again
	if r1.State != cairn.RunSucceeded {
		t.Fatalf("the deploy run: %s", r1.State)
	}

	var list runjson.ModelList
	code, body := f.call(t, http.MethodGet, "/api/v1/models", "", "viewer", "")
	if code != 200 || json.Unmarshal([]byte(body), &list) != nil || len(list.Models) != 1 {
		t.Fatalf("GET /api/v1/models: %d %s", code, body)
	}
	s := list.Models[0]
	if s.Name != "churn" || s.Production == nil || *s.Production != 1 || s.Newest != 2 || s.Versions != 2 ||
		s.Stages[cairn.StageCandidate] != 1 || s.Stages[cairn.StageProduction] != 1 || s.Stages[cairn.StageArchived] != 0 || s.Metrics["roc_auc"] == 0 {
		t.Errorf("the summary: %s", body)
	}
	for _, key := range []string{`"production": 1`, `"archived": 0`, `"updated_at": "`} {
		if !strings.Contains(body, key) {
			t.Errorf("the list lacks %s: %s", key, body)
		}
	}

	var m runjson.Model
	code, body = f.call(t, http.MethodGet, "/api/v1/models/churn", "", "viewer", "")
	if code != 200 || json.Unmarshal([]byte(body), &m) != nil {
		t.Fatalf("GET /api/v1/models/churn: %d %s", code, body)
	}
	if len(m.Versions) != 2 || m.Versions[0].Version != 2 || m.Versions[1].Producer.RunID != r1.ID || m.Versions[1].Report == nil ||
		m.Versions[1].Ref != "model:churn@1" || len(m.History) != 2 || m.History[0].From != nil || m.History[0].Reason != "deploy" {
		t.Errorf("the model: %s", body)
	}

	var v runjson.ModelVersion
	code, body = f.call(t, http.MethodGet, "/api/v1/models/churn/versions/2", "", "viewer", "")
	if code != 200 || json.Unmarshal([]byte(body), &v) != nil || v.Stage != cairn.StageCandidate || v.Metrics["accuracy"] == 0 {
		t.Fatalf("GET version 2: %d %s", code, body)
	}

	// A viewer may not promote.
	if code, body := f.call(t, http.MethodPost, "/api/v1/models/churn/promote", `{"version": 2}`, "viewer", ""); code != 403 {
		t.Errorf("a viewer's promotion: %d %s", code, body)
	}
	// Bad promotions change nothing and say why.
	for _, c := range []struct {
		path, body string
		code       int
		says       string
	}{
		{"/api/v1/models/churn/promote", `{"version": 9}`, 404, "model churn has versions 1 to 2, not 9"},
		{"/api/v1/models/other/promote", `{"version": 1}`, 404, `no model is named \"other\"`},
		{"/api/v1/models/churn/promote", `{"version": 0}`, 400, "version: want the version to promote"},
		{"/api/v1/models/churn/promote", `{"version": 2, "stage": "prod"}`, 400, `stage \"prod\": want production, candidate or archived`},
		{"/api/v1/models/churn/promote", `{"version": "2"}`, 400, `\"version\" is a JSON string, want an integer`},
		{"/api/v1/models/churn/promote", `{"version": 2, "stgae": "archived"}`, 400, `unknown key \"stgae\"`},
		{"/api/v1/models/ch%2Furn/promote", `{"version": 1}`, 400, `model name \"ch/urn\"`},
		{"/api/v1/models/nope/rollback", ``, 404, `no model is named \"nope\"`},
		{"/api/v1/models/churn/versions/x", ``, 400, `version \"x\": want a whole number from 1`},
		{"/api/v1/models/churn/versions/3", ``, 404, "model churn has versions 1 to 2, not 3"},
	} {
		method := http.MethodPost
		if strings.Contains(c.path, "/versions/") {
			method = http.MethodGet
		}
		code, body := f.call(t, method, c.path, c.body, "op", "operate")
		if code != c.code || !strings.Contains(body, c.says) {
			t.Errorf("%s %s: %d %s, want %d saying %s", c.path, c.body, code, body, c.code, c.says)
		}
	}
	if p, _ := f.st.ProductionModel(context.Background(), "churn"); p.Version != 1 {
		t.Fatalf("the refused promotions changed production to %d", p.Version)
	}
	// The first in production: no rollback.
	if code, body := f.call(t, http.MethodPost, "/api/v1/models/churn/rollback", "", "op", "operate"); code != 409 || !strings.Contains(body, "no version before it can be put back") {
		t.Errorf("a rollback with nothing before: %d %s", code, body)
	}

	var ch runjson.ModelChange
	code, body = f.call(t, http.MethodPost, "/api/v1/models/churn/promote", `{"version": 2, "stage": "production"}`, "op", "operate")
	if code != 200 || json.Unmarshal([]byte(body), &ch) != nil || !ch.Changed || ch.From != cairn.StageCandidate || ch.Version.Stage != cairn.StageProduction ||
		ch.Replaced == nil || *ch.Replaced != 1 {
		t.Fatalf("promote 2: %d %s", code, body)
	}
	code, body = f.call(t, http.MethodPost, "/api/v1/models/churn/promote", `{"version": 2}`, "op", "operate")
	if code != 200 || json.Unmarshal([]byte(body), &ch) != nil || ch.Changed {
		t.Fatalf("promote 2 again: %d %s", code, body)
	}
	code, body = f.call(t, http.MethodPost, "/api/v1/models/churn/rollback", "", "op", "operate")
	if code != 200 || json.Unmarshal([]byte(body), &ch) != nil || ch.Version.Version != 1 || ch.Version.Stage != cairn.StageProduction ||
		ch.Replaced == nil || *ch.Replaced != 2 {
		t.Fatalf("rollback: %d %s", code, body)
	}
	es, err := f.st.ListAudit(context.Background(), scheduler.AuditFilter{})
	if err != nil || len(es) != 2 || es[0].Action != scheduler.AuditModelRollback || es[1].Action != scheduler.AuditModelPromote || es[0].Actor != "op" || es[1].Actor != "op" {
		t.Errorf("the audit log: %+v %v", es, err)
	}
}

// The models pages: the list, and a model's page with its versions,
// charts, the production version's ROC curve and confusion matrix from
// its report, and its history; without the registry, 501.
func TestModelsPages(t *testing.T) {
	f := modelFixture(t)
	f.run(t, shipWF, nil)
	f.run(t, shipWF, map[string]string{"seed": "2", "stage": "candidate"})
	resp, body := f.get(t, "/models", "X-Test-Actor", "viewer")
	if resp.StatusCode != 200 || !strings.Contains(body, `data-model="churn"`) || !strings.Contains(body, "version 1") || !strings.Contains(body, `id="nav-models"`) {
		t.Fatalf("the models page: %d\n%s", resp.StatusCode, body)
	}
	resp, body = f.get(t, "/models/churn", "X-Test-Actor", "viewer")
	if resp.StatusCode != 200 {
		t.Fatalf("the model page: %d\n%s", resp.StatusCode, body)
	}
	for _, want := range []string{`data-version="2" data-stage="candidate"`, `data-version="1" data-stage="production"`, `id="model-roc"`,
		`id="model-confusion"`, `data-metric="roc_auc"`, `data-reason="deploy"`, "AUC"} {
		if !strings.Contains(body, want) {
			t.Errorf("the model page lacks %s", want)
		}
	}
	if strings.Contains(body, "Promote</button>") || strings.Contains(body, "rollback-model") {
		t.Error("a viewer sees the Promote or Rollback buttons")
	}
	_, body = f.get(t, "/models/churn", "X-Test-Actor", "op", "X-Test-Access", "operate")
	if strings.Count(body, "Promote</button>") != 1 {
		t.Error("an operator does not see one Promote button (the candidate's)")
	}
	if strings.Contains(body, "rollback-model") {
		t.Error("the Rollback button is shown with no version in production before the current one")
	}
	// Each version links its artifact and lineage (the fixture serves
	// lineage), and both answer; without lineage, no link.
	_, body = f.get(t, "/models/churn", "X-Test-Actor", "viewer")
	for _, href := range []string{`/lineage?ref=model%3Achurn%401`, `/artifacts/sha256:`} {
		i := strings.Index(body, `href="`+href)
		if i < 0 {
			t.Errorf("the model page does not link %s", href)
			continue
		}
		link := body[i+len(`href="`):]
		link = strings.ReplaceAll(link[:strings.IndexByte(link, '"')], "&amp;", "&")
		if resp, page := f.get(t, link, "X-Test-Actor", "viewer"); resp.StatusCode != 200 {
			t.Errorf("GET %s: %d %s", link, resp.StatusCode, page)
		}
	}
	f.h.h.o.Lineage = nil
	if _, body = f.get(t, "/models/churn", "X-Test-Actor", "viewer"); strings.Contains(body, "lineage-link") {
		t.Error("lineage links on a server that does not serve lineage")
	}
	if resp, _ := f.get(t, "/models/nope", "X-Test-Actor", "viewer"); resp.StatusCode != 404 {
		t.Errorf("a missing model's page: %d", resp.StatusCode)
	}

	bare := newFixture(t)
	if resp, body := bare.get(t, "/api/v1/models"); resp.StatusCode != 501 || !strings.Contains(body, "does not serve the model registry") {
		t.Errorf("without the registry: %d %s", resp.StatusCode, body)
	}
	if _, body := bare.get(t, "/runs"); strings.Contains(body, `id="nav-models"`) {
		t.Error("the nav links the models page of a server without the registry")
	}
}

// hostileShipWF deploys a model whose metric names and report hold
// markup, and whose report has more curves and points than a page draws.
const hostileShipWF = `name: hostile-ship
tasks:
  - id: data
    type: collect
    with: {source: synthetic, rows: 60, features: 2, seed: 1, label: y}
  - id: train
    type: train
    inputs: {train: "${{ tasks.data.outputs.data }}"}
    with: {model: logistic_regression, label: y}
  - id: report
    type: shell
    with:
      outputs: {report: report.json}
      script: |
        awk 'BEGIN {
          pts = "0"; for (i = 1; i < 10000; i++) pts = pts "," i / 9999
          printf "{\"kind\": \"classification\", \"confusion_matrix\": {\"classes\": [\"<script>alert(1)</script>\", \"b\"], \"matrix\": [[1, 2], [3, 4]]}, \"roc\": ["
          for (c = 0; c < 40; c++) printf "{\"class\": \"<img src=x onerror=alert(%d)>\", \"auc\": 0.5, \"fpr\": [%s], \"tpr\": [%s]},", c, pts, pts
          print "{\"class\": \"short\", \"auc\": 0.5, \"fpr\": [0, 1], \"tpr\": [0]}]}"
        }' > report.json
  - id: deploy
    type: deploy
    inputs: {model: "${{ tasks.train.outputs.model }}", report: "${{ tasks.report.outputs.report }}"}
    with: {name: hostile, stage: production, metrics: {"<script>alert('m')</script>": 1, "fine": 2}}
`

// Markup from a deploy's metrics and its report is text on the model's
// page, and a report with many curves and points is drawn bounded.
func TestModelPageHostile(t *testing.T) {
	f := modelFixture(t)
	if r := f.run(t, hostileShipWF, nil); r.State != cairn.RunSucceeded {
		t.Fatalf("the hostile run: %s %s", r.State, r.Error)
	}
	resp, body := f.get(t, "/models/hostile", "X-Test-Actor", "viewer")
	if resp.StatusCode != 200 {
		t.Fatalf("the page: %d %s", resp.StatusCode, body)
	}
	for _, bad := range []string{"<script>alert", "<img src=x"} {
		if strings.Contains(body, bad) {
			t.Errorf("the page holds %q unescaped", bad)
		}
	}
	if !strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Error("the report's class is not shown escaped")
	}
	if n := strings.Count(body, "<polyline"); n > maxROCCurves+maxChartMetrics {
		t.Errorf("%d lines drawn, want at most %d curves and a line per metric", n, maxROCCurves)
	}
	if len(body) > 2<<20 {
		t.Errorf("the page is %d bytes: the report's points are not bounded", len(body))
	}
}

// TestModelPageShadowRollout: a shadow rollout's page says that the
// candidate scores every request while production answers them (its
// share of the answers is 0), not "0% of requests to version 2".
func TestModelPageShadowRollout(t *testing.T) {
	f := modelFixture(t)
	f.h.h.o.Rollouts = f.st
	f.run(t, shipWF, nil)
	f.run(t, shipWF, map[string]string{"seed": "2", "stage": "candidate"})
	if _, err := f.st.StartRollout(context.Background(), "churn", 2, cairn.RolloutSpec{Strategy: cairn.StrategyShadow}, "test", time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, body := f.get(t, "/models/churn", "X-Test-Actor", "viewer")
	if resp.StatusCode != 200 {
		t.Fatalf("the model page: %d\n%s", resp.StatusCode, body)
	}
	i := strings.Index(body, `id="rollout-share"`)
	if i < 0 {
		t.Fatalf("the model page shows no rollout:\n%s", body)
	}
	share := body[i:min(len(body), i+200)]
	if !strings.Contains(share, "every request scored by version 2 beside production") || strings.Contains(share, "% of requests") {
		t.Errorf("a shadow rollout's share: %s", share)
	}
	if strings.Contains(body, `id="rollout-chart"`) {
		t.Errorf("a shadow rollout's page draws the candidate's share of requests, a flat 0 %%")
	}
}
