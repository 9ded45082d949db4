package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
)

// The leader lease (scheduler.LeaderStore) in the leader table of
// migration 0010. A term's expiry is the database's time when it was
// taken or renewed plus the TTL, and it is live while that is after the
// database's time (see Open), whatever the servers' clocks; WithCallerClock
// judges by the callers' now instead.

// leaderCols reads a lease, the caller's now being $n: its expiry in the
// caller's terms and whether it is live.
func (s *Store) leaderCols(n int) string {
	c := s.clock(n)
	return fmt.Sprintf(`name, holder, epoch, acquired_at, expires_at - %s + $%d, expires_at > %s`, c, n, c)
}

func scanLeader(row pgx.Row) (scheduler.Leadership, error) {
	var (
		l                 scheduler.Leadership
		acquired, expires int64
	)
	if err := row.Scan(&l.Name, &l.Holder, &l.Epoch, &acquired, &expires, &l.Live); err != nil {
		return l, err
	}
	l.AcquiredAt, l.ExpiresAt = time.Unix(0, acquired).UTC(), time.Unix(0, expires).UTC()
	return l, nil
}

// AcquireLeader takes the lease of name for holder when it is free,
// expired or already holder's, with a new epoch. Two servers racing for a
// free lease meet on its primary key: one inserts, the other then finds
// a live term that is not its own.
func (s *Store) AcquireLeader(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (scheduler.Leadership, error) {
	if name == "" || holder == "" {
		return scheduler.Leadership{}, errors.New("acquire leader: a name and a holder are required")
	}
	var out scheduler.Leadership
	err := s.inTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		out, err = scanLeader(s.queryRow(ctx, tx, `INSERT INTO leader (name, holder, epoch, acquired_at, expires_at)
VALUES ($1, $2, 1, $3, `+s.clock(3)+` + $4)
ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, epoch = leader.epoch + 1,
	acquired_at = EXCLUDED.acquired_at, expires_at = EXCLUDED.expires_at
WHERE leader.expires_at <= `+s.clock(3)+` OR leader.holder = EXCLUDED.holder
RETURNING `+s.leaderCols(3), name, holder, now.UnixNano(), int64(ttl)))
		if !noRows(err) {
			return translate(err)
		}
		if out, err = scanLeader(s.queryRow(ctx, tx, `SELECT `+s.leaderCols(2)+` FROM leader WHERE name = $1`, name, now.UnixNano())); err != nil {
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
	err := s.inTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		out, err = scanLeader(s.queryRow(ctx, tx, `UPDATE leader SET expires_at = `+s.clock(1)+` + $2
WHERE name = $3 AND holder = $4 AND epoch = $5 RETURNING `+s.leaderCols(1), now.UnixNano(), int64(ttl), f.Name, f.Holder, f.Epoch))
		if noRows(err) {
			return fmt.Errorf("%w: its term (epoch %d) is over", cairn.ErrNotLeader, f.Epoch)
		}
		return translate(err)
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
	err := s.inTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		out, err = scanLeader(s.queryRow(ctx, tx, `UPDATE leader SET holder = $2, epoch = epoch + 1, acquired_at = $1, expires_at = `+s.clock(1)+` + $3
WHERE name = $4 AND holder = $5 AND epoch = $6 RETURNING `+s.leaderCols(1), now.UnixNano(), holder, int64(ttl), f.Name, f.Holder, f.Epoch))
		if noRows(err) {
			return fmt.Errorf("%w: the term of %s (epoch %d) is over", cairn.ErrNotLeader, f.Holder, f.Epoch)
		}
		return translate(err)
	})
	if err != nil {
		return out, fmt.Errorf("take leader %s from %s for %s: %w", f.Name, f.Holder, holder, err)
	}
	return out, nil
}

// ReleaseLeader ends f's term now, keeping its epoch and clearing its
// holder.
func (s *Store) ReleaseLeader(ctx context.Context, f scheduler.Fence) error {
	err := s.inTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		_, err := s.exec(ctx, tx, `UPDATE leader SET holder = '', expires_at = 0 WHERE name = $1 AND holder = $2 AND epoch = $3`, f.Name, f.Holder, f.Epoch)
		return err
	})
	if err != nil {
		return fmt.Errorf("release leader %s by %s: %w", f.Name, f.Holder, err)
	}
	return nil
}

// Leader reads the lease of name.
func (s *Store) Leader(ctx context.Context, name string, now time.Time) (scheduler.Leadership, error) {
	l, err := scanLeader(s.queryRow(ctx, s.pool, `SELECT `+s.leaderCols(2)+` FROM leader WHERE name = $1`, name, now.UnixNano()))
	if noRows(err) {
		return l, fmt.Errorf("read leader %s: %w", name, cairn.ErrNotFound)
	}
	if err != nil {
		return l, fmt.Errorf("read leader %s: %w", name, translate(err))
	}
	return l, nil
}

// CheckFence fails with cairn.ErrNotLeader unless the lease is still f's
// term. It locks the lease's row (FOR SHARE) until the batch ends: a
// server taking the lease meanwhile waits for the batch to commit, so
// that the fenced writes land within f's term.
func (b *batchTx) CheckFence(f scheduler.Fence) error {
	err := b.run(func(ctx context.Context, tx pgx.Tx) error {
		var one int
		err := b.s.queryRow(ctx, tx, `SELECT 1 FROM leader WHERE name = $1 AND holder = $2 AND epoch = $3 FOR SHARE`,
			f.Name, f.Holder, f.Epoch).Scan(&one)
		if noRows(err) {
			return fmt.Errorf("%w: %s's term (epoch %d) of %s is over", cairn.ErrNotLeader, f.Holder, f.Epoch, f.Name)
		}
		return translate(err)
	}, true)
	if err != nil {
		return fmt.Errorf("fence: %w", err)
	}
	return nil
}

// RunOwner returns the owner of run id's claim as of the batch. It locks
// the run's row (FOR SHARE) until the batch ends: a scheduler claiming
// the run meanwhile waits for the batch to commit, and then reads what
// it wrote. A run whose row a CompleteMany of the batch locked so and
// read (a completion of it accepted), and which the batch has not
// written since, is answered from that reading, without a statement: the
// lock held since, nobody else has changed it.
func (b *batchTx) RunOwner(id string) (string, error) {
	if owner, ok := b.owners[id]; ok && b.broken == nil {
		return owner, nil
	}
	var owner string
	err := b.run(func(ctx context.Context, tx pgx.Tx) error {
		err := b.s.queryRow(ctx, tx, `SELECT owner FROM runs WHERE id = $1 FOR SHARE`, id).Scan(&owner)
		if noRows(err) {
			return fmt.Errorf("run %s: %w", id, cairn.ErrNotFound)
		}
		return translate(err)
	}, true)
	if err != nil {
		return "", fmt.Errorf("read the owner of run %s: %w", id, err)
	}
	return owner, nil
}
