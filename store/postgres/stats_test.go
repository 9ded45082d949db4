package postgres_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/store/postgres"
)

// TestStatementCounts: a store opened WithStatementCounts counts each
// statement by kind, a transaction's BEGIN and COMMIT among them; one
// opened without counts nothing.
func TestStatementCounts(t *testing.T) {
	t.Parallel()
	dsn := newDatabase(t)
	ctx := context.Background()
	s := openStore(t, dsn, postgres.WithStatementCounts())
	count := func(prefix string) int64 {
		var n int64
		for _, c := range s.StatementCounts() {
			if strings.HasPrefix(c.Kind, prefix) {
				n += c.Count
			}
		}
		return n
	}
	begins, commits, updates := count("BEGIN"), count("commit"), count("UPDATE task_runs t SET lease_expires_at")
	l := cairn.Lease{RunID: "r", TaskID: "t", Attempt: 1, Token: "tok", Worker: "w"}
	if _, err := s.HeartbeatMany(ctx, []cairn.Lease{l, l}, time.Now(), time.Minute); err != nil {
		t.Fatal(err)
	}
	if got := count("BEGIN") - begins; got != 1 {
		t.Errorf("BEGIN counted %d times for one transaction", got)
	}
	if got := count("commit") - commits; got != 1 {
		t.Errorf("commit counted %d times for one transaction", got)
	}
	if got := count("UPDATE task_runs t SET lease_expires_at") - updates; got != 1 {
		t.Errorf("the heartbeat's UPDATE counted %d times, want 1 (two leases, one statement)", got)
	}
	for _, c := range s.StatementCounts() {
		if strings.ContainsAny(c.Kind, "\n\t") || strings.Contains(c.Kind, "  ") {
			t.Errorf("kind %q: whitespace not collapsed", c.Kind)
		}
	}
	if plain := openStore(t, dsn); plain.StatementCounts() != nil {
		t.Errorf("a store opened without WithStatementCounts counts: %v", plain.StatementCounts())
	}
}
