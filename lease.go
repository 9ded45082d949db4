package cairn

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"time"
)

// Lease is a worker's exclusive, expiring claim on one attempt of a task run.
// Every lease carries a fresh random token; heartbeats and the completion
// must present it, and are refused once the lease expired or was superseded.
type Lease struct {
	RunID     string
	TaskID    string
	Attempt   int
	Token     string
	Worker    string
	ExpiresAt time.Time
	// PastDue is set by the store's ExpiredLeases on a lease that expired
	// after its running attempt was due (its timeout and TimeoutGrace
	// over, on the store's clock): the attempt ran over its time, and is
	// ended as timed out rather than as its worker's loss.
	PastDue bool
}

// TimeoutGrace is how long past its timeout a running attempt may go on
// before the server ends it, whatever its worker says: the executor's
// default stop grace, the time a worker gives a task to return once told
// to stop. A heartbeat for an attempt older than its timeout, this grace
// and the lease TTL (slack for the clocks) is refused, and the leader's
// reaper ends the attempt as timed out, as a worker's pool would have.
const TimeoutGrace = 10 * time.Second

// NewToken returns a fresh random lease token (128 bits, hex).
func NewToken() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("cairn: crypto/rand failed: " + err.Error())
	}
	return hex.EncodeToString(b[:])
}

// GrantedAt is the time a lease asked for at now (read when the caller
// asked, the clock's reading at asked) is granted, once the write lock is
// held: now plus the wait for the lock when now is the real clock (within
// a second of asked), so that another process's completion that committed
// meanwhile ended before the lease began, and a pool's slot is recorded
// held from after its last holder let it go; now itself on a test's clock.
func GrantedAt(now, asked time.Time) time.Time {
	if now.Sub(asked).Abs() < time.Second {
		return now.Add(time.Since(asked))
	}
	return now
}

// LeaseRequest asks the lease API for work.
type LeaseRequest struct {
	Worker string
	RunID  string // only this run's tasks; "" for any run
	// Owner, if set, restricts the lease to the tasks of runs whose
	// claim Owner holds: a scheduler service's pool runs only the runs
	// that service plans.
	Owner string
	Max   int // at most this many work items
	// Start moves the claimed tasks on to running in the same
	// transaction, for a worker that begins each attempt at once (the
	// in-process pool). A remote worker leaves it false and calls Start
	// when the attempt's inputs are in place.
	Start bool
	// Wait bounds how long the broker waits for work when none is ready;
	// stores ignore it.
	Wait time.Duration
	// Labels are what the worker offers: a task is handed out only if
	// every label it requires (TaskRun.Labels) is among them with the
	// same value. Queues are the queues the worker takes tasks from, as
	// stored ("" the default queue), sorted; none: the default queue only.
	// See Serves.
	Labels map[string]string
	Queues []string
	// Types, if not nil, are the task types the worker can run: a task
	// of another type is not handed to it (HasType). Nil: any type.
	Types []string
	// AnyTask takes any task whatever its labels and queue (Labels and
	// Queues unused): the foreground `cairn run`, which runs every task
	// of its own run in its process.
	AnyTask bool
	// Also leases, in the same claim, for more workers asking alike (the
	// same RunID, Owner, Start and route): after Worker's Max, each of
	// Also up to its own Max, in order, the tasks ready first going to
	// Worker; every item's Lease.Worker names its holder. The workers
	// reporting in one commit take one lease (the scheduler's completer)
	// rather than one each.
	Also []LeaseShare
}

// LeaseShare is another worker's part of a lease (LeaseRequest.Also).
type LeaseShare struct {
	Worker string
	Max    int
}

// Total is how many items r asks for: Max and every share's.
func (r LeaseRequest) Total() int {
	n := max(r.Max, 0)
	for _, a := range r.Also {
		n += max(a.Max, 0)
	}
	return n
}

// Holders returns, for a lease of r that took n items in queue order,
// the worker each is for: Worker's Max first, then each share's.
func (r LeaseRequest) Holders(n int) []string {
	out := make([]string, 0, n)
	for i := 0; i < max(r.Max, 0) && len(out) < n; i++ {
		out = append(out, r.Worker)
	}
	for _, a := range r.Also {
		for i := 0; i < a.Max && len(out) < n; i++ {
			out = append(out, a.Worker)
		}
	}
	return out
}

// WorkItem is what a worker receives with a lease: everything it needs to
// run the attempt, as plain data that can cross a process boundary.
type WorkItem struct {
	Lease   Lease
	Type    string
	Params  json.RawMessage
	Inputs  map[string]ArtifactRef
	Timeout time.Duration
	Retry   RetryPolicy
	// Interrupted and InterruptedInARow are the task's counts of
	// interrupted attempts before this one (TaskRun.Interrupted,
	// TaskRun.InterruptedInARow): the broker needs them to decide, with
	// Retry, what follows this attempt.
	Interrupted       int
	InterruptedInARow int
	// FailedBefore is the task's failed attempts of earlier rounds
	// (TaskRun.FailedBefore): a task retried by hand has its retries
	// again, counted from there.
	FailedBefore int
	// Started is true when the lease was started as it was claimed
	// (LeaseRequest.Start): the task is running already.
	Started bool
	// Pool is the task's pool (TaskRun.Pool), "" for none, and the
	// slots it takes in it (TaskRun.PoolSlots): when the attempt ends
	// they free, and the broker wakes as many workers waiting.
	Pool      string
	PoolSlots int
	// Cache says the attempt may reuse an earlier success with the same
	// cache key (TaskRun.Cache) and record its own key for later ones.
	Cache bool
}

// LeasesOf returns the leases of items, in order.
func LeasesOf(items []WorkItem) []Lease {
	leases := make([]Lease, len(items))
	for i, it := range items {
		leases[i] = it.Lease
	}
	return leases
}

// Completion is a worker's report of how an attempt ended.
type Completion struct {
	// State is the task's next state: succeeded, failed, retrying or
	// cancelled. The broker sets it from the attempt's error and the
	// task's retry policy; workers report Err.
	State    TaskState
	RetryAt  time.Time // with State retrying
	Outputs  map[string]json.RawMessage
	Metrics  map[string]float64
	Error    string
	Stack    string
	ExitCode *int
	// Retryable records whether the attempt's error allowed a retry.
	Retryable bool
	// Requeue says the attempt did not fail, its worker could not run it
	// (a full disk): the broker records it Interrupted, so the task is
	// retried at once without spending its retries (within its
	// max_interruptions). Workers cannot set Interrupted themselves.
	Requeue bool
	// Interrupted records that the attempt ended because the process
	// running it stopped, not by its task's doing: the attempt is stored
	// as AttemptInterrupted and does not count against the task's
	// retries. Only the broker sets it, when it ends a lease whose holder
	// is gone; a worker's report never does.
	Interrupted bool
	FinishedAt  time.Time
	// Plugin names the plugin binary that ran the attempt; nil for a
	// built-in task type.
	Plugin *PluginRef
	// Version is the version of the implementation that ran the attempt:
	// Cairn's for a built-in type, "sha256:<hex>" of the binary for a
	// plugin's.
	Version string
	// CacheKey is the attempt's cache key (CacheKey), set when the
	// attempt may be cached (WorkItem.Cache).
	CacheKey string
	// CacheSource is the digest of the data the task read from outside
	// (tasks.SourceDigester) that its CacheKey holds (SourceCacheKey),
	// "" for none: a server derives the key itself from what it leased
	// and this, never taking the worker's key as sent.
	CacheSource string
	// CachedFrom names the earlier attempt whose outputs this one reused
	// instead of running; zero when it ran.
	CachedFrom AttemptRef
	// Effects are the changes the task asks the store to make with its
	// success (a deploy's registration); applied only when State is
	// succeeded.
	Effects []Effect
	// ReadInputs are the artifacts a successful attempt read beyond its
	// task run's inputs, by port (tasks.Result.Inputs): recorded as "in"
	// lineage edges like its inputs. Only a success's are recorded.
	ReadInputs map[string]ArtifactRef
}

// HeartbeatReply is the answer to a heartbeat.
type HeartbeatReply struct {
	ExpiresAt time.Time
	// CancelRequested tells the worker to stop the attempt: its run is
	// being cancelled.
	CancelRequested bool
}

// HeartbeatResult is what a batched heartbeat (HeartbeatMany) says of one
// lease: Reply when it was renewed, or Err — wrapping ErrLeaseLost — when
// it expired, was superseded or its task is no longer leased or running.
type HeartbeatResult struct {
	Reply HeartbeatReply
	Err   error
}
