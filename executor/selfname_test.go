package executor_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/tasks"
)

// A task's error recorded against the task does not start with the
// task's own type and id (or type alone), however many of its layers
// added them; the error stays permanent, and other text is kept.
func TestAttemptErrorDoesNotRepeatTheTasksName(t *testing.T) {
	p := newProbe(func(ctx context.Context, req tasks.Request) (tasks.Result, error) {
		switch req.TaskID {
		case "train":
			inner := fmt.Errorf("probe %s: input train: bad row", req.TaskID)
			return tasks.Result{}, cairn.Permanentf("probe %s: probe: %w", req.TaskID, inner)
		case "other":
			return tasks.Result{}, cairn.Permanentf("probe train: about another task")
		}
		return tasks.Result{}, cairn.Permanentf("probe %s: ", req.TaskID)
	})
	r := newRig(t, p)
	wf, id := r.create(t, `
name: selfname
tasks:
  - {id: train, type: probe, retries: 2}
  - {id: other, type: probe, retries: 2}
  - {id: empty, type: probe, retries: 2}
`)
	r.startPool(t, 2)
	wantRun(t, r.drive(t, id, wf), cairn.RunFailed)
	for task, want := range map[string]string{
		"train": "input train: bad row",
		"other": "probe train: about another task",
		"empty": "probe empty: ",
	} {
		as := r.attempts(t, id, task)
		if len(as) != 1 {
			t.Fatalf("%s: %d attempts, want 1 (a permanent error is not retried)", task, len(as))
		}
		if as[0].Error != want || as[0].Retryable {
			t.Errorf("%s: error %q retryable %v, want %q, permanent", task, as[0].Error, as[0].Retryable, want)
		}
	}
}
