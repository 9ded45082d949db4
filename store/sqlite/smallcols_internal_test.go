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
	for _, q := range []string{
		`SELECT owner FROM runs INDEXED BY runs_id_small WHERE id = ?`,
		`SELECT (SELECT cancel_requested FROM runs INDEXED BY runs_id_small WHERE runs.id = task_runs.run_id) FROM task_runs WHERE run_id = ? AND task_id = ?`,
	} {
		rows, err := s.w.QueryContext(ctx, "EXPLAIN QUERY PLAN "+q, "r", "t")
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, notused int
			var detail string
			if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		if !strings.Contains(strings.Join(plan, "; "), "SEARCH runs USING COVERING INDEX runs_id_small (id=?)") {
			t.Errorf("%s reads the run's row: %v", q, plan)
		}
	}
}
