package ui

import (
	"net/http"
	"testing"

	"github.com/cairnml/cairn/experiments"
	"github.com/cairnml/cairn/ui/runjson"
)

// TestCompareAndAlertsAPI: GET /api/v1/compare answers the comparison of
// runs given by prefix and refuses what it cannot compare; the runs list
// takes metric columns only from a server that reads them; the alerts
// route answers 501 without an outbox.
func TestCompareAndAlertsAPI(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.Experiments = nil })
	src := "name: pair\nparams:\n  n: {type: int, default: 1}\ntasks:\n  - id: a\n    type: noop\n    with: {sleep: \"${{ params.n }}ms\"}\n"
	one := f.run(t, src, map[string]string{"n": "1"})
	two := f.run(t, src, map[string]string{"n": "2"})
	var cmp experiments.Comparison
	f.getJSON(t, "/api/v1/compare?run="+one.ID[:12]+","+two.ID, http.StatusOK, &cmp)
	if len(cmp.Runs) != 2 || cmp.Runs[0].ID != one.ID || len(cmp.Params) != 2 || cmp.Params[0].Name != "n" || cmp.Params[1].Task != "a" || cmp.Params[1].Name != "sleep" {
		t.Errorf("comparison: %+v", cmp)
	}
	for path, want := range map[string]int{
		"/api/v1/compare?run=" + one.ID:                    http.StatusBadRequest,
		"/api/v1/compare":                                  http.StatusBadRequest,
		"/api/v1/compare?run=" + one.ID + ",zzzzzzzzzzzz":  http.StatusNotFound,
		"/api/v1/compare?run=" + one.ID + "&run=" + two.ID: http.StatusBadRequest, // once, comma-separated
		"/api/v1/runs?metric=a.n":                          http.StatusNotImplemented,
		"/api/v1/runs?sort=desc":                           http.StatusBadRequest,
		"/api/v1/alerts":                                   http.StatusNotImplemented,
	} {
		if resp, body := f.get(t, path); resp.StatusCode != want {
			t.Errorf("GET %s: %d, want %d\n%s", path, resp.StatusCode, want, body)
		}
	}
	var page runjson.Page
	f.getJSON(t, "/api/v1/runs", http.StatusOK, &page)
	if len(page.Runs) != 2 || page.Runs[0].Metrics != nil || page.NextOffset != nil {
		t.Errorf("a plain list: %+v", page)
	}
}
