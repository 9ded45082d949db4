package cairn

import "fmt"

// RunState is the state of a whole DAG run.
type RunState string

// Run states. Succeeded, failed and cancelled are terminal.
const (
	RunQueued    RunState = "queued"
	RunRunning   RunState = "running"
	RunSucceeded RunState = "succeeded"
	RunFailed    RunState = "failed"
	RunCancelled RunState = "cancelled"
)

// RunStates lists every run state in lifecycle order.
var RunStates = []RunState{RunQueued, RunRunning, RunSucceeded, RunFailed, RunCancelled}

// Terminal reports whether s can never change again.
func (s RunState) Terminal() bool {
	return s == RunSucceeded || s == RunFailed || s == RunCancelled
}

// Valid reports whether s is a known run state.
func (s RunState) Valid() bool {
	for _, v := range RunStates {
		if v == s {
			return true
		}
	}
	return false
}

// runTransitions is the run state machine; docs/state-machine.md draws it.
var runTransitions = map[RunState][]RunState{
	RunQueued:  {RunRunning, RunCancelled, RunFailed},
	RunRunning: {RunSucceeded, RunFailed, RunCancelled},
}

// CanTransition reports whether a run may move from s to to.
func (s RunState) CanTransition(to RunState) bool {
	for _, t := range runTransitions[s] {
		if t == to {
			return true
		}
	}
	return false
}

// CanRetry reports whether a finished run in s may be retried by hand
// (cairn retry, the API): failed or cancelled. A retry is the one way out
// of a terminal state, and not a transition of CanTransition: the planner
// never makes it. Store.RetryRun does, in one transaction, while no
// scheduler plans the run (docs/state-machine.md, Retry).
func (s RunState) CanRetry() bool { return s == RunFailed || s == RunCancelled }

// TaskState is the state of one task within a run (a TaskRun).
type TaskState string

// Task run states. Succeeded, failed, skipped, upstream_failed and cancelled
// are terminal.
const (
	TaskPending        TaskState = "pending"         // waiting for upstreams
	TaskReady          TaskState = "ready"           // may be leased by a worker
	TaskLeased         TaskState = "leased"          // claimed by a worker, not started
	TaskRunning        TaskState = "running"         // a worker is executing an attempt
	TaskSucceeded      TaskState = "succeeded"       // an attempt succeeded
	TaskFailed         TaskState = "failed"          // the last allowed attempt failed, or its references could not be resolved
	TaskRetrying       TaskState = "retrying"        // an attempt failed; waits for its backoff
	TaskSkipped        TaskState = "skipped"         // when: was false, or an upstream was skipped
	TaskUpstreamFailed TaskState = "upstream_failed" // an upstream failed or was cancelled
	TaskCancelled      TaskState = "cancelled"       // the run was cancelled first
)

// AttemptInterrupted is the state of an attempt — never of a task run —
// that ended because the process running it stopped (kill -9, out of
// memory, a full disk, a lost worker whose lease expired), not by its
// task's doing. Its task is retried at once, without charge to its
// retries, until RetryPolicy.InterruptionLimit interruptions in a row fail
// it.
const AttemptInterrupted TaskState = "interrupted"

// TaskStates lists every task state in lifecycle order.
var TaskStates = []TaskState{
	TaskPending, TaskReady, TaskLeased, TaskRunning, TaskRetrying,
	TaskSucceeded, TaskFailed, TaskSkipped, TaskUpstreamFailed, TaskCancelled,
}

// Terminal reports whether s can never change again.
func (s TaskState) Terminal() bool {
	switch s {
	case TaskSucceeded, TaskFailed, TaskSkipped, TaskUpstreamFailed, TaskCancelled:
		return true
	}
	return false
}

// Active reports whether a worker holds (or may hold) a lease on a task in s.
func (s TaskState) Active() bool { return s == TaskLeased || s == TaskRunning }

// Valid reports whether s is a known task state.
func (s TaskState) Valid() bool {
	for _, v := range TaskStates {
		if v == s {
			return true
		}
	}
	return false
}

var taskTransitions = map[TaskState][]TaskState{
	TaskPending:  {TaskReady, TaskSkipped, TaskUpstreamFailed, TaskFailed, TaskCancelled},
	TaskReady:    {TaskLeased, TaskFailed, TaskCancelled}, // failed: Lease found its stored params or inputs undecodable
	TaskLeased:   {TaskRunning, TaskSucceeded, TaskFailed, TaskRetrying, TaskCancelled},
	TaskRunning:  {TaskSucceeded, TaskFailed, TaskRetrying, TaskCancelled},
	TaskRetrying: {TaskReady, TaskCancelled},
}

// CanTransition reports whether a task run may move from s to to.
func (s TaskState) CanTransition(to TaskState) bool {
	for _, t := range taskTransitions[s] {
		if t == to {
			return true
		}
	}
	return false
}

// CanRetry reports whether a task in s goes back to pending when its
// finished run is retried: it failed, an upstream of it did, or it was
// cancelled. Succeeded and skipped tasks keep their state (and outputs).
func (s TaskState) CanRetry() bool {
	return s == TaskFailed || s == TaskUpstreamFailed || s == TaskCancelled
}

// ParseTaskState parses a task state name.
func ParseTaskState(s string) (TaskState, error) {
	if t := TaskState(s); t.Valid() {
		return t, nil
	}
	return "", fmt.Errorf("unknown task state %q", s)
}

// ParseRunState parses a run state name.
func ParseRunState(s string) (RunState, error) {
	if r := RunState(s); r.Valid() {
		return r, nil
	}
	return "", fmt.Errorf("unknown run state %q (want one of queued, running, succeeded, failed, cancelled)", s)
}
