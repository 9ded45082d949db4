//go:build linux

package shell_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cairnml/cairn/tasks"
	"github.com/cairnml/cairn/tasks/shell"
	"github.com/cairnml/cairn/tasks/tasktest"
)

// dyingWorker runs, as a worker would, a command that writes its pid to
// pidfile and sleeps, while other goroutines take the threads in turn,
// and blocks: the test kills it with -9.
func dyingWorker(pidfile string) {
	env := tasks.Env{Log: &tasktest.Buffer{}}
	req := tasks.Request{RunID: "r", TaskID: "t", Attempt: 1, WorkDir: os.TempDir(),
		Params: json.RawMessage(`{"script": "echo $$ > ` + pidfile + `.tmp && mv ` + pidfile + `.tmp ` + pidfile + ` && exec sleep 300"}`)}
	go func() {
		_, err := shell.New().Run(context.Background(), req, env)
		fmt.Fprintln(os.Stderr, "the command ended:", err)
		os.Exit(2)
	}()
	// Other goroutines take the threads in turn, locking and unlocking
	// them, as cairn's do.
	for i := 0; ; i++ {
		go func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			time.Sleep(time.Millisecond)
		}()
		time.Sleep(100 * time.Microsecond)
	}
}

// A shell command dies with its worker (kill -9): its parent-death signal
// (dieWithParent), while other goroutines take the worker's threads in
// turn.
func TestCommandDiesWithItsWorker(t *testing.T) {
	pidfile := filepath.Join(t.TempDir(), "child.pid")
	cmd := exec.Command(os.Args[0], "-test.run", "^$")
	cmd.Env = append(os.Environ(), "SHELL_TEST_WORKER="+pidfile)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var pid int
	deadline := time.Now().Add(10 * time.Second)
	for pid == 0 {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("the command did not start\n%s", stderr.String())
		}
		if b, err := os.ReadFile(pidfile); err == nil {
			pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	time.Sleep(200 * time.Millisecond) // the threads taken in turn meanwhile
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	for deadline := time.Now().Add(5 * time.Second); ; {
		if syscall.Kill(pid, 0) == syscall.ESRCH {
			return
		}
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil && strings.Contains(string(b), ") Z ") {
			return // dead, waiting for its reaper
		}
		if time.Now().After(deadline) {
			t.Fatalf("the command %d still runs 5 s after its worker was killed", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
