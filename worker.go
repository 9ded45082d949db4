package cairn

import (
	"errors"
	"time"
)

// WorkerState is where a registered worker stands (the workers table).
type WorkerState string

const (
	// WorkerActive leases and runs tasks.
	WorkerActive WorkerState = "active"
	// WorkerDraining finishes what it runs and leases nothing more
	// (SIGTERM): its leases are handed back at its drain deadline.
	WorkerDraining WorkerState = "draining"
	// WorkerStopped deregistered itself after draining.
	WorkerStopped WorkerState = "stopped"
	// WorkerLost stopped calling the server for longer than the lease
	// TTL: its leases were ended as interrupted and its tasks run again
	// elsewhere; anything it sends later is refused.
	WorkerLost WorkerState = "lost"
)

// ErrWorkerLost: the worker is no longer registered as live — it was
// lost (it stopped calling for longer than the lease TTL), it
// deregistered, or its registration expired. Whatever it sends is
// refused; it must register again, under a new id.
var ErrWorkerLost = errors.New("worker lost")

// WorkerProtocol is the version of the worker API this build speaks. A
// worker and a server of different versions refuse each other, each
// saying which versions it speaks.
const WorkerProtocol = 1

// Worker is a process that leases tasks from a server: a remote
// `cairn worker`, registered through the worker API. Its ID, issued by the
// server at registration, is what its leases carry (Lease.Worker).
type Worker struct {
	ID      string
	Name    string // what it calls itself (--name, or its host name)
	Host    string
	TokenID string // the worker token it registered with
	Version string // its cairn version
	// Protocol is the worker API version it speaks (WorkerProtocol).
	Protocol int
	Labels   map[string]string // what it offers; a task's labels must all be among them
	Queues   []string          // the queues it takes tasks from; empty: the default queue only
	// Types are the task types it can run (built in and from its
	// plugins), sorted; nil: it did not say (a worker of an earlier
	// version), and it is handed any type, giving back what it lacks.
	Types       []string
	Concurrency int // attempts it runs at once
	State       WorkerState
	// RegisteredAt is when it registered; SeenAt its last call (lease,
	// heartbeat, completion); ExpiresAt when it is lost unless it calls
	// again (SeenAt plus the lease TTL).
	RegisteredAt time.Time
	SeenAt       time.Time
	ExpiresAt    time.Time
	// Running is how many leases it holds now (filled by reads).
	Running int
}

// Live reports whether w can still lease, heartbeat and complete at now.
func (w Worker) Live(now time.Time) bool {
	return (w.State == WorkerActive || w.State == WorkerDraining) && now.Before(w.ExpiresAt)
}
