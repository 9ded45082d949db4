package chaos_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/artifacts"
	"github.com/cairnml/cairn/chaos"
	"github.com/cairnml/cairn/executor"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/store/postgres"
	"github.com/cairnml/cairn/store/sqlite"
	"github.com/cairnml/cairn/tasks"
	"github.com/cairnml/cairn/workflows"
)

// node is one in-process scheduler: a store of its own on the shared
// database, behind a FaultStore, with its broker, service (Adopt) and
// worker pool — what a cairn server is, without the HTTP.
type node struct {
	name   string
	faults *chaos.FaultStore
	svc    *scheduler.Service
	pool   *executor.Pool
}

const (
	nodeLeaseTTL = 2 * time.Second
	nodeClaimTTL = 2 * time.Second
)

func startNode(t *testing.T, name string, st scheduler.Store, f chaos.Faults, home string) *node {
	t.Helper()
	ctx := context.Background()
	reg, err := tasks.NewRegistry(chaos.Probe{Worker: name})
	if err != nil {
		t.Fatal(err)
	}
	arts, err := artifacts.Open(filepath.Join(home, "artifacts"))
	if err != nil {
		t.Fatal(err)
	}
	logs, err := artifacts.OpenLogs(filepath.Join(home, "logs"))
	if err != nil {
		t.Fatal(err)
	}
	n := &node{name: name, faults: chaos.NewFaultStore(st, f)}
	broker := scheduler.NewBroker(n.faults, scheduler.BrokerOptions{Name: name, LeaseTTL: nodeLeaseTTL})
	n.svc = scheduler.NewService(n.faults, broker, scheduler.ServiceOptions{
		Owner: name, Adopt: true, OwnerTTL: nodeClaimTTL, PollInterval: 50 * time.Millisecond,
		Load: func(ctx context.Context, run *cairn.Run) (scheduler.Graph, error) {
			wf, err := workflows.Parse(run.SourcePath, run.Source, workflows.Options{Types: reg})
			if err != nil {
				return nil, fmt.Errorf("%w: %v", scheduler.ErrCannotPlan, err)
			}
			return wf, nil
		},
	})
	n.pool = executor.New(broker, executor.Options{Worker: name, Owner: name, Slots: 4, Types: reg,
		Artifacts: arts, Logs: logs, ScratchDir: t.TempDir(), IdleWait: 200 * time.Millisecond})
	n.svc.Start(ctx)
	n.pool.Start(ctx)
	return n
}

func (n *node) stop() {
	n.faults.SetDown(false)
	n.pool.StopAndCancel()
	n.svc.Stop(context.Background())
}

// createRuns stores runs of the probe workflow src, queued for the nodes.
func createRuns(t *testing.T, st scheduler.Store, src []byte, ledger string, count int) []string {
	t.Helper()
	reg, err := tasks.NewRegistry(chaos.Probe{})
	if err != nil {
		t.Fatal(err)
	}
	wf, err := workflows.Parse("probe.yaml", src, workflows.Options{Types: reg})
	if err != nil {
		t.Fatal(err)
	}
	bound, err := wf.BindParams(map[string]string{"ledger": ledger})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for range count {
		run, trs := wf.NewRun(bound, time.Now())
		run.Trigger = cairn.TriggerAPI
		if err := st.CreateRun(context.Background(), run, trs); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, run.ID)
	}
	return ids
}

// database makes a database of kind ("sqlite" or "postgres") for the
// test and returns how to open a store of its own on it, closed at the
// test's end, and on PostgreSQL how to drop every connection to it (nil
// on SQLite).
func database(t *testing.T, kind string) (open func() scheduler.Store, terminate func() int) {
	t.Helper()
	ctx := context.Background()
	switch kind {
	case "sqlite":
		path := filepath.Join(t.TempDir(), "cairn.db")
		open = func() scheduler.Store {
			st, err := sqlite.Open(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		}
	case "postgres":
		dsn, name := newDatabase(t)
		open = func() scheduler.Store {
			st, err := postgres.Open(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		}
		terminate = func() int { return terminateBackends(t, name) }
	default:
		t.Fatalf("database kind %q: want sqlite or postgres", kind)
	}
	return open, terminate
}

// allTerminal reports whether every run has ended. A read that fails is
// tried again (a connection the harness dropped fails its next
// statement once; see docs/reliability.md).
func allTerminal(t *testing.T, st scheduler.Store, ids []string) bool {
	t.Helper()
	for _, id := range ids {
		var r *cairn.Run
		var err error
		for try := 0; try < 5; try++ {
			if r, err = st.GetRun(context.Background(), id); err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			t.Fatal(err)
		}
		if !r.State.Terminal() {
			return false
		}
	}
	return true
}

// TestAmbiguousCommits runs probe workflows on two in-process schedulers
// sharing one database (SQLite, then PostgreSQL), each behind a
// FaultStore that fails writes before they happen, reports committed
// writes as failed (timeouts and resets after the commit) and fails
// reads; at random moments one node is cut off from the database for
// longer than its claims and leases last (its runs and tasks go to the
// other, and when it comes back its late completions must be refused),
// and on PostgreSQL every connection of the database is dropped
// (pg_terminate_backend). Nothing may be lost or accepted twice, and
// every run must end succeeded.
func TestAmbiguousCommits(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			ambiguousCommits(t, kind)
		})
	}
}

func ambiguousCommits(t *testing.T, kind string) {
	s, rng := seed(t)
	ctx := context.Background()
	runs, tasksPerRun := pick(1, 4), pick(40, 250)
	open, terminate := database(t, kind)
	raw := open()
	ledger := filepath.Join(t.TempDir(), "ledger.jsonl")
	ids := createRuns(t, raw, probeWorkflow("probe", tasksPerRun, 8, 250, 20), ledger, runs)
	faults := chaos.Faults{Before: 0.05, After: 0.05, Reads: 0.02, Delay: 300 * time.Millisecond}
	var nodes []*node
	for i := range 2 {
		f := faults
		f.Seed = s + uint64(i)
		nodes = append(nodes, startNode(t, fmt.Sprintf("node%d", i), open(), f, t.TempDir()))
		// At least one ambiguous commit a node, whatever the draws.
		nodes[i].faults.AmbiguousNext(1)
	}
	var stopOnce sync.Once
	stop := func() {
		stopOnce.Do(func() {
			for _, n := range nodes {
				n.stop()
			}
		})
	}
	t.Cleanup(stop)

	partitions, drops, dropped := 0, 0, 0
	deadline := time.Now().Add(pick(90*time.Second, 10*time.Minute))
	for !allTerminal(t, raw, ids) {
		if time.Now().After(deadline) {
			t.Errorf("runs not finished after the deadline; partitions %d, connection drops %d", partitions, drops)
			for _, id := range ids {
				if r, err := raw.GetRun(ctx, id); err == nil {
					t.Logf("run %s: %s, claimed by %q until %s", id, r.State, r.Owner, r.OwnerExpiresAt.Format("15:04:05.000"))
				}
			}
			for _, n := range nodes {
				t.Logf("%s plans %v", n.name, n.svc.Runs())
			}
			break
		}
		time.Sleep(time.Duration(200+rng.IntN(800)) * time.Millisecond)
		switch {
		case terminate != nil && partitions > 0 && rng.IntN(2) == 0: // a partition first, whatever the draws
			n := terminate()
			drops++
			dropped += n
		case partitions < pick(2, 20):
			// Cut one node off for longer than its claims and leases.
			n := nodes[rng.IntN(len(nodes))]
			n.faults.SetDown(true)
			time.Sleep(nodeClaimTTL + time.Duration(rng.Int64N(int64(2*time.Second))))
			n.faults.SetDown(false)
			partitions++
		}
	}
	stop()
	for _, n := range nodes {
		st := n.faults.Stats()
		t.Logf("%s: %d calls, %d failed before, %d ambiguous commits, %d failed reads, %d refused in partition",
			n.name, st.Calls, st.Before, st.After, st.Reads, st.Down)
	}
	t.Logf("%d partitions, %d connection drops (%d connections)", partitions, drops, dropped)
	var ambiguous int64
	for _, n := range nodes {
		ambiguous += n.faults.Stats().After
	}
	if ambiguous == 0 || partitions == 0 {
		t.Errorf("%d ambiguous commits and %d partitions: the scenario tested nothing", ambiguous, partitions)
	}
	report(t, raw, "ambiguous commits on "+kind, ids, ledger, true)
}

// report checks the runs against the ledger, prints the report and fails
// the test on any violation; with succeed, a run not succeeded fails it
// too.
func report(t *testing.T, st chaos.Source, scenario string, ids []string, ledger string, succeed bool) chaos.Report {
	t.Helper()
	recs, err := chaos.ReadLedger(ledger)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := chaos.Check(context.Background(), st, scenario, ids, recs)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(rep.String())
	for _, p := range rep.Problems {
		t.Error(p)
	}
	if succeed {
		for _, id := range ids {
			if r, err := st.GetRun(context.Background(), id); err != nil || r.State != cairn.RunSucceeded {
				t.Errorf("run %s: %v %v, want succeeded", id, r.State, err)
			}
		}
	}
	return rep
}
