package cairn

import (
	"reflect"
	"testing"
	"time"
)

// whyGraph is a workflow as Why reads it.
type whyGraph struct {
	up   map[string][]string
	max  map[string]int
	when map[string]string
}

func (g whyGraph) Upstream(id string) []string { return g.up[id] }
func (g whyGraph) ForEach(id string) (int, bool) {
	m, ok := g.max[id]
	return m, ok
}
func (g whyGraph) WhenOf(id string) string { return g.when[id] }

// Every reason Why gives, each from the facts that decide it.
func TestWhy(t *testing.T) {
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	g := whyGraph{
		up:   map[string][]string{"b": {"a"}, "c": {"a", "b", "x", "y", "z"}, "fan": {"a"}, "late": {"a"}},
		max:  map[string]int{"fan": 2},
		when: map[string]string{"d": "${{ params.mode }} == 'full'", "fan": "${{ item }} > 1"},
	}
	run := &Run{ID: "r1", Workflow: "wf", State: RunRunning}
	trs := []*TaskRun{
		{TaskID: "a", State: TaskRunning},
		{TaskID: "b", State: TaskPending},
		{TaskID: "c", State: TaskPending},
		{TaskID: "x", State: TaskReady},
		{TaskID: "y", State: TaskRetrying, Attempt: 2, RetryAt: now.Add(90 * time.Second)},
		{TaskID: "z", State: TaskPending},
		{TaskID: "d", State: TaskSkipped, Error: WhenFalse},
		{TaskID: "e", State: TaskSkipped, Error: "upstream d was skipped"},
		{TaskID: "gpu", State: TaskReady, Pool: "gpu"},
		{TaskID: "lab", State: TaskReady, Labels: map[string]string{"gpu": "true"}},
		{TaskID: "fan", State: TaskPending, Expanded: true, Items: 4},
		{TaskID: "fan[0]", State: TaskRunning},
		{TaskID: "fan[1]", State: TaskReady},
		{TaskID: "fan[2]", State: TaskPending},
		{TaskID: "fan[3]", State: TaskSkipped, Error: WhenFalse},
		{TaskID: "ok", State: TaskSucceeded},
	}
	pools := map[string]PoolState{"gpu": {Name: "gpu", Size: 1, Holders: []PoolHolder{{RunID: "r0", TaskID: "train", Slots: 1}}}}
	workers := []Worker{{ID: "w1", Name: "cpu", State: WorkerActive, ExpiresAt: now.Add(time.Minute)}}
	f := WaitFacts{Run: run, Tasks: trs, Graph: g, Pools: pools, Workers: workers, WorkersRead: true, Now: now}
	want := map[string]string{
		"b":      "waiting for upstream task: a (running)",
		"c":      "waiting for upstream tasks: a (running), b (pending), x (ready) and 2 more",
		"y":      "waiting for the retry backoff: attempt 3 at 2030-01-01T12:01:30Z (in 1m30s) after 2 failed attempts",
		"d":      "skipped: when: ${{ params.mode }} == 'full' was false",
		"e":      "skipped: upstream d was skipped",
		"gpu":    "waiting for pool gpu: 1 of 1 in use by r0/train",
		"lab":    "waiting: no live worker has gpu=true (1 live worker: cpu)",
		"fan":    "waiting for its items: 1 of 4 done",
		"fan[2]": "waiting for max_parallel of fan: 2 of 2 items ready or running",
		"fan[3]": "skipped: when: ${{ item }} > 1 was false",
	}
	if got := Why(f); !reflect.DeepEqual(got, want) {
		for k := range merge(got, want) {
			if got[k] != want[k] {
				t.Errorf("%s: got %q, want %q", k, got[k], want[k])
			}
		}
	}
	if n := WaitNeeds(run, trs); n != (WaitNeed{Graph: true, Pools: true, Workers: true, Unrouted: true}) {
		t.Errorf("WaitNeeds = %+v, want the graph, pools, workers and the unrouted ready tasks", n)
	}
	finished := &Run{ID: "r5", State: RunSucceeded}
	if n := WaitNeeds(finished, []*TaskRun{{TaskID: "a", State: TaskSucceeded}, {TaskID: "b", State: TaskSkipped, Error: "upstream a was skipped"}}); n != (WaitNeed{}) {
		t.Errorf("WaitNeeds of a finished run = %+v, want nothing", n)
	}

	// A holder whose run no process drives is said orphaned, as cairn
	// pools says it; only the holders named are asked about.
	asked := map[string]int{}
	f.Orphaned = func(run string) bool { asked[run]++; return run == "r0" }
	if got := Why(f)["gpu"]; got != "waiting for pool gpu: 1 of 1 in use by r0/train (orphaned: cairn resume r0)" {
		t.Errorf("gpu, its holder orphaned: %q", got)
	}
	if len(asked) != 1 || asked["r0"] != 1 {
		t.Errorf("asked about the runs %v, want r0 once", asked)
	}
	f.Orphaned = nil

	// Facts not read are not judged; a graph that could not be had
	// names no upstream and no when:.
	got := Why(WaitFacts{Run: run, Tasks: trs, Now: now})
	for _, id := range []string{"gpu", "lab", "b", "c"} {
		if got[id] != "" {
			t.Errorf("without the facts, %s: %q", id, got[id])
		}
	}
	if got["d"] != "skipped: "+WhenFalse {
		t.Errorf("without the graph, d: %q", got["d"])
	}

	// The run's concurrency: a pending task whose upstreams are done, and
	// a retrying one whose backoff ended, wait for room.
	capped := &Run{ID: "r2", Workflow: "wf", State: RunRunning, MaxActive: 2}
	trs2 := []*TaskRun{
		{TaskID: "a", State: TaskRunning},
		{TaskID: "b", State: TaskReady},
		{TaskID: "late", State: TaskPending},
		{TaskID: "y", State: TaskRetrying, Attempt: 1, RetryAt: now.Add(-time.Second)},
	}
	got = Why(WaitFacts{Run: capped, Tasks: trs2, Graph: whyGraph{up: map[string][]string{"late": {"a"}}}, Now: now})
	if got["y"] != "waiting for the run's concurrency: 2 of 2 tasks ready or running" {
		t.Errorf("retry due under concurrency: %q", got["y"])
	}
	if got["late"] != "waiting for upstream task: a (running)" {
		t.Errorf("upstreams first: %q", got["late"])
	}
	trs2[0].State = TaskSucceeded
	trs2 = append(trs2, &TaskRun{TaskID: "z", State: TaskLeased})
	got = Why(WaitFacts{Run: capped, Tasks: trs2, Graph: whyGraph{up: map[string][]string{"late": {"a"}}}, Now: now})
	if got["late"] != "waiting for the run's concurrency: 2 of 2 tasks ready or running" {
		t.Errorf("late under concurrency: %q", got["late"])
	}

	// A queued run: its workflow's max_active_runs, naming the active runs.
	queued := &Run{ID: "r3", Workflow: "nightly", State: RunQueued, MaxActiveRuns: 1}
	trs3 := []*TaskRun{{TaskID: "a", State: TaskPending}}
	if n := WaitNeeds(queued, trs3); n != (WaitNeed{ActiveRuns: true}) {
		t.Errorf("WaitNeeds of a queued run under max_active_runs = %+v, want its active runs alone", n)
	}
	got = Why(WaitFacts{Run: queued, Tasks: trs3, ActiveRuns: []string{"r1"}, Now: now})
	if got["a"] != "waiting for the run to start: workflow nightly has 1 of 1 runs active (max_active_runs): r1" {
		t.Errorf("queued at the cap: %q", got["a"])
	}
	got = Why(WaitFacts{Run: queued, Tasks: trs3, Now: now})
	if got["a"] != "waiting for the run to start: it is queued for a cairn server" {
		t.Errorf("queued: %q", got["a"])
	}

	// A cancel requested, a finished run: nothing waits.
	done := &Run{ID: "r4", State: RunRunning, CancelRequested: true}
	if got := Why(WaitFacts{Run: done, Tasks: []*TaskRun{{TaskID: "a", State: TaskPending}}, Now: now}); got != nil {
		t.Errorf("a run being cancelled: %v", got)
	}
}

func merge(a, b map[string]string) map[string]bool {
	out := map[string]bool{}
	for k := range a {
		out[k] = true
	}
	for k := range b {
		out[k] = true
	}
	return out
}

// A ready task without labels or queue is judged by the workers only when
// the pool of the process driving its run is known (PoolKnown): a server
// with --workers 0 whose live workers cannot run its type says so; a
// foreground run's unseen pool may take anything, so nothing is said.
func TestWhyUnroutedByType(t *testing.T) {
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	run := &Run{ID: "r1", Workflow: "wf", State: RunRunning, Owner: "srv"}
	trs := []*TaskRun{{TaskID: "cluster", Type: "kmeans", State: TaskReady}, {TaskID: "echo", Type: "shell", State: TaskReady}}
	workers := []Worker{{ID: "w1", Name: "no-plugin", State: WorkerActive, ExpiresAt: now.Add(time.Minute), Types: []string{"noop", "shell"}}}
	f := WaitFacts{Run: run, Tasks: trs, Workers: workers, WorkersRead: true, Now: now}
	if got := Why(f); len(got) != 0 {
		t.Errorf("the driving process's pool unknown: %v, want no reason", got)
	}
	f.PoolKnown = true
	want := map[string]string{"cluster": "waiting: no live worker runs type kmeans (1 live worker: no-plugin)"}
	if got := Why(f); !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	// The server's own pool (it runs every type it parses) takes it.
	f.Workers = append(f.Workers, Worker{ID: "srv", Name: "cairn server (pid 1)", State: WorkerActive, ExpiresAt: now.Add(time.Minute)})
	if got := Why(f); len(got) != 0 {
		t.Errorf("with the server's pool: %v, want no reason", got)
	}
	f.Workers = nil
	if got := Why(f)["echo"]; got != "waiting: no live worker takes the default queue (no live workers)" {
		t.Errorf("no worker at all: %q", got)
	}
}
