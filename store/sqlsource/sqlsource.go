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
	"github.com/jackc/pgx/v5"
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
// documentation). When maxBytes > 0, a result whose values add up to more
// than maxBytes bytes (one more per value, as a CSV separator) is refused.
// The errors say which retrying cannot fix (cairn.Permanent).
func (*Source) Query(ctx context.Context, dsn, query string, maxBytes int64) ([]string, [][]sql.NullString, error) {
	if strings.TrimSpace(query) == "" {
		return nil, nil, cairn.Permanentf("sql: empty query")
	}
	db, kind, shown, err := open(dsn)
	if err != nil {
		return nil, nil, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	cols, rows, err := run(ctx, db, kind, query, maxBytes)
	if err != nil {
		return nil, nil, fmt.Errorf("sql %s: %w", shown, err)
	}
	return cols, rows, nil
}

type driverKind int

const (
	kindSQLite driverKind = iota
	kindPostgres
)

// open opens dsn without connecting yet. shown is the DSN as errors show it
// (password redacted).
func open(dsn string) (db *sql.DB, kind driverKind, shown string, err error) {
	switch {
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		shown = redact(dsn)
		cfg, err := pgx.ParseConfig(dsn)
		if err != nil {
			// pgx's message may quote the DSN, password included.
			return nil, 0, "", cairn.Permanentf("sql %s: invalid PostgreSQL DSN (want postgres://user:password@host:port/database?sslmode=...)", shown)
		}
		return stdlib.OpenDB(*cfg), kindPostgres, shown, nil
	case strings.HasPrefix(dsn, "sqlite:"):
		path := strings.TrimPrefix(strings.TrimPrefix(dsn, "sqlite:"), "//")
		shown = "sqlite:" + path
		if path == "" {
			return nil, 0, "", cairn.Permanentf("sql %s: no file path (want sqlite:PATH)", dsn)
		}
		if strings.ContainsAny(path, "?#") {
			return nil, 0, "", cairn.Permanentf("sql %s: options in a SQLite DSN are not supported (give sqlite:PATH; the file is always opened read-only)", dsn)
		}
		abs, err := filepath.Abs(path)
		if err != nil {
			return nil, 0, "", fmt.Errorf("sql %s: %w", shown, err)
		}
		u := url.URL{Scheme: "file", Path: abs, RawQuery: "mode=ro&_query_only=true&_busy_timeout=5000"}
		db, err := sql.Open("sqlite3", u.String())
		if err != nil {
			return nil, 0, "", cairn.Permanentf("sql %s: %w", shown, err)
		}
		return db, kindSQLite, shown, nil
	}
	hint := "want postgres://user:password@host:port/database or sqlite:PATH"
	if strings.HasSuffix(dsn, ".db") || strings.HasSuffix(dsn, ".sqlite") || strings.HasSuffix(dsn, ".sqlite3") {
		hint = fmt.Sprintf("for a SQLite file write sqlite:%s", dsn)
	}
	return nil, 0, "", cairn.Permanentf("sql: unknown DSN %q: %s", redact(dsn), hint)
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

// querier is what run needs of a *sql.DB or a *sql.Tx.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func run(ctx context.Context, db *sql.DB, kind driverKind, query string, maxBytes int64) ([]string, [][]sql.NullString, error) {
	var q querier = db
	if kind == kindPostgres {
		tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
		if err != nil {
			return nil, nil, classify("connect", err)
		}
		defer tx.Rollback() //nolint:errcheck // read-only: nothing to keep or lose
		q = tx
	}
	rs, err := q.QueryContext(ctx, query)
	if err != nil {
		return nil, nil, classify("query", err)
	}
	defer rs.Close()
	cols, err := rs.Columns()
	if err != nil {
		return nil, nil, classify("columns", err)
	}
	var (
		rows  [][]sql.NullString
		size  int64
		dests = make([]any, len(cols))
	)
	for rs.Next() {
		row := make([]sql.NullString, len(cols))
		for j := range row {
			dests[j] = &row[j]
		}
		if err := rs.Scan(dests...); err != nil {
			return nil, nil, cairn.Permanentf("row %d: %w", len(rows)+1, err)
		}
		for j, v := range row {
			if !v.Valid {
				size++
				continue
			}
			if !utf8.ValidString(v.String) {
				return nil, nil, cairn.Permanentf("row %d, column %q: value is not valid UTF-8 text (a BLOB?): select a text form of it, for example hex(%s)", len(rows)+1, cols[j], cols[j])
			}
			size += int64(len(v.String)) + 1
		}
		if maxBytes > 0 && size > maxBytes {
			return nil, nil, cairn.Permanentf("the result is larger than %d bytes (at row %d): select fewer rows or columns, or raise the limit", maxBytes, len(rows)+1)
		}
		rows = append(rows, row)
		if len(rows)&0xfff == 0 {
			if err := ctx.Err(); err != nil {
				return nil, nil, fmt.Errorf("query: %w", context.Cause(ctx))
			}
		}
	}
	if err := rs.Err(); err != nil {
		return nil, nil, classify("query", err)
	}
	return cols, rows, nil
}

// permanentSQLState are the SQLSTATE classes of errors in the query or the
// request itself: retrying the same query cannot succeed.
var permanentSQLState = []string{"0A", "21", "22", "25", "28", "2B", "3D", "3F", "42", "44"}

// classify wraps err with what was being done and marks it permanent when
// its driver code says retrying cannot help.
func classify(what string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w", what, err)
	}
	if cairn.Unreachable(err) {
		return cairn.Permanentf("%s: the database is unreachable (check the DSN's host and port, and that the server runs): %w", what, err)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		msg := fmt.Errorf("%s: %s (SQLSTATE %s): %w", what, pe.Message, pe.Code, err)
		if pe.Code == "25006" {
			msg = fmt.Errorf("%s: the query writes, and sql sources are read-only: %s (SQLSTATE %s): %w", what, pe.Message, pe.Code, err)
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
		switch se.Code {
		case sqlite3.ErrCantOpen:
			return cairn.Permanentf("%s: the SQLite file does not exist or cannot be opened: %w", what, err)
		case sqlite3.ErrReadonly:
			return cairn.Permanentf("%s: the query writes, and sql sources are read-only: %w", what, err)
		case sqlite3.ErrError, sqlite3.ErrNotADB, sqlite3.ErrCorrupt, sqlite3.ErrAuth,
			sqlite3.ErrPerm, sqlite3.ErrMismatch, sqlite3.ErrRange:
			return cairn.Permanentf("%s: %w", what, err)
		}
		return fmt.Errorf("%s: %w", what, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}
