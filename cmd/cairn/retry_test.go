package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// cairn retry runs a failed run's failed task again into the same run:
// attempts numbered on, what succeeded not run again; a task still
// failing fails the run again; --detach leaves it for a server (or
// resume); a run that succeeded, or a task that did not fail, is refused.
func TestRetry(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dir := t.TempDir()
	marker := filepath.Join(dir, "fixed")
	wf := filepath.Join(dir, "flaky.yaml")
	src := `name: flaky
tasks:
  - id: prep
    type: shell
    with: {script: "echo prep"}
  - id: flaky
    type: shell
    needs: [prep]
    with:
      script: |
        if [ -e "` + marker + `" ]; then echo fixed; else echo broken; exit 3; fi
  - id: after
    type: shell
    needs: [flaky]
    with: {script: "echo after"}
`
	if err := os.WriteFile(wf, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	r := e.must(1, "run", wf, "--progress", "none")
	id := runIDOf(t, r.stderr)
	attempts := func(want ...string) {
		t.Helper()
		run := e.show(id)
		var got []string
		for _, a := range taskByID(t, run, "flaky").Attempt {
			got = append(got, string(a.State))
		}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Fatalf("flaky's attempts %v, want %v", got, want)
		}
		if n := taskByID(t, run, "prep").Attempts; n != 1 {
			t.Fatalf("prep ran %d times, want once", n)
		}
	}
	attempts("failed")

	// Still broken: the run fails again, with a second attempt.
	r = e.must(1, "retry", id, "flaky", "--progress", "none")
	if !strings.Contains(r.stderr, "run "+id+": 2 tasks to run again") || !strings.Contains(r.stderr, "retry "+id+" ") {
		t.Errorf("retry's header:\n%s", r)
	}
	if !strings.Contains(r.stdout, "flaky failed after 2 attempts") {
		t.Errorf("retry's summary:\n%s", r)
	}
	attempts("failed", "failed")

	// Refused: a task that did not fail, and one the run lacks.
	if r := e.must(1, "retry", id, "prep"); !strings.Contains(r.stderr, "task prep succeeded: only a failed or cancelled task runs again") {
		t.Errorf("retry of a succeeded task:\n%s", r)
	}
	if r := e.must(1, "retry", id, "after"); !strings.Contains(r.stderr, "its upstream flaky failed; retry that task, or the whole run") {
		t.Errorf("retry of an upstream_failed task:\n%s", r)
	}
	if r := e.must(1, "retry", id, "nope"); !strings.Contains(r.stderr, `has no task "nope"`) {
		t.Errorf("retry of an unknown task:\n%s", r)
	}

	// Fixed, left to a server with --detach: none runs here, so resume
	// finishes it.
	if err := os.WriteFile(marker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	r = e.must(0, "retry", "--detach", id)
	if !strings.Contains(r.stderr, "no cairn server runs on this home") || !strings.Contains(r.stderr, "cairn resume "+id) {
		t.Errorf("retry --detach without a server:\n%s", r)
	}
	if run := e.show(id); run.State != "running" || run.Owner != "" {
		t.Errorf("the run left for a server: %s owned by %q", run.State, run.Owner)
	}
	e.must(0, "resume", id, "--progress", "none")
	attempts("failed", "failed", "succeeded")
	run := e.show(id)
	if run.State != "succeeded" || taskByID(t, run, "after").State != "succeeded" {
		t.Errorf("the run after its retry: %s, after %s", run.State, taskByID(t, run, "after").State)
	}
	if r := e.must(1, "retry", id); !strings.Contains(r.stderr, "succeeded: nothing to run again") {
		t.Errorf("retry of a run that succeeded:\n%s", r)
	}
	if r := e.must(0, "logs", id, "flaky", "--attempt", "1"); !strings.HasPrefix(r.stdout, "broken\n") {
		t.Errorf("the first attempt's log after the retries: %q", r.stdout)
	}
}
