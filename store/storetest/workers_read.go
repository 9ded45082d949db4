package storetest

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
)

// workerLister is the read of the workers for people (cairn workers, the
// UI), which both stores have beside scheduler.Store.
type workerLister interface {
	ListWorkers(ctx context.Context, now, since time.Time) ([]cairn.Worker, error)
}

// testListWorkers: the live workers first, by name, then those seen since
// the given time; each with its labels, queues and the leases it holds.
func testListWorkers(t *testing.T, s scheduler.Store) {
	ls, ok := s.(workerLister)
	if !ok {
		t.Skip("the store has no ListWorkers")
	}
	ctx := context.Background()
	t0 := origin()
	reg := func(id, name string, labels map[string]string, queues []string) {
		t.Helper()
		_, err := s.RegisterWorker(ctx, cairn.Worker{ID: id, Name: name, Host: "h-" + name, TokenID: "tok", Version: "v1",
			Protocol: cairn.WorkerProtocol, Labels: labels, Queues: queues, Concurrency: 2}, t0, ttl)
		if err != nil {
			t.Fatalf("RegisterWorker %s: %v", id, err)
		}
	}
	gpu := map[string]string{"gpu": "true"}
	reg("w3", "c-stopped", nil, nil)
	reg("w2", "b-gpu", gpu, []string{"", "batch"})
	reg("w1", "a-plain", nil, nil)
	if _, err := s.SetWorkerState(ctx, "w3", "tok", cairn.WorkerStopped, t0, ttl); err != nil {
		t.Fatal(err)
	}
	run, _ := newRun(t, s, t0, "wf", cairn.TaskReady, cairn.TaskReady, cairn.TaskReady)
	if got := lease(t, s, "w1", run.ID, 2, t0); len(got) != 2 {
		t.Fatalf("leased %d, want 2", len(got))
	}

	now := t0.Add(time.Second)
	ws, err := ls.ListWorkers(ctx, now, t0.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, w := range ws {
		names = append(names, w.Name)
	}
	if !reflect.DeepEqual(names, []string{"a-plain", "b-gpu", "c-stopped"}) {
		t.Fatalf("ListWorkers = %v, want the live a-plain and b-gpu, then c-stopped", names)
	}
	a, b, c := ws[0], ws[1], ws[2]
	if a.ID != "w1" || a.Host != "h-a-plain" || a.Running != 2 || a.State != cairn.WorkerActive || !a.Live(now) ||
		a.Labels != nil || a.Queues != nil || a.Concurrency != 2 || !a.SeenAt.Equal(t0) || !a.ExpiresAt.Equal(t0.Add(ttl)) {
		t.Errorf("a-plain = %+v", a)
	}
	if !reflect.DeepEqual(b.Labels, gpu) || !reflect.DeepEqual(b.Queues, []string{"", "batch"}) || b.Running != 0 || !b.Live(now) {
		t.Errorf("b-gpu = %+v", b)
	}
	if c.State != cairn.WorkerStopped || c.Live(now) {
		t.Errorf("c-stopped = %+v", c)
	}
	// Past every expiry, only those seen since are listed: none.
	later := t0.Add(2 * ttl)
	if ws, err := ls.ListWorkers(ctx, later, later.Add(-time.Second)); err != nil || len(ws) != 0 {
		t.Errorf("ListWorkers after every expiry, seen since a second = %+v, %v; want none", ws, err)
	}
	if ws, err := ls.ListWorkers(ctx, later, t0); err != nil || len(ws) != 3 || ws[0].Live(later) {
		t.Errorf("ListWorkers after every expiry, seen since t0 = %+v, %v; want all 3, none live", ws, err)
	}
}
