package storetest

import (
	"context"
	"encoding/json"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
)

// routedRun creates a run whose tasks t0... are all ready, task i with
// routes[i]'s labels and queue.
func routedRun(t *testing.T, s scheduler.Store, at time.Time, routes ...route) *cairn.Run {
	t.Helper()
	run, _ := newRunWith(t, s, at, func(i int, tr *cairn.TaskRun) {
		tr.Labels, tr.Queue = routes[i].labels, routes[i].queue
	}, len(routes))
	return run
}

type route struct {
	labels map[string]string
	queue  string
}

// newRunWith creates a run of n ready tasks, each changed by f first.
func newRunWith(t *testing.T, s scheduler.Store, at time.Time, f func(i int, tr *cairn.TaskRun), n int) (*cairn.Run, []*cairn.TaskRun) {
	t.Helper()
	states := make([]cairn.TaskState, n)
	for i := range states {
		states[i] = cairn.TaskReady
	}
	run := &cairn.Run{ID: cairn.NewRunID(at), Workflow: "routed", Digest: digest, SourcePath: "wf/routed.yaml",
		Source: []byte("name: routed\n"), State: cairn.RunQueued, CreatedAt: at}
	tasks := make([]*cairn.TaskRun, n)
	for i := range tasks {
		tasks[i] = &cairn.TaskRun{RunID: run.ID, TaskID: "t" + string(rune('0'+i)), Type: "shell", State: cairn.TaskReady,
			Retry: cairn.RetryPolicy{Factor: 1}, Params: json.RawMessage(`{}`)}
		f(i, tasks[i])
	}
	if err := s.CreateRun(context.Background(), run, tasks); err != nil {
		t.Fatalf("CreateRun: %v", err)
	}
	return run, tasks
}

func leaseIDs(t *testing.T, s scheduler.Store, r cairn.LeaseRequest, now time.Time) []string {
	t.Helper()
	items, err := s.Lease(context.Background(), r, now, ttl)
	if err != nil {
		t.Fatalf("Lease %+v: %v", r, err)
	}
	ids := []string{}
	for _, it := range items {
		ids = append(ids, it.Lease.TaskID)
	}
	return ids
}

// testLeaseRouting: a task is leased only by a request whose labels hold
// all of the task's (same values) and whose queues hold its queue (the
// default one when the request names none); AnyTask takes any; a task
// nobody can take stays ready while the tasks queued after it are leased.
func testLeaseRouting(t *testing.T, s scheduler.Store) {
	ctx := context.Background()
	t0 := origin()
	gpu := map[string]string{"gpu": "true"}
	gpuEU := map[string]string{"gpu": "true", "zone": "eu-1"}
	run := routedRun(t, s, t0,
		route{},                            // t0: anyone on the default queue
		route{labels: gpu},                 // t1
		route{queue: "batch"},              // t2
		route{labels: gpu, queue: "batch"}, // t3
		route{labels: gpuEU},               // t4
		route{},                            // t5
		route{labels: map[string]string{"x": "y"}}, // t6: nobody below offers x=y
	)

	// Stored and read back as given; none: nil labels, "" queue.
	trs, err := s.ListTaskRuns(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range trs {
		switch tr.TaskID {
		case "t0":
			if tr.Labels != nil || tr.Queue != "" {
				t.Errorf("t0 routing = %v %q, want none", tr.Labels, tr.Queue)
			}
		case "t4":
			if !reflect.DeepEqual(tr.Labels, gpuEU) || tr.Queue != "" {
				t.Errorf("t4 routing = %v %q", tr.Labels, tr.Queue)
			}
		case "t3":
			if !reflect.DeepEqual(tr.Labels, gpu) || tr.Queue != "batch" {
				t.Errorf("t3 routing = %v %q", tr.Labels, tr.Queue)
			}
		}
	}
	if got, err := s.GetTaskRun(ctx, run.ID, "t3"); err != nil || !reflect.DeepEqual(got.Labels, gpu) || got.Queue != "batch" {
		t.Errorf("GetTaskRun t3 = %+v, %v", got, err)
	}

	now := t0.Add(time.Second)
	// A worker with no labels on the default queue: the labelled tasks
	// before t5 stay ready, t5 is leased past them.
	plain := cairn.LeaseRequest{Worker: "plain", Max: 10}
	if got := leaseIDs(t, s, plain, now); !slices.Equal(got, []string{"t0", "t5"}) {
		t.Errorf("plain worker leased %v, want [t0 t5]", got)
	}
	if got := task(t, s, run.ID, "t1"); got.State != cairn.TaskReady {
		t.Errorf("t1 is %s after a plain worker's lease, want ready", got.State)
	}
	if got := leaseIDs(t, s, plain, now); len(got) != 0 {
		t.Errorf("plain worker leased %v again, want nothing", got)
	}
	// A wrong value is no match; nor is a queue the worker does not serve.
	if got := leaseIDs(t, s, cairn.LeaseRequest{Worker: "cpu", Max: 10, Labels: map[string]string{"gpu": "false"}}, now); len(got) != 0 {
		t.Errorf("gpu=false leased %v", got)
	}
	if got := leaseIDs(t, s, cairn.LeaseRequest{Worker: "q", Max: 10, Queues: []string{"other"}}, now); len(got) != 0 {
		t.Errorf("queue other leased %v", got)
	}
	// The run filter and routing together.
	if got := leaseIDs(t, s, cairn.LeaseRequest{Worker: "g", RunID: run.ID, Max: 10, Labels: map[string]string{"gpu": "true", "ram": "64g"}}, now); !slices.Equal(got, []string{"t1"}) {
		t.Errorf("gpu worker of the run leased %v, want [t1]", got)
	}
	// More labels than a task needs, and two queues, one the default.
	r := cairn.LeaseRequest{Worker: "big", Max: 10, Labels: map[string]string{"gpu": "true", "zone": "eu-1", "ram": "64g"},
		Queues: []string{"", "batch"}}
	if ok, err := readyFor(s, r); err != nil || !ok {
		t.Errorf("AnyReady(big) = %v, %v; want true", ok, err)
	}
	if got := leaseIDs(t, s, r, now); !slices.Equal(got, []string{"t2", "t3", "t4"}) {
		t.Errorf("big worker leased %v, want [t2 t3 t4]", got)
	}
	// t6 waits for x=y: AnyReady says nothing is ready for the others.
	for _, r := range []cairn.LeaseRequest{plain, {Worker: "g", Max: 1, Labels: gpu, Queues: []string{"batch", ""}}} {
		if ok, err := readyFor(s, r); err != nil || ok {
			t.Errorf("AnyReady(%+v) with only t6 ready = %v, %v; want false", r, ok, err)
		}
	}
	if got := task(t, s, run.ID, "t6"); got.State != cairn.TaskReady {
		t.Errorf("t6 is %s, want ready", got.State)
	}
	// AnyTask takes anything (the foreground cairn run).
	if got := leaseIDs(t, s, cairn.LeaseRequest{Worker: "fg", RunID: run.ID, Max: 10, AnyTask: true}, now); !slices.Equal(got, []string{"t6"}) {
		t.Errorf("AnyTask leased %v, want [t6]", got)
	}
}

// testLeaseTypes: a request that names the task types its worker can run
// (cairn.LeaseRequest.Types) is leased only tasks of those types, the
// others left ready for a worker that has them, and AnyReady agrees; an
// empty list takes nothing, nil any type; the types combine with labels.
func testLeaseTypes(t *testing.T, s scheduler.Store) {
	t0 := origin()
	gpu := map[string]string{"gpu": "true"}
	types := []string{"shell", "kmeans", "shell", "train", "kmeans"}
	run, _ := newRunWith(t, s, t0, func(i int, tr *cairn.TaskRun) {
		tr.Type = types[i]
		if i == 4 {
			tr.Labels = gpu
		}
	}, len(types))
	now := t0.Add(time.Second)
	none := cairn.LeaseRequest{Worker: "none", RunID: run.ID, Max: 10, Types: []string{}}
	if ok, err := readyFor(s, none); err != nil || ok {
		t.Errorf("AnyReady(no types) = %v, %v; want false", ok, err)
	}
	if got := leaseIDs(t, s, none, now); len(got) != 0 {
		t.Errorf("a worker of no types leased %v", got)
	}
	sh := cairn.LeaseRequest{Worker: "sh", RunID: run.ID, Max: 10, Types: []string{"noop", "shell"}}
	if got := leaseIDs(t, s, sh, now); !slices.Equal(got, []string{"t0", "t2"}) {
		t.Errorf("a shell worker leased %v, want [t0 t2]", got)
	}
	km := cairn.LeaseRequest{Worker: "km", RunID: run.ID, Max: 10, Types: []string{"kmeans"}}
	if ok, err := readyFor(s, km); err != nil || !ok {
		t.Errorf("AnyReady(kmeans) = %v, %v; want true", ok, err)
	}
	// t4 is a kmeans task that needs gpu=true: not this worker's.
	if got := leaseIDs(t, s, km, now); !slices.Equal(got, []string{"t1"}) {
		t.Errorf("a kmeans worker leased %v, want [t1]", got)
	}
	if got := task(t, s, run.ID, "t3"); got.State != cairn.TaskReady {
		t.Errorf("the train task is %s after leases of workers without train, want ready", got.State)
	}
	km.Labels = gpu
	if got := leaseIDs(t, s, km, now); !slices.Equal(got, []string{"t4"}) {
		t.Errorf("a kmeans worker with gpu=true leased %v, want [t4]", got)
	}
	// Nil: a worker that did not say takes any type.
	if got := leaseIDs(t, s, cairn.LeaseRequest{Worker: "old", RunID: run.ID, Max: 10}, now); !slices.Equal(got, []string{"t3"}) {
		t.Errorf("a worker of unsaid types leased %v, want [t3]", got)
	}
}

// readyFor asks AnyReady inside a batch.
func readyFor(s scheduler.Store, r cairn.LeaseRequest) (bool, error) {
	var ok bool
	err := s.Batch(context.Background(), func(tx scheduler.Tx) error {
		var err error
		ok, err = tx.AnyReady(r)
		return err
	})
	return ok, err
}

// testRoutingRejects: CreateRun refuses labels and queues that break the
// syntax (cairn.CheckRoute), writing nothing.
func testRoutingRejects(t *testing.T, s scheduler.Store) {
	ctx := context.Background()
	for i, bad := range []route{
		{labels: map[string]string{"bad key": "x"}},
		{labels: map[string]string{"gpu": ""}},
		{labels: map[string]string{"gpu": "a,b"}},
		{queue: "two words"},
		{queue: "-x"},
	} {
		run := &cairn.Run{ID: cairn.NewRunID(origin().Add(time.Duration(i) * time.Second)), Workflow: "bad", Digest: digest,
			State: cairn.RunQueued, CreatedAt: origin()}
		err := s.CreateRun(ctx, run, []*cairn.TaskRun{{TaskID: "a", Type: "shell", State: cairn.TaskPending,
			Labels: bad.labels, Queue: bad.queue}})
		if err == nil {
			t.Errorf("CreateRun with %+v succeeded", bad)
			continue
		}
		if _, err := s.GetRun(ctx, run.ID); err == nil {
			t.Errorf("CreateRun with %+v refused but left the run", bad)
		}
	}
}

// testLeaseRoutingInBatch: Tx.Lease routes as Lease does (the leases a
// completion batch hands out).
func testLeaseRoutingInBatch(t *testing.T, s scheduler.Store) {
	t0 := origin()
	run := routedRun(t, s, t0, route{labels: map[string]string{"gpu": "true"}}, route{})
	var got []cairn.WorkItem
	err := s.Batch(context.Background(), func(tx scheduler.Tx) error {
		var err error
		got, err = tx.Lease(cairn.LeaseRequest{Worker: "plain", Max: 5}, t0, ttl)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Lease.TaskID != "t1" {
		t.Errorf("Tx.Lease for a plain worker = %+v, want t1 only", got)
	}
	if tr := task(t, s, run.ID, "t0"); tr.State != cairn.TaskReady {
		t.Errorf("t0 is %s, want ready", tr.State)
	}
}
