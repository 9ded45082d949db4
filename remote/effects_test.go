package remote_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cairnml/cairn"
)

// A worker is trusted with its task's results, not with the registry or
// the alerts: a completion whose effects its task cannot have made (a
// model registered by a shell task, a deploy registering another name,
// stage or artifact than its params and inputs say, an event its type
// does not raise) is refused as forbidden and changes nothing; the
// deploy's own registration is taken.
func TestCompletionEffectsCheckedAgainstTheTask(t *testing.T) {
	r := newRig(t)
	c := r.client(t, 1)
	ctx := context.Background()
	model, err := r.arts.Put(ctx, "application/octet-stream", strings.NewReader("model bytes"))
	if err != nil {
		t.Fatal(err)
	}
	other, _ := r.arts.Put(ctx, "application/octet-stream", strings.NewReader("other bytes"))
	now := time.Now()
	run := &cairn.Run{ID: cairn.NewRunID(now), Workflow: "w", Digest: "sha256:00", SourcePath: "w.yaml",
		Source: []byte("name: w\n"), State: cairn.RunRunning, CreatedAt: now}
	trs := []*cairn.TaskRun{
		{RunID: run.ID, TaskID: "sh", Type: "shell", State: cairn.TaskReady, Params: json.RawMessage(`{"script":"true"}`)},
		{RunID: run.ID, TaskID: "ship", Type: "deploy", State: cairn.TaskReady, Params: json.RawMessage(`{"name":"churn","stage":"candidate"}`),
			Inputs: map[string]cairn.ArtifactRef{"model": model}},
	}
	if err := r.st.CreateRun(ctx, run, trs); err != nil {
		t.Fatal(err)
	}
	r.broker.NotifyReady()
	leases := map[string]cairn.Lease{}
	for len(leases) < 2 {
		items, err := c.Lease(ctx, cairn.LeaseRequest{Max: 2, Wait: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range items {
			leases[it.Lease.TaskID] = it.Lease
		}
	}
	reg := func(name string, stage cairn.ModelStage, ref cairn.ArtifactRef) []cairn.Effect {
		return []cairn.Effect{{RegisterModel: &cairn.ModelRegistration{Name: name, Stage: stage, Model: ref}}}
	}
	done := func(effs []cairn.Effect) cairn.Completion {
		return cairn.Completion{State: cairn.TaskSucceeded, FinishedAt: time.Now(), Effects: effs}
	}
	for _, tc := range []struct {
		task string
		effs []cairn.Effect
		why  string
	}{
		{"sh", reg("payments-fraud", cairn.StageProduction, model), "registers no model"},
		{"sh", []cairn.Effect{{Notify: &cairn.Notification{Event: cairn.AlertDrift}}}, "does not raise drift"},
		{"ship", reg("payments-fraud", cairn.StageCandidate, model), `deploys "churn"`},
		{"ship", reg("churn", cairn.StageProduction, model), "deploys as candidate"},
		{"ship", reg("churn", cairn.StageCandidate, other), "not the task's model input"},
		{"ship", []cairn.Effect{{Notify: &cairn.Notification{Event: cairn.AlertGateFailed}}}, "does not raise gate_failed"},
	} {
		_, err := c.CompleteAndLease(ctx, leases[tc.task], done(tc.effs), cairn.LeaseRequest{})
		if err == nil || !strings.Contains(err.Error(), tc.why) {
			t.Errorf("%s with %+v: %v, want refused: %s", tc.task, tc.effs[0], err, tc.why)
		}
		if errors.Is(err, cairn.ErrLeaseLost) {
			t.Fatalf("%s: the refusal lost the lease: %v", tc.task, err)
		}
	}
	if ms, err := r.st.Models(ctx); err != nil || len(ms) != 0 {
		t.Fatalf("refused effects registered models: %v %v", ms, err)
	}
	// The deploy's own registration is taken.
	if _, err := c.CompleteAndLease(ctx, leases["ship"], done(reg("churn", cairn.StageCandidate, model)), cairn.LeaseRequest{}); err != nil {
		t.Fatalf("the deploy's own registration: %v", err)
	}
	if ms, err := r.st.Models(ctx); err != nil || len(ms) != 1 || ms[0].Name != "churn" {
		t.Fatalf("models after the deploy: %+v %v", ms, err)
	}

	// A success naming an artifact output that was never uploaded is
	// refused (the downstream task would fail for it elsewhere); one
	// naming a stored artifact is taken.
	fake := cairn.ArtifactRef{Digest: "sha256:" + strings.Repeat("ab", 32), Size: 5}
	withOut := func(ref cairn.ArtifactRef) cairn.Completion {
		return cairn.Completion{State: cairn.TaskSucceeded, FinishedAt: time.Now(), Outputs: map[string]json.RawMessage{"out": ref.JSON()}}
	}
	if _, err := c.CompleteAndLease(ctx, leases["sh"], withOut(fake), cairn.LeaseRequest{}); err == nil || !strings.Contains(err.Error(), "which is not stored here") {
		t.Fatalf("an output never uploaded: %v, want refused", err)
	}
	if tr, err := r.st.GetTaskRun(ctx, run.ID, "sh"); err != nil || tr.State == cairn.TaskSucceeded {
		t.Fatalf("the refused completion changed the task: %+v %v", tr, err)
	}
	if _, err := c.CompleteAndLease(ctx, leases["sh"], withOut(other), cairn.LeaseRequest{}); err != nil {
		t.Fatalf("an uploaded output: %v", err)
	}
}
