package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
)

// testExpand checks a for_each expansion (scheduler.Expansion): the
// task marked expanded and its items created in one transaction, each a
// copy of the task with its own item, byte for byte; a second expansion,
// a stale one, or one with too many items changing nothing; a fan-in
// (TaskChange.FanIn) accepted only of an expanded task.
func testExpand(t *testing.T, s scheduler.Store) {
	ctx := context.Background()
	at := origin()
	run, trs := newRun(t, s, at, "fan", cairn.TaskPending, cairn.TaskPending)
	fan := trs[0]
	items := []json.RawMessage{json.RawMessage(`1`), json.RawMessage(`{"a":"x","b":[1,2.50]}`), json.RawMessage(`"s"`),
		json.RawMessage(`12345678901234567890`), json.RawMessage(`null`)}
	before := snapshot(t, s, run.ID)

	// Refused: stale version, too many items, an item that is not JSON.
	bad := map[string]*scheduler.Plan{
		"stale": {RunID: run.ID, Expand: []scheduler.Expansion{{TaskID: fan.TaskID, FromVersion: 7, Items: items}}},
		"too many": {RunID: run.ID, Expand: []scheduler.Expansion{{TaskID: fan.TaskID, FromVersion: 1,
			Items: make([]json.RawMessage, cairn.MaxForEachItems+1)}}},
		"not json": {RunID: run.ID, Expand: []scheduler.Expansion{{TaskID: fan.TaskID, FromVersion: 1, Items: []json.RawMessage{json.RawMessage(`{`)}}}},
		"unknown":  {RunID: run.ID, Expand: []scheduler.Expansion{{TaskID: "nope", FromVersion: 1, Items: items}}},
		"fan-in before": {RunID: run.ID, Tasks: []scheduler.TaskChange{{TaskID: fan.TaskID, FromVersion: 1, From: cairn.TaskPending,
			To: cairn.TaskSucceeded, FanIn: true, At: at}}},
	}
	for name, p := range bad {
		if err := s.ApplyPlan(ctx, p); err == nil {
			t.Errorf("%s: applied", name)
		}
		if name == "stale" && len(p.Expand) == 1 && p.Expand[0].NewVersion != 0 {
			// Not an error in itself (nothing was committed), but the
			// caller must not be told of a version.
			t.Logf("%s: NewVersion %d on failure", name, p.Expand[0].NewVersion)
		}
		assertUnchanged(t, s, before)
	}
	if err := s.ApplyPlan(ctx, bad["stale"]); !errors.Is(err, cairn.ErrConflict) {
		t.Errorf("stale expansion: %v, want ErrConflict", err)
	}

	// The expansion, with a change of another task in the same plan.
	p := &scheduler.Plan{RunID: run.ID,
		Tasks:  []scheduler.TaskChange{{TaskID: "t1", FromVersion: 1, From: cairn.TaskPending, To: cairn.TaskSkipped, At: at}},
		Expand: []scheduler.Expansion{{TaskID: fan.TaskID, FromVersion: 1, Items: items}}}
	if err := s.ApplyPlan(ctx, p); err != nil {
		t.Fatalf("expand: %v", err)
	}
	if p.Expand[0].NewVersion != 2 {
		t.Errorf("NewVersion = %d, want 2", p.Expand[0].NewVersion)
	}
	got, err := s.ListTaskRuns(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2+len(items) {
		t.Fatalf("%d task runs, want %d", len(got), 2+len(items))
	}
	parent := got[0]
	if !parent.Expanded || parent.Items != len(items) || parent.State != cairn.TaskPending || parent.Version != 2 || parent.Item != nil {
		t.Errorf("task after expansion: expanded %v items %d state %s version %d item %s", parent.Expanded, parent.Items,
			parent.State, parent.Version, parent.Item)
	}
	if got[1].Expanded {
		t.Errorf("t1 expanded")
	}
	for k, it := range got[2:] {
		want := cairn.TaskRun{RunID: run.ID, TaskID: cairn.ItemID(fan.TaskID, k), Type: fan.Type, State: cairn.TaskPending,
			Retry: fan.Retry, Timeout: fan.Timeout, Cache: fan.Cache, Labels: fan.Labels, Queue: fan.Queue, Version: 1}
		if it.TaskID != want.TaskID || it.Type != want.Type || it.State != want.State || it.Retry != want.Retry ||
			it.Timeout != want.Timeout || it.Cache != want.Cache || it.Queue != want.Queue || it.Version != 1 || it.Expanded ||
			it.Attempt != 0 || it.Params != nil {
			t.Errorf("item %d = %+v, want a copy of its task", k, it)
		}
		if string(it.Item) != string(items[k]) {
			t.Errorf("item %d holds %s, want %s", k, it.Item, items[k])
		}
		one, err := s.GetTaskRun(ctx, run.ID, it.TaskID)
		if err != nil || string(one.Item) != string(items[k]) {
			t.Errorf("GetTaskRun(%s) = %v, %v", it.TaskID, one, err)
		}
	}

	// Expanded once only.
	again := &scheduler.Plan{RunID: run.ID, Expand: []scheduler.Expansion{{TaskID: fan.TaskID, FromVersion: 2, Items: items}}}
	mid := snapshot(t, s, run.ID)
	if err := s.ApplyPlan(ctx, again); !errors.Is(err, cairn.ErrConflict) {
		t.Errorf("second expansion: %v, want ErrConflict", err)
	}
	assertUnchanged(t, s, mid)

	// The items can be planned, leased and completed as any task.
	ready := &scheduler.Plan{RunID: run.ID}
	for k := range items {
		ready.Tasks = append(ready.Tasks, scheduler.TaskChange{TaskID: cairn.ItemID(fan.TaskID, k), FromVersion: 1,
			From: cairn.TaskPending, To: cairn.TaskReady, Params: json.RawMessage(fmt.Sprintf(`{"k":%d}`, k)), At: at})
	}
	if err := s.ApplyPlan(ctx, ready); err != nil {
		t.Fatalf("items ready: %v", err)
	}
	work, err := s.Lease(ctx, cairn.LeaseRequest{Worker: "w", Max: 100, RunID: run.ID}, at, ttl)
	if err != nil || len(work) != len(items) {
		t.Fatalf("lease: %d items, %v", len(work), err)
	}
	for k, w := range work {
		if w.Lease.TaskID != cairn.ItemID(fan.TaskID, k) {
			t.Errorf("lease %d of %s, want item order", k, w.Lease.TaskID)
		}
		if _, err := s.Complete(ctx, w.Lease, cairn.Completion{State: cairn.TaskSucceeded,
			Outputs: map[string]json.RawMessage{"n": json.RawMessage(fmt.Sprint(k))}}, at.Add(time.Second)); err != nil {
			t.Fatalf("complete %s: %v", w.Lease.TaskID, err)
		}
	}

	// Fan-in: only with FanIn, and only of the expanded task.
	plain := &scheduler.Plan{RunID: run.ID, Tasks: []scheduler.TaskChange{{TaskID: fan.TaskID, FromVersion: 2,
		From: cairn.TaskPending, To: cairn.TaskSucceeded, At: at}}}
	if err := s.ApplyPlan(ctx, plain); err == nil {
		t.Error("pending -> succeeded without FanIn applied")
	}
	end := &scheduler.Plan{RunID: run.ID, Tasks: []scheduler.TaskChange{{TaskID: fan.TaskID, FromVersion: 2,
		From: cairn.TaskPending, To: cairn.TaskSucceeded, FanIn: true, At: at.Add(2 * time.Second)}}}
	if err := s.ApplyPlan(ctx, end); err != nil {
		t.Fatalf("fan-in: %v", err)
	}
	if tr := task(t, s, run.ID, fan.TaskID); tr.State != cairn.TaskSucceeded || !tr.Expanded || tr.Items != len(items) {
		t.Errorf("after fan-in: %s expanded %v items %d", tr.State, tr.Expanded, tr.Items)
	}

	// In a batch, with an empty list: the task expands into nothing.
	run2, trs2 := newRun(t, s, at.Add(time.Minute), "fan", cairn.TaskPending)
	err = s.Batch(ctx, func(tx scheduler.Tx) error {
		return tx.ApplyPlan(&scheduler.Plan{RunID: run2.ID, Expand: []scheduler.Expansion{{TaskID: trs2[0].TaskID, FromVersion: 1}}})
	})
	if err != nil {
		t.Fatalf("empty expansion in a batch: %v", err)
	}
	got2, err := s.ListTaskRuns(ctx, run2.ID)
	if err != nil || len(got2) != 1 || !got2[0].Expanded || got2[0].Items != 0 {
		t.Errorf("after an empty expansion: %d task runs, %v", len(got2), err)
	}
}

// testExpandInherits checks that the items of a for_each task are routed,
// pooled and prioritised as their task is (labels, queue, pool and its
// slots, priority, cache, retry policy, timeout): as stored, as
// scheduler.NewItems puts them in the scheduler's snapshot, and as a
// lease of the pool hands them out — one at a time in a pool of 2 when
// each takes 2 slots, before a ready task of lower priority.
func testExpandInherits(t *testing.T, s scheduler.Store) {
	ctx := context.Background()
	at := origin()
	run := &cairn.Run{ID: cairn.NewRunID(at), Workflow: "fan", Digest: digest, SourcePath: "wf/fan.yaml",
		Source: []byte("name: fan\n"), State: cairn.RunQueued, CreatedAt: at, Pools: map[string]int{"gpu": 2}}
	fan := &cairn.TaskRun{RunID: run.ID, TaskID: "t0", Type: "shell", State: cairn.TaskPending,
		Retry:   cairn.RetryPolicy{Retries: 2, Backoff: time.Second, Factor: 2, MaxBackoff: time.Minute, MaxInterruptions: 4},
		Timeout: 10 * time.Minute, Cache: true, Labels: map[string]string{"gpu": "a100"}, Queue: "q1",
		Pool: "gpu", PoolSlots: 2, Priority: 5}
	low := &cairn.TaskRun{RunID: run.ID, TaskID: "t1", Type: "shell", State: cairn.TaskReady, Retry: cairn.RetryPolicy{Factor: 1},
		Params: json.RawMessage(`{}`), Labels: map[string]string{"gpu": "a100"}, Queue: "q1"}
	if err := s.CreateRun(ctx, run, []*cairn.TaskRun{fan, low}); err != nil {
		t.Fatalf("CreateRun: %v", err)
	}
	items := []json.RawMessage{json.RawMessage(`1`), json.RawMessage(`2`), json.RawMessage(`3`)}
	p := &scheduler.Plan{RunID: run.ID, Expand: []scheduler.Expansion{{TaskID: fan.TaskID, FromVersion: 1, Items: items}}}
	if err := s.ApplyPlan(ctx, p); err != nil {
		t.Fatalf("expand: %v", err)
	}
	got, err := s.ListTaskRuns(ctx, run.ID)
	if err != nil || len(got) != 2+len(items) {
		t.Fatalf("%d task runs, %v", len(got), err)
	}
	same := func(a, b *cairn.TaskRun) bool {
		return a.Type == b.Type && a.Retry == b.Retry && a.Timeout == b.Timeout && a.Cache == b.Cache &&
			maps.Equal(a.Labels, b.Labels) && a.Queue == b.Queue && a.Pool == b.Pool && a.PoolSlots == b.PoolSlots &&
			a.Priority == b.Priority
	}
	mem := scheduler.NewItems(got[0], p.Expand[0])
	ready := &scheduler.Plan{RunID: run.ID}
	for k, it := range got[2:] {
		if !same(it, fan) {
			t.Errorf("item %d stored as %+v, want its task's routing, pool and priority: %+v", k, it, fan)
		}
		if !same(mem[k], it) || mem[k].TaskID != it.TaskID || mem[k].Version != it.Version || string(mem[k].Item) != string(it.Item) {
			t.Errorf("item %d: scheduler.NewItems gives %+v, the store %+v", k, mem[k], it)
		}
		ready.Tasks = append(ready.Tasks, scheduler.TaskChange{TaskID: it.TaskID, FromVersion: 1, From: cairn.TaskPending,
			To: cairn.TaskReady, Params: json.RawMessage(`{}`), At: at.Add(time.Second)})
	}
	if err := s.ApplyPlan(ctx, ready); err != nil {
		t.Fatalf("items ready: %v", err)
	}
	// The items were made ready after t1, but their priority puts them
	// first; each takes the whole pool, so one goes at a time.
	req := cairn.LeaseRequest{Worker: "w", Max: 10, RunID: run.ID, Labels: map[string]string{"gpu": "a100"}, Queues: []string{"q1"}}
	work, err := s.Lease(ctx, req, at.Add(2*time.Second), ttl)
	if err != nil {
		t.Fatalf("lease: %v", err)
	}
	var leased []string
	for _, w := range work {
		leased = append(leased, w.Lease.TaskID)
	}
	if want := []string{cairn.ItemID(fan.TaskID, 0), low.TaskID}; !slices.Equal(leased, want) {
		t.Errorf("leased %v, want %v (the first item by priority, the pool then full; t1 outside it)", leased, want)
	}
}
