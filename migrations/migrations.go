package migrations

import (
	"embed"
	"io/fs"
	"strconv"
	"strings"
)

// files holds every dialect's migrations. It is read-only.
//
//go:embed sqlite/*.sql postgres/*.sql
var files embed.FS

// SQLite returns the SQLite migrations: NNNN_name.sql files at the root of
// the returned file system.
func SQLite() fs.FS {
	sub, err := fs.Sub(files, "sqlite")
	if err != nil {
		// fs.Sub fails only for an invalid path; "sqlite" is valid.
		panic("migrations: " + err.Error())
	}
	return sub
}

// Postgres returns the PostgreSQL migrations: NNNN_name.sql files at the
// root of the returned file system, one for each SQLite file, with the
// same number and name (TestDialectsInStep), making the same tables.
func Postgres() fs.FS {
	sub, err := fs.Sub(files, "postgres")
	if err != nil {
		panic("migrations: " + err.Error())
	}
	return sub
}

// snapshot is the SQLite schema as the migrations leave it, for making a
// new database in one step: see SQLiteSnapshot.
//
//go:embed snapshot/sqlite.sql
var snapshot string

// SQLiteSnapshot returns the schema the SQLite migrations up to version
// make, as the statements that create it (sqlite_master's, in order): a
// new database made with them (and schema_migrations filled in) is the
// one the migrations make, in a fraction of the time (ALTER TABLE re-reads
// the whole schema). store/sqlite's tests check it against the migrations
// and rewrite it (go test ./store/sqlite -run TestSchemaSnapshot -update).
// Its first line says its version: "-- version N".
func SQLiteSnapshot() (version int, sql string) {
	first, _, _ := strings.Cut(snapshot, "\n")
	v, err := strconv.Atoi(strings.TrimPrefix(first, "-- version "))
	if err != nil {
		return 0, "" // no snapshot: the migrations make the schema
	}
	return v, snapshot
}

// image is a new SQLite database of the snapshot's schema, its
// schema_migrations filled in, as store/sqlite writes it (see
// SQLiteImage).
//
//go:embed snapshot/sqlite.img
var image []byte

// SQLiteImage returns the bytes of a new database at the snapshot's
// schema (SQLiteSnapshot), in store/sqlite's encoding of the file (its
// runs of bytes that are not zero): a new database is written from it
// rather than built by running the snapshot's statements, which costs
// SQLite a parse of each and of the schema after each. store/sqlite's
// TestSchemaSnapshot checks it against the snapshot and rewrites it with
// -update. The caller must not change it.
func SQLiteImage() []byte { return image }
