package scheduler

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cairnml/cairn"
)

// DriverOptions configures a Driver.
type DriverOptions struct {
	// Owner names this process in the run's claim ("host:pid:nonce").
	Owner string
	// OwnerTTL is how long the claim lasts without renewal (default 10s);
	// it is renewed every OwnerTTL/5.
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
	// lease one.
	Claimed func()
}

// Driver drives runs to a terminal state in the foreground (cairn run,
// cairn resume): a Service that takes no run it is not given, started
// while at least one Drive call is in progress. One driver may drive
// several runs concurrently, one Drive call each.
type Driver struct {
	svc *Service
	o   DriverOptions

	mu     sync.Mutex
	active int
}

// NewDriver returns a driver that plans with store and dispatches through broker.
func NewDriver(store Store, broker *Broker, o DriverOptions) *Driver {
	svc := NewService(store, broker, ServiceOptions{Owner: o.Owner, OwnerTTL: o.OwnerTTL, OwnerGone: o.OwnerGone, Now: o.Now})
	return &Driver{svc: svc, o: o}
}

// ErrDetached, as the cause of Drive's context, makes Drive return at once
// with an error wrapping it, leaving the run as it is — neither cancelled
// nor failed — for 'cairn resume': its worker cannot go on (a full disk).
var ErrDetached = errors.New("run left unfinished, to resume")

// Drive claims run id and plans it until it is terminal. When ctx is
// cancelled (Ctrl-C) it cancels the run: every unfinished task is
// recorded as cancelled, and running attempts are told to stop; unless
// ctx's cause is ErrDetached. It returns the run in its final state.
//
// Before planning, Drive ends every attempt that a previous owner left
// leased or running (it crashed) as interrupted: each is retried at once,
// without charge to its task's retries (see Broker.ExpireLeases). It
// returns an error wrapping cairn.ErrRunOwned if another live process
// drives the run.
func (d *Driver) Drive(ctx context.Context, id string, g Graph) (*cairn.Run, error) {
	return d.drive(ctx, id, g, nil, nil)
}

// DriveCreated is Drive for run, which its caller has just created (with
// Store.CreateRun) from trs: if the run is still as created — queued, at
// its first version — its snapshot is trs itself rather than the task
// runs read back (a second copy of every one, for 100,000 tasks some
// 40 MB and a few hundred milliseconds). A run created claimed by this
// driver's owner (Run.Owner, for more than half of OwnerTTL still) is
// not claimed again: it is driven as created, without the claim's write
// and read-back (cairn run creates its run so, that no server takes it
// first). The driver keeps run and trs: the caller must not change them.
// A run PlanCreated made is created with tasks ready: start the workers
// that lease them in DriverOptions.Claimed, not before DriveCreated — a
// report that reached no driver would pass its snapshot by.
func (d *Driver) DriveCreated(ctx context.Context, run *cairn.Run, g Graph, trs []*cairn.TaskRun) (*cairn.Run, error) {
	return d.drive(ctx, run.ID, g, trs, run)
}

func (d *Driver) drive(ctx context.Context, id string, g Graph, created []*cairn.TaskRun, run *cairn.Run) (*cairn.Run, error) {
	d.mu.Lock()
	if d.active == 0 {
		d.svc.Start(context.WithoutCancel(ctx))
	}
	d.active++
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.active--; d.active == 0 {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			d.svc.Stop(sctx)
		}
	}()
	return d.svc.drive(ctx, id, g, d.o.Claimed, created, run)
}

// runState is one run the service owns: its snapshot, and the lock that
// makes planning it one goroutine's job at a time.
type runState struct {
	svc *Service
	id  string
	g   Graph
	in  *inbox

	// cancelReq asks the run's loop to cancel the run (Ctrl-C of the
	// foreground cairn run); stop asks it to leave the run as it is
	// (detach, claim lost, the service stopping), with the reason.
	cancelReq chan struct{}
	cancelOne sync.Once
	stop      chan struct{}
	stopOne   sync.Once
	stopWhy   error
	done      chan struct{} // closed when the loop returned

	mu sync.Mutex
	// committing is set while a completer's batch that planned the run
	// holds mu through its commit (within's after not called yet): it
	// is closed, and cleared, once mu is free again.
	committing atomic.Pointer[chan struct{}]
	snap       *Snapshot // nil until loaded
	stale      bool      // the snapshot may be wrong: reload before planning
	// changed lists the positions of the tasks changed since the last
	// plan (Snapshot.Dirty); nil after a (re)load, when the next plan
	// must look at every task.
	changed []int
	wakeAt  time.Time  // from the latest plan
	final   *cairn.Run // set once the run is terminal
	err     error      // a planning failure, or why the loop stopped

	// Evaluations of the run seen: the highest id, how many since the
	// last acknowledgement, and the latest due time among those not due
	// when seen.
	evalUpTo    int64
	evalUnacked int
	evalDue     time.Time

	// needSince is when the earliest change not yet planned for
	// happened (ServiceEvent.Since); zero for none.
	needSince time.Time
}

// need records that the run needs planning for a change made at t.
// rs.mu is held.
func (rs *runState) need(t time.Time) {
	if !t.IsZero() && (rs.needSince.IsZero() || t.Before(rs.needSince)) {
		rs.needSince = t
	}
}

// passDone ends a planning pass that began at start and applied plans
// plans, ending with err: it returns the event to report, if any, and
// forgets what the pass planned for — unless the snapshot must be read
// again first (a conflict), for the next pass to report. rs.mu is held.
func (rs *runState) passDone(err error, start time.Time, plans int, inTx bool) (ServiceEvent, bool) {
	if err != nil || rs.stale {
		return ServiceEvent{}, false
	}
	since := rs.needSince
	rs.needSince = time.Time{}
	svc := rs.svc
	if svc.o.Observe == nil || (since.IsZero() && plans == 0) {
		return ServiceEvent{}, false
	}
	return ServiceEvent{Kind: ServicePlanned, RunID: rs.id, Since: since, Start: start, End: svc.o.Now(),
		Plans: plans, InCompletion: inTx}, true
}

func (rs *runState) requestCancel() {
	rs.cancelOne.Do(func() { close(rs.cancelReq) })
}

// halt stops the run's loop, leaving the run as it is; why is what Drive
// returns.
func (rs *runState) halt(why error) {
	rs.stopOne.Do(func() {
		rs.stopWhy = why
		close(rs.stop)
	})
}

// within plans the run inside the transaction tx that is recording trs,
// workers' completions of its tasks, so that the completions, the tasks
// they make ready and the workers' next leases commit together: on a
// chain that is one commit per hop. It does so only if nobody is planning the run at that
// moment; otherwise it returns planned false and the broker hands tr to
// the run's loop through the inbox (and records an evaluation).
func (rs *runState) within(tx Tx, trs []*cairn.TaskRun, h *handout) (func(committed bool), bool) {
	for !rs.mu.TryLock() {
		// The previous batch of the completer holds the run through its
		// commit (BrokerOptions.OverlapCommits: this batch's statements
		// began as that commit did): plan once it ended, on its outcome,
		// since it waits for nothing of this transaction. Anyone else —
		// the run's loop, whose own transaction may wait for rows this
		// one locked — is not waited for.
		done := rs.committing.Load()
		if done == nil {
			return nil, false
		}
		<-*done
	}
	if rs.snap == nil || rs.stale || rs.final != nil || rs.err != nil {
		rs.mu.Unlock()
		return nil, false
	}
	// The run may have been taken over since the last renewal (this
	// process stalled past its claim): a plan made here would then skip
	// the evaluation that tells the new owner of the completion, and
	// the new owner's snapshot would never see it. Its plans conflict
	// with nothing when nothing else changed (a fan-in still waiting),
	// so only the claim, read in this transaction, says so.
	owner, err := tx.RunOwner(rs.id)
	if err != nil || owner != rs.svc.o.Owner {
		if err == nil && owner != "" {
			rs.halt(fmt.Errorf("drive run %s: %w: its claim was taken over by %s", rs.id, cairn.ErrRunOwned, owner))
		}
		rs.mu.Unlock()
		return nil, false
	}
	for _, tr := range trs {
		rs.fold(tr)
	}
	prevWake := rs.wakeAt
	start, plans := rs.svc.o.Now(), 0
	rs.need(start)
	var handed []cairn.WorkItem
	var last []cairn.WorkItem // what the latest plan handed to h
	notes, err := rs.step(func(p *Plan) error {
		given, err := rs.handOut(p, h)
		if err != nil {
			return err
		}
		// What the workers reporting did not take goes to the Leases
		// waiting in this process, in the same writes: woken for it,
		// each would lease it in a transaction of its own.
		type spilled struct {
			h     *handout
			given []cairn.WorkItem
		}
		var more []spilled
		for h != nil && h.spill != nil && rs.leftReady(p) {
			x := h.spill.next(rs.id, rs.svc.o.Owner)
			if x == nil {
				break
			}
			g, err := rs.handOut(p, x)
			if err != nil {
				return err
			}
			more = append(more, spilled{x, g})
		}
		err = tx.ApplyPlan(p)
		if err == nil {
			plans++
			if h != nil {
				h.items = append(h.items, given...)
				handed = append(handed, given...)
				last = given
			}
			for _, m := range more {
				m.h.items = append(m.h.items, m.given...)
			}
		}
		return err
	}, false, func(*Plan) []func() {
		n := rs.reuse(tx, h, last, &handed)
		last = nil
		return n
	})
	planned := err == nil && !rs.stale
	if planned && h != nil && h.req.RunID == rs.id && rs.snap.ready == 0 {
		// Workers of this run alone, and none of its tasks is left ready
		// by its plan (every one it made ready handed out, or none: a
		// run that ended, a task that waits for another still running):
		// the store has none either (Snapshot.ready), so the batch need
		// not lease from the queue for them.
		h.asked, h.none = true, true
	}
	if planned {
		// What the snapshot holds of each task handed out is its row as
		// this transaction writes it: its completion will know it.
		for _, it := range handed {
			tr := rs.snap.Tasks[rs.snap.Topo.Index[it.Lease.TaskID]]
			if tr.LeaseToken == it.Lease.Token && tr.Attempt == it.Lease.Attempt {
				if h.rows == nil {
					h.rows = make(map[string]*cairn.TaskRun, len(handed))
				}
				h.rows[it.Lease.Token] = tr
			}
		}
	}
	committing := make(chan struct{})
	rs.committing.Store(&committing)
	unlock := func() {
		rs.mu.Unlock()
		rs.committing.CompareAndSwap(&committing, nil)
		close(committing)
	}
	return func(committed bool) {
		if !committed {
			// Nothing of it happened: forget what we planned.
			rs.stale, rs.final, rs.err = true, nil, nil
			rs.in.wake()
			unlock()
			return
		}
		for _, n := range notes {
			n()
		}
		// The loop must look again if the run ended, planning failed or
		// was cut short, or the next wake-up moved.
		if err != nil || rs.final != nil || rs.stale || !(rs.wakeAt.IsZero() || rs.wakeAt.Equal(prevWake)) {
			rs.in.wake()
		}
		ev, report := rs.passDone(err, start, plans, true)
		unlock()
		if report {
			rs.svc.o.Observe(ev)
		}
	}, planned
}

// handOut gives the tasks plan p makes ready, in its order, to the
// workers of h — as many as they asked for — by setting each one's
// TaskChange.Lease, and returns their work items, valid once p is
// applied, skipping those the workers may not take (their labels or
// queue; cairn.LeaseRequest.Takes) and those that take slots of a pool
// (a lease grants them). It gives none when h does not serve
// this run, or something else was ready for those workers already (asked of the store once per
// batch, by the first plan with a task to give). rs.mu is held.
func (rs *runState) handOut(p *Plan, h *handout) ([]cairn.WorkItem, error) {
	if h == nil || (h.req.RunID != "" && h.req.RunID != rs.id) || (h.req.Owner != "" && h.req.Owner != rs.svc.o.Owner) ||
		!slices.ContainsFunc(p.Tasks, func(c TaskChange) bool { return c.To == cairn.TaskReady && c.Lease == nil }) {
		return nil, nil
	}
	if !h.asked && h.req.RunID == rs.id && rs.snap.ready == 0 {
		// Workers of this run alone, and none of its tasks is ready: the
		// store has none either (Snapshot.ready), so nothing waits for
		// them in the queue — no need to ask the store.
		h.asked, h.none = true, true
	}
	if open, err := h.open(); err != nil || !open {
		return nil, err
	}
	var items []cairn.WorkItem
	for i := range p.Tasks {
		c := &p.Tasks[i]
		if c.To != cairn.TaskReady || c.Lease != nil || len(h.items)+len(items) >= h.max {
			continue // not ready, handed out already, or the workers have all they asked for
		}
		tr := rs.snap.Tasks[rs.snap.Topo.Index[c.TaskID]]
		if !h.req.Takes(tr.Labels, tr.Queue, tr.Type) {
			continue // it waits in the queue for a worker that can take it
		}
		if tr.Pool != "" {
			// Only a lease counts a pool's holders: it waits in the
			// queue, and the workers lease from it in this batch.
			h.none = false
			continue
		}
		c.Lease = &cairn.Lease{RunID: rs.id, TaskID: c.TaskID, Attempt: tr.Attempt + 1, Token: cairn.NewToken(),
			Worker: h.req.Worker, ExpiresAt: c.At.Add(h.ttl)}
		c.Start = h.req.Start
		items = append(items, cairn.WorkItem{Lease: *c.Lease, Type: tr.Type, Params: c.Params, Inputs: c.Inputs,
			Timeout: tr.Timeout, Retry: tr.Retry, Interrupted: tr.Interrupted, InterruptedInARow: tr.InterruptedInARow,
			FailedBefore: tr.FailedBefore, Started: c.Start, Cache: tr.Cache, Pool: tr.Pool, PoolSlots: tr.PoolSlots})
	}
	return items, nil
}

// leasedRows is the run's leasedFunc: for each of items that is a task of
// this run its snapshot holds ready at the attempt before the lease's,
// the row as the queue's lease leaves it (the lease's attempt, token,
// holder and expiry, no retry time, the run's first start at at, its
// version one more). Whether the snapshot's row is the stored one is
// settled by the completion's compare-and-set on the version: had the
// store a newer row, the lease's would be newer still than the one built
// here, and the completion reads the row instead. rs.mu is held (by
// within, to the transaction's end).
func (rs *runState) leasedRows(items []cairn.WorkItem, at time.Time, rows map[string]*cairn.TaskRun) {
	if rs.snap == nil {
		return
	}
	at = time.Unix(0, at.UnixNano()).UTC() // as stored
	for _, it := range items {
		i, ok := rs.snap.Topo.Index[it.Lease.TaskID]
		if it.Lease.RunID != rs.id || !ok {
			continue
		}
		tr := rs.snap.Tasks[i]
		if tr.State != cairn.TaskReady || tr.Attempt+1 != it.Lease.Attempt || tr.LeaseToken != "" {
			continue
		}
		k := *tr
		k.State = cairn.TaskLeased
		if it.Started {
			k.State = cairn.TaskRunning
		}
		k.Attempt = it.Lease.Attempt
		k.LeaseToken, k.LeaseWorker, k.LeaseExpiresAt = it.Lease.Token, it.Lease.Worker, it.Lease.ExpiresAt
		k.RetryAt = time.Time{}
		if k.StartedAt.IsZero() {
			k.StartedAt = at
		}
		k.Version++
		rows[it.Lease.Token] = &k
	}
}

// leftReady reports whether plan p makes ready a task it hands to no
// worker and that a worker could be handed (it takes no pool's slots).
// rs.mu is held.
func (rs *runState) leftReady(p *Plan) bool {
	for i := range p.Tasks {
		c := &p.Tasks[i]
		if c.To == cairn.TaskReady && c.Lease == nil && rs.snap.Tasks[rs.snap.Topo.Index[c.TaskID]].Pool == "" {
			return true
		}
	}
	return false
}

// fold puts a task run that changed into the snapshot, unless the
// snapshot already has that version or a newer one.
func (rs *runState) fold(tr *cairn.TaskRun) {
	if i, ok := rs.snap.Topo.Index[tr.TaskID]; ok && tr.Version > rs.snap.Tasks[i].Version {
		share(tr, rs.snap.Tasks[i])
		rs.snap.Set(i, tr)
		rs.touch(i)
	}
}

// share points the values of tr, a task run read back from the store,
// that equal those of old, the snapshot's, at old's: the copies the read
// made (ids, type, params, input maps) are garbage at once rather than
// held by the snapshot, which for a run of 100,000 tasks is about 10 MB
// of live heap. A map is shared only when both are nil or neither is.
func share(tr, old *cairn.TaskRun) {
	if tr.RunID == old.RunID {
		tr.RunID = old.RunID
	}
	if tr.TaskID == old.TaskID {
		tr.TaskID = old.TaskID
	}
	if tr.Type == old.Type {
		tr.Type = old.Type
	}
	if tr.Error == old.Error {
		tr.Error = old.Error
	}
	if (tr.Params == nil) == (old.Params == nil) && bytes.Equal(tr.Params, old.Params) {
		tr.Params = old.Params
	}
	if (tr.Item == nil) == (old.Item == nil) && bytes.Equal(tr.Item, old.Item) {
		tr.Item = old.Item
	}
	if (tr.Inputs == nil) == (old.Inputs == nil) && maps.Equal(tr.Inputs, old.Inputs) {
		tr.Inputs = old.Inputs
	}
	if (tr.Labels == nil) == (old.Labels == nil) && maps.Equal(tr.Labels, old.Labels) {
		tr.Labels = old.Labels
	}
}

// touch records that the task at position i changed since the last plan.
func (rs *runState) touch(i int) {
	if rs.changed != nil {
		rs.changed = append(rs.changed, i)
	}
}

// cancel makes the next plan cancel the run. rs.mu is held.
func (rs *runState) cancel() {
	if rs.snap != nil {
		rs.snap.Cancel = true
	}
}

// step folds the inbox into the snapshot, then plans and applies (with
// apply) until there is nothing left to do, setting rs.wakeAt, and
// rs.final once the run is terminal. It returns what to tell others
// (events, ready workers) once the changes are committed. Inside a
// completion's transaction (reload false) a conflict stops planning and
// marks the snapshot stale, for the loop to reload it after the
// transaction ended: a reload inside it would not see its own writes.
// rs.mu is held.
//
// after, if set, is called once each plan is applied and folded into the
// snapshot; it may change tasks in the same write and fold them in (the
// changes it returns are planned on: runState.reuse), and returns what to
// tell others once committed.
func (rs *runState) step(apply func(*Plan) error, reload bool, after func(*Plan) []func()) ([]func(), error) {
	if rs.final != nil || rs.err != nil {
		return nil, rs.err
	}
	svc := rs.svc
	if rs.in != nil && rs.in.takeStale() {
		rs.stale = true
	}
	if rs.stale {
		if !reload {
			return nil, nil
		}
		fresh, err := svc.load(svc.ctx, rs.id, rs.g)
		if err != nil {
			rs.err = err
			return nil, err
		}
		fresh.Cancel = fresh.Cancel || rs.snap.Cancel
		rs.snap, rs.stale, rs.changed = fresh, false, nil
	}
	trs, since := rs.in.take()
	rs.need(since)
	for _, tr := range trs {
		rs.fold(tr)
	}
	var notes []func()
	snap := rs.snap
	for {
		snap.Now = svc.o.Now()
		snap.Dirty = rs.changed // nil: look at everything
		p := PlanRun(snap)
		snap.Dirty, rs.changed = nil, []int{}
		if p.Empty() {
			rs.wakeAt = p.WakeAt
			return notes, nil
		}
		err := apply(p)
		if errors.Is(err, cairn.ErrConflict) {
			// Someone changed a row we planned on: re-read and plan again.
			rs.stale = true
			return append(notes, func() { rs.in.wake() }), nil
		}
		if err != nil {
			rs.err = fmt.Errorf("plan run %s: %w", rs.id, err)
			return notes, rs.err
		}
		notes = append(notes, svc.applied(snap, p)...)
		for _, c := range p.Tasks {
			rs.touch(snap.Topo.Index[c.TaskID])
		}
		for _, e := range p.Expand {
			rs.touch(snap.Topo.Index[e.TaskID]) // it plans its new items
		}
		if after != nil {
			notes = append(notes, after(p)...)
		}
		if snap.Run.State.Terminal() {
			rs.final = snap.Run
			return notes, nil
		}
		// Plan again: it may propagate further (queued → running first).
	}
}

// noteEval records an evaluation of the run that the service read; one
// written by another process makes the loop reload the run. It returns
// whether the loop must look.
func (rs *runState) noteEval(e Evaluation, foreign bool, now time.Time) bool {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if e.ID > rs.evalUpTo {
		rs.evalUpTo = e.ID
	}
	rs.evalUnacked++
	if e.DueAt.After(now) && e.DueAt.After(rs.evalDue) {
		rs.evalDue = e.DueAt
	}
	if foreign {
		rs.stale = true
		at := e.CreatedAt
		if at.After(now) {
			at = now // another host's clock ahead of ours
		}
		rs.need(at)
		return true
	}
	return false
}

// applied folds an applied plan into the snapshot and returns what to
// tell others once it is committed: the events, the workers waiting for
// ready tasks, and the attempts of cancelled tasks to stop.
func (svc *Service) applied(s *Snapshot, p *Plan) []func() {
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
			if l := c.Lease; l != nil {
				// Handed to a worker in the same write (TaskChange.Lease).
				tr.State, tr.Attempt, tr.LeaseToken, tr.LeaseWorker, tr.LeaseExpiresAt = cairn.TaskLeased, l.Attempt, l.Token,
					l.Worker, l.ExpiresAt
				if c.Start {
					tr.State = cairn.TaskRunning
				}
				if tr.StartedAt.IsZero() {
					tr.StartedAt = c.At
				}
			} else {
				ready = true
			}
		}
		if c.To.Terminal() {
			tr.FinishedAt = c.At
		}
		s.Set(idx, &tr)
		if c.To == cairn.TaskCancelled && c.From.Active() {
			revoke = append(revoke, c.TaskID)
			// A pool's slot it held frees if it had not begun: the
			// tasks waiting for it may be leased. A running one keeps
			// its slots until its process is gone (its report, refused,
			// wakes them: Broker.commit) or its lease would have
			// expired.
			ready = ready || tr.Pool != "" && c.From == cairn.TaskLeased
		}
		e := Event{RunID: s.Run.ID, TaskID: c.TaskID, From: c.From, To: c.To, Attempt: tr.Attempt,
			Error: c.Error, At: c.At, Type: tr.Type}
		if c.From.Active() {
			e.Ended = c.To // the store closes the attempt with the task's new state
		}
		events = append(events, e)
	}
	for _, e := range p.Expand {
		idx := s.Topo.Index[e.TaskID]
		tr := *s.Tasks[idx]
		tr.Expanded, tr.Items, tr.Version = true, len(e.Items), e.NewVersion
		s.Set(idx, &tr)
		s.addItems(idx, NewItems(&tr, e))
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
	b := svc.broker
	return []func(){func() {
		for _, taskID := range revoke {
			b.revokeCancelled(runID, taskID)
		}
		for _, e := range events {
			b.publish(e, nil)
		}
		if ready {
			b.NotifyReady()
		}
	}}
}
