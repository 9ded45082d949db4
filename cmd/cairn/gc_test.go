package main

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestGC: old runs' artifacts go, the last runs' and recent ones stay,
// --dry-run removes nothing, and an artifact stored within the grace is
// never taken.
func TestGC(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	wf := filepath.Join(t.TempDir(), "gen.yaml")
	src := `name: gen
params: {n: {type: int, default: 0}}
tasks:
  - id: make
    type: shell
    with: {script: "echo ${{ params.n }} > out.txt", outputs: {out: out.txt}}
`
	if err := os.WriteFile(wf, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"1", "2", "3"} {
		e.must(0, "run", wf, "-p", "n="+n, "--progress", "none")
	}
	blobs := func() []string {
		var out []string
		filepath.WalkDir(filepath.Join(e.home, "artifacts", "sha256"), func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				out = append(out, p)
			}
			return nil
		})
		return out
	}
	all := blobs()
	if len(all) < 3 {
		t.Fatalf("%d blobs after three runs of distinct outputs", len(all))
	}
	// Everything is recent: nothing goes.
	r := e.must(0, "gc", "--keep-last", "1", "--keep-within", "0")
	if !strings.Contains(r.stderr, "removed 0 artifacts") || len(blobs()) != len(all) {
		t.Fatalf("gc took recent artifacts:\n%s", r)
	}
	// Age every blob by two hours, and the runs' records are what decide.
	old := time.Now().Add(-2 * time.Hour)
	for _, p := range all {
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	r = e.must(0, "gc", "--keep-last", "1", "--keep-within", "0", "--dry-run")
	if !strings.Contains(r.stderr, "would remove 2 artifacts") || strings.Count(r.stdout, "would remove sha256:") != 2 || len(blobs()) != len(all) {
		t.Fatalf("dry run:\n%s", r)
	}
	r = e.must(0, "gc", "--keep-last", "1", "--keep-within", "0")
	if !strings.Contains(r.stderr, "removed 2 artifacts") || len(blobs()) != len(all)-2 {
		t.Fatalf("gc:\n%s", r)
	}
	// The last run's output is still there and readable.
	last := e.runs()[0].ID
	out := e.must(0, "artifact", last, "make", "out")
	if strings.TrimSpace(out.stdout) != "3" {
		t.Fatalf("the last run's artifact: %q", out.stdout)
	}
	// The first run's was removed: reading it says so, not "not found".
	first := e.runs()[2].ID
	if r := e.must(1, "artifact", first, "make", "out"); !strings.Contains(r.stderr, "is no longer in the artifact store: 'cairn gc' removed it") {
		t.Errorf("reading an artifact gc removed:\n%s", r.stderr)
	}
	e.must(2, "gc", "--grace", "1s")
	e.must(2, "gc", "--keep-last", "-1")
}

// gc on a home without a database (a worker's) refuses, and makes none
// (found by the trial: it said "would remove 0 artifacts" and left a
// cairn.db in the worker's home).
func TestGCWithoutDatabaseRefuses(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if err := os.MkdirAll(filepath.Join(e.home, "cache"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"gc", "--dry-run"}, {"gc"}} {
		r := e.cairn(args...)
		if r.code == 0 || !strings.Contains(r.stderr, "nothing to collect") || !strings.Contains(r.stderr, "worker") {
			t.Errorf("%v on a home without a database:\n%s", args, r)
		}
	}
	if _, err := os.Stat(filepath.Join(e.home, "cairn.db")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("gc made a database in the home: %v", err)
	}
}

// cairn retry of a failed run whose succeeded producer's output cairn gc
// removed is refused before anything changes, naming the producer, its
// output and what to do; no attempt is spent failing on "artifact not
// found" (trial finding 17).
func TestRetryAfterGCRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ok := filepath.Join(t.TempDir(), "ok")
	wf := writeWorkflow(t, "gcretry.yaml", `name: gcretry
tasks:
  - id: a
    type: shell
    with: {script: 'echo made > o.txt', outputs: {o: o.txt}}
  - id: b
    type: shell
    inputs: {i: "${{ tasks.a.outputs.o }}"}
    with: {script: 'cat "$CAIRN_INPUT_I" && test -e "`+ok+`"'}
`)
	r := e.must(1, "run", wf, "--progress", "none")
	id := runIDOf(t, r.stderr)
	old := time.Now().Add(-2 * time.Hour)
	filepath.WalkDir(filepath.Join(e.home, "artifacts", "sha256"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			os.Chtimes(p, old, old)
		}
		return nil
	})
	if r := e.must(0, "gc", "--keep-last", "0", "--keep-within", "0", "--grace", "1m"); !strings.Contains(r.stderr, "removed 1 artifact") {
		t.Fatalf("gc:\n%s", r)
	}
	if err := os.WriteFile(ok, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	r = e.must(1, "retry", id, "--progress", "none")
	for _, want := range []string{"run " + id + " cannot be retried", "task a's output o (sha256:", "run workflow gcretry again",
		"cairn reproduce " + id + " --reread"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("retry after gc lacks %q:\n%s", want, r.stderr)
		}
	}
	if s := e.show(id); s.State != "failed" || taskByID(t, s, "b").Attempts != 1 {
		t.Errorf("the refused retry changed the run: %s, b has %d attempts", s.State, taskByID(t, s, "b").Attempts)
	}
}
