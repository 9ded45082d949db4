package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Two servers on one home: the second says that the first runs there, and
// the info file names a live one as long as one runs, whichever stops
// first, so that 'cairn run --detach' never says that no server runs while
// one does.
func TestServerInfoWithTwoServers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	wf := writeWorkflow(t, "one.yaml", "name: one\ntasks:\n  - id: a\n    type: noop\n")
	startedBy := func(s *server) string {
		return fmt.Sprintf("cairn server (pid %d, %s) starts it", s.pid(), s.addr)
	}

	a := e.startServer(nil)
	b := e.startServer(nil)
	if l := b.waitLog(10*time.Second, "another cairn server runs on this database: both schedule its runs, each running the tasks of the runs it holds",
		nil); l.str("owner") != a.owner {
		t.Errorf("the second server names %q as the other, want %q", l.str("owner"), a.owner)
	}
	if _, r := e.detach(wf); !strings.Contains(r.stderr, startedBy(a)) {
		t.Errorf("run --detach with two servers up, want the first named:\n%s", r.stderr)
	}

	// The second stops: the first still runs, and is still named.
	b.term()
	b.wait(30 * time.Second)
	if _, r := e.detach(wf); !strings.Contains(r.stderr, startedBy(a)) {
		t.Errorf("run --detach after the second server stopped, want the first named:\n%s", r.stderr)
	}

	// A third, then the first stops: the third is named within a few
	// seconds (it checks the file every advertiseEvery).
	c := e.startServer(nil)
	a.term()
	a.wait(30 * time.Second)
	waitFor(t, 10*time.Second, "run --detach to name the remaining server", func() bool {
		_, r := e.detach(wf)
		return strings.Contains(r.stderr, startedBy(c))
	})
	c.term()
	c.wait(30 * time.Second)
	if _, r := e.detach(wf); !strings.Contains(r.stderr, "no cairn server runs on this home") {
		t.Errorf("run --detach with no server left:\n%s", r.stderr)
	}
}

// logs -f of a task whose server is killed: the follower says that the run
// is orphaned and what finishes it, instead of waiting in silence; when the
// next server takes the run over it says so, and follows the task's next
// attempt to its end.
func TestLogsFollowSaysOrphaned(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	marker := filepath.Join(t.TempDir(), "second")
	// The first attempt waits for good; the second (after the kill) ends
	// after a second.
	wf := writeWorkflow(t, "wait.yaml", fmt.Sprintf(`name: wait
tasks:
  - id: a
    type: shell
    with:
      script: |
        echo "attempt $CAIRN_ATTEMPT"
        if [ -e %[1]s ]; then sleep 1; echo done; exit 0; fi
        touch %[1]s
        sleep 300
`, marker))
	s := e.startServer(nil)
	id, _ := e.detach(wf)
	f := e.start("logs", id, "a", "-f")
	waitFor(t, 30*time.Second, "the first attempt's output", func() bool { return strings.Contains(f.stdout.String(), "attempt 1") })
	s.kill9()

	note := "run " + id + " is orphaned (the process driving it died; a cairn server takes it over): cairn resume " + id + "; still following\n"
	waitFor(t, 10*time.Second, "logs -f to say the run is orphaned", func() bool { return strings.Contains(f.stderr.String(), note) || f.exited() })
	if f.exited() {
		t.Fatalf("logs -f exited when the server was killed:\n%s", f.stderr.String())
	}
	next := e.startServer(nil)
	if code := f.wait(60 * time.Second); code != 0 {
		t.Fatalf("logs -f exited %d:\n%s", code, f.stderr.String())
	}
	if again := "run " + id + " is driven again, by " + next.owner + "; following\n"; !strings.Contains(f.stderr.String(), again) {
		t.Errorf("logs -f did not say that the next server drives the run (%q):\n%s", again, f.stderr.String())
	}
	if out := f.stdout.String(); !strings.HasSuffix(out, "attempt 2\ndone\n") {
		t.Errorf("logs -f did not follow the second attempt to its end:\n%s", out)
	}
}

// show of a queued run says what it waits for: a server, when none runs
// on the home, or the server that runs (a run held back by its workflow's
// max_active_runs).
func TestShowQueuedSaysWhatItWaitsFor(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	wf := writeWorkflow(t, "one.yaml", "name: one\nmax_active_runs: 1\ntasks:\n  - id: a\n    type: shell\n    with: {argv: [sleep, '300']}\n")
	first, _ := e.detach(wf)
	want := "waits     for a cairn server, and none runs on this home: start one ('cairn server'), or cancel it: cairn cancel " + first + "\n"
	if out := e.must(0, "show", first).stdout; !strings.Contains(out, want) {
		t.Errorf("show of a queued run with no server, want %q:\n%s", want, out)
	}
	s := e.startServer(nil)
	second, _ := e.detach(wf)
	e.waitRunState(30*time.Second, first, "running")
	want = fmt.Sprintf("waits     for cairn server (pid %d, %s) to start it, within the active-run limits\n", s.pid(), s.addr)
	if out := e.must(0, "show", second).stdout; !strings.Contains(out, want) {
		t.Errorf("show of a run queued behind max_active_runs, want %q:\n%s", want, out)
	}
	if out := e.must(0, "show", first).stdout; strings.Contains(out, "waits") {
		t.Errorf("show of a running run says it waits:\n%s", out)
	}
}
