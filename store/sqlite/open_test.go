package sqlite_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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

// A new database is made with its whole schema before it appears at its
// path, the same schema migrating an empty one gives; opening a database
// that has every migration makes no write transaction.
func TestOpenNewAndCurrentDatabases(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	made := filepath.Join(dir, "made.db")
	s := open(t, made)
	if n := s.WriteStats().Transactions; n != 0 {
		t.Errorf("Open of a new database made %d write transactions, want 0 (the schema is built before the file appears)", n)
	}
	s.Close()
	migrated := filepath.Join(dir, "migrated.db")
	m := open(t, migrated, sqlite.WithoutMigrations())
	if applied, err := m.Migrate(ctx); err != nil || len(applied) == 0 {
		t.Fatalf("Migrate of an empty database: %v, %v", applied, err)
	}
	m.Close()
	schema := func(path string) string {
		raw := sqlite.RawDB(t, path)
		defer raw.Close()
		rows, err := raw.QueryContext(ctx, `SELECT type, name, coalesce(sql, '') FROM sqlite_master ORDER BY type, name`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var sb strings.Builder
		for rows.Next() {
			var typ, name, sql string
			if err := rows.Scan(&typ, &name, &sql); err != nil {
				t.Fatal(err)
			}
			sb.WriteString(typ + " " + name + ": " + sql + "\n")
		}
		var versions string
		if err := raw.QueryRowContext(ctx, `SELECT group_concat(version || ' ' || name, ', ') FROM (SELECT * FROM schema_migrations ORDER BY version)`).Scan(&versions); err != nil {
			t.Fatal(err)
		}
		return sb.String() + versions
	}
	if a, b := schema(made), schema(migrated); a != b {
		t.Errorf("a new database's schema differs from a migrated one's:\n%s\n---\n%s", a, b)
	}
	again := open(t, made)
	if n := again.WriteStats().Transactions; n != 0 {
		t.Errorf("Open of a current database made %d write transactions, want 0", n)
	}
	if _, err := os.Stat(made + ".journal"); err == nil {
		t.Error("a rollback journal was left behind")
	}
}

// Opening a database at this binary's schema version — every command
// after a home's first — is settled by one read of schema_migrations:
// neither checkCairn's look at the tables nor Migrate's reading of every
// migration. Any other database still goes the long way: an older one
// read-only (refused with what to do), a newer one (refused), a foreign
// one (refused).
func TestOpenCurrentInOneRead(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "cairn.db")
	open(t, path).Close() // made with the schema: nothing to check
	long := sqlite.LongOpens()
	w := open(t, path)
	r := open(t, path, sqlite.ReadOnly())
	if n := sqlite.LongOpens() - long; n != 0 {
		t.Errorf("%d opens of a current database went the long way, want 0", n)
	}
	if n := w.WriteStats().Transactions; n != 0 {
		t.Errorf("Open of a current database made %d write transactions, want 0", n)
	}
	r.Close()
	w.Close()

	raw := sqlite.RawDB(t, path)
	if _, err := raw.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (100000, 'future.sql', 0)`); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	long = sqlite.LongOpens()
	var sv *sqlite.SchemaVersionError
	if _, err := sqlite.Open(ctx, path); !errors.As(err, &sv) || sv.Database != 100000 {
		t.Errorf("Open of a newer database: %v, want a SchemaVersionError", err)
	}
	if _, err := sqlite.Open(ctx, path, sqlite.ReadOnly()); !errors.As(err, &sv) {
		t.Errorf("read-only Open of a newer database: %v, want a SchemaVersionError", err)
	}
	if n := sqlite.LongOpens() - long; n != 2 {
		t.Errorf("%d opens of a newer database went the long way, want 2", n)
	}

	raw = sqlite.RawDB(t, path)
	if _, err := raw.ExecContext(ctx, `DELETE FROM schema_migrations WHERE version > 1`); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	if _, err := sqlite.Open(ctx, path, sqlite.ReadOnly()); !errors.As(err, &sv) || !strings.Contains(err.Error(), "cairn migrate") {
		t.Errorf("read-only Open of an older database: %v, want a SchemaVersionError saying to migrate", err)
	}

	// A foreign database whose own schema_migrations happens to reach
	// this binary's version is Cairn's by checkCairn's test too; one
	// without that table is refused, as before.
	foreign := filepath.Join(dir, "foreign.db")
	raw = sqlite.RawDB(t, foreign)
	if _, err := raw.ExecContext(ctx, `CREATE TABLE things (id INTEGER PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	if _, err := sqlite.Open(ctx, foreign); !errors.Is(err, sqlite.ErrNotCairn) {
		t.Errorf("Open of a foreign database: %v, want ErrNotCairn", err)
	}
}

// With LeaveWALOnClose, Close leaves the log for the next process, which
// reads every commit back from it. The writer runs in a child process
// (this test binary again) that exits after Close, as a command does.
func TestLeaveWALOnClose(t *testing.T) {
	if path := os.Getenv("CAIRN_TEST_LEAVE_WAL"); path != "" {
		ctx := context.Background()
		s, err := sqlite.Open(ctx, path, sqlite.LeaveWALOnClose())
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		if err := s.CreateRun(ctx, &cairn.Run{ID: os.Getenv("CAIRN_TEST_RUN"), Workflow: "left", State: cairn.RunQueued, CreatedAt: now}, nil); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		return
	}
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "cairn.db")
	open(t, path).Close() // made, and closed the usual way: no log left
	if _, err := os.Stat(path + "-wal"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("after a plain Close the log is still there: %v", err)
	}
	id := cairn.NewRunID(time.Now())
	for i := 0; i < 2; i++ { // the second child opens the log the first left
		cmd := exec.Command(os.Args[0], "-test.run=^TestLeaveWALOnClose$", "-test.count=1")
		cmd.Env = append(os.Environ(), "CAIRN_TEST_LEAVE_WAL="+path, "CAIRN_TEST_RUN="+id+strconv.Itoa(i))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("child: %v\n%s", err, out)
		}
		fi, err := os.Stat(path + "-wal")
		if err != nil || fi.Size() == 0 {
			t.Fatalf("after Close with LeaveWALOnClose: log %v, %v; want it left, holding the commits", fi, err)
		}
	}
	// The database file alone does not have the runs: the log does.
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(id)) {
		t.Error("the run is in the database file: the log was checkpointed")
	}
	s := open(t, path)
	for i := 0; i < 2; i++ {
		if r, err := s.GetRun(ctx, id+strconv.Itoa(i)); err != nil || r.Workflow != "left" {
			t.Errorf("run %d written before a left log: %+v, %v", i, r, err)
		}
	}
	s.Close()
	if _, err := os.Stat(path + "-wal"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a plain Close did not checkpoint the left log: %v", err)
	}
}

// A new database survives a kill -9 at any moment of its making: the
// child (this test binary again) makes databases one after another, each
// in a folder of its own, with a first commit, until it is killed — at a
// step of the making (the image written under a temporary name; made
// durable, not yet linked), or at a random moment (which lands anywhere:
// SQLite's first open, its log's creation, the first commit). Every
// folder then holds either no database (the kill came before it was in
// place: the next Open makes it) or one that opens, at this binary's
// schema, sound, with its commit if the child reached it.
func TestCreateSurvivesKill(t *testing.T) {
	if dir := os.Getenv("CAIRN_TEST_CREATE_KILLED"); dir != "" {
		ctx := context.Background()
		for i := 0; ; i++ {
			if step := os.Getenv("CAIRN_TEST_CREATE_STEP"); step != "" && i == 3 {
				sqlite.KillAtCreateStep(step)
			}
			s, err := sqlite.Open(ctx, filepath.Join(dir, strconv.Itoa(i), "cairn.db"), sqlite.LeaveWALOnClose())
			if err != nil {
				t.Fatal(err)
			}
			now := time.Now()
			if err := s.CreateRun(ctx, &cairn.Run{ID: cairn.NewRunID(now), Workflow: "made", State: cairn.RunQueued, CreatedAt: now}, nil); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}
	ctx := context.Background()
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	made, absent := 0, 0
	for _, step := range []string{"written", "synced", "", "", "", "", "", "", "", "", "", ""} {
		dir := t.TempDir()
		cmd := exec.Command(os.Args[0], "-test.run=^TestCreateSurvivesKill$", "-test.count=1")
		cmd.Env = append(os.Environ(), "CAIRN_TEST_CREATE_KILLED="+dir, "CAIRN_TEST_CREATE_STEP="+step)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if step == "" {
			// Once the child is making homes (however slow its start on
			// a loaded machine), at a random moment of a making.
			for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
				if _, err := os.Stat(filepath.Join(dir, "1")); err == nil {
					break
				}
			}
			time.Sleep(time.Duration(rng.Int64N(int64(5 * time.Millisecond))))
			cmd.Process.Signal(syscall.SIGKILL)
		}
		if err := cmd.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
			t.Fatalf("child: %v, want it killed\n%s", err, out.String())
		}
		homes, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		if step != "" {
			if len(homes) != 4 {
				t.Fatalf("killed at step %s of the fourth home's making: %d homes", step, len(homes))
			}
			if _, err := os.Stat(filepath.Join(dir, "3", "cairn.db")); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("killed at step %s, before the link: the database is in place (%v)", step, err)
			}
		}
		for _, h := range homes {
			path := filepath.Join(dir, h.Name(), "cairn.db")
			if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
				absent++
			} else {
				made++
			}
			s, err := sqlite.Open(ctx, path)
			if err != nil {
				t.Fatalf("home %s after a kill: %v", h.Name(), err)
			}
			s.Close()
			raw := sqlite.RawDB(t, path)
			var check string
			if err := raw.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
				t.Errorf("home %s after a kill: integrity_check %q, %v", h.Name(), check, err)
			}
			var runs int
			if err := raw.QueryRowContext(ctx, `SELECT count(*) FROM runs`).Scan(&runs); err != nil || runs > 1 {
				t.Errorf("home %s after a kill: %d runs, %v", h.Name(), runs, err)
			}
			raw.Close()
		}
	}
	t.Logf("%d databases made before the kills, %d not yet in place when killed", made, absent)
}
