package scheduler_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/store/postgres"
	"github.com/cairnml/cairn/store/postgres/pgtest"
	"github.com/cairnml/cairn/store/sqlite"
)

// closingStore is a store that a test can close (once) to kill the
// process holding it, or to end it at the test's end.
type closingStore struct {
	scheduler.Store
	once  sync.Once
	close func() error
}

func (c *closingStore) kill() { c.once.Do(func() { c.close() }) }

// storeOpener opens stores on one database of kind: "sqlite" (one file,
// as processes on one machine) or "postgres" (a database of its own on
// CAIRN_TEST_POSTGRES; skipped without it).
func storeOpener(t *testing.T, kind string) func() *closingStore {
	t.Helper()
	ctx := context.Background()
	var open func() (scheduler.Store, func() error, error)
	switch kind {
	case "sqlite":
		path := filepath.Join(t.TempDir(), "cairn.db")
		open = func() (scheduler.Store, func() error, error) {
			st, err := sqlite.Open(ctx, path)
			if err != nil {
				return nil, nil, err
			}
			return st, st.Close, nil
		}
	case "postgres":
		dsn := pgtest.NewDatabase(t)
		open = func() (scheduler.Store, func() error, error) {
			st, err := postgres.Open(ctx, dsn)
			if err != nil {
				return nil, nil, err
			}
			return st, st.Close, nil
		}
	}
	return func() *closingStore {
		t.Helper()
		st, closeFn, err := open()
		if err != nil {
			t.Fatal(err)
		}
		c := &closingStore{Store: st, close: closeFn}
		t.Cleanup(c.kill)
		return c
	}
}

func eachStore(t *testing.T, fn func(t *testing.T, open func() *closingStore)) {
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			if kind == "postgres" {
				pgtest.ServerDSN(t)
			}
			fn(t, storeOpener(t, kind))
		})
	}
}

// replica is one server's scheduler service on the shared database.
type replica struct {
	name string
	st   *closingStore
	svc  *scheduler.Service

	mu    sync.Mutex
	terms []scheduler.Leadership // each term it started
	lost  int                    // terms it stopped leading
	fired []scheduler.Fence      // the fences Fire was called with
}

func (r *replica) leading() bool { _, ok := r.svc.Leader(); return ok }

const testLeaderTTL = time.Second

// startReplica starts a service with Adopt on st, leading with a short
// term; fire, if set, is its Fire (called with the term's fence).
func startReplica(t *testing.T, name string, st *closingStore, fire func(ctx context.Context, r *replica, f scheduler.Fence) error) *replica {
	t.Helper()
	r := &replica{name: name, st: st}
	broker := scheduler.NewBroker(st, scheduler.BrokerOptions{Name: name, LeaseTTL: 2 * time.Second})
	r.svc = scheduler.NewService(st, broker, scheduler.ServiceOptions{
		Owner: name, Adopt: true, LeaderTTL: testLeaderTTL, ReapInterval: 50 * time.Millisecond,
		FireInterval: 20 * time.Millisecond, OwnerTTL: 2 * time.Second,
		Fire: func(ctx context.Context, now time.Time, f scheduler.Fence) (time.Time, error) {
			r.mu.Lock()
			r.fired = append(r.fired, f)
			r.mu.Unlock()
			if fire == nil {
				return time.Time{}, nil
			}
			return time.Time{}, fire(ctx, r, f)
		},
		Leading: func(l scheduler.Leadership, leading bool) {
			r.mu.Lock()
			defer r.mu.Unlock()
			if leading {
				r.terms = append(r.terms, l)
			} else {
				r.lost++
			}
		},
	})
	r.svc.Start(context.Background())
	t.Cleanup(func() { r.svc.Stop(context.Background()) })
	return r
}

// leaders returns the replicas that lead now.
func leaders(rs []*replica) []*replica {
	var out []*replica
	for _, r := range rs {
		if r.leading() {
			out = append(out, r)
		}
	}
	return out
}

// waitLeader waits until exactly one of rs leads, checking meanwhile that
// never two do, and returns it.
func waitLeader(t *testing.T, rs []*replica, limit time.Duration) *replica {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		ls := leaders(rs)
		if len(ls) > 1 {
			t.Fatalf("%s and %s lead at once", ls[0].name, ls[1].name)
		}
		if len(ls) == 1 {
			return ls[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no leader among %d replicas after %s", len(rs), limit)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestLeaderReplicas: three services on one database: exactly one leads
// and only it fires; killed without releasing its term (its store closed,
// as a process killed), another leads once the term expires, at the next
// epoch; stopped cleanly, it releases the term and the last one leads at
// once, long before the term would have expired.
func TestLeaderReplicas(t *testing.T) {
	eachStore(t, func(t *testing.T, open func() *closingStore) {
		fenced := func(ctx context.Context, r *replica, f scheduler.Fence) error {
			return r.st.Batch(ctx, func(tx scheduler.Tx) error { return tx.CheckFence(f) })
		}
		var rs []*replica
		for i := range 3 {
			rs = append(rs, startReplica(t, fmt.Sprintf("replica-%d", i), open(), fenced))
		}
		first := waitLeader(t, rs, 10*time.Second)
		// For two terms, it stays the one leader, and only it fires.
		end := time.Now().Add(2 * testLeaderTTL)
		for time.Now().Before(end) {
			if ls := leaders(rs); len(ls) != 1 || ls[0] != first {
				t.Fatalf("leaders %v, want %s alone", names(ls), first.name)
			}
			time.Sleep(10 * time.Millisecond)
		}
		for _, r := range rs {
			r.mu.Lock()
			n, lost := len(r.fired), r.lost
			r.mu.Unlock()
			if r == first && (n == 0 || lost != 0) {
				t.Errorf("the leader fired %d times and stopped leading %d times", n, lost)
			}
			if r != first && n != 0 {
				t.Errorf("%s fired %d times without leading", r.name, n)
			}
		}
		term, _ := first.svc.Leader()
		if l, err := first.st.Leader(context.Background(), scheduler.LeaderScheduler, time.Now()); err != nil || l.Fence() != term.Fence() || !l.Live {
			t.Fatalf("the stored lease %+v, %v; want %+v", l, err, term)
		}

		// Killed: its store closed, nothing released.
		killed := time.Now()
		first.st.kill()
		rest := without(rs, first)
		second := waitLeader(t, rest, 10*testLeaderTTL)
		took := time.Since(killed)
		t.Logf("takeover after the leader was killed: %s (term %s)", took.Round(time.Millisecond), testLeaderTTL)
		if took < testLeaderTTL/2 {
			t.Errorf("%s led %s after the leader was killed, before its term could have expired", second.name, took)
		}
		t2, _ := second.svc.Leader()
		if t2.Epoch != term.Epoch+1 {
			t.Errorf("the new term's epoch %d, want %d", t2.Epoch, term.Epoch+1)
		}
		// The killed leader's fence is refused.
		if err := fenced(context.Background(), second, term.Fence()); !errors.Is(err, cairn.ErrNotLeader) {
			t.Errorf("the killed leader's fenced write: %v, want ErrNotLeader", err)
		}
		first.svc.Stop(context.Background())

		// Stopped cleanly: released, and the last one leads at once.
		stopped := time.Now()
		second.svc.Stop(context.Background())
		third := waitLeader(t, without(rest, second), 10*testLeaderTTL)
		t.Logf("takeover after the leader stopped cleanly: %s", time.Since(stopped).Round(time.Millisecond))
		if t3, _ := third.svc.Leader(); t3.Epoch != t2.Epoch+1 {
			t.Errorf("the third term's epoch %d, want %d", t3.Epoch, t2.Epoch+1)
		}
		third.mu.Lock()
		fired := len(third.fired)
		third.mu.Unlock()
		deadline := time.Now().Add(5 * time.Second)
		for fired == 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
			third.mu.Lock()
			fired = len(third.fired)
			third.mu.Unlock()
		}
		if fired == 0 {
			t.Error("the new leader never fired")
		}
	})
}

func names(rs []*replica) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.name)
	}
	return out
}

func without(rs []*replica, x *replica) []*replica {
	var out []*replica
	for _, r := range rs {
		if r != x {
			out = append(out, r)
		}
	}
	return out
}

// stallingStore blocks the renewals of the leader lease while paused: a
// server stalled (a long pause, a network partition from the database)
// whose term runs out while it still believes it leads.
type stallingStore struct {
	*closingStore
	mu     sync.Mutex
	paused chan struct{} // closed to resume; nil when not paused
}

func (p *stallingStore) pause() {
	p.mu.Lock()
	p.paused = make(chan struct{})
	p.mu.Unlock()
}

func (p *stallingStore) resume() {
	p.mu.Lock()
	close(p.paused)
	p.paused = nil
	p.mu.Unlock()
}

func (p *stallingStore) RenewLeader(ctx context.Context, f scheduler.Fence, now time.Time, ttl time.Duration) (scheduler.Leadership, error) {
	p.mu.Lock()
	wait := p.paused
	p.mu.Unlock()
	if wait != nil {
		<-wait
	}
	return p.closingStore.RenewLeader(ctx, f, now, ttl)
}

// TestLeaderDeposedWriteRefused: a leader stalled inside a cron firing,
// its renewals blocked, is deposed once its term expires; when it goes on,
// its fenced write is refused and changes nothing, and it stops leading at
// once, without waiting for its renewal.
func TestLeaderDeposedWriteRefused(t *testing.T) {
	eachStore(t, func(t *testing.T, open func() *closingStore) {
		ctx := context.Background()
		ps := &stallingStore{closingStore: open()}
		inFire, goOn := make(chan scheduler.Fence, 1), make(chan struct{})
		var fireErr error
		calls := 0
		a := startReplica(t, "a", &closingStore{Store: ps}, func(ctx context.Context, r *replica, f scheduler.Fence) error {
			if calls++; calls > 1 {
				return nil
			}
			inFire <- f
			<-goOn
			// What actions.Fire does: the fence first, then the writes.
			fireErr = r.st.Batch(ctx, func(tx scheduler.Tx) error {
				if err := tx.CheckFence(f); err != nil {
					return err
				}
				_, err := tx.AddAudit(scheduler.Audit{At: time.Now(), Actor: "a", Action: scheduler.AuditTrigger})
				return err
			})
			return fireErr
		})
		var fa scheduler.Fence
		select {
		case fa = <-inFire:
		case <-time.After(10 * time.Second):
			t.Fatal("a never fired")
		}
		ps.pause()
		b := startReplica(t, "b", open(), nil)
		waitLeaderAmong(t, b, 10*testLeaderTTL)
		if a.leading() {
			t.Fatal("a still believes it leads after its term passed without a renewal")
		}
		close(goOn)
		deadline := time.Now().Add(5 * time.Second)
		for {
			a.mu.Lock()
			lost := a.lost
			a.mu.Unlock()
			if lost > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("a did not stop leading after its fenced write was refused")
			}
			time.Sleep(5 * time.Millisecond)
		}
		if !errors.Is(fireErr, cairn.ErrNotLeader) {
			t.Errorf("a's fenced write: %v, want ErrNotLeader", fireErr)
		}
		audit, err := b.st.ListAudit(ctx, scheduler.AuditFilter{})
		if err != nil || len(audit) != 0 {
			t.Errorf("audit log after the deposed write: %+v, %v; want empty", audit, err)
		}
		ps.resume()
		if lb, _ := b.svc.Leader(); lb.Epoch != fa.Epoch+1 {
			t.Errorf("b's epoch %d, want %d", lb.Epoch, fa.Epoch+1)
		}
	})
}

func waitLeaderAmong(t *testing.T, r *replica, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !r.leading() {
		if time.Now().After(deadline) {
			t.Fatalf("%s does not lead after %s", r.name, limit)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// oneTask is the graph of a run of one task, "a".
type oneTask struct{}

func (oneTask) TaskIDs() []string        { return []string{"a"} }
func (oneTask) Upstream(string) []string { return nil }
func (oneTask) Prepare(string, scheduler.Scope) (scheduler.Prepared, error) {
	return scheduler.Prepared{Run: true, Params: []byte(`{}`)}, nil
}

// newRunningRun stores a running run whose one task, a, is ready.
func newRunningRun(t *testing.T, st scheduler.Store) *cairn.Run {
	t.Helper()
	now := time.Now()
	run := &cairn.Run{ID: cairn.NewRunID(now), Workflow: "wf", State: cairn.RunRunning, CreatedAt: now, StartedAt: now}
	if err := st.CreateRun(context.Background(), run, []*cairn.TaskRun{{TaskID: "a", Type: "noop", State: cairn.TaskReady}}); err != nil {
		t.Fatal(err)
	}
	return run
}

// TestLeaderReapsPromptly: the leader ends an expired lease within about
// its ReapInterval of the expiry (by the database's clock on PostgreSQL),
// not half a lease TTL later; services that do not lead reap nothing, and
// the one that leads next reaps what expired meanwhile.
func TestLeaderReapsPromptly(t *testing.T) {
	eachStore(t, func(t *testing.T, open func() *closingStore) {
		ctx := context.Background()
		a := startReplica(t, "a", open(), nil)
		waitLeaderAmong(t, a, 10*time.Second)
		b := startReplica(t, "b", open(), nil)
		st := b.st
		const ttl = 300 * time.Millisecond
		var delays []time.Duration
		for i := range 3 {
			run := newRunningRun(t, st)
			leased := time.Now()
			items, err := st.Lease(ctx, cairn.LeaseRequest{Worker: "gone", RunID: run.ID, Max: 1, Start: true}, leased, ttl)
			if err != nil || len(items) != 1 {
				t.Fatalf("lease: %v, %v", items, err)
			}
			expiry := leased.Add(ttl)
			deadline := time.Now().Add(10 * time.Second)
			for {
				tr, err := st.GetTaskRun(ctx, run.ID, "a")
				if err != nil {
					t.Fatal(err)
				}
				if tr.State != cairn.TaskRunning {
					if time.Now().Before(expiry) {
						t.Fatalf("round %d: the lease was ended before it expired (%s)", i, tr.State)
					}
					delays = append(delays, time.Since(expiry))
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("round %d: the expired lease is still running 10 s on", i)
				}
				time.Sleep(2 * time.Millisecond)
			}
			atts, err := st.ListAttempts(ctx, run.ID, "a")
			if err != nil || len(atts) != 1 || atts[0].State != cairn.AttemptInterrupted {
				t.Fatalf("round %d: attempts %+v, %v; want one interrupted", i, atts, err)
			}
		}
		t.Logf("expired leases ended %v after their expiry (reap interval 50ms)", delays)
		// Only the leader reaps: with the lease held by a server that
		// is not among these (a foreign holder, for an hour), an expired
		// lease stays; once that holder releases it, b leads and reaps.
		a.svc.Stop(ctx)
		waitLeaderAmong(t, b, 10*time.Second)
		b.svc.Stop(ctx)
		foreign, err := st.AcquireLeader(ctx, scheduler.LeaderScheduler, "elsewhere", time.Now(), time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		c := startReplica(t, "c", open(), nil)
		run := newRunningRun(t, st)
		if _, err := st.Lease(ctx, cairn.LeaseRequest{Worker: "gone", RunID: run.ID, Max: 1, Start: true}, time.Now(), ttl); err != nil {
			t.Fatal(err)
		}
		time.Sleep(ttl + 500*time.Millisecond)
		if tr, err := st.GetTaskRun(ctx, run.ID, "a"); err != nil || tr.State != cairn.TaskRunning {
			t.Fatalf("an expired lease with no leader among the services: %v, %v; want it left running", tr, err)
		}
		if err := st.ReleaseLeader(ctx, foreign.Fence()); err != nil {
			t.Fatal(err)
		}
		waitLeaderAmong(t, c, 10*time.Second)
		deadline := time.Now().Add(10 * time.Second)
		for {
			tr, err := st.GetTaskRun(ctx, run.ID, "a")
			if err != nil {
				t.Fatal(err)
			}
			if tr.State != cairn.TaskRunning {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the new leader did not reap the expired lease")
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
}

// TestListenWakes: on PostgreSQL a replica hears another's writes at
// once (LISTEN/NOTIFY), though its own poll of evaluations would take an
// hour: a cancel requested through another store's connection is planned
// by the run's owner; and so again after its listening connection was
// terminated by the server (pg_terminate_backend), once it reconnected.
func TestListenWakes(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	ctx := context.Background()
	open := func() *postgres.Store {
		st, err := postgres.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	owner, other := open(), open()
	broker := scheduler.NewBroker(owner, scheduler.BrokerOptions{Name: "owner"})
	svc := scheduler.NewService(owner, broker, scheduler.ServiceOptions{Owner: "owner", PollInterval: time.Hour})
	svc.Start(ctx)
	defer svc.Stop(ctx)
	cancelled := func(what string) {
		t.Helper()
		run := newRunningRun(t, other)
		done := make(chan *cairn.Run, 1)
		go func() {
			final, err := svc.Drive(ctx, run.ID, oneTask{}, nil)
			if err != nil {
				t.Errorf("%s: drive: %v", what, err)
			}
			done <- final
		}()
		// The run is held (its task ready, nobody to lease it) before the
		// other store asks to cancel it.
		deadline := time.Now().Add(10 * time.Second)
		for len(svc.Runs()) == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("%s: the service never held the run", what)
			}
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(100 * time.Millisecond)
		if err := other.RequestCancel(ctx, run.ID); err != nil {
			t.Fatal(err)
		}
		select {
		case final := <-done:
			if final == nil || final.State != cairn.RunCancelled {
				t.Fatalf("%s: the run ended %+v, want cancelled", what, final)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("%s: the cancel written through another connection was not heard in 30 s (the poll takes an hour)", what)
		}
	}
	cancelled("listening")
	// The owner's listening connection is ended by the server.
	killed := pgtest.Query(t, dsn, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
WHERE datname = current_database() AND query LIKE 'LISTEN%' AND pid <> pg_backend_pid()`)
	if len(killed) == 0 {
		t.Fatal("no listening connection to terminate")
	}
	cancelled("after the listening connection was terminated")
}

// TestLeaderGoneTakenAtOnce: a leader known to be gone (ServiceOptions.
// OwnerGone: a process of this host whose pid no longer exists) is
// replaced at once, at the next epoch, not after its 30 s term; a leader
// not known to be gone keeps its term.
func TestLeaderGoneTakenAtOnce(t *testing.T) {
	eachStore(t, func(t *testing.T, open func() *closingStore) {
		const term = 30 * time.Second
		var mu sync.Mutex
		dead := map[string]bool{}
		gone := func(owner string) bool { mu.Lock(); defer mu.Unlock(); return dead[owner] }
		start := func(name string, st *closingStore) *replica {
			r := &replica{name: name, st: st}
			broker := scheduler.NewBroker(st, scheduler.BrokerOptions{Name: name, LeaseTTL: 2 * time.Second})
			r.svc = scheduler.NewService(st, broker, scheduler.ServiceOptions{Owner: name, Adopt: true, LeaderTTL: term,
				OwnerTTL: 2 * time.Second, OwnerGone: gone})
			r.svc.Start(context.Background())
			t.Cleanup(func() { r.svc.Stop(context.Background()) })
			return r
		}
		a := start("a", open())
		waitLeaderAmong(t, a, 10*time.Second)
		la, _ := a.svc.Leader()
		// b: a leads, and is not gone: b waits.
		b := start("b", open())
		time.Sleep(500 * time.Millisecond)
		if b.leading() {
			t.Fatal("b took the term of a live leader")
		}
		b.svc.Stop(context.Background())
		// a dies (its store closed, as a kill -9 leaves it), known gone.
		a.st.kill()
		mu.Lock()
		dead["a"] = true
		mu.Unlock()
		took := time.Now()
		c := start("c", open())
		waitLeaderAmong(t, c, 5*time.Second)
		lc, _ := c.svc.Leader()
		if lc.Epoch != la.Epoch+1 {
			t.Errorf("c's epoch %d, want %d", lc.Epoch, la.Epoch+1)
		}
		t.Logf("c leads %s after a was known gone (a's term: %s)", time.Since(took).Round(time.Millisecond), term)
	})
}

// A server that drains (SIGTERM: StopAdopting) and stops at once — no
// task was running — hands the leader lease over: the release the drain
// started is not cut short by the stop's cancel, so another server leads
// at once rather than after the term.
func TestLeaderReleasedOnDrainThenStop(t *testing.T) {
	eachStore(t, func(t *testing.T, open func() *closingStore) {
		for i := range 5 {
			r := startReplica(t, fmt.Sprintf("drained-%d", i), open(), nil)
			waitLeaderAmong(t, r, 10*time.Second)
			term, _ := r.svc.Leader()
			r.svc.StopAdopting()
			r.svc.Stop(context.Background())
			l, err := r.st.Leader(context.Background(), scheduler.LeaderScheduler, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if l.Live {
				t.Fatalf("round %d: the lease of epoch %d is still live after a drain and a stop (%+v): not released", i, term.Epoch, l)
			}
		}
	})
}
