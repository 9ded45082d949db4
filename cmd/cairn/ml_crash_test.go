package main

import (
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cairnml/cairn"
)

// kill -9 of cairn while an ML pipeline's tune runs, then resume: the run
// finishes, the tasks that had succeeded are not run again, the interrupted
// tune counts one failed attempt and runs again, and every output is the
// same to the byte as an uninterrupted run's.
func TestMLCrashAndResumeReproduces(t *testing.T) {
	t.Parallel()
	wf := testdata(t, "ml-crash.yaml")

	clean := newEnv(t)
	want := clean.show(runIDOf(t, clean.must(0, "run", wf, "--progress", "none").stderr))

	e := newEnv(t)
	p := e.start("run", wf, "--progress", "lines")
	id := p.runID()
	waitFor(t, 30*time.Second, "tune running", func() bool {
		if p.exited() {
			t.Fatalf("cairn exited before tune ran:\n%s", p.stderr.String())
		}
		return strings.Contains(p.stderr.String(), "task tune running")
	})
	time.Sleep(time.Duration(rand.N(300)) * time.Millisecond) // somewhere in the search
	p.kill9()
	if s := e.show(id); taskByID(t, s, "tune").State != cairn.TaskRunning {
		t.Fatalf("tune finished before the kill; make the search slower: %+v", taskByID(t, s, "tune"))
	}

	r := e.must(0, "resume", id, "--progress", "none")
	if !strings.Contains(r.stdout, "SUCCEEDED") {
		t.Fatalf("resume:\n%s", r)
	}
	got := e.show(id)
	for i, tj := range got.Tasks {
		wantAttempts := 1
		if tj.ID == "tune" {
			wantAttempts = 2
			if len(tj.Attempt) != 2 || !strings.Contains(tj.Attempt[0].Error, "interrupted") {
				t.Errorf("tune's attempts: %+v", tj.Attempt)
			}
		}
		if tj.Attempts != wantAttempts {
			t.Errorf("task %s: %d attempts, want %d", tj.ID, tj.Attempts, wantAttempts)
		}
		if w := want.Tasks[i]; !reflect.DeepEqual(outputsText(tj.Outputs), outputsText(w.Outputs)) || !reflect.DeepEqual(tj.Metrics, w.Metrics) {
			t.Errorf("task %s after a crash and resume differs from an uninterrupted run:\n%v\n%v", tj.ID, outputsText(tj.Outputs), outputsText(w.Outputs))
		}
	}
}
