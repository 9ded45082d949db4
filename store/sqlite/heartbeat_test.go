package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/store/sqlite"
)

// HeartbeatMany costs one transaction and one statement per 512 leases,
// whatever their number; an empty call costs nothing. WriteStats counts
// what the writer runs: Heartbeat is one statement in one transaction.
func TestHeartbeatManyStatements(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "cairn.db"))
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	const n = 1100
	run := &cairn.Run{ID: cairn.NewRunID(t0), Workflow: "wf", Digest: "sha256:" + fmt.Sprintf("%064d", 1), SourcePath: "wf.yaml",
		Source: []byte("name: wf\n"), State: cairn.RunQueued, CreatedAt: t0}
	trs := make([]*cairn.TaskRun, n)
	for i := range trs {
		trs[i] = &cairn.TaskRun{RunID: run.ID, TaskID: fmt.Sprintf("t%d", i), Type: "noop", State: cairn.TaskReady,
			Params: []byte(`{}`)}
	}
	if err := s.CreateRun(ctx, run, trs); err != nil {
		t.Fatal(err)
	}
	items, err := s.Lease(ctx, cairn.LeaseRequest{Worker: "w", Max: n}, t0, time.Minute)
	if err != nil || len(items) != n {
		t.Fatalf("Lease = %d items, %v", len(items), err)
	}
	leases := make([]cairn.Lease, n)
	for i, it := range items {
		leases[i] = it.Lease
	}

	for _, c := range []struct {
		leases           []cairn.Lease
		stmts, txs       int64
		renewed, ofTotal int
	}{
		{nil, 0, 0, 0, 0},
		{leases[:1], 1, 1, 1, 1},
		{leases[:300], 1, 1, 300, 300},
		{leases[:512], 1, 1, 512, 512},
		{leases, 3, 1, n, n},
	} {
		before := s.WriteStats()
		rs, err := s.HeartbeatMany(ctx, c.leases, t0.Add(time.Second), time.Minute)
		if err != nil {
			t.Fatalf("HeartbeatMany of %d leases: %v", len(c.leases), err)
		}
		renewed := 0
		for _, r := range rs {
			if r.Err == nil {
				renewed++
			}
		}
		after := s.WriteStats()
		if got := (sqlite.WriteStats{Statements: after.Statements - before.Statements, Transactions: after.Transactions - before.Transactions}); got != (sqlite.WriteStats{Statements: c.stmts, Transactions: c.txs}) || renewed != c.renewed || len(rs) != c.ofTotal {
			t.Errorf("HeartbeatMany of %d leases: %+v, %d of %d renewed; want %d statements in %d transactions, %d of %d renewed",
				len(c.leases), got, renewed, len(rs), c.stmts, c.txs, c.renewed, c.ofTotal)
		}
	}

	before := s.WriteStats()
	if _, err := s.Heartbeat(ctx, leases[0], t0.Add(2*time.Second), time.Minute); err != nil {
		t.Fatal(err)
	}
	after := s.WriteStats()
	if after.Statements-before.Statements != 1 || after.Transactions-before.Transactions != 1 {
		t.Errorf("Heartbeat: %+v → %+v, want one statement in one transaction", before, after)
	}
}
