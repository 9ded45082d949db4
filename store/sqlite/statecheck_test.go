package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/cairnml/cairn/migrations"
	"github.com/cairnml/cairn/store/sqlite"
)

// stateUpdate writes task_runs.state, as every completion, lease and
// hand-out does: task_runs' CHECK on state is evaluated in its program
// (on a value known only as it runs, as a bound one is).
const stateUpdate = `UPDATE task_runs SET state = CASE WHEN version > 1 THEN 'ready' ELSE 'failed' END, version = version + 1
WHERE run_id = 'r1' AND task_id = 't0'`

// ephemeral counts the OpenEphemeral of query's program on c.
func ephemeral(t *testing.T, c *sql.DB, query string) int {
	t.Helper()
	rows, err := c.Query("EXPLAIN " + query)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var addr, p1, p2, p3, p5 int64
		var op, comment, p4 sql.NullString
		if err := rows.Scan(&addr, &op, &p1, &p2, &p3, &p4, &p5, &comment); err != nil {
			t.Fatal(err)
		}
		if op.String == "OpenEphemeral" {
			n++
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return n
}

// upTo25 makes a database at schema version 25 at path, by the
// migrations' own files, with a run of one task run per state.
func upTo25(t *testing.T, path string) *sql.DB {
	t.Helper()
	ctx := context.Background()
	raw := sqlite.RawDB(t, path)
	raw.SetMaxOpenConns(1)
	if _, err := raw.ExecContext(ctx, `CREATE TABLE schema_migrations (version INTEGER NOT NULL PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	names, err := fs.Glob(migrations.SQLite(), "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	for i, name := range names {
		if i+1 > 25 {
			break
		}
		b, err := fs.ReadFile(migrations.SQLite(), name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := raw.ExecContext(ctx, string(b)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := raw.ExecContext(ctx, `INSERT INTO schema_migrations VALUES (?, ?, 0)`, i+1, name); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := raw.ExecContext(ctx, `INSERT INTO runs (id, workflow, state, version) VALUES ('r1', 'wf', 'running', 2)`); err != nil {
		t.Fatal(err)
	}
	for i, st := range []string{"pending", "ready", "leased", "running", "retrying", "succeeded", "failed", "skipped", "upstream_failed", "cancelled"} {
		lease := "NULL"
		if st == "leased" || st == "running" {
			lease = "'tok" + st + "'"
		}
		if _, err := raw.ExecContext(ctx, fmt.Sprintf(`INSERT INTO task_runs (run_id, task_id, seq, type, state, lease_token, version)
VALUES ('r1', 't%d', %d, 'noop', '%s', %s, 1)`, i, i, st, lease)); err != nil {
			t.Fatalf("insert a %s task run: %v", st, err)
		}
	}
	return raw
}

// Migration 0026 writes task_runs' CHECK on state as comparisons: the
// same constraint (every state accepted, any other refused), the rows
// untouched, and no ephemeral table in a statement that writes state —
// on the connection that migrated and on one that had the old schema
// cached, which the schema cookie's change makes reload it.
func TestMigrate0026StateCheck(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "cairn.db")
	other := upTo25(t, path)
	defer other.Close()
	if n := ephemeral(t, other, stateUpdate); n != 1 {
		t.Fatalf("before 0026: %d ephemeral tables in an update of state, want 1 (the IN list's)", n)
	}
	before := dumpTaskRuns(t, other)

	s := open(t, path) // migrates
	if v, err := s.SchemaVersion(ctx); err != nil || v < 26 {
		t.Fatalf("SchemaVersion = %d, %v; want 26 or more", v, err)
	}
	if n, err := s.EphemeralTables(ctx, stateUpdate); err != nil || n != 0 {
		t.Errorf("the migrating connection: %d ephemeral tables in an update of state, %v; want 0", n, err)
	}
	// EXPLAIN compiles with the schema the connection has; a statement
	// that runs checks the schema cookie first, and reloads on a change.
	var count int
	if err := other.QueryRow(`SELECT count(*) FROM task_runs`).Scan(&count); err != nil {
		t.Fatal(err)
	}
	if n := ephemeral(t, other, stateUpdate); n != 0 {
		t.Errorf("a connection open before the migration: %d ephemeral tables in an update of state, want 0", n)
	}
	if after := dumpTaskRuns(t, other); !reflect.DeepEqual(before, after) {
		t.Errorf("task runs after 0026:\n%v\nwant\n%v", after, before)
	}
	for _, st := range []string{"ready", "succeeded", "upstream_failed", "cancelled"} {
		if err := s.ExecForTest(ctx, fmt.Sprintf(`UPDATE task_runs SET state = '%s' WHERE run_id = 'r1' AND task_id = 't0'`, st)); err != nil {
			t.Errorf("state %s refused: %v", st, err)
		}
	}
	for _, st := range []string{"bogus", "", "Ready", "leased "} {
		err := s.ExecForTest(ctx, fmt.Sprintf(`UPDATE task_runs SET state = '%s' WHERE run_id = 'r1' AND task_id = 't0'`, st))
		if err == nil || !strings.Contains(err.Error(), "CHECK") {
			t.Errorf("state %q: %v, want a CHECK constraint failure", st, err)
		}
	}
	var ok string
	if err := other.QueryRow(`PRAGMA integrity_check`).Scan(&ok); err != nil || ok != "ok" {
		t.Errorf("integrity_check = %q, %v", ok, err)
	}
}

// A task_runs whose definition is not the one 0026 expects fails the
// migration, changing nothing, rather than leaving the IN list unseen.
func TestMigrate0026RefusesAnUnknownDefinition(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "cairn.db")
	raw := upTo25(t, path)
	for _, q := range []string{`PRAGMA writable_schema = ON`,
		`UPDATE sqlite_schema SET sql = replace(sql, '''retrying'',', '''retrying'', ') WHERE name = 'task_runs'`,
		`PRAGMA writable_schema = RESET`, `CREATE TABLE bump (x)`, `DROP TABLE bump`} {
		if _, err := raw.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	raw.Close()
	s, err := sqlite.Open(ctx, path)
	if err == nil {
		s.Close()
		t.Fatal("Open migrated a task_runs 0026 does not know")
	}
	if !strings.Contains(err.Error(), "0026") {
		t.Errorf("Open: %v, want the failure of 0026", err)
	}
	raw = sqlite.RawDB(t, path)
	defer raw.Close()
	var v int
	if err := raw.QueryRow(`SELECT max(version) FROM schema_migrations`).Scan(&v); err != nil || v != 25 {
		t.Errorf("schema version after the failed migration = %d, %v; want 25", v, err)
	}
}

// dumpTaskRuns reads every column of every task run, quoted as SQL.
func dumpTaskRuns(t *testing.T, db *sql.DB) []string {
	t.Helper()
	var expr string
	if err := db.QueryRow(`SELECT group_concat('quote(' || name || ')', ' || '','' || ') FROM pragma_table_info('task_runs')`).Scan(&expr); err != nil {
		t.Fatal(err)
	}
	rows, err := db.Query(`SELECT ` + expr + ` FROM task_runs ORDER BY run_id, seq`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var row string
		if err := rows.Scan(&row); err != nil {
			t.Fatal(err)
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
