package scheduler

import (
	"context"
	"slices"

	"github.com/cairnml/cairn"
)

// reuse completes, in transaction tx, the tasks of items — what the plan
// just applied handed to the workers of h, in the write that is recording
// their reports — that the broker's Reuser finds cached: each as its
// worker's reuse would be recorded (Tx.CompleteMany of the item's lease,
// the Reuser's completion: an attempt of that worker that reused an
// earlier one, CachedFrom, the lineage edges), its row folded into the
// snapshot so that the next plan of step goes on to its successors, and
// taken back from h (and from handed, if not nil): the worker never sees it, and has
// room for what the next plan makes ready. A fully cached chain is so one
// commit, not one per task. What it cannot complete — no Reuser, a miss,
// a refusal of the store — stays handed out as it was, for its worker to
// run (or reuse) as before. It returns the events to publish once the
// write committed. rs.mu is held.
func (rs *runState) reuse(tx Tx, h *handout, items []cairn.WorkItem, handed *[]cairn.WorkItem) []func() {
	b := rs.svc.broker
	rp := b.reuser.Load()
	if rp == nil || h == nil || len(items) == 0 {
		return nil
	}
	r := *rp
	now := b.now()
	var (
		fs    []Finish
		which []cairn.WorkItem
	)
	for _, it := range items {
		tr := rs.snap.Tasks[rs.snap.Topo.Index[it.Lease.TaskID]]
		if tr.LeaseToken != it.Lease.Token || tr.Attempt != it.Lease.Attempt || !it.Started {
			continue
		}
		c, ok := r.ReuseHandedOut(context.Background(), it, tx.FindCached)
		if !ok || c.CachedFrom.IsZero() || c.Error != "" {
			continue
		}
		c = decide(it, c, now)
		fs = append(fs, Finish{Lease: it.Lease, Completion: c, Known: tr})
		which = append(which, it)
	}
	if len(fs) == 0 {
		return nil
	}
	trs, errs, err := tx.CompleteMany(fs, now)
	if err != nil {
		// Undone alone (each call of a batch is all or nothing): the
		// workers reuse them themselves.
		b.log.Warn("reuse in the completion's write failed; the tasks go to their worker", "run", rs.id, "err", err)
		return nil
	}
	var events []Event
	gone := make(map[string]bool, len(which))
	for i, it := range which {
		if errs[i] != nil {
			continue
		}
		gone[it.Lease.Token] = true
		rs.fold(trs[i])
		c := fs[i].Completion
		events = append(events, Event{RunID: it.Lease.RunID, TaskID: it.Lease.TaskID, From: cairn.TaskRunning, To: trs[i].State,
			Attempt: it.Lease.Attempt, At: now, Type: it.Type, Ended: attemptState(c), CachedFrom: c.CachedFrom})
	}
	if len(gone) == 0 {
		return nil
	}
	taken := func(x cairn.WorkItem) bool { return gone[x.Lease.Token] }
	h.items = slices.DeleteFunc(h.items, taken)
	if handed != nil {
		*handed = slices.DeleteFunc(*handed, taken)
	}
	return []func(){func() {
		for _, e := range events {
			b.publish(e, nil)
		}
	}}
}

// stepInWrite is the loop's planning pass of rs's run (runState.step) in
// one transaction, when Leases wait in this process and the broker has a
// Reuser: each plan's ready tasks go to the waiting Leases (as
// applyHanding gives them), and those the Reuser finds cached are
// completed in the same write (runState.reuse), the run planned on — a
// triggered run's first plan and its chain of cache hits, one commit. It
// returns done false when it planned nothing (the snapshot must be read
// again first, or the write failed: planned nothing that stands), for
// the caller's usual pass; the waiting Leases it held go to sps, for the
// caller to let go of once the plans' events are out. rs.mu is held.
func (s *Service) stepInWrite(rs *runState, sps *[]*spill, plans *int) (notes []func(), err error, done bool) {
	sp := &spill{b: s.broker}
	ran, applied := false, 0
	var stepErr error
	berr := s.store.Batch(s.ctx, func(tx Tx) error {
		sp.again(tx)
		if ran {
			// A store runs fn again only when the first surely did not
			// commit; the snapshot has its plans: read it again.
			rs.stale, rs.final, rs.err = true, nil, nil
			notes, applied, stepErr = nil, 0, nil
			return nil
		}
		ran = true
		var hs []*handout // the handouts of the waiting Leases held so far
		type given struct {
			h     *handout
			items []cairn.WorkItem
		}
		var last []given
		notes, stepErr = rs.step(func(p *Plan) error {
			last = last[:0]
			for _, h := range hs {
				g, err := rs.handOut(p, h)
				if err != nil {
					return err
				}
				if len(g) > 0 {
					last = append(last, given{h, g})
				}
			}
			for rs.leftReady(p) {
				h := sp.next(rs.id, s.o.Owner)
				if h == nil {
					break
				}
				hs = append(hs, h)
				g, err := rs.handOut(p, h)
				if err != nil {
					return err
				}
				last = append(last, given{h, g})
			}
			if err := tx.ApplyPlan(p); err != nil {
				return err
			}
			applied++
			for _, x := range last {
				x.h.items = append(x.h.items, x.items...)
			}
			return nil
		}, false, func(*Plan) []func() {
			var n []func()
			for _, x := range last {
				n = append(n, rs.reuse(tx, x.h, x.items, nil)...)
			}
			last = last[:0]
			return n
		})
		return nil
	})
	if berr != nil {
		// Nothing of it happened: forget what was planned, and plan
		// again from the store.
		sp.end(false)
		rs.stale, rs.final, rs.err = true, nil, nil
		return nil, nil, false
	}
	*sps = append(*sps, sp)
	*plans += applied
	if applied == 0 && stepErr == nil && rs.stale {
		return notes, nil, false
	}
	return notes, stepErr, true
}
