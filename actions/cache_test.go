package actions_test

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/cairnml/cairn/scheduler"
)

const cachedWF = `name: cached
tasks:
  - id: data
    type: shell
    cache: true
    with: {argv: ["true"]}
`

// TestTriggerNoCache: "no_cache" on a trigger (the API's and the form's
// checkbox) makes a run whose tasks have caching off, and its audit entry
// says so; without it the workflow's cache: holds.
func TestTriggerNoCache(t *testing.T) {
	s := newServer(t, serverOptions{})
	s.workflow("cached.yaml", cachedWF)
	ctx := context.Background()
	cacheOf := func(id string) bool {
		t.Helper()
		trs, err := s.st.ListTaskRuns(ctx, id)
		if err != nil || len(trs) != 1 {
			t.Fatalf("task runs of %s: %v %v", id, trs, err)
		}
		return trs[0].Cache
	}
	auditOf := func(id string) string {
		t.Helper()
		as, err := s.st.ListAudit(ctx, scheduler.AuditFilter{RunID: id})
		if err != nil || len(as) == 0 {
			t.Fatalf("audit of %s: %v %v", id, as, err)
		}
		return string(as[len(as)-1].Detail)
	}
	plain := s.trigger("cached", `{}`)
	var out struct{ ID string }
	s.want(201, "POST", "/api/v1/workflows/cached/runs", `{"params": {}, "no_cache": true}`, &out)
	if !cacheOf(plain) || cacheOf(out.ID) {
		t.Errorf("cache of a plain trigger %v, of a no_cache one %v", cacheOf(plain), cacheOf(out.ID))
	}
	if a := auditOf(out.ID); !strings.Contains(a, `"no_cache":true`) {
		t.Errorf("the audit entry of a no_cache trigger: %s", a)
	}
	if a := auditOf(plain); strings.Contains(a, "no_cache") {
		t.Errorf("the audit entry of a plain trigger: %s", a)
	}
	s.want(400, "POST", "/api/v1/workflows/cached/runs", `{"params": {}, "no_cache": "yes"}`, nil)

	_, text := s.page("/workflows/cached")
	if !strings.Contains(text, `<input type="checkbox" id="no_cache" name="no_cache" value="1">`) {
		t.Fatalf("the trigger form has no no-cache checkbox:\n%s", text)
	}
	resp := s.form("/workflows/cached/trigger", url.Values{"csrf": {s.csrf(text)}, "no_cache": {"1"}})
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != 303 || !strings.HasPrefix(loc, "/runs/") {
		t.Fatalf("the form's trigger: %d to %q", resp.StatusCode, loc)
	}
	if cacheOf(strings.TrimPrefix(loc, "/runs/")) {
		t.Error("the form's no-cache run has caching on")
	}
}
