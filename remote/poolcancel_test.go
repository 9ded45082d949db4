package remote_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/executor"
	"github.com/cairnml/cairn/remote"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/tasks"
)

// stubborn records when each of its attempts starts and ends; an attempt
// of task "a" runs until it is stopped, then takes linger to end (a
// process in its kill_grace).
type stubborn struct {
	linger  time.Duration
	mu      sync.Mutex
	started map[string]time.Time // by run
	ended   map[string]time.Time
}

func (*stubborn) Info() cairn.TypeInfo { return cairn.TypeInfo{Name: "stubborn"} }

func (s *stubborn) Run(ctx context.Context, req tasks.Request, env tasks.Env) (tasks.Result, error) {
	s.mu.Lock()
	s.started[req.RunID] = time.Now()
	s.mu.Unlock()
	var err error
	if req.TaskID == "a" {
		<-ctx.Done()
		time.Sleep(s.linger)
		err = ctx.Err()
	}
	s.mu.Lock()
	s.ended[req.RunID] = time.Now()
	s.mu.Unlock()
	return tasks.Result{}, err
}

func (s *stubborn) times(run string) (started, ended time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.started[run], s.ended[run]
}

// A remote worker's attempt whose run is cancelled keeps its pool's slot
// until the worker has stopped it (trial finding 10): the worker learns of
// the cancel at its next heartbeat — which renews the attempt's hold on
// the slot and says the run is cancelled —, stops the attempt, which takes
// its time, and reports it; the report, refused, lets go of the slot, and
// only then does the worker lease another run's task of the pool (of 1,
// the worker having two slots).
func TestCancelledAttemptKeepsPoolSlot(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	mk := func(task string) string {
		t.Helper()
		now := time.Now()
		run := &cairn.Run{ID: cairn.NewRunID(now), Workflow: "w", Digest: "sha256:00", SourcePath: "w.yaml",
			Source: []byte("name: w\n"), State: cairn.RunRunning, CreatedAt: now, Pools: map[string]int{"gpu": 1}}
		if err := r.st.CreateRun(ctx, run, []*cairn.TaskRun{{RunID: run.ID, TaskID: task, Type: "stubborn", State: cairn.TaskReady,
			Params: json.RawMessage(`{}`), Pool: "gpu", PoolSlots: 1, Retry: cairn.RetryPolicy{MaxInterruptions: 3}}}); err != nil {
			t.Fatal(err)
		}
		r.broker.NotifyReady()
		return run.ID
	}
	typ := &stubborn{linger: 700 * time.Millisecond, started: map[string]time.Time{}, ended: map[string]time.Time{}}
	reg, err := tasks.NewRegistry(typ)
	if err != nil {
		t.Fatal(err)
	}
	c := r.client(t, 2)
	pool := executor.New(c, executor.Options{Worker: c.ID(), Slots: 2, Types: reg, Artifacts: c.Artifacts(), Logs: c.Logs(),
		Cache: c, IdleWait: 200 * time.Millisecond, ScratchDir: t.TempDir(), Redact: c.Redact})
	pctx, stop := context.WithCancel(ctx)
	defer stop()
	pool.Start(pctx)
	t.Cleanup(func() { pool.StopAndCancel() })

	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 30 s", what)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	a := mk("a")
	waitFor("a started", func() bool { s, _ := typ.times(a); return !s.IsZero() })
	b := mk("b")
	// The run's cancel, as its planner makes it.
	if err := r.st.RequestCancel(ctx, a); err != nil {
		t.Fatal(err)
	}
	tr, err := r.st.GetTaskRun(ctx, a, "a")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.st.ApplyPlan(ctx, &scheduler.Plan{RunID: a, Tasks: []scheduler.TaskChange{{TaskID: "a", FromVersion: tr.Version,
		From: cairn.TaskRunning, To: cairn.TaskCancelled, Error: "run cancelled", At: time.Now()}}}); err != nil {
		t.Fatal(err)
	}
	waitFor("b started", func() bool { s, _ := typ.times(b); return !s.IsZero() })
	_, aEnded := typ.times(a)
	bStarted, _ := typ.times(b)
	if aEnded.IsZero() {
		t.Fatal("b started while a's cancelled attempt still ran: the pool of 1 ran two")
	}
	if bStarted.Before(aEnded) {
		t.Fatalf("b started %s before a's cancelled attempt ended: the pool of 1 ran two", aEnded.Sub(bStarted))
	}
	if late := bStarted.Sub(aEnded); late > 5*time.Second {
		t.Errorf("b started %s after a's attempt ended: the slot's release did not wake the worker", late)
	}
}

// post POSTs body (JSON) to the worker API at url's path as worker id,
// raw, and returns the answer.
func (r *rig) post(t *testing.T, url, path, id string, body []byte) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url+remote.Prefix+path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+r.token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(remote.HeaderProtocol, strconv.Itoa(cairn.WorkerProtocol))
	req.Header.Set(remote.HeaderWorker, id)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// beat sends a heartbeat of lease l as worker id to the worker API at
// url, raw, and returns its one result's code ("" renewed) and whether
// it said the run is cancelled.
func (r *rig) beat(t *testing.T, url, id string, l cairn.Lease) (code string, cancel bool) {
	t.Helper()
	body := fmt.Sprintf(`{"leases":[{"run_id":%q,"task_id":%q,"attempt":%d,"token":%q,"worker":%q}]}`,
		l.RunID, l.TaskID, l.Attempt, l.Token, l.Worker)
	resp := r.post(t, url, "heartbeat", id, []byte(body))
	defer resp.Body.Close()
	var out struct {
		Results []struct {
			Code            string `json:"code"`
			CancelRequested bool   `json:"cancel_requested"`
		} `json:"results"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK || len(out.Results) != 1 {
		t.Fatalf("heartbeat: %d, %+v, %v", resp.StatusCode, out, err)
	}
	return out.Results[0].Code, out.Results[0].CancelRequested
}

// A server that did not hand out the lease of an attempt cancelled while
// it ran (another server on the database, or this one restarted) renews
// its hold on the pool's slots for the worker it was leased to, saying the
// run is cancelled, and for no other worker.
func TestCancelledHoldOnAnotherServer(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	now := time.Now()
	run := &cairn.Run{ID: cairn.NewRunID(now), Workflow: "w", Digest: "sha256:00", SourcePath: "w.yaml",
		Source: []byte("name: w\n"), State: cairn.RunRunning, CreatedAt: now, Pools: map[string]int{"gpu": 1}}
	if err := r.st.CreateRun(ctx, run, []*cairn.TaskRun{{RunID: run.ID, TaskID: "a", Type: "echo", State: cairn.TaskReady,
		Params: json.RawMessage(`{}`), Pool: "gpu", PoolSlots: 1}}); err != nil {
		t.Fatal(err)
	}
	c, thief := r.client(t, 1), r.client(t, 1)
	items, err := c.Lease(ctx, cairn.LeaseRequest{Max: 1, Start: true})
	if err != nil || len(items) != 1 {
		t.Fatalf("Lease = %+v, %v", items, err)
	}
	l := items[0].Lease
	tr, err := r.st.GetTaskRun(ctx, run.ID, "a")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.st.ApplyPlan(ctx, &scheduler.Plan{RunID: run.ID, Tasks: []scheduler.TaskChange{{TaskID: "a", FromVersion: tr.Version,
		From: cairn.TaskRunning, To: cairn.TaskCancelled, Error: "run cancelled", At: time.Now()}}}); err != nil {
		t.Fatal(err)
	}
	other := remote.NewServer(remote.ServerOptions{Leaser: r.broker, Loser: r.broker, Workers: r.st, Tokens: r.st, Tasks: r.st,
		Logs: r.logs, Blobs: r.arts, Cache: r.st, Version: "test"})
	srv := httptest.NewServer(other)
	t.Cleanup(srv.Close)
	if code, cancel := r.beat(t, srv.URL, c.ID(), l); code != "" || !cancel {
		t.Errorf("the worker's heartbeat on another server: code %q, cancel %v; want renewed, cancel requested", code, cancel)
	}
	stolen := l
	stolen.Worker = thief.ID()
	if code, _ := r.beat(t, srv.URL, thief.ID(), stolen); code != remote.CodeLeaseLost {
		t.Errorf("another worker's heartbeat of the hold: code %q; want %s", code, remote.CodeLeaseLost)
	}
	if code, _ := r.beat(t, srv.URL, thief.ID(), l); code != remote.CodeForbidden {
		t.Errorf("another worker's heartbeat naming the worker: code %q; want %s", code, remote.CodeForbidden)
	}
}
