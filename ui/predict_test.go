package ui

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cairnml/cairn/serve"
)

var _ Models = (*serve.Server)(nil)

// TestPredictFollowsPromotions: the model server behind the predict
// route polls nothing here (it is not started), yet a promotion or a
// rollback through the API is served by the very next request: the
// route tells the model server (Models.Refresh).
func TestPredictFollowsPromotions(t *testing.T) {
	f := modelFixture(t)
	f.run(t, shipWF, nil)
	f.run(t, shipWF, map[string]string{"seed": "2", "stage": "candidate"})
	srv, err := serve.New(serve.Options{Registry: f.st, Artifacts: f.arts, Poll: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	f.h.h.o.Models = srv
	body := `{"rows":[{"x0":0.5,"x1":-1,"x2":2}]}`
	version := func() int {
		t.Helper()
		code, out := f.call(t, http.MethodPost, "/api/v1/models/churn/predict", body, "viewer", "")
		var a struct {
			Version int `json:"version"`
		}
		if code != http.StatusOK || json.Unmarshal([]byte(out), &a) != nil {
			t.Fatalf("predict: %d %s", code, out)
		}
		return a.Version
	}
	if v := version(); v != 1 {
		t.Fatalf("version %d served, want 1", v)
	}
	if code, out := f.call(t, http.MethodPost, "/api/v1/models/churn/promote", `{"version": 2}`, "ops", "operate"); code != http.StatusOK {
		t.Fatalf("promote: %d %s", code, out)
	}
	if v := version(); v != 2 {
		t.Fatalf("after the promotion, version %d served, want 2 at once", v)
	}
	if code, out := f.call(t, http.MethodPost, "/api/v1/models/churn/rollback", ``, "ops", "operate"); code != http.StatusOK {
		t.Fatalf("rollback: %d %s", code, out)
	}
	if v := version(); v != 1 {
		t.Fatalf("after the rollback, version %d served, want 1 at once", v)
	}
	// The routing key may come as ?key= (a client that cannot set
	// headers), bounded like the header.
	if code, out := f.call(t, http.MethodPost, "/api/v1/models/churn/predict?key=user1", body, "viewer", ""); code != http.StatusOK {
		t.Fatalf("predict ?key=user1: %d %s", code, out)
	}
	if code, out := f.call(t, http.MethodPost, "/api/v1/models/churn/predict?key="+strings.Repeat("k", 300), body, "viewer", ""); code != http.StatusBadRequest || !strings.Contains(out, "routing key is 300 bytes") {
		t.Fatalf("predict with a 300-byte ?key=: %d %s", code, out)
	}
	// A bad row's error names it.
	code, out := f.call(t, http.MethodPost, "/api/v1/models/churn/predict", `{"rows":[{"x0":1,"x1":2,"x2":"3"}]}`, "viewer", "")
	var e struct {
		Code  string `json:"code"`
		Row   *int   `json:"row"`
		Field string `json:"field"`
	}
	if code != http.StatusBadRequest || json.Unmarshal([]byte(out), &e) != nil || e.Code != "bad_input" || e.Row == nil || *e.Row != 0 || e.Field != "x2" {
		t.Fatalf("a string for a number: %d %s", code, out)
	}
}
