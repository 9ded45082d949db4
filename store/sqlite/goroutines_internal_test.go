package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"runtime/metrics"
	"testing"
)

// goroutinesCreated is the process's count of goroutines started so far.
func goroutinesCreated(t *testing.T) uint64 {
	t.Helper()
	s := []metrics.Sample{{Name: "/sched/goroutines-created:goroutines"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		t.Skip("this Go has no /sched/goroutines-created metric")
	}
	return s[0].Value.Uint64()
}

// TestWritesStartNoGoroutine: a write transaction — every hop of a chain
// is one — starts no goroutine, neither to begin and commit it nor for
// the statements in it, queries included. On a database/sql Tx it started
// one per transaction (Tx.awaitDone) and one per query (Rows.awaitDone),
// each waking another thread to run it: four a hop.
func TestWritesStartNoGoroutine(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "g.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	write := func(ctx context.Context, tx *sql.Conn) error {
		rows, err := s.query(ctx, tx, `SELECT version FROM schema_migrations WHERE version > ?`, 0)
		if err != nil {
			return err
		}
		for rows.Next() {
		}
		if err := rows.Close(); err != nil {
			return err
		}
		var n int
		if err := s.queryRow(ctx, tx, `SELECT count(*) FROM runs WHERE id = ?`, "none").Scan(&n); err != nil {
			return err
		}
		_, err = s.exec(ctx, tx, `UPDATE runs SET state = state WHERE id = ?`, "none")
		return err
	}
	// Once first: statements prepared, pools filled.
	if err := s.inTx(ctx, write); err != nil {
		t.Fatal(err)
	}
	const writes = 200
	before := goroutinesCreated(t)
	for range writes {
		if err := s.inTx(ctx, write); err != nil {
			t.Fatal(err)
		}
		if err := s.inTxCAS(ctx, write); err != nil {
			t.Fatal(err)
		}
	}
	// Writes in a shared transaction, each in its savepoint.
	for range writes / 10 {
		done := make(chan error, 8)
		for range 8 {
			go func() { done <- s.inTx(ctx, write) }()
		}
		for range 8 {
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		}
	}
	// The test's own goroutines above: 8 for each of writes/10 rounds.
	if n := goroutinesCreated(t) - before - 8*writes/10; n > writes/20 {
		t.Errorf("%d write transactions started %d goroutines", 2*writes+8*writes/10, n)
	}
}
