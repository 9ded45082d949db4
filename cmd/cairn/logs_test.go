package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// `cairn logs -f` prints a running task's output as it comes, goes on to
// its retry, and exits when the task is finished.
func TestLogsFollow(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	run, id, openGate := e.startChatty(t)
	follow := e.start("logs", id, "talk", "-f")
	firstLineOnly(t, follow)
	openGate()
	if code := follow.wait(20 * time.Second); code != 0 {
		t.Fatalf("logs -f: exit %d\n%s", code, follow.stderr.String())
	}
	if code := run.wait(20 * time.Second); code != 0 {
		t.Fatalf("run: exit %d\n%s", code, run.stderr.String())
	}
	want := "attempt 1 begins\nattempt 1 ends\n"
	got := follow.stdout.String()
	if !strings.HasPrefix(got, want) || !strings.Contains(got, "attempt 2 begins\nattempt 2 ends\n") {
		t.Fatalf("logs -f printed %q, want both attempts' lines in order", got)
	}
	if !strings.Contains(follow.stderr.String(), "--- attempt 2 ---") {
		t.Fatalf("logs -f did not mark the second attempt: %q", follow.stderr.String())
	}
	// With --attempt it follows that attempt only, here already finished.
	r := e.must(0, "logs", id, "talk", "--attempt", "1", "-f")
	if !strings.Contains(r.stdout, "attempt 1 ends") || strings.Contains(r.stdout, "attempt 2") {
		t.Fatalf("logs --attempt 1 -f printed %q", r.stdout)
	}
}

// startChatty starts `cairn run` of chatty.yaml, whose attempt prints its
// last line only once the gate the returned openGate makes exists — made
// when logs -f has printed the first, not after a sleep that a loaded
// machine (a slow server, a slow logs -f) may outlast — and returns once
// its task runs.
func (e *env) startChatty(t *testing.T) (run *proc, id string, openGate func()) {
	t.Helper()
	gate := filepath.Join(t.TempDir(), "gate")
	openGate = func() {
		if err := os.WriteFile(gate, nil, 0o600); err != nil {
			t.Error(err)
		}
	}
	t.Cleanup(openGate) // a test that failed first does not leave the task waiting
	run = e.start("run", testdata(t, "chatty.yaml"), "-p", "gate="+gate, "--progress", "lines")
	id = run.runID()
	waitFor(t, 10*time.Second, "the task to start", func() bool {
		return strings.Contains(run.stderr.String(), "task talk running")
	})
	return run, id, openGate
}

// firstLineOnly waits for follow (logs -f of chatty's task) to print the
// attempt's first line while it runs (the worker moves output to the log
// every 0.25 s, -f polls as often), and fails t if it printed the last,
// which the attempt prints only after its gate opens.
func firstLineOnly(t *testing.T, follow *proc) {
	t.Helper()
	var first string
	waitFor(t, 10*time.Second, "the first line while the attempt runs", func() bool {
		first = follow.stdout.String()
		return strings.Contains(first, "attempt 1 begins")
	})
	if strings.Contains(first, "attempt 1 ends") {
		t.Fatalf("logs -f printed the attempt's last line before the attempt could print it: %q", first)
	}
}
