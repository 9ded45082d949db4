package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
)

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
