package storetest

// Two stores on one database, as two scheduler processes (a server and a
// foreground cairn run, or two servers) have: what one writes the other
// reads, and every compare-and-set holds across them.

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
)

// testTwoStoresRun: a run created through one store is read, leased,
// planned and completed through the other, and its evaluations are the
// same through both.
func testTwoStoresRun(t *testing.T, a, b scheduler.Store) {
	ctx := context.Background()
	t0 := origin()
	run, tasks := newRun(t, a, t0, "wf", cairn.TaskReady, cairn.TaskPending)
	got, err := b.GetRun(ctx, run.ID)
	if err != nil || !reflect.DeepEqual(got, run) {
		t.Fatalf("GetRun through the other store = %+v, %v; want %+v", got, err, run)
	}
	if ts, err := b.ListTaskRuns(ctx, run.ID); err != nil || !reflect.DeepEqual(ts, tasks) {
		t.Fatalf("ListTaskRuns through the other store = %+v, %v", ts, err)
	}
	if tr, err := b.GetTaskRun(ctx, run.ID, "t1"); err != nil || !reflect.DeepEqual(tr, tasks[1]) {
		t.Fatalf("GetTaskRun through the other store = %+v, %v", tr, err)
	}
	if id, err := b.ResolveRunID(ctx, run.ID[:12]); err != nil || id != run.ID {
		t.Errorf("ResolveRunID through the other store = %q, %v", id, err)
	}

	now := t0.Add(time.Second)
	items, err := b.Lease(ctx, cairn.LeaseRequest{Worker: "wb", Max: 5, Start: true}, now, ttl)
	if err != nil || len(items) != 1 || items[0].Lease.TaskID != "t0" {
		t.Fatalf("Lease through the other store = %+v, %v", items, err)
	}
	l := items[0].Lease
	if tr, err := a.GetTaskRun(ctx, run.ID, "t0"); err != nil || tr.State != cairn.TaskRunning || tr.LeaseToken != l.Token {
		t.Fatalf("the first store sees t0 %+v, %v; want running under the other's lease", tr, err)
	}
	if none := lease(t, a, "wa", "", 5, now); len(none) != 0 {
		t.Fatalf("the first store leased a task the other holds: %+v", none)
	}
	if _, err := a.Heartbeat(ctx, l, now.Add(time.Second), ttl); err != nil {
		t.Fatalf("Heartbeat through the first store of the other's lease: %v", err)
	}
	done, err := b.Complete(ctx, l, cairn.Completion{State: cairn.TaskSucceeded, Metrics: map[string]float64{"m": 1}}, now.Add(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if tr, err := a.GetTaskRun(ctx, run.ID, "t0"); err != nil || !reflect.DeepEqual(tr, done) {
		t.Errorf("the first store reads t0 %+v, %v; the other completed it as %+v", tr, err, done)
	}
	if as := attempts(t, a, run.ID, "t0"); len(as) != 1 || as[0].State != cairn.TaskSucceeded || as[0].Worker != "wb" {
		t.Errorf("attempts through the first store: %+v", as)
	}

	// Planned through the first store from what it reads, leased and
	// completed through the other.
	r, err := a.GetRun(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	t1, err := a.GetTaskRun(ctx, run.ID, "t1")
	if err != nil {
		t.Fatal(err)
	}
	p := &scheduler.Plan{RunID: run.ID,
		Run:   &scheduler.RunChange{FromVersion: r.Version, From: cairn.RunQueued, To: cairn.RunRunning, At: now},
		Tasks: []scheduler.TaskChange{{TaskID: "t1", FromVersion: t1.Version, From: cairn.TaskPending, To: cairn.TaskReady, Params: []byte(`{}`)}}}
	if err := a.ApplyPlan(ctx, p); err != nil {
		t.Fatal(err)
	}
	// The same plan through the other store is a conflict: versions are
	// shared.
	stale := &scheduler.Plan{RunID: run.ID, Tasks: []scheduler.TaskChange{
		{TaskID: "t1", FromVersion: t1.Version, From: cairn.TaskPending, To: cairn.TaskSkipped, At: now}}}
	wantErr(t, b.ApplyPlan(ctx, stale), cairn.ErrConflict)
	l1 := lease(t, b, "wb", run.ID, 5, now)
	if len(l1) != 1 || l1[0].Lease.TaskID != "t1" {
		t.Fatalf("lease of t1 through the other store = %+v", l1)
	}
	if _, err := b.Complete(ctx, l1[0].Lease, cairn.Completion{State: cairn.TaskSucceeded}, now); err != nil {
		t.Fatal(err)
	}
	sa, sb := snapshot(t, a, run.ID), snapshot(t, b, run.ID)
	if !reflect.DeepEqual(sa, sb) {
		t.Errorf("the two stores read the run differently:\n%+v\n%+v", sa, sb)
	}

	// Evaluations: the same list through both, in one id order.
	ea, eb := allEvals(t, a, ""), allEvals(t, b, "")
	if !reflect.DeepEqual(ea, eb) || len(ea) != 3 {
		t.Fatalf("evaluations through the first store %+v, through the other %+v; want the same three", ea, eb)
	}
	if la, lb := last(t, a), last(t, b); la != lb || la != ea[2].ID {
		t.Errorf("LastEvaluation: %d and %d, want %d", la, lb, ea[2].ID)
	}
	// Written alternately through each, the ids only grow.
	prev := last(t, a)
	for i := 0; i < 6; i++ {
		s := a
		if i%2 == 1 {
			s = b
		}
		var id int64
		if err := s.Batch(ctx, func(tx scheduler.Tx) error {
			var err error
			id, err = tx.AddEvaluation(scheduler.Evaluation{RunID: run.ID, Reason: scheduler.EvalCompleted, Writer: fmt.Sprint(i), CreatedAt: now})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if id <= prev {
			t.Errorf("evaluation %d got id %d after %d", i, id, prev)
		}
		prev = id
	}
	// Acknowledged through one, gone through the other.
	if err := b.AckEvaluations(ctx, run.ID, prev, now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if es := allEvals(t, a, run.ID); len(es) != 0 {
		t.Errorf("evaluations through the first store after the other acknowledged them: %+v", es)
	}
	if la := last(t, a); la != prev {
		t.Errorf("LastEvaluation through the first store = %d after the other deleted every row, want %d", la, prev)
	}
}

// testTwoStoresClaims: a claim through one store holds against the other.
func testTwoStoresClaims(t *testing.T, a, b scheduler.Store) {
	ctx := context.Background()
	t0 := origin()
	now := t0.Add(time.Hour)
	x, _ := newRun(t, a, t0, "wf", cairn.TaskPending)
	y, _ := newRun(t, a, t0.Add(time.Second), "wf", cairn.TaskPending)
	z, _ := newRun(t, b, t0.Add(2*time.Second), "wf", cairn.TaskPending)

	if held, err := a.ClaimRuns(ctx, []string{x.ID, y.ID}, "A", now, time.Minute); err != nil || len(held) != 2 {
		t.Fatalf("ClaimRuns for A = %v, %v", held, err)
	}
	if _, err := b.ClaimRun(ctx, x.ID, "B", now.Add(30*time.Second), time.Minute, false); !errors.Is(err, cairn.ErrRunOwned) {
		t.Errorf("ClaimRun through the other store of A's live claim: %v, want ErrRunOwned", err)
	}
	if held, err := b.ClaimRuns(ctx, []string{x.ID, y.ID, z.ID}, "B", now.Add(30*time.Second), time.Minute); err != nil ||
		!reflect.DeepEqual(held, []string{z.ID}) {
		t.Errorf("ClaimRuns through the other store = %v, %v; want only the free run", held, err)
	}
	// A renews through the first store: B's claim stays as it was.
	held, err := a.RenewClaims(ctx, "A", now.Add(50*time.Second), time.Minute)
	if err != nil || !reflect.DeepEqual(idSet(held), idSet([]string{x.ID, y.ID})) {
		t.Errorf("RenewClaims of A = %v, %v", held, err)
	}
	if r, err := b.GetRun(ctx, z.ID); err != nil || r.Owner != "B" || !r.OwnerExpiresAt.Equal(now.Add(90*time.Second)) {
		t.Errorf("B's run after A renewed: %+v, %v; want B's until %v", r, err, now.Add(90*time.Second))
	}
	if r, err := b.GetRun(ctx, x.ID); err != nil || !r.OwnerExpiresAt.Equal(now.Add(110*time.Second)) {
		t.Errorf("the other store reads A's renewed claim until %v, %v; want %v", r.OwnerExpiresAt, err, now.Add(110*time.Second))
	}
	// Past the renewed expiry and not before, the other store takes it;
	// A's renewal through the first then no longer includes it.
	if _, err := b.ClaimRun(ctx, x.ID, "B", now.Add(109*time.Second), time.Minute, false); !errors.Is(err, cairn.ErrRunOwned) {
		t.Errorf("ClaimRun before the renewed claim expired: %v, want ErrRunOwned", err)
	}
	if un, err := b.Unowned(ctx, now.Add(110*time.Second), 10); err != nil || !reflect.DeepEqual(claimIDs(un), []string{x.ID, y.ID, z.ID}) {
		t.Errorf("Unowned through the other store once every claim lapsed = %v, %v", claimIDs(un), err)
	}
	if held, err := b.ClaimRuns(ctx, []string{x.ID}, "B", now.Add(110*time.Second), time.Minute); err != nil || !reflect.DeepEqual(held, []string{x.ID}) {
		t.Fatalf("ClaimRuns of the lapsed claim = %v, %v", held, err)
	}
	if held, err := a.RenewClaims(ctx, "A", now.Add(111*time.Second), time.Minute); err != nil || !reflect.DeepEqual(held, []string{y.ID}) {
		t.Errorf("RenewClaims of A once B took x = %v, %v; want y only", held, err)
	}
	if owned, err := a.Owned(ctx, "A", 10); err != nil || !reflect.DeepEqual(idSet(claimIDs(owned)), idSet([]string{x.ID, z.ID})) {
		t.Errorf("Owned except A through the first store = %v, %v; want B's two", claimIDs(owned), err)
	}
	// A lease for B through the first store gets B's runs' tasks only.
	if err := b.ApplyPlan(ctx, &scheduler.Plan{RunID: x.ID, Tasks: []scheduler.TaskChange{
		{TaskID: "t0", FromVersion: 1, From: cairn.TaskPending, To: cairn.TaskReady, Params: []byte(`{}`)}}}); err != nil {
		t.Fatal(err)
	}
	if err := a.ApplyPlan(ctx, &scheduler.Plan{RunID: y.ID, Tasks: []scheduler.TaskChange{
		{TaskID: "t0", FromVersion: 1, From: cairn.TaskPending, To: cairn.TaskReady, Params: []byte(`{}`)}}}); err != nil {
		t.Fatal(err)
	}
	items, err := a.Lease(ctx, cairn.LeaseRequest{Worker: "w", Owner: "B", Max: 10}, now, ttl)
	if err != nil || len(items) != 1 || items[0].Lease.RunID != x.ID {
		t.Errorf("Lease for B through the first store = %+v, %v; want x's task", items, err)
	}
	if err := b.ReleaseClaims(ctx, "B"); err != nil {
		t.Fatal(err)
	}
	if r, err := a.GetRun(ctx, z.ID); err != nil || r.Owner != "" {
		t.Errorf("after B released through the other store, z is %+v, %v", r, err)
	}
}

// testTwoStoresLeaseCAS: a lease's compare-and-set holds across the two
// stores: a superseded or completed lease is refused through either.
func testTwoStoresLeaseCAS(t *testing.T, a, b scheduler.Store) {
	ctx := context.Background()
	t0 := origin()
	run, _ := newRun(t, a, t0, "wf", cairn.TaskReady)
	l1 := lease(t, a, "wa", run.ID, 1, t0)[0].Lease
	exp := t0.Add(ttl)
	// The other store expires it and the task is leased again there.
	if _, err := b.Expire(ctx, l1, cairn.Completion{State: cairn.TaskRetrying, RetryAt: exp, Error: "lease expired", Retryable: true,
		Interrupted: true}, exp, false); err != nil {
		t.Fatal(err)
	}
	retryTask(t, b, run.ID, "t0")
	l2 := lease(t, b, "wb", run.ID, 1, exp)[0].Lease
	if l2.Attempt != 2 || l2.Token == l1.Token {
		t.Fatalf("second lease %+v", l2)
	}
	before := snapshot(t, b, run.ID)
	now := exp.Add(time.Second)
	for _, s := range []scheduler.Store{a, b} {
		if _, err := s.Complete(ctx, l1, cairn.Completion{State: cairn.TaskSucceeded}, now); !errors.Is(err, cairn.ErrLeaseLost) {
			t.Errorf("Complete with the superseded token: %v, want ErrLeaseLost", err)
		}
		if _, err := s.Heartbeat(ctx, l1, now, ttl); !errors.Is(err, cairn.ErrLeaseLost) {
			t.Errorf("Heartbeat with the superseded token: %v, want ErrLeaseLost", err)
		}
		if _, err := s.Expire(ctx, l1, cairn.Completion{State: cairn.TaskFailed}, now, true); !errors.Is(err, cairn.ErrLeaseLost) {
			t.Errorf("Expire with the superseded token: %v, want ErrLeaseLost", err)
		}
		err := s.Batch(ctx, func(tx scheduler.Tx) error {
			_, err := tx.Complete(l1, cairn.Completion{State: cairn.TaskSucceeded}, now)
			return err
		})
		if !errors.Is(err, cairn.ErrLeaseLost) {
			t.Errorf("Tx.Complete with the superseded token: %v, want ErrLeaseLost", err)
		}
	}
	assertUnchanged(t, a, before)
	// The live lease completes through the store that did not issue it,
	// once: the second completion through the issuer is refused.
	if _, err := a.Complete(ctx, l2, cairn.Completion{State: cairn.TaskSucceeded}, now); err != nil {
		t.Fatalf("Complete of the live lease through the first store: %v", err)
	}
	if _, err := b.Complete(ctx, l2, cairn.Completion{State: cairn.TaskFailed, Error: "late"}, now); !errors.Is(err, cairn.ErrLeaseLost) {
		t.Errorf("second Complete through the other store: %v, want ErrLeaseLost", err)
	}
	if tr := task(t, b, run.ID, "t0"); tr.State != cairn.TaskSucceeded || tr.Error != "" {
		t.Errorf("t0 = %s %q, want succeeded", tr.State, tr.Error)
	}
}

// testTwoStoresConcurrentLease: workers of both stores lease and complete
// one run's tasks at once: each task is leased exactly once.
func testTwoStoresConcurrentLease(t *testing.T, a, b scheduler.Store) {
	ctx := context.Background()
	t0 := origin()
	const n, workers = 200, 8
	run, _ := newRun(t, a, t0, "wf", states(n, cairn.TaskReady)...)
	var (
		mu  sync.Mutex
		got = map[string]int{}
		wg  sync.WaitGroup
	)
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		s := a
		if w%2 == 1 {
			s = b
		}
		wg.Add(1)
		go func(w int, s scheduler.Store) {
			defer wg.Done()
			name := fmt.Sprintf("w%d", w)
			for {
				items, err := s.Lease(ctx, cairn.LeaseRequest{Worker: name, Max: 1 + w%3, Start: true}, t0, ttl)
				if err != nil {
					errs <- err
					return
				}
				if len(items) == 0 {
					return
				}
				for _, it := range items {
					if _, err := s.Complete(ctx, it.Lease, cairn.Completion{State: cairn.TaskSucceeded}, t0); err != nil {
						errs <- err
						return
					}
				}
				mu.Lock()
				for _, it := range items {
					got[it.Lease.TaskID]++
				}
				mu.Unlock()
			}
		}(w, s)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(got) != n {
		t.Errorf("%d tasks leased, want %d", len(got), n)
	}
	for id, k := range got {
		if k != 1 {
			t.Errorf("task %s leased %d times", id, k)
		}
	}
	if as, err := b.ListAttempts(ctx, run.ID, ""); err != nil || len(as) != n {
		t.Errorf("%d attempts, %v; want %d", len(as), err, n)
	}
	if es := allEvals(t, a, run.ID); len(es) != n+1 {
		t.Errorf("%d evaluations of the run, want %d (created, and one per completion)", len(es), n+1)
	}
}
