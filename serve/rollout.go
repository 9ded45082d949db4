package serve

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/internal/jsoncheck"
	"github.com/cairnml/cairn/tasks/ml/dataset"
	"github.com/cairnml/cairn/tasks/ml/model"
)

// RolloutReader is what serving reads of a model's rollout (*sqlite.Store
// and *postgres.Store satisfy it): Rollout returns the rollout of name,
// active or not, or an error wrapping cairn.ErrNotFound.
type RolloutReader interface {
	Rollout(ctx context.Context, name string) (*cairn.Rollout, error)
}

// RequestLog is where served requests are logged and their feedback
// recorded (the store's request log).
type RequestLog interface {
	LogRequests(ctx context.Context, rs []cairn.ModelRequest) error
	ModelRequests(ctx context.Context, name, requestID string) ([]cairn.ModelRequest, error)
	SetFeedback(ctx context.Context, name, requestID string, scores []cairn.RequestScore) error
}

// Request log defaults.
const (
	// DefaultLogBuffer bounds the requests waiting to be written.
	DefaultLogBuffer = 20000
	// MaxLoggedRows is the most rows of a request whose predictions are
	// logged (a larger request is logged without them: its feedback
	// scores nothing).
	MaxLoggedRows = 1000
	// logEvery is how often the request log is written.
	logEvery = 500 * time.Millisecond
	// shadowQueue and shadowQueueBytes bound the shadowed requests
	// waiting for the candidate (their number and their bodies' bytes);
	// past them they are dropped (EventShadowDropped).
	shadowQueue      = 4096
	shadowQueueBytes = 32 << 20
	// shadowEvery is how long the shadow workers let requests gather
	// before they score them, and shadowBatch the requests that wake them
	// at once: a worker wakes per batch, not per request.
	shadowEvery = 10 * time.Millisecond
	shadowBatch = 256
	// settleWait bounds how long feedback that finds no request waits for
	// the shadowed requests taken in before it to be logged.
	settleWait = 5 * time.Second
)

// Header names of a predict answer.
const (
	HeaderVersion   = "Cairn-Model-Version" // the version that answered
	HeaderRequestID = "Cairn-Request-Id"    // the id feedback names
	HeaderArm       = "Cairn-Rollout-Arm"   // production or candidate, during a rollout
)

// routed is a rollout as served: the rollout and its candidate loaded.
type routed struct {
	r    *cairn.Rollout
	cand *active
	// sameIn: the candidate reads the same columns as the production
	// version it shadows, so it is handed the rows production decoded
	// rather than the body to decode again.
	sameIn bool
}

// newRequestID returns 32 random hex digits.
func newRequestID() string {
	var b [16]byte
	for i := 0; i < 16; i += 8 {
		v := rand.Uint64()
		for k := 0; k < 8; k++ {
			b[i+k] = byte(v >> (8 * k))
		}
	}
	return hex.EncodeToString(b[:])
}

// readRollout reads e's rollout and loads its candidate when it is active
// against the production version served (base); nil otherwise. A
// candidate that does not load leaves the rollout unserved (production
// answers every request), logged.
func (s *Server) readRollout(ctx context.Context, e *entry, base *active) {
	rr, ok := s.o.Registry.(RolloutReader)
	if !ok {
		return
	}
	r, err := rr.Rollout(ctx, e.name)
	if err != nil || !r.Routes() || base == nil || r.Baseline != base.version {
		if err != nil && !errors.Is(err, cairn.ErrNotFound) && ctx.Err() == nil {
			s.o.Logger.Warn("serve: read a model's rollout; production answers every request until it is read", "model", e.name, "err", err)
		}
		if old := e.ro.Swap(nil); old != nil {
			s.o.Logger.Info("serve: rollout no longer served", "model", e.name, "candidate", old.r.Candidate)
		}
		return
	}
	if old := e.ro.Load(); old != nil && old.cand.broken == nil && sameRollout(old.r, r) {
		return
	}
	mv, err := s.o.Registry.ModelVersion(ctx, e.name, r.Candidate)
	if err != nil {
		s.o.Logger.Warn("serve: read a rollout's candidate; production answers every request", "model", e.name, "candidate", r.Candidate, "err", err)
		e.ro.Store(nil)
		return
	}
	l, lerr := s.load(ctx, mv)
	if lerr != nil {
		// Routed as ever, the candidate's requests fail as its own: the
		// rollout judges them (a canary is rolled back) while production
		// answers them.
		s.o.Logger.Error("serve: a rollout's candidate cannot be served; production answers its requests, each counted as its failure", "model", e.name,
			"candidate", r.Candidate, "err", lerr.Msg)
		// Its kind, which the request log's rows must name, is taken to
		// be production's (its own cannot be read).
		e.ro.Store(&routed{r: r, cand: &active{version: r.Candidate, loaded: &loaded{digest: mv.Model.Digest, m: &model.Model{Kind: base.m.Kind}}, broken: lerr}})
		return
	}
	e.ro.Store(&routed{r: r, cand: &active{version: r.Candidate, loaded: l}, sameIn: base.in.same(l.in)})
	s.o.Logger.Info("serve: rollout served", "model", e.name, "strategy", r.Spec.Strategy, "baseline", r.Baseline,
		"candidate", r.Candidate, "share", r.Share)
}

// reqLog buffers served requests and writes them to the RequestLog from
// its own goroutine, so that a request never waits for the database.
type reqLog struct {
	log     RequestLog
	max     int
	logger  *slog.Logger
	observe func(Event)

	mu      sync.Mutex
	pending []cairn.ModelRequest
	flushMu sync.Mutex           // one write at a time
	spare   []cairn.ModelRequest // under flushMu: the array written last, empty
	wake    chan struct{}
	stop    chan struct{}
	done    chan struct{}
	failing bool // the last write failed (logged once)
}

func (l *reqLog) add(r cairn.ModelRequest) {
	l.mu.Lock()
	if len(l.pending) >= l.max {
		l.mu.Unlock()
		l.observe(Event{Kind: EventRequestsDropped, Model: r.Name, Version: r.Version, Rows: 1})
		return
	}
	l.pending = append(l.pending, r)
	n := len(l.pending)
	l.mu.Unlock()
	if n >= 1000 {
		select {
		case l.wake <- struct{}{}:
		default:
		}
	}
}

func (l *reqLog) run() {
	defer close(l.done)
	t := time.NewTicker(logEvery)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_ = l.flush(ctx)
			cancel()
			return
		case <-t.C:
		case <-l.wake:
		}
		_ = l.flush(context.Background())
	}
}

// flush writes the pending requests; those a failed write held are
// dropped (counted) so that a database that is down takes no memory.
func (l *reqLog) flush(ctx context.Context) error {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	// Two arrays take turns (under flushMu): one takes the requests while
	// the other is written, so that the buffer does not grow again at
	// every flush.
	l.mu.Lock()
	batch := l.pending
	l.pending, l.spare = l.spare[:0], nil
	l.mu.Unlock()
	defer func() {
		clear(batch) // the predictions go
		l.spare = batch[:0]
	}()
	if len(batch) == 0 {
		return nil
	}
	err := l.log.LogRequests(ctx, batch)
	if err != nil {
		for _, r := range batch {
			l.observe(Event{Kind: EventRequestsDropped, Model: r.Name, Version: r.Version, Rows: 1})
		}
		if !l.failing {
			l.failing = true
			l.logger.Warn("serve: write the request log; these requests get no feedback and count in no live metric", "requests", len(batch), "err", err)
		}
		return err
	}
	if l.failing {
		l.failing = false
		l.logger.Info("serve: the request log is written again")
	}
	return nil
}

// shadowJob is a request for the candidate of a shadow rollout: either
// its rows as production decoded them, copied into the queue's arrays
// (rows; a candidate that reads the same columns), or its body, the
// request's own pooled buffer handed over (not copied), which the worker
// puts back.
type shadowJob struct {
	name string
	id   string
	cand *active
	body *bytes.Buffer // nil when the rows are in rows
	rows shadowRows
	// prod is the production version's row of the request, logged with
	// the candidate's answer in it (one row, one insert) when the server
	// keeps a request log; by value (no allocation of its own).
	prod cairn.ModelRequest
}

// shadowRows says where a request's decoded rows are in its batch's
// arrays (shadowBatchRows): n rows, their values column after column
// from num (numeric, boolean and datetime columns) and str (categorical
// ones), and their missing flags column after column from miss, every
// column's (-1 when none is missing).
type shadowRows struct {
	n, num, str, miss int
}

// shadowBatchRows are the arrays that hold the decoded rows of a batch
// of shadowed requests: the queue appends to them, a worker takes them
// with the batch and gives them back emptied.
type shadowBatchRows struct {
	num  []float64
	str  []string
	miss []bool
}

// shadowTaken is what a worker takes from the queue: the requests
// waiting and the arrays their rows are in.
type shadowTaken struct {
	jobs []shadowJob
	shadowBatchRows
}

// shadowQ holds the shadowed requests waiting for the shadow workers.
type shadowQ struct {
	mu      sync.Mutex
	pending []shadowJob
	rows    shadowBatchRows // the pending requests' decoded rows
	bytes   int
	closed  bool
	wake    chan struct{} // a batch waits (cap 1)
	stop    chan struct{} // closed by Stop: score what waits, then end
	// queued counts the requests ever taken in (under mu), scored those
	// the workers scored and handed to the request log: feedback that
	// finds no request waits for the ones taken in before it.
	queued uint64
	scored atomic.Uint64
}

// rowsBytes is what a request's decoded rows take in the queue's
// arrays (counted against shadowQueueBytes as a body is).
func rowsBytes(d *decoder) int {
	b := 0
	for j, c := range d.s.cols {
		if c.kind == dataset.Categorical {
			b += 16 * d.n
		} else {
			b += 8 * d.n
		}
		if d.cols[j].Missing != nil {
			b += d.n
		}
	}
	return b
}

// shadow hands a request to the shadow workers — its rows d as
// production decoded them when d is not nil, else its body —, or drops
// it when they are behind (or stopped). taken: they took it; handed: the
// body buffer is theirs.
func (s *Server) shadow(name, id string, cand *active, body *bytes.Buffer, d *decoder, prod cairn.ModelRequest) (taken, handed bool) {
	q := &s.sq
	size := body.Len()
	if d != nil {
		size = rowsBytes(d)
	}
	q.mu.Lock()
	if q.closed || len(q.pending) >= shadowQueue || q.bytes+size > shadowQueueBytes {
		closed := q.closed
		q.mu.Unlock()
		if !closed {
			s.o.Observe(Event{Kind: EventShadowDropped, Model: name, Version: cand.version, Rows: 1})
		}
		return false, false
	}
	j := shadowJob{name: name, id: id, cand: cand, prod: prod}
	if d != nil {
		j.rows = q.rows.add(d)
	} else {
		j.body = body
	}
	q.pending = append(q.pending, j)
	q.bytes += size
	q.queued++
	n := len(q.pending)
	q.mu.Unlock()
	if n == 1 || n == shadowBatch {
		select {
		case q.wake <- struct{}{}:
		default:
		}
	}
	return true, d == nil
}

// add copies the rows of d's frame (its columns made by predict) to the
// arrays and says where they are.
func (b *shadowBatchRows) add(d *decoder) shadowRows {
	r := shadowRows{n: d.n, num: len(b.num), str: len(b.str), miss: -1}
	for j, c := range d.s.cols {
		col := &d.cols[j]
		if c.kind == dataset.Categorical {
			b.str = append(b.str, col.Str[:d.n]...)
		} else {
			b.num = append(b.num, col.Num[:d.n]...)
		}
		if col.Missing != nil && r.miss < 0 {
			r.miss = len(b.miss)
			for range j * d.n { // the columns before had none missing
				b.miss = append(b.miss, false)
			}
		}
		if r.miss >= 0 {
			if col.Missing != nil {
				b.miss = append(b.miss, col.Missing[:d.n]...)
			} else {
				for range d.n {
					b.miss = append(b.miss, false)
				}
			}
		}
	}
	return r
}

// take returns the requests waiting and their rows, leaving spare's
// arrays (emptied) in their place.
func (q *shadowQ) take(spare shadowTaken) shadowTaken {
	q.mu.Lock()
	defer q.mu.Unlock()
	t := shadowTaken{jobs: q.pending, shadowBatchRows: q.rows}
	q.pending, q.bytes = spare.jobs[:0], 0
	q.rows = shadowBatchRows{num: spare.num[:0], str: spare.str[:0], miss: spare.miss[:0]}
	return t
}

// shadowFrame is a shadow worker's frame of a request's rows in a batch's
// arrays, reused from request to request.
type shadowFrame struct {
	cols []dataset.Column
	f    dataset.Frame
}

// of sets the frame to the rows r of b, in the columns of schema sc.
func (sf *shadowFrame) of(sc *schema, b *shadowBatchRows, r shadowRows) *dataset.Frame {
	if len(sf.cols) != len(sc.cols) {
		sf.cols = make([]dataset.Column, len(sc.cols))
		sf.f.Columns = make([]*dataset.Column, len(sc.cols))
		for j := range sf.cols {
			sf.f.Columns[j] = &sf.cols[j]
		}
	}
	num, str, miss := r.num, r.str, r.miss
	for j, c := range sc.cols {
		col := &sf.cols[j]
		*col = dataset.Column{Name: c.name, Kind: c.kind}
		if c.kind == dataset.Categorical {
			col.Str = b.str[str : str+r.n : str+r.n]
			str += r.n
		} else {
			col.Num = b.num[num : num+r.n : num+r.n]
			num += r.n
		}
		if miss >= 0 {
			// A decoder's column has missing flags only when one is
			// missing: so does this one.
			if m := b.miss[miss : miss+r.n : miss+r.n]; slices.Contains(m, true) {
				col.Missing = m
			}
			miss += r.n
		}
	}
	return &sf.f
}

// shadowLoop is a shadow worker: woken by the first request waiting, it
// lets a batch gather for shadowEvery (or until shadowBatch wait), then
// scores every request waiting, until none does.
func (s *Server) shadowLoop() {
	defer s.shadowWG.Done()
	q := &s.sq
	gather := time.NewTimer(shadowEvery)
	gather.Stop()
	var (
		spare shadowTaken
		arena predArena
		frame shadowFrame
	)
	drain := func() {
		for {
			batch := q.take(spare)
			if len(batch.jobs) == 0 {
				spare = batch
				return
			}
			for i := range batch.jobs {
				s.shadowOne(&batch.jobs[i], &batch.shadowBatchRows, &frame, &arena)
				batch.jobs[i] = shadowJob{}
			}
			q.scored.Add(uint64(len(batch.jobs)))
			clear(batch.str) // the strings go
			spare = batch
		}
	}
	for {
		select {
		case <-q.stop:
			drain()
			return
		case <-q.wake:
		}
		gather.Reset(shadowEvery)
		select {
		case <-gather.C:
		case <-q.wake: // a batch is waiting
			gather.Stop()
		case <-q.stop:
			gather.Stop()
		}
		drain()
	}
}

// settleShadows waits, up to maxWait, until every shadowed request taken
// in before the call is scored and in the request log's buffer: a shadowed
// request's production row is logged with the candidate's answer, so
// feedback sent right after the answer would otherwise not find it.
func (s *Server) settleShadows(ctx context.Context, maxWait time.Duration) {
	q := &s.sq
	q.mu.Lock()
	target := q.queued
	q.mu.Unlock()
	if q.scored.Load() >= target {
		return
	}
	select {
	case q.wake <- struct{}{}: // no gathering: score what waits now
	default:
	}
	deadline := time.Now().Add(maxWait)
	for q.scored.Load() < target && ctx.Err() == nil && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
}

// predArena is where a shadow worker writes the candidate's predictions
// for the request log: one array for many requests' (each request's a
// slice of it, of its own capacity, which nothing appends to), so that a
// shadowed request allocates none of its own. An array is let go (to the
// collector, once the rows it holds are written) when full.
type predArena struct{ b []byte }

// predArenaSize is the size of predArena's arrays.
const predArenaSize = 16 << 10

// add writes p's predictions as a JSON array (about want bytes) and
// returns them.
func (a *predArena) add(l *loaded, p *model.Prediction, want int) []byte {
	if cap(a.b)-len(a.b) < want {
		a.b = make([]byte, 0, max(predArenaSize, want))
	}
	i := len(a.b)
	a.b = l.appendPredictions(a.b, p) // a new array when want was short: the slices before keep the old one
	return a.b[i:len(a.b):len(a.b)]
}

// evaluate is the candidate's own work on a shadowed request, which the
// user asked for: its rows predicted, and first decoded into the model's
// columns when it was not handed them (decoded by production, when both
// read the same columns: frame). Everything else shadow scoring does is
// its overhead (BenchmarkShadow measures it apart). The caller releases
// d (nil when frame was given, or the candidate is broken).
func (s *Server) evaluate(cand *active, body []byte, frame *dataset.Frame) (d *decoder, p *model.Prediction, rows int, err error) {
	if cand.broken != nil {
		return nil, nil, 0, cand.broken
	}
	if frame == nil {
		d = newDecoder(cand.in, body, s.o.MaxRows, nil)
		if err := d.decode(); err != nil {
			return d, nil, d.n, err
		}
		frame = d.frame()
	}
	rows = frame.Rows()
	p, err = cand.p.Predict(frame)
	if err != nil {
		return d, nil, rows, inputErr(err)
	}
	return d, p, rows, nil
}

// EvaluateCandidate does on the candidate of model name's rollout, as
// served, what shadow scoring does of the candidate's own work on n
// requests, bodies in turn (evaluate: their rows predicted, and decoded
// first unless the candidate reads the same columns as production, which
// decodes them for both), and nothing else; an error when no rollout of
// name is served. It is for measuring what shadow scoring adds beside
// that work (serve's BenchmarkShadow, and bench's BenchmarkShadowHTTP
// through cairn server's CAIRN_DEBUG_ADDR), not for serving.
func (s *Server) EvaluateCandidate(name string, bodies [][]byte, n int) error {
	s.mu.RLock()
	e := s.names[name]
	s.mu.RUnlock()
	var ro *routed
	if e != nil {
		ro = e.ro.Load()
	}
	if ro == nil {
		return fmt.Errorf("model %s: no rollout served, so no candidate to evaluate", name)
	}
	frames := make([]*dataset.Frame, len(bodies))
	if ro.sameIn {
		// Decoded once, as production decodes each request: not the
		// candidate's work.
		for i, b := range bodies {
			d := newDecoder(ro.cand.in, b, s.o.MaxRows, nil)
			if err := d.decode(); err != nil {
				return err
			}
			frames[i] = d.frame()
			defer d.release()
		}
	}
	for i := range n {
		d, _, _, err := s.evaluate(ro.cand, bodies[i%len(bodies)], frames[i%len(bodies)])
		if d != nil {
			d.release()
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// shadowOne scores a shadowed request with the candidate and logs it,
// off the request's path: the candidate's answer goes in the production
// row the request handed over (one row of the request log).
func (s *Server) shadowOne(j *shadowJob, b *shadowBatchRows, sf *shadowFrame, arena *predArena) {
	start := time.Now()
	var (
		d     *decoder
		p     *model.Prediction
		rows  int
		err   error
		frame *dataset.Frame
	)
	if j.body == nil {
		frame = sf.of(j.cand.in, b, j.rows)
		d, p, rows, err = s.evaluate(j.cand, nil, frame)
	} else {
		d, p, rows, err = s.evaluate(j.cand, j.body.Bytes(), nil)
		defer func() {
			if d != nil {
				d.release()
			}
			if j.body.Cap() <= maxPooled {
				bufs.Put(j.body)
			}
		}()
	}
	dur := time.Since(start)
	code := "ok"
	if err != nil {
		code = "internal"
		var e *Error
		if errors.As(err, &e) {
			code = e.Code
		}
	}
	ev := Event{Kind: EventShadow, Model: j.name, Version: j.cand.version, Code: code, Rows: rows, Duration: dur, Arm: "shadow"}
	if err == nil {
		ev.ModelKind, ev.Predictions, ev.Classes = string(j.cand.m.Kind), p, j.cand.m.Classes
	}
	s.o.Observe(ev)
	if s.reqs != nil {
		r := &j.prod
		if code == "ok" || modelFault(code) { // else the request's fault: not the candidate's answer
			r.ShadowVersion, r.ShadowDuration, r.ShadowFailed, r.ShadowKind = j.cand.version, dur, err != nil, string(j.cand.m.Kind)
			if err == nil && rows <= MaxLoggedRows {
				r.ShadowPredictions = arena.add(j.cand.loaded, p, 8*rows+2)
			}
		}
		s.reqs.add(*r)
	}
}

// modelFault says whether an error code is the model's (it counts in its
// error rate), not the request's.
func modelFault(code string) bool { return code == "internal" || code == CodeUnavailable }

// appendPredictions writes the JSON array of p's predictions.
func (l *loaded) appendPredictions(b []byte, p *model.Prediction) []byte {
	b = append(b, '[')
	if l.list != nil {
		for i, c := range p.Class {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, l.classes[c]...)
		}
	} else {
		for i, v := range p.Value {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendFloat(b, v)
		}
	}
	return append(b, ']')
}

// Feedback is an answer to POST /api/v1/models/{name}/feedback.
type Feedback struct {
	RequestID string          `json:"request_id"`
	Scored    []FeedbackScore `json:"scored"`
}

// FeedbackScore is what feedback made of one version's predictions.
type FeedbackScore struct {
	Version int    `json:"version"`
	Shadow  bool   `json:"shadow,omitempty"`
	Labeled int    `json:"labeled"`
	Metric  string `json:"metric"` // accuracy or mae
	// Value is the metric over this request's labeled rows: nil (null)
	// when none is labeled, not an accuracy of 0.
	Value *float64 `json:"value"`
}

// maxFeedbackBody bounds a feedback request's body.
const maxFeedbackBody = 4 << 20

// Label records the true labels of a request answered before: body
// is {"request_id": ID, "labels": [label, ...]}, one label per row of the
// request (null for a row whose label is not known), and every version
// that scored the request (the one that answered, and a shadow
// candidate) gets its labeled rows and its score, which live metrics are
// computed from. A second feedback of a request replaces the first.
// Errors are *Error: 404 for a model or request id not logged (nothing
// changes), 400 for a body that is not one or labels that do not match
// the request's rows, 501 when the server keeps no request log.
func (s *Server) Label(ctx context.Context, name string, body io.Reader) (*Feedback, error) {
	if s.reqs == nil {
		return nil, &Error{Status: http.StatusNotImplemented, Code: "not_implemented", Row: -1,
			Msg: "this server keeps no request log, so it takes no feedback"}
	}
	if err := cairn.ValidModelName(name); err != nil {
		return nil, &Error{Status: http.StatusNotFound, Code: CodeNotFound, Row: -1, Msg: err.Error()}
	}
	raw, err := io.ReadAll(io.LimitReader(body, maxFeedbackBody+1))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, fmt.Errorf("read the request body: %w", err)
		}
		return nil, badInput("read the request body: %v", err)
	}
	if len(raw) > maxFeedbackBody {
		return nil, &Error{Status: http.StatusRequestEntityTooLarge, Code: CodeTooLarge, Row: -1,
			Msg: fmt.Sprintf("the body is larger than %d bytes: send the labels of one request at a time", maxFeedbackBody)}
	}
	var in struct {
		RequestID *string           `json:"request_id"`
		Labels    []json.RawMessage `json:"labels"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return nil, badInput(`the body is not {"request_id": "…", "labels": [label, …]}: %v`, err)
	}
	if err := jsoncheck.Check(raw); err != nil {
		return nil, badInput("the body: %v", err)
	}
	if in.RequestID == nil || *in.RequestID == "" {
		return nil, badInput(`request_id is required: the "request_id" of the predict answer`)
	}
	if in.Labels == nil {
		return nil, badInput(`labels is required: one label per row of the request, null for a row without one`)
	}
	id := *in.RequestID
	// A request answered a moment ago may still be in the buffer, or,
	// shadowed, waiting for the candidate's answer to be logged with it.
	_ = s.reqs.flush(ctx)
	logged, err := s.reqs.log.ModelRequests(ctx, name, id)
	if err == nil && len(logged) == 0 {
		s.settleShadows(ctx, settleWait)
		_ = s.reqs.flush(ctx)
		logged, err = s.reqs.log.ModelRequests(ctx, name, id)
	}
	if err != nil {
		return nil, fmt.Errorf("feedback of %s: %w", name, err)
	}
	if len(logged) == 0 {
		return nil, &Error{Status: http.StatusNotFound, Code: CodeNotFound, Row: -1, Err: cairn.ErrNotFound,
			Msg: fmt.Sprintf("model %s has no logged request %s (requests are kept 7 days; a request of over %d rows, or one that failed, takes no feedback)",
				name, brief([]byte(id)), MaxLoggedRows)}
	}
	out := &Feedback{RequestID: id}
	var scores []cairn.RequestScore
	for _, r := range logged {
		if r.Failed || r.Predictions == nil {
			continue
		}
		var preds []json.RawMessage
		if err := json.Unmarshal(r.Predictions, &preds); err != nil {
			return nil, fmt.Errorf("feedback of %s: the logged predictions of %s@%d: %w", id, name, r.Version, err)
		}
		if len(in.Labels) != len(preds) {
			return nil, badInput("labels has %d values, the request had %d rows: give one label per row, null for a row without one", len(in.Labels), len(preds))
		}
		var classes [][]byte
		if r.Kind != string(model.Regression) {
			// A classifier's label must be one of its classes: "yes"
			// for 1, a boolean or a typo would count as a miss and
			// could roll a canary back. A version that cannot be read
			// now (its artifact collected) is scored as before.
			if a, _, err := s.pinned(ctx, name, r.Version); err == nil {
				classes = a.classes
			}
		}
		sc, err := score(r.Kind, preds, in.Labels, classes)
		if err != nil {
			return nil, err
		}
		sc.Version = r.Version
		scores = append(scores, sc)
		fs := FeedbackScore{Version: r.Version, Shadow: r.Shadow, Labeled: sc.Labeled}
		st := cairn.RequestStats{Kind: r.Kind, Labeled: sc.Labeled, Score: sc.Score}
		name, v, ok := st.LiveMetric()
		fs.Metric = name
		if ok {
			fs.Value = &v
		}
		out.Scored = append(out.Scored, fs)
	}
	if len(scores) == 0 {
		return nil, &Error{Status: http.StatusNotFound, Code: CodeNotFound, Row: -1, Err: cairn.ErrNotFound,
			Msg: fmt.Sprintf("request %s of model %s has no predictions logged to score (it failed, or had over %d rows)", brief([]byte(id)), name, MaxLoggedRows)}
	}
	if err := s.reqs.log.SetFeedback(ctx, name, id, scores); err != nil {
		if errors.Is(err, cairn.ErrNotFound) {
			return nil, &Error{Status: http.StatusNotFound, Code: CodeNotFound, Row: -1, Err: err, Msg: err.Error()}
		}
		return nil, fmt.Errorf("feedback of %s: %w", name, err)
	}
	return out, nil
}

// maxLabel bounds a regressor's label: the sum of absolute errors of
// 10^8 such labels stays finite.
const maxLabel = 1e300

// score compares predictions with labels: for a classifier the rows
// predicted right, for a regressor the sum of absolute errors, over the
// rows whose label is not null. classes, if given, are a classifier's
// classes as JSON values: a label that is none of them is refused.
func score(kind string, preds, labels []json.RawMessage, classes [][]byte) (cairn.RequestScore, error) {
	var sc cairn.RequestScore
	for i, l := range labels {
		if len(l) == 0 || string(l) == "null" {
			continue
		}
		if l[0] == '{' || l[0] == '[' {
			return sc, &Error{Status: http.StatusBadRequest, Code: CodeBadInput, Row: i, Field: "labels",
				Msg: fmt.Sprintf("labels[%d]: a label is a class (a string, number or boolean) or a number, got %s", i, brief(l))}
		}
		if kind == string(model.Regression) {
			y, err := strconv.ParseFloat(string(l), 64)
			if err != nil || math.IsInf(y, 0) {
				return sc, &Error{Status: http.StatusBadRequest, Code: CodeBadInput, Row: i, Field: "labels",
					Msg: fmt.Sprintf("labels[%d]: a regressor's label is a number, got %s", i, brief(l))}
			}
			if math.Abs(y) > maxLabel {
				// Its error, summed with others over a window, would
				// overflow the live metric to +Inf.
				return sc, &Error{Status: http.StatusBadRequest, Code: CodeBadInput, Row: i, Field: "labels",
					Msg: fmt.Sprintf("labels[%d]: %s is out of the range a live metric is computed in (at most ±1e300)", i, brief(l))}
			}
			p, err := strconv.ParseFloat(string(preds[i]), 64)
			if err != nil {
				continue // the prediction was null (not a number): no error to measure
			}
			sc.Labeled++
			sc.Score += math.Abs(p - y)
			continue
		}
		if classes != nil && !slices.ContainsFunc(classes, func(c []byte) bool { return sameLabel(c, l) }) {
			return sc, &Error{Status: http.StatusBadRequest, Code: CodeBadInput, Row: i, Field: "labels",
				Msg: fmt.Sprintf("labels[%d]: %s is none of the model's classes %s: give the class as predict answers it, null for a row without a label",
					i, brief(l), classList(classes))}
		}
		sc.Labeled++
		if sameLabel(preds[i], l) {
			sc.Score++
		}
	}
	return sc, nil
}

// classList shows a classifier's classes in a message: [0, 1], the
// first 20 of more.
func classList(classes [][]byte) string {
	shown := classes[:min(len(classes), 20)]
	more := ""
	if len(classes) > len(shown) {
		more = fmt.Sprintf(", … (%d in all)", len(classes))
	}
	return "[" + string(bytes.Join(shown, []byte(", "))) + more + "]"
}

// sameLabel compares a predicted class with a label as values: 1 and 1.0
// are one number, and a label may give a class as a string ("1", "yes").
func sameLabel(pred, label json.RawMessage) bool {
	if bytes.Equal(pred, label) {
		return true
	}
	text := func(b json.RawMessage) string {
		var v any
		if json.Unmarshal(b, &v) != nil {
			return string(b)
		}
		switch x := v.(type) {
		case string:
			return x
		case float64:
			return strconv.FormatFloat(x, 'g', -1, 64)
		case bool:
			return strconv.FormatBool(x)
		}
		return string(b)
	}
	return text(pred) == text(label)
}

// sameRollout says whether a and b route alike.
func sameRollout(a, b *cairn.Rollout) bool {
	return a.Candidate == b.Candidate && a.Baseline == b.Baseline && a.Share == b.Share && a.Step == b.Step &&
		a.State == b.State && a.Spec.Strategy == b.Spec.Strategy
}

// Feedback is Label with its answer written to w as JSON (the API's
// route).
func (s *Server) Feedback(ctx context.Context, name string, body io.Reader, w io.Writer) error {
	fb, err := s.Label(ctx, name, body)
	if err != nil {
		return err
	}
	return json.NewEncoder(w).Encode(fb)
}
