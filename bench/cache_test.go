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
// start to exit — and the ratio of the medians, failing over 10%.
func BenchmarkCachedRerunBreastCancer(b *testing.B) {
	file, err := filepath.Abs("../workflows/examples/breast-cancer.yaml")
	if err != nil {
		b.Fatal(err)
	}
	n := reps(b)
	for range b.N {
		home := b.TempDir()
		bin := binary(b)
		runCairnIn(b, bin, home, file) // the first run: what the others reuse
		var uncached, cached []float64
		for range n {
			t, _ := runCairnIn(b, bin, home, file, "--no-cache")
			uncached = append(uncached, ms(t))
			t, _ = runCairnIn(b, bin, home, file)
			cached = append(cached, ms(t))
		}
		u, c := summarize(uncached), summarize(cached)
		ratio := c.med / u.med
		b.ReportMetric(u.med, "ms-uncached-med")
		b.ReportMetric(c.med, "ms-cached-med")
		b.ReportMetric(100*ratio, "%-of-uncached")
		fmt.Fprintf(os.Stdout, "breast cancer, %d runs each, alternating (load %s):\n"+
			"  uncached (--no-cache)  min %.1f  median %.1f  max %.1f ms\n"+
			"  cached (no change)     min %.1f  median %.1f  max %.1f ms\n"+
			"  cached / uncached      %.1f%% of the median (target < 10%%)\n",
			n, loadAvg(), u.min, u.med, u.max, c.min, c.med, c.max, 100*ratio)
		if ratio >= 0.10 {
			b.Errorf("a cached re-run takes %.1f%% of the uncached time, want < 10%%", 100*ratio)
		}
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
