package scheduler_test

import (
	"context"
	"errors"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/tasks"
	"github.com/cairnml/cairn/workflows"
)

const retryWF = `name: retried
tasks:
  - {id: a, type: probe, with: {in: "1"}}
  - {id: flaky, type: probe, retries: 1, with: {in: "${{ tasks.a.outputs.x }}"}}
  - {id: after, type: probe, with: {in: "${{ tasks.flaky.outputs.x }}"}}
  - {id: last, type: probe, needs: [after]}
  - {id: side, type: probe, with: {in: "2"}}
`

// retryAndWait retries tasks of run id in one batch with its audit entry,
// as the server's actions do, and waits for the service to end it again.
func retryAndWait(t *testing.T, r *rig, srv *server, wf *workflows.Workflow, id, taskID, owner string) *cairn.Run {
	t.Helper()
	ctx := context.Background()
	run, err := r.st.GetRun(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	trs, err := r.st.ListTaskRuns(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := scheduler.RetryTasks(run, wf, trs, taskID)
	if err != nil {
		t.Fatalf("RetryTasks: %v", err)
	}
	err = r.st.Batch(ctx, func(tx scheduler.Tx) error {
		if err := tx.RetryRun(scheduler.Retry{RunID: id, Tasks: ids, Owner: owner, Now: time.Now(), TTL: 10 * time.Second}); err != nil {
			return err
		}
		_, err := tx.AddAudit(scheduler.Audit{Actor: "tester", Action: scheduler.AuditRetry, RunID: id, TaskID: taskID})
		return err
	})
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	if owner != "" {
		if err := srv.svc.Take(ctx, id); err != nil {
			t.Fatalf("Take: %v", err)
		}
	} // else the service adopts it, told by the retry's evaluation
	srv.wait(t, 1, waitLimit)
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return srv.ended[id]
}

// A finished run retried into the same run is planned by the service and
// finishes: the failed task runs again with new attempts, numbered on,
// with its retries renewed each round; what succeeded does not run again.
func TestServiceRetriesRun(t *testing.T) {
	var fixed atomic.Bool
	p := newProbe(func(ctx context.Context, req tasks.Request) (tasks.Result, error) {
		if req.TaskID == "flaky" && !fixed.Load() {
			return tasks.Result{}, errors.New("not yet")
		}
		return echo(req)
	})
	r := newRig(t, rigOptions{}, p)
	wf, id := r.create(t, retryWF)
	srv := r.startServer(t, "test:9:server", 0, 4, func(*cairn.Run) scheduler.Graph { return wf })
	srv.wait(t, 1, waitLimit)
	ctx := context.Background()
	want := func(what string, run *cairn.Run, state cairn.RunState, tasks map[string]cairn.TaskState, attempts int) {
		t.Helper()
		if run == nil || run.State != state {
			t.Fatalf("%s: run %+v, want %s", what, run, state)
		}
		trs, err := r.st.ListTaskRuns(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]cairn.TaskState{}
		for _, tr := range trs {
			got[tr.TaskID] = tr.State
			if tr.TaskID == "flaky" && tr.Attempt != attempts {
				t.Errorf("%s: flaky has had %d attempts, want %d", what, tr.Attempt, attempts)
			}
		}
		if !reflect.DeepEqual(got, tasks) {
			t.Fatalf("%s: tasks %v, want %v", what, got, tasks)
		}
		if fl, err := r.st.ListAttempts(ctx, id, "flaky"); err != nil || len(fl) != attempts {
			t.Fatalf("%s: flaky's attempts %d (%v), want %d kept", what, len(fl), err, attempts)
		}
	}
	srv.mu.Lock()
	first := srv.ended[id]
	srv.mu.Unlock()
	failed := map[string]cairn.TaskState{"a": cairn.TaskSucceeded, "flaky": cairn.TaskFailed, "after": cairn.TaskUpstreamFailed,
		"last": cairn.TaskUpstreamFailed, "side": cairn.TaskSucceeded}
	want("first run", first, cairn.RunFailed, failed, 2)

	// Still broken: the retry gives flaky its one retry again (attempts 3
	// and 4), then the run fails again.
	again := retryAndWait(t, r, srv, wf, id, "flaky", srv.owner)
	want("after a retry of flaky", again, cairn.RunFailed, failed, 4)
	if again.Version <= first.Version || !again.StartedAt.Equal(first.StartedAt) {
		t.Errorf("the retried run: version %d (was %d), started %s (was %s)", again.Version, first.Version, again.StartedAt, first.StartedAt)
	}

	// Fixed, and the whole run retried with nobody claiming it: the
	// service adopts it from the retry's evaluation; attempt 5 succeeds.
	fixed.Store(true)
	done := retryAndWait(t, r, srv, wf, id, "", "")
	want("after a retry of the run", done, cairn.RunSucceeded, map[string]cairn.TaskState{"a": cairn.TaskSucceeded,
		"flaky": cairn.TaskSucceeded, "after": cairn.TaskSucceeded, "last": cairn.TaskSucceeded, "side": cairn.TaskSucceeded}, 5)
	if p.runCount("a") != 1 || p.runCount("side") != 1 || p.runCount("flaky") != 5 || p.runCount("after") != 1 {
		t.Errorf("attempts run: a %d, side %d, flaky %d, after %d; want 1, 1, 5, 1", p.runCount("a"), p.runCount("side"),
			p.runCount("flaky"), p.runCount("after"))
	}
	fl, err := r.st.GetTaskRun(ctx, id, "flaky")
	if err != nil {
		t.Fatal(err)
	}
	if fl.Round != 2 || fl.FailedBefore != 4 {
		t.Errorf("flaky: round %d with %d failed before, want round 2 with 4", fl.Round, fl.FailedBefore)
	}
	if out := string(mustTask(t, r, id, "last").Outputs["x"]); out != `"last()"` {
		t.Errorf("last's output %s", out)
	}
	audit, err := r.st.ListAudit(ctx, scheduler.AuditFilter{RunID: id})
	if err != nil || len(audit) != 2 || audit[0].TaskID != "" || audit[1].TaskID != "flaky" {
		t.Errorf("audit %+v, %v; want the two retries, newest first", audit, err)
	}
	// Finished and released; nothing left to plan.
	if final, err := r.st.GetRun(ctx, id); err != nil || final.Owner != "" {
		t.Errorf("the run after it ended: %+v, %v", final, err)
	}
	if n := len(srv.svc.Runs()); n != 0 {
		t.Errorf("the service still holds %d runs", n)
	}
}

func mustTask(t *testing.T, r *rig, runID, taskID string) *cairn.TaskRun {
	t.Helper()
	tr, err := r.st.GetTaskRun(context.Background(), runID, taskID)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// RetryTasks picks what a retry runs again and refuses, saying why, what
// it cannot retry.
func TestRetryTasks(t *testing.T) {
	wf, err := workflows.Parse("wf.yaml", []byte(`name: shape
tasks:
  - {id: a, type: noop}
  - {id: b, type: noop, needs: [a]}
  - {id: c, type: noop, needs: [b]}
  - {id: d, type: noop}
  - {id: e, type: noop, needs: [d, c]}
  - {id: f, type: noop, needs: [a]}
`), workflows.Options{})
	if err != nil {
		t.Fatal(err)
	}
	run := &cairn.Run{ID: "r1", State: cairn.RunFailed}
	states := map[string]cairn.TaskState{"a": cairn.TaskSucceeded, "b": cairn.TaskFailed, "c": cairn.TaskUpstreamFailed,
		"d": cairn.TaskCancelled, "e": cairn.TaskUpstreamFailed, "f": cairn.TaskSucceeded}
	var trs []*cairn.TaskRun
	for _, id := range wf.TaskIDs() {
		trs = append(trs, &cairn.TaskRun{TaskID: id, State: states[id]})
	}
	for _, tc := range []struct {
		task string
		want []string
		err  error
	}{
		{"", []string{"b", "c", "d", "e"}, nil},
		{"b", []string{"b", "c", "e"}, nil},
		{"d", []string{"d", "e"}, nil},
		{"c", nil, cairn.ErrConflict}, // upstream_failed: retry b
		{"a", nil, cairn.ErrConflict}, // succeeded
		{"zz", nil, cairn.ErrNotFound},
	} {
		got, err := scheduler.RetryTasks(run, wf, trs, tc.task)
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Errorf("RetryTasks(%q) = %v, %v; want %v", tc.task, got, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("RetryTasks(%q) = %v, %v; want %v", tc.task, got, err, tc.want)
		}
	}
	for _, st := range []cairn.RunState{cairn.RunQueued, cairn.RunRunning, cairn.RunSucceeded} {
		if _, err := scheduler.RetryTasks(&cairn.Run{ID: "r2", State: st}, wf, trs, ""); !errors.Is(err, cairn.ErrConflict) {
			t.Errorf("RetryTasks of a %s run: %v, want a conflict", st, err)
		}
	}
	// A failed run none of whose tasks failed (the server could not plan
	// it, and failed what was pending: those are failed) has nothing only
	// when every task succeeded or was skipped.
	for _, tr := range trs {
		tr.State = cairn.TaskSkipped
	}
	if _, err := scheduler.RetryTasks(run, wf, trs, ""); !errors.Is(err, cairn.ErrConflict) {
		t.Errorf("RetryTasks of a run with nothing failed: %v, want a conflict", err)
	}
}
