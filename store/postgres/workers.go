package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/store/internal/sqlrow"
)

// The registrations of remote workers (migrations/postgres/0010), written
// by the servers' worker API through scheduler.WorkerStore; expiries are
// judged by the database's clock, as leases are.

// RegisterWorker stores w as a new active worker, live until now+ttl (the
// database's now).
func (s *Store) RegisterWorker(ctx context.Context, w cairn.Worker, now time.Time, ttl time.Duration) (cairn.Worker, error) {
	labels, queues, types, err := sqlrow.NewWorker(w, ttl)
	if err != nil {
		return cairn.Worker{}, err
	}
	var out cairn.Worker
	err = s.inTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		out, err = sqlrow.Worker(s.queryRow(ctx, tx, `INSERT INTO workers (`+sqlrow.WorkerCols+`)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'active', `+s.clock(10)+`, `+s.clock(10)+`, `+s.clock(10)+` + $11, $12) RETURNING `+sqlrow.WorkerCols,
			w.ID, w.Name, w.Host, w.TokenID, w.Version, int64(w.Protocol), labels, queues, int64(w.Concurrency), now.UnixNano(), int64(ttl), types))
		return translate(err)
	})
	if err != nil {
		return cairn.Worker{}, fmt.Errorf("register worker %s: %w", w.ID, err)
	}
	return out, nil
}

// TouchWorker records a call from live worker id at now.
func (s *Store) TouchWorker(ctx context.Context, id, tokenID string, now time.Time, ttl time.Duration) (cairn.Worker, error) {
	return sqlrow.TouchWorker(id, func() (cairn.Worker, error) { return s.touchWorker(ctx, id, tokenID, "", now, ttl) })
}

// SetWorkerState moves live worker id to draining or stopped.
func (s *Store) SetWorkerState(ctx context.Context, id, tokenID string, to cairn.WorkerState, now time.Time, ttl time.Duration) (cairn.Worker, error) {
	return sqlrow.SetWorkerState(id, to, func() (cairn.Worker, error) { return s.touchWorker(ctx, id, tokenID, to, now, ttl) })
}

func (s *Store) touchWorker(ctx context.Context, id, tokenID string, to cairn.WorkerState, now time.Time, ttl time.Duration) (cairn.Worker, error) {
	var out cairn.Worker
	err := s.inTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		out, err = sqlrow.Worker(s.queryRow(ctx, tx, `UPDATE workers SET seen_at = `+s.clock(1)+`, expires_at = `+s.clock(1)+` + $2,
	state = coalesce(nullif($3, ''), state)
WHERE id = $4 AND token_id = $5 AND state IN ('active', 'draining') AND expires_at > `+s.clock(1)+` RETURNING `+sqlrow.WorkerCols,
			now.UnixNano(), int64(ttl), string(to), id, tokenID))
		if !noRows(err) {
			return translate(err)
		}
		w, err := sqlrow.Worker(s.queryRow(ctx, tx, `SELECT `+sqlrow.WorkerCols+` FROM workers WHERE id = $1`, id))
		if noRows(err) {
			return sqlrow.NoWorker()
		}
		if err != nil {
			return translate(err)
		}
		return sqlrow.WorkerRefusal(w, tokenID)
	})
	return out, err
}

// LoseWorkers marks lost the live workers whose expiry passed by now (the
// database's now), in one statement; rows another server is marking are
// skipped, so each is returned once.
func (s *Store) LoseWorkers(ctx context.Context, now time.Time, limit int) ([]cairn.Worker, error) {
	limit = sqlrow.PageLimit(limit)
	out := []cairn.Worker{}
	err := s.inTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		out = out[:0]
		rows, err := s.query(ctx, tx, `UPDATE workers w SET state = 'lost' FROM (
	SELECT id FROM workers WHERE state IN ('active', 'draining') AND expires_at <= `+s.clock(1)+`
	ORDER BY expires_at, id LIMIT $2 FOR UPDATE SKIP LOCKED) AS x
WHERE w.id = x.id RETURNING `+sqlrow.Prefixed("w.", sqlrow.WorkerCols), now.UnixNano(), int64(limit))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			w, err := sqlrow.Worker(rows)
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
	w, err := sqlrow.Worker(s.db.QueryRow(ctx, `SELECT `+sqlrow.WorkerCols+` FROM workers WHERE id = $1`, id))
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
	ls, err := s.queryLeases(ctx, `SELECT run_id, task_id, attempt, lease_token, lease_worker, `+s.leaseExpiry()+`,
	coalesce(lease_expires_at >= attempt_due_at, false) FROM task_runs
WHERE lease_token IS NOT NULL AND lease_worker = $2 ORDER BY lease_expires_at, run_id, task_id`, time.Now().UnixNano(), worker)
	if err != nil {
		return nil, fmt.Errorf("list the leases of worker %s: %w", worker, err)
	}
	return ls, nil
}
