package cairn

import (
	"encoding/json"
	"time"
)

// Run is one execution of a workflow: a DAG of TaskRuns.
type Run struct {
	ID       string
	Workflow string // workflow name
	// Digest is the sha256 of the workflow's canonical form ("sha256:<hex>"):
	// two files that differ only in layout, comments or key order share it.
	Digest     string
	SourcePath string // the file the run was started from, as given
	Source     []byte // the exact bytes of that file
	Params     map[string]any
	State      RunState
	// MaxActive caps the task runs of this run that are ready, leased or
	// running at once; 0 means no per-run cap.
	MaxActive int
	// MaxActiveRuns caps the runs of this run's workflow that a scheduler
	// service (cairn server) keeps active at once, from the workflow's
	// top-level max_active_runs:; 0 means no per-workflow cap. A queued
	// run waits while its workflow has that many runs active.
	MaxActiveRuns   int
	CancelRequested bool
	Error           string
	// Trigger says what created the run; "" reads as TriggerManual.
	Trigger Trigger
	// ScheduledFor is the slot of a cron or backfill run (the instant its
	// schedule named); zero for a run started otherwise. A workflow has at
	// most one run per slot.
	ScheduledFor time.Time
	CreatedAt    time.Time
	StartedAt    time.Time // zero until running
	FinishedAt   time.Time // zero until terminal
	// Owner names the process driving the run ("host:pid:nonce") and
	// OwnerExpiresAt when its claim lapses unless renewed.
	Owner          string
	OwnerExpiresAt time.Time
	// ReproduceOf names the run this one reproduces (cairn reproduce):
	// its tasks use no cache and its effects are not applied.
	ReproduceOf string
	// Notify are the workflow's notify: targets, kept with the run (in
	// the store's run_notify) when it is created, so that the
	// transaction recording an event writes its alerts. GetRun does not
	// read them back.
	Notify []NotifyTarget
	// Pools are the workflow's pools: (name → size), declared in the
	// store when the run is created unless a server declared the same
	// name (see pools.go). GetRun does not read them back.
	Pools map[string]int
	// SubSources are the exact bytes of the sub-workflow files the
	// workflow uses (`uses:`), by path relative to its folder, kept with
	// the run when it is created (the store's run_sources) so that the
	// workflow is re-read as it started. GetRun does not read them back:
	// RunSources does.
	SubSources map[string][]byte
	Version    int64 // bumped on every change; compare-and-set key
}

// Trigger is what created a run.
type Trigger string

// Triggers.
const (
	TriggerManual   Trigger = "manual"   // cairn run on the home (foreground or --detach)
	TriggerAPI      Trigger = "api"      // through a server: its API, its web pages, cairn run --server, trigger
	TriggerCron     Trigger = "cron"     // a schedule's slot, fired by a server
	TriggerBackfill Trigger = "backfill" // a past slot, by cairn backfill
)

// Valid reports whether t is one of the triggers.
func (t Trigger) Valid() bool {
	switch t {
	case TriggerManual, TriggerAPI, TriggerCron, TriggerBackfill:
		return true
	}
	return false
}

// RetryPolicy says how often and how soon a failed task is tried again.
// The delay before attempt n+1 (n >= 1 failed attempts) is
// Backoff * Factor^(n-1), capped at MaxBackoff.
//
// An interrupted attempt (AttemptInterrupted: the process running it
// stopped) is not a failure: it is retried at once and does not count
// against Retries. MaxInterruptions bounds how many times in a row a task
// may be interrupted, so that a task that kills the process running it
// stops: the MaxInterruptions-th interruption in a row fails the task.
type RetryPolicy struct {
	Retries    int           // attempts after the first; 0 = no retry
	Backoff    time.Duration // delay before the first retry
	Factor     float64       // growth per retry; 0 or 1 = constant
	MaxBackoff time.Duration // cap; 0 = no cap
	// MaxInterruptions is how many interruptions in a row fail the task;
	// 0 means DefaultMaxInterruptions.
	MaxInterruptions int
}

// DefaultMaxInterruptions is RetryPolicy.MaxInterruptions when a workflow
// does not set max_interruptions.
const DefaultMaxInterruptions = 10

// MaxAttempts is the total number of failed or successful attempts the
// policy allows (interrupted attempts are not counted).
func (p RetryPolicy) MaxAttempts() int { return p.Retries + 1 }

// InterruptionLimit is the number of interruptions in a row that fails a
// task: MaxInterruptions, or DefaultMaxInterruptions if that is 0.
func (p RetryPolicy) InterruptionLimit() int {
	if p.MaxInterruptions > 0 {
		return p.MaxInterruptions
	}
	return DefaultMaxInterruptions
}

// Delay returns the wait before the attempt that follows failed attempt n (n >= 1).
func (p RetryPolicy) Delay(n int) time.Duration {
	if n < 1 || p.Backoff <= 0 {
		return 0
	}
	d := float64(p.Backoff)
	f := p.Factor
	if f < 1 {
		f = 1
	}
	for i := 1; i < n; i++ {
		d *= f
		if p.MaxBackoff > 0 && d >= float64(p.MaxBackoff) {
			return p.MaxBackoff
		}
		if d > float64(365*24*time.Hour) {
			d = float64(365 * 24 * time.Hour)
			break
		}
	}
	if p.MaxBackoff > 0 && time.Duration(d) > p.MaxBackoff {
		return p.MaxBackoff
	}
	return time.Duration(d)
}

// TaskRun is one task of one run.
type TaskRun struct {
	RunID   string
	TaskID  string
	Type    string // task type name, e.g. "shell"
	State   TaskState
	Attempt int // attempts started so far; the current one while leased or running
	// Interrupted counts the task's attempts that were interrupted
	// (AttemptInterrupted); they do not count against Retry.Retries.
	// InterruptedInARow counts those since the last attempt that ended
	// otherwise; Retry.InterruptionLimit of them fail the task.
	Interrupted       int
	InterruptedInARow int
	// Round counts the times the task was retried by hand (cairn retry,
	// the API): 0 until then. A retry starts a new round: the attempts go
	// on numbering, and the task has Retry.Retries again.
	Round int
	// FailedBefore is how many failed attempts the task had when its
	// round began (Attempt − Interrupted then): they are not counted
	// against this round's Retry.Retries.
	FailedBefore int
	Retry        RetryPolicy
	Timeout      time.Duration // per attempt; 0 = none
	// Cache says whether the task's attempts may reuse an earlier
	// success with the same cache key and be reused (decided when the
	// run is created: the workflow's cache:, the type's default,
	// cairn run --no-cache).
	Cache bool
	// Expanded is set on a for_each task once its list was resolved and
	// its Items item task runs created (ItemID(TaskID, 0) ...), in one
	// transaction; the task then ends when its items have. Item, on an
	// item, is its value (JSON), as ${{ item }} gives it. (Expanded sits
	// beside Cache: two bools in one word keep a TaskRun in the 448-byte
	// size class, not 480; a run of 100,000 tasks holds up to two of
	// each.)
	Expanded bool
	// Labels are what the task requires of the worker that runs it (its
	// `labels:`), nil for none; Queue the queue it waits in (`queue:`),
	// "" for the default one. See LeaseRequest.Takes.
	Labels map[string]string
	Queue  string
	// Pool is the pool the task takes slots of while leased or running
	// (`pool:`), "" for none; PoolSlots how many (`pool_slots:`; 0 reads
	// as 1, and is what a task without a pool reads back). See pools.go.
	Pool      string
	PoolSlots int
	// Priority orders the lease queue (`priority:`, 0 by default): higher
	// first, a task's priority rising by one for every PriorityAging it
	// has been ready. See QueueKey.
	Priority int
	// Params holds the task's `with:` block once its references are
	// resolved (set when it becomes ready); nil before.
	Params json.RawMessage
	// Inputs are the resolved `inputs:` references (set when ready).
	Inputs  map[string]ArtifactRef
	Outputs map[string]json.RawMessage // set when succeeded
	Metrics map[string]float64         // set when succeeded
	Error   string                     // last attempt's error, or why skipped
	RetryAt time.Time                  // while retrying: when it becomes ready
	// Lease fields are set while leased or running.
	LeaseToken     string
	LeaseWorker    string
	LeaseExpiresAt time.Time
	StartedAt      time.Time // first attempt's start
	FinishedAt     time.Time
	Version        int64
	Items          int
	Item           json.RawMessage
}

// Attempt is the record of one try of a TaskRun.
type Attempt struct {
	RunID  string
	TaskID string
	Number int // 1-based
	// State is the state the attempt left its task in (succeeded,
	// retrying, failed, cancelled), or AttemptInterrupted: the process
	// running it stopped before it ended.
	State      TaskState
	Worker     string
	StartedAt  time.Time // when leased
	RunningAt  time.Time // when the worker started executing
	FinishedAt time.Time
	Error      string
	Stack      string // set when the task panicked
	Retryable  bool
	ExitCode   *int // for tasks that run a process
	// Plugin is the plugin binary that ran the attempt (nil: a built-in
	// type, or an attempt that never completed).
	Plugin *PluginRef
	// Type is the task type that ran the attempt and Version its
	// implementation's version (Completion.Version); Params its resolved
	// params. Set once the attempt ended.
	Type    string
	Version string
	Params  json.RawMessage
	// CacheKey is set when the attempt could be cached; CachedFrom names
	// the attempt whose outputs it reused (zero when it ran).
	CacheKey   string
	CachedFrom AttemptRef
}

// Duration is how long a finished attempt took; 0 while it runs.
func (a Attempt) Duration() time.Duration {
	if a.FinishedAt.IsZero() {
		return 0
	}
	start := a.RunningAt
	if start.IsZero() {
		start = a.StartedAt
	}
	return a.FinishedAt.Sub(start)
}
