package storetest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
)

// AlertStore is the outbox of notify: (issue #22) beyond scheduler.Store.
type AlertStore interface {
	ClaimAlerts(ctx context.Context, c cairn.AlertClaim) ([]cairn.Alert, error)
	FinishAlert(ctx context.Context, o cairn.AlertOutcome) error
	ListAlerts(ctx context.Context, f cairn.AlertFilter) ([]cairn.Alert, error)
}

// notifyRun creates a run with notify targets: #0 for failure and
// success, #1 for gate_failed (slack).
func notifyRun(t *testing.T, s scheduler.Store, at time.Time, reproduceOf string, states ...cairn.TaskState) *cairn.Run {
	t.Helper()
	run := &cairn.Run{
		ID: cairn.NewRunID(at), Workflow: "alerting", Digest: digest, Source: []byte("name: alerting\n"), State: cairn.RunQueued,
		CreatedAt: at, ReproduceOf: reproduceOf,
		Notify: []cairn.NotifyTarget{
			{On: []cairn.AlertEvent{cairn.AlertFailure, cairn.AlertSuccess}, Webhook: "https://hooks.example.com/a", Format: cairn.AlertJSON},
			{On: []cairn.AlertEvent{cairn.AlertGateFailed}, Webhook: "https://hooks.example.com/b", Format: cairn.AlertSlack},
		},
	}
	tasks := make([]*cairn.TaskRun, len(states))
	for i, st := range states {
		tasks[i] = &cairn.TaskRun{RunID: run.ID, TaskID: "t" + string(rune('0'+i)), Type: "evaluate", State: st,
			Retry: cairn.RetryPolicy{Retries: 1, Backoff: time.Second, Factor: 2, MaxBackoff: time.Minute}}
		if st == cairn.TaskReady {
			tasks[i].Params = []byte(`{}`)
		}
	}
	if err := s.CreateRun(context.Background(), run, tasks); err != nil {
		t.Fatalf("CreateRun: %v", err)
	}
	return run
}

func endRun(t *testing.T, s scheduler.Store, id string, to cairn.RunState, at time.Time) {
	t.Helper()
	ctx := context.Background()
	r, err := s.GetRun(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if r.State == cairn.RunQueued {
		if err := s.ApplyPlan(ctx, &scheduler.Plan{RunID: id, Run: &scheduler.RunChange{FromVersion: r.Version, From: r.State, To: cairn.RunRunning, At: at}}); err != nil {
			t.Fatal(err)
		}
		r.Version++
	}
	if err := s.ApplyPlan(ctx, &scheduler.Plan{RunID: id, Run: &scheduler.RunChange{FromVersion: r.Version, From: cairn.RunRunning, To: to,
		Error: "task t0 failed", At: at}}); err != nil {
		t.Fatal(err)
	}
}

func testAlerts(t *testing.T, s scheduler.Store) {
	as, ok := s.(AlertStore)
	if !ok {
		t.Skip("the store has no outbox of alerts")
	}
	ctx := context.Background()
	t0 := origin()

	// A task's success with a notify effect writes the alerts of its
	// targets for that event, in the completion's transaction.
	run := notifyRun(t, s, t0, "", cairn.TaskReady)
	it := lease(t, s, "w", run.ID, 1, t0)[0]
	eff := cairn.Effect{Notify: &cairn.Notification{Event: cairn.AlertGateFailed, Detail: "f1 0.5 < 0.9"}}
	if _, err := s.Complete(ctx, it.Lease, cairn.Completion{State: cairn.TaskSucceeded, Effects: []cairn.Effect{eff}}, t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	// The run's end writes those of failure (target #0 only).
	endRun(t, s, run.ID, cairn.RunFailed, t0.Add(2*time.Second))
	// A succeeded run's; a cancelled one's (none); a reproduction's (none).
	ok2 := notifyRun(t, s, t0.Add(time.Minute), "")
	endRun(t, s, ok2.ID, cairn.RunSucceeded, t0.Add(time.Minute))
	cancelled := notifyRun(t, s, t0.Add(2*time.Minute), "")
	endRun(t, s, cancelled.ID, cairn.RunCancelled, t0.Add(2*time.Minute))
	repro := notifyRun(t, s, t0.Add(3*time.Minute), run.ID)
	endRun(t, s, repro.ID, cairn.RunFailed, t0.Add(3*time.Minute))

	list := func(f cairn.AlertFilter) []cairn.Alert {
		t.Helper()
		got, err := as.ListAlerts(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	all := list(cairn.AlertFilter{})
	if len(all) != 3 {
		t.Fatalf("alerts: %+v", all)
	}
	gate, fail, success := all[2], all[1], all[0]
	if gate.RunID != run.ID || gate.Workflow != "alerting" || gate.Event != cairn.AlertGateFailed || gate.TaskID != "t0" ||
		gate.Detail != "f1 0.5 < 0.9" || gate.Webhook != "https://hooks.example.com/b" || gate.Format != cairn.AlertSlack ||
		gate.State != cairn.AlertPending || gate.Attempts != 0 || !gate.CreatedAt.Equal(t0.Add(time.Second)) || gate.Key == "" {
		t.Errorf("gate_failed alert: %+v", gate)
	}
	if fail.RunID != run.ID || fail.Event != cairn.AlertFailure || fail.TaskID != "" || fail.Detail != "task t0 failed" ||
		fail.Webhook != "https://hooks.example.com/a" || fail.Format != cairn.AlertJSON || fail.Key == gate.Key {
		t.Errorf("failure alert: %+v", fail)
	}
	if success.RunID != ok2.ID || success.Event != cairn.AlertSuccess {
		t.Errorf("success alert: %+v", success)
	}
	if got := list(cairn.AlertFilter{RunID: run.ID, Limit: 1}); len(got) != 1 || got[0].ID != fail.ID {
		t.Errorf("the run's newest alert: %+v", got)
	}
	if got := list(cairn.AlertFilter{Before: fail.ID}); len(got) != 1 || got[0].ID != gate.ID {
		t.Errorf("alerts before %d: %+v", fail.ID, got)
	}

	// Claims: due, unclaimed, oldest first; a run's own.
	now := t0.Add(time.Hour)
	claim := func(owner, runID string, at time.Time, max int) []cairn.Alert {
		t.Helper()
		got, err := as.ClaimAlerts(ctx, cairn.AlertClaim{Owner: owner, RunID: runID, Now: at, TTL: 30 * time.Second, Max: max})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	mine := claim("a", run.ID, now, 10)
	if len(mine) != 2 || mine[0].ID != gate.ID || mine[1].ID != fail.ID || mine[0].Attempts != 1 || mine[0].Key != gate.Key {
		t.Fatalf("run %s's claim: %+v", run.ID, mine)
	}
	if got := claim("b", "", now, 10); len(got) != 1 || got[0].ID != success.ID {
		t.Fatalf("another's claim while a holds two: %+v", got)
	}
	// A claim that lapses (its process died) is taken again.
	again := claim("b", "", now.Add(31*time.Second), 1)
	if len(again) != 1 || again[0].ID != gate.ID || again[0].Attempts != 2 {
		t.Fatalf("a lapsed claim taken again: %+v", again)
	}
	// a's claim is gone: its outcome is refused, changing nothing.
	err := as.FinishAlert(ctx, cairn.AlertOutcome{ID: gate.ID, Owner: "a", State: cairn.AlertSent, Now: now})
	wantErr(t, err, cairn.ErrLeaseLost)
	// A retry later: not due before NextAt.
	if err := as.FinishAlert(ctx, cairn.AlertOutcome{ID: gate.ID, Owner: "b", State: cairn.AlertPending, Error: "503 Service Unavailable",
		NextAt: now.Add(time.Hour), Now: now.Add(31 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	if got := claim("c", run.ID, now.Add(2*time.Minute), 10); len(got) != 1 || got[0].ID != fail.ID {
		t.Fatalf("the retry is not due yet: %+v", got)
	}
	if err := as.FinishAlert(ctx, cairn.AlertOutcome{ID: fail.ID, Owner: "c", State: cairn.AlertFailed, Error: "400 Bad Request",
		Now: now.Add(2 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	got := claim("d", "", now.Add(time.Hour+time.Minute), 10)
	if len(got) != 2 || got[0].ID != gate.ID || got[0].Attempts != 3 || got[0].LastError != "503 Service Unavailable" {
		t.Fatalf("due again after the retry's time: %+v", got)
	}
	for _, a := range got {
		if err := as.FinishAlert(ctx, cairn.AlertOutcome{ID: a.ID, Owner: "d", State: cairn.AlertSent, Now: now.Add(2 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	if got := claim("e", "", now.Add(24*time.Hour), 10); len(got) != 0 {
		t.Errorf("sent and failed alerts claimed: %+v", got)
	}
	failed := list(cairn.AlertFilter{State: cairn.AlertFailed})
	if len(failed) != 1 || failed[0].ID != fail.ID || failed[0].LastError != "400 Bad Request" || !failed[0].DoneAt.Equal(now.Add(2*time.Minute)) {
		t.Errorf("failed alerts: %+v", failed)
	}
	sent := list(cairn.AlertFilter{State: cairn.AlertSent})
	if len(sent) != 2 || sent[1].ID != gate.ID || sent[1].Attempts != 3 || !sent[1].DoneAt.Equal(now.Add(2*time.Hour)) {
		t.Errorf("sent alerts: %+v", sent)
	}
	if !strings.HasPrefix(gate.Key, run.ID) {
		t.Errorf("key %q does not name its run", gate.Key)
	}
	if err := as.FinishAlert(ctx, cairn.AlertOutcome{ID: gate.ID, Owner: "d", State: "lost", Now: now}); err == nil {
		t.Error("an unknown state was accepted")
	}
}
