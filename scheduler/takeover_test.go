package scheduler_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/tasks"
)

// A scheduler whose claim on a run was taken over (it stalled past its
// claim; another server adopted the run) but which has not noticed yet
// — its next renewal is seconds away — must not plan a completion it
// records inside that completion's transaction: the new owner would
// never hear of the completion. Here a's plan is empty (c also needs b),
// the case in which nothing of the old owner's write would conflict with
// the new owner's: the completion must leave an evaluation for the run,
// and c must still run once b ends. (CI, TestRemoteAmbiguous, seed
// 1796364183518691513: 107 tasks left pending after their upstream
// succeeded, the run never terminal.)
func TestCompletionByOustedOwnerIsEvaluated(t *testing.T) {
	// The ousted driver finds out at once only when the completion is
	// planned in its transaction (runState.within); when the run's loop
	// holds the run at that moment (a pass of its own, late under load)
	// the completion goes to the loop through the inbox, which plans
	// nothing here and so learns of the takeover only at the next claim
	// renewal (OwnerTTL/5, 12 s). The evaluation is asserted every time;
	// the prompt halt, a best case, is asked of one of a few tries.
	bestCase(t, func() bool { return ousted(t) },
		"a's completion went to the run's loop (it held the run), which found the takeover only at its renewal",
		"the ousted driver never stopped at the completion that read the claim taken over")
}

// bestCase asks try, which asserts on t what must hold every time and
// reports whether a best case happened, up to three times: it returns at
// the first best case, logs each miss and fails t if none came.
func bestCase(t *testing.T, try func() bool, miss, never string) {
	t.Helper()
	const tries = 3
	for i := range tries {
		if try() {
			return
		}
		t.Logf("try %d: %s", i+1, miss)
	}
	t.Fatalf("in %d tries %s", tries, never)
}

// ousted runs the scenario of TestCompletionByOustedOwnerIsEvaluated and
// returns whether the ousted Drive returned at once; it fails t if a's
// completion left no evaluation, or if Drive did not return with an error
// by its next claim renewal.
func ousted(t *testing.T) (prompt bool) {
	t.Helper()
	release := map[string]chan struct{}{"a": make(chan struct{}), "b": make(chan struct{})}
	defer close(release["b"])
	p := newProbe(func(ctx context.Context, req tasks.Request) (tasks.Result, error) {
		if ch := release[req.TaskID]; ch != nil {
			select {
			case <-ch:
			case <-ctx.Done():
				return tasks.Result{}, ctx.Err()
			}
		}
		return echo(req)
	})
	// A long claim: the ousted driver does not find out by renewing
	// during the wait for a prompt halt (its renewal is 12 s on).
	const ownerTTL = time.Minute
	r := newRig(t, rigOptions{ownerTTL: ownerTTL}, p)
	wf, id := r.create(t, `name: ousted
tasks:
  - {id: a, type: probe, with: {in: "1"}}
  - {id: b, type: probe, with: {in: "2"}}
  - {id: c, type: probe, needs: [a, b], with: {in: "3"}}
`)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := r.driveAsync(ctx, id, wf)
	r.startPool(t, nil, id)
	p.waitStarted(t, "a", 1)
	p.waitStarted(t, "b", 1)

	// Another server takes the run over: the driver's claim is expired
	// as of its clock.
	later := time.Now().Add(2 * time.Minute)
	if _, err := r.st.ClaimRun(ctx, id, "elsewhere:2:server", later, time.Hour, false); err != nil {
		t.Fatalf("take the run over: %v", err)
	}
	close(release["a"])
	waitState(t, r, id, "a", cairn.TaskSucceeded)

	evs, err := r.st.Evaluations(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range evs {
		found = found || e.RunID == id && e.TaskID == "a"
	}
	if !found {
		t.Fatalf("a's completion, recorded by a scheduler that no longer owns the run, left no evaluation (%+v): the owner would never plan it", evs)
	}
	// The ousted driver leaves the run to its owner: at once if the
	// completion read the claim, else at its renewal.
	var res driveResult
	select {
	case res = <-done:
		prompt = true
	case <-time.After(waitLimit):
		res = await(t, "the ousted Drive to return at its claim's renewal", done)
	}
	if !errors.Is(res.err, cairn.ErrRunOwned) {
		t.Fatalf("Drive returned %v, %v after its run was taken over; want ErrRunOwned", res.run, res.err)
	}
	return prompt
}

// waitState waits until task's state is want.
func waitState(t *testing.T, r *rig, id, task string, want cairn.TaskState) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		tr := r.taskRuns(t, id)[task]
		if tr != nil && tr.State == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("task %s: %v, not %s within %s", task, tr, want, waitLimit)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
