package scheduler

import (
	"context"
	"time"

	"github.com/cairnml/cairn"
)

// Store is the durable state of runs, task runs, attempts and leases. Every
// method is one transaction, unless it is called inside Batch. Implementations: store/sqlite (and PostgreSQL
// later); store/storetest is the conformance suite every implementation
// runs. Times are passed in by the caller (no implementation reads a clock
// for decisions), which keeps them testable.
type Store interface {
	RunStore
	LeaseStore
	// Batch runs fn so that the writes it makes through this store, with
	// the context fn is given, commit together in one transaction once fn
	// returns nil; if fn returns an error, none of them do. Each call
	// inside keeps its own all-or-nothing behaviour (a refused Complete
	// changes nothing), so fn may carry on after one fails. The writes run
	// in order and each sees those before it (a Lease finds the tasks an
	// ApplyPlan just made ready); GetRun and the List methods need not see
	// the batch's writes. The broker uses it to record
	// a completion, the plan it triggers and the worker's next lease in
	// one commit.
	Batch(ctx context.Context, fn func(ctx context.Context) error) error
}

// RunStore creates, reads and plans runs.
type RunStore interface {
	// CreateRun inserts a run and all of its task runs atomically. The run's
	// and task runs' Version must be 0; the store sets them to 1.
	CreateRun(ctx context.Context, run *cairn.Run, tasks []*cairn.TaskRun) error
	// GetRun returns one run. ErrNotFound if absent. Params come back as
	// JSON values with integers exact: int64 for integers, float64 for
	// other numbers.
	GetRun(ctx context.Context, id string) (*cairn.Run, error)
	// ResolveRunID expands a unique id prefix (at least 4 characters) to a
	// full run id. ErrNotFound if none matches, ErrAmbiguous if several do.
	ResolveRunID(ctx context.Context, prefix string) (string, error)
	// ListRuns returns runs newest first, filtered and paginated.
	ListRuns(ctx context.Context, f RunFilter) ([]*cairn.Run, error)
	// ListTaskRuns returns a run's task runs in creation order.
	ListTaskRuns(ctx context.Context, runID string) ([]*cairn.TaskRun, error)
	// ListAttempts returns the attempts of one task run, oldest first; with
	// taskID "" those of every task of the run.
	ListAttempts(ctx context.Context, runID, taskID string) ([]*cairn.Attempt, error)
	// ApplyPlan applies every change in p in one transaction. Each change is
	// a compare-and-set on the row's Version (and the run's, for a run
	// change); if any row changed since it was read, nothing is applied and
	// the error wraps cairn.ErrConflict. On success the new versions are
	// written back into p (TaskChange.NewVersion, RunChange.NewVersion).
	ApplyPlan(ctx context.Context, p *Plan) error
	// ClaimRun makes owner the driver of run id until now+ttl, when the run
	// has no owner, the owner's claim has expired, the owner is owner
	// itself (a renewal), or steal is set. Otherwise it fails with
	// cairn.ErrRunOwned. It returns the run as stored after the claim,
	// including CancelRequested.
	ClaimRun(ctx context.Context, id, owner string, now time.Time, ttl time.Duration, steal bool) (*cairn.Run, error)
	// ReleaseRun clears owner's claim on run id (no-op if it lost it).
	ReleaseRun(ctx context.Context, id, owner string) error
	// RequestCancel marks run id for cancellation. ErrTerminal if the run
	// already finished.
	RequestCancel(ctx context.Context, id string) error
}

// LeaseStore is the lease API: the only way work leaves the scheduler, used
// alike by the in-process pool and (through the server) remote workers.
type LeaseStore interface {
	// Lease claims up to r.Max ready task runs for r.Worker, oldest ready
	// first: each becomes leased, its attempt count goes up by one, an
	// attempt row is created, and a fresh random token and the expiry
	// now+ttl are set. With r.RunID non-empty only that run's tasks are
	// claimed. With r.Start each also moves on to running, in the same
	// transaction, and its WorkItem has Started set. Returns an empty slice
	// when nothing is ready, without taking the write lock.
	Lease(ctx context.Context, r cairn.LeaseRequest, now time.Time, ttl time.Duration) ([]cairn.WorkItem, error)
	// StartAttempt moves a leased task run to running. It is a
	// compare-and-set on (run, task, attempt, token, state leased) and an
	// unexpired lease; otherwise cairn.ErrLeaseLost and nothing changes.
	StartAttempt(ctx context.Context, l cairn.Lease, now time.Time) error
	// Heartbeat extends a live lease to now+ttl. cairn.ErrLeaseLost if the
	// lease expired, was superseded or its task left leased/running.
	Heartbeat(ctx context.Context, l cairn.Lease, now time.Time, ttl time.Duration) (cairn.HeartbeatReply, error)
	// Complete records how the leased attempt ended and moves the task run
	// to c.State, as a compare-and-set on (run, task, attempt, token,
	// state leased or running) and an unexpired lease. Otherwise it returns
	// cairn.ErrLeaseLost and changes nothing. It returns the task run as
	// stored afterwards. With c.Interrupted (c.State retrying or failed)
	// the attempt's state is cairn.AttemptInterrupted and the task run's
	// Interrupted and InterruptedInARow go up by one; any other completion
	// sets InterruptedInARow to 0. Lease hands both counts out with the
	// work item.
	Complete(ctx context.Context, l cairn.Lease, c cairn.Completion, now time.Time) (*cairn.TaskRun, error)
	// Expire ends a lease that its holder can no longer complete: one that
	// has expired by now, or any live one of run runID's when force is set
	// (the run's previous owner is known dead). The attempt and task run
	// move to c.State as in Complete. cairn.ErrLeaseLost if the lease was
	// completed meanwhile or (without force) is not yet expired.
	Expire(ctx context.Context, l cairn.Lease, c cairn.Completion, now time.Time, force bool) (*cairn.TaskRun, error)
	// ExpiredLeases lists leases whose expiry is before now, optionally
	// only those of run runID ("" for all runs), at most limit.
	ExpiredLeases(ctx context.Context, runID string, now time.Time, limit int) ([]cairn.Lease, error)
	// ActiveLeases lists the leases of run runID's leased or running tasks.
	ActiveLeases(ctx context.Context, runID string) ([]cairn.Lease, error)
}

// RunFilter selects runs for ListRuns.
type RunFilter struct {
	Workflow string         // exact name; "" for all
	State    cairn.RunState // "" for all
	// Before, if set, returns only runs whose id sorts before it (ids
	// sort by creation time): the cursor for the next page. It must name
	// a run: ListRuns fails with cairn.ErrNotFound otherwise.
	Before string
	Limit  int // 0 means 50
}

// Plan is the outcome of planning one run: the changes to apply in one
// transaction. It is produced by the pure function PlanRun.
type Plan struct {
	RunID string
	Run   *RunChange   // nil: run state unchanged
	Tasks []TaskChange // in a deterministic order
	// WakeAt is the earliest time the run needs planning again without an
	// event (a retry's backoff ending); zero for none.
	WakeAt time.Time
}

// Empty reports whether the plan changes nothing.
func (p *Plan) Empty() bool { return p.Run == nil && len(p.Tasks) == 0 }

// RunChange moves the run from one state to another.
type RunChange struct {
	FromVersion int64
	From, To    cairn.RunState
	Error       string
	At          time.Time // started_at when To is running; finished_at when terminal
	NewVersion  int64     // set by ApplyPlan
}

// TaskChange moves one task run from one state to another.
type TaskChange struct {
	TaskID      string
	FromVersion int64
	From, To    cairn.TaskState
	// With To ready: the task's resolved params and inputs.
	Params []byte
	Inputs map[string]cairn.ArtifactRef
	// Error says why (upstream failed, when: false, cancelled, a bad
	// reference).
	Error      string
	At         time.Time // finished_at when To is terminal
	NewVersion int64     // set by ApplyPlan
}
