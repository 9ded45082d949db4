package postgres_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/store/postgres"
)

func readyRun(t *testing.T, s scheduler.Store, at time.Time, n int) *cairn.Run {
	t.Helper()
	run := &cairn.Run{ID: cairn.NewRunID(at), Workflow: "wf", State: cairn.RunRunning, CreatedAt: at}
	var tasks []*cairn.TaskRun
	for i := range n {
		tasks = append(tasks, &cairn.TaskRun{TaskID: "t" + string(rune('a'+i)), Type: "noop", State: cairn.TaskReady})
	}
	if err := s.CreateRun(context.Background(), run, tasks); err != nil {
		t.Fatal(err)
	}
	return run
}

// TestDatabaseClock: by default a lease's expiry is judged by the
// database's clock, whatever the callers' clocks say: a worker whose clock
// runs an hour ahead cannot have its lease reaped by a reaper whose clock
// runs a day ahead, and a lease whose TTL has passed on the database's
// clock is expired whatever time the caller claims.
func TestDatabaseClock(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, newDatabase(t))
	real := time.Now()
	ahead := real.Add(time.Hour)
	run := readyRun(t, s, real, 2)
	items, err := s.Lease(ctx, cairn.LeaseRequest{Worker: "w", RunID: run.ID, Max: 2}, ahead, 2*time.Second)
	if err != nil || len(items) != 2 {
		t.Fatalf("Lease = %d items, %v", len(items), err)
	}
	// Handed back in the caller's terms: its now plus the TTL.
	if got := items[0].Lease.ExpiresAt; !got.Equal(ahead.Add(2 * time.Second)) {
		t.Errorf("ExpiresAt = %v, want the caller's now + ttl %v", got, ahead.Add(2*time.Second))
	}
	// A day ahead, the caller's clock says every lease expired: the
	// database's does not.
	day := real.Add(24 * time.Hour)
	if ls, err := s.ExpiredLeases(ctx, "", day, 0); err != nil || len(ls) != 0 {
		t.Errorf("ExpiredLeases a day ahead = %v, %v; want none (the database's clock decides)", ls, err)
	}
	if _, err := s.Expire(ctx, items[0].Lease, cairn.Completion{State: cairn.TaskFailed, Error: "reaped"}, day, false); !errors.Is(err, cairn.ErrLeaseLost) {
		t.Errorf("Expire of a live lease with a clock a day ahead: %v, want ErrLeaseLost", err)
	}
	// A heartbeat from a clock an hour behind still renews it.
	if _, err := s.Heartbeat(ctx, items[0].Lease, real.Add(-time.Hour), 2*time.Second); err != nil {
		t.Errorf("Heartbeat from a clock behind: %v", err)
	}
	// Once the TTL has passed on the database's clock, item 1's lease is
	// expired, even for a caller whose clock is an hour behind.
	time.Sleep(2500 * time.Millisecond)
	behind := real.Add(-time.Hour)
	ls, err := s.ExpiredLeases(ctx, run.ID, behind, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != 2 {
		t.Fatalf("ExpiredLeases after the TTL = %v, want both leases", ls)
	}
	for _, l := range ls {
		// In the caller's terms: before its now.
		if !l.ExpiresAt.Before(behind) || l.ExpiresAt.Before(behind.Add(-5*time.Second)) {
			t.Errorf("expired lease's ExpiresAt %v, want shortly before the caller's now %v", l.ExpiresAt, behind)
		}
	}
	if _, err := s.Complete(ctx, items[1].Lease, cairn.Completion{State: cairn.TaskSucceeded}, behind); !errors.Is(err, cairn.ErrLeaseLost) {
		t.Errorf("Complete after the TTL with a clock behind: %v, want ErrLeaseLost", err)
	}
	if _, err := s.Expire(ctx, items[1].Lease, cairn.Completion{State: cairn.TaskFailed, Error: "expired"}, behind, false); err != nil {
		t.Errorf("Expire after the TTL with a clock behind: %v", err)
	}
	// Claims too: a claim taken with a clock a day ahead lasts its TTL on
	// the database's clock, not a day more.
	if _, err := s.ClaimRun(ctx, run.ID, "a", day, 2*time.Second, false); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ClaimRun(ctx, run.ID, "b", real, time.Minute, false); !errors.Is(err, cairn.ErrRunOwned) {
		t.Errorf("claim of a live claim: %v, want ErrRunOwned", err)
	}
	time.Sleep(2500 * time.Millisecond)
	if _, err := s.ClaimRun(ctx, run.ID, "b", behind, time.Minute, false); err != nil {
		t.Errorf("claim after the first expired on the database's clock: %v", err)
	}
}

// TestListen: a transaction that makes tasks ready or writes an
// evaluation, on another store (another process), wakes the listeners.
func TestListen(t *testing.T) {
	ctx := context.Background()
	dsn := newDatabase(t)
	a, b := openStore(t, dsn), openStore(t, dsn)
	ready, evals := make(chan struct{}, 16), make(chan struct{}, 16)
	if err := a.Listen(ctx, func() { ready <- struct{}{} }, func() { evals <- struct{}{} }); err != nil {
		t.Fatal(err)
	}
	wait := func(ch chan struct{}, what string) {
		t.Helper()
		select {
		case <-ch:
		case <-time.After(5 * time.Second):
			t.Fatalf("no %s notification within 5s", what)
		}
	}
	readyRun(t, b, time.Now(), 1) // ready tasks, and the run's evaluation
	wait(ready, "ready")
	wait(evals, "evaluation")
	run := &cairn.Run{ID: cairn.NewRunID(time.Now()), Workflow: "wf", State: cairn.RunRunning, CreatedAt: time.Now()}
	if err := b.CreateRun(ctx, run, []*cairn.TaskRun{{TaskID: "x", Type: "noop", State: cairn.TaskPending}}); err != nil {
		t.Fatal(err)
	}
	wait(evals, "evaluation")
	select {
	case <-ready:
		t.Error("a run with no ready task woke the ready listeners")
	case <-time.After(200 * time.Millisecond):
	}
	// A plan making a task ready wakes them.
	tr, err := b.GetTaskRun(ctx, run.ID, "x")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.ApplyPlan(ctx, &scheduler.Plan{RunID: run.ID, Tasks: []scheduler.TaskChange{{TaskID: "x", FromVersion: tr.Version,
		From: cairn.TaskPending, To: cairn.TaskReady, Params: []byte(`{}`)}}}); err != nil {
		t.Fatal(err)
	}
	wait(ready, "ready")
	// Closing the store stops the listener (goroutine awaited).
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestOpenUnreachable: a DSN that does not connect fails at once, naming
// the host and the cause, without the password.
func TestOpenUnreachable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := postgres.Open(ctx, "postgres://cairn:s3cretpw@127.0.0.1:1/db?sslmode=disable&connect_timeout=2")
	if err == nil {
		t.Fatal("Open of a closed port succeeded")
	}
	msg := err.Error()
	for _, want := range []string{"127.0.0.1:1", "connection refused", `"db"`, `"cairn"`} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not say %q", msg, want)
		}
	}
	if strings.Contains(msg, "s3cretpw") {
		t.Errorf("error %q shows the password", msg)
	}
	if got := postgres.Redact("host=x password=s3cretpw user=u"); strings.Contains(got, "s3cretpw") {
		t.Errorf("Redact of key=value settings = %q", got)
	}
	if got := postgres.Redact("postgres://u:s3cretpw@h/db"); strings.Contains(got, "s3cretpw") || !strings.Contains(got, "u:xxxxx@h") {
		t.Errorf("Redact of a URL = %q", got)
	}
}

// TestEvaluationsInCommitOrder: with writers in many processes, a reader
// keeping a cursor (the scheduler service) never skips an evaluation
// committed after one with a higher id.
func TestEvaluationsInCommitOrder(t *testing.T) {
	ctx := context.Background()
	dsn := newDatabase(t)
	stores := []*postgres.Store{openStore(t, dsn), openStore(t, dsn), openStore(t, dsn)}
	run := readyRun(t, stores[0], time.Now(), 1)
	const writers, each = 6, 40
	var done atomic.Int32
	errc := make(chan error, writers)
	for w := range writers {
		go func() {
			defer done.Add(1)
			for range each {
				err := stores[w%len(stores)].Batch(ctx, func(tx scheduler.Tx) error {
					if _, err := tx.AddEvaluation(scheduler.Evaluation{RunID: run.ID, Reason: scheduler.EvalCompleted, CreatedAt: time.Now()}); err != nil {
						return err
					}
					// Hold the id a while before committing, as a
					// completion's transaction does its other writes.
					_, err := tx.AnyReady(cairn.LeaseRequest{RunID: run.ID})
					time.Sleep(time.Duration(rand.IntN(3)) * time.Millisecond)
					return err
				})
				if err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	seen := map[int64]bool{}
	var cursor int64
	for {
		finished := done.Load() == writers
		es, err := stores[1].Evaluations(ctx, cursor, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			seen[e.ID] = true
			cursor = e.ID
		}
		if finished && len(es) == 0 {
			break
		}
	}
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	all, err := stores[2].Evaluations(ctx, 0, 10000)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != writers*each+1 {
		t.Errorf("%d evaluations stored, want %d", len(all), writers*each+1)
	}
	for _, e := range all {
		if !seen[e.ID] {
			t.Errorf("the cursor reader skipped evaluation %d", e.ID)
		}
	}
	if last, err := stores[0].LastEvaluation(ctx); err != nil || last != all[len(all)-1].ID {
		t.Errorf("LastEvaluation = %d, %v; want %d", last, err, all[len(all)-1].ID)
	}
}

// TestDatabaseClockDue: a running attempt's due time (its timeout and
// cairn.TimeoutGrace after it began) is judged by the database's clock
// too: heartbeats from a clock an hour behind are refused once the
// database's says it is due plus the TTL, and one from a clock an hour
// ahead is renewed before; the expired lease is listed PastDue.
func TestDatabaseClockDue(t *testing.T) {
	if testing.Short() {
		t.Skip("waits cairn.TimeoutGrace")
	}
	ctx := context.Background()
	s := openStore(t, newDatabase(t))
	real := time.Now()
	behind, ahead := real.Add(-time.Hour), real.Add(time.Hour)
	run := &cairn.Run{ID: cairn.NewRunID(real), Workflow: "wf", State: cairn.RunRunning, CreatedAt: real}
	if err := s.CreateRun(ctx, run, []*cairn.TaskRun{{TaskID: "t", Type: "noop", State: cairn.TaskReady, Timeout: time.Millisecond}}); err != nil {
		t.Fatal(err)
	}
	const ttl = 2 * time.Second
	items, err := s.Lease(ctx, cairn.LeaseRequest{Worker: "w", RunID: run.ID, Max: 1, Start: true}, behind, ttl)
	if err != nil || len(items) != 1 {
		t.Fatalf("Lease = %v, %v", items, err)
	}
	l := items[0].Lease
	start := time.Now()
	if _, err := s.Heartbeat(ctx, l, ahead, ttl); err != nil {
		t.Fatalf("Heartbeat from a clock an hour ahead, at once: %v", err)
	}
	for {
		time.Sleep(500 * time.Millisecond)
		_, err := s.Heartbeat(ctx, l, behind.Add(time.Since(start)), ttl)
		age := time.Since(start)
		if err == nil {
			if age > cairn.TimeoutGrace+ttl+2*time.Second {
				t.Fatalf("renewed %s after the start (timeout 1ms)", age)
			}
			continue
		}
		if !errors.Is(err, cairn.ErrLeaseLost) || age < cairn.TimeoutGrace+ttl-time.Second {
			t.Fatalf("Heartbeat %s after the start: %v; want renewed until %s, then ErrLeaseLost", age, err, cairn.TimeoutGrace+ttl)
		}
		break
	}
	ls, err := s.ExpiredLeases(ctx, run.ID, behind, 0)
	if err != nil || len(ls) != 1 || !ls[0].PastDue {
		t.Fatalf("ExpiredLeases = %+v, %v; want t's, past due", ls, err)
	}
}
