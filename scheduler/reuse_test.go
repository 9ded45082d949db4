package scheduler_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
)

// fakeReuser finds the tasks it names cached (a completion that reuses
// an earlier attempt of the same task), for worker's items only.
type fakeReuser struct {
	worker string
	hits   map[string]bool
	mu     sync.Mutex
	asked  []string
}

func (f *fakeReuser) ReuseHandedOut(_ context.Context, it cairn.WorkItem, _ func(string, int) ([]cairn.CachedAttempt, error)) (cairn.Completion, bool) {
	f.mu.Lock()
	f.asked = append(f.asked, it.Lease.TaskID)
	f.mu.Unlock()
	if it.Lease.Worker != f.worker || !f.hits[it.Lease.TaskID] {
		return cairn.Completion{}, false
	}
	return cairn.Completion{State: cairn.TaskSucceeded, Outputs: map[string]json.RawMessage{"x": jsonString(it.Lease.TaskID + "-cached")},
		CachedFrom: cairn.AttemptRef{RunID: "01earlierrun0000", TaskID: it.Lease.TaskID, Number: 1}, Version: "v1"}, true
}

// checkReused checks that task's one attempt in run id reused the earlier
// one, as worker's.
func checkReused(t *testing.T, r *rig, id, task, worker string) {
	t.Helper()
	ats := r.attempts(t, id, task)
	if len(ats) != 1 {
		t.Fatalf("task %s: %d attempts, want 1", task, len(ats))
	}
	at := ats[0]
	if at.State != cairn.TaskSucceeded || at.CachedFrom != (cairn.AttemptRef{RunID: "01earlierrun0000", TaskID: task, Number: 1}) ||
		at.Worker != worker || at.Version != "v1" {
		t.Errorf("task %s: attempt %+v, want %s's success reusing 01earlierrun0000/%s#1", task, at, worker, task)
	}
}

// A run's first plan hands its first task to a Lease waiting in this
// process; when the broker's Reuser finds it cached, it is completed in
// that plan's write, and so is the successor it makes ready: the waiting
// Lease gets the first task that is not a hit (c), in the same one write
// — every reuse recorded as the waiting worker's attempt, its events
// published with CachedFrom.
func TestFirstPlanReusesInItsWrite(t *testing.T) {
	r := newRig(t, rigOptions{}, newProbe(nil))
	f := &fakeReuser{worker: "w", hits: map[string]bool{"a": true, "b": true}}
	r.broker.SetReuser(f)
	wf, id := r.create(t, chainWorkflow)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	waited := waitingLease(ctx, t, r, cairn.LeaseRequest{Worker: "w", RunID: id, Max: 1, Start: true, Wait: waitLimit})
	before := r.st.WriteStats()
	done := r.driveAsync(ctx, id, wf)
	w := <-waited
	if w.err != nil || len(w.items) != 1 || w.items[0].Lease.TaskID != "c" {
		t.Fatalf("the waiting Lease: %+v, %v; want c (a and b reused)", w.items, w.err)
	}
	if got := r.st.WriteStats().Transactions - before.Transactions; got != 2 {
		t.Errorf("%d transactions from Drive to c's lease, want 2: the claim, and the first plan with a's and b's reuses", got)
	}
	c := w.items[0]
	if string(c.Params) != `{"in":"b-cached"}` {
		t.Errorf("c's params %s, want b's reused output", c.Params)
	}
	checkReused(t, r, id, "a", "w")
	checkReused(t, r, id, "b", "w")
	r.events.waitFor(t, "b's reuse", func(e scheduler.Event) bool {
		return e.TaskID == "b" && e.To == cairn.TaskSucceeded && !e.CachedFrom.IsZero()
	})
	if _, err := r.broker.CompleteAndLease(ctx, c.Lease, cairn.Completion{Outputs: map[string]json.RawMessage{"x": jsonString("c-out")}},
		cairn.LeaseRequest{}); err != nil {
		t.Fatal(err)
	}
	finished(t, done, cairn.RunSucceeded)
}

// A completion whose plan hands its worker a task the Reuser finds cached
// completes it in the completion's own write and plans on: the chain's
// rest is reused in a's completion, the worker gets nothing more, and
// the run ends in that write.
func TestCompletionReusesInItsWrite(t *testing.T) {
	r := newRig(t, rigOptions{}, newProbe(nil))
	f := &fakeReuser{worker: "w", hits: map[string]bool{"b": true, "c": true}}
	r.broker.SetReuser(f)
	wf, id := r.create(t, chainWorkflow)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	done := r.driveAsync(ctx, id, wf)
	r.events.waitFor(t, "a ready", taskEvent("a", cairn.TaskReady))
	it := leaseOne(t, r, "w", id)
	before := r.st.WriteStats()
	items, err := r.broker.CompleteAndLease(ctx, it.Lease, cairn.Completion{Outputs: map[string]json.RawMessage{"x": jsonString("a-out")}},
		cairn.LeaseRequest{Worker: "w", RunID: id, Max: 1, Start: true})
	if err != nil || len(items) != 0 {
		t.Fatalf("completing a: %+v, %v; want nothing more (b and c reused)", items, err)
	}
	if got := r.st.WriteStats().Transactions - before.Transactions; got != 1 {
		t.Errorf("%d transactions for a's completion, want 1: b's and c's reuses in it", got)
	}
	checkReused(t, r, id, "b", "w")
	checkReused(t, r, id, "c", "w")
	run := finished(t, done, cairn.RunSucceeded)
	if run.State != cairn.RunSucceeded {
		t.Errorf("run %s", run.State)
	}
	// Another worker's items are not the Reuser's to complete.
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.asked) != 2 {
		t.Errorf("the Reuser was asked of %v, want b and c", f.asked)
	}
}
