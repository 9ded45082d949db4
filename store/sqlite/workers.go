package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/cairnml/cairn"
)

// The registrations of remote workers (migrations/sqlite/0010): written
// by the server's worker API through scheduler.WorkerStore. Their reads
// for people (lists, the UI) are elsewhere.

const workerCols = `id, name, host, token_id, version, protocol, labels, queues, concurrency, state, registered_at, seen_at, expires_at`

func scanWorker(sc interface{ Scan(...any) error }) (cairn.Worker, error) {
	var (
		w                       cairn.Worker
		labels, queues          sql.NullString
		state                   string
		registered, seen, until int64
	)
	if err := sc.Scan(&w.ID, &w.Name, &w.Host, &w.TokenID, &w.Version, &w.Protocol, &labels, &queues, &w.Concurrency,
		&state, &registered, &seen, &until); err != nil {
		return cairn.Worker{}, err
	}
	w.State = cairn.WorkerState(state)
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
	return w, nil
}

// workerJSON is the stored text of a worker's labels and queues: NULL
// when there are none.
func workerJSON(w cairn.Worker) (labels, queues any, err error) {
	if len(w.Labels) > 0 {
		b, err := json.Marshal(w.Labels)
		if err != nil {
			return nil, nil, err
		}
		labels = string(b)
	}
	if len(w.Queues) > 0 {
		b, err := json.Marshal(w.Queues)
		if err != nil {
			return nil, nil, err
		}
		queues = string(b)
	}
	return labels, queues, nil
}

// RegisterWorker stores w as a new active worker, live until now+ttl.
func (s *Store) RegisterWorker(ctx context.Context, w cairn.Worker, now time.Time, ttl time.Duration) (cairn.Worker, error) {
	if w.ID == "" || w.Protocol < 1 || w.Concurrency < 1 || ttl <= 0 {
		return cairn.Worker{}, fmt.Errorf("register worker %q: incomplete (an id, a protocol, a concurrency of at least 1 and a positive ttl are needed)", w.ID)
	}
	labels, queues, err := workerJSON(w)
	if err != nil {
		return cairn.Worker{}, fmt.Errorf("register worker %s: %w", w.ID, err)
	}
	var out cairn.Worker
	err = s.inTxCAS(ctx, func(ctx context.Context, tx *sql.Tx) error {
		st, err := s.txStmt(ctx, tx, `INSERT INTO workers (`+workerCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'active', ?, ?, ?) RETURNING `+workerCols)
		if err != nil {
			return err
		}
		s.stmts.Add(1)
		out, err = scanWorker(st.QueryRowContext(ctx, w.ID, w.Name, w.Host, w.TokenID, w.Version, w.Protocol, labels, queues,
			w.Concurrency, now.UnixNano(), now.UnixNano(), now.Add(ttl).UnixNano()))
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

// touchWorker moves a live worker's expiry on and, with to set, its
// state; a refusal says why (cairn.ErrNotFound, cairn.ErrWorkerLost) and
// writes nothing.
func (s *Store) touchWorker(ctx context.Context, id, tokenID string, to cairn.WorkerState, now time.Time, ttl time.Duration) (cairn.Worker, error) {
	var out cairn.Worker
	err := s.inTxCAS(ctx, func(ctx context.Context, tx *sql.Tx) error {
		st, err := s.txStmt(ctx, tx, `UPDATE workers SET seen_at = ?, expires_at = ?, state = coalesce(nullif(?, ''), state)
WHERE id = ? AND token_id = ? AND state IN ('active', 'draining') AND expires_at > ? RETURNING `+workerCols)
		if err != nil {
			return err
		}
		s.stmts.Add(1)
		out, err = scanWorker(st.QueryRowContext(ctx, now.UnixNano(), now.Add(ttl).UnixNano(), string(to), id, tokenID, now.UnixNano()))
		if !errors.Is(err, sql.ErrNoRows) {
			return translate(err)
		}
		// Refused: say why, from the row as it is.
		why, err := s.txStmt(ctx, tx, `SELECT `+workerCols+` FROM workers WHERE id = ?`)
		if err != nil {
			return err
		}
		s.stmts.Add(1)
		w, err := scanWorker(why.QueryRowContext(ctx, id))
		if errors.Is(err, sql.ErrNoRows) {
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

// LoseWorkers marks lost the live workers whose expiry passed by now.
func (s *Store) LoseWorkers(ctx context.Context, now time.Time, limit int) ([]cairn.Worker, error) {
	if limit <= 0 {
		limit = 100
	}
	// Read first, on the read pool: nearly always nothing expired, and
	// then nothing is written.
	st, err := s.readStmt(ctx, `SELECT count(*) FROM workers WHERE state IN ('active', 'draining') AND expires_at <= ?`)
	if err != nil {
		return nil, fmt.Errorf("lose workers: %w", err)
	}
	var n int
	if err := st.QueryRowContext(ctx, now.UnixNano()).Scan(&n); err != nil {
		return nil, fmt.Errorf("lose workers: %w", translate(err))
	}
	out := []cairn.Worker{}
	if n == 0 {
		return out, nil
	}
	err = s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		out = out[:0]
		sel, err := s.txStmt(ctx, tx, `SELECT `+workerCols+` FROM workers WHERE state IN ('active', 'draining') AND expires_at <= ?
ORDER BY expires_at, id LIMIT ?`)
		if err != nil {
			return err
		}
		s.stmts.Add(1)
		rows, err := sel.QueryContext(ctx, now.UnixNano(), limit)
		if err != nil {
			return translate(err)
		}
		for rows.Next() {
			w, err := scanWorker(rows)
			if err != nil {
				rows.Close()
				return translate(err)
			}
			out = append(out, w)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return translate(err)
		}
		up, err := s.txStmt(ctx, tx, `UPDATE workers SET state = 'lost' WHERE id = ? AND state IN ('active', 'draining') AND expires_at <= ?`)
		if err != nil {
			return err
		}
		for i, w := range out {
			out[i].State = cairn.WorkerLost
			s.stmts.Add(1)
			if _, err := up.ExecContext(ctx, w.ID, now.UnixNano()); err != nil {
				return translate(err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("lose workers: %w", err)
	}
	return out, nil
}

// Worker returns worker id as stored.
func (s *Store) Worker(ctx context.Context, id string) (cairn.Worker, error) {
	st, err := s.readStmt(ctx, `SELECT `+workerCols+` FROM workers WHERE id = ?`)
	if err != nil {
		return cairn.Worker{}, fmt.Errorf("read worker %s: %w", id, err)
	}
	w, err := scanWorker(st.QueryRowContext(ctx, id))
	if errors.Is(err, sql.ErrNoRows) {
		return cairn.Worker{}, fmt.Errorf("read worker %s: %w", id, cairn.ErrNotFound)
	}
	if err != nil {
		return cairn.Worker{}, fmt.Errorf("read worker %s: %w", id, translate(err))
	}
	return w, nil
}

// WorkerLeases lists the leases worker holds, soonest expiring first.
func (s *Store) WorkerLeases(ctx context.Context, worker string) ([]cairn.Lease, error) {
	st, err := s.readStmt(ctx, `SELECT run_id, task_id, attempt, lease_token, lease_worker, lease_expires_at FROM task_runs
WHERE lease_token IS NOT NULL AND lease_worker = ? ORDER BY lease_expires_at, run_id, task_id`)
	if err != nil {
		return nil, fmt.Errorf("list the leases of worker %s: %w", worker, err)
	}
	ls, err := queryLeases(ctx, st, worker)
	if err != nil {
		return nil, fmt.Errorf("list the leases of worker %s: %w", worker, err)
	}
	return ls, nil
}
