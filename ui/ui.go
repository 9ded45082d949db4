// Package ui is the face of `cairn server`: the web pages (html/template,
// htmx vendored and embedded, no CDN, no inline script) and the JSON API
// under /api/v1, one http.Handler on gin (this package is gin's only home).
//
// It reads through core.Reader, an interface with the read methods of
// scheduler.RunStore it needs (*sqlite.Store satisfies it), and logs
// through LogReader (*artifacts.Logs satisfies it). What changes runs
// (trigger, cancel, retry, resume) comes in through core.Actions, and who
// may do what through Options.Authorize: both are left to the server.
// What the command line shares with the API — those interfaces, the
// reads and changes both answer with, the caller and the errors — is in
// package ui/core, which links no gin.
package ui

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/ui/core"
	"github.com/cairnml/cairn/workflows"
	"github.com/cairnml/cairn/workflows/catalog"
)

// LogReader opens an attempt's log, as artifacts.Logs.Open: an error
// wrapping cairn.ErrNotFound when the attempt printed nothing (yet).
type LogReader interface {
	Open(runID, taskID string, attempt int) (io.ReadCloser, error)
}

// Catalog is the workflows the server offers (cairn server --workflows
// DIR; *catalog.Catalog satisfies it), for the workflows pages and
// routes, and the checker of workflow files sent to the API.
type Catalog interface {
	// Entries lists the folder's files, by file name.
	Entries() []catalog.Entry
	// Lookup returns workflow name's entry.
	Lookup(name string) (catalog.Entry, bool)
	// Check parses a workflow file with the server's task types.
	Check(file string, src []byte) (*workflows.Workflow, []catalog.Problem)
}

// Errors of Authorize that Status maps to HTTP statuses (those of
// Actions: core.ErrBadInput).
var (
	// ErrUnauthenticated: no credentials, or ones that are not valid (401).
	ErrUnauthenticated = errors.New("authentication required")
	// ErrForbidden: valid credentials without the access needed (403).
	ErrForbidden = errors.New("forbidden")
)

// Options configure the handler.
type Options struct {
	// Store is where runs are read. Required.
	Store core.Reader
	// Logs are the attempts' logs; nil: no log is shown.
	Logs LogReader
	// Actions, if set, serve the write routes (POST under /api/v1);
	// without it they answer 501 and the pages show no buttons.
	Actions core.Actions
	// Workflows, if set, are the workflows the server offers: the
	// workflows pages (with a Trigger form when Actions is set) and
	// /api/v1/workflows. Without it they say there are none, and a file
	// sent to the API is checked without its task types.
	Workflows Catalog
	// Authorize, if set, is asked before every route that needs more than
	// Open access. It returns the request to go on with (carrying the
	// caller in its context: core.WithCaller) or an error: ErrUnauthenticated
	// (401), ErrForbidden (403). Nil lets everyone in (cairn server
	// --insecure-no-auth) as core.NoAuthActor, but only through a loopback Host
	// (localhost, 127.0.0.1, [::1]), so that a web page cannot reach the
	// server by rebinding its own name to 127.0.0.1.
	//
	// Whatever authenticates, a request that may change something (not
	// GET or HEAD) and did not come with a bearer token (core.Caller.Bearer)
	// must carry the CSRF token of the page it came from (the form field
	// csrf, which {{ csrfField }} writes, or the header X-CSRF-Token) and
	// must not come from another site: see checkCSRF.
	Authorize func(r *http.Request, need core.Access) (*http.Request, error)
	// Tokens, if set, authenticates with the server's API tokens (set
	// Authorize or Tokens, not both): a bearer token (Authorization:
	// Bearer cairn_...) or the cookie of a browser signed in on /signin.
	// A token's role gives its access: viewer Read, operator Operate,
	// admin Admin. Token management (the tokens page and API) needs it.
	Tokens core.Tokens
	// SessionTTL is how long a browser stays signed in with Tokens
	// (DefaultSessionTTL when 0), at most until its token expires.
	SessionTTL time.Duration
	// Schedules, if set, serves the schedules (the /schedules page, GET
	// /api/v1/schedules, pause, resume and backfill); without it they
	// answer 501 (the list, empty).
	Schedules core.Schedules
	// Audit, if set, serves the audit log (the /audit page and
	// GET /api/v1/audit); without it they answer 501.
	Audit core.AuditReader
	// OwnerGone reports that a run's owner ("host:pid:nonce") is known to
	// be dead before its claim expires (a process of this host that no
	// longer exists); nil: only an expired claim makes a run orphaned.
	OwnerGone func(owner string) bool
	// Now is the clock (time.Now when nil), for what is derived from it:
	// orphaned runs, running durations.
	Now func() time.Time
	// MaxBodyBytes bounds a request body (default 1 MiB); past it: 413.
	MaxBodyBytes int64
	// BodyTimeout bounds how long a request's body may take to arrive
	// (default 30 s): past it the connection is closed, so that a client
	// that sends a body slowly, or never, holds no connection for long.
	BodyTimeout time.Duration
	// Poll is how often a page showing an unfinished run asks for its
	// news (default 2 s), and LogPoll how often a followed log is read
	// again (default 500 ms).
	Poll, LogPoll time.Duration
	// Logger gets the errors answered with a 500 and panics (slog.Default
	// when nil).
	Logger *slog.Logger
	// Registry, if set, serves the model registry: the models pages and
	// GET /api/v1/models... (promote and rollback need Operate access);
	// without it they answer 501.
	Registry core.ModelRegistry
	// Rollouts, if set, serves the models' rollouts (GET
	// /api/v1/models/{name}/rollout, the model page's rollout).
	Rollouts core.RolloutReader
	// Metrics, if set, is served at GET /metrics (MetricsPath) with Read
	// access: cairn server's Prometheus metrics (package metrics).
	Metrics http.Handler
	// Server, if set, answers GET /api/v1/server with Read access: which
	// server answered and which leads the servers on its database.
	Server func(ctx context.Context) (ServerInfo, error)
	// Lineage, if set, serves the artifact and lineage pages and GET
	// /api/v1/lineage and /api/v1/artifacts/{digest} (without it they
	// answer 501); Artifacts, if set, the artifacts' bytes (a download,
	// a data set's first rows; a model version's evaluation report, whose
	// ROC curve and confusion matrix the model page draws). LineageNamespace is the OpenLineage
	// namespace of the jobs the server exports ("cairn" when empty).
	Lineage          core.LineageReader
	Artifacts        ArtifactReader
	LineageNamespace string
	// Models, if set, answers POST /api/v1/models/{name}/predict with
	// Read access (501 without it); PredictMaxBodyBytes bounds its body
	// (core.DefaultPredictMaxBodyBytes when 0) in place of MaxBodyBytes.
	Models              Models
	PredictMaxBodyBytes int64
	// Experiments, if set, reads metrics across runs: the runs list's
	// metric columns and ranking (GET /api/v1/runs?metric=), and the
	// experiments pages; without it they answer 501.
	Experiments core.ExperimentReader
	// Alerts, if set, lists the outbox of notify: (GET /api/v1/alerts);
	// without it the route answers 501.
	Alerts core.AlertReader
	// Workers, if set, lists the registered workers: the workers page and
	// GET /api/v1/workers (Read access), and the line that says why a
	// ready task waits, on the run page and in GET /api/v1/runs/{id}.
	// Pool, if set, is the server's own worker pool, counted among the
	// workers that may take a task. PoolOwner is this server's owner (its
	// claims): for the runs it drives, Pool (or its absence: --workers 0)
	// is known, and a ready task of any route that no worker may take is
	// said to wait (cairn.WaitFacts.PoolKnown).
	Workers   core.WorkerLister
	Pool      *cairn.Worker
	PoolOwner string
	// Pools, if set, lists the pools: the pools page and GET
	// /api/v1/pools (Read access; 501 without it), and the line that
	// says why a ready task waits for its pool.
	Pools core.PoolLister
	// Cache, if set, explains each task's cache story — the outputs it
	// reused, or why it ran (which of type, version, params or input
	// digests changed) —: GET /api/v1/runs/{id}/tasks/{task}/cache (501
	// without it) and the task page. CacheOff, if set, says why caching
	// was off for a task of a run (from its stored workflow read with the
	// server's task types, which know each type's default); without it
	// only a task's own cache: setting is told.
	Cache    CacheReader
	CacheOff func(ctx context.Context, r *cairn.Run, taskID string) string
}

// Defaults of Options.
const (
	DefaultMaxBodyBytes = 1 << 20
	DefaultBodyTimeout  = 30 * time.Second
	DefaultPoll         = 2 * time.Second
	DefaultLogPoll      = 500 * time.Millisecond
)

// handler is the state every route shares.
type handler struct {
	o        Options
	assets   string // assetDigest
	graphs   *graphCache
	pages    *pages
	routes   []Route
	csrf     string     // the CSRF token of forms without a session
	marker   csrfMarker // what csrfField writes, replaced by the token
	sessions *sessions  // signed-in browsers (with Tokens)
	flashKey []byte     // authenticates flash cookies (flashMAC)
	// parsing holds a place for each workflow file being parsed for a
	// client (validate): see parseTurn.
	parsing chan struct{}
	follows follows // the logs each token follows (maxFollowsPerToken)
}

// Route is one route the handler serves and the access it needs: the
// list a route × role test walks.
type Route struct {
	Method, Path string
	Access       core.Access
}

// Handler serves the UI and the API.
type Handler struct {
	http.Handler
	h *handler
}

// Routes lists every route with the access it needs.
func (h *Handler) Routes() []Route { return append([]Route(nil), h.h.routes...) }

// New returns the handler of the pages, the API and the static assets,
// to mount at the root of the server.
func New(o Options) (*Handler, error) {
	if o.Store == nil {
		return nil, errors.New("ui: Options.Store is required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.PredictMaxBodyBytes <= 0 {
		o.PredictMaxBodyBytes = core.DefaultPredictMaxBodyBytes
	}
	if o.BodyTimeout <= 0 {
		o.BodyTimeout = DefaultBodyTimeout
	}
	if o.Poll <= 0 {
		o.Poll = DefaultPoll
	}
	if o.LogPoll <= 0 {
		o.LogPoll = DefaultLogPoll
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Tokens != nil && o.Authorize != nil {
		return nil, errors.New("ui: set Options.Authorize or Options.Tokens, not both")
	}
	if o.SessionTTL <= 0 {
		o.SessionTTL = DefaultSessionTTL
	}
	marker := newCSRFMarker()
	pg, err := loadPages(marker)
	if err != nil {
		return nil, err
	}
	h := &handler{o: o, assets: assetDigest(), graphs: newGraphCache(64), pages: pg, csrf: randomToken(32), marker: marker,
		sessions: newSessions(), flashKey: []byte(randomToken(32)), parsing: make(chan struct{}, max(2, runtime.GOMAXPROCS(0)))}
	if os.Getenv(gin.EnvGinMode) == "" {
		gin.SetMode(gin.ReleaseMode) // no debug banner on stdout
	}
	e := gin.New()
	e.HandleMethodNotAllowed = true
	e.RedirectTrailingSlash = false
	e.RedirectFixedPath = false
	// Match on the path as sent, so that a task id holding a slash
	// (escaped as %2F in links) stays one path parameter.
	e.UseRawPath = true
	e.UnescapePathValues = true
	e.ContextWithFallback = true // c.Request.Context() through c
	e.Use(securityHeaders, h.recover, h.limitBody, h.checkQuery)
	h.mountStatic(e)
	h.mountAPI(e)
	h.mountPages(e)
	h.mountSignin(e)
	h.mountAudit(e)
	h.mountLineage(e)
	h.mountSchedules(e)
	h.mountModels(e)
	h.mountMetrics(e)
	h.mountServer(e)
	h.mountPredict(e)
	h.mountAlerts(e)
	h.mountWorkers(e)
	h.mountPools(e)
	e.NoRoute(h.notFound)
	e.NoMethod(h.methodNotAllowed)
	return &Handler{Handler: e, h: h}, nil
}

// route registers a handler that needs access a. A GET route answers
// HEAD too (RFC 9110): the same handler, whose body net/http drops.
func (h *handler) route(g *gin.RouterGroup, method, p string, a core.Access, fn gin.HandlerFunc) {
	h.routes = append(h.routes, Route{Method: method, Path: path.Join(g.BasePath(), p), Access: a})
	g.Handle(method, p, h.authorize(a), fn)
	if method == http.MethodGet {
		g.Handle(http.MethodHead, p, h.authorize(a), fn)
	}
}

// authorize asks Options.Authorize for every route above Open (without
// it, the caller is core.NoAuthActor through a loopback Host), then checks
// the CSRF token of a request that may change something.
func (h *handler) authorize(a core.Access) gin.HandlerFunc {
	return func(c *gin.Context) {
		if a == core.Open {
			if !safeMethod(c.Request.Method) {
				if err := sameOrigin(c.Request); err != nil {
					h.fail(c, err)
					c.Abort()
				}
			}
			return
		}
		if err := h.authenticate(c, a); err != nil {
			if errors.Is(err, ErrUnauthenticated) {
				if !isAPI(c) && safeMethod(c.Request.Method) {
					// A page: the sign-in page, which comes back here.
					h.renderSignin(c, http.StatusUnauthorized, sentence(strings.TrimSuffix(err.Error(), ": "+ErrUnauthenticated.Error())))
					c.Abort()
					return
				}
				c.Header("WWW-Authenticate", `Bearer realm="cairn"`)
			}
			h.fail(c, err)
			c.Abort()
			return
		}
		if err := h.checkCSRF(c); err != nil {
			h.fail(c, err)
			c.Abort()
		}
	}
}

// sentence is msg with a capital and a full stop, for a page.
func sentence(msg string) string {
	if msg == "" {
		return msg
	}
	msg = strings.ToUpper(msg[:1]) + msg[1:]
	if !strings.HasSuffix(msg, ".") {
		msg += "."
	}
	return msg
}

// authenticate sets the request's caller, or says why there is none.
func (h *handler) authenticate(c *gin.Context, a core.Access) error {
	authorize := h.o.Authorize
	switch h.authMode() {
	case "tokens":
		authorize = h.tokenAuthorize
	case "none":
		if !loopbackHost(c.Request.Host) {
			return fmt.Errorf("this server runs without authentication (--insecure-no-auth) and answers only to a loopback name "+
				"(localhost, 127.0.0.1, [::1]), not %q: %w", c.Request.Host, ErrForbidden)
		}
		c.Request = c.Request.WithContext(core.WithCaller(c.Request.Context(), core.Caller{Actor: core.NoAuthActor, Access: core.Admin}))
		return nil
	}
	r, err := authorize(c.Request, a)
	if r != nil {
		c.Request = r // a 403 still knows who asked (the page says so)
	}
	return err
}

// limitBody answers 413 at once to a request that says its body is over
// the limit, and cuts any other body at it (a read past it fails, which
// the route answers with a 413 too). A body has BodyTimeout to arrive:
// the server has no ReadTimeout (it would end followed logs), and a
// client that sends its body slowly, or never, would otherwise hold its
// connection for good, even unauthenticated (Go reads what is left of a
// body before it answers).
func (h *handler) limitBody(c *gin.Context) {
	limit := h.o.MaxBodyBytes
	if c.FullPath() == predictPath {
		limit = h.o.PredictMaxBodyBytes
	}
	if c.Request.ContentLength > limit {
		h.fail(c, &http.MaxBytesError{Limit: limit})
		c.Abort()
		return
	}
	if c.Request.ContentLength != 0 { // -1: chunked, length unknown
		// Not every ResponseWriter can (a test's recorder): then the
		// server's own timeouts are all there is.
		_ = http.NewResponseController(c.Writer).SetReadDeadline(time.Now().Add(h.o.BodyTimeout))
	}
	if c.Request.Body != nil {
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, limit)
	}
}

// checkQuery refuses a query that does not parse (a ';' separator, a bad
// %-escape): Go drops such pairs from the query, so a filter in one would
// be ignored without a word; and, on an API route, a parameter the route
// does not take or one given twice (checkAPIQuery).
func (h *handler) checkQuery(c *gin.Context) {
	q, err := url.ParseQuery(c.Request.URL.RawQuery)
	if err != nil {
		h.fail(c, fmt.Errorf("the query %s does not parse (%v): separate its parameters with & and escape the others (; as %%3B, %% as %%25): %w",
			core.Brief(c.Request.URL.RawQuery), err, core.ErrBadInput))
		c.Abort()
		return
	}
	if err := checkAPIQuery(c.Request.Method, c.FullPath(), q); err != nil {
		h.fail(c, err)
		c.Abort()
	}
}

// apiQuery lists the query parameters each API route takes; a route not
// listed takes none. A parameter the route does not know is refused, as a
// JSON body's unknown key is: '?sate=failed' must not list every run.
var apiQuery = map[string][]string{
	core.APIPrefix + "/runs":                     {"workflow", "state", "limit", "before", "metric", "sort", "offset"},
	core.APIPrefix + "/compare":                  {"run"},
	core.APIPrefix + "/alerts":                   {"run", "state", "limit", "before"},
	core.APIPrefix + "/runs/:id/tasks/:task/log": {"attempt", "tail", "follow", "from"},
	core.APIPrefix + "/workflows/validate":       {"file"},
	core.APIPrefix + "/audit":                    {"run", "limit", "before"},
	core.APIPrefix + "/lineage":                  {"ref", "direction", "depth", "format"},
	core.APIPrefix + "/workers":                  {"since"},
	predictPath:                                  {"version", "key"},
}

// checkAPIQuery refuses, on an API route (its pattern), a query parameter
// the route does not take or one given twice.
func checkAPIQuery(method, route string, q url.Values) error {
	if !strings.HasPrefix(route, core.APIPrefix+"/") {
		return nil // pages, assets, and no route (a 404 says so)
	}
	known := apiQuery[route]
	for k, vs := range q {
		if !slices.Contains(known, k) {
			if tk, ok := tokenInURL(url.Values{k: vs}); ok {
				return fmt.Errorf("%s: %w", errTokenInURL(tk), ErrUnauthenticated)
			}
			takes := "takes no query parameter"
			if len(known) > 0 {
				takes = "takes " + strings.Join(known, ", ")
			}
			return core.BadInput("unknown query parameter %q: %s %s %s", k, method, route, takes)
		}
		if len(vs) > 1 {
			return core.BadInput("query parameter %q given %d times: give it once", k, len(vs))
		}
	}
	return nil
}

// recover turns a panic in a route into a 500 and a log line.
func (h *handler) recover(c *gin.Context) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			h.o.Logger.Error("ui: panic serving a request", logAttrs(c, "panic", v)...)
			if !c.Writer.Written() {
				h.fail(c, fmt.Errorf("panic: %v", v))
			}
			c.Abort()
		}
	}()
	c.Next()
}
