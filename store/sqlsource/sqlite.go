package sqlsource

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"io"
	"net/url"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cairnml/cairn"
	"github.com/mattn/go-sqlite3"
)

// sqliteRecursive is SQLITE_RECURSIVE, the authorizer code of a recursive
// common table expression (go-sqlite3 does not export it).
const sqliteRecursive = 33

// sqliteURI is the URI a SQLite source is opened with: read-only (never
// created), query_only on, a busy timeout.
func sqliteURI(abs string) string {
	u := url.URL{Scheme: "file", Path: abs, RawQuery: "mode=ro&_query_only=true&_busy_timeout=5000"}
	return u.String()
}

// sqliteConnector opens SQLite connections with the read-only guard: the
// file opened mode=ro with query_only, no database may be attached
// (SQLITE_LIMIT_ATTACHED 0), and an authorizer that allows reads only.
// The guard records the first action it refused, for the error message.
type sqliteConnector struct {
	uri   string
	guard *guard
}

func (c sqliteConnector) Connect(context.Context) (driver.Conn, error) {
	return c.Driver().Open(c.uri)
}

func (c sqliteConnector) Driver() driver.Driver {
	return &sqlite3.SQLiteDriver{ConnectHook: c.guard.install}
}

// guard is the authorizer of one Query's connection.
type guard struct {
	maxLen int64 // > 0: SQLITE_LIMIT_LENGTH, the largest string or blob a query may make
	mu     sync.Mutex
	denied string // the first action refused, as words
}

// install sets the limits and the authorizer on a new connection; the
// driver has run its own PRAGMAs (query_only, busy_timeout) before.
func (g *guard) install(c *sqlite3.SQLiteConn) error {
	c.SetLimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
	if got := c.GetLimit(sqlite3.SQLITE_LIMIT_ATTACHED); got != 0 {
		return fmt.Errorf("sqlite: cannot forbid ATTACH (limit %d)", got)
	}
	if g.maxLen > 0 && g.maxLen < int64(c.GetLimit(sqlite3.SQLITE_LIMIT_LENGTH)) {
		// zeroblob(1e9) or printf('%.*c', 1e9, 'x') would otherwise
		// allocate a gigabyte in this process before the result's byte
		// limit sees it.
		c.SetLimit(sqlite3.SQLITE_LIMIT_LENGTH, int(g.maxLen))
	}
	c.RegisterAuthorizer(g.authorize)
	return nil
}

// readPragmas are the PRAGMAs a query may use, and only without a value
// (PRAGMA table_info(t) passes its table as the value, so the
// schema-reading ones are also allowed with one): they read the schema or
// a header field and change nothing.
var readPragmas = map[string]bool{
	"table_info": true, "table_xinfo": true, "table_list": true, "index_list": true,
	"index_info": true, "index_xinfo": true, "foreign_key_list": true,
	"user_version": false, "application_id": false, "encoding": false, "data_version": false,
}

// sideEffectFunctions are the SQL functions that change something outside
// the query's result: SQLite's load_extension loads code, fts3_tokenizer
// with two arguments registers a tokenizer by address; store/sqlite's
// cairn_wal_watch, which every connection of a process that opened a
// Cairn store defines, gives the connection a write-ahead log hook that
// drives a store's checkpointer. The CLI-only readfile, writefile and
// edit are listed in case a build ever registers them.
var sideEffectFunctions = map[string]bool{
	"load_extension": true, "fts3_tokenizer": true, "writefile": true, "readfile": true, "edit": true,
	"cairn_wal_watch": true,
}

// authorize is the SQLite authorizer: it allows reading tables, SELECT,
// recursive CTEs, functions without side effects and a few PRAGMAs that
// only read; it refuses everything else (writes, schema changes,
// ATTACH/DETACH, transactions, other PRAGMAs, ANALYZE, ...). SQLite asks
// it while compiling each statement, so a refused statement never runs.
func (g *guard) authorize(op int, a1, a2, a3 string) int {
	switch op {
	case sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqliteRecursive:
		return sqlite3.SQLITE_OK
	case sqlite3.SQLITE_FUNCTION:
		if !sideEffectFunctions[strings.ToLower(a2)] {
			return sqlite3.SQLITE_OK
		}
		g.deny(fmt.Sprintf("the function %s()", a2))
		return sqlite3.SQLITE_DENY
	case sqlite3.SQLITE_PRAGMA:
		withValue, known := readPragmas[strings.ToLower(a1)]
		if known && (a2 == "" || withValue) {
			return sqlite3.SQLITE_OK
		}
		if a2 != "" {
			g.deny(fmt.Sprintf("PRAGMA %s = %s", a1, a2))
		} else {
			g.deny("PRAGMA " + a1)
		}
		return sqlite3.SQLITE_DENY
	}
	g.deny(actionName(op, a1, a2))
	return sqlite3.SQLITE_DENY
}

func (g *guard) deny(what string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.denied == "" {
		g.denied = what
	}
}

func (g *guard) refused() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.denied
}

// actionName names an authorizer action for an error message.
func actionName(op int, a1, a2 string) string {
	if (op == sqlite3.SQLITE_INSERT || op == sqlite3.SQLITE_UPDATE || op == sqlite3.SQLITE_DELETE) && strings.HasPrefix(strings.ToLower(a1), "sqlite_") {
		return "a schema change (CREATE, DROP, ALTER or ANALYZE write " + a1 + ")"
	}
	switch op {
	case sqlite3.SQLITE_INSERT:
		return "INSERT INTO " + a1
	case sqlite3.SQLITE_UPDATE:
		return "UPDATE " + a1
	case sqlite3.SQLITE_DELETE:
		return "DELETE FROM " + a1
	case sqlite3.SQLITE_ATTACH:
		return "ATTACH"
	case sqlite3.SQLITE_DETACH:
		return "DETACH"
	case sqlite3.SQLITE_TRANSACTION:
		return "a transaction statement (" + a1 + ")"
	case sqlite3.SQLITE_SAVEPOINT:
		return "SAVEPOINT"
	case sqlite3.SQLITE_ANALYZE:
		return "ANALYZE"
	case sqlite3.SQLITE_REINDEX:
		return "REINDEX"
	case sqlite3.SQLITE_ALTER_TABLE:
		return "ALTER TABLE " + a2
	case sqlite3.SQLITE_CREATE_VTABLE, sqlite3.SQLITE_DROP_VTABLE:
		return "a virtual table change"
	}
	if op >= sqlite3.SQLITE_CREATE_INDEX && op <= sqlite3.SQLITE_DROP_VIEW {
		return "a schema change (CREATE or DROP)"
	}
	return fmt.Sprintf("SQLite action %d", op)
}

// querySQLite runs query on the raw connection, under the guard. It
// prepares the query — compiling it, with the authorizer, without running
// it — and refuses a query that holds more than one statement (the
// engine's tail is not empty), that is empty, that SQLite says may write
// (VACUUM, for one, is not an authorizer action), or whose placeholders do
// not match the args; then runs that one prepared statement (only ever
// the first) with the args bound, and refuses a named arg that bound no
// placeholder before reading any row.
func querySQLite(ctx context.Context, dc any, query string, args []any, named map[string]any, maxBytes int64) (*result, error) {
	c, ok := dc.(*sqlite3.SQLiteConn)
	if !ok {
		return nil, fmt.Errorf("sqlite: unexpected driver connection %T", dc)
	}
	st, err := c.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	empty, tail, err := stmtParts(st)
	if err != nil {
		return nil, err
	}
	if empty {
		return nil, cairn.Permanentf("the query holds no statement (only comments or blanks?)")
	}
	if tail != "" && !onlyComments(c, tail) {
		return nil, cairn.Permanentf("the query holds more than one statement, and a sql source runs exactly one: the second begins %q", excerpt(tail))
	}
	s, ok := st.(*sqlite3.SQLiteStmt)
	if !ok || !s.Readonly() {
		return nil, cairn.Permanentf("the query may write (SQLite does not call it read-only), and sql sources are read-only: give one SELECT")
	}
	if n := st.NumInput(); n != len(args)+len(named) {
		return nil, placeholderMismatch(n, len(args)+len(named))
	}
	values := make([]driver.NamedValue, 0, len(args)+len(named))
	for i, v := range args {
		values = append(values, driver.NamedValue{Ordinal: i + 1, Value: v})
	}
	names := make([]string, 0, len(named))
	for k := range named {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		values = append(values, driver.NamedValue{Name: k, Ordinal: len(values) + 1, Value: named[k]})
	}
	rows, err := s.QueryContext(ctx, values)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	if err := allBound(s, names); err != nil {
		return nil, err
	}
	res := &result{cols: rows.Columns(), max: maxBytes}
	dest := make([]driver.Value, len(res.cols))
	for {
		if err := rows.Next(dest); err == io.EOF {
			return res, nil
		} else if err != nil {
			return nil, err
		}
		row := make([]sql.NullString, len(dest))
		for j, v := range dest {
			row[j] = asText(v)
		}
		if err := res.add(ctx, row); err != nil {
			return nil, err
		}
	}
}

// asText converts a driver value to text as database/sql does for a
// sql.NullString.
func asText(v driver.Value) sql.NullString {
	switch v := v.(type) {
	case nil:
		return sql.NullString{}
	case string:
		return sql.NullString{String: v, Valid: true}
	case []byte:
		return sql.NullString{String: string(v), Valid: true}
	case int64:
		return sql.NullString{String: strconv.FormatInt(v, 10), Valid: true}
	case float64:
		return sql.NullString{String: strconv.FormatFloat(v, 'g', -1, 64), Valid: true}
	case bool:
		return sql.NullString{String: strconv.FormatBool(v), Valid: true}
	case time.Time:
		return sql.NullString{String: v.Format(time.RFC3339Nano), Valid: true}
	}
	return sql.NullString{String: fmt.Sprint(v), Valid: true}
}

// allBound refuses a named arg that bound no placeholder: go-sqlite3 skips
// a name the statement does not have (sqlite3_bind_parameter_index 0 for
// :name, @name and $name), which would leave a placeholder NULL. It reads
// the indices the driver looked up while binding, which it keeps but does
// not export; should a release rename them, this fails closed.
func allBound(s *sqlite3.SQLiteStmt, names []string) error {
	if len(names) == 0 {
		return nil
	}
	m := reflect.ValueOf(s).Elem().FieldByName("namedParams")
	if !m.IsValid() || m.Kind() != reflect.Map || m.Type().Key().Kind() != reflect.String {
		return fmt.Errorf("sqlite: cannot check the named args (go-sqlite3's statement type changed): refusing them")
	}
	for _, k := range names {
		idx := m.MapIndex(reflect.ValueOf(k))
		if !idx.IsValid() || idx.Kind() != reflect.Array {
			return fmt.Errorf("sqlite: cannot check the named arg %q (go-sqlite3's statement type changed): refusing it", k)
		}
		bound := false
		for i := range idx.Len() {
			bound = bound || idx.Index(i).Int() != 0
		}
		if !bound {
			return cairn.Permanentf("args.%s has no placeholder :%s (or @%s, $%s) in the query, so one of its placeholders would read NULL: name each value as its placeholder (args has %s)", k, k, k, k, strings.Join(names, ", "))
		}
	}
	return nil
}

// onlyComments reports whether tail compiles to no statement at all.
func onlyComments(c *sqlite3.SQLiteConn, tail string) bool {
	st, err := c.Prepare(tail)
	if err != nil {
		return false
	}
	defer st.Close()
	empty, rest, err := stmtParts(st)
	return err == nil && empty && rest == ""
}

// stmtParts reads what go-sqlite3 keeps of sqlite3_prepare_v2's answer but
// does not export: whether the statement handle is NULL (the text held no
// statement) and the tail, the text after the first statement. Should a
// driver release rename them, this fails closed: every query is refused
// (TestSQLiteOneStatement catches it).
func stmtParts(st driver.Stmt) (empty bool, tail string, err error) {
	v := reflect.ValueOf(st)
	if v.Kind() == reflect.Pointer && !v.IsNil() {
		v = v.Elem()
	}
	if v.Kind() == reflect.Struct {
		s, t := v.FieldByName("s"), v.FieldByName("t")
		if s.IsValid() && s.Kind() == reflect.Pointer && t.IsValid() && t.Kind() == reflect.String {
			return s.IsNil(), t.String(), nil
		}
	}
	return false, "", fmt.Errorf("sqlite: cannot tell whether the query holds one statement (go-sqlite3's statement type changed): refusing it")
}

// excerpt shortens s for an error message.
func excerpt(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 60 {
		return string(r[:60]) + "…"
	}
	return s
}

func placeholderMismatch(placeholders, args int) error {
	return cairn.Permanentf("the query has %d placeholder(s) and args gives %d value(s): give one value per placeholder (SQLite: ? or ?N for a list, :name for a map; PostgreSQL: $N for a list, @name for a map)", placeholders, args)
}
