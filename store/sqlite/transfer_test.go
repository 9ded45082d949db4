package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cairnml/cairn/store/sqlite"
	"github.com/cairnml/cairn/store/transfer"
)

// TestExportPlanCoversSchema: every table this binary's migrations make
// is in transfer.Plan (copied or said why not), and every table Plan
// names exists, so that a migration adding a table must decide what
// 'cairn migrate --to postgres://' does with it.
func TestExportPlanCoversSchema(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "cairn.db")
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, n)
		if d, ok := transfer.Known(n); !ok || d.Why == "" {
			t.Errorf("table %s: transfer.Plan does not say what a migration does with it", n)
		}
	}
	rows.Close()
	for _, d := range transfer.Plan() {
		if !slices.Contains(tables, d.Table) {
			t.Errorf("transfer.Plan names %s, which the schema has not", d.Table)
		}
	}

	ex, err := st.Export(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer ex.Close()
	var got []string
	for _, tb := range ex.Tables() {
		got = append(got, tb.Name)
		if tb.Rows != 0 || len(tb.Key) == 0 || len(tb.Columns) < 2 {
			t.Errorf("%s: %+v", tb.Name, tb)
		}
	}
	if !slices.Equal(got, transfer.Copied()) {
		t.Errorf("exported %v, want %v", got, transfer.Copied())
	}
}

func TestExportSnapshotAndInFlight(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "cairn.db")
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Now()
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.Exec(q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(`INSERT INTO runs (id, workflow, state, version, owner, owner_expires_at) VALUES ('live', 'wf', 'running', 1, 'h:1:a', ?)`, now.Add(5*time.Second).UnixNano())
	exec(`INSERT INTO runs (id, workflow, state, version, owner, owner_expires_at) VALUES ('expired', 'wf', 'running', 1, 'h:2:b', ?)`, now.Add(-time.Second).UnixNano())
	exec(`INSERT INTO runs (id, workflow, state, version, owner, owner_expires_at) VALUES ('dead', 'wf', 'running', 1, 'h:3:c', ?)`, now.Add(5*time.Second).UnixNano())
	exec(`INSERT INTO runs (id, workflow, state, version) VALUES ('queued', 'wf', 'queued', 1)`)
	exec(`INSERT INTO runs (id, workflow, state, version, owner, owner_expires_at) VALUES ('done', 'wf', 'succeeded', 1, 'h:1:a', ?)`, now.Add(5*time.Second).UnixNano())

	ro, err := sqlite.Open(ctx, path, sqlite.ReadOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	ex, err := ro.Export(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer ex.Close()
	// Written after the export began: not seen by it.
	exec(`INSERT INTO runs (id, workflow, state, version, owner, owner_expires_at) VALUES ('later', 'wf', 'running', 1, 'h:1:a', ?)`, now.Add(5*time.Second).UnixNano())

	fl, err := ex.InFlight(ctx, now, func(owner string) bool { return owner == "h:3:c" })
	if err != nil {
		t.Fatal(err)
	}
	if len(fl) != 1 || fl[0].Run != "live" || fl[0].Owner != "h:1:a" || fl[0].ClaimUntil.IsZero() {
		t.Errorf("in flight: %+v, want live alone", fl)
	}
	var runs transfer.Table
	for _, tb := range ex.Tables() {
		if tb.Name == "runs" {
			runs = tb
		}
	}
	if runs.Rows != 5 {
		t.Errorf("runs counted %d, want 5 (the snapshot's)", runs.Rows)
	}
	rows, err := ex.Rows(ctx, runs)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ex.Rows(ctx, runs); err == nil {
		t.Error("a second table read while one is open")
	}
	var ids []string
	for rows.Next() {
		v, err := rows.Values()
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, v[0].(string))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	if strings.Join(ids, " ") != "dead done expired live queued" {
		t.Errorf("rows in key order: %v", ids)
	}
}

func TestExportRefusesOtherSchemas(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "cairn.db")
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE mine (id INTEGER PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Export(ctx); err == nil || !strings.Contains(err.Error(), "table mine is not one cairn migrate knows") {
		t.Errorf("a table of someone else's: %v", err)
	}
	if _, err := db.Exec(`DROP TABLE mine; DELETE FROM schema_migrations WHERE version = (SELECT max(version) FROM schema_migrations)`); err != nil {
		t.Fatal(err)
	}
	var sv *sqlite.SchemaVersionError
	if _, err := st.Export(ctx); !errors.As(err, &sv) || !sv.Older {
		t.Errorf("an older schema: %v", err)
	}
	st.Close()
}
