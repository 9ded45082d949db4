package scheduler_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/store/sqlite"
	"github.com/cairnml/cairn/tasks"
	"github.com/cairnml/cairn/workflows"
)

// createdWorkflow has a bit of everything a first plan decides: tasks
// made ready with params resolved from the run's params and meta, one
// skipped by its when:, tasks left pending behind an upstream, and a
// concurrency limit that leaves a task with nothing upstream pending.
const createdWorkflow = `
name: created
concurrency: 3
params:
  n: {type: int, default: 2}
  d: {type: string, default: 1ms}
tasks:
  - id: a
    type: noop
    with: {sleep: "${{ params.d }}", fail: "${{ run.id }} of ${{ workflow.name }}"}
  - id: b
    type: noop
    when: "${{ params.n }} > 5"
  - id: c
    type: noop
    needs: [a]
  - id: d
    type: noop
  - id: e
    type: noop
  - id: f
    type: noop
`

// PlanCreated writes what the driver's first plan would have: the task
// runs and the run created from it are, state for state and value for
// value, those of a run created queued and then planned once — only
// their versions are lower, the first plan's write being the creation.
// Both with the skipped task b and without it (then every task run is
// pending or ready: the store's short insert for those).
func TestPlanCreatedIsTheFirstPlan(t *testing.T) {
	withoutB := strings.Replace(createdWorkflow, `  - id: b
    type: noop
    when: "${{ params.n }} > 5"
`, "", 1)
	for name, src := range map[string]string{"with b": createdWorkflow, "without b": withoutB} {
		t.Run(name, func(t *testing.T) { planCreatedIsTheFirstPlan(t, src, src == createdWorkflow) })
	}
}

func planCreatedIsTheFirstPlan(t *testing.T, src string, withB bool) {
	r := newRig(t, rigOptions{})
	ctx := context.Background()
	wf, err := workflows.Parse("wf.yaml", []byte(src), workflows.Options{Types: r.reg})
	if err != nil {
		t.Fatal(err)
	}
	params, err := wf.BindParams(nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()

	// The way before: created queued, then the first plan applied.
	before, trs := wf.NewRun(params, now)
	if err := r.st.CreateRun(ctx, before, trs); err != nil {
		t.Fatal(err)
	}
	snap, err := scheduler.NewSnapshot(before, wf, trs)
	if err != nil {
		t.Fatal(err)
	}
	snap.Now = now
	if err := r.st.ApplyPlan(ctx, scheduler.PlanRun(snap)); err != nil {
		t.Fatal(err)
	}

	// PlanCreated, then created.
	after, trs := wf.NewRun(params, now)
	after.ID = before.ID + "x"
	for _, tr := range trs {
		tr.RunID = after.ID
	}
	var events []scheduler.Event
	if err := scheduler.PlanCreated(after, wf, trs, now, func(e scheduler.Event) { events = append(events, e) }); err != nil {
		t.Fatal(err)
	}
	if err := r.st.CreateRun(ctx, after, trs); err != nil {
		t.Fatal(err)
	}

	gotRun, err := r.st.GetRun(ctx, after.ID)
	if err != nil {
		t.Fatal(err)
	}
	wantRun, err := r.st.GetRun(ctx, before.ID)
	if err != nil {
		t.Fatal(err)
	}
	if gotRun.State != cairn.RunRunning || gotRun.State != wantRun.State || !gotRun.StartedAt.Equal(wantRun.StartedAt) {
		t.Errorf("run %s since %v, want %s since %v", gotRun.State, gotRun.StartedAt, wantRun.State, wantRun.StartedAt)
	}
	want, got := r.taskRuns(t, before.ID), r.taskRuns(t, after.ID)
	states := map[cairn.TaskState]int{}
	for id, w := range want {
		g := got[id]
		states[g.State]++
		// The run's id is in a's params: the one of each run.
		gp := strings.ReplaceAll(string(g.Params), after.ID, before.ID)
		if g.State != w.State || gp != string(w.Params) || !reflect.DeepEqual(g.Inputs, w.Inputs) || g.Error != w.Error ||
			!g.FinishedAt.Equal(w.FinishedAt) || g.Version != w.Version-1 && w.Version > 1 {
			t.Errorf("%s: got %s %s %v %q finished %v v%d, want %s %s %v %q finished %v v%d", id,
				g.State, g.Params, g.Inputs, g.Error, g.FinishedAt, g.Version, w.State, w.Params, w.Inputs, w.Error, w.FinishedAt, w.Version)
		}
	}
	// Three ready (the limit), b skipped, the rest pending.
	skipped := 0
	if withB {
		skipped = 1
	}
	if len(got) != len(want) || states[cairn.TaskReady] != 3 || states[cairn.TaskSkipped] != skipped || states[cairn.TaskPending] != 2 {
		t.Errorf("states %v, want 3 ready, %d skipped, 2 pending", states, skipped)
	}
	// The events the driver would have published: the run started, then
	// one per task change.
	if len(events) != 4+skipped || events[0].Run != cairn.RunRunning || events[1].TaskID != "a" || events[1].To != cairn.TaskReady ||
		events[1].From != cairn.TaskPending || events[1].Type != "noop" {
		t.Errorf("events %+v", events)
	}
}

// A run PlanCreated planned is driven from its task runs as created:
// every task runs once and the run succeeds.
func TestPlanCreatedThenDriven(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	r := newRig(t, rigOptions{}, newProbe(nil))
	wf, run, trs := r.createPlanned(t, "", 0)
	// The pool starts once the driver holds the run, as cairn run's: it
	// leases the ready tasks at once, and each report reaches the driver.
	d := scheduler.NewDriver(r.st, r.broker, scheduler.DriverOptions{Owner: "test:1:created",
		Claimed: func() { r.startPool(t, nil, run.ID) }})
	final, err := d.DriveCreated(ctx, run, wf, trs)
	if err != nil || final.State != cairn.RunSucceeded {
		t.Fatalf("DriveCreated = %+v, %v", final, err)
	}
	for task, tr := range r.taskRuns(t, run.ID) {
		if as := r.attempts(t, run.ID, task); tr.State != cairn.TaskSucceeded || len(as) != 1 {
			t.Errorf("%s %s after %d attempts", task, tr.State, len(as))
		}
	}
}

// PlanCreated plans only a run not yet created, as NewRun made it.
func TestPlanCreatedRefuses(t *testing.T) {
	r := newRig(t, rigOptions{})
	wf, err := workflows.Parse("wf.yaml", []byte(createdWorkflow), workflows.Options{Types: r.reg})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for name, spoil := range map[string]func(*cairn.Run, []*cairn.TaskRun){
		"created":      func(r *cairn.Run, _ []*cairn.TaskRun) { r.Version = 1 },
		"running":      func(r *cairn.Run, _ []*cairn.TaskRun) { r.State = cairn.RunRunning },
		"task ready":   func(_ *cairn.Run, trs []*cairn.TaskRun) { trs[2].State = cairn.TaskReady },
		"task created": func(_ *cairn.Run, trs []*cairn.TaskRun) { trs[0].Version = 1 },
		"task missing": func(_ *cairn.Run, trs []*cairn.TaskRun) { trs[3].TaskID = "zz" },
	} {
		params, err := wf.BindParams(nil)
		if err != nil {
			t.Fatal(err)
		}
		run, trs := wf.NewRun(params, now)
		spoil(run, trs)
		if err := scheduler.PlanCreated(run, wf, trs, now, nil); err == nil {
			t.Errorf("%s: PlanCreated = nil, want an error", name)
		}
	}
}

// A first plan that expands a for_each task into its items is left to
// the driver: PlanCreated changes nothing, the run is created queued and
// runs as any other, every item once.
func TestPlanCreatedLeavesExpansions(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	r := newRig(t, rigOptions{}, newProbe(nil))
	wf, err := workflows.Parse("wf.yaml", []byte(`name: each
tasks:
  - id: each
    type: probe
    for_each: [a, b, c]
    with: {in: "${{ item }}"}
  - id: other
    type: probe
`), workflows.Options{Types: r.reg})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	run, trs := wf.NewRun(nil, now)
	called := false
	if err := scheduler.PlanCreated(run, wf, trs, now, func(scheduler.Event) { called = true }); err != nil {
		t.Fatal(err)
	}
	if run.State != cairn.RunQueued || called {
		t.Fatalf("run %s, events given %v: want it left queued, no event", run.State, called)
	}
	for _, tr := range trs {
		if tr.State != cairn.TaskPending || tr.Params != nil {
			t.Fatalf("%s %s %s: want it left pending", tr.TaskID, tr.State, tr.Params)
		}
	}
	if err := r.st.CreateRun(ctx, run, trs); err != nil {
		t.Fatal(err)
	}
	d := scheduler.NewDriver(r.st, r.broker, scheduler.DriverOptions{Owner: "test:1:created",
		Claimed: func() { r.startPool(t, nil, run.ID) }})
	final, err := d.DriveCreated(ctx, run, wf, trs)
	if err != nil || final.State != cairn.RunSucceeded {
		t.Fatalf("DriveCreated = %+v, %v", final, err)
	}
	got := r.taskRuns(t, run.ID)
	for _, id := range []string{"each", "each[0]", "each[1]", "each[2]", "other"} {
		tr := got[id]
		if tr == nil || tr.State != cairn.TaskSucceeded {
			t.Errorf("%s: %+v, want succeeded", id, tr)
			continue
		}
		if as := r.attempts(t, run.ID, id); id != "each" && len(as) != 1 {
			t.Errorf("%s: %d attempts, want 1", id, len(as))
		}
	}
}

// createPlanned creates a run of chainWorkflow as cairn run does: its
// first plan made before it is created, and with owner, if not empty,
// holding its claim for left.
func (r *rig) createPlanned(t *testing.T, owner string, left time.Duration) (*workflows.Workflow, *cairn.Run, []*cairn.TaskRun) {
	t.Helper()
	wf, err := workflows.Parse("wf.yaml", []byte(chainWorkflow), workflows.Options{Types: r.reg})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	run, trs := wf.NewRun(nil, now)
	if err := scheduler.PlanCreated(run, wf, trs, now, nil); err != nil {
		t.Fatal(err)
	}
	if owner != "" {
		run.Owner, run.OwnerExpiresAt = owner, now.Add(left)
	}
	if err := r.st.CreateRun(context.Background(), run, trs); err != nil {
		t.Fatal(err)
	}
	return wf, run, trs
}

// claimCounter is a rig's store that counts the claims made through it,
// and the releases of all of an owner's claims.
type claimCounter struct {
	*sqlite.Store
	claims, releases atomic.Int32
}

func (c *claimCounter) ClaimRun(ctx context.Context, id, owner string, now time.Time, ttl time.Duration, steal bool) (*cairn.Run, error) {
	c.claims.Add(1)
	return c.Store.ClaimRun(ctx, id, owner, now, ttl, steal)
}

func (c *claimCounter) ReleaseClaims(ctx context.Context, owner string) error {
	c.releases.Add(1)
	return c.Store.ReleaseClaims(ctx, owner)
}

// A run created claimed by its driver's owner, as cairn run and cairn
// reproduce create theirs, is driven without being claimed again (a write
// transaction and a read-back fewer before its first lease), and its
// claim is given back at the end as any; one created claimed by another
// owner, or with less than half of OwnerTTL of its claim left, is
// claimed as any run is.
func TestDriveCreatedClaimedAtCreation(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	const owner = "test:1:created"
	for _, c := range []struct {
		name, owner string
		left        time.Duration
		claims      int32
		err         error
	}{
		{"held", owner, 10 * time.Second, 0, nil},
		{"nearly expired", owner, time.Second, 1, nil},
		{"another's", "otherhost:7:live", 10 * time.Second, 1, cairn.ErrRunOwned},
	} {
		r := newRig(t, rigOptions{}, newProbe(nil))
		wf, run, trs := r.createPlanned(t, c.owner, c.left)
		st := &claimCounter{Store: r.st}
		d := scheduler.NewDriver(st, r.broker, scheduler.DriverOptions{Owner: owner,
			Claimed: func() { r.startPool(t, nil, run.ID) }})
		final, err := d.DriveCreated(ctx, run, wf, trs)
		switch {
		case c.err != nil && !errors.Is(err, c.err):
			t.Errorf("%s: DriveCreated = %+v, %v; want %v", c.name, final, err, c.err)
		case c.err == nil && (err != nil || final.State != cairn.RunSucceeded):
			t.Errorf("%s: DriveCreated = %+v, %v; want it succeeded", c.name, final, err)
		}
		if n := st.claims.Load(); n != c.claims {
			t.Errorf("%s: %d claims, want %d", c.name, n, c.claims)
		}
		if c.err != nil {
			continue
		}
		for task, tr := range r.taskRuns(t, run.ID) {
			if as := r.attempts(t, run.ID, task); tr.State != cairn.TaskSucceeded || len(as) != 1 {
				t.Errorf("%s: task %s %s after %d attempts, want succeeded after 1", c.name, task, tr.State, len(as))
			}
		}
		if got, err := r.st.GetRun(ctx, run.ID); err != nil || got.Owner != "" {
			t.Errorf("%s: the run's claim after it ended: %q, %v; want it given back", c.name, got.Owner, err)
		}
		// The plan that ended the run let go of its claim: the driver's
		// service, stopping, has nothing left to release.
		if n := st.releases.Load(); n != 0 {
			t.Errorf("%s: %d releases of all claims after the run ended, want none", c.name, n)
		}
	}
}

// A service stopped while it plans a run leaves the run as it is and
// releases its claim, for the next scheduler to take the run at once:
// Stop's release is skipped only when every claim the service took was
// let go of (TestDriveCreatedClaimedAtCreation).
func TestStopReleasesTheClaimsItHolds(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	const owner = "test:1:stopped"
	p := newProbe(func(ctx context.Context, req tasks.Request) (tasks.Result, error) {
		<-ctx.Done()
		return tasks.Result{}, ctx.Err()
	})
	r := newRig(t, rigOptions{}, p)
	wf, run, _ := r.createPlanned(t, owner, 10*time.Second)
	st := &claimCounter{Store: r.st}
	planned := make(chan struct{})
	var once sync.Once
	svc := scheduler.NewService(st, r.broker, scheduler.ServiceOptions{Owner: owner, Observe: func(e scheduler.ServiceEvent) {
		if e.Kind == scheduler.ServicePlanned && e.RunID == run.ID {
			once.Do(func() { close(planned) })
		}
	}})
	svc.Start(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := svc.Drive(ctx, run.ID, wf, nil)
		done <- err
	}()
	// The run's loop planned it (the take-over done): its task runs now.
	select {
	case <-planned:
	case <-ctx.Done():
		t.Fatal("the run was never planned")
	}
	r.startPool(t, nil, run.ID)
	p.waitStarted(t, "a", 1)
	svc.Stop(ctx)
	if err := <-done; !errors.Is(err, scheduler.ErrDetached) {
		t.Errorf("Drive of a run its service stopped: %v, want ErrDetached", err)
	}
	if n := st.releases.Load(); n != 1 {
		t.Errorf("%d releases of all claims at Stop, want 1", n)
	}
	if got, err := r.st.GetRun(ctx, run.ID); err != nil || got.Owner != "" || got.State.Terminal() {
		t.Errorf("the run after its service stopped: %s, claimed by %q, %v; want it left running, its claim given back", got.State, got.Owner, err)
	}
}
