package bench

import (
	"context"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/store/postgres"
)

// BenchmarkPostgresFloor20k is the floor under BenchmarkRemoteWorkers20k
// on PostgreSQL (issue #21): the same 20,000 ready noop tasks (20 runs of
// 1,000) claimed and completed by the store alone, from this process —
// no server, no HTTP, no JSON, no plan, no task run — as the completer
// commits them: each transaction the completions of a lane's previous
// items (Tx.CompleteMany) and its next lease (Tx.Lease, started), on
// lanes=1 (one lane of 64, the commits one after the other) and lanes=4
// (4 lanes of 16 at once, as 4 workers of 16 would if their commits
// overlapped). It reports tasks/s, commits per task, and the CPU per
// task of the database's backends and of this process: what the
// database costs per task, whatever sits above it.
func BenchmarkPostgresFloor20k(b *testing.B) {
	for _, lanes := range []int{1, 4} {
		b.Run(fmt.Sprintf("lanes=%d", lanes), func(b *testing.B) {
			for b.Loop() {
				pgFloor(b, lanes, 64/lanes)
			}
		})
	}
}

func pgFloor(b *testing.B, lanes, per int) {
	const runs, tasks = 20, 1000
	ctx := context.Background()
	dsn := pgDatabase(b)
	st, err := postgres.Open(ctx, dsn, postgres.WithMaxConns(int32(lanes+2)))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	now := time.Now()
	for i := 0; i < runs; i++ {
		run := &cairn.Run{ID: cairn.NewRunID(now.Add(time.Duration(i) * time.Millisecond)), Workflow: "fan", Digest: "sha256:00",
			SourcePath: "fan.yaml", Source: []byte("name: fan\n"), State: cairn.RunRunning, CreatedAt: now}
		trs := make([]*cairn.TaskRun, tasks)
		for j := range trs {
			trs[j] = &cairn.TaskRun{RunID: run.ID, TaskID: fmt.Sprintf("t%d", j), Type: "noop", State: cairn.TaskReady,
				Params: []byte(`{}`)}
		}
		if err := st.CreateRun(ctx, run, trs); err != nil {
			b.Fatal(err)
		}
	}
	// Every lane's connection open before the first reading, so that
	// the backends' CPU is compared over the run alone.
	var warm sync.WaitGroup
	for i := 0; i < lanes; i++ {
		warm.Add(1)
		go func() {
			defer warm.Done()
			st.Batch(ctx, func(tx scheduler.Tx) error { _, err := tx.AnyReady(cairn.LeaseRequest{}); return err })
		}()
	}
	warm.Wait()
	before := readPGCounts(b, dsn)
	w0 := st.WriteStats()
	cpu0 := selfCPU()
	start := time.Now()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		done int
		errs []error
	)
	for i := 0; i < lanes; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := cairn.LeaseRequest{Worker: fmt.Sprintf("w%d", i), Max: per, Start: true}
			var held []cairn.WorkItem
			for {
				at := time.Now()
				fs := make([]scheduler.Finish, len(held))
				for k, it := range held {
					fs[k] = scheduler.Finish{Lease: it.Lease, Completion: cairn.Completion{State: cairn.TaskSucceeded, FinishedAt: at}}
				}
				var next []cairn.WorkItem
				err := st.Batch(ctx, func(tx scheduler.Tx) error {
					if len(fs) > 0 {
						_, refused, err := tx.CompleteMany(fs, at)
						if err != nil {
							return err
						}
						for _, e := range refused {
							if e != nil {
								return e
							}
						}
					}
					var err error
					next, err = tx.Lease(req, at, time.Minute)
					return err
				})
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				}
				done += len(held)
				mu.Unlock()
				if err != nil || len(next) == 0 {
					return
				}
				held = next
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	if len(errs) > 0 {
		b.Fatal(errs[0])
	}
	if done != runs*tasks {
		b.Fatalf("%d tasks done, want %d", done, runs*tasks)
	}
	cpu := selfCPU() - cpu0
	time.Sleep(1500 * time.Millisecond) // backends report their counts within a second
	after := readPGCounts(b, dsn)
	var dbCPU time.Duration
	for pid, d := range after.cpu {
		dbCPU += d - before.cpu[pid]
	}
	n := float64(runs * tasks)
	b.ReportMetric(n/took.Seconds(), "tasks/s")
	b.ReportMetric(float64(after.commits-before.commits)/n, "commits/task")
	b.ReportMetric(float64(dbCPU.Microseconds())/n, "db-cpu-us/task")
	b.ReportMetric(float64(cpu.Microseconds())/n, "client-cpu-us/task")
	w := st.WriteStats()
	b.ReportMetric(float64(w.Statements-w0.Statements)/n, "stmts/task")
	b.ReportMetric(float64(w.Transactions-w0.Transactions)/n, "txs/task")
	reportPGStatements(b, before, after, runs*tasks)
}

// selfCPU is this process's CPU time (user and system) so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
