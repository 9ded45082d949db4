package executor_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/tasks"
)

// fanOf is a workflow of independent probe tasks with these ids.
func fanOf(ids ...string) string {
	var sb strings.Builder
	sb.WriteString("name: fan\ntasks:\n")
	for _, id := range ids {
		fmt.Fprintf(&sb, "  - {id: %s, type: probe}\n", id)
	}
	return sb.String()
}

func names(prefix string, n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s%d", prefix, i)
	}
	return ids
}

// A fan of quick attempts leases ahead: its reports share commits beyond
// one per slot (without leasing ahead a commit carries at most one report
// a slot, so 600 tasks on 4 slots take at least 150 commits), while no
// more attempts run at once than there are slots and every task runs once.
// Every try must stay under those 150 commits; leasing ahead begins only
// after 4 quick attempts a slot in a row (under 1 ms each), which a loaded
// machine gives later, so a try over half of them (75) is made again, up
// to 3, and one of them must get under it.
func TestLeaseAheadSharesCommits(t *testing.T) {
	const n, slots, tries = 600, 4, 3
	for try := 1; ; try++ {
		commits := leaseAheadSharesCommits(t, n, slots)
		if commits >= n/slots {
			t.Fatalf("%d commits for %d quick tasks on %d slots: want fewer than %d, the least without leasing ahead (reports leased ahead share commits)",
				commits, n, slots, n/slots)
		}
		if commits < n/slots/2 {
			t.Logf("%d commits (try %d)", commits, try)
			return
		}
		if try == tries {
			t.Fatalf("%d commits for %d quick tasks on %d slots in the last of %d tries: want fewer than %d in one (reports leased ahead share commits)",
				commits, n, slots, tries, n/slots/2)
		}
		t.Logf("try %d: %d commits, not under %d: again", try, commits, n/slots/2)
	}
}

func leaseAheadSharesCommits(t *testing.T, n, slots int) int {
	t.Helper()
	p := newProbe(nil)
	r := newRig(t, p)
	wf, id := r.create(t, fanOf(names("t", n)...))
	before := r.st.WriteStats().Transactions
	stop := r.startPool(t, slots)
	if run := r.drive(t, id, wf); run.State != cairn.RunSucceeded {
		t.Fatalf("run %s: %s", run.State, run.Error)
	}
	commits := r.st.WriteStats().Transactions - before
	if m := p.maxConcurrent(); m > slots {
		t.Errorf("%d attempts ran at once on %d slots", m, slots)
	}
	trs, err := r.st.ListTaskRuns(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range trs {
		if tr.State != cairn.TaskSucceeded || tr.Attempt != 1 || p.runCount(tr.TaskID) != 1 {
			t.Fatalf("task %s: %s after %d attempts, run %d times; want succeeded once", tr.TaskID, tr.State, tr.Attempt, p.runCount(tr.TaskID))
		}
	}
	stop.hard()
	return int(commits)
}

// Items leased ahead are given back to the queue when no slot takes one
// for a while — every slot busy with an attempt that turned out slow —:
// ready again, their attempt not counted, and each runs once later.
func TestLeaseAheadGivesBackBehindSlowAttempts(t *testing.T) {
	// Leasing ahead begins only after 4 quick attempts a slot in a row
	// (under 1 ms each), which a loaded -race run may not give: a try in
	// which nothing was leased ahead is made again, up to 5.
	for try := 1; ; try++ {
		n := givesBackBehindSlowAttempts(t)
		if n > 0 {
			t.Logf("%d tasks given back (try %d)", n, try)
			return
		}
		if try == 5 {
			t.Fatal("nothing was leased ahead and given back in 5 tries: the test did not test it")
		}
	}
}

// givesBackBehindSlowAttempts runs the test's scenario once and returns
// how many tasks were given back.
func givesBackBehindSlowAttempts(t *testing.T) int {
	const slots = 2
	release := make(chan struct{})
	p := newProbe(func(ctx context.Context, req tasks.Request) (tasks.Result, error) {
		if strings.HasPrefix(req.TaskID, "slow") {
			select {
			case <-release:
			case <-ctx.Done():
				return tasks.Result{}, ctx.Err()
			}
		}
		return echo(req)
	})
	r := newRig(t, p)
	var (
		mu    sync.Mutex
		given = map[string]bool{}
	)
	r.broker = scheduler.NewBroker(r.st, scheduler.BrokerOptions{Observe: func(e scheduler.Event) {
		if e.To == cairn.TaskReady && e.From.Active() {
			mu.Lock()
			given[e.TaskID] = true
			mu.Unlock()
		}
	}})
	r.driver = scheduler.NewDriver(r.st, r.broker, scheduler.DriverOptions{Owner: "test:1:" + t.Name()})
	// Quick ones first (leasing ahead begins after 4 a slot), then one
	// slow one a slot, then quick ones that are leased ahead behind them.
	ids := append(append(names("q", 40), names("slow", slots)...), names("r", 10)...)
	wf, id := r.create(t, fanOf(ids...))
	r.startPool(t, slots)
	done := r.driveAsync(t, id, wf)
	for i := range slots {
		p.waitStarted(t, fmt.Sprintf("slow%d", i), 1)
	}
	// No r task is held running behind the slow ones: those leased ahead
	// are ready in the store again before the slow ones end.
	deadline := time.Now().Add(waitLimit / 2) // within the drive's limit
	for {
		trs, err := r.st.ListTaskRuns(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		held := 0
		for _, tr := range trs {
			// One may have run before the slow ones began (the leases
			// of a commit go to its reports in turn).
			if strings.HasPrefix(tr.TaskID, "r") && tr.State.Active() {
				held++
			}
			if strings.HasPrefix(tr.TaskID, "r") && tr.State == cairn.TaskReady && tr.Attempt != 0 {
				t.Fatalf("task %s given back at attempt %d, want 0", tr.TaskID, tr.Attempt)
			}
		}
		if held == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d r tasks still held by the pool while the slow ones run", held)
		}
		time.Sleep(5 * time.Millisecond)
	}
	mu.Lock()
	n := len(given)
	mu.Unlock()
	close(release)
	res := await(t, "the run's end", done)
	if res.err != nil || res.run.State != cairn.RunSucceeded {
		t.Fatalf("run: %v, %+v", res.err, res.run)
	}
	for _, id := range ids {
		if c := p.runCount(id); c != 1 {
			t.Errorf("task %s ran %d times, want once", id, c)
		}
	}
	for _, tr := range mustTaskRuns(t, r, id) {
		if tr.Attempt != 1 || tr.Interrupted != 0 {
			t.Errorf("task %s: %d attempts, %d interrupted; want one, none", tr.TaskID, tr.Attempt, tr.Interrupted)
		}
		as, err := r.st.ListAttempts(context.Background(), id, tr.TaskID)
		if err != nil {
			t.Fatal(err)
		}
		if len(as) != 1 || as[0].State != cairn.TaskSucceeded {
			t.Errorf("task %s's attempts: %+v, want one, succeeded", tr.TaskID, as)
		}
	}
	return n
}

func mustTaskRuns(t *testing.T, r *rig, id string) []*cairn.TaskRun {
	t.Helper()
	trs, err := r.st.ListTaskRuns(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return trs
}
