package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/store/internal/sqlrow"
)

// GetTaskRun returns task taskID of run runID. Errors: cairn.ErrNotFound.
func (s *Store) GetTaskRun(ctx context.Context, runID, taskID string) (*cairn.TaskRun, error) {
	st, err := s.readStmt(ctx, `SELECT `+sqlrow.TaskCols+` FROM task_runs WHERE run_id = ? AND task_id = ?`)
	if err != nil {
		return nil, fmt.Errorf("get task run %s/%s: %w", runID, taskID, err)
	}
	t, err := sqlrow.TaskRun(st.QueryRowContext(ctx, runID, taskID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("get task run %s/%s: %w", runID, taskID, cairn.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get task run %s/%s: %w", runID, taskID, translate(err))
	}
	return t, nil
}

// claimChunk bounds the ids one ClaimRuns statement carries.
const claimChunk = 500

// ClaimRuns claims, in one transaction of one statement per 500 ids, the
// runs among ids that are not terminal and have no live claim (or whose
// claim owner holds), for owner until now+ttl. It returns the ids now
// held by owner.
func (s *Store) ClaimRuns(ctx context.Context, ids []string, owner string, now time.Time, ttl time.Duration) ([]string, error) {
	if owner == "" {
		return nil, errors.New("claim runs: empty owner")
	}
	held := []string{}
	if len(ids) == 0 {
		return held, nil
	}
	err := s.inTx(ctx, func(ctx context.Context, tx *sql.Conn) error {
		held = held[:0]
		for start := 0; start < len(ids); start += claimChunk {
			chunk := ids[start:min(start+claimChunk, len(ids))]
			args := []any{owner, now.Add(ttl).UnixNano()}
			for _, id := range chunk {
				args = append(args, id)
			}
			args = append(args, owner, now.UnixNano())
			got, err := s.queryIDs(ctx, tx, `UPDATE runs SET owner = ?, owner_expires_at = ?
WHERE id IN (`+strings.TrimSuffix(strings.Repeat("?,", len(chunk)), ",")+`) AND state IN ('queued', 'running')
	AND (owner = '' OR owner = ? OR owner_expires_at IS NULL OR owner_expires_at <= ?)
RETURNING id`, args...)
			if err != nil {
				return err
			}
			held = append(held, got...)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("claim %d runs for %s: %w", len(ids), owner, err)
	}
	return held, nil
}

// RenewClaims extends every claim owner holds on a run that is not
// terminal to now+ttl, in one statement, and returns those runs' ids.
func (s *Store) RenewClaims(ctx context.Context, owner string, now time.Time, ttl time.Duration) ([]string, error) {
	var held []string
	err := s.inTx(ctx, func(ctx context.Context, tx *sql.Conn) error {
		var err error
		held, err = s.queryIDs(ctx, tx, `UPDATE runs SET owner_expires_at = ? WHERE owner = ? AND state IN ('queued', 'running')
RETURNING id`, now.Add(ttl).UnixNano(), owner)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("renew the claims of %s: %w", owner, err)
	}
	return held, nil
}

// ReleaseClaims clears every claim owner holds, in one statement.
func (s *Store) ReleaseClaims(ctx context.Context, owner string) error {
	err := s.inTx(ctx, func(ctx context.Context, tx *sql.Conn) error {
		_, err := s.exec(ctx, tx, `UPDATE runs SET owner = '', owner_expires_at = NULL WHERE owner = ?`, owner)
		return err
	})
	if err != nil {
		return fmt.Errorf("release the claims of %s: %w", owner, err)
	}
	return nil
}

// queryIDs runs a statement in tx that returns one id per row.
func (s *Store) queryIDs(ctx context.Context, tx *sql.Conn, query string, args ...any) ([]string, error) {
	rows, err := s.query(ctx, tx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	ids := []string{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, translate(err)
		}
		ids = append(ids, id)
	}
	return ids, translate(rows.Err())
}

const claimCols = `id, workflow, state, max_active_runs, owner, owner_expires_at`

// Unowned lists the runs that are not terminal and have no live claim as
// of now: running ones first, then queued ones, each oldest first, at
// most limit (100 if limit <= 0).
func (s *Store) Unowned(ctx context.Context, now time.Time, limit int) ([]scheduler.RunClaim, error) {
	if limit <= 0 {
		limit = 100
	}
	out := []scheduler.RunClaim{}
	for _, state := range []cairn.RunState{cairn.RunRunning, cairn.RunQueued} {
		if len(out) >= limit {
			break
		}
		st, err := s.readStmt(ctx, `SELECT `+claimCols+` FROM runs
WHERE state = ? AND (owner = '' OR owner_expires_at IS NULL OR owner_expires_at <= ?) ORDER BY id LIMIT ?`)
		if err != nil {
			return nil, fmt.Errorf("list unowned runs: %w", err)
		}
		got, err := queryClaims(ctx, st, string(state), now.UnixNano(), limit-len(out))
		if err != nil {
			return nil, fmt.Errorf("list unowned runs: %w", err)
		}
		out = append(out, got...)
	}
	return out, nil
}

// Owned lists the claims on runs that are not terminal held by owners
// other than except, live or expired, oldest run first, at most limit
// (100 if limit <= 0).
func (s *Store) Owned(ctx context.Context, except string, limit int) ([]scheduler.RunClaim, error) {
	if limit <= 0 {
		limit = 100
	}
	st, err := s.readStmt(ctx, `SELECT `+claimCols+` FROM runs
WHERE state IN ('queued', 'running') AND owner != '' AND owner != ? ORDER BY id LIMIT ?`)
	if err != nil {
		return nil, fmt.Errorf("list owned runs: %w", err)
	}
	out, err := queryClaims(ctx, st, except, limit)
	if err != nil {
		return nil, fmt.Errorf("list owned runs: %w", err)
	}
	return out, nil
}

func queryClaims(ctx context.Context, st *sql.Stmt, args ...any) ([]scheduler.RunClaim, error) {
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	out := []scheduler.RunClaim{}
	for rows.Next() {
		var (
			c       scheduler.RunClaim
			state   string
			expires sql.NullInt64
		)
		if err := rows.Scan(&c.ID, &c.Workflow, &state, &c.MaxActiveRuns, &c.Owner, &expires); err != nil {
			return nil, translate(err)
		}
		c.State, c.OwnerExpiresAt = cairn.RunState(state), fromNanos(expires)
		out = append(out, c)
	}
	return out, translate(rows.Err())
}

// ActiveRuns counts, per workflow, the runs that are running or queued
// under a live claim as of now.
func (s *Store) ActiveRuns(ctx context.Context, now time.Time) (map[string]int, error) {
	st, err := s.readStmt(ctx, `SELECT workflow, count(*) FROM runs
WHERE state = 'running' OR (state = 'queued' AND owner != '' AND owner_expires_at > ?) GROUP BY workflow`)
	if err != nil {
		return nil, fmt.Errorf("count active runs: %w", err)
	}
	rows, err := st.QueryContext(ctx, now.UnixNano())
	if err != nil {
		return nil, fmt.Errorf("count active runs: %w", translate(err))
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var (
			wf string
			n  int
		)
		if err := rows.Scan(&wf, &n); err != nil {
			return nil, fmt.Errorf("count active runs: %w", translate(err))
		}
		out[wf] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count active runs: %w", translate(err))
	}
	return out, nil
}
