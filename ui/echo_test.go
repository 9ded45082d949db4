package ui

import (
	"net/url"
	"strings"
	"testing"
)

// An error quotes back at most the start of what the request sent: a run
// id, a task id, a workflow or file name, a query of 100 KB was sent back
// whole in the message.
func TestErrorsQuoteLittleOfTheRequest(t *testing.T) {
	f := newFixture(t)
	long := strings.Repeat("a", 100_000)
	run := f.run(t, pipelineWF, map[string]string{"greeting": "hi"})
	for _, path := range []string{
		"/api/v1/runs/" + long,
		"/api/v1/runs/" + run.ID + "/tasks/" + long + "/log",
		"/api/v1/runs?before=" + long,
		"/api/v1/runs?limit=" + long,
		"/api/v1/runs/" + run.ID + "/tasks/hello/log?attempt=" + long,
		"/api/v1/runs/" + run.ID + "/tasks/hello/log?tail=" + long,
		"/api/v1/runs/" + run.ID + "/tasks/hello/log?follow=1&from=" + long,
		"/api/v1/workflows/" + long,
		"/api/v1/runs?" + long + ";x",
		"/runs/" + long,
	} {
		resp, body := f.get(t, path)
		if resp.StatusCode < 400 || resp.StatusCode >= 500 || len(body) > 4000 || !strings.Contains(body, "… (1000") {
			t.Errorf("GET %.60s…: %d, %d bytes:\n%.300s", path, resp.StatusCode, len(body), body)
		}
	}
	resp, body := f.do(t, "POST", "/api/v1/workflows/validate?file="+url.QueryEscape(long), strings.NewReader("name: x\n"))
	if resp.StatusCode != 400 || len(body) > 4000 {
		t.Errorf("validate with a long file name: %d, %d bytes", resp.StatusCode, len(body))
	}
}
