package scheduler_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/store/postgres"
	"github.com/cairnml/cairn/store/postgres/pgtest"
	"github.com/cairnml/cairn/store/sqlite"
)

// countingStore counts the store calls a service makes when it has
// nothing to do: reads and writes alike.
type countingStore struct {
	scheduler.Store
	mu sync.Mutex
	n  map[string]int
}

func (c *countingStore) count(name string) {
	c.mu.Lock()
	c.n[name]++
	c.mu.Unlock()
}

func (c *countingStore) Evaluations(ctx context.Context, after int64, limit int) ([]scheduler.Evaluation, error) {
	c.count("Evaluations")
	return c.Store.Evaluations(ctx, after, limit)
}

func (c *countingStore) LastEvaluation(ctx context.Context) (int64, error) {
	c.count("LastEvaluation")
	return c.Store.LastEvaluation(ctx)
}

func (c *countingStore) ExpiredLeases(ctx context.Context, runID string, now time.Time, limit int) ([]cairn.Lease, error) {
	c.count("ExpiredLeases")
	return c.Store.ExpiredLeases(ctx, runID, now, limit)
}

func (c *countingStore) RenewClaims(ctx context.Context, owner string, now time.Time, ttl time.Duration) ([]string, error) {
	c.count("RenewClaims")
	return c.Store.RenewClaims(ctx, owner, now, ttl)
}

func (c *countingStore) Unowned(ctx context.Context, now time.Time, limit int) ([]scheduler.RunClaim, error) {
	c.count("Unowned")
	return c.Store.Unowned(ctx, now, limit)
}

func (c *countingStore) Owned(ctx context.Context, except string, limit int) ([]scheduler.RunClaim, error) {
	c.count("Owned")
	return c.Store.Owned(ctx, except, limit)
}

func (c *countingStore) ActiveRuns(ctx context.Context, now time.Time) (map[string]int, error) {
	c.count("ActiveRuns")
	return c.Store.ActiveRuns(ctx, now)
}

func (c *countingStore) AcquireLeader(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (scheduler.Leadership, error) {
	c.count("AcquireLeader")
	return c.Store.AcquireLeader(ctx, name, holder, now, ttl)
}

func (c *countingStore) RenewLeader(ctx context.Context, f scheduler.Fence, now time.Time, ttl time.Duration) (scheduler.Leadership, error) {
	c.count("RenewLeader")
	return c.Store.RenewLeader(ctx, f, now, ttl)
}

func (c *countingStore) Leader(ctx context.Context, name string, now time.Time) (scheduler.Leadership, error) {
	c.count("Leader")
	return c.Store.Leader(ctx, name, now)
}

func (c *countingStore) Batch(ctx context.Context, fn func(tx scheduler.Tx) error) error {
	c.count("Batch")
	return c.Store.Batch(ctx, fn)
}

// BenchmarkServiceIdle: what three servers on one database ask of it when
// there is nothing to do — the leader and two others, cairn server's
// defaults (the leader reaping every 500 ms, its term renewed every
// 3.3 s, the others looking at the lease every 2 s, every one polling
// evaluations every 200 ms and renewing its claims every 2 s) — counted
// per store call, reads and writes alike, over CAIRN_BENCH_WINDOW (10 s).
// SQLite, and PostgreSQL when CAIRN_TEST_POSTGRES is set.
func BenchmarkServiceIdle(b *testing.B) {
	window := 10 * time.Second
	if s := os.Getenv("CAIRN_BENCH_WINDOW"); s != "" {
		if d, err := time.ParseDuration(s); err == nil {
			window = d
		}
	}
	for _, kind := range []string{"sqlite", "postgres"} {
		b.Run(kind, func(b *testing.B) {
			ctx := context.Background()
			var open func() scheduler.Store
			switch kind {
			case "sqlite":
				path := filepath.Join(b.TempDir(), "cairn.db")
				open = func() scheduler.Store {
					st, err := sqlite.Open(ctx, path)
					if err != nil {
						b.Fatal(err)
					}
					b.Cleanup(func() { st.Close() })
					return st
				}
			case "postgres":
				if os.Getenv(pgtest.Env) == "" {
					b.Skip(pgtest.Env + " is not set")
				}
				dsn := pgtest.NewDatabase(b)
				open = func() scheduler.Store {
					st, err := postgres.Open(ctx, dsn)
					if err != nil {
						b.Fatal(err)
					}
					b.Cleanup(func() { st.Close() })
					return st
				}
			}
			for b.Loop() {
				var stores []*countingStore
				var svcs []*scheduler.Service
				for i := range 3 {
					cs := &countingStore{Store: open(), n: map[string]int{}}
					name := "idle-" + string(rune('a'+i))
					svc := scheduler.NewService(cs, scheduler.NewBroker(cs, scheduler.BrokerOptions{Name: name}),
						scheduler.ServiceOptions{Owner: name, Adopt: true})
					svc.Start(ctx)
					stores, svcs = append(stores, cs), append(svcs, svc)
				}
				time.Sleep(2 * time.Second) // a leader chosen
				for _, cs := range stores {
					cs.mu.Lock()
					clear(cs.n)
					cs.mu.Unlock()
				}
				time.Sleep(window)
				leader := -1
				for i, svc := range svcs {
					if _, ok := svc.Leader(); ok {
						leader = i
					}
				}
				for _, svc := range svcs {
					svc.Stop(ctx)
				}
				if leader < 0 {
					b.Fatal("no leader")
				}
				total := 0
				for i, cs := range stores {
					cs.mu.Lock()
					n, calls := 0, []string{}
					for name, k := range cs.n {
						n += k
						calls = append(calls, fmt.Sprintf("%s %.2f/s", name, float64(k)/window.Seconds()))
					}
					cs.mu.Unlock()
					sort.Strings(calls)
					role := "other"
					if i == leader {
						role = "leader"
						b.ReportMetric(float64(n)/window.Seconds(), "leader-calls/s")
					}
					total += n
					b.Logf("%s %s: %.1f store calls/s (%s)", kind, role, float64(n)/window.Seconds(), strings.Join(calls, ", "))
				}
				b.ReportMetric(float64(total)/window.Seconds(), "calls/s")
			}
		})
	}
}
