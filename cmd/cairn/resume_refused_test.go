package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A resume refused because another live process drives the run leaves the
// run alone: its process used to start its worker pool before asking for
// the run, lease a ready task of the live run, run it and complete it
// without planning what follows, so the live run waited for ever on a
// downstream task left pending.
func TestRefusedResumeRunsNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dir := t.TempDir()
	gate := filepath.Join(dir, "go")
	wf := filepath.Join(dir, "race.yaml")
	src := `name: race
params:
  gate: {type: string}
tasks:
  - id: hold
    type: shell
    with:
      env: {GATE: "${{ params.gate }}"}
      script: 'while [ ! -e "$GATE" ]; do sleep 0.05; done'
  - id: c
    type: shell
    with: {argv: [echo, c]}
  - id: d
    type: shell
    needs: [c]
    with: {argv: [echo, d]}
`
	if err := os.WriteFile(wf, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	// One worker: while hold runs, c waits ready for a slot.
	p := e.start("run", wf, "-p", "gate="+gate, "--workers", "1", "--progress", "lines")
	id := p.runID()
	waitTask(t, e, p, id, "hold", "running")
	waitTask(t, e, p, id, "c", "ready")

	for i := 0; i < 10; i++ {
		r := e.must(1, "resume", id, "--workers", "4")
		// Refused before the run's header is printed (found by the trial).
		if !strings.Contains(r.stderr, "owned by another live process") || strings.Contains(r.stderr, "resume "+id) {
			t.Fatalf("resume %d of a live run:\n%s", i+1, r)
		}
	}
	s := e.show(id)
	if c := taskByID(t, s, "c"); c.State != "ready" || c.Attempts != 0 {
		t.Fatalf("after refused resumes, c is %s with %d attempts; want ready with none (a refused resume ran it)", c.State, c.Attempts)
	}

	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(30 * time.Second); code != 0 {
		t.Fatalf("the run exited %d\n%s", code, p.stderr.String())
	}
	s = e.show(id)
	if s.State != "succeeded" {
		t.Errorf("run %s, want succeeded", s.State)
	}
	for _, task := range []string{"hold", "c", "d"} {
		if tr := taskByID(t, s, task); tr.State != "succeeded" || tr.Attempts != 1 {
			t.Errorf("task %s: %s after %d attempts, want succeeded after 1", task, tr.State, tr.Attempts)
		}
	}
}
