package cairn

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Pools and priorities: a pool is a named number of slots shared by every
// run on one database (a GPU, a licence, a warehouse's connections). A
// task that names a pool (`pool: gpu`, `pool_slots: 2`) is leased only
// while the slots its pool's leased and running tasks hold, plus its own,
// fit in the pool's size; otherwise it waits in ready. The store counts
// the holders in the transaction that grants the lease (SQLite: the one
// writer; PostgreSQL: the pool's row locked FOR UPDATE), so that no two
// processes grant the last slot twice.
//
// A pool is declared by a server (`cairn server --pool gpu=1`, source
// PoolServer) or by a workflow (`pools: {gpu: 1}`, source PoolWorkflow,
// declared when one of its runs is created). A server's declaration wins:
// a workflow's size for a pool a server declared is not used. Between
// workflows, the run created last sets the size.
//
// The lease queue is ordered by QueueKey: a task's priority rises by one
// for every PriorityAging it has been ready, so that equal priorities go
// first come, first served and a low-priority task is not passed over
// forever by a stream of higher ones.

// Pool sources (PoolState.Source).
const (
	PoolServer   = "server"
	PoolWorkflow = "workflow"
)

// MaxPoolSize is the largest size of a pool and the most slots a task may
// take of one.
const MaxPoolSize = 1_000_000

// MaxPriority bounds a task's priority both ways (-MaxPriority to
// MaxPriority).
const MaxPriority = 10_000

// PriorityAging is how long a ready task waits for its priority to count
// one higher in the lease queue (QueueKey).
const PriorityAging = time.Minute

// PoolSyntax says in words what CheckPool accepts.
const PoolSyntax = "a pool's name is 1 to 63 letters, digits, '.', '_' or '-', beginning and ending with a letter or digit"

// CheckPool reports whether name is a valid pool name (PoolSyntax).
func CheckPool(name string) error {
	if err := checkName(name, false); err != nil {
		return fmt.Errorf("pool %q %w", name, err)
	}
	return nil
}

// CheckPoolSize reports whether size is a valid size of a pool: 1 to
// MaxPoolSize.
func CheckPoolSize(name string, size int) error {
	if size < 1 || size > MaxPoolSize {
		return fmt.Errorf("pool %s: size %d is not between 1 and %d", name, size, MaxPoolSize)
	}
	return nil
}

// CheckPools checks every pool's name and size.
func CheckPools(pools map[string]int) error {
	for _, name := range slices.Sorted(maps.Keys(pools)) {
		if err := CheckPool(name); err != nil {
			return err
		}
		if err := CheckPoolSize(name, pools[name]); err != nil {
			return err
		}
	}
	return nil
}

// CheckTaskPool checks what a task run says of pools and priority, as a
// store does before it writes them: a valid pool name with 1 to
// MaxPoolSize slots (0 reads as 1), or no pool and no slots beyond 1; a priority within
// MaxPriority.
func CheckTaskPool(pool string, slots, priority int) error {
	if priority < -MaxPriority || priority > MaxPriority {
		return fmt.Errorf("priority %d is not between %d and %d", priority, -MaxPriority, MaxPriority)
	}
	if pool == "" {
		if slots > 1 {
			return fmt.Errorf("pool_slots %d without a pool", slots)
		}
		return nil
	}
	if err := CheckPool(pool); err != nil {
		return err
	}
	if slots < 0 || slots > MaxPoolSize { // 0 reads as 1
		return fmt.Errorf("pool %s: pool_slots %d is not between 1 and %d", pool, slots, MaxPoolSize)
	}
	return nil
}

// ParsePool reads one pool written NAME=SIZE (a --pool flag).
func ParsePool(s string) (string, int, error) {
	name, v, ok := strings.Cut(strings.TrimSpace(s), "=")
	if !ok {
		return "", 0, fmt.Errorf("pool %q is not NAME=SIZE (e.g. gpu=1)", s)
	}
	if err := CheckPool(name); err != nil {
		return "", 0, fmt.Errorf("%w (%s)", err, PoolSyntax)
	}
	size, err := strconv.Atoi(v)
	if err != nil {
		return "", 0, fmt.Errorf("pool %s: size %q is not a whole number", name, v)
	}
	if err := CheckPoolSize(name, size); err != nil {
		return "", 0, err
	}
	return name, size, nil
}

// QueueKey is a ready task's place in the lease queue, smaller first: the
// time it became ready less PriorityAging per point of priority. Task A
// goes before task B when A's priority plus the minutes A has waited is
// more than B's: priority p ready at t counts as ready p minutes before t.
// Ties go by the order tasks became ready (the store's ready generation),
// then by run and position in the workflow.
func QueueKey(readyAt time.Time, priority int) int64 {
	return readyAt.UnixNano() - int64(priority)*int64(PriorityAging)
}

// PoolHolder is a task holding slots of a pool: leased or running, or
// cancelled while running and its process not yet known to be gone.
type PoolHolder struct {
	RunID  string
	TaskID string
	Slots  int
	// Cancelling says that the task was cancelled while running: its
	// slots stay held until its attempt's process is gone (its worker's
	// report of it, refused, comes in) or its lease would have expired
	// (its worker is lost).
	Cancelling bool
}

// PoolWaiter is a ready task that names a pool, in the lease queue.
type PoolWaiter struct {
	RunID    string
	TaskID   string
	Slots    int
	Priority int
	ReadyAt  time.Time
}

// MaxPoolQueue is how many of a pool's ready tasks a read of the pools
// returns (PoolState.Queue); PoolState.Waiting counts them all.
const MaxPoolQueue = 20

// PoolState is a pool as stored, with its holders and its queue now.
type PoolState struct {
	Name      string
	Size      int
	Source    string // PoolServer or PoolWorkflow
	UpdatedAt time.Time
	// Holders are the leased and running tasks that name the pool, and
	// those cancelled while running whose processes may still run
	// (Cancelling), by run and task.
	Holders []PoolHolder
	// Waiting counts the ready tasks that name the pool; Queue is the
	// first MaxPoolQueue of them in the lease queue's order (QueueKey,
	// then the order they became ready, run, position).
	Waiting int
	Queue   []PoolWaiter
}

// Used is the slots the pool's holders take.
func (p PoolState) Used() int {
	n := 0
	for _, h := range p.Holders {
		n += h.Slots
	}
	return n
}

// maxHoldersInLine bounds the holders WhyPool names.
const maxHoldersInLine = 3

// WhyPool says, in one line, why a ready task that takes slots of pool
// waits for it: "waiting for pool gpu: 1 of 1 in use by RUN/TASK". It is
// "" when the pool has room for it. pools is every pool the store knows,
// by name; a pool missing from it is not declared. orphaned, when not
// nil, says whether a holder's run is orphaned (no process drives it:
// its slot comes back only when its lease expires, or the run is
// resumed); it is asked of the holders named only, and such a holder is
// named "RUN/TASK (orphaned: cairn resume RUN)", as cairn pools names it.
func WhyPool(pool string, slots int, pools map[string]PoolState, orphaned func(runID string) bool) string {
	if pool == "" {
		return ""
	}
	slots = max(slots, 1)
	p, ok := pools[pool]
	if !ok {
		return fmt.Sprintf("waiting: pool %s is not declared (declare it in the workflow's pools: or with cairn server --pool %s=SIZE)", pool, pool)
	}
	if slots > p.Size {
		return fmt.Sprintf("waiting: needs %d slots of pool %s, which has %d (raise its size or lower pool_slots)", slots, pool, p.Size)
	}
	used := p.Used()
	if used+slots <= p.Size {
		return ""
	}
	var who []string
	for i, h := range p.Holders {
		if i == maxHoldersInLine {
			who = append(who, fmt.Sprintf("%d more", len(p.Holders)-i))
			break
		}
		s := h.RunID + "/" + h.TaskID
		if h.Slots > 1 {
			s += fmt.Sprintf(" (%d)", h.Slots)
		}
		if h.Cancelling {
			s += " (cancelling)"
		} else if orphaned != nil && orphaned(h.RunID) {
			s += " (orphaned: cairn resume " + h.RunID + ")"
		}
		who = append(who, s)
	}
	need := ""
	if slots > 1 {
		need = fmt.Sprintf(", needs %d", slots)
	}
	return fmt.Sprintf("waiting for pool %s: %d of %d in use by %s%s", pool, used, p.Size, strings.Join(who, ", "), need)
}

// PoolError refuses a run whose task names a pool that is not declared
// (neither by a server nor by the run's workflow), or takes more slots
// than the pool has. Nothing of the run is written.
type PoolError struct {
	Task string
	Pool string
	Msg  string
}

func (e *PoolError) Error() string { return "task " + e.Task + ": " + e.Msg }

// APIStatus makes it a 400 bad_input at the HTTP edge.
func (e *PoolError) APIStatus() (int, string) { return 400, "bad_input" }

// CheckRunPools checks that every pooled task of a new run finds its pool
// in pools (name → size, as the store will have them once the run's own
// are declared) with room for its slots.
func CheckRunPools(tasks []*TaskRun, pools map[string]int) error {
	for _, t := range tasks {
		if t.Pool == "" {
			continue
		}
		size, ok := pools[t.Pool]
		if !ok {
			return &PoolError{Task: t.TaskID, Pool: t.Pool, Msg: fmt.Sprintf(
				"pool %s is not declared: declare it in the workflow's pools: (e.g. pools: {%s: 1}) or start the server with --pool %s=SIZE",
				t.Pool, t.Pool, t.Pool)}
		}
		if slots := max(t.PoolSlots, 1); slots > size {
			return &PoolError{Task: t.TaskID, Pool: t.Pool, Msg: fmt.Sprintf(
				"pool_slots %d is more than pool %s has (%d): it could never be leased", slots, t.Pool, size)}
		}
	}
	return nil
}
