package postgres_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/store/postgres"
)

// TestReadOnly: a read-only store creates no table in an empty database
// (it says there is none), reads a migrated one, refuses to write to it,
// and refuses a schema older or newer than the binary's.
func TestReadOnly(t *testing.T) {
	ctx := context.Background()
	dsn := newDatabase(t)
	_, err := postgres.Open(ctx, dsn, postgres.ReadOnly())
	if !errors.Is(err, postgres.ErrNoSchema) {
		t.Fatalf("ReadOnly on an empty database: %v, want ErrNoSchema", err)
	}
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var tables int
	if err := c.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = 'public'`).Scan(&tables); err != nil {
		t.Fatal(err)
	}
	if tables != 0 {
		t.Fatalf("ReadOnly made %d tables", tables)
	}

	w := openStore(t, dsn)
	at := time.Now()
	run := readyRun(t, w, at, 1)
	ro := openStore(t, dsn, postgres.ReadOnly())
	got, err := ro.GetRun(ctx, run.ID)
	if err != nil || got.ID != run.ID {
		t.Fatalf("GetRun: %v, %v", got, err)
	}
	if runs, err := ro.ListRuns(ctx, scheduler.RunFilter{Limit: 10}); err != nil || len(runs) != 1 {
		t.Fatalf("ListRuns: %d runs, %v", len(runs), err)
	}
	other := &cairn.Run{ID: cairn.NewRunID(at.Add(time.Second)), Workflow: "wf", State: cairn.RunQueued, CreatedAt: at}
	if err := ro.CreateRun(ctx, other, []*cairn.TaskRun{{TaskID: "a", Type: "noop", State: cairn.TaskPending}}); err == nil {
		t.Fatal("a read-only store wrote a run")
	}
	if _, err := w.GetRun(ctx, other.ID); !errors.Is(err, cairn.ErrNotFound) {
		t.Fatalf("the refused run: %v, want not found", err)
	}

	var newest int
	if err := c.QueryRow(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&newest); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		sql   string
		older bool
	}{
		{`DELETE FROM schema_migrations WHERE version = $1`, true},
		{`INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, 'a', 0), ($1 + 1, 'future', 0)`, false},
	} {
		if _, err := c.Exec(ctx, tc.sql, newest); err != nil {
			t.Fatal(err)
		}
		_, err := postgres.Open(ctx, dsn, postgres.ReadOnly())
		var ve *postgres.SchemaVersionError
		if !errors.As(err, &ve) || ve.Older != tc.older {
			t.Fatalf("ReadOnly on a schema not the binary's (older %v): %v", tc.older, err)
		}
	}
}

// TestRedactBadURL: a URL that does not parse is hidden whole, since
// where its password is cannot be told.
func TestRedactBadURL(t *testing.T) {
	for _, dsn := range []string{"postgres://u:s3cret pw@h/db", "postgres://u:s3cretpw@h:port/db", "postgresql://u:s3cretpw@[h/db"} {
		if got := postgres.Redact(dsn); strings.Contains(got, "s3cret") || !strings.HasPrefix(got, "postgres") {
			t.Errorf("Redact(%q) = %q", dsn, got)
		}
	}
	if got := postgres.Redact("host=h user=u password=s3cret"); strings.Contains(got, "s3cret") || !strings.Contains(got, "host=h") {
		t.Errorf("Redact of settings = %q", got)
	}
}
