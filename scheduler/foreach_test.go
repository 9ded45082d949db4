package scheduler_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/tasks"
)

// fanProbe is a probe whose task "src" outputs x = list, whose items
// (tasks with '[') take a little time, and that records the most items
// running at once; an item whose in is "boom" fails permanently.
func fanProbe(list string) (*probe, func() int) {
	var mu sync.Mutex
	running, most := 0, 0
	p := newProbe(func(ctx context.Context, req tasks.Request) (tasks.Result, error) {
		if req.TaskID == "src" {
			return tasks.Result{Outputs: map[string]json.RawMessage{"x": json.RawMessage(list)}}, nil
		}
		if strings.Contains(req.TaskID, "[") {
			mu.Lock()
			running++
			most = max(most, running)
			mu.Unlock()
			time.Sleep(20 * time.Millisecond)
			mu.Lock()
			running--
			mu.Unlock()
			if strings.Contains(string(req.Params), "boom") {
				return tasks.Result{}, cairn.Permanentf("boom")
			}
		}
		return echo(req)
	})
	return p, func() int { mu.Lock(); defer mu.Unlock(); return most }
}

const fanWorkflow = `name: fan
tasks:
  - id: src
    type: probe
  - id: each
    type: probe
    for_each: "${{ tasks.src.outputs.x }}"
    max_parallel: 2
    when: "item != 'c'"
    with: {in: "${{ item }}-${{ item_index }}"}
  - id: join
    type: probe
    with: {in: "all=${{ tasks.each.outputs.x }}"}
`

func TestForEachFanOutAndIn(t *testing.T) {
	p, most := fanProbe(`["a","b","c","d","e"]`)
	r := newRig(t, rigOptions{}, p)
	wf, id := r.create(t, fanWorkflow)
	r.startPool(t, nil, id)
	run, err := r.driver.Drive(context.Background(), id, wf)
	if err != nil {
		t.Fatal(err)
	}
	if run.State != cairn.RunSucceeded {
		t.Fatalf("run %s: %s", run.State, run.Error)
	}
	trs, err := r.st.ListTaskRuns(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	states := map[string]cairn.TaskState{}
	var join *cairn.TaskRun
	for _, tr := range trs {
		states[tr.TaskID] = tr.State
		if tr.TaskID == "join" {
			join = tr
		}
	}
	want := map[string]cairn.TaskState{"src": cairn.TaskSucceeded, "each": cairn.TaskSucceeded, "join": cairn.TaskSucceeded,
		"each[0]": cairn.TaskSucceeded, "each[1]": cairn.TaskSucceeded, "each[2]": cairn.TaskSkipped,
		"each[3]": cairn.TaskSucceeded, "each[4]": cairn.TaskSucceeded}
	for k, v := range want {
		if states[k] != v {
			t.Errorf("%s %s, want %s", k, states[k], v)
		}
	}
	if len(trs) != len(want) {
		t.Errorf("%d task runs, want %d", len(trs), len(want))
	}
	wantX := `"join(all=[\"each[0](a-0)\",\"each[1](b-1)\",null,\"each[3](d-3)\",\"each[4](e-4)\"])"`
	if got := string(join.Outputs["x"]); got != wantX {
		t.Errorf("join's x = %s, want %s", got, wantX)
	}
	for k := range 5 {
		if k != 2 && p.runCount(cairn.ItemID("each", k)) != 1 {
			t.Errorf("item %d ran %d times", k, p.runCount(cairn.ItemID("each", k)))
		}
	}
	if m := most(); m > 2 || m < 1 {
		t.Errorf("%d items ran at once, max_parallel 2", m)
	}
}

func TestForEachNotAList(t *testing.T) {
	p, _ := fanProbe(`{"a":1}`)
	r := newRig(t, rigOptions{}, p)
	wf, id := r.create(t, fanWorkflow)
	r.startPool(t, nil, id)
	run, err := r.driver.Drive(context.Background(), id, wf)
	if err != nil {
		t.Fatal(err)
	}
	each, err := r.st.GetTaskRun(context.Background(), id, "each")
	if err != nil {
		t.Fatal(err)
	}
	if run.State != cairn.RunFailed || each.State != cairn.TaskFailed || !strings.Contains(each.Error, "is a map (a JSON object), not a list") {
		t.Errorf("run %s, each %s: %q", run.State, each.State, each.Error)
	}
	if _, err := r.st.GetTaskRun(context.Background(), id, "each[0]"); !errors.Is(err, cairn.ErrNotFound) {
		t.Errorf("an item exists: %v", err)
	}
}

func TestForEachItemFailsAndRetry(t *testing.T) {
	p, _ := fanProbe(`["a","boom","d"]`)
	r := newRig(t, rigOptions{}, p)
	wf, id := r.create(t, fanWorkflow)
	r.startPool(t, nil, id)
	run, err := r.driver.Drive(context.Background(), id, wf)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	each, _ := r.st.GetTaskRun(ctx, id, "each")
	if run.State != cairn.RunFailed || each.State != cairn.TaskFailed || !strings.HasPrefix(each.Error, "1 of 3 items did not succeed: each[1] failed") {
		t.Fatalf("run %s, each %s: %q", run.State, each.State, each.Error)
	}
	for _, k := range []int{0, 2} {
		if p.runCount(cairn.ItemID("each", k)) != 1 {
			t.Errorf("item %d did not run once though another failed", k)
		}
	}
	trs, err := r.st.ListTaskRuns(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := scheduler.RetryTasks(run, wf, trs, "")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"each", "each[1]", "join"}; !slices.Equal(ids, want) {
		t.Errorf("RetryTasks = %v, want %v", ids, want)
	}
	ids, err = scheduler.RetryTasks(run, wf, trs, "each[1]")
	if err != nil || !slices.Equal(ids, []string{"each", "each[1]", "join"}) {
		t.Errorf("RetryTasks(each[1]) = %v, %v", ids, err)
	}
	if _, err := scheduler.RetryTasks(run, wf, trs, "each[0]"); !errors.Is(err, cairn.ErrConflict) {
		t.Errorf("RetryTasks of a succeeded item: %v", err)
	}
}
