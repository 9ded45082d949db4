package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// A write transaction's BEGIN goes to the server with its first batch of
// statements, in the same round trip (pgx's Batch.BeginTx), rather than
// alone before them: a completer's commit (the completions, a run's
// owner, the next lease, the COMMIT) was five round trips, its BEGIN the
// first, and on a busy machine the first round trip after a pause was the
// dearest (the backend asleep: 0.65 ms at the median under a load of 5,
// docs/benchmarks.md, Session 15). A transaction whose first statement
// is not a batch begins alone, as before; one that runs nothing sends
// nothing.
//
// A lost connection met by the BEGIN (its result is the first one read,
// before any statement of the batch has given its result to its caller)
// is handled as a BEGIN of its own that failed was (connloss.go): the
// batch is sent again, BEGIN first, on another connection, after the
// pool's idle connections were checked — up to connRetries times —, so
// that the caller never sees it. A lost connection met later fails the
// batch, as it did.

// lateTx is a write transaction on conn that begins with its first
// batch. It is a pgx.Tx.
type lateTx struct {
	s    *Store
	conn *pgxpool.Conn // nil once released
	tx   pgx.Tx        // the transaction, once begun
}

var _ pgx.Tx = (*lateTx)(nil)

// beginLate takes a connection for a write transaction that begins with
// its first statements.
func (s *Store) beginLate(ctx context.Context) (*lateTx, error) {
	c, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	return &lateTx{s: s, conn: c}, nil
}

// send sends b, after BEGIN in the same round trip when the transaction
// has not begun. The queued queries are sent as copies (pgx records in a
// queued query the statement it prepared on the connection it went to),
// so that b can go again, whole, on another connection.
func (t *lateTx) send(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	for lost := 0; ; lost++ {
		if t.conn == nil {
			return pgx.FailedBatchResults(b, pgx.ErrTxClosed)
		}
		var nb pgx.Batch
		nb.BeginTx(pgx.TxOptions{})
		for _, q := range b.QueuedQueries {
			c := *q
			nb.QueuedQueries = append(nb.QueuedQueries, &c)
		}
		br := t.conn.SendBatch(ctx, &nb)
		_, err := br.Exec() // BEGIN's result
		if err == nil {
			t.tx = br.Tx()
			return br
		}
		br.Close()
		if !connLost(err) || lost == connRetries || ctx.Err() != nil {
			return pgx.FailedBatchResults(b, err)
		}
		// Nothing ran: the transaction goes again on another
		// connection (this one is closed, and dropped on release).
		t.conn.Release()
		t.conn = nil
		t.s.db.purge(ctx)
		c, aerr := t.s.pool.Acquire(ctx)
		if aerr != nil {
			return pgx.FailedBatchResults(b, aerr)
		}
		t.conn = c
	}
}

// begin begins the transaction (BEGIN alone) if it has not begun.
func (t *lateTx) begin(ctx context.Context) error {
	if t.tx != nil {
		return nil
	}
	return t.send(ctx, &pgx.Batch{}).Close()
}

func (t *lateTx) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	if t.tx != nil {
		return t.tx.SendBatch(ctx, b)
	}
	return t.send(ctx, b)
}

func (t *lateTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if err := t.begin(ctx); err != nil {
		return pgconn.CommandTag{}, err
	}
	return t.tx.Exec(ctx, sql, args...)
}

func (t *lateTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if err := t.begin(ctx); err != nil {
		return nil, err
	}
	return t.tx.Query(ctx, sql, args...)
}

func (t *lateTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if err := t.begin(ctx); err != nil {
		return errRow{err}
	}
	return t.tx.QueryRow(ctx, sql, args...)
}

func (t *lateTx) CopyFrom(ctx context.Context, table pgx.Identifier, cols []string, src pgx.CopyFromSource) (int64, error) {
	if err := t.begin(ctx); err != nil {
		return 0, err
	}
	return t.tx.CopyFrom(ctx, table, cols, src)
}

func (t *lateTx) Prepare(ctx context.Context, name, sql string) (*pgconn.StatementDescription, error) {
	if err := t.begin(ctx); err != nil {
		return nil, err
	}
	return t.tx.Prepare(ctx, name, sql)
}

// Begin begins a savepoint (pgx's pseudo nested transaction), the
// transaction first if it has not begun.
func (t *lateTx) Begin(ctx context.Context) (pgx.Tx, error) {
	if err := t.begin(ctx); err != nil {
		return nil, err
	}
	return t.tx.Begin(ctx)
}

// LargeObjects is the transaction's, begun first; the store uses none. A
// BEGIN that fails here panics (a write transaction's guard turns it into
// its error), the interface leaving no error to return.
func (t *lateTx) LargeObjects() pgx.LargeObjects {
	if err := t.begin(context.Background()); err != nil {
		panic(fmt.Errorf("begin for large objects: %w", err))
	}
	return t.tx.LargeObjects()
}

// Conn is the connection the transaction is on (nil once it ended).
func (t *lateTx) Conn() *pgx.Conn {
	if t.conn == nil {
		return nil
	}
	return t.conn.Conn()
}

// Commit commits the transaction, if it began (one that ran nothing has
// nothing to commit), and gives the connection back.
func (t *lateTx) Commit(ctx context.Context) error {
	if t.conn == nil {
		return pgx.ErrTxClosed
	}
	var err error
	if t.tx != nil {
		err = t.tx.Commit(ctx)
	}
	t.release()
	return err
}

// Rollback rolls the transaction back, if it began, and gives the
// connection back.
func (t *lateTx) Rollback(ctx context.Context) error {
	if t.conn == nil {
		return pgx.ErrTxClosed
	}
	var err error
	if t.tx != nil {
		err = t.tx.Rollback(ctx)
	}
	t.release()
	return err
}

// release gives the connection back to the pool (which drops it if it is
// closed or still in a transaction).
func (t *lateTx) release() {
	t.conn.Release()
	t.conn = nil
}

// errRow is a row whose Scan returns err.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }
