package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cairnml/cairn"
)

// ServiceOptions configures a Service.
type ServiceOptions struct {
	// Owner names this process in run claims ("host:pid:nonce").
	Owner string
	// OwnerTTL is how long a claim lasts without renewal (default 10s).
	// All of the service's claims are renewed together, in one
	// statement, every OwnerTTL/5.
	OwnerTTL time.Duration
	// OwnerGone reports whether the process named by a claim is known to
	// be dead (same host, no such pid), so that its runs may be taken
	// over before the claim expires. Nil: wait for expiry.
	OwnerGone func(owner string) bool
	// Now is the clock (default time.Now).
	Now func() time.Time
	// PollInterval is how often the service reads the evaluations other
	// processes wrote (default 200ms): a read, not a write.
	PollInterval time.Duration
	// kickEvery is the least time between two adopt passes asked for by
	// events (default kickEvery); tests set it (export_test.go).
	kickEvery time.Duration

	// Adopt makes the service take runs on its own (cairn server): it
	// starts queued runs in creation order within the active-run limits,
	// and takes over runs whose owner's claim expired or whose owner is
	// gone. Without it the service plans only the runs Drive gives it.
	Adopt bool
	// MaxActiveRuns caps the active runs of the database (running, or
	// queued under a live claim) past which Adopt starts no queued run;
	// 0 for no cap. A workflow's own cap is cairn.Run.MaxActiveRuns.
	MaxActiveRuns int
	// Load returns the graph of a run the service adopts (parse the
	// workflow stored with it). An error wrapping ErrCannotPlan fails a
	// queued run with that error; any other error leaves the run alone,
	// tried again later.
	Load func(ctx context.Context, run *cairn.Run) (Graph, error)
	// Fire, if set, fires the schedules whose slots are due by now (cairn
	// server: actions.Actions.Fire) and returns when a slot is due next
	// (zero: none known). With Adopt the maintenance loop calls it while
	// the service leads (see LeaderTTL) — as soon as it does, when that
	// time comes and at least every FireInterval — with the term's
	// fencing token, which each schedule's transaction must check
	// (Tx.CheckFence); an error wrapping cairn.ErrNotLeader makes the
	// service stop leading at once. Not after StopAdopting (a draining
	// server starts nothing new).
	Fire func(ctx context.Context, now time.Time, fence Fence) (time.Time, error)
	// FireInterval is the longest time between two calls of Fire
	// (default 1s): what a paused, resumed, added or changed schedule
	// waits at most to be seen.
	FireInterval time.Duration
	// LeaderTTL is the term of the leader lease (LeaderScheduler) that a
	// service with Adopt tries to hold (default 10s, well under the 30 s
	// lease TTL, or the broker's lease TTL if shorter): while it leads, it fires cron schedules (Fire) and
	// reaps every run's expired leases, each write fenced by the term.
	// The leader renews its term every LeaderTTL/3; a renewal that fails
	// ends its leader work at once. The others look every LeaderTTL/5
	// and when the term they saw ends, so that one of them leads within
	// LeaderTTL of the leader's death, and within LeaderTTL/5 of its
	// release (Stop, StopAdopting).
	LeaderTTL time.Duration
	// ReapInterval is how often the leader looks for expired leases
	// (default 500ms): a read of the lease-expiry index, so that an
	// expired lease is ended within about ReapInterval of its expiry. A
	// service without Adopt (a foreground cairn run) reaps only the runs
	// it plans, every lease TTL/2.
	ReapInterval time.Duration
	// Leading, if set, is told each time the service starts leading (l
	// its term, leading true) and stops (l the term it had). It is
	// called synchronously and must return quickly.
	Leading func(l Leadership, leading bool)
	// Claimed, if set, is called when the service holds a run it adopted,
	// before it takes it over or plans it.
	Claimed func(run *cairn.Run)
	// Ended, if set, is called when the service stops planning a run:
	// final is the run once terminal, else nil and err says why.
	Ended func(id string, final *cairn.Run, err error)
	// Logger receives what the service does and the errors it survives.
	Logger *slog.Logger
	// Observe, if set, is told of the service's work: each planning pass
	// and each batch of evaluations read (see ServiceEvent). It is called
	// synchronously by the goroutine that did the work and must return
	// quickly (cairn server's /metrics).
	Observe func(ServiceEvent)
}

// errAlreadyOwned: the service plans the run already.
var errAlreadyOwned = errors.New("already driven by this scheduler")

// ServiceEvent is one piece of a Service's work, for ServiceOptions.Observe.
type ServiceEvent struct {
	Kind string // ServicePlanned or ServiceEvaluationsRead
	// RunID is the run a ServicePlanned pass planned.
	RunID string
	// Since is when the earliest change the pass planned for happened: a
	// completion or expired lease published in this process, an
	// evaluation written by another process (its creation time, on that
	// process's clock, never later than the read), a retry's backoff or
	// an evaluation falling due, a cancel request, the service taking
	// the run. A pass inside a completion's transaction has its own Start.
	// Zero when the pass had no known cause.
	Since time.Time
	// Start and End bound the pass: the run read again when another
	// process changed it, PlanRun, and the plans applied (committed).
	Start, End time.Time
	// Plans is how many plans the pass applied (0: nothing to change).
	Plans int
	// InCompletion says the pass ran inside the transaction of a
	// worker's completion (the in-process fast path, runState.within):
	// End is when that transaction committed.
	InCompletion bool
	// Evaluations is how many evaluations a ServiceEvaluationsRead read.
	Evaluations int
}

// Kinds of ServiceEvent.
const (
	ServicePlanned         = "planned"
	ServiceEvaluationsRead = "evaluations_read"
)

// ErrCannotPlan marks a run the service can never plan (its workflow no
// longer parses, a secret param has no value): a queued one is failed.
var ErrCannotPlan = errors.New("cannot be planned")

// Service is the scheduler of one process: it plans every run it owns —
// whichever process recorded what made the run need planning — and keeps
// one maintenance loop for all of them: claims renewed in one statement,
// evaluations read, expired leases reaped and, with Adopt, queued and
// orphaned runs taken. Each owned run has a goroutine that plans it when
// something changed (no polling); a completion made in this process is
// usually planned in its own transaction (see runState.within).
//
// Start it, then Stop it; it may be started again after Stop.
type Service struct {
	store  Store
	broker *Broker
	o      ServiceOptions
	log    *slog.Logger

	ctx    context.Context // the service's life: writes run on it
	cancel context.CancelFunc
	wg     sync.WaitGroup // the maintenance loop and every run loop
	kick   chan struct{}  // adopt soon: a run ended or was seen (at most every kickEvery)
	// kickNow: adopt now, a run was queued in this process (Kick).
	kickNow chan struct{}

	mu      sync.Mutex
	runs    map[string]*runState
	skip    map[string]time.Time // runs Load refused, not tried again before then
	strays  map[string]bool      // runs claimed at the last renewal but not planned here
	running bool
	// held counts the claims this service took by Drive or Take that it
	// has not let go of yet: a plan of its own that ends a run clears the
	// run's claim in the same statement (Store.ApplyPlan), and a release
	// that succeeded let go of it. A service that does not adopt and
	// holds none has no claim for Stop to release: a foreground run's
	// last write transaction is spared. (A service that adopts claims in
	// more ways, uncounted, and always releases at Stop.)
	held atomic.Int64

	adoptMu sync.Mutex // held by an adopt pass
	noAdopt bool       // StopAdopting was called (under adoptMu)
	// draining is noAdopt for the lead loop, which must not wait for an
	// adopt pass or a Fire in progress to renew its term.
	draining atomic.Bool

	// The leader lease (leader.go's lead loop).
	lmu      sync.Mutex
	term     Leadership    // the term held; zero Epoch: not leading
	termEnd  time.Time     // on the service's clock: the term ends then unless renewed
	termGen  uint64        // bumped when the service stops leading
	leadKick chan struct{} // look at the lease now (StopAdopting)
	leadGot  chan struct{} // the service just started leading: fire and reap now
	evalWake chan struct{} // a notification said evaluations were written
}

// NewService returns a service that plans with store and dispatches through broker.
func NewService(store Store, broker *Broker, o ServiceOptions) *Service {
	if o.OwnerTTL <= 0 {
		o.OwnerTTL = 10 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 200 * time.Millisecond
	}
	if o.kickEvery <= 0 {
		o.kickEvery = kickEvery
	}
	if o.FireInterval <= 0 {
		o.FireInterval = time.Second
	}
	if o.LeaderTTL <= 0 {
		o.LeaderTTL = min(10*time.Second, broker.LeaseTTL())
	}
	if o.ReapInterval <= 0 {
		o.ReapInterval = 500 * time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Service{store: store, broker: broker, o: o, log: o.Logger, runs: map[string]*runState{}, skip: map[string]time.Time{}}
}

// Owner is the name the service claims runs under.
func (s *Service) Owner() string { return s.o.Owner }

// Start starts the maintenance loop. ctx bounds the service's life as
// Stop does, without its grace.
func (s *Service) Start(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running {
		return
	}
	s.running = true
	s.adoptMu.Lock()
	s.noAdopt = false
	s.adoptMu.Unlock()
	s.draining.Store(false)
	s.ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	s.kick = make(chan struct{}, 1)
	s.kickNow = make(chan struct{}, 1)
	s.leadKick = make(chan struct{}, 1)
	s.leadGot = make(chan struct{}, 1)
	s.evalWake = make(chan struct{}, 1)
	// The evaluations' cursor is read here, before the service owns
	// anything, rather than by the maintenance loop at the moment a
	// foreground run's driver takes its run over and reads too: on SQLite
	// two reads at once open a second read connection (its schema parsed
	// again), a millisecond of a one-task run's CPU.
	cursor, err := s.store.LastEvaluation(s.ctx)
	if err != nil {
		s.log.Warn("read evaluations", "err", err)
	}
	s.wg.Add(1)
	go s.maintain(ctx, cursor)
	if s.o.Adopt {
		s.wg.Add(1)
		go s.leadLoop(ctx)
	}
	if l, ok := s.store.(Listener); ok {
		go s.listen(l)
	}
}

// Stop stops planning: every run loop returns, leaving its run as it is,
// and the service's claims are released in one statement, so that the
// next scheduler (this one started again, another server) takes the runs
// over at once. ctx bounds the release.
func (s *Service) Stop(ctx context.Context) {
	s.mu.Lock()
	if !s.running {
		s.mu.Unlock()
		return
	}
	s.running = false
	runs := make([]*runState, 0, len(s.runs))
	for _, rs := range s.runs {
		runs = append(runs, rs)
	}
	s.mu.Unlock()
	for _, rs := range runs {
		rs.halt(fmt.Errorf("run %s: %w: the scheduler stopped", rs.id, ErrDetached))
	}
	s.cancel()
	s.wg.Wait()
	s.resign(context.WithoutCancel(ctx), "the scheduler stopped")
	if !s.o.Adopt && s.held.Load() == 0 {
		return // every run it claimed ended, or was let go, in a write of its own
	}
	if err := s.store.ReleaseClaims(context.WithoutCancel(ctx), s.o.Owner); err != nil {
		s.log.Warn("release claims", "err", err)
	}
}

// StopAdopting makes an Adopt service take no more runs on its own — no
// queued run started, no orphaned run taken over — while it goes on
// planning the runs it holds: a server draining on SIGTERM. It returns
// once an adopt pass in progress is over. Start undoes it.
func (s *Service) StopAdopting() {
	s.adoptMu.Lock()
	s.noAdopt = true
	s.adoptMu.Unlock()
	s.draining.Store(true)
	// A draining server fires nothing: it hands the leader lease over now.
	s.mu.Lock()
	kick := s.leadKick
	s.mu.Unlock()
	if kick != nil {
		select {
		case kick <- struct{}{}:
		default:
		}
	}
}

// Kick asks for an adopt pass now: a run was just queued in this process
// (a trigger through the API), and need not wait for the next read of
// evaluations, nor for kickEvery after the last pass (a run that ended
// just before would otherwise hold it up to 100 ms). Kicks made while a
// pass runs make one more pass. It never blocks; without Adopt it does
// nothing.
func (s *Service) Kick() {
	s.mu.Lock()
	kick := s.kickNow
	s.mu.Unlock()
	if kick == nil {
		return
	}
	select {
	case kick <- struct{}{}:
	default:
	}
}

// Runs returns the ids of the runs the service owns now.
func (s *Service) Runs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]string, 0, len(s.runs))
	for id := range s.runs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// Drive claims run id (taking it over from a dead owner), plans it until
// it is terminal and returns it, as Driver.Drive says; claimed, if set, is
// called once the claim is held and the run is not over. The service
// must be started.
func (s *Service) Drive(ctx context.Context, id string, g Graph, claimed func()) (*cairn.Run, error) {
	return s.drive(ctx, id, g, claimed, nil, nil)
}

// drive is Drive; created, if not nil, is the run's task runs as its
// caller just created them, and made, if not nil, the run so created (see
// Driver.DriveCreated).
func (s *Service) drive(ctx context.Context, id string, g Graph, claimed func(), created []*cairn.TaskRun, made *cairn.Run) (*cairn.Run, error) {
	run := made
	if !s.heldAsCreated(made) {
		var err error
		if run, err = s.claim(ctx, id); err != nil {
			return nil, err
		}
	}
	s.held.Add(1)
	if run.State.Terminal() {
		s.release(id)
		return run, nil
	}
	rs, err := s.own(run, g, created, claimed)
	if err != nil {
		s.release(id)
		return nil, err
	}
	select {
	case <-rs.done:
	case <-ctx.Done():
		if cause := context.Cause(ctx); errors.Is(cause, ErrDetached) {
			rs.halt(fmt.Errorf("drive run %s: %w", id, cause))
		} else {
			rs.requestCancel()
		}
		<-rs.done
	}
	if rs.final != nil {
		return rs.final, nil
	}
	return nil, rs.err
}

// heldAsCreated reports whether run, as its caller just created it, is
// claimed by this service for long enough that the maintenance loop's
// renewal (every OwnerTTL/5, of every claim the owner holds) keeps it:
// claiming it again would write what the row holds and read it back.
func (s *Service) heldAsCreated(run *cairn.Run) bool {
	return run != nil && run.Version == 1 && run.Owner == s.o.Owner &&
		run.OwnerExpiresAt.Sub(s.o.Now()) > s.o.OwnerTTL/2
}

// claim takes run id for this service, taking over from a dead owner.
func (s *Service) claim(ctx context.Context, id string) (*cairn.Run, error) {
	run, err := s.store.ClaimRun(ctx, id, s.o.Owner, s.o.Now(), s.o.OwnerTTL, false)
	if errors.Is(err, cairn.ErrRunOwned) && s.o.OwnerGone != nil {
		cur, gerr := s.store.GetRun(ctx, id)
		if gerr != nil {
			return nil, fmt.Errorf("drive run %s: %w", id, gerr)
		}
		if s.o.OwnerGone(cur.Owner) {
			run, err = s.store.ClaimRun(ctx, id, s.o.Owner, s.o.Now(), s.o.OwnerTTL, true)
		} else {
			return nil, fmt.Errorf("drive run %s: %w: %s holds it until %s; cancel it or wait",
				id, cairn.ErrRunOwned, cur.Owner, cur.OwnerExpiresAt.Format(time.RFC3339))
		}
	}
	if err != nil {
		return nil, fmt.Errorf("drive run %s: claim: %w", id, err)
	}
	return run, nil
}

// release gives up the claim on a run the service does not plan.
func (s *Service) release(id string) {
	ctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
	defer cancel()
	if err := s.store.ReleaseRun(ctx, id, s.o.Owner); err != nil {
		s.log.Warn("release run", "run", id, "err", err)
		return
	}
	s.held.Add(-1)
}

// own starts planning run, whose claim the service holds: it subscribes
// to the broker, takes over what a previous owner left, loads the
// snapshot and starts the run's loop.
//
// claimed, if not nil, is called once the run's changes reach its loop,
// before anything is planned or taken over: the workers it starts may
// lease the run's ready tasks at once (a run PlanCreated made has some
// from its creation on), and their reports must not pass the snapshot by.
func (s *Service) own(run *cairn.Run, g Graph, created []*cairn.TaskRun, claimed func()) (*runState, error) {
	id := run.ID
	// The evaluations written before now are covered by the full plan
	// the loop makes first. Read before the workers start (claimed), not
	// beside their first lease's read: on SQLite two reads at once open a
	// second read connection. A bound read earlier is lower, which is
	// safe: the later evaluations are acknowledged once the maintenance
	// loop's poll has seen them, or deleted by the plan that ends the run.
	last, err := s.store.LastEvaluation(s.ctx)
	if err != nil {
		return nil, fmt.Errorf("drive run %s: %w", id, err)
	}
	rs := &runState{svc: s, id: id, g: g, cancelReq: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{}),
		needSince: s.o.Now(), evalUpTo: last}
	s.mu.Lock()
	if !s.running {
		s.mu.Unlock()
		return nil, fmt.Errorf("drive run %s: the scheduler is not running", id)
	}
	if _, dup := s.runs[id]; dup {
		s.mu.Unlock()
		return nil, fmt.Errorf("drive run %s: %w", id, errAlreadyOwned)
	}
	// Subscribed before it is listed: the maintenance loop may hand the
	// run an evaluation (and wake its inbox) as soon as it is, while own
	// is called from another goroutine (Drive, Take).
	rs.in = s.broker.subscribe(id, rs.within, rs.leasedRows)
	s.runs[id] = rs
	s.mu.Unlock()
	if claimed != nil {
		claimed()
	}
	fail := func(err error) (*runState, error) {
		s.broker.unsubscribe(id)
		s.mu.Lock()
		delete(s.runs, id)
		s.mu.Unlock()
		return nil, err
	}
	// A run being cancelled (`cairn cancel` of a run whose process died)
	// ends its interrupted attempts as cancelled: nothing will retry them.
	// A queued run has had no attempt, nor has one just created.
	isFresh := fresh(run, created)
	if run.State != cairn.RunQueued && !isFresh {
		if _, err := s.broker.ExpireLeases(s.ctx, Expiry{RunID: id, Force: true, Cancel: run.CancelRequested, Keep: s.o.Owner,
			Reason: "attempt interrupted: the process running it stopped"}); err != nil {
			return fail(fmt.Errorf("drive run %s: take over: %w", id, err))
		}
	}
	var snap *Snapshot
	if isFresh {
		// Nothing has touched the run's task runs since they were
		// created as these (a run at its first version, queued or as
		// PlanCreated left it): they need not be read back, nor held
		// twice.
		snap, err = NewSnapshot(run, g, created)
		if err != nil {
			return fail(fmt.Errorf("drive run %s: %w", id, err))
		}
	} else if snap, err = s.load(s.ctx, id, g); err != nil {
		return fail(err)
	}
	ready := snap.ready > 0 // read before the loop changes it
	rs.mu.Lock()
	rs.snap = snap
	rs.mu.Unlock()
	s.wg.Add(1)
	go s.loop(rs)
	// Tasks the run had ready are leasable here from now on. A run with
	// none (a queued one) wakes nobody: the waiting Leases would each
	// look in a transaction of their own for nothing, just as its first
	// plan wants the writer — and that plan hands its tasks to them.
	if ready {
		s.broker.NotifyReady()
	}
	return rs, nil
}

// loop plans rs's run whenever something changed, until it is terminal,
// planning fails, or it is told to stop.
func (s *Service) loop(rs *runState) {
	defer s.wg.Done()
	defer s.forget(rs)
	wake := time.NewTimer(time.Hour)
	defer wake.Stop()
	cancelReq := rs.cancelReq
	for {
		start, plans := s.o.Now(), 0
		var spills []*spill // the waiting Leases the plans handed tasks to
		rs.mu.Lock()
		var (
			notes []func()
			err   error
			done  bool
		)
		if rs.snap != nil && rs.snap.Run.State == cairn.RunQueued && !rs.stale && s.broker.reuser.Load() != nil &&
			s.broker.anyHandable(rs.id, s.o.Owner) {
			// A run's first plan (a triggered run's), whose tasks may be
			// cache hits: the pass in one write, with their reuses
			// (stepInWrite).
			notes, err, done = s.stepInWrite(rs, &spills, &plans)
		}
		if !done {
			more, e := rs.step(func(p *Plan) error {
				sp, err := s.applyHanding(rs, p)
				if sp != nil {
					spills = append(spills, sp)
				}
				if err == nil {
					plans++
				}
				return err
			}, true, nil)
			notes, err = append(notes, more...), e
		}
		wakeAt, final := rs.wakeAt, rs.final
		ev, report := rs.passDone(err, start, plans, false)
		rs.mu.Unlock()
		for _, n := range notes {
			n()
		}
		// After the plans' events: the leases' come after their tasks'
		// ready.
		for _, sp := range spills {
			sp.end(true)
		}
		if report {
			s.o.Observe(ev)
		}
		if err != nil || final != nil {
			return
		}
		s.ack(rs)
		rs.mu.Lock()
		if due := rs.evalDue; !due.IsZero() && (wakeAt.IsZero() || due.Before(wakeAt)) {
			wakeAt = due
		}
		rs.mu.Unlock()
		var wakeC <-chan time.Time
		if !wakeAt.IsZero() {
			wake.Reset(wakeAt.Sub(s.o.Now())) // on the planner's clock: WakeAt is in its terms
			wakeC = wake.C
		}
		select {
		case <-rs.in.signal:
		case <-wakeC:
			rs.mu.Lock()
			rs.need(wakeAt)
			rs.mu.Unlock()
		case <-cancelReq:
			cancelReq = nil
			rs.mu.Lock()
			rs.need(s.o.Now())
			rs.cancel()
			rs.mu.Unlock()
		case <-rs.stop:
			rs.mu.Lock()
			rs.err = rs.stopWhy
			rs.mu.Unlock()
			return
		}
	}
}

// applyHanding applies plan p of rs's run, whose mu is held; the tasks it
// makes ready go, in the same write, to Leases waiting in this process
// for work (its pool's dispatcher, at a run's first plan), when there are
// any: woken instead, each would lease them in a transaction of its own.
// sp, if not nil, holds those Leases, which the caller lets go of with
// sp.end(true) once the plan's events are out; a plan that did not commit
// lets them go itself.
func (s *Service) applyHanding(rs *runState, p *Plan) (sp *spill, err error) {
	if !rs.leftReady(p) || !s.broker.anyHandable(rs.id, s.o.Owner) {
		return nil, s.store.ApplyPlan(s.ctx, p)
	}
	sp = &spill{b: s.broker}
	err = s.store.Batch(s.ctx, func(tx Tx) error {
		// A store may run fn again (see Broker.commit): the plan's
		// leases of the first run are forgotten.
		sp.again(tx)
		for i := range p.Tasks {
			p.Tasks[i].Lease, p.Tasks[i].Start = nil, false
		}
		var more []heldWaiter
		for rs.leftReady(p) {
			h := sp.next(rs.id, s.o.Owner)
			if h == nil {
				break
			}
			g, err := rs.handOut(p, h)
			if err != nil {
				return err
			}
			more = append(more, heldWaiter{h: h})
			h.items = g // given only if the plan is applied: see below
		}
		if err := tx.ApplyPlan(p); err != nil {
			for _, m := range more {
				m.h.items = nil
			}
			return err
		}
		return nil
	})
	if err == nil {
		return sp, nil
	}
	sp.end(false)
	if errors.Is(err, cairn.ErrConflict) {
		return nil, err
	}
	// The plan did not commit (a batch's fn is not run again where a
	// transaction of ApplyPlan's is): applied as it would have been,
	// without leases. (Had it committed after all, this conflicts.)
	for i := range p.Tasks {
		p.Tasks[i].Lease, p.Tasks[i].Start = nil, false
	}
	return nil, s.store.ApplyPlan(s.ctx, p)
}

// ackEvery is how many evaluations of a run its loop lets pile up before
// it deletes them; all of a run's are deleted when it ends. Until then
// they cost nothing but rows: the service reads only new ones, and a
// scheduler that takes a run over plans all of it.
const ackEvery = 64

// ack deletes the evaluations of rs's run that its latest plan covered,
// once there are ackEvery of them or a retry's due time passed.
func (s *Service) ack(rs *runState) {
	now := s.o.Now()
	rs.mu.Lock()
	upTo, due, n := rs.evalUpTo, rs.evalDue, rs.evalUnacked
	need := n >= ackEvery || (!due.IsZero() && !now.Before(due))
	rs.mu.Unlock()
	if !need {
		return
	}
	if err := s.store.AckEvaluations(s.ctx, rs.id, upTo, now); err != nil {
		s.log.Warn("acknowledge evaluations", "run", rs.id, "err", err)
		return
	}
	rs.mu.Lock()
	rs.evalUnacked -= n
	if !due.IsZero() && !now.Before(due) && rs.evalDue.Equal(due) {
		rs.evalDue = time.Time{}
	}
	rs.mu.Unlock()
}

// forget ends the service's hold on rs's run once its loop returned.
func (s *Service) forget(rs *runState) {
	s.broker.unsubscribe(rs.id)
	s.mu.Lock()
	delete(s.runs, rs.id)
	s.mu.Unlock()
	rs.mu.Lock()
	final, err := rs.final, rs.err
	rs.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), 5*time.Second)
	defer cancel()
	switch {
	case final != nil:
		// The plan that ended the run released its claim and deleted its
		// evaluations.
		s.held.Add(-1)
	case errors.Is(err, cairn.ErrRunOwned):
		// Taken over: the claim is another's (Stop's release, if it
		// comes, changes nothing of it).
	default:
		// Planning failed, or the run is left as it is: let the next
		// scheduler have it at once (Stop releases all claims itself).
		if !errors.Is(err, ErrDetached) || s.ctx.Err() == nil {
			if err := s.store.ReleaseRun(ctx, rs.id, s.o.Owner); err != nil {
				s.log.Warn("release run", "run", rs.id, "err", err)
			} else {
				s.held.Add(-1)
			}
		}
	}
	if final != nil {
		if final.Error != "" {
			s.log.Info("run ended", "run", rs.id, "state", final.State, "err", final.Error)
		} else {
			s.log.Info("run ended", "run", rs.id, "state", final.State)
		}
	} else if err != nil && !errors.Is(err, ErrDetached) {
		s.log.Error("run left unplanned", "run", rs.id, "err", err)
	}
	if s.o.Ended != nil {
		s.o.Ended(rs.id, final, err)
	}
	close(rs.done)
	select { // a run ended: room for a queued one
	case s.kick <- struct{}{}:
	default:
	}
}

// fresh reports whether created are run's task runs as stored: given,
// the run still at its first version (queued, or running as PlanCreated
// made it), every task run at its first version and of this run.
func fresh(run *cairn.Run, created []*cairn.TaskRun) bool {
	if created == nil || (run.State != cairn.RunQueued && run.State != cairn.RunRunning) || run.Version != 1 {
		return false
	}
	for _, tr := range created {
		if tr.Version != 1 || tr.RunID != run.ID {
			return false
		}
	}
	return true
}

func (s *Service) load(ctx context.Context, id string, g Graph) (*Snapshot, error) {
	run, err := s.store.GetRun(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("drive run %s: %w", id, err)
	}
	trs, err := s.store.ListTaskRuns(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("drive run %s: %w", id, err)
	}
	snap, err := NewSnapshot(run, g, trs)
	if err != nil {
		return nil, fmt.Errorf("drive run %s: %w", id, err)
	}
	return snap, nil
}

// maintain is the service's one maintenance loop; cursor is the
// highest evaluation id when the service started.
func (s *Service) maintain(ctx context.Context, cursor int64) {
	defer s.wg.Done()
	sctx := s.ctx
	poll := time.NewTicker(s.o.PollInterval)
	defer poll.Stop()
	renew := time.NewTicker(s.o.OwnerTTL / 5)
	defer renew.Stop()
	reapEvery := s.o.ReapInterval
	if !s.o.Adopt {
		reapEvery = s.broker.LeaseTTL() / 2
	}
	reap := time.NewTicker(reapEvery)
	defer reap.Stop()
	if s.o.Adopt {
		s.adopt(sctx)
	}
	fire := time.NewTimer(s.fire(sctx))
	defer fire.Stop()
	var (
		kickTimer <-chan time.Time // an adopt pass asked for, due then
		lastKick  time.Time
	)
	for {
		select {
		case <-fire.C:
			fire.Reset(s.fire(sctx))
		case <-sctx.Done():
			return
		case <-ctx.Done():
			return
		case <-poll.C:
			cursor = s.poll(sctx, cursor)
		case <-s.evalWake:
			cursor = s.poll(sctx, cursor)
		case <-s.leadGot:
			// Leading from now: expired leases may have waited for a
			// leader, and slots may be due.
			s.reap(sctx)
			fire.Reset(s.fire(sctx))
		case <-renew.C:
			s.renew(sctx)
			if s.o.Adopt {
				s.adopt(sctx)
			}
		case <-reap.C:
			s.reap(sctx)
		case <-s.kick:
			// A run ended (room for a queued one) or a new run was
			// seen: look at once, but at most every kickEvery, so that
			// a thousand runs ending do not make a thousand passes.
			if s.o.Adopt && kickTimer == nil {
				wait := s.o.kickEvery - time.Since(lastKick)
				if wait < 0 {
					wait = 0
				}
				kickTimer = time.After(wait)
			}
		case <-kickTimer:
			kickTimer, lastKick = nil, time.Now()
			s.adopt(sctx)
		case <-s.kickNow:
			// A run queued here (Kick): one a request that made a
			// run, so not limited; a pass due by kickTimer is made now.
			if s.o.Adopt {
				kickTimer, lastKick = nil, time.Now()
				s.adopt(sctx)
			}
		}
	}
}

// fire fires the schedules that are due (ServiceOptions.Fire) and returns
// how long to wait before the next call.
func (s *Service) fire(ctx context.Context) time.Duration {
	if !s.o.Adopt || s.o.Fire == nil {
		return time.Hour
	}
	s.adoptMu.Lock()
	defer s.adoptMu.Unlock()
	if s.noAdopt {
		return s.o.FireInterval
	}
	f := s.fence()
	if f == nil {
		return s.o.FireInterval // the leader fires; the lead loop says when this one does
	}
	next, err := s.o.Fire(ctx, s.o.Now(), *f)
	if errors.Is(err, cairn.ErrNotLeader) {
		s.stepDown(*f, "a schedule's transaction found its term over", err)
	}
	wait := s.o.FireInterval
	if !next.IsZero() {
		// On the service's clock, as the slot is; a little after it, so
		// that the slot is due when Fire looks.
		wait = min(wait, max(next.Sub(s.o.Now())+time.Millisecond, 10*time.Millisecond))
	}
	return wait
}

// poll reads the evaluations written since cursor and hands each to the
// loop of the run it names, if the service owns it; with Adopt a new or
// unowned run's evaluation makes it look for runs to take at once.
func (s *Service) poll(ctx context.Context, cursor int64) int64 {
	for {
		evs, err := s.store.Evaluations(ctx, cursor, 1000)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("read evaluations", "err", err)
			}
			return cursor
		}
		if len(evs) > 0 && s.o.Observe != nil {
			s.o.Observe(ServiceEvent{Kind: ServiceEvaluationsRead, Evaluations: len(evs)})
		}
		now := s.o.Now()
		adopt := false
		for _, e := range evs {
			cursor = e.ID
			s.mu.Lock()
			rs := s.runs[e.RunID]
			s.mu.Unlock()
			switch {
			case rs != nil:
				if rs.noteEval(e, e.Writer != s.o.Owner, now) {
					rs.in.wake()
				}
			case s.o.Adopt && e.Writer != s.o.Owner:
				adopt = true
			}
		}
		if adopt {
			select { // the maintenance loop looks, at most every kickEvery
			case s.kick <- struct{}{}:
			default:
			}
		}
		if len(evs) < 1000 {
			return cursor
		}
	}
}

// renew extends every claim the service holds in one statement; a run it
// plans whose claim is gone was taken over (the service stalled past its
// claim), and its loop stops. A failed renewal is survived: the claims
// last OwnerTTL, five renewals.
func (s *Service) renew(ctx context.Context) {
	held, err := s.store.RenewClaims(ctx, s.o.Owner, s.o.Now(), s.o.OwnerTTL)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("renew claims", "err", err)
		}
		return
	}
	have := make(map[string]bool, len(held))
	for _, id := range held {
		have[id] = true
	}
	s.mu.Lock()
	var lost []*runState
	for id, rs := range s.runs {
		if !have[id] {
			lost = append(lost, rs)
		}
	}
	// A claim renewed on a run the service does not plan — its loop
	// ended and the release of its claim failed — would keep every
	// scheduler away from the run for ever. Seen at two renewals in a
	// row (not a run being taken at this moment), it is released, for
	// an adopt pass to take the run again.
	var release []string
	strays := map[string]bool{}
	for _, id := range held {
		if _, planned := s.runs[id]; !planned {
			if s.strays[id] {
				release = append(release, id)
			} else {
				strays[id] = true
			}
		}
	}
	s.strays = strays
	s.mu.Unlock()
	for _, id := range release {
		if err := s.store.ReleaseRun(ctx, id, s.o.Owner); err != nil {
			s.log.Warn("release the claim of a run not planned here", "run", id, "err", err)
			continue
		}
		s.log.Warn("released the claim of a run not planned here (its release had failed)", "run", id)
	}
	for _, rs := range lost {
		rs.mu.Lock()
		over := rs.final != nil || rs.snap == nil
		rs.mu.Unlock()
		if !over {
			if cur, err := s.store.GetRun(ctx, rs.id); err == nil && (cur.State.Terminal() || cur.Owner == s.o.Owner) {
				continue
			}
			rs.halt(fmt.Errorf("drive run %s: %w: its claim was taken over by another scheduler", rs.id, cairn.ErrRunOwned))
		}
	}
}

// kickEvery is the least time between two adopt passes asked for by
// events (a run ended, a new run seen); the timer's pass comes besides.
const kickEvery = 100 * time.Millisecond

// adoptBatch bounds the runs one adopt pass takes.
const adoptBatch = 500

// adopt takes the runs that no live scheduler plans: running ones whose
// owner's claim expired or whose owner is gone, then queued ones in
// creation order within the active-run limits.
func (s *Service) adopt(ctx context.Context) {
	s.adoptMu.Lock()
	defer s.adoptMu.Unlock()
	if s.noAdopt {
		return
	}
	now := s.o.Now()
	if s.o.OwnerGone != nil {
		claims, err := s.store.Owned(ctx, s.o.Owner, adoptBatch)
		if err != nil {
			s.log.Warn("list owned runs", "err", err)
			return
		}
		for _, c := range claims {
			if c.OwnerExpiresAt.After(now) && s.o.OwnerGone(c.Owner) && !s.skipped(c.ID, now) {
				run, err := s.store.ClaimRun(ctx, c.ID, s.o.Owner, now, s.o.OwnerTTL, true)
				if err != nil {
					continue // finished or taken meanwhile
				}
				s.log.Info("taking over run", "run", c.ID, "from", c.Owner, "why", "its process is gone")
				s.adoptRun(ctx, run)
			}
		}
	}
	cands, err := s.store.Unowned(ctx, now, adoptBatch)
	if err != nil {
		s.log.Warn("list unowned runs", "err", err)
		return
	}
	if len(cands) == 0 {
		return
	}
	active, err := s.store.ActiveRuns(ctx, now)
	if err != nil {
		s.log.Warn("count active runs", "err", err)
		return
	}
	total := 0
	for _, n := range active {
		total += n
	}
	var ids []string
	prev := map[string]string{}
	for _, c := range cands {
		if s.skipped(c.ID, now) || s.owns(c.ID) {
			continue
		}
		if c.State == cairn.RunQueued {
			if s.o.MaxActiveRuns > 0 && total >= s.o.MaxActiveRuns {
				continue
			}
			if c.MaxActiveRuns > 0 && active[c.Workflow] >= c.MaxActiveRuns {
				continue
			}
			active[c.Workflow]++
			total++
		}
		ids = append(ids, c.ID)
		prev[c.ID] = c.Owner
	}
	if len(ids) == 0 {
		return
	}
	claimed, err := s.store.ClaimRuns(ctx, ids, s.o.Owner, now, s.o.OwnerTTL)
	if err != nil {
		s.log.Warn("claim runs", "err", err)
		return
	}
	// Adopted in the order of ids (taken-over runs, then queued ones in
	// creation order), whatever order the store returned the claims in.
	held := make(map[string]bool, len(claimed))
	for _, id := range claimed {
		held[id] = true
	}
	for _, id := range ids {
		if !held[id] || s.owns(id) {
			continue
		}
		run, err := s.store.GetRun(ctx, id)
		if err != nil {
			s.log.Warn("read adopted run", "run", id, "err", err)
			s.release(id)
			continue
		}
		if run.State == cairn.RunRunning {
			why := "its claim expired"
			if prev[id] == "" {
				why = "its scheduler let it go"
			}
			s.log.Info("taking over run", "run", id, "from", prev[id], "why", why)
		}
		s.adoptRun(ctx, run)
	}
}

func (s *Service) owns(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.runs[id] != nil
}

func (s *Service) skipped(id string, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	until, ok := s.skip[id]
	if ok && !now.Before(until) {
		delete(s.skip, id)
		return false
	}
	return ok
}

// ClaimNew makes run, which its caller is about to create in this
// process (a trigger through the API), claimed by this service, so that
// StartNew drives it as created once its creation committed: no adopt
// pass (its reads of the unowned and active runs), no claim written and
// read back, no snapshot read, between the trigger and the run's first
// plan. It returns false, and leaves run as it is — created unclaimed,
// for the adopt pass Kick asks for — when an adopt pass would not surely
// start the run at once: the service does not adopt, is not running or
// is draining (StopAdopting), or a cap on active runs applies (the
// service's MaxActiveRuns, the workflow's max_active_runs: only an adopt
// pass counts the active runs and starts queued ones in their order).
func (s *Service) ClaimNew(run *cairn.Run) bool {
	if !s.o.Adopt || s.o.Load == nil || s.o.MaxActiveRuns > 0 || run.MaxActiveRuns > 0 ||
		run.State != cairn.RunQueued || run.Version != 0 || s.draining.Load() {
		return false
	}
	s.mu.Lock()
	running := s.running
	s.mu.Unlock()
	if !running {
		return false
	}
	run.Owner, run.OwnerExpiresAt = s.o.Owner, s.o.Now().Add(s.o.OwnerTTL)
	return true
}

// StartNew starts planning run, which ClaimNew claimed and its caller
// then created from trs (their creation committed), as an adopt pass
// starts a queued run: the graph loaded, ServiceOptions.Claimed called,
// the run's loop started — with trs as its snapshot, not read back. The
// service keeps run and trs: the caller must not change them. A run it
// does not start so (the service began draining meanwhile, or the claim
// is nearly spent) is let go — its claim released — for an adopt pass,
// which Kick asks for at once.
func (s *Service) StartNew(ctx context.Context, run *cairn.Run, trs []*cairn.TaskRun) {
	s.adoptMu.Lock()
	defer s.adoptMu.Unlock()
	if s.noAdopt || !s.heldAsCreated(run) || !fresh(run, trs) {
		s.release(run.ID)
		s.Kick()
		return
	}
	s.adoptCreated(ctx, run, trs)
}

// adoptRun starts planning a run the service just claimed.
func (s *Service) adoptRun(ctx context.Context, run *cairn.Run) {
	s.adoptCreated(ctx, run, nil)
}

// adoptCreated is adoptRun of a run whose task runs are created, as its
// caller just created them (nil: read them).
func (s *Service) adoptCreated(ctx context.Context, run *cairn.Run, created []*cairn.TaskRun) {
	if s.o.Load == nil {
		s.release(run.ID)
		return
	}
	g, err := s.o.Load(ctx, run)
	if err != nil {
		if errors.Is(err, ErrCannotPlan) && run.State == cairn.RunQueued {
			s.failQueued(ctx, run, err)
			return
		}
		s.log.Error("cannot take run; trying again in a minute (or cancel it: cairn cancel RUN)", "run", run.ID, "err", err)
		s.mu.Lock()
		s.skip[run.ID] = s.o.Now().Add(time.Minute)
		s.mu.Unlock()
		s.release(run.ID)
		return
	}
	if s.o.Claimed != nil {
		s.o.Claimed(run)
	}
	if _, err := s.own(run, g, created, nil); err != nil {
		s.log.Error("cannot take run", "run", run.ID, "err", err)
		s.release(run.ID)
	}
}

// failQueued fails a queued run the service can never plan, and its tasks.
func (s *Service) failQueued(ctx context.Context, run *cairn.Run, why error) {
	msg := why.Error()
	now := s.o.Now()
	p := &Plan{RunID: run.ID, Run: &RunChange{FromVersion: run.Version, From: run.State, To: cairn.RunFailed, Error: msg, At: now}}
	trs, err := s.store.ListTaskRuns(ctx, run.ID)
	if err == nil {
		for _, tr := range trs {
			if !tr.State.Terminal() && !tr.State.Active() {
				p.Tasks = append(p.Tasks, TaskChange{TaskID: tr.TaskID, FromVersion: tr.Version, From: tr.State,
					To: cairn.TaskFailed, Error: msg, At: now})
			}
		}
		err = s.store.ApplyPlan(ctx, p)
	}
	if err != nil {
		s.log.Error("fail run that cannot be planned", "run", run.ID, "err", err)
	} else {
		s.log.Error("run failed: it cannot be planned", "run", run.ID, "err", msg)
		if err := s.store.AckEvaluations(ctx, run.ID, -1, now); err != nil {
			s.log.Warn("acknowledge evaluations", "run", run.ID, "err", err)
		}
	}
	s.release(run.ID)
}
