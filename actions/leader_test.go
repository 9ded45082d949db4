package actions_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/actions"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/store/postgres"
	"github.com/cairnml/cairn/store/postgres/pgtest"
	"github.com/cairnml/cairn/store/sqlite"
	"github.com/cairnml/cairn/workflows/catalog"
)

// fakeClock is the cron's clock in TestCronReplicas: it runs many times
// faster than the real one, so that many every-second slots come due in a
// short test. The services' own clocks (their terms, claims) are real.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *fakeClock) add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// cronReplica is one server on the shared database as far as cron goes:
// its store, catalog, actions and scheduler service (which fires only
// while it leads).
type cronReplica struct {
	name  string
	st    scheduler.Store
	close func() error
	once  sync.Once
	svc   *scheduler.Service
}

func (r *cronReplica) kill() { r.once.Do(func() { r.close() }) }

// TestCronReplicas: three servers on one database fire an every-second
// schedule (catch-up all) under a clock running 100 times faster than
// real time; the leader is killed (its store closed, its term not
// released) part-way, and another takes over. Every slot from the first
// to the last has exactly one run and one audit entry: none fired twice,
// none missed. CAIRN_CRON_SLOTS sets the number of slots (default 300;
// the figure is 1,000).
func TestCronReplicas(t *testing.T) {
	slots := 300
	if s := os.Getenv("CAIRN_CRON_SLOTS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 10 {
			t.Fatalf("CAIRN_CRON_SLOTS=%q: want a number of slots, at least 10", s)
		}
		slots = n
	}
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) { testCronReplicas(t, kind, slots) })
	}
}

func testCronReplicas(t *testing.T, kind string, slots int) {
	ctx := context.Background()
	h := newCronHome(t, map[string]string{"often.yaml": "name: often\nschedule: {cron: \"* * * * * *\", catchup: all}\ntasks:\n  - {id: a, type: noop}\n"})
	var open func() (scheduler.Store, func() error)
	switch kind {
	case "sqlite":
		open = func() (scheduler.Store, func() error) {
			st, err := sqlite.Open(ctx, h.db)
			if err != nil {
				t.Fatal(err)
			}
			return st, st.Close
		}
	case "postgres":
		dsn := pgtest.NewDatabase(t)
		open = func() (scheduler.Store, func() error) {
			st, err := postgres.Open(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			return st, st.Close
		}
	}
	start := utc(10, 0, 0)
	clk := &fakeClock{now: start}
	var (
		mu      sync.Mutex
		refused int // fenced firings refused
	)
	newReplica := func(name string) *cronReplica {
		st, closeFn := open()
		r := &cronReplica{name: name, st: st, close: closeFn}
		t.Cleanup(r.kill)
		cat, err := catalog.New(h.dir, catalog.Options{Types: h.reg})
		if err != nil {
			t.Fatal(err)
		}
		var acts *actions.Actions
		broker := scheduler.NewBroker(st, scheduler.BrokerOptions{Name: name})
		r.svc = scheduler.NewService(st, broker, scheduler.ServiceOptions{
			Owner: name, Adopt: true, LeaderTTL: time.Second, FireInterval: 5 * time.Millisecond,
			// One run held (its task never leased: no pool) keeps the
			// others queued: the test looks at firing, not running.
			MaxActiveRuns: 1,
			Load: func(ctx context.Context, run *cairn.Run) (scheduler.Graph, error) {
				return cat.Entries()[0].Workflow, nil
			},
			Fire: func(ctx context.Context, now time.Time, f scheduler.Fence) (time.Time, error) {
				_, err := acts.Fire(ctx, clk.Now(), &f)
				if errors.Is(err, cairn.ErrNotLeader) {
					mu.Lock()
					refused++
					mu.Unlock()
				}
				return time.Time{}, err
			},
		})
		acts, err = actions.New(actions.Options{Store: st, Service: r.svc, Workflows: cat, Types: h.reg, Now: clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		r.svc.Start(ctx)
		t.Cleanup(func() { r.svc.Stop(ctx) })
		return r
	}
	var rs []*cronReplica
	for i := range 3 {
		rs = append(rs, newReplica(fmt.Sprintf("replica-%d", i)))
	}
	leader := func(among []*cronReplica) *cronReplica {
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			for _, r := range among {
				if _, ok := r.svc.Leader(); ok {
					return r
				}
			}
			time.Sleep(5 * time.Millisecond)
		}
		t.Fatal("no leader after 20 s")
		return nil
	}
	first := leader(rs)
	// The schedule is registered at the clock's start by the first firing.
	waitPosition(t, first.st, start, 20*time.Second)
	// A slot every 10 ms of real time; the leader killed half-way.
	for i := 1; i <= slots; i++ {
		time.Sleep(10 * time.Millisecond)
		clk.add(time.Second)
		if i == slots/2 {
			first.kill()
			go first.svc.Stop(ctx)
		}
	}
	rest := make([]*cronReplica, 0, 2)
	for _, r := range rs {
		if r != first {
			rest = append(rest, r)
		}
	}
	second := leader(rest)
	end := start.Add(time.Duration(slots) * time.Second)
	waitPosition(t, second.st, end, 60*time.Second)

	runs, err := second.st.ListRuns(ctx, scheduler.RunFilter{Workflow: "often", Limit: slots + 100})
	if err != nil {
		t.Fatal(err)
	}
	per := map[time.Time]int{}
	for _, r := range runs {
		if r.Trigger != cairn.TriggerCron {
			t.Errorf("run %s triggered by %s", r.ID, r.Trigger)
		}
		per[r.ScheduledFor.UTC()]++
	}
	audits := map[string]int{}
	for before := int64(0); ; {
		page, err := second.st.ListAudit(ctx, scheduler.AuditFilter{Before: before, Limit: 500})
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range page {
			if a.Action == scheduler.AuditTrigger && a.Actor == actions.CronActor {
				audits[a.RunID]++
			}
		}
		if len(page) < 500 {
			break
		}
		before = page[len(page)-1].ID
	}
	twice, missed := 0, 0
	for i := 1; i <= slots; i++ {
		slot := start.Add(time.Duration(i) * time.Second)
		switch n := per[slot]; {
		case n == 0:
			missed++
		case n > 1:
			twice++
		}
	}
	for _, r := range runs {
		if audits[r.ID] != 1 {
			t.Errorf("run %s has %d cron audit entries", r.ID, audits[r.ID])
		}
	}
	mu.Lock()
	nRefused := refused
	mu.Unlock()
	t.Logf("%s: %d slots, %d runs, %d fired twice, %d missed; the leader killed at slot %d, %s led next; %d fenced firings refused",
		kind, slots, len(runs), twice, missed, slots/2, second.name, nRefused)
	if twice != 0 || missed != 0 || len(runs) != slots {
		t.Errorf("%d runs for %d slots: %d fired twice, %d missed", len(runs), slots, twice, missed)
	}
}

// waitPosition waits until the schedule of "often" stands at pos.
func waitPosition(t *testing.T, st scheduler.Store, pos time.Time, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		list, err := st.Schedules(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(list) == 1 && !list[0].Position.Before(pos) {
			if list[0].Position.After(pos) {
				t.Fatalf("the schedule stands at %v, past %v", list[0].Position, pos)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the schedule stands at %+v after %s, want %v", list, limit, pos)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
