package postgres_test

import (
	"context"

	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/store/postgres"
	"github.com/cairnml/cairn/store/postgres/pgtest"
	"github.com/cairnml/cairn/store/storetest"
)

// serverDSN is the PostgreSQL server the tests use, or a skip.
func serverDSN(t testing.TB) string { t.Helper(); return pgtest.ServerDSN(t) }

// newDatabase creates a database of its own for the test on the server
// of CAIRN_TEST_POSTGRES, dropped when the test ends, and returns its DSN:
// tests run in parallel without seeing each other's rows.
func newDatabase(t testing.TB) string { t.Helper(); return pgtest.NewDatabase(t) }

func openStore(t testing.TB, dsn string, opts ...postgres.Option) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), dsn, opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// dsns remembers each test store's DSN, for OpenSecond and Corrupt.
type dsns map[scheduler.Store]string

var _ storetest.Server = (*postgres.Store)(nil)

func TestConformance(t *testing.T) {
	serverDSN(t)
	open, hooks := conformance()
	storetest.Run(t, func(t *testing.T) scheduler.Store { return open(t) }, hooks)
}

func TestServerConformance(t *testing.T) {
	serverDSN(t)
	open, hooks := conformance()
	storetest.RunServer(t, func(t *testing.T) storetest.Server { return open(t) }, hooks)
}

// conformance returns what the suites open stores with (each on a
// database of its own) and their hooks.
func conformance() (func(t *testing.T) *postgres.Store, storetest.Hooks) {
	var mu = make(chan struct{}, 1)
	known := dsns{}
	remember := func(s scheduler.Store, dsn string) {
		mu <- struct{}{}
		known[s] = dsn
		<-mu
	}
	dsnOf := func(s scheduler.Store) string {
		mu <- struct{}{}
		defer func() { <-mu }()
		return known[s]
	}
	open := func(t *testing.T) *postgres.Store {
		dsn := newDatabase(t)
		s := openStore(t, dsn, postgres.WithCallerClock())
		remember(s, dsn)
		return s
	}
	return open, storetest.Hooks{
		Corrupt: func(t *testing.T, s scheduler.Store, runID, taskID, field string) {
			t.Helper()
			if field != "params" && field != "inputs" {
				t.Fatalf("Corrupt: unknown field %q", field)
			}
			ctx := context.Background()
			c, err := pgx.Connect(ctx, dsnOf(s))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close(ctx)
			tag, err := c.Exec(ctx, `UPDATE task_runs SET `+field+` = '{"not json' WHERE run_id = $1 AND task_id = $2`, runID, taskID)
			if err != nil {
				t.Fatalf("Corrupt: %v", err)
			}
			if tag.RowsAffected() != 1 {
				t.Fatalf("Corrupt: task %s/%s not found", runID, taskID)
			}
		},
		OpenSecond: func(t *testing.T, s scheduler.Store) scheduler.Store {
			second := openStore(t, dsnOf(s), postgres.WithCallerClock())
			remember(second, dsnOf(s))
			return second
		},
		Exec: func(t *testing.T, s scheduler.Store, query string) {
			t.Helper()
			ctx := context.Background()
			c, err := pgx.Connect(ctx, dsnOf(s))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close(ctx)
			if _, err := c.Exec(ctx, query); err != nil {
				t.Fatalf("Exec: %v", err)
			}
		},
		Writes: func(s scheduler.Store) int64 {
			w := s.(*postgres.Store).WriteStats()
			return w.Statements + w.Transactions
		},
	}
}
