package executor_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/artifacts"
	"github.com/cairnml/cairn/executor"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/tasks"
	"github.com/cairnml/cairn/workflows"
)

// fullDisk is the artifact store on a disk that may be full: Put fails with
// ENOSPC while full is set, as the real store does on a full file system.
type fullDisk struct {
	tasks.Artifacts
	full atomic.Bool
}

func (d *fullDisk) Put(ctx context.Context, mediaType string, r io.Reader) (cairn.ArtifactRef, error) {
	if d.full.Load() {
		io.Copy(io.Discard, r)
		return cairn.ArtifactRef{}, &fs.PathError{Op: "write", Path: "artifacts/tmp/put-1", Err: syscall.ENOSPC}
	}
	return d.Artifacts.Put(ctx, mediaType, r)
}

// An attempt that fails for want of disk space halts the pool instead of
// failing its task (which has no retries): it is requeued, the driver
// detaches leaving the run unfinished, and once space is back a new drive
// — 'cairn resume' — finishes it.
func TestFullDiskLeavesRunResumable(t *testing.T) {
	r := newRig(t, storing{})
	wf, id := r.create(t, `
name: full
tasks:
  - {id: store, type: storing}
  - {id: after, type: noop, needs: [store]}
`)
	arts, err := artifacts.Open(filepath.Join(r.dir, "artifacts"))
	if err != nil {
		t.Fatal(err)
	}
	disk := &fullDisk{Artifacts: arts}
	disk.full.Store(true)
	pool := r.startPool(t, 2, func(o *executor.Options) { o.Artifacts = disk })

	ctx := detachWhenHalted(t, pool)
	run, derr := r.driver.Drive(ctx, id, wf)
	if !errors.Is(derr, scheduler.ErrDetached) || run != nil {
		t.Fatalf("Drive = %v, %v; want it detached", run, derr)
	}
	if herr := pool.pool.Err(); !errors.Is(herr, syscall.ENOSPC) || !strings.Contains(herr.Error(), "task store of run "+id) {
		t.Fatalf("pool.Err() = %v, want the attempt's ENOSPC", herr)
	}
	pool.hard()
	got, err := r.st.GetRun(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if got.State.Terminal() {
		t.Fatalf("run %s after a full disk; want it unfinished", got.State)
	}
	as := r.attempts(t, id, "store")
	if len(as) != 1 || as[0].State != cairn.AttemptInterrupted || !strings.Contains(as[0].Error, "no space left on device") {
		t.Fatalf("store's attempts %+v; want one interrupted with the ENOSPC", as)
	}
	if tr := r.taskRuns(t, id)["store"]; tr.State != cairn.TaskRetrying && tr.State != cairn.TaskReady {
		t.Fatalf("store is %s, want it to be retried", tr.State)
	}

	// Space is back: resume.
	disk.full.Store(false)
	// The new pool is this process's, as in 'cairn resume', where pool
	// and driver share the owner's name: it may lease the requeued task
	// before the driver took the run over, which must not end its lease.
	r.startPool(t, 2, func(o *executor.Options) { o.Artifacts, o.Worker = disk, "test:1:"+t.Name() })
	final := r.drive(t, id, wf)
	for _, a := range r.attempts(t, id, "store") {
		t.Logf("attempt %d: %s %q", a.Number, a.State, a.Error)
	}
	wantRun(t, final, cairn.RunSucceeded)
	if as := r.attempts(t, id, "store"); len(as) != 2 || as[1].State != cairn.TaskSucceeded {
		t.Fatalf("store's attempts after resume: %+v", as)
	}
}

// storing is a task type that stores one artifact.
type storing struct{}

func (s storing) Info() cairn.TypeInfo {
	return cairn.TypeInfo{Name: "storing", Outputs: []cairn.PortInfo{{Name: "data"}}}
}

func (s storing) Run(ctx context.Context, req tasks.Request, env tasks.Env) (tasks.Result, error) {
	ref, err := env.Artifacts.Put(ctx, "text/plain", strings.NewReader("data"))
	if err != nil {
		return tasks.Result{}, fmt.Errorf("store output data: %w", err)
	}
	return tasks.Result{Outputs: map[string]json.RawMessage{"data": ref.JSON()}}, nil
}

// fullStore is the broker over a database on a full disk: every
// completion fails as the SQLite store says SQLITE_FULL (wrapping
// ENOSPC), while full is set.
type fullStore struct {
	*scheduler.Broker
	full atomic.Bool
}

func (f *fullStore) CompleteAndLease(ctx context.Context, l cairn.Lease, c cairn.Completion, next cairn.LeaseRequest) ([]cairn.WorkItem, error) {
	if f.full.Load() {
		return nil, fmt.Errorf("complete %s/%s#%d: %w: database or disk is full", l.RunID, l.TaskID, l.Attempt, syscall.ENOSPC)
	}
	return f.Broker.CompleteAndLease(ctx, l, c, next)
}

// An attempt whose outputs were stored but whose end the database could
// not record for want of space halts the pool as a full artifact store
// does: the driver detaches, leaving the run to resume, rather than wait
// for ever on a task the pool dropped (found by a trial: cairn run hung
// with a task "running" for as long as the disk stayed full).
func TestFullDatabaseHaltsThePool(t *testing.T) {
	r := newRig(t, storing{})
	wf, id := r.create(t, `
name: fulldb
tasks:
  - {id: store, type: storing}
  - {id: after, type: noop, needs: [store]}
`)
	fs := &fullStore{Broker: r.broker}
	fs.full.Store(true)
	pool := r.startPoolOver(t, fs, 2)
	if herr := driveUntilHalted(t, r, pool, id, wf); !errors.Is(herr, syscall.ENOSPC) || !strings.Contains(herr.Error(), "task store of run "+id) {
		t.Fatalf("pool.Err() = %v, want the completion's ENOSPC naming the task", herr)
	}
	pool.hard()

	// Space is back: resume finishes the run.
	fs.full.Store(false)
	r.startPool(t, 2, func(o *executor.Options) { o.Worker = "test:1:" + t.Name() })
	wantRun(t, r.drive(t, id, wf), cairn.RunSucceeded)
}

// fullLease is the broker over a database on a full disk that every
// lease writes to: Lease fails as the SQLite store says SQLITE_FULL
// (wrapping ENOSPC), while full is set.
type fullLease struct {
	*scheduler.Broker
	full  atomic.Bool
	calls atomic.Int64
	// claimed, when set, is waited for before the first failure: the
	// driver's claim of the run, as 'cairn run' makes it before its pool
	// leases.
	claimed func() bool
}

func (f *fullLease) Lease(ctx context.Context, req cairn.LeaseRequest) ([]cairn.WorkItem, error) {
	if f.full.Load() {
		for f.claimed != nil && !f.claimed() && ctx.Err() == nil {
			time.Sleep(time.Millisecond)
		}
		f.calls.Add(1)
		return nil, fmt.Errorf("lease: %w: database or disk is full", syscall.ENOSPC)
	}
	return f.Broker.Lease(ctx, req)
}

// A lease that the database cannot write for want of space halts the pool
// at once rather than ask again with a backoff for ever: the driver
// detaches, leaving the run to resume (found by the audit of issue #19:
// 'cairn run' on a home whose disk filled up between the run's creation
// and its first lease hung, writing to the WAL every few seconds, for as
// long as the disk stayed full).
func TestFullDatabaseOnLeaseHaltsThePool(t *testing.T) {
	r := newRig(t, storing{})
	wf, id := r.create(t, `
name: fulllease
tasks:
  - {id: store, type: storing}
`)
	fl := &fullLease{Broker: r.broker, claimed: func() bool {
		run, err := r.st.GetRun(context.Background(), id)
		return err == nil && run.State == cairn.RunRunning
	}}
	fl.full.Store(true)
	pool := r.startPoolOver(t, fl, 2)
	if herr := driveUntilHalted(t, r, pool, id, wf); !errors.Is(herr, syscall.ENOSPC) || !strings.Contains(herr.Error(), "lease") {
		t.Fatalf("pool.Err() = %v, want the lease's ENOSPC", herr)
	}
	if n := fl.calls.Load(); n != 1 {
		t.Errorf("%d leases on the full database, want 1", n)
	}
	pool.hard()

	// Space is back: resume finishes the run.
	fl.full.Store(false)
	r.startPool(t, 2, func(o *executor.Options) { o.Worker = "test:1:" + t.Name() })
	wantRun(t, r.drive(t, id, wf), cairn.RunSucceeded)
}

// driveUntilHalted drives run id of wf beside pool, which must halt
// within waitLimit: Drive detaches, leaving the run unfinished. It
// returns the pool's error.
func driveUntilHalted(t *testing.T, r *rig, pool *stopper, id string, wf *workflows.Workflow) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(detachWhenHalted(t, pool), waitLimit)
	defer cancel()
	run, derr := r.driver.Drive(ctx, id, wf)
	if !errors.Is(derr, scheduler.ErrDetached) || run != nil {
		t.Fatalf("Drive = %v, %v; want it detached once the pool halted", run, derr)
	}
	return pool.pool.Err()
}

// detachWhenHalted is the owner's wiring (cmd/cairn): a context for
// Drive that a halted pool cancels with scheduler.ErrDetached.
func detachWhenHalted(t *testing.T, pool *stopper) context.Context {
	ctx, detach := context.WithCancelCause(context.Background())
	t.Cleanup(func() { detach(nil) })
	go func() {
		select {
		case <-pool.pool.Halted():
			detach(scheduler.ErrDetached)
		case <-ctx.Done():
		}
	}()
	return ctx
}
