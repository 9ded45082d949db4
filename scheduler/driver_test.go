package scheduler_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/artifacts"
	"github.com/cairnml/cairn/executor"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/store/sqlite"
	"github.com/cairnml/cairn/tasks"
	"github.com/cairnml/cairn/tasks/noop"
	"github.com/cairnml/cairn/workflows"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// waitLimit bounds every wait of these tests: reaching it is a failure.
const waitLimit = 10 * time.Second

// ---------------------------------------------------------------------------
// probe: a fake task type that records its attempts.

// probe is the fake task type "probe". Its behaviour is given by the test
// (do); by default it succeeds with the output x = "<task>(<in>)", in
// being its param "in". It counts attempts per task and signals starts.
type probe struct {
	do func(ctx context.Context, req tasks.Request) (tasks.Result, error)

	mu      sync.Mutex
	runs    map[string]int
	started map[string]chan struct{} // "task#attempt" → closed when it started
}

var _ tasks.Task = (*probe)(nil)

func newProbe(do func(ctx context.Context, req tasks.Request) (tasks.Result, error)) *probe {
	return &probe{do: do, runs: map[string]int{}, started: map[string]chan struct{}{}}
}

func (p *probe) Info() cairn.TypeInfo {
	return cairn.TypeInfo{
		Name:    "probe",
		Params:  []cairn.ParamInfo{{Name: "in", Kind: cairn.KindAny}},
		Outputs: []cairn.PortInfo{{Name: "x"}},
	}
}

func (p *probe) Run(ctx context.Context, req tasks.Request, env tasks.Env) (tasks.Result, error) {
	p.mu.Lock()
	p.runs[req.TaskID]++
	close(p.startedChan(req.TaskID, req.Attempt))
	p.mu.Unlock()
	if p.do != nil {
		return p.do(ctx, req)
	}
	return echo(req)
}

// echo is the probe's default: succeed with x = "<task>(<in>)".
func echo(req tasks.Request) (tasks.Result, error) {
	var in struct {
		In string `json:"in"`
	}
	if err := req.DecodeParams(&in); err != nil {
		return tasks.Result{}, err
	}
	return tasks.Result{Outputs: map[string]json.RawMessage{"x": jsonString(req.TaskID + "(" + in.In + ")")}}, nil
}

func jsonString(s string) json.RawMessage {
	b, _ := json.Marshal(s)
	return b
}

func (p *probe) startedChan(task string, attempt int) chan struct{} {
	k := fmt.Sprintf("%s#%d", task, attempt)
	if p.started[k] == nil {
		p.started[k] = make(chan struct{})
	}
	return p.started[k]
}

func (p *probe) waitStarted(t *testing.T, task string, attempt int) {
	t.Helper()
	p.mu.Lock()
	ch := p.startedChan(task, attempt)
	p.mu.Unlock()
	select {
	case <-ch:
	case <-time.After(waitLimit):
		t.Fatalf("attempt %d of task %s did not start within %s", attempt, task, waitLimit)
	}
}

func (p *probe) runCount(task string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.runs[task]
}

// blockUntilDone is a probe behaviour for task id: its attempts block
// until their context ends and report its cause on causes.
func blockUntilDone(id string, causes chan<- error) func(ctx context.Context, req tasks.Request) (tasks.Result, error) {
	return func(ctx context.Context, req tasks.Request) (tasks.Result, error) {
		if req.TaskID != id {
			return echo(req)
		}
		select {
		case <-ctx.Done():
			causes <- context.Cause(ctx)
			return tasks.Result{}, ctx.Err()
		case <-time.After(waitLimit):
			return tasks.Result{}, errors.New("context never cancelled")
		}
	}
}

// ---------------------------------------------------------------------------
// rig: a real SQLite store, broker, driver and pool.

// eventLog keeps the broker's events and lets a test wait for one.
type eventLog struct {
	mu      sync.Mutex
	events  []scheduler.Event
	changed chan struct{}
}

func newEventLog() *eventLog { return &eventLog{changed: make(chan struct{})} }

func (l *eventLog) observe(e scheduler.Event) {
	l.mu.Lock()
	l.events = append(l.events, e)
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()
}

// waitFor waits until an event matching ok was observed.
func (l *eventLog) waitFor(t *testing.T, what string, ok func(scheduler.Event) bool) scheduler.Event {
	t.Helper()
	deadline := time.NewTimer(waitLimit)
	defer deadline.Stop()
	seen := 0
	for {
		l.mu.Lock()
		for ; seen < len(l.events); seen++ {
			if ok(l.events[seen]) {
				e := l.events[seen]
				l.mu.Unlock()
				return e
			}
		}
		ch := l.changed
		l.mu.Unlock()
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("no event %s within %s", what, waitLimit)
		}
	}
}

func taskEvent(task string, to cairn.TaskState) func(scheduler.Event) bool {
	return func(e scheduler.Event) bool { return e.TaskID == task && e.To == to }
}

// clock is a controllable clock: the real time plus an offset the test
// moves forward.
type clock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}

type rigOptions struct {
	leaseTTL  time.Duration
	ownerTTL  time.Duration
	now       func() time.Time
	owner     string
	ownerGone func(owner string) bool
	abandoned func(ctx context.Context, item cairn.WorkItem) error
}

type rig struct {
	st     *sqlite.Store
	reg    *tasks.Registry
	broker *scheduler.Broker
	driver *scheduler.Driver
	events *eventLog
	dir    string
}

func newRig(t *testing.T, o rigOptions, types ...tasks.Task) *rig {
	t.Helper()
	dir := t.TempDir()
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "cairn.db"))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	reg, err := tasks.NewRegistry(append([]tasks.Task{noop.New()}, types...)...)
	if err != nil {
		t.Fatal(err)
	}
	if o.owner == "" {
		o.owner = "test:1:driver"
	}
	ev := newEventLog()
	b := scheduler.NewBroker(st, scheduler.BrokerOptions{LeaseTTL: o.leaseTTL, Now: o.now, Observe: ev.observe, Abandoned: o.abandoned})
	d := scheduler.NewDriver(st, b, scheduler.DriverOptions{Owner: o.owner, OwnerTTL: o.ownerTTL, OwnerGone: o.ownerGone, Now: o.now})
	return &rig{st: st, reg: reg, broker: b, driver: d, events: ev, dir: dir}
}

// create parses src against the rig's types and creates a run of it.
func (r *rig) create(t *testing.T, src string) (*workflows.Workflow, string) {
	t.Helper()
	wf, err := workflows.Parse("wf.yaml", []byte(src), workflows.Options{Types: r.reg})
	if err != nil {
		t.Fatalf("parse workflow: %v", err)
	}
	params, err := wf.BindParams(nil)
	if err != nil {
		t.Fatal(err)
	}
	run, trs := wf.NewRun(params, time.Now())
	if err := r.st.CreateRun(context.Background(), run, trs); err != nil {
		t.Fatalf("create run: %v", err)
	}
	return wf, run.ID
}

// stopper stops a pool exactly once (a Pool may be stopped only once).
type stopper struct {
	once sync.Once
	pool *executor.Pool
}

func (s *stopper) stop(ctx context.Context) { s.once.Do(func() { s.pool.Stop(ctx) }) }
func (s *stopper) hard()                    { s.once.Do(s.pool.StopAndCancel) }

// startPool starts a pool of run id's tasks over leaser (the rig's broker
// if nil), stopped hard at cleanup unless the test stopped it.
func (r *rig) startPool(t *testing.T, leaser executor.Leaser, id string) *stopper {
	t.Helper()
	if leaser == nil {
		leaser = r.broker
	}
	arts, err := artifacts.Open(filepath.Join(r.dir, "artifacts"))
	if err != nil {
		t.Fatal(err)
	}
	logs, err := artifacts.OpenLogs(filepath.Join(r.dir, "logs"))
	if err != nil {
		t.Fatal(err)
	}
	p := executor.New(leaser, executor.Options{Worker: "pool", RunID: id, Slots: 4, Types: r.reg,
		Artifacts: arts, Logs: logs, ScratchDir: t.TempDir()})
	p.Start(context.Background())
	s := &stopper{pool: p}
	t.Cleanup(s.hard)
	return s
}

type driveResult struct {
	run *cairn.Run
	err error
}

// driveAsync drives run id in a goroutine; the channel yields its result.
func (r *rig) driveAsync(ctx context.Context, id string, wf *workflows.Workflow) <-chan driveResult {
	return driveAsyncWith(ctx, r.driver, id, wf)
}

// driveAsyncWith is driveAsync with driver d (over a broker of the test's).
func driveAsyncWith(ctx context.Context, d *scheduler.Driver, id string, wf *workflows.Workflow) <-chan driveResult {
	ch := make(chan driveResult, 1)
	go func() {
		run, err := d.Drive(ctx, id, wf)
		ch <- driveResult{run, err}
	}()
	return ch
}

func await[T any](t *testing.T, what string, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitLimit):
		t.Fatalf("%s: not within %s", what, waitLimit)
		panic("unreachable")
	}
}

// finished waits for a Drive and checks it returned a run in state want.
func finished(t *testing.T, ch <-chan driveResult, want cairn.RunState) *cairn.Run {
	t.Helper()
	res := await(t, "Drive to return", ch)
	if res.err != nil {
		t.Fatalf("Drive: %v", res.err)
	}
	if res.run.State != want {
		t.Fatalf("run %s is %s (%s), want %s", res.run.ID, res.run.State, res.run.Error, want)
	}
	return res.run
}

func (r *rig) taskRuns(t *testing.T, id string) map[string]*cairn.TaskRun {
	t.Helper()
	trs, err := r.st.ListTaskRuns(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]*cairn.TaskRun{}
	for _, tr := range trs {
		m[tr.TaskID] = tr
	}
	return m
}

func (r *rig) attempts(t *testing.T, id, task string) []*cairn.Attempt {
	t.Helper()
	as, err := r.st.ListAttempts(context.Background(), id, task)
	if err != nil {
		t.Fatal(err)
	}
	return as
}

// stored is everything the store holds about one run.
type stored struct {
	Run      *cairn.Run
	Tasks    []*cairn.TaskRun
	Attempts []*cairn.Attempt
}

func (r *rig) snapshot(t *testing.T, id string) stored {
	t.Helper()
	ctx := context.Background()
	run, err := r.st.GetRun(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	trs, err := r.st.ListTaskRuns(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	as, err := r.st.ListAttempts(ctx, id, "")
	if err != nil {
		t.Fatal(err)
	}
	return stored{run, trs, as}
}

func (r *rig) assertUnchanged(t *testing.T, before stored, what string) {
	t.Helper()
	after := r.snapshot(t, before.Run.ID)
	if !reflect.DeepEqual(before, after) {
		b, _ := json.MarshalIndent(before, "", " ")
		a, _ := json.MarshalIndent(after, "", " ")
		t.Fatalf("%s changed the store:\nbefore %s\nafter %s", what, b, a)
	}
}

// spy is a Leaser that records the completions the broker refused.
type spy struct {
	*scheduler.Broker

	mu      sync.Mutex
	refused []string // by task
}

var _ executor.Leaser = (*spy)(nil)

func (s *spy) CompleteAndLease(ctx context.Context, l cairn.Lease, c cairn.Completion, next cairn.LeaseRequest) ([]cairn.WorkItem, error) {
	items, err := s.Broker.CompleteAndLease(ctx, l, c, next)
	if errors.Is(err, cairn.ErrLeaseLost) {
		s.mu.Lock()
		s.refused = append(s.refused, fmt.Sprintf("%s#%d", l.TaskID, l.Attempt))
		s.mu.Unlock()
	}
	return items, err
}

func (s *spy) refusals() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.refused...)
}

// ---------------------------------------------------------------------------
// Tests.

const cancelWorkflow = `
name: cancel
tasks:
  - {id: quick, type: probe}
  - {id: block, type: probe}
  - {id: down, type: probe, needs: [block]}
  - {id: later, type: probe, needs: [quick, block]}
`

// checkCancelled checks a cancelled run of cancelWorkflow: quick kept its
// success, every other task is cancelled, block's attempt was stopped with
// its context, and its late completion was refused.
func checkCancelled(t *testing.T, r *rig, sp *spy, pool *stopper, id string, causes <-chan error) {
	t.Helper()
	cause := await(t, "block's context to be cancelled", causes)
	if !strings.Contains(cause.Error(), "run was cancelled") {
		t.Errorf("block's context ended with %q, want the run's cancellation", cause)
	}
	// Let the attempt report (its report is refused) and the pool wind down.
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	pool.stop(ctx)
	cancel()
	if got := sp.refusals(); !reflect.DeepEqual(got, []string{"block#1"}) {
		t.Errorf("refused completions = %q, want block's late one", got)
	}
	trs := r.taskRuns(t, id)
	want := map[string]cairn.TaskState{"quick": cairn.TaskSucceeded, "block": cairn.TaskCancelled,
		"down": cairn.TaskCancelled, "later": cairn.TaskCancelled}
	for task, st := range want {
		if trs[task].State != st {
			t.Errorf("task %s is %s, want %s", task, trs[task].State, st)
		}
	}
	as := r.attempts(t, id, "block")
	if len(as) != 1 || as[0].State != cairn.TaskCancelled || as[0].Error != "run cancelled" {
		t.Errorf("block's attempts = %+v, want one cancelled with the run (the late report must not overwrite it)", as)
	}
	run, err := r.st.GetRun(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if run.State != cairn.RunCancelled || run.Owner != "" {
		t.Errorf("stored run is %s owned by %q, want cancelled and released", run.State, run.Owner)
	}
}

// Cancelling Drive's context (Ctrl-C) cancels the run: every unfinished
// task is recorded cancelled, the running attempt's context is cancelled,
// and its late completion is refused.
func TestDriveCancelledByContext(t *testing.T) {
	causes := make(chan error, 1)
	p := newProbe(blockUntilDone("block", causes))
	r := newRig(t, rigOptions{}, p)
	wf, id := r.create(t, cancelWorkflow)
	sp := &spy{Broker: r.broker}
	pool := r.startPool(t, sp, id)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := r.driveAsync(ctx, id, wf)
	p.waitStarted(t, "block", 1)
	r.events.waitFor(t, "quick succeeded", taskEvent("quick", cairn.TaskSucceeded))

	cancel()
	finished(t, done, cairn.RunCancelled)
	checkCancelled(t, r, sp, pool, id, causes)
	if n := p.runCount("down") + p.runCount("later"); n != 0 {
		t.Errorf("downstream tasks ran %d times", n)
	}
}

// A cancel requested by another process (`cairn cancel`) is noticed at the
// next claim renewal and cancels the run the same way.
func TestDriveCancelRequestedElsewhere(t *testing.T) {
	causes := make(chan error, 1)
	p := newProbe(blockUntilDone("block", causes))
	r := newRig(t, rigOptions{ownerTTL: 200 * time.Millisecond}, p)
	wf, id := r.create(t, cancelWorkflow)
	sp := &spy{Broker: r.broker}
	pool := r.startPool(t, sp, id)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	done := r.driveAsync(ctx, id, wf)
	p.waitStarted(t, "block", 1)
	r.events.waitFor(t, "quick succeeded", taskEvent("quick", cairn.TaskSucceeded))

	if err := r.st.RequestCancel(context.Background(), id); err != nil {
		t.Fatalf("RequestCancel: %v", err)
	}
	finished(t, done, cairn.RunCancelled)
	if ctx.Err() != nil {
		t.Fatal("the run ended only with Drive's context")
	}
	checkCancelled(t, r, sp, pool, id, causes)
	// The store refuses a second request now that the run is over.
	if err := r.st.RequestCancel(context.Background(), id); !errors.Is(err, cairn.ErrTerminal) {
		t.Errorf("RequestCancel after the end: %v, want ErrTerminal", err)
	}
}

// planAs plans and applies run id until there is nothing to do, as the
// run's (old) driver would have.
func planAs(t *testing.T, st scheduler.Store, id string, g scheduler.Graph) {
	t.Helper()
	planAt(t, st, id, g, time.Now)
}

// planAt is planAs on the clock now.
func planAt(t *testing.T, st scheduler.Store, id string, g scheduler.Graph, now func() time.Time) {
	t.Helper()
	ctx := context.Background()
	for i := 0; i < 10; i++ {
		run, err := st.GetRun(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		trs, err := st.ListTaskRuns(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		snap, err := scheduler.NewSnapshot(run, g, trs)
		if err != nil {
			t.Fatal(err)
		}
		snap.Now = now()
		p := scheduler.PlanRun(snap)
		if p.Empty() {
			return
		}
		if err := st.ApplyPlan(ctx, p); err != nil {
			t.Fatalf("ApplyPlan: %v", err)
		}
	}
	t.Fatal("planning did not settle")
}

// A run whose owner died with an attempt running is taken over: the
// attempt is recorded as interrupted and retried (b has no retries: an
// interruption does not use them), succeeded tasks are not run again, and
// the run succeeds.
func TestDriveTakesOverFromDeadOwner(t *testing.T) {
	const old = "oldhost:4242:dead"
	var gone []string
	var goneMu sync.Mutex
	var abandoned []cairn.WorkItem // cleanup calls: what the dead attempt left behind
	p := newProbe(nil)
	r := newRig(t, rigOptions{owner: "newhost:1:alive", ownerGone: func(owner string) bool {
		goneMu.Lock()
		gone = append(gone, owner)
		goneMu.Unlock()
		return owner == old
	}, abandoned: func(ctx context.Context, it cairn.WorkItem) error {
		goneMu.Lock()
		abandoned = append(abandoned, it)
		goneMu.Unlock()
		return nil
	}}, p)
	wf, id := r.create(t, `
name: resume
tasks:
  - {id: a, type: probe}
  - {id: b, type: probe, retries: 0, with: {in: "${{ tasks.a.outputs.x }}"}}
  - {id: c, type: probe, with: {in: "${{ tasks.b.outputs.x }}"}}
`)
	ctx := context.Background()

	// The old process: claims the run, runs a, and dies while b runs.
	now := time.Now()
	if _, err := r.st.ClaimRun(ctx, id, old, now, time.Minute, false); err != nil {
		t.Fatal(err)
	}
	planAs(t, r.st, id, wf)
	req := cairn.LeaseRequest{Worker: old, RunID: id, Max: 1, Start: true}
	items, err := r.st.Lease(ctx, req, now, time.Minute)
	if err != nil || len(items) != 1 || items[0].Lease.TaskID != "a" {
		t.Fatalf("old lease = %+v, %v; want a", items, err)
	}
	if _, err := r.st.Complete(ctx, items[0].Lease, cairn.Completion{State: cairn.TaskSucceeded,
		Outputs: map[string]json.RawMessage{"x": jsonString("a(old)")}}, now); err != nil {
		t.Fatal(err)
	}
	planAs(t, r.st, id, wf)
	items, err = r.st.Lease(ctx, req, now, time.Minute)
	if err != nil || len(items) != 1 || items[0].Lease.TaskID != "b" {
		t.Fatalf("old lease = %+v, %v; want b", items, err)
	}
	dead := items[0].Lease

	// The new process.
	r.startPool(t, nil, id)
	dctx, cancel := context.WithTimeout(ctx, waitLimit)
	defer cancel()
	finished(t, r.driveAsync(dctx, id, wf), cairn.RunSucceeded)

	goneMu.Lock()
	if len(gone) == 0 || gone[0] != old {
		t.Errorf("OwnerGone asked about %q, want %q", gone, old)
	}
	if len(abandoned) != 1 || abandoned[0].Lease.TaskID != "b" || abandoned[0].Lease.Attempt != 1 || abandoned[0].Type != "probe" {
		t.Errorf("cleanup after abandoned attempts = %+v, want b's attempt 1 once", abandoned)
	}
	goneMu.Unlock()
	as := r.attempts(t, id, "b")
	if len(as) != 2 {
		t.Fatalf("b has %d attempts, want 2", len(as))
	}
	if as[0].Worker != old || as[0].State != cairn.AttemptInterrupted || !strings.Contains(as[0].Error, "interrupted") {
		t.Errorf("b attempt 1 = %+v, want the old worker's, interrupted", as[0])
	}
	if as[1].Worker != "pool" || as[1].State != cairn.TaskSucceeded {
		t.Errorf("b attempt 2 = %+v, want the pool's, succeeded", as[1])
	}
	if n := p.runCount("a"); n != 0 {
		t.Errorf("a ran %d times after the takeover; it had succeeded", n)
	}
	if len(r.attempts(t, id, "a")) != 1 {
		t.Errorf("a has more than its one attempt")
	}
	if p.runCount("b") != 1 || p.runCount("c") != 1 {
		t.Errorf("b ran %d times, c %d; want once each", p.runCount("b"), p.runCount("c"))
	}
	if got := string(r.taskRuns(t, id)["c"].Outputs["x"]); got != `"c(b(a(old)))"` {
		t.Errorf("c's output = %s; a's output from before the crash did not flow through", got)
	}
	// The dead worker's report, should it come after all, is refused.
	before := r.snapshot(t, id)
	if err := r.broker.Complete(ctx, dead, cairn.Completion{}); !errors.Is(err, cairn.ErrLeaseLost) {
		t.Errorf("the dead attempt's completion: %v, want ErrLeaseLost", err)
	}
	r.assertUnchanged(t, before, "the dead attempt's completion")
}

// A run driven by a live process is refused, and left alone.
func TestDriveRefusesLiveOwner(t *testing.T) {
	for _, tc := range []struct {
		name string
		gone func(string) bool
	}{
		{"no liveness check", nil},
		{"owner alive", func(string) bool { return false }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newProbe(nil)
			r := newRig(t, rigOptions{ownerGone: tc.gone}, p)
			wf, id := r.create(t, "name: owned\ntasks:\n  - {id: a, type: probe}\n")
			if _, err := r.st.ClaimRun(context.Background(), id, "otherhost:7:live", time.Now(), time.Minute, false); err != nil {
				t.Fatal(err)
			}
			before := r.snapshot(t, id)
			r.startPool(t, nil, id)
			ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
			defer cancel()
			run, err := r.driver.Drive(ctx, id, wf)
			if !errors.Is(err, cairn.ErrRunOwned) || run != nil {
				t.Fatalf("Drive = %v, %v; want an error wrapping ErrRunOwned", run, err)
			}
			if tc.gone != nil && !strings.Contains(err.Error(), "otherhost:7:live") {
				t.Errorf("error %q does not name the owner", err)
			}
			r.assertUnchanged(t, before, "a refused Drive")
			if n := p.runCount("a"); n != 0 {
				t.Errorf("a ran %d times", n)
			}
		})
	}
}

// The driver sleeps until a retry's backoff ends by its own clock
// (DriverOptions.Now), not the wall clock: with a clock an hour ahead, a
// 50ms backoff still takes 50ms.
func TestDriveRetryBackoffOnInjectedClock(t *testing.T) {
	clk := &clock{offset: time.Hour}
	p := newProbe(func(ctx context.Context, req tasks.Request) (tasks.Result, error) {
		if req.Attempt == 1 {
			return tasks.Result{}, errors.New("first attempt fails")
		}
		return echo(req)
	})
	r := newRig(t, rigOptions{now: clk.Now}, p)
	wf, id := r.create(t, `
name: backoff
tasks:
  - {id: flaky, type: probe, retries: 1, retry_backoff: 50ms}
`)
	r.startPool(t, nil, id)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	finished(t, r.driveAsync(ctx, id, wf), cairn.RunSucceeded)
	as := r.attempts(t, id, "flaky")
	if len(as) != 2 {
		t.Fatalf("flaky has %d attempts, want 2", len(as))
	}
	if gap := as[1].StartedAt.Sub(as[0].FinishedAt); gap < 50*time.Millisecond {
		t.Errorf("attempt 2 started %s after attempt 1 ended, before the 50ms backoff", gap)
	}
	// Nothing else wakes the driver this soon (its claim renewal is every
	// 2s): a late start means it overslept the backoff.
	if gap := as[1].StartedAt.Sub(as[0].FinishedAt); gap > time.Second {
		t.Errorf("attempt 2 started %s after attempt 1 ended; the driver overslept its 50ms backoff", gap)
	}
}
