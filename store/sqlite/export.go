package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/cairnml/cairn/store/transfer"
)

// Export is the whole database read in one snapshot, as transfer's row
// stream: what 'cairn migrate --to postgres://…' copies. Every read of an
// Export is in one read transaction (in WAL mode it blocks no writer, and
// sees nothing written after it began), so the tables, their counts, the
// runs in flight and the rows all describe the same moment. Close ends it.
type Export struct {
	path    string
	conn    *sql.Conn
	tx      *sql.Tx
	version int
	tables  []transfer.Table
	seqs    map[string]int64
	open    *exportRows // the one table being read, if any
}

// Export begins a read of the database for a copy to another store. It
// fails with a *SchemaVersionError unless the database is at this
// binary's schema version (an older one is upgraded first with 'cairn
// migrate --db PATH'), and refuses a database with a table transfer.Plan
// does not know.
func (s *Store) Export(ctx context.Context) (_ *Export, err error) {
	latest, err := latestVersion()
	if err != nil {
		return nil, err
	}
	conn, err := s.r.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("export %s: %w", s.path, translate(err))
	}
	tx, err := conn.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("export %s: %w", s.path, translate(err))
	}
	e := &Export{path: s.path, conn: conn, tx: tx, seqs: map[string]int64{}}
	defer func() {
		if err != nil {
			e.Close()
			err = fmt.Errorf("export %s: %w", s.path, err)
		}
	}()
	// The first read fixes the snapshot.
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&e.version); err != nil {
		return nil, translate(err)
	}
	switch {
	case e.version > latest:
		return nil, &SchemaVersionError{Database: e.version, Binary: latest}
	case e.version < latest:
		return nil, &SchemaVersionError{Database: e.version, Binary: latest, Older: true}
	}
	names, err := e.tableNames(ctx)
	if err != nil {
		return nil, err
	}
	have := map[string]bool{}
	for _, n := range names {
		if _, ok := transfer.Known(n); !ok {
			return nil, fmt.Errorf("table %s is not one cairn migrate knows (schema version %d): this database was changed by hand, or by another program", n, e.version)
		}
		have[n] = true
	}
	for _, n := range transfer.Copied() {
		if !have[n] {
			return nil, fmt.Errorf("table %s is missing (schema version %d): the database is damaged", n, e.version)
		}
		t, err := e.describe(ctx, n)
		if err != nil {
			return nil, err
		}
		e.tables = append(e.tables, t)
	}
	if err := e.sequences(ctx); err != nil {
		return nil, err
	}
	return e, nil
}

func (e *Export) tableNames(ctx context.Context) ([]string, error) {
	rows, err := e.tx.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, translate(err)
		}
		names = append(names, n)
	}
	return names, translate(rows.Err())
}

// describe reads a table's columns, primary key and row count.
func (e *Export) describe(ctx context.Context, name string) (transfer.Table, error) {
	t := transfer.Table{Name: name}
	rows, err := e.tx.QueryContext(ctx, `SELECT name, upper(type), pk FROM pragma_table_info(?) ORDER BY cid`, name)
	if err != nil {
		return t, fmt.Errorf("columns of %s: %w", name, translate(err))
	}
	defer rows.Close()
	type keyCol struct {
		name string
		pos  int
	}
	var key []keyCol
	for rows.Next() {
		var col, typ string
		var pk int
		if err := rows.Scan(&col, &typ, &pk); err != nil {
			return t, translate(err)
		}
		var k transfer.Kind
		switch typ {
		case "INTEGER":
			k = transfer.Int
		case "REAL":
			k = transfer.Float
		case "TEXT":
			k = transfer.Text
		case "BLOB":
			k = transfer.Bytes
		default:
			return t, fmt.Errorf("column %s.%s: declared type %q is not one of Cairn's (INTEGER, REAL, TEXT, BLOB)", name, col, typ)
		}
		t.Columns = append(t.Columns, transfer.Column{Name: col, Kind: k})
		if pk > 0 {
			key = append(key, keyCol{col, pk})
		}
	}
	if err := rows.Err(); err != nil {
		return t, translate(err)
	}
	if len(key) == 0 {
		return t, fmt.Errorf("table %s has no primary key: its rows have no order to digest", name)
	}
	sort.Slice(key, func(i, j int) bool { return key[i].pos < key[j].pos })
	for _, k := range key {
		t.Key = append(t.Key, k.name)
	}
	if err := e.tx.QueryRowContext(ctx, `SELECT count(*) FROM `+quoteIdent(name)).Scan(&t.Rows); err != nil {
		return t, fmt.Errorf("count %s: %w", name, translate(err))
	}
	return t, nil
}

// sequences reads the highest id each AUTOINCREMENT table ever gave
// (kept in sqlite_sequence even once the row is gone), evaluations
// included.
func (e *Export) sequences(ctx context.Context) error {
	var n int
	if err := e.tx.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_sequence'`).Scan(&n); err != nil || n == 0 {
		return translate(err)
	}
	rows, err := e.tx.QueryContext(ctx, `SELECT name, seq FROM sqlite_sequence`)
	if err != nil {
		return translate(err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		var seq int64
		if err := rows.Scan(&name, &seq); err != nil {
			return translate(err)
		}
		e.seqs[name] = seq
	}
	return translate(rows.Err())
}

// SchemaVersion is the database's schema version (this binary's).
func (e *Export) SchemaVersion() int { return e.version }

// Tables returns the tables to copy, in transfer.Plan's order, with their
// row counts in the snapshot.
func (e *Export) Tables() []transfer.Table { return e.tables }

// Sequences returns, for each table whose ids SQLite numbers
// (AUTOINCREMENT: audit, model_stages, evaluations), the highest id it
// ever gave: the target's sequence must go on past it.
func (e *Export) Sequences() map[string]int64 { return e.seqs }

// InFlight is a run that a live process drives: a copy would take it
// mid-way.
type InFlight struct {
	Run, State, Owner string
	ClaimUntil        time.Time
}

// InFlight returns the runs queued or running whose claim is held by a
// live process: the claim unexpired at now, and the owner not known gone
// (gone: on this host, its pid dead). Runs whose owner is gone are not in
// flight: a server on the target takes them over as it would here.
func (e *Export) InFlight(ctx context.Context, now time.Time, gone func(owner string) bool) ([]InFlight, error) {
	rows, err := e.tx.QueryContext(ctx, `SELECT id, state, owner, owner_expires_at FROM runs
		WHERE state IN ('queued', 'running') AND owner != '' AND owner_expires_at > ? ORDER BY id`, now.UnixNano())
	if err != nil {
		return nil, fmt.Errorf("runs in flight: %w", translate(err))
	}
	defer rows.Close()
	var out []InFlight
	for rows.Next() {
		var f InFlight
		var until sql.NullInt64
		if err := rows.Scan(&f.Run, &f.State, &f.Owner, &until); err != nil {
			return nil, translate(err)
		}
		if gone != nil && gone(f.Owner) {
			continue
		}
		f.ClaimUntil = fromNanos(until)
		out = append(out, f)
	}
	return out, translate(rows.Err())
}

// Rows returns table t's rows in primary-key order, each value normalized
// for the stream (transfer.Normalize). One table is read at a time: the
// previous table's Rows must be closed.
func (e *Export) Rows(ctx context.Context, t transfer.Table) (transfer.Rows, error) {
	if e.open != nil {
		return nil, fmt.Errorf("export %s: rows of %s requested while %s is being read", e.path, t.Name, e.open.table.Name)
	}
	cols := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		cols[i] = quoteIdent(c.Name)
	}
	keys := make([]string, len(t.Key))
	for i, k := range t.Key {
		keys[i] = quoteIdent(k)
	}
	rows, err := e.tx.QueryContext(ctx, `SELECT `+strings.Join(cols, ", ")+` FROM `+quoteIdent(t.Name)+` ORDER BY `+strings.Join(keys, ", "))
	if err != nil {
		return nil, fmt.Errorf("export %s: read %s: %w", e.path, t.Name, translate(err))
	}
	r := &exportRows{e: e, table: t, rows: rows, raw: make([]any, len(t.Columns)), dest: make([]any, len(t.Columns)), vals: make([]any, len(t.Columns))}
	for i := range r.raw {
		r.dest[i] = &r.raw[i]
	}
	for i, c := range t.Columns {
		for j, k := range t.Key {
			if c.Name == k {
				if r.keyAt == nil {
					r.keyAt = make([]int, len(t.Key))
				}
				r.keyAt[j] = i
			}
		}
	}
	e.open = r
	return r, nil
}

// Close ends the read.
func (e *Export) Close() error {
	if e.open != nil {
		e.open.Close()
	}
	err := e.tx.Rollback()
	if cerr := e.conn.Close(); err == nil || errors.Is(err, sql.ErrTxDone) {
		err = cerr
	}
	return translate(err)
}

type exportRows struct {
	e     *Export
	table transfer.Table
	rows  *sql.Rows
	raw   []any
	dest  []any
	vals  []any
	keyAt []int // the key columns' positions
	err   error
	done  bool
}

func (r *exportRows) Next() bool {
	if r.err != nil || r.done {
		return false
	}
	if !r.rows.Next() {
		r.done = true
		return false
	}
	if err := r.rows.Scan(r.dest...); err != nil {
		r.err = translate(err)
		return false
	}
	for i, c := range r.table.Columns {
		v, err := transfer.Normalize(c.Kind, r.raw[i])
		if err != nil {
			r.err = fmt.Errorf("table %s, row %s, column %s: %w", r.table.Name, r.key(), c.Name, err)
			return false
		}
		r.vals[i] = v
	}
	return true
}

// key describes the current row by its primary key, for errors.
func (r *exportRows) key() string {
	parts := make([]string, len(r.keyAt))
	for j, i := range r.keyAt {
		v := r.raw[i]
		if b, ok := v.([]byte); ok {
			v = string(b)
		}
		parts[j] = fmt.Sprintf("%s=%v", r.table.Key[j], v)
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

func (r *exportRows) Values() ([]any, error) { return r.vals, r.err }

func (r *exportRows) Err() error {
	if r.err != nil {
		return r.err
	}
	if err := r.rows.Err(); err != nil {
		return fmt.Errorf("read %s: %w", r.table.Name, translate(err))
	}
	return nil
}

func (r *exportRows) Close() error {
	if r.e.open == r {
		r.e.open = nil
	}
	return translate(r.rows.Close())
}

// quoteIdent quotes a table or column name for SQL.
func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
