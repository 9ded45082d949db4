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

// asking is the rig's broker, recording the most items a report asked for.
type asking struct {
	*scheduler.Broker
	mu      sync.Mutex
	maxNext int
	reports int
}

func (a *asking) CompleteAndLease(ctx context.Context, l cairn.Lease, c cairn.Completion, next cairn.LeaseRequest) ([]cairn.WorkItem, error) {
	a.mu.Lock()
	a.maxNext = max(a.maxNext, next.Max)
	a.reports++
	a.mu.Unlock()
	return a.Broker.CompleteAndLease(ctx, l, c, next)
}

func fanOf(n int, typ string) string {
	var sb strings.Builder
	sb.WriteString("name: fan\ntasks:\n")
	for i := range n {
		fmt.Fprintf(&sb, "  - {id: t%d, type: %s}\n", i, typ)
	}
	return sb.String()
}

// Attempts that take no time are reported behind their slots, which lease
// ahead: a report asks for more than the slot's next item, so that the
// reports of a commit are not bounded by the slots. Still, no more
// attempts run at once than there are slots, and each task runs once.
func TestPoolLeasesAheadForQuickAttempts(t *testing.T) {
	p := newProbe(nil)
	r := newRig(t, p)
	wf, id := r.create(t, fanOf(300, "probe"))
	a := &asking{Broker: r.broker}
	r.startPoolOver(t, a, 2)
	run := r.drive(t, id, wf)
	wantRun(t, run, cairn.RunSucceeded)
	for i := range 300 {
		if n := p.runCount(fmt.Sprintf("t%d", i)); n != 1 {
			t.Errorf("t%d ran %d times, want once", i, n)
		}
	}
	if got := p.maxConcurrent(); got > 2 {
		t.Errorf("%d attempts ran at once on 2 slots", got)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.maxNext <= 1 {
		t.Errorf("no report leased ahead (the most asked for was %d) over %d quick attempts", a.maxNext, a.reports)
	}
}

// Attempts that take a while are reported by their slot, asking for one
// item: the next the slot runs.
func TestPoolDoesNotLeaseAheadForSlowAttempts(t *testing.T) {
	p := newProbe(func(ctx context.Context, req tasks.Request) (tasks.Result, error) {
		time.Sleep(3 * time.Millisecond)
		return echo(req)
	})
	r := newRig(t, p)
	wf, id := r.create(t, fanOf(20, "probe"))
	a := &asking{Broker: r.broker}
	r.startPoolOver(t, a, 2)
	wantRun(t, r.drive(t, id, wf), cairn.RunSucceeded)
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.maxNext > 1 {
		t.Errorf("a report of a slow attempt asked for %d items", a.maxNext)
	}
}

// A pool stopped while it leases ahead leaves no task leased or running:
// each item it held either ran and was reported, or was reported
// interrupted without running (and is retried, free, by the next pool).
func TestPoolStopLeavesNothingLeasedAhead(t *testing.T) {
	var once sync.Once
	stopNow := make(chan struct{})
	count := 0
	var mu sync.Mutex
	p := newProbe(func(ctx context.Context, req tasks.Request) (tasks.Result, error) {
		mu.Lock()
		count++
		if count == 100 {
			once.Do(func() { close(stopNow) })
		}
		mu.Unlock()
		return echo(req)
	})
	r := newRig(t, p)
	wf, id := r.create(t, fanOf(2000, "probe"))
	pool := r.startPool(t, 2)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := r.driver.Drive(ctx, id, wf)
		done <- err
	}()
	await(t, "100 attempts", stopNow)
	stopCtx, cancelStop := context.WithTimeout(context.Background(), waitLimit)
	defer cancelStop()
	pool.stop(stopCtx)
	for task, tr := range r.taskRuns(t, id) {
		if tr.State.Active() {
			t.Errorf("%s is %s after the pool stopped", task, tr.State)
		}
	}
	cancel()
	<-done
}
