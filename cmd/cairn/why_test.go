package main

import (
	"strings"
	"testing"
	"time"
)

// cairn show says why each task of a live run is not running: upstreams
// not done (named with their states), a retry's backoff (until when), the
// run's concurrency:, a when: that was false (the expression); --json
// has the same lines as waiting.
func TestShowWhy(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	wf := writeWorkflow(t, "why.yaml", `name: why
concurrency: 2
params:
  mode: quick
tasks:
  - id: flaky
    type: shell
    retries: 3
    retry_backoff: 1h
    with: {argv: ["false"]}
  - id: full
    type: noop
    when: "${{ params.mode == 'full' }}"
  - id: slow
    type: shell
    with: {argv: ["sleep", "60"]}
  - id: slow2
    type: shell
    with: {argv: ["sleep", "60"]}
  - id: after
    type: noop
    needs: [slow]
  - id: third
    type: noop
`)
	p := e.start("run", wf, "--progress", "lines")
	id := p.runID()
	t.Cleanup(func() {
		e.cairn("cancel", id)
		p.wait(time.Minute)
	})
	var got map[string]string
	waitFor(t, time.Minute, "slow and slow2 running, flaky retrying", func() bool {
		if p.exited() {
			t.Fatalf("cairn run exited:\n%s", p.stderr.String())
		}
		got = map[string]string{}
		states := map[string]string{}
		for _, tj := range e.show(id).Tasks {
			got[tj.ID], states[tj.ID] = tj.Waiting, string(tj.State)
		}
		return states["slow"] == "running" && states["slow2"] == "running" && states["flaky"] == "retrying"
	})
	want := map[string]string{
		"after": "waiting for upstream task: slow (running)",
		"third": "waiting for the run's concurrency: 2 of 2 tasks ready or running",
		"full":  "skipped: when: ${{ params.mode }} == 'full' was false",
		"slow":  "",
		"slow2": "",
	}
	for task, w := range want {
		if got[task] != w {
			t.Errorf("%s: waiting %q, want %q", task, got[task], w)
		}
	}
	if !strings.HasPrefix(got["flaky"], "waiting for the retry backoff: attempt 2 at ") || !strings.HasSuffix(got["flaky"], " after 1 failed attempt") {
		t.Errorf("flaky: waiting %q", got["flaky"])
	}
	out := e.must(0, "show", id).stdout
	for _, w := range []string{"after  noop   pending", "waiting for upstream task: slow (running)", "skipped: when: ${{ params.mode }} == 'full' was false",
		"waiting for the run's concurrency: 2 of 2"} {
		if !strings.Contains(out, w) {
			t.Errorf("cairn show lacks %q:\n%s", w, out)
		}
	}
	if out := e.must(0, "show", id, "after").stdout; !strings.Contains(out, "waiting for upstream task: slow (running)") {
		t.Errorf("cairn show RUN after:\n%s", out)
	}
}
