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
	if got := queryPlan(t, s, findCachedQuery, "sha256:x", 4); !strings.Contains(got, "USING INDEX attempts_cache (cache_key=?)") || strings.Contains(got, "SCAN attempts") {
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
		got := queryPlan(t, s, q, make([]any, params(q))...)
		if !strings.Contains(got, "task_runs USING INDEX task_runs_lease_run") || strings.Contains(got, "SCAN task_runs;") ||
			strings.HasSuffix(got, "SCAN task_runs") {
			t.Errorf("%s: %s", name, got)
		}
	}
}

// queryPlan is SQLite's plan of query (EXPLAIN QUERY PLAN), its steps
// joined by "; ".
func queryPlan(t *testing.T, s *Store, query string, args ...any) string {
	t.Helper()
	rows, err := s.r.QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		t.Fatalf("plan of %s: %v", query, err)
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
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(plan, "; ")
}
