package scheduler

import (
	"context"
	"errors"
	"fmt"
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
	in := d.broker.subscribe(id)
	defer d.broker.unsubscribe(id)

	if _, err := d.broker.ExpireLeases(ctx, id, true, "attempt interrupted: the process running it stopped"); err != nil {
		return nil, fmt.Errorf("drive run %s: take over: %w", id, err)
	}
	snap, err := d.load(ctx, id, g)
	if err != nil {
		return nil, err
	}

	renew := time.NewTicker(d.o.OwnerTTL / 5)
	defer renew.Stop()
	var wake *time.Timer
	defer func() {
		if wake != nil {
			wake.Stop()
		}
	}()
	for {
		snap.Now = d.o.Now()
		p := PlanRun(snap)
		if !p.Empty() {
			wctx := ctx
			if snap.Cancel {
				wctx = bg
			}
			err := d.store.ApplyPlan(wctx, p)
			if errors.Is(err, cairn.ErrConflict) {
				// Someone changed a row we planned on; re-read and plan again.
				cancel := snap.Cancel
				if snap, err = d.load(wctx, id, g); err != nil {
					return nil, err
				}
				snap.Cancel = cancel
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("drive run %s: %w", id, err)
			}
			d.applied(snap, p)
			if snap.Run.State.Terminal() {
				return snap.Run, nil
			}
			continue // planning again may propagate further (queued → running first)
		}

		var wakeC <-chan time.Time
		if !p.WakeAt.IsZero() {
			if wake == nil {
				wake = time.NewTimer(p.WakeAt.Sub(snap.Now))
			} else {
				wake.Reset(p.WakeAt.Sub(snap.Now))
			}
			wakeC = wake.C
		}
		select {
		case <-in.signal:
			for _, tr := range in.take() {
				if i, ok := snap.Topo.Index[tr.TaskID]; ok && tr.Version > snap.Tasks[i].Version {
					snap.Tasks[i] = tr
				}
			}
		case <-wakeC:
		case <-renew.C:
			r, err := d.store.ClaimRun(ctx, id, d.o.Owner, d.o.Now(), d.o.OwnerTTL, false)
			if err != nil && ctx.Err() == nil {
				return nil, fmt.Errorf("drive run %s: renew claim: %w", id, err)
			}
			if err == nil && r.CancelRequested {
				snap.Cancel = true
			}
		case <-ctx.Done():
			snap.Cancel = true
		}
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
