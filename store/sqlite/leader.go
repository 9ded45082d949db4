package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
)

// The leader lease (scheduler.LeaderStore) in the leader table of
// migration 0010. Expiry is judged by the callers' now, as leases and
// claims are here: the processes on one SQLite file share a machine's
// clock.

const leaderCols = `name, holder, epoch, acquired_at, expires_at`

func scanLeader(sc scanner, now time.Time) (scheduler.Leadership, error) {
	var (
		l                 scheduler.Leadership
		acquired, expires int64
	)
	if err := sc.Scan(&l.Name, &l.Holder, &l.Epoch, &acquired, &expires); err != nil {
		return l, err
	}
	l.AcquiredAt, l.ExpiresAt = time.Unix(0, acquired).UTC(), time.Unix(0, expires).UTC()
	l.Live = l.ExpiresAt.After(now)
	return l, nil
}

// AcquireLeader takes the lease of name for holder when it is free,
// expired or already holder's, with a new epoch.
func (s *Store) AcquireLeader(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (scheduler.Leadership, error) {
	if name == "" || holder == "" {
		return scheduler.Leadership{}, errors.New("acquire leader: a name and a holder are required")
	}
	var out scheduler.Leadership
	err := s.inTx(ctx, func(ctx context.Context, tx *sql.Conn) error {
		rows, err := s.query(ctx, tx, `INSERT INTO leader (`+leaderCols+`) VALUES (?, ?, 1, ?, ?)
ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, epoch = leader.epoch + 1,
	acquired_at = excluded.acquired_at, expires_at = excluded.expires_at
WHERE leader.expires_at <= ? OR leader.holder = excluded.holder
RETURNING `+leaderCols, name, holder, now.UnixNano(), now.Add(ttl).UnixNano(), now.UnixNano())
		if err != nil {
			return err
		}
		got := false
		if rows.Next() {
			out, err = scanLeader(rows, now)
			got = true
		}
		rows.Close()
		if err == nil {
			err = rows.Err()
		}
		if err != nil {
			return translate(err)
		}
		if got {
			return nil
		}
		st, err := s.txStmt(ctx, tx, `SELECT `+leaderCols+` FROM leader WHERE name = ?`)
		if err != nil {
			return err
		}
		s.stmts.Add(1)
		if out, err = scanLeader(st.QueryRowContext(ctx, name), now); err != nil {
			return translate(err)
		}
		return fmt.Errorf("%w: %s leads (epoch %d) until %s", cairn.ErrNotLeader, out.Holder, out.Epoch, out.ExpiresAt.Format(time.RFC3339Nano))
	})
	if err != nil {
		return out, fmt.Errorf("acquire leader %s for %s: %w", name, holder, err)
	}
	return out, nil
}

// RenewLeader extends f's term to now+ttl while the lease is still f's.
func (s *Store) RenewLeader(ctx context.Context, f scheduler.Fence, now time.Time, ttl time.Duration) (scheduler.Leadership, error) {
	var out scheduler.Leadership
	err := s.inTxCAS(ctx, func(ctx context.Context, tx *sql.Conn) error {
		rows, err := s.query(ctx, tx, `UPDATE leader SET expires_at = ? WHERE name = ? AND holder = ? AND epoch = ?
RETURNING `+leaderCols, now.Add(ttl).UnixNano(), f.Name, f.Holder, f.Epoch)
		if err != nil {
			return err
		}
		defer rows.Close()
		if !rows.Next() {
			if err := rows.Err(); err != nil {
				return translate(err)
			}
			return fmt.Errorf("%w: its term (epoch %d) is over", cairn.ErrNotLeader, f.Epoch)
		}
		if out, err = scanLeader(rows, now); err != nil {
			return translate(err)
		}
		return nil
	})
	if err != nil {
		return out, fmt.Errorf("renew leader %s for %s: %w", f.Name, f.Holder, err)
	}
	return out, nil
}

// TakeLeader gives f's term, expired or not, to holder as a new term.
func (s *Store) TakeLeader(ctx context.Context, f scheduler.Fence, holder string, now time.Time, ttl time.Duration) (scheduler.Leadership, error) {
	if holder == "" {
		return scheduler.Leadership{}, errors.New("take leader: a holder is required")
	}
	var out scheduler.Leadership
	err := s.inTxCAS(ctx, func(ctx context.Context, tx *sql.Conn) error {
		rows, err := s.query(ctx, tx, `UPDATE leader SET holder = ?, epoch = epoch + 1, acquired_at = ?, expires_at = ?
WHERE name = ? AND holder = ? AND epoch = ? RETURNING `+leaderCols, holder, now.UnixNano(), now.Add(ttl).UnixNano(), f.Name, f.Holder, f.Epoch)
		if err != nil {
			return err
		}
		defer rows.Close()
		if !rows.Next() {
			if err := rows.Err(); err != nil {
				return translate(err)
			}
			return fmt.Errorf("%w: the term of %s (epoch %d) is over", cairn.ErrNotLeader, f.Holder, f.Epoch)
		}
		if out, err = scanLeader(rows, now); err != nil {
			return translate(err)
		}
		return nil
	})
	if err != nil {
		return out, fmt.Errorf("take leader %s from %s for %s: %w", f.Name, f.Holder, holder, err)
	}
	return out, nil
}

// ReleaseLeader ends f's term now, keeping its epoch and clearing its
// holder.
func (s *Store) ReleaseLeader(ctx context.Context, f scheduler.Fence) error {
	err := s.inTxCAS(ctx, func(ctx context.Context, tx *sql.Conn) error {
		_, err := s.exec(ctx, tx, `UPDATE leader SET holder = '', expires_at = 0 WHERE name = ? AND holder = ? AND epoch = ?`, f.Name, f.Holder, f.Epoch)
		return err
	})
	if err != nil {
		return fmt.Errorf("release leader %s by %s: %w", f.Name, f.Holder, err)
	}
	return nil
}

// Leader reads the lease of name.
func (s *Store) Leader(ctx context.Context, name string, now time.Time) (scheduler.Leadership, error) {
	st, err := s.readStmt(ctx, `SELECT `+leaderCols+` FROM leader WHERE name = ?`)
	if err != nil {
		return scheduler.Leadership{}, fmt.Errorf("read leader %s: %w", name, err)
	}
	l, err := scanLeader(st.QueryRowContext(ctx, name), now)
	if errors.Is(err, sql.ErrNoRows) {
		return l, fmt.Errorf("read leader %s: %w", name, cairn.ErrNotFound)
	}
	if err != nil {
		return l, fmt.Errorf("read leader %s: %w", name, translate(err))
	}
	return l, nil
}

// CheckFence fails with cairn.ErrNotLeader unless the lease is still f's
// term. The store's one writer keeps any other scheduler from taking the
// lease before the batch commits.
func (b *batchTx) CheckFence(f scheduler.Fence) error {
	err := b.run(func(ctx context.Context, tx *sql.Conn) error {
		st, err := b.s.txStmt(ctx, tx, `SELECT count(*) FROM leader WHERE name = ? AND holder = ? AND epoch = ?`)
		if err != nil {
			return err
		}
		b.s.stmts.Add(1)
		var n int
		if err := st.QueryRowContext(ctx, f.Name, f.Holder, f.Epoch).Scan(&n); err != nil {
			return translate(err)
		}
		if n == 0 {
			return fmt.Errorf("%w: %s's term (epoch %d) of %s is over", cairn.ErrNotLeader, f.Holder, f.Epoch, f.Name)
		}
		return nil
	}, true)
	if err != nil {
		return fmt.Errorf("fence: %w", err)
	}
	return nil
}

// RunOwner returns the owner of run id's claim as of the batch; the
// store's one writer keeps any other scheduler from claiming the run
// before the batch commits. It reads the owner from runs_id_small
// (migration 0023), not from the row, where it lies past the workflow's
// source: a read of it walked the source's overflow pages.
func (b *batchTx) RunOwner(id string) (string, error) {
	var owner string
	err := b.run(func(ctx context.Context, tx *sql.Conn) error {
		const query = `SELECT owner FROM runs INDEXED BY runs_id_small WHERE id = ?`
		if tx == b.s.wc && ctx.Done() == nil {
			var dest [1]driver.Value
			found, err := b.s.queryRaw(query, []any{id}, dest[:])
			if err != nil {
				return err
			}
			if !found {
				return fmt.Errorf("run %s: %w", id, cairn.ErrNotFound)
			}
			switch v := dest[0].(type) {
			case string:
				owner = v
			case []byte:
				owner = string(v)
			default:
				return fmt.Errorf("run %s: owner is a %T", id, v)
			}
			return nil
		}
		st, err := b.s.txStmt(ctx, tx, query)
		if err != nil {
			return err
		}
		b.s.stmts.Add(1)
		if err := st.QueryRowContext(ctx, id).Scan(&owner); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("run %s: %w", id, cairn.ErrNotFound)
			}
			return translate(err)
		}
		return nil
	}, true)
	if err != nil {
		return "", fmt.Errorf("read the owner of run %s: %w", id, err)
	}
	return owner, nil
}
