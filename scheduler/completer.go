package scheduler

import (
	"context"
	"maps"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/internal/groupq"
)

// The completer: the workers' reports of ended attempts, recorded in
// batches (in the spirit of River's BatchCompleter). Every report joins a
// queue (internal/groupq); the first to find nobody committing commits the queue itself —
// its completions as one set-based write (Tx.CompleteMany), the planning
// they trigger for each run planned in this process, and the next leases
// the reporting workers asked for, as one lease per kind of request — and
// hands the lead to the oldest report still waiting. So a single report
// on an idle system commits at once, in its own goroutine (no hand-off,
// no added latency on a chain), while reports that arrive during a commit
// share the next one: the batch is as large as the load makes it, up to
// maxReports, and its window is the previous commit's time.
//
// A batch is one transaction on its own context: one worker giving up
// (its context ended while it waited) neither aborts the others' writes
// nor leaves its own outcome unknown — once its report is in a batch it
// runs to its end. A report refused alone (its lease expired or was
// superseded: cairn.ErrLeaseLost) changes nothing and leases nothing;
// the others go on. A failure of the database fails the whole batch, and
// every report in it returns the error for its worker to report again.

// maxReports bounds how many reports share one commit.
const maxReports = 512

// report is one worker's report of an ended attempt, and its outcome.
type report struct {
	l    cairn.Lease
	c    cairn.Completion
	item cairn.WorkItem     // what was leased
	next cairn.LeaseRequest // more work for the same worker, in the same commit
	// known is the task run leased, as stored when its run's plan handed
	// it out (Finish.Known), nil when it was not handed out so.
	known *cairn.TaskRun

	tr    *cairn.TaskRun
	items []cairn.WorkItem
	err   error
}

// completer is the queue of reports waiting for their commit.
type completer struct {
	b *Broker
	q groupq.Queue[*report]
}

// submit records r's report, with the reports of other workers, and
// returns once its outcome is set. The goroutines that are ready to run —
// workers whose attempts ended at the same moment — join the batch before
// it is taken.
func (q *completer) submit(r *report) {
	q.submitAll([]*report{r})
}

// submitAll is submit of several reports by one caller: they go in one
// batch.
func (q *completer) submitAll(rs []*report) {
	q.q.SubmitAllOverlapping(rs, maxReports, true, q.b.commit)
}

// runReports is what one batch holds of one run's reports.
type runReports struct {
	id      string
	reports []*report
	trs     []*cairn.TaskRun
	after   func(committed bool) // from the run's within, if it planned
	planned bool
	in      *inbox // the run's inbox, while after holds the run
}

// leaseGroup is the reports of a batch asking for work alike, served by
// one lease.
type leaseGroup struct {
	req     cairn.LeaseRequest
	reports []*report
	h       *handout
}

// sharedLease is one lease for the groups of a batch asking alike but
// for their worker: the first group's request, the others' in its Also.
type sharedLease struct {
	req    cairn.LeaseRequest
	groups []*leaseGroup
}

// handout is what the workers reporting in one commit asked for alike
// (one lease group): up to max tasks for req, which the plans of the
// runs in the commit may hand them directly (TaskChange.Lease); items
// collects those.
type handout struct {
	req   cairn.LeaseRequest
	max   int
	ttl   time.Duration
	items []cairn.WorkItem
	// rows are the task runs of the items the plans handed out, as their
	// run's snapshot holds them once handed out, by lease token: what
	// their completions will know (Finish.Known).
	rows map[string]*cairn.TaskRun
	// waiting reports whether a task is ready for req already, in which
	// case nothing is handed out (the queue goes first); asked once, by
	// the first plan with a task to hand out.
	waiting func() (bool, error)
	asked   bool
	// none is set once waiting answered that nothing was ready.
	none bool
	// spill, if set, is where the tasks a plan makes ready beyond what
	// these workers asked for go: Leases waiting in this process, each
	// with a handout of its own (see runState.within).
	spill *spill
}

// open reports whether the workers of h may be handed tasks, asking
// waiting the first time.
func (h *handout) open() (bool, error) {
	if !h.asked && h.waiting != nil {
		h.asked = true
		waiting, err := h.waiting()
		if err != nil {
			return false, err
		}
		if waiting {
			h.max = 0
		}
		h.none = !waiting
	}
	return len(h.items) < h.max, nil
}

// handoutFor returns the handout of the first group whose workers may
// run run id's tasks and want more, nil if none; with sp, a handout
// that spills to the Leases waiting (of no group: one that takes none
// itself).
func handoutFor(groups []*leaseGroup, id string, sp *spill) *handout {
	for _, g := range groups {
		if (g.req.RunID == "" || g.req.RunID == id) && len(g.h.items) < g.h.max {
			g.h.spill = sp
			return g.h
		}
	}
	if sp != nil {
		return &handout{spill: sp}
	}
	return nil
}

// commit records a batch of reports in one transaction and sets each
// one's outcome. With BrokerOptions.OverlapCommits it calls release once
// its statements are done, before the commit itself: the next batch then
// runs its statements while this one's commit is flushed (see
// runState.within for a run both batches hold).
func (b *Broker) commit(batch []*report, release func()) {
	now, asked := b.now(), time.Now()
	fs := make([]Finish, len(batch))
	for i, r := range batch {
		r.c = decide(r.item, r.c, now)
		fs[i] = Finish{Lease: r.l, Completion: r.c, Known: r.known}
	}
	var (
		runs   []*runReports
		groups []*leaseGroup
		// queued are the task runs of the tasks leased from the queue
		// that the runs' snapshots know, by lease token (leasedFunc).
		queued map[string]*cairn.TaskRun
	)
	// The Leases waiting in this process that the plans below hand tasks
	// to, beyond what the reporting workers asked for.
	sp := &spill{b: b}
	err := b.store.Batch(context.Background(), func(tx Tx) error {
		sp.again(tx)
		// A store may run fn again when its first transaction surely did
		// not commit (PostgreSQL, a COMMIT never sent on a lost
		// connection): what the first run planned did not happen, and
		// its runs are let go (their after holds them: the new run's
		// within would wait for itself).
		for _, rr := range runs {
			if rr.after != nil {
				rr.after(false)
			}
		}
		runs, queued = nil, nil
		trs, errs, err := tx.CompleteMany(fs, now)
		if err != nil {
			return err
		}
		byRun := make(map[string]*runReports)
		for i, r := range batch {
			r.tr, r.err = trs[i], errs[i]
			if r.err != nil {
				continue
			}
			rr := byRun[r.l.RunID]
			if rr == nil {
				rr = &runReports{id: r.l.RunID}
				byRun[r.l.RunID] = rr
				runs = append(runs, rr)
			}
			rr.reports, rr.trs = append(rr.reports, r), append(rr.trs, r.tr)
		}
		// The workers that asked for more work, by kind of request; when
		// nothing is ready for a kind yet, the tasks the plans below make
		// ready go to those workers in the same writes (handout), and
		// only what is still missing is leased from the queue.
		groups = nil
	next:
		for _, r := range batch {
			if r.err != nil || r.next.Max <= 0 {
				continue
			}
			req := r.next
			req.Wait = 0
			for _, g := range groups {
				if g.req.Worker == req.Worker && g.req.RunID == req.RunID && g.req.Owner == req.Owner && g.req.Start == req.Start &&
					g.req.SameRoute(req) {
					g.req.Max += req.Max
					g.reports = append(g.reports, r)
					continue next
				}
			}
			groups = append(groups, &leaseGroup{req: req, reports: []*report{r}})
		}
		for _, g := range groups {
			req := g.req
			// Whether something is ready for these workers already is
			// asked once, and only by a plan about to hand a task out.
			g.h = &handout{req: req, ttl: b.ttl, max: req.Max, waiting: func() (bool, error) { return tx.AnyReady(req) }}
		}
		for _, rr := range runs {
			b.mu.Lock()
			in := b.inbox[rr.id]
			b.mu.Unlock()
			if in != nil && in.within != nil {
				rr.after, rr.planned = in.within(tx, rr.trs, handoutFor(groups, rr.id, sp))
				if rr.after != nil {
					rr.in = in
				}
			}
			for _, r := range rr.reports {
				if e := b.evaluation(r.l, r.c, now, EvalCompleted); !rr.planned || e.Reason == EvalRetry {
					if _, err := tx.AddEvaluation(e); err != nil {
						return err
					}
				}
			}
		}
		// What the plans did not hand out is leased from the queue: one
		// lease for all the groups asking alike but for their worker
		// (LeaseRequest.Also), each group's share in it its places.
		var shared []*sharedLease
	share:
		for _, g := range groups {
			// Nothing was ready for these workers before the plans,
			// and the plans handed them all they made ready (the only
			// workers asking): the queue has nothing for them.
			known := len(groups) == 1 && g.h.none
			more := g.req.Max - len(g.h.items)
			if more <= 0 || known {
				continue
			}
			for _, sl := range shared {
				if sl.req.RunID == g.req.RunID && sl.req.Owner == g.req.Owner && sl.req.Start == g.req.Start && sl.req.SameRoute(g.req) {
					sl.req.Also = append(sl.req.Also, cairn.LeaseShare{Worker: g.req.Worker, Max: more})
					sl.groups = append(sl.groups, g)
					continue share
				}
			}
			req := g.req
			req.Max = more
			shared = append(shared, &sharedLease{req: req, groups: []*leaseGroup{g}})
		}
		for _, sl := range shared {
			// Granted once the write lock is held (cairn.GrantedAt):
			// another process's completion that committed while this
			// batch waited for it ended before these leases began.
			at := cairn.GrantedAt(now, asked)
			leased, err := tx.Lease(sl.req, at, b.ttl)
			if err != nil {
				b.log.Warn("lease after completions failed", "worker", sl.req.Worker, "workers", len(sl.groups), "err", err)
				return err
			}
			// The tasks of runs this batch holds (planned above) are in
			// their run's snapshot: their completions will know them.
			for _, rr := range runs {
				if rr.in != nil && rr.in.leased != nil {
					if queued == nil {
						queued = make(map[string]*cairn.TaskRun, len(leased))
					}
					rr.in.leased(leased, at, queued)
				}
			}
			if g := sl.groups[0]; len(sl.groups) == 1 && len(g.h.items) == 0 && allFor(leased, g.req.Worker) {
				g.h.items = leased // not copied item by item into a slice grown from nothing
				continue
			}
			for _, it := range leased {
				for _, g := range sl.groups {
					if g.req.Worker == it.Lease.Worker {
						g.h.items = append(g.h.items, it)
						break
					}
				}
			}
		}
		for _, g := range groups {
			items := g.h.items
			for _, r := range g.reports {
				n := min(r.next.Max, len(items))
				r.items, items = items[:n:n], items[n:]
			}
		}
		if b.overlap {
			// Nothing more of this transaction waits for a lock: the
			// next batch's statements cannot be waited for by it.
			release()
		}
		return nil
	})
	if err != nil {
		sp.end(false)
		for _, rr := range runs {
			if rr.after != nil {
				rr.after(false)
			}
		}
		for _, r := range batch {
			// The batch may have committed all the same (a timeout or a
			// broken connection after the commit): the run's scheduler
			// reads it again (Broker.unsure).
			b.unsure(r.l.RunID)
			if r.err == nil {
				r.err = err
			}
			r.tr, r.items = nil, nil
		}
		return
	}
	// Each completion's event goes out before those of the plan it caused.
	for _, rr := range runs {
		for _, r := range rr.reports {
			e := Event{RunID: r.l.RunID, TaskID: r.l.TaskID, From: cairn.TaskRunning, To: r.tr.State, Attempt: r.l.Attempt,
				Error: r.c.Error, At: now, Type: r.item.Type, Ended: attemptState(r.c), CachedFrom: r.c.CachedFrom}
			if rr.after != nil {
				b.publish(e, nil) // the run's scheduler has it already
			} else {
				b.publish(e, r.tr)
			}
		}
		if rr.after != nil {
			rr.after(true)
		}
	}
	rows := queued
	for _, g := range groups {
		if rows == nil {
			rows = g.h.rows
			continue
		}
		maps.Copy(rows, g.h.rows)
	}
	for _, r := range batch {
		b.issue(r.items, rows)
	}
	sp.end(true)
	// The slots of a pool came free: the tasks waiting for it may be
	// leased now, not at the workers' next look — by as many waiting
	// workers as slots are still free, those the commit's own leases took
	// again not counted (on a pool of 1 whose holders chain their next
	// lease, none), rather than by every waiting worker, all but one of
	// which would find the pool full (the thundering herd).
	if n := freedSlots(batch); n > 0 {
		b.wake(n)
	}
}

// allFor reports whether every item is leased to worker.
func allFor(items []cairn.WorkItem, worker string) bool {
	for _, it := range items {
		if it.Lease.Worker != worker {
			return false
		}
	}
	return true
}

// freedSlots is how many pool slots batch's reports freed that its
// leases did not take again, pool by pool (a report refused or failed
// counted as freeing its slots: a wake too many costs a look, one too
// few a wait of PoolPoll).
func freedSlots(batch []*report) int {
	var free map[string]int
	for _, r := range batch {
		if r.item.Pool != "" {
			if free == nil {
				free = map[string]int{}
			}
			free[r.item.Pool] += max(r.item.PoolSlots, 1)
		}
	}
	if free == nil {
		return 0
	}
	for _, r := range batch {
		for _, it := range r.items {
			if it.Pool != "" {
				free[it.Pool] -= max(it.PoolSlots, 1)
			}
		}
	}
	n := 0
	for _, k := range free {
		n += max(k, 0)
	}
	return n
}
