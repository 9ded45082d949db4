package shell_test

import (
	"context"
	"encoding/json"
	"os/exec"
	"testing"

	"github.com/cairnml/cairn/artifacts"
	"github.com/cairnml/cairn/tasks"
	"github.com/cairnml/cairn/tasks/shell"
	"github.com/cairnml/cairn/tasks/tasktest"
)

// BenchmarkBareExec is the floor: os/exec running /bin/true.
func BenchmarkBareExec(b *testing.B) {
	for b.Loop() {
		if err := exec.Command("/bin/true").Run(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTrueChain runs /bin/true as a chain of shell attempts writing to
// a file log, the task's hot path. Compare with BenchmarkBareExec.
func BenchmarkTrueChain(b *testing.B) {
	logs, err := artifacts.OpenLogs(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	w, err := logs.Create("r", "t", 1)
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	env, _ := tasktest.Env(b)
	env.Log = w
	req := tasktest.Request(b, json.RawMessage(`{"argv":["/bin/true"]}`))
	task := shell.New()
	ctx := context.Background()
	for b.Loop() {
		if _, err := task.Run(ctx, req, env); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTrueChainSweep is BenchmarkTrueChain with the attempt's
// processes held by the /proc sweep instead of a cgroup (the fallback):
// each attempt's end reads every process's stat and environment.
func BenchmarkTrueChainSweep(b *testing.B) {
	env, _ := tasktest.Env(b)
	env.Log = nil
	req := tasktest.Request(b, json.RawMessage(`{"argv":["/bin/true"]}`))
	task := shell.NewSweeping()
	ctx := context.Background()
	for b.Loop() {
		if _, err := task.Run(ctx, req, env); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTrueChainLogPerAttempt adds what the executor spends around the
// task: a new log file per attempt. Creating a file costs far more on some
// file systems than others: about 1ms on the ext4 of the development VM,
// 8µs on tmpfs.
func BenchmarkTrueChainLogPerAttempt(b *testing.B) {
	logs, err := artifacts.OpenLogs(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	env, _ := tasktest.Env(b)
	req := tasktest.Request(b, json.RawMessage(`{"argv":["/bin/true"]}`))
	task := shell.New()
	ctx := context.Background()
	for b.Loop() {
		req.Attempt++
		w, err := logs.Create(req.RunID, req.TaskID, req.Attempt)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := task.Run(ctx, req, tasks.Env{Log: w, Artifacts: env.Artifacts}); err != nil {
			b.Fatal(err)
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTrueChainPipeLog is BenchmarkTrueChain with an in-memory log,
// which costs a pipe and a copying goroutine per attempt.
func BenchmarkTrueChainPipeLog(b *testing.B) {
	env, _ := tasktest.Env(b)
	req := tasktest.Request(b, json.RawMessage(`{"argv":["/bin/true"]}`))
	task := shell.New()
	ctx := context.Background()
	for b.Loop() {
		if _, err := task.Run(ctx, req, env); err != nil {
			b.Fatal(err)
		}
	}
}
