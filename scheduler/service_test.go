package scheduler_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/artifacts"
	"github.com/cairnml/cairn/executor"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/store/sqlite"
	"github.com/cairnml/cairn/tasks"
	"github.com/cairnml/cairn/workflows"
)

// startPoolOver starts a pool of any run's tasks over leaser, stopped
// hard at cleanup unless stopped before.
func (r *rig) startPoolOver(t *testing.T, leaser executor.Leaser, worker, owner string, slots int, idle time.Duration) *stopper {
	t.Helper()
	arts, err := artifacts.Open(filepath.Join(r.dir, "artifacts"))
	if err != nil {
		t.Fatal(err)
	}
	logs, err := artifacts.OpenLogs(filepath.Join(r.dir, "logs"))
	if err != nil {
		t.Fatal(err)
	}
	p := executor.New(leaser, executor.Options{Worker: worker, Slots: slots, Types: r.reg,
		Artifacts: arts, Logs: logs, ScratchDir: t.TempDir(), IdleWait: idle, Owner: owner})
	p.Start(context.Background())
	s := &stopper{pool: p}
	t.Cleanup(s.hard)
	return s
}

// A completion recorded through another store and broker on the same
// database — another process — is planned by the run's owner: the
// evaluation it writes reaches the owner's service. Without it the
// owner would wait for ever.
func TestCompletionThroughAnotherStoreIsPlanned(t *testing.T) {
	r := newRig(t, rigOptions{}, newProbe(nil))
	wf, id := r.create(t, `name: two
tasks:
  - {id: a, type: probe, with: {in: "1"}}
  - {id: b, type: probe, with: {in: "${{ tasks.a.outputs.x }}"}}
  - {id: c, type: probe, with: {in: "${{ tasks.b.outputs.x }}"}}
`)
	other, err := sqlite.Open(context.Background(), r.st.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	ob := scheduler.NewBroker(other, scheduler.BrokerOptions{Name: "test:2:other"})
	// The owner (r.driver) plans; only the other process runs tasks. Its
	// pool hears of ready tasks only by asking (IdleWait): the owner's
	// wake-ups are in another process.
	r.startPoolOver(t, ob, "other-worker", "", 2, 50*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	run, err := r.driver.Drive(ctx, id, wf)
	if err != nil {
		t.Fatalf("Drive: %v", err)
	}
	if run.State != cairn.RunSucceeded {
		t.Fatalf("run %s, want succeeded", run.State)
	}
	trs, err := r.st.ListTaskRuns(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range trs {
		atts, err := r.st.ListAttempts(ctx, id, tr.TaskID)
		if err != nil {
			t.Fatal(err)
		}
		if tr.State != cairn.TaskSucceeded || len(atts) != 1 || atts[0].Worker != "other-worker" {
			t.Fatalf("task %s: %s with %d attempts (%v), want succeeded once by other-worker", tr.TaskID, tr.State, len(atts), atts)
		}
	}
	if got := string(trs[2].Outputs["x"]); got != `"c(b(a(1)))"` {
		t.Fatalf("c's output = %s, want c(b(a(1)))", got)
	}
	// The run's evaluations were acknowledged when it ended.
	evs, err := r.st.Evaluations(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if e.RunID == id {
			t.Fatalf("evaluation left after the run ended: %+v", e)
		}
	}
}

// server is a Service with Adopt and its pool, as cairn server wires them.
type server struct {
	svc   *scheduler.Service
	pool  *stopper
	owner string

	mu    sync.Mutex
	ended map[string]*cairn.Run
	done  chan string
}

func (r *rig) startServer(t *testing.T, owner string, maxActive, slots int, graphs func(*cairn.Run) scheduler.Graph) *server {
	t.Helper()
	srv := &server{owner: owner, ended: map[string]*cairn.Run{}, done: make(chan string, 10000)}
	srv.svc = scheduler.NewService(r.st, r.broker, scheduler.ServiceOptions{
		Owner: owner, Adopt: true, MaxActiveRuns: maxActive, OwnerTTL: 2 * time.Second, PollInterval: 20 * time.Millisecond,
		Load: func(ctx context.Context, run *cairn.Run) (scheduler.Graph, error) { return graphs(run), nil },
		Ended: func(id string, final *cairn.Run, err error) {
			srv.mu.Lock()
			srv.ended[id] = final
			srv.mu.Unlock()
			srv.done <- id
		},
	})
	srv.svc.Start(context.Background())
	srv.pool = r.startPoolOver(t, r.broker, owner, owner, slots, 0)
	t.Cleanup(func() { srv.stop() })
	return srv
}

func (s *server) stop() {
	s.pool.hard()
	s.svc.Stop(context.Background())
}

// wait waits for n runs to end.
func (s *server) wait(t *testing.T, n int, limit time.Duration) {
	t.Helper()
	deadline := time.After(limit)
	for i := 0; i < n; i++ {
		select {
		case <-s.done:
		case <-deadline:
			t.Fatalf("%d of %d runs ended within %s", i, n, limit)
		}
	}
}

// 200 runs of 10 noop tasks queued at once all finish, started and
// planned by the service alone.
func TestServiceRunsQueuedRuns(t *testing.T) {
	r := newRig(t, rigOptions{})
	src := "name: ten\ntasks:\n  - {id: t0, type: noop}\n"
	for i := 1; i < 10; i++ {
		src += fmt.Sprintf("  - {id: t%d, type: noop, needs: [t%d]}\n", i, (i-1)/2)
	}
	var wf *workflows.Workflow
	ids := map[string]bool{}
	for i := 0; i < 200; i++ {
		w, id := r.create(t, src)
		wf, ids[id] = w, true
	}
	srv := r.startServer(t, "test:9:server", 0, 8, func(*cairn.Run) scheduler.Graph { return wf })
	srv.wait(t, 200, 60*time.Second)
	ctx := context.Background()
	for id := range ids {
		run, err := r.st.GetRun(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if run.State != cairn.RunSucceeded || run.Owner != "" {
			t.Fatalf("run %s: %s owned by %q, want succeeded and released", id, run.State, run.Owner)
		}
	}
	if n := len(srv.svc.Runs()); n != 0 {
		t.Fatalf("service still holds %d runs", n)
	}
	evs, err := r.st.Evaluations(ctx, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 0 {
		t.Fatalf("%d evaluations left, e.g. %+v", len(evs), evs[0])
	}
}

// gate is a task type ("probe", one attempt per run) whose attempts wait
// until released, recording how many runs have one running at once.
type gate struct {
	mu      sync.Mutex
	running map[string]bool // by run id
	peak    int
	order   []string // run ids in the order their first task started
	release chan struct{}
}

func (g *gate) Info() cairn.TypeInfo { return newProbe(nil).Info() }

func (g *gate) Run(ctx context.Context, req tasks.Request, env tasks.Env) (tasks.Result, error) {
	g.mu.Lock()
	g.running[req.RunID] = true
	g.peak = max(g.peak, len(g.running))
	g.order = append(g.order, req.RunID)
	g.mu.Unlock()
	select {
	case <-g.release:
	case <-ctx.Done():
		return tasks.Result{}, ctx.Err()
	}
	g.mu.Lock()
	delete(g.running, req.RunID)
	g.mu.Unlock()
	return echo(req)
}

// A workflow's max_active_runs and the service's MaxActiveRuns bound the
// runs active at once; queued runs start in creation order.
func TestServiceActiveRunLimits(t *testing.T) {
	for _, tc := range []struct {
		name              string
		perWorkflow, glob int
	}{{"workflow", 2, 0}, {"global", 0, 3}} {
		t.Run(tc.name, func(t *testing.T) {
			g := &gate{running: map[string]bool{}, release: make(chan struct{})}
			r := newRig(t, rigOptions{}, g)
			src := "name: capped\n"
			if tc.perWorkflow > 0 {
				src += fmt.Sprintf("max_active_runs: %d\n", tc.perWorkflow)
			}
			src += "tasks:\n  - {id: a, type: probe, with: {in: x}}\n"
			var wf *workflows.Workflow
			var ids []string
			for i := 0; i < 7; i++ {
				w, id := r.create(t, src)
				wf, ids = w, append(ids, id)
			}
			limit := max(tc.perWorkflow, tc.glob)
			srv := r.startServer(t, "test:9:server", tc.glob, 8, func(*cairn.Run) scheduler.Graph { return wf })
			// Let the first runs start, then release attempts one by one.
			for ended := 0; ended < len(ids); {
				deadline := time.Now().Add(waitLimit)
				for {
					g.mu.Lock()
					n := len(g.running)
					g.mu.Unlock()
					if n == min(limit, len(ids)-ended) {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("%d attempts running, want %d", n, min(limit, len(ids)-ended))
					}
					time.Sleep(5 * time.Millisecond)
				}
				g.release <- struct{}{}
				srv.wait(t, 1, waitLimit)
				ended++
			}
			g.mu.Lock()
			defer g.mu.Unlock()
			if g.peak != limit {
				t.Fatalf("peak of %d runs active, want %d", g.peak, limit)
			}
			// Runs are admitted in creation order: the first `limit` at
			// once (their tasks start in any order), then one each time
			// one ends.
			first := map[string]bool{}
			for _, id := range g.order[:limit] {
				first[id] = true
			}
			for i, id := range ids {
				if i < limit && !first[id] || i >= limit && g.order[i] != id {
					t.Fatalf("runs started in the order %v, want the first %d of %v at once, then the rest in order", g.order, limit, ids)
				}
			}
		})
	}
}

// A run whose owner's claim expired (its process died elsewhere) is taken
// over by the service and finished; what succeeded does not run again.
func TestServiceTakesOverExpiredClaim(t *testing.T) {
	p := newProbe(nil)
	r := newRig(t, rigOptions{}, p)
	wf, id := r.create(t, `name: orphan
tasks:
  - {id: a, type: probe, with: {in: "1"}}
  - {id: b, type: probe, with: {in: "${{ tasks.a.outputs.x }}"}}
`)
	ctx := context.Background()
	// A process on another host drove the run: it ran a and died.
	if _, err := r.st.ClaimRun(ctx, id, "elsewhere:1:dead", time.Now(), 300*time.Millisecond, false); err != nil {
		t.Fatal(err)
	}
	run, err := r.st.GetRun(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	trs, err := r.st.ListTaskRuns(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := scheduler.NewSnapshot(run, wf, trs)
	if err != nil {
		t.Fatal(err)
	}
	snap.Now = time.Now()
	if err := r.st.ApplyPlan(ctx, scheduler.PlanRun(snap)); err != nil {
		t.Fatal(err)
	}
	items, err := r.st.Lease(ctx, cairn.LeaseRequest{Worker: "elsewhere:1:dead", RunID: id, Max: 1, Start: true}, time.Now(), time.Minute)
	if err != nil || len(items) != 1 {
		t.Fatalf("lease a: %v %v", items, err)
	}
	if _, err := r.st.Complete(ctx, items[0].Lease, cairn.Completion{State: cairn.TaskSucceeded,
		Outputs: map[string]json.RawMessage{"x": json.RawMessage(`"a(1)"`)}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	srv := r.startServer(t, "test:9:server", 0, 4, func(*cairn.Run) scheduler.Graph { return wf })
	srv.wait(t, 1, waitLimit)
	srv.mu.Lock()
	final := srv.ended[id]
	srv.mu.Unlock()
	if final == nil || final.State != cairn.RunSucceeded {
		t.Fatalf("run ended as %+v, want succeeded", final)
	}
	if p.runCount("a") != 0 || p.runCount("b") != 1 {
		t.Fatalf("attempts here: a %d, b %d; want a 0 (it succeeded before), b 1", p.runCount("a"), p.runCount("b"))
	}
}

// A run queued in the process (Kick: a trigger through the API) is adopted
// at once, even right after another run ended: the adopt passes that runs
// ending ask for are at most one every kickEvery, and that limit held the
// new run up to 100 ms (a triggered run waited 60-80 ms to start when
// another had just ended). Here the limit is an hour and the evaluations
// are never read: only Kick can start the second run in time.
func TestKickAdoptsAtOnceAfterARunEnded(t *testing.T) {
	r := newRig(t, rigOptions{})
	src := "name: one\ntasks:\n  - {id: t0, type: noop}\n"
	wf, first := r.create(t, src)
	owner := "test:9:kick"
	done := make(chan string, 10)
	o := scheduler.ServiceOptions{Owner: owner, Adopt: true, OwnerTTL: time.Minute, PollInterval: time.Hour,
		Load:  func(ctx context.Context, run *cairn.Run) (scheduler.Graph, error) { return wf, nil },
		Ended: func(id string, final *cairn.Run, err error) { done <- id }}
	scheduler.SetKickEvery(&o, time.Hour)
	svc := scheduler.NewService(r.st, r.broker, o)
	svc.Start(context.Background())
	pool := r.startPoolOver(t, r.broker, owner, owner, 2, 0)
	t.Cleanup(func() { pool.hard(); svc.Stop(context.Background()) })
	ended := func(want, what string) {
		t.Helper()
		select {
		case id := <-done:
			if id != want {
				t.Fatalf("run %s ended, want %s", id, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s did not end within 10 s", what)
		}
	}
	ended(first, "the first run, adopted when the service started,")
	time.Sleep(100 * time.Millisecond) // the pass its end asked for is made
	_, second := r.create(t, src)
	svc.Kick()
	ended(second, "a run queued and kicked right after another ended (not adopted),")
}
