package remote_test

import (
	"context"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/remote"
	"github.com/cairnml/cairn/scheduler"
)

// lateLeaser is the broker whose Lease, once its caller's request has
// ended, leases all the same and returns what it got: a commit handing
// work to a long-poll at the moment its worker goes away.
type lateLeaser struct {
	*scheduler.Broker
	leased chan []cairn.WorkItem
}

func (l *lateLeaser) Lease(ctx context.Context, r cairn.LeaseRequest) ([]cairn.WorkItem, error) {
	<-ctx.Done()
	r.Wait = 0
	items, err := l.Broker.Lease(context.WithoutCancel(ctx), r)
	l.leased <- items
	return items, err
}

// Tasks leased to a worker whose request ended before they could be sent
// are given back at once, unrun and no attempt counted, rather than left
// to wait for their lease to expire and count as interrupted.
func TestLeaseOfAWorkerGoneIsGivenBack(t *testing.T) {
	var ll *lateLeaser
	r := newRigWith(t, func(o *remote.ServerOptions) {
		ll = &lateLeaser{Broker: o.Leaser.(*scheduler.Broker), leased: make(chan []cairn.WorkItem, 1)}
		o.Leaser = ll
	})
	id := r.readyRun(t, 1, "echo")
	c := r.client(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if items, err := c.Lease(ctx, cairn.LeaseRequest{Max: 1, Wait: 5 * time.Second}); err == nil || len(items) > 0 {
		t.Fatalf("a lease whose request ended: %d items, %v; want none and an error", len(items), err)
	}
	var got []cairn.WorkItem
	select {
	case got = <-ll.leased:
	case <-time.After(5 * time.Second):
		t.Fatal("the server never leased after the worker went away")
	}
	if len(got) != 1 {
		t.Fatalf("the server leased %d tasks after the worker went away, want 1", len(got))
	}
	// Well within the lease's 3 s: ready again as before its lease.
	deadline := time.Now().Add(1500 * time.Millisecond)
	for {
		tr, err := r.st.GetTaskRun(context.Background(), id, "t0")
		if err != nil {
			t.Fatal(err)
		}
		if tr.State == cairn.TaskReady && tr.Attempt == 0 && tr.Interrupted == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("t0 %s, attempt %d, %d interrupted 1.5 s after its worker went away; want ready again, no attempt counted", tr.State, tr.Attempt, tr.Interrupted)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
