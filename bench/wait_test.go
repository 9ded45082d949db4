package bench

import (
	"os/exec"
	"runtime"
	"testing"
	"time"
)

// BenchmarkBareHopAfterWait asks why a hop's transaction is slower after
// a wait (the shell chain's child; a noop chain whose tasks sleep) than
// one after another: the bare hop transaction (bareHops), 300 hops, with
// between each hop's commit and the next BEGIN nothing (hot), a sleep of
// 600 µs (the thread parks; the CPU may go idle or run another process),
// a busy wait of 600 µs (the thread and its CPU stay busy, with other
// memory untouched), or a fork/exec of /bin/true (a shell hop's child).
// The variants alternate, CAIRN_BENCH_REPS rounds of each; it reports
// each one's median per transaction, wall (BEGIN to the end of COMMIT)
// and this thread's CPU in it. Not one of the figures of issue #18 (make bench runs it with the other benchmarks).
func BenchmarkBareHopAfterWait(b *testing.B) {
	const hops, wait = 300, 600 * time.Microsecond
	variants := []struct {
		name    string
		between func()
	}{
		{"hot", func() {}},
		{"sleep", func() { time.Sleep(wait) }},
		{"spin", func() {
			for t := time.Now(); time.Since(t) < wait; {
			}
		}},
		{"exec", func() {
			if err := exec.Command("/bin/true").Run(); err != nil {
				b.Fatal(err)
			}
		}},
	}
	wall := make([][]float64, len(variants))
	cpu := make([][]float64, len(variants))
	for b.Loop() {
		for range reps(b) {
			for i, v := range variants {
				_, inTx, txCPU := bareHopsBetween(b, hops, v.between)
				wall[i] = append(wall[i], float64(inTx.Nanoseconds())/1000/hops)
				cpu[i] = append(cpu[i], float64(txCPU.Nanoseconds())/1000/hops)
				runtime.GC()
			}
		}
	}
	b.ReportMetric(0, "ns/op")
	for i, v := range variants {
		w, c := summarize(wall[i]), summarize(cpu[i])
		b.ReportMetric(w.med, "us/tx-"+v.name)
		b.ReportMetric(c.med, "cpu-us/tx-"+v.name)
		b.Logf("%-5s wall µs/tx min/med/max %.1f / %.1f / %.1f; CPU %.1f / %.1f / %.1f", v.name, w.min, w.med, w.max, c.min, c.med, c.max)
	}
	b.Logf("load %s", loadAvg())
}
