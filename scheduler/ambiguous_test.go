package scheduler_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
)

// ambiguousStore reports the first committed batch that does what
// matches says as failed: its writes happened, its caller hears an error
// (a connection broken before the commit's answer came back).
type ambiguousStore struct {
	scheduler.Store
	matches func(tx *spyTx) bool
	once    sync.Once
	fired   atomic.Bool
}

// spyTx records which writes a batch made.
type spyTx struct {
	scheduler.Tx
	expired, completed bool
}

func (t *spyTx) Expire(l cairn.Lease, c cairn.Completion, now time.Time, force bool) (*cairn.TaskRun, error) {
	t.expired = true
	return t.Tx.Expire(l, c, now, force)
}

func (t *spyTx) CompleteMany(fs []scheduler.Finish, now time.Time) ([]*cairn.TaskRun, []error, error) {
	t.completed = true
	return t.Tx.CompleteMany(fs, now)
}

var errAfterCommit = errors.New("connection reset after the commit")

func (s *ambiguousStore) Batch(ctx context.Context, fn func(tx scheduler.Tx) error) error {
	var spy *spyTx
	err := s.Store.Batch(ctx, func(tx scheduler.Tx) error {
		spy = &spyTx{Tx: tx}
		return fn(spy)
	})
	if err == nil && s.matches(spy) {
		fail := false
		s.once.Do(func() { fail = true })
		if fail {
			s.fired.Store(true)
			return errAfterCommit
		}
	}
	return err
}

// An expired lease whose expiry commits but is reported failed is still
// planned: the reaper's evaluation names this process as its writer, and
// the service took its own evaluations for changes it knew of, so the
// task stayed retrying and the run running for ever (found by the chaos
// harness's ambiguous commits). The broker now tells the run's loop to
// read the run again.
func TestAmbiguousExpiryIsPlanned(t *testing.T) {
	testAmbiguousIsPlanned(t, func(tx *spyTx) bool { return tx.expired }, true)
}

// A completion whose batch committed but was reported failed: the
// worker's report again is refused (its lease ended), the plan made in
// the batch is forgotten and the run read again; the run succeeds with
// one success accepted per task.
func TestAmbiguousCompletionIsPlanned(t *testing.T) {
	testAmbiguousIsPlanned(t, func(tx *spyTx) bool { return tx.completed }, false)
}

func testAmbiguousIsPlanned(t *testing.T, matches func(*spyTx) bool, ghost bool) {
	r := newRig(t, rigOptions{}, newProbe(nil))
	wf, id := r.create(t, `name: two
tasks:
  - {id: a, type: probe, with: {in: "1"}}
  - {id: b, type: probe, with: {in: "${{ tasks.a.outputs.x }}"}}
`)
	const owner = "test:1:ambiguous"
	st := &ambiguousStore{Store: r.st, matches: matches}
	b := scheduler.NewBroker(st, scheduler.BrokerOptions{Name: owner, LeaseTTL: 300 * time.Millisecond})
	svc := scheduler.NewService(st, b, scheduler.ServiceOptions{
		Owner: owner, Adopt: true, OwnerTTL: 10 * time.Second, PollInterval: 20 * time.Millisecond,
		Load: func(context.Context, *cairn.Run) (scheduler.Graph, error) { return wf, nil },
	})
	svc.Start(context.Background())
	defer svc.Stop(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if ghost {
		// A worker takes a and dies: its lease expires, and the reaper's
		// batch is the ambiguous one.
		items, err := b.Lease(ctx, cairn.LeaseRequest{Worker: "ghost", Max: 1, Start: true, Wait: waitLimit})
		if err != nil || len(items) != 1 {
			t.Fatalf("Lease = %v, %v", items, err)
		}
	}
	r.startPoolOver(t, b, owner, owner, 2, 50*time.Millisecond)
	for {
		run, err := r.st.GetRun(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if run.State.Terminal() {
			if run.State != cairn.RunSucceeded {
				t.Fatalf("run %s: %s", id, run.State)
			}
			break
		}
		if ctx.Err() != nil {
			trs, _ := r.st.ListTaskRuns(context.Background(), id)
			for _, tr := range trs {
				t.Logf("task %s: %s, attempt %d", tr.TaskID, tr.State, tr.Attempt)
			}
			t.Fatalf("run %s still %s after %s (ambiguous commit made: %v)", id, run.State, waitLimit, st.fired.Load())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !st.fired.Load() {
		t.Fatal("no batch was reported failed after its commit: the test tested nothing")
	}
	for _, task := range []string{"a", "b"} {
		atts, err := r.st.ListAttempts(ctx, id, task)
		if err != nil {
			t.Fatal(err)
		}
		wins := 0
		for _, a := range atts {
			if a.State == cairn.TaskSucceeded {
				wins++
			}
		}
		if wins != 1 {
			t.Errorf("task %s: %d successes accepted, want 1 (%d attempts)", task, wins, len(atts))
		}
	}
}

// failingStore fails the writes of the first plan applied, before they
// reach the store — alone (ApplyPlan) or in a batch with the leases it
// hands out (Tx.ApplyPlan: the loop's plans when a Lease waits), and
// again when that batch's plan is applied alone — and the first
// ReleaseRun.
type failingStore struct {
	scheduler.Store
	plan, release atomic.Bool
	first         atomic.Pointer[scheduler.Plan]
}

// fails reports whether p is the first plan applied, failing it.
func (s *failingStore) fails(p *scheduler.Plan) bool {
	if s.first.CompareAndSwap(nil, p) || s.first.Load() == p {
		s.plan.Store(true)
		return true
	}
	return false
}

func (s *failingStore) ApplyPlan(ctx context.Context, p *scheduler.Plan) error {
	if s.fails(p) {
		return errors.New("connection reset before the statement")
	}
	return s.Store.ApplyPlan(ctx, p)
}

func (s *failingStore) Batch(ctx context.Context, fn func(tx scheduler.Tx) error) error {
	return s.Store.Batch(ctx, func(tx scheduler.Tx) error { return fn(failingTx{Tx: tx, s: s}) })
}

// failingTx is a batch's transaction of failingStore.
type failingTx struct {
	scheduler.Tx
	s *failingStore
}

func (t failingTx) ApplyPlan(p *scheduler.Plan) error {
	if t.s.fails(p) {
		return errors.New("connection reset before the statement")
	}
	return t.Tx.ApplyPlan(p)
}

func (s *failingStore) ReleaseRun(ctx context.Context, id, owner string) error {
	if s.release.CompareAndSwap(false, true) {
		return errors.New("connection reset before the statement")
	}
	return s.Store.ReleaseRun(ctx, id, owner)
}

// A run whose loop stopped on a failed write, and whose claim could not
// be released then, is not left claimed for ever: the service renewed
// that claim with all of its others, so no scheduler would ever adopt the
// run (found by the chaos harness). Seen at two renewals without being
// planned, the claim is released and the run adopted again.
func TestStrayClaimIsReleased(t *testing.T) {
	r := newRig(t, rigOptions{}, newProbe(nil))
	wf, id := r.create(t, `name: two
tasks:
  - {id: a, type: probe, with: {in: "1"}}
  - {id: b, type: probe, with: {in: "${{ tasks.a.outputs.x }}"}}
`)
	const owner = "test:1:stray"
	st := &failingStore{Store: r.st}
	b := scheduler.NewBroker(st, scheduler.BrokerOptions{Name: owner})
	svc := scheduler.NewService(st, b, scheduler.ServiceOptions{
		Owner: owner, Adopt: true, OwnerTTL: time.Second, PollInterval: 20 * time.Millisecond,
		Load: func(context.Context, *cairn.Run) (scheduler.Graph, error) { return wf, nil },
	})
	svc.Start(context.Background())
	defer svc.Stop(context.Background())
	r.startPoolOver(t, b, owner, owner, 2, 50*time.Millisecond)
	deadline := time.Now().Add(waitLimit)
	for {
		run, err := r.st.GetRun(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if run.State.Terminal() {
			if run.State != cairn.RunSucceeded {
				t.Fatalf("run %s: %s", id, run.State)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %s still %s, claimed by %q, planned by the service: %v", id, run.State, run.Owner, svc.Runs())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !st.plan.Load() || !st.release.Load() {
		t.Fatal("no plan or release failed: the test tested nothing")
	}
}
