package sqlite_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/store/sqlite"
)

// The database, its WAL and shared-memory files and the folder Open
// creates for them are private to the user, whatever the umask: they hold
// the runs' params.
func TestOpenMakesFilesPrivate(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "home")
	path := filepath.Join(dir, "cairn.db")
	s := open(t, path)
	now := time.Now()
	if err := s.CreateRun(ctx, &cairn.Run{ID: cairn.NewRunID(now), Workflow: "wf", State: cairn.RunQueued, CreatedAt: now}, nil); err != nil {
		t.Fatal(err)
	}
	want := map[string]fs.FileMode{dir: 0o700, path: 0o600, path + "-wal": 0o600, path + "-shm": 0o600}
	for p, m := range want {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if fi.Mode().Perm() != m {
			t.Errorf("%s: mode %v, want %v", filepath.Base(p), fi.Mode().Perm(), m)
		}
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".new-") {
			t.Errorf("left behind %s", e.Name())
		}
	}

	// A database an older cairn left readable by others is made private.
	s.Close()
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	open(t, path).Close()
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("reopened database: mode %v, want 0600", fi.Mode().Perm())
	}
}

// A file that is not a Cairn database is refused, and left exactly as it
// was, rather than treated as a new database.
func TestOpenRefusesForeignFiles(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.db")
	text := filepath.Join(dir, "notes.db")
	foreign := filepath.Join(dir, "other.db")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(text, []byte(strings.Repeat("hello, not sqlite\n", 100)), 0o600); err != nil {
		t.Fatal(err)
	}
	raw := sqlite.RawDB(t, foreign)
	if _, err := raw.ExecContext(ctx, `CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO customers VALUES (1, 'ada')`); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	for _, p := range []string{empty, text, foreign} {
		before, _ := os.ReadFile(p)
		for _, opts := range [][]sqlite.Option{nil, {sqlite.ReadOnly()}, {sqlite.WithoutMigrations()}} {
			s, err := sqlite.Open(ctx, p, opts...)
			if err == nil {
				s.Close()
				t.Fatalf("Open(%s, %d options) accepted a foreign file", filepath.Base(p), len(opts))
			}
			if !errors.Is(err, sqlite.ErrNotCairn) || !strings.Contains(err.Error(), p) {
				t.Errorf("Open(%s): %v; want ErrNotCairn naming the file", filepath.Base(p), err)
			}
		}
		after, _ := os.ReadFile(p)
		if !bytes.Equal(before, after) {
			t.Errorf("%s was changed by the refused Open", filepath.Base(p))
		}
		if _, err := os.Stat(p + "-wal"); err == nil {
			t.Errorf("%s got a WAL file", filepath.Base(p))
		}
	}
	if _, err := sqlite.Open(ctx, empty); err == nil || !strings.Contains(err.Error(), "empty (0 bytes)") {
		t.Errorf("empty file: %v, want it said to be empty", err)
	}
	if _, err := sqlite.Open(ctx, foreign); err == nil || !strings.Contains(err.Error(), "customers") {
		t.Errorf("foreign database: %v, want its tables named", err)
	}
}

// ReadOnly creates nothing: no database, no folder; reads work, writes and
// migrations do not happen.
func TestOpenReadOnly(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	missing := filepath.Join(dir, "nonexistent", "x.db")
	if s, err := sqlite.Open(ctx, missing, sqlite.ReadOnly()); err == nil || !errors.Is(err, fs.ErrNotExist) {
		if s != nil {
			s.Close()
		}
		t.Fatalf("ReadOnly Open of a missing database: %v, want fs.ErrNotExist", err)
	}
	if _, err := os.Stat(filepath.Dir(missing)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("ReadOnly Open created %s: %v", filepath.Dir(missing), err)
	}

	path := filepath.Join(dir, "cairn.db")
	w := open(t, path)
	now := time.Now()
	run := &cairn.Run{ID: cairn.NewRunID(now), Workflow: "wf", State: cairn.RunQueued, CreatedAt: now}
	if err := w.CreateRun(ctx, run, nil); err != nil {
		t.Fatal(err)
	}
	r := open(t, path, sqlite.ReadOnly())
	got, err := r.GetRun(ctx, run.ID)
	if err != nil || got.Workflow != "wf" {
		t.Fatalf("read-only GetRun: %+v, %v", got, err)
	}
	if err := r.CreateRun(ctx, &cairn.Run{ID: cairn.NewRunID(now.Add(time.Second)), Workflow: "x", State: cairn.RunQueued, CreatedAt: now}, nil); err == nil {
		t.Error("a read-only store accepted a write")
	}
	// An older schema is not migrated by a read-only store: it says what to do.
	r.Close()
	w.Close()
	raw := sqlite.RawDB(t, path)
	if _, err := raw.ExecContext(ctx, `DELETE FROM schema_migrations WHERE version > 1`); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	var sv *sqlite.SchemaVersionError
	if _, err := sqlite.Open(ctx, path, sqlite.ReadOnly()); !errors.As(err, &sv) || !strings.Contains(err.Error(), "cairn migrate") {
		t.Errorf("ReadOnly Open of an older schema: %v, want a SchemaVersionError saying to migrate", err)
	}
}
