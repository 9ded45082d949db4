package scheduler_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/cairnml/cairn"
)

// Many workers reporting at once: every good report is recorded once,
// with its event; a stale one is refused alone and leases nothing; each
// worker that asked for more work gets its own items, never another's;
// and the reports share commits (fewer transactions than reports, when
// they arrive together — not asserted, the scheduling decides).
func TestCompleterReportsTogether(t *testing.T) {
	r := newRig(t, rigOptions{})
	const workers, extra = 24, 30
	id := r.createReady(t, workers+extra, cairn.RetryPolicy{})
	ctx := context.Background()
	items, err := r.broker.Lease(ctx, cairn.LeaseRequest{Worker: "w", RunID: id, Max: workers, Start: true})
	if err != nil || len(items) != workers {
		t.Fatalf("Lease: %d items, %v", len(items), err)
	}
	var (
		start = make(chan struct{})
		wg    sync.WaitGroup
		mu    sync.Mutex
		got   = map[string]int{} // task → times handed out after a report
		errs  = make([]error, workers)
	)
	for i, it := range items {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := it.Lease
			if i == 5 {
				l.Token = cairn.NewToken() // stale: refused
			}
			<-start
			var c cairn.Completion
			if i%4 == 1 {
				c.Error = "permanent" // fails, and still asks for more
			}
			next, err := r.broker.CompleteAndLease(ctx, l, c, cairn.LeaseRequest{Worker: "w", RunID: id, Max: 2, Start: true})
			errs[i] = err
			mu.Lock()
			defer mu.Unlock()
			for _, n := range next {
				got[n.Lease.TaskID]++
				if n.Lease.Worker != "w" || !n.Started || n.Lease.Token == "" {
					errs[i] = fmt.Errorf("next item %+v", n.Lease)
				}
			}
			if i == 5 && len(next) > 0 {
				errs[i] = fmt.Errorf("a refused report leased %d items", len(next))
			}
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		switch {
		case i == 5 && !errors.Is(err, cairn.ErrLeaseLost):
			t.Errorf("stale report: error %v, want ErrLeaseLost", err)
		case i != 5 && err != nil:
			t.Errorf("report %d: %v", i, err)
		}
	}
	handed := 0
	for task, n := range got {
		if n != 1 {
			t.Errorf("task %s handed out %d times", task, n)
		}
		handed++
	}
	if handed != extra {
		t.Errorf("%d tasks handed out after the reports, want all %d ready ones", handed, extra)
	}
	trs, err := r.st.ListTaskRuns(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	for i, it := range items {
		tr := trs[indexOfTask(trs, it.Lease.TaskID)]
		want := cairn.TaskSucceeded
		switch {
		case i == 5:
			want = cairn.TaskRunning
		case i%4 == 1:
			want = cairn.TaskFailed
		}
		if tr.State != want {
			t.Errorf("%s: %s, want %s", tr.TaskID, tr.State, want)
		}
	}
	ended := 0
	r.events.mu.Lock()
	defer r.events.mu.Unlock()
	for _, e := range r.events.events {
		if e.Ended != "" {
			ended++
		}
	}
	if ended != workers-1 {
		t.Errorf("%d attempt-ended events, want %d", ended, workers-1)
	}
	t.Logf("%d reports in %d transactions", workers, r.st.WriteStats().Transactions)
}

func indexOfTask(trs []*cairn.TaskRun, id string) int {
	for i, tr := range trs {
		if tr.TaskID == id {
			return i
		}
	}
	return -1
}
