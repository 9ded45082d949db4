package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/store/internal/sqlrow"
)

// The registrations of remote workers (migrations/sqlite/0010): written
// by the server's worker API through scheduler.WorkerStore. Their reads
// for people (lists, the UI) are elsewhere.

// RegisterWorker stores w as a new active worker, live until now+ttl.
func (s *Store) RegisterWorker(ctx context.Context, w cairn.Worker, now time.Time, ttl time.Duration) (cairn.Worker, error) {
	labels, queues, types, err := sqlrow.NewWorker(w, ttl)
	if err != nil {
		return cairn.Worker{}, err
	}
	var out cairn.Worker
	err = s.inTxCAS(ctx, func(ctx context.Context, tx *sql.Conn) error {
		st, err := s.txStmt(ctx, tx, `INSERT INTO workers (`+sqlrow.WorkerCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'active', ?, ?, ?, ?) RETURNING `+sqlrow.WorkerCols)
		if err != nil {
			return err
		}
		s.stmts.Add(1)
		out, err = sqlrow.Worker(st.QueryRowContext(ctx, w.ID, w.Name, w.Host, w.TokenID, w.Version, w.Protocol, labels, queues,
			w.Concurrency, now.UnixNano(), now.UnixNano(), now.Add(ttl).UnixNano(), types))
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

// touchWorker moves a live worker's expiry on and, with to set, its
// state; a refusal says why (cairn.ErrNotFound, cairn.ErrWorkerLost) and
// writes nothing.
func (s *Store) touchWorker(ctx context.Context, id, tokenID string, to cairn.WorkerState, now time.Time, ttl time.Duration) (cairn.Worker, error) {
	var out cairn.Worker
	err := s.inTxCAS(ctx, func(ctx context.Context, tx *sql.Conn) error {
		st, err := s.txStmt(ctx, tx, `UPDATE workers SET seen_at = ?, expires_at = ?, state = coalesce(nullif(?, ''), state)
WHERE id = ? AND token_id = ? AND state IN ('active', 'draining') AND expires_at > ? RETURNING `+sqlrow.WorkerCols)
		if err != nil {
			return err
		}
		s.stmts.Add(1)
		out, err = sqlrow.Worker(st.QueryRowContext(ctx, now.UnixNano(), now.Add(ttl).UnixNano(), string(to), id, tokenID, now.UnixNano()))
		if !errors.Is(err, sql.ErrNoRows) {
			return translate(err)
		}
		// Refused: say why, from the row as it is.
		why, err := s.txStmt(ctx, tx, `SELECT `+sqlrow.WorkerCols+` FROM workers WHERE id = ?`)
		if err != nil {
			return err
		}
		s.stmts.Add(1)
		w, err := sqlrow.Worker(why.QueryRowContext(ctx, id))
		if errors.Is(err, sql.ErrNoRows) {
			return sqlrow.NoWorker()
		}
		if err != nil {
			return translate(err)
		}
		return sqlrow.WorkerRefusal(w, tokenID)
	})
	return out, err
}

// LoseWorkers marks lost the live workers whose expiry passed by now.
func (s *Store) LoseWorkers(ctx context.Context, now time.Time, limit int) ([]cairn.Worker, error) {
	limit = sqlrow.PageLimit(limit)
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
	err = s.inTx(ctx, func(ctx context.Context, tx *sql.Conn) error {
		out = out[:0]
		sel, err := s.txStmt(ctx, tx, `SELECT `+sqlrow.WorkerCols+` FROM workers WHERE state IN ('active', 'draining') AND expires_at <= ?
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
			w, err := sqlrow.Worker(rows)
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
	st, err := s.readStmt(ctx, `SELECT `+sqlrow.WorkerCols+` FROM workers WHERE id = ?`)
	if err != nil {
		return cairn.Worker{}, fmt.Errorf("read worker %s: %w", id, err)
	}
	w, err := sqlrow.Worker(st.QueryRowContext(ctx, id))
	if errors.Is(err, sql.ErrNoRows) {
		return cairn.Worker{}, fmt.Errorf("read worker %s: %w", id, cairn.ErrNotFound)
	}
	if err != nil {
		return cairn.Worker{}, fmt.Errorf("read worker %s: %w", id, translate(err))
	}
	return w, nil
}

// workerLeasesQuery is WorkerLeases': it reads the whole of the partial
// index task_runs_lease_run (the leases in progress).
const workerLeasesQuery = leaseCols + `WHERE lease_token IS NOT NULL AND lease_worker = ? ORDER BY lease_expires_at, run_id, task_id`

// WorkerLeases lists the leases worker holds, soonest expiring first.
func (s *Store) WorkerLeases(ctx context.Context, worker string) ([]cairn.Lease, error) {
	st, err := s.readStmt(ctx, workerLeasesQuery)
	if err != nil {
		return nil, fmt.Errorf("list the leases of worker %s: %w", worker, err)
	}
	ls, err := queryLeases(ctx, st, worker)
	if err != nil {
		return nil, fmt.Errorf("list the leases of worker %s: %w", worker, err)
	}
	return ls, nil
}
