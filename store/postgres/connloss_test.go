package postgres_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/store/postgres"
)

// TestConnectionTerminated: every connection of the pool ended by
// pg_terminate_backend (SQLSTATE 57P01) between two calls. A read, a
// write transaction and a Batch each succeed — on another connection —
// and the writes are made once; before the retry, each failed once with
// "terminating connection due to administrator command".
func TestConnectionTerminated(t *testing.T) {
	ctx := context.Background()
	for _, conns := range []int{1, 4} {
		t.Run(map[int]string{1: "one connection", 4: "four connections"}[conns], func(t *testing.T) {
			dsn := newDatabase(t)
			// pool_min_conns: the pool holds that many connections, all of
			// them ended at each kill.
			sep := "?"
			if strings.Contains(dsn, "?") {
				sep = "&"
			}
			st := openStore(t, dsn+sep+"pool_min_conns="+strconv.Itoa(conns), postgres.WithMaxConns(int32(conns)))
			app := "cairn"
			admin, err := pgx.Connect(ctx, serverDSN(t))
			if err != nil {
				t.Fatal(err)
			}
			defer admin.Close(ctx)
			waitConns(t, admin, dsn, app, conns)
			// kill ends every connection of the store, and waits until the
			// server saw them go: the next call meets a dead connection
			// (used less than a second ago, so that the pool does not
			// ping it first).
			kill := func() {
				t.Helper()
				if _, err := admin.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
WHERE datname = $1 AND application_name = $2`, dbName(dsn), app); err != nil {
					t.Fatal(err)
				}
				waitConns(t, admin, dsn, app, 0)
			}

			// A read through Query and one through QueryRow.
			run := &cairn.Run{ID: cairn.NewRunID(time.Now()), Workflow: "w", Digest: "sha256:" + strings.Repeat("0", 64),
				SourcePath: "w.yaml", Source: []byte("name: w\n"), State: cairn.RunQueued, CreatedAt: time.Now()}
			if _, err := st.ListRuns(ctx, scheduler.RunFilter{Limit: 5}); err != nil {
				t.Fatal(err)
			}
			kill()
			if runs, err := st.ListRuns(ctx, scheduler.RunFilter{Limit: 5}); err != nil || len(runs) != 0 {
				t.Fatalf("ListRuns after the kill: %v, %v; want none, no error", runs, err)
			}
			kill()
			if _, err := st.GetRun(ctx, run.ID); err == nil || !strings.Contains(err.Error(), "not found") {
				t.Fatalf("GetRun of a missing run after the kill: %v; want not found", err)
			}
			// A write transaction.
			kill()
			if err := st.CreateRun(ctx, run, []*cairn.TaskRun{{RunID: run.ID, TaskID: "a", Type: "noop", State: cairn.TaskReady}}); err != nil {
				t.Fatalf("CreateRun after the kill: %v", err)
			}
			kill()
			if got, err := st.GetRun(ctx, run.ID); err != nil || got.ID != run.ID {
				t.Fatalf("GetRun after the kill: %v, %v", got, err)
			}
			// A Batch (its fn runs once: retried when BEGIN met the dead
			// connection, as here).
			kill()
			calls := 0
			if err := st.Batch(ctx, func(tx scheduler.Tx) error {
				calls++
				_, err := tx.AddEvaluation(scheduler.Evaluation{RunID: run.ID, Reason: scheduler.EvalCompleted, CreatedAt: time.Now(), DueAt: time.Now()})
				return err
			}); err != nil || calls != 1 {
				t.Fatalf("Batch after the kill: %v (fn ran %d times, want 1)", err, calls)
			}
			// A Batch whose first statements go in one round trip with
			// its BEGIN (a Lease): BEGIN met the dead connection, and the
			// round trip went again on another, fn running once.
			kill()
			calls = 0
			var leased []cairn.WorkItem
			if err := st.Batch(ctx, func(tx scheduler.Tx) error {
				calls++
				var err error
				leased, err = tx.Lease(cairn.LeaseRequest{Worker: "w", Max: 1}, time.Now(), time.Minute)
				return err
			}); err != nil || calls != 1 || len(leased) != 1 {
				t.Fatalf("Batch of a Lease after the kill: %v (fn ran %d times, want 1; %d tasks leased, want 1)", err, calls, len(leased))
			}
			kill()
			evs, err := st.Evaluations(ctx, 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, e := range evs {
				if e.RunID == run.ID && e.Reason == scheduler.EvalCompleted {
					n++
				}
			}
			if n != 1 {
				t.Errorf("%d evaluations of the Batch, want 1", n)
			}
			// A context cancelled is not a lost connection: no retry.
			cctx, cancel := context.WithCancel(ctx)
			cancel()
			if _, err := st.ListRuns(cctx, scheduler.RunFilter{}); err == nil {
				t.Error("ListRuns with a cancelled context succeeded")
			}
			st.Close()
			waitConns(t, admin, dsn, app, 0)
		})
	}
}

// dbName is the database of a postgres:// URL.
func dbName(dsn string) string {
	rest := dsn[strings.LastIndex(dsn, "/")+1:]
	name, _, _ := strings.Cut(rest, "?")
	return name
}

// waitConns waits until the database has n connections of application
// app.
func waitConns(t *testing.T, admin *pgx.Conn, dsn, app string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var got int
		if err := admin.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND application_name = $2`,
			dbName(dsn), app).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d connections of %s, want %d", got, app, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
