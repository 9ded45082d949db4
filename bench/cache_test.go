package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkCachedRerunBreastCancer: issue #19's "a re-run of the breast
// cancer example with nothing changed under 10% of the uncached time".
// In one home, after a first run, it alternates a run with --no-cache
// (every task runs: the uncached time) and a run with nothing changed
// (every task but collect, which reads a file, reuses the first run's
// outputs), CAIRN_BENCH_REPS times each (5 by default), and reports the
// min, median and max wall time of each — the whole `cairn run`, process
// start to exit — and the ratio of the medians, with its verdict (a figure
// not met is said, not failed, as for the other figures). Beside
// them, as the floor, a `cairn run` of one noop task in the same home: what
// any run costs before its tasks (the process, the store, the run's own
// writes).
func BenchmarkCachedRerunBreastCancer(b *testing.B) {
	file, err := filepath.Abs("../workflows/examples/breast-cancer.yaml")
	if err != nil {
		b.Fatal(err)
	}
	n := reps(b)
	one := write(b, "name: one\ntasks:\n  - id: only\n"+noopTask)
	for range b.N {
		home := b.TempDir()
		bin := binary(b)
		runCairnIn(b, bin, home, file) // the first run: what the others reuse
		var uncached, cached, floor []float64
		for range n {
			t, _ := runCairnIn(b, bin, home, file, "--no-cache")
			uncached = append(uncached, ms(t))
			t, _ = runCairnIn(b, bin, home, file)
			cached = append(cached, ms(t))
			t, _ = runCairnIn(b, bin, home, one)
			floor = append(floor, ms(t))
		}
		u, c, f := summarize(uncached), summarize(cached), summarize(floor)
		ratio := c.med / u.med
		b.ReportMetric(u.med, "ms-uncached-med")
		b.ReportMetric(c.med, "ms-cached-med")
		b.ReportMetric(100*ratio, "%-of-uncached")
		b.ReportMetric(f.med, "ms-one-noop-run-med")
		fmt.Fprintf(os.Stdout, "breast cancer, %d runs each, alternating (load %s):\n"+
			"  uncached (--no-cache)  min %.1f  median %.1f  max %.1f ms\n"+
			"  cached (no change)     min %.1f  median %.1f  max %.1f ms\n"+
			"  one noop task (floor)  min %.1f  median %.1f  max %.1f ms\n"+
			"  cached / uncached      %.1f%% of the median (target < 10%%; the floor alone is %.1f%%)\n",
			n, loadAvg(), u.min, u.med, u.max, c.min, c.med, c.max, f.min, f.med, f.max, 100*ratio, 100*f.med/u.med)
		verdict := "met"
		if ratio >= 0.10 {
			verdict = "not met"
		}
		fmt.Fprintf(os.Stdout, "  target: %s\n", verdict)
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
