// Package scheduler is Cairn's brain: it decides what runs next and hands
// work out under leases.
//
//   - PlanRun is a pure function from a run's Snapshot (run, task runs, graph,
//     time) to a Plan: which task runs become ready, skipped,
//     upstream_failed or cancelled, which retries are due, and the run's
//     next state. It does no I/O and reads no clock.
//   - Store (store.go) is the durable state; ApplyPlan applies a Plan in
//     one transaction with compare-and-set on every row's version.
//   - Broker is the lease API workers use — in process now, over HTTP from
//     remote workers later: Lease (waiting for work without polling), Start,
//     Heartbeat, Complete and CompleteAndLease. It turns an attempt's error
//     into the task's next state under its retry policy, and publishes every
//     change as an Event.
//   - Driver drives one run to a terminal state: it plans, applies, and
//     sleeps until an event (a task finished) or a retry's backoff ends.
//     A completion is planned inside its own transaction when the driver is
//     free (runState.within), so that on a chain the completion, the
//     successor made ready and the worker's next lease commit together.
//     It owns the run through a renewable claim, so that a second process
//     cannot drive it at the same time, and on resume it fails the attempts
//     the previous owner left behind so that they retry under their policy.
//
// Correctness does not rest on the driver's in-memory snapshot being fresh:
// every planning decision that depends on another task reads a terminal
// state (which never changes), and every change to a task is a
// compare-and-set on its version, so a stale snapshot yields a conflict and
// a re-read, never a wrong transition.
package scheduler
