package executor_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/executor"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/tasks"
)

// blockUntilStopped is a probe's behaviour for tasks whose name starts
// with "block": they run until their context ends, on their first attempt
// only; every other attempt succeeds at once.
func blockUntilStopped(causes chan<- string) func(ctx context.Context, req tasks.Request) (tasks.Result, error) {
	return func(ctx context.Context, req tasks.Request) (tasks.Result, error) {
		if !strings.HasPrefix(req.TaskID, "block") || req.Attempt > 1 {
			return echo(req)
		}
		<-ctx.Done()
		if causes != nil {
			causes <- context.Cause(ctx).Error()
		}
		return tasks.Result{}, ctx.Err()
	}
}

// detachable drives run id until the test detaches the driver (as a server
// stopping would), leaving the run as it is; detach waits for Drive to
// return.
func (r *rig) detachable(t *testing.T, id string, wf scheduler.Graph) (detach func()) {
	t.Helper()
	ctx, cancel := context.WithCancelCause(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := r.driver.Drive(ctx, id, wf)
		done <- err
	}()
	var once sync.Once
	detach = func() {
		once.Do(func() {
			cancel(scheduler.ErrDetached)
			if err := await(t, "Drive to return once detached", done); !errors.Is(err, scheduler.ErrDetached) {
				t.Errorf("Drive = %v, want it detached", err)
			}
		})
	}
	t.Cleanup(detach)
	return detach
}

// Draining a pool (what a server does on SIGTERM): Stop stops leasing and
// lets running attempts finish until its ctx ends; an attempt that finishes
// meanwhile is recorded as it ended (succeeded), and those still running
// are stopped and recorded interrupted — not failed, not cancelled — so
// that their tasks are retrying, with none of their retries used and no
// lease left, and run again at once, free, when the run goes on.
func TestPoolStopDrainsThenInterrupts(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	causes := make(chan string, 3)
	release := make(chan struct{})
	var releaseOnce sync.Once
	free := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(free)
	p := newProbe(nil)
	block := blockUntilStopped(causes)
	p.do = func(ctx context.Context, req tasks.Request) (tasks.Result, error) {
		if req.TaskID == "quick" {
			select {
			case <-release:
			case <-ctx.Done():
				return tasks.Result{}, errors.New("quick was stopped: it should have finished before the deadline")
			}
		}
		return block(ctx, req)
	}
	r := newRig(t, p)
	wf, id := r.create(t, `
name: drain
tasks:
  - {id: block1, type: probe}
  - {id: block2, type: probe}
  - {id: block3, type: probe}
  - {id: quick, type: probe}
  - {id: after, type: probe, needs: [quick]}
`)
	pool := r.startPool(t, 4)
	detach := r.detachable(t, id, wf)
	for _, task := range []string{"block1", "block2", "block3", "quick"} {
		p.waitStarted(t, task, 1)
	}
	// The server stops planning, then drains its pool.
	detach()
	deadline, end := context.WithCancel(context.Background())
	t.Cleanup(end)
	stopped := make(chan struct{})
	go func() {
		pool.stop(deadline)
		close(stopped)
	}()
	free() // quick finishes within the deadline
	waitFor(t, "quick to be recorded succeeded", func() bool {
		return r.taskRuns(t, id)["quick"].State == cairn.TaskSucceeded
	})
	select {
	case <-stopped:
		t.Fatal("Stop returned while attempts were running and its ctx had not ended")
	default:
	}
	end() // the deadline
	await(t, "Stop after its deadline", stopped)

	for i := 0; i < 3; i++ {
		if c := await(t, "a blocked attempt's context to end", causes); !strings.Contains(c, "worker stopped") {
			t.Errorf("a blocked attempt's context ended with %q, want the worker stopping", c)
		}
	}
	trs := r.taskRuns(t, id)
	for _, task := range []string{"block1", "block2", "block3"} {
		as := r.attempts(t, id, task)
		if len(as) != 1 || as[0].State != cairn.AttemptInterrupted || !strings.Contains(as[0].Error, "worker stopped") || as[0].FinishedAt.IsZero() {
			for _, a := range as {
				t.Logf("%s's attempt %d: %s, %q", task, a.Number, a.State, a.Error)
			}
			t.Errorf("%s has %d attempts, want one interrupted by the stop", task, len(as))
		}
		tr := trs[task]
		if tr.State != cairn.TaskRetrying || tr.Attempt != 1 || tr.Interrupted != 1 || tr.Attempt-tr.Interrupted != 0 {
			t.Errorf("%s is %s after %d attempts, %d interrupted; want retrying with no retry used", task, tr.State, tr.Attempt, tr.Interrupted)
		}
		if tr.LeaseToken != "" || tr.LeaseWorker != "" || !tr.LeaseExpiresAt.IsZero() {
			t.Errorf("%s keeps a lease: token %q worker %q expiry %v", task, tr.LeaseToken, tr.LeaseWorker, tr.LeaseExpiresAt)
		}
	}
	if as := r.attempts(t, id, "quick"); len(as) != 1 || as[0].State != cairn.TaskSucceeded {
		t.Errorf("quick has %d attempts (the first %s), want one succeeded", len(as), func() cairn.TaskState {
			if len(as) == 0 {
				return ""
			}
			return as[0].State
		}())
	}
	if tr := trs["after"]; tr.State != cairn.TaskPending || p.runCount("after") != 0 {
		t.Errorf("after is %s after %d runs: a draining pool must lease nothing", tr.State, p.runCount("after"))
	}

	// The next start resumes the run: the interrupted tasks run at once
	// although they have no retries.
	again := r.startPool(t, 4)
	wantRun(t, r.drive(t, id, wf), cairn.RunSucceeded)
	again.hard()
	for _, task := range []string{"block1", "block2", "block3"} {
		if tr := r.taskRuns(t, id)[task]; tr.Attempt != 2 || tr.Interrupted != 1 {
			t.Errorf("%s after the resume: %d attempts, %d interrupted; want 2, 1", task, tr.Attempt, tr.Interrupted)
		}
	}
	r.st.Close()
	goleak.VerifyNone(t, ignore)
}

// waitFor polls cond until it holds, failing the test after waitLimit.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	limit := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(limit) {
			t.Fatalf("%s: not within %s", what, waitLimit)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// beats counts the pool's heartbeat calls and what they cost the store.
type beats struct {
	executor.Leaser
	stats func() (statements, transactions int64)

	mu     sync.Mutex
	calls  []beat
	notify chan struct{}
}

type beat struct {
	leases, renewed         int
	stmtsBefore, stmtsAfter int64
	txsBefore, txsAfter     int64
	at                      time.Time
}

func (b *beats) HeartbeatMany(ctx context.Context, ls []cairn.Lease) ([]cairn.HeartbeatResult, error) {
	s0, t0 := b.stats()
	rs, err := b.Leaser.HeartbeatMany(ctx, ls)
	s1, t1 := b.stats()
	n := 0
	for _, r := range rs {
		if r.Err == nil {
			n++
		}
	}
	b.mu.Lock()
	b.calls = append(b.calls, beat{len(ls), n, s0, s1, t0, t1, time.Now()})
	b.mu.Unlock()
	select {
	case b.notify <- struct{}{}:
	default:
	}
	return rs, err
}

// The pool renews all of its leases in one call, which the store makes one
// statement in one transaction: 200 attempts blocked on a long task cost
// one write statement per heartbeat period (a third of the lease TTL),
// not 200.
func TestHeartbeatIsOneStatementForAllLeases(t *testing.T) {
	const n = 200
	p := newProbe(blockUntilStopped(nil))
	r := newRig(t, p)
	// A short TTL so that a few beats pass quickly: a beat every second.
	const ttl = 3 * time.Second
	r.broker = scheduler.NewBroker(r.st, scheduler.BrokerOptions{LeaseTTL: ttl})
	r.driver = scheduler.NewDriver(r.st, r.broker, scheduler.DriverOptions{Owner: "test:1:" + t.Name()})
	var src strings.Builder
	src.WriteString("name: many\ntasks:\n")
	for i := range n {
		fmt.Fprintf(&src, "  - {id: block%d, type: probe}\n", i)
	}
	wf, id := r.create(t, src.String())
	counter := &beats{Leaser: r.broker, notify: make(chan struct{}, 1), stats: func() (int64, int64) {
		s := r.st.WriteStats()
		return s.Statements, s.Transactions
	}}
	pool := r.startPoolOver(t, counter, n)
	detach := r.detachable(t, id, wf)
	for i := range n {
		p.waitStarted(t, fmt.Sprintf("block%d", i), 1)
	}
	// Nothing writes but the heartbeat now: no planning, no claim
	// renewal, no lease (every slot is busy).
	detach()
	counter.mu.Lock()
	first := len(counter.calls) + 1 // the next beat may have begun before the driver let go
	counter.mu.Unlock()
	const want = 4
	for {
		await(t, "a heartbeat", counter.notify)
		counter.mu.Lock()
		got := len(counter.calls) - first
		counter.mu.Unlock()
		if got >= want {
			break
		}
	}
	pool.hard()

	counter.mu.Lock()
	calls := counter.calls[first : first+want]
	counter.mu.Unlock()
	for i, c := range calls {
		if c.leases != n || c.renewed != n {
			t.Errorf("beat %d renewed %d of %d leases, want all %d in one call", i, c.renewed, c.leases, n)
		}
		if s, x := c.stmtsAfter-c.stmtsBefore, c.txsAfter-c.txsBefore; s != 1 || x != 1 {
			t.Errorf("beat %d cost %d statements in %d transactions, want 1 in 1", i, s, x)
		}
	}
	// Between the first beat measured and the last, nothing else wrote.
	last := calls[len(calls)-1]
	stmts := last.stmtsAfter - calls[0].stmtsBefore
	txs := last.txsAfter - calls[0].txsBefore
	if stmts != want || txs != want {
		t.Errorf("%d beats of %d leases: %d statements in %d transactions, want %d in %d", want, n, stmts, txs, want, want)
	}
	took := last.at.Sub(calls[0].at)
	t.Logf("%d attempts blocked, %d heartbeats: %d write statements in %d transactions over %s: %.2f statements/s "+
		"at a %s lease TTL (at the default 30s: %.2f/s; one Heartbeat per lease was %d statements per beat)",
		n, want, stmts, txs, took.Round(time.Millisecond), float64(want-1)/took.Seconds(), ttl, 3.0/30, n)
}
