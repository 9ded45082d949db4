package bench

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/store/sqlite"
	"github.com/cairnml/cairn/tasks"
	"github.com/cairnml/cairn/tasks/noop"
	"github.com/cairnml/cairn/tasks/shell"
	"github.com/cairnml/cairn/workflows"
)

// shapeSource writes a workflow of n noop tasks in one of three shapes:
// "fan" (independent), "chain" (each needs the one before) and "fanin"
// (n-1 independent tasks and one that needs them all).
func shapeSource(shape string, n int) string {
	var sb strings.Builder
	sb.Grow(n * 48)
	fmt.Fprintf(&sb, "name: %s\ntasks:\n", shape)
	for i := 0; i < n; i++ {
		last := i == n-1
		if shape == "fanin" && last {
			fmt.Fprintf(&sb, "  - id: join\n    type: noop\n    needs: [")
			for j := 0; j < n-1; j++ {
				if j > 0 {
					sb.WriteString(", ")
				}
				fmt.Fprintf(&sb, "t%d", j)
			}
			sb.WriteString("]\n")
			continue
		}
		fmt.Fprintf(&sb, "  - id: t%d\n    type: noop\n", i)
		if shape == "chain" && i > 0 {
			fmt.Fprintf(&sb, "    needs: [t%d]\n", i-1)
		}
	}
	return sb.String()
}

// BenchmarkWorkflowStages times, one by one, what `cairn run` does with a
// large workflow before its first task starts: parse and validate (the
// canonical form and digest included), the canonical form alone again,
// BindParams, NewRun, the scheduler's Topology and Store.CreateRun of
// every task row into a fresh SQLite file. Each stage is a metric in ms;
// heap-MB is the live heap after parse (the parsed workflow kept).
func BenchmarkWorkflowStages(b *testing.B) {
	reg, err := tasks.NewRegistry(shell.New(), noop.New())
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		shape string
		n     int
	}{{"fan", 10_000}, {"fan", 100_000}, {"chain", 100_000}, {"fanin", 100_000}} {
		src := []byte(shapeSource(c.shape, c.n))
		b.Run(fmt.Sprintf("%s=%d", c.shape, c.n), func(b *testing.B) {
			ctx := context.Background()
			for b.Loop() {
				// Each stage's wall time, and its CPU time (all threads:
				// the garbage collector's too), which other processes
				// on a shared machine disturb less.
				var start time.Time
				var cpu0 time.Duration
				begin := func() { start, cpu0 = time.Now(), cpuTime() }
				stage := func(name string) {
					b.ReportMetric(float64(time.Since(start).Microseconds())/1000, "ms-"+name)
					b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/1000, "cpu-ms-"+name)
				}
				runtime.GC()
				begin()
				wf, err := workflows.Parse("wf.yaml", src, workflows.Options{Types: reg})
				if err != nil {
					b.Fatal(err)
				}
				stage("parse")
				runtime.GC()
				var m runtime.MemStats
				runtime.ReadMemStats(&m)
				b.ReportMetric(float64(m.HeapAlloc)/(1<<20), "heap-MB")

				begin()
				_ = wf.Canonical()
				stage("canonical")

				begin()
				bound, err := wf.BindParams(nil)
				if err != nil {
					b.Fatal(err)
				}
				stage("bind")

				begin()
				r, trs := wf.NewRun(bound, start)
				stage("newrun")

				begin()
				topo := scheduler.NewTopology(wf)
				stage("topology")
				if len(topo.IDs) != c.n {
					b.Fatalf("topology has %d tasks, want %d", len(topo.IDs), c.n)
				}

				st, err := sqlite.Open(ctx, b.TempDir()+"/cairn.db")
				if err != nil {
					b.Fatal(err)
				}
				begin()
				if err := st.CreateRun(ctx, r, trs); err != nil {
					b.Fatal(err)
				}
				stage("createrun")
				st.Close()
			}
		})
	}
}

// cpuTime is the CPU time this process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
