//go:build linux

package main

import (
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
	dir := filepath.Join(e.home, "small")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=3m"); err != nil {
		t.Skipf("cannot mount a small tmpfs here (%v): the executor's TestFullDiskLeavesRunResumable covers the logic", err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
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
