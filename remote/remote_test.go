package remote_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/artifacts"
	"github.com/cairnml/cairn/auth"
	"github.com/cairnml/cairn/executor"
	"github.com/cairnml/cairn/remote"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/store/sqlite"
	"github.com/cairnml/cairn/tasks"
)

// rig is a worker API over a real SQLite store and broker, served by
// httptest, with a worker token.
type rig struct {
	st     *sqlite.Store
	broker *scheduler.Broker
	arts   *artifacts.Dir
	logs   *artifacts.Logs
	srv    *httptest.Server
	api    *remote.Server
	token  string
	tokID  string
}

func newRig(t *testing.T) *rig { t.Helper(); return newRigWith(t, nil) }

// newRigWith is newRig with the server's options changed by set.
func newRigWith(t *testing.T, set func(o *remote.ServerOptions)) *rig {
	t.Helper()
	return newRigServing(t, set, nil)
}

// newRigServing is newRigWith whose worker API is served through wrap
// (nil: as it is).
func newRigServing(t *testing.T, set func(o *remote.ServerOptions), wrap func(http.Handler) http.Handler) *rig {
	t.Helper()
	return newRigTTL(t, 3*time.Second, set, wrap)
}

// newRigTTL is newRigServing whose broker's leases live ttl.
func newRigTTL(t *testing.T, ttl time.Duration, set func(o *remote.ServerOptions), wrap func(http.Handler) http.Handler) *rig {
	t.Helper()
	dir := t.TempDir()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "cairn.db"))
	if err != nil {
		t.Fatal(err)
	}
	arts, _ := artifacts.Open(filepath.Join(dir, "artifacts"))
	logs, _ := artifacts.OpenLogs(filepath.Join(dir, "logs"))
	tok, text, hash, err := auth.New(auth.Worker, "test", time.Now(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateToken(ctx, tok, hash, "test"); err != nil {
		t.Fatal(err)
	}
	b := scheduler.NewBroker(st, scheduler.BrokerOptions{LeaseTTL: ttl})
	o := remote.ServerOptions{Leaser: b, Loser: b, Workers: st, Tokens: st, Tasks: st, Logs: logs,
		Blobs: arts, Cache: st, Version: "test", LoseEvery: 100 * time.Millisecond}
	if set != nil {
		set(&o)
	}
	api := remote.NewServer(o)
	api.Start(ctx)
	var h http.Handler = api
	if wrap != nil {
		h = wrap(api)
	}
	srv := httptest.NewServer(h)
	r := &rig{st: st, broker: b, arts: arts, logs: logs, srv: srv, api: api, token: text, tokID: tok.ID}
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
		api.Stop()
		st.Close()
	})
	return r
}

func (r *rig) client(t *testing.T, concurrency int) *remote.Client {
	t.Helper()
	cache, _ := artifacts.Open(t.TempDir())
	hc := remote.NewHTTPClient(nil, concurrency)
	c, err := remote.Register(context.Background(), remote.ClientOptions{Server: r.srv.URL, Token: r.token, Name: "w",
		Concurrency: concurrency, Cache: cache, HTTP: hc})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hc.CloseIdleConnections)
	return c
}

// readyRun makes a running run of n ready tasks of type typ, each
// changed by each set before the run is created.
func (r *rig) readyRun(t *testing.T, n int, typ string, set ...func([]*cairn.TaskRun)) string {
	t.Helper()
	now := time.Now()
	run := &cairn.Run{ID: cairn.NewRunID(now), Workflow: "w", Digest: "sha256:00", SourcePath: "w.yaml",
		Source: []byte("name: w\n"), State: cairn.RunRunning, CreatedAt: now}
	trs := make([]*cairn.TaskRun, n)
	for i := range trs {
		trs[i] = &cairn.TaskRun{RunID: run.ID, TaskID: fmt.Sprintf("t%d", i), Type: typ, State: cairn.TaskReady,
			Params: json.RawMessage(`{}`), Retry: cairn.RetryPolicy{MaxInterruptions: 3}}
	}
	for _, f := range set {
		f(trs)
	}
	if err := r.st.CreateRun(context.Background(), run, trs); err != nil {
		t.Fatal(err)
	}
	r.broker.NotifyReady()
	return run.ID
}

// echo writes its task id to its log and stores it as an artifact, read
// back to check it.
type echo struct{}

func (echo) Info() cairn.TypeInfo { return cairn.TypeInfo{Name: "echo"} }

func (echo) Run(ctx context.Context, req tasks.Request, env tasks.Env) (tasks.Result, error) {
	fmt.Fprintf(env.Log, "hello from %s\n", req.TaskID)
	ref, err := env.Artifacts.Put(ctx, "text/plain", strings.NewReader("bytes of "+req.TaskID))
	if err != nil {
		return tasks.Result{}, err
	}
	rc, err := env.Artifacts.Open(ctx, ref)
	if err != nil {
		return tasks.Result{}, err
	}
	defer rc.Close()
	if _, err := io.ReadAll(rc); err != nil {
		return tasks.Result{}, err
	}
	return tasks.Result{Outputs: map[string]json.RawMessage{"out": ref.JSON()}}, nil
}

// The in-process pool over the HTTP client runs a run's tasks: each
// attempt's log is on the server, each output uploaded before the
// completion that names it, every attempt the worker's.
func TestPoolOverHTTP(t *testing.T) {
	leaks := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, leaks) }) // the last cleanup: after the server and the client closed
	r := newRig(t)
	id := r.readyRun(t, 12, "echo")
	c := r.client(t, 4)
	reg, err := tasks.NewRegistry(echo{})
	if err != nil {
		t.Fatal(err)
	}
	pool := executor.New(c, executor.Options{Worker: c.ID(), Slots: 4, Types: reg, Artifacts: c.Artifacts(), Logs: c.Logs(),
		Cache: c, IdleWait: 200 * time.Millisecond, ScratchDir: t.TempDir(), Redact: c.Redact})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pool.Start(ctx)
	waitSucceeded(t, r, id, 12, 30*time.Second)
	pool.Stop(ctx)
	trs, _ := r.st.ListTaskRuns(ctx, id)
	for _, tr := range trs {
		as, _ := r.st.ListAttempts(ctx, id, tr.TaskID)
		if len(as) != 1 || as[0].Worker != c.ID() {
			t.Errorf("%s: attempts %+v, want one by %s", tr.TaskID, as, c.ID())
		}
		ref, ok := cairn.AsArtifactRef(tr.Outputs["out"])
		if !ok {
			t.Fatalf("%s: no artifact output: %s", tr.TaskID, tr.Outputs["out"])
		}
		rc, err := r.arts.Open(ctx, ref)
		if err != nil {
			t.Fatalf("%s: the server lacks its output: %v", tr.TaskID, err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || string(b) != "bytes of "+tr.TaskID {
			t.Errorf("%s: the server holds %q, %v", tr.TaskID, b, err)
		}
		lr, err := r.logs.Open(id, tr.TaskID, 1)
		if err != nil {
			t.Fatalf("%s: no log on the server: %v", tr.TaskID, err)
		}
		lb, _ := io.ReadAll(lr)
		lr.Close()
		if string(lb) != "hello from "+tr.TaskID+"\n" {
			t.Errorf("%s: the server's log is %q", tr.TaskID, lb)
		}
	}
	// Calls counts the requests: a registration, and at most one
	// completion request per task (slots ending together share one).
	calls := r.api.Calls()
	if n := calls["POST "+remote.Prefix+"complete"] + calls["POST "+remote.Prefix+"complete-many"]; n < 1 || n > int64(len(trs)) ||
		calls["POST "+remote.Prefix+"register"] != 1 {
		t.Errorf("the worker API's calls: %v, want a registration and 1 to %d completion requests", calls, len(trs))
	}
	if err := c.Deregister(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Lease(ctx, cairn.LeaseRequest{Max: 1}); !errors.Is(err, cairn.ErrWorkerLost) {
		t.Errorf("a deregistered worker's lease: %v, want ErrWorkerLost", err)
	}
}

// A download whose bytes do not match its digest (the server's blob
// damaged on its disk) is refused and not cached; an upload the server's
// hash refuses is an error of Put.
func TestArtifactsVerified(t *testing.T) {
	r := newRig(t)
	c := r.client(t, 1)
	ctx := context.Background()
	ref, err := r.arts.Put(ctx, "text/plain", strings.NewReader("good bytes"))
	if err != nil {
		t.Fatal(err)
	}
	p, _ := r.arts.Path(ref)
	os.Chmod(p, 0o600)
	if err := os.WriteFile(p, []byte("evil bytes"), 0o600); err != nil { // same size, other bytes
		t.Fatal(err)
	}
	a := c.Artifacts()
	if rc, err := a.Open(ctx, ref); err == nil {
		_, err = io.ReadAll(rc)
		rc.Close()
		if err == nil {
			t.Fatal("a damaged blob was read as good")
		}
	}
	os.Chmod(p, 0o600)
	os.WriteFile(p, []byte("good bytes"), 0o400)
	rc, err := a.Open(ctx, ref)
	if err != nil {
		t.Fatalf("after repair: %v", err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if string(b) != "good bytes" {
		t.Fatalf("read %q", b)
	}
}

// An upload whose bytes the server's hash refuses (changed on their
// way) fails Put, kept nowhere, with an error that is not a damaged
// stored artifact's: a retry of the attempt makes and sends them again,
// while a task reading a damaged input is not retried (executor).
func TestUploadRefusedIsRetryable(t *testing.T) {
	flip := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/artifacts/") {
				b, _ := io.ReadAll(r.Body)
				if len(b) > 0 {
					b[0] ^= 1
				}
				r.Body = io.NopCloser(bytes.NewReader(b))
			}
			h.ServeHTTP(w, r)
		})
	}
	r := newRigServing(t, nil, flip)
	c := r.client(t, 1)
	ctx := context.Background()
	ref, err := c.Artifacts().Put(ctx, "text/plain", strings.NewReader("bytes on their way"))
	if err == nil || errors.Is(err, cairn.ErrCorruptArtifact) || !strings.Contains(err.Error(), "a retry makes and sends them again") {
		t.Fatalf("Put through a server that receives other bytes: %+v, %v; want an error that is not ErrCorruptArtifact, saying a retry sends them again", ref, err)
	}
	if _, err := r.arts.Stat("sha256:" + fmt.Sprintf("%x", sha256.Sum256([]byte("bytes on their way")))); !errors.Is(err, cairn.ErrNotFound) {
		t.Fatalf("the server kept something of the refused upload: %v", err)
	}
}

// A damaged copy in the worker's cache (the server's bytes are good)
// fails the read naming the digest, is dropped, and is not an error of a
// damaged stored artifact (which the executor does not retry): the next
// read fetches the bytes from the server again.
func TestDamagedCacheCopyFetchedAgain(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	dir := t.TempDir()
	cache, err := artifacts.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	hc := remote.NewHTTPClient(nil, 1)
	t.Cleanup(hc.CloseIdleConnections)
	c, err := remote.Register(ctx, remote.ClientOptions{Server: r.srv.URL, Token: r.token, Name: "w", Concurrency: 1, Cache: cache, HTTP: hc})
	if err != nil {
		t.Fatal(err)
	}
	ref, err := r.arts.Put(ctx, "text/plain", strings.NewReader("good bytes"))
	if err != nil {
		t.Fatal(err)
	}
	read := func() (string, error) {
		rc, err := c.Artifacts().Open(ctx, ref)
		if err != nil {
			return "", err
		}
		defer rc.Close()
		b, err := io.ReadAll(rc)
		return string(b), err
	}
	if b, err := read(); err != nil || b != "good bytes" {
		t.Fatalf("first read: %q, %v", b, err)
	}
	p, err := cache.Path(ref) // the worker's copy
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(p, 0o600)
	if err := os.WriteFile(p, []byte("evil bytes"), 0o400); err != nil {
		t.Fatal(err)
	}
	_, err = read()
	if err == nil || errors.Is(err, cairn.ErrCorruptArtifact) || !strings.Contains(err.Error(), ref.Digest) || !strings.Contains(err.Error(), "a retry fetches it from the server again") {
		t.Fatalf("read of the damaged copy: %v; want an error naming %s, not ErrCorruptArtifact, saying a retry fetches it again", err, ref.Digest)
	}
	if b, err := read(); err != nil || b != "good bytes" {
		t.Fatalf("the read after: %q, %v; want the server's bytes fetched again", b, err)
	}
}

// Calls of a lost worker that learn of the loss together register it
// again once: one process is one active worker.
func TestLostWorkerRegistersAgainOnce(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	r.readyRun(t, 1, "echo")
	c := r.client(t, 1)
	if _, err := c.Lease(ctx, cairn.LeaseRequest{Max: 1, Start: true, Wait: time.Second}); err != nil {
		t.Fatal(err)
	}
	old := c.ID()
	time.Sleep(3*time.Second + 500*time.Millisecond) // the TTL and the loop's period, silent
	var wg sync.WaitGroup
	for i := 0; i < 6; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.Beat(ctx) // refused as lost, or under the new id
		}()
	}
	wg.Wait()
	ws, err := r.st.ListWorkers(ctx, time.Now(), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	var active []string
	for _, w := range ws {
		if w.ID != old && w.State == cairn.WorkerActive {
			active = append(active, w.ID)
		}
	}
	if len(active) != 1 || active[0] != c.ID() {
		t.Fatalf("active workers beside the lost %s: %v, want only the client's new id %s", old, active, c.ID())
	}
}

// A worker that stops calling is lost within the TTL plus the loss
// loop's period, its lease ended naming it; its next call is refused and
// it registers again under a new id.
func TestLostWorkerRegistersAgain(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	id := r.readyRun(t, 1, "echo")
	c := r.client(t, 1)
	items, err := c.Lease(ctx, cairn.LeaseRequest{Max: 1, Start: true, Wait: time.Second})
	if err != nil || len(items) != 1 {
		t.Fatalf("Lease = %v, %v", items, err)
	}
	old := c.ID()
	time.Sleep(3*time.Second + 500*time.Millisecond) // the TTL and the loop's period, silent
	as, _ := r.st.ListAttempts(ctx, id, "t0")
	if len(as) != 1 || as[0].State != cairn.AttemptInterrupted || !strings.Contains(as[0].Error, "worker w ("+old+") lost: no heartbeat since") {
		t.Fatalf("attempts %+v: want the lost worker's, interrupted, naming it", as)
	}
	if _, err := c.CompleteAndLease(ctx, items[0].Lease, cairn.Completion{}, cairn.LeaseRequest{}); !errors.Is(err, cairn.ErrWorkerLost) {
		t.Fatalf("the lost worker's completion: %v, want ErrWorkerLost", err)
	}
	if c.ID() == old || c.ID() == "" {
		t.Fatalf("registered again as %q (was %q)", c.ID(), old)
	}
	// Under its new id it calls again; the task waits to be retried, free
	// (a planner makes it ready: none runs here).
	if err := c.Beat(ctx); err != nil {
		t.Fatalf("a call under the new id: %v", err)
	}
	tr, err := r.st.GetTaskRun(ctx, id, "t0")
	if err != nil || tr.State != cairn.TaskRetrying || tr.Interrupted != 1 {
		t.Fatalf("t0: %+v, %v; want retrying after one interruption", tr, err)
	}
}

// A worker leases only what its registered labels and queues allow: a
// task that needs gpu=true goes to the worker that registered with it,
// never to the one without, which takes the plain task past it.
func TestLeaseByRegisteredRoute(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	now := time.Now()
	run := &cairn.Run{ID: cairn.NewRunID(now), Workflow: "w", Digest: "sha256:00", SourcePath: "w.yaml",
		Source: []byte("name: w\n"), State: cairn.RunRunning, CreatedAt: now}
	trs := []*cairn.TaskRun{
		{RunID: run.ID, TaskID: "gpu", Type: "echo", State: cairn.TaskReady, Params: json.RawMessage(`{}`),
			Labels: map[string]string{"gpu": "true"}, Queue: "train"},
		{RunID: run.ID, TaskID: "plain", Type: "echo", State: cairn.TaskReady, Params: json.RawMessage(`{}`)},
	}
	if err := r.st.CreateRun(ctx, run, trs); err != nil {
		t.Fatal(err)
	}
	register := func(name string, labels map[string]string, queues []string) *remote.Client {
		cache, _ := artifacts.Open(t.TempDir())
		hc := remote.NewHTTPClient(nil, 2)
		t.Cleanup(hc.CloseIdleConnections)
		c, err := remote.Register(ctx, remote.ClientOptions{Server: r.srv.URL, Token: r.token, Name: name, Concurrency: 2,
			Cache: cache, HTTP: hc, Labels: labels, Queues: queues})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	plain := register("plain", nil, nil)
	gpu := register("gpu", map[string]string{"gpu": "true", "zone": "eu"}, []string{"default", "train"})
	// The plain worker asks for two, and for any route: it gets the plain task only.
	items, err := plain.Lease(ctx, cairn.LeaseRequest{Max: 2, AnyTask: true, Labels: map[string]string{"gpu": "true"}})
	if err != nil || len(items) != 1 || items[0].Lease.TaskID != "plain" {
		t.Fatalf("the plain worker leased %+v, %v; want the plain task only", items, err)
	}
	items, err = gpu.Lease(ctx, cairn.LeaseRequest{Max: 2})
	if err != nil || len(items) != 1 || items[0].Lease.TaskID != "gpu" {
		t.Fatalf("the gpu worker leased %+v, %v; want the gpu task", items, err)
	}
}

// holdFirst wraps a worker API so that its first lanes completion
// requests (one per lane of the worker: ServerOptions.CompleteLanes)
// wait, once each arrived (a value on arrived), until release is closed:
// the completions sent meanwhile wait for them, and go together in the
// next request. With oldServer, complete-many is a route the server does
// not have (an older cairn of the same protocol).
func holdFirst(oldServer bool, lanes int, arrived, release chan struct{}) func(http.Handler) http.Handler {
	var (
		mu   sync.Mutex
		held int
	)
	return func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch r.URL.Path {
			case remote.Prefix + "complete":
				mu.Lock()
				held++
				hold := held <= lanes
				mu.Unlock()
				if hold {
					arrived <- struct{}{}
					<-release
				}
			case remote.Prefix + "complete-many":
				if oldServer {
					r.URL.Path = remote.Prefix + "complete-many-unknown"
				}
			}
			h.ServeHTTP(w, r)
		})
	}
}

// The completions of a worker's slots that end while others are on
// their way (each alone, in a lane of its own: one, or two where the
// server says so at registration) go together in one request
// (complete-many), each accepted or refused alone: a report under a
// lease that is not the task's is refused and changes nothing, the
// others are recorded with their next items leased. A server without
// complete-many gets them one by one. The server hands a request's
// reports to its leaser in one call where it takes them so
// (remote.ManyCompleter: the broker), else one by one (one leaser).
func TestCompletionsShareARequest(t *testing.T) {
	for _, tc := range []struct {
		old, one bool
		lanes    int
	}{{false, false, 1}, {true, false, 1}, {false, false, 2}, {true, false, 2}, {false, true, 1}} {
		old, lanes := tc.old, tc.lanes
		t.Run(fmt.Sprintf("old server %v lanes %d one leaser %v", old, lanes, tc.one), func(t *testing.T) {
			arrived, release := make(chan struct{}, lanes), make(chan struct{})
			r := newRigServing(t, func(o *remote.ServerOptions) {
				o.CompleteLanes = lanes
				if tc.one {
					o.Leaser = struct{ remote.Leaser }{o.Leaser} // no CompleteAndLeaseMany
				}
			}, holdFirst(old, lanes, arrived, release))
			ctx := context.Background()
			id := r.readyRun(t, 16, "echo")
			c := r.client(t, 8)
			items, err := c.Lease(ctx, cairn.LeaseRequest{Max: 8, Start: true})
			if err != nil || len(items) != 8 {
				t.Fatalf("Lease = %d items, %v", len(items), err)
			}
			bad := items[7].Lease
			bad.Token = "not-the-lease"
			type outcome struct {
				next []cairn.WorkItem
				err  error
			}
			out := make([]outcome, 8)
			var wg sync.WaitGroup
			report := func(i int) {
				defer wg.Done()
				l := items[i].Lease
				if i == 7 {
					l = bad
				}
				out[i].next, out[i].err = c.CompleteAndLease(ctx, l, cairn.Completion{}, cairn.LeaseRequest{Max: 1, Start: true})
			}
			for i := range lanes {
				wg.Add(1)
				go report(i)
				<-arrived // on its way in a lane of its own, held
			}
			for i := lanes; i < 8; i++ {
				wg.Add(1)
				go report(i)
			}
			time.Sleep(300 * time.Millisecond) // the others queued behind it
			close(release)
			wg.Wait()
			for i, o := range out[:7] {
				if o.err != nil || len(o.next) != 1 {
					t.Errorf("report %d: %d next items, %v; want one", i, len(o.next), o.err)
				}
			}
			if !errors.Is(out[7].err, cairn.ErrLeaseLost) || len(out[7].next) != 0 {
				t.Errorf("the report under another token: %v, %d items; want ErrLeaseLost and none", out[7].err, len(out[7].next))
			}
			for i, it := range items {
				tr, err := r.st.GetTaskRun(ctx, id, it.Lease.TaskID)
				want := cairn.TaskSucceeded
				if i == 7 {
					want = cairn.TaskRunning // the refused report changed nothing
				}
				if err != nil || tr.State != want {
					t.Errorf("%s: %v, %v; want %s", it.Lease.TaskID, tr.State, err, want)
				}
			}
			calls := r.api.Calls()
			one, many := calls["POST "+remote.Prefix+"complete"], calls["POST "+remote.Prefix+"complete-many"]
			if !old && (one != int64(lanes) || many != 1) {
				t.Errorf("%d complete and %d complete-many requests; want the first %d alone and the others in one", one, many, lanes)
			}
			if old && one != 8 {
				t.Errorf("%d complete requests to a server without complete-many; want 8", one)
			}
		})
	}
}

// A worker's cache bounded by CacheMax (2,500 bytes, blobs of 1,000):
// inputs downloaded past the bound push out the least recently used, never
// one an attempt is still reading; an output is kept while it uploads, then
// counts as the newest; an evicted input is downloaded again when read.
func TestWorkerCacheBounded(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	dir, _ := artifacts.Open(t.TempDir())
	hc := remote.NewHTTPClient(nil, 1)
	c, err := remote.Register(ctx, remote.ClientOptions{Server: r.srv.URL, Token: r.token, Name: "w",
		Concurrency: 1, Cache: dir, CacheMax: 2500, HTTP: hc})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hc.CloseIdleConnections)
	refs := map[byte]cairn.ArtifactRef{}
	for _, ch := range []byte("abcd") {
		ref, err := r.arts.Put(ctx, "application/octet-stream", strings.NewReader(strings.Repeat(string(ch), 1000)))
		if err != nil {
			t.Fatal(err)
		}
		refs[ch] = ref
	}
	cached := func(ch byte) bool { _, err := dir.Stat(refs[ch].Digest); return err == nil }
	a := c.Artifacts()
	open := func(ch byte) io.ReadCloser {
		t.Helper()
		rc, err := a.Open(ctx, refs[ch])
		if err != nil {
			t.Fatal(err)
		}
		if b, err := io.ReadAll(rc); err != nil || len(b) != 1000 {
			t.Fatalf("read %d bytes of %c, %v", len(b), ch, err)
		}
		return rc
	}
	reading := open('a')
	open('b').Close()
	open('c').Close() // 3,000 bytes: b goes, a is being read
	if !cached('a') || cached('b') || !cached('c') {
		t.Fatalf("a %v b %v c %v: want b evicted, a (being read) kept", cached('a'), cached('b'), cached('c'))
	}
	reading.Close()
	open('d').Close() // a, read to its end, is the least recently used
	if cached('a') || !cached('c') || !cached('d') {
		t.Fatalf("a %v c %v d %v: want a evicted", cached('a'), cached('c'), cached('d'))
	}
	out, err := a.Put(ctx, "text/plain", strings.NewReader(strings.Repeat("o", 1000)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.arts.Stat(out.Digest); err != nil {
		t.Fatalf("the output was not uploaded: %v", err)
	}
	if _, err := dir.Stat(out.Digest); err != nil || cached('c') || !cached('d') {
		t.Fatalf("output %v, c %v, d %v: want the output kept and c evicted", err, cached('c'), cached('d'))
	}
	open('b').Close() // downloaded again
	if !cached('b') || cached('d') {
		t.Fatalf("b %v d %v: want b back and d evicted", cached('b'), cached('d'))
	}
}

// A worker that heartbeats an attempt but never completes it (wedged, or
// lying) holds it no longer than its timeout, cairn.TimeoutGrace and the
// lease TTL: from then on its heartbeats are refused (lease lost), and
// the reaper ends the attempt as timed out — failed under its retry
// policy, not interrupted — and the worker's late completion is refused.
func TestWedgedWorkerTimesOut(t *testing.T) {
	if testing.Short() {
		t.Skip("takes the timeout, 10 s of grace and the TTL")
	}
	r := newRig(t)
	ctx := context.Background()
	now := time.Now()
	run := &cairn.Run{ID: cairn.NewRunID(now), Workflow: "w", Digest: "sha256:00", SourcePath: "w.yaml",
		Source: []byte("name: w\n"), State: cairn.RunRunning, CreatedAt: now}
	if err := r.st.CreateRun(ctx, run, []*cairn.TaskRun{{RunID: run.ID, TaskID: "t", Type: "echo", State: cairn.TaskReady,
		Params: json.RawMessage(`{}`), Timeout: time.Second, Retry: cairn.RetryPolicy{MaxInterruptions: 3}}}); err != nil {
		t.Fatal(err)
	}
	r.broker.NotifyReady()
	c := r.client(t, 1)
	items, err := c.Lease(ctx, cairn.LeaseRequest{Max: 1, Start: true, Wait: time.Second})
	if err != nil || len(items) != 1 || items[0].Timeout != time.Second {
		t.Fatalf("Lease = %+v, %v; want t, with its timeout", items, err)
	}
	started := time.Now()
	l := items[0].Lease
	limit := time.Second + cairn.TimeoutGrace + 3*time.Second // the rig's TTL
	for {
		time.Sleep(500 * time.Millisecond)
		// The leader's reaper, every half second.
		if _, err := r.broker.ExpireLeases(ctx, scheduler.Expiry{}); err != nil {
			t.Fatal(err)
		}
		rs, err := c.HeartbeatMany(ctx, []cairn.Lease{l})
		if err != nil {
			t.Fatalf("heartbeat: %v", err)
		}
		age := time.Since(started)
		if rs[0].Err == nil {
			if age > limit+time.Second {
				t.Fatalf("the attempt's lease is still renewed %s after it began (timeout 1s)", age)
			}
			continue
		}
		if !errors.Is(rs[0].Err, cairn.ErrLeaseLost) || age < limit-time.Second {
			t.Fatalf("heartbeat %s after the start: %v; want renewed until %s, then ErrLeaseLost", age, rs[0].Err, limit)
		}
		break
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := r.broker.ExpireLeases(ctx, scheduler.Expiry{}); err != nil {
			t.Fatal(err)
		}
		tr, err := r.st.GetTaskRun(ctx, run.ID, "t")
		if err != nil {
			t.Fatal(err)
		}
		if tr.State == cairn.TaskFailed {
			if tr.Interrupted != 0 {
				t.Errorf("t was counted interrupted %d times, want none", tr.Interrupted)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("t is %s 5 s after its heartbeats were refused, want failed", tr.State)
		}
		time.Sleep(100 * time.Millisecond)
	}
	as, _ := r.st.ListAttempts(ctx, run.ID, "t")
	if len(as) != 1 || as[0].State != cairn.TaskFailed || !strings.HasPrefix(as[0].Error, "timed out after 1s") || as[0].Worker != c.ID() {
		t.Fatalf("attempts %+v: want the wedged worker's, failed as timed out", as)
	}
	if _, err := c.CompleteAndLease(ctx, l, cairn.Completion{}, cairn.LeaseRequest{}); !errors.Is(err, cairn.ErrLeaseLost) {
		t.Fatalf("the wedged worker's late completion: %v, want ErrLeaseLost", err)
	}
}

// TestCallErrorSaysItOnce: a refused call's error names the call, the
// lease and the refusal once, whatever the server's text already says,
// and still wraps the refusal's kind.
func TestCallErrorSaysItOnce(t *testing.T) {
	l := cairn.Lease{RunID: "r", TaskID: "a", Attempt: 1}
	for _, tc := range []struct {
		call, msg string
		kind      error
		want      string
	}{
		{"heartbeat", "heartbeat r/a#1: lease lost", cairn.ErrLeaseLost, "heartbeat r/a#1: lease lost"},
		{"complete", "complete attempt r/a#1: lease lost", cairn.ErrLeaseLost, "complete attempt r/a#1: lease lost"},
		{"complete", "the run was cancelled", cairn.ErrLeaseLost, "complete r/a#1: the run was cancelled: lease lost"},
		{"heartbeat", "database is locked", nil, "heartbeat r/a#1: database is locked"},
	} {
		err := remote.CallError(tc.call, l, tc.msg, tc.kind)
		if err.Error() != tc.want || (tc.kind != nil && !errors.Is(err, tc.kind)) {
			t.Errorf("%s %q: %q (is %v: %v), want %q", tc.call, tc.msg, err, tc.kind, errors.Is(err, tc.kind), tc.want)
		}
	}
}

// TestRegisterTypesTheServerWouldRefuse: a worker whose task types the
// server cannot take (a plugin's type of a name too long for a
// registration, more types than it takes) registers without them, as a
// worker of an earlier version, and is leased any type; types it can say
// are said.
func TestRegisterTypesTheServerWouldRefuse(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	many := make([]string, 300)
	for i := range many {
		many[i] = fmt.Sprintf("t%03d", i)
	}
	for _, tc := range []struct {
		name  string
		types []string
		want  []string
	}{
		{"plain", []string{"kmeans", "noop"}, []string{"kmeans", "noop"}},
		{"long", []string{"long" + strings.Repeat("x", 210), "noop"}, nil},
		{"many", many, nil},
	} {
		c, err := remote.Register(ctx, remote.ClientOptions{Server: r.srv.URL, Token: r.token, Name: tc.name, Concurrency: 1, Types: tc.types})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		ws, err := r.st.ListWorkers(ctx, time.Now(), time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(ws, func(w cairn.Worker) bool { return w.ID == c.ID() })
		if i < 0 {
			t.Fatalf("%s: worker %s not listed", tc.name, c.ID())
		}
		if !reflect.DeepEqual(ws[i].Types, tc.want) {
			t.Errorf("%s: registered with types %q, want %q", tc.name, ws[i].Types, tc.want)
		}
	}
}
