package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
)

func newWorker(id, token string) cairn.Worker {
	return cairn.Worker{ID: id, Name: "gpu-box-" + id, Host: "host-" + id, TokenID: token, Version: "cairn test",
		Protocol: cairn.WorkerProtocol, Labels: map[string]string{"gpu": "true", "zone": "eu"}, Queues: []string{"train", ""},
		Concurrency: 3}
}

func register(t *testing.T, s scheduler.Store, w cairn.Worker, now time.Time) cairn.Worker {
	t.Helper()
	got, err := s.RegisterWorker(context.Background(), w, now, ttl)
	if err != nil {
		t.Fatalf("RegisterWorker %s: %v", w.ID, err)
	}
	return got
}

// testWorkerTypes: the task types a worker registers with come back as
// said, from every read; an empty list as an empty list (it runs
// nothing), not as unsaid (nil: any type).
func testWorkerTypes(t *testing.T, s scheduler.Store) {
	ctx := context.Background()
	at := origin()
	typed := newWorker("w7", "tok1")
	typed.Types = []string{"kmeans", "noop", "shell"}
	if got := register(t, s, typed, at); !reflect.DeepEqual(got.Types, typed.Types) {
		t.Fatalf("types came back as %v, want %v", got.Types, typed.Types)
	}
	if got, err := s.Worker(ctx, "w7"); err != nil || !reflect.DeepEqual(got.Types, typed.Types) {
		t.Fatalf("Worker(w7).Types = %v, %v", got.Types, err)
	}
	if got, err := s.TouchWorker(ctx, "w7", "tok1", at.Add(time.Second), ttl); err != nil || !reflect.DeepEqual(got.Types, typed.Types) {
		t.Fatalf("TouchWorker(w7).Types = %v, %v", got.Types, err)
	}
	typed.ID, typed.Types = "w8", []string{}
	if got := register(t, s, typed, at); got.Types == nil || len(got.Types) != 0 {
		t.Fatalf("no types at all came back as %#v", got.Types)
	}
	if got := register(t, s, newWorker("w9", "tok1"), at); got.Types != nil {
		t.Fatalf("types not said came back as %#v", got.Types)
	}
	if l, ok := s.(interface {
		ListWorkers(context.Context, time.Time, time.Time) ([]cairn.Worker, error)
	}); ok {
		ws, err := l.ListWorkers(ctx, at.Add(time.Second), at)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range ws {
			want := map[string][]string{"w7": {"kmeans", "noop", "shell"}, "w8": {}, "w9": nil}[w.ID]
			if (w.Types == nil) != (want == nil) || !slices.Equal(w.Types, want) {
				t.Errorf("ListWorkers: %s has types %#v, want %#v", w.ID, w.Types, want)
			}
		}
	}
}

// testWorkers: a registration as given, touched only while live and with
// its own token, draining then stopped by itself, lost once its expiry
// passed, and refused ever after.
func testWorkers(t *testing.T, s scheduler.Store) {
	ctx := context.Background()
	at := origin()
	w := register(t, s, newWorker("w1", "tok1"), at)
	want := newWorker("w1", "tok1")
	want.State, want.RegisteredAt, want.SeenAt, want.ExpiresAt = cairn.WorkerActive, at, at, at.Add(ttl)
	if !reflect.DeepEqual(w, want) {
		t.Fatalf("registered\n%+v, want\n%+v", w, want)
	}
	if got, err := s.Worker(ctx, "w1"); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("Worker(w1) = %+v, %v; want %+v", got, err, want)
	}
	if _, err := s.Worker(ctx, "nobody"); !errors.Is(err, cairn.ErrNotFound) {
		t.Fatalf("Worker(nobody): %v, want ErrNotFound", err)
	}
	if _, err := s.RegisterWorker(ctx, newWorker("w1", "tok1"), at, ttl); !errors.Is(err, cairn.ErrConflict) {
		t.Fatalf("the same id registered twice: %v, want ErrConflict", err)
	}
	if _, err := s.RegisterWorker(ctx, cairn.Worker{ID: "w9", Protocol: 1}, at, ttl); err == nil {
		t.Fatal("a worker of concurrency 0 was registered")
	}
	bare := register(t, s, cairn.Worker{ID: "w0", TokenID: "tok1", Protocol: 1, Concurrency: 1}, at)
	if bare.Labels != nil || bare.Queues != nil || bare.Types != nil {
		t.Fatalf("no labels, queues nor types came back as %v, %v and %v", bare.Labels, bare.Queues, bare.Types)
	}

	// A call moves the expiry on.
	w, err := s.TouchWorker(ctx, "w1", "tok1", at.Add(20*time.Second), ttl)
	if err != nil {
		t.Fatalf("TouchWorker: %v", err)
	}
	if !w.SeenAt.Equal(at.Add(20*time.Second)) || !w.ExpiresAt.Equal(at.Add(20*time.Second+ttl)) || w.State != cairn.WorkerActive {
		t.Fatalf("touched: seen %v expires %v state %s", w.SeenAt, w.ExpiresAt, w.State)
	}
	// Another token, or no such worker: one answer, nothing changes.
	for _, c := range []struct{ id, tok string }{{"w1", "tok2"}, {"w1", ""}, {"nobody", "tok1"}} {
		if _, err := s.TouchWorker(ctx, c.id, c.tok, at.Add(21*time.Second), ttl); !errors.Is(err, cairn.ErrNotFound) {
			t.Fatalf("TouchWorker(%s, %s) = %v, want ErrNotFound", c.id, c.tok, err)
		}
		if _, err := s.SetWorkerState(ctx, c.id, c.tok, cairn.WorkerDraining, at.Add(21*time.Second), ttl); !errors.Is(err, cairn.ErrNotFound) {
			t.Fatalf("SetWorkerState(%s, %s) = %v, want ErrNotFound", c.id, c.tok, err)
		}
	}
	if _, err := s.SetWorkerState(ctx, "w1", "tok1", cairn.WorkerLost, at.Add(21*time.Second), ttl); err == nil {
		t.Fatal("a worker marked itself lost")
	}

	// Draining, it is still live; stopped, it is refused.
	if w, err = s.SetWorkerState(ctx, "w1", "tok1", cairn.WorkerDraining, at.Add(25*time.Second), ttl); err != nil || w.State != cairn.WorkerDraining {
		t.Fatalf("draining: %v, %s", err, w.State)
	}
	if _, err := s.TouchWorker(ctx, "w1", "tok1", at.Add(26*time.Second), ttl); err != nil {
		t.Fatalf("a draining worker's call: %v", err)
	}
	if w, err = s.SetWorkerState(ctx, "w1", "tok1", cairn.WorkerStopped, at.Add(27*time.Second), ttl); err != nil || w.State != cairn.WorkerStopped {
		t.Fatalf("stopped: %v, %s", err, w.State)
	}
	if _, err := s.TouchWorker(ctx, "w1", "tok1", at.Add(28*time.Second), ttl); !errors.Is(err, cairn.ErrWorkerLost) {
		t.Fatalf("a stopped worker's call: %v, want ErrWorkerLost", err)
	}
	if _, err := s.SetWorkerState(ctx, "w1", "tok1", cairn.WorkerDraining, at.Add(28*time.Second), ttl); !errors.Is(err, cairn.ErrWorkerLost) {
		t.Fatalf("a stopped worker drains: %v, want ErrWorkerLost", err)
	}

	// w0 was last seen at `at`: not lost before its expiry, lost after,
	// once.
	lost, err := s.LoseWorkers(ctx, at.Add(ttl-time.Second), 0)
	if err != nil || len(lost) != 0 {
		t.Fatalf("LoseWorkers before the expiry: %v, %v", lost, err)
	}
	// Past its expiry but not yet marked, w0 is refused all the same.
	if _, err := s.TouchWorker(ctx, "w0", "tok1", at.Add(ttl), ttl); !errors.Is(err, cairn.ErrWorkerLost) {
		t.Fatalf("a call after the expiry: %v, want ErrWorkerLost", err)
	}
	lost, err = s.LoseWorkers(ctx, at.Add(ttl+time.Second), 0)
	if err != nil {
		t.Fatalf("LoseWorkers: %v", err)
	}
	if len(lost) != 1 || lost[0].ID != "w0" || lost[0].State != cairn.WorkerLost || !lost[0].SeenAt.Equal(at) {
		t.Fatalf("lost %+v, want w0 (and not the stopped w1), seen at %v", lost, at)
	}
	if lost, err = s.LoseWorkers(ctx, at.Add(ttl+2*time.Second), 0); err != nil || len(lost) != 0 {
		t.Fatalf("LoseWorkers again: %v, %v; want none", lost, err)
	}
	if _, err := s.TouchWorker(ctx, "w0", "tok1", at.Add(ttl+3*time.Second), ttl); !errors.Is(err, cairn.ErrWorkerLost) {
		t.Fatalf("a lost worker's call: %v, want ErrWorkerLost", err)
	}

	// The limit, soonest expired first.
	for i := 0; i < 5; i++ {
		register(t, s, newWorker(fmt.Sprintf("x%d", i), "tok1"), at.Add(time.Duration(10-i)*time.Second))
	}
	lost, err = s.LoseWorkers(ctx, at.Add(time.Hour), 2)
	if err != nil || len(lost) != 2 || lost[0].ID != "x4" || lost[1].ID != "x3" {
		t.Fatalf("LoseWorkers with limit 2: %+v, %v; want x4, x3", lost, err)
	}
}

// testWorkerLeases: the leases a worker holds, and not another's.
func testWorkerLeases(t *testing.T, s scheduler.Store) {
	ctx := context.Background()
	at := origin()
	run, _ := newRun(t, s, at, "wf", cairn.TaskReady, cairn.TaskReady, cairn.TaskReady)
	a := lease(t, s, "wa", run.ID, 2, at)
	b := lease(t, s, "wb", run.ID, 1, at)
	if len(a) != 2 || len(b) != 1 {
		t.Fatalf("leased %d and %d", len(a), len(b))
	}
	got, err := s.WorkerLeases(ctx, "wa")
	if err != nil {
		t.Fatalf("WorkerLeases: %v", err)
	}
	if len(got) != 2 {
		t.Fatalf("wa holds %+v, want 2 leases", got)
	}
	tokens := map[string]bool{a[0].Lease.Token: true, a[1].Lease.Token: true}
	for _, l := range got {
		if !tokens[l.Token] || l.Worker != "wa" || l.ExpiresAt.IsZero() {
			t.Fatalf("wa holds %+v, not one of its own", l)
		}
	}
	// Once completed, a lease is no longer held.
	if _, err := s.Complete(ctx, a[0].Lease, cairn.Completion{State: cairn.TaskSucceeded}, at.Add(time.Second)); err != nil {
		t.Fatalf("Complete: %v", err)
	}
	if got, err = s.WorkerLeases(ctx, "wa"); err != nil || len(got) != 1 || got[0].Token != a[1].Lease.Token {
		t.Fatalf("after a completion wa holds %+v, %v", got, err)
	}
	if got, err = s.WorkerLeases(ctx, "nobody"); err != nil || len(got) != 0 {
		t.Fatalf("a worker without leases holds %+v, %v", got, err)
	}
}

// testTwoStoresLoseWorkers: two servers marking lost workers at once each
// get a share, and together every lost worker exactly once.
func testTwoStoresLoseWorkers(t *testing.T, a, b scheduler.Store) {
	ctx := context.Background()
	at := origin()
	const n = 40
	for i := 0; i < n; i++ {
		register(t, a, newWorker(fmt.Sprintf("w%02d", i), "tok"), at)
	}
	var (
		mu  sync.Mutex
		ids []string
		wg  sync.WaitGroup
	)
	for _, s := range []scheduler.Store{a, b, a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				lost, err := s.LoseWorkers(ctx, at.Add(time.Hour), 7)
				if err != nil {
					t.Errorf("LoseWorkers: %v", err)
					return
				}
				if len(lost) == 0 {
					return
				}
				mu.Lock()
				for _, w := range lost {
					ids = append(ids, w.ID)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	sort.Strings(ids)
	if len(ids) != n {
		t.Fatalf("%d workers marked lost in all, want %d: %v", len(ids), n, ids)
	}
	for i, id := range ids {
		if id != fmt.Sprintf("w%02d", i) {
			t.Fatalf("lost %v: one twice, or one missed", ids)
		}
	}
}
