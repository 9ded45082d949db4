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
