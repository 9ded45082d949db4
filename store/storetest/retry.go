package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
)

// failedRun makes a run that failed: t0 failed after three attempts (the
// first interrupted, the second retried, the third failed), t1 (pending
// below it) upstream_failed, t2 succeeded with an output. The run is
// still claimed by "old", as when its scheduler has yet to release it.
func failedRun(t *testing.T, s scheduler.Store, at time.Time) *cairn.Run {
	t.Helper()
	ctx := context.Background()
	run, _ := newRun(t, s, at, "wf", cairn.TaskReady, cairn.TaskPending, cairn.TaskReady)
	claim(t, s, run.ID, "old", at, time.Hour)
	setRunState(t, s, run.ID, cairn.RunRunning, at)
	next := func() cairn.Lease {
		t.Helper()
		items := lease(t, s, "w", run.ID, 1, at)
		if len(items) != 1 || items[0].Lease.TaskID != "t0" {
			t.Fatalf("lease = %+v, want t0", items)
		}
		return items[0].Lease
	}
	items := lease(t, s, "w", run.ID, 2, at)
	if len(items) != 2 {
		t.Fatalf("lease = %+v, want t0 and t2", items)
	}
	for _, it := range items {
		if it.Lease.TaskID == "t2" {
			if _, err := s.Complete(ctx, it.Lease, cairn.Completion{State: cairn.TaskSucceeded,
				Outputs: map[string]json.RawMessage{"x": json.RawMessage(`"kept"`)}}, at); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if _, err := s.Expire(ctx, it.Lease, cairn.Completion{State: cairn.TaskRetrying, RetryAt: at, Error: "interrupted",
			Retryable: true, Interrupted: true}, at, true); err != nil {
			t.Fatal(err)
		}
	}
	retryTask(t, s, run.ID, "t0")
	if _, err := s.Complete(ctx, next(), cairn.Completion{State: cairn.TaskRetrying, RetryAt: at, Error: "flaky", Retryable: true}, at); err != nil {
		t.Fatal(err)
	}
	retryTask(t, s, run.ID, "t0")
	if _, err := s.Complete(ctx, next(), cairn.Completion{State: cairn.TaskFailed, Error: "broken", Retryable: true}, at); err != nil {
		t.Fatal(err)
	}
	t1 := task(t, s, run.ID, "t1")
	if err := s.ApplyPlan(ctx, &scheduler.Plan{RunID: run.ID, Tasks: []scheduler.TaskChange{{TaskID: "t1", FromVersion: t1.Version,
		From: cairn.TaskPending, To: cairn.TaskUpstreamFailed, Error: "upstream t0 failed", At: at}}}); err != nil {
		t.Fatal(err)
	}
	setRunState(t, s, run.ID, cairn.RunFailed, at)
	return run
}

// RetryRun puts a failed run back to running and its failed tasks back
// to pending in one transaction: the attempts are kept and numbered on,
// the retries renewed, the claim taken, every row's version bumped, an
// evaluation written; what succeeded keeps its state and outputs.
func testRetryRun(t *testing.T, s scheduler.Store) {
	ctx := context.Background()
	t0 := origin()
	run := failedRun(t, s, t0)
	before := snapshot(t, s, run.ID)
	if before.Run.State != cairn.RunFailed || before.Run.FinishedAt.IsZero() {
		t.Fatalf("the run before the retry: %+v", before.Run)
	}
	lastEval := last(t, s)
	now := t0.Add(time.Minute)
	if err := s.RetryRun(ctx, scheduler.Retry{RunID: run.ID, Tasks: []string{"t0", "t1"}, Owner: "new", Now: now, TTL: ttl}); err != nil {
		t.Fatalf("RetryRun: %v", err)
	}
	after := snapshot(t, s, run.ID)
	r := after.Run
	if r.State != cairn.RunRunning || r.Error != "" || !r.FinishedAt.IsZero() || !r.StartedAt.Equal(before.Run.StartedAt) ||
		r.CancelRequested || r.Owner != "new" || !r.OwnerExpiresAt.Equal(now.Add(ttl)) || r.Version != before.Run.Version+1 {
		t.Errorf("the run after the retry: %+v", r)
	}
	for i, tr := range after.Tasks {
		old := before.Tasks[i]
		if tr.Version <= old.Version {
			t.Errorf("task %s kept version %d: a plan made before the retry would not conflict", tr.TaskID, tr.Version)
		}
	}
	t0r, t1r, t2r := after.Tasks[0], after.Tasks[1], after.Tasks[2]
	if t0r.State != cairn.TaskPending || t0r.Attempt != 3 || t0r.Interrupted != 1 || t0r.InterruptedInARow != 0 ||
		t0r.Round != 1 || t0r.FailedBefore != 2 || t0r.Error != "" || t0r.Params != nil || !t0r.FinishedAt.IsZero() ||
		!t0r.StartedAt.Equal(before.Tasks[0].StartedAt) || !t0r.RetryAt.IsZero() {
		t.Errorf("t0 after the retry: %+v", t0r)
	}
	if t1r.State != cairn.TaskPending || t1r.Round != 1 || t1r.FailedBefore != 0 || t1r.Error != "" {
		t.Errorf("t1 after the retry: %+v", t1r)
	}
	if t2r.State != cairn.TaskSucceeded || string(t2r.Outputs["x"]) != `"kept"` || t2r.Round != 0 {
		t.Errorf("t2 (succeeded) after the retry: %+v", t2r)
	}
	if !reflect.DeepEqual(after.Attempts, before.Attempts) {
		t.Errorf("the attempts changed: %+v, were %+v", after.Attempts, before.Attempts)
	}
	wantEvals(t, "after the retry", newEvals(t, s, run.ID, lastEval), evalKey{run.ID, scheduler.EvalRetried, "", "new", now, now})

	// A plan made before the retry conflicts, and changes nothing.
	for _, p := range []*scheduler.Plan{
		{RunID: run.ID, Run: &scheduler.RunChange{FromVersion: before.Run.Version, From: cairn.RunRunning, To: cairn.RunSucceeded, At: now}},
		{RunID: run.ID, Tasks: []scheduler.TaskChange{{TaskID: "t0", FromVersion: before.Tasks[0].Version, From: cairn.TaskPending,
			To: cairn.TaskReady, Params: []byte(`{}`)}}},
	} {
		if err := s.ApplyPlan(ctx, p); !errors.Is(err, cairn.ErrConflict) {
			t.Errorf("a plan made before the retry: %v, want a conflict", err)
		}
	}
	assertUnchanged(t, s, after)

	// The next attempt is number 4, with its retries renewed.
	t0p := task(t, s, run.ID, "t0")
	if err := s.ApplyPlan(ctx, &scheduler.Plan{RunID: run.ID, Tasks: []scheduler.TaskChange{{TaskID: "t0", FromVersion: t0p.Version,
		From: cairn.TaskPending, To: cairn.TaskReady, Params: []byte(`{}`)}}}); err != nil {
		t.Fatal(err)
	}
	items := lease(t, s, "w", run.ID, 5, now)
	if len(items) != 1 || items[0].Lease.Attempt != 4 || items[0].FailedBefore != 2 || items[0].Interrupted != 1 || items[0].InterruptedInARow != 0 {
		t.Fatalf("the lease after the retry: %+v, want attempt 4 with 2 failed before and 1 interrupted", items)
	}
	if _, err := s.Complete(ctx, items[0].Lease, cairn.Completion{State: cairn.TaskSucceeded}, now); err != nil {
		t.Fatal(err)
	}
	as := attempts(t, s, run.ID, "t0")
	if len(as) != 4 || as[2].State != cairn.TaskFailed || as[2].Error != "broken" || as[3].State != cairn.TaskSucceeded {
		t.Errorf("t0's attempts: %+v", as)
	}
}

// RetryRun refuses, changing nothing, a run that has not finished or
// succeeded, an unknown run or task, and a task a retry does not run
// again (succeeded, or still pending); a cancelled run is retried with
// its cancel request cleared, and with no owner it is left unclaimed.
func testRetryRunRefuses(t *testing.T, s scheduler.Store) {
	ctx := context.Background()
	t0 := origin()
	now := t0.Add(time.Minute)
	retry := func(id string, tasks ...string) error {
		return s.RetryRun(ctx, scheduler.Retry{RunID: id, Tasks: tasks, Owner: "new", Now: now, TTL: ttl})
	}
	failed := failedRun(t, s, t0)
	before := snapshot(t, s, failed.ID)
	wantErr(t, retry(failed.ID, "t0", "t2"), cairn.ErrConflict) // t2 succeeded
	wantErr(t, retry(failed.ID, "t0", "nope"), cairn.ErrNotFound)
	wantErr(t, retry("nosuchrun0000000", "t0"), cairn.ErrNotFound)
	if err := retry(failed.ID); err == nil {
		t.Error("a retry of no task was accepted")
	}
	assertUnchanged(t, s, before)

	for _, st := range []cairn.RunState{cairn.RunQueued, cairn.RunRunning, cairn.RunSucceeded} {
		run, _ := newRun(t, s, t0.Add(time.Second), "wf", cairn.TaskFailed)
		if st != cairn.RunQueued {
			setRunState(t, s, run.ID, cairn.RunRunning, t0)
		}
		if st == cairn.RunSucceeded {
			setRunState(t, s, run.ID, cairn.RunSucceeded, t0)
		}
		b := snapshot(t, s, run.ID)
		wantErr(t, retry(run.ID, "t0"), cairn.ErrConflict)
		assertUnchanged(t, s, b)
	}

	// A cancelled run: the cancel request goes with the retry. Unclaimed,
	// it is there for a scheduler service to adopt.
	run, _ := newRun(t, s, t0.Add(2*time.Second), "wf", cairn.TaskPending, cairn.TaskSucceeded)
	setRunState(t, s, run.ID, cairn.RunRunning, t0)
	if err := s.RequestCancel(ctx, run.ID); err != nil {
		t.Fatal(err)
	}
	tr := task(t, s, run.ID, "t0")
	if err := s.ApplyPlan(ctx, &scheduler.Plan{RunID: run.ID, Tasks: []scheduler.TaskChange{{TaskID: "t0", FromVersion: tr.Version,
		From: cairn.TaskPending, To: cairn.TaskCancelled, Error: "run cancelled", At: t0}}}); err != nil {
		t.Fatal(err)
	}
	setRunState(t, s, run.ID, cairn.RunCancelled, t0)
	b := snapshot(t, s, run.ID)
	wantErr(t, retry(run.ID, "t0", "t1"), cairn.ErrConflict) // t1 succeeded
	assertUnchanged(t, s, b)
	if err := s.RetryRun(ctx, scheduler.Retry{RunID: run.ID, Tasks: []string{"t0"}, Now: now}); err != nil {
		t.Fatalf("RetryRun of a cancelled run: %v", err)
	}
	r, err := s.GetRun(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if r.State != cairn.RunRunning || r.CancelRequested || r.Owner != "" || !r.OwnerExpiresAt.IsZero() || r.Error != "" {
		t.Errorf("the cancelled run after its retry: %+v", r)
	}
	if tr := task(t, s, run.ID, "t0"); tr.State != cairn.TaskPending || tr.Round != 1 {
		t.Errorf("its cancelled task: %+v", tr)
	}
	un, err := s.Unowned(ctx, now, 100)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, c := range un {
		found = found || c.ID == run.ID
	}
	if !found {
		t.Errorf("the unclaimed retried run is not among Unowned's runs %v", claimIDs(un))
	}
	// Retried once, it is running: a second retry is refused.
	wantErr(t, retry(run.ID, "t0"), cairn.ErrConflict)
}

// In a batch, a retry commits with the audit entry beside it, or neither
// does; Tx.ClaimRun claims as ClaimRun does.
func testRetryRunInBatch(t *testing.T, s scheduler.Store) {
	ctx := context.Background()
	t0 := origin()
	now := t0.Add(time.Minute)
	run := failedRun(t, s, t0)
	before := snapshot(t, s, run.ID)
	boom := errors.New("boom")
	err := s.Batch(ctx, func(tx scheduler.Tx) error {
		if err := tx.RetryRun(scheduler.Retry{RunID: run.ID, Tasks: []string{"t0", "t1"}, Owner: "new", Now: now, TTL: ttl}); err != nil {
			return err
		}
		if _, err := tx.AddAudit(scheduler.Audit{At: now, Actor: "tester", Action: scheduler.AuditRetry, RunID: run.ID}); err != nil {
			return err
		}
		return boom
	})
	wantErr(t, err, boom)
	assertUnchanged(t, s, before)
	if as, err := s.ListAudit(ctx, scheduler.AuditFilter{RunID: run.ID}); err != nil || len(as) != 0 {
		t.Fatalf("audit after a batch that failed: %+v, %v", as, err)
	}

	// A refused retry fails the batch it is in: nothing is written.
	err = s.Batch(ctx, func(tx scheduler.Tx) error {
		if _, err := tx.AddAudit(scheduler.Audit{At: now, Actor: "tester", Action: scheduler.AuditRetry, RunID: run.ID}); err != nil {
			return err
		}
		return tx.RetryRun(scheduler.Retry{RunID: run.ID, Tasks: []string{"t2"}, Owner: "new", Now: now, TTL: ttl})
	})
	wantErr(t, err, cairn.ErrConflict)
	if as, err := s.ListAudit(ctx, scheduler.AuditFilter{RunID: run.ID}); err != nil || len(as) != 0 {
		t.Fatalf("audit after a refused retry: %+v, %v", as, err)
	}

	err = s.Batch(ctx, func(tx scheduler.Tx) error {
		if err := tx.RetryRun(scheduler.Retry{RunID: run.ID, Tasks: []string{"t0", "t1"}, Owner: "new", Now: now, TTL: ttl}); err != nil {
			return err
		}
		_, err := tx.AddAudit(scheduler.Audit{At: now, Actor: "tester", Action: scheduler.AuditRetry, RunID: run.ID, TaskID: "t0"})
		return err
	})
	if err != nil {
		t.Fatalf("Batch: %v", err)
	}
	if r, err := s.GetRun(ctx, run.ID); err != nil || r.State != cairn.RunRunning || r.Owner != "new" {
		t.Fatalf("the run after the batch: %+v, %v", r, err)
	}
	as, err := s.ListAudit(ctx, scheduler.AuditFilter{RunID: run.ID})
	if err != nil || len(as) != 1 || as[0].Action != scheduler.AuditRetry || as[0].TaskID != "t0" || as[0].Actor != "tester" {
		t.Fatalf("audit after the batch: %+v, %v", as, err)
	}

	// Tx.ClaimRun: refused while another's claim is live (the batch's
	// other writes still commit), taken when stolen.
	var got *cairn.Run
	err = s.Batch(ctx, func(tx scheduler.Tx) error {
		if _, err := tx.ClaimRun(run.ID, "third", now, ttl, false); !errors.Is(err, cairn.ErrRunOwned) {
			return errors.New("a live claim was taken without steal")
		}
		var err error
		got, err = tx.ClaimRun(run.ID, "third", now, ttl, true)
		return err
	})
	if err != nil {
		t.Fatalf("Batch: %v", err)
	}
	if got == nil || got.Owner != "third" || !got.OwnerExpiresAt.Equal(now.Add(ttl)) || got.State != cairn.RunRunning {
		t.Fatalf("Tx.ClaimRun returned %+v", got)
	}
	if r, err := s.GetRun(ctx, run.ID); err != nil || r.Owner != "third" {
		t.Fatalf("the run after Tx.ClaimRun: %+v, %v", r, err)
	}
}
