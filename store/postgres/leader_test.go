package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
)

// TestLeaderDatabaseClock: the leader lease's term is judged by the
// database's clock, as leases are: a server whose clock runs a day ahead
// cannot take a live term, nor can a leader whose clock runs behind keep
// making fenced writes once its term has passed on the database's clock.
func TestLeaderDatabaseClock(t *testing.T) {
	ctx := context.Background()
	dsn := newDatabase(t)
	a, b := openStore(t, dsn), openStore(t, dsn)
	real := time.Now()
	const ttl = 2 * time.Second
	la, err := a.AcquireLeader(ctx, scheduler.LeaderScheduler, "a", real.Add(-time.Hour), ttl)
	if err != nil {
		t.Fatal(err)
	}
	// In the caller's terms: its now plus the TTL.
	if want := real.Add(-time.Hour + ttl); !la.ExpiresAt.Equal(want) || !la.Live {
		t.Errorf("term %+v, want live until %v", la, want)
	}
	day := real.Add(24 * time.Hour)
	if cur, err := b.AcquireLeader(ctx, scheduler.LeaderScheduler, "b", day, ttl); !errors.Is(err, cairn.ErrNotLeader) || cur.Holder != "a" {
		t.Fatalf("b with a clock a day ahead: %+v, %v; want a's live term and ErrNotLeader", cur, err)
	}
	if l, err := b.Leader(ctx, scheduler.LeaderScheduler, day); err != nil || !l.Live || l.ExpiresAt.Before(day) {
		t.Errorf("Leader read a day ahead: %+v, %v; want live, expiring after the caller's now", l, err)
	}
	fenced := func(s scheduler.Store, now time.Time) error {
		return s.Batch(ctx, func(tx scheduler.Tx) error { return tx.CheckFence(la.Fence(), now) })
	}
	if err := fenced(a, day); err != nil {
		t.Errorf("a's fenced write within its term, its clock a day ahead: %v", err)
	}
	time.Sleep(ttl + 500*time.Millisecond)
	if err := fenced(a, real.Add(-time.Hour)); !errors.Is(err, cairn.ErrNotLeader) {
		t.Errorf("a's fenced write after its term on the database's clock, its own an hour behind: %v, want ErrNotLeader", err)
	}
	lb, err := b.AcquireLeader(ctx, scheduler.LeaderScheduler, "b", real.Add(-time.Hour), ttl)
	if err != nil || lb.Epoch != 2 {
		t.Fatalf("b after a's term passed on the database's clock, its own an hour behind: %+v, %v", lb, err)
	}
}
