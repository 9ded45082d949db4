package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cairnml/cairn"
)

// Event is one change of a task run's state, published by the broker (for
// leases, starts and completions) and the driver (for planned changes).
type Event struct {
	RunID   string
	TaskID  string
	From    cairn.TaskState // "" when unknown
	To      cairn.TaskState
	Attempt int
	Error   string
	At      time.Time
	// Run is set, instead of a task change, when the run itself changed state.
	Run cairn.RunState
	// Type is the task's type ("" for a run's change).
	Type string
	// Ended is set on the event that ends an attempt — a worker's
	// report, ExpireLeases, or a plan cancelling an active task — to the
	// state the attempt was recorded in: succeeded, failed, retrying,
	// cancelled or cairn.AttemptInterrupted.
	Ended cairn.TaskState
	// Expiry is set on the event of an attempt ExpireLeases ended: why
	// (ExpiryLease or ExpiryOwnerGone).
	Expiry string
	// CachedFrom is set on the event of an attempt that succeeded by
	// reusing an earlier one's outputs (cairn.Completion.CachedFrom).
	CachedFrom cairn.AttemptRef
}

// Reasons ExpireLeases ends an attempt (Event.Expiry).
const (
	// ExpiryLease: its lease expired (its worker stopped heartbeating).
	ExpiryLease = "lease_expired"
	// ExpiryOwnerGone: the process holding it is gone (Expiry.Force,
	// when a scheduler takes the run over).
	ExpiryOwnerGone = "owner_gone"
	// ExpiryWorkerLost: the remote worker holding it stopped calling the
	// server for longer than the lease TTL (LoseWorkers).
	ExpiryWorkerLost = "worker_lost"
	// ExpiryTimedOut: the attempt ran past its timeout and
	// cairn.TimeoutGrace and its lease was no longer renewed
	// (cairn.Lease.PastDue): it failed as timed out.
	ExpiryTimedOut = "timed_out"
)

// BrokerOptions configures a Broker.
type BrokerOptions struct {
	// LeaseTTL is how long a lease lives without a heartbeat (default 30s).
	LeaseTTL time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Observe, if set, is called synchronously with every event; it must
	// return quickly.
	Observe func(Event)
	// Abandoned, if set, is called for each attempt ExpireLeases ends
	// because its holder is gone (Expiry.Force), before the task can be
	// retried: it cleans up what the attempt left behind (the processes a
	// shell command started). An error stops the takeover.
	Abandoned func(ctx context.Context, item cairn.WorkItem) error
	// Name names this process in the evaluations it writes (the
	// scheduler service's owner name), so that the service knows them
	// for its own.
	Name string
	// Logger receives the errors nobody else is told of (a failed lease
	// inside a completion's transaction). Nil: discarded.
	Logger *slog.Logger
	// ReadyPoll, if set, is how soon a Lease waiting for work looks
	// again without being woken: for a store that cannot tell this
	// process of tasks other processes made ready (SQLite with several
	// servers on one file; a store/postgres Listener wakes it instead).
	ReadyPoll time.Duration
	// PoolPoll is how soon a Lease that found nothing, while a ready
	// task waits for a pool, looks again (default PoolPoll).
	PoolPoll time.Duration
	// OverlapCommits lets the completer's next batch of reports run its
	// statements, on a connection of its own, while the previous batch's
	// commit is under way (its WAL flushed): for a store whose
	// transactions run side by side (PostgreSQL), not one writer at a
	// time (SQLite). A run both batches hold is planned by the second
	// once the first's commit ended (runState.within).
	OverlapCommits bool
}

// Broker is the lease API over a Store. Workers — the in-process pool now,
// remote workers through the server later — take work only through it.
// It is safe for concurrent use.
type Broker struct {
	store     Store
	ttl       time.Duration
	now       func() time.Time
	obs       func(Event)
	abandoned func(ctx context.Context, item cairn.WorkItem) error
	name      string
	log       *slog.Logger
	readyPoll time.Duration
	poolPoll  time.Duration
	overlap   bool // BrokerOptions.OverlapCommits

	mu    sync.Mutex
	ready chan struct{} // closed (and replaced) when work may be ready
	// waiters are the Leases waiting for work, oldest first, which
	// wake wakes a few of (the slots of a pool came free) where
	// NotifyReady wakes them all; seq numbers them.
	waiters []*waiter
	seq     uint64
	issued  map[string]issuedLease // lease token → what was handed out
	inbox   map[string]*inbox      // run id → its driver's inbox
	// cancelled holds, per run, the tasks the run's cancellation revoked,
	// so that a lease claimed just before and issued just after the
	// cancellation is revoked as soon as it is issued.
	cancelled map[string]map[string]bool

	completer completer // the workers' reports, committed in batches

	reuser atomic.Pointer[Reuser] // SetReuser's, nil until set
}

// Reuser completes an attempt by reusing an earlier success (a cache
// hit) in the very write that hands its task out: the in-process pool
// (*executor.Pool), for the tasks handed to it. See Broker.SetReuser.
type Reuser interface {
	// ReuseHandedOut returns the completion of it, a work item just
	// handed out in a write not yet committed, that reuses an earlier
	// success — as the worker would have reported it, its artifacts
	// checked intact — and true; false leaves it to its worker. It is
	// called inside that write: it must not write to the store, and it
	// answers false when finding out would take long (data to hash).
	// find looks a cache key up in that write's transaction
	// (Tx.FindCached).
	ReuseHandedOut(ctx context.Context, it cairn.WorkItem, find func(key string, limit int) ([]cairn.CachedAttempt, error)) (cairn.Completion, bool)
}

// SetReuser makes r complete, inside the write of a completion, the
// tasks that completion's plan hands to the reporting worker whenever r
// finds them a cache hit — recorded as the worker's reuse would be (an
// attempt of its, CachedFrom, lineage), the run planned again in the
// same write —, so that a chain of reused tasks is one commit rather than
// one per task (runState.within). Set it before the broker is used.
func (b *Broker) SetReuser(r Reuser) {
	if r == nil {
		b.reuser.Store(nil)
		return
	}
	b.reuser.Store(&r)
}

type issuedLease struct {
	item cairn.WorkItem
	// gone is set when the lease's task was cancelled by its run: the
	// lease is kept (until its report) so that an attempt begun later —
	// an item a pool leased ahead — is stopped at once (OnRevoke).
	gone    bool
	revoked chan struct{} // made by Revoked when asked, closed once gone
	notify  func()        // OnRevoke's, if any
	// known is the task run leased as stored when handed out, if it was
	// handed out by its run's plan (handout.rows): its completion's
	// Finish.Known.
	known *cairn.TaskRun
}

// NewBroker returns a broker over store.
func NewBroker(store Store, o BrokerOptions) *Broker {
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = 30 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.PoolPoll <= 0 {
		o.PoolPoll = PoolPoll
	}
	b := &Broker{
		name:      o.Name,
		log:       o.Logger,
		store:     store,
		ttl:       o.LeaseTTL,
		now:       o.Now,
		obs:       o.Observe,
		abandoned: o.Abandoned,
		readyPoll: o.ReadyPoll,
		poolPoll:  o.PoolPoll,
		overlap:   o.OverlapCommits,
		ready:     make(chan struct{}),
		issued:    make(map[string]issuedLease),
		cancelled: make(map[string]map[string]bool),
		inbox:     make(map[string]*inbox),
	}
	b.completer.b = b
	return b
}

// LeaseTTL returns the lease lifetime; workers heartbeat well within it.
func (b *Broker) LeaseTTL() time.Duration { return b.ttl }

// PoolPoll is how soon a Lease that found nothing, while a ready task
// waits for a pool, looks again by default (BrokerOptions.PoolPoll): a
// holder may end in another process.
const PoolPoll = 500 * time.Millisecond

// waiter is a Lease waiting for work (Broker.waiters).
type waiter struct {
	ch  chan struct{} // closed by wake
	seq uint64
	// woken is set by wake, with the newest waiter the wake may be
	// passed on to (limit): a waiter woken for a slot that finds nothing
	// hands the wake to the next one enlisted before the wake, so that it
	// goes round the waiters at most once.
	woken bool
	limit uint64
	// closed says ch is closed (by wake, or to hand the waiting Lease
	// what a commit gave it).
	closed bool
	// req is the waiting Lease's request, handable once its look found
	// nothing and it waits: a commit whose plans make tasks ready beyond
	// what its reporting workers asked for may then hand them to it in
	// the same writes (Broker.spill), rather than wake it for a lease of
	// its own (a second transaction). held is set while a commit holds
	// it so, decided closed once that commit ended, given what it was
	// handed (leased and issued; nil if nothing).
	req      cairn.LeaseRequest
	handable bool
	held     bool
	decided  chan struct{}
	given    []cairn.WorkItem
}

// enlist adds a waiter for request r, before its lease's query: a wake
// from then on is not lost.
func (b *Broker) enlist(r cairn.LeaseRequest) *waiter {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.seq++
	r.Wait = 0
	w := &waiter{ch: make(chan struct{}), seq: b.seq, req: r}
	b.waiters = append(b.waiters, w)
	return w
}

// waiting makes w handable: its look found nothing, and it waits.
func (b *Broker) waiting(w *waiter) {
	b.mu.Lock()
	defer b.mu.Unlock()
	w.handable = w.req.Max > 0
}

// delist removes w if it is still waiting, and reports whether wake woke
// it, and up to which waiter it may pass the wake on; given is what a
// commit handed it (Broker.spill), waited for if a commit holds it.
func (b *Broker) delist(w *waiter) (woken bool, limit uint64, given []cairn.WorkItem) {
	b.mu.Lock()
	defer b.mu.Unlock()
	w.handable = false
	if w.held {
		d := w.decided
		b.mu.Unlock()
		<-d
		b.mu.Lock()
	}
	for i, x := range b.waiters {
		if x == w {
			b.waiters = append(b.waiters[:i], b.waiters[i+1:]...)
			break
		}
	}
	given, w.given = w.given, nil
	return w.woken, w.limit, given
}

// decide lets go of waiter w, which a commit held, with what it handed
// it (nil: nothing, or the commit failed): a waiter given work is woken
// and gets it from delist.
func (b *Broker) decide(w *waiter, given []cairn.WorkItem) {
	b.mu.Lock()
	defer b.mu.Unlock()
	w.held, w.given = false, given
	if len(given) > 0 && !w.closed {
		for i, x := range b.waiters {
			if x == w {
				b.waiters = append(b.waiters[:i], b.waiters[i+1:]...)
				break
			}
		}
		w.closed = true
		close(w.ch)
	}
	close(w.decided)
}

// spill is what one commit hands to Leases waiting in this process (see
// waiter.req): the waiters it holds, each with its handout.
type spill struct {
	b    *Broker
	tx   Tx
	held []heldWaiter
}

type heldWaiter struct {
	w *waiter
	h *handout
}

// anyHandable reports whether a Lease waits in b that a commit could
// hand run runID's tasks (owned by owner).
func (b *Broker) anyHandable(runID, owner string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, w := range b.waiters {
		if w.handable && !w.held && !w.closed && (w.req.RunID == "" || w.req.RunID == runID) && (w.req.Owner == "" || w.req.Owner == owner) {
			return true
		}
	}
	return false
}

// next holds the oldest handable waiter that may lease run runID's tasks
// (owned by owner) and returns its handout; nil if there is none.
func (sp *spill) next(runID, owner string) *handout {
	b := sp.b
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, w := range b.waiters {
		if !w.handable || w.held || w.closed || (w.req.RunID != "" && w.req.RunID != runID) || (w.req.Owner != "" && w.req.Owner != owner) {
			continue
		}
		w.held, w.decided = true, make(chan struct{})
		req, tx := w.req, sp.tx
		h := &handout{req: req, ttl: b.ttl, max: req.Max, waiting: func() (bool, error) { return tx.AnyReady(req) }}
		sp.held = append(sp.held, heldWaiter{w: w, h: h})
		return h
	}
	return nil
}

// again forgets what the handouts of sp were given: the commit's fn runs
// again (see Broker.commit), in transaction tx.
func (sp *spill) again(tx Tx) {
	sp.tx = tx
	for _, hw := range sp.held {
		req := hw.w.req
		*hw.h = handout{req: req, ttl: sp.b.ttl, max: req.Max, waiting: func() (bool, error) { return tx.AnyReady(req) }}
	}
}

// end lets go of the waiters sp holds once its commit ended: what they
// were handed is issued and given to them if it committed.
func (sp *spill) end(committed bool) {
	for _, hw := range sp.held {
		var given []cairn.WorkItem
		if committed {
			given = hw.h.items
			sp.b.issue(given, nil) // as a lease of its own: the completion reads the row
		}
		sp.b.decide(hw.w, given)
	}
	sp.held = nil
}

// wake wakes the n oldest waiting Leases, each of which may pass the wake
// on to a waiter enlisted before now if it finds nothing: the slots of a
// pool came free, n of them not taken in the same commit. NotifyReady
// wakes every waiter instead (tasks became ready).
func (b *Broker) wake(n int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.wakeLocked(n, b.seq)
}

// passOn hands a wake that found nothing to the oldest waiter enlisted
// up to limit, if any.
func (b *Broker) passOn(limit uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.wakeLocked(1, limit)
}

func (b *Broker) wakeLocked(n int, limit uint64) {
	i := 0
	for ; i < len(b.waiters) && n > 0; i++ {
		w := b.waiters[i]
		if w.seq > limit {
			break
		}
		w.woken, w.limit, w.closed = true, limit, true
		close(w.ch)
		n--
	}
	b.waiters = b.waiters[i:]
}

// NotifyReady wakes workers waiting in Lease: task runs may have become
// ready.
func (b *Broker) NotifyReady() {
	b.mu.Lock()
	close(b.ready)
	b.ready = make(chan struct{})
	b.mu.Unlock()
}

func (b *Broker) readyChan() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.ready
}

// Lease claims up to r.Max ready task runs for r.Worker (only run
// r.RunID's when it is set; started at once with r.Start). If none is
// ready it waits — without polling — until some may be, for at most
// r.Wait, and then returns what it could claim, possibly nothing. A Lease
// whose ctx ends while it waits returns ctx's error and nothing, what a
// commit handed it meanwhile given back (stoppedWaiting).
func (b *Broker) Lease(ctx context.Context, r cairn.LeaseRequest) ([]cairn.WorkItem, error) {
	var (
		timeout <-chan time.Time
		// pass is set when this lease was woken for a freed slot
		// (wake): if its look finds nothing, the wake goes on to the
		// waiters enlisted up to limit.
		pass  bool
		limit uint64
	)
	for {
		ch := b.readyChan() // before the query, so that no wake-up is lost
		var w *waiter
		if r.Wait > 0 {
			w = b.enlist(r) // likewise
		}
		items, err := b.store.Lease(ctx, r, b.now(), b.ttl)
		if err != nil || len(items) > 0 {
			if w != nil {
				// A wake this lease took while it looked is not
				// passed on: it found something, or could not look.
				// (Nothing was handed to it: it was not waiting yet.)
				b.delist(w)
			}
			if err != nil {
				return nil, fmt.Errorf("lease for %s: %w", r.Worker, err)
			}
			b.issue(items, nil)
			return items, nil
		}
		if pass {
			b.passOn(limit)
			pass = false
		}
		if r.Wait <= 0 {
			return nil, nil
		}
		if timeout == nil {
			t := time.NewTimer(r.Wait)
			defer t.Stop()
			timeout = t.C
		}
		// A task waiting for a pool may be leased once a holder ends in
		// another process (a foreground cairn run on the same SQLite
		// file): nothing here would say so, so look again soon.
		var poll <-chan time.Time
		if waiting, err := b.store.PoolWaiting(ctx); err == nil && waiting {
			t := time.NewTimer(b.poolPoll)
			defer t.Stop()
			poll = t.C
		} else if b.readyPoll > 0 {
			// Another process may make tasks ready unseen (ReadyPoll).
			t := time.NewTimer(b.readyPoll)
			defer t.Stop()
			poll = t.C
		}
		b.waiting(w)
		select {
		case <-ch:
		case <-w.ch:
		case <-poll:
		case <-timeout:
			// Leased for this worker by a commit meanwhile: its work.
			return b.giveUp(w), nil
		case <-ctx.Done():
			return b.stoppedWaiting(ctx, b.giveUp(w))
		}
		var given []cairn.WorkItem
		pass, limit, given = b.delist(w)
		if len(given) > 0 && ctx.Err() != nil {
			return b.stoppedWaiting(ctx, given) // woken by the commit as ctx ended
		}
		if len(given) > 0 {
			return given, nil // issued by the commit that handed them
		}
	}
}

// stoppedWaiting answers a Lease whose ctx ended while it waited, given
// what a commit handed it meanwhile (the commit holds a waiter it hands
// work to until it ended, and a Lease that stops waiting waits for that
// decision). Its caller stopped waiting for work — a pool that stopped
// leasing (halted on a full disk, or stopping), a remote worker whose
// poll ended — so it is given back: ready again as before its lease, no
// attempt counted, rather than returned to a caller that will not run it
// (a halted pool ran it on the same full disk; a remote worker's would be
// written to a closed connection, held until its lease expired and
// recorded interrupted). Should giving back fail, it is returned, as
// before: the caller holds the leases.
func (b *Broker) stoppedWaiting(ctx context.Context, given []cairn.WorkItem) ([]cairn.WorkItem, error) {
	if len(given) == 0 {
		return nil, ctx.Err()
	}
	leases := cairn.LeasesOf(given)
	if err := b.GiveBack(context.WithoutCancel(ctx), leases); err != nil {
		b.log.Warn("a lease that stopped waiting could not give back the tasks handed to it meanwhile; it returns them",
			"worker", leases[0].Worker, "items", len(leases), "err", err)
		return given, nil
	}
	return nil, ctx.Err()
}

// giveUp removes waiter w of a Lease that stops waiting, passing on a
// wake it had and did not use, and returns what a commit handed it
// meanwhile, if anything (then the wake is not passed on: it found work).
func (b *Broker) giveUp(w *waiter) []cairn.WorkItem {
	woken, limit, given := b.delist(w)
	if woken && len(given) == 0 {
		b.passOn(limit)
	}
	return given
}

// issue remembers leases handed out, for Complete and Revoked, and
// publishes them. rows are the task runs of those a plan handed out, by
// lease token (handout.rows).
func (b *Broker) issue(items []cairn.WorkItem, rows map[string]*cairn.TaskRun) {
	if len(items) == 0 {
		return
	}
	b.mu.Lock()
	for _, it := range items {
		// Its task may have been cancelled while the lease was on its way.
		b.issued[it.Lease.Token] = issuedLease{item: it, gone: b.cancelled[it.Lease.RunID][it.Lease.TaskID], known: rows[it.Lease.Token]}
	}
	b.mu.Unlock()
	now := b.now()
	for _, it := range items {
		b.publish(Event{RunID: it.Lease.RunID, TaskID: it.Lease.TaskID, From: cairn.TaskReady, To: cairn.TaskLeased,
			Attempt: it.Lease.Attempt, At: now, Type: it.Type}, nil)
		if it.Started {
			b.publish(Event{RunID: it.Lease.RunID, TaskID: it.Lease.TaskID, From: cairn.TaskLeased, To: cairn.TaskRunning,
				Attempt: it.Lease.Attempt, At: now, Type: it.Type}, nil)
		}
	}
}

// Revoked returns a channel that is closed when the lease's task is
// cancelled by its run, so that the worker stops the attempt at once
// rather than at its next heartbeat. Nil for a lease this broker did not
// issue.
func (b *Broker) Revoked(l cairn.Lease) <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	il, ok := b.issued[l.Token]
	if !ok {
		return nil
	}
	if il.revoked == nil {
		il.revoked = make(chan struct{})
		if il.gone {
			close(il.revoked)
		}
		b.issued[l.Token] = il
	}
	return il.revoked
}

// OnRevoke calls f when the lease's task is cancelled by its run — at
// once if it was already — as Revoked's channel closes, until stop is
// called: a worker stops the attempt without a goroutine of its own
// waiting on the channel. f runs with the broker's lock held and must
// only cancel (a context's cancel function). For a lease this broker did
// not issue, or no longer holds, it never calls f.
func (b *Broker) OnRevoke(l cairn.Lease, f func()) (stop func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	il, ok := b.issued[l.Token]
	if !ok {
		return func() {}
	}
	if il.gone {
		f()
		return func() {}
	}
	il.notify = f
	b.issued[l.Token] = il
	return func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if il, ok := b.issued[l.Token]; ok {
			il.notify = nil
			b.issued[l.Token] = il
		}
	}
}

// revoke revokes every lease issued for the task: its OnRevoke function
// called, its Revoked channel closed.
func (b *Broker) revoke(runID, taskID string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.revokeLocked(runID, taskID)
}

// revokeCancelled revokes the leases of a task its run's cancellation
// ended, including one issued after this call.
func (b *Broker) revokeCancelled(runID, taskID string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cancelled[runID] == nil {
		b.cancelled[runID] = make(map[string]bool)
	}
	b.cancelled[runID][taskID] = true
	b.revokeLocked(runID, taskID)
}

func (b *Broker) revokeLocked(runID, taskID string) {
	for tok, il := range b.issued {
		if il.item.Lease.RunID == runID && il.item.Lease.TaskID == taskID && !il.gone {
			il.gone = true
			if il.revoked != nil {
				close(il.revoked)
			}
			if il.notify != nil {
				il.notify()
			}
			il.notify = nil
			b.issued[tok] = il
		}
	}
}

// Start records that the leased attempt began executing.
// cairn.ErrLeaseLost if the lease is no longer valid.
func (b *Broker) Start(ctx context.Context, l cairn.Lease) error {
	now := b.now()
	if err := b.store.StartAttempt(ctx, l, now); err != nil {
		return fmt.Errorf("start %s/%s#%d: %w", l.RunID, l.TaskID, l.Attempt, err)
	}
	b.mu.Lock()
	typ := b.issued[l.Token].item.Type
	b.mu.Unlock()
	b.publish(Event{RunID: l.RunID, TaskID: l.TaskID, From: cairn.TaskLeased, To: cairn.TaskRunning, Attempt: l.Attempt, At: now, Type: typ}, nil)
	return nil
}

// GiveBack gives leased tasks whose attempts never began back to the
// queue (LeaseStore.GiveBack): a pool that leased them ahead of a free
// slot and found none in time, or stopped. Each is ready again, as before
// its lease, with no attempt counted; a lease no longer held (completed,
// expired, its run cancelled) is left alone. The runs' drivers here hear
// of the tasks made ready, and the workers waiting for work are woken.
func (b *Broker) GiveBack(ctx context.Context, leases []cairn.Lease) error {
	_, err := b.GiveBackEach(ctx, leases)
	return err
}

// GiveBackEach is GiveBack, saying of each lease, in order, whether it
// was given back: false for one no longer held (completed, expired and
// ended, superseded), which changed nothing (the worker API's give-back
// answers it as lease_lost).
func (b *Broker) GiveBackEach(ctx context.Context, leases []cairn.Lease) ([]bool, error) {
	given := make([]bool, len(leases))
	if len(leases) == 0 {
		return given, nil
	}
	now := b.now()
	trs, err := b.store.GiveBack(ctx, leases, now)
	if err != nil {
		return nil, fmt.Errorf("give back %d leases: %w", len(leases), err)
	}
	b.mu.Lock()
	types := make(map[string]string, len(leases))
	for _, l := range leases {
		if il, ok := b.issued[l.Token]; ok && il.item.Lease.TaskID == l.TaskID && il.item.Lease.RunID == l.RunID {
			types[l.Token] = il.item.Type
			delete(b.issued, l.Token)
		}
	}
	b.mu.Unlock()
	for i, tr := range trs {
		if tr == nil {
			continue
		}
		given[i] = true
		l := leases[i]
		b.publish(Event{RunID: l.RunID, TaskID: l.TaskID, From: cairn.TaskRunning, To: cairn.TaskReady, Attempt: l.Attempt,
			At: now, Type: types[l.Token]}, tr)
	}
	b.NotifyReady()
	return given, nil
}

// Heartbeat extends the lease. cairn.ErrLeaseLost if it is no longer
// valid; the reply says whether the run is being cancelled.
func (b *Broker) Heartbeat(ctx context.Context, l cairn.Lease) (cairn.HeartbeatReply, error) {
	r, err := b.store.Heartbeat(ctx, l, b.now(), b.ttl)
	if err != nil {
		return r, fmt.Errorf("heartbeat %s/%s#%d: %w", l.RunID, l.TaskID, l.Attempt, err)
	}
	return r, nil
}

// HeartbeatMany extends many leases in one transaction: a worker renews
// every lease it holds in one call. Each result says whether its lease
// was renewed (and whether its run is being cancelled) or lost
// (cairn.ErrLeaseLost), in the order of leases; the error is the store's
// failure, when none was renewed.
func (b *Broker) HeartbeatMany(ctx context.Context, leases []cairn.Lease) ([]cairn.HeartbeatResult, error) {
	rs, err := b.store.HeartbeatMany(ctx, leases, b.now(), b.ttl)
	if err != nil {
		return nil, fmt.Errorf("heartbeat %d leases: %w", len(leases), err)
	}
	return rs, nil
}

// Complete records how the attempt ended. The worker fills Error (empty
// on success), Retryable, Stack, ExitCode, Outputs and Metrics; the broker
// sets the task's next state from the retry policy. A completion under an
// expired or superseded lease returns cairn.ErrLeaseLost and changes
// nothing.
func (b *Broker) Complete(ctx context.Context, l cairn.Lease, c cairn.Completion) error {
	_, err := b.CompleteAndLease(ctx, l, c, cairn.LeaseRequest{})
	return err
}

// CompleteAndLease is Complete followed by Lease(next) — without waiting —
// in one transaction, together with the planning the completion triggers
// when the run's scheduler is in this process and free to do it: on a
// chain, the completion, the successor made ready and the worker's lease
// on it are one commit. When the completion is not planned in that
// transaction (the run is planned elsewhere, or being planned right now)
// an evaluation of the run is recorded in it instead, so that whichever
// scheduler owns the run plans it; a retry that waits for its backoff
// records one due when the backoff ends either way.
//
// A refused completion (cairn.ErrLeaseLost) changes nothing and leases
// nothing. The lease is part of the same transaction: a ready task that
// cannot be handed out fails alone inside it (see LeaseStore.Lease), but
// a failure of the database while leasing aborts the whole transaction,
// completion included, and the error is returned for the worker to report
// again (the pool retries).
func (b *Broker) CompleteAndLease(ctx context.Context, l cairn.Lease, c cairn.Completion, next cairn.LeaseRequest) ([]cairn.WorkItem, error) {
	r, err := b.newReport(ctx, l, c, next)
	if err != nil {
		return nil, err
	}
	b.completer.submit(r)
	return r.outcome()
}

// CompleteAndLeaseMany is CompleteAndLease of each of several reports
// (leases[i], cs[i], next[i]) — each recorded or refused alone, as
// CompleteAndLease says — handed to the completer together by one
// caller: they share a commit without a goroutine each (a remote
// worker's complete-many). It returns each report's leased items and
// error, in their order, once all are committed.
func (b *Broker) CompleteAndLeaseMany(ctx context.Context, leases []cairn.Lease, cs []cairn.Completion, next []cairn.LeaseRequest) ([][]cairn.WorkItem, []error) {
	items, errs := make([][]cairn.WorkItem, len(leases)), make([]error, len(leases))
	rs := make([]*report, 0, len(leases))
	at := make([]int, 0, len(leases))
	for i, l := range leases {
		r, err := b.newReport(ctx, l, cs[i], next[i])
		if err != nil {
			errs[i] = err
			continue
		}
		rs, at = append(rs, r), append(at, i)
	}
	b.completer.submitAll(rs)
	for j, r := range rs {
		items[at[j]], errs[at[j]] = r.outcome()
	}
	return items, errs
}

// newReport is the completer's report of the attempt of lease l that ended
// as c, with the worker's request for more work.
func (b *Broker) newReport(ctx context.Context, l cairn.Lease, c cairn.Completion, next cairn.LeaseRequest) (*report, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("complete %s/%s#%d: %w", l.RunID, l.TaskID, l.Attempt, err)
	}
	b.mu.Lock()
	il, known := b.issued[l.Token]
	// Forget the lease only when it is the one being reported: a report
	// naming another attempt is refused, and the live lease must stay
	// revocable.
	known = known && il.item.Lease.RunID == l.RunID && il.item.Lease.TaskID == l.TaskID && il.item.Lease.Attempt == l.Attempt
	if known {
		delete(b.issued, l.Token)
	}
	b.mu.Unlock()
	item, row := il.item, il.known
	if !known {
		var err error
		if item, err = b.itemFor(ctx, l); err != nil {
			return nil, err
		}
		row = nil
	}
	// A worker reports how its task ended; only ExpireLeases interrupts,
	// and a worker for an attempt it could not run itself (a full disk).
	c.Interrupted = c.Requeue
	return &report{l: l, c: c, item: item, next: next, known: row}, nil
}

// outcome is what CompleteAndLease returns of a committed report.
func (r *report) outcome() ([]cairn.WorkItem, error) {
	if r.err != nil {
		return nil, fmt.Errorf("complete %s/%s#%d: %w", r.l.RunID, r.l.TaskID, r.l.Attempt, r.err)
	}
	return r.items, nil
}

// evaluation is the evaluation recorded for an attempt that ended: due
// now, or when a retry's backoff ends.
func (b *Broker) evaluation(l cairn.Lease, c cairn.Completion, now time.Time, reason string) Evaluation {
	e := Evaluation{RunID: l.RunID, TaskID: l.TaskID, Reason: reason, Writer: b.name, CreatedAt: now, DueAt: now}
	if c.State == cairn.TaskRetrying && c.RetryAt.After(now) {
		e.Reason, e.DueAt = EvalRetry, c.RetryAt
	}
	return e
}

// itemFor rebuilds what was handed out with a lease this broker did not
// issue (it restarted, or another replica issued it).
func (b *Broker) itemFor(ctx context.Context, l cairn.Lease) (cairn.WorkItem, error) {
	tr, err := b.store.GetTaskRun(ctx, l.RunID, l.TaskID)
	if err != nil {
		return cairn.WorkItem{}, fmt.Errorf("look up lease %s/%s#%d: %w", l.RunID, l.TaskID, l.Attempt, err)
	}
	return cairn.WorkItem{Lease: l, Type: tr.Type, Retry: tr.Retry, Timeout: tr.Timeout,
		Interrupted: tr.Interrupted, InterruptedInARow: tr.InterruptedInARow, FailedBefore: tr.FailedBefore, Cache: tr.Cache,
		Pool: tr.Pool, PoolSlots: tr.PoolSlots}, nil
}

// decide sets the task's next state after an attempt. A failed attempt
// retries under the policy, its backoff and budget counting only the
// attempts of this round (a retry by hand starts a new one) that were not
// interrupted; an interrupted one (c.Interrupted) retries at once, free,
// until the policy's limit of interruptions in a row fails the task.
func decide(item cairn.WorkItem, c cairn.Completion, now time.Time) cairn.Completion {
	c.FinishedAt = now
	failures := item.Lease.Attempt - item.Interrupted - item.FailedBefore // this one included
	switch {
	case c.Error == "":
		c.State = cairn.TaskSucceeded
	case c.Interrupted:
		n, limit := item.InterruptedInARow+1, item.Retry.InterruptionLimit()
		if n < limit {
			c.State, c.RetryAt = cairn.TaskRetrying, now
			break
		}
		c.State = cairn.TaskFailed
		c.Error = fmt.Sprintf("%s; interrupted %d times in a row, the limit (max_interruptions: %d): "+
			"the task may be what stops the process running it (memory, disk, a kill); "+
			"see its logs, or raise max_interruptions", c.Error, n, limit)
	case c.Retryable && failures < item.Retry.MaxAttempts():
		c.State = cairn.TaskRetrying
		c.RetryAt = now.Add(item.Retry.Delay(failures))
	default:
		c.State = cairn.TaskFailed
	}
	return c
}

// Expiry says which leases ExpireLeases ends, and how.
type Expiry struct {
	RunID string // only this run's leases; "" for every run's (not with Force)
	// Force ends every lease of RunID still leased or running, expired or
	// not: their holder, the run's previous owner, is known to be gone.
	Force bool
	// Cancel ends the attempts as cancelled rather than interrupted: the
	// run is being cancelled, so there is nothing to retry.
	Cancel bool
	// Reason is the attempts' error; "" says the lease expired.
	Reason string
	// Worker, if set, ends every lease this worker holds, expired or not,
	// whatever RunID says: the worker is lost (LoseWorkers).
	Worker string
	// Keep names a worker whose leases are live whatever Force says: the
	// taking-over driver's own process, whose pool may lease a task left
	// ready before the driver took over.
	Keep string
	// Fence, if set, makes each expiry a write only the leader may make
	// (the reaper of every run's leases): refused, changing nothing, once
	// the term is no longer the leader lease's. ExpireLeases then stops
	// with an error wrapping cairn.ErrNotLeader.
	Fence *Fence
}

// ExpireLeases ends the attempts whose holders can no longer complete them:
// those whose leases expired (their worker stopped heartbeating: it died or
// lost the store), or with e.Force every active one of run e.RunID (its
// previous owner died). Their tasks did not end them: each is recorded as
// interrupted (cairn.AttemptInterrupted) and retried at once without
// charge to the task's retries, up to the policy's limit of interruptions
// in a row (unless e.Cancel). It returns how many it ended. A sweep of
// every run's expired leases first marks lost the remote workers that
// stopped calling (LoseWorkers), so that their attempts' errors name
// them.
func (b *Broker) ExpireLeases(ctx context.Context, e Expiry) (int, error) {
	if e.RunID == "" && e.Worker == "" && !e.Force {
		// Remote workers that stopped calling first: their leases end
		// naming them (LoseWorkers), not as anonymous expiries.
		if _, err := b.LoseWorkers(ctx); err != nil {
			return 0, err
		}
	}
	now := b.now()
	var leases []cairn.Lease
	var err error
	force := e.Force || e.Worker != ""
	switch {
	case e.Worker != "":
		leases, err = b.store.WorkerLeases(ctx, e.Worker)
	case e.Force:
		leases, err = b.store.ActiveLeases(ctx, e.RunID)
	default:
		leases, err = b.store.ExpiredLeases(ctx, e.RunID, now, 1000)
	}
	if err != nil {
		return 0, fmt.Errorf("expire leases: %w", err)
	}
	n := 0
	for _, l := range leases {
		if e.Keep != "" && l.Worker == e.Keep {
			continue
		}
		item, err := b.itemFor(ctx, l)
		if err != nil {
			return n, err
		}
		msg := e.Reason
		if msg == "" {
			msg = b.expiredReason(ctx, l)
		}
		// An attempt that overran its timeout (its worker wedged, or
		// lying) fails as timed out, under its retry policy, as a
		// worker's own pool fails it: it is not its worker's loss.
		timedOut := !force && !e.Cancel && l.PastDue && item.Timeout > 0
		if timedOut {
			msg = fmt.Sprintf("timed out after %s (the attempt was still held %s later: the server ended it, its lease no longer renewed)",
				item.Timeout, cairn.TimeoutGrace)
		}
		c := decide(item, cairn.Completion{Error: msg, Retryable: true, Interrupted: !e.Cancel && !timedOut}, now)
		if e.Cancel {
			c.State, c.RetryAt = cairn.TaskCancelled, time.Time{}
		}
		msg = c.Error
		var tr *cairn.TaskRun
		err = b.store.Batch(ctx, func(tx Tx) error {
			if e.Fence != nil {
				if err := tx.CheckFence(*e.Fence); err != nil {
					return err
				}
			}
			var err error
			if tr, err = tx.Expire(l, c, now, force); err != nil {
				return err
			}
			_, err = tx.AddEvaluation(b.evaluation(l, c, now, EvalExpired))
			return err
		})
		if errors.Is(err, cairn.ErrLeaseLost) {
			continue // completed meanwhile
		}
		if err != nil {
			// The write may have committed all the same (its answer was
			// lost): the run's scheduler, if here, reads the run again
			// rather than trust the evaluation it would take for known.
			b.unsure(l.RunID)
			return n, fmt.Errorf("expire %s/%s#%d: %w", l.RunID, l.TaskID, l.Attempt, err)
		}
		b.revoke(l.RunID, l.TaskID)
		if e.Force && e.Worker == "" && b.abandoned != nil {
			if err := b.abandoned(ctx, item); err != nil {
				return n, fmt.Errorf("clean up after %s/%s#%d: %w", l.RunID, l.TaskID, l.Attempt, err)
			}
		}
		why := ExpiryLease
		switch {
		case e.Worker != "":
			why = ExpiryWorkerLost
		case e.Force:
			why = ExpiryOwnerGone
		case timedOut:
			why = ExpiryTimedOut
		}
		args := []any{"run", l.RunID, "task", l.TaskID, "attempt", l.Attempt,
			"type", item.Type, "worker", l.Worker, "why", why, "task_state", tr.State, "err", msg}
		if timedOut {
			b.log.Warn("attempt ended: still held past its timeout", args...)
		} else {
			b.log.Warn("attempt ended: its worker is gone", args...)
		}
		b.publish(Event{RunID: l.RunID, TaskID: l.TaskID, To: tr.State, Attempt: l.Attempt, Error: msg, At: now,
			Type: item.Type, Ended: attemptState(c), Expiry: why}, tr)
		n++
	}
	return n, nil
}

// LoseWorkers ends what remote workers that stopped calling the server
// leave behind: each worker whose registration expired (no lease,
// heartbeat or completion from it for longer than the lease TTL) is
// marked lost (WorkerStore.LoseWorkers), and every lease it holds is
// ended as ExpireLeases ends an expired one — the attempt recorded
// interrupted, its error naming the worker and its last call ("worker
// NAME (ID) lost: no heartbeat since T"), the task retried at once,
// without charge to its retries, up to its policy's limit of
// interruptions in a row. Whatever the worker sends later is refused.
// It returns the workers it marked lost; with several servers on one
// database each lost worker is handled by exactly one of them.
func (b *Broker) LoseWorkers(ctx context.Context) ([]cairn.Worker, error) {
	lost, err := b.store.LoseWorkers(ctx, b.now(), 100)
	if err != nil {
		return nil, fmt.Errorf("lose workers: %w", err)
	}
	for _, w := range lost {
		name := w.Name
		if name == "" {
			name = w.Host
		}
		reason := fmt.Sprintf("worker %s (%s) lost: no heartbeat since %s", name, w.ID, w.SeenAt.UTC().Format(time.RFC3339Nano))
		n, err := b.ExpireLeases(ctx, Expiry{Worker: w.ID, Reason: reason})
		if err != nil {
			// Its row is lost already: its leases expire as any lease
			// does, and the reaper ends them (ExpireLeases).
			return lost, fmt.Errorf("end the leases of lost worker %s: %w", w.ID, err)
		}
		b.log.Warn("worker lost: no call within the lease TTL", "worker", w.ID, "name", name, "host", w.Host,
			"seen", w.SeenAt, "leases_ended", n)
	}
	return lost, nil
}

// expiredReason is the error of an attempt whose lease expired: a
// registered remote worker is named as LoseWorkers names it (its last
// heartbeat of the lease being its expiry less the TTL), another holder
// (a process's own pool) by its name.
func (b *Broker) expiredReason(ctx context.Context, l cairn.Lease) string {
	if w, err := b.store.Worker(ctx, l.Worker); err == nil {
		name := w.Name
		if name == "" {
			name = w.Host
		}
		return fmt.Sprintf("worker %s (%s) lost: no heartbeat since %s", name, w.ID, l.ExpiresAt.Add(-b.ttl).UTC().Format(time.RFC3339Nano))
	}
	return fmt.Sprintf("lease expired: worker %s stopped heartbeating", l.Worker)
}

// attemptState is the state an attempt ended by c is recorded in.
func attemptState(c cairn.Completion) cairn.TaskState {
	if c.Interrupted {
		return cairn.AttemptInterrupted
	}
	return c.State
}

// publish tells the observer and, with the new task run, the run's driver.
func (b *Broker) publish(e Event, tr *cairn.TaskRun) {
	if b.obs != nil {
		b.obs(e)
	}
	if tr == nil {
		return
	}
	b.mu.Lock()
	in := b.inbox[e.RunID]
	b.mu.Unlock()
	if in != nil {
		in.put(tr, e.At)
	}
}

// subscribe gives run id's driver an inbox of task runs that changed.
// within, if set, is offered each completion of the run inside the
// transaction that records it (see runState.within); leased, if set, the
// run's tasks that transaction then leases from the queue, while the run
// is held by within (see runState.leasedRows).
func (b *Broker) subscribe(id string, within withinFunc, leased leasedFunc) *inbox {
	in := &inbox{signal: make(chan struct{}, 1), within: within, leased: leased}
	b.mu.Lock()
	b.inbox[id] = in
	b.mu.Unlock()
	return in
}

// unsure tells run id's scheduler in this process, if any, that a write
// of the run's may have committed unseen (its transaction's outcome is
// unknown): its next plan reads the run again. The evaluation such a
// write records names this process as its writer, and the service takes
// its own evaluations for changes it knows of: without this the change
// would be known to nobody, and the run would wait for ever.
func (b *Broker) unsure(id string) {
	b.mu.Lock()
	in := b.inbox[id]
	b.mu.Unlock()
	if in != nil {
		in.mu.Lock()
		in.stale = true
		in.mu.Unlock()
		in.wake()
	}
}

func (b *Broker) unsubscribe(id string) {
	b.mu.Lock()
	delete(b.inbox, id)
	delete(b.cancelled, id)
	b.mu.Unlock()
}

// inbox collects task-run changes for a driver without ever blocking the
// broker: puts append, and a one-slot channel says there is something.
type inbox struct {
	mu      sync.Mutex
	pending []*cairn.TaskRun
	since   time.Time // when the oldest of pending changed
	signal  chan struct{}
	within  withinFunc
	leased  leasedFunc
	// stale says a change of the run may have been committed unseen
	// (Broker.unsure): the driver reads the run again.
	stale bool
}

// withinFunc plans a run inside the transaction tx that records trs,
// workers' completions of its tasks (see runState.within). planned
// says the plan is complete and applied in tx; after, if not nil, must be
// called once the transaction ended, with whether it committed.
type withinFunc func(tx Tx, trs []*cairn.TaskRun, h *handout) (after func(committed bool), planned bool)

// leasedFunc adds to rows, by lease token, the task runs of items, tasks
// of the run leased from the queue at at in the transaction its within
// planned in and holds the run through, as that lease leaves them, where
// the run's snapshot knows them (Finish.Known: their completions are then
// written as a compare-and-set on that version).
type leasedFunc func(items []cairn.WorkItem, at time.Time, rows map[string]*cairn.TaskRun)

// put adds tr, which changed at at.
func (in *inbox) put(tr *cairn.TaskRun, at time.Time) {
	in.mu.Lock()
	if len(in.pending) == 0 || at.Before(in.since) {
		in.since = at
	}
	in.pending = append(in.pending, tr)
	in.mu.Unlock()
	in.wake()
}

// wake makes the driver's loop look at the inbox.
func (in *inbox) wake() {
	select {
	case in.signal <- struct{}{}:
	default:
	}
}

// takeStale reports, once, whether the run must be read again (unsure).
func (in *inbox) takeStale() bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	stale := in.stale
	in.stale = false
	return stale
}

// take returns the task runs put since the last take, and when the
// oldest of them changed.
func (in *inbox) take() ([]*cairn.TaskRun, time.Time) {
	in.mu.Lock()
	defer in.mu.Unlock()
	p, since := in.pending, in.since
	in.pending, in.since = nil, time.Time{}
	return p, since
}
