package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/mattn/go-sqlite3"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/internal/durable"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/store/internal/sqlrow"
)

var _ scheduler.Store = (*Store)(nil)

// Store is a scheduler.Store backed by one SQLite database file. It is safe
// for concurrent use.
type Store struct {
	path string
	w    *sqlx.DB // exactly one connection: the writer (read-only with ReadOnly)
	// wc is w's one connection, held from Open to Close: every write
	// transaction runs on it, begun and committed as statements (see
	// runBatch), and the writer's statements are prepared on it once.
	// Anything else that uses it takes wmu (onWriter), as runBatch does.
	wc  *sql.Conn
	wmu sync.Mutex
	// begin is the statement that begins a write transaction: BEGIN
	// IMMEDIATE (the write lock at once), plain BEGIN in a ReadOnly store.
	begin string
	r     *sqlx.DB // read-only pool
	lock  *os.File // holds the shared flock; closed last

	leaveWAL bool // LeaveWALOnClose

	// ckpt copies the write-ahead log into the database file in the
	// background (checkpoint.go); nil in a read-only store.
	ckpt *checkpointer

	mu     sync.Mutex
	wstmt  map[string]*sql.Stmt // prepared on the writer connection, wc
	closed bool
	rstmt  map[string]*sql.Stmt // prepared on the read pool
	// xstmt are the statements exec runs, prepared on wc's driver
	// connection itself (see exec); xargs is exec's list of arguments,
	// reused. Only the holder of wmu uses them (Close, once no write is
	// in flight).
	xstmt map[string]*sqlite3.SQLiteStmt
	xargs []driver.NamedValue
	// xall is rawRows' and stepFused's list of every argument, reused.
	xall []driver.NamedValue
	// tdec decodes the task runs a write returns (completeMany), its
	// storage kept from one transaction to the next; only the holder of
	// wmu uses it.
	tdec sqlrow.TaskDecoder
	// checkKnown, set by tests only, is given each task run completeMany
	// built from a known one (sqlrow.Finish.Completed) rather than read,
	// in the completion's transaction: it compares it with the row.
	checkKnown func(ctx context.Context, tx *sql.Conn, built *cairn.TaskRun) error
	// wargs is the list of values the set-based writes build (argList),
	// kept from one statement to the next; only the holder of wmu uses
	// it.
	wargs []any

	// Group commit (see inTx): write requests queue here; one caller at a
	// time leads, running the queued requests in one transaction.
	qmu      sync.Mutex
	queue    []*txReq
	leading  bool
	wclosed  bool
	inflight sync.WaitGroup

	writeCounters // WriteStats

	// silent are runs this store created without notify: targets (see
	// noteSilent): their end writes no alert, and the statement that
	// would write them is not run.
	silent silentRuns
}

// txReq is one caller's write transaction, waiting for its turn.
type txReq struct {
	ctx context.Context // the caller's: checked before fn runs, never passed to it
	fn  txFn
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
	readOnly    bool
	noLock      bool // restore holds the exclusive lock itself
	created     bool // Open made the file just now (with the schema if migrate)
	leaveWAL    bool
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

// ReadOnly opens an existing database for reading only, for the commands
// that only look (runs, show, logs, artifact): it creates no file (not the
// database, nor its parent folder), applies no migration and works in a
// folder the process may not write to. Writes fail. Open then fails with
// an error wrapping fs.ErrNotExist if there is no database at path, and
// with a *SchemaVersionError if its schema is not this binary's.
func ReadOnly() Option { return func(o *options) { o.readOnly, o.migrate = true, false } }

// WithBusyTimeout sets how long a statement waits for another process's
// lock before failing (default 5s).
func WithBusyTimeout(d time.Duration) Option { return func(o *options) { o.busyTimeout = d } }

// WithReadConns sets the size of the read-only connection pool (default 4,
// minimum 1).
func WithReadConns(n int) Option { return func(o *options) { o.readConns = max(n, 1) } }

// LeaveWALOnClose makes Close leave the write-ahead log as it is, for the
// next process that opens the database, rather than copy it into the
// database file and delete it, as SQLite does when the last connection to
// a database closes: that costs two fsyncs, and the next process then
// makes the -wal and -shm files anew (file creation is slow on some
// disks) and syncs the new log and its folder at its first commit. Every
// commit is in the log, which the next opener reads back; SQLite still
// copies the log into the database as it grows (every 1000 pages), and
// Close lets it do so when the log is larger than 1 MiB. It is
// for a process that exits right after Close (a command): Close then
// leaves the store's connections and statements open, until the process
// exits, which keeps SQLite from checkpointing and spares the process
// their closing (freeing each connection's schema and caches, finalizing
// each statement: 4 % of the instructions of a one-task cairn run), which
// its exit does at no cost. Durability is unchanged: a commit survives a
// crash of the process either way, and with synchronous=NORMAL (the
// default) the last commits may be lost on power loss either way.
func LeaveWALOnClose() Option { return func(o *options) { o.leaveWAL = true } }

// ErrNotCairn is wrapped by Open's error for a file that is not a Cairn
// database: empty (0 bytes), not SQLite, or SQLite with other tables.
var ErrNotCairn = errors.New("not a Cairn database")

// ErrInUse is wrapped by the error of an exclusive operation (Restore) on
// a database that a process has open, and by Open's error while a restore
// holds the database.
var ErrInUse = errors.New("database in use")

// Open opens the SQLite database at path in WAL mode with foreign keys on,
// and applies pending migrations unless WithoutMigrations is given. A
// database that does not exist is created, with its parent folder, private
// to the user (the folder 0700, the file — and so its WAL and shared-memory
// files, which SQLite creates with the database's mode — 0600, whatever
// the umask); an existing one readable by others is made 0600.
//
// It refuses a file that is not a Cairn database (ErrNotCairn: empty, not
// SQLite, or a SQLite database without Cairn's schema_migrations table)
// rather than treating it as new, fails with a *SchemaVersionError if the
// database's schema is newer than this binary, and with ErrInUse while
// 'cairn restore' replaces the file. The store holds a shared lock (flock)
// on the file until Close, which Restore checks.
func Open(ctx context.Context, path string, opts ...Option) (*Store, error) {
	o := options{migrate: true, busyTimeout: 5 * time.Second, readConns: 4}
	for _, opt := range opts {
		opt(&o)
	}
	if path == "" || path == ":memory:" || strings.ContainsAny(path, "?#") || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("open sqlite store: path %q must name a file (no URI, '?' or '#')", path)
	}
	memstatusOff()       // before any connection (prepareFile may open one)
	walWatchRegistered() // likewise
	created, err := prepareFile(ctx, path, o.readOnly, o.migrate)
	if err != nil {
		return nil, err
	}
	o.created = created
	tuneMalloc()
	var lock *os.File
	if !o.noLock {
		if lock, err = lockShared(path); err != nil {
			return nil, err
		}
	}
	s, err := open(ctx, path, o)
	if err != nil {
		if lock != nil {
			lock.Close()
		}
		return nil, err
	}
	s.lock = lock
	s.leaveWAL = o.leaveWAL && !o.readOnly
	return s, nil
}

// makePrivate makes the database at path, and its WAL and shared-memory
// files, private to the user (0600) if they are not and the user owns
// them. Only a file known to be Cairn's has its mode changed: a database
// made by an older cairn (or copied in) may be readable by others, and it
// holds the runs' params.
func makePrivate(path string) error {
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if fi, err := os.Stat(p); err == nil && fi.Mode().Perm()&0o077 != 0 && ownedByMe(fi) {
			if err := os.Chmod(p, 0o600); err != nil {
				return fmt.Errorf("make it private: %w", err)
			}
		}
	}
	return nil
}

// prepareFile checks the file at path before SQLite opens it, and creates
// it when it is missing and the store may write, reporting so; with
// schema, the new database has every migration applied.
func prepareFile(ctx context.Context, path string, readOnly, schema bool) (created bool, err error) {
	st, err := os.Stat(path)
	switch {
	case err == nil && st.IsDir():
		return false, fmt.Errorf("open sqlite store %s: is a directory, not a database file", path)
	case err == nil && st.Size() == 0:
		return false, fmt.Errorf("open sqlite store %s: the file is empty (0 bytes): %w; remove it, or point --db at the right file", path, ErrNotCairn)
	case err == nil:
		return false, nil
	case !errors.Is(err, fs.ErrNotExist):
		return false, fmt.Errorf("open sqlite store %s: %w", path, err)
	case readOnly:
		return false, fmt.Errorf("open sqlite store %s: no database there: %w", path, err)
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return false, fmt.Errorf("open sqlite store %s: %w", path, err)
		}
	}
	if err := create(ctx, path, schema); err != nil {
		return false, fmt.Errorf("open sqlite store %s: create: %w", path, err)
	}
	return true, nil
}

// ownedByMe reports whether this process's user owns the file.
func ownedByMe(fi fs.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && int(st.Uid) == os.Geteuid()
}

// create makes a new WAL database at path, 0600 whatever the umask (SQLite
// gives its -wal and -shm files the database file's mode): empty, or with
// schema every migration applied. It builds it under another name and
// links it into place, so that path never holds a half-made file (which
// Open would refuse as empty) nor a half-migrated one; if another process
// created path meanwhile, that one stays. With schema it is written from
// the image of a new database (newImage), which SQLite need not open;
// without one at this binary's version, or without schema, SQLite builds
// it. Nobody else sees the file while it is built, so it is built without
// a rollback journal and without an fsync per step: one fsync makes it
// durable before it is linked, so that not even a power loss can leave a
// half-written file at path (see architecture.md, "The store").
func create(ctx context.Context, path string, schema bool) error {
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".new-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	err = f.Chmod(0o600) // a umask of 0277 would leave the owner unable to write
	if image, ok := newImage(); ok && schema && err == nil {
		// The image is the whole file, in WAL mode: SQLite need not
		// open it.
		if err = image.writeTo(f); err == nil {
			createStep("written")
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		createStep("synced")
		return link(tmp, path)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	db, err := sql.Open("sqlite3", tmp+"?_journal_mode=OFF&_synchronous=OFF")
	if err != nil {
		return err
	}
	db.SetMaxOpenConns(1)
	if schema {
		err = createSchema(ctx, db, true)
	}
	if err == nil {
		var mode string
		err = translate(db.QueryRowContext(ctx, "PRAGMA journal_mode=WAL").Scan(&mode))
		if err == nil && !strings.EqualFold(mode, "wal") {
			err = fmt.Errorf("journal mode is %q, not wal", mode)
		}
	}
	if cerr := db.Close(); err == nil {
		err = translate(cerr)
	}
	if err == nil {
		err = durable.Sync(tmp)
	}
	if err != nil {
		return err
	}
	return link(tmp, path)
}

// createStep is called at each step of create's writing of an image
// (tests kill the process there).
var createStep = func(step string) {}

// link puts the new database tmp at path, unless another process made
// one there meanwhile: that one stays.
func link(tmp, path string) error {
	if err := os.Link(tmp, path); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return nil
}

// open opens the connections on a checked file.
func open(ctx context.Context, path string, o options) (*Store, error) {
	syncMode := "NORMAL"
	if o.syncFull {
		syncMode = "FULL"
	}
	q := url.Values{}
	q.Set("_foreign_keys", "on")
	q.Set("_busy_timeout", strconv.FormatInt(o.busyTimeout.Milliseconds(), 10))
	q.Set("_synchronous", syncMode)
	// database/sql hands a connection to one goroutine at a time (its
	// driver.Conn contract), so SQLite's own per-connection mutex —
	// go-sqlite3 opens FULLMUTEX by default: a lock and an unlock around
	// every bind, step and column call — guards nothing here.
	// sqlite3_interrupt, which go-sqlite3 calls from another goroutine on
	// a cancelled context, takes no mutex either way.
	q.Set("_mutex", "no")
	if vfs := walVFS(); vfs != "" {
		q.Set("vfs", vfs)
	}
	dsn := path + "?"
	if o.readOnly {
		// mode=ro: SQLite opens the file read-only and creates nothing
		// but, in WAL mode, the -shm file (see readOnlyConns).
		q.Set("mode", "ro")
		q.Set("_query_only", "1")
		q.Set("_txlock", "deferred")
		dsn = "file:" + strings.ReplaceAll(path, "%", "%25") + "?"
	} else {
		// No _journal_mode here: the writer looks at the file before it
		// changes anything (a foreign database must not be turned to WAL
		// mode), then sets it (below).
		q.Set("_txlock", "immediate")
	}
	w, err := sqlx.Open("sqlite3", dsn+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	s := &Store{path: path, w: w, wstmt: map[string]*sql.Stmt{}, rstmt: map[string]*sql.Stmt{}, xstmt: map[string]*sqlite3.SQLiteStmt{}}
	fail := func(err error) (*Store, error) {
		s.Close()
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}
	// A database at this binary's schema is known to be Cairn's and to
	// need no migration from one read (upToDate); a new one Open just made
	// has the schema. Anything else is checked, then migrated or refused.
	current := o.created && o.migrate
	if o.readOnly {
		if err := s.readOnlyConns(ctx, dsn, q); err != nil {
			return fail(err)
		}
	} else {
		if !o.created {
			if current = upToDate(ctx, w.DB); !current {
				longOpens.Add(1)
				if err := checkCairn(ctx, w.DB, false); err != nil {
					return fail(err)
				}
			}
			if err := makePrivate(path); err != nil {
				return fail(err)
			}
		}
		// WAL mode is kept in the file: this changes nothing but in a
		// database a cairn made before it used WAL, or one copied in.
		var mode string
		if err := w.QueryRowContext(ctx, "PRAGMA journal_mode=WAL").Scan(&mode); err != nil {
			return fail(notCairn(err))
		}
		if !strings.EqualFold(mode, "wal") {
			return fail(fmt.Errorf("journal mode is %q, not wal", mode))
		}
	}
	if o.readOnly {
		if current = upToDate(ctx, s.w.DB); !current {
			longOpens.Add(1)
			if err := checkCairn(ctx, s.w.DB, true); err != nil {
				return fail(err)
			}
		}
	}
	if s.r == nil {
		q.Set("_txlock", "deferred")
		q.Set("_query_only", "1")
		r, err := sqlx.Open("sqlite3", dsn+q.Encode())
		if err != nil {
			return fail(err)
		}
		s.r = r
	}
	s.r.SetMaxOpenConns(o.readConns)
	s.r.SetMaxIdleConns(o.readConns)
	s.r.SetConnMaxLifetime(0)
	s.r.SetConnMaxIdleTime(0)

	s.begin = "BEGIN IMMEDIATE"
	if o.readOnly {
		s.begin = "BEGIN"
	}
	wc, err := s.w.Conn(ctx)
	if err != nil {
		return fail(err)
	}
	s.wc = wc
	if !o.readOnly {
		// A statement that may abort its own rows alone (an INSERT of
		// many rows into a table with a foreign key: CreateRun's task
		// runs, the attempts of a completion batch) keeps a statement
		// journal, a copy of each page it changes; past 64 KiB SQLite
		// spills it to a temporary file (two pwrites a page: a run of
		// 10,000 tasks wrote 1,900 pages to /var/tmp as it was created).
		// In memory it is never written.
		if _, err := wc.ExecContext(ctx, "PRAGMA temp_store = MEMORY"); err != nil {
			return fail(translate(err))
		}
		// SQLite writes a restarted log over the old one from its
		// beginning and never shrinks the file: after a reader held a
		// snapshot through a burst of writes (the log cannot restart
		// meanwhile), a server's -wal file stayed at its largest, 38–129
		// MB. With a limit, the first commit after a restart truncates
		// it to that; the checkpointer keeps a log under 8,000 frames
		// (33 MB) otherwise, which the limit leaves alone.
		if _, err := wc.ExecContext(ctx, "PRAGMA journal_size_limit = "+strconv.Itoa(walSizeLimit)); err != nil {
			return fail(translate(err))
		}
		if err := s.watchWAL(ctx, dsn+q.Encode()); err != nil {
			return fail(err)
		}
	}

	if o.migrate && !current {
		if _, err := s.Migrate(ctx); err != nil {
			return fail(err)
		}
	}
	if o.readOnly && !current {
		if err := s.checkVersion(ctx); err != nil {
			return fail(err)
		}
	}
	return s, nil
}

// readOnlyConns makes the read-only store's connections work where the
// process cannot write. A WAL database needs its -shm file: SQLite reads
// one that exists (even read-only) and creates one otherwise. In a folder
// it cannot write to, with no -shm there (the last writer closed cleanly
// and removed it, and with it the -wal file), the database file alone is
// complete: it is then opened immutable, which needs no -shm.
func (s *Store) readOnlyConns(ctx context.Context, dsn string, q url.Values) error {
	var n int
	err := s.w.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master").Scan(&n)
	if err == nil {
		return nil
	}
	var se sqlite3.Error
	walGone := true
	for _, p := range []string{s.path + "-wal", s.path + "-shm"} {
		if _, err := os.Stat(p); err == nil {
			walGone = false
		}
	}
	if !errors.As(err, &se) || (se.Code != sqlite3.ErrCantOpen && se.Code != sqlite3.ErrReadonly) || !walGone {
		return notCairn(err)
	}
	s.w.Close()
	q.Set("immutable", "1")
	w, err := sqlx.Open("sqlite3", dsn+q.Encode())
	if err != nil {
		return err
	}
	w.SetMaxOpenConns(1)
	s.w = w
	if err := w.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master").Scan(&n); err != nil {
		return notCairn(err)
	}
	r, err := sqlx.Open("sqlite3", dsn+q.Encode())
	if err != nil {
		return err
	}
	s.r = r
	return nil
}

// notCairn turns SQLite's "file is not a database" into ErrNotCairn.
func notCairn(err error) error {
	var se sqlite3.Error
	if errors.As(err, &se) && se.Code == sqlite3.ErrNotADB {
		return fmt.Errorf("the file is not a SQLite database: %w", ErrNotCairn)
	}
	return translate(err)
}

// checkCairn refuses a SQLite database that is not Cairn's: one with
// tables but no schema_migrations.
func checkCairn(ctx context.Context, db *sql.DB, readOnly bool) error {
	rows, err := db.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`)
	if err != nil {
		return notCairn(err)
	}
	defer rows.Close()
	var names []string
	ours := false
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return translate(err)
		}
		ours = ours || n == "schema_migrations"
		names = append(names, n)
	}
	if err := rows.Err(); err != nil {
		return notCairn(err)
	}
	switch {
	case ours:
		return nil
	case len(names) == 0 && !readOnly:
		return nil // a new database: Migrate makes it Cairn's
	case len(names) == 0:
		return fmt.Errorf("a SQLite database without tables: %w; run a workflow or 'cairn migrate' first", ErrNotCairn)
	}
	if len(names) > 5 {
		names = append(names[:5], "…")
	}
	return fmt.Errorf("a SQLite database without Cairn's schema_migrations table (it has %s): %w; point --db at a Cairn database",
		strings.Join(names, ", "), ErrNotCairn)
}

// checkVersion fails when a store that cannot migrate is not at this
// binary's schema version.
func (s *Store) checkVersion(ctx context.Context) error {
	latest, err := latestVersion()
	if err != nil {
		return err
	}
	v, err := s.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	switch {
	case v > latest:
		return &SchemaVersionError{Database: v, Binary: latest}
	case v < latest:
		return &SchemaVersionError{Database: v, Binary: latest, Older: true}
	}
	return nil
}

// lockShared takes a shared flock on the database file for the store's
// life: Restore takes it exclusively, so it never replaces a database in
// use. flock locks are apart from SQLite's POSIX locks; the descriptor
// stays open until after SQLite's are closed (closing another descriptor
// of the file would drop SQLite's POSIX locks).
func lockShared(path string) (*os.File, error) {
	for {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err != nil {
			f.Close()
			if errors.Is(err, syscall.EWOULDBLOCK) {
				return nil, fmt.Errorf("open sqlite store %s: 'cairn restore' is replacing it: %w; try again when it ends", path, ErrInUse)
			}
			return nil, fmt.Errorf("open sqlite store %s: lock: %w", path, err)
		}
		// A restore may have renamed a new file into place between the
		// open and the lock: then lock that one.
		held, err1 := f.Stat()
		now, err2 := os.Stat(path)
		if err1 == nil && err2 == nil && os.SameFile(held, now) {
			return f, nil
		}
		f.Close()
		if err2 != nil {
			return nil, fmt.Errorf("open sqlite store %s: %w", path, err2)
		}
	}
}

// Close closes the store's connections (see LeaveWALOnClose for a store
// that leaves them open). Calls in flight may fail.
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
	var ckptErr error
	if s.ckpt != nil {
		ckptErr = s.ckpt.close()
	}
	if s.leaveWAL && !walLarge(s.path) {
		s.leaveOpen()
		if s.lock != nil {
			ckptErr = errors.Join(ckptErr, s.lock.Close())
		}
		if ckptErr != nil {
			return fmt.Errorf("close sqlite store %s: %w", s.path, ckptErr)
		}
		return nil
	}
	s.mu.Lock()
	for _, st := range s.wstmt {
		st.Close()
	}
	for _, st := range s.rstmt {
		st.Close()
	}
	s.wstmt, s.rstmt = map[string]*sql.Stmt{}, map[string]*sql.Stmt{}
	xstmt := s.xstmt
	s.xstmt = map[string]*sqlite3.SQLiteStmt{}
	s.mu.Unlock()
	if s.wc != nil && len(xstmt) > 0 {
		// Finalized on the connection they were prepared on, before it
		// closes.
		_ = s.wc.Raw(func(any) error {
			for _, st := range xstmt {
				st.Close()
			}
			return nil
		})
	}
	errs := []error{ckptErr}
	if s.r != nil {
		errs = append(errs, s.r.Close())
	}
	if s.wc != nil {
		errs = append(errs, s.wc.Close())
	}
	errs = append(errs, s.w.Close())
	if s.lock != nil {
		errs = append(errs, s.lock.Close())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close sqlite store %s: %w", s.path, err)
	}
	return nil
}

// Settle tells the store that its writes are over for a while (a command
// about to read what it wrote, print it and close): its checkpointer
// copies the write-ahead log into the database now, beside the reads, so
// that Close does not (see checkpointer.settle). Nothing waits for it;
// a write after it is as safe as before.
func (s *Store) Settle() {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if s.ckpt != nil && !closed {
		s.ckpt.settle()
	}
}

// maxLeftWAL is the size above which LeaveWALOnClose lets SQLite
// checkpoint the log after all: the next opener reads back the whole log
// (about 1.5 µs a page), so a large log costs it more than the fsyncs of
// a checkpoint cost this process. 1 MiB is about 250 pages, the writes of
// about seven one-task runs.
const maxLeftWAL = 1 << 20

// walLarge reports whether the log of the database at path is larger than
// maxLeftWAL.
func walLarge(path string) bool {
	fi, err := os.Stat(path + "-wal")
	return err == nil && fi.Size() > maxLeftWAL
}

// leftOpen keeps the stores that LeaveWALOnClose leaves open until the
// process exits: reachable, their connections and statements are never
// closed by a finalizer (go-sqlite3 sets one on each), which would
// checkpoint the log.
var leftOpen struct {
	sync.Mutex
	stores []*Store
}

// leaveOpen leaves the store's connections and statements open for the
// rest of the process, idle (every write has returned): none of its
// connections is closed, so none is the database's last, and SQLite
// leaves the log alone. The file lock is closed all the same, which
// Restore checks; with it go the POSIX locks SQLite holds on the database
// file, as when a process exits, while its lock on the -shm file, which
// tells the other processes that one still uses the log, stays until the
// process exits.
func (s *Store) leaveOpen() {
	leftOpen.Lock()
	leftOpen.stores = append(leftOpen.stores, s)
	leftOpen.Unlock()
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

// reading runs read with query prepared on the writer's connection if no
// write holds it and the read pool has not opened a connection yet, else
// on the read pool. A connection's opening parses the whole schema (2.2M
// instructions, a tenth of a one-task cairn run's): a process whose reads
// never meet a write — a one-task run's — opens none but the writer,
// while one whose reads do meet writes reads beside them, on the pool,
// from the first time one does. read must run its statement on the ctx
// it is given, be done with it (its rows closed) when it returns, and not
// write. On the writer that ctx is never cancelled, as a write's (see
// txFn): go-sqlite3 interrupts a cancelled statement's connection from
// another goroutine, which could come after the read, in the next write's
// transaction; a read on the writer is not begun once ctx is done.
func (s *Store) reading(ctx context.Context, query string, read func(ctx context.Context, st *sql.Stmt) error) error {
	if s.r.Stats().OpenConnections == 0 && s.wmu.TryLock() {
		defer s.wmu.Unlock()
		if err := ctx.Err(); err != nil {
			return err
		}
		ctx = context.WithoutCancel(ctx)
		st, err := s.txStmt(ctx, s.wc, query)
		if err != nil {
			return err
		}
		return read(ctx, st)
	}
	st, err := s.readStmt(ctx, query)
	if err != nil {
		return err
	}
	return read(ctx, st)
}

// txStmt returns query prepared on the writer connection tx (wc),
// preparing it the first time it is met (SQLite prepares a statement as
// well inside a transaction as outside). Only the holder of wmu calls it.
func (s *Store) txStmt(ctx context.Context, tx *sql.Conn, query string) (*sql.Stmt, error) {
	s.mu.Lock()
	st, ok := s.wstmt[query]
	closed := s.closed
	s.mu.Unlock()
	if ok {
		return st, nil
	}
	if closed {
		return nil, errors.New("store is closed")
	}
	st, err := tx.PrepareContext(ctx, query)
	if err != nil {
		return nil, translate(err)
	}
	s.mu.Lock()
	s.wstmt[query] = st
	s.mu.Unlock()
	return st, nil
}

// onWriter runs fn on the writer connection outside any write
// transaction: it waits for the one in progress to end.
func (s *Store) onWriter(fn func(c *sql.Conn) error) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return fn(s.wc)
}

// txFn is the body of a write transaction. tx is the writer's
// connection, inside the transaction (runBatch begins and ends it): fn
// must neither commit nor roll back, nor keep tx past its return. It runs
// on the transaction's own context, given as ctx, never on the caller's:
// a caller's cancellation must not interrupt statements that share a
// transaction with other callers' writes (go-sqlite3 interrupts the
// connection, and the whole transaction is rolled back). That context is
// never cancelled, so neither database/sql nor the driver starts a
// goroutine to watch it.
type txFn func(ctx context.Context, tx *sql.Conn) error

// inTx runs fn in a write transaction (BEGIN IMMEDIATE): its changes are
// committed if it returns nil and undone otherwise. Calls made at the same
// time share one transaction (group commit), each inside its own
// savepoint, so one caller's failure undoes only its own changes; every
// caller returns only after the commit that made its changes durable.
//
// There is no writer goroutine: the first caller to find no one leading
// runs the queued batch itself, so an uncontended write costs no hand-off
// between goroutines; once its own request is done it passes the lead to
// the oldest waiter. ctx is checked when the call joins the queue and
// again just before its turn (a call cancelled while it waited does not
// run); once it runs, it runs to its end on the transaction's context,
// whatever becomes of ctx, so its outcome is never unknown and it never
// aborts the writes it shares the transaction with.
func (s *Store) inTx(ctx context.Context, fn txFn) error {
	return s.write(ctx, fn, false)
}

// inTxCAS is inTx for a fn whose first write is a compare-and-set that
// writes nothing when it is refused (see txReq.casFirst): it saves the
// savepoint a shared transaction would otherwise wrap it in. Complete,
// Lease and the like are on every hop of a run.
func (s *Store) inTxCAS(ctx context.Context, fn txFn) error {
	return s.write(ctx, fn, true)
}

func (s *Store) write(ctx context.Context, fn txFn, casFirst bool) error {
	if err := ctx.Err(); err != nil {
		return err
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

// batchTx is the transaction of a Batch in progress: the scheduler.Tx
// its fn writes through.
type batchTx struct {
	s      *Store
	ctx    context.Context // the transaction's own
	tx     *sql.Conn
	broken error // a savepoint failed: the transaction cannot be trusted
}

var _ scheduler.Tx = (*batchTx)(nil)

// run runs one call of the batch so that a call that fails (a lease lost,
// a conflict) undoes only its own writes.
func (b *batchTx) run(fn txFn, casFirst bool) error {
	if b.broken != nil {
		return b.broken
	}
	ferr, fatal := b.s.runIn(b.ctx, b.tx, fn, casFirst)
	if fatal != nil {
		b.broken = fmt.Errorf("batch transaction aborted: %w", fatal)
		return b.broken
	}
	return ferr
}

// Batch runs fn so that the writes it makes through tx commit together in
// one transaction once fn returns nil; if fn returns an error, none of
// them do. Each call keeps its own all-or-nothing behaviour (a refused
// Complete changes nothing), so fn may carry on after one fails. The
// calls run in order and each sees the writes of those before it. ctx is
// checked only before the batch runs (see inTx).
func (s *Store) Batch(ctx context.Context, fn func(tx scheduler.Tx) error) error {
	return s.inTx(ctx, func(ctx context.Context, tx *sql.Conn) error {
		b := &batchTx{s: s, ctx: ctx, tx: tx}
		err := fn(b)
		if err == nil {
			err = b.broken
		}
		return err
	})
}

// runBatch runs the requests in one transaction and tells each its outcome.
//
// The transaction is the writer connection's own, begun and ended by
// statements (BEGIN IMMEDIATE, COMMIT, ROLLBACK) on wc, not a database/sql
// Tx: a Tx starts a goroutine to watch its context, and every query in it
// another one to watch the Tx's (four goroutines, and as many wake-ups of
// another thread, on each hop of a chain), for a context that nothing
// here cancels.
func (s *Store) runBatch(batch []*txReq) {
	ctx := context.Background()
	errs := make([]error, len(batch))
	s.wmu.Lock()
	defer s.wmu.Unlock()
	tx := s.wc
	if err := s.control(ctx, tx, s.begin); err != nil {
		err = translate(err)
		for _, r := range batch {
			r.done <- txResult{err: err}
		}
		return
	}
	ok := 0
	for i, r := range batch {
		if err := r.ctx.Err(); err != nil {
			errs[i] = err // cancelled while it waited: it does not run
			continue
		}
		if len(batch) == 1 {
			errs[i] = guard(ctx, r.fn, tx)
		} else {
			var fatal error
			errs[i], fatal = s.runIn(ctx, tx, r.fn, r.casFirst)
			if fatal != nil {
				// The transaction's state is unknown: undo all of it.
				s.rollback(ctx)
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
		s.rollback(ctx) // nothing to keep; the errors that matter are the callers'
	} else if err := s.control(ctx, tx, "COMMIT"); err != nil {
		// SQLite may leave the transaction open after a failed COMMIT
		// (SQLITE_BUSY): end it, as go-sqlite3's Tx.Commit does.
		s.rollback(ctx)
		err = translate(err)
		for i := range errs {
			if errs[i] == nil {
				errs[i] = err
			}
		}
	} else {
		s.txs.Add(1)
	}
	for i, r := range batch {
		r.done <- txResult{err: errs[i]}
	}
}

// control runs BEGIN (IMMEDIATE) or COMMIT on the writer connection tx,
// prepared there once, like the transactions' own statements: run as
// text, each was parsed again at every transaction (two parses a hop of a
// chain). Only the holder of wmu calls it.
func (s *Store) control(ctx context.Context, tx *sql.Conn, text string) error {
	if tx == s.wc && ctx.Done() == nil {
		_, err := s.rawExec(text, nil)
		return err
	}
	st, err := s.txStmt(ctx, tx, text)
	if err != nil {
		return err
	}
	_, err = st.ExecContext(ctx)
	return err
}

// rollback undoes the writer's transaction in progress. SQLite may have
// ended it already (some errors roll the transaction back themselves):
// ROLLBACK then fails with nothing to undo, which is what was wanted.
func (s *Store) rollback(ctx context.Context) {
	_, _ = s.wc.ExecContext(ctx, "ROLLBACK")
}

// runIn runs fn inside a shared transaction so that its failure undoes only
// its own changes: in a savepoint, unless casFirst says a refusal writes
// nothing. A failure that is not a refusal then leaves the transaction in
// an unknown state, which is fatal.
func (s *Store) runIn(ctx context.Context, tx *sql.Conn, fn txFn, casFirst bool) (ferr, fatal error) {
	if !casFirst {
		return s.inSavepoint(ctx, tx, fn)
	}
	ferr = guard(ctx, fn, tx)
	if ferr != nil && !refusal(ferr) {
		return ferr, ferr
	}
	return ferr, nil
}

// errPanicked marks a transaction body that panicked.
var errPanicked = errors.New("panic inside a write transaction")

// guard runs fn, turning a panic into an error: the caller leading a shared
// transaction must not die halfway and leave every other writer waiting.
func guard(ctx context.Context, fn txFn, tx *sql.Conn) (err error) {
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

// inSavepoint runs fn so that its changes can be undone alone. It returns
// fn's error, and a fatal error when the savepoint itself failed and the
// transaction can no longer be trusted.
func (s *Store) inSavepoint(ctx context.Context, tx *sql.Conn, fn txFn) (ferr, fatal error) {
	s.stmts.Add(1)
	if _, err := tx.ExecContext(ctx, "SAVEPOINT req"); err != nil {
		return nil, translate(err)
	}
	if ferr = guard(ctx, fn, tx); ferr != nil {
		s.stmts.Add(1)
		if _, err := tx.ExecContext(ctx, "ROLLBACK TO req"); err != nil {
			return ferr, translate(err)
		}
	}
	s.stmts.Add(1)
	if _, err := tx.ExecContext(ctx, "RELEASE req"); err != nil {
		return ferr, translate(err)
	}
	return ferr, nil
}

// query runs a prepared statement that returns rows (a SELECT, or a write
// with RETURNING) in tx.
func (s *Store) query(ctx context.Context, tx *sql.Conn, query string, args ...any) (*sql.Rows, error) {
	st, err := s.txStmt(ctx, tx, query)
	if err != nil {
		return nil, err
	}
	s.stmts.Add(1)
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return nil, translate(err)
	}
	return rows, nil
}

// exec runs a prepared statement in tx and returns the rows it affected.
func (s *Store) exec(ctx context.Context, tx *sql.Conn, query string, args ...any) (int64, error) {
	if tx == s.wc && ctx.Done() == nil {
		return s.execRaw(query, args)
	}
	st, err := s.txStmt(ctx, tx, query)
	if err != nil {
		return 0, err
	}
	s.stmts.Add(1)
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

// execRaw is exec on the writer's driver connection, past database/sql:
// a statement of a write transaction runs on a context nothing cancels,
// and database/sql's part of it was a []driver.NamedValue allocated for
// every statement (the writes of a completion batch bind about 40 values a
// task, most of them the NULLs of the padded lists: 14 % of the bytes a
// fan of noop tasks allocated) and each value converted through
// reflection. The values are converted as database/sql converts them
// (driver.DefaultParameterConverter: go-sqlite3 has no converter of its
// own), and a NULL is not bound at all: go-sqlite3 clears a statement's
// bindings before it binds, so every value not bound is NULL already (one
// cgo call less per NULL). Only the holder of wmu calls it.
func (s *Store) execRaw(query string, args []any) (int64, error) {
	s.stmts.Add(1)
	n, err := s.rawExec(query, args)
	if err != nil {
		return 0, translate(err)
	}
	return n, nil
}

// rawExec is execRaw without its count and its translation of errors:
// control's BEGIN and COMMIT run there too.
func (s *Store) rawExec(query string, args []any) (n int64, err error) {
	fused := false
	err = s.onRaw(query, args, func(st *sqlite3.SQLiteStmt, nv []driver.NamedValue) error {
		if len(nv) >= fusedExecMin && fusedBytes(nv) <= fusedExecMaxBytes {
			fused = true
			return s.stepFused(st, nv, len(args))
		}
		res, err := st.ExecContext(context.Background(), nv)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil || !fused {
		return n, err
	}
	// The rows it changed, as sqlite3_changes counts them for the exec
	// path: a statement of its own, past its end.
	found := false
	err = s.rawRows(changesQuery, nil, 1, func(v []driver.Value) error {
		c, ok := v[0].(int64)
		if !ok {
			return fmt.Errorf("sql: changes() returned a %T", v[0])
		}
		n, found = c, true
		return errFirstRow
	})
	if errors.Is(err, errFirstRow) {
		err = nil
	}
	if err == nil && !found {
		err = errors.New("sql: changes() returned no row")
	}
	return n, err
}

// changesQuery reads the rows the writer's last INSERT, UPDATE or DELETE
// changed.
const changesQuery = "SELECT changes()"

// fusedExecMin is the number of values bound from which rawExec runs a
// statement through go-sqlite3's query path, which binds every value and
// steps in one cgo call, rather than its exec path, which makes one cgo
// call a value (a completion batch's INSERT of 256 ended attempts binds
// about 3,800: 10,000 noop tasks, 150,000 calls). The count of rows it
// changed then takes a statement of its own (SELECT changes()): two calls
// more.
const fusedExecMin = 8

// fusedExecMaxBytes bounds the text and bytes a statement binds through
// stepFused: go-sqlite3's query path copies them into a buffer of the
// statement's own, kept, at its largest, as long as the statement (a
// prepared write lives as long as its store: a server's, for days). A
// larger write binds through the exec path, which SQLite copies per call.
const fusedExecMaxBytes = 1 << 20

// fusedBytes is the text and bytes of nv.
func fusedBytes(nv []driver.NamedValue) int {
	n := 0
	for _, v := range nv {
		switch t := v.Value.(type) {
		case string:
			n += len(t)
		case []byte:
			n += len(t)
		}
	}
	return n
}

// stepFused runs st, a statement that returns no rows, with the values nv
// of its width arguments through go-sqlite3's query path, which binds in
// one call only a list holding every argument in order (allArgs).
// Resetting it (closing its rows) completes it for changes().
func (s *Store) stepFused(st *sqlite3.SQLiteStmt, nv []driver.NamedValue, width int) error {
	all := s.allArgs(nv, width)
	defer s.keepAll(all)
	rows, err := st.QueryContext(context.Background(), all)
	if err != nil {
		return err
	}
	if err := rows.Close(); err != nil {
		return err
	}
	if n := len(rows.Columns()); n != 0 {
		return fmt.Errorf("sql: a statement run as exec returned %d columns", n)
	}
	return nil
}

// allArgs is nv, the values onRaw bound of a statement's width
// arguments, with the NULLs it left out put back in their places: the list
// go-sqlite3 binds in one call (see fusedExecMin). The caller gives it
// back with keepAll.
func (s *Store) allArgs(nv []driver.NamedValue, width int) []driver.NamedValue {
	all := slices.Grow(s.xall[:0], width)[:width]
	s.xall = nil
	for i := range all {
		all[i] = driver.NamedValue{Ordinal: i + 1}
	}
	for _, v := range nv {
		all[v.Ordinal-1].Value = v.Value
	}
	return all
}

// keepAll keeps all, allArgs' list, for the next statement, holding no
// value.
func (s *Store) keepAll(all []driver.NamedValue) {
	clear(all)
	s.xall = all[:0]
}

// queryRawRows is queryRaw for a query of many rows: it calls row with
// each row's ncol values (see rawRows). A write's reads of many rows (the
// task runs a completion batch wrote, RETURNING; the ready tasks a lease
// selects) skip database/sql's conversions of every value bound and read,
// by reflection.
func (s *Store) queryRawRows(query string, args []any, ncol int, row func([]driver.Value) error) error {
	s.stmts.Add(1)
	return s.rawRows(query, args, ncol, row)
}

// rawRows runs query on the writer's driver connection with args, bound in
// one call (allArgs), and calls row with each row's ncol values as the
// driver gives them (a TEXT column is a string or []byte), in a slice
// reused from row to row; an error of row ends it and is returned.
// Only the holder of wmu calls it.
func (s *Store) rawRows(query string, args []any, ncol int, row func([]driver.Value) error) error {
	err := s.onRaw(query, args, func(st *sqlite3.SQLiteStmt, nv []driver.NamedValue) error {
		all := s.allArgs(nv, len(args))
		defer s.keepAll(all)
		rows, err := st.QueryContext(context.Background(), all)
		if err != nil {
			return err
		}
		defer rows.Close()
		if n := len(rows.Columns()); n != ncol {
			return fmt.Errorf("sql: %d columns, %d destinations", n, ncol)
		}
		dest := make([]driver.Value, ncol)
		for {
			switch err := rows.Next(dest); err {
			case nil:
				if err := row(dest); err != nil {
					return err
				}
			case io.EOF:
				return nil
			default:
				return err
			}
		}
	})
	return translate(err)
}

// errFirstRow ends rawRows after the row wanted.
var errFirstRow = errors.New("first row read")

// queryRaw is execRaw for a query: it reads the first row's columns into
// dest (one value each, as the driver gives them: a TEXT column is a
// string or []byte) and reports whether there was a row. The writer's
// reads inside a write transaction (the run's claim read at every hop of
// a chain, Tx.RunOwner) skip database/sql's statement, rows and
// conversions by reflection as its writes do.
func (s *Store) queryRaw(query string, args []any, dest []driver.Value) (found bool, err error) {
	s.stmts.Add(1)
	err = s.rawRows(query, args, len(dest), func(v []driver.Value) error {
		copy(dest, v)
		found = true
		return errFirstRow
	})
	if errors.Is(err, errFirstRow) {
		err = nil
	}
	return found, err
}

// onRaw runs fn with query's statement, prepared once on the writer's
// driver connection, and args converted as database/sql converts them,
// NULLs left unbound (see execRaw). Only the holder of wmu calls it.
func (s *Store) onRaw(query string, args []any, fn func(st *sqlite3.SQLiteStmt, nv []driver.NamedValue) error) error {
	s.mu.Lock()
	st := s.xstmt[query]
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return errors.New("store is closed")
	}
	return s.wc.Raw(func(dc any) error {
		c, ok := dc.(*sqlite3.SQLiteConn)
		if !ok {
			return fmt.Errorf("the writer's connection is a %T, not go-sqlite3's", dc)
		}
		if st == nil {
			ps, err := c.Prepare(query)
			if err != nil {
				return err
			}
			st = ps.(*sqlite3.SQLiteStmt)
			s.mu.Lock()
			s.xstmt[query] = st
			s.mu.Unlock()
		}
		if want := st.NumInput(); want != len(args) {
			return fmt.Errorf("sql: expected %d arguments, got %d", want, len(args))
		}
		nv := s.xargs[:0]
		defer func() {
			clear(nv) // no value kept alive by the list
			s.xargs = nv[:0]
		}()
		for i, a := range args {
			if a == nil {
				continue
			}
			v, err := driver.DefaultParameterConverter.ConvertValue(a)
			if err != nil {
				return fmt.Errorf("sql: converting argument $%d type: %w", i+1, err)
			}
			if v != nil {
				nv = append(nv, driver.NamedValue{Ordinal: i + 1, Value: v})
			}
		}
		return fn(st, nv)
	})
}

// argList returns the writer's list of statement values, empty, with room
// for n: a set-based write's list (up to 18 values a row, of a list
// padded to a power of two) is not allocated for every statement. It is
// the caller's until keepArgs; only the holder of wmu calls it.
func (s *Store) argList(n int) []any {
	if cap(s.wargs) < n {
		s.wargs = make([]any, 0, n)
	}
	args := s.wargs[:0]
	s.wargs = nil // not handed out twice
	return args
}

// keepArgs takes back a list argList returned (as the caller last had
// it), its values cleared so that it keeps nothing alive.
func (s *Store) keepArgs(args []any) {
	clear(args[:cap(args)])
	if cap(args) >= cap(s.wargs) {
		s.wargs = args[:0]
	}
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
	case se.Code == sqlite3.ErrFull:
		// Said as the system says it, so that callers tell a full disk
		// (errors.Is syscall.ENOSPC) from a broken database.
		return fmt.Errorf("%w: %w", syscall.ENOSPC, se)
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
	// Older: the database is older than the binary and the store was
	// opened ReadOnly, so it could not migrate it.
	Older bool
}

func (e *SchemaVersionError) Error() string {
	if e.Older {
		return fmt.Sprintf("database schema version %d is older than this binary's (%d); run 'cairn migrate' (it upgrades the database in place)", e.Database, e.Binary)
	}
	return fmt.Sprintf("database schema version %d is newer than this binary supports (%d); upgrade cairn", e.Database, e.Binary)
}
