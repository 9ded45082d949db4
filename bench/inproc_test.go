package bench

import (
	"context"
	"fmt"
	"os"
	"runtime/metrics"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/artifacts"
	"github.com/cairnml/cairn/executor"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/store/sqlite"
	"github.com/cairnml/cairn/tasks"
	"github.com/cairnml/cairn/tasks/noop"
	"github.com/cairnml/cairn/tasks/shell"
	"github.com/cairnml/cairn/workflows"
)

// runInProcess runs a workflow through the same parts `cairn run` wires,
// in this process, so that profiles (-cpuprofile) see the whole path.
func runInProcess(b testing.TB, src string, slots int) time.Duration {
	b.Helper()
	ctx := context.Background()
	reg, err := tasks.NewRegistry(shell.New(), noop.New())
	if err != nil {
		b.Fatal(err)
	}
	wf, err := workflows.Parse("bench.yaml", []byte(src), workflows.Options{Types: reg})
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	st, err := sqlite.Open(ctx, dir+"/cairn.db")
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	return runOn(b, wf, reg, dir, st, func() (int64, int64) { w := st.WriteStats(); return w.Statements, w.Transactions }, slots)
}

// runOn runs wf on store st (stats: its statements and commits so far).
func runOn(b testing.TB, wf *workflows.Workflow, reg *tasks.Registry, dir string, st scheduler.Store, stats func() (int64, int64), slots int) time.Duration {
	b.Helper()
	ctx := context.Background()
	arts, err := artifacts.Open(dir + "/artifacts")
	if err != nil {
		b.Fatal(err)
	}
	logs, err := artifacts.OpenLogs(dir + "/logs")
	if err != nil {
		b.Fatal(err)
	}
	g0 := goroutinesCreated()
	var ru0 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	start := time.Now()
	r, trs := wf.NewRun(map[string]any{}, start)
	// As cairn run does: the first plan made before the run is created
	// and written with it, the driver starting from the task runs made.
	if err := scheduler.PlanCreated(r, wf, trs, start, nil); err != nil {
		b.Fatal(err)
	}
	if err := st.CreateRun(ctx, r, trs); err != nil {
		b.Fatal(err)
	}
	// The broker names the evaluations it writes as cairn run's does, so
	// that the driver knows them for its own (no reload of the run).
	owner := fmt.Sprintf("bench:%d:x", os.Getpid())
	broker := scheduler.NewBroker(st, scheduler.BrokerOptions{Name: owner})
	pool := executor.New(broker, executor.Options{Worker: "bench", RunID: r.ID, Slots: slots, Types: reg, Artifacts: arts, Logs: logs})
	// Started once the driver holds the run, as cairn run's: its ready
	// tasks must not be leased before.
	final, err := scheduler.NewDriver(st, broker, scheduler.DriverOptions{Owner: owner, Claimed: func() { pool.Start(ctx) }}).
		DriveCreated(ctx, r, wf, trs)
	pool.Stop(ctx)
	if err != nil {
		b.Fatal(err)
	}
	if final.State != cairn.RunSucceeded {
		b.Fatalf("run %s: %s", final.State, final.Error)
	}
	d := time.Since(start)
	var ru1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	cpu := time.Duration(ru1.Utime.Nano() + ru1.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano())
	// Minor faults count, whatever the load, memory the C side gives back
	// and takes again (see store/sqlite/malloc_linux.go).
	b.Logf("cpu %v wall %v, %d minor faults, %d goroutines started", cpu, d, ru1.Minflt-ru0.Minflt, goroutinesCreated()-g0)
	stmts, txs := stats()
	b.Logf("%d write statements, %d commits", stmts, txs)
	return d
}

// goroutinesCreated is the process's count of goroutines started so far.
func goroutinesCreated() uint64 {
	s := []metrics.Sample{{Name: "/sched/goroutines-created:goroutines"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

func chainSrc(n int, task string) string {
	var sb strings.Builder
	sb.WriteString("name: chain\ntasks:\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&sb, "  - id: t%d\n%s", i, task)
		if i > 0 {
			fmt.Fprintf(&sb, "    needs: [t%d]\n", i-1)
		}
	}
	return sb.String()
}

func fanSrc(n int, task string) string {
	var sb strings.Builder
	sb.WriteString("name: fan\ntasks:\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&sb, "  - id: t%d\n%s", i, task)
	}
	return sb.String()
}

// BenchmarkInProcessNoopChain1000 is BenchmarkNoopChain1000 without the
// process start and YAML read: the scheduler/store/executor loop alone.
func BenchmarkInProcessNoopChain1000(b *testing.B) {
	src := chainSrc(1000, noopTask)
	for b.Loop() {
		took := runInProcess(b, src, 4)
		b.ReportMetric(float64(took.Microseconds())/1000/1000, "ms/hop")
	}
}

// BenchmarkInProcessNoopFan10000 is BenchmarkNoopFan10000 in process.
func BenchmarkInProcessNoopFan10000(b *testing.B) {
	src := fanSrc(10000, noopTask)
	for _, slots := range []int{4, 8, 16, 64} {
		b.Run(fmt.Sprintf("workers=%d", slots), func(b *testing.B) {
			for b.Loop() {
				took := runInProcess(b, src, slots)
				b.ReportMetric(10000/took.Seconds(), "tasks/s")
			}
		})
	}
}

// BenchmarkInProcessShellChain1000 is BenchmarkShellChain1000 in process.
func BenchmarkInProcessShellChain1000(b *testing.B) {
	src := chainSrc(1000, trueTask)
	for b.Loop() {
		took := runInProcess(b, src, 1)
		b.ReportMetric(float64(took.Microseconds())/1000/1000, "ms/hop")
	}
}
