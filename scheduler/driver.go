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

// Drive claims run id and plans it until it is terminal, sleeping between
// events. When ctx is cancelled (Ctrl-C) it cancels the run: every
// unfinished task is recorded as cancelled, and running attempts are told
// to stop. It returns the run in its final state.
//
// Before planning, Drive fails every attempt that a previous owner left
// leased or running (it crashed): each counts as a failed attempt and
// retries under its policy. It returns an error wrapping cairn.ErrRunOwned
// if another live process drives the run.
//
// Planning happens in Drive's goroutine, or — to save a hand-off on every
// hop of a chain — directly in the goroutine of a worker whose completion
// the broker just recorded, when the run is not being planned at that
// moment (see runState.poke).
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
	rs := &runState{d: d, id: id, g: g, ctx: ctx, bg: bg}
	rs.in = d.broker.subscribe(id, rs.poke)
	defer d.broker.unsubscribe(id)

	if _, err := d.broker.ExpireLeases(ctx, id, true, "attempt interrupted: the process running it stopped"); err != nil {
		return nil, fmt.Errorf("drive run %s: take over: %w", id, err)
	}
	if rs.snap, err = d.load(ctx, id, g); err != nil {
		return nil, err
	}

	renew := time.NewTicker(d.o.OwnerTTL / 5)
	defer renew.Stop()
	wake := time.NewTimer(time.Hour)
	defer wake.Stop()
	for {
		rs.mu.Lock()
		wakeAt, final, err := rs.step()
		rs.mu.Unlock()
		if err != nil || final != nil {
			return final, err
		}
		var wakeC <-chan time.Time
		if !wakeAt.IsZero() {
			wake.Reset(time.Until(wakeAt))
			wakeC = wake.C
		}
		select {
		case <-rs.in.signal:
		case <-wakeC:
		case <-renew.C:
			r, err := d.store.ClaimRun(ctx, id, d.o.Owner, d.o.Now(), d.o.OwnerTTL, false)
			if err != nil && ctx.Err() == nil {
				return nil, fmt.Errorf("drive run %s: renew claim: %w", id, err)
			}
			if err == nil && r.CancelRequested {
				rs.cancel()
			}
		case <-ctx.Done():
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

	mu     sync.Mutex
	snap   *Snapshot
	wakeAt time.Time  // from the latest plan
	final  *cairn.Run // set once the run is terminal
	err    error      // a planning failure, for Drive to return
}

func (rs *runState) cancel() {
	rs.mu.Lock()
	rs.snap.Cancel = true
	rs.mu.Unlock()
}

// poke plans the run in the caller's goroutine (a worker that just
// completed an attempt) if nobody is planning it now, and reports whether
// it did. If it did not, the inbox wakes Drive's loop, so nothing is lost.
func (rs *runState) poke() bool {
	if !rs.mu.TryLock() {
		return false
	}
	defer rs.mu.Unlock()
	if rs.snap == nil {
		return false // Drive has not loaded the run yet; it will read the inbox
	}
	wakeAt := rs.wakeAt
	_, _, _ = rs.step()
	// Drive's loop must look again if the run ended, failed, or needs an
	// earlier wake-up than the one it sleeps for.
	return rs.final == nil && rs.err == nil && (rs.wakeAt.IsZero() || rs.wakeAt.Equal(wakeAt))
}

// step folds the inbox into the snapshot and plans and applies until there
// is nothing left to do. It returns when the run next needs planning
// without an event, and the final run once it is terminal. rs.mu is held.
func (rs *runState) step() (time.Time, *cairn.Run, error) {
	if rs.final != nil || rs.err != nil {
		return time.Time{}, rs.final, rs.err
	}
	d, snap := rs.d, rs.snap
	for _, tr := range rs.in.take() {
		if i, ok := snap.Topo.Index[tr.TaskID]; ok && tr.Version > snap.Tasks[i].Version {
			snap.Tasks[i] = tr
		}
	}
	for {
		snap.Now = d.o.Now()
		p := PlanRun(snap)
		if p.Empty() {
			rs.wakeAt = p.WakeAt
			return p.WakeAt, nil, nil
		}
		wctx := rs.ctx
		if snap.Cancel {
			wctx = rs.bg
		}
		err := d.store.ApplyPlan(wctx, p)
		if errors.Is(err, cairn.ErrConflict) {
			// Someone changed a row we planned on; re-read and plan again.
			fresh, err := d.load(wctx, rs.id, rs.g)
			if err != nil {
				rs.err = err
				return time.Time{}, nil, err
			}
			fresh.Cancel = snap.Cancel
			rs.snap, snap = fresh, fresh
			continue
		}
		if err != nil {
			rs.err = fmt.Errorf("drive run %s: %w", rs.id, err)
			return time.Time{}, nil, rs.err
		}
		d.applied(snap, p)
		if snap.Run.State.Terminal() {
			rs.final = snap.Run
			return time.Time{}, rs.final, nil
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

// applied folds an applied plan into the snapshot, tells the broker and
// observer, and revokes the leases of cancelled tasks.
func (d *Driver) applied(s *Snapshot, p *Plan) {
	if rc := p.Run; rc != nil && rc.To == cairn.RunRunning {
		d.broker.publish(Event{RunID: s.Run.ID, Run: rc.To, At: rc.At}, nil)
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
		s.Tasks[idx] = &tr
		if c.To == cairn.TaskCancelled && c.From.Active() {
			d.broker.revoke(s.Run.ID, c.TaskID)
		}
		d.broker.publish(Event{RunID: s.Run.ID, TaskID: c.TaskID, From: c.From, To: c.To, Attempt: tr.Attempt,
			Error: c.Error, At: c.At}, nil)
	}
	if rc := p.Run; rc != nil {
		r := *s.Run
		r.State, r.Version, r.Error = rc.To, rc.NewVersion, rc.Error
		if rc.To == cairn.RunRunning {
			r.StartedAt = rc.At
		}
		if rc.To.Terminal() {
			r.FinishedAt = rc.At
		}
		s.Run = &r
		if rc.To != cairn.RunRunning {
			d.broker.publish(Event{RunID: r.ID, Run: rc.To, Error: rc.Error, At: rc.At}, nil)
		}
	}
	if ready {
		d.broker.NotifyReady()
	}
}
