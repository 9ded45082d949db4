package sqlite

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cairnml/cairn/migrations"
)

var update = flag.Bool("update", false, "rewrite migrations/snapshot/sqlite.sql from the migrations (TestSchemaSnapshot)")

// The schema snapshot is what the migrations make: a new database made
// from it is the migrated one (TestOpenNewAndCurrentDatabases compares
// the two). With -update this test rewrites it.
func TestSchemaSnapshot(t *testing.T) {
	ctx := context.Background()
	ms, err := sqliteMigrations()
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite3", filepath.Join(t.TempDir(), "migrated.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if err := createSchema(ctx, db, false); err != nil {
		t.Fatal(err)
	}
	rows, err := db.QueryContext(ctx, `SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' ORDER BY rowid`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var b strings.Builder
	latest := ms[len(ms)-1]
	fmt.Fprintf(&b, "-- version %d\n-- The SQLite schema that the migrations up to %s make, made by\n"+
		"-- go test ./store/sqlite -run TestSchemaSnapshot -update: do not edit.\n", latest.Version, latest.Name)
	for rows.Next() {
		var stmt string
		if err := rows.Scan(&stmt); err != nil {
			t.Fatal(err)
		}
		b.WriteString(stmt + ";\n")
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	want := b.String()
	if *update {
		if err := os.WriteFile(filepath.Join("..", "..", "migrations", "snapshot", "sqlite.sql"), []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if v, got := migrations.SQLiteSnapshot(); v != latest.Version || got != want {
		t.Errorf("migrations/snapshot/sqlite.sql (version %d) is not the schema the migrations make (version %d): "+
			"a new database is then made from the migrations, slowly; rewrite it with go test ./store/sqlite -run TestSchemaSnapshot -update",
			v, latest.Version)
	}
}
