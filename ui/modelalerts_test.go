package ui

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/store/sqlite"
	"github.com/cairnml/cairn/ui/core"
	"github.com/cairnml/cairn/ui/runjson"
)

var _ core.ModelAlertsKeeper = (*sqlite.Store)(nil)

// A model's own alerts through the API: PUT replaces them (an operator),
// GET shows them to a viewer with their webhooks redacted, DELETE clears
// them, GET with the drift measured of its versions; bad alerts are 400
// and an unknown model 404, changing nothing;
// each change is in the audit log under its caller.
func TestModelAlertsAPI(t *testing.T) {
	f := modelFixture(t)
	f.run(t, shipWF, nil)
	var got runjson.ModelAlerts
	code, body := f.call(t, http.MethodGet, "/api/v1/models/churn/alerts", "", "viewer", "")
	if code != 200 || json.Unmarshal([]byte(body), &got) != nil || got.Gen != 0 || got.Alerts == nil || len(got.Alerts) != 0 || got.Production != 1 {
		t.Fatalf("GET the alerts of a model with none: %d %s", code, body)
	}
	put := `{"alerts": [{"on": "p99_latency_above", "bound": 0.05, "webhook": "https://hooks.example.com/h/s3cret", "window": "30m", "min": 50},
		{"on": "live_metric_below", "bound": 0.9, "webhook": "https://hooks.example.com/m", "format": "slack"}]}`
	if code, body := f.call(t, http.MethodPut, "/api/v1/models/churn/alerts", put, "viewer", ""); code != 403 {
		t.Fatalf("a viewer's PUT: %d %s", code, body)
	}
	for _, c := range []struct {
		method, path, body string
		code               int
		says               string
	}{
		{http.MethodPut, "/api/v1/models/churn/alerts", `{"alerts": [{"on": "p99_latency_above", "bound": 0, "webhook": "https://h.example.com/x"}]}`, 400, "alerts[0]: bound: want a latency from 1us to 1h"},
		{http.MethodPut, "/api/v1/models/churn/alerts", `{"alerts": [{"on": "drift", "bound": 1, "webhook": "https://h.example.com/x"}]}`, 400, `alerts[0]: on: want live_metric_below, p99_latency_above or drift_above, got \"drift\"`},
		{http.MethodPut, "/api/v1/models/churn/alerts", `{"alerts": [{"on": "drift_above", "bound": -0.2, "webhook": "https://h.example.com/x"}]}`, 400, `alerts[0]: bound: want a PSI above 0 and at most 10, such as 0.2`},
		{http.MethodPut, "/api/v1/models/churn/alerts", `{"alerts": [{"on": "p99_latency_above", "bound": 1, "webhook": "ftp://h/x"}]}`, 400, `is not an http or https URL`},
		{http.MethodPut, "/api/v1/models/churn/alerts", `{"alerts": [{"on": "p99_latency_above", "bound": 1, "webhook": "https://h.example.com/x", "window": "1s"}]}`, 400, `window: want a duration from 10s to 168h`},
		{http.MethodPut, "/api/v1/models/churn/alerts", `{"alerts": [{"on": "p99_latency_above", "bound": 1, "hook": "https://h.example.com/x"}]}`, 400, `unknown key \"hook\"`},
		{http.MethodPut, "/api/v1/models/churn/alerts", `{"alerts": []}`, 400, `alerts is required`},
		{http.MethodPut, "/api/v1/models/nope/alerts", put, 404, `no model is named \"nope\"`},
		{http.MethodDelete, "/api/v1/models/nope/alerts", "", 404, `no model is named \"nope\"`},
		{http.MethodGet, "/api/v1/models/nope/alerts", "", 404, `no model is named \"nope\"`},
	} {
		code, body := f.call(t, c.method, c.path, c.body, "op", "admin")
		if code != c.code || !strings.Contains(body, c.says) {
			t.Errorf("%s %s %s: %d %s, want %d saying %s", c.method, c.path, c.body, code, body, c.code, c.says)
		}
	}
	if m, err := f.st.ModelAlerts(context.Background(), "churn"); err != nil || m.Gen != 0 {
		t.Fatalf("the refused changes wrote: %+v %v", m, err)
	}
	// A webhook makes the server POST to its URL: an admin's to set, not
	// an operator's (finding 9 of the 2026-12-04 trial).
	if code, body := f.call(t, http.MethodPut, "/api/v1/models/churn/alerts", put, "op", "operate"); code != 403 || !strings.Contains(body, "needs an admin token") {
		t.Fatalf("an operator's PUT of webhooks: %d %s, want 403", code, body)
	}
	code, body = f.call(t, http.MethodPut, "/api/v1/models/churn/alerts", put, "op", "admin")
	if code != 200 || json.Unmarshal([]byte(body), &got) != nil || got.Gen != 1 || len(got.Alerts) != 2 || got.Actor != "op" || got.UpdatedAt == nil {
		t.Fatalf("PUT: %d %s", code, body)
	}
	code, body = f.call(t, http.MethodGet, "/api/v1/models/churn/alerts", "", "viewer", "")
	if code != 200 || strings.Contains(body, "s3cret") || !strings.Contains(body, `"window": "30m0s"`) || !strings.Contains(body, `"min": 50`) {
		t.Fatalf("GET: %d %s", code, body)
	}
	if strings.Contains(body, `"drift"`) {
		t.Fatalf("GET with no drift measured: %s", body)
	}
	// The drift the leader measured comes with them.
	if err := f.st.SetModelDrift(context.Background(), cairn.ModelDrift{Name: "churn", Version: 1, Value: 0.31, Feature: "x", Rows: 250, At: time.Unix(1e9, 0)}); err != nil {
		t.Fatal(err)
	}
	code, body = f.call(t, http.MethodGet, "/api/v1/models/churn/alerts", "", "viewer", "")
	if code != 200 || json.Unmarshal([]byte(body), &got) != nil || len(got.Drift) != 1 || got.Drift[0].Value != 0.31 || got.Drift[0].Feature != "x" || got.Drift[0].Rows != 250 {
		t.Fatalf("GET with the drift measured: %d %s", code, body)
	}
	if m, _ := f.st.ModelAlerts(context.Background(), "churn"); m.Alerts[0].Webhook != "https://hooks.example.com/h/s3cret" {
		t.Fatalf("the stored webhook: %+v", m.Alerts[0])
	}
	code, body = f.call(t, http.MethodDelete, "/api/v1/models/churn/alerts", "", "op2", "operate")
	if code != 200 || json.Unmarshal([]byte(body), &got) != nil || got.Gen != 2 || len(got.Alerts) != 0 {
		t.Fatalf("DELETE: %d %s", code, body)
	}
	es, err := f.st.ListAudit(context.Background(), scheduler.AuditFilter{})
	if err != nil || len(es) != 2 || es[0].Action != scheduler.AuditModelAlerts || es[0].Actor != "op2" || es[1].Actor != "op" || strings.Contains(string(es[1].Detail), "s3cret") {
		t.Fatalf("the audit log: %+v %v", es, err)
	}
}
