package storetest

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
)

// testLeaseShared: one lease for several workers (LeaseRequest.Also), as
// a completion batch's workers take it: the tasks ready first go to
// Worker up to its Max, then to each share in order up to its own, each
// item's lease, task run and attempt naming its holder, tokens distinct;
// fewer ready than asked leaves the last shares short. In a transaction
// (Tx.Lease) and alone (Store.Lease), started or not, and in the lease
// queue's other orders (a ready task with a priority: a pool and
// priorities).
func testLeaseShared(t *testing.T, s scheduler.Store) {
	ctx := context.Background()
	t0 := origin()
	now := t0.Add(time.Minute)
	check := func(name string, runID string, got []cairn.WorkItem, want []string, start bool) {
		t.Helper()
		var gotIDs []string
		tokens := map[string]bool{}
		for _, it := range got {
			gotIDs = append(gotIDs, it.Lease.TaskID+"@"+it.Lease.Worker)
			if it.Lease.Token == "" || tokens[it.Lease.Token] || it.Lease.Attempt != 1 || !it.Lease.ExpiresAt.Equal(now.Add(ttl)) ||
				it.Started != start || it.Lease.RunID != runID {
				t.Errorf("%s: bad work item %+v", name, it)
			}
			tokens[it.Lease.Token] = true
			tr := task(t, s, it.Lease.RunID, it.Lease.TaskID)
			state := cairn.TaskLeased
			if start {
				state = cairn.TaskRunning
			}
			if tr.State != state || tr.LeaseWorker != it.Lease.Worker || tr.LeaseToken != it.Lease.Token {
				t.Errorf("%s: task %s = %s held by %q (%s), want %s by %q (%s)", name, it.Lease.TaskID, tr.State, tr.LeaseWorker,
					tr.LeaseToken, state, it.Lease.Worker, it.Lease.Token)
			}
			if as := attempts(t, s, it.Lease.RunID, it.Lease.TaskID); len(as) != 1 || as[0].Worker != it.Lease.Worker {
				t.Errorf("%s: the attempts of %s = %+v, want one of %s", name, it.Lease.TaskID, as, it.Lease.Worker)
			}
		}
		if !reflect.DeepEqual(gotIDs, want) {
			t.Errorf("%s: leased %v, want %v", name, gotIDs, want)
		}
	}
	req := func(runID string, start bool) cairn.LeaseRequest {
		return cairn.LeaseRequest{Worker: "w1", RunID: runID, Max: 2, Start: start,
			Also: []cairn.LeaseShare{{Worker: "w2", Max: 1}, {Worker: "w3", Max: 4}}}
	}

	// Alone, 5 ready for 7 places: w3 gets 2 of its 4.
	a, _ := newRun(t, s, t0, "wf", states(5, cairn.TaskReady)...)
	got, err := s.Lease(ctx, req(a.ID, false), now, ttl)
	if err != nil {
		t.Fatal(err)
	}
	check("Store.Lease", a.ID, got, []string{"t0@w1", "t1@w1", "t2@w2", "t3@w3", "t4@w3"}, false)
	// Each holder's lease completes; a stale one (another's token) does not.
	if _, err := s.Complete(ctx, got[3].Lease, cairn.Completion{State: cairn.TaskSucceeded, FinishedAt: now}, now); err != nil {
		t.Errorf("the completion of w3's lease: %v", err)
	}
	stale := got[4].Lease
	stale.Token = got[2].Lease.Token
	if _, err := s.Complete(ctx, stale, cairn.Completion{State: cairn.TaskSucceeded, FinishedAt: now}, now); err == nil {
		t.Error("a completion under another task's token was accepted")
	}

	// In a transaction, started, 8 ready: every place filled, one left.
	b, _ := newRun(t, s, t0, "wf", states(8, cairn.TaskReady)...)
	err = s.Batch(ctx, func(tx scheduler.Tx) error {
		var err error
		got, err = tx.Lease(req(b.ID, true), now, ttl)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	check("Tx.Lease", b.ID, got, []string{"t0@w1", "t1@w1", "t2@w2", "t3@w3", "t4@w3", "t5@w3", "t6@w3"}, true)
	if tr := task(t, s, b.ID, "t7"); tr.State != cairn.TaskReady {
		t.Errorf("b/t7 is %s, want ready", tr.State)
	}

	// Priorities in a pool: the queue's order, not the ready order.
	c := &cairn.Run{ID: cairn.NewRunID(t0), Workflow: "prio", Digest: digest, SourcePath: "wf/prio.yaml",
		Source: []byte("name: prio\n"), State: cairn.RunQueued, CreatedAt: t0, Pools: map[string]int{"q": 3}}
	var tasks []*cairn.TaskRun
	for i, p := range []int{0, 0, 5, 3} {
		tasks = append(tasks, &cairn.TaskRun{RunID: c.ID, TaskID: fmt.Sprintf("t%d", i), Type: "shell",
			State: cairn.TaskReady, Retry: cairn.RetryPolicy{Factor: 1}, Params: []byte(`{}`), Priority: p, Pool: "q", PoolSlots: 1})
	}
	if err := s.CreateRun(ctx, c, tasks); err != nil {
		t.Fatal(err)
	}
	err = s.Batch(ctx, func(tx scheduler.Tx) error {
		var err error
		got, err = tx.Lease(cairn.LeaseRequest{Worker: "w1", RunID: c.ID, Max: 1, Also: []cairn.LeaseShare{{Worker: "w2", Max: 4}}}, now, ttl)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// The pool has 3 slots: t2 (5), t3 (3), t0 (0); t1 waits.
	check("Tx.Lease by priority in a pool", c.ID, got, []string{"t2@w1", "t3@w2", "t0@w2"}, false)
}
