package scheduler_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
)

// DriverOptions.Claimed is called only when Drive holds the run, before
// anything is planned: a process refused because another live process
// drives the run never starts workers that would lease its attempts.
func TestDriveClaimedOnlyWhenHeld(t *testing.T) {
	r := newRig(t, rigOptions{}, newProbe(nil))
	wf, id := r.create(t, "name: claimed\ntasks:\n  - {id: a, type: noop}\n")
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()

	if _, err := r.st.ClaimRun(ctx, id, "otherhost:7:live", time.Now(), time.Minute, false); err != nil {
		t.Fatal(err)
	}
	called := 0
	refused := scheduler.NewDriver(r.st, r.broker, scheduler.DriverOptions{Owner: "test:2:refused",
		OwnerGone: func(string) bool { return false }, Claimed: func() { called++ }})
	if _, err := refused.Drive(ctx, id, wf); !errors.Is(err, cairn.ErrRunOwned) {
		t.Fatalf("Drive of a run another live process holds: %v, want ErrRunOwned", err)
	}
	if called != 0 {
		t.Fatalf("Claimed was called %d times by a Drive that was refused the run", called)
	}

	// Once the run is free, Claimed comes before any task is planned
	// (a is still pending), and exactly once.
	if err := r.st.ReleaseRun(ctx, id, "otherhost:7:live"); err != nil {
		t.Fatal(err)
	}
	var stateAtClaim cairn.TaskState
	held := scheduler.NewDriver(r.st, r.broker, scheduler.DriverOptions{Owner: "test:3:held", Claimed: func() {
		called++
		stateAtClaim = r.taskRuns(t, id)["a"].State
		r.startPool(t, nil, id)
	}})
	// Drive in this goroutine: Claimed, called from it, may fail the test.
	run, err := held.Drive(ctx, id, wf)
	if err != nil || run.State != cairn.RunSucceeded {
		t.Fatalf("Drive of a free run: %v, %v; want it succeeded", run, err)
	}
	if called != 1 {
		t.Errorf("Claimed was called %d times by a Drive that held the run, want once", called)
	}
	if stateAtClaim != cairn.TaskPending {
		t.Errorf("task a was %s when Claimed was called, want pending (nothing planned yet)", stateAtClaim)
	}
}
