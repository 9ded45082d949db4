package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/migrations"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/store/sqlite"
	"github.com/cairnml/cairn/store/storetest"
)

func open(t testing.TB, path string, opts ...sqlite.Option) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), path, opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

var _ storetest.Server = (*sqlite.Store)(nil)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) scheduler.Store {
		return open(t, filepath.Join(t.TempDir(), "cairn.db"))
	}, hooks)
}

func TestServerConformance(t *testing.T) {
	storetest.RunServer(t, func(t *testing.T) storetest.Server {
		return open(t, filepath.Join(t.TempDir(), "cairn.db"))
	}, hooks)
}

// hooks are the conformance suite's hooks for SQLite stores.
var hooks = storetest.Hooks{
	Corrupt: func(t *testing.T, s scheduler.Store, runID, taskID, field string) {
		t.Helper()
		if field != "params" && field != "inputs" {
			t.Fatalf("Corrupt: unknown field %q", field)
		}
		raw := sqlite.RawDB(t, s.(*sqlite.Store).Path())
		defer raw.Close()
		res, err := raw.Exec(`UPDATE task_runs SET `+field+` = '{"not json' WHERE run_id = ? AND task_id = ?`, runID, taskID)
		if err != nil {
			t.Fatalf("Corrupt: %v", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			t.Fatalf("Corrupt: task %s/%s not found", runID, taskID)
		}
	},
	OpenSecond: func(t *testing.T, s scheduler.Store) scheduler.Store {
		return open(t, s.(*sqlite.Store).Path())
	},
	Exec: func(t *testing.T, s scheduler.Store, query string) {
		t.Helper()
		if err := s.(*sqlite.Store).ExecForTest(context.Background(), query); err != nil {
			t.Fatalf("Exec: %v", err)
		}
	},
	Writes: func(s scheduler.Store) int64 {
		w := s.(*sqlite.Store).WriteStats()
		return w.Statements + w.Transactions
	},
}

func TestMigrateIdempotent(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sub", "dir", "cairn.db") // parent dirs are created
	s := open(t, path, sqlite.WithoutMigrations())
	applied, err := s.Migrate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(applied) == 0 || applied[0] != "0001_init.sql" {
		t.Errorf("first Migrate applied %v, want 0001_init.sql first", applied)
	}
	v, err := s.SchemaVersion(ctx)
	if err != nil || v < 1 {
		t.Errorf("SchemaVersion = %d, %v", v, err)
	}
	again, err := s.Migrate(ctx)
	if err != nil || len(again) != 0 {
		t.Errorf("second Migrate = %v, %v; want nothing applied", again, err)
	}
	s.Close()
	s2 := open(t, path) // migrates on open: nothing to do
	if v2, err := s2.SchemaVersion(ctx); err != nil || v2 != v {
		t.Errorf("SchemaVersion after reopen = %d, %v; want %d", v2, err, v)
	}
}

func TestRefusesNewerSchema(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "cairn.db")
	s := open(t, path)
	v, _ := s.SchemaVersion(ctx)
	s.Close()
	raw := sqlite.RawDB(t, path)
	if _, err := raw.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, 'future.sql', 0)`, v+1); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	_, err := sqlite.Open(ctx, path)
	var sv *sqlite.SchemaVersionError
	if !errors.As(err, &sv) || sv.Database != v+1 || sv.Binary != v {
		t.Fatalf("Open of a newer database: %v, want SchemaVersionError{%d, %d}", err, v+1, v)
	}
	s2 := open(t, path, sqlite.WithoutMigrations())
	if _, err := s2.Migrate(ctx); !errors.As(err, &sv) {
		t.Errorf("Migrate of a newer database: %v", err)
	}
}

func TestPragmas(t *testing.T) {
	ctx := context.Background()
	for _, full := range []bool{false, true} {
		var opts []sqlite.Option
		want := int64(1) // NORMAL
		if full {
			opts, want = append(opts, sqlite.WithSynchronousFull()), 2
		}
		s := open(t, filepath.Join(t.TempDir(), "cairn.db"), opts...)
		got := s.Pragmas(ctx, t)
		if got["journal_mode"] != "wal" || got["foreign_keys"] != int64(1) || got["synchronous"] != want ||
			got["busy_timeout"] != int64(5000) {
			t.Errorf("pragmas (full=%v) = %v", full, got)
		}
	}
}

func TestForeignKeysEnforced(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "cairn.db"))
	err := s.ExecForTest(ctx, `INSERT INTO task_runs (run_id, task_id, seq, type, state, version) VALUES ('nope', 't', 0, 'shell', 'pending', 1)`)
	if !errors.Is(err, cairn.ErrNotFound) {
		t.Errorf("orphan task run insert: %v, want a foreign key error as ErrNotFound", err)
	}
}

func TestDurableAcrossReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "cairn.db")
	s := open(t, path)
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	run := &cairn.Run{ID: cairn.NewRunID(now), Workflow: "wf", State: cairn.RunQueued, CreatedAt: now}
	tasks := []*cairn.TaskRun{{TaskID: "a", Type: "shell", State: cairn.TaskReady}}
	if err := s.CreateRun(ctx, run, tasks); err != nil {
		t.Fatal(err)
	}
	items, err := s.Lease(ctx, cairn.LeaseRequest{Worker: "w", Max: 1}, now, time.Minute)
	if err != nil || len(items) != 1 {
		t.Fatal(items, err)
	}
	before, _ := s.ListTaskRuns(ctx, run.ID)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := open(t, path)
	after, err := s2.ListTaskRuns(ctx, run.ID)
	if err != nil || !reflect.DeepEqual(before, after) {
		t.Fatalf("after reopen: %+v, %v; want %+v", after, err, before)
	}
	if _, err := s2.Complete(ctx, items[0].Lease, cairn.Completion{State: cairn.TaskSucceeded}, now); err != nil {
		t.Errorf("complete a lease taken before reopening: %v", err)
	}
}

func TestOpenRejectsURIs(t *testing.T) {
	for _, p := range []string{"", ":memory:", "file:x.db", "x.db?mode=ro"} {
		if s, err := sqlite.Open(context.Background(), p); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", p)
		}
	}
	_ = os.Remove("x.db")
}

// A transaction body that panics fails its own write, undone, with the
// panic's stack, and the store keeps taking writes: the caller that leads
// a shared transaction must not leave the others waiting forever.
func TestPanicInTransactionBody(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "cairn.db"))
	run := &cairn.Run{ID: cairn.NewRunID(time.Now()), Workflow: "w", State: cairn.RunQueued, CreatedAt: time.Now()}
	if err := s.CreateRun(ctx, run, []*cairn.TaskRun{{RunID: run.ID, TaskID: "a", Type: "noop", State: cairn.TaskPending}}); err != nil {
		t.Fatal(err)
	}
	err := s.PanicInTx(ctx)
	if !errors.Is(err, sqlite.ErrPanicked) || !strings.Contains(err.Error(), "bug in a transaction body") {
		t.Fatalf("PanicInTx = %v, want the panic as an error", err)
	}
	if _, err := s.GetRun(ctx, run.ID); err != nil {
		t.Fatalf("the panicking body's delete was kept: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- s.RequestCancel(ctx, run.ID) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("write after the panic: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the store stopped taking writes after a panic")
	}
}

// A run leased under schema 0002 (a binary before interrupted attempts),
// whose process then died, is resumable after the upgrade: 0003 gives its
// task no interruptions so far and the default limit, and its attempt can
// be ended as interrupted; 0007 moves the attempt in progress onto its
// task run, and it keeps its times and worker.
func TestMigrateLeasedRunTo0003And0007(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "cairn.db")
	raw := sqlite.RawDB(t, path)
	for _, name := range []string{"0001_init.sql", "0002_attempt_plugin.sql"} {
		b, err := fs.ReadFile(migrations.SQLite(), name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := raw.ExecContext(ctx, string(b)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, q := range []string{
		`CREATE TABLE schema_migrations (version INTEGER NOT NULL PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`,
		`INSERT INTO schema_migrations VALUES (1, '0001_init.sql', 0), (2, '0002_attempt_plugin.sql', 0)`,
		`INSERT INTO runs (id, workflow, state, version) VALUES ('r1', 'wf', 'running', 2)`,
		fmt.Sprintf(`INSERT INTO task_runs (run_id, task_id, seq, type, state, attempt, retries, lease_token, lease_worker,
	lease_expires_at, version) VALUES ('r1', 't', 0, 'shell', 'running', 2, 1, 'tok', 'old', %d, 3)`, now.Add(time.Minute).UnixNano()),
		fmt.Sprintf(`INSERT INTO attempts (run_id, task_id, number, state, token, worker, started_at, running_at)
	VALUES ('r1', 't', 1, 'retrying', 'tok1', 'old', 1, 2), ('r1', 't', 2, 'running', 'tok', 'old', %d, %d)`,
			now.UnixNano(), now.Add(time.Second).UnixNano()),
	} {
		if _, err := raw.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	raw.Close()

	s := open(t, path) // migrates
	if v, err := s.SchemaVersion(ctx); err != nil || v < 3 {
		t.Fatalf("SchemaVersion = %d, %v; want 3 or more", v, err)
	}
	trs, err := s.ListTaskRuns(ctx, "r1")
	if err != nil || len(trs) != 1 {
		t.Fatalf("ListTaskRuns = %v, %v", trs, err)
	}
	tr := trs[0]
	if tr.Interrupted != 0 || tr.InterruptedInARow != 0 || tr.Retry.MaxInterruptions != 0 ||
		tr.Retry.InterruptionLimit() != cairn.DefaultMaxInterruptions {
		t.Errorf("the old task after 0003: %d interrupted, %d in a row, max %d", tr.Interrupted, tr.InterruptedInARow, tr.Retry.MaxInterruptions)
	}
	// 0007 moved the attempt in progress onto its task run: it is listed
	// as it was.
	as, err := s.ListAttempts(ctx, "r1", "t")
	if err != nil || len(as) != 2 || as[1].Number != 2 || as[1].State != cairn.TaskRunning || as[1].Worker != "old" ||
		!as[1].StartedAt.Equal(now) || !as[1].RunningAt.Equal(now.Add(time.Second)) || !as[1].FinishedAt.IsZero() {
		t.Fatalf("attempts after the upgrade: %+v, %v", as, err)
	}
	l := cairn.Lease{RunID: "r1", TaskID: "t", Attempt: 2, Token: "tok", Worker: "old"}
	got, err := s.Expire(ctx, l, cairn.Completion{State: cairn.TaskRetrying, RetryAt: now, Error: "attempt interrupted",
		Retryable: true, Interrupted: true}, now, true)
	if err != nil {
		t.Fatal(err)
	}
	as, err = s.ListAttempts(ctx, "r1", "t")
	if err != nil || len(as) != 2 {
		t.Fatalf("ListAttempts = %v, %v", as, err)
	}
	if !as[1].StartedAt.Equal(now) || as[1].Worker != "old" || as[1].FinishedAt.IsZero() {
		t.Errorf("the interrupted attempt keeps its start and worker: %+v", as[1])
	}
	if got.State != cairn.TaskRetrying || got.Interrupted != 1 || got.InterruptedInARow != 1 ||
		as[0].State != cairn.TaskRetrying || as[1].State != cairn.AttemptInterrupted {
		t.Errorf("after the interruption: task %s, %d interrupted (%d in a row); attempts %s, %s",
			got.State, got.Interrupted, got.InterruptedInARow, as[0].State, as[1].State)
	}
}
