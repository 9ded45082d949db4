package storetest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
)

const leaderTTL = 10 * time.Second

// fencedPut advances schedule wf's position to pos in a batch that checks
// f first, as a leader's cron firing does.
func fencedPut(s scheduler.Store, f scheduler.Fence, now time.Time, pos time.Time) error {
	return s.Batch(context.Background(), func(tx scheduler.Tx) error {
		if err := tx.CheckFence(f); err != nil {
			return err
		}
		st, err := tx.Schedule("wf")
		if err != nil {
			return err
		}
		st.Position, st.UpdatedAt = pos, now
		return tx.PutSchedule(&st)
	})
}

func putSchedule(t *testing.T, s scheduler.Store, at time.Time) {
	t.Helper()
	st := scheduler.ScheduleState{Workflow: "wf", Spec: "s", Position: at, UpdatedAt: at}
	if err := s.Batch(context.Background(), func(tx scheduler.Tx) error { return tx.PutSchedule(&st) }); err != nil {
		t.Fatal(err)
	}
}

func schedulePosition(t *testing.T, s scheduler.Store) time.Time {
	t.Helper()
	list, err := s.Schedules(context.Background())
	if err != nil || len(list) != 1 {
		t.Fatalf("Schedules = %+v, %v", list, err)
	}
	return list[0].Position
}

// testLeaderLease: a free lease is taken at epoch 1 and renewed while
// held; another holder is refused until the term expires, then takes it
// at the next epoch; the deposed holder can no longer renew; a released
// term is free at once; a holder that lost track of its own live term
// takes it again at a new epoch.
func testLeaderLease(t *testing.T, s scheduler.Store) {
	ctx := context.Background()
	t0 := origin()
	const name = scheduler.LeaderScheduler
	if _, err := s.Leader(ctx, name, t0); !errors.Is(err, cairn.ErrNotFound) {
		t.Fatalf("Leader before any term: %v, want ErrNotFound", err)
	}
	a, err := s.AcquireLeader(ctx, name, "a", t0, leaderTTL)
	if err != nil {
		t.Fatal(err)
	}
	if a.Name != name || a.Holder != "a" || a.Epoch != 1 || !a.Live || !a.ExpiresAt.Equal(t0.Add(leaderTTL)) || !a.AcquiredAt.Equal(t0) {
		t.Fatalf("first term %+v", a)
	}
	cur, err := s.AcquireLeader(ctx, name, "b", t0.Add(time.Second), leaderTTL)
	if !errors.Is(err, cairn.ErrNotLeader) || cur.Holder != "a" || cur.Epoch != 1 || !cur.Live || !cur.ExpiresAt.Equal(t0.Add(leaderTTL)) {
		t.Fatalf("b while a's term is live: %+v, %v; want a's term and ErrNotLeader", cur, err)
	}
	// Renewed before it expires: b is refused past the first expiry.
	r, err := s.RenewLeader(ctx, a.Fence(), t0.Add(5*time.Second), leaderTTL)
	if err != nil || r.Epoch != 1 || !r.ExpiresAt.Equal(t0.Add(15*time.Second)) {
		t.Fatalf("renew: %+v, %v", r, err)
	}
	if _, err := s.AcquireLeader(ctx, name, "b", t0.Add(12*time.Second), leaderTTL); !errors.Is(err, cairn.ErrNotLeader) {
		t.Fatalf("b after the first expiry but within the renewed term: %v, want ErrNotLeader", err)
	}
	if l, err := s.Leader(ctx, name, t0.Add(12*time.Second)); err != nil || l.Holder != "a" || !l.Live {
		t.Fatalf("Leader within a's term: %+v, %v", l, err)
	}
	// Expired: b takes over at epoch 2; a can no longer renew.
	t1 := t0.Add(15 * time.Second)
	if l, err := s.Leader(ctx, name, t1); err != nil || l.Live {
		t.Fatalf("Leader at a's expiry: %+v, %v; want not live", l, err)
	}
	b, err := s.AcquireLeader(ctx, name, "b", t1, leaderTTL)
	if err != nil || b.Holder != "b" || b.Epoch != 2 || !b.AcquiredAt.Equal(t1) {
		t.Fatalf("b after a's term expired: %+v, %v", b, err)
	}
	if _, err := s.RenewLeader(ctx, a.Fence(), t1.Add(time.Second), leaderTTL); !errors.Is(err, cairn.ErrNotLeader) {
		t.Fatalf("deposed a renews: %v, want ErrNotLeader", err)
	}
	if err := s.ReleaseLeader(ctx, a.Fence()); err != nil {
		t.Fatalf("deposed a releases: %v, want a no-op", err)
	}
	if l, err := s.Leader(ctx, name, t1.Add(time.Second)); err != nil || l.Holder != "b" || l.Epoch != 2 || !l.Live {
		t.Fatalf("a's release changed b's term: %+v, %v", l, err)
	}
	wrong := b.Fence()
	wrong.Epoch = 1
	if _, err := s.RenewLeader(ctx, wrong, t1.Add(time.Second), leaderTTL); !errors.Is(err, cairn.ErrNotLeader) {
		t.Fatalf("b renews with an old epoch: %v, want ErrNotLeader", err)
	}
	// Released: free at once, the epoch kept.
	if err := s.ReleaseLeader(ctx, b.Fence()); err != nil {
		t.Fatal(err)
	}
	t2 := t1.Add(2 * time.Second)
	if l, err := s.Leader(ctx, name, t2); err != nil || l.Live {
		t.Fatalf("Leader after release: %+v, %v; want not live", l, err)
	}
	c, err := s.AcquireLeader(ctx, name, "c", t2, leaderTTL)
	if err != nil || c.Holder != "c" || c.Epoch != 3 {
		t.Fatalf("c after b released: %+v, %v", c, err)
	}
	// c takes its own live term again (it lost track of it): a new epoch,
	// and the old one is fenced off.
	c2, err := s.AcquireLeader(ctx, name, "c", t2.Add(time.Second), leaderTTL)
	if err != nil || c2.Holder != "c" || c2.Epoch != 4 {
		t.Fatalf("c again: %+v, %v", c2, err)
	}
	if _, err := s.RenewLeader(ctx, c.Fence(), t2.Add(time.Second), leaderTTL); !errors.Is(err, cairn.ErrNotLeader) {
		t.Fatalf("c renews its previous epoch: %v, want ErrNotLeader", err)
	}
	// Another role is another lease.
	if o, err := s.AcquireLeader(ctx, "other", "a", t2, leaderTTL); err != nil || o.Epoch != 1 {
		t.Fatalf("another role: %+v, %v", o, err)
	}
	if _, err := s.AcquireLeader(ctx, "", "a", t2, leaderTTL); err == nil {
		t.Error("an empty name taken")
	}
}

// testLeaderFence: a write fenced by the current term commits (even once
// the term expired, while nobody took the lease); fenced by a deposed
// term, a released one or a forged one, it is refused with
// cairn.ErrNotLeader and changes nothing, including what the batch wrote
// before the check.
func testLeaderFence(t *testing.T, s scheduler.Store) {
	ctx := context.Background()
	t0 := origin()
	putSchedule(t, s, t0)
	a, err := s.AcquireLeader(ctx, scheduler.LeaderScheduler, "a", t0, leaderTTL)
	if err != nil {
		t.Fatal(err)
	}
	if err := fencedPut(s, a.Fence(), t0.Add(time.Second), t0.Add(time.Minute)); err != nil {
		t.Fatalf("a fenced write in a's term: %v", err)
	}
	if got := schedulePosition(t, s); !got.Equal(t0.Add(time.Minute)) {
		t.Fatalf("position %v after the leader's write", got)
	}
	// Past the term's end, nobody has taken over yet: the token is still
	// the lease's, and no other leader's write can come between.
	late := t0.Add(leaderTTL)
	if err := fencedPut(s, a.Fence(), late, t0.Add(90*time.Second)); err != nil {
		t.Fatalf("a fenced write after the term's end, nobody leading since: %v", err)
	}
	b, err := s.AcquireLeader(ctx, scheduler.LeaderScheduler, "b", late, leaderTTL)
	if err != nil {
		t.Fatal(err)
	}
	// a, deposed, writes within what it thinks is its term: refused, and
	// a write the batch made before the check is undone too.
	before := snapshotRuns(t, s)
	err = s.Batch(ctx, func(tx scheduler.Tx) error {
		run, tasks := slotRun(late, "wf", t0.Add(2*time.Minute), cairn.TriggerCron)
		if err := tx.CreateRun(run, tasks); err != nil {
			return err
		}
		if err := tx.CheckFence(a.Fence()); err != nil {
			return err
		}
		st, err := tx.Schedule("wf")
		if err != nil {
			return err
		}
		st.Position = t0.Add(2 * time.Minute)
		return tx.PutSchedule(&st)
	})
	if !errors.Is(err, cairn.ErrNotLeader) {
		t.Fatalf("deposed a's fenced write: %v, want ErrNotLeader", err)
	}
	if got := schedulePosition(t, s); !got.Equal(t0.Add(90 * time.Second)) {
		t.Errorf("position %v after a deposed leader's write, want it unchanged", got)
	}
	if after := snapshotRuns(t, s); after != before {
		t.Errorf("runs after a deposed leader's write: %d, want %d", after, before)
	}
	if err := fencedPut(s, b.Fence(), late.Add(time.Second), t0.Add(3*time.Minute)); err != nil {
		t.Fatalf("b's fenced write: %v", err)
	}
	// Released: refused at once.
	if err := s.ReleaseLeader(ctx, b.Fence()); err != nil {
		t.Fatal(err)
	}
	if err := fencedPut(s, b.Fence(), late.Add(2*time.Second), t0.Add(4*time.Minute)); !errors.Is(err, cairn.ErrNotLeader) {
		t.Fatalf("a fenced write after release: %v, want ErrNotLeader", err)
	}
	// An epoch that was never the lease's, and a lease never held.
	forged := scheduler.Fence{Name: scheduler.LeaderScheduler, Holder: "b", Epoch: 99}
	if err := fencedPut(s, forged, late.Add(time.Second), t0.Add(4*time.Minute)); !errors.Is(err, cairn.ErrNotLeader) {
		t.Fatalf("a forged epoch: %v, want ErrNotLeader", err)
	}
	if err := fencedPut(s, scheduler.Fence{Name: "never", Holder: "a", Epoch: 1}, late, t0.Add(4*time.Minute)); !errors.Is(err, cairn.ErrNotLeader) {
		t.Fatalf("a lease never held: %v, want ErrNotLeader", err)
	}
	if got := schedulePosition(t, s); !got.Equal(t0.Add(3 * time.Minute)) {
		t.Errorf("position %v, want b's", got)
	}
}

func snapshotRuns(t *testing.T, s scheduler.Store) int {
	t.Helper()
	runs, err := s.ListRuns(context.Background(), scheduler.RunFilter{Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	return len(runs)
}

// testTwoStoresLeader: many holders on two stores race for the lease, term
// after term: each time exactly one wins, the epochs go up by one, and
// the deposed leader's fenced write through either store is refused.
func testTwoStoresLeader(t *testing.T, a, b scheduler.Store) {
	ctx := context.Background()
	t0 := origin()
	putSchedule(t, a, t0)
	const rounds, holders = 10, 8
	var prev scheduler.Leadership
	for round := 0; round < rounds; round++ {
		// Each round starts once the previous term has expired.
		now := t0.Add(time.Duration(round) * (leaderTTL + time.Second))
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			won  []scheduler.Leadership
			errs []error
		)
		for h := 0; h < holders; h++ {
			s := []scheduler.Store{a, b}[h%2]
			holder := string(rune('a'+h)) + "-holder"
			wg.Add(1)
			go func() {
				defer wg.Done()
				l, err := s.AcquireLeader(ctx, scheduler.LeaderScheduler, holder, now, leaderTTL)
				mu.Lock()
				defer mu.Unlock()
				if err == nil {
					won = append(won, l)
				} else if !errors.Is(err, cairn.ErrNotLeader) {
					errs = append(errs, err)
				}
			}()
		}
		wg.Wait()
		if len(errs) > 0 {
			t.Fatalf("round %d: %v", round, errs)
		}
		if len(won) != 1 {
			t.Fatalf("round %d: %d holders won the lease, want 1: %+v", round, len(won), won)
		}
		w := won[0]
		if w.Epoch != int64(round+1) {
			t.Errorf("round %d: epoch %d, want %d", round, w.Epoch, round+1)
		}
		for _, s := range []scheduler.Store{a, b} {
			if l, err := s.Leader(ctx, scheduler.LeaderScheduler, now); err != nil || l.Fence() != w.Fence() {
				t.Errorf("round %d: Leader = %+v, %v; want %+v", round, l, err, w)
			}
		}
		if round > 0 {
			// The previous leader, deposed, writes as if its term went on.
			for _, s := range []scheduler.Store{a, b} {
				if err := fencedPut(s, prev.Fence(), now, now); !errors.Is(err, cairn.ErrNotLeader) {
					t.Fatalf("round %d: deposed leader's write: %v, want ErrNotLeader", round, err)
				}
			}
		}
		if err := fencedPut([]scheduler.Store{a, b}[round%2], w.Fence(), now, now); err != nil {
			t.Fatalf("round %d: the leader's write: %v", round, err)
		}
		if got := schedulePosition(t, a); !got.Equal(now) {
			t.Fatalf("round %d: position %v, want %v", round, got, now)
		}
		prev = w
	}
}

// testLeaderTake: a live term whose holder is known to be gone is taken at
// once (TakeLeader) at the next epoch; the gone holder's renewals and
// fenced writes are refused from then on; a take naming a term that is no
// longer the lease's — taken already, or forged — is refused and changes
// nothing.
func testLeaderTake(t *testing.T, s scheduler.Store) {
	ctx := context.Background()
	t0 := origin()
	const name = scheduler.LeaderScheduler
	putSchedule(t, s, t0)
	a, err := s.AcquireLeader(ctx, name, "a", t0, leaderTTL)
	if err != nil {
		t.Fatal(err)
	}
	t1 := t0.Add(time.Second) // a's term is live
	d, err := s.TakeLeader(ctx, a.Fence(), "d", t1, leaderTTL)
	if err != nil || d.Holder != "d" || d.Epoch != a.Epoch+1 || !d.AcquiredAt.Equal(t1) || !d.ExpiresAt.Equal(t1.Add(leaderTTL)) {
		t.Fatalf("d takes a's live term: %+v, %v", d, err)
	}
	if l, err := s.Leader(ctx, name, t1); err != nil || l.Holder != "d" || l.Epoch != d.Epoch || !l.Live {
		t.Fatalf("Leader after the take: %+v, %v", l, err)
	}
	if _, err := s.RenewLeader(ctx, a.Fence(), t1, leaderTTL); !errors.Is(err, cairn.ErrNotLeader) {
		t.Fatalf("a renews after the take: %v, want ErrNotLeader", err)
	}
	if err := fencedPut(s, a.Fence(), t1, t1); !errors.Is(err, cairn.ErrNotLeader) {
		t.Fatalf("a's fenced write after the take: %v, want ErrNotLeader", err)
	}
	if got := schedulePosition(t, s); !got.Equal(t0) {
		t.Fatalf("a's refused write moved the schedule to %v", got)
	}
	if err := fencedPut(s, d.Fence(), t1, t1); err != nil {
		t.Fatalf("d's fenced write: %v", err)
	}
	// a's term again (taken already), a forged epoch: refused, d keeps it.
	if _, err := s.TakeLeader(ctx, a.Fence(), "e", t1, leaderTTL); !errors.Is(err, cairn.ErrNotLeader) {
		t.Fatalf("a take of a term taken already: %v, want ErrNotLeader", err)
	}
	forged := d.Fence()
	forged.Epoch += 7
	if _, err := s.TakeLeader(ctx, forged, "e", t1, leaderTTL); !errors.Is(err, cairn.ErrNotLeader) {
		t.Fatalf("a take of a forged term: %v, want ErrNotLeader", err)
	}
	if l, err := s.Leader(ctx, name, t1); err != nil || l.Holder != "d" || l.Epoch != d.Epoch {
		t.Fatalf("refused takes changed the lease: %+v, %v", l, err)
	}
}
