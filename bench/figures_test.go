package bench

// The figures of issue #18 ("the hop at the cost of SQLite"): each the
// wall time of a whole `cairn run` of the real binary (start-up, parse and
// validation included) divided by its tasks or hops, measured reps() times
// in one benchmark iteration, each time right after its floor
// (floors_test.go), so that every figure comes with the floor of the same
// minutes and its ratio to it. TestMain prints them as one table
// (printSummary). `make bench` runs them with -benchtime 1x.

import (
	"database/sql"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/cairnml/cairn/store/sqlite"
)

// reps is how many times each figure is measured: CAIRN_BENCH_REPS, 5 by
// default (issue #18 asks for at least 5).
func reps(b *testing.B) int { return envInt(b, "CAIRN_BENCH_REPS", 5) }

// sample is one repetition: the whole cairn run, its floor measured just
// before it, and the run's peak RSS (bytes).
type sample struct {
	cairn, floor time.Duration
	rss          int64
}

// stats are the min, median and max of a series.
type stats struct{ min, med, max float64 }

func summarize(xs []float64) stats {
	if len(xs) == 0 {
		return stats{math.NaN(), math.NaN(), math.NaN()}
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return stats{s[0], med, s[len(s)-1]}
}

// figure is one row of the summary.
type figure struct {
	row       int    // place in the table
	what      string // the workload
	target    string // issue #18's target; "" for a floor or a figure without one
	floorWhat string // what the floor column is; "" for a floor's own row
	per       int    // tasks or hops the durations are divided by
	rate      bool   // report per/s (tasks/s) rather than ms per task
	unit      string // "ms/hop", "tasks/s", ...
	// check lists the conditions of the target that the measured figure
	// (medians; the largest peak RSS) does not meet.
	check   func(c, x stats, rssMB float64) []string
	samples []sample
	skipped string // why the figure was not measured
	load    string // 1-minute load average after the last repetition
}

// value converts a duration of f.per tasks to f's unit.
func (f *figure) value(d time.Duration) float64 {
	if f.rate {
		return float64(f.per) / d.Seconds()
	}
	return d.Seconds() * 1000 / float64(f.per)
}

func (f *figure) stats() (c, fl, x stats, rssMB float64) {
	var cs, fs, xs []float64
	for _, s := range f.samples {
		cs = append(cs, f.value(s.cairn))
		if s.floor > 0 {
			fs = append(fs, f.value(s.floor))
			xs = append(xs, float64(s.cairn)/float64(s.floor))
		}
		rssMB = math.Max(rssMB, float64(s.rss)/(1<<20))
	}
	return summarize(cs), summarize(fs), summarize(xs), rssMB
}

// verdict is "met", "not met: ..." or "" (no target).
func (f *figure) verdict() string {
	if f.skipped != "" {
		return "skipped: " + f.skipped
	}
	if f.target == "" || f.check == nil {
		return ""
	}
	c, _, x, rss := f.stats()
	if miss := f.check(c, x, rss); len(miss) > 0 {
		return "**not met** (" + strings.Join(miss, "; ") + ")"
	}
	return "met"
}

var summary struct {
	sync.Mutex
	figures map[string]*figure // by benchmark name
}

// report hands the figure's samples to the benchmark's metrics and to the
// summary.
func (f *figure) report(b *testing.B) {
	b.Helper()
	f.load = loadAvg()
	summary.Lock()
	if summary.figures == nil {
		summary.figures = map[string]*figure{}
	}
	summary.figures[b.Name()] = f
	summary.Unlock()
	if f.skipped != "" {
		b.Skip(f.skipped)
	}
	c, fl, x, rss := f.stats()
	b.ReportMetric(0, "ns/op") // the iteration's time is reps × the figure: not a figure
	b.ReportMetric(c.min, f.unit+"-min")
	b.ReportMetric(c.med, f.unit+"-med")
	b.ReportMetric(c.max, f.unit+"-max")
	if f.floorWhat != "" {
		b.ReportMetric(fl.med, "floor-"+f.unit+"-med")
		b.ReportMetric(x.min, "x-floor-min")
		b.ReportMetric(x.med, "x-floor-med")
		b.ReportMetric(x.max, "x-floor-max")
	}
	if rss > 0 {
		b.ReportMetric(rss, "peak-RSS-MB")
	}
}

// measure measures f n times. With run nil, f is a floor: each sample is
// one call of floor. Otherwise each sample is one call of run (the cairn
// run's wall time and peak RSS) with, as its floor, the mean of the floors
// measured just before and just after it (n+1 floors for n runs), so
// that a drift of the machine's speed during the runs moves the floor
// with the figure.
func measure(b *testing.B, f *figure, n int, floor func() time.Duration, run func() (time.Duration, int64)) {
	b.Helper()
	if run != nil {
		binary(b) // built before the first floor, not between it and the first run
	}
	for b.Loop() {
		f.samples = f.samples[:0]
		if run == nil {
			for range n {
				f.samples = append(f.samples, sample{cairn: floor()})
			}
			continue
		}
		before := floor()
		for range n {
			took, rss := run()
			after := floor()
			f.samples = append(f.samples, sample{took, (before + after) / 2, rss})
			before = after
		}
	}
	var runs, floors []string
	for _, s := range f.samples {
		runs = append(runs, num(f.value(s.cairn)))
		if s.floor > 0 {
			floors = append(floors, num(f.value(s.floor)))
		}
	}
	if len(floors) > 0 {
		b.Logf("%s: %s; floors: %s", f.unit, strings.Join(runs, " "), strings.Join(floors, " "))
	} else {
		b.Logf("%s: %s", f.unit, strings.Join(runs, " "))
	}
	f.report(b)
}

// Rows of the summary: the floors, then the figures in the order of the
// issue's table.
const (
	rowForkExec         = 1
	rowForkExecParallel = 2
	rowBareHop          = 3
	rowBatched          = 4 // up to 4 + 3: the styles × batch sizes
	rowBareHopVFS       = 8
	rowNoopChain        = 10
	rowShellChain       = 11
	rowNoopFan          = 12
	rowNoopFan64        = 13
	rowNoopFan100k      = 14
	rowShellFan         = 15
	rowOneTask          = 16 // fresh home; 17: an existing one
)

// The floors alone (their rows of the summary).

// BenchmarkForkExecTrue1000 is the physical floor of a chain of shell
// tasks: 1,000 sequential fork/execs of /bin/true from Go.
func BenchmarkForkExecTrue1000(b *testing.B) {
	f := &figure{row: rowForkExec, what: "floor: 1,000 fork/execs of `/bin/true` from Go, one after the other", per: 1000, unit: "ms/exec"}
	measure(b, f, reps(b), func() time.Duration { return forkExecSerial(b, 1000) }, nil)
}

// BenchmarkForkExecTrue1000Parallel is the floor of 1,000 independent
// shell tasks: 1,000 fork/execs of /bin/true over runtime.NumCPU()
// goroutines.
func BenchmarkForkExecTrue1000Parallel(b *testing.B) {
	f := &figure{row: rowForkExecParallel, per: 1000, unit: "ms/exec",
		what: fmt.Sprintf("floor: 1,000 fork/execs of `/bin/true` over %d goroutines (NumCPU)", runtime.NumCPU())}
	measure(b, f, reps(b), func() time.Duration { return forkExecParallel(b, 1000) }, nil)
}

// BenchmarkBareHop1000 is the floor of a hop: 1,000 transactions of three
// updates and two inserts on Cairn's schema with the driver alone
// (bareHops).
func BenchmarkBareHop1000(b *testing.B) {
	f := &figure{row: rowBareHop, per: 1000, unit: "ms/hop",
		what: "floor: bare SQLite hop transaction (3 updates, 2 inserts, 1 commit; chain of 1,000)"}
	measure(b, f, reps(b), func() time.Duration { return bareHops(b, 1000) }, nil)
}

// BenchmarkBareHopCairnVFS1000 is BenchmarkBareHop1000 on the VFS Cairn's
// store opens its connections on (store/sqlite: a transaction's log
// frames in one write): not a floor, the part of the gap between a hop
// and the floor that is SQLite's writes of the log.
func BenchmarkBareHopCairnVFS1000(b *testing.B) {
	vfs := sqlite.VFS()
	if vfs == "" {
		b.Skip("the store's VFS is not registered (no cgo)")
	}
	f := &figure{row: rowBareHopVFS, per: 1000, unit: "ms/hop",
		what: "the bare hop transaction on Cairn's VFS (its log frames in one write)"}
	measure(b, f, reps(b), func() time.Duration {
		took, _, _ := bareHopsOn(b, 1000, nil, vfs)
		return took
	}, nil)
}

// BenchmarkBareBatchedCommit10000 is the floor of many completions:
// 10,000 completions committed in batches, per row or set-based
// (bareBatched).
func BenchmarkBareBatchedCommit10000(b *testing.B) {
	row := rowBatched
	for _, style := range []string{perRow, setBased} {
		for _, batch := range []int{64, 256} {
			f := &figure{row: row, per: 10000, rate: true, unit: "completions/s",
				what: fmt.Sprintf("floor: bare batched commit, 10,000 completions, %d per commit, %s", batch, style)}
			row++
			b.Run(fmt.Sprintf("%s/batch=%d", style, batch), func(b *testing.B) {
				measure(b, f, reps(b), func() time.Duration { return bareBatched(b, 10000, batch, style) }, nil)
			})
		}
	}
}

// The floor of a fan of independent tasks is the fastest batched commit
// measured: set-based, 256 completions per commit (per row is 15-30 %
// slower, 64 per commit 10-25 % slower on this machine).
const fanFloorBatch, fanFloorStyle = 256, setBased

// The figures.

// BenchmarkNoopChain1000 runs a chain of 1,000 noop tasks; its floor is
// the bare hop transaction. Target: ≤ 0.15 ms per hop and ≤ 2.5× the
// floor. With CAIRN_BENCH_BASELINE naming another cairn binary (an
// earlier commit's: `git worktree add /tmp/base REV && go build -o
// /tmp/cairn-base /tmp/base/cmd/cairn`), each repetition runs it too,
// alternating, and reports its median as ms/hop-baseline-med: a change to
// the write path must not make the hop slower.
func BenchmarkNoopChain1000(b *testing.B) {
	file := chain(b, 1000, noopTask)
	base := os.Getenv("CAIRN_BENCH_BASELINE")
	var baseline []float64
	f := &figure{row: rowNoopChain, what: "chain of 1,000 `noop`, per hop", per: 1000, unit: "ms/hop",
		target: "≤ 0.15 ms/hop and ≤ 2.5× the bare hop", floorWhat: "bare hop transaction",
		check: func(c, x stats, _ float64) (miss []string) {
			if c.med > 0.15 {
				miss = append(miss, fmt.Sprintf("%.3f ms > 0.15", c.med))
			}
			if x.med > 2.5 {
				miss = append(miss, fmt.Sprintf("%.2f× > 2.5×", x.med))
			}
			return miss
		}}
	measure(b, f, reps(b), func() time.Duration { return bareHops(b, 1000) }, func() (time.Duration, int64) {
		took, rss := runCairn(b, file)
		if base != "" {
			bt, _ := runCairnBin(b, base, file)
			baseline = append(baseline, float64(bt.Microseconds())/1000/1000)
		}
		return took, rss
	})
	if base != "" {
		b.ReportMetric(summarize(baseline).med, "ms/hop-baseline-med")
	}
}

// BenchmarkShellChain1000 runs a chain of 1,000 shell tasks running
// /bin/true (--workers 1); its floor is 1,000 fork/execs one after the
// other. Target: ≤ 1.3× the floor.
func BenchmarkShellChain1000(b *testing.B) {
	file := chain(b, 1000, trueTask)
	f := &figure{row: rowShellChain, what: "chain of 1,000 `shell` `/bin/true` (`--workers 1`), per hop", per: 1000, unit: "ms/hop",
		target: "≤ 1.3× the fork/exec floor", floorWhat: "1,000 fork/execs, serial",
		check: func(_, x stats, _ float64) []string {
			if x.med > 1.3 {
				return []string{fmt.Sprintf("%.2f× > 1.3×", x.med)}
			}
			return nil
		}}
	measure(b, f, reps(b), func() time.Duration { return forkExecSerial(b, 1000) }, func() (time.Duration, int64) {
		return runCairn(b, file, "--workers", "1")
	})
}

// atLeast25k is the check of the independent noop figures: ≥ 25,000
// tasks/s, and with maxRSS > 0 a peak RSS of at most maxRSS MB.
func atLeast25k(maxRSS float64) func(c, _ stats, rss float64) []string {
	return func(c, _ stats, rss float64) (miss []string) {
		if c.med < 25000 {
			miss = append(miss, num(c.med)+" tasks/s < 25,000")
		}
		if maxRSS > 0 && rss > maxRSS {
			miss = append(miss, fmt.Sprintf("peak RSS %.0f MB > %.0f", rss, maxRSS))
		}
		return miss
	}
}

// BenchmarkNoopFan10000 runs 10,000 independent noop tasks in one run,
// with the default number of workers and with 64; the floor is the bare
// batched commit of as many completions. Target (default workers):
// ≥ 25,000 tasks/s.
func BenchmarkNoopFan10000(b *testing.B) {
	file := fan(b, 10000, noopTask)
	floorWhat := fmt.Sprintf("bare batched commit, %s, %d per commit", fanFloorStyle, fanFloorBatch)
	for _, workers := range []string{"default", "64"} {
		b.Run("workers="+workers, func(b *testing.B) {
			f := &figure{row: rowNoopFan, what: "10,000 independent `noop`", per: 10000, rate: true, unit: "tasks/s",
				target: "≥ 25,000 tasks/s", floorWhat: floorWhat, check: atLeast25k(0)}
			var args []string
			if workers != "default" {
				args = []string{"--workers", workers}
				f.row, f.what, f.target = rowNoopFan64, f.what+", `--workers 64`", ""
			}
			measure(b, f, reps(b), func() time.Duration { return bareBatched(b, 10000, fanFloorBatch, fanFloorStyle) },
				func() (time.Duration, int64) { return runCairn(b, file, args...) })
		})
	}
}

// BenchmarkNoopFan100000 runs 100,000 independent noop tasks in one run.
// Target: ≥ 25,000 tasks/s and a peak RSS ≤ 300 MB. It skips, saying why,
// while `cairn validate` refuses the file (issue #18: a 20,000-task file
// is refused today for the YAML nodes its aliases would expand to).
func BenchmarkNoopFan100000(b *testing.B) {
	file := fan(b, 100000, noopTask)
	f := &figure{row: rowNoopFan100k, what: "100,000 independent `noop`", per: 100000, rate: true, unit: "tasks/s",
		target: "≥ 25,000 tasks/s, peak RSS ≤ 300 MB", check: atLeast25k(300),
		floorWhat: fmt.Sprintf("bare batched commit, %s, %d per commit", fanFloorStyle, fanFloorBatch)}
	if out, err := exec.Command(binary(b), "--home", b.TempDir(), "validate", file).CombinedOutput(); err != nil {
		msg := strings.ReplaceAll(firstLine(string(out)), file, filepath.Base(file))
		f.skipped = fmt.Sprintf("cairn validate refuses the 100,000-task file (%v): %s", err, msg)
		f.report(b)
		return
	}
	measure(b, f, reps(b), func() time.Duration { return bareBatched(b, 100000, fanFloorBatch, fanFloorStyle) },
		func() (time.Duration, int64) { return runCairn(b, file) })
}

// BenchmarkShellFan1000 runs 1,000 independent shell tasks running
// /bin/true with the default workers; the floor is 1,000 fork/execs over
// NumCPU goroutines. Target: ≤ 1.2× the floor.
func BenchmarkShellFan1000(b *testing.B) {
	file := fan(b, 1000, trueTask)
	f := &figure{row: rowShellFan, what: "1,000 independent `shell` `/bin/true`, per task", per: 1000, unit: "ms/task",
		target:    fmt.Sprintf("≤ 1.2× (1,000 fork/execs ÷ %d CPUs)", runtime.NumCPU()),
		floorWhat: fmt.Sprintf("1,000 fork/execs over %d goroutines", runtime.NumCPU()),
		check: func(_, x stats, _ float64) []string {
			if x.med > 1.2 {
				return []string{fmt.Sprintf("%.2f× > 1.2×", x.med)}
			}
			return nil
		}}
	measure(b, f, reps(b), func() time.Duration { return forkExecParallel(b, 1000) },
		func() (time.Duration, int64) { return runCairn(b, file) })
}

// BenchmarkRunOneTask is the start-up figure: `cairn run` of a one-task
// workflow (a single noop), process start to exit, on a fresh home
// (fresh: the database created, migrated) and in a home that already
// holds CAIRN_BENCH_STARTUP_PAST finished runs (existing; 300 by
// default), CAIRN_BENCH_STARTUP_RUNS times each (30 by default). Its
// floor is bench/internal/runfloor, built as cairn is (make build): a
// program that links only go-sqlite3 and does what any run of one task
// must — opens the database with Cairn's settings (fresh: creates it and
// its tables), commits the run's four transactions (create, lease and
// start, complete, finish), prints a line — in a home of its own of the
// same kind (a new one each time; or one holding as many of its own past
// runs). The start of an empty Go program (bench/internal/empty) is
// measured beside it, as its floor was before. Target: ≤ 10 ms median.
// With CAIRN_BENCH_BASELINE naming another cairn binary, each run is
// followed by one of the baseline's (in a home of its own, seeded by it),
// reported as ms-med-baseline.
func BenchmarkRunOneTask(b *testing.B) {
	file := write(b, "name: one\ntasks:\n  - id: only\n"+noopTask)
	runs := envInt(b, "CAIRN_BENCH_STARTUP_RUNS", 30)
	past := envInt(b, "CAIRN_BENCH_STARTUP_PAST", 300)
	base := os.Getenv("CAIRN_BENCH_BASELINE")
	empty, runfloor := helper(b, "empty"), helper(b, "runfloor")
	emptyStart := func() time.Duration {
		start := time.Now()
		if out, err := exec.Command(empty).CombinedOutput(); err != nil {
			b.Fatalf("empty program: %v\n%s", err, out)
		}
		return time.Since(start)
	}
	for i, mode := range []string{"fresh", "existing"} {
		b.Run(mode, func(b *testing.B) {
			f := &figure{row: rowOneTask + i, per: 1, unit: "ms",
				what:      "`cairn run` of a one-task workflow, fresh home",
				target:    "≤ 10 ms median",
				floorWhat: "`runfloor`: go-sqlite3 alone, built as cairn, opening the database and committing a run's 4 transactions",
				check: func(c, _ stats, _ float64) []string {
					if c.med > 10 {
						return []string{fmt.Sprintf("%.1f ms > 10", c.med)}
					}
					return nil
				}}
			var home, baseHome, floorHome string
			if mode == "existing" {
				f.what = fmt.Sprintf("`cairn run` of a one-task workflow, home with %d runs", past)
				home, baseHome, floorHome = b.TempDir(), b.TempDir(), b.TempDir()
				for range past {
					runCairnIn(b, binary(b), home, file)
					if base != "" {
						runCairnIn(b, base, baseHome, file)
					}
					if out, err := exec.Command(runfloor, filepath.Join(floorHome, "cairn.db")).CombinedOutput(); err != nil {
						b.Fatalf("runfloor: %v\n%s", err, out)
					}
				}
			}
			in := func(h string) string {
				if h == "" {
					return b.TempDir()
				}
				return h
			}
			// The floor of a sample: the empty program's start, then the
			// run floor's whole run (the sample's floor).
			var empties, floorCPU, floorFaults []float64
			floor := func() time.Duration {
				empties = append(empties, float64(emptyStart().Microseconds())/1000)
				u := runUsage(b, runfloor, filepath.Join(in(floorHome), "cairn.db"))
				floorCPU, floorFaults = append(floorCPU, float64(u.cpu.Microseconds())/1000), append(floorFaults, float64(u.faults))
				return u.took
			}
			var baseline []float64
			var faults, cpu []float64
			measure(b, f, runs, floor, func() (time.Duration, int64) {
				u := runUsage(b, binary(b), "--home", in(home), "run", file, "--quiet")
				took, rss := u.took, u.rss
				faults, cpu = append(faults, float64(u.faults)), append(cpu, float64(u.cpu.Microseconds())/1000)
				if base != "" {
					bt, _ := runCairnIn(b, base, in(baseHome), file)
					baseline = append(baseline, float64(bt.Microseconds())/1000)
				}
				return took, rss
			})
			if base != "" {
				b.ReportMetric(summarize(baseline).med, "ms-med-baseline")
			}
			c, fl, x, _ := f.stats()
			em, fc, ff := summarize(empties), summarize(floorCPU), summarize(floorFaults)
			b.Logf("floors, medians: the run floor (runfloor) %.1f ms wall, %.1f ms CPU, %.0f faults; the run %.1f ms wall (%.2f× the run floor), "+
				"%.1f ms CPU, %.0f faults; the start of an empty Go program %.1f ms wall (the run %.1f× it)",
				fl.med, fc.med, ff.med, c.med, x.med, summarize(cpu).med, summarize(faults).med, em.med, c.med/em.med)
			b.ReportMetric(em.med, "ms-med-empty")
			b.ReportMetric(fc.med, "cpu-ms-floor")
			b.ReportMetric(ff.med, "faults-floor")
			reportFaults(b, f, faults, cpu, empty)
			reportStartFloors(b, f)
		})
	}
}

// reportStartFloors measures, in the same minutes as the runs, the two
// floors of a one-task run that its own work cannot lower: `cairn
// version` (the binary's start: the runtime, every package's init — the
// plugin host's and the web stack's included — and the exit, as every
// command pays them) and one bare SQLite transaction of a hop's work
// (floors_test.go), and says what is left between them and the run.
func reportStartFloors(b *testing.B, f *figure) {
	b.Helper()
	var wall, cpu, faults []float64
	for range 10 {
		u := runUsage(b, binary(b), "version")
		wall = append(wall, float64(u.took.Microseconds())/1000)
		cpu = append(cpu, float64(u.cpu.Microseconds())/1000)
		faults = append(faults, float64(u.faults))
	}
	const hops = 50
	tx := float64(bareHops(b, hops).Microseconds()) / 1000 / hops
	c, _, _, _ := f.stats()
	vw, vc := summarize(wall).med, summarize(cpu).med
	b.Logf("the binary's start (`cairn version`, 10 runs): %.1f ms wall, %.1f ms CPU, %.0f faults (median); "+
		"a bare SQLite hop transaction %.3f ms; the run's median %.1f ms is %.1f ms past the binary's start",
		vw, vc, summarize(faults).med, tx, c.med, c.med-vw)
	b.ReportMetric(vw, "ms-med-version")
	b.ReportMetric(vc, "cpu-ms-version")
	b.ReportMetric(tx, "ms-bare-tx")
}

// reportFaults says how much of a one-task run its page faults are: the
// faults of the runs (each page a process touches first is one: its
// binary's code and data as they are first read, its heap, stacks and
// SQLite's page cache as they grow) beside those of the empty program,
// and the CPU cost of one fault measured in the same minutes (touching
// fresh anonymous pages). On a machine where a fault is dear (a virtual
// machine whose page tables the host keeps: tens of µs a fault, against
// well under 1 µs on bare metal) they are most of a short process's CPU,
// and the floor of this figure is the pages a Go program of this size
// must touch.
func reportFaults(b *testing.B, f *figure, faults, cpu []float64, empty string) {
	b.Helper()
	var emptyFaults []float64
	for range 5 {
		emptyFaults = append(emptyFaults, float64(runUsage(b, empty).faults))
	}
	cost := float64(faultCost(b).Nanoseconds()) / 1e6 // ms
	c, _, _, _ := f.stats()
	fm, em, cm := summarize(faults).med, summarize(emptyFaults).med, summarize(cpu).med
	share := fm * cost / cm * 100
	b.Logf("page faults: %.0f a run (min %.0f, max %.0f), the empty program %.0f; one fault costs %.1f µs of CPU here "+
		"(a fresh anonymous page, median of 5 × 4,096): the runs' faults are about %.1f ms, %.0f %% of their median CPU time "+
		"(user + system) %.1f ms; median wall time %.1f ms; the target's 10 ms is %.0f faults at this cost",
		fm, summarize(faults).min, summarize(faults).max, em, cost*1000, fm*cost, share, cm, c.med, 10/cost)
	b.ReportMetric(fm, "faults-med")
	b.ReportMetric(em, "faults-empty")
	b.ReportMetric(cost*1000, "fault-µs")
	b.ReportMetric(share, "faults-%-of-cpu")
	b.ReportMetric(cm, "cpu-ms-med")
}

// faultCost is the median CPU time, over 5 tries, of touching one fresh
// page of anonymous memory (4,096 pages a try, mapped, touched once each,
// then unmapped), read on the thread's own CPU clock so that time spent
// waiting for a processor is not counted.
func faultCost(b *testing.B) time.Duration {
	b.Helper()
	const pages, size = 4096, 4096
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var tries []float64
	for range 5 {
		mem, err := syscall.Mmap(-1, 0, pages*size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
		if err != nil {
			b.Fatalf("mmap: %v", err)
		}
		start := threadCPU(b)
		for i := 0; i < pages*size; i += size {
			mem[i] = 1
		}
		tries = append(tries, float64(threadCPU(b)-start)/pages)
		if err := syscall.Munmap(mem); err != nil {
			b.Fatalf("munmap: %v", err)
		}
	}
	return time.Duration(summarize(tries).med)
}

// threadCPU is the calling thread's CPU time (CLOCK_THREAD_CPUTIME_ID).
func threadCPU(b *testing.B) time.Duration {
	const clockThreadCPUTime = 3
	var ts syscall.Timespec
	if _, _, errno := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockThreadCPUTime, uintptr(unsafe.Pointer(&ts)), 0); errno != 0 {
		b.Fatalf("clock_gettime(CLOCK_THREAD_CPUTIME_ID): %v", errno)
	}
	return time.Duration(ts.Nano())
}

// envInt is the positive integer in the environment variable name, or def.
func envInt(b *testing.B, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		b.Fatalf("%s=%q: want a positive integer", name, s)
	}
	return n
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

// loadAvg is the 1-, 5- and 15-minute load averages, as uptime prints them.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// cpuModel is the first "model name" of /proc/cpuinfo.
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "?"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}

func sqliteVersion() string {
	db, err := sql.Open("sqlite3", ":memory:")
	if err != nil {
		return "?"
	}
	defer db.Close()
	var v string
	if err := db.QueryRow("SELECT sqlite_version()").Scan(&v); err != nil {
		return "?"
	}
	return v
}

// printSummary writes the figures recorded by this process's benchmarks
// as one Markdown table, floors first; nothing if none ran. startLoad is
// the load average when the benchmarks began.
func printSummary(w *os.File, startLoad string) {
	summary.Lock()
	defer summary.Unlock()
	if len(summary.figures) == 0 {
		return
	}
	fs := make([]*figure, 0, len(summary.figures))
	for _, f := range summary.figures {
		fs = append(fs, f)
	}
	sort.SliceStable(fs, func(i, j int) bool { return fs[i].row < fs[j].row })
	fmt.Fprintf(w, "\n## The hop (issue #18): Cairn's figures beside the floors measured in the same run\n\n")
	fmt.Fprintf(w, "%s, %d CPUs, %s, SQLite %s, %s; load average %s at the start, %s at the end.\n",
		cpuModel(), runtime.NumCPU(), runtime.Version(), sqliteVersion(), time.Now().Format("2006-01-02 15:04"), startLoad, loadAvg())
	fmt.Fprintf(w, "Each figure is the wall time of a whole `cairn run` divided by its tasks or hops: min / median / max over\n")
	fmt.Fprintf(w, "the runs; its floor is the mean of the floors measured just before and just after each run, × floor each run\n")
	fmt.Fprintf(w, "over its floor; the verdict takes the medians (and the largest peak RSS); load: `uptime` after the last run.\n\n")
	fmt.Fprintln(w, "| figure | target | measured | floor (median) | × floor | peak RSS | load | verdict |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- | --- | --- |")
	for _, f := range fs {
		if f.skipped != "" {
			fmt.Fprintf(w, "| %s | %s | | | | | %s | %s |\n", f.what, f.target, f.load, f.verdict())
			continue
		}
		c, fl, x, rss := f.stats()
		measured := fmt.Sprintf("%s / %s / %s %s (%d runs)", num(c.min), num(c.med), num(c.max), f.unit, len(f.samples))
		floor, ratio, mem := "", "", ""
		if f.floorWhat != "" {
			floor = fmt.Sprintf("%s %s (%s)", num(fl.med), f.unit, f.floorWhat)
			ratio = fmt.Sprintf("%.2f / %.2f / %.2f", x.min, x.med, x.max)
		}
		if rss > 0 {
			mem = fmt.Sprintf("%.0f MB", rss)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", f.what, f.target, measured, floor, ratio, mem, f.load, f.verdict())
	}
	fmt.Fprintln(w)
}

// num prints a figure with three significant digits, or as a whole number
// from 1,000 up.
func num(v float64) string {
	switch {
	case math.IsNaN(v):
		return "?"
	case math.Abs(v) >= 1000:
		s := strconv.FormatFloat(math.Round(v), 'f', 0, 64)
		for i := len(s) - 3; i > 0; i -= 3 {
			s = s[:i] + "," + s[i:]
		}
		return s
	default:
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
}
