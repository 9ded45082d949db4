package scheduler_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cairnml/cairn"
)

// A remote worker that stops calling is marked lost once its registration
// expires: its leases end as interrupted attempts whose error names it and
// its last call, retried at once without charge to the task's retries;
// whatever it sends afterwards is refused and changes nothing; a worker
// that keeps calling is untouched.
func TestBrokerLoseWorkers(t *testing.T) {
	clk := &clock{}
	const ttl = 10 * time.Second
	r := newRig(t, rigOptions{leaseTTL: ttl, now: clk.Now})
	ctx := context.Background()
	id := r.createReady(t, 3, cairn.RetryPolicy{Retries: 0, MaxInterruptions: 3})
	at := clk.Now()
	for _, w := range []cairn.Worker{
		{ID: "wk-dead", Name: "box-a", Host: "a", TokenID: "tok", Protocol: cairn.WorkerProtocol, Concurrency: 2},
		{ID: "wk-live", Name: "box-b", Host: "b", TokenID: "tok", Protocol: cairn.WorkerProtocol, Concurrency: 1},
	} {
		if _, err := r.st.RegisterWorker(ctx, w, at, ttl); err != nil {
			t.Fatal(err)
		}
	}
	items, err := r.broker.Lease(ctx, cairn.LeaseRequest{Worker: "wk-dead", RunID: id, Max: 2})
	if err != nil || len(items) != 2 {
		t.Fatalf("Lease = %v, %v", items, err)
	}
	live := leaseOne(t, r, "wk-live", id)

	// Half a TTL on, the live worker calls; the dead one does not.
	clk.Advance(ttl / 2)
	if _, err := r.st.TouchWorker(ctx, "wk-live", "tok", clk.Now(), ttl); err != nil {
		t.Fatal(err)
	}
	if _, err := r.broker.HeartbeatMany(ctx, []cairn.Lease{live.Lease}); err != nil {
		t.Fatal(err)
	}
	if lost, err := r.broker.LoseWorkers(ctx); err != nil || len(lost) != 0 {
		t.Fatalf("LoseWorkers before any expiry = %v, %v", lost, err)
	}
	clk.Advance(ttl/2 + time.Millisecond)
	lost, err := r.broker.LoseWorkers(ctx)
	if err != nil || len(lost) != 1 || lost[0].ID != "wk-dead" {
		t.Fatalf("LoseWorkers = %+v, %v; want wk-dead", lost, err)
	}
	for _, it := range items {
		tr := getTask(t, r, id, it.Lease.TaskID)
		if tr.State != cairn.TaskRetrying || tr.Interrupted != 1 {
			t.Errorf("%s: %s, interrupted %d; want retrying at once, one interruption", it.Lease.TaskID, tr.State, tr.Interrupted)
		}
		as := r.attempts(t, id, it.Lease.TaskID)
		want := "worker box-a (wk-dead) lost: no heartbeat since " + at.UTC().Format(time.RFC3339Nano)
		if len(as) != 1 || as[0].State != cairn.AttemptInterrupted || !strings.HasPrefix(as[0].Error, want) {
			t.Errorf("%s: attempts %+v, want one interrupted: %q", it.Lease.TaskID, as, want)
		}
	}
	if tr := getTask(t, r, id, live.Lease.TaskID); tr.State != cairn.TaskRunning {
		t.Errorf("the live worker's task is %s, want running", tr.State)
	}
	// Late words from the lost worker change nothing.
	before := r.snapshot(t, id)
	if _, err := r.st.TouchWorker(ctx, "wk-dead", "tok", clk.Now(), ttl); !errors.Is(err, cairn.ErrWorkerLost) {
		t.Errorf("the lost worker's call: %v, want ErrWorkerLost", err)
	}
	rs, err := r.broker.HeartbeatMany(ctx, []cairn.Lease{items[0].Lease})
	if err != nil || !errors.Is(rs[0].Err, cairn.ErrLeaseLost) {
		t.Errorf("the lost worker's heartbeat: %+v, %v; want its lease lost", rs, err)
	}
	wantLost(t, r.broker.Complete(ctx, items[1].Lease, cairn.Completion{}), "the lost worker's completion")
	r.assertUnchanged(t, before, "the lost worker's late words")
	if lost, err := r.broker.LoseWorkers(ctx); err != nil || len(lost) != 0 {
		t.Fatalf("LoseWorkers again = %v, %v; want none", lost, err)
	}
}

func getTask(t *testing.T, r *rig, runID, taskID string) *cairn.TaskRun {
	t.Helper()
	tr, err := r.st.GetTaskRun(context.Background(), runID, taskID)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}
