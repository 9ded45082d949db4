package executor_test

import (
	"context"
	"reflect"
	"sync"
	"testing"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/executor"
)

// routeRecorder is the broker, recording the routing of every request
// the pool makes.
type routeRecorder struct {
	executor.Leaser
	mu   sync.Mutex
	reqs []cairn.LeaseRequest
}

func (r *routeRecorder) record(req cairn.LeaseRequest) {
	r.mu.Lock()
	r.reqs = append(r.reqs, req)
	r.mu.Unlock()
}

func (r *routeRecorder) Lease(ctx context.Context, req cairn.LeaseRequest) ([]cairn.WorkItem, error) {
	r.record(req)
	return r.Leaser.Lease(ctx, req)
}

func (r *routeRecorder) CompleteAndLease(ctx context.Context, l cairn.Lease, c cairn.Completion, next cairn.LeaseRequest) ([]cairn.WorkItem, error) {
	if next.Max > 0 {
		r.record(next)
	}
	return r.Leaser.CompleteAndLease(ctx, l, c, next)
}

// A pool leases with its Labels and Queues, in every request: it runs
// the tasks they allow (a run of labelled tasks in a queue succeeds), and
// AnyTask goes with them.
func TestPoolLeasesWithItsRoute(t *testing.T) {
	r := newRig(t)
	wf, id := r.create(t, `
name: routed
defaults: {queue: batch}
tasks:
  - {id: a, type: noop, labels: {gpu: "true"}}
  - {id: b, type: noop, needs: [a]}
  - {id: c, type: noop, needs: [b], queue: default}
`)
	rec := &routeRecorder{Leaser: r.broker}
	labels, queues := map[string]string{"gpu": "true", "zone": "eu"}, []string{"", "batch"}
	r.startPoolOver(t, rec, 2, func(o *executor.Options) { o.Labels, o.Queues = labels, queues })
	wantRun(t, r.drive(t, id, wf), cairn.RunSucceeded)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.reqs) == 0 {
		t.Fatal("the pool made no request")
	}
	for _, req := range rec.reqs {
		if !reflect.DeepEqual(req.Labels, labels) || !reflect.DeepEqual(req.Queues, queues) || req.AnyTask {
			t.Errorf("request %+v: want labels %v, queues %q", req, labels, queues)
		}
	}
}
