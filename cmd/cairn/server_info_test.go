package main

import (
	"fmt"
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
