package chaos_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/artifacts"
	"github.com/cairnml/cairn/auth"
	"github.com/cairnml/cairn/chaos"
	"github.com/cairnml/cairn/executor"
	"github.com/cairnml/cairn/remote"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/tasks"
	"github.com/cairnml/cairn/workflows"
)

// tokenStore is what the worker API and the test need of a store's tokens.
type tokenStore interface {
	remote.Tokens
	CreateToken(ctx context.Context, t auth.Token, hash, actor string) error
}

// apiNode is a scheduler that runs no task itself, serving the worker API
// on loopback: a cairn server --workers 0, in process, over a FaultStore.
type apiNode struct {
	name   string
	faults *chaos.FaultStore
	svc    *scheduler.Service
	api    *remote.Server
	http   *httptest.Server
}

func startAPINode(t *testing.T, name string, st scheduler.Store, tokens remote.Tokens, f chaos.Faults, ttl time.Duration) *apiNode {
	t.Helper()
	reg, err := tasks.NewRegistry(chaos.Probe{})
	if err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	arts, err := artifacts.Open(filepath.Join(home, "artifacts"))
	if err != nil {
		t.Fatal(err)
	}
	logs, err := artifacts.OpenLogs(filepath.Join(home, "logs"))
	if err != nil {
		t.Fatal(err)
	}
	n := &apiNode{name: name, faults: chaos.NewFaultStore(st, f)}
	// On PostgreSQL the completer's batches overlap, as cairn server's do.
	_, pg := st.(interface{ MaxConns() int32 })
	broker := scheduler.NewBroker(n.faults, scheduler.BrokerOptions{Name: name, LeaseTTL: ttl, OverlapCommits: pg})
	n.svc = scheduler.NewService(n.faults, broker, scheduler.ServiceOptions{
		Owner: name, Adopt: true, OwnerTTL: nodeClaimTTL, PollInterval: 50 * time.Millisecond, LeaderTTL: 2 * time.Second,
		Load: func(ctx context.Context, run *cairn.Run) (scheduler.Graph, error) {
			wf, err := workflows.Parse(run.SourcePath, run.Source, workflows.Options{Types: reg})
			if err != nil {
				return nil, fmt.Errorf("%w: %v", scheduler.ErrCannotPlan, err)
			}
			return wf, nil
		},
	})
	n.api = remote.NewServer(remote.ServerOptions{Leaser: broker, Loser: broker, Workers: n.faults, Tokens: tokens,
		Tasks: n.faults, Logs: logs, Blobs: arts, Version: "chaos", MaxWait: 500 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	n.http = httptest.NewServer(n.api)
	n.svc.Start(context.Background())
	n.api.Start(context.Background())
	return n
}

func (n *apiNode) stop() {
	n.faults.SetDown(false)
	n.http.Close()
	n.api.Stop()
	n.svc.Stop(context.Background())
}

// remoteWorker is a cairn worker in process: the worker API's client over
// a FaultTransport, and a pool leasing through it.
type remoteWorker struct {
	name   string
	net    *chaos.FaultTransport
	pool   *executor.Pool
	cancel context.CancelFunc
	done   chan struct{}
}

func startRemoteWorker(t *testing.T, name, server, token string, seed uint64) *remoteWorker {
	t.Helper()
	cache, err := artifacts.Open(filepath.Join(t.TempDir(), "cache"))
	if err != nil {
		t.Fatal(err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	w := &remoteWorker{name: name, net: chaos.NewFaultTransport(tr, seed, 0.03, 0.03), done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	var c *remote.Client
	for try := 0; ; try++ { // the registration itself may be lost
		c, err = remote.Register(ctx, remote.ClientOptions{Server: server, Token: token, HTTP: &http.Client{Transport: w.net},
			Name: name, Host: "localhost", Version: "chaos", Concurrency: 2, Cache: cache})
		if err == nil {
			break
		}
		if try == 20 {
			t.Fatalf("register %s: %v", name, err)
		}
	}
	reg, err := tasks.NewRegistry(chaos.Probe{Worker: name})
	if err != nil {
		t.Fatal(err)
	}
	w.pool = executor.New(c, executor.Options{Worker: c.ID(), Slots: 2, Types: reg, Artifacts: c.Artifacts(), Logs: c.Logs(),
		Cache: c, IdleWait: c.MaxWait(), ScratchDir: t.TempDir()})
	w.pool.Start(ctx)
	go func() { // keep the worker alive between calls, as cairn worker does
		defer close(w.done)
		tick := time.NewTicker(c.LeaseTTL() / 6)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			if time.Since(c.LastCall()) >= c.LeaseTTL()/3 {
				c.Beat(ctx)
			}
		}
	}()
	return w
}

func (w *remoteWorker) stop() {
	w.net.SetDown(false)
	w.pool.StopAndCancel()
	w.cancel()
	<-w.done
}

// TestRemoteAmbiguous runs probe workflows on two in-process servers that
// run no task themselves (FaultStores over one database, as in
// TestAmbiguousCommits) and three workers leasing through the worker API
// over loopback HTTP, whose calls are lost before they are sent (3%) or
// answered with an error after the server handled them (3%: a lease
// granted, a completion recorded, and the worker hears a reset); at random
// moments a worker is cut off from the network for longer than the lease
// TTL, so that its tasks run again elsewhere and its late reports must be
// refused, or a server from its database. Nothing may be lost or accepted
// twice, and every run must succeed.
func TestRemoteAmbiguous(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			remoteAmbiguous(t, kind)
		})
	}
}

func remoteAmbiguous(t *testing.T, kind string) {
	s, rng := seed(t)
	ctx := context.Background()
	open, terminate := database(t, kind)
	raw := open()
	tokens := raw.(tokenStore)
	tok, text, hash, err := auth.New(auth.Worker, "chaos", time.Now(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := tokens.CreateToken(ctx, tok, hash, "chaos"); err != nil {
		t.Fatal(err)
	}
	ledger := filepath.Join(t.TempDir(), "ledger.jsonl")
	ids := createRuns(t, raw, probeWorkflow("probe", pick(160, 250), 8, 250, 20), ledger, pick(1, 4))
	const ttl = 2 * time.Second
	faults := chaos.Faults{Before: 0.03, After: 0.03, Reads: 0.02, Delay: 300 * time.Millisecond}
	var nodes []*apiNode
	for i := range 2 {
		f := faults
		f.Seed = s + uint64(i)
		nodes = append(nodes, startAPINode(t, fmt.Sprintf("server%d", i), open(), tokens, f, ttl))
	}
	var workers []*remoteWorker
	for i := range 3 {
		workers = append(workers, startRemoteWorker(t, fmt.Sprintf("worker%d", i), nodes[i%2].http.URL, text, s+10+uint64(i)))
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			for _, w := range workers {
				w.stop()
			}
			for _, n := range nodes {
				n.stop()
			}
		})
	}
	t.Cleanup(stop)

	cuts, drops := 0, 0
	deadline := time.Now().Add(pick(2*time.Minute, 10*time.Minute))
	for !allTerminal(t, raw, ids) {
		if time.Now().After(deadline) {
			t.Errorf("runs not finished after the deadline; %d cuts, %d connection drops", cuts, drops)
			break
		}
		time.Sleep(time.Duration(300+rng.IntN(900)) * time.Millisecond)
		switch x := rng.Float64(); {
		case terminate != nil && cuts > 0 && x < 0.3: // a cut first, whatever the draws
			terminate()
			drops++
		case cuts < pick(3, 20) && x < 0.7:
			w := workers[rng.IntN(len(workers))]
			w.net.SetDown(true)
			time.Sleep(ttl + time.Duration(rng.Int64N(int64(2*time.Second))))
			w.net.SetDown(false)
			cuts++
		case cuts < pick(3, 20):
			n := nodes[rng.IntN(len(nodes))]
			n.faults.SetDown(true)
			time.Sleep(nodeClaimTTL + time.Duration(rng.Int64N(int64(time.Second))))
			n.faults.SetDown(false)
			cuts++
		}
	}
	stop()
	var lost, dropped, ambiguous int64
	for _, w := range workers {
		lost, dropped = lost+w.net.Lost(), dropped+w.net.Dropped()
	}
	for _, n := range nodes {
		ambiguous += n.faults.Stats().After
	}
	t.Logf("%d cuts, %d connection drops; worker calls lost %d, answers lost after the server handled them %d; ambiguous commits %d",
		cuts, drops, lost, dropped, ambiguous)
	if dropped == 0 || cuts == 0 {
		t.Errorf("no answer lost or no cut: the scenario tested nothing")
	}
	report(t, raw, "remote workers, ambiguous calls and commits on "+kind, ids, ledger, true)
}
