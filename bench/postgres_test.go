package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/cairnml/cairn/store/postgres"
	"github.com/cairnml/cairn/tasks"
	"github.com/cairnml/cairn/tasks/noop"
	"github.com/cairnml/cairn/tasks/shell"
	"github.com/cairnml/cairn/workflows"
)

// pgDatabase makes a database of its own on CAIRN_TEST_POSTGRES's server,
// dropped at the end, or skips.
func pgDatabase(b testing.TB) string {
	b.Helper()
	dsn := os.Getenv("CAIRN_TEST_POSTGRES")
	if dsn == "" {
		b.Skip("CAIRN_TEST_POSTGRES is not set (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable): PostgreSQL benchmark skipped")
	}
	ctx := context.Background()
	r := make([]byte, 6)
	rand.Read(r)
	name := "cairn_bench_" + hex.EncodeToString(r)
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if c, err := pgx.Connect(ctx, dsn); err == nil {
			c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			c.Close(ctx)
		}
	})
	u, err := url.Parse(dsn)
	if err != nil {
		b.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// BenchmarkInProcessNoopFan10000Postgres is BenchmarkInProcessNoopFan10000
// on store/postgres (a database of its own on the local server, over
// loopback): the lease/complete throughput of the PostgreSQL store beside
// SQLite's.
func BenchmarkInProcessNoopFan10000Postgres(b *testing.B) {
	src := fanSrc(10000, noopTask)
	reg, err := tasks.NewRegistry(shell.New(), noop.New())
	if err != nil {
		b.Fatal(err)
	}
	wf, err := workflows.Parse("bench.yaml", []byte(src), workflows.Options{Types: reg})
	if err != nil {
		b.Fatal(err)
	}
	for _, slots := range []int{4, 16, 64} {
		b.Run(fmt.Sprintf("workers=%d", slots), func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				st, err := postgres.Open(context.Background(), pgDatabase(b))
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				took := runOn(b, wf, reg, b.TempDir(), st, func() (int64, int64) { w := st.WriteStats(); return w.Statements, w.Transactions }, slots)
				st.Close()
				b.ReportMetric(10000/took.Seconds(), "tasks/s")
			}
		})
	}
}
