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
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	cairnBin  string
	buildErr  error
)

// helper is the path of bench/internal/NAME's command (runner, empty,
// runfloor), built on first use into a folder TestMain removes. runfloor,
// a floor of cairn run, is built as cairn is, by make build (its tags and,
// on Linux, its static link); the others by go build.
func helper(b *testing.B, name string) string {
	helpersOnce.Do(func() {
		if helpersDir, helpersErr = os.MkdirTemp("", "cairn-bench-helpers-"); helpersErr != nil {
			return
		}
		out, err := exec.Command("go", "build", "-o", helpersDir+"/", "./internal/runner", "./internal/empty").CombinedOutput()
		if err != nil {
			helpersErr = fmt.Errorf("build the benchmarks' helpers: %v\n%s", err, out)
			return
		}
		out, err = exec.Command("make", "-s", "-C", "..", "build", "CMD=./bench/internal/runfloor",
			"BIN="+filepath.Join(helpersDir, "runfloor")).CombinedOutput()
		if err != nil {
			helpersErr = fmt.Errorf("build the benchmarks' helpers: runfloor: %v\n%s", err, out)
		}
	})
	if helpersErr != nil {
		b.Fatal(helpersErr)
	}
	return filepath.Join(helpersDir, name)
}

var (
	helpersOnce sync.Once
	helpersDir  string
	helpersErr  error
)

// binary builds the cairn binary once per test process, on first use, so
// that `go test ./...` without -bench builds nothing here. With
// CAIRN_BENCH_BIN set, it is that binary instead (another commit's, to
// compare two in the same minutes: run the benchmarks once with each,
// alternating).
func binary(b *testing.B) string {
	if bin := os.Getenv("CAIRN_BENCH_BIN"); bin != "" {
		return bin
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "cairn-bench-")
		if err != nil {
			buildErr = err
			return
		}
		cairnBin = filepath.Join(dir, "cairn")
		// By make build itself: its tags and, on Linux, its static link.
		out, err := exec.Command("make", "-s", "-C", "..", "build", "BIN="+cairnBin).CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("build cairn: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		b.Fatal(buildErr)
	}
	return cairnBin
}

// TestMain prints the summary of the figures of issue #18 that ran
// (figures_test.go) after the benchmarks.
func TestMain(m *testing.M) {
	startLoad := loadAvg()
	code := m.Run()
	printSummary(os.Stdout, startLoad)
	if cairnBin != "" {
		os.RemoveAll(filepath.Dir(cairnBin))
	}
	if helpersDir != "" {
		os.RemoveAll(helpersDir)
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
	return runCairnIn(b, bin, b.TempDir(), file, args...)
}

// runCairnIn is runCairnBin in the home given. The run goes through the
// runner (bench/internal/runner), which times it and reports its peak
// RSS: started from this process, cairn's ru_maxrss would count this
// process's peak RSS too (see the runner's doc).
func runCairnIn(b *testing.B, bin, home, file string, args ...string) (time.Duration, int64) {
	b.Helper()
	u := runUsage(b, bin, append([]string{"--home", home, "run", file, "--quiet"}, args...)...)
	return u.took, u.rss
}

// usage is what the runner reports of one program's run.
type usage struct {
	took   time.Duration // wall time
	rss    int64         // peak RSS, bytes
	faults int64         // page faults: the pages it touched first
	cpu    time.Duration // user + system
}

// runUsage runs bin with args through the runner (see runCairnIn) and
// returns what the runner measured.
func runUsage(b *testing.B, bin string, args ...string) usage {
	b.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		b.Fatalf("runner: %v", err)
	}
	defer r.Close()
	cmd := exec.Command(helper(b, "runner"), append([]string{bin}, args...)...)
	cmd.ExtraFiles = []*os.File{w}
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	err = cmd.Run()
	w.Close()
	if err != nil {
		b.Fatalf("%s %s: %v\n%s", filepath.Base(bin), strings.Join(args, " "), err, out)
	}
	var ns, maxrss, faults, cpu int64
	if _, err := fmt.Fscan(r, &ns, &maxrss, &faults, &cpu); err != nil {
		b.Fatalf("runner: read its report: %v\n%s", err, out)
	}
	return usage{time.Duration(ns), maxrss * 1024, faults, time.Duration(cpu)}
}

const noopTask = "    type: noop\n"
const trueTask = "    type: shell\n    with: {argv: [/bin/true]}\n"
