package rollouts_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/alerts"
	"github.com/cairnml/cairn/rollouts"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/store/sqlite"
)

// deployReg completes a deploy whose success is reg (its model the
// sha256 of content), and returns the version registered.
func deployReg(t *testing.T, s scheduler.Store, at time.Time, content string, reg cairn.ModelRegistration) int {
	t.Helper()
	ctx := context.Background()
	h := sha256.Sum256([]byte(content))
	reg.Model = cairn.ArtifactRef{Digest: "sha256:" + hex.EncodeToString(h[:]), Size: int64(len(content)), MediaType: "application/json"}
	reg.VersionOutput = "version"
	run := &cairn.Run{ID: cairn.NewRunID(at), Workflow: "wf", State: cairn.RunQueued, CreatedAt: at}
	task := &cairn.TaskRun{TaskID: "deploy", Type: "deploy", State: cairn.TaskReady, Params: []byte(`{}`), Inputs: map[string]cairn.ArtifactRef{"model": reg.Model}}
	if err := s.CreateRun(ctx, run, []*cairn.TaskRun{task}); err != nil {
		t.Fatal(err)
	}
	items, err := s.Lease(ctx, cairn.LeaseRequest{Worker: "w", RunID: run.ID, Max: 1}, at, time.Hour)
	if err != nil || len(items) != 1 {
		t.Fatalf("lease: %v %v", items, err)
	}
	tr, err := s.Complete(ctx, items[0].Lease, cairn.Completion{State: cairn.TaskSucceeded,
		Outputs: map[string]json.RawMessage{"model": reg.Model.JSON()}, Effects: []cairn.Effect{{RegisterModel: &reg}}}, at)
	if err != nil {
		t.Fatal(err)
	}
	var v int
	if err := json.Unmarshal(tr.Outputs["version"], &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestModelAlertsWithoutRollout: a model's own alerts (a direct deploy's
// alerts:) are watched by the leader on its production version with no
// rollout, over each alert's window with the clock given: a slow
// production version alerts once through the outbox to a loopback
// receiver; requests older than the window tell nothing; an alert set by
// hand (another gen) alerts anew under its own key; a shadow rollout's
// candidate is watched too while it is active; cleared, nothing more.
func TestModelAlertsWithoutRollout(t *testing.T) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "cairn.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var (
		mu   sync.Mutex
		keys []string
		body []map[string]any
	)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]any
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
			t.Errorf("body: %v", err)
		}
		mu.Lock()
		keys, body = append(keys, r.Header.Get("Idempotency-Key")), append(body, m)
		mu.Unlock()
	}))
	defer recv.Close()
	got := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), keys...)
	}

	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	now := func() time.Time { return at }
	p99 := cairn.ModelAlert{On: cairn.AlertP99Above, Bound: 0.05, Webhook: recv.URL + "/p99", Window: cairn.Duration(time.Minute), Min: 3}
	v1 := deployReg(t, s, at, "v1", cairn.ModelRegistration{Name: "fraud", Stage: cairn.StageProduction, Alerts: []cairn.ModelAlert{p99}})
	if r, err := s.Rollout(ctx, "fraud"); err == nil {
		t.Fatalf("a direct deploy started a rollout: %+v", r)
	}
	sender, err := alerts.New(alerts.Options{Store: s, Owner: "test", PublicURL: "https://cairn.example.com", Now: now})
	if err != nil {
		t.Fatal(err)
	}
	ctl, err := rollouts.New(rollouts.Options{Store: s, Now: now, Leader: func() (scheduler.Fence, bool) { return scheduler.Fence{}, true }})
	if err != nil {
		t.Fatal(err)
	}
	seq := 0
	log := func(version int, shadow bool, n int, dur time.Duration) {
		t.Helper()
		var reqs []cairn.ModelRequest
		for i := 0; i < n; i++ {
			seq++
			reqs = append(reqs, cairn.ModelRequest{RequestID: "q" + strconv.Itoa(seq), Name: "fraud", Version: version, Shadow: shadow, At: at,
				Duration: dur, Rows: 1, Kind: "classification", Predictions: []byte(`[0]`)})
		}
		if err := s.LogRequests(ctx, reqs); err != nil {
			t.Fatal(err)
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

	// Fewer requests than min: nothing.
	log(v1, false, 2, 80*time.Millisecond)
	pass(2)
	if k := got(); len(k) != 0 {
		t.Fatalf("alerts below min: %v", k)
	}
	// Enough slow requests in the window: one alert, however many passes.
	log(v1, false, 2, 80*time.Millisecond)
	pass(4)
	if k := got(); len(k) != 1 || k[0] != "model/fraud/v1/p99_latency_above/100/1" {
		t.Fatalf("alerts of a slow production version: %v", k)
	}
	if b := body[0]; b["model"] != "fraud" || b["version"] != float64(v1) || b["bound"] != 0.05 || b["link"] != "https://cairn.example.com/models/fraud" {
		t.Fatalf("body %v", b)
	}
	// The window moves on past them: unknown, no change; fast requests
	// clear it; slow ones again alert again.
	at = at.Add(2 * time.Minute)
	pass(2)
	log(v1, false, 5, time.Millisecond)
	pass(2)
	log(v1, false, 50, 90*time.Millisecond)
	pass(2)
	if k := got(); len(k) != 2 || k[1] != "model/fraud/v1/p99_latency_above/100/2" {
		t.Fatalf("alerts after it cleared and held again: %v", k)
	}
	// Set by hand (gen 2): a new finding, a new key, though the
	// condition held under the set before.
	if _, err := s.SetModelAlerts(ctx, "fraud", []cairn.ModelAlert{p99}, "cli:ann@host", at); err != nil {
		t.Fatal(err)
	}
	pass(2)
	if k := got(); len(k) != 3 || k[2] != "model/fraud/v1/p99_latency_above/200/1" {
		t.Fatalf("alerts after a set by hand: %v", k)
	}
	// A shadow rollout's candidate (no alerts of its own): the model's
	// alerts watch it too while it is active.
	at = at.Add(2 * time.Minute)
	v2 := deployReg(t, s, at, "v2", cairn.ModelRegistration{Name: "fraud", Stage: cairn.StageCandidate, Rollout: &cairn.RolloutSpec{Strategy: cairn.StrategyShadow}})
	log(v1, false, 5, time.Millisecond)
	log(v2, true, 5, 200*time.Millisecond)
	pass(2)
	if k := got(); len(k) != 4 || k[3] != "model/fraud/v2/p99_latency_above/200/1" {
		t.Fatalf("alerts of a slow shadow candidate: %v", k)
	}
	// Cleared: the model is not watched any more.
	if _, err := s.SetModelAlerts(ctx, "fraud", nil, "cli:ann@host", at); err != nil {
		t.Fatal(err)
	}
	log(v1, false, 50, time.Second)
	pass(3)
	if k := got(); len(k) != 4 {
		t.Fatalf("alerts after the alerts were cleared: %v", k)
	}
	list, err := s.ListAlerts(ctx, cairn.AlertFilter{})
	if err != nil || len(list) != 4 {
		t.Fatalf("list: %v %v", list, err)
	}
	for _, a := range list {
		if a.State != cairn.AlertSent || a.Model != "fraud" || a.Event != cairn.AlertP99Above {
			t.Fatalf("alert %+v", a)
		}
	}
}
