package main

import (
	"database/sql"
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
	if !strings.Contains(r.stderr, "only because they are recent (stored or reused within --grace 1h)") ||
		!strings.Contains(r.stderr, ": 1 needed, ") {
		t.Errorf("gc's summary does not say what is kept and why:\n%s", r)
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
	if r := e.must(1, "artifact", first, "make", "out"); !strings.Contains(r.stderr, "is no longer in the artifact store: 'cairn gc' removed it") ||
		!strings.HasSuffix(strings.TrimSpace(r.stderr), "'cairn reproduce "+first+"' runs the run again") {
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

// An attempt still running may have stored an artifact it has not
// reported yet (a checkpoint; a model it evaluates before it ends),
// however long ago: gc keeps everything stored since the oldest running
// attempt began, whatever --grace says, and takes it once that attempt
// is over (found by the trial: a plugin's artifact stored 68 s before
// 'gc --grace 1m' was removed, the task then succeeded naming it, and
// its consumer failed).
func TestGCKeepsWhatARunningAttemptMayHaveStored(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	wf := filepath.Join(t.TempDir(), "gen.yaml")
	if err := os.WriteFile(wf, []byte(`name: gen
params: {n: {type: int, default: 0}}
tasks:
  - id: make
    type: shell
    with: {script: "echo ${{ params.n }} > out.txt", outputs: {out: out.txt}}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	e.must(0, "run", wf, "-p", "n=1", "--progress", "none")
	slow := filepath.Join(t.TempDir(), "slow.yaml")
	if err := os.WriteFile(slow, []byte("name: slow\ntasks:\n  - id: train\n    type: shell\n    with: {argv: [sleep, \"60\"]}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := e.start("run", slow, "--progress", "lines")
	var id string
	waitFor(t, time.Minute, "the slow task running", func() bool {
		for _, r := range e.runs() {
			if r.Workflow == "slow" && string(taskByID(t, e.show(r.ID), "train").State) == "running" {
				id = r.ID
				return true
			}
		}
		return false
	})
	// The running attempt began three hours ago; the blobs were stored
	// two hours ago, while it ran, as far as gc can tell.
	db, err := sql.Open("sqlite3", filepath.Join(e.home, "cairn.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE task_runs SET attempt_started_at = ? WHERE lease_token IS NOT NULL`, time.Now().Add(-3*time.Hour).UnixNano()); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * time.Hour)
	var blobs []string
	filepath.WalkDir(filepath.Join(e.home, "artifacts", "sha256"), func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			blobs = append(blobs, path)
			os.Chtimes(path, old, old)
		}
		return nil
	})
	if len(blobs) == 0 {
		t.Fatal("no blob stored")
	}
	if r := e.must(0, "gc", "--keep-last", "0", "--keep-within", "0"); !strings.Contains(r.stderr, "removed 0 artifacts") {
		t.Fatalf("gc while an attempt that began before the blobs runs:\n%s", r)
	}
	e.must(0, "cancel", id)
	if code := p.wait(time.Minute); code == 0 {
		t.Fatalf("the cancelled run exited 0")
	}
	if r := e.must(0, "gc", "--keep-last", "0", "--keep-within", "0"); !strings.Contains(r.stderr, "removed "+plural(len(blobs), "artifact")) {
		t.Fatalf("gc once no attempt runs: want %d removed:\n%s", len(blobs), r)
	}
}
