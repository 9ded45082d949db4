package serve

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/artifacts"
	"github.com/cairnml/cairn/tasks/ml/model"
	"golang.org/x/sync/semaphore"
)

// Registry is what serving reads of the model registry (*sqlite.Store
// satisfies it). The first two return errors wrapping cairn.ErrNotFound
// for what does not exist.
type Registry interface {
	ProductionModel(ctx context.Context, name string) (*cairn.ModelVersion, error)
	ModelVersion(ctx context.Context, name string, version int) (*cairn.ModelVersion, error)
	// ModelStageSeq grows with every change of any model's stage, made
	// by any process.
	ModelStageSeq(ctx context.Context) (int64, error)
}

// Artifacts opens a model's artifact; a reader whose bytes do not match
// the digest fails at its end with an error wrapping
// artifacts.ErrCorrupt (*artifacts.Dir satisfies it).
type Artifacts interface {
	Open(ctx context.Context, ref cairn.ArtifactRef) (io.ReadCloser, error)
}

// Options configure a Server.
type Options struct {
	// Registry and Artifacts are required.
	Registry  Registry
	Artifacts Artifacts
	// MaxRows bounds the rows of one request (DefaultMaxRows when 0).
	MaxRows int
	// MaxBodyBytes is the largest request body (DefaultMaxBodyBytes when
	// 0; more is an *http.MaxBytesError): bodies are read within budgets
	// of that many bytes per CPU (at least 2), see bigBody.
	MaxBodyBytes int64
	// BodyWait bounds how long a body waits for its turn in the budget
	// (DefaultBodyWait when 0): past it the request gets a 503 (busy) and
	// lets go of the budget it held, so that bodies each holding a part
	// of the budget while waiting for more cannot stall one another for
	// good.
	BodyWait time.Duration
	// SampleDir, if set, is where sampled rows are logged, a folder per
	// model (see package doc); SampleRate is the share of rows logged,
	// from 0 (none) to 1 (all).
	SampleDir  string
	SampleRate float64
	// SampleMaxBytes is the size of a sample log past which it is
	// rotated (DefaultSampleMaxBytes when 0); SampleBuffer bounds the
	// sampled rows waiting to be written (DefaultSampleBuffer when 0).
	SampleMaxBytes int64
	SampleBuffer   int
	// Poll is how often the registry is asked whether a model changed
	// (DefaultPoll when 0); a load that failed is tried again every
	// Retry (DefaultRetry when 0).
	Poll, Retry time.Duration
	// Logger gets model switches and failures (discarded when nil).
	Logger *slog.Logger
	// Observe, if set, gets every request's outcome, every load and
	// every dropped sample, for metrics; it must be quick.
	Observe func(Event)
	// Rand draws the sampling decisions (rand.Float64 when nil).
	Rand func() float64
	// Now is the clock of the sample log (time.Now when nil).
	Now func() time.Time
	// RequestLog, if set, gets every request answered (its id, the
	// version, its predictions), written in batches from a goroutine of
	// its own, for feedback and live metrics; LogBuffer bounds the
	// requests waiting (DefaultLogBuffer when 0): past it they are
	// dropped and counted (EventRequestsDropped).
	RequestLog RequestLog
	LogBuffer  int
	// RowLog, if set, gets the sampled rows (SampleRate of them, as the
	// sample log does) for the leader's drift_above alerts, written in
	// batches from a goroutine of its own; each write keeps at most
	// RowsKept rows per model version (cairn.DefaultServedRowsKept when
	// 0); RowBuffer bounds the rows waiting (DefaultRowBuffer when 0).
	RowLog    RowLog
	RowsKept  int
	RowBuffer int
}

// Defaults of Options.
const (
	DefaultMaxRows        = 10000
	DefaultSampleMaxBytes = 64 << 20
	DefaultSampleBuffer   = 8 << 20
	DefaultPoll           = 500 * time.Millisecond
	DefaultRetry          = 5 * time.Second
)

// EventKind says what an Event reports.
type EventKind int

// Kinds of events.
const (
	// EventPredict: a request answered (Code "ok" or the error's code).
	EventPredict EventKind = iota + 1
	// EventLoad: a model artifact read (Outcome ok, corrupt, missing,
	// invalid or error).
	EventLoad
	// EventSamplesDropped: Rows sampled rows not logged (the buffer was
	// full, or the log could not be written).
	EventSamplesDropped
	// EventShadow: a shadow rollout's candidate scored a request (Code,
	// Rows, Duration as for EventPredict), off the request's path.
	EventShadow
	// EventShadowDropped: a request not shadowed (the candidate's queue
	// was full).
	EventShadowDropped
	// EventRequestsDropped: Rows requests not written to the request
	// log (its buffer was full, or the write failed).
	EventRequestsDropped
)

// Outcomes of a load.
const (
	LoadOK      = "ok"
	LoadCorrupt = "corrupt" // the bytes do not match the digest
	LoadMissing = "missing" // the artifact is not in the store
	LoadInvalid = "invalid" // not a model this binary reads
	LoadError   = "error"   // reading the store failed
)

// Event is what Observe gets.
type Event struct {
	Kind EventKind
	// Model is the model's name; "" for a request naming no registered
	// model (so that a metric's labels stay the registry's names).
	Model    string
	Version  int
	Code     string // EventPredict: "ok" or an error's code
	Rows     int    // rows predicted, or dropped
	Duration time.Duration
	Outcome  string // EventLoad
	// Arm is, during a rollout, which side answered: "production" or
	// "candidate" ("" without a rollout).
	Arm string
	// Predictions is an EventPredict's answer: the model's kind and its
	// predictions, for their distribution (nil when it failed).
	ModelKind   string
	Predictions *model.Prediction
	Classes     []string
}

// Server serves the predictions of the registry's models: each model's
// production version, held behind an atomic pointer that a promotion
// swaps (a request holds the version it started with to its end), or a
// version a request pins. Models are read from their artifacts once per
// digest, verified. It is safe for concurrent use.
type Server struct {
	o       Options
	samples *sampler
	seq     atomic.Int64

	mu    sync.RWMutex
	names map[string]*entry   // models asked for by name
	pins  map[string]*active  // "name@version" → that version
	cache map[string]*loaded  // by digest
	kick  chan struct{}       // a change to look at now
	stop  context.CancelFunc  // ends the poll loop
	done  chan struct{}       // closed when it ended
	first sync.Mutex          // one first load of a name at a time
	loads map[string]*loading // by digest, under way
	lmu   sync.Mutex
	once  sync.Once           // Stop
	head  *semaphore.Weighted // the bytes of bodies' first bigBody being read, in bigChunk
	big   *semaphore.Weighted // the bytes of large bodies (past bigBody) being read, in bigChunk
	// pollFailing: the last poll failed (logged once); the poll loop's.
	pollFailing bool

	reqs     *reqLog        // nil without Options.RequestLog
	rows     *rowLog        // nil without Options.RowLog (or SampleRate)
	sq       shadowQ        // a shadow rollout's requests for its candidate
	shadowWG sync.WaitGroup // the shadow workers
}

// Every byte of a request's body is read within a budget shared by
// every request, so that the memory many requests at once take is
// bounded: a body's first bigBody bytes within one (head), the rest
// within another (big), each Options.MaxBodyBytes per CPU (at least 2).
// With two, small bodies never wait behind large ones: large bodies
// past their first MiB take the big budget only. A budget is taken
// bigChunk at a time, before each chunk is read, so a client that sends
// its body slowly, or stops half-way, holds only what it sent (and one
// chunk), not a whole turn: a few stalled bodies do not hold up the
// requests of others (they must send the budget's worth of bytes to,
// and then only until the body deadline). A body over MaxBodyBytes is
// refused (an *http.MaxBytesError) once that many bytes are read: it
// could never be read within the budget.
const (
	bigBody  = 1 << 20
	bigChunk = 64 << 10
)

// DefaultMaxBodyBytes is Options.MaxBodyBytes when 0 (ui's default bound
// of a predict body).
const DefaultMaxBodyBytes = 32 << 20

// DefaultBodyWait is Options.BodyWait when 0.
const DefaultBodyWait = 10 * time.Second

// active is a model version as served: the version and its loaded model.
type active struct {
	version int
	*loaded
	// broken, when set, says why the version cannot be served (a
	// rollout's candidate whose artifact is corrupt or missing): every
	// request to it fails with it, as the model's fault, so that the
	// rollout judges it (a canary is rolled back) while production
	// answers. Its loaded has no predictor.
	broken *Error
}

// entry is a model name served in its production version.
type entry struct {
	name string
	cur  atomic.Pointer[active]
	// err is why nothing is served when cur is nil (no production
	// version, its artifact corrupt …), or why the production version
	// is not the one served.
	err    atomic.Pointer[Error]
	ro     atomic.Pointer[routed] // the active rollout and its candidate, nil when none
	want   atomic.Int64           // the production version last seen (0: none)
	mu     sync.Mutex             // one refresh at a time
	failed time.Time              // under mu: when a load last failed
	logged string                 // under mu: the failure last logged (a retry failing alike is not logged again)
}

type loading struct {
	done chan struct{}
	l    *loaded
	err  *Error
}

// New returns a server; Start begins following the registry.
func New(o Options) (*Server, error) {
	if o.Registry == nil || o.Artifacts == nil {
		return nil, errors.New("serve: Options.Registry and Options.Artifacts are required")
	}
	if o.SampleRate < 0 || o.SampleRate > 1 {
		return nil, fmt.Errorf("serve: sample rate %v is not between 0 and 1", o.SampleRate)
	}
	if o.MaxRows <= 0 {
		o.MaxRows = DefaultMaxRows
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.SampleMaxBytes <= 0 {
		o.SampleMaxBytes = DefaultSampleMaxBytes
	}
	if o.SampleBuffer <= 0 {
		o.SampleBuffer = DefaultSampleBuffer
	}
	if o.Poll <= 0 {
		o.Poll = DefaultPoll
	}
	if o.Retry <= 0 {
		o.Retry = DefaultRetry
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Observe == nil {
		o.Observe = func(Event) {}
	}
	if o.Rand == nil {
		o.Rand = rand.Float64
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.BodyWait <= 0 {
		o.BodyWait = DefaultBodyWait
	}
	s := &Server{o: o, names: map[string]*entry{}, pins: map[string]*active{}, cache: map[string]*loaded{},
		loads: map[string]*loading{}, kick: make(chan struct{}, 1),
		head: semaphore.NewWeighted(bodyBudget(o.MaxBodyBytes)), big: semaphore.NewWeighted(bodyBudget(o.MaxBodyBytes))}
	if o.SampleDir != "" && o.SampleRate > 0 {
		s.samples = newSampler(o.SampleDir, o.SampleMaxBytes, o.SampleBuffer, o.Logger, o.Observe)
	}
	if o.LogBuffer <= 0 {
		o.LogBuffer = DefaultLogBuffer
	}
	if o.RequestLog != nil {
		s.reqs = &reqLog{log: o.RequestLog, max: o.LogBuffer, logger: o.Logger, observe: o.Observe,
			wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	}
	if o.RowBuffer <= 0 {
		o.RowBuffer = DefaultRowBuffer
	}
	if o.RowLog != nil && o.SampleRate > 0 {
		s.rows = &rowLog{log: o.RowLog, keep: o.RowsKept, max: o.RowBuffer, logger: o.Logger, observe: o.Observe,
			wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	}
	s.sq.wake, s.sq.stop = make(chan struct{}, 1), make(chan struct{})
	return s, nil
}

// Start loads the production version of every model the registry lists
// (in the background), then follows the registry until Stop: every Poll it reads
// ModelStageSeq, and when it moved (a promotion, a rollback, a deploy,
// by any process) it reads the production version of each model it
// serves and switches to it. It also starts the sample log's writer.
func (s *Server) Start(ctx context.Context) {
	ctx, s.stop = context.WithCancel(ctx)
	s.done = make(chan struct{})
	if seq, err := s.o.Registry.ModelStageSeq(ctx); err == nil {
		s.seq.Store(seq)
	}
	go s.loop(ctx)
	if s.reqs != nil {
		go s.reqs.run()
	}
	if s.rows != nil {
		go s.rows.run()
	}
	// Shadow scoring takes at most a quarter of the processors.
	for range max(1, runtime.GOMAXPROCS(0)/4) {
		s.shadowWG.Add(1)
		go s.shadowLoop()
	}
	if s.samples != nil {
		s.samples.started = true
		go s.samples.run()
	}
}

// Stop ends the poll loop and writes the sampled rows still pending
// (until ctx ends). Predict goes on answering, without logging samples.
// A second Stop does nothing.
func (s *Server) Stop(ctx context.Context) {
	s.once.Do(func() { s.stopNow(ctx) })
}

func (s *Server) stopNow(ctx context.Context) {
	if s.stop != nil {
		s.stop()
		<-s.done
	}
	s.sq.mu.Lock()
	s.sq.closed = true
	s.sq.mu.Unlock()
	close(s.sq.stop)
	s.shadowWG.Wait()
	// Without workers (never started), what waits is let go.
	for _, j := range s.sq.take(shadowTaken{}).jobs {
		if j.body != nil {
			bufs.Put(j.body)
		}
		if s.reqs != nil {
			s.reqs.add(j.prod) // production's answer is logged all the same
		}
	}
	if s.reqs != nil && s.stop != nil {
		close(s.reqs.stop)
		select {
		case <-s.reqs.done:
		case <-ctx.Done():
		}
	}
	if s.rows != nil && s.stop != nil {
		close(s.rows.stop)
		select {
		case <-s.rows.done:
		case <-ctx.Done():
		}
	}
	if s.samples != nil && s.samples.started {
		close(s.samples.stop)
		select {
		case <-s.samples.done:
		case <-ctx.Done():
		}
	}
}

// Changed says that model name's stage changed in this process (a
// promotion through the server's API): the poll loop looks at once,
// without waiting for its next tick.
func (s *Server) Changed(name string) {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Refresh reads model name's production version now and switches to it
// before it returns (the promote path of the server's own API calls it,
// so that the request after the promotion sees the new version). A
// failure to load it is logged and leaves the previous version served.
func (s *Server) Refresh(ctx context.Context, name string) error {
	s.mu.RLock()
	e := s.names[name]
	s.mu.RUnlock()
	if e == nil {
		return nil // never asked for: the first request reads it
	}
	return s.refresh(ctx, e)
}

// lister is a Registry that lists its models (*sqlite.Store): their
// production versions are loaded at Start, so that the first request
// does not wait for a model's artifact to be read.
type lister interface {
	Models(ctx context.Context) ([]*cairn.ModelVersion, error)
}

func (s *Server) preload(ctx context.Context) {
	l, ok := s.o.Registry.(lister)
	if !ok {
		return
	}
	mvs, err := l.Models(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.o.Logger.Warn("serve: list the registry's models to load them; each is loaded by its first request instead", "err", err)
		}
		return
	}
	for _, mv := range mvs {
		if mv.Stage == cairn.StageProduction && ctx.Err() == nil {
			_, _ = s.newEntry(ctx, mv.Name) // a failure is logged and kept for the requests
		}
	}
}

func (s *Server) loop(ctx context.Context) {
	defer close(s.done)
	s.preload(ctx)
	t := time.NewTicker(s.o.Poll)
	defer t.Stop()
	for {
		kicked := false
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.kick:
			kicked = true
		}
		s.poll(ctx, kicked)
	}
}

// poll reads the registry's change counter, and every served model's
// production version when it moved (or when told to, or to retry a
// failed load).
func (s *Server) poll(ctx context.Context, force bool) {
	seq, err := s.o.Registry.ModelStageSeq(ctx)
	if err != nil {
		if ctx.Err() == nil && !s.pollFailing {
			s.pollFailing = true
			s.o.Logger.Warn("serve: read the model registry's last change; the models served stay as they are until it answers", "err", err)
		}
		return
	}
	if s.pollFailing {
		s.pollFailing = false
		s.o.Logger.Info("serve: the model registry answers again")
	}
	s.mu.RLock()
	entries := make([]*entry, 0, len(s.names))
	for _, e := range s.names {
		entries = append(entries, e)
	}
	s.mu.RUnlock()
	changed := force || seq != s.seq.Load()
	ok := true
	for _, e := range entries {
		if !changed && !e.retryDue(s.o.Retry) {
			continue
		}
		if err := s.refresh(ctx, e); err != nil {
			ok = false
		}
	}
	if ok {
		s.seq.Store(seq)
	}
}

func (e *entry) retryDue(every time.Duration) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return !e.failed.IsZero() && time.Since(e.failed) >= every
}

// refresh reads e's production version and serves it, if it loads. Its
// error is the registry's (the entry is left as it was).
func (s *Server) refresh(ctx context.Context, e *entry) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	mv, err := s.o.Registry.ProductionModel(ctx, e.name)
	if errors.Is(err, cairn.ErrNotFound) {
		if cur := e.cur.Load(); cur != nil {
			s.o.Logger.Info("serve: model no longer served: it has no version in production", "model", e.name, "was", cur.version)
		}
		e.cur.Store(nil)
		e.ro.Store(nil)
		e.want.Store(0)
		e.err.Store(noProduction(e.name))
		e.failed = time.Time{}
		return nil
	}
	if err != nil {
		if ctx.Err() == nil {
			s.o.Logger.Warn("serve: read a model's production version; the version served stays", "model", e.name, "err", err)
		}
		return err
	}
	e.want.Store(int64(mv.Version))
	cur := e.cur.Load()
	if cur != nil && cur.version == mv.Version && cur.digest == mv.Model.Digest {
		e.err.Store(nil)
		e.failed = time.Time{}
		s.readRollout(ctx, e, cur)
		return nil
	}
	l, lerr := s.load(ctx, mv)
	if lerr != nil {
		e.err.Store(lerr)
		e.failed = time.Now()
		if e.logged == lerr.Msg {
			return nil
		}
		e.logged = lerr.Msg
		if cur != nil {
			s.o.Logger.Error("serve: the production version cannot be served; the previous one still is", "model", e.name,
				"version", mv.Version, "digest", mv.Model.Digest, "serving", cur.version, "err", lerr.Msg)
		} else {
			s.o.Logger.Error("serve: the production version cannot be served", "model", e.name,
				"version", mv.Version, "digest", mv.Model.Digest, "err", lerr.Msg)
		}
		return nil
	}
	e.cur.Store(&active{version: mv.Version, loaded: l})
	e.err.Store(nil)
	e.failed, e.logged = time.Time{}, ""
	s.readRollout(ctx, e, e.cur.Load())
	from := 0
	if cur != nil {
		from = cur.version
	}
	s.o.Logger.Info("serve: serving model", "model", e.name, "version", mv.Version, "digest", mv.Model.Digest, "was", from)
	return nil
}

func noProduction(name string) *Error {
	return &Error{Status: http.StatusNotFound, Code: CodeNotFound, Row: -1,
		Msg: fmt.Sprintf("model %s has no version in production: promote one (cairn models promote %s VERSION), or pin one with ?version=N", name, name)}
}

// noVersion is the error of a pinned version that model name (which
// exists) does not have.
func noVersion(name string, version int) *Error {
	return &Error{Status: http.StatusNotFound, Code: CodeNotFound, Row: -1, Err: cairn.ErrNotFound,
		Msg: fmt.Sprintf("model %s has no version %d", name, version)}
}

// resolve finds what serves a request: the production version of name
// and its active rollout (nil when none), or version when it is not 0.
// known says whether name is a registered model (for the metrics'
// labels).
func (s *Server) resolve(ctx context.Context, name string, version int) (a *active, ro *routed, known bool, err error) {
	if err := cairn.ValidModelName(name); err != nil {
		msg := err.Error()
		if len(name) > 128 {
			msg = fmt.Sprintf("model name %s… (%d bytes) is longer than 128 characters", strconv.Quote(name[:32]), len(name))
		}
		return nil, nil, false, &Error{Status: http.StatusNotFound, Code: CodeNotFound, Row: -1, Msg: msg}
	}
	s.mu.RLock()
	e := s.names[name]
	s.mu.RUnlock()
	if version != 0 {
		if e != nil {
			if ro := e.ro.Load(); ro != nil && version != ro.r.Baseline && version != ro.r.Candidate {
				// A version that does not exist is not found, as
				// outside a rollout; one that does is not part of it.
				if _, err := s.o.Registry.ModelVersion(ctx, name, version); errors.Is(err, cairn.ErrNotFound) {
					return nil, nil, true, noVersion(name, version)
				} else if err != nil {
					return nil, nil, true, fmt.Errorf("read model %s@%d: %w", name, version, err)
				}
				return nil, nil, true, &Error{Status: http.StatusConflict, Code: CodeNotInRollout, Row: -1,
					Msg: fmt.Sprintf("model %s is rolling out version %d against version %d (%s): version %d is not part of the rollout; pin one of those two, or none",
						name, ro.r.Candidate, ro.r.Baseline, ro.r.Spec.Strategy, version)}
			}
		}
		a, known, err := s.pinned(ctx, name, version)
		return a, nil, known, err
	}
	if e == nil {
		if e, err = s.newEntry(ctx, name); err != nil {
			return nil, nil, false, err
		}
	}
	if a := e.cur.Load(); a != nil {
		ro := e.ro.Load()
		if ro != nil && ro.r.Baseline != a.version {
			ro = nil
		}
		return a, ro, true, nil
	}
	if err := e.err.Load(); err != nil {
		return nil, nil, true, err
	}
	return nil, nil, true, noProduction(name)
}

// newEntry starts serving name: its production version read and loaded.
// A name without one gets no entry (a request naming no model leaves
// nothing behind); one whose artifact fails to load gets one, retried.
func (s *Server) newEntry(ctx context.Context, name string) (*entry, error) {
	s.first.Lock()
	defer s.first.Unlock()
	s.mu.RLock()
	e := s.names[name]
	s.mu.RUnlock()
	if e != nil {
		return e, nil
	}
	mv, err := s.o.Registry.ProductionModel(ctx, name)
	if errors.Is(err, cairn.ErrNotFound) {
		if _, verr := s.o.Registry.ModelVersion(ctx, name, 1); errors.Is(verr, cairn.ErrNotFound) {
			return nil, &Error{Status: http.StatusNotFound, Code: CodeNotFound, Row: -1, Err: cairn.ErrNotFound,
				Msg: fmt.Sprintf("no model is named %q (cairn models list shows the registry)", name)}
		}
		return nil, noProduction(name)
	}
	if err != nil {
		return nil, fmt.Errorf("read the production version of model %s: %w", name, err)
	}
	e = &entry{name: name}
	e.want.Store(int64(mv.Version))
	if l, lerr := s.load(ctx, mv); lerr != nil {
		e.err.Store(lerr)
		e.failed, e.logged = time.Now(), lerr.Msg
		s.o.Logger.Error("serve: the production version cannot be served", "model", name, "version", mv.Version,
			"digest", mv.Model.Digest, "err", lerr.Msg)
	} else {
		e.cur.Store(&active{version: mv.Version, loaded: l})
		s.o.Logger.Info("serve: serving model", "model", name, "version", mv.Version, "digest", mv.Model.Digest)
		s.readRollout(ctx, e, e.cur.Load())
	}
	s.mu.Lock()
	s.names[name] = e
	s.mu.Unlock()
	return e, nil
}

// maxPins bounds the pinned versions held; past it they are let go.
const maxPins = 64

func (s *Server) pinned(ctx context.Context, name string, version int) (*active, bool, error) {
	key := name + "@" + strconv.Itoa(version)
	s.mu.RLock()
	a := s.pins[key]
	s.mu.RUnlock()
	if a != nil {
		return a, true, nil
	}
	mv, err := s.o.Registry.ModelVersion(ctx, name, version)
	if errors.Is(err, cairn.ErrNotFound) {
		if _, perr := s.o.Registry.ModelVersion(ctx, name, 1); errors.Is(perr, cairn.ErrNotFound) {
			return nil, false, &Error{Status: http.StatusNotFound, Code: CodeNotFound, Row: -1, Err: cairn.ErrNotFound,
				Msg: fmt.Sprintf("no model is named %q (cairn models list shows the registry)", name)}
		}
		return nil, true, noVersion(name, version)
	}
	if err != nil {
		return nil, true, fmt.Errorf("read model %s@%d: %w", name, version, err)
	}
	l, lerr := s.load(ctx, mv)
	if lerr != nil {
		return nil, true, lerr
	}
	a = &active{version: version, loaded: l}
	s.mu.Lock()
	if len(s.pins) >= maxPins {
		clear(s.pins)
	}
	s.pins[key] = a
	s.mu.Unlock()
	return a, true, nil
}

// maxCached bounds the loaded models kept by digest besides those
// served; past it one is let go (and read again if asked for).
const maxCached = 16

// load returns mv's model, read from its artifact once per digest (two
// requests for one digest share the read). A corrupt, missing or
// unreadable artifact is an Error answered with 503.
func (s *Server) load(ctx context.Context, mv *cairn.ModelVersion) (*loaded, *Error) {
	digest := mv.Model.Digest
	s.mu.RLock()
	l := s.cache[digest]
	s.mu.RUnlock()
	if l != nil {
		return l, nil
	}
	s.lmu.Lock()
	if ld, ok := s.loads[digest]; ok {
		s.lmu.Unlock()
		select {
		case <-ld.done:
			return ld.l, ld.err
		case <-ctx.Done():
			return nil, &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Row: -1, Err: ctx.Err(),
				Msg: fmt.Sprintf("model %s: the request ended while version %d was read", mv.Name, mv.Version)}
		}
	}
	ld := &loading{done: make(chan struct{})}
	s.loads[digest] = ld
	s.lmu.Unlock()
	// The read is not the request's: one that gives up does not fail
	// the others waiting for it, nor count as the model's failure.
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	ld.l, ld.err = s.read(lctx, mv)
	cancel()
	if ld.err == nil {
		s.mu.Lock()
		if len(s.cache) >= maxCached {
			for d := range s.cache {
				delete(s.cache, d)
				break
			}
		}
		s.cache[digest] = ld.l
		s.mu.Unlock()
	}
	s.lmu.Lock()
	delete(s.loads, digest)
	s.lmu.Unlock()
	close(ld.done)
	return ld.l, ld.err
}

func (s *Server) read(ctx context.Context, mv *cairn.ModelVersion) (*loaded, *Error) {
	ref := mv.Model
	fail := func(outcome, format string, args ...any) (*loaded, *Error) {
		s.o.Observe(Event{Kind: EventLoad, Model: mv.Name, Version: mv.Version, Outcome: outcome})
		return nil, &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Row: -1,
			Msg: fmt.Sprintf("model %s@%d cannot be served: its artifact %s ", mv.Name, mv.Version, ref.Digest) + fmt.Sprintf(format, args...)}
	}
	rc, err := s.o.Artifacts.Open(ctx, ref)
	if errors.Is(err, cairn.ErrNotFound) {
		return fail(LoadMissing, "is not in the server's artifact store")
	}
	if err != nil {
		return fail(LoadError, "cannot be opened: %v", err)
	}
	raw, err := io.ReadAll(rc)
	rc.Close()
	switch {
	case errors.Is(err, artifacts.ErrCorrupt):
		return fail(LoadCorrupt, "is corrupt: the bytes on disk do not match the digest (%v)", err)
	case err != nil:
		return fail(LoadError, "cannot be read: %v", err)
	}
	m, err := model.Decode(bytes.NewReader(raw))
	if err != nil {
		return fail(LoadInvalid, "is not a model this server reads: %v", err)
	}
	p, err := m.Checked()
	if err != nil {
		return fail(LoadInvalid, "is not a model this server reads: %v", err)
	}
	s.o.Observe(Event{Kind: EventLoad, Model: mv.Name, Version: mv.Version, Outcome: LoadOK})
	return newLoaded(ref.Digest, m, p), nil
}

// bufs are request bodies and outs responses, reused.
var (
	bufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}
	outs = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}
)

// maxPooled is the largest buffer put back in the pool.
const maxPooled = 4 << 20

// Predict answers one request: body is {"rows": [{column: value, ...},
// ...]}, the answer, written to w only when it is whole, is {"model",
// "version", "request_id", "classes" (classifiers), "predictions",
// "probabilities" (classifiers)}; when w has headers (an
// http.ResponseWriter), they say the version (HeaderVersion), the
// request id (HeaderRequestID) and, during a rollout, the arm. version 0
// is the production version — or, during a canary or A-B rollout, the
// candidate for the keys its share routes to it (key: the request's
// routing key; "" routes by the request id, that is at random) —, any
// other pins that version whatever its stage (during a rollout, one of
// its two). A candidate that fails to answer (not a bad request) is
// counted against it and production answers instead. Errors are *Error
// (with their HTTP status), an error wrapping *http.MaxBytesError for a
// body over the caller's limit, or a plain error (the registry failed:
// a 500).
func (s *Server) Predict(ctx context.Context, name string, version int, key string, body io.Reader, w io.Writer) error {
	start := time.Now()
	a, ro, known, err := s.resolve(ctx, name, version)
	rows := 0
	ev := Event{Kind: EventPredict, Code: "ok"}
	if err == nil {
		var in *bytes.Buffer
		handed := false // to the shadow workers, who put it back
		in, err = s.readBody(ctx, body)
		if in != nil {
			defer func() {
				if !handed && in.Cap() <= maxPooled {
					bufs.Put(in)
				}
			}()
		}
		if err == nil {
			id := newRequestID()
			if key == "" {
				key = id
			}
			served, arm := a, ""
			if ro != nil {
				arm = "production"
				if ro.r.Spec.Strategy != cairn.StrategyShadow && cairn.ToCandidate(name, key, ro.r.Share) {
					served, arm = ro.cand, "candidate"
				}
			}
			var (
				p     *model.Prediction
				dec   *decoder  // production's rows, for a shadow candidate that reads the same columns
				decTo **decoder // where predict leaves them
			)
			if ro != nil && ro.sameIn && ro.r.Spec.Strategy == cairn.StrategyShadow {
				decTo = &dec
			}
			rows, p, err = s.predict(ctx, name, served, in.Bytes(), id, arm, w, decTo)
			if dec != nil {
				defer dec.release()
			}
			if cerr := err; cerr != nil && served != a && codeOf(cerr) != CodeTooLarge {
				// The candidate could not answer: production answers. It
				// counts against the candidate when it is the model's
				// fault, or when production takes rows the candidate
				// refuses (a candidate whose columns differ).
				cand := served
				served, arm = a, "production"
				rows, p, err = s.predict(ctx, name, served, in.Bytes(), id, arm, w, nil)
				if modelFault(codeOf(cerr)) || err == nil {
					s.logRequest(name, cand, id, false, start, rows, nil, cerr)
					s.o.Observe(Event{Kind: EventPredict, Model: name, Version: cand.version, Code: codeOf(cerr), Duration: time.Since(start), Arm: "candidate"})
					s.o.Logger.Warn("serve: a rollout's candidate failed a request; production answered it", "model", name, "candidate", cand.version, "err", cerr)
				}
			}
			a = served
			ev.Arm = arm
			if p != nil {
				ev.ModelKind, ev.Predictions, ev.Classes = string(served.m.Kind), p, served.m.Classes
			}
			if err == nil && ro != nil && ro.r.Spec.Strategy == cairn.StrategyShadow {
				// The row is logged by the shadow worker, with the
				// candidate's answer in it.
				var prod cairn.ModelRequest
				if s.reqs != nil {
					prod = s.requestRow(name, served, id, start, rows, p, err)
				}
				var taken bool
				if taken, handed = s.shadow(name, id, ro.cand, in, dec, prod); !taken && s.reqs != nil {
					s.reqs.add(prod)
				}
			} else if err == nil || modelFault(codeOf(err)) {
				s.logRequest(name, served, id, false, start, rows, p, err)
			}
		}
	}
	ev.Rows, ev.Duration = rows, time.Since(start)
	if known {
		ev.Model = name
	}
	if a != nil {
		ev.Version = a.version
	}
	if err != nil {
		ev.Code = codeOf(err)
	}
	s.o.Observe(ev)
	return err
}

// inputErr is err of a model's Predict as a 400 naming the row when the
// row is at fault (a finite value the model's preprocessing takes past
// the range of a float64): counted as the caller's error, not the
// model's, so that a hostile client cannot fail a canary with it. Any
// other error stays as it is: the model's.
func inputErr(err error) error {
	var in *model.InputError
	if errors.As(err, &in) {
		return rowErr(in.Row, "", "%s", in.Msg)
	}
	return err
}

// codeOf is the code an error of Predict is counted under.
func codeOf(err error) string {
	var e *Error
	var tooLarge *http.MaxBytesError
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &e):
		return e.Code
	case errors.As(err, &tooLarge):
		return CodeTooLarge
	}
	return "internal"
}

// logRequest puts a request answered (or failed by the model) in the
// request log.
func (s *Server) logRequest(name string, a *active, id string, shadow bool, start time.Time, rows int, p *model.Prediction, err error) {
	if s.reqs == nil {
		return
	}
	r := s.requestRow(name, a, id, start, rows, p, err)
	r.Shadow = shadow
	s.reqs.add(r)
}

// requestRow is the request log's row of a request that version a
// answered (or failed, err).
func (s *Server) requestRow(name string, a *active, id string, start time.Time, rows int, p *model.Prediction, err error) cairn.ModelRequest {
	r := cairn.ModelRequest{RequestID: id, Name: name, Version: a.version, At: start, Duration: time.Since(start),
		Failed: err != nil, Rows: rows, Kind: string(a.m.Kind)}
	if p != nil && err == nil && rows <= MaxLoggedRows {
		r.Predictions = a.appendPredictions(make([]byte, 0, 8*rows+2), p)
	}
	return r
}

// bodyBudget is the bytes of one budget of bodies being read (see
// bigBody): maxBody per CPU, at least 2, in whole chunks.
func bodyBudget(maxBody int64) int64 {
	n := int64(max(2, runtime.GOMAXPROCS(0))) * maxBody
	return max(bigChunk, n/bigChunk*bigChunk)
}

// acquire takes a chunk of sem, waiting at most BodyWait (or until ctx
// ends).
func (s *Server) acquire(ctx context.Context, sem *semaphore.Weighted) error {
	if sem.TryAcquire(bigChunk) {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.o.BodyWait)
	defer cancel()
	return sem.Acquire(ctx, bigChunk)
}

// readBody reads a request's body into a pooled buffer (nil with an
// error), every chunk within the budget (see bigBody), a chunk waiting for
// its turn at most BodyWait.
func (s *Server) readBody(ctx context.Context, body io.Reader) (*bytes.Buffer, error) {
	in := bufs.Get().(*bytes.Buffer)
	in.Reset()
	var (
		head, big int64 // the budget held, of s.head and s.big
		total     int64 // the bytes read
		err       error
	)
	defer func() {
		s.head.Release(head)
		s.big.Release(big)
	}()
	limit := s.o.MaxBodyBytes
	for {
		sem, held, what := s.head, &head, "body"
		if total >= bigBody {
			sem, held, what = s.big, &big, "large body"
		}
		if werr := s.acquire(ctx, sem); werr != nil {
			bufs.Put(in)
			msg := "the request ended while its " + what + " waited for its turn"
			if ctx.Err() == nil {
				msg = fmt.Sprintf("the server is reading as many request bodies as its memory budget allows: this %s waited %s for its turn; try again", what, s.o.BodyWait)
			}
			return nil, &Error{Status: http.StatusServiceUnavailable, Code: CodeBusy, Row: -1, Err: werr, Msg: msg}
		}
		*held += bigChunk
		want := min(int64(bigChunk), limit+1-total) // a byte past the limit tells it is passed
		var n int64
		n, err = in.ReadFrom(io.LimitReader(body, want))
		total += n
		if err == nil && total > limit {
			err = &http.MaxBytesError{Limit: limit}
		}
		if err != nil || n < want {
			break
		}
	}
	if err != nil {
		bufs.Put(in)
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, fmt.Errorf("read the request body: %w", err)
		}
		return nil, &Error{Status: http.StatusBadRequest, Code: CodeBadInput, Row: -1, Msg: "read the request body: " + err.Error()}
	}
	return in, nil
}

// predict answers a request with version a. With rowsOut, a request
// answered leaves its decoded rows there (the caller releases them) for
// a shadow candidate that reads the same columns.
func (s *Server) predict(ctx context.Context, name string, a *active, body []byte, id, arm string, w io.Writer, rowsOut **decoder) (int, *model.Prediction, error) {
	if a.broken != nil {
		return 0, nil, a.broken
	}
	var keep func() bool
	if s.samples != nil || s.rows != nil {
		rate, draw := s.o.SampleRate, s.o.Rand
		keep = func() bool { return draw() < rate }
	}
	d := newDecoder(a.in, body, s.o.MaxRows, keep)
	handed := false
	defer func() {
		if !handed {
			d.release()
		}
	}()
	if err := d.decode(); err != nil {
		return 0, nil, err
	}
	p, err := a.p.Predict(d.frame())
	if err != nil {
		return 0, nil, fmt.Errorf("model %s@%d: %w", name, a.version, inputErr(err))
	}
	if hw, ok := w.(interface{ Header() http.Header }); ok {
		h := hw.Header()
		h.Set(HeaderVersion, strconv.Itoa(a.version))
		h.Set(HeaderRequestID, id)
		if arm != "" {
			h.Set(HeaderArm, arm)
		}
	}
	bp := outs.Get().(*[]byte)
	b := a.appendResponse((*bp)[:0], name, a.version, id, p)
	_, err = w.Write(b)
	if cap(b) <= maxPooled {
		*bp = b
		outs.Put(bp)
	}
	if s.samples != nil || s.rows != nil {
		now := s.o.Now()
		if s.samples != nil {
			s.samples.add(name, a.version, now, d)
		}
		if s.rows != nil && err == nil {
			s.rows.add(name, a.version, now, d)
		}
	}
	if err != nil {
		return d.n, p, fmt.Errorf("write the answer: %w", err)
	}
	if rowsOut != nil {
		*rowsOut, handed = d, true
	}
	return d.n, p, nil
}
