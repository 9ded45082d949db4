package scheduler

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cairnml/cairn"
)

// DriverOptions configures a Driver.
type DriverOptions struct {
	// Owner names this process in the run's claim ("host:pid:nonce").
	Owner string
	// OwnerTTL is how long the claim lasts without renewal (default 10s);
	// it is renewed every OwnerTTL/5, which also bounds how soon a
	// `cairn cancel` from another process is noticed.
	OwnerTTL time.Duration
	// OwnerGone reports whether the process named by a claim is known to
	// be dead (same host, no such pid), so that its claim may be taken
	// over before it expires. Nil: wait for expiry.
	OwnerGone func(owner string) bool
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Claimed, if set, is called once Drive holds the run's claim (and
	// the run is not over), before it plans or takes over anything. Start
	// the workers that lease the run's attempts there: a process that
	// does not get the run (another live process drives it) must never
	// lease one, since it would complete the attempt without planning
	// what follows, and the run's owner would wait for it forever.
	Claimed func()
}

// Driver drives runs to a terminal state. One driver may drive several
// runs concurrently, one Drive call each.
type Driver struct {
	store  Store
	broker *Broker
	o      DriverOptions
}

// NewDriver returns a driver that plans with store and dispatches through broker.
func NewDriver(store Store, broker *Broker, o DriverOptions) *Driver {
	if o.OwnerTTL <= 0 {
		o.OwnerTTL = 10 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Driver{store: store, broker: broker, o: o}
}

// ErrDetached, as the cause of Drive's context, makes Drive return at once
// with an error wrapping it, leaving the run as it is — neither cancelled
// nor failed — for 'cairn resume': its worker cannot go on (a full disk).
var ErrDetached = errors.New("run left unfinished, to resume")

// Drive claims run id and plans it until it is terminal, sleeping between
// events. When ctx is cancelled (Ctrl-C) it cancels the run: every
// unfinished task is recorded as cancelled, and running attempts are told
// to stop; unless ctx's cause is ErrDetached. It returns the run in its
// final state.
//
// Before planning, Drive ends every attempt that a previous owner left
// leased or running (it crashed) as interrupted: each is retried at once,
// without charge to its task's retries (see Broker.ExpireLeases). It returns an error wrapping cairn.ErrRunOwned
// if another live process drives the run.
//
// Planning happens in Drive's goroutine, or — so that a hop of a chain is
// one commit and no hand-off — inside the transaction that records a
// worker's completion, when the run is not being planned at that moment
// (see runState.within).
func (d *Driver) Drive(ctx context.Context, id string, g Graph) (*cairn.Run, error) {
	run, err := d.claim(ctx, id)
	if err != nil {
		return nil, err
	}
	// A context for the writes that must happen even after ctx is
	// cancelled: recording the cancellation and releasing the claim.
	bg := context.WithoutCancel(ctx)
	defer func() {
		rctx, cancel := context.WithTimeout(bg, 5*time.Second)
		defer cancel()
		_ = d.store.ReleaseRun(rctx, id, d.o.Owner) // best effort: the claim expires anyway
	}()
	if run.State.Terminal() {
		return run, nil
	}
	if d.o.Claimed != nil {
		d.o.Claimed()
	}
	rs := &runState{d: d, id: id, g: g, ctx: ctx, bg: bg}
	rs.in = d.broker.subscribe(id, rs.within)
	defer d.broker.unsubscribe(id)

	// A run being cancelled (`cairn cancel` of a run whose process died)
	// ends its interrupted attempts as cancelled: nothing will retry them.
	if _, err := d.broker.ExpireLeases(ctx, Expiry{RunID: id, Force: true, Cancel: run.CancelRequested, Keep: d.o.Owner,
		Reason: "attempt interrupted: the process running it stopped"}); err != nil {
		return nil, fmt.Errorf("drive run %s: take over: %w", id, err)
	}
	if rs.snap, err = d.load(ctx, id, g); err != nil {
		return nil, err
	}

	renew := time.NewTicker(d.o.OwnerTTL / 5)
	defer renew.Stop()
	// The reaper: a worker of this process that stopped heartbeating (it
	// hung, or lost the store for a while) must not hold its task forever.
	reap := time.NewTicker(d.broker.LeaseTTL() / 2)
	defer reap.Stop()
	wake := time.NewTimer(time.Hour)
	defer wake.Stop()
	for {
		rs.mu.Lock()
		notes, err := rs.step(ctx, false)
		wakeAt, final := rs.wakeAt, rs.final
		rs.mu.Unlock()
		for _, n := range notes {
			n()
		}
		if err != nil || final != nil {
			return final, err
		}
		var wakeC <-chan time.Time
		if !wakeAt.IsZero() {
			wake.Reset(wakeAt.Sub(d.o.Now())) // on the planner's clock: WakeAt is in its terms
			wakeC = wake.C
		}
		select {
		case <-rs.in.signal:
		case <-wakeC:
		case <-reap.C:
			if _, err := d.broker.ExpireLeases(ctx, Expiry{RunID: id}); err != nil && ctx.Err() == nil {
				return nil, fmt.Errorf("drive run %s: reap expired leases: %w", id, err)
			}
		case <-renew.C:
			r, err := d.store.ClaimRun(ctx, id, d.o.Owner, d.o.Now(), d.o.OwnerTTL, false)
			if err != nil && ctx.Err() == nil {
				return nil, fmt.Errorf("drive run %s: renew claim: %w", id, err)
			}
			if err == nil && r.CancelRequested {
				rs.cancel()
			}
		case <-ctx.Done():
			if cause := context.Cause(ctx); errors.Is(cause, ErrDetached) {
				return nil, fmt.Errorf("drive run %s: %w", id, cause)
			}
			rs.cancel()
		}
	}
}

// runState is one run being driven: its snapshot, and the lock that makes
// planning it one goroutine's job at a time.
type runState struct {
	d   *Driver
	id  string
	g   Graph
	ctx context.Context // Drive's
	bg  context.Context // Drive's, never cancelled: for recording a cancellation
	in  *inbox

	mu    sync.Mutex
	snap  *Snapshot // nil until Drive loaded it
	stale bool      // the snapshot may be wrong: reload before planning
	// changed lists the positions of the tasks changed since the last
	// plan (Snapshot.Dirty); nil after a (re)load, when the next plan
	// must look at every task.
	changed []int
	wakeAt  time.Time  // from the latest plan
	final   *cairn.Run // set once the run is terminal
	err     error      // a planning failure, for Drive to return
}

func (rs *runState) cancel() {
	rs.mu.Lock()
	rs.snap.Cancel = true
	rs.mu.Unlock()
}

// within plans the run inside the transaction (ctx) that is recording tr,
// a worker's completion, so that the completion, the tasks it makes ready
// and the worker's next lease commit together: on a chain that is one
// commit per hop. It does so only if nobody is planning the run at that
// moment; otherwise it returns nil and the broker hands tr to Drive's loop
// through the inbox. The returned function must be called once the
// transaction ended, with whether it committed.
func (rs *runState) within(ctx context.Context, tr *cairn.TaskRun) func(committed bool) {
	if !rs.mu.TryLock() {
		return nil
	}
	if rs.snap == nil || rs.stale || rs.final != nil || rs.err != nil {
		rs.mu.Unlock()
		return nil
	}
	rs.fold(tr)
	prevWake := rs.wakeAt
	notes, err := rs.step(ctx, true)
	return func(committed bool) {
		defer rs.mu.Unlock()
		if !committed {
			// Nothing of it happened: forget what we planned.
			rs.stale, rs.final, rs.err = true, nil, nil
			rs.in.wake()
			return
		}
		for _, n := range notes {
			n()
		}
		// Drive's loop must look again if the run ended, planning failed
		// or was cut short, or the next wake-up moved.
		if err != nil || rs.final != nil || rs.stale || !(rs.wakeAt.IsZero() || rs.wakeAt.Equal(prevWake)) {
			rs.in.wake()
		}
	}
}

// fold puts a task run that changed into the snapshot, unless the
// snapshot already has that version or a newer one.
func (rs *runState) fold(tr *cairn.TaskRun) {
	if i, ok := rs.snap.Topo.Index[tr.TaskID]; ok && tr.Version > rs.snap.Tasks[i].Version {
		rs.snap.Set(i, tr)
		rs.touch(i)
	}
}

// touch records that the task at position i changed since the last plan.
func (rs *runState) touch(i int) {
	if rs.changed != nil {
		rs.changed = append(rs.changed, i)
	}
}

// step folds the inbox into the snapshot, then plans and applies until
// there is nothing left to do, setting rs.wakeAt, and rs.final once the run
// is terminal. It returns what to tell others (events, ready workers)
// once the changes are committed. Inside a batch (inBatch) a conflict
// stops planning and marks the snapshot stale, for Drive's loop to reload
// it after the batch committed: a reload inside it would not see the
// batch's own writes. rs.mu is held.
func (rs *runState) step(ctx context.Context, inBatch bool) ([]func(), error) {
	if rs.final != nil || rs.err != nil {
		return nil, rs.err
	}
	d := rs.d
	if rs.stale {
		lctx := ctx
		if rs.snap.Cancel && !inBatch {
			lctx = rs.bg
		}
		fresh, err := d.load(lctx, rs.id, rs.g)
		if err != nil {
			rs.err = err
			return nil, err
		}
		fresh.Cancel = rs.snap.Cancel
		rs.snap, rs.stale, rs.changed = fresh, false, nil
	}
	for _, tr := range rs.in.take() {
		rs.fold(tr)
	}
	var notes []func()
	snap := rs.snap
	for {
		snap.Now = d.o.Now()
		snap.Dirty = rs.changed // nil: look at everything
		p := PlanRun(snap)
		snap.Dirty, rs.changed = nil, []int{}
		if p.Empty() {
			rs.wakeAt = p.WakeAt
			return notes, nil
		}
		wctx := ctx
		if snap.Cancel && !inBatch {
			wctx = rs.bg
		}
		err := d.store.ApplyPlan(wctx, p)
		if errors.Is(err, cairn.ErrConflict) {
			// Someone changed a row we planned on: re-read and plan again.
			rs.stale = true
			if inBatch {
				return notes, nil
			}
			return append(notes, func() { rs.in.wake() }), nil
		}
		if err != nil {
			rs.err = fmt.Errorf("drive run %s: %w", rs.id, err)
			return notes, rs.err
		}
		notes = append(notes, d.applied(snap, p)...)
		for _, c := range p.Tasks {
			rs.touch(snap.Topo.Index[c.TaskID])
		}
		if snap.Run.State.Terminal() {
			rs.final = snap.Run
			return notes, nil
		}
		// Plan again: it may propagate further (queued → running first).
	}
}

// claim takes run id for this driver, taking over from a dead owner.
func (d *Driver) claim(ctx context.Context, id string) (*cairn.Run, error) {
	run, err := d.store.ClaimRun(ctx, id, d.o.Owner, d.o.Now(), d.o.OwnerTTL, false)
	if errors.Is(err, cairn.ErrRunOwned) && d.o.OwnerGone != nil {
		cur, gerr := d.store.GetRun(ctx, id)
		if gerr != nil {
			return nil, fmt.Errorf("drive run %s: %w", id, gerr)
		}
		if d.o.OwnerGone(cur.Owner) {
			run, err = d.store.ClaimRun(ctx, id, d.o.Owner, d.o.Now(), d.o.OwnerTTL, true)
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

func (d *Driver) load(ctx context.Context, id string, g Graph) (*Snapshot, error) {
	run, err := d.store.GetRun(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("drive run %s: %w", id, err)
	}
	trs, err := d.store.ListTaskRuns(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("drive run %s: %w", id, err)
	}
	s, err := NewSnapshot(run, g, trs)
	if err != nil {
		return nil, fmt.Errorf("drive run %s: %w", id, err)
	}
	return s, nil
}

// applied folds an applied plan into the snapshot and returns what to
// tell others once it is committed: the events, the workers waiting for
// ready tasks, and the attempts of cancelled tasks to stop.
func (d *Driver) applied(s *Snapshot, p *Plan) []func() {
	var events []Event
	var revoke []string
	if rc := p.Run; rc != nil && rc.To == cairn.RunRunning {
		events = append(events, Event{RunID: s.Run.ID, Run: rc.To, At: rc.At})
	}
	ready := false
	for i := range p.Tasks {
		c := &p.Tasks[i]
		idx := s.Topo.Index[c.TaskID]
		tr := *s.Tasks[idx]
		tr.State, tr.Version, tr.Error = c.To, c.NewVersion, c.Error
		if c.To == cairn.TaskReady {
			tr.Params, tr.Inputs = c.Params, c.Inputs
			ready = true
		}
		if c.To.Terminal() {
			tr.FinishedAt = c.At
		}
		s.Set(idx, &tr)
		if c.To == cairn.TaskCancelled && c.From.Active() {
			revoke = append(revoke, c.TaskID)
		}
		events = append(events, Event{RunID: s.Run.ID, TaskID: c.TaskID, From: c.From, To: c.To, Attempt: tr.Attempt,
			Error: c.Error, At: c.At})
	}
	if rc := p.Run; rc != nil {
		r := *s.Run
		r.State, r.Version, r.Error = rc.To, rc.NewVersion, rc.Error
		if rc.To == cairn.RunRunning {
			r.StartedAt = rc.At
		}
		if rc.To.Terminal() {
			r.FinishedAt = rc.At
			events = append(events, Event{RunID: r.ID, Run: rc.To, Error: rc.Error, At: rc.At})
		}
		s.Run = &r
	}
	runID := s.Run.ID
	return []func(){func() {
		for _, taskID := range revoke {
			d.broker.revokeCancelled(runID, taskID)
		}
		for _, e := range events {
			d.broker.publish(e, nil)
		}
		if ready {
			d.broker.NotifyReady()
		}
	}}
}
