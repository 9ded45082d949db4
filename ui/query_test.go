package ui

import (
	"net/http"
	"testing"

	"github.com/cairnml/cairn"
)

// A query parameter an API route does not take is refused, as a JSON
// body's unknown key is: a misspelt filter must not list every run.
// Pages take what they take and ignore the rest.
func TestAPIQueryParameters(t *testing.T) {
	f := newFixture(t)
	run := f.run(t, pipelineWF, map[string]string{"greeting": "hi"})
	if run.State != cairn.RunFailed {
		t.Fatalf("run %s", run.State)
	}
	log := "/api/v1/runs/" + run.ID + "/tasks/hello/log"
	for path, want := range map[string]int{
		"/api/v1/runs?state=failed&limit=5":                      200,
		"/api/v1/runs?sate=failed":                               400,
		"/api/v1/runs?limit=2&limit=3":                           400,
		"/api/v1/runs/" + run.ID + "?verbose=1":                  400,
		"/api/v1/runs/" + run.ID:                                 200,
		log + "?attempt=1&tail=10":                               200,
		log + "?attempt=1&follow=1&from=0":                       200,
		log + "?follow=0":                                        200,
		log + "?follow=yes":                                      400,
		log + "?folow=1":                                         400,
		"/api/v1/workflows?x=1":                                  400,
		"/api/v1/runs/" + run.ID + "/tasks/hello/attempts?all=1": 400,
		"/runs?sate=failed":                                      200, // a page
		"/api/v1/nope?x=1":                                       404,
	} {
		resp, body := f.get(t, path)
		if resp.StatusCode != want {
			t.Errorf("GET %s: %d, want %d\n%s", path, resp.StatusCode, want, body)
		}
	}
	var e apiError
	f.getJSON(t, "/api/v1/runs?sate=failed", http.StatusBadRequest, &e)
	if e.Message != `unknown query parameter "sate": GET /api/v1/runs takes workflow, state, limit, before, metric, sort, offset` {
		t.Errorf("message %q", e.Message)
	}
}
