package sqlite

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// The run's columns read on every completion and heartbeat (its claim's
// owner, cancel_requested) come from the covering index runs_id_small,
// never from the row, where they lie past the workflow's source: a read
// of the row walked the source's overflow pages, some 750 page reads per
// completion batch for a 100,000-task workflow (a 100k fan ran 4 times
// slower).
func TestSmallRunColumnsReadFromIndex(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for q, args := range map[string][]any{
		`SELECT owner FROM runs INDEXED BY runs_id_small WHERE id = ?`:                                                                                         {"r"},
		`SELECT (SELECT cancel_requested FROM runs INDEXED BY runs_id_small WHERE runs.id = task_runs.run_id) FROM task_runs WHERE run_id = ? AND task_id = ?`: {"r", "t"},
	} {
		if got := queryPlan(t, s, q, args...); !strings.Contains(got, "SEARCH runs USING COVERING INDEX runs_id_small (id=?)") {
			t.Errorf("%s reads the run's row: %s", q, got)
		}
	}
}
