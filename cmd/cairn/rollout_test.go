package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/ui/runjson"
)

// predictAnswer is what the rollout test reads of a predict answer.
type predictAnswer struct {
	Version     int               `json:"version"`
	RequestID   string            `json:"request_id"`
	Predictions []json.RawMessage `json:"predictions"`
}

// TestCanaryRollsBackWorseCandidate: a real server serves a 20% canary
// of a candidate that predicts worse than production, to four clients at
// once with sticky keys; feedback (the true labels: production's
// answers) gives each version its live metric, and the server's leader
// rolls the candidate back once both have enough labeled rows — within
// seconds, while no request fails. Then every key is answered by
// production, the rollout's history and the audit log say why, and cairn
// models rollout shows it. Bad feedback is refused, changing nothing.
func TestCanaryRollsBackWorseCandidate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.must(0, "tokens", "create", "--role", "viewer") // makes the database
	token := strings.TrimSpace(e.must(0, "tokens", "create", "--role", "operator", "--name", "ci").stdout)
	reg := openModelReg(t, e.home)
	v1 := reg.deploy("churn", cairn.StageProduction, fitModel(t, 1))
	v2 := reg.deploy("churn", cairn.StageCandidate, fitModel(t, 0.0001))
	spec := cairn.RolloutSpec{Strategy: cairn.StrategyCanary, Steps: []int{20, 100}, Interval: cairn.Duration(time.Hour),
		MinSamples: 40, MinRequests: 10, Tolerance: 0.02}
	if _, err := reg.st.StartRollout(context.Background(), "churn", v2, spec, "cli:test", reg.next()); err != nil {
		t.Fatal(err)
	}
	srv := e.startServer(nil)
	c := &http.Client{Timeout: 10 * time.Second}
	base := "http://" + srv.addr + "/api/v1/models/churn"
	rows := `{"rows":[{"x":0.3,"c":"a"},{"x":-1.2,"c":"b"},{"x":0.05,"c":"b"},{"x":-0.2,"c":"a"}]}`

	// The truth is production's answer: version 1 is right on every row.
	code, out := post(t, c, fmt.Sprintf("%s/predict?version=%d", base, v1), token, rows)
	var truth predictAnswer
	if err := json.Unmarshal([]byte(out), &truth); code != http.StatusOK || err != nil {
		t.Fatalf("production pinned: %d %s", code, out)
	}
	labels, _ := json.Marshal(truth.Predictions)
	code, out = post(t, c, fmt.Sprintf("%s/predict?version=%d", base, v2), token, rows)
	var cand predictAnswer
	if err := json.Unmarshal([]byte(out), &cand); code != http.StatusOK || err != nil {
		t.Fatalf("candidate pinned: %d %s", code, out)
	}
	if string(mustJSON(cand.Predictions)) == string(labels) {
		t.Fatal("the candidate predicts as production does: the test cannot tell them apart")
	}

	ctx, cancel := context.WithCancel(context.Background())
	var (
		wg                    sync.WaitGroup
		failed, toCand, total atomic.Int64
		mu                    sync.Mutex
		sticky                = map[string]int{}
		unsticky              atomic.Int64
	)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				key := fmt.Sprintf("user-%d-%d", w, i%50)
				req, _ := http.NewRequest(http.MethodPost, base+"/predict", strings.NewReader(rows))
				req.Header.Set("Authorization", "Bearer "+token)
				req.Header.Set("Cairn-Route-Key", key)
				resp, err := c.Do(req)
				if err != nil {
					failed.Add(1)
					t.Errorf("predict: %v", err)
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				var a predictAnswer
				if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &a) != nil || a.RequestID == "" ||
					resp.Header.Get("Cairn-Model-Version") != fmt.Sprint(a.Version) || resp.Header.Get("Cairn-Request-Id") != a.RequestID {
					failed.Add(1)
					t.Errorf("predict: %d %v %s", resp.StatusCode, resp.Header, b)
					return
				}
				total.Add(1)
				if resp.Header.Get("Cairn-Rollout-Arm") == "candidate" {
					toCand.Add(1)
					mu.Lock()
					if v, seen := sticky[key]; seen && v != a.Version {
						unsticky.Add(1)
					}
					sticky[key] = a.Version
					mu.Unlock()
				}
				fb := fmt.Sprintf(`{"request_id":%q,"labels":%s}`, a.RequestID, labels)
				if code, out := post(t, c, base+"/feedback", token, fb); code != http.StatusOK {
					failed.Add(1)
					t.Errorf("feedback: %d %s", code, out)
					return
				}
			}
		}()
	}
	var r runjson.Rollout
	waitFor(t, 60*time.Second, "the candidate rolled back", func() bool {
		code, out := srv.getAuth(t, "/api/v1/models/churn/rollout", token)
		if code != http.StatusOK || json.Unmarshal([]byte(out), &r) != nil {
			t.Fatalf("rollout: %d %s", code, out)
		}
		return r.State == string(cairn.RolloutRolledBack)
	})
	// Production goes on answering, now every key: the change is served
	// within the poll (half a second).
	waitFor(t, 5*time.Second, "production answering every key", func() bool {
		toCand.Store(0)
		time.Sleep(700 * time.Millisecond)
		return toCand.Load() == 0
	})
	cancel()
	wg.Wait()
	if failed.Load() > 0 {
		t.Fatalf("%d requests failed during the rollout", failed.Load())
	}
	if unsticky.Load() > 0 {
		t.Fatalf("%d candidate answers to a key the candidate had not answered before with the same version", unsticky.Load())
	}
	if total.Load() < 20 {
		t.Fatalf("only %d requests answered", total.Load())
	}
	if !strings.Contains(r.Reason, "accuracy") || !strings.Contains(r.Reason, "worse than production's 1") || r.Share != 0 {
		t.Fatalf("the rollback: %+v", r)
	}
	last := r.History[len(r.History)-1]
	if last.Event != cairn.RolloutEventRollback || last.Detail != r.Reason || r.History[0].Event != cairn.RolloutEventStart {
		t.Fatalf("history: %+v", r.History)
	}
	if p, err := reg.st.ProductionModel(context.Background(), "churn"); err != nil || p.Version != v1 {
		t.Fatalf("production after the rollback: %+v %v", p, err)
	}
	audit := e.must(0, "audit", "--json").stdout
	if !strings.Contains(audit, `"action": "model.rollout"`) || !strings.Contains(audit, `"actor": "rollout"`) {
		t.Fatalf("no audit entry of the rollback by the rollout controller:\n%s", audit)
	}
	code, metricsText := srv.getAuth(t, "/metrics", token)
	if code != http.StatusOK || !strings.Contains(metricsText, `cairn_model_version_requests_total{model="churn",version="2",arm="candidate",code="ok"} `) ||
		!strings.Contains(metricsText, `cairn_model_version_predictions_total{model="churn",version="1",class=`) {
		t.Fatalf("/metrics has no per-version series: %d\n%s", code, metricsText)
	}
	code, page := srv.getAuth(t, "/models/churn", token)
	if code != http.StatusOK || !strings.Contains(page, `id="rollout" data-state="rolled_back" data-share="0"`) ||
		!strings.Contains(page, `id="rollout-chart"><svg`) || !strings.Contains(page, "worse than production") {
		t.Fatalf("the model page's rollout: %d\n%s", code, page)
	}
	show := e.must(0, "models", "rollout", "churn").stdout
	for _, want := range []string{"strategy:  canary", "state:     rolled_back (version 2's accuracy", "candidate", "history:", "rollback"} {
		if !strings.Contains(show, want) {
			t.Fatalf("cairn models rollout: no %q in\n%s", want, show)
		}
	}

	// Bad feedback: 404 for an unknown request or model, 400 for labels
	// that are not one per row; nothing changes.
	before := e.must(0, "models", "rollout", "churn", "--json").stdout
	for _, tc := range []struct {
		url, body string
		code      int
	}{
		{base + "/feedback", `{"request_id":"ffffffffffffffffffffffffffffffff","labels":["yes"]}`, http.StatusNotFound},
		{"http://" + srv.addr + "/api/v1/models/nosuch/feedback", fmt.Sprintf(`{"request_id":%q,"labels":%s}`, truth.RequestID, labels), http.StatusNotFound},
		{base + "/feedback", fmt.Sprintf(`{"request_id":%q,"labels":["yes"]}`, truth.RequestID), http.StatusBadRequest},
		{base + "/feedback", `not json`, http.StatusBadRequest},
	} {
		if code, out := post(t, c, tc.url, token, tc.body); code != tc.code {
			t.Errorf("feedback %s: %d %s, want %d", tc.body, code, out, tc.code)
		}
	}
	if after := e.must(0, "models", "rollout", "churn", "--json").stdout; after != before {
		t.Fatalf("bad feedback changed the rollout:\n%s\n%s", before, after)
	}
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}
