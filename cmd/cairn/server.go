package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/artifacts"
	"github.com/cairnml/cairn/executor"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/secrets"
	"github.com/cairnml/cairn/serve"
	"github.com/cairnml/cairn/tasks"
	"github.com/cairnml/cairn/ui/core"
	"github.com/cairnml/cairn/workflows"
)

// serverFlags are cairn server's flags.
type serverFlags struct {
	addr          string
	slots         int
	dbConns       int
	maxActiveRuns int
	drain         time.Duration
	stopGrace     time.Duration
	logLimit      int64
	logFormat     string
	metricsAddr   string
	workflows     string
	noAuth        bool    // --insecure-no-auth
	tlsCert       string  // --tls-cert
	tlsKey        string  // --tls-key
	sample        float64 // --prediction-sample
	maxRows       int     // --predict-max-rows
	maxPredict    int64   // --predict-max-body
	leaseTTL      time.Duration
	publicURL     string            // --public-url
	labels        map[string]string // --labels: what the server's own pool offers
	queues        []string          // --queues: the queues it takes tasks from
	pools         map[string]int    // --pool NAME=SIZE, repeated
}

// serverFlagSet is cairn server's flags, which both builds parse: the lean
// one answers --help (help, completion) and refuses a bad flag itself, and
// hands off only a command line that parses.
func (a *app) serverFlagSet() (*flag.FlagSet, *serverFlags) {
	fs := a.newFlags("server", "[--addr 127.0.0.1:8080] [--workflows DIR] [--workers N] [--max-active-runs N] [flags]",
		"Run the scheduler as a service over the home's database: it starts queued runs ('cairn run --detach')\n"+
			"in creation order within the active-run limits (--max-active-runs, and a workflow's own max_active_runs:),\n"+
			"takes over runs whose 'cairn run' died (once its claim expires, within 10 s; at once on this host),\n"+
			"and runs their tasks in its own worker pool: those with no labels on the default queue, or those its\n"+
			"--labels and --queues allow; with --workers 0 none (remote workers run them). 'cairn run' in the\n"+
			"foreground keeps working beside it.\n"+
			"It serves the web UI, the API under /api/v1, /healthz and /readyz on --addr. Nobody gets in without a\n"+
			"token ('cairn tokens create'; until one exists every page and API route answers 401); --tls-cert and\n"+
			"--tls-key serve HTTPS; --insecure-no-auth lets anyone in, and binds only to loopback. /metrics for\n"+
			"Prometheus needs a viewer token; or, without one, it is on the loopback address --metrics-addr.\n"+
			"--workflows DIR offers every workflow file (*.yaml, *.yml) of the folder to trigger from the UI and the\n"+
			"API; a file with problems is shown with them (FILE:LINE:COL) and the others are served; the folder is\n"+
			"read again when a file in it changes.\n"+
			"Remote workers ('cairn worker' on other machines, each with a worker token) lease tasks of every run\n"+
			"through the worker API under /api/v1/worker/ on --addr; with --workers 0 the server runs no task itself.\n"+
			"--pool NAME=SIZE declares a pool every run on the database shares (a GPU, a licence): a task with\n"+
			"'pool: NAME' waits in ready while its pool is full; the size wins over a workflow's own pools:.\n"+
			"Secret params come from the server's environment (CAIRN_PARAM_NAME=value), never from the database.\n"+
			"SIGTERM or Ctrl-C drains: no new task starts, running tasks get --drain-timeout to finish, then are\n"+
			"stopped and recorded as interrupted; every run is left to resume, and the next 'cairn server' resumes it.\n"+
			"A full disk stops it the same way, with exit status 1: free space, then start it again.")
	f := new(serverFlags)
	fs.StringVar(&f.addr, "addr", "127.0.0.1:8080", "address to serve the web UI, the API, /healthz and /readyz on (host:port; port 0 picks one)")
	fs.IntVar(&f.slots, "workers", max(8, 4*runtime.NumCPU()), "attempts run at once by this server itself; 0: none, the server only coordinates and remote workers ('cairn worker') run every task")
	fs.Var(labelsFlag{&f.labels}, "labels", "the labels the server's own pool offers (k=v,...): it runs a task only if all of the task's labels are among them; none: only unlabelled tasks")
	fs.Var(queuesFlag{&f.queues}, "queues", "the queues the server's own pool takes tasks from (a,b; 'default' is the default queue); none: the default queue only")
	fs.IntVar(&f.dbConns, "db-max-conns", 0, "on PostgreSQL, the most connections this server holds (0: 2 per CPU + 4 + --workers/4, from 10 to 30; a pool_max_conns in the URL wins)")
	fs.Var(poolFlag{&f.pools}, "pool", "declare a pool NAME=SIZE, shared by every run on the database (repeat for more: --pool gpu=1 --pool warehouse=4); a task with pool: NAME runs only while its pool_slots fit; the server's size wins over a workflow's pools:")
	fs.IntVar(&f.maxActiveRuns, "max-active-runs", 0, "runs active at once in the database past which no queued run starts (0: no limit)")
	fs.DurationVar(&f.leaseTTL, "lease-ttl", 30*time.Second, "how long a task's lease, and a remote worker, live without a call: a worker silent this long is lost and its tasks run again")
	fs.DurationVar(&f.drain, "drain-timeout", 30*time.Second, "on SIGTERM, how long running tasks may take to finish before they are stopped")
	fs.DurationVar(&f.stopGrace, "stop-grace", executor.DefaultStopGrace, "how long a task told to stop (timeout, cancel, drain) may take before it is abandoned; a shell task gets at least its kill_grace + 2s")
	f.logLimit = artifacts.DefaultLogLimit
	fs.Var(sizeFlag{&f.logLimit}, "log-limit", "task output kept in each attempt's log: its beginning and its last MiB (0 for all)")
	fs.StringVar(&f.logFormat, "log-format", "text", "the server's own log lines on stderr: text or json")
	fs.StringVar(&f.metricsAddr, "metrics-addr", "", "also serve /metrics without a token on this loopback address (such as 127.0.0.1:9464), for a Prometheus on this machine")
	fs.StringVar(&f.publicURL, "public-url", "", "the server's URL as its users reach it (https://cairn.example.com): the link in each alert of notify: (default $CAIRN_PUBLIC_URL)")
	fs.StringVar(&f.workflows, "workflows", "", "a folder of workflow files the server offers to trigger (read again when they change)")
	fs.BoolVar(&f.noAuth, "insecure-no-auth", false, "let anyone in without a token (local use only: --addr must be a loopback address)")
	fs.StringVar(&f.tlsCert, "tls-cert", "", "serve HTTPS with this certificate (PEM, the chain after the leaf); needs --tls-key")
	fs.StringVar(&f.tlsKey, "tls-key", "", "the private key (PEM) of --tls-cert")
	fs.Float64Var(&f.sample, "prediction-sample", 0.1, "the share of predicted rows logged to HOME/predictions/MODEL/samples.jsonl, from 0 (none) to 1 (all)")
	fs.IntVar(&f.maxRows, "predict-max-rows", serve.DefaultMaxRows, "the most rows one predict request may send")
	f.maxPredict = core.DefaultPredictMaxBodyBytes
	fs.Var(sizeFlag{&f.maxPredict}, "predict-max-body", "the largest body of one predict request")
	return fs, f
}

// serverNamespace is the OpenLineage namespace of a server's jobs:
// cairn://HOST:PORT, with this machine's name for an address that binds
// to every interface or to loopback.
func serverNamespace(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "cairn://" + addr
	}
	if ip := net.ParseIP(host); host == "" || host == "localhost" || ip != nil && (ip.IsUnspecified() || ip.IsLoopback()) {
		if name, err := os.Hostname(); err == nil && name != "" {
			host = name
		}
	}
	return "cairn://" + net.JoinHostPort(host, port)
}

// serverUIOptions are the web UI's and API's options for a server over
// st: deny by default — a request needs a valid token (a bearer token or
// a signed-in session) whose role allows the route, and with no token in
// the database nobody gets in — unless --insecure-no-auth, which lets
// everyone in (through a loopback Host only, see ui.Options.Authorize).
// loopbackAddr reports whether a listen address host:port binds to
// loopback only: a loopback IP or localhost (no host binds to all).
func loopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// healthMux serves /healthz (the process answers) and /readyz (the
// database answers and the server is not draining); both open to anyone.
func healthMux(st database, draining *atomic.Bool, log *slog.Logger) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if draining.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "draining")
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if _, err := st.LastEvaluation(ctx); err != nil {
			// The reason goes to the server's log, not to whoever asks.
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "database unavailable")
			log.Warn("readyz: the database does not answer", "err", err)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	return mux
}

// graphCache parses the workflows stored with runs, once per file.
type graphCache struct {
	reg *tasks.Registry
	st  sourceReader // the runs' sub-workflow files
	mu  sync.Mutex
	wfs map[string]*workflows.Workflow // by digest and path
}

func newGraphCache(reg *tasks.Registry, st sourceReader) *graphCache {
	return &graphCache{reg: reg, st: st, wfs: map[string]*workflows.Workflow{}}
}

// get parses run's stored workflow; a file this binary reads otherwise
// than the one that made the run can never be planned.
func (c *graphCache) get(ctx context.Context, run *cairn.Run) (*workflows.Workflow, error) {
	key := run.Digest + "\x00" + run.SourcePath
	c.mu.Lock()
	wf, ok := c.wfs[key]
	c.mu.Unlock()
	if ok {
		return wf, nil
	}
	sources, err := c.st.RunSources(ctx, run.ID)
	if err != nil {
		return nil, err // the database's failure: planning tries again
	}
	wf, err = workflows.ParseRun(run, sources, workflows.Options{Types: c.reg})
	if err != nil {
		// One line: the error is stored with the run and printed by show.
		return nil, fmt.Errorf("%w: the workflow stored with it does not parse with this cairn: %s", scheduler.ErrCannotPlan, joinLines(err.Error()))
	}
	if wf.Digest != run.Digest {
		return nil, fmt.Errorf("%w: it was planned from workflow %s but this cairn reads its file as %s; run it with the cairn version that made it",
			scheduler.ErrCannotPlan, run.Digest, wf.Digest)
	}
	c.mu.Lock()
	if len(c.wfs) > 1000 {
		clear(c.wfs)
	}
	c.wfs[key] = wf
	c.mu.Unlock()
	return wf, nil
}

// joinLines joins the lines of a multi-line message (a workflow's problems,
// each with its indented hint) with "; ".
func joinLines(msg string) string {
	lines := strings.Split(strings.TrimSpace(msg), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSpace(l)
	}
	return strings.Join(lines, "; ")
}

// takeSecretEnv reads every CAIRN_PARAM_* variable and removes it from the
// environment, returning the values by variable name.
func takeSecretEnv() map[string]string {
	out := map[string]string{}
	for _, kv := range os.Environ() {
		k, v, ok := strings.Cut(kv, "=")
		if ok && strings.HasPrefix(k, "CAIRN_PARAM_") {
			out[k] = v
			os.Unsetenv(k)
		}
	}
	return out
}

// secretBook holds the secret values of every run a server plans, from
// the server's environment.
type secretBook struct {
	env  map[string]string // CAIRN_PARAM_NAME → value
	mu   sync.RWMutex
	sets map[string]*secrets.Set // by run id; nil entries are not stored
}

func newSecretBook(env map[string]string) *secretBook {
	return &secretBook{env: env, sets: map[string]*secrets.Set{}}
}

// forRun builds the secret values of run: each of the workflow's secret
// params the run stores as its placeholder gets the value of its
// CAIRN_PARAM_ variable; a required one without it cannot be planned.
func (b *secretBook) forRun(run *cairn.Run, wf *workflows.Workflow) (*secrets.Set, error) {
	values := map[string]string{}
	var missing []string
	for _, d := range wf.Params {
		if !d.Secret {
			continue
		}
		ph := workflows.SecretPlaceholder(d.Name)
		if stored, _ := run.Params[d.Name].(string); stored != ph {
			continue // not given when the run was made: it has its zero value
		}
		v, ok := b.env[workflows.SecretEnv(d.Name)]
		if !ok && d.Required {
			missing = append(missing, workflows.SecretEnv(d.Name))
			continue
		}
		values[ph] = v
	}
	if len(missing) > 0 {
		then := "start the server with them set: it takes the run over then"
		if run.State == cairn.RunQueued {
			then = "start the server with them set, then queue the run again (this one is failed)"
		}
		return nil, fmt.Errorf("%w: secret params are never stored, and this server's environment lacks %s; %s",
			scheduler.ErrCannotPlan, strings.Join(missing, ", "), then)
	}
	if len(values) == 0 {
		return nil, nil
	}
	return secrets.New(values), nil
}

// has reports whether the server's environment has variable env
// (CAIRN_PARAM_NAME), which gives a secret param its value.
func (b *secretBook) has(env string) bool {
	_, ok := b.env[env]
	return ok
}

func (b *secretBook) put(runID string, set *secrets.Set) {
	if set == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sets[runID] = set
}

func (b *secretBook) drop(runID string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.sets, runID)
}

func (b *secretBook) get(runID string) *secrets.Set {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.sets[runID]
}

// redact takes every run's secret values out of s: the pool's error text
// does not say which run it is from, and a value of another run is no
// less secret.
func (b *secretBook) redact(s string) string {
	b.mu.RLock()
	defer b.mu.RUnlock()
	for _, set := range b.sets {
		s = set.Redact(s)
	}
	return s
}

// serverInfo says which server runs on a database, for the hints of
// 'cairn run --detach'. Advisory: the database is the truth.
type serverInfo struct {
	PID     int       `json:"pid"`
	Owner   string    `json:"owner"`
	Addr    string    `json:"addr"`
	Started time.Time `json:"started"`
	// Workers, Labels and Queues are its own pool's: the attempts it runs
	// at once (0: none) and the tasks it may take, for cairn show's
	// account of why a task waits.
	Workers int               `json:"workers"`
	Labels  map[string]string `json:"labels,omitempty"`
	Queues  []string          `json:"queues,omitempty"`
}

// pool is the server's own pool as a worker, live at now, for
// cairn.Why; false when it runs no task (--workers 0).
func (info serverInfo) pool(now time.Time) (cairn.Worker, bool) {
	if info.Workers <= 0 {
		return cairn.Worker{}, false
	}
	return cairn.Worker{ID: info.Owner, Name: fmt.Sprintf("cairn server (pid %d)", info.PID), State: cairn.WorkerActive,
		Labels: info.Labels, Queues: info.Queues, Concurrency: info.Workers, ExpiresAt: now.Add(time.Minute)}, true
}

// serverInfoPath is where a server on the database at dbPath says so.
func serverInfoPath(dbPath string) string {
	return filepath.Join(filepath.Dir(dbPath), filepath.Base(dbPath)+".server.json")
}

// advertiseEvery is how often a server checks that the info file names a
// live server.
const advertiseEvery = 2 * time.Second

// Timeouts of the server's connections. A request's headers have
// headerTimeout to arrive, and its body ui.Options.BodyTimeout; a
// connection kept alive between requests is closed once idle for
// idleTimeout. There is no ReadTimeout nor WriteTimeout: they would end
// the Server-Sent Events of a followed log.
const (
	headerTimeout = 5 * time.Second
	idleTimeout   = 2 * time.Minute
)

// newHTTPServer is the HTTP server of --addr and --metrics-addr: h on
// base's context, Go's own lines (a TLS handshake that failed) through
// log (so that --log-format json stays JSON), and a connection idle for
// idle closed, so that clients that keep connections open and send
// nothing cannot take every file descriptor of the server.
func newHTTPServer(h http.Handler, base context.Context, log *slog.Logger, idle time.Duration) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: headerTimeout, IdleTimeout: idle,
		BaseContext: func(net.Listener) context.Context { return base },
		ErrorLog:    slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
}

// advertise keeps the info file at path naming a live server: this one,
// unless it names another that is alive (two servers on one database),
// and again whenever the file is gone or names a process that is (the
// other server stopped). The returned func stops it, once the file is no
// longer being written.
func advertise(path string, info serverInfo, log *slog.Logger) (stop func()) {
	check := func() {
		if cur, ok := readServerInfo(path); ok && (cur.Owner == info.Owner || !ownerGone(cur.Owner)) {
			return
		}
		if err := writeServerInfo(path, info); err != nil {
			log.Warn("write server info", "path", path, "err", err)
		}
	}
	check()
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(advertiseEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				check()
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() { close(done) })
		<-stopped
	}
}

// writeServerInfo replaces the file at path with info, through a
// temporary file of its own (two servers may write at once).
func writeServerInfo(path string, info serverInfo) error {
	b, err := json.Marshal(info)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.tmp") // mode 0600
	if err != nil {
		return err
	}
	_, err = f.Write(append(b, '\n'))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// removeServerInfo removes the file if it is still this server's.
func removeServerInfo(path, owner string) {
	if info, ok := readServerInfo(path); ok && info.Owner == owner {
		os.Remove(path)
	}
}

func readServerInfo(path string) (serverInfo, bool) {
	var info serverInfo
	b, err := os.ReadFile(path)
	if err != nil || json.Unmarshal(b, &info) != nil {
		return info, false
	}
	return info, true
}

// liveServer returns the server running on a database, if its info file
// (serverInfoPath) says so and its process is alive.
func liveServer(infoPath string) (serverInfo, bool) {
	if infoPath == "" {
		return serverInfo{}, false
	}
	info, ok := readServerInfo(infoPath)
	if !ok || ownerGone(info.Owner) {
		return info, false
	}
	return info, true
}

// serverLeader is GET /api/v1/server: this server, whether it leads, and
// the leader lease's term as the database holds it.
// starter says which cairn server will start (or take) a queued run of
// st: the one on this home whose info file says so (serverInfoPath, a
// SQLite database's server, or one on this host), or, on a PostgreSQL
// database — whose servers may run on other machines, with no file in
// this home — the database's leader, the holder of a live leader lease.
// ok false: none runs that this command can see.
func (a *app) starter(ctx context.Context, st scheduler.LeaderStore) (who string, ok bool) {
	if info, ok := liveServer(a.serverInfoPath()); ok {
		return fmt.Sprintf("cairn server (pid %d, %s)", info.PID, info.Addr), true
	}
	if !a.onPostgres() {
		return "", false
	}
	l, err := st.Leader(ctx, scheduler.LeaderScheduler, time.Now())
	if err != nil || !l.Live || ownerGone(l.Holder) {
		return "", false
	}
	return fmt.Sprintf("cairn server %s (the database's leader)", l.Holder), true
}

// noStarter is what a command says when no server will start a queued
// run: none on this home, or none leading on the PostgreSQL database.
func (a *app) noStarter() string {
	if a.onPostgres() {
		return "no cairn server is live on this database (no leader lease held)"
	}
	return "no cairn server runs on this home"
}

// onPostgres reports whether the command's database is PostgreSQL.
func (a *app) onPostgres() bool {
	t, err := a.database()
	return err == nil && t.dsn != ""
}

// dbConns is the size of a server's (or a foreground run's) PostgreSQL
// pool: flag if set, else 2 per CPU plus 4 (the scheduler's loops, the API,
// the remote workers' calls, the runs planned at once) plus one per 4 of
// the process's own worker slots (their leases, heartbeats and
// completions are batched: a slot is not a connection), at least 10 and
// at most 30: three replicas, each with its listener's connection, stay
// under PostgreSQL's default max_connections of 100.
func dbConns(flag, slots int) int {
	if flag > 0 {
		return flag
	}
	return min(30, max(10, 2*runtime.GOMAXPROCS(0)+4+slots/4))
}

// readyPoll is how soon a lease waiting on this server looks again for
// tasks another process made ready: never on a store that says so
// (PostgreSQL's LISTEN/NOTIFY wakes it), every second on SQLite, where a
// worker long-polling one server of several on a file would otherwise
// wait out its long-poll (half the lease TTL) for a run another one
// plans.
func readyPoll(st database) time.Duration {
	if _, ok := st.(scheduler.Listener); ok {
		return 0
	}
	return time.Second
}

// completeLanes is how many completion requests each remote worker may
// have on their way at once (remote.ServerOptions.CompleteLanes): two on
// PostgreSQL, whose commit takes long beside a worker's turn (the next
// request leaves while the first is committed: larger batches, fewer
// statements per task); one on SQLite, whose commits are short and where
// more requests would only cost the server more of them.
func completeLanes(st database) int {
	if poolSize(st) > 0 {
		return 2
	}
	return 1
}

// overlapCommits says whether the broker's completer may run a batch's
// statements while the previous batch commits
// (scheduler.BrokerOptions.OverlapCommits): not on SQLite, one writer at
// a time; nor on PostgreSQL, where an A/B of it (docs/benchmarks.md,
// session 14: 4 remote workers, 20,000 noop tasks) found smaller batches
// (0.040 commits a task against 0.036) and 10-20 % more of the
// database's CPU a task, and no higher rate: two cores are busy enough
// without the overlap.
func overlapCommits(database) bool {
	return false
}

// poolSize is the most connections st's pool holds (0 for SQLite).
func poolSize(st database) int {
	if p, ok := st.(interface{ MaxConns() int32 }); ok {
		return int(p.MaxConns())
	}
	return 0
}
