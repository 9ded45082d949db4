package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cairnml/cairn/migrations"
	"github.com/cairnml/cairn/store/internal/sqlrow"
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
	var b strings.Builder
	latest := ms[len(ms)-1]
	fmt.Fprintf(&b, "-- version %d\n-- The SQLite schema that the migrations up to %s make, made by\n"+
		"-- go test ./store/sqlite -run TestSchemaSnapshot -update: do not edit.\n", latest.Version, latest.Name)
	for _, stmt := range texts(t, db, `SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' ORDER BY rowid`) {
		b.WriteString(stmt + ";\n")
	}
	want := b.String()
	if *update {
		if err := os.WriteFile(filepath.Join("..", "..", "migrations", "snapshot", "sqlite.sql"), []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join("..", "..", "migrations", "snapshot", "sqlite.img"), imageFrom(t, want, ms), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if v, got := migrations.SQLiteSnapshot(); v != latest.Version || got != want {
		t.Errorf("migrations/snapshot/sqlite.sql (version %d) is not the schema the migrations make (version %d): "+
			"a new database is then made from the migrations, slowly; rewrite it with go test ./store/sqlite -run TestSchemaSnapshot -update",
			v, latest.Version)
	}

	// The image is a sound database in WAL mode with the migrated schema,
	// every migration recorded (applied_at 0: see image.go).
	v, file, err := decodeImage(migrations.SQLiteImage())
	if err != nil || v != latest.Version {
		t.Fatalf("migrations/snapshot/sqlite.img: version %d, %v; want version %d: "+
			"a new database is then built from the snapshot, slowly; rewrite it with go test ./store/sqlite -run TestSchemaSnapshot -update",
			v, err, latest.Version)
	}
	path := filepath.Join(t.TempDir(), "image.db")
	if err := os.WriteFile(path, file, 0o600); err != nil {
		t.Fatal(err)
	}
	img, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	var check string
	if err := img.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
		t.Fatalf("the image's integrity_check: %q, %v", check, err)
	}
	var mode string
	if err := img.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("the image's journal mode: %q, %v; want wal", mode, err)
	}
	var stamped int
	if err := img.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE applied_at != 0`).Scan(&stamped); err != nil || stamped != 0 {
		t.Errorf("the image has %d migrations with a time (%v), want 0", stamped, err)
	}
	if a, b := schemaOf(t, img), schemaOf(t, db); a != b {
		t.Errorf("migrations/snapshot/sqlite.img is not the schema the migrations make; rewrite it with "+
			"go test ./store/sqlite -run TestSchemaSnapshot -update\nimage:\n%s\nmigrated:\n%s", a, b)
	}
}

// The encoding of an image gives back the file it was made from, whatever
// its runs of zeros.
func TestImageEncoding(t *testing.T) {
	for _, file := range [][]byte{
		{},
		{0, 0, 0},
		{1},
		{0, 0, 1, 2, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0},
		append(append(bytes.Repeat([]byte{0}, 5000), 7), bytes.Repeat([]byte{0}, 300)...),
		bytes.Repeat([]byte{9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 100),
		// More runs and gaps than one pwritev takes (maxIOV).
		bytes.Repeat([]byte{9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 1500),
	} {
		img := encodeImage(23, file)
		v, got, err := decodeImage(img)
		if err != nil || v != 23 || !bytes.Equal(got, file) {
			t.Errorf("%v: decoded to version %d, %v, %v", file, v, got, err)
		}
		// Written into a file, run by run, it is the same bytes.
		_, size, runs, err := parseImage(img)
		if err != nil {
			t.Fatal(err)
		}
		f, err := os.Create(filepath.Join(t.TempDir(), "f"))
		if err != nil {
			t.Fatal(err)
		}
		if err := (parsedImage{size, runs}).writeTo(f); err != nil {
			t.Fatal(err)
		}
		f.Close()
		if written, err := os.ReadFile(f.Name()); err != nil || !bytes.Equal(written, file) {
			t.Errorf("%v: written as %v, %v", file, written, err)
		}
	}
	good := encodeImage(5, []byte{0, 1, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3})
	for i := range good {
		if _, _, err := decodeImage(good[:i]); err == nil {
			t.Errorf("the first %d of %d bytes of an image decoded", i, len(good))
		}
	}
	if _, _, err := decodeImage(append(good, 0)); err == nil {
		t.Error("an image with a byte more decoded")
	}
}

// imageFrom makes the image of a new database from the snapshot's
// statements, in WAL mode, with the migrations ms recorded as applied at 0.
func imageFrom(t *testing.T, snapshot string, ms []sqlrow.Migration) []byte {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "image.db")
	db, err := sql.Open("sqlite3", path+"?_journal_mode=OFF&_synchronous=OFF")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, snapshot); err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if _, err := db.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, 0)`, m.Version, m.Name); err != nil {
			t.Fatal(err)
		}
	}
	var mode string
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode=WAL").Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal mode %q, %v", mode, err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return encodeImage(ms[len(ms)-1].Version, file)
}

// schemaOf is db's schema (sqlite_master, but for the root pages) and its
// recorded migrations, as text.
func schemaOf(t *testing.T, db *sql.DB) string {
	t.Helper()
	var b strings.Builder
	for _, line := range texts(t, db, `SELECT type || ' ' || name || ' ' || tbl_name || ': ' || coalesce(sql, '') FROM sqlite_master ORDER BY rowid`) {
		b.WriteString(line + "\n")
	}
	var versions string
	if err := db.QueryRow(`SELECT group_concat(version || ' ' || name, ', ') FROM (SELECT * FROM schema_migrations ORDER BY version)`).Scan(&versions); err != nil {
		t.Fatal(err)
	}
	return b.String() + versions
}

// texts is the one text column of query's rows.
func texts(t *testing.T, db *sql.DB, query string) []string {
	t.Helper()
	rows, err := db.Query(query)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
