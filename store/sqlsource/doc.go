// Package sqlsource runs the read-only queries of the collect task's `sql`
// source on a SQLite file or a PostgreSQL server. With store/sqlite it is
// one of the two homes of the SQLite driver (mattn/go-sqlite3), and it is
// the home of the PostgreSQL driver (jackc/pgx) until a PostgreSQL store
// joins it; task types reach it through the small interface
// collect.SQLQuerier, which cmd/cairn wires to a *Source.
//
// # DSNs
//
//	postgres://user:pass@host:5432/db?sslmode=disable   (or postgresql://)
//	sqlite:relative/or/absolute/path.db                  (or sqlite://PATH)
//
// A relative SQLite path is resolved against the process's working
// directory. The file must exist: it is opened with mode=ro (never
// created) and PRAGMA query_only, so no statement can write. PostgreSQL
// queries run in a READ ONLY transaction that is rolled back at the end.
//
// # Values
//
// Every value comes back as text, as database/sql converts it into a
// string: integers in decimal, floats in Go's shortest round-trip form,
// booleans as true/false, times in RFC 3339 (nanoseconds when present);
// NULL is an invalid sql.NullString. A value that is not valid UTF-8 (a
// BLOB) is an error naming its row and column.
//
// # Errors
//
// Errors carry the DSN with its password redacted. Those retrying cannot
// fix are cairn.Permanent: a DSN of an unknown form, a SQLite file that
// does not exist or is not a database, SQL errors (syntax, unknown table or
// column, a write refused as read-only: SQLSTATE classes 0A, 21, 22, 25, 28,
// 2B, 3D, 3F, 42, 44 and SQLite's ERROR, READONLY, CANTOPEN, NOTADB,
// CORRUPT, AUTH, PERM, MISMATCH, RANGE), a result over the byte limit, a
// value that is not text. Connection failures, timeouts, a busy database,
// a server shutting down or out of resources are plain errors: a retry may
// succeed.
package sqlsource
