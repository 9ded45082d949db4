package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
)

// testGiveBack gives leased tasks whose attempts never began back to the
// queue (LeaseStore.GiveBack): each is ready again as before its lease —
// its attempt count one lower, no lease, no attempt row, no interruption,
// its first start unset only if this was its first attempt — and is
// leased again like any ready task; a lease no longer held is left alone.
func testGiveBack(t *testing.T, s scheduler.Store) {
	ctx := context.Background()
	t0 := origin()
	run, _ := newRun(t, s, t0, "wf", states(4, cairn.TaskReady)...)
	// t3 is on its second attempt: its first ended interrupted and it
	// was made ready again.
	first := lease(t, s, "w0", run.ID, 4, t0)
	by := map[string]cairn.Lease{}
	for _, it := range first {
		by[it.Lease.TaskID] = it.Lease
	}
	tr3, err := s.Complete(ctx, by["t3"], cairn.Completion{State: cairn.TaskRetrying, Error: "gone", Retryable: true, Interrupted: true,
		RetryAt: t0}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ApplyPlan(ctx, &scheduler.Plan{RunID: run.ID, Tasks: []scheduler.TaskChange{
		{TaskID: "t3", FromVersion: tr3.Version, From: cairn.TaskRetrying, To: cairn.TaskReady}}}); err != nil {
		t.Fatal(err)
	}
	t1 := t0.Add(time.Second)
	items, err := s.Lease(ctx, cairn.LeaseRequest{Worker: "w1", RunID: run.ID, Max: 1, Start: true}, t1, ttl)
	if err != nil || len(items) != 1 || items[0].Lease.TaskID != "t3" || items[0].Lease.Attempt != 2 {
		t.Fatalf("lease of t3's second attempt: %+v, %v", items, err)
	}
	by["t3"] = items[0].Lease
	before3 := task(t, s, run.ID, "t3")
	// t2's attempt ends: its lease is no longer held when given back.
	if _, err := s.Complete(ctx, by["t2"], cairn.Completion{State: cairn.TaskSucceeded}, t1); err != nil {
		t.Fatal(err)
	}
	wrong := by["t1"]
	wrong.Token = cairn.NewToken()
	before1 := task(t, s, run.ID, "t1")
	t2 := t1.Add(time.Second)
	trs, err := s.GiveBack(ctx, []cairn.Lease{by["t0"], wrong, by["t2"], by["t3"]}, t2)
	if err != nil {
		t.Fatalf("GiveBack: %v", err)
	}
	if len(trs) != 4 || trs[1] != nil || trs[2] != nil {
		t.Fatalf("GiveBack: %+v, want t0 and t3 given back, the wrong token and t2's ended lease left alone", trs)
	}
	for _, c := range []struct {
		tr                   *cairn.TaskRun
		id                   string
		attempt, interrupted int
		started              bool
	}{{trs[0], "t0", 0, 0, false}, {trs[3], "t3", 1, 1, true}} {
		stored := task(t, s, run.ID, c.id)
		for _, tr := range []*cairn.TaskRun{c.tr, stored} {
			if tr == nil || tr.TaskID != c.id || tr.State != cairn.TaskReady || tr.Attempt != c.attempt || tr.Interrupted != c.interrupted ||
				!tr.FinishedAt.IsZero() || tr.StartedAt.IsZero() == c.started {
				t.Errorf("%s given back: %+v, want ready at attempt %d (started %v)", c.id, tr, c.attempt, c.started)
			}
		}
		if c.tr != nil && c.tr.Version != stored.Version {
			t.Errorf("%s given back: version %d returned, %d stored", c.id, c.tr.Version, stored.Version)
		}
	}
	if tr := task(t, s, run.ID, "t3"); tr.Version <= before3.Version || !tr.StartedAt.Equal(before3.StartedAt) {
		t.Errorf("t3 given back: %+v, want a new version and its first start kept (%v)", tr, before3.StartedAt)
	}
	if tr := task(t, s, run.ID, "t1"); tr.State != cairn.TaskLeased || tr.Version != before1.Version {
		t.Errorf("t1 under a wrong token: %s v%d, want leased v%d, unchanged", tr.State, tr.Version, before1.Version)
	}
	if as := attempts(t, s, run.ID, "t0"); len(as) != 0 {
		t.Errorf("t0's attempts after its give-back: %+v, want none", as)
	}
	if as := attempts(t, s, run.ID, "t3"); len(as) != 1 || as[0].Number != 1 {
		t.Errorf("t3's attempts after its give-back: %+v, want its first only", as)
	}
	// The old leases are dead; the tasks are leased again, as ready ones.
	_, err = s.Complete(ctx, by["t0"], cairn.Completion{State: cairn.TaskSucceeded}, t2)
	wantErr(t, err, cairn.ErrLeaseLost)
	_, err = s.Heartbeat(ctx, by["t3"], t2, ttl)
	wantErr(t, err, cairn.ErrLeaseLost)
	again, err := s.Lease(ctx, cairn.LeaseRequest{Worker: "w2", RunID: run.ID, Max: 10, Start: true}, t2, ttl)
	if err != nil || len(again) != 2 {
		t.Fatalf("lease after the give-back: %+v, %v", again, err)
	}
	for _, it := range again {
		want := map[string]int{"t0": 1, "t3": 2}[it.Lease.TaskID]
		if it.Lease.Attempt != want {
			t.Errorf("%s leased again as attempt %d, want %d", it.Lease.TaskID, it.Lease.Attempt, want)
		}
		if _, err := s.Complete(ctx, it.Lease, cairn.Completion{State: cairn.TaskSucceeded}, t2); err != nil {
			t.Errorf("complete %s after its give-back: %v", it.Lease.TaskID, err)
		}
	}
	if as := attempts(t, s, run.ID, "t0"); len(as) != 1 || as[0].Number != 1 || as[0].State != cairn.TaskSucceeded {
		t.Errorf("t0's attempts: %+v, want one, succeeded", as)
	}
	// Nothing to give back writes nothing.
	if trs, err := s.GiveBack(ctx, nil, t2); err != nil || len(trs) != 0 {
		t.Errorf("GiveBack of nothing: %v, %v", trs, err)
	}
}
