package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/store/postgres"
)

// TestLeaderDatabaseClock: the leader lease's term is judged by the
// database's clock, as leases are: a server whose clock runs a day ahead
// cannot take a live term, and once the term has passed on the
// database's clock another server takes it whatever its own clock says,
// and the deposed leader's fenced writes are refused.
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
	fenced := func(s scheduler.Store) error {
		return s.Batch(ctx, func(tx scheduler.Tx) error { return tx.CheckFence(la.Fence()) })
	}
	if err := fenced(b); err != nil {
		t.Errorf("a's fenced write within its term, through b: %v", err)
	}
	time.Sleep(ttl + 500*time.Millisecond)
	lb, err := b.AcquireLeader(ctx, scheduler.LeaderScheduler, "b", real.Add(-time.Hour), ttl)
	if err != nil || lb.Epoch != 2 {
		t.Fatalf("b after a's term passed on the database's clock, its own an hour behind: %+v, %v", lb, err)
	}
	if err := fenced(a); !errors.Is(err, cairn.ErrNotLeader) {
		t.Errorf("deposed a's fenced write: %v, want ErrNotLeader", err)
	}
}

// TestFenceWaitsForTakeover: a fenced batch in progress holds the lease's
// row: a server taking the lease (its term expired) waits for the batch to
// commit, so the batch's writes land within the term that checked.
func TestFenceWaitsForTakeover(t *testing.T) {
	ctx := context.Background()
	dsn := newDatabase(t)
	a, b := openStore(t, dsn, postgres.WithCallerClock()), openStore(t, dsn, postgres.WithCallerClock())
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	la, err := a.AcquireLeader(ctx, scheduler.LeaderScheduler, "a", t0, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	inside, release := make(chan struct{}), make(chan struct{})
	batch := make(chan error, 1)
	go func() {
		batch <- a.Batch(ctx, func(tx scheduler.Tx) error {
			if err := tx.CheckFence(la.Fence()); err != nil {
				return err
			}
			close(inside)
			<-release
			return nil
		})
	}()
	<-inside
	took := make(chan error, 1)
	go func() {
		_, err := b.AcquireLeader(ctx, scheduler.LeaderScheduler, "b", t0.Add(time.Minute), time.Second)
		took <- err
	}()
	select {
	case err := <-took:
		t.Fatalf("b took the lease while a's fenced batch was open: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	close(release)
	if err := <-batch; err != nil {
		t.Fatalf("a's fenced batch: %v", err)
	}
	if err := <-took; err != nil {
		t.Fatalf("b after a's batch committed: %v", err)
	}
}
