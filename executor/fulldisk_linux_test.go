//go:build linux

package executor_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/executor"
	"github.com/cairnml/cairn/internal/smalldisk"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/tasks"
)

// filler writes to its work dir until the disk is full, then fails as a
// command does: with its exit code, the ENOSPC only in its log.
type filler struct{}

func (filler) Info() cairn.TypeInfo { return cairn.TypeInfo{Name: "filler"} }
func (filler) Run(ctx context.Context, req tasks.Request, env tasks.Env) (tasks.Result, error) {
	f, err := os.Create(filepath.Join(req.WorkDir, "big"))
	if err != nil {
		return tasks.Result{}, errors.New("command failed: exit code 1")
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for range 1 << 10 { // at most 64 MiB
		if _, err := f.Write(buf); err != nil {
			env.Log.Write([]byte(err.Error() + "\n"))
			return tasks.Result{}, errors.New("command failed: exit code 1")
		}
	}
	return tasks.Result{}, nil
}

// A task that fails because its worker's scratch disk is full (a command
// whose exit code is all the pool sees) is not charged to the task: the
// attempt is requeued and the worker halts rather than lease more, each
// failing in a moment (trial finding 7: a black hole burning retries).
func TestFullScratchDiskHaltsTheWorker(t *testing.T) {
	disk := smalldisk.Mount(t, t.TempDir(), "2m", "")
	r := newRig(t, filler{})
	wf, id := r.create(t, `
name: fill
tasks:
  - {id: big, type: filler, retries: 2}
`)
	pool := r.startPool(t, 1, func(o *executor.Options) { o.ScratchDir, o.SpaceDirs = disk, []string{disk} })
	ctx := detachWhenHalted(t, pool)
	if _, derr := r.driver.Drive(ctx, id, wf); !errors.Is(derr, scheduler.ErrDetached) {
		t.Fatalf("Drive = %v, want it detached by the halted pool", derr)
	}
	if herr := pool.pool.Err(); !errors.Is(herr, syscall.ENOSPC) || !strings.Contains(herr.Error(), "is full") {
		t.Fatalf("pool.Err() = %v, want the full scratch disk", herr)
	}
	pool.hard()
	as := r.attempts(t, id, "big")
	for _, a := range as {
		t.Logf("attempt %d: %s %q", a.Number, a.State, a.Error)
	}
	if len(as) != 1 || as[0].State != cairn.AttemptInterrupted {
		t.Fatalf("big's attempts: want one, interrupted")
	}
	if tr := r.taskRuns(t, id)["big"]; tr.State != cairn.TaskRetrying && tr.State != cairn.TaskReady {
		t.Fatalf("big is %s, want it to be retried", tr.State)
	}
}

// A worker whose disk is already full leases nothing: it halts before.
func TestFullDiskLeasesNothing(t *testing.T) {
	disk := smalldisk.Mount(t, t.TempDir(), "2m", "")
	if err := os.WriteFile(filepath.Join(disk, "fill"), make([]byte, 2<<20), 0o600); err != nil && !errors.Is(err, syscall.ENOSPC) {
		t.Fatal(err)
	}
	r := newRig(t)
	r.create(t, `
name: idle
tasks:
  - {id: n, type: noop}
`)
	pool := r.startPool(t, 2, func(o *executor.Options) { o.SpaceDirs = []string{disk} })
	select {
	case <-pool.pool.Halted():
	case <-time.After(waitLimit):
		t.Fatalf("the pool did not halt on a full disk within %s", waitLimit)
	}
	if herr := pool.pool.Err(); !errors.Is(herr, syscall.ENOSPC) || !strings.Contains(herr.Error(), "before leasing") {
		t.Fatalf("pool.Err() = %v, want the full disk before leasing", herr)
	}
}
