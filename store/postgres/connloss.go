package postgres

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
)

// A pooled connection can die between two uses: its backend ended by
// pg_terminate_backend (SQLSTATE 57P01), a crash of another backend
// (57P02), a proxy or firewall dropping it. The next statement on it fails
// once, and pgx then drops it from the pool. Such a failure is retried on
// another connection where its outcome is certain:
//
//   - a read (db.Query, db.QueryRow): it changed nothing;
//   - a transaction's BEGIN, or any statement before its COMMIT was sent:
//     a transaction whose connection dies before COMMIT never commits
//     (inTx runs its fn again; a Batch, whose fn runs once, only when BEGIN
//     failed);
//   - a COMMIT that pgx says was never sent (pgconn.SafeToRetry).
//
// A COMMIT that was sent and not answered stays an error: whether it
// committed cannot be told, and the callers' handling of ambiguous commits
// decides. Before a retry, the pool's idle connections are pinged and the
// dead ones dropped (a server that ended one backend has often ended them
// all: a restart, an administrator dropping a database's sessions), so
// that the retry does not meet the next dead one.

// connRetries bounds the retries of one call after a lost connection.
const connRetries = 3

// connLost reports whether err says the connection died (rather than the
// statement failing on a live one).
func connLost(err error) bool {
	if err == nil {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "57P01", "57P02": // admin_shutdown (pg_terminate_backend), crash_shutdown
			return true
		}
		return false
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	return pgconn.SafeToRetry(err) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed)
}

// retryDB runs reads on the pool, retrying those a lost connection failed.
type retryDB struct {
	pool *pgxpool.Pool
}

// purge pings the pool's idle connections, dropping the dead ones.
func (d retryDB) purge(ctx context.Context) {
	for _, c := range d.pool.AcquireAllIdle(ctx) {
		_ = c.Ping(ctx) // a dead connection is closed by the failed ping, and released as such
		c.Release()
	}
}

// Query is pgxpool's Query, run again on another connection when the
// first failed with a lost connection before returning a row.
func (d retryDB) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	r := &retryRows{ctx: ctx, db: d, sql: sql, args: args, left: connRetries}
	if err := r.query(); err != nil {
		return nil, err
	}
	return r, nil
}

// QueryRow is pgxpool's QueryRow, run again when a lost connection
// failed it.
func (d retryDB) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return retryRow{ctx: ctx, db: d, sql: sql, args: args}
}

// BeginTx begins a transaction, on another connection when BEGIN met a
// lost one.
func (d retryDB) BeginTx(ctx context.Context, o pgx.TxOptions) (pgx.Tx, error) {
	tx, err := d.pool.BeginTx(ctx, o)
	for i := 0; i < connRetries && connLost(err) && ctx.Err() == nil; i++ {
		d.purge(ctx)
		tx, err = d.pool.BeginTx(ctx, o)
	}
	return tx, err
}

type retryRow struct {
	ctx  context.Context
	db   retryDB
	sql  string
	args []any
}

func (r retryRow) Scan(dest ...any) error {
	err := r.db.pool.QueryRow(r.ctx, r.sql, r.args...).Scan(dest...)
	for i := 0; i < connRetries && connLost(err) && r.ctx.Err() == nil; i++ {
		r.db.purge(r.ctx)
		err = r.db.pool.QueryRow(r.ctx, r.sql, r.args...).Scan(dest...)
	}
	return err
}

// retryRows is a query's rows that, when the connection is found lost
// before the first row (pgx reports it at Query or at the first Next),
// runs the query again on another connection. Once a row was read, a lost
// connection is the caller's error.
type retryRows struct {
	ctx  context.Context
	db   retryDB
	sql  string
	args []any
	left int
	rows pgx.Rows
	seen bool // a row was returned
}

// query runs the query, again while a lost connection fails it at once.
func (r *retryRows) query() error {
	for {
		rows, err := r.db.pool.Query(r.ctx, r.sql, r.args...)
		if err == nil {
			r.rows = rows
			return nil
		}
		if !connLost(err) || r.left == 0 || r.ctx.Err() != nil {
			return err
		}
		r.left--
		r.db.purge(r.ctx)
	}
}

func (r *retryRows) Next() bool {
	for {
		if r.rows.Next() {
			r.seen = true
			return true
		}
		if r.seen || r.left == 0 || !connLost(r.rows.Err()) || r.ctx.Err() != nil {
			return false
		}
		failed := r.rows
		failed.Close()
		r.left--
		r.db.purge(r.ctx)
		if err := r.query(); err != nil {
			r.rows = errRows{err: err}
			return false
		}
	}
}

func (r *retryRows) Close()                                       { r.rows.Close() }
func (r *retryRows) Err() error                                   { return r.rows.Err() }
func (r *retryRows) CommandTag() pgconn.CommandTag                { return r.rows.CommandTag() }
func (r *retryRows) FieldDescriptions() []pgconn.FieldDescription { return r.rows.FieldDescriptions() }
func (r *retryRows) Scan(dest ...any) error                       { return r.rows.Scan(dest...) }
func (r *retryRows) Values() ([]any, error)                       { return r.rows.Values() }
func (r *retryRows) RawValues() [][]byte                          { return r.rows.RawValues() }
func (r *retryRows) Conn() *pgx.Conn                              { return r.rows.Conn() }
func (r *retryRows) TypeMap() *pgtype.Map                         { return r.rows.TypeMap() }

// errRows is the rows of a query that failed again.
type errRows struct{ err error }

func (e errRows) Close()                                       {}
func (e errRows) Err() error                                   { return e.err }
func (e errRows) CommandTag() pgconn.CommandTag                { return pgconn.CommandTag{} }
func (e errRows) FieldDescriptions() []pgconn.FieldDescription { return nil }
func (e errRows) Next() bool                                   { return false }
func (e errRows) Scan(...any) error                            { return e.err }
func (e errRows) Values() ([]any, error)                       { return nil, e.err }
func (e errRows) RawValues() [][]byte                          { return nil }
func (e errRows) Conn() *pgx.Conn                              { return nil }
func (e errRows) TypeMap() *pgtype.Map                         { return nil }
