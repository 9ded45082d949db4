package main

// cairn migrate --to postgres://: a SQLite home copied into a database of
// the test's own on CAIRN_TEST_POSTGRES (skipped without it), through the
// real binary.

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/store/postgres"
	"github.com/cairnml/cairn/store/postgres/pgtest"
	"github.com/cairnml/cairn/store/transfer"
)

// checkLine is one row of the verification table migrate prints.
var checkLine = regexp.MustCompile(`(?m)^(\w+)\s+(\d+)\s+(\d+)\s+([0-9a-f]{16}|-)\s+([0-9a-f]{16}|-)\s+(ok|MISMATCH)\s*$`)

type checkRow struct {
	rows               int
	source, target, ok string
}

// checksOf reads the verification table; every copied table must be in it.
func checksOf(t *testing.T, stdout string) map[string]checkRow {
	t.Helper()
	out := map[string]checkRow{}
	for _, m := range checkLine.FindAllStringSubmatch(stdout, -1) {
		n, _ := strconv.Atoi(m[2])
		if m[2] != m[3] {
			t.Errorf("%s: %s rows in SQLite, %s in PostgreSQL", m[1], m[2], m[3])
		}
		out[m[1]] = checkRow{rows: n, source: m[4], target: m[5], ok: m[6]}
	}
	for _, name := range transfer.Copied() {
		if _, ok := out[name]; !ok {
			t.Fatalf("table %s missing from the verification:\n%s", name, stdout)
		}
	}
	return out
}

// count is one count(*) on the target.
func count(t *testing.T, dsn, table string) int {
	t.Helper()
	n, err := strconv.Atoi(pgtest.Query(t, dsn, `SELECT count(*) FROM `+table)[0][0])
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestMigrateHomeToPostgres(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDatabase(t)
	e := newEnv(t)

	// A home with history: the breast cancer example (lineage, a
	// registered model), backfilled and cron runs of a schedule run by a
	// server, and a token.
	bc, err := filepath.Abs("../../workflows/examples/breast-cancer.yaml")
	if err != nil {
		t.Fatal(err)
	}
	e.must(0, "run", bc, "--progress", "none")
	dir := t.TempDir()
	hourly := filepath.Join(dir, "hourly.yaml")
	if err := os.WriteFile(hourly, []byte(cronCrashWF), 0o644); err != nil {
		t.Fatal(err)
	}
	e.must(0, "backfill", hourly, "--from", "2025-06-01T01:00:00Z", "--to", "2025-06-01T02:00:00Z")
	s := e.startServer([]string{"CAIRN_TEST_CLOCK=2025-06-01T04:59:58Z"}, "--workflows", dir, "--insecure-no-auth")
	waitFor(t, 60*time.Second, "the backfilled and cron runs to succeed", func() bool {
		n := 0
		for _, r := range e.runs("--workflow", "hourly") {
			if r.State != cairn.RunSucceeded {
				return false
			}
			n++
		}
		return n >= 3
	})
	s.term()
	if code := s.wait(30 * time.Second); code != 143 {
		t.Fatalf("server exit %d:\n%s", code, s.stderr.String())
	}
	e.must(0, "tokens", "create", "--role", "admin", "--name", "ci")
	runs := e.runs("--limit", "100")
	triggers := map[cairn.Trigger]int{}
	for _, r := range runs {
		triggers[r.Trigger]++
	}
	if triggers[cairn.TriggerCron] == 0 || triggers[cairn.TriggerBackfill] != 2 {
		t.Fatalf("runs by trigger: %v", triggers)
	}

	r := e.must(0, "migrate", "--to", dsn, "--progress", "lines")
	checks := checksOf(t, r.stdout)
	for name, c := range checks {
		if c.ok != "ok" || c.source != c.target {
			t.Errorf("%s: %+v", name, c)
		}
	}
	for name, want := range map[string]int{"runs": len(runs), "task_runs": 8 + len(runs) - 1, "models": 1, "tokens": 1, "schedules": 1} {
		if checks[name].rows != want {
			t.Errorf("%s: %d rows, want %d", name, checks[name].rows, want)
		}
	}
	for _, name := range []string{"attempts", "artifacts", "lineage", "model_stages", "audit"} {
		if checks[name].rows == 0 {
			t.Errorf("%s: no rows copied", name)
		}
	}
	for _, want := range []string{"copied runs: " + plural(len(runs), "row"), "verified schedules: 1 row", "stay in " + e.home} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	// What the database holds, read independently of the command.
	if got := count(t, dsn, "runs"); got != len(runs) {
		t.Errorf("runs in PostgreSQL: %d, want %d", got, len(runs))
	}
	got := pgtest.Query(t, dsn, `SELECT count(*) FROM runs WHERE "trigger" = 'cron' AND scheduled_for IS NOT NULL`)
	if got[0][0] != strconv.Itoa(triggers[cairn.TriggerCron]) {
		t.Errorf("cron runs with their slot: %s, want %d", got[0][0], triggers[cairn.TriggerCron])
	}
	if got := pgtest.Query(t, dsn, `SELECT name, version, stage FROM models`); len(got) != 1 || got[0][0] != "breast-cancer" || got[0][2] != "production" {
		t.Errorf("models: %q", got)
	}

	// The commands read the same from PostgreSQL as from the home, byte
	// for byte: runs, a run, lineage, the registry, the audit log, tokens.
	bcRun := ""
	for _, r := range runs {
		if r.Workflow == "breast-cancer" {
			bcRun = r.ID
		}
	}
	for _, args := range [][]string{
		{"runs", "--limit", "100"}, {"runs", "--json", "--limit", "100"}, {"show", bcRun}, {"show", bcRun, "--json"}, {"show", bcRun, "train"},
		{"lineage", "model:breast-cancer"}, {"lineage", "model:breast-cancer", "--format", "json"}, {"lineage", bcRun + "/split", "--downstream"},
		{"models", "list", "--json"}, {"models", "show", "breast-cancer", "--json"}, {"audit", "--json"}, {"tokens", "list", "--json"},
		{"schedules", "list", "--json"},
	} {
		home := e.must(0, args...)
		pg := e.must(0, append(args, "--db", dsn)...)
		if home.stdout != pg.stdout || home.stdout == "" {
			t.Errorf("cairn %s: the home and PostgreSQL differ:\n--- home:\n%s--- postgres:\n%s", strings.Join(args, " "), home.stdout, pg.stdout)
		}
	}

	// The same again into the same database: refused, nothing changed.
	r = e.must(1, "migrate", "--to", dsn)
	if !strings.Contains(r.stderr, "is not empty (") || !strings.Contains(r.stderr, "runs: "+strconv.Itoa(len(runs))) || !strings.Contains(r.stderr, "--replace") {
		t.Errorf("a second copy: %s", r)
	}
	// With --replace: the same digests.
	r = e.must(0, "migrate", "--to", dsn, "--replace", "--progress", "none")
	for name, c := range checksOf(t, r.stdout) {
		if c != checks[name] {
			t.Errorf("--replace: %s %+v, first copy %+v", name, c, checks[name])
		}
	}
	// A server using the database (its leader lease live): refused,
	// nothing replaced, even with --replace.
	pg, err := postgres.Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	if _, err := pg.AcquireLeader(t.Context(), scheduler.LeaderScheduler, "replica-1", time.Now(), time.Minute); err != nil {
		t.Fatal(err)
	}
	before := e.must(0, "runs", "--json", "--limit", "100", "--db", dsn).stdout
	r = e.must(1, "migrate", "--to", dsn, "--replace", "--progress", "none")
	if !strings.Contains(r.stderr, "a cairn server (replica-1) leads on") || !strings.Contains(r.stderr, "stop every server") {
		t.Errorf("--replace under a live server: %s", r)
	}
	if after := e.must(0, "runs", "--json", "--limit", "100", "--db", dsn).stdout; after != before {
		t.Errorf("the refused copy changed the database")
	}
}

func TestMigrateKilledMidCopy(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDatabase(t)
	e := newEnv(t)
	e.must(0, "run", testdata(t, "alpha.yaml"), "--progress", "none")
	e.must(0, "tokens", "create", "--role", "viewer", "--name", "dash")

	// Killed as the copy reaches attempts: runs and task_runs are in the
	// target's transaction, uncommitted.
	p := e.startWith([]string{envTestKillInCopy + "=attempts"}, "migrate", "--to", dsn, "--progress", "lines")
	if code := p.wait(60 * time.Second); code != -1 {
		t.Fatalf("want the kill, got exit %d:\n%s", code, p.stderr.String())
	}
	if !strings.Contains(p.stderr.String(), "copied task_runs") {
		t.Fatalf("killed before task_runs were copied:\n%s", p.stderr.String())
	}
	waitFor(t, 10*time.Second, "the target to be empty", func() bool {
		return count(t, dsn, "runs")+count(t, dsn, "task_runs")+count(t, dsn, "tokens") == 0
	})
	// The schema stays (made before the copy, in its own transactions): a
	// new run of the command finds an empty target and succeeds.
	r := e.must(0, "migrate", "--to", dsn, "--progress", "none")
	for name, c := range checksOf(t, r.stdout) {
		if c.ok != "ok" {
			t.Errorf("%s: %+v", name, c)
		}
	}
	if count(t, dsn, "runs") != 1 || count(t, dsn, "tokens") != 1 {
		t.Errorf("after the re-run: %d runs, %d tokens", count(t, dsn, "runs"), count(t, dsn, "tokens"))
	}
}

func TestMigrateRefuses(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDatabase(t)
	e := newEnv(t)

	// Nothing to copy yet.
	r := e.must(1, "migrate", "--to", dsn)
	if !strings.Contains(r.stderr, "nothing to copy") {
		t.Errorf("an empty home: %s", r)
	}
	e.must(0, "run", testdata(t, "alpha.yaml"), "--progress", "none")
	// A DSN that does not connect: the host named, the password not.
	r = e.must(1, "migrate", "--to", "postgres://cairn:hunter2secret@127.0.0.1:18699/cairn?sslmode=disable")
	if !strings.Contains(r.stderr, "127.0.0.1:18699") || strings.Contains(r.stderr, "hunter2secret") || !strings.Contains(r.stderr, "xxxxx") {
		t.Errorf("a DSN that does not connect: %s", r)
	}
	// Not a Cairn database.
	other := filepath.Join(t.TempDir(), "notes.txt")
	if err := os.WriteFile(other, []byte("just text, long enough to be looked at as a database header\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r = e.must(1, "migrate", "--from", "sqlite://"+other, "--to", dsn)
	if !strings.Contains(r.stderr, "not a Cairn database") {
		t.Errorf("a file that is not Cairn's: %s", r)
	}
	// The same database on both sides, a PostgreSQL source, a SQLite target.
	for _, args := range [][]string{{"--from", dsn, "--to", dsn}, {"--to", filepath.Join(e.home, "cairn.db")}, {"--replace"}} {
		if r = e.must(2, append([]string{"migrate"}, args...)...); !strings.Contains(r.stderr, "Run 'cairn migrate --help'") {
			t.Errorf("migrate %v: %s", args, r)
		}
	}
	// libpq's key=value settings: refused by --to as by --db, in the same
	// words, the password hidden.
	kv := "host=127.0.0.1 dbname=cairn password=hunter2secret"
	rto := e.must(2, "migrate", "--to", kv)
	rdb := e.must(2, "--db", kv, "runs")
	for _, r := range []result{rto, rdb} {
		if !strings.Contains(r.stderr, "key=value settings are not taken here: give a URL, postgres://USER@HOST:PORT/DATABASE") ||
			strings.Contains(r.stderr, "hunter2secret") {
			t.Errorf("key=value settings: %s", r)
		}
	}
	after := func(s, flag string) string { s, _, _ = strings.Cut(s, "\n"); _, s, _ = strings.Cut(s, flag); return s }
	if a, b := after(rto.stderr, "--to "), after(rdb.stderr, "--db "); a == "" || a != b {
		t.Errorf("--to and --db say different things of key=value settings:\n%s\n%s", a, b)
	}
	if got := pgtest.Query(t, dsn, `SELECT count(*) FROM pg_tables WHERE schemaname = 'public'`); got[0][0] != "0" {
		t.Errorf("a refused copy made %s tables", got[0][0])
	}

	// A live server on the home: refused, naming it.
	s := e.startServer(nil, "--insecure-no-auth")
	r = e.must(1, "migrate", "--to", dsn)
	if !strings.Contains(r.stderr, "a cairn server (pid "+strconv.Itoa(s.pid())) || !strings.Contains(r.stderr, "stop it first") {
		t.Errorf("a live server: %s", r)
	}
	s.term()
	if code := s.wait(30 * time.Second); code != 143 {
		t.Fatalf("server exit %d", code)
	}

	// Two copies into one new database at once: both migrate its schema
	// (one at a time), one commits, the other waits for the tables' lock
	// and is refused, the target holding one copy.
	twice := pgtest.NewDatabase(t)
	p1 := e.start("migrate", "--to", twice, "--progress", "none")
	p2 := e.start("migrate", "--to", twice, "--progress", "none")
	c1, c2 := p1.wait(60*time.Second), p2.wait(60*time.Second)
	if c1+c2 != 1 || !strings.Contains(p1.stderr.String()+p2.stderr.String(), "is not empty (") {
		t.Errorf("two copies at once: exits %d and %d\n%s\n%s", c1, c2, p1.stderr.String(), p2.stderr.String())
	}
	if count(t, twice, "runs") != 1 {
		t.Errorf("two copies at once left %d runs, want 1", count(t, twice, "runs"))
	}

	// A run in flight: refused, naming it; once its process is gone, the
	// run is copied as it stands (a server on PostgreSQL takes it over).
	pidfile := filepath.Join(t.TempDir(), "pid")
	p := e.start("run", testdata(t, "sleeper.yaml"), "-p", "pidfile="+pidfile, "--progress", "none")
	id := p.runID()
	waitFor(t, 30*time.Second, "the task to start", func() bool { _, err := os.Stat(pidfile); return err == nil })
	r = e.must(1, "migrate", "--to", dsn)
	if !strings.Contains(r.stderr, "1 run in flight") || !strings.Contains(r.stderr, id) || !strings.Contains(r.stderr, "cairn cancel") {
		t.Errorf("a run in flight: %s", r)
	}
	p.kill9()
	r = e.must(0, "migrate", "--to", dsn, "--progress", "none")
	if got := pgtest.Query(t, dsn, `SELECT state FROM runs WHERE id = $1`, id); len(got) != 1 || got[0][0] != "running" {
		t.Errorf("the orphaned run in PostgreSQL: %q", got)
	}

}
