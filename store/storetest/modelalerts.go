package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/cairnml/cairn"
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
