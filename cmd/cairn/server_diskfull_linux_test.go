//go:build linux

package main

import (
	"github.com/cairnml/cairn/internal/smalldisk"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A disk that fills up under a server halts its worker pool. The server
// stops then, with an error that says what to do (exit 1), rather than
// staying up, ready, starting queued runs whose tasks nobody runs and
// holding them from every other scheduler. The run it held is left
// unfinished, not failed; once space is back the next server finishes it,
// although the task has no retries. The home is a 3 MiB tmpfs (the test
// needs root and mount; it is skipped otherwise) and the task's output is
// 4 MB.
func TestServerStopsOnFullDisk(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dir := smalldisk.Mount(t, e.home, "3m", ": TestFullDiskThenResume's executor test covers the pool")
	e.home = dir

	s := e.startServer(nil)
	id, _ := e.detach(testdata(t, "fill.yaml"))
	if code := s.wait(60 * time.Second); code != 1 {
		t.Fatalf("cairn server on a full disk exited %d, want 1:\n%s", code, s.stderr.String())
	}
	stderr := s.stderr.String()
	if _, ok := s.find("the worker pool stopped: the server stops, leaving its runs to resume; free space, then start it again", nil); !ok ||
		!strings.Contains(stderr, "no space left on device") || !strings.Contains(stderr, "start 'cairn server' again") {
		t.Fatalf("the server's stderr does not say the disk is full and what to do:\n%s", stderr)
	}
	r := e.show(id)
	if r.State != "running" || !r.Orphaned || string(taskByID(t, r, "big").State) == "failed" {
		t.Fatalf("run %s (orphaned %v), big %s after a full disk; want the run unfinished, let go",
			r.State, r.Orphaned, taskByID(t, r, "big").State)
	}

	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_REMOUNT, "size=32m"); err != nil {
		t.Fatalf("grow the tmpfs: %v", err)
	}
	e.startServer(nil)
	e.waitRunState(60*time.Second, id, "succeeded")
	if big := taskByID(t, e.show(id), "big"); big.Attempts != 2 || big.Interrupted != 1 {
		t.Errorf("big ran %d attempts (%d interrupted), want 2 (1): the one the full disk stopped, then the one that succeeded",
			big.Attempts, big.Interrupted)
	}
}
