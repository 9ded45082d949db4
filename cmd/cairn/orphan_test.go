package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A process the command started itself outlives a kill -9 of cairn (only
// the direct child dies with it); `cairn resume` kills it before the task
// is retried, so the interrupted attempt never runs on beside its retry.
func TestResumeKillsWhatTheInterruptedAttemptLeft(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	pidfile := filepath.Join(t.TempDir(), "grandchild.pid")
	run := e.start("run", testdata(t, "orphan.yaml"), "-p", "pidfile="+pidfile, "--progress", "lines")
	id := run.runID()
	var pid int
	waitFor(t, 10*time.Second, "the grandchild's pid", func() bool {
		b, err := os.ReadFile(pidfile)
		if err != nil {
			return false
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil && pid > 0
	})
	start := startTicks(pid)
	t.Cleanup(func() {
		if startTicks(pid) == start { // still the grandchild, not a process that took its pid
			killPid(pid)
		}
	})
	run.kill9()
	time.Sleep(100 * time.Millisecond)
	if !alive(pid) {
		t.Fatalf("the grandchild %d died with cairn: this test no longer shows the orphan", pid)
	}
	r := e.must(0, "resume", id)
	if alive(pid) {
		t.Fatalf("the grandchild %d of the interrupted attempt still runs after resume\n%s", pid, r)
	}
	s := e.show(id)
	spawn := taskByID(t, s, "spawn")
	if s.State != "succeeded" || spawn.Attempts != 2 {
		t.Fatalf("run %s, spawn %s after %d attempts; want succeeded after 2", s.State, spawn.State, spawn.Attempts)
	}
}

func killPid(pid int) {
	if p, err := os.FindProcess(pid); err == nil {
		_ = p.Kill()
	}
}
