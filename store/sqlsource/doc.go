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
// directory.
//
// # Read-only, whatever the query or the DSN
//
// A query is exactly one statement that reads; a second one is a
// permanent error naming it (SQLite: the engine's tail after the first
// statement; PostgreSQL: its refusal to Parse several commands). Values
// reach it only as bound parameters: args by position (? or ?N on SQLite,
// $N on PostgreSQL) or by name (:name on SQLite, @name on PostgreSQL,
// rewritten by pgx's StrictNamedArgs); a placeholder without a value or a
// value without a placeholder is refused before any row is read.
//
// SQLite: the file must exist; it is opened with mode=ro (never created)
// and PRAGMA query_only; SQLITE_LIMIT_ATTACHED is 0 (no ATTACH, which
// would create files even with query_only on); and an authorizer allows
// only reading tables, SELECT, recursive CTEs, functions without side
// effects (load_extension and fts3_tokenizer are refused) and PRAGMAs that
// read the schema (table_info, index_list, ...), refusing every other
// action while the statement compiles, before it can run. The compiled
// statement must also be one SQLite calls read-only (VACUUM, VACUUM INTO
// are not), and only that statement ever runs. SQLITE_LIMIT_LENGTH is the
// byte limit, so no single value (zeroblob(1e9), a huge printf) is made in
// memory past it.
//
// PostgreSQL: after the DSN is parsed, Cairn forces the extended protocol
// (QueryExecModeDescribeExec; a DSN's default_query_exec_mode is
// overridden, so "COMMIT; DELETE ..." cannot run as two statements) and
// the session's default_transaction_read_only=on (overriding the DSN's
// own setting and its options=-c). The query is described first, without
// running: one that returns no rows (COPY, DO, SET, COMMIT, CREATE ...)
// is refused. It then runs in a BEGIN READ ONLY transaction that is always
// rolled back. PostgreSQL cannot tell every side effect of a function
// (dblink, a superuser's server file functions): the real boundary is a
// role that can only read; see docs/security.md.
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
// CORRUPT, AUTH, PERM, MISMATCH, RANGE), anything the read-only guard
// refuses (it names the action: "ATTACH", "PRAGMA query_only = 0", "DELETE
// FROM t", ...), a second statement, args that do not match the
// placeholders, a result over the byte limit, a value that is not text. Connection failures, timeouts, a busy database,
// a server shutting down or out of resources are plain errors: a retry may
// succeed.
package sqlsource
