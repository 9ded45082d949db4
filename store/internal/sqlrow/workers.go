package sqlrow

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/cairnml/cairn"
)

// WorkerCols are the columns of a registered remote worker (migrations
// 0010 and 0025), in the order Worker takes them.
const WorkerCols = `id, name, host, token_id, version, protocol, labels, queues, concurrency, state, registered_at, seen_at, expires_at, types`

// Worker decodes a row of WorkerCols.
func Worker(sc Scanner) (cairn.Worker, error) {
	var (
		w                       cairn.Worker
		labels, queues, types   sql.NullString
		state                   string
		protocol, concurrency   int64
		registered, seen, until int64
	)
	if err := sc.Scan(&w.ID, &w.Name, &w.Host, &w.TokenID, &w.Version, &protocol, &labels, &queues, &concurrency,
		&state, &registered, &seen, &until, &types); err != nil {
		return cairn.Worker{}, err
	}
	w.Protocol, w.Concurrency, w.State = int(protocol), int(concurrency), cairn.WorkerState(state)
	w.RegisteredAt, w.SeenAt, w.ExpiresAt = time.Unix(0, registered).UTC(), time.Unix(0, seen).UTC(), time.Unix(0, until).UTC()
	if labels.Valid {
		if err := json.Unmarshal([]byte(labels.String), &w.Labels); err != nil {
			return cairn.Worker{}, fmt.Errorf("worker %s: labels: %w", w.ID, err)
		}
	}
	if queues.Valid {
		if err := json.Unmarshal([]byte(queues.String), &w.Queues); err != nil {
			return cairn.Worker{}, fmt.Errorf("worker %s: queues: %w", w.ID, err)
		}
	}
	if types.Valid {
		w.Types = []string{} // said, even if none
		if err := json.Unmarshal([]byte(types.String), &w.Types); err != nil {
			return cairn.Worker{}, fmt.Errorf("worker %s: types: %w", w.ID, err)
		}
	}
	return w, nil
}

// ListedWorker decodes a row of WorkerCols followed by the number of
// leases the worker holds (ListWorkers), its queues as written (the
// default one "default").
func ListedWorker(sc Scanner) (cairn.Worker, error) {
	var running int64
	w, err := Worker(ScanMore{sc, []any{&running}})
	if err != nil {
		return cairn.Worker{}, err
	}
	w.Running = int(running)
	for i, q := range w.Queues {
		w.Queues[i] = cairn.StoredQueue(q)
	}
	return w, nil
}

// ScanMore scans a row's first columns as its caller asks, then the rest
// into More.
type ScanMore struct {
	Sc   Scanner
	More []any
}

// Scan implements Scanner.
func (m ScanMore) Scan(dest ...any) error { return m.Sc.Scan(append(dest, m.More...)...) }

// NewWorker checks a registration (live for ttl) and returns the stored
// text of the worker's labels and queues, NULL (nil) when there are none,
// and of its types, NULL when it did not say them (nil Types).
func NewWorker(w cairn.Worker, ttl time.Duration) (labels, queues, types *string, err error) {
	if w.ID == "" || w.Protocol < 1 || w.Concurrency < 1 || ttl <= 0 {
		return nil, nil, nil, fmt.Errorf("register worker %q: incomplete (an id, a protocol, a concurrency of at least 1 and a positive ttl are needed)", w.ID)
	}
	if labels, err = JSONText(w.Labels, len(w.Labels) == 0); err != nil {
		return nil, nil, nil, fmt.Errorf("register worker %s: %w", w.ID, err)
	}
	if queues, err = JSONText(w.Queues, len(w.Queues) == 0); err != nil {
		return nil, nil, nil, fmt.Errorf("register worker %s: %w", w.ID, err)
	}
	if types, err = JSONText(w.Types, w.Types == nil); err != nil {
		return nil, nil, nil, fmt.Errorf("register worker %s: %w", w.ID, err)
	}
	return labels, queues, types, nil
}

// TouchWorker is a store's TouchWorker around touch, its statement that
// moves live worker id's expiry on (a refusal says why: WorkerRefusal).
func TouchWorker(id string, touch func() (cairn.Worker, error)) (cairn.Worker, error) {
	w, err := touch()
	if err != nil {
		return cairn.Worker{}, fmt.Errorf("worker %s: %w", id, err)
	}
	return w, nil
}

// SetWorkerState is a store's SetWorkerState around touch, its statement
// that moves live worker id's expiry on and its state to to: draining or
// stopped, the only states a worker moves itself to.
func SetWorkerState(id string, to cairn.WorkerState, touch func() (cairn.Worker, error)) (cairn.Worker, error) {
	if to != cairn.WorkerDraining && to != cairn.WorkerStopped {
		return cairn.Worker{}, fmt.Errorf("worker %s: a worker itself moves only to draining or stopped, not %q", id, to)
	}
	w, err := touch()
	if err != nil {
		return cairn.Worker{}, fmt.Errorf("worker %s: %s: %w", id, to, err)
	}
	return w, nil
}

// NoWorker is the refusal of a call from a worker id that is not
// registered with the token presented.
func NoWorker() error {
	return fmt.Errorf("no such worker registered with this token: %w", cairn.ErrNotFound)
}

// WorkerRefusal says why worker w, as stored, refuses a call made with
// token tokenID (after its expiry, if it is still active or draining).
func WorkerRefusal(w cairn.Worker, tokenID string) error {
	switch {
	case w.TokenID != tokenID:
		return NoWorker()
	case w.State == cairn.WorkerLost || w.State == cairn.WorkerStopped:
		return fmt.Errorf("it is %s (last call %s): register again: %w", w.State, w.SeenAt.UTC().Format(time.RFC3339), cairn.ErrWorkerLost)
	default:
		return fmt.Errorf("no call since %s, past the lease TTL (it expired %s): register again: %w",
			w.SeenAt.UTC().Format(time.RFC3339), w.ExpiresAt.UTC().Format(time.RFC3339), cairn.ErrWorkerLost)
	}
}
