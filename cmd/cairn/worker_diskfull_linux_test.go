//go:build linux

package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/internal/smalldisk"
)

// A remote worker whose home's disk is full does not fail the task it
// leased (a command whose output does not fit, its ENOSPC only in its
// log and exit code) nor lease more: it hands the attempt back, free of
// the task's retries, and exits 1 saying to free space; another worker
// then runs the task (trial finding 7: each attempt failed in 0.1 s and
// the worker leased the next, burning retries). The home is a 3 MiB
// tmpfs (the test needs root and mount; it is skipped otherwise).
func TestRemoteWorkerStopsOnFullDisk(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	small := smalldisk.Mount(t, t.TempDir(), "3m", ": the executor's TestFullScratchDiskHaltsTheWorker covers the pool")

	_, tok := e.token("worker")
	srv := e.startServer(nil, "--workers", "0")
	wf := writeWorkflow(t, "bigout.yaml", `
name: bigout
tasks:
  - id: big
    type: shell
    retries: 2
    with:
      script: head -c 5000000 /dev/zero > out.bin
`)
	a := e.startWorkerAt(filepath.Join(small, "home"), srv, tok, nil, "--concurrency", "1")
	id, _ := e.detach(wf)
	if code := a.wait(60 * time.Second); code != 1 {
		t.Fatalf("the worker on a full disk exited %d, want 1:\n%s", code, a.stderr.String())
	}
	if stderr := a.stderr.String(); !strings.Contains(stderr, "is full") || !strings.Contains(stderr, "free space in") {
		t.Fatalf("the worker's stderr does not say its disk is full and what to do:\n%s", stderr)
	}
	if big := taskByID(t, e.show(id), "big"); string(big.State) == "failed" || big.Attempts != 1 {
		t.Fatalf("big is %s after %d attempts on a full worker; want one attempt, handed back", big.State, big.Attempts)
	}

	b := e.startWorker(srv, tok, nil, "--concurrency", "1")
	e.waitRunState(60*time.Second, id, "succeeded")
	as := e.attemptsOf(id, "big")
	if len(as) != 2 || as[0].State != cairn.AttemptInterrupted || as[1].Worker != b.id || as[1].State != cairn.TaskSucceeded {
		t.Fatalf("attempts %+v: want the full worker's interrupted, then the other's succeeded", as)
	}
}
