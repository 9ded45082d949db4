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
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/artifacts"
	"github.com/cairnml/cairn/internal/groupq"
	"github.com/cairnml/cairn/secrets"
)

// ClientOptions configure a worker's client of the worker API.
type ClientOptions struct {
	// Server is the server's base URL (https://cairn.example:8080).
	Server string
	// Token is the worker token (cairn tokens create --role worker).
	Token string
	// HTTP is the client to call with (its transport carries the TLS
	// roots of --ca); nil: one of this package's.
	HTTP *http.Client
	// What the worker tells the server of itself at registration.
	Name, Host, Version string
	Labels              map[string]string
	Queues              []string
	// Types are the task types the worker can run, sorted; nil: not said
	// (the server leases it any type).
	Types       []string
	Concurrency int
	// Protocol is the worker protocol spoken (default
	// cairn.WorkerProtocol; another only in tests of a mismatch).
	Protocol int
	// Cache is the worker's local artifact store: inputs fetched once by
	// digest, outputs written there before they are uploaded. CacheMax
	// bounds it (0: no bound): past it the least recently used blobs
	// that no attempt is reading or writing go (artifacts.Cache).
	Cache    *artifacts.Dir
	CacheMax int64
	// Logger gets what the client cannot return (a log stream broken
	// off, a registration made again). Nil discards it.
	Logger *slog.Logger
}

// Client is a registered worker's side of the worker API. It is the
// lease API of an executor.Pool (executor.Leaser) and, through Logs,
// Artifacts and Cache, its log store, artifact store and task cache: a
// remote worker is the in-process pool with this client in place of the
// broker.
type Client struct {
	o     ClientOptions
	base  *url.URL
	http  *http.Client
	cache *artifacts.Cache // o.Cache, bounded by o.CacheMax

	regMu sync.Mutex // held while a lost worker registers again

	mu       sync.Mutex
	id       string // the worker id the server issued
	ttl      time.Duration
	maxWait  time.Duration
	server   string // the server's version
	leases   map[attemptKey]cairn.Lease
	secrets  map[string]*runSecrets // by run id, while the worker holds a lease of the run
	lastCall atomic.Int64           // unix nanos of the last call that reached the server

	reports groupq.Queue[*pendingReport] // completions on their way (CompleteAndLease)
	single  atomic.Bool                  // the server has no complete-many: one request per completion
	// givesBack: the server said at the last registration that it takes
	// leases back unrun (give-back), so the worker's pool may lease ahead
	// (LeasesAhead).
	givesBack bool
}

type attemptKey struct {
	run, task string
	attempt   int
}

// Errors of the client, beside cairn.ErrLeaseLost and
// cairn.ErrWorkerLost.
var (
	// ErrUnauthorized: the token was not accepted (401) or may not call
	// the worker API (403 for a user token).
	ErrUnauthorized = errors.New("not authorized")
	// ErrProtocol: the server speaks another worker protocol.
	ErrProtocol = errors.New("worker protocol mismatch")
	// ErrForbidden: the server refused to act on another worker's lease.
	ErrForbidden = errors.New("forbidden")
)

// Error is a refusal from the server: its status, code and message.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("server answered %d %s", e.Status, http.StatusText(e.Status))
	}
	return e.Message
}

// Unwrap maps the code to the sentinel it means.
func (e *Error) Unwrap() error {
	switch e.Code {
	case CodeLeaseLost:
		return cairn.ErrLeaseLost
	case CodeWorkerLost:
		return cairn.ErrWorkerLost
	case CodeUnauthorized:
		return ErrUnauthorized
	case CodeProtocol:
		return ErrProtocol
	case CodeForbidden:
		if strings.Contains(e.Message, "lease") {
			return ErrForbidden
		}
		return ErrUnauthorized
	case CodeNotFound:
		return cairn.ErrNotFound
	case CodeDigest:
		return artifacts.ErrCorrupt
	}
	return nil
}

// Register registers a worker with the server and returns its client.
func Register(ctx context.Context, o ClientOptions) (*Client, error) {
	base, err := url.Parse(strings.TrimRight(o.Server, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("--server %q: want the server's URL, such as https://cairn.example:8080", o.Server)
	}
	if o.Protocol == 0 {
		o.Protocol = cairn.WorkerProtocol
	}
	if o.Concurrency < 1 {
		o.Concurrency = 1
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if msg := checkTypes(o.Types); o.Types != nil && msg != "" {
		// A server refuses a registration whose types it cannot take (a
		// plugin's type of a name too long, too many of them): the
		// worker says none, as one of an earlier version, and is leased
		// any type, handing back those it does not have.
		o.Logger.Warn("registering without saying this worker's task types: the server would refuse them; it is leased any type and hands back those it does not have", "problem", msg)
		o.Types = nil
	}
	hc := o.HTTP
	if hc == nil {
		hc = NewHTTPClient(nil, o.Concurrency)
	}
	c := &Client{o: o, base: base, http: hc, leases: map[attemptKey]cairn.Lease{}, secrets: map[string]*runSecrets{}}
	if o.Cache != nil {
		if c.cache, err = artifacts.NewCache(o.Cache, o.CacheMax); err != nil {
			return nil, fmt.Errorf("the worker's cache: %w", err)
		}
	}
	if err := c.register(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// NewHTTPClient is an HTTP client for a worker of concurrency slots: its
// connections kept for reuse (one per slot, and some for logs and
// artifacts), no redirect followed (the token must go nowhere else), a
// TLS configuration's roots when given.
func NewHTTPClient(tr *http.Transport, concurrency int) *http.Client {
	if tr == nil {
		tr = http.DefaultTransport.(*http.Transport).Clone()
	}
	tr.MaxIdleConns = 0
	tr.MaxIdleConnsPerHost = 2*concurrency + 8
	tr.ForceAttemptHTTP2 = false // one connection per call in flight: a long-poll does not hold up the others
	return &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func (c *Client) register(ctx context.Context) error {
	var rep registerReply
	req := registerRequest{Name: c.o.Name, Host: c.o.Host, Version: c.o.Version, Labels: c.o.Labels, Queues: c.o.Queues, Types: c.o.Types,
		Concurrency: c.o.Concurrency}
	if err := c.call(ctx, http.MethodPost, "register", "", req, &rep, 30*time.Second); err != nil {
		return fmt.Errorf("register with %s: %w", c.base, err)
	}
	if rep.WorkerID == "" || rep.LeaseTTLMillis <= 0 {
		return fmt.Errorf("register with %s: the answer has no worker id or lease TTL", c.base)
	}
	c.mu.Lock()
	c.id, c.ttl, c.server = rep.WorkerID, time.Duration(rep.LeaseTTLMillis)*time.Millisecond, rep.ServerVersion
	c.maxWait = time.Duration(rep.MaxWaitMillis) * time.Millisecond
	c.reports.SetLanes(rep.CompleteLanes)
	c.givesBack = rep.GiveBack
	clear(c.leases)
	clear(c.secrets)
	c.mu.Unlock()
	return nil
}

// LeasesAhead says whether the server takes leases back unrun (its
// give-back call, told at registration): only then may the worker's pool
// lease ahead of its free slots (executor.AheadLeaser). A pool asks once,
// when it is made; should the worker register again with a server that
// lacks the call, its give-backs are refused and the items it held ahead
// end as interrupted after the lease TTL, as a lost worker's.
func (c *Client) LeasesAhead() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.givesBack
}

// ID is the worker id the server issued.
func (c *Client) ID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.id
}

// ServerVersion is the server's cairn version, as it said at registration.
func (c *Client) ServerVersion() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.server
}

// LeaseTTL is the server's lease TTL.
func (c *Client) LeaseTTL() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ttl
}

// MaxWait is the longest one lease request waits for work.
func (c *Client) MaxWait() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.maxWait
}

// Revoked is nil: a remote worker learns of a cancelled run from its
// heartbeat's answer.
func (c *Client) Revoked(cairn.Lease) <-chan struct{} { return nil }

// call sends one request: body as JSON (nil: none), the answer decoded
// into out (nil: ignored), within timeout (0: ctx's).
func (c *Client) call(ctx context.Context, method, path, id string, body, out any, timeout time.Duration) error {
	var rd io.Reader
	if body != nil {
		b, fast := []byte(nil), false
		if f, ok := body.(fastEncoder); ok {
			b, fast = f.appendFast(make([]byte, 0, 4096))
		}
		if !fast {
			var err error
			if b, err = json.Marshal(body); err != nil {
				return err
			}
		}
		rd = bytes.NewReader(b)
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	req, err := c.newRequest(ctx, method, path, id, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		return nil
	}
	if err := decodeJSON(resp.Body, resp.ContentLength, out); err != nil {
		return fmt.Errorf("%s %s: read the answer: %w", method, path, err)
	}
	return nil
}

func (c *Client) newRequest(ctx context.Context, method, path, id string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base.String()+Prefix+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.o.Token)
	req.Header.Set(HeaderProtocol, strconv.Itoa(c.o.Protocol))
	if path != "register" {
		if id == "" {
			id = c.ID()
		}
		req.Header.Set(HeaderWorker, id)
	}
	return req, nil
}

// do sends req and turns a refusal into an *Error; a 2xx answer is
// returned for its body.
func (c *Client) do(req *http.Request) (*http.Response, error) {
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, err)
	}
	c.lastCall.Store(time.Now().UnixNano())
	if resp.StatusCode/100 == 2 {
		if v := resp.Header.Get(HeaderProtocol); v != "" && v != strconv.Itoa(c.o.Protocol) {
			resp.Body.Close()
			return nil, fmt.Errorf("%s %s: the server speaks worker protocol %s, this worker %d: %w", req.Method, req.URL.Path, v, c.o.Protocol, ErrProtocol)
		}
		return resp, nil
	}
	defer resp.Body.Close()
	e := &Error{Status: resp.StatusCode}
	var body apiError
	if json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&body) == nil {
		e.Code, e.Message = body.Code, body.Message
	}
	if e.Code == "" {
		switch resp.StatusCode {
		case http.StatusUnauthorized:
			e.Code = CodeUnauthorized
		case http.StatusNotFound:
			e.Code = CodeNotFound
			if resp.Header.Get(HeaderProtocol) == "" {
				e.Message = fmt.Sprintf("%s answered 404 without the worker API: is it a cairn server?", c.base)
			}
		}
	}
	if e.Code == CodeWorkerLost {
		c.reregister(req)
	}
	return nil, fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, e)
}

// reregister registers again after the server said this worker is lost
// (it could not call for longer than the lease TTL): under a new id,
// with its leases gone — the attempts still running under them are told
// at their next heartbeat and stopped.
func (c *Client) reregister(req *http.Request) {
	if req.URL.Path == Prefix+"deregister" || req.URL.Path == Prefix+"drain" {
		return
	}
	old := req.Header.Get(HeaderWorker)
	// Calls that learn of the loss at once (the heartbeat's and the lease
	// loop's) register again once: the first under regMu, the others
	// finding its new id when they get it.
	c.regMu.Lock()
	defer c.regMu.Unlock()
	c.mu.Lock()
	current := c.id
	c.mu.Unlock()
	if old != current {
		return // registered again already
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(req.Context()), 30*time.Second)
	defer cancel()
	if err := c.register(ctx); err != nil {
		c.o.Logger.Warn("the server marked this worker lost; registering again failed", "worker", old, "err", err)
		return
	}
	c.o.Logger.Warn("the server marked this worker lost (no call within the lease TTL): registered again; the attempts it was running are handed back",
		"was", old, "now", c.ID())
}

// remember records leases handed to this worker (for their logs), and
// forget drops one.
func (c *Client) remember(items []cairn.WorkItem, sec []map[string]string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, it := range items {
		l := it.Lease
		c.leases[attemptKey{l.RunID, l.TaskID, l.Attempt}] = l
		if len(sec[i]) > 0 {
			rs := c.secrets[l.RunID]
			if rs == nil {
				rs = &runSecrets{values: map[string]string{}}
				c.secrets[l.RunID] = rs
			}
			grew := false
			for k, v := range sec[i] { // each item carries the secrets its own params use
				if _, ok := rs.values[k]; !ok {
					rs.values[k], grew = v, true
				}
			}
			if grew {
				rs.set = secrets.New(rs.values)
			}
			rs.leases++
		}
	}
}

func (c *Client) forget(l cairn.Lease) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := attemptKey{l.RunID, l.TaskID, l.Attempt}
	if _, ok := c.leases[k]; !ok {
		return
	}
	delete(c.leases, k)
	if rs := c.secrets[l.RunID]; rs != nil {
		if rs.leases--; rs.leases <= 0 {
			delete(c.secrets, l.RunID)
		}
	}
}

// runSecrets are a run's secret values while the worker holds leases of
// it.
type runSecrets struct {
	values map[string]string // by placeholder: those of the items leased so far
	set    *secrets.Set
	leases int
}

// Redact takes the secret values of every run the worker holds a lease
// of out of s (executor.Options.Redact): the pool applies it to a cache
// key's params and to the errors it reports, so that a secret value is
// never part of either, as in the server's own pool.
func (c *Client) Redact(s string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, rs := range c.secrets {
		s = rs.set.Redact(s)
	}
	return s
}

func (c *Client) leaseOf(runID, taskID string, attempt int) (cairn.Lease, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	l, ok := c.leases[attemptKey{runID, taskID, attempt}]
	return l, ok
}

// Lease asks for up to r.Max items, waiting up to r.Wait (at most the
// server's MaxWait) for some to be ready. The server takes its worker,
// routing and limits from the registration, not from r.
func (c *Client) Lease(ctx context.Context, r cairn.LeaseRequest) ([]cairn.WorkItem, error) {
	wait := min(r.Wait, c.MaxWait())
	var rep itemsReply
	if err := c.call(ctx, http.MethodPost, "lease", "", leaseRequest{Max: r.Max, WaitMillis: wait.Milliseconds(), Start: r.Start},
		&rep, wait+30*time.Second); err != nil {
		return nil, err
	}
	return c.items(rep), nil
}

func (c *Client) items(rep itemsReply) []cairn.WorkItem {
	out := make([]cairn.WorkItem, len(rep.Items))
	sec := make([]map[string]string, len(rep.Items))
	for i, w := range rep.Items {
		out[i], sec[i] = w.item(), w.Secrets
	}
	c.remember(out, sec)
	return out
}

// Start records that a leased attempt began.
func (c *Client) Start(ctx context.Context, l cairn.Lease) error {
	if l.Worker != c.ID() {
		return fmt.Errorf("start %s/%s#%d: leased before this worker registered again: %w", l.RunID, l.TaskID, l.Attempt, cairn.ErrLeaseLost)
	}
	return c.call(ctx, http.MethodPost, "start", l.Worker, startRequest{Lease: toWireLease(l)}, nil, time.Minute)
}

// HeartbeatMany renews every lease the worker holds in one call; it is
// also the worker's sign of life.
func (c *Client) HeartbeatMany(ctx context.Context, leases []cairn.Lease) ([]cairn.HeartbeatResult, error) {
	out := make([]cairn.HeartbeatResult, len(leases))
	id := c.ID()
	req := heartbeatRequest{Leases: []wireLease{}}
	var at []int
	for i, l := range leases {
		if l.Worker != id {
			out[i].Err = fmt.Errorf("heartbeat %s/%s#%d: leased before this worker registered again: %w", l.RunID, l.TaskID, l.Attempt, cairn.ErrLeaseLost)
			continue
		}
		req.Leases = append(req.Leases, toWireLease(l))
		at = append(at, i)
	}
	var rep heartbeatReply
	if err := c.call(ctx, http.MethodPost, "heartbeat", id, req, &rep, time.Minute); err != nil {
		return nil, err
	}
	if len(rep.Results) != len(req.Leases) {
		return nil, fmt.Errorf("heartbeat: %d results for %d leases", len(rep.Results), len(req.Leases))
	}
	for j, r := range rep.Results {
		i := at[j]
		l := leases[i]
		switch r.Code {
		case "":
			out[i].Reply = cairn.HeartbeatReply{ExpiresAt: r.ExpiresAt, CancelRequested: r.CancelRequested}
		case CodeLeaseLost:
			out[i].Err = callError("heartbeat", l, r.Error, cairn.ErrLeaseLost)
		case CodeForbidden:
			out[i].Err = callError("heartbeat", l, r.Error, ErrForbidden)
		default:
			out[i].Err = callError("heartbeat", l, r.Error, nil)
		}
	}
	return out, nil
}

// Beat tells the server the worker is alive when it has no lease to
// renew (an empty heartbeat).
func (c *Client) Beat(ctx context.Context) error {
	_, err := c.HeartbeatMany(ctx, nil)
	return err
}

// LastCall is when a call last reached the server.
func (c *Client) LastCall() time.Time { return time.Unix(0, c.lastCall.Load()) }

// CompleteAndLease reports how an attempt ended and, in the same round
// trip, leases up to next.Max more items (without waiting). The reports
// of the worker's slots that end while its requests are on their way go
// together, in the next request (complete-many): the first report
// finding a lane free is sent at once, alone — no added latency when the
// worker is idle or runs one slot —, and a worker of many slots sends one
// request per round trip and lane rather than one per slot: one lane, or
// as many as the server said at registration (complete_lanes: two on
// PostgreSQL, where the next request leaves while the first is
// committed). Each report is still accepted or refused alone.
func (c *Client) CompleteAndLease(ctx context.Context, l cairn.Lease, comp cairn.Completion, next cairn.LeaseRequest) ([]cairn.WorkItem, error) {
	defer c.forget(l)
	if l.Worker != c.ID() {
		return nil, fmt.Errorf("complete %s/%s#%d: leased before this worker registered again: %w", l.RunID, l.TaskID, l.Attempt, cairn.ErrLeaseLost)
	}
	req := completeRequest{Lease: toWireLease(l), Completion: toWireCompletion(comp), Next: next.Max, Start: next.Start}
	if c.single.Load() {
		return c.completeOne(ctx, req)
	}
	p := &pendingReport{ctx: ctx, req: req}
	c.reports.Submit(p, maxSend, true, c.send)
	return p.items, p.err
}

// completeOne sends one report alone (POST complete).
func (c *Client) completeOne(ctx context.Context, req completeRequest) ([]cairn.WorkItem, error) {
	var rep itemsReply
	if err := c.call(ctx, http.MethodPost, "complete", req.Lease.Worker, req, &rep, 2*time.Minute); err != nil {
		return nil, err
	}
	return c.items(rep), nil
}

// maxSend bounds the reports of one complete-many request.
const maxSend = 256

// pendingReport is a slot's report waiting for its request, and its
// outcome. The reports wait in a group-commit queue (internal/groupq):
// the report that finds none on its way sends the queue itself, and
// hands the lead to the oldest report still waiting once its own is
// answered.
type pendingReport struct {
	ctx context.Context
	req completeRequest

	items []cairn.WorkItem
	err   error
}

// send sends batch's reports and sets each one's outcome: one report
// alone as complete (the common case of an idle worker), several as
// complete-many. A server without complete-many (an older cairn of the
// same protocol) gets them one by one, now and from then on. The request
// runs on the context of the report that sends it, without its
// cancellation: the others' outcomes must not be cut off by it.
func (c *Client) send(batch []*pendingReport) {
	ctx := context.WithoutCancel(batch[0].ctx)
	answer := func(p *pendingReport, items []cairn.WorkItem, err error) {
		p.items, p.err = items, err
	}
	if len(batch) == 1 {
		items, err := c.completeOne(ctx, batch[0].req)
		answer(batch[0], items, err)
		return
	}
	req := completeManyRequest{Reports: make([]completeRequest, len(batch))}
	for i, p := range batch {
		req.Reports[i] = p.req
	}
	var rep completeManyReply
	err := c.call(ctx, http.MethodPost, "complete-many", "", req, &rep, 2*time.Minute)
	var e *Error
	if errors.As(err, &e) && e.Status == http.StatusNotFound && e.Code == CodeNotFound {
		c.single.Store(true)
		var wg sync.WaitGroup
		for _, p := range batch {
			wg.Add(1)
			go func() {
				defer wg.Done()
				items, err := c.completeOne(ctx, p.req)
				answer(p, items, err)
			}()
		}
		wg.Wait()
		return
	}
	if err == nil && len(rep.Results) != len(batch) {
		err = fmt.Errorf("complete: %d results for %d reports", len(rep.Results), len(batch))
	}
	for i, p := range batch {
		if err != nil {
			answer(p, nil, err)
			continue
		}
		r, l := rep.Results[i], p.req.Lease
		switch r.Code {
		case "":
			answer(p, c.items(itemsReply{Items: r.Items}), nil)
		case CodeLeaseLost:
			answer(p, nil, callError("complete", l.lease(), r.Error, cairn.ErrLeaseLost))
		case CodeForbidden:
			answer(p, nil, callError("complete", l.lease(), r.Error, ErrForbidden))
		default:
			answer(p, nil, callError("complete", l.lease(), r.Error, nil))
		}
	}
}

// CompleteAndLeaseMany reports how several attempts ended, each as
// CompleteAndLease does one — recorded or refused alone, leasing up to
// next[i].Max more items with it — in one request (complete-many) with
// the reports of the slots on their way meanwhile: a pool leasing ahead
// sends the reports of the attempts its slots left behind so
// (executor.AheadLeaser).
func (c *Client) CompleteAndLeaseMany(ctx context.Context, leases []cairn.Lease, cs []cairn.Completion, next []cairn.LeaseRequest) ([][]cairn.WorkItem, []error) {
	items, errs := make([][]cairn.WorkItem, len(leases)), make([]error, len(leases))
	id := c.ID()
	ps := make([]*pendingReport, 0, len(leases))
	at := make([]int, 0, len(leases))
	for i, l := range leases {
		if l.Worker != id {
			errs[i] = fmt.Errorf("complete %s/%s#%d: leased before this worker registered again: %w", l.RunID, l.TaskID, l.Attempt, cairn.ErrLeaseLost)
			continue
		}
		req := completeRequest{Lease: toWireLease(l), Completion: toWireCompletion(cs[i]), Next: next[i].Max, Start: next[i].Start}
		ps, at = append(ps, &pendingReport{ctx: ctx, req: req}), append(at, i)
	}
	if len(ps) > 0 {
		if c.single.Load() {
			for _, p := range ps {
				p.items, p.err = c.completeOne(ctx, p.req)
			}
		} else {
			c.reports.SubmitAll(ps, maxSend, true, c.send)
		}
	}
	for j, p := range ps {
		items[at[j]], errs[at[j]] = p.items, p.err
	}
	for _, l := range leases {
		c.forget(l)
	}
	return items, errs
}

// GiveBack hands back leases whose attempts never began (items the pool
// leased ahead and found no free slot for in time, or held when it began
// to stop): POST give-back, which makes each task ready again, no attempt
// counted, if its lease is still held. A lease no longer held (lease_lost)
// is no error: its task went on without it. Another refusal, or a failed
// call, is: those leases expire, and their tasks end as interrupted after
// the lease TTL, as a lost worker's do.
func (c *Client) GiveBack(ctx context.Context, leases []cairn.Lease) error {
	defer func() {
		for _, l := range leases {
			c.forget(l)
		}
	}()
	id := c.ID()
	req := giveBackRequest{Leases: make([]wireLease, 0, len(leases))}
	for _, l := range leases {
		if l.Worker == id { // else leased before the worker registered again: lost with its old id
			req.Leases = append(req.Leases, toWireLease(l))
		}
	}
	if len(req.Leases) == 0 {
		return nil
	}
	var rep giveBackReply
	if err := c.call(ctx, http.MethodPost, "give-back", id, req, &rep, 30*time.Second); err != nil {
		return fmt.Errorf("give back %d leases: %w", len(req.Leases), err)
	}
	if len(rep.Results) != len(req.Leases) {
		return fmt.Errorf("give back: %d results for %d leases", len(rep.Results), len(req.Leases))
	}
	var errs []error
	for i, r := range rep.Results {
		l := req.Leases[i].lease()
		switch r.Code {
		case "", CodeLeaseLost:
		case CodeForbidden:
			errs = append(errs, callError("give back", l, r.Error, ErrForbidden))
		default:
			errs = append(errs, callError("give back", l, r.Error, nil))
		}
	}
	return errors.Join(errs...)
}

// Drain tells the server the worker leases nothing more.
func (c *Client) Drain(ctx context.Context) error {
	return c.call(ctx, http.MethodPost, "drain", "", struct{}{}, nil, 30*time.Second)
}

// Deregister tells the server the worker stopped.
func (c *Client) Deregister(ctx context.Context) error {
	return c.call(ctx, http.MethodPost, "deregister", "", struct{}{}, nil, 30*time.Second)
}

// FindCached asks the server for earlier successes with cache key key.
func (c *Client) FindCached(ctx context.Context, key string, limit int) ([]cairn.CachedAttempt, error) {
	var rep cachedReply
	if err := c.call(ctx, http.MethodGet, "cache/"+url.PathEscape(key)+"?limit="+strconv.Itoa(limit), "", nil, &rep, time.Minute); err != nil {
		return nil, err
	}
	out := make([]cairn.CachedAttempt, len(rep.Hits))
	for i, h := range rep.Hits {
		out[i] = cairn.CachedAttempt{Attempt: h.Attempt, Type: h.Type, Outputs: h.Outputs, Metrics: h.Metrics}
	}
	return out, nil
}

// callError is the error of a call (heartbeat, complete) about lease l
// that the server refused with text msg, wrapping kind (nil: none). The
// server's text says what it can (its store's "heartbeat R/T#N: lease
// lost"): the call and the lease are added only where it does not name
// them, and kind's own text only where it does not end with it, so that
// nothing is said twice.
func callError(call string, l cairn.Lease, msg string, kind error) error {
	name := fmt.Sprintf("%s/%s#%d", l.RunID, l.TaskID, l.Attempt)
	if !strings.Contains(msg, name) {
		msg = call + " " + name + ": " + msg
	}
	if kind != nil && !strings.HasSuffix(msg, kind.Error()) {
		msg += ": " + kind.Error()
	}
	return &refusedError{msg: msg, kind: kind}
}

// refusedError is a call the server refused: its text, and the kind of
// refusal it wraps (errors.Is(err, cairn.ErrLeaseLost), ErrForbidden).
type refusedError struct {
	msg  string
	kind error
}

func (e *refusedError) Error() string { return e.msg }
func (e *refusedError) Unwrap() error { return e.kind }
