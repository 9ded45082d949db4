package shell_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/tasks/limits"
	"github.com/cairnml/cairn/tasks/tasktest"
)

func skipWithoutLimits(t *testing.T) {
	t.Helper()
	if err := limits.RemoveStale(); err != nil {
		t.Skipf("cgroups not writable here, resources cannot be tested: %v", err)
	}
}

// A command past its memory limit is killed and reported as out of
// memory, permanently (no retry cures it); its cgroups are gone after.
func TestResourcesOutOfMemory(t *testing.T) {
	skipWithoutLimits(t)
	buf := &tasktest.Buffer{}
	_, res, err := runShell(t, context.Background(), map[string]any{
		"script":    "echo start; head -c 300000000 /dev/zero | tail > /dev/null",
		"resources": map[string]any{"memory": 48 << 20, "cpu": 1},
	}, buf)
	var oom *cairn.OutOfMemoryError
	if !errors.As(err, &oom) || oom.Limit != 48<<20 {
		t.Fatalf("err %v, want out of memory", err)
	}
	if !strings.Contains(err.Error(), "out of memory: limit 48MiB") || cairn.IsRetryable(err) {
		t.Errorf("err %q (retryable %t), want a permanent out of memory: limit 48MiB", err, cairn.IsRetryable(err))
	}
	if string(res.Outputs["exit_code"]) == "0" {
		t.Errorf("exit code 0")
	}
	if !strings.Contains(buf.String(), "start") {
		t.Errorf("log %q", buf.String())
	}
	leftovers(t)
}

// Within its limits the command runs in its cgroups, and succeeds.
func TestResourcesWithin(t *testing.T) {
	skipWithoutLimits(t)
	buf := &tasktest.Buffer{}
	_, _, err := runShell(t, context.Background(), map[string]any{
		"argv":      []string{"cat", "/proc/self/cgroup"},
		"resources": map[string]any{"memory": 64 << 20, "cpu": 0.5},
	}, buf)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "cairn.") {
		t.Errorf("the command ran outside a cairn cgroup:\n%s", buf.String())
	}
	leftovers(t)
}

// leftovers fails when a cgroup v1 this process made for limits is left
// (in the memory and cpu hierarchies, under its own cgroups).
func leftovers(t *testing.T) {
	t.Helper()
	b, _ := os.ReadFile("/proc/self/cgroup")
	var bases []string
	for line := range strings.SplitSeq(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) == 3 && (parts[1] == "memory" || parts[1] == "cpu") {
			bases = append(bases, filepath.Join("/sys/fs/cgroup", parts[1], parts[2]))
		}
	}
	prefix := "cairn." + strconv.Itoa(os.Getpid()) + "."
	for _, base := range bases {
		entries, _ := os.ReadDir(base)
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), prefix) {
				t.Errorf("cgroup %s/%s left behind", base, e.Name())
			}
		}
	}
}
