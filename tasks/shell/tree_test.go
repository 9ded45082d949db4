//go:build linux

package shell_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/cairnml/cairn/tasks/proctree"
	"github.com/cairnml/cairn/tasks/shell"
	"github.com/cairnml/cairn/tasks/tasktest"
)

// escapes starts processes that leave the command's process group, its
// session and (the last) its parent, each writing its pid to a file.
const escapes = `
setsid sleep 300 & echo $! > setsid.pid
sh -c 'sleep 300 & echo $! > orphan.pid' &
setsid sh -c 'env -i /bin/sleep 300 & echo $! > bare.pid; wait' &
while [ ! -s orphan.pid ] || [ ! -s bare.pid ]; do sleep 0.01; done
echo started
`

// treeModes runs f with the shell type as it runs (a cgroup per attempt
// where cgroup v2 can be written) and with the sweep forced.
func treeModes(t *testing.T, f func(t *testing.T, task *shell.Task)) {
	t.Run("cgroup", func(t *testing.T) {
		if !proctree.CgroupAvailable() {
			t.Skip("no writable cgroup v2 here")
		}
		f(t, shell.New())
	})
	t.Run("sweep", func(t *testing.T) { f(t, shell.NewSweeping()) })
}

func pidsIn(t *testing.T, dir string, names ...string) []int {
	t.Helper()
	var pids []int
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		pids = append(pids, pid)
		t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	}
	return pids
}

// Nothing an attempt started outlives it, success included: not a setsid
// job, not an orphan re-parented away, and (with a live parent) not a
// process that cleared its environment. When Run returns they are dead.
func TestNothingOutlivesASuccessfulAttempt(t *testing.T) {
	treeModes(t, func(t *testing.T, task *shell.Task) {
		raw, _ := json.Marshal(map[string]any{"script": escapes})
		env, buf := tasktest.Env(t)
		req := tasktest.Request(t, raw)
		if _, err := task.Run(context.Background(), req, env); err != nil {
			t.Fatalf("run: %v\n%s", err, buf.String())
		}
		for _, pid := range pidsIn(t, req.WorkDir, "setsid.pid", "orphan.pid", "bare.pid") {
			if !gone(pid) {
				t.Errorf("process %d outlived the successful attempt", pid)
			}
		}
	})
}

// A failing attempt, too.
func TestNothingOutlivesAFailedAttempt(t *testing.T) {
	treeModes(t, func(t *testing.T, task *shell.Task) {
		raw, _ := json.Marshal(map[string]any{"script": escapes + "exit 3"})
		env, _ := tasktest.Env(t)
		req := tasktest.Request(t, raw)
		if _, err := task.Run(context.Background(), req, env); err == nil {
			t.Fatal("exit 3 succeeded")
		}
		for _, pid := range pidsIn(t, req.WorkDir, "setsid.pid", "orphan.pid", "bare.pid") {
			if !gone(pid) {
				t.Errorf("process %d outlived the failed attempt", pid)
			}
		}
	})
}
