package remote

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"

	"golang.org/x/sync/semaphore"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/artifacts"
	"github.com/cairnml/cairn/auth"
	"github.com/cairnml/cairn/secrets"
	"github.com/cairnml/cairn/tasks"
	"github.com/cairnml/cairn/tasks/deploy"
)

// Leaser is the lease API the worker API serves: *scheduler.Broker (in
// cmd/cairn, wrapped so that secret params are filled in and redacted).
type Leaser interface {
	Lease(ctx context.Context, r cairn.LeaseRequest) ([]cairn.WorkItem, error)
	Start(ctx context.Context, l cairn.Lease) error
	HeartbeatMany(ctx context.Context, leases []cairn.Lease) ([]cairn.HeartbeatResult, error)
	CompleteAndLease(ctx context.Context, l cairn.Lease, c cairn.Completion, next cairn.LeaseRequest) ([]cairn.WorkItem, error)
	LeaseTTL() time.Duration
}

// GiveBacker is a Leaser that takes leased tasks back unrun
// (*scheduler.Broker's GiveBackEach): each whose lease is still held — a
// compare-and-set on its run, task, attempt and token — is ready again as
// before its lease, no attempt counted; the answer says, in order, which
// were (false: no longer held, nothing changed). A server whose Leaser is
// one serves POST give-back and says so at registration (give_back), so
// that its workers lease ahead of their free slots.
type GiveBacker interface {
	GiveBackEach(ctx context.Context, leases []cairn.Lease) ([]bool, error)
}

// Loser ends what lost workers leave behind: *scheduler.Broker.
type Loser interface {
	LoseWorkers(ctx context.Context) ([]cairn.Worker, error)
}

// Workers records the workers' registrations and calls (the writes of
// scheduler.WorkerStore).
type Workers interface {
	RegisterWorker(ctx context.Context, w cairn.Worker, now time.Time, ttl time.Duration) (cairn.Worker, error)
	TouchWorker(ctx context.Context, id, tokenID string, now time.Time, ttl time.Duration) (cairn.Worker, error)
	SetWorkerState(ctx context.Context, id, tokenID string, to cairn.WorkerState, now time.Time, ttl time.Duration) (cairn.Worker, error)
}

// Tokens authenticates a bearer token (*sqlite.Store). Errors wrap
// auth.ErrInvalid for a token that is not accepted.
type Tokens interface {
	AuthenticateToken(ctx context.Context, text string) (auth.Token, error)
}

// TaskReader reads a task run, to tell whose a lease is when this server
// did not hand it out, and its attempts, to tell whose a cancelled one
// was (scheduler.RunStore's GetTaskRun and ListAttempts).
type TaskReader interface {
	GetTaskRun(ctx context.Context, runID, taskID string) (*cairn.TaskRun, error)
	ListAttempts(ctx context.Context, runID, taskID string) ([]*cairn.Attempt, error)
}

// Logs creates an attempt's log on the server (*artifacts.Logs, wrapped
// so that secret values are redacted as they are written).
type Logs interface {
	Create(runID, taskID string, attempt int) (io.WriteCloser, error)
}

// Blobs is the server's artifact store (*artifacts.Dir).
type Blobs interface {
	// Open reads ref's bytes, verified as they are read; cairn.ErrNotFound
	// if they are not stored.
	Open(ctx context.Context, ref cairn.ArtifactRef) (io.ReadCloser, error)
	// PutExpected stores bytes only if they are ref's (size and digest);
	// other bytes are refused with an error wrapping
	// artifacts.ErrCorrupt, and never kept.
	PutExpected(ctx context.Context, ref cairn.ArtifactRef, r io.Reader) (cairn.ArtifactRef, error)
	// Stat returns the stored blob of digest with its size;
	// cairn.ErrNotFound if there is none.
	Stat(digest string) (cairn.ArtifactRef, error)
}

// Cache finds earlier successes by cache key (*sqlite.Store).
type Cache interface {
	FindCached(ctx context.Context, key string, limit int) ([]cairn.CachedAttempt, error)
}

// ServerOptions configure the worker API.
type ServerOptions struct {
	Leaser  Leaser
	Loser   Loser
	Workers Workers
	Tokens  Tokens
	Tasks   TaskReader
	Logs    Logs
	Blobs   Blobs
	Cache   Cache // nil: every lookup finds nothing
	// Models, if set, answers the registry and lineage reads of the
	// tasks that make them (retrain), as the server's own pool lends
	// them (tasks.Env.Models); nil: 501.
	Models tasks.ModelReader
	// Secrets, if set, gives the values of a run's secret params by
	// placeholder (nil for none), sent with each of its work items.
	Secrets func(runID string) map[string]string
	// Version is the server's cairn version, told to workers.
	Version string
	// MaxWait bounds how long a lease request waits for work (default
	// 30 s; never more than half the lease TTL, so that a worker waiting
	// is never taken for lost).
	MaxWait time.Duration
	// CompleteLanes is how many completion requests (complete,
	// complete-many) each worker may have on their way at once, told at
	// registration (0: one). Two suit a store whose commit takes long
	// beside the worker's turn (PostgreSQL): the next request leaves
	// while the first is committed, and the broker's completer, which
	// commits whatever reports wait, commits larger batches.
	CompleteLanes int
	// LoseEvery is how often workers that stopped calling are looked for
	// (default 1 s): a lost worker's leases end within this of its TTL.
	LoseEvery time.Duration
	// CompletionBudget is the bytes of completion bodies read at once,
	// shared by every request (default 512 MiB; see completionBudget).
	CompletionBudget int64
	// MaxUpload bounds one artifact upload (default 16 GiB).
	MaxUpload int64
	// TokenTTL is how long a worker token, once authenticated, is taken
	// for valid without reading it again (default TokenTTL; negative:
	// read on every request). A token revoked on any server is refused
	// by this one within it.
	TokenTTL time.Duration
	// Now is the clock (default time.Now).
	Now    func() time.Time
	Logger *slog.Logger
}

// Server is the worker API: an http.Handler for everything under Prefix,
// and a loop that marks lost the workers that stopped calling (Start,
// Stop).
type Server struct {
	o   ServerOptions
	ttl time.Duration
	mux *http.ServeMux
	// bodies is the byte budget every completion body is read within
	// (readBudgeted).
	bodies *semaphore.Weighted

	mu      sync.Mutex
	tokens  map[string]knownToken // token text → the worker token it authenticated, and when
	touched map[string]touch      // worker id → its last recorded call
	holders map[string]held       // lease token → the lease it was handed out as, and what was leased, for leases handed out here

	calls map[string]*atomic.Int64 // route pattern → requests so far (Calls)

	stop chan struct{}
	done chan struct{}
}

type touch struct {
	token string
	at    time.Time
	w     cairn.Worker
	busy  bool // a call is writing the next touch
}

// NewServer returns the worker API over o.
func NewServer(o ServerOptions) *Server {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.LoseEvery <= 0 {
		o.LoseEvery = time.Second
	}
	if o.CompletionBudget <= 0 {
		o.CompletionBudget = completionBudget
	}
	if o.MaxUpload <= 0 {
		o.MaxUpload = 16 << 30
	}
	if o.TokenTTL == 0 {
		o.TokenTTL = TokenTTL
	}
	ttl := o.Leaser.LeaseTTL()
	if o.MaxWait <= 0 {
		o.MaxWait = 30 * time.Second
	}
	o.MaxWait = min(o.MaxWait, ttl/2)
	s := &Server{o: o, ttl: ttl, mux: http.NewServeMux(), bodies: semaphore.NewWeighted(o.CompletionBudget), tokens: map[string]knownToken{}, touched: map[string]touch{}, holders: map[string]held{},
		calls: map[string]*atomic.Int64{}}
	s.handle("POST "+Prefix+"register", s.register)
	s.handle("POST "+Prefix+"lease", s.worker(s.lease))
	s.handle("POST "+Prefix+"start", s.worker(s.start))
	s.handle("POST "+Prefix+"heartbeat", s.worker(s.heartbeat))
	s.handle("POST "+Prefix+"complete", s.worker(s.complete))
	s.handle("POST "+Prefix+"complete-many", s.worker(s.completeMany))
	if _, ok := o.Leaser.(GiveBacker); ok {
		s.handle("POST "+Prefix+"give-back", s.worker(s.giveBack))
	}
	s.handle("POST "+Prefix+"drain", s.worker(s.setState(cairn.WorkerDraining)))
	s.handle("POST "+Prefix+"deregister", s.worker(s.setState(cairn.WorkerStopped)))
	s.handle("PUT "+Prefix+"logs/{run}/{task}/{attempt}", s.worker(s.putLog))
	s.handle("HEAD "+Prefix+"artifacts/{digest}", s.worker(s.headArtifact))
	s.handle("GET "+Prefix+"artifacts/{digest}", s.worker(s.getArtifact))
	s.handle("PUT "+Prefix+"artifacts/{digest}", s.worker(s.putArtifact))
	s.handle("GET "+Prefix+"cache/{key}", s.worker(s.cached))
	s.handle("GET "+Prefix+"models/{name}/production", s.worker(s.production))
	s.handle("GET "+Prefix+"models/{name}/prediction-log", s.worker(s.predictionLog))
	s.handle("POST "+Prefix+"models/training-data", s.worker(s.trainingData))
	s.mux.HandleFunc(Prefix, func(w http.ResponseWriter, r *http.Request) {
		if !s.protocol(w, r) {
			return
		}
		fail(w, http.StatusNotFound, CodeNotFound, fmt.Sprintf("no worker API route %s %s (docs/api.md lists them)", r.Method, r.URL.Path))
	})
	return s
}

// handle serves h at pattern, counting its requests (Calls).
func (s *Server) handle(pattern string, h http.HandlerFunc) {
	n := new(atomic.Int64)
	s.calls[pattern] = n
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		h(w, r)
	})
}

// Calls returns how many requests each route of the worker API has had
// ("POST /api/v1/worker/complete": n), the routes without any left out:
// a worker's round trips, for diagnosis.
func (s *Server) Calls() map[string]int64 {
	out := map[string]int64{}
	for p, n := range s.calls {
		if v := n.Load(); v > 0 {
			out[p] = v
		}
	}
	return out
}

// ServeHTTP serves the worker API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Start begins looking for lost workers every LoseEvery, until Stop.
func (s *Server) Start(ctx context.Context) {
	s.stop, s.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(s.done)
		t := time.NewTicker(s.o.LoseEvery)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
			lost, err := s.o.Loser.LoseWorkers(ctx)
			if err != nil && ctx.Err() == nil {
				s.o.Logger.Warn("look for lost workers", "err", err)
			}
			s.forget(lost)
		}
	}()
}

// Stop ends the loop Start began.
func (s *Server) Stop() {
	if s.stop == nil {
		return
	}
	close(s.stop)
	<-s.done
}

// forget drops what is remembered of workers that are gone.
func (s *Server) forget(ws []cairn.Worker) {
	if len(ws) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	gone := map[string]bool{}
	for _, w := range ws {
		gone[w.ID] = true
		delete(s.touched, w.ID)
	}
	for tok, h := range s.holders {
		if gone[h.lease.Worker] {
			delete(s.holders, tok)
		}
	}
}

// protocol checks the request's protocol version and sets the answer's.
func (s *Server) protocol(w http.ResponseWriter, r *http.Request) bool {
	w.Header().Set(HeaderProtocol, strconv.Itoa(cairn.WorkerProtocol))
	v := r.Header.Get(HeaderProtocol)
	if v == strconv.Itoa(cairn.WorkerProtocol) {
		return true
	}
	if v == "" {
		v = "none (no " + HeaderProtocol + " header)"
	}
	writeJSON(w, http.StatusBadRequest, apiError{Code: CodeProtocol, Protocols: []int{cairn.WorkerProtocol},
		Message: fmt.Sprintf("worker protocol mismatch: this server (%s) speaks worker protocol %d; the worker speaks %s: run a cairn worker of a version that speaks %d",
			s.o.Version, cairn.WorkerProtocol, v, cairn.WorkerProtocol)})
	return false
}

// authenticate checks the bearer token: a valid worker token.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (auth.Token, bool) {
	hdr := r.Header.Get("Authorization")
	scheme, text, _ := strings.Cut(hdr, " ")
	if hdr == "" || !strings.EqualFold(scheme, "Bearer") {
		fail(w, http.StatusUnauthorized, CodeUnauthorized, "the worker API needs a worker token: Authorization: Bearer TOKEN (cairn tokens create --role worker)")
		return auth.Token{}, false
	}
	t, err := s.token(r.Context(), text)
	if errors.Is(err, auth.ErrInvalid) {
		fail(w, http.StatusUnauthorized, CodeUnauthorized, "token not accepted: "+err.Error())
		return auth.Token{}, false
	}
	if err != nil {
		s.internal(w, r, fmt.Errorf("authenticate: %w", err))
		return auth.Token{}, false
	}
	if t.Role != auth.Worker {
		fail(w, http.StatusForbidden, CodeForbidden, fmt.Sprintf("token %s is %s token: only a worker token may call the worker API (cairn tokens create --role worker)",
			t.ID, aRole(string(t.Role))))
		return auth.Token{}, false
	}
	return t, true
}

// TokenTTL is how long the worker API takes a worker token it
// authenticated for valid without reading it again (ServerOptions.TokenTTL):
// a worker calls many times a second, and each read was a statement and a
// round trip to the database per request. Revoking a token (on any server
// of the database) refuses its calls within this.
const TokenTTL = time.Second

// maxKnownTokens bounds the tokens remembered (one per worker process at
// most, in practice); past it they are forgotten and read again.
const maxKnownTokens = 4096

// knownToken is a worker token authenticated at at.
type knownToken struct {
	t  auth.Token
	at time.Time
}

// token authenticates a bearer token's text: from what this server
// authenticated within TokenTTL, or else read. Only worker tokens are
// remembered (the others are refused), and a remembered one is still
// refused once it expires; an unknown, revoked or expired token is read
// on every request.
func (s *Server) token(ctx context.Context, text string) (auth.Token, error) {
	now := s.o.Now()
	if s.o.TokenTTL > 0 {
		s.mu.Lock()
		k, ok := s.tokens[text]
		s.mu.Unlock()
		if ok && now.Sub(k.at) >= 0 && now.Sub(k.at) < s.o.TokenTTL && k.t.Valid(now) == nil {
			return k.t, nil
		}
	}
	t, err := s.o.Tokens.AuthenticateToken(ctx, text)
	if err != nil || t.Role != auth.Worker || s.o.TokenTTL <= 0 {
		if err != nil {
			s.mu.Lock()
			delete(s.tokens, text)
			s.mu.Unlock()
		}
		return t, err
	}
	s.mu.Lock()
	if len(s.tokens) >= maxKnownTokens {
		clear(s.tokens)
	}
	s.tokens[text] = knownToken{t: t, at: now}
	s.mu.Unlock()
	return t, nil
}

func aRole(role string) string {
	if role != "" && strings.ContainsRune("aeiou", rune(role[0])) {
		return "an " + role
	}
	return "a " + role
}

// caller is an authenticated, live worker.
type caller struct {
	token auth.Token
	w     cairn.Worker
}

// worker wraps a route that a registered worker calls: protocol, token,
// and the worker's registration — made with this token, live — recorded
// as seen now.
func (s *Server) worker(h func(w http.ResponseWriter, r *http.Request, c caller)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.protocol(w, r) {
			return
		}
		tok, ok := s.authenticate(w, r)
		if !ok {
			return
		}
		id := r.Header.Get(HeaderWorker)
		if id == "" {
			fail(w, http.StatusBadRequest, CodeBadInput, "no "+HeaderWorker+" header: register first (POST "+Prefix+"register)")
			return
		}
		wk, err := s.touch(r.Context(), id, tok.ID)
		switch {
		case errors.Is(err, cairn.ErrNotFound):
			fail(w, http.StatusForbidden, CodeForbidden, fmt.Sprintf("worker %s is not registered with token %s", id, tok.ID))
			return
		case errors.Is(err, cairn.ErrWorkerLost):
			fail(w, http.StatusGone, CodeWorkerLost, err.Error())
			return
		case err != nil:
			s.internal(w, r, err)
			return
		}
		h(w, r, caller{token: tok, w: wk})
	}
}

// touchEvery is how often a worker's calls are written at most: the
// first call after it is recorded, the others in between are not (a
// worker calls many times a second). A worker is lost a lease TTL after
// its last recorded call.
func (s *Server) touchEvery() time.Duration { return min(time.Second, s.ttl/10) }

// touch records a call from worker id with token tokenID, at most every
// touchEvery: a worker touched within it cannot have been marked lost
// since (it is lost only once a TTL passed since its last touch). When a
// touch is due, one of the worker's calls makes it; the others that
// arrive meanwhile go on with the registration read last, while it is
// younger than half the TTL (it cannot have been marked lost either),
// rather than queue on the worker's row one commit after the other — a
// worker of many slots sends many calls at once.
func (s *Server) touch(ctx context.Context, id, tokenID string) (cairn.Worker, error) {
	now := s.o.Now()
	s.mu.Lock()
	t, ok := s.touched[id]
	fresh := ok && t.token == tokenID && now.Sub(t.at) >= 0
	switch {
	case fresh && now.Sub(t.at) < s.touchEvery():
		s.mu.Unlock()
		return t.w, nil
	case fresh && t.busy && now.Sub(t.at) < s.ttl/2:
		s.mu.Unlock()
		return t.w, nil // another call of the worker is touching it
	case ok:
		t.busy = true
		s.touched[id] = t
	}
	s.mu.Unlock()
	w, err := s.o.Workers.TouchWorker(ctx, id, tokenID, now, s.ttl)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		delete(s.touched, id)
		return cairn.Worker{}, err
	}
	if cur, ok := s.touched[id]; !ok || !cur.at.After(now) {
		s.touched[id] = touch{token: tokenID, at: now, w: w}
	}
	return w, nil
}

func (s *Server) register(w http.ResponseWriter, r *http.Request) {
	if !s.protocol(w, r) {
		return
	}
	tok, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	var req registerRequest
	if !decode(w, r, &req, 64<<10) {
		return
	}
	if msg := checkRegistration(req); msg != "" {
		fail(w, http.StatusBadRequest, CodeBadInput, msg)
		return
	}
	now := s.o.Now()
	wk, err := s.o.Workers.RegisterWorker(r.Context(), cairn.Worker{ID: "wk-" + cairn.NewToken()[:16], Name: req.Name, Host: req.Host,
		TokenID: tok.ID, Version: req.Version, Protocol: cairn.WorkerProtocol, Labels: req.Labels, Queues: req.Queues,
		Types: req.Types, Concurrency: req.Concurrency}, now, s.ttl)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	s.mu.Lock()
	s.touched[wk.ID] = touch{token: tok.ID, at: now, w: wk}
	s.mu.Unlock()
	s.o.Logger.Info("worker registered", "worker", wk.ID, "name", wk.Name, "host", wk.Host, "version", wk.Version,
		"concurrency", wk.Concurrency, "token", tok.ID)
	writeJSON(w, http.StatusOK, registerReply{WorkerID: wk.ID, LeaseTTLMillis: s.ttl.Milliseconds(),
		HeartbeatMillis: (s.ttl / 3).Milliseconds(), MaxWaitMillis: s.o.MaxWait.Milliseconds(),
		ServerVersion: s.o.Version, Protocol: cairn.WorkerProtocol, CompleteLanes: s.o.CompleteLanes, GiveBack: s.givesBack()})
}

// Limits of a registration.
const (
	maxNameLen     = 200
	maxLabels      = cairn.MaxLabels
	maxQueues      = 64
	maxTypes       = 256
	maxConcurrency = 4096
)

// badName reports whether s is too long for a registration's names, or
// holds a control (Cc) or format (Cf) character: a bidi override or a
// zero-width character would make the name shown on the workers page and
// in cairn workers another than it is.
func badName(s string) bool {
	return len(s) > maxNameLen || strings.ContainsFunc(s, func(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) })
}

// checkTypes says what is wrong with a registration's task types, "" if
// nothing.
func checkTypes(types []string) string {
	switch {
	case len(types) > maxTypes:
		return fmt.Sprintf("%d task types: at most %d", len(types), maxTypes)
	case !slices.IsSorted(types) || len(slices.Compact(slices.Clone(types))) != len(types):
		return "task types: want them sorted, each once"
	case slices.ContainsFunc(types, func(t string) bool { return t == "" || badName(t) }):
		return fmt.Sprintf("task types: each 1 to %d characters, none of them control or format characters", maxNameLen)
	}
	return ""
}

// checkRegistration says what is wrong with a registration, "" if
// nothing.
func checkRegistration(req registerRequest) string {
	switch {
	case req.Concurrency < 1 || req.Concurrency > maxConcurrency:
		return fmt.Sprintf("concurrency %d: want 1 to %d", req.Concurrency, maxConcurrency)
	case badName(req.Name) || badName(req.Host) || badName(req.Version):
		return fmt.Sprintf("name, host and version: at most %d characters each, none of them control or format characters (such as U+202E)", maxNameLen)
	case len(req.Labels) > maxLabels:
		return fmt.Sprintf("%d labels: at most %d", len(req.Labels), maxLabels)
	case len(req.Queues) > maxQueues:
		return fmt.Sprintf("%d queues: at most %d", len(req.Queues), maxQueues)
	}
	if msg := checkTypes(req.Types); msg != "" {
		return msg
	}
	// The syntax of a workflow's labels and queues: a worker offering
	// one they cannot name would never match a task.
	for k, v := range req.Labels {
		if err := cairn.CheckLabel(k, v); err != nil {
			return fmt.Sprintf("label %q=%q: %v (%s)", k, v, err, cairn.LabelSyntax)
		}
	}
	for _, q := range req.Queues {
		if err := cairn.CheckQueue(q); err != nil && q != "" {
			return fmt.Sprintf("queue %q: %v (%s)", q, err, cairn.QueueSyntax)
		}
	}
	return ""
}

// request is the lease request of worker c for up to max items: the
// worker's id, any run (Owner ""), never more than its concurrency, only
// the tasks its registered labels and queues allow (cairn.Serves) of the
// types it registered (cairn.HasType): the route is the registration's,
// whatever the request says.
func (s *Server) request(c caller, max int, wait time.Duration, start bool) cairn.LeaseRequest {
	return cairn.LeaseRequest{Worker: c.w.ID, Max: min(max, c.w.Concurrency), Wait: min(wait, s.o.MaxWait), Start: start,
		Labels: c.w.Labels, Queues: c.w.Queues, Types: c.w.Types}
}

// issued remembers who holds the leases handed out.
func (s *Server) issued(c caller, items []cairn.WorkItem) []wireItem {
	out := make([]wireItem, len(items))
	s.mu.Lock()
	for i, it := range items {
		var sec map[string]string
		if s.o.Secrets != nil {
			sec = usedSecrets(s.o.Secrets(it.Lease.RunID), it.Params)
		}
		// The cache key holds the params as stored: the secret values
		// filled in taken out again, as the worker does (Client.Redact).
		params := it.Params
		if len(sec) > 0 {
			params = json.RawMessage(secrets.New(sec).Redact(string(params)))
		}
		h := held{lease: it.Lease, typ: it.Type, params: params, inputs: it.Inputs, cache: it.Cache}
		h.lease.Worker = c.w.ID
		s.holders[it.Lease.Token] = h
		out[i] = toWireItem(it, sec)
	}
	s.mu.Unlock()
	return out
}

// usedSecrets is the part of a run's secret values (by placeholder) that
// occur in an item's params, filled in (as a JSON string holds them): a
// worker receives the secrets of the tasks it runs, for its redaction,
// not every secret of their runs (labels keep a run's tasks on the
// machines trusted with them).
func usedSecrets(all map[string]string, params []byte) map[string]string {
	var out map[string]string
	for placeholder, v := range all {
		js, _ := json.Marshal(v) // a string: cannot fail
		if bytes.Contains(params, js[1:len(js)-1]) {
			if out == nil {
				out = make(map[string]string)
			}
			out[placeholder] = v
		}
	}
	return out
}

func (s *Server) lease(w http.ResponseWriter, r *http.Request, c caller) {
	var req leaseRequest
	if !decode(w, r, &req, 4<<10) {
		return
	}
	if req.Max < 1 {
		fail(w, http.StatusBadRequest, CodeBadInput, fmt.Sprintf("max %d: want at least 1", req.Max))
		return
	}
	if c.w.State == cairn.WorkerDraining {
		writeJSON(w, http.StatusOK, itemsReply{Items: []wireItem{}}) // a draining worker takes nothing more
		return
	}
	lr := s.request(c, req.Max, time.Duration(req.WaitMillis)*time.Millisecond, req.Start)
	items, err := s.o.Leaser.Lease(r.Context(), lr)
	if err != nil {
		if r.Context().Err() != nil {
			return // the worker went away
		}
		s.internal(w, r, err)
		return
	}
	if len(items) > 0 && r.Context().Err() != nil {
		s.unsent(r, items)
		return
	}
	if len(items) > 0 && lr.Wait > 0 && !s.stillValid(w, r, c, items) {
		return
	}
	writeJSON(w, http.StatusOK, itemsReply{Items: s.issued(c, items)})
}

// unsent gives back tasks leased to a worker that went away before they
// could be sent (its request ended as the lease was made): unrun, no
// attempt counted, where the Leaser takes tasks back (GiveBacker);
// otherwise ended as interrupted, as a worker's requeue is. Left alone,
// each would wait for its lease to expire and then count as an
// interrupted attempt. A worker that goes away while the reply is being
// written is not seen here; its leases expire as before.
func (s *Server) unsent(r *http.Request, items []cairn.WorkItem) {
	ctx := context.WithoutCancel(r.Context())
	if g, ok := s.o.Leaser.(GiveBacker); ok {
		if _, err := g.GiveBackEach(ctx, cairn.LeasesOf(items)); err != nil {
			s.o.Logger.Warn("give back tasks leased to a worker that went away", "tasks", len(items), "err", err)
		}
		return
	}
	s.requeue(ctx, items, "the worker went away before it was sent this task")
}

// requeue ends the attempts of items, leased to a worker that will not
// run them, as interrupted (a worker's requeue: they run on another
// worker, free of retries), saying why.
func (s *Server) requeue(ctx context.Context, items []cairn.WorkItem, why string) {
	for _, it := range items {
		comp := cairn.Completion{Error: why, Requeue: true, Retryable: true}
		if _, err := s.o.Leaser.CompleteAndLease(ctx, it.Lease, comp, cairn.LeaseRequest{}); err != nil {
			s.o.Logger.Warn("give back a task its worker will not run", "run", it.Lease.RunID, "task", it.Lease.TaskID, "why", why, "err", err)
		}
	}
}

// stillValid reads c's token again after a lease that waited for work (up
// to MaxWait after the call was authenticated): a token revoked meanwhile
// gets no task, nor its params and secrets. The items it was leased are
// given back at once (ended as interrupted, as a worker's requeue is:
// they run on another worker, free of retries), and the call is refused
// with 401, as its next call would be.
func (s *Server) stillValid(w http.ResponseWriter, r *http.Request, c caller, items []cairn.WorkItem) bool {
	_, text, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	t, err := s.o.Tokens.AuthenticateToken(r.Context(), text)
	switch {
	case err == nil && t.ID == c.token.ID:
		return true
	case err != nil && !errors.Is(err, auth.ErrInvalid):
		s.internal(w, r, fmt.Errorf("authenticate again after the wait: %w", err))
	default:
		s.mu.Lock()
		delete(s.tokens, text)
		s.mu.Unlock()
		msg := "token not accepted"
		if err != nil {
			msg += ": " + err.Error()
		}
		fail(w, http.StatusUnauthorized, CodeUnauthorized, msg)
	}
	s.requeue(context.WithoutCancel(r.Context()), items, "the worker's token was revoked while it waited for this task")
	return false
}

// holds checks that lease l is worker c's: handed to c's id. A lease of
// another worker is refused (an error wrapping errForbidden); one whose
// task no longer has it is lost (cairn.ErrLeaseLost).
func (s *Server) holds(ctx context.Context, c caller, l cairn.Lease) error {
	_, err := s.holding(ctx, c, l)
	return err
}

// held is a lease handed out, and what it was handed out for: the task's
// type, its params as stored, its inputs and whether it may be cached,
// from which the server derives the attempt's cache key (cacheKey).
type held struct {
	lease  cairn.Lease
	typ    string
	params json.RawMessage
	inputs map[string]cairn.ArtifactRef
	cache  bool
}

// holding is holds, and what the lease was handed out for.
func (s *Server) holding(ctx context.Context, c caller, l cairn.Lease) (held, error) {
	if l.Worker != c.w.ID {
		return held{}, fmt.Errorf("lease %s/%s#%d is worker %q's, not %s's: %w", l.RunID, l.TaskID, l.Attempt, l.Worker, c.w.ID, errForbidden)
	}
	s.mu.Lock()
	h, ok := s.holders[l.Token]
	s.mu.Unlock()
	if !ok {
		// Handed out by another server, or before this one started: a
		// lease token is never reused, so the task holding it now says
		// whose it is.
		tr, err := s.o.Tasks.GetTaskRun(ctx, l.RunID, l.TaskID)
		if errors.Is(err, cairn.ErrNotFound) {
			return held{}, fmt.Errorf("lease %s/%s#%d: %w", l.RunID, l.TaskID, l.Attempt, cairn.ErrLeaseLost)
		}
		if err != nil {
			return held{}, err
		}
		switch {
		case tr.LeaseToken == "" && tr.State == cairn.TaskCancelled && tr.Attempt == l.Attempt && tr.Pool != "":
			// Cancelled while it ran, its lease gone: its attempt may
			// still hold its pool's slots, which its heartbeats renew and
			// its report lets go of, if it was this worker's. The store
			// matches the token against the attempt's (a wrong one is
			// refused as lost there).
			as, err := s.o.Tasks.ListAttempts(ctx, l.RunID, l.TaskID)
			if err != nil {
				return held{}, err
			}
			if len(as) == 0 || as[len(as)-1].Number != l.Attempt || as[len(as)-1].Worker != c.w.ID {
				return held{}, fmt.Errorf("lease %s/%s#%d: %w", l.RunID, l.TaskID, l.Attempt, cairn.ErrLeaseLost)
			}
			h = held{lease: l, typ: tr.Type, params: tr.Params, inputs: tr.Inputs, cache: tr.Cache}
		case tr.LeaseToken == "" || tr.LeaseToken != l.Token:
			return held{}, fmt.Errorf("lease %s/%s#%d: %w", l.RunID, l.TaskID, l.Attempt, cairn.ErrLeaseLost)
		default:
			h = held{lease: cairn.Lease{RunID: tr.RunID, TaskID: tr.TaskID, Attempt: tr.Attempt, Token: tr.LeaseToken, Worker: tr.LeaseWorker},
				typ: tr.Type, params: tr.Params, inputs: tr.Inputs, cache: tr.Cache}
		}
	}
	if h.lease.Worker != c.w.ID {
		return held{}, fmt.Errorf("lease %s/%s#%d is another worker's: %w", l.RunID, l.TaskID, l.Attempt, errForbidden)
	}
	// The token is the lease of one attempt: it gives no right over
	// another run's, task's or attempt's (a log PUT names those in its
	// path, a completion in its body).
	if h.lease.RunID != l.RunID || h.lease.TaskID != l.TaskID || h.lease.Attempt != l.Attempt {
		return held{}, fmt.Errorf("lease token is not the lease of %s/%s#%d: %w", l.RunID, l.TaskID, l.Attempt, errForbidden)
	}
	return h, nil
}

// cacheKey sets the completion's cache key to the one the server derives
// from what it leased — the task's type, its params as stored, its
// inputs, the version the worker ran and the source digest it read
// (cairn.CacheKey, cairn.SourceCacheKey), as the executor computes it —
// when the worker's key is that one; otherwise (a key for another task,
// for a task that may not be cached, or for an attempt that reused one,
// read more than its inputs or had effects, none of which the executor
// offers: not the worker's to offer) the attempt is recorded without a
// key, never offered for reuse.
func (s *Server) cacheKey(c caller, h held, comp *cairn.Completion) {
	if comp.CacheKey == "" {
		comp.CacheSource = ""
		return
	}
	var want string
	if h.cache && comp.CachedFrom.IsZero() && len(comp.ReadInputs) == 0 && len(comp.Effects) == 0 {
		want = cairn.CacheKey(h.typ, comp.Version, h.params, h.inputs)
		if comp.CacheSource != "" {
			want = cairn.SourceCacheKey(want, comp.CacheSource)
		}
	}
	if comp.CacheKey != want {
		l := h.lease
		s.o.Logger.Warn("a completion's cache key is not the one its lease gives: the attempt is not offered for reuse",
			"run", l.RunID, "task", l.TaskID, "attempt", l.Attempt, "worker", c.w.ID, "cache", h.cache)
		comp.CacheKey, comp.CacheSource = "", ""
	}
}

var (
	errForbidden = errors.New("forbidden")
	errNotStored = errors.New("not stored")
)

// effectOf is the task type whose tasks raise each event a task may
// report (the workflow's notify:).
var effectOf = map[cairn.AlertEvent]string{cairn.AlertGateFailed: "evaluate", cairn.AlertDrift: "retrain"}

// checkCompletion refuses a success naming an artifact output the server
// does not store (the downstream task would fail for it, on whichever
// worker took it: the failure is the reporting worker's), and effects
// that the leased task cannot have made: a worker is trusted with its task's results, not with what
// the registry holds or which alerts are sent. A registration comes only
// from a deploy task, and is the one its resolved params and inputs say
// (deploy.CheckRegistration); an event only from the type that raises it.
func (s *Server) checkCompletion(ctx context.Context, l cairn.Lease, comp cairn.Completion) error {
	if comp.Error == "" { // a success: the server decides the state from the report
		for port, v := range comp.Outputs {
			ref, ok := cairn.AsArtifactRef(v)
			if !ok {
				continue
			}
			if st, err := s.o.Blobs.Stat(ref.Digest); err != nil || st.Size != ref.Size {
				return fmt.Errorf("output %q of %s/%s names artifact %s (%d bytes), which is not stored here: upload an output before the completion that names it: %w",
					port, l.RunID, l.TaskID, ref.Digest, ref.Size, errNotStored)
			}
		}
	}
	effs := comp.Effects
	if len(effs) == 0 {
		return nil
	}
	tr, err := s.o.Tasks.GetTaskRun(ctx, l.RunID, l.TaskID)
	if errors.Is(err, cairn.ErrNotFound) {
		return fmt.Errorf("lease %s/%s#%d: %w", l.RunID, l.TaskID, l.Attempt, cairn.ErrLeaseLost)
	}
	if err != nil {
		return err
	}
	for i, e := range effs {
		switch {
		case e.Notify != nil:
			if want := effectOf[e.Notify.Event]; tr.Type != want {
				return fmt.Errorf("effect %d of %s/%s: a %s task does not raise %s: %w", i, l.RunID, l.TaskID, tr.Type, e.Notify.Event, errForbidden)
			}
		case e.RegisterModel != nil:
			if tr.Type != "deploy" {
				return fmt.Errorf("effect %d of %s/%s: a %s task registers no model (only deploy does): %w", i, l.RunID, l.TaskID, tr.Type, errForbidden)
			}
			if err := deploy.CheckRegistration(ctx, tr.TaskID, tr.Params, tr.Inputs, e.RegisterModel, s.o.Blobs); err != nil {
				return fmt.Errorf("effect %d of %s/%s: %v: %w", i, l.RunID, l.TaskID, err, errForbidden)
			}
		}
	}
	return nil
}

// leaseFailure answers a refused lease operation.
func (s *Server) leaseFailure(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, errForbidden):
		fail(w, http.StatusForbidden, CodeForbidden, err.Error())
	case errors.Is(err, errNotStored):
		fail(w, http.StatusUnprocessableEntity, CodeNotStored, err.Error())
	case errors.Is(err, cairn.ErrLeaseLost):
		fail(w, http.StatusConflict, CodeLeaseLost, err.Error())
	default:
		s.internal(w, r, err)
	}
}

func (s *Server) start(w http.ResponseWriter, r *http.Request, c caller) {
	var req startRequest
	if !decode(w, r, &req, 4<<10) {
		return
	}
	l := req.Lease.lease()
	if err := s.holds(r.Context(), c, l); err != nil {
		s.leaseFailure(w, r, err)
		return
	}
	if err := s.o.Leaser.Start(r.Context(), l); err != nil {
		s.leaseFailure(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// ownLeases checks each of leases as worker c's (holds): those that are
// are returned, with their places in leases (at); each that is not is
// told to refuse, with its code (forbidden: another worker's; lease_lost:
// no longer held). The error is the server's failure to tell.
func (s *Server) ownLeases(ctx context.Context, c caller, leases []wireLease, refuse func(i int, code string, err error)) (mine []cairn.Lease, at []int, err error) {
	for i, wl := range leases {
		l := wl.lease()
		if err := s.holds(ctx, c, l); err != nil {
			switch {
			case errors.Is(err, errForbidden):
				refuse(i, CodeForbidden, err)
			case errors.Is(err, cairn.ErrLeaseLost):
				refuse(i, CodeLeaseLost, err)
			default:
				return nil, nil, err
			}
			continue
		}
		mine, at = append(mine, l), append(at, i)
	}
	return mine, at, nil
}

// maxBatch bounds the leases of one heartbeat.
const maxBatch = 10000

func (s *Server) heartbeat(w http.ResponseWriter, r *http.Request, c caller) {
	var req heartbeatRequest
	if !decode(w, r, &req, 4<<20) {
		return
	}
	if len(req.Leases) > maxBatch {
		fail(w, http.StatusBadRequest, CodeBadInput, fmt.Sprintf("%d leases in one heartbeat: at most %d", len(req.Leases), maxBatch))
		return
	}
	out := make([]heartbeatResult, len(req.Leases))
	mine, at, err := s.ownLeases(r.Context(), c, req.Leases, func(i int, code string, err error) {
		out[i] = heartbeatResult{Code: code, Error: err.Error()}
	})
	if err != nil {
		s.internal(w, r, err)
		return
	}
	if len(mine) > 0 {
		rs, err := s.o.Leaser.HeartbeatMany(r.Context(), mine)
		if err != nil {
			s.internal(w, r, err)
			return
		}
		for j, res := range rs {
			i := at[j]
			switch {
			case errors.Is(res.Err, cairn.ErrLeaseLost):
				out[i] = heartbeatResult{Code: CodeLeaseLost, Error: res.Err.Error()}
				s.mu.Lock()
				delete(s.holders, mine[j].Token)
				s.mu.Unlock()
			case res.Err != nil:
				out[i] = heartbeatResult{Code: CodeInternal, Error: res.Err.Error()}
			default:
				out[i] = heartbeatResult{ExpiresAt: res.Reply.ExpiresAt, CancelRequested: res.Reply.CancelRequested}
			}
		}
	}
	writeJSON(w, http.StatusOK, heartbeatReply{Results: out})
}

func (s *Server) complete(w http.ResponseWriter, r *http.Request, c caller) {
	var req completeRequest
	release, ok := s.decodeBudgeted(w, r, &req, 64<<20)
	defer release()
	if !ok {
		return
	}
	l := req.Lease.lease()
	comp := req.Completion.completion()
	h, err := s.holding(r.Context(), c, l)
	if err != nil {
		s.leaseFailure(w, r, err)
		return
	}
	s.cacheKey(c, h, &comp)
	if err := s.checkCompletion(r.Context(), l, comp); err != nil {
		s.leaseFailure(w, r, err)
		return
	}
	var next cairn.LeaseRequest
	if req.Next > 0 && c.w.State == cairn.WorkerActive {
		next = s.request(c, req.Next, 0, req.Start)
	}
	items, err := s.o.Leaser.CompleteAndLease(r.Context(), l, comp, next)
	s.mu.Lock()
	delete(s.holders, l.Token)
	s.mu.Unlock()
	if err != nil {
		s.leaseFailure(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, itemsReply{Items: s.issued(c, items)})
}

// givesBack says whether this server takes leases back unrun (POST
// give-back).
func (s *Server) givesBack() bool {
	_, ok := s.o.Leaser.(GiveBacker)
	return ok
}

// giveBack takes back leases of worker c whose attempts never began
// (items it leased ahead and found no free slot for in time, or had
// waiting when it began to drain): each checked alone as a heartbeat's
// (another worker's is forbidden, one no longer held lease_lost), those
// that are c's handed to the leaser together, which makes each ready
// again only if its lease is still held (a compare-and-set on run, task,
// attempt and token). A lease refused or no longer held changes nothing.
func (s *Server) giveBack(w http.ResponseWriter, r *http.Request, c caller) {
	var req giveBackRequest
	if !decode(w, r, &req, 4<<20) {
		return
	}
	if len(req.Leases) == 0 || len(req.Leases) > maxBatch {
		fail(w, http.StatusBadRequest, CodeBadInput, fmt.Sprintf("%d leases to give back: want 1 to %d", len(req.Leases), maxBatch))
		return
	}
	out := make([]giveBackResult, len(req.Leases))
	mine, at, err := s.ownLeases(r.Context(), c, req.Leases, func(i int, code string, err error) {
		out[i] = giveBackResult{Code: code, Error: "give back: " + err.Error()}
	})
	if err != nil {
		s.internal(w, r, err)
		return
	}
	if len(mine) > 0 {
		given, err := s.o.Leaser.(GiveBacker).GiveBackEach(r.Context(), mine)
		if err == nil && len(given) != len(mine) {
			err = fmt.Errorf("give back: %d answers for %d leases", len(given), len(mine))
		}
		if err != nil {
			s.internal(w, r, err)
			return
		}
		s.mu.Lock()
		for j, l := range mine {
			delete(s.holders, l.Token) // given back or no longer held: dead either way
			if !given[j] {
				out[at[j]] = giveBackResult{Code: CodeLeaseLost, Error: fmt.Sprintf("give back %s/%s#%d: the lease is no longer held: %v",
					l.RunID, l.TaskID, l.Attempt, cairn.ErrLeaseLost)}
			}
		}
		s.mu.Unlock()
	}
	writeJSON(w, http.StatusOK, giveBackReply{Results: out})
}

// maxReports bounds the completions of one complete-many request: a
// worker's concurrency at most.
const maxReports = maxConcurrency

// completeMany records several completions of the worker's slots, each
// as complete does one — checked alone, refused alone (lease_lost,
// forbidden), its next items leased with it — and all at once: they are
// handed to the broker together, so that they share its commits (the
// completer's batch) rather than arrive one request after another. A
// failure of the server fails the reports it reached (code internal),
// each for the worker to send again.
func (s *Server) completeMany(w http.ResponseWriter, r *http.Request, c caller) {
	var req completeManyRequest
	release, ok := s.decodeBudgeted(w, r, &req, 256<<20)
	defer release()
	if !ok {
		return
	}
	if len(req.Reports) == 0 || len(req.Reports) > maxReports {
		fail(w, http.StatusBadRequest, CodeBadInput, fmt.Sprintf("%d reports: want 1 to %d", len(req.Reports), maxReports))
		return
	}
	out := make([]completeResult, len(req.Reports))
	items := make([][]cairn.WorkItem, len(req.Reports))
	// The reports checked, handed to the leaser together.
	var (
		at     []int
		leases []cairn.Lease
		comps  []cairn.Completion
		nexts  []cairn.LeaseRequest
	)
	for i, rep := range req.Reports {
		l := rep.Lease.lease()
		comp := rep.Completion.completion()
		h, err := s.holding(r.Context(), c, l)
		if err != nil {
			out[i] = s.refusal(r, err)
			continue
		}
		s.cacheKey(c, h, &comp)
		if err := s.checkCompletion(r.Context(), l, comp); err != nil {
			out[i] = s.refusal(r, err)
			continue
		}
		var next cairn.LeaseRequest
		if rep.Next > 0 && c.w.State == cairn.WorkerActive {
			next = s.request(c, rep.Next, 0, rep.Start)
		}
		at, leases, comps, nexts = append(at, i), append(leases, l), append(comps, comp), append(nexts, next)
	}
	got, errs := s.completeAll(r.Context(), leases, comps, nexts)
	s.mu.Lock()
	for _, l := range leases {
		delete(s.holders, l.Token)
	}
	s.mu.Unlock()
	for j, i := range at {
		items[i] = got[j]
		if errs[j] != nil {
			out[i] = s.refusal(r, errs[j])
		}
	}
	for i := range out {
		if out[i].Code == "" {
			out[i].Items = s.issued(c, items[i])
		}
	}
	writeJSON(w, http.StatusOK, completeManyReply{Results: out})
}

// ManyCompleter is a Leaser that takes several reports in one call
// (*scheduler.Broker's CompleteAndLeaseMany): each is CompleteAndLease's,
// recorded or refused alone, and they share the leaser's commit without a
// goroutine each.
type ManyCompleter interface {
	CompleteAndLeaseMany(ctx context.Context, leases []cairn.Lease, cs []cairn.Completion, next []cairn.LeaseRequest) ([][]cairn.WorkItem, []error)
}

// completeAll records the reports (leases[i], cs[i], next[i]) at once:
// in one call of a ManyCompleter, else each CompleteAndLease on a
// goroutine of its own, so that they still share its commits.
func (s *Server) completeAll(ctx context.Context, leases []cairn.Lease, cs []cairn.Completion, next []cairn.LeaseRequest) ([][]cairn.WorkItem, []error) {
	if m, ok := s.o.Leaser.(ManyCompleter); ok {
		return m.CompleteAndLeaseMany(ctx, leases, cs, next)
	}
	items, errs := make([][]cairn.WorkItem, len(leases)), make([]error, len(leases))
	var wg sync.WaitGroup
	for i, l := range leases {
		wg.Add(1)
		go func() {
			defer wg.Done()
			items[i], errs[i] = s.o.Leaser.CompleteAndLease(ctx, l, cs[i], next[i])
		}()
	}
	wg.Wait()
	return items, errs
}

// refusal is a report's answer when its completion was not recorded.
func (s *Server) refusal(r *http.Request, err error) completeResult {
	switch {
	case errors.Is(err, errForbidden):
		return completeResult{Code: CodeForbidden, Error: err.Error()}
	case errors.Is(err, errNotStored):
		return completeResult{Code: CodeNotStored, Error: err.Error()}
	case errors.Is(err, cairn.ErrLeaseLost):
		return completeResult{Code: CodeLeaseLost, Error: err.Error()}
	}
	s.o.Logger.Error("worker API", "method", r.Method, "path", r.URL.Path, "worker", r.Header.Get(HeaderWorker), "err", err)
	return completeResult{Code: CodeInternal, Error: "the server failed; its log says why"}
}

func (s *Server) setState(to cairn.WorkerState) func(w http.ResponseWriter, r *http.Request, c caller) {
	return func(w http.ResponseWriter, r *http.Request, c caller) {
		wk, err := s.o.Workers.SetWorkerState(r.Context(), c.w.ID, c.token.ID, to, s.o.Now(), s.ttl)
		switch {
		case errors.Is(err, cairn.ErrWorkerLost):
			fail(w, http.StatusGone, CodeWorkerLost, err.Error())
			return
		case err != nil:
			s.internal(w, r, err)
			return
		}
		s.mu.Lock()
		if to == cairn.WorkerStopped {
			delete(s.touched, wk.ID)
		} else {
			s.touched[wk.ID] = touch{token: c.token.ID, at: s.o.Now(), w: wk}
		}
		s.mu.Unlock()
		s.o.Logger.Info("worker "+string(to), "worker", wk.ID, "name", wk.Name)
		w.WriteHeader(http.StatusNoContent)
	}
}

// putLog takes an attempt's log as the worker streams it (one request
// for the attempt's whole run), writing it to the server's logs as it
// arrives.
func (s *Server) putLog(w http.ResponseWriter, r *http.Request, c caller) {
	attempt, err := strconv.Atoi(r.PathValue("attempt"))
	if err != nil || attempt < 1 {
		fail(w, http.StatusBadRequest, CodeBadInput, fmt.Sprintf("attempt %q: want a number from 1", r.PathValue("attempt")))
		return
	}
	l := cairn.Lease{RunID: r.PathValue("run"), TaskID: r.PathValue("task"), Attempt: attempt,
		Token: r.Header.Get(HeaderLeaseToken), Worker: c.w.ID}
	if err := s.holds(r.Context(), c, l); err != nil {
		s.leaseFailure(w, r, err)
		return
	}
	lw, err := s.o.Logs.Create(l.RunID, l.TaskID, l.Attempt)
	if err != nil {
		s.internal(w, r, fmt.Errorf("log of %s/%s#%d: %w", l.RunID, l.TaskID, l.Attempt, err))
		return
	}
	_, cerr := io.Copy(flushWriter{lw}, r.Body)
	if err := lw.Close(); cerr == nil {
		cerr = err
	}
	if cerr != nil {
		if r.Context().Err() == nil {
			s.o.Logger.Warn("an attempt's log stream broke off", "run", l.RunID, "task", l.TaskID, "attempt", l.Attempt,
				"worker", c.w.ID, "err", cerr)
		}
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// flushWriter writes each piece of a streamed log through at once, so
// that a followed log shows it (*artifacts.LogWriter buffers otherwise).
type flushWriter struct{ w io.Writer }

func (f flushWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if fl, ok := f.w.(interface{ Flush() error }); ok && err == nil {
		err = fl.Flush()
	}
	return n, err
}

func (s *Server) headArtifact(w http.ResponseWriter, r *http.Request, c caller) {
	s.serveArtifact(w, r, false)
}

func (s *Server) getArtifact(w http.ResponseWriter, r *http.Request, c caller) {
	s.serveArtifact(w, r, true)
}

// serveArtifact answers whether the server holds an artifact (and its
// size) and, with body, its bytes, verified as they are sent: a blob
// that turns out not to match its digest ends the response early, which
// the worker's own check catches too.
func (s *Server) serveArtifact(w http.ResponseWriter, r *http.Request, body bool) {
	ref, err := s.o.Blobs.Stat(r.PathValue("digest"))
	if errors.Is(err, cairn.ErrNotFound) {
		fail(w, http.StatusNotFound, CodeNotFound, fmt.Sprintf("artifact %s is not stored on the server", ref.Digest))
		return
	}
	if err != nil {
		if ref.Validate() != nil {
			fail(w, http.StatusBadRequest, CodeBadInput, err.Error())
			return
		}
		s.internal(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(ref.Size, 10))
	if !body {
		w.WriteHeader(http.StatusOK)
		return
	}
	rc, err := s.o.Blobs.Open(r.Context(), ref)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	defer rc.Close()
	if _, err := io.Copy(w, rc); err != nil && r.Context().Err() == nil {
		s.o.Logger.Warn("send artifact", "digest", ref.Digest, "err", err)
		panic(http.ErrAbortHandler) // cut the response: the worker sees it unfinished
	}
}

func (s *Server) putArtifact(w http.ResponseWriter, r *http.Request, c caller) {
	ref := cairn.ArtifactRef{Digest: r.PathValue("digest"), Size: r.ContentLength}
	switch {
	case r.ContentLength < 0:
		fail(w, http.StatusLengthRequired, CodeBadInput, "an upload needs its Content-Length: the artifact's size")
		return
	case r.ContentLength > s.o.MaxUpload:
		fail(w, http.StatusRequestEntityTooLarge, CodeBadInput, fmt.Sprintf("artifact of %d bytes: at most %d", r.ContentLength, s.o.MaxUpload))
		return
	}
	if err := ref.Validate(); err != nil {
		fail(w, http.StatusBadRequest, CodeBadInput, err.Error())
		return
	}
	_, err := s.o.Blobs.PutExpected(r.Context(), ref, r.Body)
	switch {
	case errors.Is(err, artifacts.ErrCorrupt):
		s.o.Logger.Warn("an upload did not match its digest; rejected, nothing kept", "worker", c.w.ID, "digest", ref.Digest, "err", err)
		fail(w, http.StatusUnprocessableEntity, CodeDigest, "upload rejected, nothing kept: "+err.Error())
		return
	case err != nil && r.Context().Err() != nil:
		return
	case err != nil:
		s.internal(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// maxCacheHits bounds one cache lookup.
const maxCacheHits = 16

func (s *Server) cached(w http.ResponseWriter, r *http.Request, c caller) {
	key := r.PathValue("key")
	limit, err := strconv.Atoi(r.URL.Query().Get("limit"))
	if err != nil || limit < 1 {
		limit = 4
	}
	out := cachedReply{Hits: []wireCached{}}
	if s.o.Cache != nil && key != "" {
		hits, err := s.o.Cache.FindCached(r.Context(), key, min(limit, maxCacheHits))
		if err != nil {
			s.internal(w, r, err)
			return
		}
		for _, h := range hits {
			out.Hits = append(out.Hits, wireCached{Attempt: h.Attempt, Type: h.Type, Outputs: h.Outputs, Metrics: h.Metrics})
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// Completion bodies are read within one byte budget shared by every
// request (ServerOptions.CompletionBudget): a request takes its body's
// Content-Length (the whole limit when it sends none) before it reads a
// byte, all at once, and holds it until it is answered. What completion
// requests at once hold in memory is thus bounded, whatever their number
// (the decoded maps are bounded too: see boundedMap), and no request
// holds part of the budget while it waits for more: they cannot hold
// each other up. A request still waiting for its turn when it ends is
// answered 503, and one over the limit 413, unread.
const completionBudget = 512 << 20

// decodeBudgeted is decode for a completion body, read within s.bodies
// (see completionBudget). release gives back what it took; call it once
// the request is answered, ok or not.
func (s *Server) decodeBudgeted(w http.ResponseWriter, r *http.Request, v any, limit int64) (release func(), ok bool) {
	limit = min(limit, s.o.CompletionBudget)
	n := limit
	if r.ContentLength > limit {
		fail(w, http.StatusRequestEntityTooLarge, CodeBadInput, fmt.Sprintf("body larger than %d bytes", limit))
		return func() {}, false
	}
	if r.ContentLength >= 0 {
		n = max(r.ContentLength, 1)
	}
	if err := s.bodies.Acquire(r.Context(), n); err != nil {
		fail(w, http.StatusServiceUnavailable, CodeInternal, "the request ended while its body waited for its turn")
		return func() {}, false
	}
	release = func() { s.bodies.Release(n) }
	return release, decode(w, r, v, n)
}

// decode reads a JSON body of at most limit bytes into v; a bad one is
// answered. The body is held to what the user API holds its bodies to
// (ui's decodeBody): one JSON value, no key given twice in an object
// (encoding/json would keep the last in silence), no half of a UTF-16
// surrogate pair.
func decode(w http.ResponseWriter, r *http.Request, v any, limit int64) bool {
	var buf bytes.Buffer
	if r.ContentLength > 0 && r.ContentLength < 1<<20 {
		buf.Grow(int(r.ContentLength) + bytes.MinRead)
	}
	_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, limit))
	if err == nil {
		err = decodeStrict(buf.Bytes(), v)
	}
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			fail(w, http.StatusRequestEntityTooLarge, CodeBadInput, fmt.Sprintf("body larger than %d bytes", limit))
			return false
		}
		fail(w, http.StatusBadRequest, CodeBadInput, "body: "+err.Error())
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	if f, ok := v.(fastEncoder); ok {
		if b, ok := f.appendFast(make([]byte, 0, 4096)); ok {
			b = append(b, '\n') // as json.Encoder ends a value
			w.Header().Set("Content-Length", strconv.Itoa(len(b)))
			w.WriteHeader(status)
			w.Write(b)
			return
		}
	}
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, apiError{Code: code, Message: msg})
}

// internal answers a 500 and logs why: the worker is told only that the
// server failed.
func (s *Server) internal(w http.ResponseWriter, r *http.Request, err error) {
	s.o.Logger.Error("worker API", "method", r.Method, "path", r.URL.Path, "worker", r.Header.Get(HeaderWorker), "err", err)
	fail(w, http.StatusInternalServerError, CodeInternal, "the server failed; its log says why")
}
