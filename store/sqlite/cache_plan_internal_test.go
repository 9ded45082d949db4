package sqlite

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestFindCachedUsesItsIndex: a cache lookup reads the partial index
// attempts_cache, not every attempt ever recorded (every cached task of
// every run asks once).
func TestFindCachedUsesItsIndex(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rows, err := s.r.QueryContext(ctx, "EXPLAIN QUERY PLAN "+findCachedQuery, "sha256:x", 4)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if got := strings.Join(plan, "; "); !strings.Contains(got, "USING INDEX attempts_cache (cache_key=?)") || strings.Contains(got, "SCAN attempts") {
		t.Errorf("FindCached's plan: %s", got)
	}
}

// TestLeaseQueriesReadTheLeaseIndex: the queries of the leases of every
// run read the partial index of the leases in progress
// (task_runs_lease_run, since migration 0017 the only one), never the
// whole of task_runs.
func TestLeaseQueriesReadTheLeaseIndex(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "l.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for name, q := range map[string]string{
		"expired leases":        expiredLeasesQuery,
		"expired leases of run": expiredRunLeasesQuery,
		"worker leases":         workerLeasesQuery,
		"list workers":          listWorkersQuery(),
	} {
		rows, err := s.r.QueryContext(ctx, "EXPLAIN QUERY PLAN "+q, make([]any, params(q))...)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
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
		got := strings.Join(plan, "; ")
		if !strings.Contains(got, "task_runs USING INDEX task_runs_lease_run") || strings.Contains(got, "SCAN task_runs;") ||
			strings.HasSuffix(got, "SCAN task_runs") {
			t.Errorf("%s: %s", name, got)
		}
	}
}
