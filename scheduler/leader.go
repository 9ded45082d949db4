package scheduler

import (
	"context"
	"errors"
	"time"

	"github.com/cairnml/cairn"
)

// LeaderStore is the leader lease: which of the schedulers on one
// database does what must be done once — fire cron schedules, reap the
// expired leases of every run. One row per role (Leadership.Name). Its
// holder keeps it by renewing it before it expires; another takes it only
// once it has expired (on PostgreSQL by the database's clock, as leases),
// adding one to its epoch. The epoch is the fencing token: the writes
// only the leader may make check it in their own transaction (Tx.Fence),
// so that a leader deposed without noticing (it stalled past its term)
// changes nothing.
type LeaderStore interface {
	// AcquireLeader makes holder the leader of name until now+ttl when
	// nobody holds the lease, its term expired by now, or holder itself
	// holds it (it lost track of its term: a failed renewal), each time
	// with a new epoch (1 for the first, then one more than the last).
	// It returns the lease as stored. When another holds a live term it
	// fails with an error wrapping cairn.ErrNotLeader and returns that
	// term (ExpiresAt in the caller's terms: now plus what is left).
	AcquireLeader(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (Leadership, error)
	// RenewLeader extends the term of f (its holder and epoch) to now+ttl
	// and returns the lease as stored; cairn.ErrNotLeader, changing
	// nothing, when the lease's holder or epoch is no longer f's.
	RenewLeader(ctx context.Context, f Fence, now time.Time, ttl time.Duration) (Leadership, error)
	// ReleaseLeader ends the term of f at once, so that another takes the
	// lease without waiting for it to expire, and f's fenced writes are
	// refused from then on; the epoch stays (a later term has a higher
	// one), the holder is cleared. A no-op when the term is no longer f's.
	ReleaseLeader(ctx context.Context, f Fence) error
	// TakeLeader makes holder the leader of f.Name until now+ttl, with a
	// new epoch, while the lease is still the term of f — expired or not:
	// f's holder is known to be gone (ServiceOptions.OwnerGone: a process
	// of this host whose pid no longer exists), so its term need not be
	// waited out, and f's fenced writes are refused from then on.
	// cairn.ErrNotLeader, changing nothing, when the lease moved on.
	TakeLeader(ctx context.Context, f Fence, holder string, now time.Time, ttl time.Duration) (Leadership, error)
	// Leader reads the lease of name; cairn.ErrNotFound if nobody ever
	// held it. Live says whether its term has not expired by now.
	Leader(ctx context.Context, name string, now time.Time) (Leadership, error)
}

// Leadership is a term of the leader lease, as stored.
type Leadership struct {
	Name       string
	Holder     string
	Epoch      int64
	AcquiredAt time.Time
	// ExpiresAt is when the term ends unless renewed, in the caller's
	// terms (its now plus what is left, on PostgreSQL).
	ExpiresAt time.Time
	// Live: the term had not expired when it was read.
	Live bool
}

// Fence returns the fencing token of the term.
func (l Leadership) Fence() Fence { return Fence{Name: l.Name, Holder: l.Holder, Epoch: l.Epoch} }

// Fence is the fencing token of a leader's term: the writes only the
// leader may make carry it, and are refused (cairn.ErrNotLeader) in their
// own transaction once the lease of Name is no longer Holder's at Epoch.
type Fence struct {
	Name   string
	Holder string
	Epoch  int64
}

// LeaderScheduler is the leader lease's name for what the scheduler
// service's leader does: fire cron schedules and reap every run's
// expired leases.
const LeaderScheduler = "scheduler"

// Listener is what a store that can tell other processes' writes as they
// commit offers (store/postgres: LISTEN/NOTIFY): onReady when tasks were
// made ready, onEvaluation when an evaluation was written, by any process
// on the database. It returns once listening and keeps at it until ctx
// ends, reconnecting after a failure (then calling both, since what was
// sent meanwhile is lost). The funcs must not block. A service whose
// store is one wakes its broker's long-polls and its evaluation poll with
// it; it polls all the same, so that a lost notification costs only the
// poll's delay.
type Listener interface {
	Listen(ctx context.Context, onReady, onEvaluation func()) error
}

// Leader returns the term of the leader lease the service holds, and
// whether it holds one (and believes it live).
func (s *Service) Leader() (Leadership, bool) {
	s.lmu.Lock()
	defer s.lmu.Unlock()
	if s.term.Epoch == 0 || !s.o.Now().Before(s.termEnd) {
		return Leadership{}, false
	}
	return s.term, true
}

// fence is the fencing token of the service's term, or nil when it does
// not lead, or its term ended on its own clock without a renewal (the
// renewal is late: the lease may be another's by now).
func (s *Service) fence() *Fence {
	l, ok := s.Leader()
	if !ok {
		return nil
	}
	f := l.Fence()
	return &f
}

// leadLoop holds the leader lease for a service with Adopt: it renews
// the term while it leads, and otherwise takes the lease once it is free.
// It is the only goroutine that takes or renews a term; the maintenance
// loop may end one (stepDown) when a fenced write is refused.
func (s *Service) leadLoop(ctx context.Context) {
	defer s.wg.Done()
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-ctx.Done():
			return
		case <-s.leadKick:
		case <-t.C:
		}
		t.Reset(s.lead(s.ctx))
	}
}

// lead takes one step of the lead loop and returns when to take the next.
func (s *Service) lead(ctx context.Context) time.Duration {
	ttl := s.o.LeaderTTL
	look := ttl / 5
	draining := s.draining.Load()
	s.lmu.Lock()
	term, gen := s.term, s.termGen
	s.lmu.Unlock()
	if draining {
		// Not ctx: a Stop right after the drain began (no task was running)
		// cancels it, and the release would be cut short, leaving the other
		// servers to wait out the term.
		s.resign(context.WithoutCancel(ctx), "the server is draining")
		return look
	}
	start := s.o.Now()
	if term.Epoch != 0 {
		l, err := s.store.RenewLeader(ctx, term.Fence(), start, ttl)
		if err != nil {
			if ctx.Err() == nil {
				s.stepDown(term.Fence(), "its renewal failed", err)
			}
			return min(look, time.Second)
		}
		s.lmu.Lock()
		if s.termGen == gen && s.term.Epoch == l.Epoch {
			s.term, s.termEnd = l, start.Add(ttl)
		}
		s.lmu.Unlock()
		return ttl / 3
	}
	// Not leading: take the lease if it is free, expired or still this
	// service's (a renewal failed meanwhile); otherwise look again when
	// the term seen ends, and at least every LeaderTTL/5 (a release).
	cur, err := s.store.Leader(ctx, LeaderScheduler, start)
	gone := false
	switch {
	case err == nil && cur.Live && cur.Holder != s.o.Owner:
		// A live term of a process of this host that is gone (kill -9):
		// taken at once rather than waited out.
		if gone = cur.Holder != "" && s.o.OwnerGone != nil && s.o.OwnerGone(cur.Holder); !gone {
			return s.untilEnd(cur, start, look)
		}
	case errors.Is(err, cairn.ErrNotFound):
		cur = Leadership{}
	case err != nil:
		if ctx.Err() == nil {
			s.log.Warn("read the leader lease", "err", err)
		}
		return look
	}
	var l Leadership
	if gone {
		l, err = s.store.TakeLeader(ctx, cur.Fence(), s.o.Owner, start, ttl)
		if errors.Is(err, cairn.ErrNotLeader) {
			return min(look, time.Second) // it moved on: look again
		}
	} else {
		l, err = s.store.AcquireLeader(ctx, LeaderScheduler, s.o.Owner, start, ttl)
		if errors.Is(err, cairn.ErrNotLeader) {
			return s.untilEnd(l, start, look)
		}
	}
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("take the leader lease", "err", err)
		}
		return look
	}
	s.lmu.Lock()
	s.term, s.termEnd = l, start.Add(ttl)
	s.lmu.Unlock()
	prev := cur.Holder
	if prev == "" {
		prev = "none"
	}
	s.log.Info("leading: this server fires cron schedules and reaps expired leases", "epoch", l.Epoch,
		"term", ttl.String(), "previous", prev, "previous_gone", gone)
	if s.o.Leading != nil {
		s.o.Leading(l, true)
	}
	select {
	case s.leadGot <- struct{}{}:
	default:
	}
	return ttl / 3
}

// untilEnd is how long to wait before looking at the lease again when
// cur is another's live term: until just after it ends, at most look.
func (s *Service) untilEnd(cur Leadership, now time.Time, look time.Duration) time.Duration {
	return min(look, max(cur.ExpiresAt.Sub(now)+5*time.Millisecond, 5*time.Millisecond))
}

// stepDown ends the service's leader work at once: the term of f is over
// (a renewal failed, or a fenced write was refused).
func (s *Service) stepDown(f Fence, why string, err error) {
	s.lmu.Lock()
	if s.term.Epoch == 0 || s.term.Fence() != f {
		s.lmu.Unlock()
		return
	}
	l := s.term
	s.term, s.termEnd = Leadership{}, time.Time{}
	s.termGen++
	s.lmu.Unlock()
	s.log.Warn("no longer leading: cron and the reaper stop here until this server leads again", "epoch", f.Epoch, "why", why, "err", err)
	if s.o.Leading != nil {
		s.o.Leading(l, false)
	}
}

// resign releases the service's term, if it holds one, so that another
// server leads without waiting for it to expire.
func (s *Service) resign(ctx context.Context, why string) {
	s.lmu.Lock()
	l := s.term
	if l.Epoch == 0 {
		s.lmu.Unlock()
		return
	}
	s.term, s.termEnd = Leadership{}, time.Time{}
	s.termGen++
	s.lmu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := s.store.ReleaseLeader(ctx, l.Fence()); err != nil {
		s.log.Warn("release the leader lease; another server leads once it expires", "epoch", l.Epoch, "err", err)
	} else {
		s.log.Info("no longer leading: released the leader lease", "epoch", l.Epoch, "why", why)
	}
	if s.o.Leading != nil {
		s.o.Leading(l, false)
	}
}

// reap ends expired leases: every run's, fenced by the term, while the
// service leads; only those of the runs it plans for a service without
// Adopt (a foreground cairn run, which never leads).
func (s *Service) reap(ctx context.Context) {
	if !s.o.Adopt {
		for _, id := range s.Runs() {
			if _, err := s.broker.ExpireLeases(ctx, Expiry{RunID: id}); err != nil && ctx.Err() == nil {
				s.log.Warn("reap expired leases", "run", id, "err", err)
			}
		}
		s.reapPoolHolders(ctx)
		return
	}
	f := s.fence()
	if f == nil {
		return
	}
	_, err := s.broker.ExpireLeases(ctx, Expiry{Fence: f})
	switch {
	case errors.Is(err, cairn.ErrNotLeader):
		s.stepDown(*f, "the reaper's transaction found its term over", err)
	case err != nil && ctx.Err() == nil:
		s.log.Warn("reap expired leases", "err", err)
	}
}

// reapPoolHolders ends, for a service without Adopt, the expired leases
// of other runs that hold a slot of a pool some task waits for: without
// a server nothing else would, and a run killed while its task held the
// slot (kill -9, a lost machine) would keep every later run of the pool
// waiting for ever. Only leases already expired (their holder stopped
// heartbeating a lease TTL ago) are ended, each by the same
// compare-and-set write as a server's reaper (a lease renewed or
// completed meanwhile is left alone): never a live run's attempt. The
// attempt is recorded interrupted and its task is ready again in its own
// run, which cairn resume (or a server) takes on.
func (s *Service) reapPoolHolders(ctx context.Context) {
	ps, err := s.store.Pools(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("read the pools to reap their dead holders", "err", err)
		}
		return
	}
	mine := map[string]bool{}
	for _, id := range s.Runs() {
		mine[id] = true
	}
	done := map[string]bool{}
	for _, p := range ps {
		if p.Waiting == 0 {
			continue
		}
		for _, h := range p.Holders {
			if mine[h.RunID] || done[h.RunID] {
				continue
			}
			done[h.RunID] = true
			n, err := s.broker.ExpireLeases(ctx, Expiry{RunID: h.RunID})
			switch {
			case err != nil && ctx.Err() == nil:
				s.log.Warn("reap the expired leases of a pool's holder", "pool", p.Name, "run", h.RunID, "err", err)
			case n > 0:
				s.log.Info("a pool's slot given back: its holder's lease expired (its process is gone)", "pool", p.Name, "run", h.RunID, "attempts", n)
			}
		}
	}
}

// listen wakes the broker's long-polls and the evaluation poll from the
// store's notifications, trying again every few seconds until it listens
// (the poll goes on meanwhile).
func (s *Service) listen(l Listener) {
	s.mu.Lock()
	ctx, wake := s.ctx, s.evalWake // this start's: the service may be started again
	s.mu.Unlock()
	onEvaluation := func() {
		select {
		case wake <- struct{}{}:
		default:
		}
	}
	for pause := time.Second; ; pause = min(2*pause, 30*time.Second) {
		err := l.Listen(ctx, s.broker.NotifyReady, onEvaluation)
		if err == nil || ctx.Err() != nil {
			return
		}
		s.log.Warn("listen for other servers' changes; polling meanwhile", "err", err, "retry_in", pause.String())
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
	}
}
