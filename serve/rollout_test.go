package serve_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/serve"
	"github.com/cairnml/cairn/tasks/ml/model"
)

const rolloutBody = `{"rows":[{"num":1,"color":"red","flag":true,"when":"2024-01-02"},{"num":-4,"color":"blue","flag":false,"when":null}]}`

type keyedAnswer struct {
	Model       string `json:"model"`
	Version     int    `json:"version"`
	RequestID   string `json:"request_id"`
	Predictions []any  `json:"predictions"`
}

// predictKey sends one request with a routing key and returns the answer
// and its headers.
func predictKey(t *testing.T, s *serve.Server, name string, version int, key string) (keyedAnswer, http.Header) {
	t.Helper()
	rec := httptest.NewRecorder()
	if err := s.Predict(context.Background(), name, version, key, strings.NewReader(rolloutBody), rec); err != nil {
		t.Fatalf("predict %s key %q: %v", name, key, err)
	}
	var a keyedAnswer
	if err := json.Unmarshal(rec.Body.Bytes(), &a); err != nil {
		t.Fatalf("answer %s: %v", rec.Body.Bytes(), err)
	}
	return a, rec.Header()
}

// rolloutFixture registers two versions of clf (1 in production) and
// starts a rollout of 2 with spec.
func rolloutFixture(t *testing.T, spec cairn.RolloutSpec) (*fixture, *serve.Server) {
	t.Helper()
	fx := newFixture(t)
	for i := range 3 {
		m := fit(t, "label", model.LogisticRegression, map[string]any{"C": []float64{1, 0.0001, 0.01}[i]}, uint64(i+1))
		fx.deploy("clf", cairn.StageCandidate, fx.put(m))
	}
	fx.promote("clf", 1)
	if _, err := fx.st.StartRollout(context.Background(), "clf", 2, spec, "test", fx.next()); err != nil {
		t.Fatal(err)
	}
	s := newServer(t, fx, serve.Options{RequestLog: fx.st, Poll: 10 * time.Millisecond})
	s.Start(context.Background())
	t.Cleanup(func() { s.Stop(context.Background()) })
	return fx, s
}

// TestCanaryRouting: a 10% canary answers about a tenth of the keys with
// the candidate, the same key with the same version every time; every
// answer names its version and request id in the JSON and the headers.
func TestCanaryRouting(t *testing.T) {
	_, s := rolloutFixture(t, cairn.RolloutSpec{Strategy: cairn.StrategyCanary, Steps: []int{10, 100}})
	const n = 2000
	got := map[string]int{}
	cand := 0
	for i := range n {
		key := fmt.Sprintf("user-%d", i)
		a, h := predictKey(t, s, "clf", 0, key)
		if a.Version != 1 && a.Version != 2 {
			t.Fatalf("key %s answered by version %d", key, a.Version)
		}
		if h.Get(serve.HeaderVersion) != fmt.Sprint(a.Version) || h.Get(serve.HeaderRequestID) != a.RequestID || len(a.RequestID) != 32 {
			t.Fatalf("headers %v, answer %+v", h, a)
		}
		wantArm := "production"
		if cairn.ToCandidate("clf", key, 10) {
			wantArm = "candidate"
		}
		if arm := h.Get(serve.HeaderArm); arm != wantArm || (arm == "candidate") != (a.Version == 2) {
			t.Fatalf("key %s: arm %q version %d, want %s", key, arm, a.Version, wantArm)
		}
		got[key] = a.Version
		if a.Version == 2 {
			cand++
		}
	}
	if cand < n*7/100 || cand > n*13/100 {
		t.Fatalf("%d of %d keys went to a 10%% canary", cand, n)
	}
	for i := 0; i < n; i += 7 {
		key := fmt.Sprintf("user-%d", i)
		if a, _ := predictKey(t, s, "clf", 0, key); a.Version != got[key] {
			t.Fatalf("key %s went to %d, then %d", key, got[key], a.Version)
		}
	}
	// A pin of a version in the rollout is served; one outside it is a
	// clear error.
	if a, _ := predictKey(t, s, "clf", 2, ""); a.Version != 2 {
		t.Fatalf("pinned candidate: %+v", a)
	}
	err := s.Predict(context.Background(), "clf", 3, "", strings.NewReader(rolloutBody), httptest.NewRecorder())
	var se *serve.Error
	if !errors.As(err, &se) || se.Status != http.StatusConflict || se.Code != serve.CodeNotInRollout || !strings.Contains(se.Msg, "version 3 is not part of the rollout") {
		t.Fatalf("a pin outside the rollout: %v", err)
	}
	// A pin of a version that does not exist is not found, as outside a
	// rollout: not a conflict.
	err = s.Predict(context.Background(), "clf", 9, "", strings.NewReader(rolloutBody), httptest.NewRecorder())
	if !errors.As(err, &se) || se.Status != http.StatusNotFound || se.Code != serve.CodeNotFound || !errors.Is(err, cairn.ErrNotFound) ||
		!strings.Contains(se.Msg, "model clf has no version 9") {
		t.Fatalf("a pin of a missing version during a rollout: %v", err)
	}
}

// TestShadowLogsBoth: production answers every request of a shadow
// rollout; the candidate scores it too, and the request log holds both
// under the request's id (in one row), which feedback then scores per
// version.
// TestShadowFeedbackRightAfterAnswer: feedback sent as soon as a shadowed
// request is answered finds it, for both versions, though the request is
// logged only with the candidate's answer.
func TestShadowFeedbackRightAfterAnswer(t *testing.T) {
	_, s := rolloutFixture(t, cairn.RolloutSpec{Strategy: cairn.StrategyShadow})
	ctx := context.Background()
	for i := range 30 {
		a, _ := predictKey(t, s, "clf", 0, fmt.Sprint(i))
		labels, _ := json.Marshal(a.Predictions)
		fb, err := s.Label(ctx, "clf", strings.NewReader(fmt.Sprintf(`{"request_id":%q,"labels":%s}`, a.RequestID, labels)))
		if err != nil {
			t.Fatalf("feedback of request %d right after its answer: %v", i, err)
		}
		if len(fb.Scored) != 2 || fb.Scored[0].Version != 1 || value(fb.Scored[0]) != 1 || !fb.Scored[1].Shadow {
			t.Fatalf("feedback of request %d: %+v, want production's and the shadow's scores", i, fb)
		}
	}
}

func TestShadowLogsBoth(t *testing.T) {
	fx, s := rolloutFixture(t, cairn.RolloutSpec{Strategy: cairn.StrategyShadow})
	ctx := context.Background()
	var ids []string
	for i := range 20 {
		a, h := predictKey(t, s, "clf", 0, fmt.Sprint(i))
		if a.Version != 1 || h.Get(serve.HeaderArm) != "production" {
			t.Fatalf("a shadow rollout's answer: %+v %v", a, h)
		}
		ids = append(ids, a.RequestID)
	}
	var logged []cairn.ModelRequest
	deadline := time.Now().Add(10 * time.Second)
	for {
		var err error
		logged, err = fx.st.ModelRequests(ctx, "clf", ids[19])
		if err != nil {
			t.Fatal(err)
		}
		if len(logged) == 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(logged) != 2 || logged[0].Version != 1 || logged[0].Shadow || logged[1].Version != 2 || !logged[1].Shadow ||
		logged[0].Rows != 2 || logged[1].Rows != 2 || len(logged[1].Predictions) == 0 {
		t.Fatalf("the request log of a shadowed request: %+v", logged)
	}
	var p1, p2 []string
	_ = json.Unmarshal(logged[0].Predictions, &p1)
	_ = json.Unmarshal(logged[1].Predictions, &p2)
	if len(p1) != 2 || len(p2) != 2 {
		t.Fatalf("predictions %s %s", logged[0].Predictions, logged[1].Predictions)
	}

	// Feedback: labels equal to production's predictions score it 1, the
	// candidate by how many it got right.
	labels, _ := json.Marshal(p1)
	fb, err := s.Label(ctx, "clf", strings.NewReader(fmt.Sprintf(`{"request_id":%q,"labels":%s}`, ids[19], labels)))
	if err != nil {
		t.Fatal(err)
	}
	right := 0
	for i := range p2 {
		if p2[i] == p1[i] {
			right++
		}
	}
	if len(fb.Scored) != 2 || value(fb.Scored[0]) != 1 || fb.Scored[0].Metric != "accuracy" || value(fb.Scored[1]) != float64(right)/2 || !fb.Scored[1].Shadow {
		t.Fatalf("feedback: %+v", fb)
	}
	st, err := fx.st.RequestStats(ctx, "clf", time.Time{})
	if err != nil || st[1].Labeled != 2 || st[1].Score != 2 || st[2].Labeled != 2 || st[2].Score != float64(right) {
		t.Fatalf("stats after the feedback: %+v %v", st, err)
	}
	// Labels all unknown score nothing: no value (null), not an accuracy
	// of 0; and they replace the feedback before.
	fb, err = s.Label(ctx, "clf", strings.NewReader(fmt.Sprintf(`{"request_id":%q,"labels":[null,null]}`, ids[19])))
	if b, _ := json.Marshal(fb); err != nil || len(fb.Scored) != 2 || fb.Scored[0].Value != nil || fb.Scored[0].Labeled != 0 || fb.Scored[1].Value != nil ||
		!strings.Contains(string(b), `{"version":1,"labeled":0,"metric":"accuracy","value":null}`) {
		t.Fatalf("feedback without a label: %s %v", b, err)
	}
	if st, err = fx.st.RequestStats(ctx, "clf", time.Time{}); err != nil || st[1].Labeled != 0 || st[2].Labeled != 0 {
		t.Fatalf("stats after the feedback without a label: %+v %v", st, err)
	}
	// Bad feedback changes nothing: an unknown id or model is a 404, a
	// wrong number of labels a 400.
	for _, tc := range []struct {
		name, body string
		status     int
	}{
		{"clf", `{"request_id":"0000","labels":["yes"]}`, http.StatusNotFound},
		{"nosuch", fmt.Sprintf(`{"request_id":%q,"labels":["yes","no"]}`, ids[3]), http.StatusNotFound},
		{"clf", fmt.Sprintf(`{"request_id":%q,"labels":["yes"]}`, ids[3]), http.StatusBadRequest},
		// Labels that are none of the classifier's classes (a typo, a
		// boolean, a number out of range) would count as misses.
		{"clf", fmt.Sprintf(`{"request_id":%q,"labels":["yes","maybe"]}`, ids[3]), http.StatusBadRequest},
		{"clf", fmt.Sprintf(`{"request_id":%q,"labels":[true,null]}`, ids[3]), http.StatusBadRequest},
		{"clf", fmt.Sprintf(`{"request_id":%q,"labels":[null,1e999]}`, ids[3]), http.StatusBadRequest},
		{"clf", `{"labels":["yes"]}`, http.StatusBadRequest},
		{"clf", `{"request_id":"x","labels":["yes"],"extra":1}`, http.StatusBadRequest},
		{"clf", `[1,2]`, http.StatusBadRequest},
		{"clf", fmt.Sprintf(`{"request_id":%q,"labels":[{"a":1},"no"]}`, ids[3]), http.StatusBadRequest},
		// A key given twice (the last one used to win) and half a
		// surrogate pair (read as U+FFFD) are refused as predict refuses them.
		{"clf", fmt.Sprintf(`{"request_id":"0000","request_id":%q,"labels":["yes","no"]}`, ids[3]), http.StatusBadRequest},
		{"clf", fmt.Sprintf(`{"request_id":%q,"labels":["yes","\udc00"]}`, ids[3]), http.StatusBadRequest},
	} {
		_, err := s.Label(ctx, tc.name, strings.NewReader(tc.body))
		var se *serve.Error
		if !errors.As(err, &se) || se.Status != tc.status {
			t.Errorf("feedback %s %s: %v, want %d", tc.name, tc.body, err, tc.status)
		}
	}
	if after, _ := fx.st.RequestStats(ctx, "clf", time.Time{}); after[1] != st[1] || after[2] != st[2] {
		t.Fatalf("bad feedback changed the stats: %+v then %+v", st, after)
	}
	// Each shadowed request is one row of the log, the candidate's answer
	// in production's (one insert): 20 requests of each version, 20 rows.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		st, err := fx.st.RequestStats(ctx, "clf", time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if st[1].Requests == 20 && st[2].Requests == 20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stats of the 20 requests: %+v", st)
		}
	}
	if n, err := fx.st.PruneRequests(ctx, time.Now().Add(time.Hour), 1000); err != nil || n != 20 {
		t.Fatalf("the request log holds %d rows (%v), want 20: one per shadowed request", n, err)
	}
	// The candidate reads the columns production reads, so it is handed
	// the rows production decoded (categories, booleans, a missing
	// datetime): it answers them as it answers the body when asked itself.
	if !s.ShadowSameColumns("clf") {
		t.Fatal("the candidate reads production's columns, but is not handed production's rows")
	}
	pinned, _ := predictKey(t, s, "clf", 2, "")
	if got, _ := json.Marshal(pinned.Predictions); string(got) != string(logged[1].Predictions) {
		t.Fatalf("the shadow's predictions %s, the candidate's own answer %s", logged[1].Predictions, got)
	}
}

// TestRolloutFollowsTheStore: a step of the rollout written to the store
// (by the leader, in any process) is served within the poll; a rollback
// sends every request to production.
func TestRolloutFollowsTheStore(t *testing.T) {
	fx, s := rolloutFixture(t, cairn.RolloutSpec{Strategy: cairn.StrategyCanary, Steps: []int{10, 100}})
	ctx := context.Background()
	key := ""
	for i := 0; ; i++ {
		if k := fmt.Sprint("k", i); !cairn.ToCandidate("clf", k, 10) {
			key = k
			break
		}
	}
	if a, _ := predictKey(t, s, "clf", 0, key); a.Version != 1 {
		t.Fatalf("key %s at 10%%: %d", key, a.Version)
	}
	if _, err := fx.st.ChangeRollout(ctx, cairn.RolloutChange{Name: "clf", Candidate: 2, FromStep: 0, Event: cairn.RolloutEventStep,
		Share: 100, Step: 1, Actor: "test", At: fx.next()}, nil); err != nil {
		t.Fatal(err)
	}
	waitVersion(t, s, key, 2)
	if _, err := fx.st.ChangeRollout(ctx, cairn.RolloutChange{Name: "clf", Candidate: 2, FromStep: 1, Event: cairn.RolloutEventRollback,
		Detail: "test", Actor: "test", At: fx.next()}, nil); err != nil {
		t.Fatal(err)
	}
	waitVersion(t, s, key, 1)
	if _, h := predictKey(t, s, "clf", 0, key); h.Get(serve.HeaderArm) != "" {
		t.Fatalf("an arm after the rollout ended: %v", h)
	}
}

func waitVersion(t *testing.T, s *serve.Server, key string, v int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		a, _ := predictKey(t, s, "clf", 0, key)
		if a.Version == v {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("key %s still answered by %d, not %d, after 5 s", key, a.Version, v)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestCandidateFailureFallsBack: a candidate that refuses rows production
// takes (its columns differ) never fails a request: production answers,
// and the refusal counts against the candidate in the request log.
func TestCandidateFailureFallsBack(t *testing.T) {
	fx := newFixture(t)
	fx.deploy("m", cairn.StageProduction, fx.put(fit(t, "label", model.LogisticRegression, nil, 1)))
	fx.deploy("m", cairn.StageCandidate, fx.put(fit(t, "y", model.RandomForest, map[string]any{"n_estimators": 3}, 2)))
	ctx := context.Background()
	if _, err := fx.st.StartRollout(ctx, "m", 2, cairn.RolloutSpec{Strategy: cairn.StrategyCanary, Steps: []int{100}}, "test", fx.next()); err != nil {
		t.Fatal(err)
	}
	s := newServer(t, fx, serve.Options{RequestLog: fx.st})
	s.Start(ctx)
	defer s.Stop(ctx)
	// The label column of production's model is an unknown column to
	// the candidate, whose label is y.
	body := `{"rows":[{"num":1,"color":"red","flag":true,"when":"2024-01-02","label":"yes"}]}`
	rec := httptest.NewRecorder()
	if err := s.Predict(ctx, "m", 0, "k", strings.NewReader(body), rec); err != nil {
		t.Fatalf("a request the candidate refuses failed: %v", err)
	}
	var a keyedAnswer
	if err := json.Unmarshal(rec.Body.Bytes(), &a); err != nil || a.Version != 1 || rec.Header().Get(serve.HeaderArm) != "production" {
		t.Fatalf("answer %s %v", rec.Body.Bytes(), rec.Header())
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, err := fx.st.ModelRequests(ctx, "m", a.RequestID)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 2 {
			if got[0].Version != 1 || got[0].Failed || got[1].Version != 2 || !got[1].Failed {
				t.Fatalf("logged %+v", got)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("logged %+v after 5 s", got)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A request neither takes is the request's fault: a 400, and nothing
	// counts against the candidate.
	err := s.Predict(ctx, "m", 0, "k", strings.NewReader(`{"rows":[{"num":"x"}]}`), httptest.NewRecorder())
	var se *serve.Error
	if !errors.As(err, &se) || se.Status != http.StatusBadRequest {
		t.Fatalf("a bad request: %v", err)
	}
}

// A regressor's label so large that its error, summed over a window,
// would overflow the live metric to +Inf is a 400 naming it, and changes
// nothing; a large one within the bound is scored.
func TestFeedbackLabelTooLarge(t *testing.T) {
	fx := newFixture(t)
	fx.deploy("reg", cairn.StageProduction, fx.put(fit(t, "y", model.LinearRegression, nil, 1)))
	s := newServer(t, fx, serve.Options{RequestLog: fx.st, Poll: 10 * time.Millisecond})
	s.Start(context.Background())
	t.Cleanup(func() { s.Stop(context.Background()) })
	ctx := context.Background()
	a, _ := predictKey(t, s, "reg", 0, "k")
	deadline := time.Now().Add(10 * time.Second)
	for { // the request log is written off the request's path
		if logged, err := fx.st.ModelRequests(ctx, "reg", a.RequestID); err == nil && len(logged) == 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, l := range []string{"1.7e308", "-1.7e308", "1e301"} {
		_, err := s.Label(ctx, "reg", strings.NewReader(fmt.Sprintf(`{"request_id":%q,"labels":[%s,null]}`, a.RequestID, l)))
		var se *serve.Error
		if !errors.As(err, &se) || se.Status != http.StatusBadRequest || se.Row != 0 || !strings.Contains(se.Msg, "at most ±1e300") {
			t.Errorf("label %s: %v, want a 400 naming labels[0]", l, err)
		}
	}
	if st, _ := fx.st.RequestStats(ctx, "reg", time.Time{}); st[1].Labeled != 0 {
		t.Fatalf("refused labels were scored: %+v", st[1])
	}
	if _, err := s.Label(ctx, "reg", strings.NewReader(fmt.Sprintf(`{"request_id":%q,"labels":[1e300,null]}`, a.RequestID))); err != nil {
		t.Fatalf("a label of 1e300: %v", err)
	}
	st, _ := fx.st.RequestStats(ctx, "reg", time.Time{})
	if _, v, ok := st[1].LiveMetric(); !ok || math.IsInf(v, 0) || v < 1e299 {
		t.Fatalf("live mae after a label of 1e300: %v %v (%+v)", v, ok, st[1])
	}
}

// TestCanaryWithUnservableCandidate: a canary whose candidate's artifact
// is corrupt routes as ever, production answers the candidate's share,
// and each of those requests is logged as the candidate's failure, so
// that the leader rolls it back rather than wait for requests for ever.
func TestCanaryWithUnservableCandidate(t *testing.T) {
	fx := newFixture(t)
	var refs []cairn.ArtifactRef
	for i := range 2 {
		m := fit(t, "label", model.LogisticRegression, map[string]any{"C": []float64{1, 0.01}[i]}, uint64(i+1))
		refs = append(refs, fx.put(m))
		fx.deploy("clf", cairn.StageCandidate, refs[i])
	}
	fx.promote("clf", 1)
	corrupt(t, fx.arts, refs[1])
	ctx := context.Background()
	if _, err := fx.st.StartRollout(ctx, "clf", 2, cairn.RolloutSpec{Strategy: cairn.StrategyCanary, Steps: []int{50, 100}}, "test", fx.next()); err != nil {
		t.Fatal(err)
	}
	s := newServer(t, fx, serve.Options{RequestLog: fx.st, Poll: 10 * time.Millisecond})
	s.Start(ctx)
	const n = 200
	for i := range n {
		a, h := predictKey(t, s, "clf", 0, fmt.Sprint("user-", i))
		if a.Version != 1 || h.Get(serve.HeaderArm) != "production" {
			t.Fatalf("request %d answered by version %d (%s), want production", i, a.Version, h.Get(serve.HeaderArm))
		}
	}
	// Pinned, the candidate is unavailable, saying why.
	var e *serve.Error
	if err := s.Predict(ctx, "clf", 2, "", strings.NewReader(rolloutBody), io.Discard); !errors.As(err, &e) || e.Status != http.StatusServiceUnavailable {
		t.Fatalf("the candidate pinned: %v, want a 503", err)
	}
	s.Stop(ctx) // the request log written
	st, err := fx.st.RequestStats(ctx, "clf", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if st[1].Requests != n || st[1].Failed != 0 {
		t.Errorf("production's stats %+v, want %d requests, none failed", st[1], n)
	}
	if c := st[2]; c.Requests < n/4 || c.Failed != c.Requests {
		t.Errorf("the candidate's stats %+v, want about half the requests, each failed", c)
	}
}

// value is a feedback score's value, NaN when it has none.
func value(fs serve.FeedbackScore) float64 {
	if fs.Value == nil {
		return math.NaN()
	}
	return *fs.Value
}
