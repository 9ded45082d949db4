package sqlite_test

import (
	"context"
	"encoding/json"
	"maps"
	"path/filepath"
	"slices"
	"testing"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/store/sqlite"
)

// TestSummaryTaskRuns: the summary's read of a run counts its task runs
// per state as ListTaskRuns' rows count them (a for_each task with items
// not counted), and returns, in creation order, the failed task runs and
// the succeeded ones with metrics, a "passed" output or of type deploy —
// not the plain successes, whatever else they hold.
func TestSummaryTaskRuns(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cairn.db")
	s := open(t, path)
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
	r := &cairn.Run{ID: "run-summary", Workflow: "w", State: cairn.RunFailed, CreatedAt: benchNow}
	if err := s.CreateRun(ctx, r, tasks); err != nil {
		t.Fatal(err)
	}
	// Another run's rows are none of this one's.
	other := &cairn.Run{ID: "run-other", Workflow: "w", State: cairn.RunFailed, CreatedAt: benchNow}
	if err := s.CreateRun(ctx, other, []*cairn.TaskRun{{TaskID: "failed", Type: "noop", State: cairn.TaskFailed}}); err != nil {
		t.Fatal(err)
	}
	// A for_each task that has items is not counted; one without is.
	db := sqlite.RawDB(t, path)
	defer db.Close()
	if _, err := db.Exec(`UPDATE task_runs SET items = CASE task_id WHEN 'parent' THEN 2 ELSE 0 END
		WHERE run_id = 'run-summary' AND task_id IN ('parent', 'no-items')`); err != nil {
		t.Fatal(err)
	}

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
	wantIDs := []string{"metrics", "gate", "deploy", "failed", "failed-metrics", "parent"}
	if !slices.Equal(ids, wantIDs) {
		t.Errorf("task runs read %v, want %v", ids, wantIDs)
	}
	// Each as ListTaskRuns reads it.
	byID := map[string]*cairn.TaskRun{}
	for _, tr := range all {
		byID[tr.TaskID] = tr
	}
	for _, tr := range shown {
		w := byID[tr.TaskID]
		if tr.State != w.State || tr.Error != w.Error || !maps.Equal(tr.Metrics, w.Metrics) || len(tr.Outputs) != len(w.Outputs) ||
			tr.Version != w.Version || tr.Items != w.Items {
			t.Errorf("%s read as %+v, ListTaskRuns reads %+v", tr.TaskID, tr, w)
		}
	}

	counts, shown, err = s.SummaryTaskRuns(ctx, "no-such-run")
	if err != nil || len(counts) != 0 || len(shown) != 0 {
		t.Errorf("an unknown run: %v, %d task runs, %v", counts, len(shown), err)
	}
}
