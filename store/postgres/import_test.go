package postgres_test

import (
	"context"
	"database/sql"
	"errors"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairnml/cairn/store/postgres"
	"github.com/cairnml/cairn/store/postgres/pgtest"
	"github.com/cairnml/cairn/store/sqlite" // and with it the "sqlite3" driver
	"github.com/cairnml/cairn/store/transfer"
)

// sourceHome makes a SQLite database with rows in every copied table,
// values chosen to be hard to carry: NULLs, large and negative integers,
// reals that do not round-trip as decimals, text in several scripts, bytes
// that are not UTF-8, a deleted audit row (so that the highest id ever
// given is above the highest held) and an evaluation.
func sourceHome(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "cairn.db")
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	db, err := sql.Open("sqlite3", path+"?_foreign_keys=on")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Date(2026, 12, 3, 14, 0, 0, 123456789, time.UTC).UnixNano()
	stmts := []struct {
		q    string
		args []any
	}{
		{`INSERT INTO runs (id, workflow, digest, source_path, source, params, state, created_at, started_at, finished_at, version, "trigger", scheduled_for)
			VALUES ('r1', 'wf', 'sha256:aa', '/x/wf.yaml', ?, '{"seed":7,"name":"Zoë ✓ 日本"}', 'succeeded', ?, ?, ?, 3, 'cron', ?)`,
			[]any{[]byte("name: wf\n\xff\x00binary"), now, now + 1, now + 2, now - 86400e9}},
		{`INSERT INTO runs (id, workflow, state, version, owner, owner_expires_at) VALUES ('r2', 'wf', 'running', 1, 'gone-host:1:abc', ?)`, []any{now - 1e9}},
		{`INSERT INTO task_runs (run_id, task_id, seq, type, state, attempt, backoff_factor, outputs, metrics, version, ready_gen, labels, queue)
			VALUES ('r1', 'train', 0, 'train', 'succeeded', 1, 0.1, '{"model":{"digest":"sha256:bb"}}', '{"auc":0.9876543210987654}', 2, NULL, '{"gpu":"true"}', 'gpu')`, nil},
		{`INSERT INTO task_runs (run_id, task_id, seq, type, state, attempt, backoff_factor, version, ready_gen) VALUES ('r2', 'a', 0, 'noop', 'ready', 0, ?, 1, 41)`, []any{math.MaxFloat64}},
		{`INSERT INTO task_runs (run_id, task_id, seq, type, state, attempt, version, lease_token, lease_worker, lease_expires_at, attempt_started_at)
			VALUES ('r2', 'b', 1, 'shell', 'running', 2, 4, 'tok', 'gone-host:1:abc', ?, ?)`, []any{now, now}},
		{`INSERT INTO attempts (run_id, task_id, number, state, token, started_at, finished_at, error, exit_code, cache_key)
			VALUES ('r1', 'train', 1, 'succeeded', 't1', ?, ?, 'line 1
line "2"	tab', -1, 'ck')`, []any{now, int64(math.MaxInt64)}},
		{`INSERT INTO attempts (run_id, task_id, number, state, token, started_at) VALUES ('r2', 'b', 1, 'interrupted', 't0', ?)`, []any{int64(math.MinInt64)}},
		{`INSERT INTO artifacts (digest, size, media_type, run_id, task_id, attempt, created_at) VALUES ('sha256:bb', 1234, 'application/json', 'r1', 'train', 1, ?)`, []any{now}},
		{`INSERT INTO artifacts (digest, size, created_at) VALUES ('sha256:aa', 0, ?)`, []any{now}},
		{`INSERT INTO lineage (run_id, task_id, attempt, direction, port, digest) VALUES ('r1', 'train', 1, 'out', 'model', 'sha256:bb')`, nil},
		{`INSERT INTO lineage (run_id, task_id, attempt, direction, port, digest) VALUES ('r1', 'train', 1, 'in', 'train', 'sha256:aa')`, nil},
		{`INSERT INTO models (name, version, digest, stage, metrics, run_id, task_id, attempt, created_at, stage_changed_at)
			VALUES ('bc', 1, 'sha256:bb', 'production', '{"auc":0.98}', 'r1', 'train', 1, ?, ?)`, []any{now, now}},
		{`INSERT INTO model_stages (name, version, from_stage, to_stage, reason, actor, at) VALUES ('bc', 1, '', 'production', 'deploy', 'r1/train', ?)`, []any{now}},
		{`INSERT INTO audit (at, actor, action, run_id, detail) VALUES (?, 'cli:me@host', 'trigger', 'r1', '{"a":1}')`, []any{now}},
		{`INSERT INTO audit (at, actor, action) VALUES (?, 'tok1', 'token.create')`, []any{now}},
		{`INSERT INTO audit (at, actor, action) VALUES (?, 'tok1', 'gone')`, []any{now}},
		{`DELETE FROM audit WHERE action = 'gone'`, nil},
		{`INSERT INTO tokens (id, hash, role, name, created_at, expires_at) VALUES ('0123456789abcdef', 'ffee', 'worker', 'w1', ?, NULL)`, []any{now}},
		{`INSERT INTO schedules (workflow, spec, position, paused, updated_at, version) VALUES ('wf', '0 * * * *', ?, 1, ?, 5)`, []any{now, now}},
		{`INSERT INTO evaluations (run_id, reason, created_at, due_at) VALUES ('r2', 'completed', ?, ?)`, []any{now, now}},
		{`INSERT INTO workers (id, protocol, state, registered_at, seen_at, expires_at) VALUES ('w1', 1, 'active', ?, ?, ?)`, []any{now, now, now}},
	}
	for _, s := range stmts {
		if _, err := db.Exec(s.q, s.args...); err != nil {
			t.Fatalf("%s: %v", s.q, err)
		}
	}
	return path
}

func export(t *testing.T, path string) *sqlite.Export {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, path, sqlite.ReadOnly())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ex, err := st.Export(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ex.Close() })
	return ex
}

func TestImportFromSQLite(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t)
	path := sourceHome(t)
	target := openStore(t, dsn)

	var phases []string
	checks, err := target.Import(ctx, export(t, path), postgres.ImportOptions{Progress: func(p transfer.Progress) {
		if len(phases) == 0 || phases[len(phases)-1] != p.Phase+" "+p.Table {
			phases = append(phases, p.Phase+" "+p.Table)
		}
	}})
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	if len(checks) != len(transfer.Copied()) {
		t.Fatalf("%d checks for %d tables", len(checks), len(transfer.Copied()))
	}
	want := map[string]int64{"runs": 2, "task_runs": 3, "attempts": 2, "artifacts": 2, "lineage": 2, "models": 1, "model_stages": 1, "audit": 2, "tokens": 1, "schedules": 1}
	for _, c := range checks {
		if !c.OK() || c.SourceRows != want[c.Table] || len(c.SourceSHA256) != 64 {
			t.Errorf("%+v: want %d rows, digests equal", c, want[c.Table])
		}
	}
	if phases[0] != "copy runs" || phases[len(phases)-1] != "verify model_drift" {
		t.Errorf("progress: %v", phases)
	}

	// The values as they were, byte for byte.
	got := pgtest.Query(t, dsn, `SELECT encode(source, 'hex'), params, "trigger", scheduled_for::text FROM runs WHERE id = 'r1'`)
	if got[0][0] != "6e616d653a2077660aff0062696e617279" || got[0][1] != `{"seed":7,"name":"Zoë ✓ 日本"}` || got[0][2] != "cron" {
		t.Errorf("runs r1: %q", got)
	}
	got = pgtest.Query(t, dsn, `SELECT finished_at::text, exit_code::text, error FROM attempts ORDER BY run_id`)
	if got[0][0] != "9223372036854775807" || got[0][1] != "-1" || got[0][2] != "line 1\nline \"2\"\ttab" {
		t.Errorf("attempts: %q", got)
	}
	got = pgtest.Query(t, dsn, `SELECT backoff_factor = 0.1, backoff_factor FROM task_runs ORDER BY run_id, seq`)
	if got[0][0] != "true" {
		t.Errorf("0.1 did not come back as 0.1: %q", got)
	}
	// Not copied: evaluations, workers.
	if got = pgtest.Query(t, dsn, `SELECT (SELECT count(*) FROM evaluations), (SELECT count(*) FROM workers)`); got[0][0] != "0" || got[0][1] != "0" {
		t.Errorf("evaluations, workers: %q", got)
	}

	// Sequences go on past the source's: audit's next id is 4 (3 was
	// given, then deleted), evaluations' 2, ready_gen's 42.
	got = pgtest.Query(t, dsn, `SELECT nextval(pg_get_serial_sequence('audit', 'id')), nextval(pg_get_serial_sequence('evaluations', 'id')), nextval('task_runs_ready_gen'), nextval(pg_get_serial_sequence('model_stages', 'id'))`)
	if got[0][0] != "4" || got[0][1] != "2" || got[0][2] != "42" || got[0][3] != "2" {
		t.Errorf("next audit, evaluation, ready_gen, model_stages: %q, want 4 2 42 2", got)
	}

	// The store reads what was copied.
	r, err := target.GetRun(ctx, "r1")
	if err != nil || r.Workflow != "wf" || r.Params["seed"] == nil {
		t.Errorf("GetRun r1: %+v %v", r, err)
	}

	// A second copy is refused: the target holds runs.
	_, err = target.Import(ctx, export(t, path), postgres.ImportOptions{})
	var ne *postgres.NotEmptyError
	if !errors.As(err, &ne) || ne.Tables["runs"] != 2 || !strings.Contains(err.Error(), "runs: 2") {
		t.Fatalf("second import: %v", err)
	}
	// With Replace it is done again, and the result is the same.
	again, err := target.Import(ctx, export(t, path), postgres.ImportOptions{Replace: true})
	if err != nil {
		t.Fatalf("Import Replace: %v", err)
	}
	for i := range again {
		if again[i] != checks[i] {
			t.Errorf("replace: %+v, first %+v", again[i], checks[i])
		}
	}
}

// shuffled is a source whose rows of one table come out of key order: a
// source that breaks its word, which the verification must catch.
type shuffled struct {
	*sqlite.Export
	table string
}

func (s shuffled) Rows(ctx context.Context, t transfer.Table) (transfer.Rows, error) {
	rows, err := s.Export.Rows(ctx, t)
	if err != nil || t.Name != s.table {
		return rows, err
	}
	defer rows.Close()
	var all [][]any
	for rows.Next() {
		v, err := rows.Values()
		if err != nil {
			return nil, err
		}
		all = append(all, append([]any(nil), v...))
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i, j := 0, len(all)-1; i < j; i, j = i+1, j-1 {
		all[i], all[j] = all[j], all[i]
	}
	return &sliceRows{rows: all, i: -1}, nil
}

type sliceRows struct {
	rows [][]any
	i    int
}

func (r *sliceRows) Next() bool             { r.i++; return r.i < len(r.rows) }
func (r *sliceRows) Values() ([]any, error) { return r.rows[r.i], nil }
func (r *sliceRows) Err() error             { return nil }
func (r *sliceRows) Close() error           { return nil }

func TestImportMismatchRollsBack(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t)
	target := openStore(t, dsn)
	checks, err := target.Import(ctx, shuffled{export(t, sourceHome(t)), "attempts"}, postgres.ImportOptions{})
	var me *transfer.MismatchError
	if !errors.As(err, &me) || !strings.Contains(err.Error(), "attempts") || !strings.Contains(err.Error(), "rolled back") {
		t.Fatalf("want a mismatch in attempts, got %v", err)
	}
	for _, c := range checks {
		if c.OK() == (c.Table == "attempts") {
			t.Errorf("%+v", c)
		}
	}
	if got := pgtest.Query(t, dsn, `SELECT (SELECT count(*) FROM runs) + (SELECT count(*) FROM attempts) + (SELECT count(*) FROM audit)`); got[0][0] != "0" {
		t.Errorf("the target holds %s rows after a failed copy", got[0][0])
	}
}

func TestImportRefusesTextPostgreSQLCannotHold(t *testing.T) {
	ctx := context.Background()
	path := sourceHome(t)
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE attempts SET error = CAST(? AS TEXT) WHERE run_id = 'r1'`, "bad \x00 byte"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	dsn := pgtest.NewDatabase(t)
	target := openStore(t, dsn)
	_, err = target.Import(ctx, export(t, path), postgres.ImportOptions{})
	if err == nil || !strings.Contains(err.Error(), "table attempts, row (run_id=r1, task_id=train, number=1), column error") {
		t.Fatalf("want the row named, got %v", err)
	}
	if got := pgtest.Query(t, dsn, `SELECT count(*) FROM runs`); got[0][0] != "0" {
		t.Errorf("runs copied before the failure stayed: %s", got[0][0])
	}
}

func TestImportSchemaVersionsMustMatch(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t)
	target := openStore(t, dsn)
	ex := export(t, sourceHome(t))
	_, err := target.Import(ctx, olderSource{ex}, postgres.ImportOptions{})
	if err == nil || !strings.Contains(err.Error(), "schema version is 9") {
		t.Fatalf("want a version mismatch, got %v", err)
	}
}

type olderSource struct{ *sqlite.Export }

func (olderSource) SchemaVersion() int { return 9 }

// BenchmarkImport copies a home of 2,000 runs of 10 tasks (20,000 task
// runs, 20,000 attempts, 42,000 rows in all) from SQLite into a new
// PostgreSQL database: the export, the COPY and the verification, one
// transaction; rows/s is what cairn migrate moves a second.
func BenchmarkImport(b *testing.B) {
	ctx := context.Background()
	pgtest.ServerDSN(b)
	path := filepath.Join(b.TempDir(), "cairn.db")
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		b.Fatal(err)
	}
	st.Close()
	db, err := sql.Open("sqlite3", path+"?_foreign_keys=on")
	if err != nil {
		b.Fatal(err)
	}
	for _, q := range []string{
		`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
		 INSERT INTO runs (id, workflow, source, params, state, created_at, started_at, finished_at, version)
		 SELECT printf('run%06d', i), 'wf', randomblob(2000), '{"seed":' || i || '}', 'succeeded', i, i + 1, i + 2, 3 FROM n`,
		`WITH RECURSIVE t(j) AS (SELECT 0 UNION ALL SELECT j + 1 FROM t WHERE j < 9)
		 INSERT INTO task_runs (run_id, task_id, seq, type, state, attempt, params, outputs, metrics, version, started_at, finished_at)
		 SELECT r.id, 'task' || t.j, t.j, 'shell', 'succeeded', 1, '{"script":"echo hi"}', '{"rows":' || t.j || '}', '{"auc":0.5}', 4, 1, 2 FROM runs r, t`,
		`INSERT INTO attempts (run_id, task_id, number, state, token, started_at, running_at, finished_at, type, params, outputs)
		 SELECT run_id, task_id, 1, 'succeeded', hex(randomblob(16)), 1, 2, 3, type, params, outputs FROM task_runs`,
	} {
		if _, err := db.Exec(q); err != nil {
			b.Fatal(err)
		}
	}
	db.Close()
	var rows int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		target := openStore(b, pgtest.NewDatabase(b))
		ro, err := sqlite.Open(ctx, path, sqlite.ReadOnly())
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		ex, err := ro.Export(ctx)
		if err != nil {
			b.Fatal(err)
		}
		checks, err := target.Import(ctx, ex, postgres.ImportOptions{})
		if err != nil {
			b.Fatal(err)
		}
		ex.Close()
		b.StopTimer()
		ro.Close()
		target.Close()
		rows = 0
		for _, c := range checks {
			rows += c.TargetRows
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	if rows != 42000 {
		b.Fatalf("copied %d rows, want 42000", rows)
	}
}
