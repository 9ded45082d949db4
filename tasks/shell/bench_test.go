package shell_test

import (
	"context"
	"encoding/json"
	"os/exec"
	"syscall"
	"testing"
	"time"

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

// BenchmarkTrueVsExec interleaves the floor and the task, one bare
// fork/exec of /bin/true and one shell attempt running it (file log,
// cgroup where there is one) in turn, and reports both and their ratio:
// measured in the same moments, the ratio holds on a machine whose speed
// drifts (a shared VM). extra-µs is what an attempt costs beyond the
// floor; cpu-µs are the CPU times (this process and its children).
func BenchmarkTrueVsExec(b *testing.B) {
	for _, c := range []struct{ name, params string }{
		{"argv", `{"argv":["/bin/true"]}`},
		{"script", `{"script":"/bin/true"}`},
	} {
		b.Run(c.name, func(b *testing.B) {
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
			req := tasktest.Request(b, json.RawMessage(c.params))
			task := shell.New()
			ctx := context.Background()
			var floor, attempt, floorCPU, attemptCPU time.Duration
			for b.Loop() {
				c0, t0 := cpuTime(), time.Now()
				if err := exec.Command("/bin/true").Run(); err != nil {
					b.Fatal(err)
				}
				c1, t1 := cpuTime(), time.Now()
				if _, err := task.Run(ctx, req, env); err != nil {
					b.Fatal(err)
				}
				c2, t2 := cpuTime(), time.Now()
				floor += t1.Sub(t0)
				attempt += t2.Sub(t1)
				floorCPU += c1 - c0
				attemptCPU += c2 - c1
			}
			n := float64(b.N)
			b.ReportMetric(float64(floor.Microseconds())/n, "floor-µs")
			b.ReportMetric(float64(attempt.Microseconds())/n, "attempt-µs")
			b.ReportMetric(float64(attempt-floor)/float64(time.Microsecond)/n, "extra-µs")
			b.ReportMetric(float64(attempt)/float64(floor), "x-floor")
			b.ReportMetric(float64(floorCPU.Microseconds())/n, "floor-cpu-µs")
			b.ReportMetric(float64(attemptCPU.Microseconds())/n, "attempt-cpu-µs")
		})
	}
}

// cpuTime is the CPU time of this process and its reaped children.
func cpuTime() time.Duration {
	var self, kids syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &kids)
	return time.Duration(self.Utime.Nano() + self.Stime.Nano() + kids.Utime.Nano() + kids.Stime.Nano())
}
