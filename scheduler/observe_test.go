package scheduler_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
)

// A Service with Observe reports each planning pass — its run, a cause
// no later than its end, the plans it applied — and the evaluations it
// read; the broker's events name the task's type and mark the end of
// each attempt with the state it was recorded in: succeeded, or
// cancelled when a cancel request from another process stops it.
func TestServiceObserve(t *testing.T) {
	causes := make(chan error, 1)
	p := newProbe(blockUntilDone("block", causes))
	r := newRig(t, rigOptions{}, p)
	wf, id := r.create(t, cancelWorkflow)
	const owner = "test:9:server"
	var (
		mu   sync.Mutex
		sevs []scheduler.ServiceEvent
	)
	ended := make(chan struct{})
	svc := scheduler.NewService(r.st, r.broker, scheduler.ServiceOptions{
		Owner: owner, Adopt: true, PollInterval: 20 * time.Millisecond,
		Load:  func(ctx context.Context, run *cairn.Run) (scheduler.Graph, error) { return wf, nil },
		Ended: func(string, *cairn.Run, error) { close(ended) },
		Observe: func(e scheduler.ServiceEvent) {
			mu.Lock()
			sevs = append(sevs, e)
			mu.Unlock()
		},
	})
	ctx := context.Background()
	svc.Start(ctx)
	defer svc.Stop(ctx)
	pool := r.startPoolOver(t, r.broker, owner, owner, 4, 0)
	p.waitStarted(t, "block", 1)
	r.events.waitFor(t, "quick succeeded", taskEvent("quick", cairn.TaskSucceeded))
	requested := time.Now()
	if err := r.st.RequestCancel(ctx, id); err != nil {
		t.Fatal(err)
	}
	await(t, "the run to end", ended)
	await(t, "block's context to be cancelled", causes)
	sctx, cancel := context.WithTimeout(ctx, waitLimit)
	pool.stop(sctx)
	cancel()

	mu.Lock()
	defer mu.Unlock()
	var passes, plans, read int
	cancelPass, planned := false, false
	for i, e := range sevs {
		switch e.Kind {
		case scheduler.ServiceEvaluationsRead:
			read += e.Evaluations
		case scheduler.ServicePlanned:
			passes++
			plans += e.Plans
			if e.RunID != id || e.End.Before(e.Start) || (!e.Since.IsZero() && e.End.Before(e.Since)) {
				t.Errorf("pass %d: %+v: want run %s, Since <= End, Start <= End", i, e, id)
			}
			// The first pass that planned: the run's first plan, in its
			// loop, caused by the service taking it. (A completion may
			// come first and find nothing to plan: the pool can run a
			// task the run was created ready with before the loop's pass.)
			if !planned && e.Plans > 0 {
				planned = true
				if e.Since.IsZero() || e.InCompletion {
					t.Errorf("first pass that planned %+v: want the run's first plan in its loop, caused by the service taking it", e)
				}
			}
			// A pass that began after the request and planned: it planned
			// for the cancel. Not one whose Since is after it: Since is the
			// earliest change a pass planned for, and a change just before
			// the request (quick's completion) may be planned in the same
			// pass.
			if !e.InCompletion && !e.Start.Before(requested) && e.Plans > 0 {
				cancelPass = true
			}
		default:
			t.Errorf("event %d of kind %q", i, e.Kind)
		}
	}
	if passes == 0 || plans == 0 {
		t.Errorf("%d passes applied %d plans", passes, plans)
	}
	if !cancelPass {
		t.Errorf("no pass in the loop planned for the cancel request (written after %s): %+v", requested.Format(time.RFC3339Nano), sevs)
	}
	if read == 0 {
		t.Errorf("no evaluation read, though another process requested the cancel")
	}

	// The broker's side: types, and the states attempts ended in.
	r.events.mu.Lock()
	defer r.events.mu.Unlock()
	got := map[string]cairn.TaskState{}
	for _, e := range r.events.events {
		if e.Run != "" {
			if e.Type != "" {
				t.Errorf("run event %+v with a type", e)
			}
			continue
		}
		if e.Type != "probe" {
			t.Errorf("event %+v: type %q, want probe", e, e.Type)
		}
		if e.Ended != "" {
			if _, dup := got[e.TaskID]; dup {
				t.Errorf("task %s: two attempt ends", e.TaskID)
			}
			got[e.TaskID] = e.Ended
		}
	}
	if got["quick"] != cairn.TaskSucceeded || got["block"] != cairn.TaskCancelled || len(got) != 2 {
		t.Errorf("attempt ends = %v, want quick succeeded and block cancelled", got)
	}
}
