package postgres_test

import (
	"context"
	"database/sql"

	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/cairnml/cairn/store/sqlite" // and with it the "sqlite3" driver
)

// table is what TestSchemasInStep compares of one table.
type table struct {
	columns map[string]string // name → "type null|not null", types in PostgreSQL's names
	pk      []string
	indexes []string // "unique? (cols) where predicate", sorted
}

// sqliteTypes maps SQLite's declared types to those the PostgreSQL
// migrations use for them.
var sqliteTypes = map[string]string{"INTEGER": "bigint", "TEXT": "text", "REAL": "double precision", "BLOB": "bytea"}

// TestSchemasInStep compares the schema the SQLite migrations make with
// the one the PostgreSQL migrations make: the same tables, each with the
// same columns (types mapped: INTEGER → bigint, TEXT → text, REAL →
// double precision, BLOB → bytea), nullability, primary key, and unique,
// partial and plain indexes (their columns and predicate), and the views'
// columns. A migration
// added to one dialect only, or written differently, fails it.
func TestSchemasInStep(t *testing.T) {
	ctx := context.Background()
	dsn := newDatabase(t)
	openStore(t, dsn).Close()
	pg := postgresSchema(t, dsn)

	path := filepath.Join(t.TempDir(), "cairn.db")
	ls, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	ls.Close()
	lite := sqliteSchema(t, path)

	var names []string
	for n := range lite {
		names = append(names, n)
	}
	for n := range pg {
		if _, ok := lite[n]; !ok {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		l, p := lite[n], pg[n]
		switch {
		case l == nil:
			t.Errorf("table %s: in PostgreSQL only", n)
			continue
		case p == nil:
			t.Errorf("table %s: in SQLite only", n)
			continue
		}
		for c, lt := range l.columns {
			if pt, ok := p.columns[c]; !ok {
				t.Errorf("%s.%s: in SQLite only", n, c)
			} else if pt != lt {
				t.Errorf("%s.%s: SQLite %q (mapped), PostgreSQL %q", n, c, lt, pt)
			}
		}
		for c := range p.columns {
			if _, ok := l.columns[c]; !ok {
				t.Errorf("%s.%s: in PostgreSQL only", n, c)
			}
		}
		if !slices.Equal(l.pk, p.pk) {
			t.Errorf("%s: primary key SQLite %v, PostgreSQL %v", n, l.pk, p.pk)
		}
		if !slices.Equal(l.indexes, p.indexes) {
			t.Errorf("%s: indexes differ\nSQLite:     %q\nPostgreSQL: %q", n, l.indexes, p.indexes)
		}
	}
	if len(names) < 12 {
		t.Errorf("compared %d tables (%v): the schemas were not read", len(names), names)
	}
}

var (
	spaces = regexp.MustCompile(`\s+`)
	casts  = regexp.MustCompile(`::[a-z ]+`)
)

// predicate normalizes an index's WHERE clause of either dialect.
func predicate(p string) string {
	p = casts.ReplaceAllString(p, "")
	p = strings.NewReplacer("(", "", ")", "", "<>", "!=", `"`, "").Replace(p)
	return strings.TrimSpace(spaces.ReplaceAllString(strings.ToLower(p), " "))
}

func index(unique bool, cols []string, where string) string {
	u := ""
	if unique {
		u = "unique "
	}
	s := u + "(" + strings.Join(cols, ", ") + ")"
	if where != "" {
		s += " where " + predicate(where)
	}
	return s
}

func sqliteSchema(t *testing.T, path string) map[string]*table {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	query := func(q string, args ...any) [][]any {
		rows, err := db.Query(q, args...)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		var out [][]any
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			for i, v := range vals {
				if b, ok := v.([]byte); ok {
					vals[i] = string(b)
				}
			}
			out = append(out, vals)
		}
		return out
	}
	out := map[string]*table{}
	// Views too (model_requests_all): PostgreSQL's information_schema
	// lists their columns beside the tables'.
	for _, r := range query(`SELECT name FROM sqlite_master WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite_%'`) {
		name := r[0].(string)
		tb := &table{columns: map[string]string{}}
		pk := map[int64]string{}
		for _, c := range query(`SELECT name, type, "notnull", pk FROM pragma_table_info(?)`, name) {
			col, typ, notnull, k := c[0].(string), c[1].(string), c[2].(int64), c[3].(int64)
			mapped, ok := sqliteTypes[strings.ToUpper(typ)]
			if !ok {
				t.Errorf("%s.%s: SQLite type %q has no PostgreSQL mapping in this test", name, col, typ)
			}
			null := "null"
			if notnull == 1 || k > 0 {
				null = "not null"
			}
			tb.columns[col] = mapped + " " + null
			if k > 0 {
				pk[k] = col
			}
		}
		for i := int64(1); i <= int64(len(pk)); i++ {
			tb.pk = append(tb.pk, pk[i])
		}
		for _, ix := range query(`SELECT name, "unique", origin, partial FROM pragma_index_list(?)`, name) {
			iname, unique, origin := ix[0].(string), ix[1].(int64) == 1, ix[2].(string)
			if origin == "pk" {
				continue
			}
			var cols []string
			for _, c := range query(`SELECT name FROM pragma_index_info(?) ORDER BY seqno`, iname) {
				cols = append(cols, c[0].(string))
			}
			where := ""
			if ix[3].(int64) == 1 {
				def := query(`SELECT sql FROM sqlite_master WHERE name = ?`, iname)[0][0].(string)
				_, where, _ = strings.Cut(def, " WHERE ")
			}
			tb.indexes = append(tb.indexes, index(unique, cols, where))
		}
		sort.Strings(tb.indexes)
		out[name] = tb
	}
	return out
}

func postgresSchema(t *testing.T, dsn string) map[string]*table {
	t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	out := map[string]*table{}
	rows, err := c.Query(ctx, `SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns
WHERE table_schema = 'public' ORDER BY table_name, ordinal_position`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var tname, col, typ, nullable string
		if err := rows.Scan(&tname, &col, &typ, &nullable); err != nil {
			t.Fatal(err)
		}
		tb := out[tname]
		if tb == nil {
			tb = &table{columns: map[string]string{}}
			out[tname] = tb
		}
		null := "null"
		if nullable == "NO" {
			null = "not null"
		}
		tb.columns[col] = typ + " " + null
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows, err = c.Query(ctx, `SELECT t.relname, ix.indisprimary, ix.indisunique,
	array(SELECT a.attname FROM unnest(ix.indkey) WITH ORDINALITY k(n, o) JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.n ORDER BY k.o)::text[],
	coalesce(pg_get_expr(ix.indpred, ix.indrelid), '')
FROM pg_index ix JOIN pg_class t ON t.oid = ix.indrelid JOIN pg_namespace ns ON ns.oid = t.relnamespace
WHERE ns.nspname = 'public'`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var (
			tname, where    string
			primary, unique bool
			cols            []string
		)
		if err := rows.Scan(&tname, &primary, &unique, &cols, &where); err != nil {
			t.Fatal(err)
		}
		tb := out[tname]
		if tb == nil {
			t.Fatalf("index on unknown table %s", tname)
		}
		if primary {
			tb.pk = cols
			continue
		}
		tb.indexes = append(tb.indexes, index(unique, cols, where))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for _, tb := range out {
		sort.Strings(tb.indexes)
	}
	return out
}
