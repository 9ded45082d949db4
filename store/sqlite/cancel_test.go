package sqlite_test

// One caller's cancellation never aborts another's write (issue #16):
// calls made at the same time share one transaction (group commit), and
// a caller's context is checked only before its turn; once a call runs it
// runs to its end on the transaction's own context.

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/store/sqlite"
)

var cancelT0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// leasedRun creates a running-to-be run of the given tasks, all ready
// unless named p*, and leases every ready one for an hour.
func leasedRun(t *testing.T, s *sqlite.Store, at time.Time, ids ...string) (*cairn.Run, map[string]cairn.Lease) {
	t.Helper()
	ctx := context.Background()
	run := &cairn.Run{ID: cairn.NewRunID(at), Workflow: "wf", State: cairn.RunQueued, CreatedAt: at}
	tasks := make([]*cairn.TaskRun, len(ids))
	ready := 0
	for i, id := range ids {
		tasks[i] = &cairn.TaskRun{TaskID: id, Type: "noop", State: cairn.TaskPending}
		if id[0] != 'p' {
			tasks[i].State = cairn.TaskReady
			tasks[i].Params = []byte(`{}`)
			ready++
		}
	}
	if err := s.CreateRun(ctx, run, tasks); err != nil {
		t.Fatal(err)
	}
	items, err := s.Lease(ctx, cairn.LeaseRequest{Worker: "w", RunID: run.ID, Max: ready}, at, time.Hour)
	if err != nil || len(items) != ready {
		t.Fatalf("lease %d tasks: %d, %v", ready, len(items), err)
	}
	leases := map[string]cairn.Lease{}
	for _, it := range items {
		leases[it.Lease.TaskID] = it.Lease
	}
	return run, leases
}

func isCtxErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// waitQueued waits until n write requests wait behind a held writer.
func waitQueued(t *testing.T, s *sqlite.Store, n int) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for s.Queued() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests queued, want %d", s.Queued(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestCancelInSharedTransaction: with the writer held, calls queue and
// then run in one transaction. Those whose context was cancelled while
// they waited return the context's error and change nothing; a Batch
// that cancels its own context halfway still commits all of its writes;
// and the other callers' heartbeats, before and after both in the same
// transaction, succeed.
func TestCancelInSharedTransaction(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "cairn.db"))
	run, ls := leasedRun(t, s, cancelT0, "h0", "h1", "h2", "h3", "c0", "p0", "q0")
	now := cancelT0.Add(time.Minute)
	before := map[string]*cairn.TaskRun{}
	for _, id := range []string{"h2", "q0"} {
		tr, err := s.GetTaskRun(ctx, run.ID, id)
		if err != nil {
			t.Fatal(err)
		}
		before[id] = tr
	}
	lastEval, err := s.LastEvaluation(ctx)
	if err != nil {
		t.Fatal(err)
	}
	newRun := &cairn.Run{ID: cairn.NewRunID(now), Workflow: "wf", State: cairn.RunQueued, CreatedAt: now}

	release := s.HoldWriter(t)
	defer release()
	qctx, cancelQueued := context.WithCancel(ctx)
	bctx, cancelBatch := context.WithCancel(ctx)
	defer cancelBatch()
	var (
		wg      sync.WaitGroup
		errs    = map[string]error{}
		mu      sync.Mutex
		queued  int
		evalID  int64
		started = func(name string, f func() error) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := f()
				mu.Lock()
				errs[name] = err
				mu.Unlock()
			}()
			queued++
			waitQueued(t, s, queued) // one at a time: the queue's order is the calls' order
		}
	)
	hb := func(task string, c context.Context) func() error {
		return func() error { _, err := s.Heartbeat(c, ls[task], now, time.Hour); return err }
	}
	started("heartbeat h0", hb("h0", ctx))
	started("queued complete q0", func() error {
		_, err := s.Complete(qctx, ls["q0"], cairn.Completion{State: cairn.TaskSucceeded}, now)
		return err
	})
	started("self-cancelling batch", func() error {
		return s.Batch(bctx, func(tx scheduler.Tx) error {
			if _, err := tx.Complete(ls["c0"], cairn.Completion{State: cairn.TaskSucceeded}, now); err != nil {
				return err
			}
			cancelBatch() // its caller gives up halfway: what it started still commits, whole
			if err := tx.ApplyPlan(&scheduler.Plan{RunID: run.ID, Tasks: []scheduler.TaskChange{
				{TaskID: "p0", FromVersion: 1, From: cairn.TaskPending, To: cairn.TaskSkipped, At: now}}}); err != nil {
				return err
			}
			var err error
			evalID, err = tx.AddEvaluation(scheduler.Evaluation{RunID: run.ID, Reason: scheduler.EvalCompleted, TaskID: "c0", CreatedAt: now})
			return err
		})
	})
	started("heartbeat h1", hb("h1", ctx))
	started("queued create run", func() error {
		return s.CreateRun(qctx, newRun, []*cairn.TaskRun{{TaskID: "a", Type: "noop", State: cairn.TaskReady}})
	})
	started("queued heartbeat h2", hb("h2", qctx))
	started("heartbeat h3", hb("h3", ctx))
	cancelQueued()
	release()
	wg.Wait()

	for _, name := range []string{"heartbeat h0", "heartbeat h1", "heartbeat h3", "self-cancelling batch"} {
		if errs[name] != nil {
			t.Errorf("%s: %v", name, errs[name])
		}
	}
	for _, name := range []string{"queued complete q0", "queued create run", "queued heartbeat h2"} {
		if !errors.Is(errs[name], context.Canceled) {
			t.Errorf("%s: %v, want the context's error", name, errs[name])
		}
	}
	for _, id := range []string{"h0", "h1", "h3"} {
		if tr, err := s.GetTaskRun(ctx, run.ID, id); err != nil || !tr.LeaseExpiresAt.Equal(now.Add(time.Hour)) {
			t.Errorf("%s's lease after its heartbeat: until %v, %v; want %v", id, tr.LeaseExpiresAt, err, now.Add(time.Hour))
		}
	}
	// The queued calls cancelled changed nothing.
	for id, want := range before {
		if tr, err := s.GetTaskRun(ctx, run.ID, id); err != nil || !reflect.DeepEqual(tr, want) {
			t.Errorf("%s changed by a call cancelled in the queue: %+v, %v; was %+v", id, tr, err, want)
		}
	}
	if as, err := s.ListAttempts(ctx, run.ID, "q0"); err != nil || len(as) != 1 || as[0].State != cairn.TaskLeased {
		t.Errorf("q0's attempts after a completion cancelled in the queue: %+v, %v", as, err)
	}
	if _, err := s.GetRun(ctx, newRun.ID); !errors.Is(err, cairn.ErrNotFound) {
		t.Errorf("the run whose creation was cancelled in the queue: %v, want ErrNotFound", err)
	}
	// The batch's writes all stand.
	if tr, err := s.GetTaskRun(ctx, run.ID, "c0"); err != nil || tr.State != cairn.TaskSucceeded {
		t.Errorf("c0 after the self-cancelling batch: %+v, %v", tr, err)
	}
	if tr, err := s.GetTaskRun(ctx, run.ID, "p0"); err != nil || tr.State != cairn.TaskSkipped {
		t.Errorf("p0 after the self-cancelling batch: %+v, %v", tr, err)
	}
	es, err := s.Evaluations(ctx, lastEval, 100)
	if err != nil || len(es) != 1 || es[0].ID != evalID || es[0].TaskID != "c0" {
		t.Errorf("evaluations written meanwhile: %+v, %v; want only the batch's (id %d)", es, err, evalID)
	}
}

// cancelOp is one write made on a context cancelled at a random moment,
// and what it left.
type cancelOp struct {
	kind, mode string
	err        error
	lease      cairn.Lease // its task (complete, batch, heartbeat)
	pending    string      // the task its batch skips
	runID      string      // the run it creates
	hbNow      time.Time   // a heartbeat's now
}

// TestCancelledCallsAbortNoOtherWrite: 64 goroutines heartbeat their own
// leases over and over (Heartbeat and HeartbeatMany in turn) while others
// make writes — Complete, a Batch of three writes, CreateRun, Heartbeat,
// HeartbeatMany — on contexts cancelled at random
// moments (before the call, or within microseconds of it: while it
// waits, or while its transaction runs; a Batch also cancels its own
// context between its writes). Group commit puts many of these
// calls in each transaction. No heartbeat fails, each cancelled call
// either did not happen (it returned the context's error) or happened
// whole (it returned nil), and no call fails any other way.
func TestCancelledCallsAbortNoOtherWrite(t *testing.T) {
	const (
		heartbeaters = 64
		beats        = 250 // each: 16,000 heartbeats in all
		cancellers   = 8
		opsEach      = 150
	)
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "cairn.db"))
	hbIDs := make([]string, heartbeaters)
	for i := range hbIDs {
		hbIDs[i] = fmt.Sprintf("h%02d", i)
	}
	hbRun, hbLeases := leasedRun(t, s, cancelT0, hbIDs...)
	var opIDs []string
	for i := 0; i < cancellers*opsEach; i++ {
		opIDs = append(opIDs, fmt.Sprintf("r%04d", i), fmt.Sprintf("p%04d", i))
	}
	opRun, opLeases := leasedRun(t, s, cancelT0.Add(time.Second), opIDs...)

	var (
		wg         sync.WaitGroup
		hbFailed   atomic.Int64
		hbRan      atomic.Int64
		firstHBErr atomic.Value
	)
	last := make([]time.Time, heartbeaters)
	for i := range heartbeaters {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			l := hbLeases[hbIDs[i]]
			for k := 1; k <= beats; k++ {
				now := cancelT0.Add(time.Duration(k) * time.Millisecond)
				var err error
				if k%2 == 0 {
					_, err = s.Heartbeat(ctx, l, now, time.Hour)
				} else { // the pool's way
					var res []cairn.HeartbeatResult
					if res, err = s.HeartbeatMany(ctx, []cairn.Lease{l}, now, time.Hour); err == nil {
						err = res[0].Err
					}
				}
				hbRan.Add(1)
				if err != nil {
					hbFailed.Add(1)
					firstHBErr.CompareAndSwap(nil, err)
					continue
				}
				last[i] = now
			}
		}(i)
	}
	stats := s.WriteStats()
	ops := make([][]cancelOp, cancellers)
	for c := range cancellers {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(c), 42))
			for i := c * opsEach; i < (c+1)*opsEach; i++ {
				op := cancelOp{lease: opLeases[fmt.Sprintf("r%04d", i)], pending: fmt.Sprintf("p%04d", i)}
				kind := rng.IntN(5)
				cctx, cancel := context.WithCancel(ctx)
				modes := 4
				if kind == 1 {
					modes = 5 // a Batch can also be cancelled by its own fn, in the middle of its turn
				}
				switch rng.IntN(modes) {
				case 0:
					op.mode = "cancelled before"
					cancel()
				case 1:
					op.mode = "timeout"
					cctx, cancel = context.WithTimeout(ctx, time.Duration(rng.IntN(100))*time.Microsecond)
				case 2:
					op.mode = "timer"
					time.AfterFunc(time.Duration(rng.IntN(300))*time.Microsecond, cancel)
				case 3:
					op.mode = "goroutine"
					go cancel()
				default:
					op.mode = "during its turn"
				}
				now := cancelT0.Add(time.Minute)
				switch kind {
				case 0:
					op.kind = "complete"
					_, op.err = s.Complete(cctx, op.lease, cairn.Completion{State: cairn.TaskSucceeded}, now)
				case 1:
					op.kind = "batch"
					op.err = s.Batch(cctx, func(tx scheduler.Tx) error {
						if _, err := tx.Complete(op.lease, cairn.Completion{State: cairn.TaskSucceeded}, now); err != nil {
							return err
						}
						if op.mode == "during its turn" {
							cancel()
						}
						if err := tx.ApplyPlan(&scheduler.Plan{RunID: opRun.ID, Tasks: []scheduler.TaskChange{
							{TaskID: op.pending, FromVersion: 1, From: cairn.TaskPending, To: cairn.TaskSkipped, At: now}}}); err != nil {
							return err
						}
						_, err := tx.AddEvaluation(scheduler.Evaluation{RunID: opRun.ID, Reason: scheduler.EvalCompleted,
							TaskID: op.pending, Writer: "batch", CreatedAt: now})
						return err
					})
				case 2:
					op.kind = "create"
					r := &cairn.Run{ID: cairn.NewRunID(now), Workflow: "created", State: cairn.RunQueued, CreatedAt: now}
					op.runID = r.ID
					tasks := make([]*cairn.TaskRun, 20)
					for j := range tasks {
						tasks[j] = &cairn.TaskRun{TaskID: fmt.Sprintf("t%02d", j), Type: "noop", State: cairn.TaskPending}
					}
					op.err = s.CreateRun(cctx, r, tasks)
				case 3:
					op.kind = "heartbeat"
					op.hbNow = now
					_, op.err = s.Heartbeat(cctx, op.lease, now, 2*time.Hour)
				default:
					// With a superseded lease beside it, refused alone.
					op.kind = "heartbeat many"
					op.hbNow = now
					stale := op.lease
					stale.Token = "stale"
					var res []cairn.HeartbeatResult
					res, op.err = s.HeartbeatMany(cctx, []cairn.Lease{stale, op.lease}, now, 2*time.Hour)
					if op.err == nil && (!errors.Is(res[0].Err, cairn.ErrLeaseLost) || res[1].Err != nil) {
						op.err = fmt.Errorf("HeartbeatMany results %+v: want the stale lease refused, the live one renewed", res)
					}
				}
				cancel()
				ops[c] = append(ops[c], op)
			}
		}(c)
	}
	wg.Wait()
	commits := s.WriteStats().Transactions - stats.Transactions

	// Every heartbeat on a live context succeeded, and the last of each
	// is what the store holds: none was rolled back unseen.
	if n := hbFailed.Load(); n != 0 {
		t.Errorf("%d of %d heartbeats failed, want 0; the first: %v", n, hbRan.Load(), firstHBErr.Load())
	}
	trs, err := s.ListTaskRuns(ctx, hbRun.ID)
	if err != nil {
		t.Fatal(err)
	}
	for i, tr := range trs {
		if want := last[i].Add(time.Hour); !tr.LeaseExpiresAt.Equal(want) || tr.LeaseToken != hbLeases[tr.TaskID].Token {
			t.Errorf("%s's lease until %v, want %v (its last heartbeat's)", tr.TaskID, tr.LeaseExpiresAt, want)
		}
	}

	// Each cancelled call happened whole or not at all.
	tasks := map[string]*cairn.TaskRun{}
	trs, err = s.ListTaskRuns(ctx, opRun.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range trs {
		tasks[tr.TaskID] = tr
	}
	batchEvals := map[string]int{}
	completedEvals := map[string]int{}
	createdEvals := map[string]int{} // by run
	var after int64
	for {
		es, err := s.Evaluations(ctx, after, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(es) == 0 {
			break
		}
		for _, e := range es {
			after = e.ID
			switch {
			case e.RunID == opRun.ID && e.Writer == "batch":
				batchEvals[e.TaskID]++
			case e.RunID == opRun.ID && e.Reason == scheduler.EvalCompleted:
				completedEvals[e.TaskID]++
			case e.Reason == scheduler.EvalCreated:
				createdEvals[e.RunID]++
			}
		}
	}
	type tally struct{ happened, not int }
	counts := map[string]*tally{}
	for _, list := range ops {
		for _, op := range list {
			key := op.kind + ", " + op.mode
			if counts[key] == nil {
				counts[key] = &tally{}
			}
			happened := op.err == nil
			switch {
			case op.err != nil && !isCtxErr(op.err):
				t.Errorf("%s: failed other than by its context: %v", key, op.err)
				continue
			case op.mode == "cancelled before" && happened:
				t.Errorf("%s: ran on a context cancelled before the call", key)
			case op.mode == "during its turn" && !happened:
				t.Errorf("%s: did not happen: %v", key, op.err)
			}
			if happened {
				counts[key].happened++
			} else {
				counts[key].not++
			}
			tr, pend := tasks[op.lease.TaskID], tasks[op.pending]
			var whole, none bool
			switch op.kind {
			case "complete":
				whole = tr.State == cairn.TaskSucceeded && completedEvals[tr.TaskID] == 1
				none = tr.State == cairn.TaskLeased && tr.LeaseToken == op.lease.Token && completedEvals[tr.TaskID] == 0
			case "batch":
				whole = tr.State == cairn.TaskSucceeded && pend.State == cairn.TaskSkipped && batchEvals[op.pending] == 1
				none = tr.State == cairn.TaskLeased && pend.State == cairn.TaskPending && batchEvals[op.pending] == 0
			case "create":
				_, err := s.GetRun(ctx, op.runID)
				switch {
				case errors.Is(err, cairn.ErrNotFound):
					none = createdEvals[op.runID] == 0
				case err != nil:
					t.Fatal(err)
				default:
					ts, err := s.ListTaskRuns(ctx, op.runID)
					if err != nil {
						t.Fatal(err)
					}
					whole = len(ts) == 20 && createdEvals[op.runID] == 1
				}
			case "heartbeat", "heartbeat many":
				whole = tr.LeaseExpiresAt.Equal(op.hbNow.Add(2 * time.Hour))
				none = tr.LeaseExpiresAt.Equal(op.lease.ExpiresAt)
			}
			if happened && !whole || !happened && !none {
				t.Errorf("%s returned %v but is half applied or applied against its outcome: task %+v, pending %+v",
					key, op.err, tr, pend)
			}
		}
	}
	t.Logf("%d heartbeats, %d failed; %d calls in %d commits", hbRan.Load(), hbFailed.Load(),
		hbRan.Load()+int64(cancellers*opsEach), commits)
	for _, kind := range []string{"complete", "batch", "create", "heartbeat", "heartbeat many"} {
		for _, mode := range []string{"cancelled before", "timeout", "timer", "goroutine", "during its turn"} {
			if c := counts[kind+", "+mode]; c != nil {
				t.Logf("%-14s on a context %-16s: %3d happened, %3d did not", kind, mode, c.happened, c.not)
			}
		}
	}
}
