// Package executor runs task attempts: a worker pool that takes work only
// through the lease API (lease → start → heartbeat → complete), the same
// API remote workers will use through the server. It knows the Task
// contract and nothing of the store.
package executor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/tasks"
)

// Leaser is the lease API as a worker sees it. *scheduler.Broker
// implements it in process.
type Leaser interface {
	// Lease claims ready task runs as r says, waiting up to r.Wait for
	// some to become ready.
	Lease(ctx context.Context, r cairn.LeaseRequest) ([]cairn.WorkItem, error)
	Start(ctx context.Context, l cairn.Lease) error
	// HeartbeatMany renews every lease the worker holds in one call:
	// one result per lease, in order, each renewed (saying whether its
	// run is being cancelled) or lost (cairn.ErrLeaseLost).
	HeartbeatMany(ctx context.Context, leases []cairn.Lease) ([]cairn.HeartbeatResult, error)
	// CompleteAndLease reports how an attempt ended and, in the same
	// round trip, leases more work as next says (without waiting).
	CompleteAndLease(ctx context.Context, l cairn.Lease, c cairn.Completion, next cairn.LeaseRequest) ([]cairn.WorkItem, error)
	// Revoked is closed when the lease's task is cancelled; nil if unknown.
	Revoked(l cairn.Lease) <-chan struct{}
	LeaseTTL() time.Duration
}

// AheadLeaser is a Leaser that lets a pool lease ahead (see
// Pool.reportBehind): it takes several reports in one call, each recorded
// or refused alone as CompleteAndLease's (*scheduler.Broker's
// CompleteAndLeaseMany), and takes back leased tasks that never began
// (GiveBack: ready again, as before their lease, no attempt counted).
type AheadLeaser interface {
	CompleteAndLeaseMany(ctx context.Context, leases []cairn.Lease, cs []cairn.Completion, next []cairn.LeaseRequest) ([][]cairn.WorkItem, []error)
	GiveBack(ctx context.Context, leases []cairn.Lease) error
}

// aheadCapable is an AheadLeaser that says whether it may lease ahead
// after all: a remote worker's client does only against a server that
// takes leases back (its give-back call, told at registration).
type aheadCapable interface {
	LeasesAhead() bool
}

// leasesAhead says whether a pool of leaser leases ahead.
func leasesAhead(leaser Leaser) (AheadLeaser, bool) {
	al, ok := leaser.(AheadLeaser)
	if c, capable := leaser.(aheadCapable); ok && capable {
		ok = c.LeasesAhead()
	}
	return al, ok
}

// revokeNotifier is a Leaser that calls f when the lease's task is
// cancelled (*scheduler.Broker does), so that the pool stops the attempt
// without a goroutine per attempt watching Revoked.
type revokeNotifier interface {
	OnRevoke(l cairn.Lease, f func()) (stop func())
}

// Types looks task types up by name; *tasks.Registry implements it.
type Types interface {
	Lookup(name string) (tasks.Task, bool)
}

// Logs creates the per-attempt log of a task. A log must refuse writes
// once closed: an attempt the pool abandoned may still try to write.
type Logs interface {
	Create(runID, taskID string, attempt int) (io.WriteCloser, error)
}

// Cache finds the earlier successes an attempt may reuse, newest first
// (*sqlite.Store in process; a remote worker will ask through the lease
// API).
type Cache interface {
	FindCached(ctx context.Context, key string, limit int) ([]cairn.CachedAttempt, error)
}

// toucher is an artifact store that can mark a blob used now
// (*artifacts.Dir): a reused artifact is, so that cairn gc, which keeps
// what was stored or touched within its grace period, never removes it
// under the attempt that reuses it.
type toucher interface {
	Touch(ref cairn.ArtifactRef) error
}

// touchVerifier is a toucher that also checks a blob's bytes, hashing
// them only when it has not seen them intact since they last changed
// (*artifacts.Dir.TouchVerified).
type touchVerifier interface {
	TouchVerified(ctx context.Context, ref cairn.ArtifactRef) error
}

// cacheHits is how many earlier successes one attempt looks at before it
// gives up and runs: each is checked (its artifacts read and hashed), and
// a key has more than one only when an artifact was lost or damaged.
const cacheHits = 4

// stopTimer is a task type that needs a known time to stop an attempt once
// its context ended (the shell's kill_grace): the pool gives it that long
// when it is more than StopGrace, rather than abandon a task that is
// stopping as asked.
type stopTimer interface {
	StopGrace(params json.RawMessage) time.Duration
}

// noteCloser is a log that can end with a note its size limit does not
// cut (*artifacts.LogWriter): the full text of the attempt's error.
type noteCloser interface {
	CloseWithNote(note string) error
}

// Options configures a Pool.
type Options struct {
	Worker string // this worker's name in leases and attempts
	// RunID restricts the pool to one run's tasks ("" for any run).
	RunID string
	// Owner restricts the pool to the tasks of the runs whose claim Owner
	// holds (cairn.LeaseRequest.Owner): a scheduler service's pool runs
	// only the runs that service plans.
	Owner string
	// Labels and Queues are what this worker offers and the queues it
	// takes tasks from (stored names, sorted; none: the default queue
	// only): it leases only the tasks they allow (cairn.Serves). AnyTask
	// leases every task whatever its labels and queue (the foreground
	// `cairn run`, which runs its own run's tasks).
	Labels  map[string]string
	Queues  []string
	AnyTask bool
	// Slots is how many attempts run at once (default 4): the global
	// concurrency limit of this worker.
	Slots     int
	Types     Types
	Artifacts tasks.Artifacts
	Logs      Logs
	// Version is the version of the built-in task types, recorded with
	// every attempt one of them runs (Completion.Version) and part of its
	// cache key: Cairn's version. A plugin's attempts record its binary's
	// sha256 instead (tasks.Versioned).
	Version string
	// Models, if set, is lent to every attempt as tasks.Env.Models: the
	// registry and lineage read by the types that need them (retrain).
	Models tasks.ModelReader
	// Cache, if set, is where an attempt that may be cached
	// (cairn.WorkItem.Cache) looks for an earlier success with its cache
	// key: one whose artifact outputs are all still there, intact, is
	// reused — the attempt succeeds with its outputs and metrics and
	// names it (cairn.Completion.CachedFrom) — instead of running. Nil:
	// attempts always run (their keys are still recorded).
	Cache Cache
	// ScratchDir is where each attempt's work dir is made (default os.TempDir()).
	ScratchDir string
	// IdleWait bounds one wait for work before asking again (default 5s).
	// Wake-ups come from the leaser; this only guards against a missed
	// one from another process.
	IdleWait time.Duration
	// StopGrace bounds how long an attempt may take to return once its
	// context ended — its timeout, its run's cancellation, a lost lease,
	// a hard stop (default DefaultStopGrace). Past it the pool abandons
	// the attempt: it reports it failed, frees its slot and leaves its
	// goroutine blocked (counted by Abandoned); whatever the task does
	// afterwards counts for nothing.
	StopGrace time.Duration
	// MaxErrorBytes bounds the error text of a completion, and four
	// times it the stack of a panic (default DefaultMaxErrorBytes). The
	// full text goes to the attempt's log.
	MaxErrorBytes int
	// Redact, if set, is applied to a completion's error text and stack
	// before they are cut to their bounds, so that a cut never leaves the
	// beginning of a value it would have redacted (a secret param).
	Redact func(string) string
	// Logger receives what the pool cannot report otherwise, at Warn:
	// a failed lease (the pool asks again), heartbeat or completion, and
	// a lost lease. Nil discards it.
	Logger *slog.Logger
	// HandBack, set by a remote worker, hands back an attempt whose task
	// type this worker does not have (a plugin installed on other
	// workers only) instead of failing it for good: it is reported
	// requeued (cairn.Completion.Requeue: retried at once, free of the
	// task's retries, within its max_interruptions) and its slot leases
	// nothing for HandBackPause, so that a worker that has the type takes
	// it. Unset (a server's own pool, 'cairn run', whose types are the
	// ones the workflow was checked with), such an attempt fails.
	HandBack      bool
	HandBackPause time.Duration // default DefaultHandBackPause
	// SpaceDirs are folders of the worker's own (a remote worker's
	// scratch and cache) whose file system, when full, makes the worker
	// unable to run anything: checked after an attempt failed (a
	// command's own ENOSPC reaches the pool only as its exit code) and
	// before each lease, a full one halts the pool as an artifact's
	// ENOSPC does (see Halted): the attempt is requeued, nothing more is
	// leased. Full is less than MinFreeSpace bytes or no inode left.
	SpaceDirs []string
}

// Defaults of Options.
const (
	// DefaultStopGrace is above the shell type's default kill_grace (5s),
	// so that a stopped command is killed before its attempt is abandoned.
	DefaultStopGrace     = 10 * time.Second
	DefaultMaxErrorBytes = 4 << 10
	DefaultHandBackPause = 3 * time.Second
	// MinFreeSpace is the room under which a file system of
	// Options.SpaceDirs is full.
	MinFreeSpace = 1 << 20
)

// A disk check before a lease that found at least spareSpace bytes and
// spareInodes inodes free on every folder of Options.SpaceDirs (a folder
// whose file system cannot be told, not made yet, says nothing) stands for
// the checks before the leases of the next roomFor: two statfs calls a
// task were 7.5 % of a remote worker's CPU on a fan of noop tasks. A disk
// with less to spare is checked before every lease, and a failed attempt
// always checks it (filling 64 MiB within roomFor is what a task of the
// worker may do; its next attempt failing on ENOSPC then halts the pool).
const (
	spareSpace  = 64 * MinFreeSpace
	spareInodes = 1024
	roomFor     = 100 * time.Millisecond
)

// Pool is an in-process worker pool. Start it, then Stop it (soft: stop
// leasing, let attempts finish) or StopAndCancel it (hard).
type Pool struct {
	o      Options
	leaser Leaser

	cancelLease context.CancelFunc      // stops leasing
	cancelWork  context.CancelCauseFunc // stops attempts
	leaseCtx    context.Context
	workCtx     context.Context
	slots       chan struct{}
	wg          sync.WaitGroup // the dispatcher, the heartbeater and every attempt
	dispatched  chan struct{}  // closed when the dispatcher returned

	mu     sync.Mutex
	active map[string]*attempt // by lease token

	// giver takes back leased items that never began (the leaser's
	// AheadLeaser.GiveBack, whatever the pool's slots), nil when the
	// leaser cannot: those leased ahead, and those a pool gets after it
	// stopped leasing (see stoppedLeasing).
	giver AheadLeaser

	// Leasing ahead (see reportBehind), when the leaser is an
	// AheadLeaser: ahead holds the items leased ahead of a free slot,
	// oldest first, since aheadSince; pending the reports of attempts
	// whose slot went on with one of them, for the reporter to send;
	// asked is how many items the reports on their way asked for beyond
	// their slot's next; quick counts the attempts in a row that took
	// less than quickAttempt. kick wakes the reporter, wake a dispatcher
	// waiting for what the reports on their way bring; finish ends the
	// reporter once every slot is back (Stop).
	aheadLeaser AheadLeaser
	ahead       workQueue
	aheadSince  time.Time
	pending     []behindReport
	asked       int
	quick       int
	kick, wake  chan struct{}
	finish      chan struct{}
	finishOnce  sync.Once

	// scratch holds emptied work dirs for reuse: making and removing a
	// folder per attempt costs more than a short task on many file systems.
	scratch chan string
	// dirty holds the work dirs of ended attempts of a tasks.Idler type,
	// emptied later (tidy): at the Idle of an attempt that waits on its
	// command, off the path between one attempt's end and the next's
	// start, or before an attempt of another type runs.
	dirtyMu sync.Mutex
	dirty   []string

	abandoned atomic.Int64 // attempts abandoned whose task has not returned yet

	haltOnce sync.Once
	halted   chan struct{} // closed by halt
	haltErr  error         // why, set before halted is closed

	// missed holds the cache keys ReuseHandedOut found no success
	// under, by lease token, until the attempt runs: it does not ask
	// again (nmissed counts them, to bound what items never run leave).
	missed  sync.Map // token → key
	nmissed atomic.Int64

	// roomUntil is until when (Unix nanoseconds) the last disk check
	// before a lease stands for the next ones: set when it found room to
	// spare on every folder of SpaceDirs (see fullDisk).
	roomUntil atomic.Int64
}

type attempt struct {
	lease  cairn.Lease
	cancel context.CancelCauseFunc
	// ended is set when the attempt's report is on its way: its lease
	// ends with that report's commit, and a heartbeat that finds it
	// ended says nothing of the attempt.
	ended atomic.Bool
}

// New returns a pool that takes work from leaser.
func New(leaser Leaser, o Options) *Pool {
	if o.Slots <= 0 {
		o.Slots = 4
	}
	if o.IdleWait <= 0 {
		o.IdleWait = 5 * time.Second
	}
	if o.ScratchDir == "" {
		o.ScratchDir = os.TempDir()
	}
	if o.StopGrace <= 0 {
		o.StopGrace = DefaultStopGrace
	}
	if o.MaxErrorBytes <= 0 {
		o.MaxErrorBytes = DefaultMaxErrorBytes
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.HandBackPause <= 0 {
		o.HandBackPause = DefaultHandBackPause
	}
	p := &Pool{o: o, leaser: leaser, active: make(map[string]*attempt), scratch: make(chan string, 2*o.Slots),
		halted: make(chan struct{})}
	al, gives := leasesAhead(leaser)
	if gives {
		p.giver = al
	}
	if gives && o.Slots > 1 {
		p.aheadLeaser = al
		p.kick, p.wake, p.finish = make(chan struct{}, 1), make(chan struct{}, 1), make(chan struct{})
	}
	return p
}

// Errors an attempt's context is cancelled with.
var (
	errRevoked = errors.New("attempt cancelled: its run was cancelled")
	errLost    = errors.New("attempt abandoned: its lease was lost")
	errStopped = errors.New("attempt interrupted: the worker stopped")
)

// StopGrace is how long an attempt may take to return once told to stop
// before the pool abandons it.
func (p *Pool) StopGrace() time.Duration { return p.o.StopGrace }

// Abandoned is the number of attempts the pool gave up on (their task did
// not return within StopGrace of being stopped) whose task has still not
// returned: goroutines blocked somewhere, each holding its work dir. Each
// one was reported failed and its slot freed; a task that never returns
// (blocked for good in a system call) stays counted until the process ends.
func (p *Pool) Abandoned() int { return int(p.abandoned.Load()) }

// Halted is closed when the pool stopped leasing because its worker cannot
// go on: an attempt failed for want of disk space (ENOSPC, EDQUOT). That
// attempt was not reported — it did not fail, its worker did — and from
// then on no failure is: the run's owner should stop driving it and leave
// it for 'cairn resume', as after a crash. Err says why.
func (p *Pool) Halted() <-chan struct{} { return p.halted }

// Err is why the pool halted, nil if it did not.
func (p *Pool) Err() error {
	select {
	case <-p.halted:
		return p.haltErr
	default:
		return nil
	}
}

func (p *Pool) halt(err error) {
	p.haltOnce.Do(func() {
		p.haltErr = err
		close(p.halted)
		p.cancelLease()
	})
}

// noSpace reports whether err says a disk (or a quota) is full: a fault
// of the worker, not of the task.
func noSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// fullDisk returns an error wrapping ENOSPC if the file system of one of
// Options.SpaceDirs is full (see there), nil otherwise. Before a lease
// (beforeLease) a recent check that found room to spare stands (see
// spareSpace); after a failed attempt the disk is always looked at.
func (p *Pool) fullDisk(beforeLease bool) error {
	if len(p.o.SpaceDirs) == 0 {
		return nil
	}
	now := time.Now().UnixNano()
	if beforeLease && now < p.roomUntil.Load() {
		return nil
	}
	spare := true
	for _, dir := range p.o.SpaceDirs {
		avail, ffree, files, ok := statfs(dir)
		switch {
		case !ok:
			// Nothing to tell (a folder not made yet: a worker's cache
			// before its first artifact), as before the cache of checks.
		case avail < MinFreeSpace:
			p.roomUntil.Store(0)
			return fmt.Errorf("the file system of %s is full (%d bytes left): %w", dir, avail, syscall.ENOSPC)
		case files > 0 && ffree == 0:
			p.roomUntil.Store(0)
			return fmt.Errorf("the file system of %s has no inode left: %w", dir, syscall.ENOSPC)
		case avail < spareSpace || files > 0 && ffree < spareInodes:
			spare = false
		}
	}
	if spare {
		p.roomUntil.Store(now + int64(roomFor))
	} else {
		p.roomUntil.Store(0)
	}
	return nil
}

// statfs is spaceOf, replaced by tests that count the calls.
var statfs = spaceOf

// Start begins leasing and running attempts. ctx bounds the pool's whole
// life; cancelling it is a hard stop.
func (p *Pool) Start(ctx context.Context) {
	leaseCtx, cancelLease := context.WithCancel(ctx)
	workCtx, cancelWork := context.WithCancelCause(ctx)
	p.cancelLease, p.cancelWork, p.leaseCtx, p.workCtx = cancelLease, cancelWork, leaseCtx, workCtx
	p.slots = make(chan struct{}, p.o.Slots)
	p.dispatched = make(chan struct{})
	p.wg.Add(2)
	go p.dispatch(leaseCtx)
	go p.heartbeat(workCtx)
	if p.aheadLeaser != nil {
		p.wg.Add(1)
		go p.reportBehind()
	}
}

// Stop stops leasing and waits for running attempts to finish (their
// leases renewed meanwhile); if ctx ends first, it cancels them and waits
// for them to return, each for at most StopGrace (a task that ignores its
// context is abandoned, as always). An attempt stopped so did not fail:
// the worker stopped it, so it is reported interrupted
// (cairn.Completion.Requeue) and retried at once, without charge to its
// task's retries, when its run goes on. Attempts that end before ctx does
// are reported as they ended.
func (p *Pool) Stop(ctx context.Context) {
	p.cancelLease()
	done := make(chan struct{})
	go func() {
		<-p.dispatched
		for i := 0; i < p.o.Slots; i++ { // every slot back = every attempt done
			p.slots <- struct{}{}
		}
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		// Every attempt's context derives from the work context, those
		// still being set up included.
		p.cancelWork(errStopped)
		<-done
	}
	p.cancelWork(errStopped)
	if p.finish != nil {
		p.finishOnce.Do(func() { close(p.finish) }) // every slot is back: no report comes behind any more
	}
	p.wg.Wait()
	p.dirtyMu.Lock()
	dirty := p.dirty
	p.dirty = nil
	p.dirtyMu.Unlock()
	for _, dir := range dirty {
		os.RemoveAll(dir)
	}
	for {
		select {
		case dir := <-p.scratch:
			os.RemoveAll(dir)
		default:
			return
		}
	}
}

// StopAndCancel cancels running attempts and waits for them to return:
// Stop with no time to finish. Each is reported interrupted.
func (p *Pool) StopAndCancel() {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p.Stop(ctx)
}

// dispatch leases as many items as there are free slots and starts them.
func (p *Pool) dispatch(ctx context.Context) {
	defer p.wg.Done()
	defer close(p.dispatched)
	var (
		fails       int // leases failed in a row
		failedSince time.Time
	)
	for {
		select { // wait for one free slot
		case p.slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		n := 1
	more:
		for n < p.o.Slots {
			select {
			case p.slots <- struct{}{}:
				n++
			default:
				break more
			}
		}
		if err := p.fullDisk(true); err != nil {
			p.halt(fmt.Errorf("before leasing: %w", err))
			for range n {
				<-p.slots
			}
			return
		}
		items, behind := p.takeAhead(n)
		if len(items) == 0 && behind {
			// Reports are on their way (leasing ahead): the items they
			// bring are this pool's next, for the slots free then (see
			// keepAhead). Wait for them rather than lease beside them.
			for range n {
				<-p.slots
			}
			select {
			case <-p.wake:
			case <-time.After(p.o.IdleWait):
			case <-ctx.Done():
				return
			}
			continue
		}
		var err error
		if len(items) == 0 {
			items, err = p.leaser.Lease(ctx, p.request(n, p.o.IdleWait))
			if p.stoppedLeasing(items) {
				items = nil
			}
		}
		switch {
		case err != nil && ctx.Err() == nil && noSpace(err):
			// The database's disk is full (the lease writes): asking
			// again would not free it. Halt as a full disk before a
			// lease does, so that the run is left to resume.
			p.halt(err)
			for range n {
				<-p.slots
			}
			return
		case err != nil && ctx.Err() == nil:
			// The store (or the server) is unavailable: back off, more
			// at each failure in a row, rather than spin; said once, and
			// again when it works.
			fails++
			wait := leaseBackoff(fails)
			if fails == 1 {
				failedSince = time.Now()
				p.o.Logger.Warn("lease failed; asking again with a growing backoff (at most 5s), said again when it works",
					"worker", p.o.Worker, "run", p.o.RunID, "err", err, "next", wait.Round(time.Millisecond))
			} else {
				p.o.Logger.Debug("lease failed again", "worker", p.o.Worker, "run", p.o.RunID, "failures", fails, "err", err, "next", wait.Round(time.Millisecond))
			}
			select {
			case <-time.After(wait):
			case <-ctx.Done():
			}
		case err == nil && fails > 0:
			p.o.Logger.Info("lease works again", "worker", p.o.Worker, "run", p.o.RunID, "failures", fails,
				"for", time.Since(failedSince).Round(time.Millisecond))
			fails = 0
		}
		for _, it := range items {
			p.wg.Add(1)
			go p.execute(it)
		}
		for i := len(items); i < n; i++ {
			<-p.slots
		}
		if ctx.Err() != nil {
			return
		}
	}
}

// leaseBackoff is the wait after the nth lease failed in a row: 100 ms
// doubled at each failure up to 5 s, drawn between half and all of it (so
// that the workers of a restarting server do not call it in step).
func leaseBackoff(n int) time.Duration {
	d := min(100*time.Millisecond<<min(n-1, 6), 5*time.Second)
	return d/2 + rand.N(d/2+1)
}

// request asks for up to n work items. Attempts begin as soon as they are
// leased (their inputs are local), so lease and start are one transaction.
func (p *Pool) request(n int, wait time.Duration) cairn.LeaseRequest {
	return cairn.LeaseRequest{Worker: p.o.Worker, RunID: p.o.RunID, Owner: p.o.Owner, Max: n, Wait: wait, Start: true,
		Labels: p.o.Labels, Queues: p.o.Queues, AnyTask: p.o.AnyTask}
}

// heartbeat renews every active lease at a third of its lifetime, all in
// one call, and stops attempts whose lease was lost or whose run is being
// cancelled.
func (p *Pool) heartbeat(ctx context.Context) {
	defer p.wg.Done()
	t := time.NewTicker(p.leaser.LeaseTTL() / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		p.mu.Lock()
		as := make([]*attempt, 0, len(p.active))
		leases := make([]cairn.Lease, 0, len(p.active))
		for _, a := range p.active {
			as = append(as, a)
			leases = append(leases, a.lease)
		}
		p.mu.Unlock()
		if len(as) == 0 {
			continue
		}
		rs, err := p.leaser.HeartbeatMany(ctx, leases)
		if err == nil && len(rs) != len(as) {
			err = fmt.Errorf("%d heartbeat results for %d leases", len(rs), len(as))
		}
		if err != nil {
			if ctx.Err() == nil {
				p.o.Logger.Warn("heartbeat failed; trying again at the next beat", "worker", p.o.Worker,
					"leases", len(leases), "err", err)
			}
			continue
		}
		for i, a := range as {
			switch r := rs[i]; {
			case a.ended.Load():
				// Reported since the beat began: the report ended the
				// lease (its commit may have come before the beat's), and
				// what became of it is the report's to say.
			case errors.Is(r.Err, cairn.ErrLeaseLost):
				l := a.lease
				p.o.Logger.Warn("lease lost; stopping the attempt", "worker", p.o.Worker,
					"run", l.RunID, "task", l.TaskID, "attempt", l.Attempt, "err", r.Err)
				a.cancel(errLost)
			case r.Err != nil:
				l := a.lease
				p.o.Logger.Warn("heartbeat failed", "worker", p.o.Worker,
					"run", l.RunID, "task", l.TaskID, "attempt", l.Attempt, "err", r.Err)
			case r.Reply.CancelRequested:
				a.cancel(errRevoked)
			}
		}
	}
}

// execute runs a leased attempt in a slot, then keeps the slot for the
// next ready task if there is one: when this attempt's completion made its
// successor ready (a chain), running it here saves waking the dispatcher.
//
// The task runs on this goroutine (runLogged). Should it have to be
// abandoned, the slot goes on in another goroutine (resume) and this one
// ends, without giving the slot back, when the task at last returns.
func (p *Pool) execute(it cairn.WorkItem) {
	for {
		next, ok, handed := p.attempt(it)
		if handed {
			return // the slot is the resuming goroutine's now
		}
		if !ok {
			if next, ok = p.takeOne(); !ok {
				p.tidy() // nothing waits on this slot now
				p.freeSlot()
				// An item leased ahead while this slot was given back
				// would wait for another attempt to end: start it.
				p.startAhead()
				return
			}
		}
		it = next
	}
}

// freeSlot gives back the slot of a goroutine that runs attempts.
func (p *Pool) freeSlot() {
	<-p.slots
	p.wg.Done()
}

// resume goes on with a slot whose attempt was abandoned, on a goroutine
// of its own: report runs the rest of the attempt (its report) and returns
// the slot's next item, if any.
func (p *Pool) resume(report func() (cairn.WorkItem, bool)) {
	next, ok := report()
	if !ok {
		p.freeSlot()
		return
	}
	p.execute(next)
}

// attempt runs one leased attempt and reports how it ended, asking in the
// same call for the slot's next work item unless the pool is stopping.
// handed says that the attempt was abandoned and reported by another
// goroutine, which has the slot now (see execute).
func (p *Pool) attempt(it cairn.WorkItem) (next cairn.WorkItem, ok, handed bool) {
	l := it.Lease
	ctx, cancel := context.WithCancelCause(p.workCtx)
	defer cancel(nil)
	// Reports go out on a context that outlives a hard stop: a finished
	// attempt's result must not be lost because the pool is stopping.
	rctx := context.WithoutCancel(ctx)

	if !it.Started {
		if err := p.leaser.Start(ctx, l); err != nil {
			// Lease lost before we began: nothing ran, nothing to report.
			p.o.Logger.Warn("start failed; the attempt does not run", "worker", p.o.Worker,
				"run", l.RunID, "task", l.TaskID, "attempt", l.Attempt, "err", err)
			return next, false, false
		}
	}
	a := &attempt{lease: l, cancel: cancel}
	p.mu.Lock()
	p.active[l.Token] = a
	p.mu.Unlock()
	unrevoke := func() {}
	if rn, ok := p.leaser.(revokeNotifier); ok {
		unrevoke = rn.OnRevoke(l, func() { cancel(errRevoked) })
	} else if rev := p.leaser.Revoked(l); rev != nil {
		go func() { // ends with the attempt: report cancels ctx
			select {
			case <-rev:
				cancel(errRevoked)
			case <-ctx.Done():
			}
		}()
	}
	// An attempt of a type this worker does not have is handed back
	// (Options.HandBack), its slot's next lease put off.
	handBack := false
	if p.o.HandBack {
		_, known := p.o.Types.Lookup(it.Type)
		handBack = !known
	}
	// report ends the attempt: on this goroutine, or on the one that
	// abandoned the task (whose attempt was not quick).
	quick := false
	report := func(c cairn.Completion, fatal error) (cairn.WorkItem, bool) {
		a.ended.Store(true)
		defer cancel(nil)
		defer func() {
			unrevoke()
			p.mu.Lock()
			delete(p.active, l.Token)
			p.mu.Unlock()
		}()
		return p.report(ctx, rctx, l, c, fatal, !handBack, quick)
	}
	began := time.Now()
	c, fatal, handed := p.run(ctx, it, func(c cairn.Completion, fatal error) {
		go p.resume(func() (cairn.WorkItem, bool) { return report(c, fatal) })
	})
	if handed {
		return next, false, true
	}
	quick = time.Since(began) < quickAttempt
	next, ok = report(c, fatal)
	if handBack {
		// Lease nothing for a while on this slot: the task just handed
		// back would likely come back here.
		select {
		case <-time.After(p.o.HandBackPause):
		case <-p.leaseCtx.Done():
		}
	}
	return next, ok, false
}

// report sends an attempt's completion, asking for the slot's next work
// item unless the pool is stopping.
func (p *Pool) report(ctx, rctx context.Context, l cairn.Lease, c cairn.Completion, fatal error, more, quick bool) (next cairn.WorkItem, ok bool) {
	if fatal != nil {
		// The attempt did not fail, its worker did: it is requeued
		// (cairn.Completion.Requeue), whatever the task's retries.
		p.halt(fmt.Errorf("task %s of run %s, attempt %d: %w", l.TaskID, l.RunID, l.Attempt, fatal))
		c = p.bound(failure(fatal), l)
	}
	if c.Error != "" && p.Err() != nil {
		// Halted: the disk is full, so this failure may well be that
		// too; the resumed run retries it.
		c.Requeue, c.Retryable = true, true
	}
	var want cairn.LeaseRequest
	extra := 0
	if p.leaseCtx.Err() == nil && more {
		if err := p.fullDisk(true); err != nil {
			p.halt(fmt.Errorf("before leasing: %w", err))
		} else {
			if p.aheadLeaser != nil && fatal == nil && p.Err() == nil {
				revoked := errors.Is(context.Cause(ctx), errRevoked)
				if next, ok := p.behind(behindReport{ctx: rctx, l: l, c: c, revoked: revoked}, quick); ok {
					return next, true
				}
				extra = p.askAhead()
			}
			want = p.request(1+extra, 0)
		}
	}
	items, err := p.complete(rctx, l, c, want)
	if extra > 0 {
		p.mu.Lock()
		p.asked -= extra
		p.mu.Unlock()
	}
	p.reported(rctx, l, err, errors.Is(context.Cause(ctx), errRevoked))
	if err != nil || len(items) == 0 || p.stoppedLeasing(items) {
		return next, false
	}
	if len(items) > 1 {
		p.keepAhead(items[1:])
	}
	return items[0], true
}

// stoppedLeasing gives items back, unrun, if the pool stopped leasing
// while they were on their way — it halted (a full disk) or is stopping —
// and reports whether it did. A Lease that stops waiting returns what a
// commit handed it meanwhile (the broker hands the tasks a completion
// makes ready to the Leases waiting in the same write), and a slot's
// report asks for its next item before its commit: run, such an item
// would start while the pool drains, or fail on the same full disk and
// be recorded interrupted (the flake of cmd/cairn's
// TestServerStopsOnFullDisk: the halting attempt's own requeue handed
// its task back to the halted pool's dispatcher, which ran it again).
// Given back, each is ready again as before its lease, no attempt
// counted, for the next worker to run. A leaser that cannot take leases
// back (a remote worker's server of an earlier version) has them run as
// any other.
func (p *Pool) stoppedLeasing(items []cairn.WorkItem) bool {
	if len(items) == 0 || p.giver == nil || p.leaseCtx.Err() == nil {
		return false
	}
	p.giveBack(items)
	return true
}

// reported halts the pool if the database's disk is full and logs a
// report that was not recorded (revoked: its run was cancelled, which
// the refusal of its report says).
func (p *Pool) reported(rctx context.Context, l cairn.Lease, err error, revoked bool) {
	if err != nil && noSpace(err) {
		// The database is on a full disk (SQLite's SQLITE_FULL and
		// PostgreSQL's disk_full are said as ENOSPC): the attempt's end
		// is not recorded, and no other will be. Its worker cannot go
		// on, as when an artifact does not fit: the run is left for
		// 'cairn resume', its attempt redone.
		p.halt(fmt.Errorf("record the end of task %s of run %s, attempt %d: %w", l.TaskID, l.RunID, l.Attempt, err))
	}
	if err != nil {
		level := slog.LevelWarn
		if errors.Is(err, cairn.ErrLeaseLost) && revoked {
			level = slog.LevelInfo // its run was cancelled: the refusal is expected
		}
		p.o.Logger.Log(rctx, level, "completion not recorded", "worker", p.o.Worker,
			"run", l.RunID, "task", l.TaskID, "attempt", l.Attempt, "err", err)
	}
}

// complete reports an attempt's end, retrying for a while when the store
// fails (not when the completion is refused: a lost lease or cancelled task
// has nobody else to tell). Should it still fail, the lease expires and
// the attempt is failed by the reaper.
func (p *Pool) complete(ctx context.Context, l cairn.Lease, c cairn.Completion, next cairn.LeaseRequest) ([]cairn.WorkItem, error) {
	delay := 50 * time.Millisecond
	for try := 1; ; try++ {
		items, err := p.leaser.CompleteAndLease(ctx, l, c, next)
		if err == nil || errors.Is(err, cairn.ErrLeaseLost) || try == 5 {
			return items, err
		}
		p.o.Logger.Warn("completion failed; trying again", "worker", p.o.Worker,
			"run", l.RunID, "task", l.TaskID, "attempt", l.Attempt, "try", try, "in", delay, "err", err)
		time.Sleep(delay)
		delay *= 2
	}
}

// run executes the task with its log, scratch dir and timeout, turning
// every way it can end — result, error, panic, timeout, a task that will
// not stop — into a Completion whose error text is at most MaxErrorBytes
// (its full text ends the attempt's log). It returns a fatal error instead
// when the attempt failed for want of disk space (see Halted).
//
// An attempt abandoned (runLogged) is finished by abandoned, called with
// what run would have returned, and run returns handed true, once the
// task has returned, with nothing else.
func (p *Pool) run(ctx context.Context, it cairn.WorkItem, abandoned func(cairn.Completion, error)) (_ cairn.Completion, fatal error, handed bool) {
	l := it.Lease
	task, ok := p.o.Types.Lookup(it.Type)
	if !ok && p.o.HandBack {
		p.o.Logger.Warn("a task of a type this worker does not have: handed back to the server for another worker (route it with labels to the workers that have it)",
			"worker", p.o.Worker, "run", l.RunID, "task", l.TaskID, "attempt", l.Attempt, "type", it.Type)
		c := failure(fmt.Errorf("unknown task type %q on worker %s: handed back to the server for a worker that has it "+
			"(give the task labels that only such workers offer)", it.Type, p.o.Worker))
		c.Requeue, c.Retryable = true, true
		return p.bound(c, l), nil, false
	}
	if !ok {
		return p.bound(failure(cairn.Permanentf("unknown task type %q on worker %s", it.Type, p.o.Worker)), l), nil, false
	}
	version, key := p.cacheKey(it, task)
	var source string // what the type read from outside, digested (tasks.SourceDigester)
	sd, digests := task.(tasks.SourceDigester)
	if key != "" && digests {
		src, ok := sd.SourceDigest(ctx, sourceRequest(it))
		switch {
		case !ok:
			key = ""
		case src != "":
			source = src
			key = cairn.SourceCacheKey(key, src)
		}
	}
	logw, err := p.o.Logs.Create(l.RunID, l.TaskID, l.Attempt)
	if err != nil {
		err = fmt.Errorf("open log: %w", err)
		if noSpace(err) {
			return cairn.Completion{}, err, false
		}
		return p.bound(failure(err), l), nil, false
	}
	var (
		c       cairn.Completion
		taskErr error
		reused  bool
	)
	if key != "" && p.o.Cache != nil && !p.missedBefore(l.Token, key) {
		c, reused = p.reuse(ctx, it, key, logw)
	}
	if !reused {
		var handed bool
		c, taskErr, handed = p.runLogged(ctx, it, task, logw, func(c cairn.Completion, taskErr error) {
			abandoned(p.endAttempt(l, c, taskErr, logw, version, key))
		})
		if handed {
			return cairn.Completion{}, nil, true
		}
		if source != "" && c.Error == "" {
			// Offered for reuse only if the data it read is the data
			// the key names: it did not change while the task ran.
			if now, ok := sd.SourceDigest(ctx, sourceRequest(it)); !ok || now != source {
				fmt.Fprintf(logw, "cairn: the task's source changed while it ran (%s before): this attempt is not offered for reuse\n", source)
				key = ""
			}
		}
	}
	c, fatal = p.endAttempt(l, c, taskErr, logw, version, key)
	if c.CacheKey != "" {
		c.CacheSource = source
	}
	return c, fatal, false
}

// cacheKey returns the version of task's implementation that runs it and
// the cache key of work item it ("" when it is not cached): its type, that
// version, its params as stored and its inputs' digests (before any
// source digest, tasks.SourceDigester).
func (p *Pool) cacheKey(it cairn.WorkItem, task tasks.Task) (version, key string) {
	version = p.o.Version
	if v, ok := task.(tasks.Versioned); ok {
		version = v.ImplVersion()
	}
	if it.Cache && version != "" && task.Info().Cache != cairn.CacheNever {
		params := it.Params
		if p.o.Redact != nil {
			// The key holds the params as stored: a secret's value is
			// never part of it (not even hashed).
			params = json.RawMessage(p.o.Redact(string(params)))
		}
		key = cairn.CacheKey(it.Type, version, params, it.Inputs)
	}
	return version, key
}

// endAttempt closes an attempt's log, with the failure's text if it
// failed, and makes its completion (see run).
func (p *Pool) endAttempt(l cairn.Lease, c cairn.Completion, taskErr error, logw io.WriteCloser, version, key string) (cairn.Completion, error) {
	var note string
	if c.Error != "" {
		note = fmt.Sprintf("\ncairn: attempt %d failed: %s\n", l.Attempt, c.Error)
		if c.Stack != "" {
			note += c.Stack + "\n"
		}
	}
	var cerr error
	if nc, ok := logw.(noteCloser); ok {
		cerr = nc.CloseWithNote(note)
	} else {
		if note != "" {
			io.WriteString(logw, note)
		}
		cerr = logw.Close()
	}
	switch {
	case noSpace(taskErr):
		return cairn.Completion{}, taskErr
	case noSpace(cerr):
		return cairn.Completion{}, fmt.Errorf("close log: %w", cerr)
	case cerr != nil && c.Error == "":
		c = failure(fmt.Errorf("close log: %w", cerr))
	}
	if errors.Is(taskErr, errStopped) {
		// The worker stopped the attempt (Stop's deadline): not the
		// task's failure.
		c.Requeue, c.Retryable = true, true
	}
	provenance(&c, version, key)
	return p.bound(c, l), nil
}

// provenance records what ran the attempt: the implementation's version
// and, for an attempt that ran and may be cached, its cache key (a reuse
// records none: the attempt it names is found under the key).
func provenance(c *cairn.Completion, version, key string) {
	c.Version = version
	if c.Plugin != nil {
		c.Version = "sha256:" + c.Plugin.SHA256
	}
	// An attempt that read artifacts beyond its inputs (through
	// Env.Models, say) depends on more than its key says, and one with
	// effects (a deploy's registration) would skip them when reused:
	// neither is ever offered for reuse, whatever its type says.
	if c.CachedFrom.IsZero() && len(c.ReadInputs) == 0 && len(c.Effects) == 0 {
		c.CacheKey = key
	}
}

// sourceRequest is the request a SourceDigester reads the attempt's
// source from.
func sourceRequest(it cairn.WorkItem) tasks.Request {
	l := it.Lease
	return tasks.Request{RunID: l.RunID, TaskID: l.TaskID, Attempt: l.Attempt, Params: it.Params, Inputs: it.Inputs}
}

// reuse looks for an earlier success with the attempt's cache key whose
// artifact outputs are all still stored, byte for byte, and returns the
// completion that reuses it. Every hit it passes over is said in the
// attempt's log, and then the one it takes; a store that cannot be asked
// is said there too, and the attempt runs.
//
// A reuse of the first hit writes no log: the attempt ran nothing, and its
// completion names the attempt it reused (cairn.Completion.CachedFrom),
// which `cairn logs`, `cairn show` and the web UI tell. A log is a file
// in a folder of the task's own, and making them cost a re-run of the
// breast cancer example 0.3 ms a task — the most of a reuse after the
// commit of its completion.
func (p *Pool) reuse(ctx context.Context, it cairn.WorkItem, key string, logw io.Writer) (cairn.Completion, bool) {
	hits, err := p.o.Cache.FindCached(ctx, key, cacheHits)
	if err != nil {
		fmt.Fprintf(logw, "cairn: cache not read, the task runs: %s\n", p.redact(err.Error()))
		return cairn.Completion{}, false
	}
	passed := false // a hit was passed over, and said in the log
	for _, h := range hits {
		if h.Type != "" && h.Type != it.Type {
			// The key is the type's too: a hit of another type was not
			// made under it (an entry a worker forged before the server
			// derived keys itself).
			fmt.Fprintf(logw, "cairn: not reusing %s: an attempt of type %s, not %s\n", h.Attempt, h.Type, it.Type)
			passed = true
			continue
		}
		if err := p.intact(ctx, h.Outputs); err != nil {
			fmt.Fprintf(logw, "cairn: not reusing %s: %s\n", h.Attempt, p.redact(err.Error()))
			passed = true
			continue
		}
		if passed {
			fmt.Fprintf(logw, "%s (cache key %s)\n", cairn.ReusedNote(h.Attempt), key)
		}
		return cairn.Completion{State: cairn.TaskSucceeded, Outputs: h.Outputs, Metrics: h.Metrics, CachedFrom: h.Attempt}, true
	}
	return cairn.Completion{}, false
}

// intact checks that every artifact in outputs is stored and that its
// bytes hash to its digest (a missing or corrupt one is never reused).
func (p *Pool) intact(ctx context.Context, outputs map[string]json.RawMessage) error {
	names := make([]string, 0, len(outputs))
	for n := range outputs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		v := outputs[n]
		if len(v) == 0 || v[0] != '{' {
			continue // a number, a string, a flag: no artifact
		}
		ref, ok := cairn.AsArtifactRef(v)
		if !ok {
			continue
		}
		if tv, ok := p.o.Artifacts.(touchVerifier); ok {
			if err := tv.TouchVerified(ctx, ref); err != nil {
				return fmt.Errorf("output %s: %w", n, err)
			}
			continue
		}
		if t, ok := p.o.Artifacts.(toucher); ok {
			// Used now: a garbage collection running meanwhile keeps it.
			// A blob that is not there fails the read below.
			t.Touch(ref)
		}
		r, err := p.o.Artifacts.Open(ctx, ref)
		if err != nil {
			return fmt.Errorf("output %s: %w", n, err)
		}
		_, err = io.Copy(io.Discard, r)
		r.Close()
		if err != nil {
			return fmt.Errorf("output %s: %w", n, err)
		}
	}
	return nil
}

func (p *Pool) redact(s string) string {
	if p.o.Redact != nil {
		return p.o.Redact(s)
	}
	return s
}

// failure is the completion of an attempt that failed with err.
func failure(err error) cairn.Completion {
	c := cairn.Completion{Error: err.Error(), Retryable: cairn.IsRetryable(err)}
	var pe *cairn.PanicError
	if errors.As(err, &pe) {
		c.Stack = string(pe.Stack)
	}
	var ee interface{ ExitCode() int }
	if errors.As(err, &ee) {
		code := ee.ExitCode()
		c.ExitCode = &code
	}
	return c
}

// bound cuts the completion's error text and stack to their limits, saying
// where the full text is: stored twice per attempt (attempt and task run),
// a task's error must not be able to fill the database (a 50 MiB CSV field
// quoted in a parse error).
func (p *Pool) bound(c cairn.Completion, l cairn.Lease) cairn.Completion {
	if c.Error == "" && c.Stack == "" {
		return c // a success: every hop of a chain
	}
	if p.o.Redact != nil {
		c.Error, c.Stack = p.o.Redact(c.Error), p.o.Redact(c.Stack)
	}
	if len(c.Error) <= p.o.MaxErrorBytes && len(c.Stack) <= 4*p.o.MaxErrorBytes {
		return c // nothing to cut: the note is not made (every attempt comes here)
	}
	where := fmt.Sprintf("full text: cairn logs %s %s --attempt %d", l.RunID, l.TaskID, l.Attempt)
	c.Error = clip(c.Error, p.o.MaxErrorBytes, where)
	c.Stack = clip(c.Stack, 4*p.o.MaxErrorBytes, where)
	return c
}

// clip returns s if it has at most n bytes, else its first bytes (whole
// UTF-8 characters) and a note of its length and where the rest is, n
// bytes in all at most (unless n is smaller than the note).
func clip(s string, n int, where string) string {
	if len(s) <= n {
		return s
	}
	tail := fmt.Sprintf(" … [cut: %d bytes in all; %s]", len(s), where)
	cut := max(n-len(tail), 0)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + tail
}

// runLogged runs the task on the calling goroutine. Should the task not
// return StopGrace after its context ended (blocked in a system call,
// say), the attempt is abandoned: abandoned is called, on a goroutine of
// its own, with the failure that ends the attempt, and runLogged returns
// handed true once the task has returned, its scratch dir removed.
// Otherwise it returns the full completion and the error it comes from.
//
// A goroutine per attempt that ran the task while this one waited cost a
// chain of short tasks a goroutine start, its stack's growth and two
// wake-ups of another thread per hop; the watch for the end of the context
// costs nothing until the context ends.
func (p *Pool) runLogged(ctx context.Context, it cairn.WorkItem, task tasks.Task, logw io.Writer, abandoned func(cairn.Completion, error)) (_ cairn.Completion, _ error, handed bool) {
	l := it.Lease
	_, idler := task.(tasks.Idler)
	if !idler {
		p.tidy() // what attempts of an Idler left is not kept for as long as this one runs
	}
	var dir string
	if _, none := task.(tasks.NoScratch); !none {
		var err error
		if dir, err = p.workDir(); err != nil {
			return failure(err), err, false
		}
	}
	tctx := ctx
	if it.Timeout > 0 {
		var cancel context.CancelFunc
		tctx, cancel = context.WithTimeoutCause(ctx, it.Timeout, fmt.Errorf("timed out after %s", it.Timeout))
		defer cancel()
	}

	// What the closures below share, in one object (each variable they
	// captured was an allocation of its own).
	st := &struct {
		mu       sync.Mutex
		returned bool             // the task returned
		gone     bool             // abandoned: the task's goroutine cleans up after itself
		grace    *time.Timer      // from the end of tctx to the abandonment
		ranBy    *cairn.PluginRef // the plugin binary that ran the attempt, if one did
		idled    atomic.Bool      // the task called Idle: its work dir is emptied at a later one
	}{}
	req := tasks.Request{RunID: l.RunID, TaskID: l.TaskID, Attempt: l.Attempt, Params: it.Params, Inputs: it.Inputs, WorkDir: dir}
	env := tasks.Env{Log: logw, Artifacts: p.o.Artifacts, Models: p.o.Models, RanBy: func(r cairn.PluginRef) {
		st.mu.Lock()
		defer st.mu.Unlock()
		if !st.gone {
			st.ranBy = &r
		}
	}}
	if idler {
		env.Idle = func() {
			st.mu.Lock()
			late := st.gone // abandoned: the pool may be stopped, its folders removed
			st.mu.Unlock()
			if !late && st.idled.CompareAndSwap(false, true) {
				p.tidy()
			}
		}
	}

	unwatch := context.AfterFunc(tctx, func() {
		wait := p.o.StopGrace // asked only now: a shell attempt's decodes its params
		if sg, ok := task.(stopTimer); ok {
			wait = max(wait, sg.StopGrace(it.Params))
		}
		st.mu.Lock()
		defer st.mu.Unlock()
		if st.returned {
			return
		}
		st.grace = time.AfterFunc(wait, func() {
			st.mu.Lock()
			if st.returned {
				st.mu.Unlock()
				return
			}
			st.gone = true
			p.abandoned.Add(1)
			plugin := st.ranBy
			st.mu.Unlock()
			// The task still runs: its work dir is its until it returns.
			err := fmt.Errorf("%w (the task did not stop within %s and was abandoned; its further output is discarded)",
				context.Cause(tctx), wait)
			abandoned(withPlugin(failure(err), plugin), err)
		})
	})
	res, err := safeRun(tctx, task, req, env)
	unwatch()
	st.mu.Lock()
	st.returned = true
	if st.gone {
		st.mu.Unlock()
		os.RemoveAll(dir) // it may have written there until now ("" removes nothing)
		p.abandoned.Add(-1)
		return cairn.Completion{}, nil, true
	}
	if st.grace != nil {
		st.grace.Stop()
	}
	c := cairn.Completion{Plugin: st.ranBy}
	st.mu.Unlock()
	if dir != "" {
		defer func() { p.releaseWorkDir(dir, st.idled.Load()) }()
	}
	err = withoutSelfName(err, it.Type, l.TaskID)
	if err == nil && tctx.Err() != nil {
		err = context.Cause(tctx) // it returned nil, but too late
	}
	if err != nil {
		if cause := context.Cause(tctx); cause != nil {
			err = causeFirst(cause, err)
		} else {
			err = corruptIsPermanent(err)
		}
		if full := p.fullDisk(false); full != nil && !noSpace(err) {
			// Checked before the work dir is emptied: what the task
			// wrote there may be what filled the disk.
			err = fmt.Errorf("%w; after it failed, %w", err, full)
		}
		return withPlugin(failure(err), c.Plugin), err, false
	}
	if err := checkReadInputs(res.Inputs, it.Inputs); err != nil {
		return withPlugin(failure(err), c.Plugin), err, false
	}
	if err := checkMetrics(res.Metrics); err != nil {
		return withPlugin(failure(err), c.Plugin), err, false
	}
	c.Outputs, c.Metrics, c.Effects, c.ReadInputs = res.Outputs, res.Metrics, res.Effects, res.Inputs
	return c, nil, false
}

// checkMetrics refuses a metric that is not a finite number (NaN, ±Inf:
// a score of an empty class, a 0/0): no store, comparison or chart can
// keep it, and no retry changes it. Without this the completion could not
// be recorded at all, and the attempt hung until its lease expired.
func checkMetrics(ms map[string]float64) error {
	bad := false
	for _, v := range ms {
		bad = bad || math.IsNaN(v) || math.IsInf(v, 0)
	}
	if !bad {
		return nil // the common case, without sorting the names
	}
	for _, name := range slices.Sorted(maps.Keys(ms)) {
		if v := ms[name]; math.IsNaN(v) || math.IsInf(v, 0) {
			return cairn.Permanentf("the task reported metric %q = %v: a metric must be a finite number", name, v)
		}
	}
	return nil
}

// checkReadInputs checks the artifacts a task says it read beyond its
// inputs (tasks.Result.Inputs): each a valid reference under a port that
// is not one of the inputs' names, which lineage keeps apart. A task that
// breaks this has a bug no retry fixes.
func checkReadInputs(read, inputs map[string]cairn.ArtifactRef) error {
	for port, ref := range read {
		if port == "" {
			return cairn.Permanentf("the task reported an artifact it read under an empty port name")
		}
		if _, ok := inputs[port]; ok {
			return cairn.Permanentf("the task reported an artifact it read under %q, the name of one of its inputs", port)
		}
		if err := ref.Validate(); err != nil {
			return cairn.Permanentf("the task reported an artifact it read as %q: %w", port, err)
		}
	}
	return nil
}

func withPlugin(c cairn.Completion, ref *cairn.PluginRef) cairn.Completion {
	c.Plugin = ref
	return c
}

// causeFirst names why the attempt's context ended (its timeout, its
// run's cancellation) before what the task made of it, so that a timed-out
// attempt reads "timed out after 1s: …" rather than the task's word for a
// cancelled context. The task's error stays in the chain.
func causeFirst(cause, err error) error {
	msg := err.Error()
	for _, end := range []string{cause.Error(), context.Canceled.Error(), context.DeadlineExceeded.Error()} {
		msg = strings.TrimSuffix(msg, ": "+end)
		if msg == end {
			msg = ""
		}
	}
	if msg == "" {
		return &causedError{msg: cause.Error(), err: err, cause: cause}
	}
	return &causedError{msg: cause.Error() + ": " + msg, err: err, cause: cause}
}

// corruptIsPermanent makes the error of a task that read an artifact whose
// stored bytes do not hash to its digest permanent, saying what to do: a
// retry would read the same damaged bytes, and its retries, backoff
// included, would only delay the failure.
func corruptIsPermanent(err error) error {
	if !errors.Is(err, cairn.ErrCorruptArtifact) || !cairn.IsRetryable(err) {
		return err
	}
	return cairn.Permanentf("%w (the artifact is damaged where it is stored; a retry would read the same bytes, so the task is not retried: "+
		"run the workflow again, which makes the artifact anew, as a damaged one is never reused from cache, or restore the file from a backup)", err)
}

// causedError is a task's error behind the cause of its context's end.
type causedError struct {
	msg        string
	err, cause error
}

func (e *causedError) Error() string   { return e.msg }
func (e *causedError) Unwrap() []error { return []error{e.err, e.cause} }

// safeRun runs the task, turning a panic into a *cairn.PanicError that
// carries the stack: the attempt fails, the worker lives.
func safeRun(ctx context.Context, t tasks.Task, req tasks.Request, env tasks.Env) (res tasks.Result, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &cairn.PanicError{Value: v, Stack: debug.Stack()}
		}
	}()
	return t.Run(ctx, req, env)
}

// workDir returns an empty scratch folder for an attempt: a reused one if
// any is free, else a new one.
func (p *Pool) workDir() (string, error) {
	select {
	case dir := <-p.scratch:
		return dir, nil
	default:
	}
	return MakeScratch(p.o.ScratchDir)
}

// releaseWorkDir empties dir and keeps it for the next attempt; a folder
// that cannot be emptied is removed instead. later (its attempt called
// Env.Idle) puts the emptying off to tidy, which an attempt that waits on
// its command calls meanwhile: a chain of shell commands empties each
// attempt's folder while the next one's command runs, in a second folder,
// rather than between them (five system calls of every hop: open, two
// reads of the folder, fstat, close).
func (p *Pool) releaseWorkDir(dir string, later bool) {
	if later {
		p.dirtyMu.Lock()
		if len(p.dirty) < cap(p.scratch) {
			p.dirty = append(p.dirty, dir)
			p.dirtyMu.Unlock()
			return
		}
		p.dirtyMu.Unlock()
	}
	if err := emptyDir(dir); err != nil {
		os.RemoveAll(dir)
		return
	}
	select {
	case p.scratch <- dir:
	default:
		os.RemoveAll(dir)
	}
}

// tidy empties the work dirs whose emptying was put off (releaseWorkDir)
// and keeps them for the next attempts.
func (p *Pool) tidy() {
	p.dirtyMu.Lock()
	dirty := p.dirty
	p.dirty = nil
	p.dirtyMu.Unlock()
	for _, dir := range dirty {
		p.releaseWorkDir(dir, false)
	}
}

// emptyDir removes what dir holds and gives it back mode 0700 if a task
// changed it: a chmod writes the folder's inode (a journal write on ext4)
// even when the mode stays, and a chain hop paid one each.
//
// A task that put a symbolic link in place of its folder does not have
// the link's target emptied: the folder is opened without following a
// link, and a link there fails the open, so that the caller removes the
// link itself (os.RemoveAll does not follow it).
//
// The folder is read with the system calls themselves: os.OpenFile would
// add five (the descriptor's non-blocking mode set, its registration with
// the poller refused, the mode set back) to the four this needs, on every
// attempt of a chain.
func emptyDir(dir string) error {
	fd, err := syscall.Open(dir, syscall.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return &fs.PathError{Op: "open", Path: dir, Err: err}
	}
	defer syscall.Close(fd)
	var names []string
	buf := direntBufs.Get().(*[]byte)
	defer direntBufs.Put(buf)
	for {
		n, err := syscall.ReadDirent(fd, *buf)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return &fs.PathError{Op: "readdirent", Path: dir, Err: err}
		}
		if n <= 0 {
			break
		}
		_, _, names = syscall.ParseDirent((*buf)[:n], -1, names)
	}
	for _, name := range names {
		if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
			return err
		}
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return &fs.PathError{Op: "fstat", Path: dir, Err: err}
	}
	if st.Mode&0o7777 != 0o700 {
		if err := syscall.Fchmod(fd, 0o700); err != nil {
			return &fs.PathError{Op: "chmod", Path: dir, Err: err}
		}
	}
	return nil
}

// direntBufs are the buffers emptyDir reads a folder's entries into.
var direntBufs = sync.Pool{New: func() any {
	b := make([]byte, 8<<10)
	return &b
}}
