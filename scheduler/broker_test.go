package scheduler_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
)

// createReady creates a running run whose n tasks (t0, t1, ...) are ready,
// without a workflow: for tests that act as workers themselves.
func (r *rig) createReady(t *testing.T, n int, retry cairn.RetryPolicy) string {
	t.Helper()
	now := time.Now()
	run := &cairn.Run{ID: cairn.NewRunID(now), Workflow: "ready", Digest: "sha256:00", SourcePath: "ready.yaml",
		Source: []byte("name: ready\n"), State: cairn.RunRunning, CreatedAt: now}
	trs := make([]*cairn.TaskRun, n)
	for i := range trs {
		trs[i] = &cairn.TaskRun{RunID: run.ID, TaskID: fmt.Sprintf("t%d", i), Type: "probe", State: cairn.TaskReady,
			Retry: retry, Params: json.RawMessage(`{}`)}
	}
	if err := r.st.CreateRun(context.Background(), run, trs); err != nil {
		t.Fatalf("create run: %v", err)
	}
	return run.ID
}

func leaseOne(t *testing.T, r *rig, worker, id string) cairn.WorkItem {
	t.Helper()
	items, err := r.broker.Lease(context.Background(), cairn.LeaseRequest{Worker: worker, RunID: id, Max: 1, Start: true, Wait: waitLimit})
	if err != nil || len(items) != 1 {
		t.Fatalf("Lease = %+v, %v; want one item", items, err)
	}
	return items[0]
}

func wantLost(t *testing.T, err error, what string) {
	t.Helper()
	if !errors.Is(err, cairn.ErrLeaseLost) {
		t.Fatalf("%s: error %v, want ErrLeaseLost", what, err)
	}
}

// A completion or heartbeat under a wrong token, a wrong attempt or an
// expired lease is refused with ErrLeaseLost and changes nothing; an
// expired lease is reaped as an interrupted attempt and its holder told so.
func TestBrokerRefusesStaleLeases(t *testing.T) {
	clk := &clock{}
	const ttl = time.Second
	r := newRig(t, rigOptions{leaseTTL: ttl, now: clk.Now})
	id := r.createReady(t, 2, cairn.RetryPolicy{Retries: 1, Backoff: time.Minute})
	ctx := context.Background()
	ok := cairn.Completion{Outputs: map[string]json.RawMessage{"x": jsonString("late")}}

	it := leaseOne(t, r, "w1", id)
	l := it.Lease
	if l.TaskID != "t0" || l.Attempt != 1 || !it.Started {
		t.Fatalf("leased %+v, want t0's attempt 1, started", it)
	}
	revoked := r.broker.Revoked(l)
	if revoked == nil {
		t.Fatal("Revoked is nil for a lease the broker issued")
	}
	before := r.snapshot(t, id)

	wrongToken := l
	wrongToken.Token = cairn.NewToken()
	wantLost(t, r.broker.Complete(ctx, wrongToken, ok), "Complete with a wrong token")
	r.assertUnchanged(t, before, "Complete with a wrong token")
	_, err := r.broker.CompleteAndLease(ctx, wrongToken, ok, cairn.LeaseRequest{Worker: "w1", RunID: id, Max: 1, Start: true})
	wantLost(t, err, "CompleteAndLease with a wrong token")
	r.assertUnchanged(t, before, "CompleteAndLease with a wrong token (it must not lease t1 either)")
	wrongAttempt := l
	wrongAttempt.Attempt = 2
	wantLost(t, r.broker.Complete(ctx, wrongAttempt, ok), "Complete with a wrong attempt")
	_, err = r.broker.Heartbeat(ctx, wrongToken)
	wantLost(t, err, "Heartbeat with a wrong token")
	r.assertUnchanged(t, before, "a wrong attempt or heartbeat")
	if r.broker.Revoked(l) != revoked {
		t.Error("a refused completion made the broker forget the live lease it issued (Revoked changed)")
	}

	// A live heartbeat works; once the lease's time is up, it does not.
	if _, err := r.broker.Heartbeat(ctx, l); err != nil {
		t.Fatalf("Heartbeat of a live lease: %v", err)
	}
	clk.Advance(ttl + time.Millisecond)
	before = r.snapshot(t, id)
	_, err = r.broker.Heartbeat(ctx, l)
	wantLost(t, err, "Heartbeat after expiry")
	select {
	case <-revoked:
		t.Fatal("the lease was revoked before it was reaped")
	default:
	}

	// Reaping ends the attempt as interrupted (its holder stopped, not its
	// task): it retries at once, not after the policy's minute, free of
	// charge; the holder's Revoked channel is closed.
	n, err := r.broker.ExpireLeases(ctx, scheduler.Expiry{RunID: id})
	if err != nil || n != 1 {
		t.Fatalf("ExpireLeases = %d, %v; want 1", n, err)
	}
	select {
	case <-revoked:
	default:
		t.Error("the reaped lease's Revoked channel is still open")
	}
	t0 := r.taskRuns(t, id)["t0"]
	as := r.attempts(t, id, "t0")
	if len(as) != 1 || as[0].State != cairn.AttemptInterrupted || !strings.Contains(as[0].Error, "lease expired") ||
		!strings.Contains(as[0].Error, "w1") {
		t.Fatalf("t0's attempts after reaping = %+v, want one interrupted, lease expired for w1", as)
	}
	if t0.State != cairn.TaskRetrying || t0.LeaseToken != "" || !t0.RetryAt.Equal(as[0].FinishedAt) ||
		t0.Interrupted != 1 || t0.InterruptedInARow != 1 {
		t.Errorf("t0 after reaping: %s, token %q, retry at %s (reaped at %s), interrupted %d (%d in a row); "+
			"want retrying at once, no lease, interrupted once", t0.State, t0.LeaseToken, t0.RetryAt, as[0].FinishedAt,
			t0.Interrupted, t0.InterruptedInARow)
	}
	before = r.snapshot(t, id)
	wantLost(t, r.broker.Complete(ctx, l, ok), "Complete after the lease was reaped")
	r.assertUnchanged(t, before, "Complete after the lease was reaped")

	// A completion after expiry but before any reaping is refused too.
	it1 := leaseOne(t, r, "w2", id)
	if it1.Lease.TaskID != "t1" {
		t.Fatalf("leased %s, want t1", it1.Lease.TaskID)
	}
	clk.Advance(ttl)
	before = r.snapshot(t, id)
	wantLost(t, r.broker.Complete(ctx, it1.Lease, ok), "Complete after expiry")
	r.assertUnchanged(t, before, "Complete after expiry")
}

// A worker stuck in an attempt stops heartbeating; its lease is reaped as
// interrupted, the task is retried as attempt 2 by a live worker (t has no
// retries: an interruption does not use them), and the stuck holder's late
// completion is refused.
func TestBrokerReapsStuckLease(t *testing.T) {
	clk := &clock{}
	const ttl = 10 * time.Second // the driver's own reaper (every ttl/2) stays out of the way
	p := newProbe(nil)
	r := newRig(t, rigOptions{leaseTTL: ttl, now: clk.Now}, p)
	wf, id := r.create(t, `
name: stuck
tasks:
  - {id: t, type: probe, retries: 0}
  - {id: after, type: probe, with: {in: "${{ tasks.t.outputs.x }}"}}
`)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	done := r.driveAsync(ctx, id, wf)
	r.events.waitFor(t, "t ready", taskEvent("t", cairn.TaskReady))

	stuck := leaseOne(t, r, "stuck", id).Lease
	revoked := r.broker.Revoked(stuck)
	r.startPool(t, nil, id)
	if _, err := r.broker.Heartbeat(ctx, stuck); err != nil {
		t.Fatalf("the stuck worker's lease is not live yet: %v", err)
	}

	clk.Advance(ttl + time.Millisecond)
	n, err := r.broker.ExpireLeases(ctx, scheduler.Expiry{RunID: id})
	if err != nil || n != 1 {
		t.Fatalf("ExpireLeases = %d, %v; want 1", n, err)
	}
	select {
	case <-revoked:
	default:
		t.Error("the stuck worker's lease was not revoked")
	}
	finished(t, done, cairn.RunSucceeded)

	as := r.attempts(t, id, "t")
	if len(as) != 2 {
		t.Fatalf("t has %d attempts, want 2", len(as))
	}
	if as[0].Worker != "stuck" || as[0].State != cairn.AttemptInterrupted || !strings.Contains(as[0].Error, "stuck stopped heartbeating") {
		t.Errorf("attempt 1 = %+v, want the stuck worker's, reaped as interrupted", as[0])
	}
	if as[1].Worker != "pool" || as[1].State != cairn.TaskSucceeded {
		t.Errorf("attempt 2 = %+v, want the pool's, succeeded", as[1])
	}
	if p.runCount("t") != 1 || p.runCount("after") != 1 {
		t.Errorf("the pool ran t %d times and after %d times, want once each", p.runCount("t"), p.runCount("after"))
	}
	before := r.snapshot(t, id)
	err = r.broker.Complete(ctx, stuck, cairn.Completion{Outputs: map[string]json.RawMessage{"x": jsonString("stale")}})
	wantLost(t, err, "the stuck worker's late completion")
	r.assertUnchanged(t, before, "the stuck worker's late completion")
}

// Many workers leasing, heartbeating and completing at once against one
// store (group commit) all succeed; refused completions mixed into the
// same transactions do not undo the others.
func TestBrokerConcurrentWorkers(t *testing.T) {
	r := newRig(t, rigOptions{})
	const runs, perRun, workers = 3, 40, 12
	var ids []string
	for range runs {
		ids = append(ids, r.createReady(t, perRun, cairn.RetryPolicy{}))
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()

	var (
		mu     sync.Mutex
		leased = map[string]int{} // run/task → times leased
		errs   []error
		wg     sync.WaitGroup
	)
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			worker := fmt.Sprintf("w%d", w)
			chain := w%2 == 0 // half ask for their next item with the completion
			var queue []cairn.WorkItem
			for {
				if len(queue) == 0 {
					items, err := r.broker.Lease(ctx, cairn.LeaseRequest{Worker: worker, Max: 1 + w%3, Start: true})
					if err != nil {
						fail(fmt.Errorf("%s: Lease: %w", worker, err))
						return
					}
					if len(items) == 0 {
						return // every task is taken
					}
					queue = items
				}
				it := queue[0]
				queue = queue[1:]
				l := it.Lease
				mu.Lock()
				leased[l.RunID+"/"+l.TaskID]++
				mu.Unlock()
				if _, err := r.broker.Heartbeat(ctx, l); err != nil {
					fail(fmt.Errorf("%s: Heartbeat %s: %w", worker, l.TaskID, err))
				}
				stale := l
				stale.Token = cairn.NewToken()
				if err := r.broker.Complete(ctx, stale, cairn.Completion{Error: "stale", Retryable: true}); !errors.Is(err, cairn.ErrLeaseLost) {
					fail(fmt.Errorf("%s: stale Complete %s: %v, want ErrLeaseLost", worker, l.TaskID, err))
				}
				var next cairn.LeaseRequest
				if chain {
					next = cairn.LeaseRequest{Worker: worker, Max: 1, Start: true}
				}
				items, err := r.broker.CompleteAndLease(ctx, l, cairn.Completion{
					Outputs: map[string]json.RawMessage{"by": jsonString(worker)}}, next)
				if err != nil {
					fail(fmt.Errorf("%s: Complete %s: %w", worker, l.TaskID, err))
				}
				queue = append(queue, items...)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		t.Error(err)
	}
	if len(leased) != runs*perRun {
		t.Errorf("%d tasks were leased, want %d", len(leased), runs*perRun)
	}
	for k, n := range leased {
		if n != 1 {
			t.Errorf("task %s was leased %d times", k, n)
		}
	}
	for _, id := range ids {
		for task, tr := range r.taskRuns(t, id) {
			if tr.State != cairn.TaskSucceeded || tr.Attempt != 1 || len(tr.Outputs["by"]) == 0 {
				t.Errorf("%s/%s: %s after %d attempts, outputs %s; want succeeded once", id, task, tr.State, tr.Attempt, tr.Outputs)
			}
		}
		for _, a := range r.attempts(t, id, "") {
			if a.State != cairn.TaskSucceeded || a.Error != "" {
				t.Errorf("%s/%s attempt %d: %s %q; a refused completion left a mark", id, a.TaskID, a.Number, a.State, a.Error)
			}
		}
	}
}

const chainWorkflow = `
name: chain
tasks:
  - {id: a, type: probe}
  - {id: b, type: probe, with: {in: "${{ tasks.a.outputs.x }}"}}
  - {id: c, type: probe, with: {in: "${{ tasks.b.outputs.x }}"}}
`

// On a chain, CompleteAndLease records the completion, has the driver make
// the successor ready and leases it to the same worker, in one call — when
// the run's driver is not planning at that moment, which the test makes
// sure of by waiting for a's ready event: Drive publishes it only after it
// let go of the run. (Leasing a as soon as its row is committed could
// complete it while Drive still plans; then the hop goes through Drive's
// inbox, TestBrokerCompleteWhileDriverPlans.)
func TestBrokerCompleteAndLeaseChain(t *testing.T) {
	r := newRig(t, rigOptions{}, newProbe(nil))
	wf, id := r.create(t, chainWorkflow)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	done := r.driveAsync(ctx, id, wf)
	r.events.waitFor(t, "a ready", taskEvent("a", cairn.TaskReady))

	it := leaseOne(t, r, "w", id)
	next := cairn.LeaseRequest{Worker: "w", RunID: id, Max: 1, Start: true}
	for _, want := range []struct{ task, params string }{
		{"a", ""},
		{"b", `{"in":"a-out"}`},
		{"c", `{"in":"b-out"}`},
	} {
		if it.Lease.TaskID != want.task || it.Lease.Attempt != 1 || !it.Started {
			t.Fatalf("work item %+v, want %s's attempt 1, started", it, want.task)
		}
		if want.params != "" && string(it.Params) != want.params {
			t.Errorf("%s's params = %s, want %s", want.task, it.Params, want.params)
		}
		items, err := r.broker.CompleteAndLease(ctx, it.Lease, cairn.Completion{
			Outputs: map[string]json.RawMessage{"x": jsonString(want.task + "-out")}}, next)
		if err != nil {
			t.Fatalf("CompleteAndLease %s: %v", want.task, err)
		}
		if want.task == "c" {
			if len(items) != 0 {
				t.Fatalf("completing the last task leased %+v", items)
			}
			break
		}
		if len(items) != 1 {
			t.Fatalf("completing %s returned %d items, want its successor in the same call", want.task, len(items))
		}
		it = items[0]
	}
	finished(t, done, cairn.RunSucceeded)
	for task, tr := range r.taskRuns(t, id) {
		if tr.State != cairn.TaskSucceeded || tr.LeaseWorker != "" {
			t.Errorf("%s is %s (worker %q), want succeeded and released", task, tr.State, tr.LeaseWorker)
		}
	}
}

// A worker asking for more than the successor (a pool leasing ahead) gets
// it in the same write as before, and the hop costs no more statements
// than with one: nothing of the run was ready before the plan (its snapshot says so:
// the queue is not asked) and the plan handed the worker all it made
// ready, so the queue is not searched either.
func TestBrokerChainHopLeasingAhead(t *testing.T) {
	r := newRig(t, rigOptions{}, newProbe(nil))
	wf, id := r.create(t, chainWorkflow)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	done := r.driveAsync(ctx, id, wf)
	r.events.waitFor(t, "a ready", taskEvent("a", cairn.TaskReady))

	it := leaseOne(t, r, "w", id)
	next := cairn.LeaseRequest{Worker: "w", RunID: id, Max: 8, Start: true}
	for _, task := range []string{"a", "b"} {
		if it.Lease.TaskID != task {
			t.Fatalf("work item %+v, want %s's", it.Lease, task)
		}
		before := r.st.WriteStats()
		items, err := r.broker.CompleteAndLease(ctx, it.Lease, cairn.Completion{
			Outputs: map[string]json.RawMessage{"x": jsonString(task + "-out")}}, next)
		if err != nil {
			t.Fatalf("CompleteAndLease %s: %v", task, err)
		}
		if len(items) != 1 {
			t.Fatalf("completing %s returned %d items, want its successor alone", task, len(items))
		}
		// The attempt, the completion, the run's claim read (the plan is
		// the owner's: TestCompletionByOustedOwnerIsEvaluated), the
		// successor handed out.
		if got := r.st.WriteStats().Statements - before.Statements; got != 4 {
			t.Errorf("the hop from %s took %d statements, want 4", task, got)
		}
		it = items[0]
	}
	before := r.st.WriteStats()
	if items, err := r.broker.CompleteAndLease(ctx, it.Lease, cairn.Completion{
		Outputs: map[string]json.RawMessage{"x": jsonString("c-out")}}, next); err != nil || len(items) != 0 {
		t.Fatalf("CompleteAndLease c: %+v, %v; want nothing more", items, err)
	}
	// The last hop ends the run: the attempt, the completion, the claim
	// read, the run ended (its claim let go), its evaluations deleted (no
	// alert: the store created the run without targets). Nothing of the
	// run is left ready (its snapshot says so): the queue is not searched
	// for the worker's next lease.
	if got := r.st.WriteStats().Statements - before.Statements; got != 5 {
		t.Errorf("the last hop took %d statements, want 5", got)
	}
	finished(t, done, cairn.RunSucceeded)
}

// leased is what a Lease returned.
type leased struct {
	items []cairn.WorkItem
	err   error
}

// waitingLease calls Lease(req) in a goroutine, whose answer it sends,
// and returns once that Lease waits for work, handable by a commit.
func waitingLease(ctx context.Context, t *testing.T, r *rig, req cairn.LeaseRequest) <-chan leased {
	t.Helper()
	waited := make(chan leased, 1)
	go func() {
		items, err := r.broker.Lease(ctx, req)
		waited <- leased{items, err}
	}()
	for r.broker.Handable() == 0 {
		if ctx.Err() != nil {
			t.Fatal("the Lease never waited")
		}
		time.Sleep(time.Millisecond)
	}
	return waited
}

const forkWorkflow = `
name: fork
tasks:
  - {id: a, type: probe}
  - {id: b, type: probe, with: {in: "${{ tasks.a.outputs.x }}"}}
  - {id: c, type: probe, with: {in: "${{ tasks.a.outputs.x }}"}}
`

// A completion whose plan makes ready more than its worker asked for
// hands the rest to a Lease waiting in this process, in the same commit:
// the waiting worker gets c leased and started to it, and no transaction
// of its own leases it (the dispatcher of a server's pool, say, while a
// slot reports the fork's first task). Every recorded fact is as a lease
// of its own would have left it: c's attempt 1, running, the waiting
// worker's, its events published.
func TestBrokerCompletionHandsToWaitingLease(t *testing.T) {
	r := newRig(t, rigOptions{}, newProbe(nil))
	wf, id := r.create(t, forkWorkflow)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	done := r.driveAsync(ctx, id, wf)
	r.events.waitFor(t, "a ready", taskEvent("a", cairn.TaskReady))
	it := leaseOne(t, r, "w1", id)

	waited := waitingLease(ctx, t, r, cairn.LeaseRequest{Worker: "w2", RunID: id, Max: 1, Start: true, Wait: waitLimit})
	before := r.st.WriteStats()
	items, err := r.broker.CompleteAndLease(ctx, it.Lease, cairn.Completion{Outputs: map[string]json.RawMessage{"x": jsonString("a-out")}},
		cairn.LeaseRequest{Worker: "w1", RunID: id, Max: 1, Start: true})
	if err != nil || len(items) != 1 || items[0].Lease.TaskID != "b" {
		t.Fatalf("completing a: %+v, %v; want b", items, err)
	}
	w := <-waited
	if w.err != nil || len(w.items) != 1 {
		t.Fatalf("the waiting Lease: %+v, %v; want c", w.items, w.err)
	}
	c := w.items[0]
	if c.Lease.TaskID != "c" || c.Lease.Worker != "w2" || c.Lease.Attempt != 1 || !c.Started || string(c.Params) != `{"in":"a-out"}` {
		t.Errorf("the waiting Lease got %+v, want c's attempt 1, started, for w2, with a's output", c)
	}
	if got := r.st.WriteStats().Transactions - before.Transactions; got != 1 {
		t.Errorf("%d transactions from a's completion to c's lease, want 1: c handed out in the completion's", got)
	}
	tr := r.taskRuns(t, id)["c"]
	if tr.State != cairn.TaskRunning || tr.LeaseWorker != "w2" || tr.LeaseToken != c.Lease.Token {
		t.Errorf("c's row: %s, worker %q, token %q; want running, w2's lease %q", tr.State, tr.LeaseWorker, tr.LeaseToken, c.Lease.Token)
	}
	r.events.waitFor(t, "c running", taskEvent("c", cairn.TaskRunning))
	for _, x := range []cairn.WorkItem{items[0], c} {
		if _, err := r.broker.CompleteAndLease(ctx, x.Lease, cairn.Completion{Outputs: map[string]json.RawMessage{"x": jsonString("out")}},
			cairn.LeaseRequest{}); err != nil {
			t.Fatalf("complete %s: %v", x.Lease.TaskID, err)
		}
	}
	finished(t, done, cairn.RunSucceeded)
}

// cancelInBatch is a store whose next batch, once armed, calls cancel
// after its statements ran and before it ends: while the commit holds
// the Leases it hands work to.
type cancelInBatch struct {
	scheduler.Store
	armed  atomic.Bool
	cancel context.CancelFunc
}

func (s *cancelInBatch) Batch(ctx context.Context, fn func(tx scheduler.Tx) error) error {
	return s.Store.Batch(ctx, func(tx scheduler.Tx) error {
		err := fn(tx)
		if err == nil && s.armed.CompareAndSwap(true, false) {
			s.cancel()
		}
		return err
	})
}

// A Lease whose ctx ends while a commit hands it work — a server's pool
// that halts on a full disk as its own report makes the task ready again,
// its dispatcher's Lease ending (the flake of cmd/cairn's
// TestServerStopsOnFullDisk) — returns nothing and gives that work back:
// ready as before its lease, no attempt counted, for the next worker,
// rather than returned to a caller that stopped waiting for it.
func TestLeaseStoppedWaitingGivesBackWhatItWasHanded(t *testing.T) {
	r := newRig(t, rigOptions{}, newProbe(nil))
	cb := &cancelInBatch{Store: r.st}
	r.broker = scheduler.NewBroker(cb, scheduler.BrokerOptions{Observe: r.events.observe})
	r.driver = scheduler.NewDriver(cb, r.broker, scheduler.DriverOptions{Owner: "test:1:driver"})
	wf, id := r.create(t, forkWorkflow)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	done := r.driveAsync(ctx, id, wf)
	r.events.waitFor(t, "a ready", taskEvent("a", cairn.TaskReady))
	it := leaseOne(t, r, "w1", id)

	lctx, stop := context.WithCancel(ctx)
	defer stop()
	cb.cancel = stop
	waited := waitingLease(lctx, t, r, cairn.LeaseRequest{Worker: "w2", RunID: id, Max: 1, Start: true, Wait: waitLimit})
	cb.armed.Store(true) // a's completion: its commit hands c to w2 as w2's Lease ends
	items, err := r.broker.CompleteAndLease(ctx, it.Lease, cairn.Completion{Outputs: map[string]json.RawMessage{"x": jsonString("a-out")}},
		cairn.LeaseRequest{Worker: "w1", RunID: id, Max: 1, Start: true})
	if err != nil || len(items) != 1 || items[0].Lease.TaskID != "b" {
		t.Fatalf("completing a: %+v, %v; want b", items, err)
	}
	if w := await(t, "the waiting Lease to return", waited); !errors.Is(w.err, context.Canceled) || len(w.items) != 0 {
		t.Fatalf("the Lease that stopped waiting: %+v, %v; want nothing and its ctx's error", w.items, w.err)
	}
	// c was handed out (running), then given back (ready).
	r.events.waitFor(t, "c given back", func(e scheduler.Event) bool {
		return e.TaskID == "c" && e.From == cairn.TaskRunning && e.To == cairn.TaskReady
	})
	if tr := r.taskRuns(t, id)["c"]; tr.State != cairn.TaskReady || tr.Attempt != 0 || tr.Interrupted != 0 || tr.LeaseToken != "" {
		t.Fatalf("c is %s after %d attempts (%d interrupted), lease %q; want it given back: ready, no attempt counted",
			tr.State, tr.Attempt, tr.Interrupted, tr.LeaseToken)
	}
	c := leaseOne(t, r, "w3", id)
	if c.Lease.TaskID != "c" || c.Lease.Attempt != 1 {
		t.Fatalf("the next Lease got %s's attempt %d, want c's first", c.Lease.TaskID, c.Lease.Attempt)
	}
	for _, x := range []cairn.WorkItem{items[0], c} {
		if _, err := r.broker.CompleteAndLease(ctx, x.Lease, cairn.Completion{Outputs: map[string]json.RawMessage{"x": jsonString("out")}},
			cairn.LeaseRequest{}); err != nil {
			t.Fatalf("complete %s: %v", x.Lease.TaskID, err)
		}
	}
	finished(t, done, cairn.RunSucceeded)
}

// A run's first plan hands the task it makes ready to a Lease waiting in
// this process (a server's pool, at a triggered run's start), in the
// plan's own write: the worker gets a leased and started to it, and no
// transaction of its own leases it. Then each completion's commit hands
// its successor to the worker — when the run's loop does not hold the
// run at that moment (runState.within: late under load, the loop's own
// pass after the first plan), in which case the loop plans it and the
// worker leases it. The first plan's hand-out is asserted every time; the
// completions' hand-outs, a best case, are asked of one of a few tries
// (CI, 08:35: "completing a: [], want its successor").
func TestFirstPlanHandsToWaitingLease(t *testing.T) {
	bestCase(t, func() bool { return firstPlanHandsOut(t) },
		"a completion's successor was planned by the run's loop (it held the run), not in the completion's commit",
		"no completion's commit handed its successor to the worker")
}

// firstPlanHandsOut runs TestFirstPlanHandsToWaitingLease's scenario and
// returns whether every completion's commit handed out its successor.
func firstPlanHandsOut(t *testing.T) (handed bool) {
	t.Helper()
	r := newRig(t, rigOptions{}, newProbe(nil))
	wf, id := r.create(t, chainWorkflow)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	waited := waitingLease(ctx, t, r, cairn.LeaseRequest{Worker: "w", RunID: id, Max: 2, Start: true, Wait: waitLimit})
	before := r.st.WriteStats()
	done := r.driveAsync(ctx, id, wf)
	w := <-waited
	if w.err != nil || len(w.items) != 1 {
		t.Fatalf("the waiting Lease: %+v, %v; want a", w.items, w.err)
	}
	a := w.items[0]
	if a.Lease.TaskID != "a" || a.Lease.Worker != "w" || a.Lease.Attempt != 1 || !a.Started {
		t.Errorf("the waiting Lease got %+v, want a's attempt 1, started, for w", a)
	}
	// The run's claim and its first plan, with a's lease in it.
	if got := r.st.WriteStats().Transactions - before.Transactions; got != 2 {
		t.Errorf("%d transactions from Drive to a's lease, want 2: the claim, and the plan that hands a out", got)
	}
	r.events.waitFor(t, "a running", taskEvent("a", cairn.TaskRunning))
	it, handed := a, true
	for _, task := range []string{"a", "b", "c"} {
		items, err := r.broker.CompleteAndLease(ctx, it.Lease, cairn.Completion{Outputs: map[string]json.RawMessage{"x": jsonString(task + "-out")}},
			cairn.LeaseRequest{Worker: "w", RunID: id, Max: 1, Start: true})
		if err != nil {
			t.Fatalf("complete %s: %v", task, err)
		}
		if task == "c" {
			break
		}
		if len(items) == 0 {
			// The loop plans the successor: the worker leases it.
			handed = false
			items, err = r.broker.Lease(ctx, cairn.LeaseRequest{Worker: "w", RunID: id, Max: 1, Start: true, Wait: waitLimit})
			if err != nil {
				t.Fatalf("lease after %s: %v", task, err)
			}
		}
		if len(items) != 1 {
			t.Fatalf("completing %s: %+v, want its successor", task, items)
		}
		it = items[0]
	}
	finished(t, done, cairn.RunSucceeded)
	return handed
}

// pausingStore holds the driver in the middle of planning: once the plan
// that makes task ready is committed, ApplyPlan reports it on applied and
// returns only when resume is closed, with the run still locked by Drive.
type pausingStore struct {
	scheduler.Store
	ready   string
	once    sync.Once
	applied chan struct{}
	resume  chan struct{}
}

func (s *pausingStore) ApplyPlan(ctx context.Context, p *scheduler.Plan) error {
	err := s.Store.ApplyPlan(ctx, p)
	for _, c := range p.Tasks {
		if err == nil && c.TaskID == s.ready && c.To == cairn.TaskReady {
			s.once.Do(func() {
				close(s.applied)
				<-s.resume
			})
		}
	}
	return err
}

// A completion that arrives while the run's driver is planning (the flake
// of TestBrokerCompleteAndLeaseChain: a worker leased a as soon as its row
// was committed) cannot plan in its own transaction; it goes to Drive's
// inbox, and Drive makes the successor ready as soon as it is free. Nothing
// is lost or done twice, and the worker leases the successor next.
func TestBrokerCompleteWhileDriverPlans(t *testing.T) {
	r := newRig(t, rigOptions{}, newProbe(nil))
	ps := &pausingStore{Store: r.st, ready: "a", applied: make(chan struct{}), resume: make(chan struct{})}
	d := scheduler.NewDriver(ps, r.broker, scheduler.DriverOptions{Owner: "test:1:pausing"})
	wf, id := r.create(t, chainWorkflow)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	done := make(chan driveResult, 1)
	go func() {
		run, err := d.Drive(ctx, id, wf)
		done <- driveResult{run, err}
	}()
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			close(ps.resume)
		}
	}
	defer resume()
	await(t, "the driver to commit a's readiness", ps.applied)

	// a is ready in the store while Drive still holds the run.
	it := leaseOne(t, r, "w", id)
	next := cairn.LeaseRequest{Worker: "w", RunID: id, Max: 1, Start: true}
	items, err := r.broker.CompleteAndLease(ctx, it.Lease, cairn.Completion{
		Outputs: map[string]json.RawMessage{"x": jsonString("a-out")}}, next)
	if err != nil {
		t.Fatalf("CompleteAndLease a while the driver plans: %v", err)
	}
	if len(items) != 0 {
		t.Fatalf("completing a while the driver plans leased %+v; b cannot be ready before Drive planned it", items)
	}
	if tr := r.taskRuns(t, id)["a"]; tr.State != cairn.TaskSucceeded {
		t.Fatalf("a is %s after its completion, want succeeded", tr.State)
	}
	resume()

	// Drive folds the completion from its inbox and makes b ready.
	for _, want := range []struct{ task, params string }{{"b", `{"in":"a-out"}`}, {"c", `{"in":"b-out"}`}} {
		if len(items) == 0 {
			items = []cairn.WorkItem{leaseOne(t, r, "w", id)}
		}
		it := items[0]
		if it.Lease.TaskID != want.task || it.Lease.Attempt != 1 || string(it.Params) != want.params {
			t.Fatalf("work item %s#%d with %s, want %s#1 with %s", it.Lease.TaskID, it.Lease.Attempt, it.Params, want.task, want.params)
		}
		if items, err = r.broker.CompleteAndLease(ctx, it.Lease, cairn.Completion{
			Outputs: map[string]json.RawMessage{"x": jsonString(want.task + "-out")}}, next); err != nil {
			t.Fatalf("CompleteAndLease %s: %v", want.task, err)
		}
	}
	if len(items) != 0 {
		t.Fatalf("completing the last task leased %+v", items)
	}
	finished(t, done, cairn.RunSucceeded)
	for _, a := range r.attempts(t, id, "") {
		if a.Number != 1 || a.State != cairn.TaskSucceeded {
			t.Errorf("%s attempt %d is %s, want one attempt each, succeeded", a.TaskID, a.Number, a.State)
		}
	}
}

// An attempt whose holder stopped — its owner died (ExpireLeases with
// Force, on resume) or its lease expired (the reaper) — is interrupted, not
// failed: it retries at once and does not use the task's retries, and a
// failure of the task's own still gets its whole budget and its first
// backoff. A worker cannot claim an interruption for a failure. (The test
// plans the run itself, on its clock, so that it sees each retrying state
// before the planner moves it on.)
func TestBrokerInterruptedAttemptsAreFree(t *testing.T) {
	clk := &clock{}
	const ttl = 10 * time.Second
	r := newRig(t, rigOptions{leaseTTL: ttl, now: clk.Now}, newProbe(nil))
	wf, id := r.create(t, `
name: interrupted
tasks:
  - {id: t, type: probe, retries: 1, retry_backoff: 10ms, max_interruptions: 3}
`)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	plan := func() { t.Helper(); planAt(t, r.st, id, wf, clk.Now) }
	plan()
	force := func() {
		t.Helper()
		if n, err := r.broker.ExpireLeases(ctx, scheduler.Expiry{RunID: id, Force: true, Reason: "attempt interrupted: the process running it stopped"}); err != nil || n != 1 {
			t.Fatalf("ExpireLeases(force) = %d, %v; want 1", n, err)
		}
	}
	reap := func() {
		t.Helper()
		clk.Advance(ttl + time.Millisecond)
		if n, err := r.broker.ExpireLeases(ctx, scheduler.Expiry{RunID: id}); err != nil || n != 1 {
			t.Fatalf("ExpireLeases = %d, %v; want 1", n, err)
		}
	}
	fail := func(interrupted bool) {
		t.Helper()
		it := leaseOne(t, r, "w", id)
		if _, err := r.broker.CompleteAndLease(ctx, it.Lease, cairn.Completion{Error: "boom", Retryable: true, Interrupted: interrupted},
			cairn.LeaseRequest{}); err != nil {
			t.Fatalf("CompleteAndLease: %v", err)
		}
	}
	check := func(attempt int, state cairn.TaskState, interrupted, inARow int, delay time.Duration) {
		t.Helper()
		tr := r.taskRuns(t, id)["t"]
		as := r.attempts(t, id, "t")
		if tr.Attempt != attempt || len(as) != attempt || tr.State != state || tr.Interrupted != interrupted ||
			tr.InterruptedInARow != inARow {
			t.Fatalf("after attempt %d: t is %s after %d attempts (%d recorded), %d interrupted, %d in a row; want %s, %d interrupted, %d in a row",
				attempt, tr.State, tr.Attempt, len(as), tr.Interrupted, tr.InterruptedInARow, state, interrupted, inARow)
		}
		if state == cairn.TaskRetrying {
			if got := tr.RetryAt.Sub(as[attempt-1].FinishedAt); got != delay {
				t.Errorf("after attempt %d: retry %s after it ended, want %s", attempt, got, delay)
			}
		}
	}

	leaseOne(t, r, "w", id)
	force() // resume's path
	check(1, cairn.TaskRetrying, 1, 1, 0)
	plan()                  // ready at once: the policy's backoff does not apply
	leaseOne(t, r, "w", id) // attempt 2
	reap()                  // the reaper's path
	check(2, cairn.TaskRetrying, 2, 2, 0)
	plan()
	fail(false) // the task's own failure: the first of its two allowed, with the first backoff
	check(3, cairn.TaskRetrying, 2, 0, 10*time.Millisecond)
	clk.Advance(10 * time.Millisecond)
	plan()
	leaseOne(t, r, "w", id)
	force()
	check(4, cairn.TaskRetrying, 3, 1, 0)
	plan()
	leaseOne(t, r, "w", id)
	reap()
	check(5, cairn.TaskRetrying, 4, 2, 0)
	plan()
	fail(true) // a worker's report of an interruption is a failure like any other: the second, the last allowed
	check(6, cairn.TaskFailed, 4, 0, 0)
	plan()
	if run, err := r.st.GetRun(ctx, id); err != nil || run.State != cairn.RunFailed {
		t.Fatalf("the run after t failed: %v, %v; want failed", run, err)
	}

	var got []cairn.TaskState
	for _, a := range r.attempts(t, id, "t") {
		got = append(got, a.State)
	}
	want := []cairn.TaskState{cairn.AttemptInterrupted, cairn.AttemptInterrupted, cairn.TaskRetrying,
		cairn.AttemptInterrupted, cairn.AttemptInterrupted, cairn.TaskFailed}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("t's attempts are %v, want %v", got, want)
	}
}

// A task interrupted max_interruptions times in a row (10 unless set) —
// one that kills the process running it — fails, with an error that says
// so and what to do; the last attempt is recorded as interrupted.
func TestBrokerInterruptionLimit(t *testing.T) {
	for _, tc := range []struct {
		name  string
		extra string
		limit int
	}{
		{"set", ", max_interruptions: 2", 2},
		{"default", "", cairn.DefaultMaxInterruptions},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, rigOptions{}, newProbe(nil))
			wf, id := r.create(t, "name: killer\ntasks:\n  - {id: k, type: probe, retries: 5"+tc.extra+"}\n")
			ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
			defer cancel()
			done := r.driveAsync(ctx, id, wf)
			for n := 1; ; n++ {
				if n > tc.limit {
					t.Fatalf("k was interrupted %d times and is still not failed", n-1)
				}
				leaseOne(t, r, "w", id)
				if _, err := r.broker.ExpireLeases(ctx, scheduler.Expiry{RunID: id, Force: true,
					Reason: "attempt interrupted: the process running it stopped"}); err != nil {
					t.Fatal(err)
				}
				if k := r.taskRuns(t, id)["k"]; k.State == cairn.TaskFailed {
					if n != tc.limit {
						t.Fatalf("k failed after %d interruptions, want %d", n, tc.limit)
					}
					break
				}
			}
			finished(t, done, cairn.RunFailed)
			k := r.taskRuns(t, id)["k"]
			for _, want := range []string{"attempt interrupted: the process running it stopped",
				fmt.Sprintf("interrupted %d times in a row", tc.limit), fmt.Sprintf("max_interruptions: %d", tc.limit),
				"raise max_interruptions"} {
				if !strings.Contains(k.Error, want) {
					t.Errorf("k's error %q does not say %q", k.Error, want)
				}
			}
			as := r.attempts(t, id, "k")
			if last := as[len(as)-1]; last.State != cairn.AttemptInterrupted || last.Error != k.Error {
				t.Errorf("k's last attempt is %s (%q), want interrupted with the task's error", last.State, last.Error)
			}
		})
	}
}

// A worker that keeps heartbeating an attempt past its timeout (wedged,
// or lying) does not hold it for ever: once the attempt is older than its
// timeout, cairn.TimeoutGrace and the TTL, its heartbeat is refused, and
// the reaper ends the attempt as timed out — a failure under its retry
// policy (here none: the task fails), not an interruption retried free.
func TestBrokerEndsOverdueAttempt(t *testing.T) {
	clk := &clock{}
	const ttl = 10 * time.Second
	r := newRig(t, rigOptions{leaseTTL: ttl, now: clk.Now}, newProbe(nil))
	wf, id := r.create(t, `
name: wedged
tasks:
  - {id: t, type: probe, timeout: 2s, retries: 0}
  - {id: after, type: probe, with: {in: "${{ tasks.t.outputs.x }}"}}
`)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	done := r.driveAsync(ctx, id, wf)
	r.events.waitFor(t, "t ready", taskEvent("t", cairn.TaskReady))

	wedged := leaseOne(t, r, "wedged", id).Lease
	revoked := r.broker.Revoked(wedged)
	// Heartbeats every 3 s are renewed until the attempt is 2s+10s+10s
	// old, and refused from then on.
	var age time.Duration
	for {
		clk.Advance(3 * time.Second)
		age += 3 * time.Second
		_, err := r.broker.Heartbeat(ctx, wedged)
		if age < 2*time.Second+cairn.TimeoutGrace+ttl {
			if err != nil {
				t.Fatalf("heartbeat at %s: %v, want renewed", age, err)
			}
			continue
		}
		wantLost(t, err, fmt.Sprintf("heartbeat at %s", age))
		break
	}
	if n, err := r.broker.ExpireLeases(ctx, scheduler.Expiry{RunID: id}); err != nil || n != 1 {
		t.Fatalf("ExpireLeases = %d, %v; want 1", n, err)
	}
	select {
	case <-revoked:
	default:
		t.Error("the wedged worker's lease was not revoked")
	}
	e := r.events.waitFor(t, "t failed", taskEvent("t", cairn.TaskFailed))
	if e.Expiry != scheduler.ExpiryTimedOut || e.Ended != cairn.TaskFailed {
		t.Errorf("t's event: expiry %q, ended %q; want %q, failed", e.Expiry, e.Ended, scheduler.ExpiryTimedOut)
	}
	finished(t, done, cairn.RunFailed)
	as := r.attempts(t, id, "t")
	if len(as) != 1 || as[0].State != cairn.TaskFailed || !strings.HasPrefix(as[0].Error, "timed out after 2s") {
		t.Fatalf("t's attempts = %+v, want one failed as timed out", as)
	}
	if tr, err := r.st.GetTaskRun(ctx, id, "t"); err != nil || tr.Interrupted != 0 {
		t.Errorf("t = %+v, %v; want no interruption counted", tr, err)
	}
}

// batchCounter counts a store's transactions (Batch).
type batchCounter struct {
	scheduler.Store
	n atomic.Int64
}

func (s *batchCounter) Batch(ctx context.Context, fn func(tx scheduler.Tx) error) error {
	s.n.Add(1)
	return s.Store.Batch(ctx, fn)
}

// CompleteAndLeaseMany records several reports, each accepted or refused
// alone as CompleteAndLease would (a report under a wrong token changes
// nothing and leases nothing), the others with their next items, all in
// one transaction: handed to the completer at once by their one caller.
func TestBrokerCompleteAndLeaseMany(t *testing.T) {
	r := newRig(t, rigOptions{})
	st := &batchCounter{Store: r.st}
	b := scheduler.NewBroker(st, scheduler.BrokerOptions{})
	id := r.createReady(t, 8, cairn.RetryPolicy{})
	ctx := context.Background()
	items, err := b.Lease(ctx, cairn.LeaseRequest{Worker: "w1", RunID: id, Max: 4, Start: true})
	if err != nil || len(items) != 4 {
		t.Fatalf("Lease = %d items, %v; want 4", len(items), err)
	}
	leases := make([]cairn.Lease, 4)
	cs := make([]cairn.Completion, 4)
	next := make([]cairn.LeaseRequest, 4)
	for i, it := range items {
		leases[i] = it.Lease
		next[i] = cairn.LeaseRequest{Worker: "w1", RunID: id, Max: 1, Start: true}
	}
	leases[2].Token = "not-the-lease"
	cs[3] = cairn.Completion{Error: "boom"}
	before := st.n.Load()
	got, errs := b.CompleteAndLeaseMany(ctx, leases, cs, next)
	if n := st.n.Load() - before; n != 1 {
		t.Errorf("%d transactions for 4 reports; want 1", n)
	}
	if len(got) != 4 || len(errs) != 4 {
		t.Fatalf("%d item lists and %d errors for 4 reports", len(got), len(errs))
	}
	wantLost(t, errs[2], "the report under a wrong token")
	if len(got[2]) != 0 {
		t.Errorf("the refused report leased %d items", len(got[2]))
	}
	leased := map[string]bool{}
	for _, i := range []int{0, 1, 3} {
		if errs[i] != nil || len(got[i]) != 1 {
			t.Fatalf("report %d: %d items, %v; want one", i, len(got[i]), errs[i])
		}
		leased[got[i][0].Lease.TaskID] = true
	}
	for i, it := range items {
		tr, err := r.st.GetTaskRun(ctx, id, it.Lease.TaskID)
		want := map[int]cairn.TaskState{0: cairn.TaskSucceeded, 1: cairn.TaskSucceeded, 2: cairn.TaskRunning, 3: cairn.TaskFailed}[i]
		if err != nil || tr.State != want {
			t.Errorf("%s: %s, %v; want %s", it.Lease.TaskID, tr.State, err, want)
		}
	}
	if len(leased) != 3 {
		t.Errorf("the three reports were given %d distinct tasks", len(leased))
	}
}

// holdingStore holds the first Batch once it committed, before it
// returns: the completer's first batch is then committed but its run's
// plan not yet told (its after not run). It says when a second Batch
// begins.
type holdingStore struct {
	scheduler.Store
	calls     atomic.Int32
	committed chan struct{}
	resume    chan struct{}
	second    chan struct{}
}

func (s *holdingStore) Batch(ctx context.Context, fn func(tx scheduler.Tx) error) error {
	n := s.calls.Add(1)
	if n == 2 {
		close(s.second)
	}
	err := s.Store.Batch(ctx, fn)
	if n == 1 {
		close(s.committed)
		<-s.resume
	}
	return err
}

// With OverlapCommits, the completer's next batch begins while the
// previous one's commit is under way, and a run both hold is planned by
// the second once the first ended, on its outcome, in the second's own
// transaction: b's completion, made while a's batch is still held, makes
// c ready and hands it to b's worker in the same call (no evaluation left
// for the loop).
func TestBrokerOverlapCommits(t *testing.T) {
	r := newRig(t, rigOptions{}, newProbe(nil))
	hs := &holdingStore{Store: r.st, committed: make(chan struct{}), resume: make(chan struct{}), second: make(chan struct{})}
	b := scheduler.NewBroker(hs, scheduler.BrokerOptions{Observe: r.events.observe, OverlapCommits: true})
	d := scheduler.NewDriver(r.st, b, scheduler.DriverOptions{Owner: "test:1:overlap"})
	wf, id := r.create(t, `
name: join
tasks:
  - {id: a, type: probe}
  - {id: b, type: probe}
  - {id: c, type: probe, needs: [a, b]}
`)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	done := driveAsyncWith(ctx, d, id, wf)
	r.events.waitFor(t, "a ready", taskEvent("a", cairn.TaskReady))
	r.events.waitFor(t, "b ready", taskEvent("b", cairn.TaskReady))
	items, err := b.Lease(ctx, cairn.LeaseRequest{Worker: "w", RunID: id, Max: 2, Start: true})
	if err != nil || len(items) != 2 {
		t.Fatalf("Lease = %d items, %v; want a and b", len(items), err)
	}
	next := cairn.LeaseRequest{Worker: "w", RunID: id, Max: 1, Start: true}
	type outcome struct {
		items []cairn.WorkItem
		err   error
	}
	first, second := make(chan outcome, 1), make(chan outcome, 1)
	complete := func(it cairn.WorkItem, out chan<- outcome) {
		got, err := b.CompleteAndLease(ctx, it.Lease, cairn.Completion{
			Outputs: map[string]json.RawMessage{"x": jsonString(it.Lease.TaskID + "-out")}}, next)
		out <- outcome{got, err}
	}
	go complete(items[0], first)
	await(t, "the first batch to commit", hs.committed)
	go complete(items[1], second)
	await(t, "the second batch to begin while the first is held", hs.second)
	select {
	case o := <-second:
		t.Fatalf("the second completion returned (%d items, %v) before the first batch ended", len(o.items), o.err)
	case <-time.After(100 * time.Millisecond):
	}
	close(hs.resume)
	if o := await(t, "the first completion", first); o.err != nil || len(o.items) != 0 {
		t.Fatalf("the first completion: %d items, %v; want none (c waits for the other)", len(o.items), o.err)
	}
	o := await(t, "the second completion", second)
	if o.err != nil || len(o.items) != 1 || o.items[0].Lease.TaskID != "c" {
		t.Fatalf("the second completion: %+v, %v; want c handed out with it", o.items, o.err)
	}
	evs, err := r.st.Evaluations(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if e.Reason == scheduler.EvalCompleted {
			t.Errorf("an evaluation of %s's completion: each completion is planned in its own transaction", e.TaskID)
		}
	}
	if _, err := b.CompleteAndLease(ctx, o.items[0].Lease, cairn.Completion{}, cairn.LeaseRequest{}); err != nil {
		t.Fatalf("complete c: %v", err)
	}
	finished(t, done, cairn.RunSucceeded)
}

// againStore runs the first Batch's fn twice, as a store does when its
// first transaction surely did not commit (store/postgres: a COMMIT never
// sent on a lost connection): the first run's writes are rolled back.
type againStore struct {
	scheduler.Store
	once sync.Once
}

var errRolledBack = errors.New("rolled back: run again")

func (s *againStore) Batch(ctx context.Context, fn func(tx scheduler.Tx) error) error {
	again := false
	s.once.Do(func() { again = true })
	if again {
		if err := s.Store.Batch(ctx, func(tx scheduler.Tx) error {
			if err := fn(tx); err != nil {
				return err
			}
			return errRolledBack
		}); !errors.Is(err, errRolledBack) {
			return err
		}
	}
	return s.Store.Batch(ctx, fn)
}

// A batch whose transaction the store runs again (the first rolled back)
// forgets what its first run planned: the completion is recorded once,
// by the second, and the run goes on to its end — rather than its plan
// of the first run taken for done (its successor's readiness, rolled
// back), or the second run waiting for the first's hold of the run (with
// OverlapCommits, within waits for a batch that holds the run).
func TestBrokerBatchRunAgain(t *testing.T) {
	for _, overlap := range []bool{false, true} {
		t.Run(fmt.Sprintf("overlap=%v", overlap), func(t *testing.T) {
			r := newRig(t, rigOptions{}, newProbe(nil))
			b := scheduler.NewBroker(&againStore{Store: r.st}, scheduler.BrokerOptions{Observe: r.events.observe, OverlapCommits: overlap})
			d := scheduler.NewDriver(r.st, b, scheduler.DriverOptions{Owner: "test:1:again"})
			wf, id := r.create(t, chainWorkflow)
			ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
			defer cancel()
			done := driveAsyncWith(ctx, d, id, wf)
			r.events.waitFor(t, "a ready", taskEvent("a", cairn.TaskReady))
			next := cairn.LeaseRequest{Worker: "w", RunID: id, Max: 1, Start: true, Wait: waitLimit}
			for _, task := range []string{"a", "b", "c"} {
				items, err := b.Lease(ctx, next)
				if err != nil || len(items) != 1 || items[0].Lease.TaskID != task {
					t.Fatalf("Lease = %+v, %v; want %s", items, err, task)
				}
				if _, err := b.CompleteAndLease(ctx, items[0].Lease, cairn.Completion{
					Outputs: map[string]json.RawMessage{"x": jsonString(task + "-out")}}, cairn.LeaseRequest{}); err != nil {
					t.Fatalf("CompleteAndLease %s: %v", task, err)
				}
			}
			finished(t, done, cairn.RunSucceeded)
		})
	}
}
