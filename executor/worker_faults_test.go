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
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/tasks"
	"github.com/cairnml/cairn/tasks/noop"
)

// plug stands for a plugin's task type, installed on some workers only.
type plug struct{}

func (plug) Info() cairn.TypeInfo { return cairn.TypeInfo{Name: "plug"} }
func (plug) Run(ctx context.Context, req tasks.Request, env tasks.Env) (tasks.Result, error) {
	return tasks.Result{}, nil
}

// A remote worker that leases a task of a type it does not have (a plugin
// of other workers) hands it back, free of the task's retries (it had
// none), and waits before leasing again: a worker that has the type runs
// it (trial finding 12: it failed for good, "unknown task type … on
// worker").
func TestUnknownTypeIsHandedBack(t *testing.T) {
	r := newRig(t, plug{})
	wf, id := r.create(t, `
name: handback
tasks:
  - {id: p, type: plug}
`)
	without, err := tasks.NewRegistry(noop.New())
	if err != nil {
		t.Fatal(err)
	}
	r.startPool(t, 1, func(o *executor.Options) {
		o.Worker, o.Types, o.HandBack, o.HandBackPause = "without", without, true, time.Minute
	})
	done := r.driveAsync(t, id, wf)
	deadline := time.Now().Add(waitLimit)
	for len(r.attempts(t, id, "p")) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	r.startPool(t, 1, func(o *executor.Options) { o.Worker = "with" })
	res := await(t, "the run", done)
	if res.err != nil {
		t.Fatalf("Drive: %v", res.err)
	}
	as := r.attempts(t, id, "p")
	for _, a := range as {
		t.Logf("attempt %d by %s: %s %q", a.Number, a.Worker, a.State, a.Error)
	}
	wantRun(t, res.run, cairn.RunSucceeded)
	if len(as) != 2 || as[0].State != cairn.AttemptInterrupted || as[0].Worker != "without" ||
		!strings.Contains(as[0].Error, `unknown task type "plug" on worker without: handed back`) || as[1].Worker != "with" {
		t.Fatalf("p's attempts are not one handed back by the worker without the type, then one by the worker with it")
	}
}

// smallDisk mounts a tmpfs of size at a new folder, skipping the test
// where it cannot (not root, no mount).
func smallDisk(t *testing.T, size string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "small")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		t.Skipf("cannot mount a small tmpfs here: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	return dir
}

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
	disk := smallDisk(t, "2m")
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
	disk := smallDisk(t, "2m")
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
