package executor_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/executor"
	"github.com/cairnml/cairn/tasks"
	"github.com/cairnml/cairn/tasks/noop"
)

// plug stands for a plugin's task type, installed on some workers only.
type plug struct{}

func (plug) Info() cairn.TypeInfo { return cairn.TypeInfo{Name: "plug"} }
func (plug) Run(ctx context.Context, req tasks.Request, env tasks.Env) (tasks.Result, error) {
	return tasks.Result{}, nil
}

// A remote worker that leases a task of a type it does not have (a plugin
// of other workers) hands it back, free of the task's retries (it had
// none), and waits before leasing again: a worker that has the type runs
// it (trial finding 12: it failed for good, "unknown task type … on
// worker").
func TestUnknownTypeIsHandedBack(t *testing.T) {
	r := newRig(t, plug{})
	wf, id := r.create(t, `
name: handback
tasks:
  - {id: p, type: plug}
`)
	without, err := tasks.NewRegistry(noop.New())
	if err != nil {
		t.Fatal(err)
	}
	r.startPool(t, 1, func(o *executor.Options) {
		o.Worker, o.Types, o.HandBack, o.HandBackPause = "without", without, true, time.Minute
	})
	done := r.driveAsync(t, id, wf)
	deadline := time.Now().Add(waitLimit)
	for len(r.attempts(t, id, "p")) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	r.startPool(t, 1, func(o *executor.Options) { o.Worker = "with" })
	res := await(t, "the run", done)
	if res.err != nil {
		t.Fatalf("Drive: %v", res.err)
	}
	as := r.attempts(t, id, "p")
	for _, a := range as {
		t.Logf("attempt %d by %s: %s %q", a.Number, a.Worker, a.State, a.Error)
	}
	wantRun(t, res.run, cairn.RunSucceeded)
	if len(as) != 2 || as[0].State != cairn.AttemptInterrupted || as[0].Worker != "without" ||
		!strings.Contains(as[0].Error, `unknown task type "plug" on worker without: handed back`) || as[1].Worker != "with" {
		t.Fatalf("p's attempts are not one handed back by the worker without the type, then one by the worker with it")
	}
}
