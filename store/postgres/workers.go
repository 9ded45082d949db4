package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/store/internal/sqlrow"
)

// The registrations of remote workers (migrations/postgres/0010), written
// by the servers' worker API through scheduler.WorkerStore; expiries are
// judged by the database's clock, as leases are.

const workerCols = `id, name, host, token_id, version, protocol, labels, queues, concurrency, state, registered_at, seen_at, expires_at`

func scanWorker(sc pgx.Row) (cairn.Worker, error) {
	var (
		w                       cairn.Worker
		labels, queues          *string
		state                   string
		protocol, concurrency   int64
		registered, seen, until int64
	)
	if err := sc.Scan(&w.ID, &w.Name, &w.Host, &w.TokenID, &w.Version, &protocol, &labels, &queues, &concurrency,
		&state, &registered, &seen, &until); err != nil {
		return cairn.Worker{}, err
	}
	w.Protocol, w.Concurrency, w.State = int(protocol), int(concurrency), cairn.WorkerState(state)
	w.RegisteredAt, w.SeenAt, w.ExpiresAt = time.Unix(0, registered).UTC(), time.Unix(0, seen).UTC(), time.Unix(0, until).UTC()
	if labels != nil {
		if err := json.Unmarshal([]byte(*labels), &w.Labels); err != nil {
			return cairn.Worker{}, fmt.Errorf("worker %s: labels: %w", w.ID, err)
		}
	}
	if queues != nil {
		if err := json.Unmarshal([]byte(*queues), &w.Queues); err != nil {
			return cairn.Worker{}, fmt.Errorf("worker %s: queues: %w", w.ID, err)
		}
	}
	return w, nil
}

// workerJSON is the stored text of a worker's labels and queues: NULL
// when there are none.
func workerJSON(w cairn.Worker) (labels, queues *string, err error) {
	if len(w.Labels) > 0 {
		b, err := json.Marshal(w.Labels)
		if err != nil {
			return nil, nil, err
		}
		s := string(b)
		labels = &s
	}
	if len(w.Queues) > 0 {
		b, err := json.Marshal(w.Queues)
		if err != nil {
			return nil, nil, err
		}
		s := string(b)
		queues = &s
	}
	return labels, queues, nil
}

// RegisterWorker stores w as a new active worker, live until now+ttl (the
// database's now).
func (s *Store) RegisterWorker(ctx context.Context, w cairn.Worker, now time.Time, ttl time.Duration) (cairn.Worker, error) {
	if w.ID == "" || w.Protocol < 1 || w.Concurrency < 1 || ttl <= 0 {
		return cairn.Worker{}, fmt.Errorf("register worker %q: incomplete (an id, a protocol, a concurrency of at least 1 and a positive ttl are needed)", w.ID)
	}
	labels, queues, err := workerJSON(w)
	if err != nil {
		return cairn.Worker{}, fmt.Errorf("register worker %s: %w", w.ID, err)
	}
	var out cairn.Worker
	err = s.inTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		out, err = scanWorker(s.queryRow(ctx, tx, `INSERT INTO workers (`+workerCols+`)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'active', `+s.clock(10)+`, `+s.clock(10)+`, `+s.clock(10)+` + $11) RETURNING `+workerCols,
			w.ID, w.Name, w.Host, w.TokenID, w.Version, int64(w.Protocol), labels, queues, int64(w.Concurrency), now.UnixNano(), int64(ttl)))
		return translate(err)
	})
	if err != nil {
		return cairn.Worker{}, fmt.Errorf("register worker %s: %w", w.ID, err)
	}
	return out, nil
}

// TouchWorker records a call from live worker id at now.
func (s *Store) TouchWorker(ctx context.Context, id, tokenID string, now time.Time, ttl time.Duration) (cairn.Worker, error) {
	w, err := s.touchWorker(ctx, id, tokenID, "", now, ttl)
	if err != nil {
		return cairn.Worker{}, fmt.Errorf("worker %s: %w", id, err)
	}
	return w, nil
}

// SetWorkerState moves live worker id to draining or stopped.
func (s *Store) SetWorkerState(ctx context.Context, id, tokenID string, to cairn.WorkerState, now time.Time, ttl time.Duration) (cairn.Worker, error) {
	if to != cairn.WorkerDraining && to != cairn.WorkerStopped {
		return cairn.Worker{}, fmt.Errorf("worker %s: a worker itself moves only to draining or stopped, not %q", id, to)
	}
	w, err := s.touchWorker(ctx, id, tokenID, to, now, ttl)
	if err != nil {
		return cairn.Worker{}, fmt.Errorf("worker %s: %s: %w", id, to, err)
	}
	return w, nil
}

func (s *Store) touchWorker(ctx context.Context, id, tokenID string, to cairn.WorkerState, now time.Time, ttl time.Duration) (cairn.Worker, error) {
	var out cairn.Worker
	err := s.inTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		out, err = scanWorker(s.queryRow(ctx, tx, `UPDATE workers SET seen_at = `+s.clock(1)+`, expires_at = `+s.clock(1)+` + $2,
	state = coalesce(nullif($3, ''), state)
WHERE id = $4 AND token_id = $5 AND state IN ('active', 'draining') AND expires_at > `+s.clock(1)+` RETURNING `+workerCols,
			now.UnixNano(), int64(ttl), string(to), id, tokenID))
		if !noRows(err) {
			return translate(err)
		}
		w, err := scanWorker(s.queryRow(ctx, tx, `SELECT `+workerCols+` FROM workers WHERE id = $1`, id))
		if noRows(err) {
			return fmt.Errorf("no such worker registered with this token: %w", cairn.ErrNotFound)
		}
		if err != nil {
			return translate(err)
		}
		return workerRefusal(w, tokenID)
	})
	return out, err
}

// workerRefusal says why worker w, as stored, refuses a call made with
// token tokenID (after its expiry, if it is still active or draining).
func workerRefusal(w cairn.Worker, tokenID string) error {
	switch {
	case w.TokenID != tokenID:
		return fmt.Errorf("no such worker registered with this token: %w", cairn.ErrNotFound)
	case w.State == cairn.WorkerLost || w.State == cairn.WorkerStopped:
		return fmt.Errorf("it is %s (last call %s): register again: %w", w.State, w.SeenAt.UTC().Format(time.RFC3339), cairn.ErrWorkerLost)
	default:
		return fmt.Errorf("no call since %s, past the lease TTL (it expired %s): register again: %w",
			w.SeenAt.UTC().Format(time.RFC3339), w.ExpiresAt.UTC().Format(time.RFC3339), cairn.ErrWorkerLost)
	}
}

// LoseWorkers marks lost the live workers whose expiry passed by now (the
// database's now), in one statement; rows another server is marking are
// skipped, so each is returned once.
func (s *Store) LoseWorkers(ctx context.Context, now time.Time, limit int) ([]cairn.Worker, error) {
	if limit <= 0 {
		limit = 100
	}
	out := []cairn.Worker{}
	err := s.inTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		out = out[:0]
		rows, err := s.query(ctx, tx, `UPDATE workers w SET state = 'lost' FROM (
	SELECT id FROM workers WHERE state IN ('active', 'draining') AND expires_at <= `+s.clock(1)+`
	ORDER BY expires_at, id LIMIT $2 FOR UPDATE SKIP LOCKED) AS x
WHERE w.id = x.id RETURNING `+sqlrow.Prefixed("w.", workerCols), now.UnixNano(), int64(limit))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			w, err := scanWorker(rows)
			if err != nil {
				return translate(err)
			}
			out = append(out, w)
		}
		return translate(rows.Err())
	})
	if err != nil {
		return nil, fmt.Errorf("lose workers: %w", err)
	}
	return out, nil
}

// Worker returns worker id as stored.
func (s *Store) Worker(ctx context.Context, id string) (cairn.Worker, error) {
	w, err := scanWorker(s.db.QueryRow(ctx, `SELECT `+workerCols+` FROM workers WHERE id = $1`, id))
	if noRows(err) {
		return cairn.Worker{}, fmt.Errorf("read worker %s: %w", id, cairn.ErrNotFound)
	}
	if err != nil {
		return cairn.Worker{}, fmt.Errorf("read worker %s: %w", id, translate(err))
	}
	return w, nil
}

// WorkerLeases lists the leases worker holds, soonest expiring first.
func (s *Store) WorkerLeases(ctx context.Context, worker string) ([]cairn.Lease, error) {
	ls, err := s.queryLeases(ctx, `SELECT run_id, task_id, attempt, lease_token, lease_worker, `+s.leaseExpiry()+` FROM task_runs
WHERE lease_token IS NOT NULL AND lease_worker = $2 ORDER BY lease_expires_at, run_id, task_id`, time.Now().UnixNano(), worker)
	if err != nil {
		return nil, fmt.Errorf("list the leases of worker %s: %w", worker, err)
	}
	return ls, nil
}
