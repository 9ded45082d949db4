package main

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// evaluations records what /debug/shadow-eval asks of the model server.
type evaluations struct {
	name   string
	bodies []string
	n      int
	err    error
}

func (e *evaluations) EvaluateCandidate(name string, bodies [][]byte, n int) error {
	e.name, e.n = name, n
	for _, b := range bodies {
		e.bodies = append(e.bodies, string(b))
	}
	return e.err
}

// TestShadowEvalRoute: /debug/shadow-eval hands the candidate's
// evaluation the predict bodies of its array and the count asked for,
// and refuses a count out of range, a body that is not an array of
// bodies, and a model without a rollout served.
func TestShadowEvalRoute(t *testing.T) {
	post := func(e *evaluations, query, body string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		serveShadowEval(e)(rec, httptest.NewRequest(http.MethodPost, "/debug/shadow-eval?"+query, strings.NewReader(body)))
		return rec
	}
	e := &evaluations{}
	rec := post(e, "model=bc&n=2000", `[{"rows":[{"a":1}]}, {"rows":[{"a":2}]}]`)
	if rec.Code != http.StatusOK || strings.TrimSpace(rec.Body.String()) != `{"evaluated": 2000}` {
		t.Fatalf("answer %d %s", rec.Code, rec.Body)
	}
	if e.name != "bc" || e.n != 2000 || strings.Join(e.bodies, "|") != `{"rows":[{"a":1}]}|{"rows":[{"a":2}]}` {
		t.Fatalf("evaluated %+v", e)
	}
	for _, tc := range []struct{ query, body, want string }{
		{"model=bc&n=0", `[{}]`, "want a number of evaluations"},
		{"model=bc", `[{}]`, "want a number of evaluations"},
		{"model=bc&n=1000001", `[{}]`, "want a number of evaluations"},
		{"model=bc&n=5", `{"rows":[]}`, "not a JSON array"},
		{"model=bc&n=5", `[]`, "empty array"},
	} {
		e := &evaluations{}
		if rec := post(e, tc.query, tc.body); rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), tc.want) || e.n != 0 {
			t.Errorf("%s %s: %d %s (evaluated %d), want 400 saying %q", tc.query, tc.body, rec.Code, rec.Body, e.n, tc.want)
		}
	}
	rec = post(&evaluations{err: errors.New("model bc: no rollout served")}, "model=bc&n=5", `[{}]`)
	if rec.Code != http.StatusConflict || !strings.Contains(rec.Body.String(), "no rollout served") {
		t.Fatalf("no rollout: %d %s", rec.Code, rec.Body)
	}
}
