package chaos

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
)

// Faults says what a FaultStore injects. Each probability is per call.
type Faults struct {
	// Seed seeds the draws (one sequence per store; which call gets which
	// draw depends on the order the goroutines call in).
	Seed uint64
	// Before is the probability that a write fails before it reaches the
	// store: nothing is written and the caller hears an error.
	Before float64
	// After is the probability that a write that committed is reported
	// failed (an ambiguous commit: the write happened, the caller hears an
	// error, as when a connection breaks before the commit's answer). Half
	// of them are timeouts (wrapping context.DeadlineExceeded, after a
	// pause of up to Delay), half other errors.
	After float64
	// Reads is the probability that a read fails.
	Reads float64
	// Delay bounds the pause of an injected timeout.
	Delay time.Duration
}

// FaultStats counts what a FaultStore did.
type FaultStats struct {
	Calls, Before, After, Reads, Down int64
}

// FaultStore is a scheduler.Store that injects faults into another: errors
// before a write, errors after a write committed (ambiguous commits),
// failed reads, and a partition (SetDown) in which every call fails
// unseen by the store. The scheduler, broker and executor above it must
// cope — retry, or read again — and never accept a completion twice.
type FaultStore struct {
	scheduler.Store
	f faultState
}

// faultState is the mutable part of a FaultStore, kept apart so that
// the embedded Store's methods stay promoted.
type faultState struct {
	faults Faults
	mu     sync.Mutex
	rng    *rand.Rand
	down   atomic.Bool
	calls  atomic.Int64
	before atomic.Int64
	after  atomic.Int64
	reads  atomic.Int64
	downed atomic.Int64
	// forced counts the writes still to be made ambiguous whatever the
	// draws (AmbiguousNext).
	forced atomic.Int64
}

var _ scheduler.Store = (*FaultStore)(nil)

// NewFaultStore wraps s.
func NewFaultStore(s scheduler.Store, f Faults) *FaultStore {
	fs := &FaultStore{Store: s}
	fs.f.faults = f
	fs.f.rng = rand.New(rand.NewPCG(f.Seed, f.Seed^0x9e3779b97f4a7c15))
	return fs
}

// SetDown cuts the store off (true) or restores it (false): while down,
// every call fails before reaching the store, as in a network partition.
func (s *FaultStore) SetDown(down bool) { s.f.down.Store(down) }

// AmbiguousNext makes the next n writes that commit, beyond those the
// draws pick, report failure (ambiguous commits, as After's), so that a
// short scenario is sure to meet some: at After's 5 %, a 40-task run's
// two nodes, 173 calls in all, can meet none (a clean clone's make test
// failed so once). A write the store refuses does not use one.
func (s *FaultStore) AmbiguousNext(n int) { s.f.forced.Add(int64(n)) }

// takeForced uses one of AmbiguousNext's writes, if one is left.
func (s *FaultStore) takeForced() bool {
	for {
		n := s.f.forced.Load()
		if n <= 0 {
			return false
		}
		if s.f.forced.CompareAndSwap(n, n-1) {
			return true
		}
	}
}

// Stats returns the counts so far.
func (s *FaultStore) Stats() FaultStats {
	return FaultStats{Calls: s.f.calls.Load(), Before: s.f.before.Load(), After: s.f.after.Load(),
		Reads: s.f.reads.Load(), Down: s.f.downed.Load()}
}

// ErrInjected marks every error a FaultStore makes up.
var ErrInjected = errors.New("chaos: injected fault")

type draw int

const (
	pass draw = iota
	failBefore
	failAfter
)

func (s *FaultStore) draw(write bool) (draw, time.Duration, bool) {
	s.f.calls.Add(1)
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	x := s.f.rng.Float64()
	timeout := s.f.rng.IntN(2) == 0
	var pause time.Duration
	if s.f.faults.Delay > 0 {
		pause = time.Duration(s.f.rng.Int64N(int64(s.f.faults.Delay)))
	}
	switch {
	case !write:
		if x < s.f.faults.Reads {
			return failBefore, 0, false
		}
	case x < s.f.faults.Before:
		return failBefore, 0, false
	case x < s.f.faults.Before+s.f.faults.After:
		return failAfter, pause, timeout
	}
	return pass, 0, false
}

// call runs op on the wrapped store with the faults drawn for it.
func call[T any](ctx context.Context, s *FaultStore, name string, write bool, op func() (T, error)) (T, error) {
	var zero T
	if s.f.down.Load() {
		s.f.downed.Add(1)
		return zero, fmt.Errorf("%s: store unreachable (partition): %w", name, ErrInjected)
	}
	d, pause, timeout := s.draw(write)
	switch d {
	case failBefore:
		if write {
			s.f.before.Add(1)
		} else {
			s.f.reads.Add(1)
		}
		return zero, fmt.Errorf("%s: connection reset before the statement: %w", name, ErrInjected)
	case failAfter:
		v, err := op()
		if err != nil {
			return v, err
		}
		return zero, s.ambiguous(ctx, name, pause, timeout)
	}
	v, err := op()
	if err != nil || !write || !s.takeForced() {
		return v, err
	}
	return zero, s.ambiguous(ctx, name, pause, timeout)
}

// ambiguous is the error of a write that committed: a timeout after a
// pause (cut short when ctx ends), or a reset.
func (s *FaultStore) ambiguous(ctx context.Context, name string, pause time.Duration, timeout bool) error {
	s.f.after.Add(1)
	if timeout {
		t := time.NewTimer(pause)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
		return fmt.Errorf("%s: %w after the commit: %w", name, context.DeadlineExceeded, ErrInjected)
	}
	return fmt.Errorf("%s: connection reset after the commit: %w", name, ErrInjected)
}

func call0(ctx context.Context, s *FaultStore, name string, write bool, op func() error) error {
	_, err := call(ctx, s, name, write, func() (struct{}, error) { return struct{}{}, op() })
	return err
}

// Batch implements scheduler.Store. A batch fails before it runs or after
// it committed, as a whole.
func (s *FaultStore) Batch(ctx context.Context, fn func(tx scheduler.Tx) error) error {
	return call0(ctx, s, "batch", true, func() error { return s.Store.Batch(ctx, fn) })
}

// CreateRun implements scheduler.RunStore.
func (s *FaultStore) CreateRun(ctx context.Context, run *cairn.Run, trs []*cairn.TaskRun) error {
	return call0(ctx, s, "create run", true, func() error { return s.Store.CreateRun(ctx, run, trs) })
}

// ApplyPlan implements scheduler.RunStore.
func (s *FaultStore) ApplyPlan(ctx context.Context, p *scheduler.Plan) error {
	return call0(ctx, s, "apply plan", true, func() error { return s.Store.ApplyPlan(ctx, p) })
}

// ClaimRun implements scheduler.RunStore.
func (s *FaultStore) ClaimRun(ctx context.Context, id, owner string, now time.Time, ttl time.Duration, steal bool) (*cairn.Run, error) {
	return call(ctx, s, "claim run", true, func() (*cairn.Run, error) { return s.Store.ClaimRun(ctx, id, owner, now, ttl, steal) })
}

// ReleaseRun implements scheduler.RunStore.
func (s *FaultStore) ReleaseRun(ctx context.Context, id, owner string) error {
	return call0(ctx, s, "release run", true, func() error { return s.Store.ReleaseRun(ctx, id, owner) })
}

// ClaimRuns implements scheduler.RunStore.
func (s *FaultStore) ClaimRuns(ctx context.Context, ids []string, owner string, now time.Time, ttl time.Duration) ([]string, error) {
	return call(ctx, s, "claim runs", true, func() ([]string, error) { return s.Store.ClaimRuns(ctx, ids, owner, now, ttl) })
}

// RenewClaims implements scheduler.RunStore.
func (s *FaultStore) RenewClaims(ctx context.Context, owner string, now time.Time, ttl time.Duration) ([]string, error) {
	return call(ctx, s, "renew claims", true, func() ([]string, error) { return s.Store.RenewClaims(ctx, owner, now, ttl) })
}

// ReleaseClaims implements scheduler.RunStore.
func (s *FaultStore) ReleaseClaims(ctx context.Context, owner string) error {
	return call0(ctx, s, "release claims", true, func() error { return s.Store.ReleaseClaims(ctx, owner) })
}

// RequestCancel implements scheduler.RunStore.
func (s *FaultStore) RequestCancel(ctx context.Context, id string) error {
	return call0(ctx, s, "request cancel", true, func() error { return s.Store.RequestCancel(ctx, id) })
}

// RetryRun implements scheduler.RunStore.
func (s *FaultStore) RetryRun(ctx context.Context, r scheduler.Retry) error {
	return call0(ctx, s, "retry run", true, func() error { return s.Store.RetryRun(ctx, r) })
}

// Lease implements scheduler.LeaseStore.
func (s *FaultStore) Lease(ctx context.Context, r cairn.LeaseRequest, now time.Time, ttl time.Duration) ([]cairn.WorkItem, error) {
	return call(ctx, s, "lease", true, func() ([]cairn.WorkItem, error) { return s.Store.Lease(ctx, r, now, ttl) })
}

// StartAttempt implements scheduler.LeaseStore.
func (s *FaultStore) StartAttempt(ctx context.Context, l cairn.Lease, now time.Time) error {
	return call0(ctx, s, "start attempt", true, func() error { return s.Store.StartAttempt(ctx, l, now) })
}

// Heartbeat implements scheduler.LeaseStore.
func (s *FaultStore) Heartbeat(ctx context.Context, l cairn.Lease, now time.Time, ttl time.Duration) (cairn.HeartbeatReply, error) {
	return call(ctx, s, "heartbeat", true, func() (cairn.HeartbeatReply, error) { return s.Store.Heartbeat(ctx, l, now, ttl) })
}

// HeartbeatMany implements scheduler.LeaseStore.
func (s *FaultStore) HeartbeatMany(ctx context.Context, leases []cairn.Lease, now time.Time, ttl time.Duration) ([]cairn.HeartbeatResult, error) {
	return call(ctx, s, "heartbeat many", true, func() ([]cairn.HeartbeatResult, error) {
		return s.Store.HeartbeatMany(ctx, leases, now, ttl)
	})
}

// Complete implements scheduler.LeaseStore.
func (s *FaultStore) Complete(ctx context.Context, l cairn.Lease, c cairn.Completion, now time.Time) (*cairn.TaskRun, error) {
	return call(ctx, s, "complete", true, func() (*cairn.TaskRun, error) { return s.Store.Complete(ctx, l, c, now) })
}

// CompleteMany implements scheduler.LeaseStore.
func (s *FaultStore) CompleteMany(ctx context.Context, fs []scheduler.Finish, now time.Time) ([]*cairn.TaskRun, []error, error) {
	type out struct {
		trs  []*cairn.TaskRun
		errs []error
	}
	o, err := call(ctx, s, "complete many", true, func() (out, error) {
		trs, errs, err := s.Store.CompleteMany(ctx, fs, now)
		return out{trs, errs}, err
	})
	return o.trs, o.errs, err
}

// Expire implements scheduler.LeaseStore.
func (s *FaultStore) Expire(ctx context.Context, l cairn.Lease, c cairn.Completion, now time.Time, force bool) (*cairn.TaskRun, error) {
	return call(ctx, s, "expire", true, func() (*cairn.TaskRun, error) { return s.Store.Expire(ctx, l, c, now, force) })
}

// AckEvaluations implements scheduler.EvalStore.
func (s *FaultStore) AckEvaluations(ctx context.Context, runID string, upTo int64, now time.Time) error {
	return call0(ctx, s, "ack evaluations", true, func() error { return s.Store.AckEvaluations(ctx, runID, upTo, now) })
}

// AcquireLeader implements scheduler.LeaderStore.
func (s *FaultStore) AcquireLeader(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (scheduler.Leadership, error) {
	return call(ctx, s, "acquire leader", true, func() (scheduler.Leadership, error) {
		return s.Store.AcquireLeader(ctx, name, holder, now, ttl)
	})
}

// RenewLeader implements scheduler.LeaderStore.
func (s *FaultStore) RenewLeader(ctx context.Context, f scheduler.Fence, now time.Time, ttl time.Duration) (scheduler.Leadership, error) {
	return call(ctx, s, "renew leader", true, func() (scheduler.Leadership, error) { return s.Store.RenewLeader(ctx, f, now, ttl) })
}

// TakeLeader implements scheduler.LeaderStore.
func (s *FaultStore) TakeLeader(ctx context.Context, f scheduler.Fence, holder string, now time.Time, ttl time.Duration) (scheduler.Leadership, error) {
	return call(ctx, s, "take leader", true, func() (scheduler.Leadership, error) { return s.Store.TakeLeader(ctx, f, holder, now, ttl) })
}

// ReleaseLeader implements scheduler.LeaderStore.
func (s *FaultStore) ReleaseLeader(ctx context.Context, f scheduler.Fence) error {
	return call0(ctx, s, "release leader", true, func() error { return s.Store.ReleaseLeader(ctx, f) })
}

// RegisterWorker implements scheduler.WorkerStore.
func (s *FaultStore) RegisterWorker(ctx context.Context, w cairn.Worker, now time.Time, ttl time.Duration) (cairn.Worker, error) {
	return call(ctx, s, "register worker", true, func() (cairn.Worker, error) { return s.Store.RegisterWorker(ctx, w, now, ttl) })
}

// TouchWorker implements scheduler.WorkerStore.
func (s *FaultStore) TouchWorker(ctx context.Context, id, tokenID string, now time.Time, ttl time.Duration) (cairn.Worker, error) {
	return call(ctx, s, "touch worker", true, func() (cairn.Worker, error) { return s.Store.TouchWorker(ctx, id, tokenID, now, ttl) })
}

// SetWorkerState implements scheduler.WorkerStore.
func (s *FaultStore) SetWorkerState(ctx context.Context, id, tokenID string, to cairn.WorkerState, now time.Time, ttl time.Duration) (cairn.Worker, error) {
	return call(ctx, s, "set worker state", true, func() (cairn.Worker, error) {
		return s.Store.SetWorkerState(ctx, id, tokenID, to, now, ttl)
	})
}

// LoseWorkers implements scheduler.WorkerStore.
func (s *FaultStore) LoseWorkers(ctx context.Context, now time.Time, limit int) ([]cairn.Worker, error) {
	return call(ctx, s, "lose workers", true, func() ([]cairn.Worker, error) { return s.Store.LoseWorkers(ctx, now, limit) })
}

// The reads.

// Worker implements scheduler.WorkerStore.
func (s *FaultStore) Worker(ctx context.Context, id string) (cairn.Worker, error) {
	return call(ctx, s, "worker", false, func() (cairn.Worker, error) { return s.Store.Worker(ctx, id) })
}

// WorkerLeases implements scheduler.WorkerStore.
func (s *FaultStore) WorkerLeases(ctx context.Context, worker string) ([]cairn.Lease, error) {
	return call(ctx, s, "worker leases", false, func() ([]cairn.Lease, error) { return s.Store.WorkerLeases(ctx, worker) })
}

// Leader implements scheduler.LeaderStore.
func (s *FaultStore) Leader(ctx context.Context, name string, now time.Time) (scheduler.Leadership, error) {
	return call(ctx, s, "leader", false, func() (scheduler.Leadership, error) { return s.Store.Leader(ctx, name, now) })
}

// GetRun implements scheduler.RunStore.
func (s *FaultStore) GetRun(ctx context.Context, id string) (*cairn.Run, error) {
	return call(ctx, s, "get run", false, func() (*cairn.Run, error) { return s.Store.GetRun(ctx, id) })
}

// ListTaskRuns implements scheduler.RunStore.
func (s *FaultStore) ListTaskRuns(ctx context.Context, runID string) ([]*cairn.TaskRun, error) {
	return call(ctx, s, "list task runs", false, func() ([]*cairn.TaskRun, error) { return s.Store.ListTaskRuns(ctx, runID) })
}

// GetTaskRun implements scheduler.RunStore.
func (s *FaultStore) GetTaskRun(ctx context.Context, runID, taskID string) (*cairn.TaskRun, error) {
	return call(ctx, s, "get task run", false, func() (*cairn.TaskRun, error) { return s.Store.GetTaskRun(ctx, runID, taskID) })
}

// Unowned implements scheduler.RunStore.
func (s *FaultStore) Unowned(ctx context.Context, now time.Time, limit int) ([]scheduler.RunClaim, error) {
	return call(ctx, s, "unowned", false, func() ([]scheduler.RunClaim, error) { return s.Store.Unowned(ctx, now, limit) })
}

// Owned implements scheduler.RunStore.
func (s *FaultStore) Owned(ctx context.Context, except string, limit int) ([]scheduler.RunClaim, error) {
	return call(ctx, s, "owned", false, func() ([]scheduler.RunClaim, error) { return s.Store.Owned(ctx, except, limit) })
}

// ActiveRuns implements scheduler.RunStore.
func (s *FaultStore) ActiveRuns(ctx context.Context, now time.Time) (map[string]int, error) {
	return call(ctx, s, "active runs", false, func() (map[string]int, error) { return s.Store.ActiveRuns(ctx, now) })
}

// ExpiredLeases implements scheduler.LeaseStore.
func (s *FaultStore) ExpiredLeases(ctx context.Context, runID string, now time.Time, limit int) ([]cairn.Lease, error) {
	return call(ctx, s, "expired leases", false, func() ([]cairn.Lease, error) { return s.Store.ExpiredLeases(ctx, runID, now, limit) })
}

// ActiveLeases implements scheduler.LeaseStore.
func (s *FaultStore) ActiveLeases(ctx context.Context, runID string) ([]cairn.Lease, error) {
	return call(ctx, s, "active leases", false, func() ([]cairn.Lease, error) { return s.Store.ActiveLeases(ctx, runID) })
}

// Evaluations implements scheduler.EvalStore.
func (s *FaultStore) Evaluations(ctx context.Context, after int64, limit int) ([]scheduler.Evaluation, error) {
	return call(ctx, s, "evaluations", false, func() ([]scheduler.Evaluation, error) { return s.Store.Evaluations(ctx, after, limit) })
}

// LastEvaluation implements scheduler.EvalStore.
func (s *FaultStore) LastEvaluation(ctx context.Context) (int64, error) {
	return call(ctx, s, "last evaluation", false, func() (int64, error) { return s.Store.LastEvaluation(ctx) })
}
