package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/mattn/go-sqlite3"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
)

var _ scheduler.Store = (*Store)(nil)

// Store is a scheduler.Store backed by one SQLite database file. It is safe
// for concurrent use.
type Store struct {
	path string
	w    *sqlx.DB // exactly one connection: the writer
	r    *sqlx.DB // read-only pool

	mu       sync.Mutex
	wstmt    map[string]*sql.Stmt // prepared on the writer connection
	wpending map[string]bool      // to prepare on the writer after the current transaction
	closed   bool
	rstmt    map[string]*sql.Stmt // prepared on the read pool

	// Group commit (see inTx): write requests queue here; one caller at a
	// time leads, running the queued requests in one transaction.
	qmu      sync.Mutex
	queue    []*txReq
	leading  bool
	wclosed  bool
	inflight sync.WaitGroup
	// txPrepared holds statements prepared on the current transaction
	// before they are prepared on the writer (see txStmt). Only the
	// leader touches it.
	txPrepared map[string]*sql.Stmt
}

// txReq is one caller's write transaction, waiting for its turn.
type txReq struct {
	ctx context.Context
	fn  func(tx *sql.Tx) error
	// casFirst: fn's first write is a compare-and-set that writes nothing
	// when it fails, and any error after a write is a failure of the
	// database, not a refusal. Such a request needs no savepoint.
	casFirst bool
	done     chan txResult // capacity 1: a lead signal, then (or only) the result
}

type txResult struct {
	err  error
	lead bool // not a result: the receiver is to lead the next batches
}

// maxBatch bounds how many callers share one transaction.
const maxBatch = 128

type options struct {
	syncFull    bool
	migrate     bool
	busyTimeout time.Duration
	readConns   int
}

// Option configures Open.
type Option func(*options)

// WithSynchronousFull sets PRAGMA synchronous=FULL: a commit survives a
// power loss, at the cost of an fsync per commit. The default, NORMAL,
// survives a crash of the process but may lose the last commits on power
// loss (WAL mode never corrupts the database either way).
func WithSynchronousFull() Option { return func(o *options) { o.syncFull = true } }

// WithoutMigrations makes Open leave the schema alone; call Migrate
// before using the store.
func WithoutMigrations() Option { return func(o *options) { o.migrate = false } }

// WithBusyTimeout sets how long a statement waits for another process's
// lock before failing (default 5s).
func WithBusyTimeout(d time.Duration) Option { return func(o *options) { o.busyTimeout = d } }

// WithReadConns sets the size of the read-only connection pool (default 4,
// minimum 1).
func WithReadConns(n int) Option { return func(o *options) { o.readConns = max(n, 1) } }

// Open opens (creating it and its parent directory if needed) the SQLite
// database at path in WAL mode with foreign keys on, and applies pending
// migrations unless WithoutMigrations is given. It fails with a
// *SchemaVersionError if the database's schema is newer than this binary.
func Open(ctx context.Context, path string, opts ...Option) (*Store, error) {
	o := options{migrate: true, busyTimeout: 5 * time.Second, readConns: 4}
	for _, opt := range opts {
		opt(&o)
	}
	if path == "" || path == ":memory:" || strings.ContainsAny(path, "?#") || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("open sqlite store: path %q must name a file (no URI, '?' or '#')", path)
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
		}
	}
	syncMode := "NORMAL"
	if o.syncFull {
		syncMode = "FULL"
	}
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	q.Set("_foreign_keys", "on")
	q.Set("_busy_timeout", strconv.FormatInt(o.busyTimeout.Milliseconds(), 10))
	q.Set("_synchronous", syncMode)
	q.Set("_txlock", "immediate")
	w, err := sqlx.Open("sqlite3", path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	s := &Store{path: path, w: w, wstmt: map[string]*sql.Stmt{}, wpending: map[string]bool{}, rstmt: map[string]*sql.Stmt{}}
	var mode string
	if err := w.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		s.Close()
		return nil, fmt.Errorf("open sqlite store %s: %w", path, translate(err))
	}
	if !strings.EqualFold(mode, "wal") {
		s.Close()
		return nil, fmt.Errorf("open sqlite store %s: journal mode is %q, not wal", path, mode)
	}

	q.Set("_txlock", "deferred")
	q.Set("_query_only", "1")
	q.Del("_journal_mode") // set by the writer; persistent in the file
	r, err := sqlx.Open("sqlite3", path+"?"+q.Encode())
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}
	r.SetMaxOpenConns(o.readConns)
	r.SetMaxIdleConns(o.readConns)
	r.SetConnMaxLifetime(0)
	r.SetConnMaxIdleTime(0)
	s.r = r

	if o.migrate {
		if _, err := s.Migrate(ctx); err != nil {
			s.Close()
			return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
		}
	}
	return s, nil
}

// Close closes the store's connections. Calls in flight may fail.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.qmu.Lock()
	s.wclosed = true
	s.qmu.Unlock()
	s.inflight.Wait()
	s.mu.Lock()
	for _, st := range s.wstmt {
		st.Close()
	}
	for _, st := range s.rstmt {
		st.Close()
	}
	s.wstmt, s.rstmt = map[string]*sql.Stmt{}, map[string]*sql.Stmt{}
	s.mu.Unlock()
	var errs []error
	if s.r != nil {
		errs = append(errs, s.r.Close())
	}
	errs = append(errs, s.w.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close sqlite store %s: %w", s.path, err)
	}
	return nil
}

// Path returns the database file's path.
func (s *Store) Path() string { return s.path }

// readStmt returns query prepared on the read pool (database/sql prepares
// it on each pooled connection as needed).
func (s *Store) readStmt(ctx context.Context, query string) (*sql.Stmt, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, ok := s.rstmt[query]; ok {
		return st, nil
	}
	if s.closed {
		return nil, errors.New("store is closed")
	}
	st, err := s.r.PrepareContext(ctx, query)
	if err != nil {
		return nil, translate(err)
	}
	s.rstmt[query] = st
	return st, nil
}

// txStmt returns query prepared on the writer connection, bound to tx. The
// writer has one connection, so binding reuses the prepared statement. A
// statement seen for the first time cannot be prepared on the writer while
// tx holds its only connection: it is prepared on tx for this once and on
// the writer after the transaction (see preparePending).
func (s *Store) txStmt(ctx context.Context, tx *sql.Tx, query string) (*sql.Stmt, error) {
	if st, ok := s.txPrepared[query]; ok {
		return st, nil
	}
	s.mu.Lock()
	st, ok := s.wstmt[query]
	if !ok {
		s.wpending[query] = true
	}
	s.mu.Unlock()
	if ok {
		st = tx.StmtContext(ctx, st)
	} else {
		var err error
		if st, err = tx.PrepareContext(ctx, query); err != nil {
			return nil, translate(err)
		}
	}
	s.txPrepared[query] = st // closed with the transaction
	return st, nil
}

// preparePending prepares on the writer the statements txStmt met for the
// first time. Failures are left for the next transaction to retry.
func (s *Store) preparePending(ctx context.Context) {
	s.mu.Lock()
	if len(s.wpending) == 0 {
		s.mu.Unlock()
		return
	}
	queries := make([]string, 0, len(s.wpending))
	for q := range s.wpending {
		queries = append(queries, q)
	}
	clear(s.wpending)
	s.mu.Unlock()
	for _, q := range queries {
		// Not under s.mu: this waits for the writer connection, whose
		// holder may need s.mu to finish.
		st, err := s.w.PrepareContext(ctx, q)
		if err != nil {
			continue
		}
		s.mu.Lock()
		if _, dup := s.wstmt[q]; dup || s.closed {
			st.Close()
		} else {
			s.wstmt[q] = st
		}
		s.mu.Unlock()
	}
}

// inTx runs fn in a write transaction (BEGIN IMMEDIATE): its changes are
// committed if it returns nil and undone otherwise. Calls made at the same
// time share one transaction (group commit), each inside its own
// savepoint, so one caller's failure undoes only its own changes; every
// caller returns only after the commit that made its changes durable.
//
// There is no writer goroutine: the first caller to find no one leading
// runs the queued batch itself, so an uncontended write costs no hand-off
// between goroutines; once its own request is done it passes the lead to
// the oldest waiter. Once queued, a call runs to its end even if ctx is
// cancelled (its statements then fail), so its outcome is never unknown.
func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return s.write(ctx, fn, false)
}

// inTxCAS is inTx for a fn whose first write is a compare-and-set that
// writes nothing when it is refused (see txReq.casFirst): it saves the
// savepoint a shared transaction would otherwise wrap it in. Complete,
// Lease and the like are on every hop of a run.
func (s *Store) inTxCAS(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return s.write(ctx, fn, true)
}

func (s *Store) write(ctx context.Context, fn func(tx *sql.Tx) error, casFirst bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if b, ok := ctx.Value(batchKey{}).(*batchTx); ok && b.s == s {
		return b.run(fn, casFirst)
	}
	r := &txReq{ctx: ctx, fn: fn, casFirst: casFirst, done: make(chan txResult, 1)}
	s.qmu.Lock()
	if s.wclosed {
		s.qmu.Unlock()
		return errors.New("store is closed")
	}
	s.inflight.Add(1)
	defer s.inflight.Done()
	s.queue = append(s.queue, r)
	lead := !s.leading
	s.leading = true
	s.qmu.Unlock()
	if !lead {
		res := <-r.done
		if !res.lead {
			return res.err
		}
	}
	for {
		s.qmu.Lock()
		n := min(len(s.queue), maxBatch)
		batch := s.queue[:n:n]
		s.queue = s.queue[n:]
		s.qmu.Unlock()
		s.runBatch(batch)
		s.preparePending(context.Background())
		select {
		case res := <-r.done: // ours ran: pass the lead on
			s.qmu.Lock()
			if len(s.queue) == 0 {
				s.leading = false
			} else {
				s.queue[0].done <- txResult{lead: true}
			}
			s.qmu.Unlock()
			return res.err
		default: // more than maxBatch were ahead of us
		}
	}
}

// batchKey marks a context whose writes join a Batch's transaction.
type batchKey struct{}

// batchTx is the transaction of a Batch in progress.
type batchTx struct {
	s      *Store
	tx     *sql.Tx
	broken error // a savepoint failed: the transaction cannot be trusted
}

// run runs one store call of the batch in its own savepoint, so that a
// call that fails (a lease lost, a conflict) undoes only its own writes.
func (b *batchTx) run(fn func(tx *sql.Tx) error, casFirst bool) error {
	if b.broken != nil {
		return b.broken
	}
	ferr, fatal := runIn(b.tx, fn, casFirst)
	if fatal != nil {
		b.broken = fmt.Errorf("batch transaction aborted: %w", fatal)
		return b.broken
	}
	return ferr
}

// Batch runs fn so that the writes it makes through this store, with the
// context fn is given, commit together in one transaction once fn returns
// nil; if fn returns an error, none of them do. Each call inside keeps its
// own all-or-nothing behaviour (a refused Complete changes nothing), so fn
// may carry on after one fails. The calls run in order and each sees the
// writes of those before it (a Lease finds the tasks an ApplyPlan just
// made ready); only GetRun and the List methods read from the read pool
// and do not see the batch's own writes.
func (s *Store) Batch(ctx context.Context, fn func(ctx context.Context) error) error {
	if b, ok := ctx.Value(batchKey{}).(*batchTx); ok && b.s == s {
		return fn(ctx) // already in one
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		b := &batchTx{s: s, tx: tx}
		err := fn(context.WithValue(ctx, batchKey{}, b))
		if err == nil {
			err = b.broken
		}
		return err
	})
}

// runBatch runs the requests in one transaction and tells each its outcome.
func (s *Store) runBatch(batch []*txReq) {
	ctx := context.Background()
	errs := make([]error, len(batch))
	s.txPrepared = map[string]*sql.Stmt{}
	defer func() { s.txPrepared = nil }()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		for _, r := range batch {
			r.done <- txResult{err: translate(err)}
		}
		return
	}
	ok := 0
	for i, r := range batch {
		if err := r.ctx.Err(); err != nil {
			errs[i] = err
			continue
		}
		if len(batch) == 1 {
			errs[i] = guard(r.fn, tx)
		} else {
			var fatal error
			errs[i], fatal = runIn(tx, r.fn, r.casFirst)
			if fatal != nil {
				// The transaction's state is unknown: undo all of it.
				_ = tx.Rollback()
				for j := range batch {
					if j > i || errs[j] == nil {
						errs[j] = fmt.Errorf("write transaction aborted: %w", fatal)
					}
					batch[j].done <- txResult{err: errs[j]}
				}
				return
			}
		}
		if errs[i] == nil {
			ok++
		}
	}
	if ok == 0 {
		_ = tx.Rollback() // nothing to keep; the errors that matter are the callers'
	} else if err := tx.Commit(); err != nil {
		err = translate(err)
		for i := range errs {
			if errs[i] == nil {
				errs[i] = err
			}
		}
	}
	for i, r := range batch {
		r.done <- txResult{err: errs[i]}
	}
}

// runIn runs fn inside a shared transaction so that its failure undoes only
// its own changes: in a savepoint, unless casFirst says a refusal writes
// nothing. A failure that is not a refusal then leaves the transaction in
// an unknown state, which is fatal.
func runIn(tx *sql.Tx, fn func(tx *sql.Tx) error, casFirst bool) (ferr, fatal error) {
	if !casFirst {
		return inSavepoint(tx, fn)
	}
	ferr = guard(fn, tx)
	if ferr != nil && !refusal(ferr) {
		return ferr, ferr
	}
	return ferr, nil
}

// errPanicked marks a transaction body that panicked.
var errPanicked = errors.New("panic inside a write transaction")

// guard runs fn, turning a panic into an error: the caller leading a shared
// transaction must not die halfway and leave every other writer waiting.
func guard(fn func(tx *sql.Tx) error, tx *sql.Tx) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("%w: %v\n%s", errPanicked, v, debug.Stack())
		}
	}()
	return fn(tx)
}

// refusal reports whether err is a compare-and-set's refusal rather than a
// failure of the database.
func refusal(err error) bool {
	return errors.Is(err, cairn.ErrLeaseLost) || errors.Is(err, cairn.ErrConflict) ||
		errors.Is(err, cairn.ErrNotFound) || errors.Is(err, cairn.ErrTerminal) || errors.Is(err, cairn.ErrRunOwned)
}

// inSavepoint runs fn so that its changes can be undone alone. It returns
// fn's error, and a fatal error when the savepoint itself failed and the
// transaction can no longer be trusted.
func inSavepoint(tx *sql.Tx, fn func(tx *sql.Tx) error) (ferr, fatal error) {
	if _, err := tx.ExecContext(context.Background(), "SAVEPOINT req"); err != nil {
		return nil, translate(err)
	}
	if ferr = guard(fn, tx); ferr != nil {
		if _, err := tx.ExecContext(context.Background(), "ROLLBACK TO req"); err != nil {
			return ferr, translate(err)
		}
	}
	if _, err := tx.ExecContext(context.Background(), "RELEASE req"); err != nil {
		return ferr, translate(err)
	}
	return ferr, nil
}

// exec runs a prepared statement in tx and returns the rows it affected.
func (s *Store) exec(ctx context.Context, tx *sql.Tx, query string, args ...any) (int64, error) {
	st, err := s.txStmt(ctx, tx, query)
	if err != nil {
		return 0, err
	}
	res, err := st.ExecContext(ctx, args...)
	if err != nil {
		return 0, translate(err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, translate(err)
	}
	return n, nil
}

// translate maps driver errors to Cairn's sentinels by code, keeping the
// driver's message for people.
func translate(err error) error {
	var se sqlite3.Error
	if !errors.As(err, &se) {
		return err
	}
	switch {
	case se.ExtendedCode == sqlite3.ErrConstraintPrimaryKey, se.ExtendedCode == sqlite3.ErrConstraintUnique:
		return fmt.Errorf("%w: %s", cairn.ErrConflict, se.Error())
	case se.ExtendedCode == sqlite3.ErrConstraintForeignKey:
		return fmt.Errorf("%w: %s", cairn.ErrNotFound, se.Error())
	case se.Code == sqlite3.ErrBusy || se.Code == sqlite3.ErrLocked:
		return fmt.Errorf("database is busy (another process holds the lock longer than the busy timeout): %w", se)
	}
	return err
}

// nanos encodes a time for storage: Unix nanoseconds, NULL for the zero time.
func nanos(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixNano()
}

// fromNanos decodes a stored time.
func fromNanos(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.Unix(0, n.Int64).UTC()
}

// jsonValue encodes v as JSON text, NULL for a nil map or value.
func jsonValue[T any](v T, isNil bool) (any, error) {
	if isNil {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return string(b), nil
}

// rawJSON stores raw JSON bytes as text, NULL when empty.
func rawJSON(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return string(b)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// SchemaVersionError reports a database whose schema is newer than any
// migration this binary knows: an older binary must not write to it.
type SchemaVersionError struct {
	Database int // the database's schema version
	Binary   int // the newest version this binary knows
}

func (e *SchemaVersionError) Error() string {
	return fmt.Sprintf("database schema version %d is newer than this binary supports (%d); upgrade cairn", e.Database, e.Binary)
}
