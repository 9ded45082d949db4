package rollouts_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/alerts"
	"github.com/cairnml/cairn/rollouts"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/store/sqlite"
)

// deploy registers a model version through a deploy's completion, with
// a rollout spec, as the deploy task does.
func deploy(t *testing.T, s *sqlite.Store, at time.Time, name, content string, spec *cairn.RolloutSpec) int {
	t.Helper()
	return deployReg(t, s, at, content, cairn.ModelRegistration{Name: name, Stage: cairn.StageCandidate, Rollout: spec})
}

// TestModelAlertDelivered: a candidate whose live metric falls below its
// deploy's bound gets exactly one alert, delivered through the outbox to
// a loopback receiver with the model, version, event, value, bound and
// link, however many passes the condition holds for; it alerts again
// only after it cleared. Production, above its bound, gets none; a p99
// above its bound alerts too.
func TestModelAlertDelivered(t *testing.T) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "cairn.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	var (
		mu     sync.Mutex
		bodies []map[string]any
		keys   []string
	)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Errorf("body %s: %v", b, err)
		}
		mu.Lock()
		bodies, keys = append(bodies, m), append(keys, r.Header.Get("Idempotency-Key"))
		mu.Unlock()
	}))
	defer recv.Close()

	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	now := func() time.Time { return at }
	spec := &cairn.RolloutSpec{Strategy: cairn.StrategyShadow, MinSamples: 4, MinRequests: 2, Alerts: []cairn.ModelAlert{
		{On: cairn.AlertLiveMetricBelow, Bound: 0.75, Webhook: recv.URL + "/hook"},
		{On: cairn.AlertP99Above, Bound: 0.05, Webhook: recv.URL + "/p99"},
	}}
	if v := deploy(t, s, at, "churn", "v1", spec); v != 1 {
		t.Fatalf("version %d", v)
	}
	at = at.Add(time.Second)
	v2 := deploy(t, s, at, "churn", "v2", spec)

	sender, err := alerts.New(alerts.Options{Store: s, Owner: "test", PublicURL: "https://cairn.example.com", Now: now})
	if err != nil {
		t.Fatal(err)
	}
	ctl, err := rollouts.New(rollouts.Options{Store: s, Now: now,
		Leader: func() (scheduler.Fence, bool) { return scheduler.Fence{}, true }})
	if err != nil {
		t.Fatal(err)
	}
	// log writes n requests of each version, labeled: production right on
	// every row, the candidate on right of them; the candidate takes dur.
	seq := 0
	log := func(n, right int, dur time.Duration) {
		t.Helper()
		at = at.Add(time.Second)
		for i := 0; i < n; i++ {
			seq++
			id := "r" + string(rune('a'+seq%26)) + time.Duration(seq).String()
			reqs := []cairn.ModelRequest{
				{RequestID: id, Name: "churn", Version: 1, At: at, Duration: time.Millisecond, Rows: 1, Kind: "classification", Predictions: []byte(`[1]`)},
				{RequestID: id, Name: "churn", Version: v2, Shadow: true, At: at, Duration: dur, Rows: 1, Kind: "classification", Predictions: []byte(`[1]`)},
			}
			if err := s.LogRequests(ctx, reqs); err != nil {
				t.Fatal(err)
			}
			score := 0.0
			if i < right {
				score = 1
			}
			if err := s.SetFeedback(ctx, "churn", id, []cairn.RequestScore{{Version: 1, Labeled: 1, Score: 1}, {Version: v2, Labeled: 1, Score: score}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	pass := func(times int) {
		t.Helper()
		for i := 0; i < times; i++ {
			at = at.Add(time.Second)
			ctl.Tick(ctx)
			if _, err := sender.Deliver(ctx, ""); err != nil {
				t.Fatal(err)
			}
		}
	}
	got := func() []map[string]any {
		mu.Lock()
		defer mu.Unlock()
		return append([]map[string]any(nil), bodies...)
	}

	// Too few labeled rows: nothing is judged.
	log(2, 0, time.Millisecond)
	pass(2)
	if b := got(); len(b) != 0 {
		t.Fatalf("alerts before min_samples: %v", b)
	}
	// 4 labeled rows, 0 right out of 4 (of 2 before): accuracy 1/6 < 0.75.
	log(4, 1, time.Millisecond)
	pass(5)
	b := got()
	if len(b) != 1 {
		t.Fatalf("%d alerts after the live metric fell below its bound, want 1: %v", len(b), b)
	}
	a := b[0]
	if a["model"] != "churn" || a["version"] != float64(v2) || a["event"] != "live_metric_below" || a["bound"] != 0.75 ||
		a["link"] != "https://cairn.example.com/models/churn" || a["run_id"] != nil || a["idempotency_key"] != keys[0] {
		t.Fatalf("body %v (key header %q)", a, keys[0])
	}
	if v, _ := a["value"].(float64); v < 0.16 || v > 0.17 {
		t.Fatalf("value %v, want 1/6", a["value"])
	}
	if keys[0] != "model/churn/v2/live_metric_below/0/1" {
		t.Fatalf("key %q", keys[0])
	}

	// Cleared (many right rows), then below again: a second alert, its
	// own key.
	log(40, 40, time.Millisecond)
	pass(2)
	if b := got(); len(b) != 1 {
		t.Fatalf("a clearing alerted: %v", b)
	}
	log(200, 0, time.Millisecond)
	pass(3)
	if b := got(); len(b) != 2 || keys[1] != "model/churn/v2/live_metric_below/0/2" {
		t.Fatalf("alerts after the metric fell again: %v %v", b, keys)
	}

	// A slow candidate: its p99 above 50ms alerts once.
	log(5, 5, 80*time.Millisecond)
	pass(3)
	b = got()
	if len(b) != 3 || b[2]["event"] != "p99_latency_above" || b[2]["bound"] != 0.05 || b[2]["version"] != float64(v2) {
		t.Fatalf("alerts after a slow candidate: %v", b)
	}
	if v, _ := b[2]["value"].(float64); v < 0.079 || v > 0.081 {
		t.Fatalf("p99 value %v, want 0.08", b[2]["value"])
	}
	// Every alert listed, sent; none of production's.
	list, err := s.ListAlerts(ctx, cairn.AlertFilter{})
	if err != nil || len(list) != 3 {
		t.Fatalf("list: %+v %v", list, err)
	}
	for _, l := range list {
		if l.State != cairn.AlertSent || l.Version != v2 {
			t.Fatalf("alert %+v", l)
		}
	}
}
