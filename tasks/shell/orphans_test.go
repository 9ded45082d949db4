//go:build linux

package shell_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cairnml/cairn/tasks"
	"github.com/cairnml/cairn/tasks/proctree"
	"github.com/cairnml/cairn/tasks/shell"
	"github.com/cairnml/cairn/tasks/tasktest"
)

var _ tasks.OrphanReaper = shell.New()

func TestReapOrphansKillsOnlyThatAttempt(t *testing.T) {
	start := func(attempt string) *exec.Cmd {
		cmd := exec.Command("/bin/sleep", "300")
		cmd.Env = []string{"PATH=/usr/bin:/bin", "CAIRN_RUN_ID=r1", "CAIRN_TASK_ID=train", "CAIRN_ATTEMPT=" + attempt}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		return cmd
	}
	orphan, other := start("1"), start("2")
	exited := make(chan error, 1)
	go func() { exited <- orphan.Wait() }()
	if err := shell.New().ReapOrphans(context.Background(), "r1", "train", 1); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		t.Fatal("the orphan of attempt 1 is still running")
	}
	if err := other.Process.Signal(syscall.Signal(0)); err != nil {
		t.Fatalf("the process of attempt 2 was killed too: %v", err)
	}
}

// A running attempt's cgroup carries its name: ReapOrphans, as a resume
// after the worker died calls it, finds there a process that cleared its
// environment (no marks to find it by) and kills it.
func TestReapOrphansFindsTheAttemptsCgroup(t *testing.T) {
	if !proctree.CgroupAvailable() {
		t.Skip("no writable cgroup v2 here")
	}
	// bare cleared its environment and lost its parent: neither the
	// marks nor a marked ancestor lead to it, only the cgroup.
	raw, _ := json.Marshal(map[string]any{"script": `echo "$(awk '$9 == "cgroup2" {print $5; exit}' /proc/self/mountinfo)$(sed -n 's/^0:://p' /proc/self/cgroup)" > cgroup.txt
sh -c 'env -i /bin/sleep 300 & echo $! > bare.pid'
exec sleep 300`})
	env, _ := tasktest.Env(t)
	req := tasktest.Request(t, raw)
	// A run id of this process's own: another test process reaping the
	// same name would kill this attempt.
	req.RunID, req.TaskID, req.Attempt = fmt.Sprintf("r-reap-%d", os.Getpid()), "train", 3
	done := make(chan error, 1)
	go func() {
		_, err := shell.New().Run(context.Background(), req, env)
		done <- err
	}()
	pidFile := filepath.Join(req.WorkDir, "bare.pid")
	deadline := time.Now().Add(10 * time.Second)
	for {
		if b, err := os.ReadFile(pidFile); err == nil && len(b) > 0 && b[len(b)-1] == '\n' {
			break
		}
		if time.Now().After(deadline) {
			select {
			case err := <-done:
				t.Fatalf("the attempt did not start its process: %v", err)
			default:
			}
			t.Fatal("the attempt did not start its process")
		}
		time.Sleep(10 * time.Millisecond)
	}
	bare := pidsIn(t, req.WorkDir, "bare.pid")[0]
	cg, err := os.ReadFile(filepath.Join(req.WorkDir, "cgroup.txt"))
	if err != nil {
		t.Fatal(err)
	}
	name := make([]byte, 256)
	n, err := syscall.Getxattr(strings.TrimSpace(string(cg)), "user.cairn.tree", name)
	want := "shell." + req.RunID + ".train.3"
	if got := string(name[:max(n, 0)]); strings.HasSuffix(strings.TrimSpace(string(cg)), ".pool") && got != want {
		t.Errorf("the attempt's pooled cgroup %s is named %q (%v), want %s", cg, got, err, want)
	}
	if err := shell.New().ReapOrphans(context.Background(), req.RunID, "train", 3); err != nil {
		t.Fatal(err)
	}
	// At once: ReapOrphans kills the cgroup and waits until it is empty
	// (the marked command alone, killed, would leave it for the
	// attempt's own end).
	if !gone(bare) {
		t.Errorf("process %d of the attempt's cgroup outlived ReapOrphans", bare)
	}
	select {
	case err := <-done:
		if err == nil {
			t.Error("the reaped attempt succeeded")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the attempt still runs after its cgroup was reaped")
	}
}
