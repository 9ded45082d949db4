package postgres

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
)

var _ scheduler.Store = (*Store)(nil)

// Store is a scheduler.Store on a PostgreSQL database. It is safe for
// concurrent use, by many goroutines and many processes.
type Store struct {
	pool        *pgxpool.Pool
	db          retryDB // reads on pool, retried after a lost connection (connloss.go)
	dsn         string  // redacted, for errors
	callerClock bool

	stmts, txs atomic.Int64 // WriteStats
	counter    *stmtCounter // WithStatementCounts

	lmu       sync.Mutex
	listeners []*listener // see Listen
}

type options struct {
	callerClock bool
	migrate     bool
	readOnly    bool
	maxConns    int32
	// countStatements: WithStatementCounts.
	countStatements bool
}

// Option configures Open.
type Option func(*options)

// WithCallerClock makes the store judge lease and claim expiry by the
// times its callers pass (now), as store/sqlite does, rather than by the
// database's clock. It is for tests that move time by hand (the
// conformance suite runs in the year 2030); between processes on several
// machines the database's clock is the one they share.
func WithCallerClock() Option { return func(o *options) { o.callerClock = true } }

// WithoutMigrations makes Open leave the schema alone; call Migrate before
// using the store.
func WithoutMigrations() Option { return func(o *options) { o.migrate = false } }

// WithMaxConns sets the size of the connection pool (default: pgxpool's,
// the greater of 4 and the number of CPUs).
func WithMaxConns(n int32) Option { return func(o *options) { o.maxConns = n } }

// Open connects to the PostgreSQL database of dsn (a postgres:// URL or
// key=value settings) and applies pending migrations unless
// WithoutMigrations is given. A DSN that does not connect fails at once
// with an error naming the host and the cause, the password redacted.
//
// Expiry: a lease's expiry is stored as the database's time when it was
// granted or renewed plus the TTL, and a lease is live while that is
// after the database's time (statement_timestamp()) — whatever the
// clocks of the processes that lease, heartbeat, complete and reap, so
// that a worker whose clock runs late cannot keep a lease alive and a
// reaper whose clock runs early cannot take one early. Claims on runs
// likewise. The now the interface passes is still what records hold
// (an attempt's start and end), and the expiries handed back to callers
// (WorkItem.Lease.ExpiresAt, HeartbeatReply.ExpiresAt, ExpiredLeases) are
// in the caller's terms: its now plus what was left. WithCallerClock
// judges by the callers' now instead.
func Open(ctx context.Context, dsn string, opts ...Option) (*Store, error) {
	o := options{migrate: true}
	for _, opt := range opts {
		opt(&o)
	}
	shown := Redact(dsn)
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("open postgres store %s: %w", shown, redactErr(err, dsn))
	}
	if o.maxConns > 0 {
		cfg.MaxConns = o.maxConns
	}
	if cfg.ConnConfig.RuntimeParams == nil {
		cfg.ConnConfig.RuntimeParams = map[string]string{}
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = "cairn"
	// Times are integers: the session's zone changes nothing, but say it.
	cfg.ConnConfig.RuntimeParams["timezone"] = "UTC"
	if o.readOnly {
		cfg.ConnConfig.RuntimeParams["default_transaction_read_only"] = "on"
	}
	var counter *stmtCounter
	if o.countStatements {
		counter = newStmtCounter()
		cfg.ConnConfig.Tracer = counter
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, connectErr(cfg.ConnConfig, shown, dsn, err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, connectErr(cfg.ConnConfig, shown, dsn, err)
	}
	s := &Store{pool: pool, db: retryDB{pool}, dsn: shown, callerClock: o.callerClock, counter: counter}
	if o.readOnly {
		if err := s.checkSchema(ctx); err != nil {
			pool.Close()
			return nil, fmt.Errorf("open postgres store %s: %w", shown, err)
		}
	}
	if o.migrate {
		if _, err := s.Migrate(ctx); err != nil {
			pool.Close()
			return nil, fmt.Errorf("open postgres store %s: %w", shown, err)
		}
	}
	return s, nil
}

// connectErr says which server could not be reached and why.
func connectErr(cc *pgx.ConnConfig, shown, dsn string, err error) error {
	host := cc.Host
	if cc.Port != 0 && !strings.HasPrefix(host, "/") {
		host = fmt.Sprintf("%s:%d", host, cc.Port)
	}
	cause := err
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) && ce.Unwrap() != nil {
		cause = ce.Unwrap()
	}
	return fmt.Errorf("open postgres store %s: cannot connect to %s (database %q, user %q): %w", shown, host, cc.Database, cc.User,
		redactErr(onceEach(cause), dsn))
}

// onceEach is err with each line of its text said once: pgx joins the
// errors of every attempt at a connection (TLS, then without, under
// sslmode=prefer), which are most often the same.
func onceEach(err error) error {
	lines := strings.Split(err.Error(), "\n")
	if len(lines) < 2 {
		return err
	}
	seen := map[string]bool{}
	var out []string
	for _, l := range lines {
		if !seen[l] {
			seen[l] = true
			out = append(out, l)
		}
	}
	if len(out) == len(lines) {
		return err
	}
	return &textErr{msg: strings.Join(out, "\n"), err: err}
}

// textErr is err said in other words.
type textErr struct {
	msg string
	err error
}

func (e *textErr) Error() string { return e.msg }
func (e *textErr) Unwrap() error { return e.err }

// Redact returns dsn with its password replaced (a URL's, or a
// password=... setting's), for messages and logs.
func Redact(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.Scheme != "" {
		if _, set := u.User.Password(); set {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
		q := u.Query()
		if q.Has("password") {
			q.Set("password", "xxxxx")
			u.RawQuery = q.Encode()
		}
		return u.String()
	}
	if scheme, _, ok := strings.Cut(dsn, "://"); ok && !strings.ContainsAny(scheme, " =") {
		// A URL that does not parse: where its password is cannot be told.
		return scheme + "://(a URL that does not parse, hidden)"
	}
	fields := strings.Fields(dsn)
	for i, f := range fields {
		if k, _, ok := strings.Cut(f, "="); ok && strings.EqualFold(k, "password") {
			fields[i] = k + "=xxxxx"
		}
	}
	return strings.Join(fields, " ")
}

// redactErr keeps the DSN's password out of err's text: pgx quotes parts
// of a DSN it cannot parse.
func redactErr(err error, dsn string) error {
	pw := password(dsn)
	if pw == "" || !strings.Contains(err.Error(), pw) {
		return err
	}
	msg := err.Error()
	if len(pw) < 4 {
		// A password of a few characters occurs in words ("exist"): only
		// where a DSN would hold it.
		for _, form := range []string{":" + pw + "@", "password=" + pw, "password='" + pw + "'"} {
			msg = strings.ReplaceAll(msg, form, strings.Replace(form, pw, "xxxxx", 1))
		}
		return errors.New(msg)
	}
	return errors.New(strings.ReplaceAll(msg, pw, "xxxxx"))
}

func password(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.Scheme != "" {
		if p, ok := u.User.Password(); ok {
			return p
		}
		return u.Query().Get("password")
	}
	for _, f := range strings.Fields(dsn) {
		if k, v, ok := strings.Cut(f, "="); ok && strings.EqualFold(k, "password") {
			return strings.Trim(v, "'")
		}
	}
	return ""
}

// MaxConns is the most connections the store's pool holds (the
// listeners' connections are their own, one each, besides).
func (s *Store) MaxConns() int32 { return s.pool.Config().MaxConns }

// Close closes the pool and stops the listeners.
func (s *Store) Close() error {
	s.lmu.Lock()
	ls := s.listeners
	s.listeners = nil
	s.lmu.Unlock()
	for _, l := range ls {
		l.stop()
	}
	s.pool.Close()
	return nil
}

// clock is the SQL of "now" for expiry decisions, the caller's now being
// parameter $n: the database's clock (see Open), or $n with
// WithCallerClock. The parameter is named either way, so that its type is
// known.
func (s *Store) clock(n int) string {
	if s.callerClock {
		return fmt.Sprintf("$%d::bigint", n)
	}
	return fmt.Sprintf("($%d::bigint * 0 + %s)", n, dbNow)
}

// dbNow is the database's time in Unix nanoseconds: the statement's start,
// the same for every row a statement touches.
const dbNow = `(extract(epoch from statement_timestamp()) * 1000000000)::bigint`

// querier is what both a pool and a transaction run statements on.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// txFn is the body of a write transaction.
type txFn func(ctx context.Context, tx pgx.Tx) error

// maxAttempts bounds how many times a transaction that failed with a
// serialization failure or a deadlock runs.
const maxAttempts = 5

// inTx runs fn in a transaction, committed if it returns nil. ctx is
// checked before the transaction begins; its statements run on a context
// that ctx's cancellation does not reach, so that a cancelled caller
// never leaves its write's outcome unknown (as store/sqlite). A
// serialization failure or deadlock runs fn again, up to maxAttempts
// times with a growing random pause; fn must set its outputs, not
// accumulate them.
func (s *Store) inTx(ctx context.Context, fn txFn) error {
	return s.tx(ctx, fn, true)
}

func (s *Store) tx(ctx context.Context, fn txFn, retry bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ctx = context.WithoutCancel(ctx)
	lost := 0
	for attempt := 1; ; {
		at, err := s.once(ctx, fn)
		// A lost connection (connloss.go): the transaction did not commit
		// if BEGIN failed, or (when fn may run again) a statement before
		// COMMIT, or a COMMIT pgx never sent.
		if connLost(err) && lost < connRetries &&
			(at == atBegin || at == atBody && retry || at == atCommit && pgconn.SafeToRetry(err)) {
			lost++
			s.db.purge(ctx)
			continue
		}
		if !retry || !retryable(err) || attempt == maxAttempts {
			return err
		}
		pause := time.Duration(1<<attempt) * time.Millisecond
		time.Sleep(pause/2 + rand.N(pause))
		attempt++
	}
}

// Where a transaction failed (once).
const (
	atBegin = iota
	atBody
	atCommit
)

func (s *Store) once(ctx context.Context, fn txFn) (int, error) {
	// BEGIN goes with the first batch of statements (latebegin.go).
	tx, err := s.beginLate(ctx)
	if err != nil {
		return atBegin, translate(err)
	}
	if err := guard(ctx, fn, tx); err != nil {
		_ = tx.Rollback(ctx)
		return atBody, err
	}
	if err := tx.Commit(ctx); err != nil {
		return atCommit, translate(err)
	}
	s.txs.Add(1)
	return atCommit, nil
}

// retryable reports a failure that running the transaction again may not
// meet: a serialization failure or a deadlock.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}

var errPanicked = errors.New("panic inside a write transaction")

func guard(ctx context.Context, fn txFn, tx pgx.Tx) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("%w: %v\n%s", errPanicked, v, debug.Stack())
		}
	}()
	return fn(ctx, tx)
}

// refusal reports whether err is a compare-and-set's refusal rather than a
// failure of the database.
func refusal(err error) bool {
	return errors.Is(err, cairn.ErrLeaseLost) || errors.Is(err, cairn.ErrConflict) ||
		errors.Is(err, cairn.ErrNotFound) || errors.Is(err, cairn.ErrTerminal) || errors.Is(err, cairn.ErrRunOwned) ||
		errors.Is(err, cairn.ErrNotLeader)
}

// batchTx is the transaction of a Batch in progress.
type batchTx struct {
	s      *Store
	ctx    context.Context
	tx     pgx.Tx
	broken error
	// owners are the owners of runs whose rows this transaction locked
	// FOR SHARE, as it read them (CompleteMany), for RunOwner; a run's is
	// forgotten when the batch writes the run (ApplyPlan, RetryRun,
	// ClaimRun, CreateRun).
	owners map[string]string
}

var _ scheduler.Tx = (*batchTx)(nil)

// run runs one call of the batch so that a call that fails undoes only its
// own writes: in a savepoint, unless casFirst says a refusal writes
// nothing (and issues no failing statement, which in PostgreSQL would
// abort the whole transaction).
func (b *batchTx) run(fn txFn, casFirst bool) error {
	if b.broken != nil {
		return b.broken
	}
	if casFirst {
		err := guard(b.ctx, fn, b.tx)
		if err != nil && !refusal(err) {
			b.broken = fmt.Errorf("batch transaction aborted: %w", err)
			return b.broken
		}
		return err
	}
	sp, err := b.tx.Begin(b.ctx) // a savepoint
	if err != nil {
		b.broken = fmt.Errorf("batch transaction aborted: %w", translate(err))
		return b.broken
	}
	if ferr := guard(b.ctx, fn, sp); ferr != nil {
		if err := sp.Rollback(b.ctx); err != nil {
			b.broken = fmt.Errorf("batch transaction aborted: %w", translate(err))
		}
		return ferr
	}
	if err := sp.Commit(b.ctx); err != nil {
		b.broken = fmt.Errorf("batch transaction aborted: %w", translate(err))
		return b.broken
	}
	return nil
}

// Batch runs fn so that the writes it makes through tx commit together in
// one transaction once fn returns nil; if fn returns an error, none of
// them do. Each call keeps its own all-or-nothing behaviour. ctx is
// checked only before the batch begins. fn runs once: a deadlock fails
// the batch (it is not run again, since fn may keep what it learnt).
func (s *Store) Batch(ctx context.Context, fn func(tx scheduler.Tx) error) error {
	return s.tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		b := &batchTx{s: s, ctx: ctx, tx: tx}
		err := fn(b)
		if err == nil {
			err = b.broken
		}
		return err
	}, false)
}

// exec runs a statement and returns the rows it affected.
func (s *Store) exec(ctx context.Context, q querier, sql string, args ...any) (int64, error) {
	s.stmts.Add(1)
	tag, err := q.Exec(ctx, sql, args...)
	if err != nil {
		return 0, translate(err)
	}
	return tag.RowsAffected(), nil
}

func (s *Store) query(ctx context.Context, q querier, sql string, args ...any) (pgx.Rows, error) {
	s.stmts.Add(1)
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, translate(err)
	}
	return rows, nil
}

func (s *Store) queryRow(ctx context.Context, q querier, sql string, args ...any) pgx.Row {
	s.stmts.Add(1)
	return q.QueryRow(ctx, sql, args...)
}

// translate maps driver errors to Cairn's sentinels by SQLSTATE, keeping
// the server's message for people.
func translate(err error) error {
	if err == nil {
		return nil
	}
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return err
	}
	switch pe.Code {
	case "23505": // unique_violation
		return fmt.Errorf("%w: %s", cairn.ErrConflict, pe.Error())
	case "23503": // foreign_key_violation
		return fmt.Errorf("%w: %s", cairn.ErrNotFound, pe.Error())
	case "53100": // disk_full
		// Said as the system says it, as store/sqlite says SQLITE_FULL:
		// a pool halts on it (the run left to resume) rather than
		// taking the server's full disk for a task's failure.
		return fmt.Errorf("%w: %w", syscall.ENOSPC, pe)
	}
	return err
}

// noRows reports whether err is a QueryRow that found nothing.
func noRows(err error) bool { return errors.Is(err, pgx.ErrNoRows) }

// nanos encodes a time for storage: Unix nanoseconds, NULL for the zero time.
func nanos(t time.Time) *int64 {
	if t.IsZero() {
		return nil
	}
	n := t.UnixNano()
	return &n
}

// fromNanos decodes a stored time.
func fromNanos(n *int64) time.Time {
	if n == nil {
		return time.Time{}
	}
	return time.Unix(0, *n).UTC()
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// rawJSON stores raw JSON bytes as text, NULL when empty.
func rawJSON(b []byte) *string {
	if len(b) == 0 {
		return nil
	}
	s := string(b)
	return &s
}

// WriteStats counts the store's statements and committed transactions
// since Open.
type WriteStats struct {
	Statements   int64
	Transactions int64
}

// WriteStats returns the counts so far.
func (s *Store) WriteStats() WriteStats {
	return WriteStats{Statements: s.stmts.Load(), Transactions: s.txs.Load()}
}
