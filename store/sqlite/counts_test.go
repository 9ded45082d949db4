package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
)

// StateCounts counts every run by state, the task runs of queued and
// running runs only by state, the ready task runs, and the active runs
// an owner holds.
func TestStateCounts(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "cairn.db"))
	mk := func(i int, state cairn.RunState, tasks ...cairn.TaskState) string {
		run := &cairn.Run{ID: cairn.NewRunID(benchNow.Add(time.Duration(i) * time.Millisecond)), Workflow: "w", State: state, CreatedAt: benchNow}
		var trs []*cairn.TaskRun
		for j, ts := range tasks {
			trs = append(trs, &cairn.TaskRun{TaskID: fmt.Sprintf("t%d", j), Type: "noop", State: ts})
		}
		if err := s.CreateRun(ctx, run, trs); err != nil {
			t.Fatal(err)
		}
		return run.ID
	}
	mk(1, cairn.RunQueued, cairn.TaskPending, cairn.TaskPending, cairn.TaskReady)
	b := mk(2, cairn.RunRunning, cairn.TaskSucceeded, cairn.TaskReady, cairn.TaskReady)
	mk(3, cairn.RunSucceeded, cairn.TaskSucceeded, cairn.TaskSucceeded)
	mk(4, cairn.RunFailed, cairn.TaskFailed, cairn.TaskUpstreamFailed)
	if items, err := s.Lease(ctx, cairn.LeaseRequest{Worker: "w", RunID: b, Max: 1, Start: true}, benchNow, time.Minute); err != nil || len(items) != 1 {
		t.Fatalf("Lease: %v %v", items, err)
	}
	if _, err := s.ClaimRun(ctx, b, "me", benchNow, time.Minute, false); err != nil {
		t.Fatal(err)
	}
	got, err := s.StateCounts(ctx, "me")
	if err != nil {
		t.Fatal(err)
	}
	want := map[cairn.RunState]int64{cairn.RunQueued: 1, cairn.RunRunning: 1, cairn.RunSucceeded: 1, cairn.RunFailed: 1}
	if !reflect.DeepEqual(got.Runs, want) {
		t.Errorf("runs %v, want %v", got.Runs, want)
	}
	wantTasks := map[cairn.TaskState]int64{cairn.TaskPending: 2, cairn.TaskReady: 2, cairn.TaskRunning: 1, cairn.TaskSucceeded: 1}
	if !reflect.DeepEqual(got.Tasks, wantTasks) {
		t.Errorf("tasks of active runs %v, want %v", got.Tasks, wantTasks)
	}
	if got.Ready != 2 || got.Owned != 1 {
		t.Errorf("ready %d, owned %d: want 2 and 1", got.Ready, got.Owned)
	}
	if other, err := s.StateCounts(ctx, "someone else"); err != nil || other.Owned != 0 {
		t.Errorf("another owner's count: %d %v, want 0", other.Owned, err)
	}
}

// BenchmarkStateCounts100k is one scrape's read of the database behind
// /metrics: 100,000 runs, 100 of them running with 10 task runs each.
// The count of runs by state walks the index runs_state_id: its cost
// grows with the number of runs.
func BenchmarkStateCounts100k(b *testing.B) {
	ctx := context.Background()
	s := open(b, filepath.Join(b.TempDir(), "bench.db"))
	const runs, active = 100_000, 100
	for i := 0; i < runs; i += 1000 {
		err := s.Batch(ctx, func(tx scheduler.Tx) error {
			for j := i; j < i+1000; j++ {
				// Finished runs' task runs are not read: one each will do.
				run, tasks := benchRun(b, j), benchTasks(1, cairn.TaskSucceeded)
				run.State = cairn.RunSucceeded
				if j >= runs-active {
					run.State, tasks = cairn.RunRunning, benchTasks(10, cairn.TaskPending)
				}
				if err := tx.CreateRun(run, tasks); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		c, err := s.StateCounts(ctx, "me")
		if err != nil || c.Runs[cairn.RunSucceeded] != runs-active || c.Tasks[cairn.TaskPending] != active*10 {
			b.Fatal(c, err)
		}
	}
}
