//go:build linux

package shell_test

import (
	"context"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/cairnml/cairn/tasks"
	"github.com/cairnml/cairn/tasks/shell"
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
