//go:build linux

package main

import (
	"github.com/cairnml/cairn/internal/smalldisk"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// A disk that fills up during a run leaves it unfinished rather than
// failed: `cairn run` stops saying so (exit 1), and once space is back
// `cairn resume` finishes it, although the task has no retries. The state
// folder is a 3 MiB tmpfs (the test needs root and mount; it is skipped
// otherwise) and the task's output is 4 MB.
func TestFullDiskThenResume(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dir := smalldisk.Mount(t, e.home, "3m", ": the executor's TestFullDiskLeavesRunResumable covers the logic")
	e.home = dir

	r := e.must(1, "run", testdata(t, "fill.yaml"), "--progress", "none")
	id := runIDOf(t, r.stderr)
	if !strings.Contains(r.stderr, "no space left on device") || !strings.Contains(r.stderr, "cairn resume "+id) {
		t.Fatalf("cairn run on a full disk:\n%s", r)
	}
	s := e.show(id)
	if s.State != "running" || string(taskByID(t, s, "big").State) == "failed" {
		t.Fatalf("run %s, big %s after a full disk; want the run unfinished", s.State, taskByID(t, s, "big").State)
	}

	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_REMOUNT, "size=32m"); err != nil {
		t.Fatalf("grow the tmpfs: %v", err)
	}
	r = e.must(0, "resume", id, "--progress", "none")
	if !strings.Contains(r.stdout, "SUCCEEDED") {
		t.Fatalf("resume:\n%s", r)
	}
	if big := taskByID(t, e.show(id), "big"); big.Attempts != 2 {
		t.Errorf("big ran %d attempts, want 2 (the requeued one and the one that succeeded)", big.Attempts)
	}
}

// A run that cannot be created for want of space says that nothing was
// run and what to do, and keeps nothing of it; once space is back the
// same command runs it.
func TestRunCreatedOnFullDisk(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dir := smalldisk.Mount(t, e.home, "2m", "")
	e.home = filepath.Join(dir, "home")
	src := writeWorkflow(t, "tiny.yaml", "name: tiny\ntasks:\n  - {id: a, type: noop}\n")
	e.must(0, "run", src, "--progress", "none")
	filler := filepath.Join(dir, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := f.Write(make([]byte, 4096)); err != nil {
			break // the disk is full
		}
	}
	f.Close()
	for _, args := range [][]string{{"run", src, "--progress", "none"}, {"run", src, "--detach"}} {
		r := e.must(1, args...)
		if !strings.Contains(r.stderr, "no space left on device") || !strings.Contains(r.stderr, "nothing was run") || !strings.Contains(r.stderr, "free space") {
			t.Errorf("cairn %s on a full disk:\n%s", strings.Join(args, " "), r)
		}
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if runs := e.runs(); len(runs) != 1 {
		t.Fatalf("%d runs after the refused ones, want the first alone", len(runs))
	}
	e.must(0, "run", src, "--progress", "none")
}

// A restore that runs out of space into an empty home takes back what it
// wrote and says so: the home is as it was, and once space is back the
// same restore works without --force (it left half the artifacts and no
// database, and the retry was refused as "not empty"; found by the
// trial). The home is a 3 MiB tmpfs; the backup holds 4.2 MB.
func TestRestoreOnFullDiskLeavesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	src := writeWorkflow(t, "big.yaml", `name: big
tasks:
  - id: a
    type: shell
    with:
      script: head -c 1500000 /dev/urandom > a.bin
      outputs: {data: a.bin}
  - id: b
    type: shell
    with:
      script: head -c 2700000 /dev/urandom > b.bin
      outputs: {data: b.bin}
`)
	e.must(0, "run", src, "--progress", "none")
	backup := filepath.Join(t.TempDir(), "bk")
	e.must(0, "backup", backup)

	dir := smalldisk.Mount(t, t.TempDir(), "3m", "")
	home := filepath.Join(dir, "home")
	small := &env{t: t, home: home}
	r := small.must(1, "restore", backup)
	if !strings.Contains(r.stderr, "no space left on device") || !strings.Contains(r.stderr, "nothing was restored") {
		t.Fatalf("restore onto a full disk:\n%s", r)
	}
	if entries, _ := os.ReadDir(home); len(entries) != 0 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Fatalf("the failed restore left %v in the home", names)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_REMOUNT, "size=32m"); err != nil {
		t.Fatalf("grow the tmpfs: %v", err)
	}
	small.must(0, "restore", backup)
	if runs := small.runs(); len(runs) != 1 || runs[0].State != "succeeded" {
		t.Fatalf("runs after the restore: %+v", runs)
	}
}
