package executor

import (
	"context"
	"errors"
	"time"

	"github.com/cairnml/cairn"
)

// Leasing ahead. A slot waits for the commit of its report, which leases
// its next task, before it runs anything else; so a commit carries at
// most one report per slot, and on a fan of tasks that take no time the
// default 8 slots commit every 5 or 6 tasks, paying each commit's fixed
// cost (BEGIN, COMMIT, each statement's own) that often.
//
// With an AheadLeaser (the broker in process), once quickAfter attempts
// in a row took less than quickAttempt each, a report asks for up to
// aheadPerSlot × Slots items (at most maxAhead) beyond its slot's next:
// they wait in the pool (ahead), leased and started, for a slot. A slot whose attempt ended
// while one waits does not report itself: it leaves its report to the
// pool's reporter (pending, sent by reportBehind) and runs that item at
// once. The reporter sends every report that came meanwhile in one call,
// which asks for as many items as the budget lacks: the commits carry the
// reports of many attempts per slot, and the slots do not wait for them.
// At most Slots attempts run at once still. A slot with nothing waiting
// reports itself and goes on with what its report brings, as on a chain
// (where nothing is ever leased ahead: one task is ready at a time).
//
// An item leased ahead is running in the store from its lease on, held by
// this pool. Held while no slot takes one for giveBackAfter (the slots are
// all busy with attempts that turned out slow), or when the pool stops
// leasing, they are given back (AheadLeaser.GiveBack): ready again, in
// the queue for any worker, no attempt counted; and the pool leases ahead
// again only after quickAfter quick attempts in a row.
const (
	quickAttempt  = time.Millisecond
	aheadPerSlot  = 64
	maxAhead      = 512 // what one commit's lease and reports hold at most
	giveBackAfter = 20 * time.Millisecond
)

// aheadBudget is how many items may be leased ahead at once.
func (p *Pool) aheadBudget() int { return min(aheadPerSlot*p.o.Slots, maxAhead) }

// quickAfter is how many attempts in a row must take less than
// quickAttempt before the pool leases ahead.
func (p *Pool) quickAfter() int { return 4 * p.o.Slots }

// behindReport is the report of an attempt whose slot went on with an
// item leased ahead: the reporter sends it (reportBehind).
type behindReport struct {
	ctx     context.Context // outlives the attempt's
	l       cairn.Lease
	c       cairn.Completion
	revoked bool // the attempt's run was cancelled
}

// behind counts the attempt that ended as quick or not and, if an item
// leased ahead waits, queues r for the reporter and returns that item for
// the slot to run next.
func (p *Pool) behind(r behindReport, quick bool) (cairn.WorkItem, bool) {
	p.mu.Lock()
	if quick {
		p.quick++
	} else {
		p.quick = 0
	}
	if p.ahead.len() == 0 {
		p.mu.Unlock()
		return cairn.WorkItem{}, false
	}
	p.pending = append(p.pending, r)
	it := p.popLocked()
	p.mu.Unlock()
	select {
	case p.kick <- struct{}{}:
	default:
	}
	return it, true
}

// askAhead reserves how many items a report asks for beyond its slot's
// next (none unless attempts are quick); the caller gives them back to
// asked once its report returned.
func (p *Pool) askAhead() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.quick < p.quickAfter() {
		return 0
	}
	ask := max(p.aheadBudget()-p.ahead.len()-p.asked, 0)
	p.asked += ask
	return ask
}

// popLocked takes the oldest item leased ahead. p.mu is held; ahead is
// not empty.
func (p *Pool) popLocked() cairn.WorkItem {
	it := p.ahead.pop()
	// A slot took one: the items still waiting are not held behind slow
	// attempts (giveBackAfter counts from here).
	p.aheadSince = time.Now()
	return it
}

// takeOne takes the oldest item leased ahead, if any and the pool still
// leases (a stopping pool gives them back instead).
func (p *Pool) takeOne() (cairn.WorkItem, bool) {
	if p.aheadLeaser == nil {
		return cairn.WorkItem{}, false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ahead.len() == 0 || p.leaseCtx.Err() != nil {
		return cairn.WorkItem{}, false
	}
	return p.popLocked(), true
}

// takeAhead takes up to n items leased ahead for the dispatcher's free
// slots; behind reports whether, none being there, reports on their way
// may bring some (the dispatcher then waits for them rather than lease).
func (p *Pool) takeAhead(n int) (items []cairn.WorkItem, behind bool) {
	if p.aheadLeaser == nil {
		return nil, false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.leaseCtx.Err() != nil {
		return nil, false
	}
	for len(items) < n && p.ahead.len() > 0 {
		items = append(items, p.popLocked())
	}
	return items, len(items) == 0 && (p.asked > 0 || len(p.pending) > 0)
}

// keepAhead keeps items leased ahead until a slot takes them: a free
// slot at once, else the first slot whose attempt ends.
func (p *Pool) keepAhead(items []cairn.WorkItem) {
	if len(items) == 0 {
		return
	}
	p.mu.Lock()
	if p.ahead.len() == 0 {
		p.aheadSince = time.Now()
	}
	p.ahead.push(items)
	p.mu.Unlock()
	p.startAhead()
	select { // a dispatcher may be waiting for them
	case p.wake <- struct{}{}:
	default:
	}
}

// startAhead runs items leased ahead on the free slots, if any.
func (p *Pool) startAhead() {
	if p.aheadLeaser == nil {
		return
	}
	for {
		p.mu.Lock()
		if p.ahead.len() == 0 || p.leaseCtx.Err() != nil {
			p.mu.Unlock()
			return
		}
		select {
		case p.slots <- struct{}{}:
		default:
			p.mu.Unlock()
			return
		}
		it := p.popLocked()
		p.mu.Unlock()
		p.wg.Add(1)
		go p.execute(it)
	}
}

// reportBehind is the pool's reporter: it sends the reports left behind
// their slots (pending), all that came since its last call in one, asking
// for what the budget of items leased ahead lacks; and gives back the
// items leased ahead that waited giveBackAfter without a slot taking one,
// or at once once the pool stops leasing. It returns once the pool
// stopped, every slot back, with nothing left to send or give back.
func (p *Pool) reportBehind() {
	defer p.wg.Done()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	leaseDone, finished := p.leaseCtx.Done(), false
	var (
		spare []behindReport
		sb    sending
	)
	for {
		p.mu.Lock()
		// Two lists of reports in turn: the one sent is the next kept.
		batch := p.pending
		p.pending, spare = spare[:0], nil
		stopping := p.leaseCtx.Err() != nil
		var stale []cairn.WorkItem
		var wait time.Duration
		if p.ahead.len() > 0 {
			if waited := time.Since(p.aheadSince); stopping || waited >= giveBackAfter {
				stale = p.ahead.drain()
				p.quick = 0
			} else {
				wait = giveBackAfter - waited
			}
		}
		ask := 0
		if len(batch) > 0 && !stopping && p.quick >= p.quickAfter() {
			ask = max(p.aheadBudget()-p.ahead.len()-p.asked, 0)
			p.asked += ask
		}
		p.mu.Unlock()
		if len(stale) > 0 {
			p.giveBack(stale)
		}
		if len(batch) > 0 {
			p.sendBehind(&sb, batch, ask)
		}
		clear(batch)
		spare = batch
		if len(stale) > 0 || len(batch) > 0 {
			continue
		}
		if finished {
			return
		}
		var timeout <-chan time.Time
		if wait > 0 {
			timer.Reset(wait)
			timeout = timer.C
		}
		select {
		case <-p.kick:
		case <-timeout:
		case <-leaseDone:
			leaseDone = nil
		case <-p.finish:
			finished = true
		}
	}
}

// sending is the reporter's lists for one call, kept from one to the next.
type sending struct {
	leases []cairn.Lease
	cs     []cairn.Completion
	next   []cairn.LeaseRequest
	got    []cairn.WorkItem
}

// sendBehind sends the reports of batch in one call, the first asking for
// ask items, which it keeps ahead.
func (p *Pool) sendBehind(sb *sending, batch []behindReport, ask int) {
	sb.leases, sb.cs, sb.next = sb.leases[:0], sb.cs[:0], sb.next[:0]
	for _, r := range batch {
		sb.leases, sb.cs, sb.next = append(sb.leases, r.l), append(sb.cs, r.c), append(sb.next, cairn.LeaseRequest{})
	}
	leases, cs := sb.leases, sb.cs
	if ask > 0 {
		sb.next[0] = p.request(ask, 0)
	}
	items, errs := p.aheadLeaser.CompleteAndLeaseMany(context.Background(), leases, cs, sb.next)
	if ask > 0 {
		p.mu.Lock()
		p.asked -= ask
		p.mu.Unlock()
	}
	for i, r := range batch {
		err := errs[i]
		if err != nil && !errors.Is(err, cairn.ErrLeaseLost) {
			// The store failed: the report again alone, as a slot's
			// own is tried again (complete).
			_, err = p.complete(r.ctx, r.l, r.c, cairn.LeaseRequest{})
		}
		p.reported(r.ctx, r.l, err, r.revoked)
	}
	got := sb.got[:0]
	for _, its := range items {
		got = append(got, its...)
	}
	p.keepAhead(got)
	clear(got)
	sb.got = got
	clear(sb.cs)
	select { // a dispatcher may be waiting for this report
	case p.wake <- struct{}{}:
	default:
	}
}

// giveBack gives leased items back to the queue: they never began (items
// leased ahead, or leased as the pool stopped leasing). Should it fail,
// their leases expire and the reaper ends them as interrupted (they are
// not heartbeated).
func (p *Pool) giveBack(items []cairn.WorkItem) {
	leases := cairn.LeasesOf(items)
	if err := p.giver.GiveBack(context.Background(), leases); err != nil {
		p.o.Logger.Warn("leased items not given back; their leases expire", "worker", p.o.Worker,
			"items", len(leases), "err", err)
	}
}

// workQueue is the items leased ahead, oldest first: a list whose taken
// places are reused once it empties (or to make room), not one that
// grows anew after each.
type workQueue struct {
	items []cairn.WorkItem
	head  int // items[:head] are taken
}

func (q *workQueue) len() int { return len(q.items) - q.head }

func (q *workQueue) push(items []cairn.WorkItem) {
	if q.head > 0 && len(q.items)+len(items) > cap(q.items) {
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items, q.head = q.items[:n], 0
	}
	q.items = append(q.items, items...)
}

// pop takes the oldest item; the queue is not empty.
func (q *workQueue) pop() cairn.WorkItem {
	it := q.items[q.head]
	q.items[q.head] = cairn.WorkItem{}
	q.head++
	if q.head == len(q.items) {
		q.items, q.head = q.items[:0], 0
	}
	return it
}

// drain takes every item, in a list of their own.
func (q *workQueue) drain() []cairn.WorkItem {
	items := append([]cairn.WorkItem(nil), q.items[q.head:]...)
	clear(q.items)
	q.items, q.head = q.items[:0], 0
	return items
}
