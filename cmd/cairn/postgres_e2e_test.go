package main

// End-to-end tests of the commands on PostgreSQL (issue #21, --db
// postgres://...): the real binary, each test on a database of its own on
// the server CAIRN_TEST_POSTGRES names (skipped without it), the home
// folder holding artifacts and logs.

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairnml/cairn/store/postgres/pgtest"
	"github.com/cairnml/cairn/ui/runjson"
)

// pgEnv is an env whose commands keep their state in a PostgreSQL
// database of the test's own (CAIRN_DB), or a skip.
func pgEnv(t *testing.T) *env {
	t.Helper()
	e := newEnv(t)
	e.db = pgtest.NewDatabase(t)
	return e
}

// pgTables counts the tables of the database of dsn.
func pgTables(t *testing.T, dsn string) string {
	t.Helper()
	return pgtest.Query(t, dsn, `SELECT count(*) FROM pg_tables WHERE schemaname = 'public'`)[0][0]
}

// TestPostgresBreastCancer: the breast cancer example runs on PostgreSQL
// end to end, and every command reads it there: runs, show (with a
// task's cache story), logs, artifact, lineage, the model registry, a
// second run served from the cache, reproduce, gc. No SQLite file is made.
func TestPostgresBreastCancer(t *testing.T) {
	t.Parallel()
	e := pgEnv(t)
	wf, err := filepath.Abs("../../workflows/examples/breast-cancer.yaml")
	if err != nil {
		t.Fatal(err)
	}
	id := runIDOf(t, e.must(0, "run", wf, "--progress", "none").stderr)
	if _, err := os.Stat(filepath.Join(e.home, "cairn.db")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a run on PostgreSQL made a SQLite file in the home: %v", err)
	}
	if rows := pgtest.Query(t, e.db, `SELECT state, workflow FROM runs WHERE id = $1`, id); len(rows) != 1 || rows[0][0] != "succeeded" || rows[0][1] != "breast-cancer" {
		t.Fatalf("the run's row in PostgreSQL: %v", rows)
	}

	if runs := e.runs(); len(runs) != 1 || runs[0].ID != id || runs[0].State != "succeeded" {
		t.Fatalf("cairn runs: %+v", runs)
	}
	run := e.show(id)
	for _, tj := range run.Tasks {
		if tj.State != "succeeded" {
			t.Errorf("task %s: %s", tj.ID, tj.State)
		}
	}
	if len(run.Tasks) != 8 {
		t.Errorf("show: %d tasks, want 8", len(run.Tasks))
	}
	if story := e.must(0, "show", id, "train").stdout; !strings.Contains(story, "cache     on; no earlier run of workflow breast-cancer has a success of task train") {
		t.Errorf("show RUN TASK:\n%s", story)
	}
	if r := e.must(0, "logs", id, "evaluate"); !strings.Contains(r.stdout, "evaluate: gate roc_auc >= 0.95: 0.996362, holds") {
		t.Errorf("logs of evaluate:\n%s", r)
	}
	if r := e.must(0, "artifact", id, "train", "model"); !strings.HasPrefix(r.stdout, "{") {
		t.Errorf("artifact train model: %.200s", r.stdout)
	}
	text := e.must(0, "lineage", id+"/score").stdout
	for _, want := range []string{id + "/score#1  predict ", "└── model  sha256:", id + "/collect#1  collect "} {
		if !strings.Contains(text, want) {
			t.Errorf("lineage lacks %q:\n%s", want, text)
		}
	}
	if r := e.must(0, "models", "list"); !strings.Contains(r.stdout, "breast-cancer") {
		t.Errorf("models list:\n%s", r)
	}
	m := decodeJSON[runjson.Model](t, e.must(0, "models", "show", "breast-cancer", "--json"))
	if m.Production == nil || *m.Production != 1 || len(m.Versions) != 1 || m.Versions[0].Producer.RunID != id {
		t.Errorf("models show: %+v", m)
	}
	if text := e.must(0, "lineage", "model:breast-cancer@1").stdout; !strings.Contains(text, id+"/train#1  train ") {
		t.Errorf("lineage of the model:\n%s", text)
	}

	// A second run reuses every task it can from the first: the cache
	// is read from PostgreSQL.
	second := e.show(runIDOf(t, e.must(0, "run", wf, "--progress", "none").stderr))
	if c := cachedTasks(t, second); len(c) != 7 {
		t.Errorf("the second run reused %v, want 7 tasks", keys(c))
	}
	if r := e.must(0, "reproduce", id, "--progress", "none"); !strings.Contains(r.stdout, "ok    train     same (1 artifact, ") {
		t.Errorf("reproduce:\n%s", r)
	}
	if r := e.must(0, "gc", "--dry-run"); !strings.Contains(r.stderr, "would remove 0 artifacts") {
		t.Errorf("gc --dry-run after three runs kept by the rules:\n%s", r)
	}
	if _, err := os.Stat(filepath.Join(e.home, "cairn.db")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the commands made a SQLite file in the home: %v", err)
	}
}

// TestPostgresCommands: the commands that change runs work on
// PostgreSQL: a failed run retried, a queued run cancelled and another
// resumed, a schedule backfilled, tokens made, listed and revoked, the
// audit log read.
func TestPostgresCommands(t *testing.T) {
	t.Parallel()
	e := pgEnv(t)
	flaky := writeWorkflow(t, "flaky.yaml", `name: flaky
tasks:
  - id: ok
    type: noop
  - id: once
    type: shell
    needs: [ok]
    with:
      script: |
        if [ -e "$MARK" ]; then exit 0; fi
        : > "$MARK"; exit 3
      env: {MARK: "`+filepath.Join(t.TempDir(), "mark")+`"}
`)
	r := e.must(1, "run", flaky, "--progress", "none")
	id := runIDOf(t, r.stderr)
	e.must(0, "retry", id, "--progress", "none")
	if s := e.show(id); s.State != "succeeded" || taskByID(t, s, "once").Attempts != 2 {
		t.Fatalf("after retry: %s, once has %d attempts", s.State, taskByID(t, s, "once").Attempts)
	}

	q1, _ := e.detach(flaky)
	q2, _ := e.detach(flaky)
	e.must(0, "cancel", q1)
	if s := e.show(q1); s.State != "cancelled" {
		t.Errorf("cancelled run: %s", s.State)
	}
	e.must(0, "resume", q2, "--progress", "none")
	if s := e.show(q2); s.State != "succeeded" {
		t.Errorf("resumed run: %s (%s)", s.State, s.Error)
	}

	nightly := writeWorkflow(t, "nightly.yaml", `name: nightly
schedule: {cron: "0 3 * * *", timezone: UTC}
tasks:
  - id: a
    type: noop
`)
	r = e.must(0, "backfill", nightly, "--from", "2026-01-01", "--to", "2026-01-04")
	if ids := strings.Fields(r.stdout); len(ids) != 3 {
		t.Fatalf("backfill queued %v, want 3 runs\n%s", ids, r)
	}
	if runs := e.runs("--workflow", "nightly", "--state", "queued"); len(runs) != 3 {
		t.Errorf("the backfilled runs: %d queued", len(runs))
	}
	e.must(0, "schedules", "list")

	token := strings.TrimSpace(e.must(0, "tokens", "create", "--role", "viewer", "--name", "ci").stdout)
	tokID := strings.Split(token, "_")[1]
	if r := e.must(0, "tokens", "list"); !strings.Contains(r.stdout, tokID) {
		t.Errorf("tokens list:\n%s", r)
	}
	e.must(0, "tokens", "revoke", tokID)
	audit := e.must(0, "audit").stdout
	for _, want := range []string{"token.create", "token.revoke", "retry", "backfill"} {
		if !strings.Contains(audit, want) {
			t.Errorf("the audit log lacks %s:\n%s", want, audit)
		}
	}
}

// TestPostgresServer: cairn server on PostgreSQL serves the API with a
// token, and a run triggered through it runs to its end; the CLI reads
// it from the database beside the server.
func TestPostgresServer(t *testing.T) {
	t.Parallel()
	e := pgEnv(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "hello.yaml"), []byte(`name: hello
tasks:
  - id: greet
    type: shell
    with: {script: "echo hello from postgres"}
  - id: after
    type: noop
    needs: [greet]
`), 0o644); err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(e.must(0, "tokens", "create", "--role", "operator", "--name", "ci").stdout)
	srv := e.startServer(nil, "--workflows", dir)
	if l, ok := srv.find("cairn server ready", nil); !ok || !strings.HasPrefix(l.str("db"), "postgres://") {
		t.Errorf("the ready line names the database %q, want the PostgreSQL URL", l.str("db"))
	}
	url := "http://" + srv.addr
	if code, _ := srv.get("/api/v1/runs"); code != 401 {
		t.Errorf("the API without a token: %d, want 401", code)
	}
	r := e.must(0, "trigger", "hello", "--server", url, "--token", token)
	id := strings.TrimSpace(r.stdout)
	s := e.waitRunState(60*time.Second, id, "succeeded")
	if taskByID(t, s, "after").State != "succeeded" {
		t.Errorf("the triggered run: %+v", s)
	}
	if r := e.must(0, "logs", id, "greet", "--server", url, "--token", token); !strings.Contains(r.stdout, "hello from postgres") {
		t.Errorf("logs through the API:\n%s", r)
	}
	if rows := pgtest.Query(t, e.db, `SELECT count(*) FROM audit WHERE action = 'trigger' AND run_id = $1`, id); rows[0][0] != "1" {
		t.Errorf("audit rows of the trigger: %v", rows)
	}
	srv.term()
	srv.waitLog(30*time.Second, "stopped", nil)
}

// TestPostgresBadDSN: a database URL that does not connect stops every
// command at once, naming the host and the cause and never the password;
// one that is not a URL Cairn knows is bad usage. No server needed.
func TestPostgresBadDSN(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const pw = "s3cretPW"
	dsn := "postgres://cairn:" + pw + "@127.0.0.1:1/cairn?sslmode=disable"
	for _, args := range [][]string{{"runs"}, {"show", "0123456789abcdef"}, {"run", testdata(t, "alpha.yaml")}, {"server", "--addr", "127.0.0.1:0"},
		{"migrate"}, {"tokens", "list"}, {"models", "list"}, {"gc", "--dry-run"}} {
		r := e.cairn(append([]string{"--db", dsn}, args...)...)
		if r.code != 1 || !strings.Contains(r.stderr, "cannot connect to 127.0.0.1:1") || !strings.Contains(r.stderr, "connection refused") ||
			strings.Contains(r.stderr+r.stdout, pw) {
			t.Errorf("cairn %s on a server that refuses: %s", args[0], r)
		}
	}
	// The same from CAIRN_DB.
	r := e.cairnEnv([]string{"CAIRN_DB=" + dsn}, "runs")
	if r.code != 1 || !strings.Contains(r.stderr, "cannot connect to 127.0.0.1:1") || strings.Contains(r.stderr, pw) {
		t.Errorf("CAIRN_DB on a server that refuses: %s", r)
	}
	for _, c := range []struct{ db, want string }{
		{"mysql://root:" + pw + "@127.0.0.1/cairn", "mysql://…: Cairn keeps its state in SQLite or PostgreSQL"},
		{"postgres://cairn:" + pw + "@127.0.0.1:port/cairn", "postgres://…: not a valid URL"},
		{"sqlite://", `"sqlite://": give the file`},
	} {
		r := e.cairn("--db", c.db, "runs")
		if r.code != 2 || !strings.Contains(r.stderr, c.want) || strings.Contains(r.stderr, pw) {
			t.Errorf("--db %s: %s", c.db, r)
		}
	}
	if _, err := os.Stat(filepath.Join(e.home, "cairn.db")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a command on a bad URL made a SQLite file: %v", err)
	}
}

// TestPostgresReadOnlyCommands: runs, show, logs and artifact create no
// table in an empty database, and say what to do; once migrated they
// read it, and an older schema is named.
func TestPostgresReadOnlyCommands(t *testing.T) {
	t.Parallel()
	e := pgEnv(t)
	for _, args := range [][]string{{"runs"}, {"show", "0123456789abcdef"}, {"logs", "0123456789abcdef", "a"}, {"artifact", "0123456789abcdef", "a"}} {
		r := e.must(1, args...)
		if !strings.Contains(r.stderr, "has no Cairn tables") || !strings.Contains(r.stderr, "create them with: cairn migrate (") {
			t.Errorf("cairn %s on an empty database: %s", args[0], r)
		}
	}
	if n := pgTables(t, e.db); n != "0" {
		t.Fatalf("the read-only commands made %s tables", n)
	}
	if r := e.must(0, "migrate"); !strings.Contains(r.stdout, "applied 0001_") || strings.Contains(r.stdout, "@") && !strings.Contains(r.stdout, "postgres@") {
		t.Errorf("migrate:\n%s", r)
	}
	if r := e.must(0, "migrate"); !strings.Contains(r.stdout, "schema up to date") {
		t.Errorf("migrate again:\n%s", r)
	}
	if runs := e.runs(); len(runs) != 0 {
		t.Errorf("runs of a new database: %v", runs)
	}
	newest := pgtest.Query(t, e.db, `SELECT max(version) FROM schema_migrations`)[0][0]
	pgtest.Query(t, e.db, `DELETE FROM schema_migrations WHERE version = `+newest)
	if r := e.must(1, "runs"); !strings.Contains(r.stderr, "older than this binary's") || !strings.Contains(r.stderr, "upgrade it with: cairn migrate (") {
		t.Errorf("runs on an older schema: %s", r)
	}
	if r := e.must(1, "runs", "--db", e.db); !strings.Contains(r.stderr, "upgrade it with: cairn migrate --db 'postgres://") {
		t.Errorf("runs on an older schema: %s", r)
	}
}

// TestPostgresBackup: cairn backup of a home on PostgreSQL copies its
// files, not the database, and says how to dump that; restore puts the
// files back and refuses a SQLite backup.
func TestPostgresBackup(t *testing.T) {
	t.Parallel()
	e := pgEnv(t)
	id := runIDOf(t, e.must(0, "run", testdata(t, "alpha.yaml"), "--progress", "none").stderr)
	dir := filepath.Join(t.TempDir(), "backup")
	r := e.must(0, "backup", dir)
	if !strings.Contains(r.stdout, "not the database, which is in PostgreSQL") || !strings.Contains(r.stderr, "pg_dump --format=custom --file=cairn.pgdump") {
		t.Errorf("backup:\n%s", r)
	}
	note, err := os.ReadFile(filepath.Join(dir, pgNote))
	if err != nil || !strings.Contains(string(note), "pg_restore") {
		t.Errorf("the backup's note: %v\n%s", err, note)
	}
	if _, err := os.Stat(filepath.Join(dir, "cairn.db")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a backup of a PostgreSQL home holds a SQLite file: %v", err)
	}
	lite := newEnv(t)
	if r := lite.must(1, "restore", dir); !strings.Contains(r.stderr, "whose database is PostgreSQL") {
		t.Errorf("restore of a PostgreSQL home's backup into a SQLite home:\n%s", r)
	}
	other := &env{t: t, home: t.TempDir(), db: e.db}
	r = other.must(0, "restore", dir)
	if !strings.Contains(r.stderr, "pg_restore --dbname=") {
		t.Errorf("restore:\n%s", r)
	}
	if s := other.show(id); s.State != "succeeded" {
		t.Errorf("the run after restore: %s", s.State)
	}
	liteRun := newEnv(t)
	liteRun.must(0, "run", testdata(t, "alpha.yaml"), "--progress", "none")
	liteDir := filepath.Join(t.TempDir(), "lite")
	liteRun.must(0, "backup", liteDir)
	if r := other.must(1, "restore", liteDir, "--force"); !strings.Contains(r.stderr, "holds a SQLite database") {
		t.Errorf("restore of a SQLite backup onto PostgreSQL:\n%s", r)
	}
}

// TestPostgresDetachAsksTheDatabase: on PostgreSQL the servers of a
// database may run on other machines, with no info file in this home:
// run --detach (and show of a queued run) asks the database — a live
// leader lease — whether a server will start the run, rather than the
// home's info file.
func TestPostgresDetachAsksTheDatabase(t *testing.T) {
	t.Parallel()
	e := pgEnv(t)
	wf := writeWorkflow(t, "one.yaml", "name: one\ntasks:\n  - id: a\n    type: noop\n")
	id, r := e.detach(wf)
	if want := "no cairn server is live on this database (no leader lease held): start one ('cairn server') and it starts the run; or cancel it: cairn cancel " + id; !strings.Contains(r.stderr, want) {
		t.Errorf("run --detach with no server, want %q:\n%s", want, r.stderr)
	}
	if r := e.must(0, "show", id); !strings.Contains(r.stdout, "waits     for a cairn server, and none is live on this database") {
		t.Errorf("show of the queued run with no server:\n%s", r.stdout)
	}
	// A server of another home (another machine, as far as this home
	// knows) on the same database.
	other := newEnv(t)
	other.db = e.db
	srv := other.startServer(nil)
	e.waitRunState(60*time.Second, id, "succeeded")
	want := "cairn server " + srv.owner + " (the database's leader) starts it; follow it with: cairn show "
	waitFor(t, 20*time.Second, "run --detach to name the other home's server", func() bool {
		_, r = e.detach(wf)
		return strings.Contains(r.stderr, want)
	})
	srv.term()
	srv.wait(30 * time.Second)
}
