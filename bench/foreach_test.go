package bench

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// forEach writes a workflow of one task whose for_each is a literal list
// of n items: the same n task runs as fan(b, n, task), made at run time.
func forEach(b *testing.B, n int, task string) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "name: foreach\ntasks:\n  - id: t\n%s    for_each: [", task)
	for i := 0; i < n; i++ {
		if i > 0 {
			sb.WriteString(", ")
		}
		fmt.Fprint(&sb, i)
	}
	sb.WriteString("]\n")
	return write(b, sb.String())
}

// BenchmarkForEachNoop10000 is issue #23's figure: a fan-out of 10,000
// noop items (one task with for_each, expanded at run time) beside 10,000
// declared noop tasks, each `cairn run` in a fresh home, alternating.
// Target: the fan-out within 1.5× the declared tasks (metric ratio).
func BenchmarkForEachNoop10000(b *testing.B) {
	const n = 10000
	declared, fanned := fan(b, n, noopTask), forEach(b, n, noopTask)
	var d, f time.Duration
	for i := 0; i < b.N; i++ {
		dd, _ := runCairn(b, declared)
		ff, _ := runCairn(b, fanned)
		d, f = d+dd, f+ff
	}
	b.ReportMetric(float64(d.Milliseconds())/float64(b.N), "declared-ms")
	b.ReportMetric(float64(f.Milliseconds())/float64(b.N), "foreach-ms")
	b.ReportMetric(float64(f)/float64(d), "ratio")
}

// BenchmarkInProcessForEachNoop10000 is BenchmarkInProcessNoopFan10000's
// tasks as the items of one for_each task, for a profile of the fan-out's
// own costs without the process start. Its sub-benchmarks are the fan's
// (8 workers: cairn run's default on 2 CPUs): compare their statements
// and commits worker count by worker count, since a commit carries at
// most one report per worker.
func BenchmarkInProcessForEachNoop10000(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("name: foreach\ntasks:\n  - id: t\n" + noopTask + "    for_each: [")
	for i := 0; i < 10000; i++ {
		if i > 0 {
			sb.WriteString(", ")
		}
		fmt.Fprint(&sb, i)
	}
	sb.WriteString("]\n")
	src := sb.String()
	for _, slots := range []int{4, 8, 16, 64} {
		b.Run(fmt.Sprintf("workers=%d", slots), func(b *testing.B) {
			for b.Loop() {
				took := runInProcess(b, src, slots)
				b.ReportMetric(10000/took.Seconds(), "tasks/s")
			}
		})
	}
}
