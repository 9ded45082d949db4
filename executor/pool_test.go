package executor_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
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

func TestMain(m *testing.M) {
	if dir := os.Getenv(scratchOwnerEnv); dir != "" {
		scratchOwnerMain(dir) // a process of TestSweepScratch
		return
	}
	goleak.VerifyTestMain(m)
}

// waitLimit bounds every wait of these tests: reaching it is a failure.
const waitLimit = 10 * time.Second

// ---------------------------------------------------------------------------
// probe: a fake task type that records what the pool made of it.

// mark is one start or end of an attempt, in the order the probe saw them.
type mark struct {
	seq     int
	task    string
	attempt int
	start   bool
}

// probe is the fake task type "probe". Its behaviour per attempt is given
// by the test (do); by default it succeeds with the output
// x = "<task>(<in>)", in being its param "in". It records every start and
// end, how many attempts ran per task, the params each attempt got, and the
// highest number of attempts running at once.
type probe struct {
	do func(ctx context.Context, req tasks.Request) (tasks.Result, error)

	mu      sync.Mutex
	seq     int
	marks   []mark
	runs    map[string]int
	params  map[string]json.RawMessage // last params, by task
	cur     int
	max     int
	started map[string]chan struct{} // "task#attempt" → closed when it started
	maxCh   map[int]chan struct{}    // n → closed once n attempts ran at once
}

var _ tasks.Task = (*probe)(nil)

func newProbe(do func(ctx context.Context, req tasks.Request) (tasks.Result, error)) *probe {
	return &probe{do: do, runs: map[string]int{}, params: map[string]json.RawMessage{},
		started: map[string]chan struct{}{}, maxCh: map[int]chan struct{}{}}
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
	p.seq++
	p.marks = append(p.marks, mark{seq: p.seq, task: req.TaskID, attempt: req.Attempt, start: true})
	p.runs[req.TaskID]++
	p.params[req.TaskID] = append(json.RawMessage(nil), req.Params...)
	p.cur++
	if p.cur > p.max {
		p.max = p.cur
	}
	for n := 1; n <= p.cur; n++ {
		if p.maxCh[n] == nil {
			p.maxCh[n] = make(chan struct{})
		}
		select {
		case <-p.maxCh[n]:
		default:
			close(p.maxCh[n])
		}
	}
	close(p.startedChan(req.TaskID, req.Attempt))
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.cur--
		p.seq++
		p.marks = append(p.marks, mark{seq: p.seq, task: req.TaskID, attempt: req.Attempt})
		p.mu.Unlock()
	}()
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
	x, _ := json.Marshal(req.TaskID + "(" + in.In + ")")
	return tasks.Result{Outputs: map[string]json.RawMessage{"x": x}}, nil
}

// startedChan returns the channel closed when task's attempt starts. p.mu is held.
func (p *probe) startedChan(task string, attempt int) chan struct{} {
	k := fmt.Sprintf("%s#%d", task, attempt)
	if p.started[k] == nil {
		p.started[k] = make(chan struct{})
	}
	return p.started[k]
}

// waitStarted waits until task's attempt started.
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

// awaitConcurrent blocks until n attempts have run at once, or ctx ends,
// or waitLimit passes.
func (p *probe) awaitConcurrent(ctx context.Context, n int) error {
	p.mu.Lock()
	if p.maxCh[n] == nil {
		p.maxCh[n] = make(chan struct{})
	}
	ch := p.maxCh[n]
	p.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(waitLimit):
		return fmt.Errorf("never saw %d attempts running at once", n)
	}
}

func (p *probe) runCount(task string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.runs[task]
}

func (p *probe) maxConcurrent() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.max
}

// span returns the seq of task's first start and last end.
func (p *probe) span(t *testing.T, task string) (start, end int) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, m := range p.marks {
		if m.task != task {
			continue
		}
		if m.start && start == 0 {
			start = m.seq
		}
		if !m.start {
			end = m.seq
		}
	}
	if start == 0 || end == 0 {
		t.Fatalf("task %s: no complete attempt recorded (marks %+v)", task, p.marks)
	}
	return start, end
}

// panicInProbe panics; its name must appear in the recorded stack.
//
//go:noinline
func panicInProbe() {
	panic("probe: deliberate panic")
}

// ---------------------------------------------------------------------------
// rig: a real SQLite store, broker, driver and pool.

type rig struct {
	st     *sqlite.Store
	reg    *tasks.Registry
	broker *scheduler.Broker
	driver *scheduler.Driver
	dir    string
}

func newRig(t *testing.T, types ...tasks.Task) *rig {
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
	b := scheduler.NewBroker(st, scheduler.BrokerOptions{})
	d := scheduler.NewDriver(st, b, scheduler.DriverOptions{Owner: "test:1:" + t.Name()})
	return &rig{st: st, reg: reg, broker: b, driver: d, dir: dir}
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

// startPool starts a pool over the rig's broker, stopped hard at cleanup
// unless the test stopped it.
func (r *rig) startPool(t *testing.T, slots int, opts ...func(*executor.Options)) *stopper {
	t.Helper()
	return r.startPoolOver(t, r.broker, slots, opts...)
}

// startPoolOver is startPool with the pool taking its work from leaser.
func (r *rig) startPoolOver(t *testing.T, leaser executor.Leaser, slots int, opts ...func(*executor.Options)) *stopper {
	t.Helper()
	arts, err := artifacts.Open(filepath.Join(r.dir, "artifacts"))
	if err != nil {
		t.Fatal(err)
	}
	logs, err := artifacts.OpenLogs(filepath.Join(r.dir, "logs"))
	if err != nil {
		t.Fatal(err)
	}
	o := executor.Options{Worker: "pool:" + t.Name(), Slots: slots, Types: r.reg,
		Artifacts: arts, Logs: logs, ScratchDir: t.TempDir()}
	for _, f := range opts {
		f(&o)
	}
	p := executor.New(leaser, o)
	p.Start(context.Background())
	s := &stopper{pool: p}
	t.Cleanup(s.hard)
	return s
}

// drive drives run id to its end, failing the test if that takes too long.
func (r *rig) drive(t *testing.T, id string, wf *workflows.Workflow) *cairn.Run {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	run, err := r.driver.Drive(ctx, id, wf)
	if err != nil {
		t.Fatalf("Drive: %v", err)
	}
	if ctx.Err() != nil {
		t.Fatalf("Drive did not finish within %s (run %s)", waitLimit, run.State)
	}
	return run
}

type driveResult struct {
	run *cairn.Run
	err error
}

// driveAsync drives run id in a goroutine, for at most waitLimit (and not
// beyond the test); the channel yields its result.
func (r *rig) driveAsync(t *testing.T, id string, wf *workflows.Workflow) <-chan driveResult {
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	t.Cleanup(cancel)
	ch := make(chan driveResult, 1)
	go func() {
		run, err := r.driver.Drive(ctx, id, wf)
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

func wantRun(t *testing.T, run *cairn.Run, want cairn.RunState) {
	t.Helper()
	if run.State != want {
		t.Fatalf("run %s is %s (%s), want %s", run.ID, run.State, run.Error, want)
	}
}

// ---------------------------------------------------------------------------
// Tests.

// A diamond followed by a chain runs to success through the real pool,
// broker, driver and store; every task starts after its upstreams ended,
// and outputs flow into downstream params.
func TestPoolRunsDAG(t *testing.T) {
	p := newProbe(nil)
	r := newRig(t, p)
	wf, id := r.create(t, `
name: dag
tasks:
  - {id: a, type: probe}
  - {id: b, type: probe, with: {in: "${{ tasks.a.outputs.x }}"}}
  - {id: c, type: probe, with: {in: "${{ tasks.a.outputs.x }}"}}
  - {id: d, type: probe, with: {in: "${{ tasks.b.outputs.x }}+${{ tasks.c.outputs.x }}"}}
  - {id: e, type: probe, with: {in: "${{ tasks.d.outputs.x }}"}}
  - {id: f, type: probe, with: {in: "${{ tasks.e.outputs.x }}"}}
  - {id: g, type: noop, needs: [f]}
`)
	r.startPool(t, 3)
	run := r.drive(t, id, wf)
	wantRun(t, run, cairn.RunSucceeded)

	ups := map[string][]string{"b": {"a"}, "c": {"a"}, "d": {"b", "c"}, "e": {"d"}, "f": {"e"}}
	for task, us := range ups {
		start, _ := p.span(t, task)
		for _, u := range us {
			if _, end := p.span(t, u); end > start {
				t.Errorf("task %s started (#%d) before its upstream %s ended (#%d)", task, start, u, end)
			}
		}
	}
	trs := r.taskRuns(t, id)
	for task, tr := range trs {
		if tr.State != cairn.TaskSucceeded || tr.Attempt != 1 {
			t.Errorf("task %s: %s after %d attempts, want succeeded after 1", task, tr.State, tr.Attempt)
		}
		if task != "g" && p.runCount(task) != 1 {
			t.Errorf("task %s ran %d times, want 1", task, p.runCount(task))
		}
	}
	if got, want := string(trs["d"].Params), `{"in":"b(a())+c(a())"}`; got != want {
		t.Errorf("d's resolved params = %s, want %s", got, want)
	}
	p.mu.Lock()
	gotD := string(p.params["d"])
	p.mu.Unlock()
	if gotD != `{"in":"b(a())+c(a())"}` {
		t.Errorf("d's attempt got params %s", gotD)
	}
	if got, want := string(trs["f"].Outputs["x"]), `"f(e(d(b(a())+c(a()))))"`; got != want {
		t.Errorf("f's output x = %s, want %s", got, want)
	}
}

// A panicking attempt fails with its stack recorded, retries, and the
// (single-slot) pool goes on running the other tasks.
func TestPoolPanicIsAFailedAttempt(t *testing.T) {
	p := newProbe(func(ctx context.Context, req tasks.Request) (tasks.Result, error) {
		if req.TaskID == "boom" && req.Attempt == 1 {
			panicInProbe()
		}
		return echo(req)
	})
	r := newRig(t, p)
	wf, id := r.create(t, `
name: panics
tasks:
  - {id: boom, type: probe, retries: 1}
  - {id: x1, type: probe}
  - {id: x2, type: probe}
  - {id: x3, type: probe, needs: [boom]}
`)
	r.startPool(t, 1)
	run := r.drive(t, id, wf)
	wantRun(t, run, cairn.RunSucceeded)

	as := r.attempts(t, id, "boom")
	if len(as) != 2 {
		t.Fatalf("boom has %d attempts, want 2", len(as))
	}
	a1 := as[0]
	if a1.State != cairn.TaskRetrying || !a1.Retryable {
		t.Errorf("attempt 1: state %s retryable %v, want retrying, retryable", a1.State, a1.Retryable)
	}
	if !strings.Contains(a1.Error, "panicked") || !strings.Contains(a1.Error, "deliberate panic") {
		t.Errorf("attempt 1 error = %q, want the panic", a1.Error)
	}
	if !strings.Contains(a1.Stack, "panicInProbe") {
		t.Errorf("attempt 1 stack does not name the panicking function:\n%s", a1.Stack)
	}
	if as[1].State != cairn.TaskSucceeded || as[1].Stack != "" {
		t.Errorf("attempt 2: state %s, stack %q; want succeeded without a stack", as[1].State, as[1].Stack)
	}
	for _, task := range []string{"x1", "x2", "x3"} {
		if n := p.runCount(task); n != 1 {
			t.Errorf("task %s ran %d times after the panic, want 1", task, n)
		}
	}
}

// A permanent error is not retried; a plain one is retried exactly
// `retries` times, each retry waiting for its backoff.
func TestPoolRetryPolicy(t *testing.T) {
	p := newProbe(func(ctx context.Context, req tasks.Request) (tasks.Result, error) {
		switch req.TaskID {
		case "perm":
			return tasks.Result{}, cairn.Permanent(errors.New("bad input"))
		case "flaky":
			return tasks.Result{}, fmt.Errorf("flaky failure %d", req.Attempt)
		}
		return echo(req)
	})
	r := newRig(t, p)
	wf, id := r.create(t, `
name: retries
tasks:
  - {id: perm, type: probe, retries: 3}
  - {id: flaky, type: probe, retries: 2, retry_backoff: {delay: 50ms, factor: 2}}
  - {id: after, type: probe, needs: [flaky]}
`)
	r.startPool(t, 2)
	run := r.drive(t, id, wf)
	wantRun(t, run, cairn.RunFailed)
	for _, s := range []string{"perm failed", "flaky failed", "after upstream_failed"} {
		if !strings.Contains(run.Error, s) {
			t.Errorf("run error %q does not mention %q", run.Error, s)
		}
	}
	trs := r.taskRuns(t, id)

	perm := r.attempts(t, id, "perm")
	if len(perm) != 1 || p.runCount("perm") != 1 {
		t.Fatalf("perm: %d attempts, %d runs; want 1 (a permanent error is not retried)", len(perm), p.runCount("perm"))
	}
	if perm[0].State != cairn.TaskFailed || perm[0].Retryable || perm[0].Error != "bad input" {
		t.Errorf("perm attempt: state %s retryable %v error %q; want failed, not retryable, \"bad input\"",
			perm[0].State, perm[0].Retryable, perm[0].Error)
	}
	if trs["perm"].State != cairn.TaskFailed {
		t.Errorf("perm is %s, want failed", trs["perm"].State)
	}

	flaky := r.attempts(t, id, "flaky")
	if len(flaky) != 3 || p.runCount("flaky") != 3 {
		t.Fatalf("flaky: %d attempts, %d runs; want 3 (retries: 2)", len(flaky), p.runCount("flaky"))
	}
	if tr := trs["flaky"]; tr.State != cairn.TaskFailed || tr.Attempt != 3 || tr.Error != "flaky failure 3" {
		t.Errorf("flaky: %s after %d attempts, error %q; want failed after 3, \"flaky failure 3\"", tr.State, tr.Attempt, tr.Error)
	}
	policy := cairn.RetryPolicy{Retries: 2, Backoff: 50 * time.Millisecond, Factor: 2}
	for i, a := range flaky {
		wantState := cairn.TaskRetrying
		if i == 2 {
			wantState = cairn.TaskFailed
		}
		if a.Number != i+1 || a.State != wantState || !a.Retryable || a.Error != fmt.Sprintf("flaky failure %d", i+1) {
			t.Errorf("flaky attempt %d: %+v", i+1, a)
		}
		if i == 0 {
			continue
		}
		prev := flaky[i-1]
		retryAt := prev.FinishedAt.Add(policy.Delay(i))
		if a.StartedAt.Before(retryAt) {
			t.Errorf("flaky attempt %d started at %s, before its retry time %s (attempt %d ended %s, backoff %s)",
				i+1, a.StartedAt.Format(time.StampMicro), retryAt.Format(time.StampMicro), i,
				prev.FinishedAt.Format(time.StampMicro), policy.Delay(i))
		}
	}
	if n := p.runCount("after"); n != 0 {
		t.Errorf("after ran %d times although its upstream failed", n)
	}
}

// An attempt that outlives its timeout has its context cancelled, fails
// with an error naming the timeout, and is retried.
func TestPoolTimeout(t *testing.T) {
	var mu sync.Mutex
	var causes []string
	p := newProbe(func(ctx context.Context, req tasks.Request) (tasks.Result, error) {
		select {
		case <-ctx.Done():
		case <-time.After(waitLimit):
			return tasks.Result{}, errors.New("context not cancelled at the timeout")
		}
		mu.Lock()
		causes = append(causes, context.Cause(ctx).Error())
		mu.Unlock()
		return tasks.Result{}, ctx.Err()
	})
	r := newRig(t, p)
	wf, id := r.create(t, `
name: timeouts
tasks:
  - {id: slow, type: probe, timeout: 100ms, retries: 1}
`)
	r.startPool(t, 2)
	run := r.drive(t, id, wf)
	wantRun(t, run, cairn.RunFailed)

	as := r.attempts(t, id, "slow")
	if len(as) != 2 {
		t.Fatalf("slow has %d attempts, want 2 (retries: 1)", len(as))
	}
	for i, a := range as {
		if !strings.Contains(a.Error, "timed out after 100ms") || !a.Retryable {
			t.Errorf("attempt %d: error %q retryable %v; want a retryable timeout", i+1, a.Error, a.Retryable)
		}
		if d := a.Duration(); d < 100*time.Millisecond {
			t.Errorf("attempt %d lasted %s, less than its timeout", i+1, d)
		}
	}
	if as[0].State != cairn.TaskRetrying || as[1].State != cairn.TaskFailed {
		t.Errorf("attempt states %s, %s; want retrying, failed", as[0].State, as[1].State)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(causes) != 2 || !strings.Contains(causes[0], "timed out") {
		t.Errorf("the task saw its context end with %q, want two timeouts", causes)
	}
}

// Stop is soft: it stops leasing but lets the running attempt finish and
// report; it returns only after that.
func TestPoolStopWaitsForAttempts(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	release := make(chan struct{})
	var releaseOnce sync.Once
	free := func() { releaseOnce.Do(func() { close(release) }) }
	var ctxErr error
	p := newProbe(func(ctx context.Context, req tasks.Request) (tasks.Result, error) {
		select {
		case <-release:
		case <-ctx.Done(): // only if the test failed and is cleaning up
		}
		ctxErr = ctx.Err() // read after Stop returned: a soft Stop must not cancel it
		return echo(req)
	})
	r := newRig(t, p)
	wf, id := r.create(t, `
name: soft
tasks:
  - {id: long, type: probe}
`)
	pool := r.startPool(t, 2)
	t.Cleanup(free) // before the pool's cleanup, should the test fail midway
	done := r.driveAsync(t, id, wf)
	p.waitStarted(t, "long", 1)

	// The pool's stop is bounded by the test's life, in case Stop hangs.
	stopCtx, cancelStop := context.WithCancel(context.Background())
	t.Cleanup(cancelStop)
	calling, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		close(calling)
		pool.stop(stopCtx)
		close(stopped)
	}()
	<-calling
	select {
	case <-stopped:
		t.Fatal("Stop returned while an attempt was running")
	case <-time.After(50 * time.Millisecond):
	}
	free()
	await(t, "Stop", stopped)
	if _, end := p.span(t, "long"); end == 0 {
		t.Fatal("Stop returned before the attempt ended")
	}
	if ctxErr != nil {
		t.Errorf("a soft Stop cancelled the running attempt: %v", ctxErr)
	}
	// Its completion was recorded, and the run finished.
	res := await(t, "Drive", done)
	if res.err != nil {
		t.Fatal(res.err)
	}
	wantRun(t, res.run, cairn.RunSucceeded)
	if tr := r.taskRuns(t, id)["long"]; tr.State != cairn.TaskSucceeded {
		t.Errorf("long is %s, want succeeded", tr.State)
	}
	r.st.Close()
	goleak.VerifyNone(t, ignore)
}

// StopAndCancel is hard: it cancels running attempts and returns once
// they did. The worker stopped them, their tasks did not fail: each is
// reported interrupted, and retried at once, free, by the next pool.
func TestPoolStopAndCancel(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	cause := make(chan string, 1)
	p := newProbe(func(ctx context.Context, req tasks.Request) (tasks.Result, error) {
		if req.TaskID != "long" || req.Attempt > 1 {
			return echo(req)
		}
		select {
		case <-ctx.Done():
			cause <- context.Cause(ctx).Error()
			return tasks.Result{}, ctx.Err()
		case <-time.After(waitLimit):
			return tasks.Result{}, errors.New("not cancelled")
		}
	})
	r := newRig(t, p)
	wf, id := r.create(t, `
name: hard
tasks:
  - {id: long, type: probe}
  - {id: next, type: probe, needs: [long]}
`)
	pool := r.startPool(t, 2)
	done := r.driveAsync(t, id, wf)
	p.waitStarted(t, "long", 1)

	stopped := make(chan struct{})
	go func() {
		pool.hard()
		close(stopped)
	}()
	await(t, "StopAndCancel", stopped)
	select {
	case c := <-cause:
		if !strings.Contains(c, "worker stopped") {
			t.Errorf("attempt cancelled with cause %q, want the worker stopping", c)
		}
	default:
		t.Fatal("StopAndCancel returned before the attempt saw its context cancelled")
	}
	as := r.attempts(t, id, "long")
	if len(as) != 1 || as[0].State != cairn.AttemptInterrupted || !strings.Contains(as[0].Error, "worker stopped") {
		t.Fatalf("long's attempts = %+v, want one interrupted by the stop", as)
	}
	if tr := r.taskRuns(t, id)["long"]; tr.State.Terminal() || tr.Interrupted != 1 {
		t.Fatalf("long after the stop: %s, %d interrupted; want it to be retried, its attempt interrupted", tr.State, tr.Interrupted)
	}
	// A new pool (a resumed run) runs it again although it has no retries.
	again := r.startPool(t, 2)
	res := await(t, "Drive", done)
	if res.err != nil {
		t.Fatal(res.err)
	}
	wantRun(t, res.run, cairn.RunSucceeded)
	again.hard()
	if tr := r.taskRuns(t, id)["long"]; tr.Attempt != 2 || tr.Interrupted != 1 || p.runCount("next") != 1 {
		t.Errorf("long: %d attempts, %d interrupted; next ran %d times; want 2, 1, 1", tr.Attempt, tr.Interrupted, p.runCount("next"))
	}
	r.st.Close()
	goleak.VerifyNone(t, ignore)
}

// A run's `concurrency:` caps how many of its tasks run at once, even
// with more slots free; the pool's Slots cap them globally.
func TestConcurrencyLimits(t *testing.T) {
	const six = `
  - {id: t1, type: probe}
  - {id: t2, type: probe}
  - {id: t3, type: probe}
  - {id: t4, type: probe}
  - {id: t5, type: probe}
  - {id: t6, type: probe}
`
	for _, tc := range []struct {
		name        string
		concurrency int
		slots       int
		want        int
	}{
		{"run concurrency", 2, 6, 2},
		{"pool slots", 0, 3, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The first tasks wait until `want` run at once, so the
			// limit is surely reached; later ones linger a little, to
			// give a broken limit the chance to show.
			p := newProbe(nil)
			p.do = func(ctx context.Context, req tasks.Request) (tasks.Result, error) {
				if err := p.awaitConcurrent(ctx, tc.want); err != nil {
					return tasks.Result{}, cairn.Permanent(err)
				}
				select {
				case <-time.After(5 * time.Millisecond):
				case <-ctx.Done():
				}
				return echo(req)
			}
			r := newRig(t, p)
			wf, id := r.create(t, fmt.Sprintf("name: limits\nconcurrency: %d\ntasks:%s", tc.concurrency, six))
			r.startPool(t, tc.slots)
			run := r.drive(t, id, wf)
			wantRun(t, run, cairn.RunSucceeded)
			if got := p.maxConcurrent(); got != tc.want {
				t.Errorf("at most %d tasks ran at once, want %d", got, tc.want)
			}
		})
	}
}

// scratchless is a task type that says it needs no scratch directory.
type scratchless struct{ got chan string }

func (s scratchless) Info() cairn.TypeInfo { return cairn.TypeInfo{Name: "scratchless"} }
func (s scratchless) NoScratch()           {}
func (s scratchless) Run(ctx context.Context, req tasks.Request, env tasks.Env) (tasks.Result, error) {
	s.got <- req.WorkDir
	return tasks.Result{}, nil
}

// An attempt gets an empty scratch directory of its own unless its task
// type says it needs none (tasks.NoScratch): then none is made.
func TestPoolScratch(t *testing.T) {
	type seen struct {
		dir     string
		entries int
		err     error
	}
	dirs := make(chan seen, 1)
	p := newProbe(func(ctx context.Context, req tasks.Request) (tasks.Result, error) {
		entries, err := os.ReadDir(req.WorkDir)
		dirs <- seen{req.WorkDir, len(entries), err}
		return tasks.Result{}, nil
	})
	none := scratchless{got: make(chan string, 1)}
	r := newRig(t, p, none)
	wf, id := r.create(t, `
name: scratch
tasks:
  - {id: a, type: probe}
  - {id: b, type: scratchless, needs: [a]}
`)
	scratch := t.TempDir()
	r.startPool(t, 1, func(o *executor.Options) { o.ScratchDir = scratch })
	wantRun(t, r.drive(t, id, wf), cairn.RunSucceeded)
	if s := await(t, "probe's work dir", dirs); s.err != nil || s.entries != 0 || filepath.Dir(s.dir) != scratch {
		t.Errorf("probe attempt's WorkDir %q: %d entries, %v; want an empty folder in %s", s.dir, s.entries, s.err, scratch)
	}
	if got := await(t, "scratchless's work dir", none.got); got != "" {
		t.Errorf("a NoScratch task's attempt got WorkDir %q, want none", got)
	}
}
