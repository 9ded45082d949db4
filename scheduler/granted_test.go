package scheduler_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"

	"github.com/cairnml/cairn"
)

// A lease taken with a batch of completions is granted when the batch
// holds the write lock, not when the batch began: another process that
// held the lock meanwhile (here a second connection, as another 'cairn
// run' on the same home would) committed before it, so a task that lets
// go of a pool's slot there ended before this lease of the slot began —
// the attempts' times say so (they said the opposite, by the wait for the
// lock: TestPoolSharedByConcurrentRuns saw a lease 146 µs before the end
// of the slot's previous holder).
func TestLeaseAfterCompletionGrantedUnderTheLock(t *testing.T) {
	const ttl = 30 * time.Second
	r := newRig(t, rigOptions{leaseTTL: ttl})
	id := r.createReady(t, 2, cairn.RetryPolicy{})
	ctx := context.Background()
	first := leaseOne(t, r, "w", id)

	other, err := sql.Open("sqlite3", filepath.Join(r.dir, "cairn.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatalf("take the write lock: %v", err)
	}
	type answer struct {
		items []cairn.WorkItem
		err   error
	}
	done := make(chan answer, 1)
	go func() {
		items, err := r.broker.CompleteAndLease(ctx, first.Lease, cairn.Completion{}, cairn.LeaseRequest{Worker: "w", RunID: id, Max: 1, Start: true})
		done <- answer{items, err}
	}()
	time.Sleep(300 * time.Millisecond) // the batch waits for the lock
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		t.Fatalf("let go of the write lock: %v", err)
	}
	released := time.Now()
	a := <-done
	if a.err != nil || len(a.items) != 1 {
		t.Fatalf("CompleteAndLease = %+v, %v; want the other task", a.items, a.err)
	}
	if granted := a.items[0].Lease.ExpiresAt.Add(-ttl); granted.Before(released.Add(-5 * time.Millisecond)) {
		t.Errorf("the lease after the completion was granted at %s, %s before the other writer let go of the lock (at %s)",
			granted.Format(time.RFC3339Nano), released.Sub(granted), released.Format(time.RFC3339Nano))
	}
	as, err := r.st.ListAttempts(ctx, id, a.items[0].Lease.TaskID)
	if err != nil || len(as) != 1 {
		t.Fatalf("attempts of %s: %+v, %v", a.items[0].Lease.TaskID, as, err)
	}
	if as[0].StartedAt.Before(released.Add(-5 * time.Millisecond)) {
		t.Errorf("the attempt leased after the completion started at %s, before the lock was let go at %s",
			as[0].StartedAt.Format(time.RFC3339Nano), released.Format(time.RFC3339Nano))
	}
}
