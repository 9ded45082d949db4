package storetest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
)

// ModelAlertStore records the findings of per-model alerts (issue #22).
type ModelAlertStore interface {
	RecordModelAlert(ctx context.Context, f cairn.ModelAlertFinding) (bool, error)
}

func testModelAlerts(t *testing.T, s Server) {
	ms, ok := s.(ModelAlertStore)
	as, ok2 := s.(AlertStore)
	if !ok || !ok2 {
		t.Skip("the store has no per-model alerts")
	}
	ctx := context.Background()
	at := origin()
	below := cairn.ModelAlert{On: cairn.AlertLiveMetricBelow, Bound: 0.9, Webhook: "https://hooks.example.com/m"}
	p99 := cairn.ModelAlert{On: cairn.AlertP99Above, Bound: 0.05, Webhook: "https://hooks.example.com/p", Format: cairn.AlertSlack}
	find := func(a cairn.ModelAlert, version, seq int, holds bool, value float64) bool {
		t.Helper()
		at = at.Add(time.Second)
		fired, err := ms.RecordModelAlert(ctx, cairn.ModelAlertFinding{Name: "churn", Version: version, Seq: seq, Alert: a, Holds: holds,
			Value: value, Detail: "measured", Now: at})
		if err != nil {
			t.Fatal(err)
		}
		return fired
	}
	// A condition that does not hold at first writes nothing; one that
	// starts to hold writes one alert, and nothing more while it holds.
	if find(below, 2, 0, false, 0.95) {
		t.Fatal("a condition that does not hold fired")
	}
	if !find(below, 2, 0, true, 0.8) {
		t.Fatal("a condition that starts to hold did not fire")
	}
	for i := 0; i < 3; i++ {
		if find(below, 2, 0, true, 0.7) {
			t.Fatal("a condition that still holds fired again")
		}
	}
	// Another version, another alert of the same version: their own.
	if !find(below, 1, 0, true, 0.5) || !find(p99, 2, 1, true, 0.2) {
		t.Fatal("another version or alert did not fire")
	}
	// Cleared, then holds again: a second alert, another key.
	if find(below, 2, 0, false, 0.95) {
		t.Fatal("a clearing fired")
	}
	if !find(below, 2, 0, true, 0.6) {
		t.Fatal("a condition that holds again after it cleared did not fire")
	}
	got, err := as.ListAlerts(ctx, cairn.AlertFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 {
		t.Fatalf("%d alerts, want 4: %+v", len(got), got)
	}
	want := []struct {
		key     string
		version int
		event   cairn.AlertEvent
		value   float64
		bound   float64
		format  string
	}{
		{"model/churn/v2/live_metric_below/0/2", 2, cairn.AlertLiveMetricBelow, 0.6, 0.9, cairn.AlertJSON},
		{"model/churn/v2/p99_latency_above/1/1", 2, cairn.AlertP99Above, 0.2, 0.05, cairn.AlertSlack},
		{"model/churn/v1/live_metric_below/0/1", 1, cairn.AlertLiveMetricBelow, 0.5, 0.9, cairn.AlertJSON},
		{"model/churn/v2/live_metric_below/0/1", 2, cairn.AlertLiveMetricBelow, 0.8, 0.9, cairn.AlertJSON},
	}
	for i, w := range want {
		a := got[i]
		if a.Key != w.key || a.Model != "churn" || a.Version != w.version || a.Event != w.event || a.Value != w.value || a.Bound != w.bound ||
			a.Format != w.format || a.RunID != "" || a.Detail != "measured" || a.State != cairn.AlertPending {
			t.Fatalf("alert %d: %+v, want %+v", i, a, w)
		}
	}
	// The outbox delivers them as any other: a claim without a run takes them.
	claimed, err := as.ClaimAlerts(ctx, cairn.AlertClaim{Owner: "o", Now: at, TTL: time.Minute, Max: 10})
	if err != nil || len(claimed) != 4 || claimed[0].Model != "churn" {
		t.Fatalf("claim: %+v %v", claimed, err)
	}
}

// ModelAlertsKeeper keeps a model's own alerts (issue #22): set by a
// deploy's registration or by hand, listed for the leader.
type ModelAlertsKeeper interface {
	SetModelAlerts(ctx context.Context, name string, alerts []cairn.ModelAlert, actor string, now time.Time) (cairn.ModelAlerts, error)
	ModelAlerts(ctx context.Context, name string) (cairn.ModelAlerts, error)
	WatchedModels(ctx context.Context) ([]cairn.ModelAlerts, error)
}

// testModelAlertsKept: a deploy's alerts become the model's (any stage,
// no rollout), a deploy without alerts leaves them, a set by hand
// replaces them and counts up gen (so Seq moves on), clear keeps the
// count; the leader's list has the models with alerts and their
// production versions; every change is in the audit log with its
// webhooks redacted; a model that does not exist is not found and
// nothing is written.
func testModelAlertsKept(t *testing.T, s Server) {
	ks, ok := s.(ModelAlertsKeeper)
	if !ok {
		t.Skip("the store keeps no model alerts")
	}
	ctx := context.Background()
	at := origin()
	next := func() time.Time { at = at.Add(time.Second); return at }
	p99 := cairn.ModelAlert{On: cairn.AlertP99Above, Bound: 0.05, Webhook: "https://hooks.example.com/hook/t0k3n", Window: cairn.Duration(time.Hour), Min: 7}
	below := cairn.ModelAlert{On: cairn.AlertLiveMetricBelow, Bound: 0.9, Webhook: "https://hooks.example.com/m", Format: cairn.AlertSlack}

	if _, err := ks.ModelAlerts(ctx, "nope"); !errors.Is(err, cairn.ErrNotFound) {
		t.Fatalf("the alerts of no model: %v, want not found", err)
	}
	if _, err := ks.SetModelAlerts(ctx, "nope", []cairn.ModelAlert{p99}, "cli:x", next()); !errors.Is(err, cairn.ErrNotFound) {
		t.Fatalf("set the alerts of no model: %v, want not found", err)
	}
	// A production deploy with alerts: no rollout, the model's alerts.
	if _, err := completeDeploy(t, s, next(), &cairn.ModelRegistration{Name: "fraud", Stage: cairn.StageProduction, Model: testRef("fraud one"),
		VersionOutput: "version", Alerts: []cairn.ModelAlert{p99}}, ""); err != nil {
		t.Fatal(err)
	}
	deployedAt := at
	got, err := ks.ModelAlerts(ctx, "fraud")
	if err != nil || got.Gen != 1 || got.Production != 1 || len(got.Alerts) != 1 || got.Alerts[0] != p99 || !got.UpdatedAt.Equal(deployedAt) {
		t.Fatalf("alerts after the deploy: %+v %v", got, err)
	}
	// A model with no alerts has none (gen 0); it is not watched.
	if _, err := completeDeploy(t, s, next(), &cairn.ModelRegistration{Name: "quiet", Stage: cairn.StageProduction, Model: testRef("quiet one"),
		VersionOutput: "version"}, ""); err != nil {
		t.Fatal(err)
	}
	if q, err := ks.ModelAlerts(ctx, "quiet"); err != nil || q.Gen != 0 || q.Production != 1 || q.Alerts == nil || len(q.Alerts) != 0 {
		t.Fatalf("the alerts of a model with none: %+v %v", q, err)
	}
	// A second deploy without alerts leaves them; its version is the
	// production one listed.
	if _, err := completeDeploy(t, s, next(), &cairn.ModelRegistration{Name: "fraud", Stage: cairn.StageProduction, Model: testRef("fraud two"),
		VersionOutput: "version"}, ""); err != nil {
		t.Fatal(err)
	}
	w, err := ks.WatchedModels(ctx)
	if err != nil || len(w) != 1 || w[0].Name != "fraud" || w[0].Production != 2 || w[0].Gen != 1 || len(w[0].Alerts) != 1 {
		t.Fatalf("watched: %+v %v", w, err)
	}
	// By hand: replaced, gen 2; then cleared: gen 3, none, not watched.
	set, err := ks.SetModelAlerts(ctx, "fraud", []cairn.ModelAlert{below, p99}, "cli:ann@host", next())
	if err != nil || set.Gen != 2 || len(set.Alerts) != 2 || set.Seq(1) != 201 {
		t.Fatalf("set: %+v %v", set, err)
	}
	if got, err := ks.ModelAlerts(ctx, "fraud"); err != nil || got.Gen != 2 || got.Actor != "cli:ann@host" || len(got.Alerts) != 2 || got.Alerts[0] != below {
		t.Fatalf("alerts after the set: %+v %v", got, err)
	}
	if _, err := ks.SetModelAlerts(ctx, "fraud", []cairn.ModelAlert{{On: cairn.AlertP99Above, Bound: -1, Webhook: "https://h.example.com/x"}}, "cli:x", next()); err == nil {
		t.Fatal("a bad bound was stored")
	}
	if cl, err := ks.SetModelAlerts(ctx, "fraud", nil, "cli:bob@host", next()); err != nil || cl.Gen != 3 || len(cl.Alerts) != 0 {
		t.Fatalf("clear: %+v %v", cl, err)
	}
	if w, err := ks.WatchedModels(ctx); err != nil || len(w) != 0 {
		t.Fatalf("watched after clear: %+v %v", w, err)
	}
	if got, err := ks.ModelAlerts(ctx, "fraud"); err != nil || got.Gen != 3 || len(got.Alerts) != 0 {
		t.Fatalf("alerts after the clear: %+v %v", got, err)
	}
	// The audit log: the deploy's, the set's and the clear's (not the
	// refused one), webhooks redacted.
	audit, err := s.ListAudit(ctx, scheduler.AuditFilter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var actors []string
	for _, a := range audit {
		if a.Action != scheduler.AuditModelAlerts {
			continue
		}
		actors = append(actors, a.Actor)
		if strings.Contains(string(a.Detail), "t0k3n") || !strings.Contains(string(a.Detail), `"model":"fraud"`) {
			t.Fatalf("audit detail %s", a.Detail)
		}
	}
	if len(actors) != 3 || actors[0] != "cli:bob@host" || actors[1] != "cli:ann@host" || !strings.Contains(actors[2], "/deploy#1") {
		t.Fatalf("audit actors %q", actors)
	}
}
