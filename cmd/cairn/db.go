package main

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/alerts"
	"github.com/cairnml/cairn/auth"
	"github.com/cairnml/cairn/executor"
	"github.com/cairnml/cairn/lineage"
	"github.com/cairnml/cairn/rollouts"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/serve"
	"github.com/cairnml/cairn/store/postgres"
	"github.com/cairnml/cairn/store/sqlite"
	"github.com/cairnml/cairn/ui/core"
)

// database is what the commands need of the home's database, whichever
// store holds it: the scheduler's store, and the reads and writes beyond
// it that the server's pages, the registry, lineage, the cache and the
// tokens make, each part declared by the package that uses it. What only
// one kind of store can do (a SQLite file's snapshot for 'cairn backup',
// its path) is asked of the concrete store where it is needed.
type database interface {
	scheduler.Store
	core.Reader
	core.Tokens
	core.AuditReader
	core.ModelRegistry
	core.LineageReader
	core.ExperimentReader
	alerts.Store // the outbox of notify: (and core.AlertReader)
	core.WorkerLister
	serve.Registry
	serve.RolloutReader
	serve.RequestLog
	rollouts.Store
	rollouts.AlertStore // per-model alerts: the controller writes them
	rollouts.DriftStore // drift_above: the served rows and the drift measured
	serve.RowLog        // the sampled rows serving writes for drift_above
	// ModelDrifts reads the drift measured per model version (/metrics).
	ModelDrifts(ctx context.Context, name string) ([]cairn.ModelDrift, error)
	core.ModelAlertsKeeper // a model's own alerts: cairn models alerts
	core.MinuteReader      // the minutes of the models page (and /metrics' live metric of a production version)
	// StartRollout starts a rollout by hand ('cairn models rollout
	// --start'); RolloutEvents reads its history.
	StartRollout(ctx context.Context, name string, candidate int, spec cairn.RolloutSpec, actor string, now time.Time) (*cairn.Rollout, error)
	RolloutEvents(ctx context.Context, name string, limit int) ([]cairn.RolloutEvent, error)
	executor.Cache
	lineage.Store
	lineage.CacheStore // what explains a task's cache story
	// CreateToken stores a new token (its secret's hash only), with its
	// audit entry by actor ('cairn tokens create').
	CreateToken(ctx context.Context, t auth.Token, hash, actor string) error
	// StateCounts is what a /metrics scrape reads (server_metrics.go).
	StateCounts(ctx context.Context, owner string) (scheduler.StateCounts, error)
	// SummaryTaskRuns is what a run's summary reads (cmd_run.go's
	// summary): the counts per state, and only the task runs it may print.
	SummaryTaskRuns(ctx context.Context, runID string) (map[cairn.TaskState]int, []*cairn.TaskRun, error)
	// NeededArtifacts is what 'cairn gc' keeps.
	NeededArtifacts(ctx context.Context, r scheduler.Retention) (map[string]string, error)
	// OldestActiveAttempt is when the oldest attempt holding a lease
	// began: 'cairn gc' keeps every artifact stored since.
	OldestActiveAttempt(ctx context.Context) (time.Time, bool, error)
	Close() error
}

var (
	_ database = (*sqlite.Store)(nil)
	_ database = (*postgres.Store)(nil)
)

// envDB names the database when --db does not.
const envDB = "CAIRN_DB"

// dbTarget is the database a command works on: a SQLite file, or a
// PostgreSQL database. Artifacts, logs and plugins stay in the home
// folder either way.
type dbTarget struct {
	path  string // a SQLite file
	dsn   string // a PostgreSQL URL: postgres://... or postgresql://...
	given bool   // named by --db or CAIRN_DB, not the home's cairn.db
	// timeout is the connect_timeout a PostgreSQL URL without one gets
	// ("": connectTimeout).
	timeout string
}

// String names the database in messages and logs: the file, or the URL
// with its password hidden.
func (t dbTarget) String() string {
	if t.dsn != "" {
		return postgres.Redact(t.dsn)
	}
	return t.path
}

// arg is the --db argument that names the database again in a command
// this one prints: a URL loses its password (the next command finds it
// where libpq's tools do, PGPASSWORD or ~/.pgpass, or in CAIRN_DB).
func (t dbTarget) arg() string {
	if t.dsn == "" {
		return t.path
	}
	u, err := url.Parse(t.dsn)
	if err != nil {
		return t.String()
	}
	if u.User != nil {
		u.User = url.User(u.User.Username())
	}
	q := u.Query()
	if q.Has("password") {
		q.Del("password")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// database is the database of this command: --db, else CAIRN_DB, else
// HOME/cairn.db.
func (a *app) database() (dbTarget, error) {
	v, from := a.dbFlag, "--db"
	if v == "" {
		v, from = os.Getenv(envDB), envDB
	}
	if v != "" {
		t, err := parseDB(v)
		if err != nil {
			return dbTarget{}, usageError{from + " " + err.Error()}
		}
		t.given = true
		return t, nil
	}
	home, err := a.homeDir()
	if err != nil {
		return dbTarget{}, err
	}
	return dbTarget{path: filepath.Join(home, "cairn.db")}, nil
}

// parseDB reads a --db value: a PostgreSQL URL (postgres:// or
// postgresql://), sqlite://PATH, or a SQLite file's path.
func parseDB(v string) (dbTarget, error) {
	scheme, rest, ok := strings.Cut(v, "://")
	if !ok || !isScheme(scheme) {
		if libpqSettings(v) {
			return dbTarget{}, fmt.Errorf("%q: key=value settings are not taken here: give a URL, postgres://USER@HOST:PORT/DATABASE?sslmode=...", postgres.Redact(v))
		}
		return dbTarget{path: v}, nil
	}
	switch strings.ToLower(scheme) {
	case "postgres", "postgresql":
		u, err := url.Parse(v)
		if err != nil {
			// url.Parse's error quotes the whole URL, password and all.
			return dbTarget{}, fmt.Errorf("%s://…: not a valid URL (want postgres://USER@HOST:PORT/DATABASE?sslmode=..., with any special character of the password %%-encoded)", scheme)
		}
		if u.Opaque != "" {
			return dbTarget{}, fmt.Errorf("%s: want postgres://USER@HOST:PORT/DATABASE", postgres.Redact(v))
		}
		return dbTarget{dsn: v}, nil
	case "sqlite", "sqlite3", "file":
		if rest == "" {
			return dbTarget{}, fmt.Errorf(`"%s://": give the file, as sqlite:///srv/cairn/cairn.db or sqlite://cairn.db`, scheme)
		}
		return dbTarget{path: rest}, nil
	}
	return dbTarget{}, fmt.Errorf("%s://…: Cairn keeps its state in SQLite or PostgreSQL: give a SQLite file (a path, or sqlite://PATH) or a PostgreSQL URL (postgres://USER@HOST:PORT/DATABASE)", scheme)
}

// libpqSettings reports whether v looks like libpq's key=value settings
// (host=db dbname=cairn) rather than a file's path.
func libpqSettings(v string) bool {
	for _, f := range strings.Fields(v) {
		k, _, ok := strings.Cut(f, "=")
		switch strings.ToLower(k) {
		case "host", "hostaddr", "port", "dbname", "user", "password", "sslmode":
			if ok {
				return true
			}
		}
	}
	return false
}

// isScheme reports whether s spells a URL scheme (RFC 3986).
func isScheme(s string) bool {
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case i > 0 && (r >= '0' && r <= '9' || r == '+' || r == '-' || r == '.'):
		default:
			return false
		}
	}
	return s != ""
}

// globalArgs are the --home and --db that a command this one prints
// needs to name the same state (none that CAIRN_HOME and CAIRN_DB give).
func (a *app) globalArgs() []string {
	var args []string
	if a.home != "" && a.home != os.Getenv("CAIRN_HOME") {
		args = append(args, "--home", shellQuote(a.home))
	}
	if a.dbFlag != "" {
		if t, err := a.database(); err == nil {
			args = append(args, "--db", shellQuote(t.arg()))
		}
	}
	return args
}

// databaseName names the command's database in messages and logs.
func (a *app) databaseName() string {
	t, err := a.database()
	if err != nil {
		return "?"
	}
	return t.String()
}

// connectTimeout bounds a connection to PostgreSQL whose URL sets no
// connect_timeout (nor PGCONNECT_TIMEOUT), in seconds: a server that does
// not answer fails the command at start rather than hanging it. The
// completion scripts' helper, run on every Tab, waits less
// (completeConnectTimeout).
const (
	connectTimeout         = "10"
	completeConnectTimeout = "2"
)

// connectDSN is t's URL with a connect_timeout if it sets none.
func (t dbTarget) connectDSN() string {
	u, err := url.Parse(t.dsn)
	if err != nil || u.Query().Has("connect_timeout") || os.Getenv("PGCONNECT_TIMEOUT") != "" {
		return t.dsn
	}
	q := u.Query()
	q.Set("connect_timeout", cmp.Or(t.timeout, connectTimeout))
	u.RawQuery = q.Encode()
	return u.String()
}

// openPostgres opens the PostgreSQL database of t: creating or upgrading
// its tables, or for a read-only command checking that they are there
// and writing nothing.
func (a *app) openPostgres(ctx context.Context, t dbTarget) (database, error) {
	var opts []postgres.Option
	if a.readOnly {
		opts = append(opts, postgres.ReadOnly())
	} else {
		awaitSignals()
	}
	if a.dbConns > 0 && !strings.Contains(t.dsn, "pool_max_conns") {
		opts = append(opts, postgres.WithMaxConns(int32(a.dbConns)))
	}
	if a.countStatements {
		opts = append(opts, postgres.WithStatementCounts())
	}
	st, err := postgres.Open(ctx, t.connectDSN(), opts...)
	migrate := "cairn migrate" // CAIRN_DB names the database again
	if a.dbFlag != "" {
		migrate += " --db " + shellQuote(t.arg())
	}
	var ve *postgres.SchemaVersionError
	switch {
	case errors.Is(err, postgres.ErrNoSchema):
		return nil, fmt.Errorf("the PostgreSQL database %s has no Cairn tables: nothing has run on it yet; "+
			"create them with: %s (a command that writes, such as cairn run or cairn server, creates them too), "+
			"or check that the URL names the database you meant", t, migrate)
	case errors.As(err, &ve) && ve.Older:
		return nil, fmt.Errorf("the PostgreSQL database %s has schema version %d, older than this binary's (%d); "+
			"upgrade it with: %s (a cairn server or cairn run of this version does too)", t, ve.Database, ve.Binary, migrate)
	case err != nil:
		return nil, err // postgres.Open's errors name the host and the cause, the password hidden
	}
	return st, nil
}

// serverInfoPath is where a server on this command's database says so
// ("" if there is no telling: liveServer finds none): beside a SQLite
// file; for PostgreSQL in the home, one file per database.
func (a *app) serverInfoPath() string {
	t, err := a.database()
	if err != nil {
		return ""
	}
	if t.dsn == "" {
		return serverInfoPath(t.path)
	}
	home, err := a.homeDir()
	if err != nil {
		return ""
	}
	u, err := url.Parse(t.dsn)
	if err != nil {
		return ""
	}
	id := sha256.Sum256([]byte(u.Host + u.Path))
	return filepath.Join(home, "postgres-"+hex.EncodeToString(id[:6])+".server.json")
}
