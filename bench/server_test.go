package bench

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/artifacts"
	"github.com/cairnml/cairn/executor"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/store/sqlite"
	"github.com/cairnml/cairn/tasks"
	"github.com/cairnml/cairn/tasks/noop"
	"github.com/cairnml/cairn/workflows"
)

// tenNoop is a run of 10 noop tasks: a root, then a small tree.
func tenNoop() string {
	var sb strings.Builder
	sb.WriteString("name: ten\ntasks:\n  - {id: t0, type: noop}\n")
	for i := 1; i < 10; i++ {
		fmt.Fprintf(&sb, "  - {id: t%d, type: noop, needs: [t%d]}\n", i, (i-1)/2)
	}
	return sb.String()
}

// BenchmarkServerDetached1000x10 queues 1,000 runs of 10 noop tasks with
// `cairn run --detach` (8 at a time, before the server starts), then
// starts `cairn server` and measures the time until every run succeeded:
// 10,000 tasks planned by the scheduler service alone (issue #16: at
// least 2,000 tasks/s).
func BenchmarkServerDetached1000x10(b *testing.B) {
	bin := binary(b)
	file := write(b, tenNoop())
	for b.Loop() {
		home := b.TempDir()
		queue(b, bin, home, file, 1000)
		took := serveUntilDone(b, bin, home, 1000)
		b.ReportMetric(10000/took.Seconds(), "tasks/s")
		b.ReportMetric(float64(took.Milliseconds()), "ms-total")
	}
}

// queue makes n queued runs of file in home with cairn run --detach.
func queue(b *testing.B, bin, home, file string, n int) {
	b.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 8)
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			out, err := exec.Command(bin, "--home", home, "run", "--detach", file).CombinedOutput()
			if err != nil {
				errs <- fmt.Errorf("run --detach: %v\n%s", err, out)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}

// serveUntilDone starts cairn server on home and returns the time from its
// start until n runs succeeded; it stops the server (SIGTERM) after.
func serveUntilDone(b *testing.B, bin, home string, n int) time.Duration {
	b.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(home, "cairn.db"), sqlite.ReadOnly())
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin, "--home", home, "server", "--addr", addr, "--log-format", "json")
	log := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = log, log
	start := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	}()
	for {
		runs, err := st.ListRuns(ctx, scheduler.RunFilter{State: cairn.RunSucceeded, Limit: n})
		if err != nil {
			b.Fatal(err)
		}
		if len(runs) == n {
			return time.Since(start)
		}
		failed, err := st.ListRuns(ctx, scheduler.RunFilter{State: cairn.RunFailed, Limit: 1})
		if err != nil {
			b.Fatal(err)
		}
		if len(failed) > 0 {
			b.Fatalf("run %s failed: %s\n%s", failed[0].ID, failed[0].Error, log)
		}
		if time.Since(start) > 5*time.Minute {
			b.Fatalf("%d of %d runs succeeded after 5 minutes\n%s", len(runs), n, log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// block is a task type whose attempts run until their context ends: the
// long task the runs of BenchmarkServiceBookkeeping wait on.
type block struct{ started chan struct{} }

func (block) Info() cairn.TypeInfo { return cairn.TypeInfo{Name: "block"} }

func (bl block) Run(ctx context.Context, req tasks.Request, env tasks.Env) (tasks.Result, error) {
	bl.started <- struct{}{}
	<-ctx.Done()
	return tasks.Result{}, ctx.Err()
}

// BenchmarkServiceBookkeeping holds 1,000 active runs, each waiting on one
// long task running in the pool (1,000 attempts heartbeating), in a
// scheduler service as cairn server wires it, and counts the write
// statements the store executes over 30 s with nothing finishing: the
// bookkeeping (issue #16: at most 10 per second; it was one claim renewal
// per run every 2 s and one heartbeat per attempt every 10 s, 600/s).
func BenchmarkServiceBookkeeping(b *testing.B) {
	const runs = 1000
	window := 30 * time.Second
	if s := os.Getenv("CAIRN_BENCH_WINDOW"); s != "" {
		if d, err := time.ParseDuration(s); err == nil {
			window = d
		}
	}
	for b.Loop() {
		ctx := context.Background()
		bl := block{started: make(chan struct{}, runs)}
		reg, err := tasks.NewRegistry(noop.New(), bl)
		if err != nil {
			b.Fatal(err)
		}
		wf, st, arts, logs, dir := queuedStore(b, reg, "name: wait\ntasks:\n  - {id: long, type: block}\n  - {id: after, type: noop, needs: [long]}\n", runs)
		owner := fmt.Sprintf("bench:%d:server", os.Getpid())
		broker := scheduler.NewBroker(st, scheduler.BrokerOptions{Name: owner})
		svc := scheduler.NewService(st, broker, scheduler.ServiceOptions{Owner: owner, Adopt: true,
			Load: func(context.Context, *cairn.Run) (scheduler.Graph, error) { return wf, nil }})
		svc.Start(ctx)
		pool := executor.New(broker, executor.Options{Worker: owner, Owner: owner, Slots: runs, Types: reg,
			Artifacts: arts, Logs: logs, ScratchDir: dir})
		pool.Start(ctx)
		for i := 0; i < runs; i++ {
			select {
			case <-bl.started:
			case <-time.After(2 * time.Minute):
				b.Fatalf("%d of %d long tasks started", i, runs)
			}
		}
		time.Sleep(time.Second) // the acknowledgements of the runs' first plans
		before := st.WriteStats()
		time.Sleep(window)
		after := st.WriteStats()
		active, err := st.ActiveRuns(ctx, time.Now())
		if err != nil {
			b.Fatal(err)
		}
		if active["wait"] != runs {
			b.Fatalf("%d runs active at the end, want %d", active["wait"], runs)
		}
		stmts := after.Statements - before.Statements
		b.ReportMetric(float64(stmts)/window.Seconds(), "statements/s")
		b.ReportMetric(float64(after.Transactions-before.Transactions)/window.Seconds(), "commits/s")
		pool.StopAndCancel()
		svc.Stop(ctx)
		st.Close()
	}
}

// BenchmarkInProcessService1000x10 is BenchmarkServerDetached1000x10
// without processes: 1,000 queued runs of 10 noop tasks started and
// planned by a scheduler service with Adopt and its pool, in this process,
// so that profiles (-cpuprofile) see the whole path.
func BenchmarkInProcessService1000x10(b *testing.B) {
	const runs = 1000
	for b.Loop() {
		ctx := context.Background()
		reg, err := tasks.NewRegistry(noop.New())
		if err != nil {
			b.Fatal(err)
		}
		wf, st, arts, logs, dir := queuedStore(b, reg, tenNoop(), runs)
		owner := fmt.Sprintf("bench:%d:server", os.Getpid())
		done := make(chan struct{}, runs)
		broker := scheduler.NewBroker(st, scheduler.BrokerOptions{Name: owner})
		svc := scheduler.NewService(st, broker, scheduler.ServiceOptions{Owner: owner, Adopt: true,
			Load:  func(context.Context, *cairn.Run) (scheduler.Graph, error) { return wf, nil },
			Ended: func(string, *cairn.Run, error) { done <- struct{}{} }})
		start := time.Now()
		svc.Start(ctx)
		pool := executor.New(broker, executor.Options{Worker: owner, Owner: owner, Slots: 8, Types: reg,
			Artifacts: arts, Logs: logs, ScratchDir: dir})
		pool.Start(ctx)
		for i := 0; i < runs; i++ {
			select {
			case <-done:
			case <-time.After(5 * time.Minute):
				b.Fatalf("%d of %d runs ended", i, runs)
			}
		}
		took := time.Since(start)
		b.ReportMetric(float64(runs*10)/took.Seconds(), "tasks/s")
		pool.Stop(ctx)
		svc.Stop(ctx)
		st.Close()
	}
}

// queuedStore makes a SQLite store in a temporary folder holding runs
// queued runs of the workflow src (parsed with reg's types), and the
// artifact and log folders beside it; the store is closed at the end of
// the benchmark.
func queuedStore(b *testing.B, reg *tasks.Registry, src string, runs int) (*workflows.Workflow, *sqlite.Store, *artifacts.Dir, *artifacts.Logs, string) {
	b.Helper()
	ctx := context.Background()
	wf, err := workflows.Parse("bench.yaml", []byte(src), workflows.Options{Types: reg})
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	st, err := sqlite.Open(ctx, dir+"/cairn.db")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	for i := 0; i < runs; i++ {
		r, trs := wf.NewRun(map[string]any{}, time.Now())
		if err := st.CreateRun(ctx, r, trs); err != nil {
			b.Fatal(err)
		}
	}
	arts, err := artifacts.Open(dir + "/artifacts")
	if err != nil {
		b.Fatal(err)
	}
	logs, err := artifacts.OpenLogs(dir + "/logs")
	if err != nil {
		b.Fatal(err)
	}
	return wf, st, arts, logs, dir
}
