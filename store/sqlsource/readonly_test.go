package sqlsource_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cairnml/cairn/store/sqlite"
	"github.com/cairnml/cairn/store/sqlsource"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// dirState is every file of dir with the sha256 of its bytes.
func dirState(t *testing.T, dir string) string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, fmt.Sprintf("%s %x", e.Name(), sha256.Sum256(b)))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// makeDB creates a SQLite file at path with table t (3 rows), like a
// source or like cairn's own database.
func makeDB(t *testing.T, path string) {
	t.Helper()
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, stmt := range []string{
		`CREATE TABLE t (id INTEGER PRIMARY KEY, state TEXT)`,
		`INSERT INTO t VALUES (1, 'failed'), (2, 'failed'), (3, 'succeeded')`,
		`CREATE TABLE u (id INTEGER, t_id INTEGER, v REAL)`,
		`INSERT INTO u VALUES (10, 1, 0.5), (11, 1, 1.5), (12, 3, NULL)`,
		`CREATE INDEX u_t ON u (t_id)`,
	} {
		if _, err := db.Exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
}

// TestSQLiteAttacks runs every way the issue found (and a few more) to
// write through a sql source on SQLite: against a source file and, by
// ATTACH, against another database standing for $CAIRN_HOME/cairn.db. Each
// must fail for good, and afterwards both folders hold exactly the same
// files with the same bytes: nothing written, nothing created.
func TestSQLiteAttacks(t *testing.T) {
	srcDir, homeDir := t.TempDir(), t.TempDir()
	src, home := filepath.Join(srcDir, "src.db"), filepath.Join(homeDir, "cairn.db")
	makeDB(t, src)
	makeDB(t, home)
	newFile := filepath.Join(homeDir, "new.db")
	before := dirState(t, srcDir) + "\n" + dirState(t, homeDir)
	q := sqlsource.New()
	ctx := context.Background()
	for _, c := range []struct{ query, want string }{
		// The attack, whole, on the home database and on the source itself.
		{fmt.Sprintf("PRAGMA query_only=0; ATTACH '%s' AS w; DELETE FROM w.t; SELECT 1", home), "PRAGMA query_only = 0"},
		{fmt.Sprintf("PRAGMA query_only=0; ATTACH '%s' AS w; UPDATE w.t SET state = 'succeeded'; SELECT 1", src), "PRAGMA query_only = 0"},
		// Its pieces, one statement each.
		{"PRAGMA query_only=0", "PRAGMA query_only = 0"},
		{"PRAGMA query_only=false", "PRAGMA query_only = false"},
		{fmt.Sprintf("ATTACH '%s' AS w", home), "ATTACH"},
		{fmt.Sprintf("ATTACH '%s' AS w", newFile), "ATTACH"},
		{fmt.Sprintf("ATTACH 'file:%s?mode=rwc' AS w", newFile), "ATTACH"},
		{"DETACH main", "DETACH"},
		{fmt.Sprintf("VACUUM INTO '%s'", newFile), "read-only"},
		{"VACUUM", "read-only"},
		{"DELETE FROM t", "DELETE FROM t"},
		{"UPDATE t SET state = 'succeeded'", "UPDATE t"},
		{"INSERT INTO t VALUES (9, 'x')", "INSERT INTO t"},
		{"WITH x AS (SELECT 1) DELETE FROM t", "DELETE FROM t"},
		{"INSERT INTO t SELECT id + 10, state FROM t RETURNING id", "INSERT INTO t"},
		{"CREATE TABLE v (a)", "schema change"},
		{"CREATE TEMP TABLE v (a)", "schema change"},
		{"CREATE TEMP VIEW v AS SELECT 1", "schema change"},
		{"DROP TABLE t", "schema change"},
		{"ALTER TABLE t ADD COLUMN z", "ALTER TABLE"},
		{"CREATE INDEX i ON t (state)", "schema change"},
		{"ANALYZE", "schema change"},
		{"REINDEX", "REINDEX"},
		{"REINDEX u_t", "REINDEX"},
		{"DROP INDEX u_t", "schema change"},
		{"BEGIN", "transaction"},
		{"BEGIN IMMEDIATE", "transaction"},
		{"SAVEPOINT s", "SAVEPOINT"},
		{"PRAGMA journal_mode=DELETE", "PRAGMA journal_mode"},
		{"PRAGMA user_version=7", "PRAGMA user_version = 7"},
		{"PRAGMA writable_schema=ON", "PRAGMA writable_schema"},
		{"PRAGMA wal_checkpoint(TRUNCATE)", "PRAGMA wal_checkpoint"},
		{"PRAGMA optimize", "PRAGMA optimize"},
		{"SELECT load_extension('/nonexistent/evil.so')", "the function load_extension()"},
		{"SELECT fts3_tokenizer('simple', x'0000000000000000')", "the function fts3_tokenizer()"},
		// A second statement after a read: refused before anything runs, and named.
		{"SELECT 1; DELETE FROM t", `the second begins "DELETE FROM t"`},
		{"SELECT * FROM t; SELECT * FROM u", `the second begins "SELECT * FROM u"`},
		{"SELECT 1 /* a; b */; PRAGMA query_only=0", `the second begins "PRAGMA query_only=0"`},
	} {
		t.Run(c.query, func(t *testing.T) {
			_, _, err := q.Query(ctx, "sqlite:"+src, c.query, nil, nil, 0)
			if !isPermanent(err) {
				t.Fatalf("err %v, want a permanent error", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not name %q", err, c.want)
			}
			if after := dirState(t, srcDir) + "\n" + dirState(t, homeDir); after != before {
				t.Fatalf("the files changed:\nbefore\n%s\nafter\n%s", before, after)
			}
		})
	}
	// Spliced text cannot widen a bound value: the "attack" is a string.
	_, rows, err := q.Query(ctx, "sqlite:"+src, "SELECT count(*) FROM t WHERE state = ?",
		[]any{"x'; ATTACH '" + home + "' AS w; DELETE FROM w.t; --"}, nil, 0)
	if err != nil || render(rows) != "0\n" {
		t.Errorf("a hostile bound value: %v %q", err, render(rows))
	}
	if after := dirState(t, srcDir) + "\n" + dirState(t, homeDir); after != before {
		t.Fatalf("the files changed")
	}
}

// TestSQLiteStoreFunctionRefused: a process that opened a Cairn store
// defines cairn_wal_watch on every SQLite connection it opens, a sql
// source's included (store/sqlite's automatic extension); it gives the
// connection a write-ahead log hook that drives a store's checkpointer
// (tokens are small numbers: 1 is the process's first store), so a query
// may not call it.
func TestSQLiteStoreFunctionRefused(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "cairn.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	src := filepath.Join(t.TempDir(), "src.db")
	makeDB(t, src)
	for _, query := range []string{"SELECT cairn_wal_watch(1)", "SELECT id, CAIRN_WAL_WATCH(id) FROM t"} {
		_, rows, err := sqlsource.New().Query(ctx, "sqlite:"+src, query, nil, nil, 0)
		if !isPermanent(err) || !strings.Contains(err.Error(), "the function cairn_wal_watch()") {
			t.Errorf("%s: rows %q, err %v; want refused for good, naming the function", query, render(rows), err)
		}
	}
}

// TestSQLiteReads checks that the guard lets reads through: joins, CTEs
// (recursive too), window functions, subqueries, schema PRAGMAs, comments,
// a trailing semicolon, and args bound by position and by name, of every
// kind.
func TestSQLiteReads(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src.db")
	makeDB(t, src)
	q := sqlsource.New()
	ctx := context.Background()
	for _, c := range []struct {
		query string
		args  []any
		named map[string]any
		want  string
	}{
		{"SELECT t.id, t.state, sum(u.v) AS total FROM t JOIN u ON u.t_id = t.id GROUP BY t.id ORDER BY t.id", nil, nil, "1|failed|2\n3|succeeded|NULL\n"},
		{"SELECT t.id, u.id FROM t LEFT JOIN u ON u.t_id = t.id WHERE u.id IS NULL", nil, nil, "2|NULL\n"},
		{"WITH f AS (SELECT id FROM t WHERE state = 'failed') SELECT count(*) FROM f", nil, nil, "2\n"},
		{"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 4) SELECT group_concat(i) FROM n", nil, nil, "1,2,3,4\n"},
		{"SELECT id, row_number() OVER (ORDER BY id DESC) AS r FROM t ORDER BY id", nil, nil, "1|3\n2|2\n3|1\n"},
		{"SELECT (SELECT max(v) FROM u) AS m, upper(state), length(state), round(1.25, 1), coalesce(NULL, 'x') FROM t WHERE id = 1", nil, nil, "1.5|FAILED|6|1.3|x\n"},
		{"SELECT name, type FROM pragma_table_info('t') ORDER BY cid", nil, nil, "id|INTEGER\nstate|TEXT\n"},
		{"PRAGMA table_info(t)", nil, nil, "0|id|INTEGER|0|NULL|1\n1|state|TEXT|0|NULL|0\n"},
		{"-- the failed ones\nSELECT id FROM t WHERE state = 'failed' ORDER BY id; -- done\n", nil, nil, "1\n2\n"},
		{"SELECT id FROM t WHERE id = 3;", nil, nil, "3\n"},
		{"SELECT ?, ?, ?, ?, ?", []any{"a'b", int64(-7), 2.5, true, nil}, nil, "a'b|-7|2.5|1|NULL\n"},
		{"SELECT ?2, ?1", []any{"one", "two"}, nil, "two|one\n"},
		{"SELECT id FROM t WHERE state = ? AND id > ? ORDER BY id", []any{"failed", int64(1)}, nil, "2\n"},
		{"SELECT id FROM t WHERE state = :state AND id >= @min ORDER BY id", nil, map[string]any{"state": "failed", "min": int64(1)}, "1\n2\n"},
		{"SELECT :a, :a, $b", nil, map[string]any{"a": 1.5, "b": false}, "1.5|1.5|0\n"},
	} {
		_, rows, err := q.Query(ctx, "sqlite:"+src, c.query, c.args, c.named, 0)
		if err != nil {
			t.Errorf("%q: %v", c.query, err)
			continue
		}
		if got := render(rows); got != c.want {
			t.Errorf("%q:\n%s\nwant:\n%s", c.query, got, c.want)
		}
	}
}

// TestSQLiteArgsMismatch: placeholders and args must match one to one,
// checked before any row is read; a named arg with no placeholder of its name is refused too.
func TestSQLiteArgsMismatch(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src.db")
	makeDB(t, src)
	q := sqlsource.New()
	ctx := context.Background()
	for _, c := range []struct {
		query string
		args  []any
		named map[string]any
		want  string
	}{
		{"SELECT id FROM t WHERE id = ?", nil, nil, "1 placeholder(s) and args gives 0"},
		{"SELECT id FROM t", []any{int64(1)}, nil, "0 placeholder(s) and args gives 1"},
		{"SELECT :a, :b", nil, map[string]any{"a": int64(1)}, "2 placeholder(s) and args gives 1"},
		{"SELECT id FROM t WHERE state = :state AND id > :min", nil, map[string]any{"state": "failed", "mni": int64(1)}, "args.mni has no placeholder :mni"},
		{"SELECT @a", nil, map[string]any{"b": int64(1)}, "args.b has no placeholder"},
		{"SELECT ?", []any{int64(1)}, map[string]any{"a": int64(1)}, "not both"},
		{"SELECT ?", []any{[]int{1}}, nil, "cannot be bound"},
	} {
		_, _, err := q.Query(ctx, "sqlite:"+src, c.query, c.args, c.named, 0)
		if !isPermanent(err) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: err %v, want a permanent error mentioning %q", c.query, err, c.want)
		}
	}
}

// TestSQLiteValueLimit: one value cannot outgrow the result's byte limit
// inside SQLite either (zeroblob(1e9) would allocate a gigabyte in the
// process before the rows are read); without a limit the same query runs.
func TestSQLiteValueLimit(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src.db")
	makeDB(t, src)
	q := sqlsource.New()
	ctx := context.Background()
	for _, c := range []struct{ query, want string }{
		{"SELECT length(zeroblob(1000000000))", "larger than the byte limit"},
		{"SELECT length(printf('%.*c', 1000000000, 'x'))", "larger than the byte limit"},
	} {
		_, _, err := q.Query(ctx, "sqlite:"+src, c.query, nil, nil, 1<<20)
		if !isPermanent(err) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: err %v, want a permanent error mentioning %q", c.query, err, c.want)
		}
	}
	if _, rows, err := q.Query(ctx, "sqlite:"+src, "SELECT length(zeroblob(100000))", nil, nil, 1<<20); err != nil || render(rows) != "100000\n" {
		t.Errorf("a value under the limit: %v %q", err, render(rows))
	}
}

// TestPostgresAttacks runs the PostgreSQL attack — a DSN asking for
// the simple protocol, whose "COMMIT; DELETE ..." would end the read-only
// transaction and delete in autocommit — and its relatives: each must fail
// for good and leave the table as it was.
func TestPostgresAttacks(t *testing.T) {
	dsn := postgres(t)
	table := pgTable(t, dsn)
	q := sqlsource.New()
	ctx := context.Background()
	sep := "&"
	if !strings.Contains(dsn, "?") {
		sep = "?"
	}
	simple := dsn + sep + "default_query_exec_mode=simple_protocol"
	rw := dsn + sep + "options=-c%20default_transaction_read_only%3Doff&default_transaction_read_only=off"
	out := filepath.Join(os.TempDir(), fmt.Sprintf("cairn-sqlsource-copy-%d", os.Getpid()))
	t.Cleanup(func() { os.Remove(out) })
	for _, c := range []struct{ dsn, query, want string }{
		{simple, "COMMIT; DELETE FROM " + table, "more than one statement"},
		{simple, "SELECT 1; COMMIT; DELETE FROM " + table, "more than one statement"},
		{dsn, "SELECT 1; DELETE FROM " + table, "more than one statement"},
		{simple, "COMMIT", "returns no rows"},
		{rw, "COMMIT", "returns no rows"},
		{rw, "DELETE FROM " + table + " RETURNING id", "read-only"},
		{simple, "WITH d AS (DELETE FROM " + table + " RETURNING id) SELECT * FROM d", "read-only"},
		{simple, "UPDATE " + table + " SET id = 0 RETURNING id", "read-only"},
		{dsn, "COPY (SELECT 1) TO '" + out + "'", "returns no rows"},
		{dsn, "SET default_transaction_read_only = off", "returns no rows"},
		{dsn, "DO $$ BEGIN DELETE FROM " + table + "; END $$", "returns no rows"},
		{dsn, "CREATE TEMP TABLE x AS SELECT 1", "returns no rows"},
	} {
		t.Run(c.query, func(t *testing.T) {
			_, _, err := q.Query(ctx, c.dsn, c.query, nil, nil, 0)
			if !isPermanent(err) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err %v, want a permanent error mentioning %q", err, c.want)
			}
			_, rows, err := q.Query(ctx, dsn, "SELECT count(*) FROM "+table, nil, nil, 0)
			if err != nil || render(rows) != "2\n" {
				t.Fatalf("after the attack: %v, %q rows", err, render(rows))
			}
		})
	}
	if _, err := os.Stat(out); err == nil {
		t.Errorf("COPY wrote %s", out)
	}
	// The session itself is read-only too, whatever the DSN asked.
	_, rows, err := q.Query(ctx, rw, "SELECT current_setting('default_transaction_read_only'), current_setting('transaction_read_only')", nil, nil, 0)
	if err != nil || render(rows) != "on|on\n" {
		t.Errorf("read-only settings: %v %q", err, render(rows))
	}
}

// TestPostgresReads: joins, CTEs and args by position ($N) and by name
// (@name) of every kind work through the guard.
func TestPostgresReads(t *testing.T) {
	dsn := postgres(t)
	table := pgTable(t, dsn)
	q := sqlsource.New()
	ctx := context.Background()
	for _, c := range []struct {
		query string
		args  []any
		named map[string]any
		want  string
	}{
		{"SELECT a.id, b.id FROM " + table + " a JOIN " + table + " b ON b.id = a.id + 1", nil, nil, "1|2\n"},
		{"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3) SELECT string_agg(i::text, ',') FROM n", nil, nil, "1,2,3\n"},
		{"SELECT id FROM " + table + " WHERE name = $1 OR id = $2", []any{"a", int64(2)}, nil, ""},
		{"SELECT $1::text, $2::bigint, $3::float8, $4::boolean, $5::text", []any{"a'b", int64(-7), 2.5, true, nil}, nil, "a'b|-7|2.5|true|NULL\n"},
		{"SELECT id FROM " + table + " WHERE flag = @flag AND id >= @min", nil, map[string]any{"flag": false, "min": int64(1)}, "2\n"},
		{"SELECT count(*) FROM " + table + " WHERE x > $1;", []any{0.1}, nil, "1\n"},
	} {
		_, rows, err := q.Query(ctx, dsn, c.query, c.args, c.named, 0)
		if err != nil {
			t.Errorf("%q: %v", c.query, err)
			continue
		}
		if c.want == "" {
			c.want = "1\n2\n"
		}
		if got := render(rows); got != c.want {
			t.Errorf("%q:\n%s\nwant:\n%s", c.query, got, c.want)
		}
	}
	for _, c := range []struct {
		query string
		args  []any
		named map[string]any
		want  string
	}{
		{"SELECT $1::int", nil, nil, "1 placeholder(s) and args gives 0"},
		{"SELECT 1", []any{int64(1)}, nil, "0 placeholder(s) and args gives 1"},
		{"SELECT @a::int", nil, map[string]any{"b": int64(1)}, "named args"},
	} {
		_, _, err := q.Query(ctx, dsn, c.query, c.args, c.named, 0)
		if !isPermanent(err) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: err %v, want a permanent error mentioning %q", c.query, err, c.want)
		}
	}
}

// TestPostgresReadOnlyRole shows why docs/security.md names a read-only
// role as the real boundary on PostgreSQL: a READ ONLY transaction does
// not stop a superuser's functions that act outside the database (here
// pg_read_file, reading a server file into the data set), while a role
// with SELECT only is refused them. Both queries go through sqlsource.
func TestPostgresReadOnlyRole(t *testing.T) {
	dsn := postgres(t)
	table := pgTable(t, dsn)
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	admin := stdlib.OpenDB(*cfg)
	t.Cleanup(func() { admin.Close() })
	var super bool
	if err := admin.QueryRow(`SELECT rolsuper FROM pg_roles WHERE rolname = current_user`).Scan(&super); err != nil {
		t.Fatal(err)
	}
	if !super {
		t.Skip("CAIRN_TEST_POSTGRES does not connect as a superuser: cannot create the role")
	}
	role := fmt.Sprintf("cairn_reader_%d", os.Getpid())
	for _, stmt := range []string{
		`CREATE ROLE ` + role + ` LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE`,
		`GRANT SELECT ON ` + table + ` TO ` + role,
	} {
		if _, err := admin.Exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	t.Cleanup(func() {
		for _, stmt := range []string{`REVOKE ALL ON ` + table + ` FROM ` + role, `DROP ROLE ` + role} {
			if _, err := admin.Exec(stmt); err != nil {
				t.Errorf("%s: %v", stmt, err)
			}
		}
	})
	q := sqlsource.New()
	ctx := context.Background()
	const readFile = "SELECT pg_read_file('PG_VERSION') AS v"
	if _, rows, err := q.Query(ctx, dsn, readFile, nil, nil, 0); err != nil || len(rows) != 1 {
		t.Fatalf("as the superuser, in a READ ONLY transaction: %v (the test expects the server file to be readable)", err)
	}
	roleDSN := fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable", role, cfg.Host, cfg.Port, cfg.Database)
	if _, rows, err := q.Query(ctx, roleDSN, "SELECT count(*) FROM "+table, nil, nil, 0); err != nil || render(rows) != "2\n" {
		t.Fatalf("as %s: %v %q", role, err, render(rows))
	}
	_, _, err = q.Query(ctx, roleDSN, readFile, nil, nil, 0)
	if !isPermanent(err) || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("as %s: err %v, want a permanent permission denied", role, err)
	}
}

// TestQueryEndsWithContext: a query that would never end stops when its
// context does, on SQLite and PostgreSQL, with an error that says so and
// stays retryable (the timeout param, or a cancelled run).
func TestQueryEndsWithContext(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src.db")
	makeDB(t, src)
	dsns := map[string]string{"sqlite": "sqlite:" + src}
	if pg := os.Getenv("CAIRN_TEST_POSTGRES"); pg != "" {
		dsns["postgres"] = pg
	}
	const forever = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n"
	for name, dsn := range dsns {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			_, _, err := sqlsource.New().Query(ctx, dsn, forever, nil, nil, 0)
			if !errors.Is(err, context.DeadlineExceeded) || isPermanent(err) {
				t.Errorf("err %v, want a retryable error wrapping the deadline", err)
			}
		})
	}
}
