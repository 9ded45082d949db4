package storetest

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/experiments"
	"github.com/cairnml/cairn/scheduler"
)

// MetricsStore is what the experiments read beyond scheduler.Store.
type MetricsStore interface {
	TaskMetrics(ctx context.Context, f experiments.MetricsFilter) ([]experiments.TaskMetrics, error)
}

// succeed leases task taskID of run and completes it with metrics.
func succeed(t *testing.T, s scheduler.Store, runID string, now time.Time, metrics map[string]float64) {
	t.Helper()
	items := lease(t, s, "w", runID, 1, now)
	if len(items) != 1 {
		t.Fatalf("lease of %s: %d items", runID, len(items))
	}
	if _, err := s.Complete(context.Background(), items[0].Lease, cairn.Completion{State: cairn.TaskSucceeded, Metrics: metrics}, now); err != nil {
		t.Fatal(err)
	}
}

func testTaskMetrics(t *testing.T, s scheduler.Store) {
	ms, ok := s.(MetricsStore)
	if !ok {
		t.Skip("the store does not read task metrics")
	}
	ctx := context.Background()
	t0 := origin()
	a, _ := newRun(t, s, t0, "exp", cairn.TaskReady, cairn.TaskReady, cairn.TaskPending)
	b, _ := newRun(t, s, t0.Add(time.Second), "exp", cairn.TaskReady)
	c, _ := newRun(t, s, t0.Add(2*time.Second), "other", cairn.TaskReady)
	succeed(t, s, a.ID, t0, map[string]float64{"f1": 0.5, "loss": 1.25})
	succeed(t, s, a.ID, t0, nil) // t1: no metrics, not listed
	succeed(t, s, b.ID, t0, map[string]float64{"f1": 0.75})
	succeed(t, s, c.ID, t0, map[string]float64{"f1": 0.25})
	if err := s.ApplyPlan(ctx, &scheduler.Plan{RunID: b.ID, Run: &scheduler.RunChange{FromVersion: 1, From: cairn.RunQueued, To: cairn.RunRunning, At: t0}}); err != nil {
		t.Fatal(err)
	}

	get := func(f experiments.MetricsFilter) []experiments.TaskMetrics {
		t.Helper()
		got, err := ms.TaskMetrics(ctx, f)
		if err != nil {
			t.Fatalf("TaskMetrics(%+v): %v", f, err)
		}
		return got
	}
	want := []experiments.TaskMetrics{
		{RunID: b.ID, TaskID: "t0", Metrics: map[string]float64{"f1": 0.75}},
		{RunID: a.ID, TaskID: "t0", Metrics: map[string]float64{"f1": 0.5, "loss": 1.25}},
	}
	if got := get(experiments.MetricsFilter{Workflow: "exp"}); !reflect.DeepEqual(got, want) {
		t.Errorf("workflow exp: %+v, want %+v", got, want)
	}
	if got := get(experiments.MetricsFilter{Workflow: "exp", Tasks: []string{"t0"}}); !reflect.DeepEqual(got, want) {
		t.Errorf("workflow exp, task t0: %+v, want %+v", got, want)
	}
	if got := get(experiments.MetricsFilter{Tasks: []string{"t1", "t2"}}); len(got) != 0 {
		t.Errorf("tasks without metrics: %+v", got)
	}
	if got := get(experiments.MetricsFilter{Workflow: "exp", State: cairn.RunRunning}); !reflect.DeepEqual(got, want[:1]) {
		t.Errorf("running runs: %+v, want %+v", got, want[:1])
	}
	if got := get(experiments.MetricsFilter{RunIDs: []string{a.ID, c.ID}}); len(got) != 2 || got[0].RunID != c.ID || got[1].RunID != a.ID {
		t.Errorf("by run ids: %+v", got)
	}
	if got := get(experiments.MetricsFilter{RunIDs: []string{}}); len(got) != 0 {
		t.Errorf("no run ids: %+v", got)
	}
	if got := get(experiments.MetricsFilter{Workflow: "nope"}); got == nil || len(got) != 0 {
		t.Errorf("unknown workflow: %#v, want an empty list", got)
	}
}
