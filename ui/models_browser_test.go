package ui

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/tasks/deploy"
)

// TestBrowserModels uses the model registry as a person does: two runs
// deploy a model (version 1 to production, version 2 a candidate); the
// models page lists it, its page draws the production version's ROC curve
// and confusion matrix and the metrics across versions; Promote puts
// version 2 in production, Rollback (confirmed) brings version 1 back,
// each saying so, the history growing with each.
func TestBrowserModels(t *testing.T) {
	if testing.Short() {
		t.Skip("browser tests are not short")
	}
	b := newBrowser(t)
	f := newFixture(t)
	if err := f.reg.Register(deploy.New()); err != nil {
		t.Fatal(err)
	}
	f.h.h.o.Registry, f.h.h.o.Artifacts = f.st, f.arts
	f.run(t, shipWF, nil)
	f.run(t, shipWF, map[string]string{"seed": "2", "stage": "candidate"})
	url := f.srv.URL
	stage := func(v string) string {
		return `document.querySelector('tr[data-version="` + v + `"]').dataset.stage`
	}

	b.do(t, "open the models page from the nav", chromedp.Navigate(url+"/runs"), chromedp.WaitVisible(chromedp.CSS("#nav-models")),
		chromedp.Click(chromedp.CSS("#nav-models")), chromedp.WaitVisible(chromedp.CSS(`tr[data-model="churn"]`)))
	b.shot(t, "models")
	if got := eval[string](t, b, `document.querySelector('tr[data-model="churn"] .production').textContent`); got != "version 1" {
		t.Errorf("the list's production version: %q", got)
	}
	b.do(t, "open the model", chromedp.Click(chromedp.CSS(`a[href="/models/churn"]`)), chromedp.WaitVisible(chromedp.CSS("#model-roc svg")))
	b.shot(t, "model")
	if n := eval[int](t, b, `document.querySelectorAll("#model-roc svg polyline").length`); n < 1 {
		t.Error("the production version's ROC chart has no curve")
	}
	if n := eval[int](t, b, `document.querySelectorAll("#model-confusion td").length`); n != 4 {
		t.Errorf("the confusion matrix has %d cells, want 4 (two classes)", n)
	}
	if n := eval[int](t, b, `document.querySelectorAll('#metrics-charts [data-metric="roc_auc"] svg circle').length`); n != 2 {
		t.Errorf("the roc_auc chart has %d points, want one per version (2)", n)
	}
	if s := eval[string](t, b, stage("1")) + "," + eval[string](t, b, stage("2")); s != "production,candidate" {
		t.Errorf("stages %s", s)
	}

	b.do(t, "promote version 2", chromedp.Click(chromedp.CSS(`button.promote[data-version="2"]`)), chromedp.WaitVisible(chromedp.CSS("#flash")))
	b.shot(t, "model-promoted")
	if msg := eval[string](t, b, `document.getElementById("flash").textContent`); !strings.Contains(msg, "Version 2 of churn moved from candidate to production. Version 1, in production before, is archived.") {
		t.Errorf("the flash after Promote: %q", msg)
	}
	if s := eval[string](t, b, stage("1")) + "," + eval[string](t, b, stage("2")); s != "archived,production" {
		t.Errorf("stages after Promote: %s", s)
	}

	// Rollback asks first: answered Cancel, nothing happens.
	b.mu.Lock()
	b.dismiss = true
	b.mu.Unlock()
	b.do(t, "roll back, then say no", chromedp.Click(chromedp.CSS("#rollback-model")))
	time.Sleep(300 * time.Millisecond) // a post, had one gone, would be answered by now
	if s := eval[string](t, b, stage("2")); s != "production" {
		t.Fatalf("a rollback answered no: version 2 is %s", s)
	}
	b.mu.Lock()
	b.dismiss = false
	dialogs := append([]string(nil), b.dialogs...)
	b.mu.Unlock()
	if len(dialogs) != 1 || !strings.HasPrefix(dialogs[0], "Roll back churn?") {
		t.Errorf("the Rollback button's confirmation: %q", dialogs)
	}
	// The Promote's flash is still shown: wait for the Rollback's (a wait
	// for a visible #flash passed at once, and the screenshot then met the
	// confirmation still open, which blocks the page until it is answered).
	b.do(t, "roll back", chromedp.Click(chromedp.CSS("#rollback-model")))
	b.until(t, "the Rollback's flash", `(document.getElementById("flash") || {}).textContent.includes("moved from archived to production")`)
	b.shot(t, "model-rolled-back")
	if msg := eval[string](t, b, `document.getElementById("flash").textContent`); !strings.Contains(msg, "Version 1 of churn moved from archived to production. Version 2, in production before, is archived.") {
		t.Errorf("the flash after Rollback: %q", msg)
	}
	if s := eval[string](t, b, stage("1")) + "," + eval[string](t, b, stage("2")); s != "production,archived" {
		t.Errorf("stages after Rollback: %s", s)
	}
	if n := eval[int](t, b, `document.querySelectorAll("#model-history tbody tr").length`); n != 6 {
		t.Errorf("the history has %d rows, want 6 (2 deploys, promote: 2 changes, rollback: 2 changes)", n)
	}
	if r := eval[string](t, b, `document.querySelector("#model-history tbody tr:last-child").dataset.reason`); r != "rollback" {
		t.Errorf("the last change's reason: %q", r)
	}
	if bad := b.blocked(); len(bad) > 0 {
		t.Errorf("the pages' console reports refusals or errors:\n%s", strings.Join(bad, "\n"))
	}
}

// TestBrowserModelOverTime: a canary served for a few minutes, the
// leader's per-minute figures written from the request log and feedback
// arriving; the model's page draws, per version, the requests, p99,
// error rate, live metric and the predictions' distribution over time.
func TestBrowserModelOverTime(t *testing.T) {
	if testing.Short() {
		t.Skip("browser tests are not short")
	}
	b := newBrowser(t)
	f := newFixture(t)
	if err := f.reg.Register(deploy.New()); err != nil {
		t.Fatal(err)
	}
	f.h.h.o.Registry, f.h.h.o.Artifacts, f.h.h.o.Rollouts = f.st, f.arts, f.st
	f.run(t, shipWF, nil)
	f.run(t, shipWF, map[string]string{"seed": "2", "stage": "candidate"})
	ctx := context.Background()
	now := time.Now()
	start := now.Add(-6 * time.Minute).Truncate(time.Minute)
	if _, err := f.st.StartRollout(ctx, "churn", 2, cairn.RolloutSpec{Strategy: cairn.StrategyCanary}, "test", start); err != nil {
		t.Fatal(err)
	}
	// Five minutes of requests: version 1 ten a minute, version 2 two
	// (one of its requests failing in the third minute).
	var reqs []cairn.ModelRequest
	for m := range 5 {
		for i := range 12 {
			v := 1
			if i >= 10 {
				v = 2
			}
			pred := `["yes","no"]`
			if v == 2 {
				pred = `["yes","yes"]`
			}
			reqs = append(reqs, cairn.ModelRequest{RequestID: fmt.Sprintf("r%d-%d", m, i), Name: "churn", Version: v,
				At: start.Add(time.Duration(m)*time.Minute + time.Duration(i)*time.Second), Duration: time.Duration(1+m) * time.Millisecond,
				Rows: 2, Kind: "classification", Predictions: []byte(pred), Failed: v == 2 && m == 2 && i == 11})
		}
	}
	if err := f.st.LogRequests(ctx, reqs); err != nil {
		t.Fatal(err)
	}
	if err := f.st.SetFeedback(ctx, "churn", "r1-0", []cairn.RequestScore{{Version: 1, Labeled: 2, Score: 2}}); err != nil {
		t.Fatal(err)
	}
	if err := f.st.SetFeedback(ctx, "churn", "r1-10", []cairn.RequestScore{{Version: 2, Labeled: 2, Score: 1}}); err != nil {
		t.Fatal(err)
	}
	if n, err := f.st.RecordMinutes(ctx, start, now.Truncate(time.Minute), time.Time{}); err != nil || n != 10 {
		t.Fatalf("RecordMinutes: %d %v, want 10 (two versions, five minutes)", n, err)
	}

	b.do(t, "open the model", chromedp.Navigate(f.srv.URL+"/models/churn"), chromedp.WaitVisible(chromedp.CSS("#over-time-charts")))
	b.shot(t, "model-over-time")
	charts := eval[[]string](t, b, `[...document.querySelectorAll("#over-time-charts [data-chart]")].map(e => e.dataset.chart)`)
	if strings.Join(charts, " ") != "requests p99 errors live predictions" {
		t.Fatalf("the charts over time: %v", charts)
	}
	for _, c := range []string{"requests", "p99", "errors"} {
		// A line and five points per version.
		if n := eval[int](t, b, `document.querySelectorAll('#over-time-charts [data-chart="`+c+`"] svg polyline').length`); n != 2 {
			t.Errorf("the %s chart has %d lines, want one per version (2)", c, n)
		}
	}
	if text := eval[string](t, b, `document.querySelector('#over-time-charts [data-chart="requests"]').textContent`); !strings.Contains(text, "version 1") || !strings.Contains(text, "version 2") {
		t.Errorf("the requests chart does not name both versions: %q", text)
	}
	// The live metric: one minute of feedback per version (a point each,
	// not a line).
	if text := eval[string](t, b, `document.querySelector('#over-time-charts [data-chart="live"]').textContent`); !strings.Contains(text, "live accuracy") {
		t.Errorf("the live chart: %q", text)
	}
	// Predictions: version 1 predicts "yes" and "no" half each, version 2
	// "yes" only: a line per version and class, version 2's "no" at 0.
	if n := eval[int](t, b, `document.querySelectorAll('#over-time-charts [data-chart="predictions"] svg polyline').length`); n != 4 {
		t.Errorf("the predictions chart has %d lines, want 4 (versions 1 and 2: yes, no)", n)
	}
	if text := eval[string](t, b, `document.querySelector('#over-time-charts [data-chart="predictions"]').textContent`); !strings.Contains(text, `version 2: "yes"`) {
		t.Errorf("the predictions chart does not name version 2's class: %q", text)
	}
	if bad := b.blocked(); len(bad) > 0 {
		t.Errorf("the page's console reports refusals or errors:\n%s", strings.Join(bad, "\n"))
	}
}
