package remote_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/executor"
	"github.com/cairnml/cairn/remote"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/tasks"
)

// giveBackResult is one lease's answer to POST give-back.
type giveBackResult struct {
	Code  string `json:"code"`
	Error string `json:"error"`
}

// giveBack POSTs give-back of leases as worker id, raw, and returns the
// answer's status and results.
func (r *rig) giveBack(t *testing.T, id string, leases ...cairn.Lease) (int, []giveBackResult) {
	t.Helper()
	type wl struct {
		RunID   string `json:"run_id"`
		TaskID  string `json:"task_id"`
		Attempt int    `json:"attempt"`
		Token   string `json:"token"`
		Worker  string `json:"worker"`
	}
	body := struct {
		Leases []wl `json:"leases"`
	}{Leases: []wl{}}
	for _, l := range leases {
		body.Leases = append(body.Leases, wl{l.RunID, l.TaskID, l.Attempt, l.Token, l.Worker})
	}
	b, _ := json.Marshal(body)
	resp := r.post(t, r.srv.URL, "give-back", id, b)
	defer resp.Body.Close()
	var rep struct {
		Results []giveBackResult `json:"results"`
	}
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&rep); err != nil {
			t.Fatalf("give-back's answer: %v", err)
		}
		if len(rep.Results) != len(leases) {
			t.Fatalf("give-back: %d results for %d leases", len(rep.Results), len(leases))
		}
	}
	return resp.StatusCode, rep.Results
}

// A worker gives back its own leases of attempts it never began: each
// task is ready again as before its lease (no attempt counted or
// recorded, no interruption) and runs on any worker. Another worker's
// lease is refused (403 forbidden, whatever the body says of its
// holder), and so, as lease_lost, is one no longer held — completed, or
// expired and ended —: none of them changes anything.
func TestGiveBackOwnLeasesOnly(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	run := r.readyRun(t, 3, "echo")
	a, b := r.client(t, 4), r.client(t, 1)
	if !a.LeasesAhead() {
		t.Fatal("a server whose leaser gives back did not say so at registration")
	}
	items, err := a.Lease(ctx, cairn.LeaseRequest{Max: 3, Start: true})
	if err != nil || len(items) != 3 {
		t.Fatalf("leased %d items, %v; want 3", len(items), err)
	}
	own, other, done := items[0].Lease, items[1].Lease, items[2].Lease
	if _, err := a.CompleteAndLease(ctx, done, cairn.Completion{}, cairn.LeaseRequest{}); err != nil {
		t.Fatal(err)
	}
	// Another worker's lease: as it was handed out, and claimed as its own.
	beforeOther := task(t, r, run, other.TaskID)
	forged := other
	forged.Worker = b.ID()
	for _, l := range []cairn.Lease{other, forged} {
		status, res := r.giveBack(t, b.ID(), l)
		if status != http.StatusOK || res[0].Code != remote.CodeForbidden {
			t.Errorf("worker b gives back a's lease (worker %q in the body): %d %+v, want forbidden", l.Worker, status, res)
		}
	}
	if tr := task(t, r, run, other.TaskID); tr.State != cairn.TaskRunning || tr.Version != beforeOther.Version || tr.LeaseToken != other.Token {
		t.Errorf("a's lease after b's give-back: %s v%d (token %q), want running v%d under its lease, unchanged", tr.State, tr.Version,
			tr.LeaseToken, beforeOther.Version)
	}
	// A completed one: lease_lost, the success stays.
	beforeDone := task(t, r, run, done.TaskID)
	if status, res := r.giveBack(t, a.ID(), done); status != http.StatusOK || res[0].Code != remote.CodeLeaseLost {
		t.Errorf("give back a completed lease: %d %+v, want lease_lost", status, res)
	}
	if tr := task(t, r, run, done.TaskID); tr.State != cairn.TaskSucceeded || tr.Version != beforeDone.Version {
		t.Errorf("the completed task after its give-back: %s v%d, want succeeded v%d", tr.State, tr.Version, beforeDone.Version)
	}
	// The worker's own: given back through the client (which refuses
	// nothing that is no longer held).
	if err := a.GiveBack(ctx, []cairn.Lease{own, done}); err != nil {
		t.Fatalf("GiveBack of its own lease and a completed one: %v", err)
	}
	tr := task(t, r, run, own.TaskID)
	if tr.State != cairn.TaskReady || tr.Attempt != 0 || tr.Interrupted != 0 || tr.LeaseToken != "" {
		t.Errorf("given back: %s at attempt %d, %d interrupted, lease %q; want ready at attempt 0, none, no lease", tr.State, tr.Attempt,
			tr.Interrupted, tr.LeaseToken)
	}
	if as, _ := r.st.ListAttempts(ctx, run, own.TaskID); len(as) != 0 {
		t.Errorf("attempts of the task given back: %+v, want none", as)
	}
	// Its lease is dead: a second give-back, a completion, a heartbeat.
	if status, res := r.giveBack(t, a.ID(), own); status != http.StatusOK || res[0].Code != remote.CodeLeaseLost {
		t.Errorf("give back twice: %d %+v, want lease_lost", status, res)
	}
	if code := r.complete(t, a.ID(), own, `{}`); code != http.StatusConflict {
		t.Errorf("complete a lease given back: %d, want 409", code)
	}
	// Another worker leases it at once, as its first attempt.
	again, err := b.Lease(ctx, cairn.LeaseRequest{Max: 1, Start: true})
	if err != nil || len(again) != 1 || again[0].Lease.TaskID != own.TaskID || again[0].Lease.Attempt != 1 {
		t.Fatalf("lease after the give-back: %+v, %v; want %s's attempt 1", again, err, own.TaskID)
	}

	// Expired and ended (the run's leases ended by force, as a lost
	// owner's): lease_lost, the interrupted attempt stays as it is.
	run2 := r.readyRun(t, 1, "echo")
	exp, err := a.Lease(ctx, cairn.LeaseRequest{Max: 1, Start: true})
	if err != nil || len(exp) != 1 || exp[0].Lease.RunID != run2 {
		t.Fatalf("lease of run 2: %+v, %v", exp, err)
	}
	if n, err := r.broker.ExpireLeases(ctx, scheduler.Expiry{RunID: run2, Force: true}); err != nil || n != 1 {
		t.Fatalf("ExpireLeases: %d, %v; want 1", n, err)
	}
	l := exp[0].Lease
	beforeExp := task(t, r, run2, l.TaskID)
	if status, res := r.giveBack(t, a.ID(), l); status != http.StatusOK || res[0].Code != remote.CodeLeaseLost {
		t.Errorf("give back an expired lease: %d %+v, want lease_lost", status, res)
	}
	if tr := task(t, r, run2, l.TaskID); tr.Version != beforeExp.Version || tr.Interrupted != 1 || tr.Attempt != 1 {
		t.Errorf("the expired task after its give-back: %s v%d attempt %d, %d interrupted; want v%d, attempt 1, 1 interrupted, unchanged",
			tr.State, tr.Version, tr.Attempt, tr.Interrupted, beforeExp.Version)
	}
	if as, _ := r.st.ListAttempts(ctx, run2, l.TaskID); len(as) != 1 || as[0].State != cairn.AttemptInterrupted {
		t.Errorf("the expired task's attempts: %+v, want its one, interrupted", as)
	}
	// Nothing to give back, or too much: 400.
	if status, _ := r.giveBack(t, a.ID()); status != http.StatusBadRequest {
		t.Errorf("give back no lease: %d, want 400", status)
	}
}

// A server whose leaser cannot take leases back (an earlier cairn) has
// no give-back route and does not say give_back at registration: its
// workers never lease ahead, and a pool of theirs sends no give-back.
func TestNoGiveBackNoLeaseAhead(t *testing.T) {
	var aheadAsked, givenBack atomic.Int64
	r := newRigServing(t, func(o *remote.ServerOptions) {
		o.Leaser = struct{ remote.Leaser }{o.Leaser} // neither CompleteAndLeaseMany nor GiveBackEach
	}, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			switch r.URL.Path {
			case remote.Prefix + "give-back":
				givenBack.Add(1)
			case remote.Prefix + "complete-many":
				if asksAhead(body) {
					aheadAsked.Add(1)
				}
			case remote.Prefix + "complete":
				var req struct {
					Next int `json:"next"`
				}
				if json.Unmarshal(body, &req) == nil && req.Next > 1 {
					aheadAsked.Add(1)
				}
			}
			h.ServeHTTP(w, r)
		})
	})
	c := r.client(t, 4)
	if c.LeasesAhead() {
		t.Error("a server without give-back: the client would lease ahead")
	}
	if status, _ := r.giveBack(t, c.ID(), cairn.Lease{RunID: "r", TaskID: "t", Attempt: 1, Token: "x", Worker: c.ID()}); status != http.StatusNotFound {
		t.Errorf("give-back on a server without it: %d, want 404", status)
	}
	givenBack.Store(0) // the call above
	p := newQuick(nil)
	run := r.readyRun(t, 200, "quick")
	pool := startQuickPool(t, c, p, 4)
	waitSucceeded(t, r, run, 200, 30*time.Second)
	pool.Stop(context.Background())
	if n, m := aheadAsked.Load(), givenBack.Load(); n > 0 || m > 0 {
		t.Errorf("against a server without give-back the worker asked ahead in %d requests and gave back in %d; want none", n, m)
	}
	if got := p.ranMoreThanOnce(); len(got) > 0 {
		t.Errorf("tasks run more than once: %v", got)
	}
}

// quick is a task type that ends at once, unless hold is set: then each
// attempt waits for it to be closed (or its context). It counts its runs.
type quick struct {
	mu   sync.Mutex
	runs map[string]int
	hold func() <-chan struct{}
}

func newQuick(hold func() <-chan struct{}) *quick { return &quick{runs: map[string]int{}, hold: hold} }

func (*quick) Info() cairn.TypeInfo { return cairn.TypeInfo{Name: "quick"} }

func (q *quick) Run(ctx context.Context, req tasks.Request, env tasks.Env) (tasks.Result, error) {
	q.mu.Lock()
	q.runs[req.RunID+"/"+req.TaskID]++
	q.mu.Unlock()
	if q.hold != nil {
		if ch := q.hold(); ch != nil {
			select {
			case <-ch:
			case <-ctx.Done():
				return tasks.Result{}, ctx.Err()
			}
		}
	}
	return tasks.Result{}, nil
}

func (q *quick) ranMoreThanOnce() map[string]int {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := map[string]int{}
	for k, n := range q.runs {
		if n > 1 {
			out[k] = n
		}
	}
	return out
}

func (q *quick) ran(run, task string) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.runs[run+"/"+task]
}

// quickPool is a pool stopped once, by the test or at its end.
type quickPool struct {
	pool *executor.Pool
	once sync.Once
}

func (p *quickPool) Stop(ctx context.Context) { p.once.Do(func() { p.pool.Stop(ctx) }) }

// startQuickPool starts a pool of slots over c running quick tasks, as
// cairn worker does (handing back what it cannot run).
func startQuickPool(t *testing.T, c *remote.Client, q *quick, slots int) *quickPool {
	t.Helper()
	reg, err := tasks.NewRegistry(q)
	if err != nil {
		t.Fatal(err)
	}
	pool := executor.New(c, executor.Options{Worker: c.ID(), Slots: slots, Types: reg, Artifacts: c.Artifacts(), Logs: c.Logs(),
		Cache: c, IdleWait: 200 * time.Millisecond, ScratchDir: t.TempDir(), Redact: c.Redact, HandBack: true})
	ctx, cancel := context.WithCancel(context.Background())
	pool.Start(ctx)
	qp := &quickPool{pool: pool}
	t.Cleanup(func() {
		cancel()
		qp.Stop(ctx)
	})
	return qp
}

// waitSucceeded waits until run's n tasks all succeeded.
func waitSucceeded(t *testing.T, r *rig, run string, n int, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		trs, err := r.st.ListTaskRuns(context.Background(), run)
		if err != nil {
			t.Fatal(err)
		}
		done := 0
		for _, tr := range trs {
			if tr.State == cairn.TaskSucceeded {
				done++
			}
		}
		if done == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d tasks succeeded after %s", done, n, limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func task(t *testing.T, r *rig, run, id string) *cairn.TaskRun {
	t.Helper()
	tr, err := r.st.GetTaskRun(context.Background(), run, id)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// asksAhead reports whether a complete-many body has a report asking for
// more than its slot's next item (a pool leasing ahead).
func asksAhead(body []byte) bool {
	var req struct {
		Reports []struct {
			Next int `json:"next"`
		} `json:"reports"`
	}
	if json.Unmarshal(body, &req) != nil {
		return false
	}
	for _, rep := range req.Reports {
		if rep.Next > 1 {
			return true
		}
	}
	return false
}

// holdAhead wraps a worker API so that, once armed, the first
// complete-many request that leases ahead is served — its completions
// recorded, its items leased — and its answer held (a value on arrived)
// until release is closed; then it is written (abort false) or the
// connection is cut before a byte of it (abort: the worker never learns
// of the items).
type holdAhead struct {
	armed   atomic.Bool
	once    sync.Once
	arrived chan struct{}
	release chan struct{}
	abort   bool
	dead    atomic.Pointer[string] // a worker id whose calls, from then on, never reach the server
	ahead   int                    // items the held answer leased beyond its reports' slots' next (read after arrived)
}

func (h *holdAhead) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d := h.dead.Load(); d != nil && r.Header.Get(remote.HeaderWorker) == *d {
			panic(http.ErrAbortHandler) // the worker is dead: nothing it sends arrives
		}
		if r.URL.Path != remote.Prefix+"complete-many" || !h.armed.Load() {
			next.ServeHTTP(w, r)
			return
		}
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		hold := false
		if asksAhead(body) {
			h.once.Do(func() { hold = true })
		}
		if !hold {
			next.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		var rep struct {
			Results []struct {
				Items []json.RawMessage `json:"items"`
			} `json:"results"`
		}
		if json.Unmarshal(rec.Body.Bytes(), &rep) == nil {
			for _, res := range rep.Results {
				h.ahead += max(len(res.Items)-1, 0) // beyond its slot's next
			}
		}
		h.arrived <- struct{}{}
		<-h.release
		if h.abort {
			panic(http.ErrAbortHandler)
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
	})
}

// start makes a rig whose leases live ttl serving through h, a run of n
// quick tasks and a worker of slots that runs them, then arms h and
// waits for the answer it holds.
func (h *holdAhead) start(t *testing.T, ttl time.Duration, n, slots int) (*rig, string, *remote.Client, *quick, *quickPool) {
	t.Helper()
	h.arrived, h.release = make(chan struct{}, 1), make(chan struct{})
	r := newRigTTL(t, ttl, nil, h.wrap)
	run := r.readyRun(t, n, "quick")
	a := r.client(t, slots)
	q := newQuick(nil)
	pa := startQuickPool(t, a, q, slots)
	h.armed.Store(true)
	select {
	case <-h.arrived:
	case <-time.After(30 * time.Second):
		t.Fatal("no report of the worker leased ahead")
	}
	return r, run, a, q, pa
}

// leasedTo counts run's tasks leased or running under worker id.
func leasedTo(t *testing.T, r *rig, run, id string) int {
	t.Helper()
	trs, err := r.st.ListTaskRuns(context.Background(), run)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, tr := range trs {
		if tr.State.Active() && tr.LeaseWorker == id {
			n++
		}
	}
	return n
}

// A worker that drains (SIGTERM: cairn worker's Drain, then the pool's
// Stop) while items it leased ahead are on their way gives them back at
// once: they run on another worker well within the lease TTL (a minute
// here), each once, as its first attempt, none interrupted.
func TestDrainGivesBackItemsAhead(t *testing.T) {
	const n, slots = 600, 4
	h := &holdAhead{}
	r, run, a, q, pa := h.start(t, time.Minute, n, slots)
	ctx := context.Background()
	held := leasedTo(t, r, run, a.ID())
	if h.ahead == 0 {
		t.Fatal("the held answer leased nothing ahead: the test would not test it")
	}
	if err := a.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		pa.Stop(ctx)
	}()
	time.Sleep(100 * time.Millisecond) // the pool stopped leasing (Stop's first step) before the items arrive
	close(h.release)
	select {
	case <-stopped:
	case <-time.After(30 * time.Second):
		t.Fatal("the drained pool did not stop")
	}
	if left := leasedTo(t, r, run, a.ID()); left != 0 {
		t.Fatalf("the drained worker still holds %d tasks (%d when it began to drain): not given back", left, held)
	}
	gave := r.api.Calls()["POST "+remote.Prefix+"give-back"]
	if gave == 0 {
		t.Fatal("no give-back call: the test did not test it")
	}
	b := r.client(t, slots)
	began := time.Now()
	startQuickPool(t, b, q, slots)
	waitSucceeded(t, r, run, n, 20*time.Second)
	t.Logf("%d tasks held when the drain began, %d give-back calls; the rest ran in %s on the other worker", held, gave,
		time.Since(began).Round(time.Millisecond))
	trs, err := r.st.ListTaskRuns(ctx, run)
	if err != nil {
		t.Fatal(err)
	}
	byB := 0
	for _, tr := range trs {
		as, err := r.st.ListAttempts(ctx, run, tr.TaskID)
		if err != nil {
			t.Fatal(err)
		}
		if tr.Attempt != 1 || tr.Interrupted != 0 || len(as) != 1 || as[0].State != cairn.TaskSucceeded || q.ran(run, tr.TaskID) != 1 {
			t.Errorf("%s: attempt %d, %d interrupted, attempts %+v, ran %d times; want one attempt, succeeded, run once", tr.TaskID,
				tr.Attempt, tr.Interrupted, as, q.ran(run, tr.TaskID))
		}
		if len(as) == 1 && as[0].Worker == b.ID() {
			byB++
		}
	}
	if byB == 0 {
		t.Error("the other worker ran nothing: the drain left nothing to give back")
	}
}

// A worker killed while items it leased ahead are on their way (the
// answer that carries them never arrives; nothing it sends reaches the
// server since) cannot give them back: they stay its own until it is lost
// (the lease TTL after its last call) — another worker, idle meanwhile,
// never gets them — then end as interrupted, and once made ready again
// (the run's driver's plan) run on the other worker, each once: never two
// successes, never twice at once.
func TestKilledWorkerItemsAheadComeBackAfterTTL(t *testing.T) {
	const n, slots, ttl = 400, 4, 2 * time.Second
	h := &holdAhead{abort: true}
	r, run, a, q, pa := h.start(t, ttl, n, slots)
	ctx := context.Background()
	id := a.ID()
	h.dead.Store(&id)
	killed := time.Now()
	if h.ahead == 0 {
		t.Fatal("the answer the killed worker never got held nothing ahead: the test did not test it")
	}
	close(h.release)
	hard, cancel := context.WithCancel(ctx)
	cancel()
	pa.Stop(hard) // what it runs is stopped; none of its calls arrives
	b := r.client(t, slots)
	startQuickPool(t, b, q, slots)
	// Until the killed worker is lost its tasks stay its own.
	var lost []*cairn.TaskRun
	for {
		trs, err := r.st.ListTaskRuns(ctx, run)
		if err != nil {
			t.Fatal(err)
		}
		held := 0
		lost = lost[:0]
		for _, tr := range trs {
			if tr.State.Active() && tr.LeaseWorker == id {
				held++
			}
			if tr.State == cairn.TaskRetrying {
				lost = append(lost, tr)
			}
		}
		if held == 0 {
			break
		}
		if time.Since(killed) > 30*time.Second {
			t.Fatalf("the killed worker still holds %d tasks 30s after (lease TTL %s)", held, ttl)
		}
		time.Sleep(10 * time.Millisecond)
	}
	took := time.Since(killed)
	if took < ttl/2 {
		t.Errorf("the killed worker's tasks were let go %s after the kill, long before the lease TTL (%s)", took, ttl)
	}
	if len(lost) < h.ahead {
		t.Errorf("%d tasks ended interrupted; the answer the killed worker never got leased %d ahead", len(lost), h.ahead)
	}
	plan := &scheduler.Plan{RunID: run}
	for _, tr := range lost {
		if tr.Interrupted != 1 || q.ran(run, tr.TaskID) > 1 {
			t.Errorf("%s after the loss: %d interrupted, ran %d times; want 1, at most once", tr.TaskID, tr.Interrupted, q.ran(run, tr.TaskID))
		}
		plan.Tasks = append(plan.Tasks, scheduler.TaskChange{TaskID: tr.TaskID, FromVersion: tr.Version, From: cairn.TaskRetrying, To: cairn.TaskReady})
	}
	if err := r.st.ApplyPlan(ctx, plan); err != nil {
		t.Fatal(err)
	}
	r.broker.NotifyReady()
	waitSucceeded(t, r, run, n, 30*time.Second)
	trs, err := r.st.ListTaskRuns(ctx, run)
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range trs {
		as, err := r.st.ListAttempts(ctx, run, tr.TaskID)
		if err != nil {
			t.Fatal(err)
		}
		wins := 0
		for _, at := range as {
			if at.State == cairn.TaskSucceeded {
				wins++
			}
		}
		if wins != 1 {
			t.Errorf("%s: %d successful attempts (%+v), want one", tr.TaskID, wins, as)
		}
		if tr.Interrupted > 0 && (len(as) != 2 || as[0].State != cairn.AttemptInterrupted || as[0].Worker != id || as[1].Worker != b.ID()) {
			t.Errorf("%s: attempts %+v, want the killed worker's interrupted, then the other's", tr.TaskID, as)
		}
	}
	t.Logf("the killed worker's answer leased %d ahead; %d tasks let go %s after the kill, interrupted, then run on the other worker",
		h.ahead, len(lost), took.Round(time.Millisecond))
}
