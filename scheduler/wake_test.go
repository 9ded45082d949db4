package scheduler_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/store/sqlite"
)

// lookingStore counts the leases a broker makes outside a completion's
// transaction: the looks of workers waiting.
type lookingStore struct {
	scheduler.Store
	looks atomic.Int64
}

func (s *lookingStore) Lease(ctx context.Context, r cairn.LeaseRequest, now time.Time, ttl time.Duration) ([]cairn.WorkItem, error) {
	s.looks.Add(1)
	return s.Store.Lease(ctx, r, now, ttl)
}

// A slot of a pool coming free wakes as many waiting workers as slots
// are still free, not every waiting worker (the thundering herd): none
// when the completion's own chained lease took the slot again, one when
// it did not — and a worker woken that cannot take the task (another
// route) passes the wake to the next waiting one.
func TestPoolSlotWakesOne(t *testing.T) {
	ctx := context.Background()
	sq, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "cairn.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sq.Close() })
	st := &lookingStore{Store: sq}
	// No look on a timer: every look below is a wake's.
	b := scheduler.NewBroker(st, scheduler.BrokerOptions{LeaseTTL: time.Minute, PoolPoll: time.Hour})
	now := time.Now()
	gpu := map[string]string{"gpu": "true"}
	run := &cairn.Run{ID: cairn.NewRunID(now), Workflow: "p", Digest: "sha256:00", SourcePath: "p.yaml",
		Source: []byte("name: p\n"), State: cairn.RunRunning, CreatedAt: now, Pools: map[string]int{"p": 1}}
	trs := make([]*cairn.TaskRun, 6)
	for i := range trs {
		trs[i] = &cairn.TaskRun{RunID: run.ID, TaskID: fmt.Sprintf("t%d", i), Type: "probe", State: cairn.TaskReady,
			Params: json.RawMessage(`{}`), Pool: "p", PoolSlots: 1, Labels: gpu}
	}
	if err := sq.CreateRun(ctx, run, trs); err != nil {
		t.Fatal(err)
	}
	req := func(w string, labels map[string]string) cairn.LeaseRequest {
		return cairn.LeaseRequest{Worker: w, Max: 1, Start: true, Labels: labels}
	}
	held, err := b.Lease(ctx, req("w0", gpu))
	if err != nil || len(held) != 1 {
		t.Fatalf("the first lease: %v, %v", held, err)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type got struct {
		w     string
		items []cairn.WorkItem
		err   error
	}
	results := make(chan got, 3)
	waitLooks := func(n int64) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for st.looks.Load() < n {
			if time.Now().After(deadline) {
				t.Fatalf("%d looks, want %d", st.looks.Load(), n)
			}
			time.Sleep(time.Millisecond)
		}
	}
	// Three workers wait, in this order: a cannot take the pool's tasks.
	for i, w := range []struct {
		name   string
		labels map[string]string
	}{{"a", nil}, {"b", gpu}, {"c", gpu}} {
		go func() {
			r := req(w.name, w.labels)
			r.Wait = time.Minute
			items, err := b.Lease(wctx, r)
			results <- got{w.name, items, err}
		}()
		waitLooks(int64(2 + i))
	}
	const settle = 200 * time.Millisecond
	time.Sleep(settle)
	if n := st.looks.Load(); n != 4 {
		t.Fatalf("%d looks with three workers waiting, want 4", n)
	}
	// The completion's chained lease takes the slot again: nobody wakes.
	next, err := b.CompleteAndLease(ctx, held[0].Lease, cairn.Completion{}, req("w0", gpu))
	if err != nil || len(next) != 1 {
		t.Fatalf("CompleteAndLease: %v, %v", next, err)
	}
	time.Sleep(settle)
	if n := st.looks.Load(); n != 4 {
		t.Fatalf("%d looks after a completion whose own lease took the slot, want 4 (nobody woken)", n)
	}
	// Freed and not taken: one wake; a cannot take t2 and passes it to b.
	if err := b.Complete(ctx, next[0].Lease, cairn.Completion{}); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-results:
		if r.err != nil || r.w != "b" || len(r.items) != 1 {
			t.Fatalf("after the slot came free, worker %s got %v, %v; want b one task", r.w, r.items, r.err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the freed slot was not leased by a waiting worker")
	}
	time.Sleep(settle)
	if n := st.looks.Load(); n != 6 {
		t.Fatalf("%d looks after the slot came free, want 6 (a woken, then b: c not)", n)
	}
	select {
	case r := <-results:
		t.Fatalf("worker %s returned %v, %v while the pool is full", r.w, r.items, r.err)
	default:
	}
}
