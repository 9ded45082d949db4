package limits

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cairnml/cairn"
)

// apply is Apply on cgroup v1 (this process's own cgroups), skipping the
// test where they cannot be made.
func apply(t *testing.T, r cairn.Resources) *Group {
	t.Helper()
	g, err := Apply("", r)
	if errors.Is(err, ErrUnavailable) {
		t.Skipf("cgroups not writable here, limits cannot be tested: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// start runs script under sh in the group.
func start(t *testing.T, g *Group, script string) *exec.Cmd {
	t.Helper()
	prog, argv := g.Wrap("/bin/sh", []string{"/bin/sh", "-c", script})
	cmd := &exec.Cmd{Path: prog, Args: argv, Stderr: os.Stderr}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}

func TestOutOfMemory(t *testing.T) {
	g := apply(t, cairn.Resources{Memory: 32 << 20})
	dir := g.memDir
	// tail holds a line without a newline whole: 200 MB of it.
	cmd := start(t, g, "head -c 200000000 /dev/zero | tail > /dev/null")
	err := cmd.Wait()
	if err == nil {
		t.Fatal("the command succeeded past its memory limit")
	}
	var oom *cairn.OutOfMemoryError
	if e := g.OutOfMemory(); !errors.As(e, &oom) || e.Error() != "out of memory: limit 32MiB" {
		t.Fatalf("OutOfMemory = %v (command: %v), want out of memory: limit 32MiB", e, err)
	}
	if s := g.Stats(); s.MemoryLimit != 32<<20 {
		t.Errorf("memory limit %d", s.MemoryLimit)
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("cgroup %s left behind (%v)", dir, err)
	}
}

func TestWithinMemory(t *testing.T) {
	g := apply(t, cairn.Resources{Memory: 64 << 20})
	defer g.Close()
	cmd := start(t, g, "head -c 1000000 /dev/zero | tail > /dev/null")
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	if e := g.OutOfMemory(); e != nil {
		t.Fatalf("OutOfMemory = %v for a command within its limit", e)
	}
}

// The quota is what the cgroup holds, and a busy loop is throttled by it:
// counted by the kernel (cpu.stat), not timed here.
func TestCPUQuota(t *testing.T) {
	g := apply(t, cairn.Resources{CPU: 0.1})
	dir := g.cpuDir
	cmd := start(t, g, "while :; do :; done")
	// Wait until the kernel has throttled it a few times (each period is
	// 100 ms; the loop uses its 10 ms at once).
	deadline := time.Now().Add(30 * time.Second)
	for g.Stats().Throttled < 3 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	s := g.Stats()
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if s.CPUQuota != 10_000 || s.CPUPeriod != 100_000 {
		t.Errorf("quota %d per %d µs, want 10000 per 100000", s.CPUQuota, s.CPUPeriod)
	}
	if s.Throttled < 3 {
		t.Errorf("throttled %d times, want at least 3", s.Throttled)
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("cgroup %s left behind", dir)
	}
}

// The cgroups of a cairn process that died (kill -9) are removed, even
// with a process still in them; a live process's are kept.
func TestRemoveStale(t *testing.T) {
	g := apply(t, cairn.Resources{Memory: 64 << 20})
	defer g.Close()
	base := filepath.Dir(g.memDir)
	dead := exec.Command("/bin/true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(base, "cairn."+strconv.Itoa(dead.Process.Pid)+".7")
	if err := os.Mkdir(stale, 0o755); err != nil {
		t.Fatal(err)
	}
	// A process left in it, as a task's would be if cairn died.
	left := exec.Command("/bin/sleep", "60")
	if err := left.Start(); err != nil {
		t.Fatal(err)
	}
	defer left.Process.Kill()
	if err := os.WriteFile(filepath.Join(stale, "cgroup.procs"), []byte(strconv.Itoa(left.Process.Pid)), 0); err != nil {
		t.Fatal(err)
	}
	if err := RemoveStale(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale cgroup %s kept", stale)
	}
	if err := left.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("the process in the stale cgroup: %v, want killed", err)
	}
	if _, err := os.Stat(g.memDir); err != nil {
		t.Errorf("this process's own cgroup was removed: %v", err)
	}
}

func TestUnavailableSaysWhy(t *testing.T) {
	// A cgroup v2 folder without the controllers' files: refused with the
	// reason when v1 cannot be used either, or falls back to v1.
	g, err := Apply(t.TempDir(), cairn.Resources{Memory: 64 << 20})
	if err != nil {
		if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "memory controller is not delegated") {
			t.Fatalf("err %v", err)
		}
		return
	}
	defer g.Close()
	if g.Version() != V1 {
		t.Errorf("version %s, want the v1 fallback", g.Version())
	}
}
