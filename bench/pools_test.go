package bench

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/store/postgres"
	"github.com/cairnml/cairn/store/sqlite"
)

// Pools at lease time (issue #23): the same ready tasks leased, started
// and completed by poolWorkers concurrent workers (each asking for one
// task at a time, as a pool does after each completion) with no pool,
// and with all of them in one pool of 1 and of 8 slots, which the
// workers contend for. The workers go through the broker as the
// in-process pool does: a lease of one task started at once, which waits
// (up to 200 ms) for a wake-up when nothing may be leased, and a
// completion that leases the next task in its transaction. A lease of a pooled task counts the pool's
// holders in its own transaction (PostgreSQL: the pool's row locked FOR
// UPDATE), so the figures to compare are the statements and commits per
// task beside the no-pool case, and the empty waits — a worker's lease
// that found nothing within its wait, the pool full — per task. tasks/s is wall time: the
// lead measures it on a quiet machine.
const (
	poolTasks   = 1000 // ready tasks, in poolRuns runs
	poolRuns    = 10
	poolWorkers = 8
)

// statsOf returns a store's write counts so far (statements, commits).
type statsOf func() (int64, int64)

func BenchmarkLeasePoolSQLite(b *testing.B) {
	for _, size := range []int{0, 1, 8} {
		b.Run(poolName(size), func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				st, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "cairn.db"))
				if err != nil {
					b.Fatal(err)
				}
				benchLeasePool(b, st, func() (int64, int64) { w := st.WriteStats(); return w.Statements, w.Transactions }, size)
				st.Close()
				b.StartTimer()
			}
		})
	}
}

func BenchmarkLeasePoolPostgres(b *testing.B) {
	for _, size := range []int{0, 1, 8} {
		b.Run(poolName(size), func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				st, err := postgres.Open(context.Background(), pgDatabase(b))
				if err != nil {
					b.Fatal(err)
				}
				benchLeasePool(b, st, func() (int64, int64) { w := st.WriteStats(); return w.Statements, w.Transactions }, size)
				st.Close()
				b.StartTimer()
			}
		})
	}
}

func poolName(size int) string {
	if size == 0 {
		return "pool=none"
	}
	return fmt.Sprintf("pool=%d", size)
}

// benchLeasePool creates the ready tasks (timer stopped), then times
// poolWorkers workers leasing, starting and completing every one of them,
// and reports the counts per task. It checks that a pool never had more
// holders than its size.
func benchLeasePool(b *testing.B, st scheduler.Store, stats statsOf, size int) {
	ctx := context.Background()
	now := time.Now()
	for r := range poolRuns {
		run := &cairn.Run{ID: cairn.NewRunID(now.Add(time.Duration(r) * time.Millisecond)), Workflow: "pooled", Digest: "sha256:00",
			Source: []byte("name: pooled\n"), State: cairn.RunRunning, CreatedAt: now, StartedAt: now}
		if size > 0 {
			run.Pools = map[string]int{"gpu": size}
		}
		trs := make([]*cairn.TaskRun, poolTasks/poolRuns)
		for i := range trs {
			trs[i] = &cairn.TaskRun{RunID: run.ID, TaskID: fmt.Sprintf("t%04d", i), Type: "noop", State: cairn.TaskReady,
				Retry: cairn.RetryPolicy{Factor: 1}, Params: []byte(`{}`)}
			if size > 0 {
				trs[i].Pool, trs[i].PoolSlots = "gpu", 1
			}
		}
		if err := st.CreateRun(ctx, run, trs); err != nil {
			b.Fatal(err)
		}
	}
	br := scheduler.NewBroker(st, scheduler.BrokerOptions{LeaseTTL: time.Minute})
	stmts0, commits0 := stats()
	var (
		done, empty, holders, peak atomic.Int64
		wg                         sync.WaitGroup
		errs                       = make(chan error, poolWorkers)
	)
	hold := func(items []cairn.WorkItem) {
		if len(items) == 0 {
			return
		}
		h := holders.Add(1)
		for p := peak.Load(); h > p && !peak.CompareAndSwap(p, h); p = peak.Load() {
		}
	}
	start := time.Now()
	b.StartTimer()
	for w := range poolWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// As the in-process pool asks: one task, started as it is
			// leased, the next one leased by the completion's transaction.
			req := cairn.LeaseRequest{Worker: fmt.Sprintf("w%d", w), Max: 1, Start: true, AnyTask: true, Wait: 200 * time.Millisecond}
			var items []cairn.WorkItem
			for {
				if len(items) == 0 {
					if done.Load() >= poolTasks {
						return
					}
					var err error
					if items, err = br.Lease(ctx, req); err != nil {
						errs <- err
						return
					}
					if len(items) == 0 {
						empty.Add(1)
						continue
					}
					hold(items)
				}
				l := items[0].Lease
				holders.Add(-1) // before the completion commits: never counted once the slot is free
				next := req
				next.Wait = 0
				var err error
				if items, err = br.CompleteAndLease(ctx, l, cairn.Completion{FinishedAt: time.Now()}, next); err != nil {
					errs <- err
					return
				}
				done.Add(1)
				hold(items)
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	took := time.Since(start)
	close(errs)
	if err := errors.Join(func() (out []error) {
		for e := range errs {
			out = append(out, e)
		}
		return
	}()...); err != nil {
		b.Fatal(err)
	}
	if n := done.Load(); n != poolTasks {
		b.Fatalf("%d tasks done, want %d", n, poolTasks)
	}
	if size > 0 && peak.Load() > int64(size) {
		b.Fatalf("a pool of %d had %d holders at once", size, peak.Load())
	}
	stmts, commits := stats()
	b.ReportMetric(float64(stmts-stmts0)/poolTasks, "stmts/task")
	b.ReportMetric(float64(commits-commits0)/poolTasks, "commits/task")
	b.ReportMetric(float64(empty.Load())/poolTasks, "empty-waits/task")
	b.ReportMetric(float64(peak.Load()), "peak-holders")
	b.ReportMetric(poolTasks/took.Seconds(), "tasks/s")
}
