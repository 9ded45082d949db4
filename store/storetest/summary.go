package storetest

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"testing"

	"github.com/cairnml/cairn"
)

// testSummaryTaskRuns: the summary's read of a run counts its task runs
// per state as ListTaskRuns' rows count them (a for_each task with items
// not counted), and returns, in creation order, the failed task runs and
// the succeeded ones with metrics, a "passed" output or of type deploy —
// not the plain successes, whatever else they hold — each as
// ListTaskRuns reads it.
func testSummaryTaskRuns(t *testing.T, s Server, h Hooks) {
	if h.Exec == nil {
		t.Skip("needs Hooks.Exec: a for_each task's items count set by hand")
	}
	ctx := context.Background()
	raw := func(v string) json.RawMessage { return json.RawMessage(v) }
	tasks := []*cairn.TaskRun{
		{TaskID: "plain", Type: "noop", State: cairn.TaskSucceeded},
		{TaskID: "outputs", Type: "noop", State: cairn.TaskSucceeded, Outputs: map[string]json.RawMessage{"rows": raw("3")}},
		{TaskID: "empty-metrics", Type: "noop", State: cairn.TaskSucceeded, Metrics: map[string]float64{}, Outputs: map[string]json.RawMessage{}},
		{TaskID: "metrics", Type: "train", State: cairn.TaskSucceeded, Metrics: map[string]float64{"auc": 0.9}},
		{TaskID: "gate", Type: "evaluate", State: cairn.TaskSucceeded, Outputs: map[string]json.RawMessage{"passed": raw("false")}},
		{TaskID: "deploy", Type: "deploy", State: cairn.TaskSucceeded},
		{TaskID: "failed", Type: "noop", State: cairn.TaskFailed, Error: "boom"},
		{TaskID: "skipped", Type: "noop", State: cairn.TaskSkipped},
		{TaskID: "pending", Type: "noop", State: cairn.TaskPending},
		{TaskID: "failed-metrics", Type: "train", State: cairn.TaskFailed, Metrics: map[string]float64{"auc": 0.1}},
		{TaskID: "parent", Type: "noop", State: cairn.TaskFailed, Error: "1 of 2 items did not succeed"},
		{TaskID: "no-items", Type: "noop", State: cairn.TaskSucceeded},
		{TaskID: "cancelled", Type: "noop", State: cairn.TaskCancelled},
	}
	r := &cairn.Run{ID: "run-summary", Workflow: "w", State: cairn.RunFailed, CreatedAt: origin()}
	if err := s.CreateRun(ctx, r, tasks); err != nil {
		t.Fatal(err)
	}
	// Another run's rows are none of this one's.
	other := &cairn.Run{ID: "run-other", Workflow: "w", State: cairn.RunFailed, CreatedAt: origin()}
	if err := s.CreateRun(ctx, other, []*cairn.TaskRun{{TaskID: "failed", Type: "noop", State: cairn.TaskFailed}}); err != nil {
		t.Fatal(err)
	}
	// A for_each task that has items is not counted; one without is.
	h.Exec(t, s, `UPDATE task_runs SET items = 2 WHERE run_id = 'run-summary' AND task_id = 'parent'`)
	h.Exec(t, s, `UPDATE task_runs SET items = 0 WHERE run_id = 'run-summary' AND task_id = 'no-items'`)

	all, err := s.ListTaskRuns(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := map[cairn.TaskState]int{}
	for _, tr := range all {
		if tr.Counted() {
			want[tr.State]++
		}
	}
	if want[cairn.TaskFailed] != 2 || want[cairn.TaskSucceeded] != 7 {
		t.Fatalf("the run's rows count %v: the test's rows are not as meant", want)
	}
	counts, shown, err := s.SummaryTaskRuns(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(counts, want) {
		t.Errorf("counts %v, want %v", counts, want)
	}
	var ids []string
	for _, tr := range shown {
		ids = append(ids, tr.TaskID)
	}
	if wantIDs := []string{"metrics", "gate", "deploy", "failed", "failed-metrics", "parent"}; !slices.Equal(ids, wantIDs) {
		t.Errorf("task runs read %v, want %v", ids, wantIDs)
	}
	byID := map[string]*cairn.TaskRun{}
	for _, tr := range all {
		byID[tr.TaskID] = tr
	}
	for _, tr := range shown {
		w := byID[tr.TaskID]
		if tr.State != w.State || tr.Error != w.Error || !maps.Equal(tr.Metrics, w.Metrics) || len(tr.Outputs) != len(w.Outputs) ||
			tr.Version != w.Version || tr.Items != w.Items || tr.Expanded != w.Expanded {
			t.Errorf("%s read as %+v, ListTaskRuns reads %+v", tr.TaskID, tr, w)
		}
	}

	counts, shown, err = s.SummaryTaskRuns(ctx, "no-such-run")
	if err != nil || len(counts) != 0 || len(shown) != 0 {
		t.Errorf("an unknown run: %v, %d task runs, %v", counts, len(shown), err)
	}
}
