// Package sqlite implements scheduler.Store on SQLite. It is the only
// package of Cairn that imports the SQLite driver (mattn/go-sqlite3) and
// sqlx.
//
// A Store holds one writer connection (SQLite admits one writer at a time;
// a single connection makes every write transaction BEGIN IMMEDIATE and
// serialises them in process instead of in the busy handler) and a small
// pool of read-only connections, which WAL lets read concurrently with the
// writer. Every method is one transaction (or one read statement).
//
// Times are stored as INTEGER Unix nanoseconds UTC, the zero time as NULL;
// JSON values as TEXT. The schema comes from package migrations and is
// applied by Open (unless WithoutMigrations) or Migrate.
//
// Driver errors are translated by code: a unique or primary key violation
// becomes cairn.ErrConflict, a foreign key violation cairn.ErrNotFound.
package sqlite
