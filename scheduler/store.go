package scheduler

import (
	"context"
	"encoding/json"
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
	EvalStore
	AuditStore
	ScheduleStore
	LeaderStore
	WorkerStore
	PoolStore
	// Batch runs fn in one write transaction: the writes fn makes through
	// tx commit together once fn returns nil; if fn returns an error,
	// none of them do. Each Tx call keeps its own all-or-nothing
	// behaviour (a refused Complete changes nothing), so fn may carry on
	// after one fails. The calls run in order and each sees the writes
	// before it (a Lease finds the tasks an ApplyPlan just made ready).
	//
	// ctx is checked only before the batch joins the store's write
	// queue: once it has, its statements run on the transaction's own
	// context, so cancelling ctx neither leaves the outcome unknown nor
	// aborts the writes of other callers that share the transaction
	// (group commit). The broker uses Batch to record a completion, the
	// plan it triggers and the worker's next lease in one commit.
	Batch(ctx context.Context, fn func(tx Tx) error) error
}

// Tx is the writes that can share one transaction (Store.Batch). Each is
// as its Store counterpart, on the transaction's context.
type Tx interface {
	// Complete is LeaseStore.Complete, without the evaluation the
	// Store's own Complete records: the caller records one
	// (AddEvaluation) unless it plans the run in the same transaction.
	Complete(l cairn.Lease, c cairn.Completion, now time.Time) (*cairn.TaskRun, error)
	// CompleteMany is LeaseStore.CompleteMany, without evaluations, as
	// Complete: the broker's completer records a batch of completions
	// with it, whatever their number, in a few statements.
	CompleteMany(fs []Finish, now time.Time) ([]*cairn.TaskRun, []error, error)
	// Expire is LeaseStore.Expire, likewise without an evaluation.
	Expire(l cairn.Lease, c cairn.Completion, now time.Time, force bool) (*cairn.TaskRun, error)
	ApplyPlan(p *Plan) error
	Lease(r cairn.LeaseRequest, now time.Time, ttl time.Duration) ([]cairn.WorkItem, error)
	// AnyReady reports whether some task is ready for r (as Lease would
	// select it), as of this transaction.
	AnyReady(r cairn.LeaseRequest) (bool, error)
	// FindCached returns up to limit earlier successes recorded under
	// cache key key, newest first, as the stores' FindCached does, as of
	// this transaction (its own completions included): the lookups of a
	// cache hit reused in the write that hands its task out
	// (runState.reuse), on the transaction's own connection.
	FindCached(key string, limit int) ([]cairn.CachedAttempt, error)
	// AddEvaluation records that run e.RunID needs planning and returns
	// the evaluation's id.
	AddEvaluation(e Evaluation) (int64, error)
	// CreateRun is RunStore.CreateRun (with its evaluation). A run whose
	// workflow has a run for its ScheduledFor already is refused with
	// cairn.ErrConflict (one run per slot).
	CreateRun(run *cairn.Run, tasks []*cairn.TaskRun) error
	// RequestCancel is RunStore.RequestCancel (with its evaluation).
	RequestCancel(id string) error
	// RetryRun is RunStore.RetryRun (with its evaluation).
	RetryRun(r Retry) error
	// ClaimRun is RunStore.ClaimRun; the run it returns is as stored
	// once the batch commits.
	ClaimRun(id, owner string, now time.Time, ttl time.Duration, steal bool) (*cairn.Run, error)
	// AddAudit records an entry of the audit log, in the transaction of
	// the action it records, and returns its id.
	AddAudit(a Audit) (int64, error)
	// Schedule reads workflow's schedule as of this transaction;
	// cairn.ErrNotFound when none is stored.
	Schedule(workflow string) (ScheduleState, error)
	// PutSchedule stores st: inserted when st.Version is 0, otherwise
	// updated only while the stored version is still st.Version (a
	// compare-and-set); cairn.ErrConflict, changing nothing, when another
	// writer got there first. On success st.Version is the new version.
	PutSchedule(st *ScheduleState) error
	// CheckFence is the fencing check of a write only the leader may make
	// (cron firing, reaping every run's expired leases), made first in
	// its transaction: it fails with cairn.ErrNotLeader, writing nothing,
	// unless the leader lease of f.Name is still f.Holder's at f.Epoch
	// (another server took it, or it was released). The caller then
	// returns the error, so that the transaction's writes are undone.
	// Until the transaction ends no other server can take the lease
	// (PostgreSQL: the row is locked; SQLite: one writer), so the writes
	// land within f's term. A term that expired but that nobody took yet
	// passes: no other leader's writes can come between.
	CheckFence(f Fence) error
	// RunOwner returns the owner of run id's claim as of this
	// transaction ("" when nobody holds it), expired or not: until the
	// transaction ends nobody can claim the run (PostgreSQL: the run's
	// row is locked FOR SHARE; SQLite: one writer), so a scheduler that
	// finds its own name may plan the run in it and skip the evaluation
	// that would tell the owner. cairn.ErrNotFound for an unknown run.
	RunOwner(id string) (string, error)
}

// PoolStore keeps the pools every run on the database shares (see
// cairn's pools.go). A run's own pools (cairn.Run.Pools) are declared by
// CreateRun; a lease counts a pool's holders in its own transaction.
type PoolStore interface {
	// SetPools declares pools as a server's: inserted, or their sizes
	// set whoever declared them; a workflow's declaration of one of
	// those names no longer changes it. A pool a server declared before
	// and pools lacks is a workflow's again (its size kept until a
	// workflow declares it): a server started without --pool gpu=1
	// gives gpu back. An invalid name or size is an error and changes
	// nothing.
	SetPools(ctx context.Context, pools map[string]int, now time.Time) error
	// Pools lists the declared pools by name, each with the leased and
	// running tasks holding its slots.
	Pools(ctx context.Context) ([]cairn.PoolState, error)
	// PoolWaiting reports whether some ready task names a pool: a lease
	// that found nothing may find it once another process's holder ends,
	// which nothing in this process announces (Broker.Lease looks again
	// within PoolPoll).
	PoolWaiting(ctx context.Context) (bool, error)
}

// ScheduleState is where a workflow's schedule stands: the latest slot
// it handled, and whether it is paused.
type ScheduleState struct {
	Workflow string
	// Spec is the schedule as last read from the workflow file
	// (workflows.Schedule.Spec): a changed one starts afresh.
	Spec string
	// Position is the latest slot handled (fired, or skipped as missed):
	// the next run is for the first slot after it.
	Position  time.Time
	Paused    bool
	UpdatedAt time.Time
	Version   int64 // 0: not stored yet
}

// ScheduleStore reads the schedules' states (written through Tx).
type ScheduleStore interface {
	// Schedules lists every stored schedule, by workflow name.
	Schedules(ctx context.Context) ([]ScheduleState, error)
}

// Audit is one entry of the audit log: who did what, when.
type Audit struct {
	ID     int64 // set by the store, increasing
	At     time.Time
	Actor  string // a token id, or "cli:USER@HOST" for a local command
	Action string // AuditTrigger, AuditCancel, ...
	RunID  string
	TaskID string
	Detail []byte // a JSON object, or empty
}

// Actions of the audit log.
const (
	AuditTrigger        = "trigger"
	AuditCancel         = "cancel"
	AuditRetry          = "retry"
	AuditResume         = "resume"
	AuditSchedulePause  = "schedule.pause"
	AuditScheduleResume = "schedule.resume"
	AuditBackfill       = "backfill"
	AuditTokenCreate    = "token.create"
	AuditTokenRevoke    = "token.revoke"
	// A model version moved to a stage by hand, and a model rolled back
	// to its production version before (detail: model, versions, stages).
	AuditModelPromote  = "model.promote"
	AuditModelRollback = "model.rollback"
	// A model's rollout started, promoted its candidate or rolled it
	// back (detail: model, event, versions, share, why); its steps are in
	// the rollout's own history, not the audit log.
	AuditModelRollout = "model.rollout"
	// A model's alerts set or cleared by hand or by a deploy's alerts:
	// (detail: model, alerts with their webhooks redacted).
	AuditModelAlerts = "model.alerts"
)

// AuditFilter selects entries for ListAudit.
type AuditFilter struct {
	RunID  string // "" for all
	Before int64  // only ids below it (the cursor of the next page); 0 for none
	Limit  int    // 0 means 50
}

// AuditStore reads the audit log (entries are written through Tx.AddAudit).
type AuditStore interface {
	// ListAudit returns entries newest first.
	ListAudit(ctx context.Context, f AuditFilter) ([]Audit, error)
}

// EvalStore holds evaluations: the durable record that a run needs
// planning (in the spirit of Nomad's evaluations). Whatever makes a run
// need planning — a completion not planned in its own transaction, a
// cancel request, a retry coming due, a new run, an expired lease —
// writes one in the transaction that makes the change; the scheduler that
// owns the run (any process) reads it, plans, and acknowledges it.
type EvalStore interface {
	// Evaluations lists evaluations with an id above after, by id, at
	// most limit (100 if limit <= 0), whatever their due time.
	Evaluations(ctx context.Context, after int64, limit int) ([]Evaluation, error)
	// LastEvaluation returns the highest evaluation id ever given (0 for
	// none): where a reader that needs only new evaluations starts.
	LastEvaluation(ctx context.Context) (int64, error)
	// AckEvaluations deletes run runID's evaluations with id <= upTo that
	// are due by now: the run was planned after they were written. With
	// upTo < 0, all of the run's evaluations (it ended).
	AckEvaluations(ctx context.Context, runID string, upTo int64, now time.Time) error
}

// Evaluation is one record that a run needs planning.
type Evaluation struct {
	ID     int64 // set by the store; increasing in commit order
	RunID  string
	Reason string // EvalCompleted, EvalCancel, ...
	TaskID string // the task whose change caused it, if any
	// Writer names the scheduler process that wrote it and already knows
	// of the change ("" for a store call outside any scheduler): the
	// owner of the run acknowledges its own without reloading the run.
	Writer string
	// DueAt is when the run needs planning: the creation time, or later
	// for a retry whose backoff has not ended.
	DueAt     time.Time
	CreatedAt time.Time
}

// Reasons of evaluations.
const (
	EvalCreated   = "created"   // a new run
	EvalCompleted = "completed" // an attempt ended, not planned in its transaction
	EvalRetry     = "retry"     // a retry's backoff ends at DueAt
	EvalCancel    = "cancel"    // cancellation requested
	EvalExpired   = "expired"   // a lease expired or was taken over
	EvalRetried   = "retried"   // a finished run was retried by hand (RetryRun)
)

// RunStore creates, reads and plans runs.
type RunStore interface {
	// CreateRun inserts a run and all of its task runs atomically. The run's
	// and task runs' Version must be 0; the store sets them to 1.
	CreateRun(ctx context.Context, run *cairn.Run, tasks []*cairn.TaskRun) error
	// GetRun returns one run. ErrNotFound if absent. Params come back as
	// JSON values with integers exact: int64 for integers, float64 for
	// other numbers.
	GetRun(ctx context.Context, id string) (*cairn.Run, error)
	// RunSources returns the sub-workflow files stored with a run
	// (cairn.Run.SubSources), by path relative to its workflow's folder;
	// empty for a run without `uses:`.
	RunSources(ctx context.Context, id string) (map[string][]byte, error)
	// ResolveRunID expands a unique id prefix (at least 4 characters) to a
	// full run id. ErrNotFound if none matches, ErrAmbiguous if several do.
	ResolveRunID(ctx context.Context, prefix string) (string, error)
	// ListRuns returns runs newest first, filtered and paginated.
	ListRuns(ctx context.Context, f RunFilter) ([]*cairn.Run, error)
	// ListTaskRuns returns a run's task runs in creation order.
	ListTaskRuns(ctx context.Context, runID string) ([]*cairn.TaskRun, error)
	// GetTaskRun returns one task run. ErrNotFound if absent.
	GetTaskRun(ctx context.Context, runID, taskID string) (*cairn.TaskRun, error)
	// ListAttempts returns the attempts of one task run, oldest first; with
	// taskID "" those of every task of the run.
	ListAttempts(ctx context.Context, runID, taskID string) ([]*cairn.Attempt, error)
	// ApplyPlan applies every change in p in one transaction. A run change
	// to a terminal state also clears the run's claim and deletes its
	// evaluations, in the same transaction. Each change is
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
	// ClaimRuns is ClaimRun for many runs in one statement, without
	// steal: it returns the ids of those now held by owner (claimed or
	// renewed), in no particular order.
	ClaimRuns(ctx context.Context, ids []string, owner string, now time.Time, ttl time.Duration) ([]string, error)
	// RenewClaims extends to now+ttl, in one statement, every claim owner
	// holds on a run that is not terminal, and returns those runs' ids:
	// a run owner drives but that is not among them was taken over.
	RenewClaims(ctx context.Context, owner string, now time.Time, ttl time.Duration) ([]string, error)
	// ReleaseClaims clears every claim owner holds, in one statement.
	ReleaseClaims(ctx context.Context, owner string) error
	// Unowned lists runs that are not terminal and that no live claim
	// holds (no owner, or its claim expired by now): running ones first,
	// then queued ones, each in creation order, at most limit.
	Unowned(ctx context.Context, now time.Time, limit int) ([]RunClaim, error)
	// Owned lists the claims on runs that are not terminal held by
	// owners other than except, live or not, at most limit.
	Owned(ctx context.Context, except string, limit int) ([]RunClaim, error)
	// ActiveRuns counts the runs that are active — running, or queued
	// under a live claim — per workflow, as of now.
	ActiveRuns(ctx context.Context, now time.Time) (map[string]int, error)
	// RequestCancel marks run id for cancellation. ErrTerminal if the run
	// already finished.
	RequestCancel(ctx context.Context, id string) error
	// RetryRun runs tasks of a finished run again, into the same run, in
	// one transaction (see Retry): the run goes back to running, claimed
	// by r.Owner (or by nobody), and each of r.Tasks back to pending with
	// its attempts numbered on and its retries renewed; an evaluation of
	// the run (EvalRetried, written by r.Owner) is recorded. Every task
	// run of the run and the run itself get a new Version, so a plan made
	// before the retry conflicts. Errors: cairn.ErrNotFound (no such run,
	// or task); cairn.ErrConflict, changing nothing, when the run is not
	// failed or cancelled (queued or running: it has not finished; or it
	// succeeded) or a task of r.Tasks is not failed, upstream_failed or
	// cancelled.
	RetryRun(ctx context.Context, r Retry) error
}

// Retry is what RetryRun does to a finished run: the one way out of a
// terminal state (cairn.RunState.CanRetry, cairn.TaskState.CanRetry),
// made while no scheduler plans the run — a finished run has no claim
// that counts, and RetryRun takes it in the same transaction, so that a
// scheduler still holding it from before the run ended (it was about to
// release it) cannot renew it.
type Retry struct {
	RunID string
	// Tasks are the task runs to run again, each failed, upstream_failed
	// or cancelled. The caller gives every task the retry concerns — those
	// it names and whatever of their downstream did not succeed
	// (RetryTasks works them out from the graph): the store does not know
	// the graph. Each goes back to pending: its error, resolved params
	// and inputs, outputs, retry time and interruptions in a row cleared;
	// its attempts kept and numbered on; Round up by one and FailedBefore
	// set to its failed attempts so far (Attempt − Interrupted), so that
	// it has its Retry.Retries again.
	Tasks []string
	// Owner claims the run until Now+TTL: the scheduler that plans it
	// next (a server's service, a foreground cairn retry). "" leaves it
	// unclaimed, for a scheduler service with Adopt to take (cairn retry
	// --detach). Any claim left from before the run finished is replaced.
	Owner string
	Now   time.Time
	TTL   time.Duration
}

// LeaseStore is the lease API: the only way work leaves the scheduler, used
// alike by the in-process pool and (through the server) remote workers.
type LeaseStore interface {
	// Lease claims up to r.Max ready task runs for r.Worker, oldest ready
	// first: each becomes leased, its attempt count goes up by one, an
	// attempt row is created, and a fresh random token and the expiry
	// now+ttl are set. With r.RunID non-empty only that run's tasks are
	// claimed; with r.Owner only those of runs r.Owner holds a claim on.
	// With r.Start each also moves on to running, in the same
	// transaction, and its WorkItem has Started set. Returns an empty slice
	// when nothing is ready, without taking the write lock.
	//
	// A ready task whose stored params or inputs cannot be decoded is not
	// handed out: it fails alone (permanently, saying why, with an
	// evaluation of its run, the values that do not decode cleared so
	// that the run can still be read and planned), in the same
	// transaction, and the lease goes on with the others, up to r.Max.
	Lease(ctx context.Context, r cairn.LeaseRequest, now time.Time, ttl time.Duration) ([]cairn.WorkItem, error)
	// StartAttempt moves a leased task run to running. It is a
	// compare-and-set on (run, task, attempt, token, state leased) and an
	// unexpired lease; otherwise cairn.ErrLeaseLost and nothing changes.
	StartAttempt(ctx context.Context, l cairn.Lease, now time.Time) error
	// Heartbeat extends a live lease to now+ttl. cairn.ErrLeaseLost if the
	// lease expired, was superseded or its task left leased/running.
	Heartbeat(ctx context.Context, l cairn.Lease, now time.Time, ttl time.Duration) (cairn.HeartbeatReply, error)
	// HeartbeatMany is Heartbeat for many leases in one transaction, in a
	// few statements whatever their number (a worker renews all of its
	// leases at once). It returns one result per lease, in the order of
	// leases: the reply of a renewed lease, or an error wrapping
	// cairn.ErrLeaseLost for a lease Heartbeat would refuse; the others
	// are renewed all the same. Its own error (the store failed) means
	// none was. An empty call writes nothing.
	HeartbeatMany(ctx context.Context, leases []cairn.Lease, now time.Time, ttl time.Duration) ([]cairn.HeartbeatResult, error)
	// Complete records how the leased attempt ended and moves the task run
	// to c.State, and records an evaluation of the run (EvalCompleted, or
	// EvalRetry due at c.RetryAt for a retry that waits), as a compare-and-set on (run, task, attempt, token,
	// state leased or running) and an unexpired lease. Otherwise it returns
	// cairn.ErrLeaseLost and changes nothing. It returns the task run as
	// stored afterwards. With c.Interrupted (c.State retrying or failed)
	// the attempt's state is cairn.AttemptInterrupted and the task run's
	// Interrupted and InterruptedInARow go up by one; any other completion
	// sets InterruptedInARow to 0. Lease hands both counts out with the
	// work item.
	Complete(ctx context.Context, l cairn.Lease, c cairn.Completion, now time.Time) (*cairn.TaskRun, error)
	// CompleteMany is Complete for many completions in one transaction,
	// as set-based writes (a few statements whatever their number). It
	// returns, in the order of fs, each task run as stored, or the error
	// that refused that completion alone (cairn.ErrLeaseLost; the others
	// are recorded all the same); its own error (the store failed) means
	// none was. Of two completions of one task, the first decides.
	CompleteMany(ctx context.Context, fs []Finish, now time.Time) ([]*cairn.TaskRun, []error, error)
	// Expire ends a lease that its holder can no longer complete: one that
	// has expired by now, or any live one of run runID's when force is set
	// (the run's previous owner is known dead). The attempt and task run
	// move to c.State as in Complete, and an evaluation is recorded:
	// EvalExpired, or as in Complete EvalRetry due at c.RetryAt for a
	// retry that waits. cairn.ErrLeaseLost if the lease was
	// completed meanwhile or (without force) is not yet expired.
	Expire(ctx context.Context, l cairn.Lease, c cairn.Completion, now time.Time, force bool) (*cairn.TaskRun, error)
	// GiveBack puts leased or running task runs whose attempts never
	// began back in the queue (a worker leased them ahead of a free slot
	// and gives them back unrun): each whose lease l still holds — a
	// compare-and-set on (run, task, attempt, token, state leased or
	// running), expired or not — becomes ready again as it was before
	// its lease: its attempt count one lower, no lease, no attempt row,
	// no interruption counted, its first start unset if this was its
	// first attempt, at the end of the lease queue. It returns, in the
	// order of leases, each task run as stored afterwards, or nil for a
	// lease no longer held (which changes nothing). One transaction.
	GiveBack(ctx context.Context, leases []cairn.Lease, now time.Time) ([]*cairn.TaskRun, error)
	// ExpiredLeases lists leases whose expiry is before now, optionally
	// only those of run runID ("" for all runs), at most limit.
	ExpiredLeases(ctx context.Context, runID string, now time.Time, limit int) ([]cairn.Lease, error)
	// ActiveLeases lists the leases of run runID's leased or running tasks.
	ActiveLeases(ctx context.Context, runID string) ([]cairn.Lease, error)
}

// WorkerStore is the writes of the registrations of remote workers (the
// workers table): what the server's worker API records of each
// `cairn worker` (package remote). A worker is live while its state is
// active or draining and its expiry has not passed; every call it makes
// moves its expiry on (TouchWorker), and once the expiry passed it is
// marked lost (LoseWorkers), its leases ended by the broker
// (Broker.LoseWorkers). A worker acts only under the token it registered
// with: every call names both.
type WorkerStore interface {
	// RegisterWorker stores w as a new, active worker: its ID (issued by
	// the caller), Name, Host, TokenID, Version, Protocol, Labels, Queues
	// and Concurrency as given, registered and seen at now, live until
	// now+ttl. It returns the worker as stored. An ID already stored
	// wraps cairn.ErrConflict.
	RegisterWorker(ctx context.Context, w cairn.Worker, now time.Time, ttl time.Duration) (cairn.Worker, error)
	// TouchWorker records a call from worker id, made with token tokenID,
	// at now: the worker stays live until now+ttl. It returns the worker
	// as stored. Only a live worker is touched: errors wrap
	// cairn.ErrNotFound when no worker id registered with tokenID (an
	// unknown id and another token's worker are one answer), and
	// cairn.ErrWorkerLost when it is lost, stopped or expired by now;
	// either way nothing changes.
	TouchWorker(ctx context.Context, id, tokenID string, now time.Time, ttl time.Duration) (cairn.Worker, error)
	// SetWorkerState moves live worker id (registered with tokenID) to
	// state to — draining (it leases nothing more) or stopped (it
	// deregistered) — and touches it as TouchWorker does. Errors as
	// TouchWorker's; a state other than those two is refused.
	SetWorkerState(ctx context.Context, id, tokenID string, to cairn.WorkerState, now time.Time, ttl time.Duration) (cairn.Worker, error)
	// LoseWorkers marks lost every active or draining worker whose expiry
	// passed by now, at most limit (100 if limit <= 0) of them, soonest
	// expired first, and returns them as marked (State lost; SeenAt says
	// when each last called). Each is returned by exactly one call,
	// whatever the number of processes calling it on one database.
	LoseWorkers(ctx context.Context, now time.Time, limit int) ([]cairn.Worker, error)
	// Worker returns worker id as stored; cairn.ErrNotFound if there is
	// none (the holder of a lease may be a process's own pool, which is
	// not registered).
	Worker(ctx context.Context, id string) (cairn.Worker, error)
	// WorkerLeases lists the leases held by worker (the task runs leased
	// or running under a lease whose Worker is worker), soonest expiring
	// first.
	WorkerLeases(ctx context.Context, worker string) ([]cairn.Lease, error)
}

// Finish is one completion for CompleteMany: how the attempt of lease
// Lease ended.
type Finish struct {
	Lease      cairn.Lease
	Completion cairn.Completion
	// Known, if set, is the task run leased under Lease as its caller
	// knows it: a copy of the row as stored at its Version (the run's
	// snapshot holds one of each task its plan handed out). A store may
	// then write the completion as a compare-and-set on that version and
	// return the task run built from Known and the completion, the row
	// as stored, without reading it back; when the version moved it
	// reads the row as it would without Known. Known is not changed.
	Known *cairn.TaskRun
}

// RunClaim is who holds a run, as Unowned and Owned list them.
type RunClaim struct {
	ID             string
	Workflow       string
	State          cairn.RunState
	MaxActiveRuns  int
	Owner          string
	OwnerExpiresAt time.Time
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
	// Expand records for_each tasks' items (applied after Tasks).
	Expand []Expansion
	// WakeAt is the earliest time the run needs planning again without an
	// event (a retry's backoff ending); zero for none.
	WakeAt time.Time
}

// Empty reports whether the plan changes nothing.
func (p *Plan) Empty() bool { return p.Run == nil && len(p.Tasks) == 0 && len(p.Expand) == 0 }

// Expansion records the items of a for_each task (docs/workflows.md,
// Fan-out) in the plan's transaction: the task, still pending, is marked
// expanded with len(Items) items (a compare-and-set on its version, state
// pending and not yet expanded; otherwise the plan conflicts), and one
// pending task run per item is created — task id cairn.ItemID(TaskID, i),
// its Item Items[i], the task's type, retry policy, timeout, cache,
// labels and queue — after every task run of the run. Recording them
// with the decision means a resumed or reproduced run sees the same
// items, however its for_each would resolve later.
type Expansion struct {
	TaskID      string
	FromVersion int64
	Items       []json.RawMessage
	NewVersion  int64 // the task's, set by ApplyPlan
}

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
	// Lease, with To ready, hands the task straight to a worker in the
	// same write: the task is stored leased (running, with Start) under
	// this lease — its Attempt the task's next, a fresh Token, Worker and
	// ExpiresAt — with its attempt opened, as Lease would have done, and
	// never waits in the lease queue. The completer sets it for a task
	// its plan made ready when a worker that just reported asked for more
	// and nothing else is ready for that worker.
	Lease *cairn.Lease
	Start bool // with Lease: running at once (LeaseRequest.Start)
	// FanIn, with From pending and To succeeded, ends an expanded
	// for_each task whose items all ended (Expansion): the one change
	// from pending to succeeded, which the store makes only of a task
	// that expanded.
	FanIn bool
}

// Allowed reports whether the state machine allows c: a transition of
// cairn.TaskState.CanTransition, or a for_each task's end (FanIn).
func (c *TaskChange) Allowed() bool {
	return c.From.CanTransition(c.To) || c.FanIn && c.From == cairn.TaskPending && c.To == cairn.TaskSucceeded
}
