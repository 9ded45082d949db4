package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/store/internal/sqlrow"
)

// ClaimRun makes owner the driver of run id until now+ttl if the run has
// no live owner, owner already holds it, or steal is set. Errors:
// cairn.ErrRunOwned, cairn.ErrNotFound.
func (s *Store) ClaimRun(ctx context.Context, id, owner string, now time.Time, ttl time.Duration, steal bool) (*cairn.Run, error) {
	var run *cairn.Run
	fn, err := s.claimRunFn(id, owner, now, ttl, steal, &run)
	if err == nil {
		err = s.inTx(ctx, fn)
	}
	if err != nil {
		return nil, claimErr(id, owner, err)
	}
	return run, nil
}

func (b *batchTx) ClaimRun(id, owner string, now time.Time, ttl time.Duration, steal bool) (*cairn.Run, error) {
	delete(b.owners, id)
	var run *cairn.Run
	fn, err := b.s.claimRunFn(id, owner, now, ttl, steal, &run)
	if err == nil {
		err = b.run(fn, true)
	}
	if err != nil {
		return nil, claimErr(id, owner, err)
	}
	return run, nil
}

func (s *Store) claimRunFn(id, owner string, now time.Time, ttl time.Duration, steal bool, out **cairn.Run) (txFn, error) {
	if owner == "" {
		return nil, errors.New("empty owner")
	}
	return func(ctx context.Context, tx pgx.Tx) error {
		run, err := sqlrow.Run(s.queryRow(ctx, tx, `UPDATE runs SET owner = $1, owner_expires_at = `+s.clock(4)+` + $2
WHERE id = $3 AND (owner = '' OR owner = $1 OR owner_expires_at IS NULL OR owner_expires_at <= `+s.clock(4)+` OR $5)
RETURNING `+sqlrow.RunCols, owner, int64(ttl), id, now.UnixNano(), steal))
		if noRows(err) {
			return s.runMissOrConflict(ctx, tx, id, "owned")
		}
		if err != nil {
			return translate(err)
		}
		*out = run
		return nil
	}, nil
}

func claimErr(id, owner string, err error) error {
	if errors.Is(err, cairn.ErrConflict) {
		return fmt.Errorf("claim run %s for %s: %w", id, owner, cairn.ErrRunOwned)
	}
	return fmt.Errorf("claim run %s for %s: %w", id, owner, err)
}

// ReleaseRun clears owner's claim on run id; a no-op if owner no longer
// holds it. Errors: cairn.ErrNotFound for an unknown run.
func (s *Store) ReleaseRun(ctx context.Context, id, owner string) error {
	err := s.inTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		n, err := s.exec(ctx, tx, `UPDATE runs SET owner = '', owner_expires_at = NULL WHERE id = $1 AND owner = $2`, id, owner)
		if err != nil || n > 0 {
			return err
		}
		if err := s.runMissOrConflict(ctx, tx, id, "not owned"); errors.Is(err, cairn.ErrNotFound) {
			return err
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("release run %s by %s: %w", id, owner, err)
	}
	return nil
}

// ClaimRuns claims, in one statement, the runs among ids that are not
// terminal and have no live claim (or whose claim owner holds), for owner
// until now+ttl. It returns the ids now held by owner.
func (s *Store) ClaimRuns(ctx context.Context, ids []string, owner string, now time.Time, ttl time.Duration) ([]string, error) {
	if owner == "" {
		return nil, errors.New("claim runs: empty owner")
	}
	held := []string{}
	if len(ids) == 0 {
		return held, nil
	}
	err := s.inTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		held, err = s.queryIDs(ctx, tx, `UPDATE runs SET owner = $1, owner_expires_at = `+s.clock(4)+` + $2
WHERE id = ANY($3) AND state IN ('queued', 'running')
	AND (owner = '' OR owner = $1 OR owner_expires_at IS NULL OR owner_expires_at <= `+s.clock(4)+`)
RETURNING id`, owner, int64(ttl), ids, now.UnixNano())
		return err
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
	err := s.inTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		held, err = s.queryIDs(ctx, tx, `UPDATE runs SET owner_expires_at = `+s.clock(3)+` + $1 WHERE owner = $2 AND state IN ('queued', 'running')
RETURNING id`, int64(ttl), owner, now.UnixNano())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("renew the claims of %s: %w", owner, err)
	}
	return held, nil
}

// ReleaseClaims clears every claim owner holds, in one statement.
func (s *Store) ReleaseClaims(ctx context.Context, owner string) error {
	err := s.inTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		_, err := s.exec(ctx, tx, `UPDATE runs SET owner = '', owner_expires_at = NULL WHERE owner = $1`, owner)
		return err
	})
	if err != nil {
		return fmt.Errorf("release the claims of %s: %w", owner, err)
	}
	return nil
}

func (s *Store) queryIDs(ctx context.Context, q querier, sql string, args ...any) ([]string, error) {
	rows, err := s.query(ctx, q, sql, args...)
	if err != nil {
		return nil, err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, translate(err)
	}
	if ids == nil {
		ids = []string{}
	}
	return ids, nil
}

// claimCols reads a claim, its expiry in the caller's terms (see Open):
// the caller's now ($1) plus what is left of it by the database's clock.
func (s *Store) claimCols() string {
	expiry := "owner_expires_at + 0 * $1::bigint"
	if !s.callerClock {
		expiry = "owner_expires_at - " + s.clock(1) + " + $1"
	}
	return `id, workflow, state, max_active_runs, owner, ` + expiry
}

// Unowned lists the runs that are not terminal and have no live claim as
// of now: running ones first, then queued ones, each oldest first, at most
// limit (100 if limit <= 0).
func (s *Store) Unowned(ctx context.Context, now time.Time, limit int) ([]scheduler.RunClaim, error) {
	if limit <= 0 {
		limit = 100
	}
	out := []scheduler.RunClaim{}
	for _, state := range []cairn.RunState{cairn.RunRunning, cairn.RunQueued} {
		if len(out) >= limit {
			break
		}
		got, err := s.queryClaims(ctx, `SELECT `+s.claimCols()+` FROM runs
WHERE state = $2 AND (owner = '' OR owner_expires_at IS NULL OR owner_expires_at <= `+s.clock(1)+`) ORDER BY id LIMIT $3`,
			now.UnixNano(), string(state), limit-len(out))
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
	out, err := s.queryClaims(ctx, `SELECT `+s.claimCols()+` FROM runs
WHERE state IN ('queued', 'running') AND owner != '' AND owner != $2 ORDER BY id LIMIT $3`, time.Now().UnixNano(), except, limit)
	if err != nil {
		return nil, fmt.Errorf("list owned runs: %w", err)
	}
	return out, nil
}

func (s *Store) queryClaims(ctx context.Context, sql string, args ...any) ([]scheduler.RunClaim, error) {
	rows, err := s.db.Query(ctx, sql, args...)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	out := []scheduler.RunClaim{}
	for rows.Next() {
		var (
			c       scheduler.RunClaim
			state   string
			maxRuns int64
			expires *int64
		)
		if err := rows.Scan(&c.ID, &c.Workflow, &state, &maxRuns, &c.Owner, &expires); err != nil {
			return nil, translate(err)
		}
		c.State, c.MaxActiveRuns, c.OwnerExpiresAt = cairn.RunState(state), int(maxRuns), fromNanos(expires)
		out = append(out, c)
	}
	return out, translate(rows.Err())
}

// ActiveRuns counts, per workflow, the runs that are running or queued
// under a live claim as of now.
func (s *Store) ActiveRuns(ctx context.Context, now time.Time) (map[string]int, error) {
	rows, err := s.db.Query(ctx, `SELECT workflow, count(*) FROM runs
WHERE state = 'running' OR (state = 'queued' AND owner != '' AND owner_expires_at > `+s.clock(1)+`) GROUP BY workflow`, now.UnixNano())
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
