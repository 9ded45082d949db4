package postgres

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cairnml/cairn/store/transfer"
)

// ImportSource is what Import copies: another store's tables read in one
// snapshot, as transfer's row stream (store/sqlite's *Export).
type ImportSource interface {
	SchemaVersion() int
	Tables() []transfer.Table
	// Sequences: for each table whose ids the source numbered, the
	// highest id it ever gave.
	Sequences() map[string]int64
	Rows(ctx context.Context, t transfer.Table) (transfer.Rows, error)
}

// ImportOptions configures Import.
type ImportOptions struct {
	// Replace empties the target's tables first, in the same transaction:
	// what they held is gone once the copy commits, and kept if it fails.
	// Without it, a target that holds rows in any table copied is refused.
	Replace bool
	// Progress, if set, is called as rows are copied and verified (every
	// few hundred rows and at the end of each table), on Import's
	// goroutine.
	Progress func(transfer.Progress)
}

// NotEmptyError is a target that already holds rows in tables a copy
// writes (and ImportOptions.Replace was not given).
type NotEmptyError struct {
	DSN    string           // redacted
	Tables map[string]int64 // the tables that hold rows, with how many
}

func (e *NotEmptyError) Error() string {
	var names []string
	for n := range e.Tables {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s: %d", n, e.Tables[n])
	}
	return fmt.Sprintf("the target is not empty (%s): a copy would mix two histories", strings.Join(parts, ", "))
}

// importLockTimeout bounds the wait for the target's tables: a process
// using them (a cairn server) holds them no longer than a transaction.
const importLockTimeout = "10s"

// progressEvery is how many rows pass between two Progress calls.
const progressEvery = 500

// Import copies src into the store's database in one transaction, then
// verifies it in the same transaction before committing: every table's
// rows are read back in primary-key order and their count and sha256
// (transfer.Digest) compared with the source's. Any difference rolls the
// copy back and fails with a *transfer.MismatchError; so does any error,
// a cancelled ctx, or the process dying (PostgreSQL aborts the
// transaction of a connection that is gone): the target then holds
// nothing of the copy.
//
// The target must be at the source's schema version (Open migrates it to
// this binary's), its columns must be the source's, and it must hold no
// rows in the copied tables unless opts.Replace. Its tables are locked
// for the copy (EXCLUSIVE: others may read, nobody writes). The identity
// sequences (audit, model_stages, evaluations) are set past the copied ids
// and the source's highest (so that no id is handed out twice), and the
// ready_gen sequence past the copied generations.
func (s *Store) Import(ctx context.Context, src ImportSource, opts ImportOptions) ([]transfer.TableCheck, error) {
	fail := func(err error) ([]transfer.TableCheck, error) {
		return nil, fmt.Errorf("import into %s: %w", s.dsn, err)
	}
	have, err := s.SchemaVersion(ctx)
	if err != nil {
		return fail(err)
	}
	if v := src.SchemaVersion(); v != have {
		return fail(fmt.Errorf("the source's schema version is %d, the target's %d: both must be this binary's", v, have))
	}
	tables := src.Tables()
	if len(tables) == 0 {
		return fail(errors.New("the source has no tables to copy"))
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fail(translate(err))
	}
	defer tx.Rollback(context.WithoutCancel(ctx))

	names := make([]string, 0, len(tables)+1)
	for _, t := range tables {
		names = append(names, pgx.Identifier{t.Name}.Sanitize())
	}
	// Evaluations are not copied, but a server writes them: locked too, so
	// that nothing writes while the copy runs.
	locked := append(names, pgx.Identifier{"evaluations"}.Sanitize())
	if _, err := tx.Exec(ctx, `SET LOCAL lock_timeout = '`+importLockTimeout+`'`); err != nil {
		return fail(translate(err))
	}
	if _, err := tx.Exec(ctx, `LOCK TABLE `+strings.Join(locked, ", ")+` IN EXCLUSIVE MODE`); err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "55P03" { // lock_not_available
			return fail(fmt.Errorf("its tables stayed locked by another process for %s (a cairn server, or another migrate?): stop it, then run this again", importLockTimeout))
		}
		return fail(translate(err))
	}
	for _, t := range tables {
		if err := checkColumns(ctx, tx, t); err != nil {
			return fail(err)
		}
	}
	full := map[string]int64{}
	for _, t := range tables {
		var n int64
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM `+pgx.Identifier{t.Name}.Sanitize()).Scan(&n); err != nil {
			return fail(translate(err))
		}
		if n > 0 {
			full[t.Name] = n
		}
	}
	if len(full) > 0 {
		if !opts.Replace {
			return fail(&NotEmptyError{DSN: s.dsn, Tables: full})
		}
		if _, err := tx.Exec(ctx, `TRUNCATE `+strings.Join(locked, ", ")); err != nil {
			return fail(fmt.Errorf("empty the target (--replace): %w", translate(err)))
		}
	}

	checks := make([]transfer.TableCheck, len(tables))
	for i, t := range tables {
		c, err := s.copyTable(ctx, tx, src, t, opts.Progress)
		if err != nil {
			return fail(err)
		}
		checks[i] = c
	}
	if err := setSequences(ctx, tx, src.Sequences()); err != nil {
		return fail(err)
	}
	bad := false
	for i, t := range tables {
		d, err := digestTable(ctx, tx, t, opts.Progress)
		if err != nil {
			return fail(fmt.Errorf("verify %s: %w", t.Name, err))
		}
		checks[i].TargetRows, checks[i].TargetSHA256 = d.Rows(), d.Sum()
		bad = bad || !checks[i].OK()
	}
	if bad {
		return checks, fmt.Errorf("import into %s: %w", s.dsn, &transfer.MismatchError{Checks: checks})
	}
	if err := tx.Commit(ctx); err != nil {
		return checks, fmt.Errorf("import into %s: commit: %w", s.dsn, translate(err))
	}
	return checks, nil
}

// pgKinds maps the types the PostgreSQL migrations use to the stream's
// kinds.
var pgKinds = map[string]transfer.Kind{"bigint": transfer.Int, "double precision": transfer.Float, "text": transfer.Text, "bytea": transfer.Bytes}

// checkColumns refuses a target table whose columns are not the source's.
func checkColumns(ctx context.Context, tx pgx.Tx, t transfer.Table) error {
	rows, err := tx.Query(ctx, `SELECT column_name, data_type FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = $1`, t.Name)
	if err != nil {
		return translate(err)
	}
	cols := map[string]string{}
	for rows.Next() {
		var n, typ string
		if err := rows.Scan(&n, &typ); err != nil {
			rows.Close()
			return translate(err)
		}
		cols[n] = typ
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return translate(err)
	}
	if len(cols) == 0 {
		return fmt.Errorf("the target has no table %s", t.Name)
	}
	for _, c := range t.Columns {
		typ, ok := cols[c.Name]
		if !ok {
			return fmt.Errorf("column %s.%s: in the source only", t.Name, c.Name)
		}
		if pgKinds[typ] != c.Kind {
			return fmt.Errorf("column %s.%s: %s in the source, %s in the target", t.Name, c.Name, c.Kind, typ)
		}
		delete(cols, c.Name)
	}
	for n := range cols {
		return fmt.Errorf("column %s.%s: in the target only", t.Name, n)
	}
	return nil
}

// copyTable copies one table with COPY, digesting the source's rows as
// they pass.
func (s *Store) copyTable(ctx context.Context, tx pgx.Tx, src ImportSource, t transfer.Table, progress func(transfer.Progress)) (transfer.TableCheck, error) {
	c := transfer.TableCheck{Table: t.Name}
	rows, err := src.Rows(ctx, t)
	if err != nil {
		return c, err
	}
	defer rows.Close()
	in := &copySource{rows: rows, t: t, d: transfer.NewDigest(), progress: progress}
	cols := make([]string, len(t.Columns))
	for i, col := range t.Columns {
		cols[i] = col.Name
	}
	report(progress, "copy", t, 0, false)
	n, err := tx.CopyFrom(ctx, pgx.Identifier{t.Name}, cols, in)
	if err != nil {
		if in.err != nil {
			return c, in.err
		}
		return c, fmt.Errorf("copy %s: %w", t.Name, translate(err))
	}
	if err := rows.Close(); err != nil {
		return c, err
	}
	if n != in.d.Rows() {
		return c, fmt.Errorf("copy %s: %d rows read, %d written", t.Name, in.d.Rows(), n)
	}
	report(progress, "copy", t, n, true)
	c.SourceRows, c.SourceSHA256 = in.d.Rows(), in.d.Sum()
	return c, nil
}

func report(progress func(transfer.Progress), phase string, t transfer.Table, done int64, end bool) {
	if progress != nil {
		progress(transfer.Progress{Phase: phase, Table: t.Name, Done: done, Total: t.Rows, End: end})
	}
}

// copySource is pgx's CopyFromSource over the stream: each row checked
// for what PostgreSQL's text cannot hold, digested and counted.
type copySource struct {
	rows     transfer.Rows
	t        transfer.Table
	d        *transfer.Digest
	progress func(transfer.Progress)
	vals     []any
	err      error
}

func (c *copySource) Next() bool {
	if c.err != nil || !c.rows.Next() {
		return false
	}
	vals, err := c.rows.Values()
	if err == nil {
		err = c.check(vals)
	}
	if err == nil {
		err = c.d.Add(vals)
	}
	if err != nil {
		c.err = err
		return false
	}
	c.vals = vals
	if n := c.d.Rows(); n%progressEvery == 0 {
		report(c.progress, "copy", c.t, n, false)
	}
	return true
}

// check refuses text PostgreSQL cannot store: invalid UTF-8 or a NUL
// byte, which SQLite keeps.
func (c *copySource) check(vals []any) error {
	for i, v := range vals {
		s, ok := v.(string)
		if !ok {
			continue
		}
		if !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
			return fmt.Errorf("table %s, row %s, column %s: text PostgreSQL cannot store (invalid UTF-8 or a NUL byte, %q): fix or delete that row in the source, then run this again",
				c.t.Name, rowKey(c.t, vals), c.t.Columns[i].Name, clip(s))
		}
	}
	return nil
}

func clip(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}

// rowKey describes a row by its primary key, for errors.
func rowKey(t transfer.Table, vals []any) string {
	var parts []string
	for _, k := range t.Key {
		for i, c := range t.Columns {
			if c.Name == k && i < len(vals) {
				parts = append(parts, fmt.Sprintf("%s=%v", k, vals[i]))
			}
		}
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

func (c *copySource) Values() ([]any, error) { return c.vals, nil }

func (c *copySource) Err() error {
	if c.err != nil {
		return c.err
	}
	return c.rows.Err()
}

// setSequences sets every identity column's sequence past the ids its
// table holds and the highest the source gave (floors), and ready_gen's
// past the generations copied; never backwards.
func setSequences(ctx context.Context, tx pgx.Tx, floors map[string]int64) error {
	rows, err := tx.Query(ctx, `SELECT table_name, column_name, pg_get_serial_sequence(quote_ident(table_name), column_name)
		FROM information_schema.columns WHERE table_schema = current_schema() AND is_identity = 'YES' ORDER BY table_name`)
	if err != nil {
		return fmt.Errorf("identity columns: %w", translate(err))
	}
	type ident struct{ table, column, seq string }
	var ids []ident
	for rows.Next() {
		var i ident
		if err := rows.Scan(&i.table, &i.column, &i.seq); err != nil {
			rows.Close()
			return translate(err)
		}
		ids = append(ids, i)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return translate(err)
	}
	ids = append(ids, ident{"task_runs", "ready_gen", "task_runs_ready_gen"})
	for _, i := range ids {
		var held, last int64
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(`+pgx.Identifier{i.column}.Sanitize()+`), 0) FROM `+pgx.Identifier{i.table}.Sanitize()).Scan(&held); err != nil {
			return fmt.Errorf("sequence of %s.%s: %w", i.table, i.column, translate(err))
		}
		if err := tx.QueryRow(ctx, `SELECT coalesce(pg_sequence_last_value($1::regclass), 0)`, i.seq).Scan(&last); err != nil {
			return fmt.Errorf("sequence of %s.%s: %w", i.table, i.column, translate(err))
		}
		next := max(held, last)
		if i.column != "ready_gen" {
			next = max(next, floors[i.table])
		}
		if next > last && next > 0 {
			if _, err := tx.Exec(ctx, `SELECT setval($1::regclass, $2, true)`, i.seq, next); err != nil {
				return fmt.Errorf("set the sequence of %s.%s: %w", i.table, i.column, translate(err))
			}
		}
	}
	return nil
}

// digestTable reads a table back in primary-key order and digests it.
func digestTable(ctx context.Context, tx pgx.Tx, t transfer.Table, progress func(transfer.Progress)) (*transfer.Digest, error) {
	cols := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		cols[i] = pgx.Identifier{c.Name}.Sanitize()
	}
	keys := make([]string, len(t.Key))
	for i, k := range t.Key {
		keys[i] = pgx.Identifier{k}.Sanitize()
	}
	report(progress, "verify", t, 0, false)
	rows, err := tx.Query(ctx, `SELECT `+strings.Join(cols, ", ")+` FROM `+pgx.Identifier{t.Name}.Sanitize()+` ORDER BY `+strings.Join(keys, ", "))
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	d := transfer.NewDigest()
	vals := make([]any, len(t.Columns))
	for rows.Next() {
		raw, err := rows.Values()
		if err != nil {
			return nil, translate(err)
		}
		for i, c := range t.Columns {
			if vals[i], err = transfer.Normalize(c.Kind, raw[i]); err != nil {
				return nil, fmt.Errorf("row %s, column %s: %w", rowKey(t, raw), c.Name, err)
			}
		}
		if err := d.Add(vals); err != nil {
			return nil, err
		}
		if n := d.Rows(); n%progressEvery == 0 {
			report(progress, "verify", t, n, false)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, translate(err)
	}
	report(progress, "verify", t, d.Rows(), true)
	return d, nil
}
