package main

// End-to-end tests of the signal path: the first Ctrl-C or SIGTERM
// cancels and says how long it waits, a second one stops at once, and a
// command ended by a signal exits 128 + its number.

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startTrapper starts a run of testdata/trapper.yaml (one shell task that
// ignores SIGTERM) with a stop grace of ten minutes, and waits until its
// task runs; it returns the process, the run id and the task's pid.
func startTrapper(t *testing.T, e *env) (*proc, string, int) {
	t.Helper()
	pidfile := filepath.Join(t.TempDir(), "deaf.pid")
	p := e.start("run", testdata(t, "trapper.yaml"), "-p", "pidfile="+pidfile, "--progress", "lines", "--stop-grace", "10m")
	id := p.runID()
	waitTask(t, e, p, id, "deaf", "running")
	waitFor(t, 10*time.Second, "the task's pid file", func() bool {
		_, err := os.Stat(pidfile)
		return err == nil
	})
	pid := readPid(t, pidfile)
	killGroupOnCleanup(t, pid)
	return p, id, pid
}

// The first Ctrl-C records the run cancelled and says it waits (here for
// a task that ignores SIGTERM, up to the ten-minute stop grace); the
// second one ends the process at once with 130, and the task with it.
func TestSecondCtrlCStopsAtOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p, id, pid := startTrapper(t, e)

	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, "the cancelling message", func() bool {
		return strings.Contains(p.stderr.String(), "cancelling: waiting up to 10m0s for tasks to stop; Ctrl-C again to force")
	})
	waitFor(t, 15*time.Second, "the run recorded cancelled", func() bool { return e.show(id).State == "cancelled" })
	if p.exited() {
		t.Fatalf("cairn exited after one Ctrl-C although its task ignores SIGTERM for 10m:\n%s", p.stderr.String())
	}
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	// Without the second Ctrl-C it would wait ten minutes.
	if code := p.wait(30 * time.Second); code != 130 {
		t.Errorf("exit status %d after a second Ctrl-C, want 130\n%s", code, p.stderr.String())
	}
	expectGone(t, pid, "the task's shell")
	s := e.show(id)
	if s.State != "cancelled" || string(taskByID(t, s, "deaf").State) != "cancelled" {
		t.Errorf("run %s, task %s; want both cancelled", s.State, taskByID(t, s, "deaf").State)
	}
}

// SIGTERM cancels like Ctrl-C and the run's process exits 143.
func TestSIGTERMExits143(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p, id, pid := startSleeper(t, e)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(30 * time.Second); code != 143 {
		t.Errorf("exit status %d after SIGTERM, want 143\n%s", code, p.stderr.String())
	}
	if !strings.Contains(p.stderr.String(), "SIGTERM again to force") {
		t.Errorf("no cancelling message:\n%s", p.stderr.String())
	}
	if s := e.show(id); s.State != "cancelled" {
		t.Errorf("run %s after SIGTERM, want cancelled", s.State)
	}
	expectGone(t, pid, "the cancelled task's process")
}

// `logs -f` interrupted exits 130.
func TestLogsFollowInterruptedExits130(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	run, id, _ := startTrapper(t, e)
	follow := e.start("logs", id, "deaf", "-f")
	waitFor(t, 15*time.Second, "logs -f to print the task's first line", func() bool {
		return strings.Contains(follow.stdout.String(), "ready")
	})
	if err := follow.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if code := follow.wait(30 * time.Second); code != 130 {
		t.Errorf("logs -f exit status %d after Ctrl-C, want 130\n%s", code, follow.stderr.String())
	}
	// The run: two Ctrl-C, the second once the first was seen (the kernel
	// merges a signal sent while the same one is pending).
	_ = run.cmd.Process.Signal(os.Interrupt)
	waitFor(t, 15*time.Second, "the cancelling message", func() bool {
		return strings.Contains(run.stderr.String(), "Ctrl-C again to force")
	})
	_ = run.cmd.Process.Signal(os.Interrupt)
	if code := run.wait(30 * time.Second); code != 130 {
		t.Errorf("run: exit status %d after two Ctrl-C, want 130\n%s", code, run.stderr.String())
	}
}
