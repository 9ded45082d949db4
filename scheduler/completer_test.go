package scheduler_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/workflows"
)

// Many workers reporting at once: every good report is recorded once,
// with its event; a stale one is refused alone and leases nothing; each
// worker that asked for more work gets its own items, never another's;
// and the reports share commits (fewer transactions than reports, when
// they arrive together — not asserted, the scheduling decides).
func TestCompleterReportsTogether(t *testing.T) {
	r := newRig(t, rigOptions{})
	const workers, extra = 24, 30
	id := r.createReady(t, workers+extra, cairn.RetryPolicy{})
	ctx := context.Background()
	items, err := r.broker.Lease(ctx, cairn.LeaseRequest{Worker: "w", RunID: id, Max: workers, Start: true})
	if err != nil || len(items) != workers {
		t.Fatalf("Lease: %d items, %v", len(items), err)
	}
	var (
		start = make(chan struct{})
		wg    sync.WaitGroup
		mu    sync.Mutex
		got   = map[string]int{} // task → times handed out after a report
		errs  = make([]error, workers)
	)
	for i, it := range items {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := it.Lease
			if i == 5 {
				l.Token = cairn.NewToken() // stale: refused
			}
			<-start
			var c cairn.Completion
			if i%4 == 1 {
				c.Error = "permanent" // fails, and still asks for more
			}
			// Three workers asking alike, served by one lease per
			// batch (LeaseRequest.Also): each gets its own items.
			asker := fmt.Sprintf("w%d", i%3)
			next, err := r.broker.CompleteAndLease(ctx, l, c, cairn.LeaseRequest{Worker: asker, RunID: id, Max: 2, Start: true})
			errs[i] = err
			mu.Lock()
			defer mu.Unlock()
			for _, n := range next {
				got[n.Lease.TaskID]++
				if tr, err := r.st.GetTaskRun(ctx, id, n.Lease.TaskID); err != nil || tr.LeaseWorker != asker || tr.LeaseToken != n.Lease.Token {
					errs[i] = fmt.Errorf("next item %+v for %s: the task's lease is %+v, %v", n.Lease, asker, tr, err)
				}
				if n.Lease.Worker != asker || !n.Started || n.Lease.Token == "" {
					errs[i] = fmt.Errorf("next item %+v", n.Lease)
				}
			}
			if i == 5 && len(next) > 0 {
				errs[i] = fmt.Errorf("a refused report leased %d items", len(next))
			}
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		switch {
		case i == 5 && !errors.Is(err, cairn.ErrLeaseLost):
			t.Errorf("stale report: error %v, want ErrLeaseLost", err)
		case i != 5 && err != nil:
			t.Errorf("report %d: %v", i, err)
		}
	}
	handed := 0
	for task, n := range got {
		if n != 1 {
			t.Errorf("task %s handed out %d times", task, n)
		}
		handed++
	}
	if handed != extra {
		t.Errorf("%d tasks handed out after the reports, want all %d ready ones", handed, extra)
	}
	trs, err := r.st.ListTaskRuns(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	for i, it := range items {
		tr := trs[indexOfTask(trs, it.Lease.TaskID)]
		want := cairn.TaskSucceeded
		switch {
		case i == 5:
			want = cairn.TaskRunning
		case i%4 == 1:
			want = cairn.TaskFailed
		}
		if tr.State != want {
			t.Errorf("%s: %s, want %s", tr.TaskID, tr.State, want)
		}
	}
	ended := 0
	r.events.mu.Lock()
	defer r.events.mu.Unlock()
	for _, e := range r.events.events {
		if e.Ended != "" {
			ended++
		}
	}
	if ended != workers-1 {
		t.Errorf("%d attempt-ended events, want %d", ended, workers-1)
	}
	t.Logf("%d reports in %d transactions", workers, r.st.WriteStats().Transactions)
}

func indexOfTask(trs []*cairn.TaskRun, id string) int {
	for i, tr := range trs {
		if tr.TaskID == id {
			return i
		}
	}
	return -1
}

// A task a completion makes ready goes straight to the reporting worker
// (in the completion's own write) only when nothing else is ready for
// that worker: a task already waiting in the queue goes first.
func TestCompleterHandsOutOnlyWhenNothingWaits(t *testing.T) {
	r := newRig(t, rigOptions{}, newProbe(nil))
	wf, id := r.create(t, `
name: queue
tasks:
  - {id: a, type: probe}
  - {id: b, type: probe}
  - {id: c, type: probe, with: {in: "${{ tasks.a.outputs.x }}"}}
  - {id: d, type: probe, with: {in: "${{ tasks.c.outputs.x }}"}}
`)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	done := r.driveAsync(ctx, id, wf)
	r.events.waitFor(t, "b ready", taskEvent("b", cairn.TaskReady))
	a := leaseOne(t, r, "w", id)
	if a.Lease.TaskID != "a" {
		t.Fatalf("leased %s first, want a", a.Lease.TaskID)
	}
	next := cairn.LeaseRequest{Worker: "w", RunID: id, Max: 1, Start: true}
	out := map[string]json.RawMessage{"x": jsonString("out")}
	// b waits in the queue: completing a gets b, and c (made ready now)
	// queues behind it.
	items, err := r.broker.CompleteAndLease(ctx, a.Lease, cairn.Completion{Outputs: out}, next)
	if err != nil || len(items) != 1 || items[0].Lease.TaskID != "b" {
		t.Fatalf("completing a: %+v, %v; want b, which waited", items, err)
	}
	if tr := r.taskRuns(t, id)["c"]; tr.State != cairn.TaskReady {
		t.Fatalf("c is %s, want ready in the queue", tr.State)
	}
	// Completing b gets c from the queue.
	items, err = r.broker.CompleteAndLease(ctx, items[0].Lease, cairn.Completion{Outputs: out}, next)
	if err != nil || len(items) != 1 || items[0].Lease.TaskID != "c" {
		t.Fatalf("completing b: %+v, %v; want c", items, err)
	}
	// Nothing waits now: completing c hands d over in the same write,
	// with its resolved params.
	items, err = r.broker.CompleteAndLease(ctx, items[0].Lease, cairn.Completion{Outputs: out}, next)
	if err != nil || len(items) != 1 || items[0].Lease.TaskID != "d" || string(items[0].Params) != `{"in":"out"}` ||
		!items[0].Started || items[0].Lease.Attempt != 1 {
		t.Fatalf("completing c: %+v, %v; want d, started, with its params", items, err)
	}
	if tr := r.taskRuns(t, id)["d"]; tr.State != cairn.TaskRunning || tr.LeaseToken != items[0].Lease.Token {
		t.Fatalf("d is %s under %q, want running under the lease handed out", tr.State, tr.LeaseToken)
	}
	if _, err := r.broker.CompleteAndLease(ctx, items[0].Lease, cairn.Completion{Outputs: out}, next); err != nil {
		t.Fatalf("completing d: %v", err)
	}
	finished(t, done, cairn.RunSucceeded)
	for task, tr := range r.taskRuns(t, id) {
		if as := r.attempts(t, id, task); tr.State != cairn.TaskSucceeded || len(as) != 1 || as[0].State != cairn.TaskSucceeded {
			t.Errorf("%s: %s with attempts %+v", task, tr.State, as)
		}
	}
}

// A run driven from the task runs its caller just created plans as one
// driven from what the store holds: every task runs once, the run
// succeeds; task runs that are not the run's as stored (another version)
// are not taken, and it is read back instead.
func TestDriveCreated(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	for _, stale := range []bool{false, true} {
		r := newRig(t, rigOptions{}, newProbe(nil)) // a probe runs each task once
		wf, err := workflows.Parse("wf.yaml", []byte(chainWorkflow), workflows.Options{Types: r.reg})
		if err != nil {
			t.Fatal(err)
		}
		run, trs := wf.NewRun(nil, time.Now())
		if err := r.st.CreateRun(ctx, run, trs); err != nil {
			t.Fatal(err)
		}
		given := trs
		if stale {
			given = make([]*cairn.TaskRun, len(trs))
			for i, tr := range trs {
				c := *tr
				c.Version = 7 // not as stored
				given[i] = &c
			}
		}
		r.startPool(t, nil, run.ID)
		final, err := r.driver.DriveCreated(ctx, run, wf, given)
		if err != nil || final.State != cairn.RunSucceeded {
			t.Fatalf("stale %v: DriveCreated = %+v, %v", stale, final, err)
		}
		for task, tr := range r.taskRuns(t, run.ID) {
			if as := r.attempts(t, run.ID, task); tr.State != cairn.TaskSucceeded || len(as) != 1 {
				t.Errorf("stale %v: %s %s after %d attempts", stale, task, tr.State, len(as))
			}
		}
	}
}

// A task a completion makes ready is handed out in the completion's write
// only to a worker that may take it (its labels and queue): a worker
// without the labels leaves it ready in the queue, and one with them
// gets it — and the unlabelled task after it.
func TestCompleterHandsOutByRoute(t *testing.T) {
	r := newRig(t, rigOptions{}, newProbe(nil))
	wf, id := r.create(t, `
name: routed
tasks:
  - {id: a, type: probe}
  - {id: g, type: probe, needs: [a], labels: {gpu: "true"}}
  - {id: d, type: probe, needs: [g]}
`)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	done := r.driveAsync(ctx, id, wf)
	a := leaseOne(t, r, "cpu", id)
	if a.Lease.TaskID != "a" {
		t.Fatalf("leased %s first, want a", a.Lease.TaskID)
	}
	cpu := cairn.LeaseRequest{Worker: "cpu", RunID: id, Max: 1, Start: true}
	items, err := r.broker.CompleteAndLease(ctx, a.Lease, cairn.Completion{}, cpu)
	if err != nil || len(items) != 0 {
		t.Fatalf("completing a for a worker without gpu=true: %+v, %v; want nothing", items, err)
	}
	if tr := r.taskRuns(t, id)["g"]; tr.State != cairn.TaskReady || tr.Labels["gpu"] != "true" {
		t.Fatalf("g is %s with labels %v, want ready with gpu=true", tr.State, tr.Labels)
	}
	gpu := cairn.LeaseRequest{Worker: "gpu", RunID: id, Max: 1, Start: true, Labels: map[string]string{"gpu": "true"}}
	if items, err := r.broker.Lease(ctx, cairn.LeaseRequest{Worker: "cpu", RunID: id, Max: 1, Start: true}); err != nil || len(items) != 0 {
		t.Fatalf("cpu lease = %+v, %v; want nothing", items, err)
	}
	items, err = r.broker.Lease(ctx, gpu)
	if err != nil || len(items) != 1 || items[0].Lease.TaskID != "g" {
		t.Fatalf("gpu lease = %+v, %v; want g", items, err)
	}
	items, err = r.broker.CompleteAndLease(ctx, items[0].Lease, cairn.Completion{}, gpu)
	if err != nil || len(items) != 1 || items[0].Lease.TaskID != "d" {
		t.Fatalf("completing g: %+v, %v; want d handed to the gpu worker", items, err)
	}
	if _, err := r.broker.CompleteAndLease(ctx, items[0].Lease, cairn.Completion{}, cairn.LeaseRequest{}); err != nil {
		t.Fatalf("completing d: %v", err)
	}
	finished(t, done, cairn.RunSucceeded)
}
