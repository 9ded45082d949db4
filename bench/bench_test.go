// Package bench measures the figures of docs/benchmarks.md end to end, by
// running the real cairn binary on generated workflows with every state
// change committed to SQLite. Run with `make bench`; it is not part of
// `make test`.
package bench

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	cairnBin  string
	buildErr  error
)

// binary builds the cairn binary once per test process, on first use, so
// that `go test ./...` without -bench builds nothing here.
func binary(b *testing.B) string {
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "cairn-bench-")
		if err != nil {
			buildErr = err
			return
		}
		cairnBin = filepath.Join(dir, "cairn")
		out, err := exec.Command("go", "build", "-o", cairnBin, "../cmd/cairn").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("build cairn: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		b.Fatal(buildErr)
	}
	return cairnBin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if cairnBin != "" {
		os.RemoveAll(filepath.Dir(cairnBin))
	}
	os.Exit(code)
}

// chain writes a workflow of n tasks, each needing the one before.
func chain(b *testing.B, n int, task string) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "name: chain\ntasks:\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&sb, "  - id: t%d\n%s", i, task)
		if i > 0 {
			fmt.Fprintf(&sb, "    needs: [t%d]\n", i-1)
		}
	}
	return write(b, sb.String())
}

// fan writes a workflow of n independent tasks.
func fan(b *testing.B, n int, task string) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "name: fan\ntasks:\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&sb, "  - id: t%d\n%s", i, task)
	}
	return write(b, sb.String())
}

func write(b *testing.B, s string) string {
	p := filepath.Join(b.TempDir(), "wf.yaml")
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		b.Fatal(err)
	}
	return p
}

// runCairn runs `cairn run file` in a fresh home and returns its wall time
// and peak RSS.
func runCairn(b *testing.B, file string, args ...string) (time.Duration, int64) {
	b.Helper()
	return runCairnBin(b, binary(b), file, args...)
}

// runCairnBin is runCairn with the binary bin.
func runCairnBin(b *testing.B, bin, file string, args ...string) (time.Duration, int64) {
	b.Helper()
	home := b.TempDir()
	cmd := exec.Command(bin, append([]string{"--home", home, "run", file, "--quiet"}, args...)...)
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	start := time.Now()
	if err := cmd.Run(); err != nil {
		b.Fatalf("cairn run: %v\n%s", err, out)
	}
	took := time.Since(start)
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	return took, ru.Maxrss * 1024
}

const noopTask = "    type: noop\n"
const trueTask = "    type: shell\n    with: {argv: [/bin/true]}\n"

// BenchmarkForkExecTrue is the physical floor of a chain of shell tasks:
// 1,000 sequential fork/execs of /bin/true from Go.
func BenchmarkForkExecTrue1000(b *testing.B) {
	for b.Loop() {
		start := time.Now()
		for i := 0; i < 1000; i++ {
			if err := exec.Command("/bin/true").Run(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(time.Since(start).Microseconds())/1000, "ms/1000-execs")
	}
}

// BenchmarkShellChain1000 runs a chain of 1,000 shell tasks running
// /bin/true and compares it with 1,000 bare fork/execs measured in the
// same iteration.
func BenchmarkShellChain1000(b *testing.B) {
	file := chain(b, 1000, trueTask)
	for b.Loop() {
		start := time.Now()
		for i := 0; i < 1000; i++ {
			if err := exec.Command("/bin/true").Run(); err != nil {
				b.Fatal(err)
			}
		}
		floor := time.Since(start)
		took, _ := runCairn(b, file, "--workers", "1")
		b.ReportMetric(float64(took.Milliseconds()), "ms-cairn")
		b.ReportMetric(float64(floor.Milliseconds()), "ms-floor")
		b.ReportMetric(float64(took)/float64(floor), "x-floor")
	}
}

// BenchmarkNoopFan10000 runs 10,000 independent noop tasks in one run,
// with the default number of workers and with 64.
func BenchmarkNoopFan10000(b *testing.B) {
	file := fan(b, 10000, noopTask)
	for _, workers := range []string{"default", "64"} {
		b.Run("workers="+workers, func(b *testing.B) {
			var args []string
			if workers != "default" {
				args = []string{"--workers", workers}
			}
			for b.Loop() {
				took, rss := runCairn(b, file, args...)
				b.ReportMetric(10000/took.Seconds(), "tasks/s")
				b.ReportMetric(float64(rss)/(1<<20), "peak-RSS-MB")
			}
		})
	}
}

// BenchmarkNoopChain1000 runs a chain of 1,000 noop tasks. With
// CAIRN_BENCH_BASELINE naming another cairn binary (an earlier commit's:
// `git worktree add /tmp/base REV && go build -o /tmp/cairn-base
// /tmp/base/cmd/cairn`), each iteration runs it too, alternating, and
// reports both: a change to the write path must not make the hop slower.
func BenchmarkNoopChain1000(b *testing.B) {
	file := chain(b, 1000, noopTask)
	base := os.Getenv("CAIRN_BENCH_BASELINE")
	for b.Loop() {
		took, _ := runCairn(b, file)
		b.ReportMetric(float64(took.Microseconds())/1000/1000, "ms/hop")
		if base != "" {
			took, _ := runCairnBin(b, base, file)
			b.ReportMetric(float64(took.Microseconds())/1000/1000, "ms/hop-baseline")
		}
	}
}
