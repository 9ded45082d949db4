package scheduler

import (
	"context"
	"time"
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
	// lease without waiting for it to expire; the epoch stays (a later
	// term has a higher one). A no-op when the term is no longer f's.
	ReleaseLeader(ctx context.Context, f Fence) error
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
// own transaction once the lease of Name is no longer Holder's at Epoch,
// or the term expired.
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
