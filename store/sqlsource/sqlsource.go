package sqlsource

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/cairnml/cairn"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/mattn/go-sqlite3"
)

// Source runs read-only queries. It holds no state: the zero value is
// ready, and one value serves any number of queries at once; each query
// opens its own connection and closes it before returning.
type Source struct{}

// New returns a Source.
func New() *Source { return &Source{} }

// Query runs query on the database dsn names, read-only, and returns the
// result's column names and its rows, every value as text (see the package
// documentation). The query must be exactly one statement that reads. Its
// placeholders are bound to args (positional: ? or ?N on SQLite, $N on
// PostgreSQL) or to named (by name: :name on SQLite, @name on PostgreSQL);
// give at most one of the two. Values are nil, bool, int64, float64 or
// string. When maxBytes > 0, a result whose values add up to more than
// maxBytes bytes (one more per value, as a CSV separator) is refused. The
// errors say which retrying cannot fix (cairn.Permanent).
func (*Source) Query(ctx context.Context, dsn, query string, args []any, named map[string]any, maxBytes int64) ([]string, [][]sql.NullString, error) {
	if strings.TrimSpace(query) == "" {
		return nil, nil, cairn.Permanentf("sql: empty query")
	}
	if len(args) > 0 && len(named) > 0 {
		return nil, nil, cairn.Permanentf("sql: give args as a list (positional placeholders) or as a map (named ones), not both")
	}
	for i, v := range args {
		if err := checkArg(v); err != nil {
			return nil, nil, cairn.Permanentf("sql: args[%d]: %w", i, err)
		}
	}
	for k, v := range named {
		if err := checkArg(v); err != nil {
			return nil, nil, cairn.Permanentf("sql: args.%s: %w", k, err)
		}
	}
	db, kind, shown, g, err := open(dsn, maxBytes)
	if err != nil {
		return nil, nil, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	cols, rows, err := run(ctx, db, kind, g, query, args, named, maxBytes)
	if err != nil && ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
		// The driver reports an interrupted query ("interrupted", "canceling
		// statement due to user request"): say why, and keep it retryable.
		return nil, nil, fmt.Errorf("sql %s: %w (%v)", shown, context.Cause(ctx), err)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("sql %s: %w", shown, err)
	}
	return cols, rows, nil
}

// checkArg accepts the value types every driver binds the same way.
func checkArg(v any) error {
	switch v.(type) {
	case nil, bool, int64, float64, string:
		return nil
	}
	return fmt.Errorf("a %T cannot be bound: want a string, a number, a boolean or null", v)
}

type driverKind int

const (
	kindSQLite driverKind = iota
	kindPostgres
)

// open opens dsn without connecting yet. shown is the DSN as errors show it
// (password redacted); g is the SQLite connection's guard, which also
// keeps any one value under maxBytes (when > 0).
func open(dsn string, maxBytes int64) (db *sql.DB, kind driverKind, shown string, g *guard, err error) {
	switch {
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		shown = redact(dsn)
		cfg, err := postgresConfig(dsn)
		if err != nil {
			// pgx's message may quote the DSN, password included.
			return nil, 0, "", nil, cairn.Permanentf("sql %s: invalid PostgreSQL DSN (want postgres://user:password@host:port/database?sslmode=...)", shown)
		}
		return stdlib.OpenDB(*cfg), kindPostgres, shown, nil, nil
	case strings.HasPrefix(dsn, "sqlite:"):
		path := strings.TrimPrefix(strings.TrimPrefix(dsn, "sqlite:"), "//")
		shown = "sqlite:" + path
		if path == "" {
			return nil, 0, "", nil, cairn.Permanentf("sql %s: no file path (want sqlite:PATH)", dsn)
		}
		if strings.ContainsAny(path, "?#") {
			return nil, 0, "", nil, cairn.Permanentf("sql %s: options in a SQLite DSN are not supported (give sqlite:PATH; the file is always opened read-only)", dsn)
		}
		abs, err := filepath.Abs(path)
		if err != nil {
			return nil, 0, "", nil, fmt.Errorf("sql %s: %w", shown, err)
		}
		g := &guard{maxLen: maxBytes}
		return sql.OpenDB(sqliteConnector{uri: sqliteURI(abs), guard: g}), kindSQLite, shown, g, nil
	}
	hint := "want postgres://user:password@host:port/database or sqlite:PATH"
	if strings.HasSuffix(dsn, ".db") || strings.HasSuffix(dsn, ".sqlite") || strings.HasSuffix(dsn, ".sqlite3") {
		hint = fmt.Sprintf("for a SQLite file write sqlite:%s", dsn)
	}
	return nil, 0, "", nil, cairn.Permanentf("sql: unknown DSN %q: %s", redact(dsn), hint)
}

// redact hides the password of a URL-shaped DSN.
func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme == "" {
		if i := strings.LastIndex(dsn, "@"); i >= 0 {
			return "xxxxx" + dsn[i:]
		}
		return dsn
	}
	return u.Redacted()
}

// run checks the query on the connection, then runs it as a prepared
// statement with its args bound: on SQLite under the guard, on PostgreSQL
// in a READ ONLY transaction that is always rolled back.
func run(ctx context.Context, db *sql.DB, kind driverKind, g *guard, query string, args []any, named map[string]any, maxBytes int64) ([]string, [][]sql.NullString, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, nil, classify("connect", err, g)
	}
	defer conn.Close()
	if kind == kindSQLite {
		var res *result
		err := conn.Raw(func(dc any) (err error) {
			res, err = querySQLite(ctx, dc, query, args, named, maxBytes)
			return err
		})
		if err != nil {
			return nil, nil, classify("query", err, g)
		}
		return res.cols, res.rows, nil
	}
	bound := args
	if len(named) > 0 {
		if query, bound, err = postgresNamed(ctx, query, named); err != nil {
			return nil, nil, err
		}
	}
	if err := conn.Raw(func(dc any) error { return checkPostgres(ctx, dc, query, len(bound)) }); err != nil {
		return nil, nil, classify("query", err, g)
	}
	tx, err := conn.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, nil, classify("begin", err, g)
	}
	defer tx.Rollback() //nolint:errcheck // read-only: nothing to keep or lose
	stmt, err := tx.PrepareContext(ctx, query)
	if err != nil {
		return nil, nil, classify("query", err, g)
	}
	defer stmt.Close()
	rs, err := stmt.QueryContext(ctx, bound...)
	if err != nil {
		return nil, nil, classify("query", err, g)
	}
	defer rs.Close()
	cols, err := rs.Columns()
	if err != nil {
		return nil, nil, classify("columns", err, g)
	}
	res := &result{cols: cols, max: maxBytes}
	dests := make([]any, len(cols))
	for rs.Next() {
		row := make([]sql.NullString, len(cols))
		for j := range row {
			dests[j] = &row[j]
		}
		if err := rs.Scan(dests...); err != nil {
			return nil, nil, cairn.Permanentf("row %d: %w", len(res.rows)+1, err)
		}
		if err := res.add(ctx, row); err != nil {
			return nil, nil, err
		}
	}
	if err := rs.Err(); err != nil {
		return nil, nil, classify("query", err, g)
	}
	return res.cols, res.rows, nil
}

// result gathers a query's rows, every value as text, within a byte limit.
type result struct {
	cols []string
	rows [][]sql.NullString
	size int64
	max  int64 // 0: no limit
}

// add appends row, refusing a value that is not UTF-8 text and a result
// over the limit, and stops when ctx ends.
func (r *result) add(ctx context.Context, row []sql.NullString) error {
	for j, v := range row {
		if !v.Valid {
			r.size++
			continue
		}
		if !utf8.ValidString(v.String) {
			return cairn.Permanentf("row %d, column %q: value is not valid UTF-8 text (a BLOB?): select a text form of it, for example hex(%s)", len(r.rows)+1, r.cols[j], r.cols[j])
		}
		r.size += int64(len(v.String)) + 1
	}
	if r.max > 0 && r.size > r.max {
		return cairn.Permanentf("the result is larger than %d bytes (at row %d): select fewer rows or columns, or raise the limit", r.max, len(r.rows)+1)
	}
	r.rows = append(r.rows, row)
	if len(r.rows)&0xfff == 0 {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("query: %w", context.Cause(ctx))
		}
	}
	return nil
}

// pgError is a PostgreSQL error said once, in Cairn's words: its text
// names what was done, the server's message and its SQLSTATE; it wraps the
// driver's error (errors.As finds the *pgconn.PgError).
type pgError struct {
	msg string
	err error
}

func (e pgError) Error() string { return e.msg }
func (e pgError) Unwrap() error { return e.err }

// permanentSQLState are the SQLSTATE classes of errors in the query or the
// request itself: retrying the same query cannot succeed.
var permanentSQLState = []string{"0A", "21", "22", "25", "28", "2B", "3D", "3F", "42", "44"}

// classify wraps err with what was being done and marks it permanent when
// its driver code says retrying cannot help. g, for SQLite, names what the
// authorizer refused.
func classify(what string, err error, g *guard) error {
	if !cairn.IsRetryable(err) {
		return fmt.Errorf("%s: %w", what, err) // permanent already
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w", what, err)
	}
	if cairn.Unreachable(err) {
		return cairn.Permanentf("%s: the database is unreachable (check the DSN's host and port, and that the server runs): %w", what, err)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		// The server's message once: pgconn's own text ("ERROR: ...
		// (SQLSTATE ...)") would repeat it after ours.
		var msg error = pgError{fmt.Sprintf("%s: %s (SQLSTATE %s)", what, pe.Message, pe.Code), err}
		switch {
		case multipleStatements(pe):
			msg = pgError{fmt.Sprintf("%s: the query holds more than one statement, and a sql source runs exactly one: %s (SQLSTATE %s)", what, pe.Message, pe.Code), err}
		case pe.Code == "25006":
			msg = pgError{fmt.Sprintf("%s: the query writes, and sql sources are read-only: %s (SQLSTATE %s)", what, pe.Message, pe.Code), err}
		}
		for _, class := range permanentSQLState {
			if strings.HasPrefix(pe.Code, class) {
				return cairn.Permanent(msg)
			}
		}
		return msg
	}
	var se sqlite3.Error
	if errors.As(err, &se) {
		if g != nil && g.refused() != "" {
			return cairn.Permanentf("%s: sql sources are read-only: the query uses %s, which is not allowed (only reads: SELECT, WITH, functions without side effects, PRAGMAs that read the schema): %w", what, g.refused(), err)
		}
		switch se.Code {
		case sqlite3.ErrCantOpen:
			return cairn.Permanentf("%s: the SQLite file does not exist or cannot be opened: %w", what, err)
		case sqlite3.ErrTooBig:
			return cairn.Permanentf("%s: a value is larger than the byte limit (raise max_bytes, or select less): %w", what, err)
		case sqlite3.ErrReadonly:
			return cairn.Permanentf("%s: the query writes, and sql sources are read-only: %w", what, err)
		case sqlite3.ErrAuth:
			return cairn.Permanentf("%s: sql sources are read-only: the query does something other than read: %w", what, err)
		case sqlite3.ErrError, sqlite3.ErrNotADB, sqlite3.ErrCorrupt,
			sqlite3.ErrPerm, sqlite3.ErrMismatch, sqlite3.ErrRange:
			return cairn.Permanentf("%s: %w", what, err)
		}
		return fmt.Errorf("%s: %w", what, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}
