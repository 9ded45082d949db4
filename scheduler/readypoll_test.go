package scheduler_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/store/sqlite"
)

// A lease waiting on one process's broker is answered when another
// process on the same SQLite file makes a task ready — which wakes only
// its own broker — once the waiting broker has a ReadyPoll: it looks
// again on its own, well before its wait is over. Without one it waits
// the whole wait and gets nothing.
func TestReadyPollSeesAnotherProcess(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "cairn.db")
	ctx := context.Background()
	open := func() *sqlite.Store {
		st, err := sqlite.Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	maker, waiter := open(), open()
	for _, poll := range []time.Duration{100 * time.Millisecond, 0} {
		b := scheduler.NewBroker(waiter, scheduler.BrokerOptions{ReadyPoll: poll})
		const wait = 4 * time.Second
		got := make(chan []cairn.WorkItem, 1)
		go func() {
			items, err := b.Lease(ctx, cairn.LeaseRequest{Worker: "w", Max: 1, Wait: wait, AnyTask: true})
			if err != nil {
				t.Error(err)
			}
			got <- items
		}()
		time.Sleep(time.Second) // the lease is waiting
		now := time.Now()
		run := &cairn.Run{ID: cairn.NewRunID(now), Workflow: "w", State: cairn.RunRunning, CreatedAt: now}
		if err := maker.CreateRun(ctx, run, []*cairn.TaskRun{{TaskID: "t", Type: "noop", State: cairn.TaskReady}}); err != nil {
			t.Fatal(err)
		}
		items := <-got
		switch {
		case poll > 0 && (len(items) != 1 || items[0].Lease.RunID != run.ID):
			t.Fatalf("ReadyPoll %v: leased %+v, want the other process's ready task", poll, items)
		case poll == 0 && len(items) != 0:
			t.Fatalf("without ReadyPoll: leased %+v; want nothing (nothing woke it)", items)
		}
	}
}
