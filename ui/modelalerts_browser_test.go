package ui

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/tasks/deploy"
)

// TestBrowserModelAlerts: the model page shows the model's own alerts
// (a drift_above and a p99_latency_above, their webhooks redacted), the
// drift the leader measured of its production version naming the
// feature (before the first measurement, why there is none), and the
// alert that fired; a model without alerts says how to set them.
func TestBrowserModelAlerts(t *testing.T) {
	if testing.Short() {
		t.Skip("browser tests are not short")
	}
	b := newBrowser(t)
	f := newFixture(t)
	if err := f.reg.Register(deploy.New()); err != nil {
		t.Fatal(err)
	}
	f.h.h.o.Registry, f.h.h.o.Artifacts, f.h.h.o.Alerts = f.st, f.arts, f.st
	f.run(t, shipWF, nil)
	url := f.srv.URL

	b.do(t, "a model without alerts", chromedp.Navigate(url+"/models/churn"), chromedp.WaitVisible(chromedp.CSS("#alerts")))
	if got := eval[string](t, b, `document.getElementById("model-alerts").textContent`); !strings.Contains(got, "cairn models alerts churn set") {
		t.Errorf("no alerts: %q", got)
	}

	ctx := context.Background()
	now := time.Now().UTC()
	drift := cairn.ModelAlert{On: cairn.AlertDriftAbove, Bound: 0.2, Webhook: "https://hooks.example.com/services/s3cret", Window: cairn.Duration(time.Hour), Min: 500}
	p99 := cairn.ModelAlert{On: cairn.AlertP99Above, Bound: 0.05, Webhook: "https://hooks.example.com/p", Format: cairn.AlertSlack}
	set, err := f.st.SetModelAlerts(ctx, "churn", []cairn.ModelAlert{drift, p99}, "cli:ann@host", now)
	if err != nil {
		t.Fatal(err)
	}
	b.do(t, "alerts, no drift measured yet", chromedp.Navigate(url+"/models/churn"), chromedp.WaitVisible(chromedp.CSS("#model-alerts tbody")))
	if got := eval[string](t, b, `document.getElementById("model-drift").textContent`); !strings.Contains(got, "No drift measured yet") {
		t.Errorf("before a measurement: %q", got)
	}
	if err := f.st.SetModelDrift(ctx, cairn.ModelDrift{Name: "churn", Version: 1, Value: 0.4123, Feature: "x", Rows: 812, At: now}); err != nil {
		t.Fatal(err)
	}
	if fired, err := f.st.RecordModelAlert(ctx, cairn.ModelAlertFinding{Name: "churn", Version: 1, Seq: set.Seq(0), Alert: drift, Holds: true,
		Value: 0.4123, Detail: "version 1's drift from its training data is a PSI of 0.412 on feature x", Now: now}); err != nil || !fired {
		t.Fatalf("record: %v %v", fired, err)
	}

	b.do(t, "the model's alerts", chromedp.Navigate(url+"/models/churn"), chromedp.WaitVisible(chromedp.CSS("#model-drift tbody")))
	b.shot(t, "model-alerts")
	rows := eval[[]string](t, b, `[...document.querySelectorAll("#model-alerts tbody tr")].map(r => [...r.cells].map(c => c.textContent).join("|"))`)
	want := []string{
		"drift_above|0.2|1h0m0s|500|https://hooks.example.com/services/…|json",
		"p99_latency_above|50ms|10m0s (default)|default|https://hooks.example.com/p|slack",
	}
	if strings.Join(rows, "\n") != strings.Join(want, "\n") {
		t.Errorf("the alerts:\n%s\nwant\n%s", strings.Join(rows, "\n"), strings.Join(want, "\n"))
	}
	if got := eval[string](t, b, `document.querySelector('#model-drift tr[data-version="1"]').textContent`); !strings.Contains(got, "0.412 on feature x") || !strings.Contains(got, "812") {
		t.Errorf("the drift: %q", got)
	}
	if got := eval[string](t, b, `document.querySelector('#model-alerts-fired tr[data-event="drift_above"]').textContent`); !strings.Contains(got, "0.4123") ||
		!strings.Contains(got, "pending") || !strings.Contains(got, "on feature x") {
		t.Errorf("the alert sent: %q", got)
	}
	if html := eval[string](t, b, `document.body.innerHTML`); strings.Contains(html, "s3cret") {
		t.Error("the page shows a webhook's secret")
	}
}
