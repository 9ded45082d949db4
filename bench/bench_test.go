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

// TestMain prints the summary of the figures of issue #18 that ran
// (figures_test.go) after the benchmarks.
func TestMain(m *testing.M) {
	startLoad := loadAvg()
	code := m.Run()
	printSummary(os.Stdout, startLoad)
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
