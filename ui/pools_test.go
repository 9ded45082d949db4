package ui

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/ui/core"
	"github.com/cairnml/cairn/ui/runjson"
)

// poolsFixture is a fixture whose server lists the store's pools: gpu of
// size 1, held by task train of run held (leased), with task train of
// run waits (priority 3) waiting for it; and warehouse of 4, unused.
func poolsFixture(t *testing.T) (f *fixture, held, waits *cairn.Run) {
	t.Helper()
	f = newFixture(t, func(o *Options) { o.Pools = o.Store.(core.PoolLister) })
	ctx := context.Background()
	now := time.Now()
	if err := f.st.SetPools(ctx, map[string]int{"gpu": 1, "warehouse": 4}, now); err != nil {
		t.Fatal(err)
	}
	mk := func(at time.Time, prio int) *cairn.Run {
		run := &cairn.Run{ID: cairn.NewRunID(at), Workflow: "pooled", Digest: "sha256:00", Source: []byte("name: pooled\n"),
			State: cairn.RunRunning, CreatedAt: at, StartedAt: at}
		trs := []*cairn.TaskRun{{TaskID: "train", Type: "noop", State: cairn.TaskReady, Pool: "gpu", PoolSlots: 1, Priority: prio, Params: []byte(`{}`)}}
		if err := f.st.CreateRun(ctx, run, trs); err != nil {
			t.Fatal(err)
		}
		return run
	}
	held = mk(now.Add(-time.Second), 0)
	// A live process drives the holder's run (a run no process claims is
	// orphaned, and a reason would say so).
	if _, err := f.st.ClaimRun(ctx, held.ID, "elsewhere:1:live", now, time.Hour, false); err != nil {
		t.Fatal(err)
	}
	items, err := f.st.Lease(ctx, cairn.LeaseRequest{Worker: "w", Max: 5, AnyTask: true}, now, time.Minute)
	if err != nil || len(items) != 1 || items[0].Lease.RunID != held.ID {
		t.Fatalf("Lease = %+v, %v; want train of the first run", items, err)
	}
	waits = mk(now, 3)
	return f, held, waits
}

// GET /api/v1/pools lists each pool's size, slots in use, holders, and
// the tasks waiting for it; the waiting task's run says why it waits;
// a server given no pool lister answers 501.
func TestPoolsAPI(t *testing.T) {
	f, held, waits := poolsFixture(t)
	var list runjson.PoolList
	getJSON(t, f.srv.URL+core.APIPrefix+"/pools", http.StatusOK, &list)
	if len(list.Pools) != 2 {
		t.Fatalf("pools = %+v, want gpu and warehouse", list.Pools)
	}
	gpu, wh := list.Pools[0], list.Pools[1]
	if gpu.Name != "gpu" || gpu.Size != 1 || gpu.Used != 1 || gpu.Source != cairn.PoolServer || gpu.Waiting != 1 ||
		len(gpu.Holders) != 1 || gpu.Holders[0] != (runjson.PoolHolder{RunID: held.ID, TaskID: "train", Slots: 1}) ||
		len(gpu.Queue) != 1 || gpu.Queue[0].RunID != waits.ID || gpu.Queue[0].Priority != 3 || gpu.Queue[0].ReadyAt == nil {
		t.Errorf("gpu = %+v", gpu)
	}
	if wh.Name != "warehouse" || wh.Size != 4 || wh.Used != 0 || wh.Waiting != 0 || wh.Holders == nil || wh.Queue == nil {
		t.Errorf("warehouse = %+v (holders and queue [] when empty)", wh)
	}
	getJSON(t, f.srv.URL+core.APIPrefix+"/pools?limit=1", http.StatusBadRequest, nil)

	var r runjson.Run
	getJSON(t, f.srv.URL+core.APIPrefix+"/runs/"+waits.ID, http.StatusOK, &r)
	if want := "waiting for pool gpu: 1 of 1 in use by " + held.ID + "/train"; len(r.Tasks) != 1 || r.Tasks[0].Waiting != want {
		t.Errorf("the waiting run's task = %+v, want waiting %q", r.Tasks, want)
	}

	bare := newFixture(t)
	getJSON(t, bare.srv.URL+core.APIPrefix+"/pools", http.StatusNotImplemented, nil)
	if _, body := bare.get(t, "/runs"); strings.Contains(body, "nav-pools") {
		t.Error("a server that lists no pools links to the pools page")
	}
}

// The Pools page, reached from the nav, shows each pool's size, its
// holders linked to their tasks, and its queue; the waiting run's page
// says which pool it waits for and who holds it.
func TestBrowserPools(t *testing.T) {
	if testing.Short() {
		t.Skip("browser tests are not short")
	}
	b := newBrowser(t)
	f, held, waits := poolsFixture(t)
	b.do(t, "open the runs page", chromedp.Navigate(f.srv.URL+"/runs"), chromedp.WaitVisible(chromedp.CSS("#nav-pools")))
	b.do(t, "follow the nav to Pools", chromedp.Click(chromedp.CSS("#nav-pools")), chromedp.WaitVisible(chromedp.CSS("table.pools")))
	b.shot(t, "pools")
	if n := eval[int](t, b, `document.querySelectorAll("table.pools tbody tr").length`); n != 2 {
		t.Errorf("the pools page shows %d pools, want 2", n)
	}
	for sel, want := range map[string]string{
		`tr[data-pool="gpu"] .pool-size`:          "1",
		`tr[data-pool="gpu"] .pool-used`:          "1",
		`tr[data-pool="gpu"] .pool-waiting`:       "1",
		`tr[data-pool="gpu"] .pool-holders a`:     held.ID + "/train",
		`tr[data-pool="gpu"] .pool-queue a`:       waits.ID + "/train",
		`tr[data-pool="warehouse"] .pool-holders`: "-",
	} {
		if got := eval[string](t, b, `document.querySelector('`+sel+`').textContent`); strings.TrimSpace(got) != want {
			t.Errorf("%s: %q, want %q", sel, got, want)
		}
	}
	if got := eval[string](t, b, `document.querySelector('tr[data-pool="gpu"] .pool-queue div').textContent`); !strings.HasSuffix(got, "priority 3") {
		t.Errorf("the queue's task: %q, want its priority", got)
	}
	b.do(t, "follow the holder to its task", chromedp.Click(chromedp.CSS(`tr[data-pool="gpu"] .pool-holders a`)), chromedp.WaitVisible(chromedp.CSS("h1")))
	if got := eval[string](t, b, `location.pathname`); got != "/runs/"+held.ID+"/tasks/train" {
		t.Errorf("the holder's link leads to %s", got)
	}
	b.do(t, "open the waiting run", chromedp.Navigate(f.srv.URL+"/runs/"+waits.ID), chromedp.WaitVisible(chromedp.CSS("table.tasks")))
	b.shot(t, "run-pool-waiting")
	if got, want := eval[string](t, b, `document.querySelector('tr[data-task="train"] .waiting').textContent`), "waiting for pool gpu: 1 of 1 in use by "+held.ID+"/train"; got != want {
		t.Errorf("the run page says of train: %q, want %q", got, want)
	}
	if bad := b.blocked(); len(bad) > 0 {
		t.Errorf("the pages' console reports refusals or errors:\n%s", strings.Join(bad, "\n"))
	}
}
