package runjson

import (
	"encoding/json"
	"time"

	"github.com/cairnml/cairn"
)

// WorkerList is the registered workers as `cairn workers --json` prints
// them and GET /api/v1/workers answers: `{"workers": [...]}`, the live
// ones first.
type WorkerList struct {
	Workers []Worker `json:"workers"`
}

// Worker is one registered worker.
type Worker struct {
	ID      string
	Name    string
	Host    string
	Version string
	Labels  map[string]string
	Queues  []string // as written: "default" for the default queue
	// Types are the task types it can run, sorted; nil: it did not say
	// (any type; a server's own pool runs every type it parses).
	Types       []string
	Concurrency int
	State       cairn.WorkerState
	// Live: active or draining, and its last call within the lease TTL.
	Live bool
	// Running is how many leases it holds.
	Running      int
	RegisteredAt time.Time `json:"registered_at"`
	SeenAt       time.Time `json:"last_seen_at"`
	ExpiresAt    time.Time `json:"expires_at"`
}

// MarshalJSON writes the stable shape: labels null for none, queues
// ["default"] for the default queue only.
func (j Worker) MarshalJSON() ([]byte, error) {
	type wire struct {
		ID           string            `json:"id"`
		Name         string            `json:"name"`
		Host         string            `json:"host"`
		Version      *string           `json:"version"`
		Labels       map[string]string `json:"labels"`
		Queues       []string          `json:"queues"`
		Types        []string          `json:"types"`
		Concurrency  int               `json:"concurrency"`
		State        cairn.WorkerState `json:"state"`
		Live         bool              `json:"live"`
		Running      int               `json:"running"`
		RegisteredAt *time.Time        `json:"registered_at"`
		SeenAt       *time.Time        `json:"last_seen_at"`
		ExpiresAt    *time.Time        `json:"expires_at"`
	}
	w := wire{ID: j.ID, Name: j.Name, Host: j.Host, Version: strPtr(j.Version), Labels: j.Labels, Queues: j.Queues, Types: j.Types,
		Concurrency: j.Concurrency, State: j.State, Live: j.Live, Running: j.Running, RegisteredAt: Time(j.RegisteredAt),
		SeenAt: Time(j.SeenAt), ExpiresAt: Time(j.ExpiresAt)}
	if len(w.Labels) == 0 {
		w.Labels = nil
	}
	if len(w.Queues) == 0 {
		w.Queues = []string{cairn.DefaultQueue}
	}
	return json.Marshal(w)
}

// FromWorker is worker w's shape, live or not at now.
func FromWorker(w cairn.Worker, now time.Time) Worker {
	qs := make([]string, len(w.Queues))
	for i, q := range w.Queues {
		qs[i] = cairn.QueueName(q)
	}
	return Worker{ID: w.ID, Name: w.Name, Host: w.Host, Version: w.Version, Labels: w.Labels, Queues: qs, Types: w.Types,
		Concurrency: w.Concurrency, State: w.State, Live: w.Live(now), Running: w.Running, RegisteredAt: w.RegisteredAt,
		SeenAt: w.SeenAt, ExpiresAt: w.ExpiresAt}
}

// ToWorker is the worker j describes (its queues in their stored form).
func (j Worker) ToWorker() cairn.Worker {
	qs := make([]string, len(j.Queues))
	for i, q := range j.Queues {
		qs[i] = cairn.StoredQueue(q)
	}
	if len(qs) == 1 && qs[0] == "" {
		qs = nil
	}
	return cairn.Worker{ID: j.ID, Name: j.Name, Host: j.Host, Version: j.Version, Labels: j.Labels, Queues: qs, Types: j.Types,
		Concurrency: j.Concurrency, State: j.State, Running: j.Running, RegisteredAt: j.RegisteredAt, SeenAt: j.SeenAt,
		ExpiresAt: j.ExpiresAt}
}
