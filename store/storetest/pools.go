package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
)

// pooledRun creates a run created at at whose tasks t0... are all ready,
// task i taking pools[i] ("name" or "name:slots"; "" none).
func pooledRun(t *testing.T, s scheduler.Store, at time.Time, declare map[string]int, pools ...string) *cairn.Run {
	t.Helper()
	run, err := tryPooledRun(s, at, declare, pools...)
	if err != nil {
		t.Fatalf("CreateRun: %v", err)
	}
	return run
}

func tryPooledRun(s scheduler.Store, at time.Time, declare map[string]int, pools ...string) (*cairn.Run, error) {
	run := &cairn.Run{ID: cairn.NewRunID(at), Workflow: "pooled", Digest: digest, SourcePath: "wf/pooled.yaml",
		Source: []byte("name: pooled\n"), State: cairn.RunQueued, CreatedAt: at, Pools: declare}
	tasks := make([]*cairn.TaskRun, len(pools))
	for i, p := range pools {
		tasks[i] = &cairn.TaskRun{RunID: run.ID, TaskID: fmt.Sprintf("t%d", i), Type: "shell", State: cairn.TaskReady,
			Retry: cairn.RetryPolicy{Factor: 1}, Params: []byte(`{}`)}
		if p != "" {
			name, n, ok := strings.Cut(p, ":")
			slots := 1
			if ok {
				slots, _ = strconv.Atoi(n)
			}
			tasks[i].Pool, tasks[i].PoolSlots = name, slots
		}
	}
	return run, s.CreateRun(context.Background(), run, tasks)
}

// testPools: pools a server declares and those a run's workflow declares
// are stored and read back with their holders; a server's declaration
// wins over a workflow's, a later workflow's over an earlier one's; a run
// whose task names an undeclared pool, or more slots than its pool has,
// is refused with a *cairn.PoolError and nothing of it is written; bad
// names and sizes are refused.
func testPools(t *testing.T, s scheduler.Store) {
	ctx := context.Background()
	t0 := origin()
	if ps, err := s.Pools(ctx); err != nil || len(ps) != 0 {
		t.Fatalf("Pools of a new store = %+v, %v; want none", ps, err)
	}
	if err := s.SetPools(ctx, map[string]int{"gpu": 1, "warehouse": 4}, t0); err != nil {
		t.Fatal(err)
	}
	pooledRun(t, s, t0, map[string]int{"gpu": 8, "licence": 2}, "gpu", "licence:2", "warehouse:3")
	ps, err := s.Pools(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range ps {
		// Each pool has one ready task of the run waiting (t0, t1, t2).
		if p.Waiting != 1 || len(p.Queue) != 1 || p.Queue[0].TaskID != fmt.Sprintf("t%d", i) {
			t.Errorf("pool %s: %d waiting, queue %+v; want t%d", p.Name, p.Waiting, p.Queue, i)
		}
		ps[i].Waiting, ps[i].Queue = 0, nil
	}
	want := []cairn.PoolState{
		{Name: "gpu", Size: 1, Source: cairn.PoolServer, UpdatedAt: t0},
		{Name: "licence", Size: 2, Source: cairn.PoolWorkflow, UpdatedAt: t0},
		{Name: "warehouse", Size: 4, Source: cairn.PoolServer, UpdatedAt: t0},
	}
	if !reflect.DeepEqual(ps, want) {
		t.Fatalf("Pools = %+v\nwant %+v (the server's gpu=1 wins over the workflow's 8)", ps, want)
	}
	// A later workflow's size replaces a workflow's; a server's replaces any.
	pooledRun(t, s, t0.Add(time.Second), map[string]int{"licence": 3})
	if err := s.SetPools(ctx, map[string]int{"gpu": 2}, t0.Add(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	items, err := s.Lease(ctx, cairn.LeaseRequest{Worker: "w", Max: 10, AnyTask: true}, t0.Add(3*time.Second), ttl)
	if err != nil || len(items) != 3 {
		t.Fatalf("Lease = %v, %v; want the 3 pooled tasks", fullIDs(items), err)
	}
	ps, err = s.Pools(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sizes, used := map[string]int{}, map[string]int{}
	for _, p := range ps {
		sizes[p.Name], used[p.Name] = p.Size, p.Used()
		for _, h := range p.Holders {
			if h.RunID != items[0].Lease.RunID {
				t.Errorf("pool %s held by %+v, not a task of the run", p.Name, h)
			}
		}
	}
	if !reflect.DeepEqual(sizes, map[string]int{"gpu": 2, "licence": 3, "warehouse": 4}) ||
		!reflect.DeepEqual(used, map[string]int{"gpu": 1, "licence": 2, "warehouse": 3}) {
		t.Fatalf("pools' sizes %v and slots in use %v; want gpu 2/1, licence 3/2, warehouse 4/3", sizes, used)
	}

	// Refusals: nothing of the run is written.
	for _, tc := range []struct {
		declare map[string]int
		pools   []string
		want    string
	}{
		{nil, []string{"", "nowhere"}, "pool nowhere is not declared"},
		{map[string]int{"small": 1}, []string{"small:2"}, "pool_slots 2 is more than pool small has (1)"},
		{nil, []string{"gpu:3"}, "pool_slots 3 is more than pool gpu has (2)"},
	} {
		run, err := tryPooledRun(s, t0.Add(time.Minute), tc.declare, tc.pools...)
		var pe *cairn.PoolError
		if !errors.As(err, &pe) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("CreateRun with pools %v (declaring %v) = %v; want a PoolError saying %q", tc.pools, tc.declare, err, tc.want)
			continue
		}
		if _, err := s.GetRun(ctx, run.ID); !errors.Is(err, cairn.ErrNotFound) {
			t.Errorf("a refused run was written: GetRun = %v", err)
		}
	}
	if ps, _ := s.Pools(ctx); len(ps) != 3 {
		t.Errorf("a refused run declared its pools: %+v", ps)
	}
	for _, bad := range []map[string]int{{"gpu": 0}, {"gpu": -1}, {"a b": 1}, {"x": cairn.MaxPoolSize + 1}} {
		if err := s.SetPools(ctx, bad, t0); err == nil {
			t.Errorf("SetPools(%v) = nil; want an error", bad)
		}
		if _, err := tryPooledRun(s, t0.Add(time.Hour), bad); err == nil {
			t.Errorf("CreateRun declaring %v = nil; want an error", bad)
		}
	}
	if ps, _ := s.Pools(ctx); !reflect.DeepEqual(sizes, poolSizes(ps)) {
		t.Errorf("bad declarations changed the pools: %+v", ps)
	}
}

func poolSizes(ps []cairn.PoolState) map[string]int {
	out := map[string]int{}
	for _, p := range ps {
		out[p.Name] = p.Size
	}
	return out
}

// testLeasePools: a lease grants a pool's slots only while they fit —
// across runs and leases, counting pool_slots —, leases the unpooled
// tasks queued behind a full pool, grants the slots again once a holder
// ends, and does not pass over a task that needs more slots than are
// free with a smaller one queued after it.
func testLeasePools(t *testing.T, s scheduler.Store) {
	ctx := context.Background()
	t0 := origin()
	req := cairn.LeaseRequest{Worker: "w", Max: 10, Start: true}
	if waiting, err := s.PoolWaiting(ctx); err != nil || waiting {
		t.Fatalf("PoolWaiting of an empty store = %v, %v", waiting, err)
	}
	a := pooledRun(t, s, t0, map[string]int{"gpu": 1, "wh": 3}, "gpu", "gpu", "", "wh:2", "wh:2", "wh")
	b := pooledRun(t, s, t0.Add(time.Second), nil, "gpu", "")
	now := t0.Add(2 * time.Second)
	items, err := s.Lease(ctx, req, now, ttl)
	if err != nil {
		t.Fatal(err)
	}
	// a/t0 takes gpu; a/t3 takes 2 of wh's 3 and a/t4 does not fit: wh is
	// blocked there, so a/t5 (1 slot) waits behind it.
	want := []string{a.ID + "/t0", a.ID + "/t2", a.ID + "/t3", b.ID + "/t1"}
	if got := fullIDs(items); !reflect.DeepEqual(got, want) {
		t.Fatalf("first lease = %v; want %v", got, want)
	}
	if again := lease(t, s, "w2", "", 10, now); len(again) != 0 {
		t.Fatalf("a second lease with the pools full got %v", fullIDs(again))
	}
	if waiting, err := s.PoolWaiting(ctx); err != nil || !waiting {
		t.Fatalf("PoolWaiting with a/t1 waiting for gpu = %v, %v", waiting, err)
	}
	byTask := map[string]cairn.WorkItem{}
	for _, it := range items {
		byTask[it.Lease.RunID+"/"+it.Lease.TaskID] = it
		if want := map[string]string{"t0": "gpu", "t3": "wh"}[it.Lease.TaskID]; it.Pool != want {
			t.Errorf("item %s has Pool %q, want %q", it.Lease.TaskID, it.Pool, want)
		}
		// The slots it holds, which the broker frees when it ends.
		if want := map[string]int{"t0": 1, "t3": 2}[it.Lease.TaskID]; it.Pool != "" && it.PoolSlots != want {
			t.Errorf("item %s has PoolSlots %d, want %d", it.Lease.TaskID, it.PoolSlots, want)
		}
	}
	// The gpu holder ends: the next gpu task in the queue gets the slot.
	if _, err := s.Complete(ctx, byTask[a.ID+"/t0"].Lease, cairn.Completion{State: cairn.TaskSucceeded}, now); err != nil {
		t.Fatal(err)
	}
	if got := fullIDs(lease(t, s, "w", "", 10, now)); !reflect.DeepEqual(got, []string{a.ID + "/t1"}) {
		t.Fatalf("after the gpu holder succeeded, lease = %v; want %s/t1", got, a.ID)
	}
	// wh's 2-slot holder ends: a/t4 (2) and then a/t5 (1) fit in 3.
	if _, err := s.Complete(ctx, byTask[a.ID+"/t3"].Lease, cairn.Completion{State: cairn.TaskFailed, Error: "x"}, now); err != nil {
		t.Fatal(err)
	}
	if got := fullIDs(lease(t, s, "w", "", 10, now)); !reflect.DeepEqual(got, []string{a.ID + "/t4", a.ID + "/t5"}) {
		t.Fatalf("after the wh holder failed, lease = %v; want %s/t4 and t5", got, a.ID)
	}
	// A run's own lease (cairn run) counts the other runs' holders too.
	if got := lease(t, s, "fg", b.ID, 10, now); len(got) != 0 {
		t.Fatalf("run %s's own lease = %v; want nothing (gpu is held by %s/t1)", b.ID, fullIDs(got), a.ID)
	}
}

func fullIDs(items []cairn.WorkItem) []string {
	ids := []string{}
	for _, it := range items {
		ids = append(ids, it.Lease.RunID+"/"+it.Lease.TaskID)
	}
	slices.Sort(ids)
	return ids
}

// testLeasePriority: with priorities the lease queue goes highest first,
// ties first come first served (the order they became ready, then the
// workflow's); a task's priority counts one higher per
// cairn.PriorityAging it has waited, so a low-priority task ready long
// enough goes before a higher one ready later.
func testLeasePriority(t *testing.T, s scheduler.Store) {
	ctx := context.Background()
	t0 := origin()
	mk := func(at time.Time, prios ...int) *cairn.Run {
		// Every task in pool q, which has room for all: the pool's queue
		// (Pools) is the lease queue.
		run := &cairn.Run{ID: cairn.NewRunID(at), Workflow: "prio", Digest: digest, SourcePath: "wf/prio.yaml",
			Source: []byte("name: prio\n"), State: cairn.RunQueued, CreatedAt: at, Pools: map[string]int{"q": 100}}
		var tasks []*cairn.TaskRun
		for i, p := range prios {
			tasks = append(tasks, &cairn.TaskRun{RunID: run.ID, TaskID: fmt.Sprintf("t%d", i), Type: "shell",
				State: cairn.TaskReady, Retry: cairn.RetryPolicy{Factor: 1}, Params: []byte(`{}`), Priority: p, Pool: "q", PoolSlots: 1})
		}
		if err := s.CreateRun(ctx, run, tasks); err != nil {
			t.Fatal(err)
		}
		return run
	}
	a := mk(t0, 0, 5, 5, 1)               // ready at t0
	b := mk(t0.Add(30*time.Second), 2, 0) // ready 30 s later
	c := mk(t0.Add(3*time.Minute), 2)     // 3 minutes later: key t0+1m
	d := mk(t0.Add(-10*time.Minute), -5)  // 10 minutes earlier at -5: key t0-5m
	if tr, err := s.GetTaskRun(ctx, a.ID, "t1"); err != nil || tr.Priority != 5 {
		t.Fatalf("GetTaskRun a/t1 = %+v, %v; want priority 5", tr, err)
	}
	ps, err := s.Pools(ctx)
	if err != nil || len(ps) != 1 || ps[0].Waiting != 8 || len(ps[0].Queue) != 8 {
		t.Fatalf("Pools = %+v, %v; want q with 8 waiting", ps, err)
	}
	var queue []string
	for _, w := range ps[0].Queue {
		queue = append(queue, w.RunID+"/"+w.TaskID)
	}
	now := t0.Add(4 * time.Minute)
	var got []string
	for {
		items := lease(t, s, "w", "", 1, now)
		if len(items) == 0 {
			break
		}
		got = append(got, items[0].Lease.RunID+"/"+items[0].Lease.TaskID)
	}
	// Keys (cairn.QueueKey), ties by the order the tasks became ready,
	// then the workflow's: b/t1 (0, ready at t0+30s) goes before c/t0
	// (2, ready at t0+3m) as it has waited 2.5 minutes longer.
	want := []string{
		a.ID + "/t1", // 5 at t0: t0-5m
		a.ID + "/t2", // the same, after t1 in the workflow
		d.ID + "/t0", // -5 at t0-10m: t0-5m, made ready after a's
		b.ID + "/t0", // 2 at t0+30s: t0-90s
		a.ID + "/t3", // 1 at t0: t0-1m
		a.ID + "/t0", // 0 at t0: t0
		b.ID + "/t1", // 0 at t0+30s
		c.ID + "/t0", // 2 at t0+3m: t0+1m
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("lease order = %v\nwant %v", got, want)
	}
	if !reflect.DeepEqual(queue, want) {
		t.Errorf("pool q's queue = %v\nwant the lease order %v", queue, want)
	}
	if w := ps[0].Queue[0]; w.Priority != 5 || w.Slots != 1 || !w.ReadyAt.Equal(t0) {
		t.Errorf("the head of q's queue = %+v; want priority 5, 1 slot, ready at %s", w, t0)
	}
	if ps, err := s.Pools(ctx); err != nil || ps[0].Waiting != 0 || ps[0].Queue != nil {
		t.Errorf("Pools once every task is leased = %+v, %v; want none waiting", ps, err)
	}
}

// testTwoStoresPool: a pool of 1 shared by leases from two stores on one
// database at once never has two holders: each worker counts itself in
// while it holds a lease, and the count never passes 1.
func testTwoStoresPool(t *testing.T, a, b scheduler.Store) {
	ctx := context.Background()
	t0 := origin()
	const runs, tasks, workers = 3, 6, 6
	var pools []string
	for range tasks {
		pools = append(pools, "gpu")
	}
	for i := range runs {
		pooledRun(t, a, t0.Add(time.Duration(i)*time.Second), map[string]int{"gpu": 1}, pools...)
	}
	var (
		holding, leased atomic.Int64
		wg              sync.WaitGroup
	)
	errs := make(chan error, workers)
	for w := range workers {
		s := a
		if w%2 == 1 {
			s = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			deadline := time.Now().Add(time.Minute)
			for leased.Load() < runs*tasks && time.Now().Before(deadline) {
				items, err := s.Lease(ctx, cairn.LeaseRequest{Worker: fmt.Sprintf("w%d", w), Max: 2, Start: true}, t0, ttl)
				if err != nil {
					errs <- err
					return
				}
				if len(items) == 0 {
					time.Sleep(time.Millisecond)
					continue
				}
				if len(items) > 1 {
					errs <- fmt.Errorf("worker %d leased %d tasks of a pool of 1 at once", w, len(items))
					return
				}
				if n := holding.Add(1); n > 1 {
					errs <- fmt.Errorf("%d holders of a pool of 1", n)
				}
				leased.Add(1)
				time.Sleep(time.Millisecond)
				holding.Add(-1)
				if _, err := s.Complete(ctx, items[0].Lease, cairn.Completion{State: cairn.TaskSucceeded}, t0); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := leased.Load(); n != runs*tasks {
		t.Fatalf("%d tasks leased, want %d", n, runs*tasks)
	}
}

// testPoolKeepsLiveNeeds: a workflow that declares a pool smaller than
// the slots a task of an unfinished run takes leaves the pool that large
// (the task would wait for ever); once no unfinished task needs more, the
// last declaration sets the size again.
func testPoolKeepsLiveNeeds(t *testing.T, s scheduler.Store) {
	ctx := context.Background()
	t0 := origin()
	size := func() int {
		t.Helper()
		ps, err := s.Pools(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ps {
			if p.Name == "gpu" {
				return p.Size
			}
		}
		t.Fatalf("no pool gpu in %+v", ps)
		return 0
	}
	big := pooledRun(t, s, t0, map[string]int{"gpu": 4}, "gpu:3")
	pooledRun(t, s, t0.Add(time.Second), map[string]int{"gpu": 1}, "gpu")
	if got := size(); got != 3 {
		t.Fatalf("gpu after a run declared it 1 while a ready task needs 3: size %d, want 3", got)
	}
	// The task that needed 3 ends: a later declaration of 1 holds.
	items, err := s.Lease(ctx, cairn.LeaseRequest{Worker: "w", Max: 10, AnyTask: true}, t0.Add(2*time.Second), ttl)
	if err != nil {
		t.Fatal(err)
	}
	var ended bool
	for _, it := range items {
		if it.Lease.RunID != big.ID {
			continue
		}
		if _, err := s.Complete(ctx, it.Lease, cairn.Completion{State: cairn.TaskSucceeded}, t0.Add(3*time.Second)); err != nil {
			t.Fatal(err)
		}
		ended = true
	}
	if !ended {
		t.Fatalf("the 3-slot task was not leased: %v", fullIDs(items))
	}
	pooledRun(t, s, t0.Add(4*time.Second), map[string]int{"gpu": 1}, "gpu")
	if got := size(); got != 1 {
		t.Errorf("gpu declared 1 with no unfinished task needing more: size %d, want 1", got)
	}
}

// testPoolGivenBack: a pool a server declared before and a later SetPools
// lacks is a workflow's again, its size kept until a workflow declares it.
func testPoolGivenBack(t *testing.T, s scheduler.Store) {
	ctx := context.Background()
	t0 := origin()
	if err := s.SetPools(ctx, map[string]int{"gpu": 1, "disk": 2}, t0); err != nil {
		t.Fatal(err)
	}
	pooledRun(t, s, t0.Add(time.Second), map[string]int{"gpu": 5}, "gpu")
	state := func() map[string]string {
		t.Helper()
		ps, err := s.Pools(ctx)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, p := range ps {
			out[p.Name] = fmt.Sprintf("%d %s", p.Size, p.Source)
		}
		return out
	}
	if got, want := state(), map[string]string{"gpu": "1 server", "disk": "2 server"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("pools %v, want %v (the server's wins)", got, want)
	}
	// A server with --pool disk=2 only: gpu is given back.
	if err := s.SetPools(ctx, map[string]int{"disk": 2}, t0.Add(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	if got, want := state(), map[string]string{"gpu": "1 workflow", "disk": "2 server"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("pools %v, want %v", got, want)
	}
	pooledRun(t, s, t0.Add(3*time.Second), map[string]int{"gpu": 5}, "gpu")
	// A server with no --pool: every pool is the workflows'.
	if err := s.SetPools(ctx, nil, t0.Add(4*time.Second)); err != nil {
		t.Fatal(err)
	}
	if got, want := state(), map[string]string{"gpu": "5 workflow", "disk": "2 workflow"}; !reflect.DeepEqual(got, want) {
		t.Errorf("pools %v, want %v (gpu: the later workflow's 5)", got, want)
	}
}

// testLeasePoolsCancel: a pooled task cancelled while running keeps its
// slots while its process may still run (trial finding 10): no other
// task of the pool is leased until the attempt's report comes in — its
// completion, refused, says the process is gone — or its lease would
// have expired (a lost worker); then one is, at once. The worker's
// heartbeats renew the hold and tell it the run is cancelled; calls under
// another token do neither. cairn pools says the holder is cancelling. A
// task cancelled while only leased (nothing of it began) frees its slots
// at once.
func testLeasePoolsCancel(t *testing.T, s scheduler.Store) {
	ctx := context.Background()
	t0 := origin()
	cancel := func(runID, taskID string, from cairn.TaskState, at time.Time) {
		t.Helper()
		tr := task(t, s, runID, taskID)
		if err := s.ApplyPlan(ctx, &scheduler.Plan{RunID: runID, Tasks: []scheduler.TaskChange{{TaskID: taskID,
			FromVersion: tr.Version, From: from, To: cairn.TaskCancelled, Error: "run cancelled", At: at}}}); err != nil {
			t.Fatalf("cancel %s/%s: %v", runID, taskID, err)
		}
	}
	leaseAt := func(at time.Time, start bool) []string {
		t.Helper()
		items, err := s.Lease(ctx, cairn.LeaseRequest{Worker: "w2", Max: 10, Start: start}, at, ttl)
		if err != nil {
			t.Fatal(err)
		}
		return fullIDs(items)
	}
	holders := func() []cairn.PoolHolder {
		t.Helper()
		ps, err := s.Pools(ctx)
		if err != nil || len(ps) != 1 {
			t.Fatalf("Pools = %+v, %v; want gpu", ps, err)
		}
		return ps[0].Holders
	}

	a := pooledRun(t, s, t0, map[string]int{"gpu": 1}, "gpu")
	b := pooledRun(t, s, t0.Add(time.Second), nil, "gpu", "gpu")
	now := t0.Add(2 * time.Second)
	items, err := s.Lease(ctx, cairn.LeaseRequest{Worker: "w", Max: 10, Start: true}, now, ttl)
	if err != nil || len(items) != 1 || items[0].Lease.RunID != a.ID {
		t.Fatalf("first lease = %v, %v; want %s/t0 alone", fullIDs(items), err, a.ID)
	}
	held := items[0].Lease
	cancel(a.ID, "t0", cairn.TaskRunning, now.Add(time.Second))
	if got := leaseAt(now.Add(time.Second), true); len(got) != 0 {
		t.Fatalf("with %s/t0 cancelled but its process not gone, lease = %v; want nothing (pool gpu of 1)", a.ID, got)
	}
	if got, want := holders(), []cairn.PoolHolder{{RunID: a.ID, TaskID: "t0", Slots: 1, Cancelling: true}}; !reflect.DeepEqual(got, want) {
		t.Errorf("gpu's holders = %+v; want %+v", got, want)
	}
	// Its worker's heartbeat renews the hold and says the run is
	// cancelled; one under another token is lost and renews nothing.
	wrong := held
	wrong.Token = cairn.NewToken()
	beat := now.Add(20 * time.Second)
	rs, err := s.HeartbeatMany(ctx, []cairn.Lease{wrong, held}, beat, ttl)
	if err != nil || len(rs) != 2 {
		t.Fatalf("HeartbeatMany = %+v, %v", rs, err)
	}
	if !errors.Is(rs[0].Err, cairn.ErrLeaseLost) {
		t.Errorf("heartbeat under a wrong token = %+v; want lost", rs[0])
	}
	if rs[1].Err != nil || !rs[1].Reply.CancelRequested || !rs[1].Reply.ExpiresAt.Equal(beat.Add(ttl)) {
		t.Errorf("heartbeat of the cancelled attempt = %+v; want renewed to %s, cancel requested", rs[1], beat.Add(ttl))
	}
	if r, err := s.Heartbeat(ctx, held, beat, ttl); err != nil || !r.CancelRequested {
		t.Errorf("Heartbeat of the cancelled attempt = %+v, %v; want renewed, cancel requested", r, err)
	}
	// Past the lease's first expiry, the renewed hold still holds.
	later := now.Add(ttl + 5*time.Second)
	if got := leaseAt(later, true); len(got) != 0 {
		t.Fatalf("past the first expiry, with the hold renewed, lease = %v; want nothing", got)
	}
	// A report under another token is refused and lets go of nothing.
	_, err = s.Complete(ctx, wrong, cairn.Completion{State: cairn.TaskFailed, Error: "killed"}, later)
	wantErr(t, err, cairn.ErrLeaseLost)
	if got := leaseAt(later, true); len(got) != 0 {
		t.Fatalf("after a report under a wrong token, lease = %v; want nothing", got)
	}
	// The worker's report, refused (the task is cancelled), says the
	// process is gone: the slot is free at once.
	_, errs, err := s.CompleteMany(ctx, []scheduler.Finish{{Lease: held, Completion: cairn.Completion{State: cairn.TaskFailed,
		Error: "attempt cancelled: its run was cancelled"}}}, later)
	if err != nil || len(errs) != 1 {
		t.Fatalf("CompleteMany = %v, %v", errs, err)
	}
	wantErr(t, errs[0], cairn.ErrLeaseLost)
	if tr := task(t, s, a.ID, "t0"); tr.State != cairn.TaskCancelled {
		t.Errorf("a/t0 after its report = %s; want cancelled still", tr.State)
	}
	if got, want := leaseAt(later, true), []string{b.ID + "/t0"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("after the cancelled attempt's report, lease = %v; want %v", got, want)
	}
	if got, want := holders(), []cairn.PoolHolder{{RunID: b.ID, TaskID: "t0", Slots: 1}}; !reflect.DeepEqual(got, want) {
		t.Errorf("gpu's holders = %+v; want %+v", got, want)
	}
	if _, err := s.Heartbeat(ctx, held, later, ttl); !errors.Is(err, cairn.ErrLeaseLost) {
		t.Errorf("heartbeat after the report = %v; want lost", err)
	}

	// A worker lost after the cancel: the hold ends when the lease would
	// have expired, and a heartbeat after that does not revive it.
	b0 := task(t, s, b.ID, "t0")
	bl := cairn.Lease{RunID: b.ID, TaskID: "t0", Attempt: b0.Attempt, Token: b0.LeaseToken, Worker: b0.LeaseWorker}
	expiry := b0.LeaseExpiresAt
	cancel(b.ID, "t0", cairn.TaskRunning, later.Add(time.Second))
	if got := leaseAt(expiry.Add(-time.Millisecond), true); len(got) != 0 {
		t.Fatalf("just before the cancelled attempt's lease would have expired, lease = %v; want nothing", got)
	}
	if got, want := leaseAt(expiry, false), []string{b.ID + "/t1"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("once the cancelled attempt's lease would have expired, lease = %v; want %v", got, want)
	}
	if _, err := s.Heartbeat(ctx, bl, expiry.Add(time.Second), ttl); !errors.Is(err, cairn.ErrLeaseLost) {
		t.Errorf("heartbeat after the hold expired = %v; want lost", err)
	}

	// b/t1 is only leased (not started: nothing of it runs): cancelled,
	// its slot is free at once.
	c := pooledRun(t, s, t0.Add(3*time.Second), nil, "gpu")
	if got := leaseAt(expiry, true); len(got) != 0 {
		t.Fatalf("with b/t1 leased, lease = %v; want nothing", got)
	}
	cancel(b.ID, "t1", cairn.TaskLeased, expiry.Add(time.Second))
	if got, want := leaseAt(expiry.Add(time.Second), true), []string{c.ID + "/t0"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("after the cancel of a leased task, lease = %v; want %v", got, want)
	}
}
