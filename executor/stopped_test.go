package executor_test

import (
	"context"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/artifacts"
	"github.com/cairnml/cairn/executor"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/tasks"
)

// leaseWatch is the broker under a pool that tells the test when the
// pool's dispatcher waits in a Lease (inLease) and when a Lease returned
// after the pool stopped leasing (stopped: its context ended).
type leaseWatch struct {
	*scheduler.Broker
	inLease     atomic.Int64
	stoppedOnce sync.Once
	stopped     chan struct{}
	// late, when set, is called by a Lease whose context ended, with
	// the request, and what it returns is the Lease's answer.
	late func(req cairn.LeaseRequest) ([]cairn.WorkItem, error)
}

func newLeaseWatch(b *scheduler.Broker) *leaseWatch {
	return &leaseWatch{Broker: b, stopped: make(chan struct{})}
}

func (w *leaseWatch) Lease(ctx context.Context, req cairn.LeaseRequest) ([]cairn.WorkItem, error) {
	w.inLease.Add(1)
	items, err := w.Broker.Lease(ctx, req)
	w.inLease.Add(-1)
	if ctx.Err() == nil {
		return items, err
	}
	w.stoppedOnce.Do(func() { close(w.stopped) })
	if w.late != nil && len(items) == 0 {
		return w.late(req)
	}
	return items, err
}

// waitInLease waits until the pool's dispatcher waits in a Lease.
func (w *leaseWatch) waitInLease(ctx context.Context) error {
	for w.inLease.Load() == 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
	return nil
}

// gatedFullDisk is a full disk whose first Put waits for the pool's
// dispatcher to wait in a Lease: the task fails with ENOSPC then, halting
// the pool while its dispatcher waits for work. It counts the Puts.
type gatedFullDisk struct {
	fullDisk
	watch *leaseWatch
	puts  atomic.Int64
}

func (d *gatedFullDisk) Put(ctx context.Context, mediaType string, r io.Reader) (cairn.ArtifactRef, error) {
	if d.puts.Add(1) == 1 {
		if err := d.watch.waitInLease(ctx); err != nil {
			return cairn.ArtifactRef{}, err
		}
	}
	return d.fullDisk.Put(ctx, mediaType, r)
}

// A pool that halts on a full disk gives back, unrun, the task a Lease
// brings it after the halt: the flake of cmd/cairn's
// TestServerStopsOnFullDisk ("big ran 3 attempts (2 interrupted)"). The
// halting attempt is requeued, its task made ready again by the commit
// of that report, which hands it — in the same write — to the pool's
// dispatcher waiting in a Lease that the halt was ending (the broker's
// spill to waiting Leases: a Lease that stops waiting returns what it was
// handed). The dispatcher ran it, on the same full disk: a second
// attempt, interrupted too. Here the Lease takes the task made ready
// after its context ended, always, as that commit did in the window.
// Given back, the task is ready as before its lease, with the one
// interrupted attempt; once space is back it runs once more and succeeds.
func TestHaltedPoolGivesBackWhatItIsHandedAfter(t *testing.T) {
	r := newRig(t, storing{})
	wf, id := r.create(t, `
name: late
tasks:
  - {id: store, type: storing}
`)
	watch := newLeaseWatch(r.broker)
	var lateItems atomic.Int64
	watch.late = func(req cairn.LeaseRequest) ([]cairn.WorkItem, error) {
		req.Wait = waitLimit
		items, err := r.broker.Lease(context.Background(), req)
		lateItems.Add(int64(len(items)))
		return items, err
	}
	arts, err := artifacts.Open(filepath.Join(r.dir, "artifacts"))
	if err != nil {
		t.Fatal(err)
	}
	disk := &gatedFullDisk{fullDisk: fullDisk{Artifacts: arts}, watch: watch}
	disk.full.Store(true)
	pool := r.startPoolOver(t, watch, 2, func(o *executor.Options) { o.Artifacts = disk })
	detach := r.detachable(t, id, wf)

	await(t, "the pool to halt", pool.pool.Halted())
	await(t, "the dispatcher's Lease to end", watch.stopped)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	pool.stop(ctx) // every attempt of the pool ended and was reported
	if lateItems.Load() != 1 {
		t.Fatalf("the Lease got %d items after the halt, want store's retry: the test missed the window", lateItems.Load())
	}
	if n := disk.puts.Load(); n != 1 {
		t.Errorf("store ran %d times on the halted pool, want once", n)
	}
	as := r.attempts(t, id, "store")
	if len(as) != 1 || as[0].State != cairn.AttemptInterrupted || !strings.Contains(as[0].Error, "no space left on device") {
		for _, a := range as {
			t.Logf("store's attempt %d: %s, %q", a.Number, a.State, a.Error)
		}
		t.Fatalf("store has %d attempts, want the one the full disk stopped", len(as))
	}
	tr := r.taskRuns(t, id)["store"]
	if tr.State != cairn.TaskReady || tr.Attempt != 1 || tr.Interrupted != 1 || tr.LeaseToken != "" {
		t.Fatalf("store is %s after %d attempts (%d interrupted), lease %q; want it given back: ready, as before its lease",
			tr.State, tr.Attempt, tr.Interrupted, tr.LeaseToken)
	}

	// Space is back: the run goes on with the task's second attempt.
	detach()
	disk.full.Store(false)
	// The new pool is the driver's process's, as in 'cairn resume' (see
	// TestFullDiskLeavesRunResumable).
	r.startPool(t, 2, func(o *executor.Options) { o.Artifacts, o.Worker = disk, "test:1:"+t.Name() })
	wantRun(t, r.drive(t, id, wf), cairn.RunSucceeded)
	if tr := r.taskRuns(t, id)["store"]; tr.Attempt != 2 || tr.Interrupted != 1 {
		t.Errorf("store ran %d attempts (%d interrupted), want 2 (1): the one the full disk stopped, then the one that succeeded",
			tr.Attempt, tr.Interrupted)
	}
}

// stopOnReport is the broker under a pool that begins to stop (stop)
// while a slot's report of task a is on its way, the report having asked
// for the slot's next item: the commit leases the slot a's successor all
// the same.
type stopOnReport struct {
	*leaseWatch
	stop func()
	once sync.Once
}

func (s *stopOnReport) CompleteAndLease(ctx context.Context, l cairn.Lease, c cairn.Completion, next cairn.LeaseRequest) ([]cairn.WorkItem, error) {
	if l.TaskID == "a" && next.Max > 0 {
		s.once.Do(func() {
			go s.stop()
			<-s.stopped // the pool stopped leasing
		})
	}
	return s.leaseWatch.CompleteAndLease(ctx, l, c, next)
}

// A slot whose report brings its next task after its pool began to stop
// (Pool.Stop, a server's drain) gives that task back rather than start
// it while the pool drains: ready again, no attempt counted, for the
// run's next worker.
func TestPoolStopGivesBackAReportsNextTask(t *testing.T) {
	p := newProbe(nil)
	r := newRig(t, p)
	wf, id := r.create(t, `
name: chain
tasks:
  - {id: a, type: probe}
  - {id: b, type: probe, needs: [a]}
`)
	watch := newLeaseWatch(r.broker)
	p.do = func(ctx context.Context, req tasks.Request) (tasks.Result, error) {
		if req.TaskID == "a" {
			// The dispatcher waits for work for the pool's free slot,
			// so that the stop ends its Lease.
			if err := watch.waitInLease(ctx); err != nil {
				return tasks.Result{}, err
			}
		}
		return echo(req)
	}
	leaser := &stopOnReport{leaseWatch: watch}
	started, stopped := make(chan *stopper, 1), make(chan struct{})
	leaser.stop = func() {
		(<-started).stop(context.Background())
		close(stopped)
	}
	started <- r.startPoolOver(t, leaser, 2)
	detach := r.detachable(t, id, wf)

	await(t, "the pool to stop", stopped)
	if n := p.runCount("b"); n != 0 {
		t.Errorf("b ran %d times on the stopping pool, want none", n)
	}
	waitFor(t, "a to be recorded succeeded", func() bool {
		return r.taskRuns(t, id)["a"].State == cairn.TaskSucceeded
	})
	tr := r.taskRuns(t, id)["b"]
	if tr.State != cairn.TaskReady || tr.Attempt != 0 || tr.Interrupted != 0 || tr.LeaseToken != "" {
		t.Fatalf("b is %s after %d attempts (%d interrupted), lease %q; want it given back: ready, no attempt counted",
			tr.State, tr.Attempt, tr.Interrupted, tr.LeaseToken)
	}
	if as := r.attempts(t, id, "b"); len(as) != 0 {
		t.Fatalf("b has %d attempts, want none", len(as))
	}

	// The next pool runs it (the driver's process's, as in 'cairn resume').
	detach()
	r.startPool(t, 2, func(o *executor.Options) { o.Worker = "test:1:" + t.Name() })
	wantRun(t, r.drive(t, id, wf), cairn.RunSucceeded)
	if n := p.runCount("b"); n != 1 {
		t.Errorf("b ran %d times, want once", n)
	}
}
