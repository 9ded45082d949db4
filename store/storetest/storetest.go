// Package storetest is the conformance suite of scheduler.Store: every
// implementation (SQLite, PostgreSQL) runs it against a real database, so
// they agree on the contract, not just on the method set.
package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
)

// Hooks are what a store's own test gives the suite for the cases the
// Store interface alone cannot set up. A case whose hook is nil is
// skipped, saying which hook it needs.
type Hooks struct {
	// Corrupt makes the stored field of task taskID of run runID, "params"
	// or "inputs", a value that does not decode (what a database changed
	// by hand or damaged holds): for a SQLite store, text that is not JSON.
	Corrupt func(t *testing.T, s scheduler.Store, runID, taskID, field string)
	// OpenSecond opens a second store on the database of s, as another
	// process would (its own connections and write queue), for the cases
	// of two scheduler processes on one database. The suite does not
	// close it.
	OpenSecond func(t *testing.T, s scheduler.Store) scheduler.Store
	// Exec runs a statement on the database of s, as a person would by
	// hand (RunServer: a token's last use moved back in time).
	Exec func(t *testing.T, s scheduler.Store, query string)
	// Writes counts the statements that write and the transactions s
	// has committed so far (RunServer: what reads must not add to).
	Writes func(s scheduler.Store) int64
}

// Run runs the conformance suite. open must return a new, empty store for
// each call; the suite does not close it (register a t.Cleanup for that).
func Run(t *testing.T, open func(t *testing.T) scheduler.Store, h Hooks) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s scheduler.Store)
	}{
		{"CreateRunAndRead", testCreateRunAndRead},
		{"CreateRunRejects", testCreateRunRejects},
		{"RunSources", testRunSources},
		{"ApplyPlan", testApplyPlan},
		{"ApplyPlanConflictAppliesNothing", testApplyPlanConflict},
		{"ApplyPlanClosesAttempt", testApplyPlanClosesAttempt},
		{"ApplyPlanEndReleases", testApplyPlanEndReleases},
		{"LeaseOrder", testLeaseOrder},
		{"LeaseLifecycle", testLeaseLifecycle},
		{"HeartbeatMany", testHeartbeatMany},
		{"HeartbeatManyLarge", testHeartbeatManyLarge},
		{"HeartbeatPastDue", testHeartbeatPastDue},
		{"LeaseAndStart", testLeaseAndStart},
		{"Batch", testBatch},
		{"StaleLeaseRefused", testStaleLeaseRefused},
		{"Expire", testExpire},
		{"RetryCountsAttempts", testRetryCountsAttempts},
		{"InterruptedAttempts", testInterruptedAttempts},
		{"TerminalNeverChanges", testTerminalNeverChanges},
		{"ClaimRun", testClaimRun},
		{"RequestCancel", testRequestCancel},
		{"ListRuns", testListRuns},
		{"ResolveRunID", testResolveRunID},
		{"ConcurrentLease", testConcurrentLease},
		{"GetTaskRun", testGetTaskRun},
		{"Evaluations", testEvaluations},
		{"AckEvaluations", testAckEvaluations},
		{"ClaimRuns", testClaimRuns},
		{"RenewAndReleaseClaims", testRenewAndReleaseClaims},
		{"RunsByClaim", testRunsByClaim},
		{"LeaseByOwner", testLeaseByOwner},
		{"LeaseRouting", testLeaseRouting},
		{"LeaseRoutingInBatch", testLeaseRoutingInBatch},
		{"LeaseTypes", testLeaseTypes},
		{"RoutingRejects", testRoutingRejects},
		{"ListWorkers", testListWorkers},
		{"RetryRun", testRetryRun},
		{"RetryRunRefuses", testRetryRunRefuses},
		{"RetryRunInBatch", testRetryRunInBatch},
		{"CompleteMany", testCompleteMany},
		{"CompleteManyKnown", testCompleteManyKnown},
		{"CompleteManyKnownBatch", testCompleteManyKnownBatch},
		{"RunOwner", testRunOwner},
		{"SetWritesLarge", testSetWritesLarge},
		{"ApplyPlanHandsOut", testApplyPlanHandsOut},
		{"SlotUnique", testSlotUnique},
		{"ScheduleCAS", testScheduleCAS},
		{"LeaderLease", testLeaderLease},
		{"LeaderFence", testLeaderFence},
		{"LeaderTake", testLeaderTake},
		{"Workers", testWorkers},
		{"WorkerTypes", testWorkerTypes},
		{"WorkerLeases", testWorkerLeases},
		{"TaskMetrics", testTaskMetrics},
		{"Alerts", testAlerts},
		{"Expand", testExpand},
		{"ExpandInherits", testExpandInherits},
		{"Pools", testPools},
		{"PoolKeepsLiveNeeds", testPoolKeepsLiveNeeds},
		{"PoolGivenBack", testPoolGivenBack},
		{"LeasePools", testLeasePools},
		{"LeasePoolsCancel", testLeasePoolsCancel},
		{"LeasePriority", testLeasePriority},
		{"LeaseShared", testLeaseShared},
		{"GiveBack", testGiveBack},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}

	t.Run("LeaseFailsBadRow", func(t *testing.T) {
		if h.Corrupt == nil {
			t.Skip("needs Hooks.Corrupt: a way to store a value that does not decode")
		}
		testLeaseFailsBadRow(t, open(t), h.Corrupt)
	})

	two := []struct {
		name string
		fn   func(t *testing.T, a, b scheduler.Store)
	}{
		{"Run", testTwoStoresRun},
		{"Claims", testTwoStoresClaims},
		{"LeaseCAS", testTwoStoresLeaseCAS},
		{"ConcurrentLease", testTwoStoresConcurrentLease},
		{"Fire", testTwoStoresFire},
		{"Leader", testTwoStoresLeader},
		{"LoseWorkers", testTwoStoresLoseWorkers},
		{"Pool", testTwoStoresPool},
	}
	for _, tc := range two {
		t.Run("TwoStores/"+tc.name, func(t *testing.T) {
			if h.OpenSecond == nil {
				t.Skip("needs Hooks.OpenSecond: a second store on the same database")
			}
			a := open(t)
			tc.fn(t, a, h.OpenSecond(t, a))
		})
	}
}

// origin is the suite's clock origin; every time is derived from it.
func origin() time.Time { return time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC) }

const ttl = 30 * time.Second

const digest = "sha256:000000000000000000000000000000000000000000000000000000000000002a"

// newRun creates a run (created at `at`) whose tasks are in the given
// states, named t0, t1, ...
func newRun(t *testing.T, s scheduler.Store, at time.Time, workflow string, states ...cairn.TaskState) (*cairn.Run, []*cairn.TaskRun) {
	t.Helper()
	run := &cairn.Run{
		ID: cairn.NewRunID(at), Workflow: workflow, Digest: digest, SourcePath: "wf/" + workflow + ".yaml",
		Source: []byte("name: " + workflow + "\n"), Params: map[string]any{"seed": int64(42), "name": "x", "big": int64(1<<53 + 1), "rate": 0.5},
		State: cairn.RunQueued, CreatedAt: at,
	}
	tasks := make([]*cairn.TaskRun, len(states))
	for i, st := range states {
		tasks[i] = &cairn.TaskRun{
			RunID: run.ID, TaskID: fmt.Sprintf("t%d", i), Type: "shell", State: st,
			Retry:   cairn.RetryPolicy{Retries: 2, Backoff: time.Second, Factor: 2, MaxBackoff: time.Minute, MaxInterruptions: 4},
			Timeout: 10 * time.Minute,
		}
		if st == cairn.TaskReady {
			tasks[i].Params = json.RawMessage(`{"argv":["echo","hi"]}`)
		}
	}
	if err := s.CreateRun(context.Background(), run, tasks); err != nil {
		t.Fatalf("CreateRun: %v", err)
	}
	return run, tasks
}

func states(n int, st cairn.TaskState) []cairn.TaskState {
	out := make([]cairn.TaskState, n)
	for i := range out {
		out[i] = st
	}
	return out
}

// snap is everything stored about one run.
type snap struct {
	Run      *cairn.Run
	Tasks    []*cairn.TaskRun
	Attempts []*cairn.Attempt
}

func snapshot(t *testing.T, s scheduler.Store, runID string) snap {
	t.Helper()
	ctx := context.Background()
	r, err := s.GetRun(ctx, runID)
	if err != nil {
		t.Fatalf("GetRun: %v", err)
	}
	ts, err := s.ListTaskRuns(ctx, runID)
	if err != nil {
		t.Fatalf("ListTaskRuns: %v", err)
	}
	as, err := s.ListAttempts(ctx, runID, "")
	if err != nil {
		t.Fatalf("ListAttempts: %v", err)
	}
	return snap{r, ts, as}
}

func assertUnchanged(t *testing.T, s scheduler.Store, before snap) {
	t.Helper()
	after := snapshot(t, s, before.Run.ID)
	if !reflect.DeepEqual(before, after) {
		b, _ := json.MarshalIndent(before, "", " ")
		a, _ := json.MarshalIndent(after, "", " ")
		t.Fatalf("store changed:\nbefore %s\nafter %s", b, a)
	}
}

func task(t *testing.T, s scheduler.Store, runID, taskID string) *cairn.TaskRun {
	t.Helper()
	ts, err := s.ListTaskRuns(context.Background(), runID)
	if err != nil {
		t.Fatalf("ListTaskRuns: %v", err)
	}
	for _, tr := range ts {
		if tr.TaskID == taskID {
			return tr
		}
	}
	t.Fatalf("task %s/%s not found", runID, taskID)
	return nil
}

func attempts(t *testing.T, s scheduler.Store, runID, taskID string) []*cairn.Attempt {
	t.Helper()
	as, err := s.ListAttempts(context.Background(), runID, taskID)
	if err != nil {
		t.Fatalf("ListAttempts: %v", err)
	}
	return as
}

func lease(t *testing.T, s scheduler.Store, worker, runID string, max int, now time.Time) []cairn.WorkItem {
	t.Helper()
	items, err := s.Lease(context.Background(), cairn.LeaseRequest{Worker: worker, RunID: runID, Max: max}, now, ttl)
	if err != nil {
		t.Fatalf("Lease: %v", err)
	}
	return items
}

func wantErr(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error = %v, want %v", err, target)
	}
}

func testCreateRunAndRead(t *testing.T, s scheduler.Store) {
	ctx := context.Background()
	t0 := origin()
	run, tasks := newRun(t, s, t0, "wf", cairn.TaskReady, cairn.TaskPending, cairn.TaskPending)
	if run.Version != 1 {
		t.Errorf("run.Version = %d after CreateRun, want 1", run.Version)
	}
	for _, tr := range tasks {
		if tr.Version != 1 {
			t.Errorf("task %s Version = %d after CreateRun, want 1", tr.TaskID, tr.Version)
		}
	}
	got, err := s.GetRun(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, run) {
		t.Errorf("GetRun = %+v\nwant %+v", got, run)
	}
	ts, err := s.ListTaskRuns(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ts, tasks) {
		t.Errorf("ListTaskRuns = %+v\nwant %+v", ts, tasks)
	}
	_, err = s.GetRun(ctx, "nosuchrun0000000")
	wantErr(t, err, cairn.ErrNotFound)

	// Creation order is kept for many tasks, whatever their ids.
	many := make([]*cairn.TaskRun, 250)
	for i := range many {
		many[i] = &cairn.TaskRun{TaskID: fmt.Sprintf("z%03d", 249-i), Type: "shell", State: cairn.TaskPending}
	}
	r2 := &cairn.Run{ID: cairn.NewRunID(t0.Add(time.Second)), Workflow: "wf", State: cairn.RunQueued, CreatedAt: t0}
	if err := s.CreateRun(ctx, r2, many); err != nil {
		t.Fatal(err)
	}
	ts, err = s.ListTaskRuns(ctx, r2.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 250 || ts[0].TaskID != "z249" || ts[249].TaskID != "z000" || ts[5].RunID != r2.ID {
		t.Errorf("ListTaskRuns of 250: len %d, not in creation order or without run id", len(ts))
	}
}

func testCreateRunRejects(t *testing.T, s scheduler.Store) {
	ctx := context.Background()
	t0 := origin()
	run, _ := newRun(t, s, t0, "wf", cairn.TaskPending)
	dup := &cairn.Run{ID: run.ID, Workflow: "other", State: cairn.RunQueued, CreatedAt: t0}
	wantErr(t, s.CreateRun(ctx, dup, nil), cairn.ErrConflict)

	id := cairn.NewRunID(t0.Add(time.Hour))
	bad := []struct {
		name  string
		run   *cairn.Run
		tasks []*cairn.TaskRun
	}{
		{"run version", &cairn.Run{ID: id, Workflow: "w", State: cairn.RunQueued, Version: 3}, nil},
		{"task version", &cairn.Run{ID: id, Workflow: "w", State: cairn.RunQueued},
			[]*cairn.TaskRun{{TaskID: "a", Type: "shell", State: cairn.TaskPending, Version: 1}}},
		{"duplicate task", &cairn.Run{ID: id, Workflow: "w", State: cairn.RunQueued},
			[]*cairn.TaskRun{{TaskID: "a", Type: "shell", State: cairn.TaskPending}, {TaskID: "a", Type: "shell", State: cairn.TaskPending}}},
	}
	for _, b := range bad {
		if err := s.CreateRun(ctx, b.run, b.tasks); err == nil {
			t.Errorf("CreateRun with bad %s succeeded", b.name)
		}
		_, err := s.GetRun(ctx, id)
		wantErr(t, err, cairn.ErrNotFound) // nothing half-created
	}
}

func testApplyPlan(t *testing.T, s scheduler.Store) {
	ctx := context.Background()
	t0 := origin()
	run, _ := newRun(t, s, t0, "wf", cairn.TaskPending, cairn.TaskPending, cairn.TaskPending)
	inputs := map[string]cairn.ArtifactRef{"data": {Digest: digest, Size: 12, MediaType: "text/csv"}}
	p := &scheduler.Plan{
		RunID: run.ID,
		Run:   &scheduler.RunChange{FromVersion: 1, From: cairn.RunQueued, To: cairn.RunRunning, At: t0.Add(time.Second)},
		Tasks: []scheduler.TaskChange{
			{TaskID: "t0", FromVersion: 1, From: cairn.TaskPending, To: cairn.TaskReady, Params: []byte(`{"k":1}`), Inputs: inputs},
			{TaskID: "t1", FromVersion: 1, From: cairn.TaskPending, To: cairn.TaskSkipped, Error: "when: false", At: t0.Add(time.Second)},
		},
	}
	if err := s.ApplyPlan(ctx, p); err != nil {
		t.Fatal(err)
	}
	if p.Run.NewVersion != 2 || p.Tasks[0].NewVersion != 2 || p.Tasks[1].NewVersion != 2 {
		t.Errorf("NewVersion = %d, %d, %d; want 2, 2, 2", p.Run.NewVersion, p.Tasks[0].NewVersion, p.Tasks[1].NewVersion)
	}
	sn := snapshot(t, s, run.ID)
	if sn.Run.State != cairn.RunRunning || sn.Run.Version != 2 || !sn.Run.StartedAt.Equal(t0.Add(time.Second)) {
		t.Errorf("run after plan: %+v", sn.Run)
	}
	t0r, t1r, t2r := sn.Tasks[0], sn.Tasks[1], sn.Tasks[2]
	if t0r.State != cairn.TaskReady || string(t0r.Params) != `{"k":1}` || !reflect.DeepEqual(t0r.Inputs, inputs) || t0r.Version != 2 {
		t.Errorf("t0 after plan: %+v", t0r)
	}
	if t1r.State != cairn.TaskSkipped || t1r.Error != "when: false" || !t1r.FinishedAt.Equal(t0.Add(time.Second)) {
		t.Errorf("t1 after plan: %+v", t1r)
	}
	if t2r.State != cairn.TaskPending || t2r.Version != 1 {
		t.Errorf("t2 changed by a plan that did not name it: %+v", t2r)
	}
	items := lease(t, s, "w", run.ID, 10, t0.Add(2*time.Second))
	if len(items) != 1 || string(items[0].Params) != `{"k":1}` || !reflect.DeepEqual(items[0].Inputs, inputs) {
		t.Errorf("lease after plan = %+v", items)
	}

	// Empty plans and unknown rows.
	if err := s.ApplyPlan(ctx, &scheduler.Plan{RunID: run.ID}); err != nil {
		t.Errorf("empty plan: %v", err)
	}
	err := s.ApplyPlan(ctx, &scheduler.Plan{RunID: run.ID, Tasks: []scheduler.TaskChange{
		{TaskID: "nope", FromVersion: 1, From: cairn.TaskPending, To: cairn.TaskReady}}})
	wantErr(t, err, cairn.ErrNotFound)
	err = s.ApplyPlan(ctx, &scheduler.Plan{RunID: "nosuchrun0000000",
		Run: &scheduler.RunChange{FromVersion: 1, From: cairn.RunQueued, To: cairn.RunRunning}})
	wantErr(t, err, cairn.ErrNotFound)
}

func testApplyPlanConflict(t *testing.T, s scheduler.Store) {
	ctx := context.Background()
	t0 := origin()
	run, _ := newRun(t, s, t0, "wf", cairn.TaskPending, cairn.TaskPending, cairn.TaskReady)
	before := snapshot(t, s, run.ID)
	plans := map[string]*scheduler.Plan{
		"stale task version": {RunID: run.ID,
			Run: &scheduler.RunChange{FromVersion: 1, From: cairn.RunQueued, To: cairn.RunRunning, At: t0},
			Tasks: []scheduler.TaskChange{
				{TaskID: "t0", FromVersion: 1, From: cairn.TaskPending, To: cairn.TaskReady, Params: []byte(`{}`)},
				{TaskID: "t1", FromVersion: 7, From: cairn.TaskPending, To: cairn.TaskSkipped, At: t0},
			}},
		"stale run version": {RunID: run.ID,
			Run: &scheduler.RunChange{FromVersion: 2, From: cairn.RunQueued, To: cairn.RunRunning, At: t0},
			Tasks: []scheduler.TaskChange{
				{TaskID: "t0", FromVersion: 1, From: cairn.TaskPending, To: cairn.TaskReady},
			}},
		"wrong from state": {RunID: run.ID, Tasks: []scheduler.TaskChange{
			{TaskID: "t0", FromVersion: 1, From: cairn.TaskPending, To: cairn.TaskReady},
			{TaskID: "t2", FromVersion: 1, From: cairn.TaskPending, To: cairn.TaskSkipped},
		}},
		// Each kind of change alone (a chain's hop: one row a statement).
		"stale ready alone": {RunID: run.ID, Tasks: []scheduler.TaskChange{
			{TaskID: "t0", FromVersion: 2, From: cairn.TaskPending, To: cairn.TaskReady, Params: []byte(`{}`), At: t0},
		}},
		"stale hand-out alone": {RunID: run.ID, Tasks: []scheduler.TaskChange{
			{TaskID: "t0", FromVersion: 2, From: cairn.TaskPending, To: cairn.TaskReady, Params: []byte(`{}`), At: t0, Start: true,
				Lease: &cairn.Lease{RunID: run.ID, TaskID: "t0", Attempt: 1, Token: "tok", Worker: "w", ExpiresAt: t0.Add(time.Minute)}},
		}},
		"hand-out from the wrong state alone": {RunID: run.ID, Tasks: []scheduler.TaskChange{
			{TaskID: "t2", FromVersion: 1, From: cairn.TaskPending, To: cairn.TaskReady, Params: []byte(`{}`), At: t0,
				Lease: &cairn.Lease{RunID: run.ID, TaskID: "t2", Attempt: 1, Token: "tok", Worker: "w", ExpiresAt: t0.Add(time.Minute)}},
		}},
	}
	for name, p := range plans {
		err := s.ApplyPlan(ctx, p)
		if !errors.Is(err, cairn.ErrConflict) {
			t.Errorf("%s: error = %v, want ErrConflict", name, err)
		}
		if p.Run != nil && p.Run.NewVersion != 0 {
			t.Errorf("%s: run NewVersion set on failure", name)
		}
		for _, c := range p.Tasks {
			if c.NewVersion != 0 {
				t.Errorf("%s: task %s NewVersion set on failure", name, c.TaskID)
			}
		}
		assertUnchanged(t, s, before)
	}
	// A change the state machine forbids is refused too.
	err := s.ApplyPlan(ctx, &scheduler.Plan{RunID: run.ID, Tasks: []scheduler.TaskChange{
		{TaskID: "t0", FromVersion: 1, From: cairn.TaskPending, To: cairn.TaskSucceeded}}})
	if err == nil {
		t.Error("pending -> succeeded applied")
	}
	err = s.ApplyPlan(ctx, &scheduler.Plan{RunID: run.ID, Tasks: []scheduler.TaskChange{
		{TaskID: "t2", FromVersion: 1, From: cairn.TaskReady, To: cairn.TaskLeased}}})
	if err == nil {
		t.Error("ready -> leased through ApplyPlan applied")
	}
	assertUnchanged(t, s, before)
}

func testApplyPlanClosesAttempt(t *testing.T, s scheduler.Store) {
	ctx := context.Background()
	t0 := origin()
	run, _ := newRun(t, s, t0, "wf", cairn.TaskReady, cairn.TaskReady)
	items := lease(t, s, "w1", run.ID, 2, t0)
	if err := s.StartAttempt(ctx, items[1].Lease, t0); err != nil {
		t.Fatal(err)
	}
	sn := snapshot(t, s, run.ID)
	at := t0.Add(time.Second)
	p := &scheduler.Plan{RunID: run.ID, Tasks: []scheduler.TaskChange{
		{TaskID: "t0", FromVersion: sn.Tasks[0].Version, From: cairn.TaskLeased, To: cairn.TaskCancelled, Error: "run cancelled", At: at},
		{TaskID: "t1", FromVersion: sn.Tasks[1].Version, From: cairn.TaskRunning, To: cairn.TaskCancelled, Error: "run cancelled", At: at},
	}}
	if err := s.ApplyPlan(ctx, p); err != nil {
		t.Fatal(err)
	}
	for i, it := range items {
		tr := task(t, s, run.ID, it.Lease.TaskID)
		if tr.State != cairn.TaskCancelled || tr.LeaseToken != "" || tr.LeaseWorker != "" || !tr.LeaseExpiresAt.IsZero() ||
			!tr.FinishedAt.Equal(at) || tr.Error != "run cancelled" {
			t.Errorf("task %d after cancel: %+v", i, tr)
		}
		as := attempts(t, s, run.ID, it.Lease.TaskID)
		if len(as) != 1 || as[0].State != cairn.TaskCancelled || !as[0].FinishedAt.Equal(at) || as[0].Error != "run cancelled" {
			t.Errorf("attempt of task %d after cancel: %+v", i, as[0])
		}
		_, err := s.Heartbeat(ctx, it.Lease, t0.Add(2*time.Second), ttl)
		wantErr(t, err, cairn.ErrLeaseLost)
		_, err = s.Complete(ctx, it.Lease, cairn.Completion{State: cairn.TaskSucceeded}, t0.Add(2*time.Second))
		wantErr(t, err, cairn.ErrLeaseLost)
	}
	leases, err := s.ActiveLeases(ctx, run.ID)
	if err != nil || len(leases) != 0 {
		t.Errorf("ActiveLeases after cancel = %v, %v; want none", leases, err)
	}
}

func testLeaseOrder(t *testing.T, s scheduler.Store) {
	ctx := context.Background()
	t0 := origin()
	a, _ := newRun(t, s, t0, "wf", cairn.TaskReady, cairn.TaskReady, cairn.TaskPending, cairn.TaskReady)
	b, _ := newRun(t, s, t0.Add(time.Second), "wf", cairn.TaskReady, cairn.TaskReady)
	// a/t2 becomes ready after every task of b: it queues behind them.
	if err := s.ApplyPlan(ctx, &scheduler.Plan{RunID: a.ID, Tasks: []scheduler.TaskChange{
		{TaskID: "t2", FromVersion: 1, From: cairn.TaskPending, To: cairn.TaskReady}}}); err != nil {
		t.Fatal(err)
	}
	empty, err := s.Lease(ctx, cairn.LeaseRequest{Worker: "w", RunID: a.ID}, t0, ttl)
	if err != nil || len(empty) != 0 {
		t.Errorf("Lease max 0 = %v, %v", empty, err)
	}
	now := t0.Add(time.Minute)
	got := lease(t, s, "w1", b.ID, 1, now)
	if len(got) != 1 || got[0].Lease.RunID != b.ID || got[0].Lease.TaskID != "t0" {
		t.Fatalf("Lease run b = %+v, want b/t0", got)
	}
	got = append(got, lease(t, s, "w1", "", 3, now)...)
	got = append(got, lease(t, s, "w2", "", 10, now)...)
	tokens := map[string]bool{}
	for _, it := range got {
		if it.Lease.Attempt != 1 || it.Lease.Token == "" || tokens[it.Lease.Token] || !it.Lease.ExpiresAt.Equal(now.Add(ttl)) ||
			it.Type != "shell" || it.Timeout != 10*time.Minute || it.Retry.Retries != 2 || it.Retry.Factor != 2 {
			t.Errorf("bad work item %+v", it)
		}
		tokens[it.Lease.Token] = true
	}
	want := []string{b.ID + "/t0", a.ID + "/t0", a.ID + "/t1", a.ID + "/t3", b.ID + "/t1", a.ID + "/t2"}
	var gotIDs []string
	for _, it := range got {
		gotIDs = append(gotIDs, it.Lease.RunID+"/"+it.Lease.TaskID)
	}
	if !reflect.DeepEqual(gotIDs, want) {
		t.Errorf("lease order = %v, want %v", gotIDs, want)
	}
	none := lease(t, s, "w3", "", 10, now)
	if none == nil || len(none) != 0 {
		t.Errorf("Lease with nothing ready = %#v, want empty non-nil slice", none)
	}
	tr := task(t, s, a.ID, "t3")
	if tr.State != cairn.TaskLeased || tr.Attempt != 1 || tr.LeaseWorker != "w1" || tr.LeaseToken == "" ||
		!tr.LeaseExpiresAt.Equal(now.Add(ttl)) || tr.Version != 2 || !tr.StartedAt.Equal(now) {
		t.Errorf("leased task = %+v", tr)
	}
	as := attempts(t, s, a.ID, "t3")
	if len(as) != 1 || as[0].Number != 1 || as[0].State != cairn.TaskLeased || as[0].Worker != "w1" || !as[0].StartedAt.Equal(now) {
		t.Errorf("attempts after lease = %+v", as)
	}
	leases, err := s.ActiveLeases(ctx, a.ID)
	if err != nil || len(leases) != 4 {
		t.Errorf("ActiveLeases(a) = %v, %v; want 4", leases, err)
	}
}

func testLeaseLifecycle(t *testing.T, s scheduler.Store) {
	ctx := context.Background()
	t0 := origin()
	run, _ := newRun(t, s, t0, "wf", cairn.TaskReady)
	it := lease(t, s, "w1", "", 1, t0)[0]
	l := it.Lease
	if err := s.StartAttempt(ctx, l, t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	tr := task(t, s, run.ID, "t0")
	if tr.State != cairn.TaskRunning || tr.Version != 3 {
		t.Errorf("after start: %+v", tr)
	}
	// A second start is refused: the task is no longer leased.
	wantErr(t, s.StartAttempt(ctx, l, t0.Add(time.Second)), cairn.ErrLeaseLost)

	hb, err := s.Heartbeat(ctx, l, t0.Add(20*time.Second), ttl)
	if err != nil {
		t.Fatal(err)
	}
	if !hb.ExpiresAt.Equal(t0.Add(20*time.Second+ttl)) || hb.CancelRequested {
		t.Errorf("heartbeat reply = %+v", hb)
	}
	if tr := task(t, s, run.ID, "t0"); !tr.LeaseExpiresAt.Equal(hb.ExpiresAt) {
		t.Errorf("lease expiry after heartbeat = %v, want %v", tr.LeaseExpiresAt, hb.ExpiresAt)
	}
	// Past the original expiry, the extended lease is still live.
	done := t0.Add(40 * time.Second)
	code := 0
	plugin := &cairn.PluginRef{Name: "kmeans", Version: "0.1.0", SHA256: strings.Repeat("ab", 32), Protocol: 1}
	c := cairn.Completion{
		State:      cairn.TaskSucceeded,
		Outputs:    map[string]json.RawMessage{"data": cairn.ArtifactRef{Digest: digest, Size: 3}.JSON(), "n": json.RawMessage(`7`)},
		Metrics:    map[string]float64{"f1": 0.93},
		ExitCode:   &code,
		FinishedAt: done,
		Plugin:     plugin, // the provenance the lineage reads
	}
	got, err := s.Complete(ctx, l, c, done)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, task(t, s, run.ID, "t0")) {
		t.Errorf("Complete returned %+v, store has %+v", got, task(t, s, run.ID, "t0"))
	}
	if got.State != cairn.TaskSucceeded || got.LeaseToken != "" || got.LeaseWorker != "" || !got.LeaseExpiresAt.IsZero() ||
		!got.FinishedAt.Equal(done) || got.Version != 4 || got.Metrics["f1"] != 0.93 || string(got.Outputs["n"]) != "7" {
		t.Errorf("after complete: %+v", got)
	}
	if ref, ok := cairn.AsArtifactRef(got.Outputs["data"]); !ok || ref.Size != 3 {
		t.Errorf("output data = %s", got.Outputs["data"])
	}
	as := attempts(t, s, run.ID, "t0")
	if len(as) != 1 || as[0].State != cairn.TaskSucceeded || !as[0].RunningAt.Equal(t0.Add(time.Second)) ||
		!as[0].FinishedAt.Equal(done) || as[0].ExitCode == nil || *as[0].ExitCode != 0 || as[0].Duration() != 39*time.Second {
		t.Errorf("attempt after complete: %+v", as[0])
	}
	if as[0].Plugin == nil || *as[0].Plugin != *plugin {
		t.Errorf("attempt's plugin = %+v, want %+v", as[0].Plugin, plugin)
	}
	before := snapshot(t, s, run.ID)
	_, err = s.Complete(ctx, l, c, done)
	wantErr(t, err, cairn.ErrLeaseLost)
	_, err = s.Heartbeat(ctx, l, done, ttl)
	wantErr(t, err, cairn.ErrLeaseLost)
	assertUnchanged(t, s, before)

	// A completion may come straight from leased, and record a failure.
	run2, _ := newRun(t, s, t0.Add(time.Hour), "wf", cairn.TaskReady)
	l2 := lease(t, s, "w1", run2.ID, 1, t0)[0].Lease
	code = 3
	got, err = s.Complete(ctx, l2, cairn.Completion{State: cairn.TaskFailed, Error: "boom", Stack: "stack", ExitCode: &code}, t0.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if got.State != cairn.TaskFailed || got.Error != "boom" || !got.FinishedAt.Equal(t0.Add(time.Second)) {
		t.Errorf("failed task: %+v", got)
	}
	as = attempts(t, s, run2.ID, "t0")
	if as[0].State != cairn.TaskFailed || as[0].Error != "boom" || as[0].Stack != "stack" || *as[0].ExitCode != 3 || as[0].Retryable || as[0].Plugin != nil {
		t.Errorf("failed attempt: %+v", as[0])
	}
}

func testStaleLeaseRefused(t *testing.T, s scheduler.Store) {
	ctx := context.Background()
	t0 := origin()
	run, _ := newRun(t, s, t0, "wf", cairn.TaskReady, cairn.TaskReady)
	items := lease(t, s, "w1", "", 2, t0)
	good := items[0].Lease
	if err := s.StartAttempt(ctx, items[1].Lease, t0); err != nil {
		t.Fatal(err)
	}
	wrongToken, wrongAttempt, otherTask := good, good, good
	wrongToken.Token = cairn.NewToken()
	wrongAttempt.Attempt = 2
	otherTask.TaskID = "t1" // t1's attempt 1, with t0's token
	before := snapshot(t, s, run.ID)
	live := t0.Add(time.Second)
	expired := t0.Add(ttl) // expires_at <= now: expired
	cases := []struct {
		name string
		l    cairn.Lease
		now  time.Time
	}{
		{"wrong token", wrongToken, live},
		{"wrong attempt", wrongAttempt, live},
		{"other task's attempt", otherTask, live},
		{"expired", good, expired},
		{"expired long ago", good, expired.Add(time.Hour)},
	}
	for _, c := range cases {
		if err := s.StartAttempt(ctx, c.l, c.now); !errors.Is(err, cairn.ErrLeaseLost) {
			t.Errorf("%s: StartAttempt error = %v, want ErrLeaseLost", c.name, err)
		}
		if _, err := s.Heartbeat(ctx, c.l, c.now, ttl); !errors.Is(err, cairn.ErrLeaseLost) {
			t.Errorf("%s: Heartbeat error = %v, want ErrLeaseLost", c.name, err)
		}
		if _, err := s.Complete(ctx, c.l, cairn.Completion{State: cairn.TaskSucceeded}, c.now); !errors.Is(err, cairn.ErrLeaseLost) {
			t.Errorf("%s: Complete error = %v, want ErrLeaseLost", c.name, err)
		}
		assertUnchanged(t, s, before)
	}
	// An expired running lease cannot be completed or extended either.
	if _, err := s.Complete(ctx, items[1].Lease, cairn.Completion{State: cairn.TaskSucceeded}, expired); !errors.Is(err, cairn.ErrLeaseLost) {
		t.Errorf("complete expired running lease: %v", err)
	}
	if _, err := s.Heartbeat(ctx, items[1].Lease, expired, ttl); !errors.Is(err, cairn.ErrLeaseLost) {
		t.Errorf("heartbeat expired running lease: %v", err)
	}
	// A bad completion state is refused and changes nothing.
	if _, err := s.Complete(ctx, good, cairn.Completion{State: cairn.TaskReady}, live); err == nil {
		t.Error("Complete to ready succeeded")
	}
	assertUnchanged(t, s, before)
}

func testExpire(t *testing.T, s scheduler.Store) {
	ctx := context.Background()
	t0 := origin()
	run, _ := newRun(t, s, t0, "wf", cairn.TaskReady, cairn.TaskReady, cairn.TaskReady)
	other, _ := newRun(t, s, t0.Add(time.Second), "wf", cairn.TaskReady)
	items := lease(t, s, "w1", run.ID, 3, t0)
	ol := lease(t, s, "w1", other.ID, 1, t0.Add(time.Second))[0].Lease
	if _, err := s.Heartbeat(ctx, items[2].Lease, t0.Add(10*time.Second), ttl); err != nil {
		t.Fatal(err)
	}
	live := t0.Add(5 * time.Second)
	before := snapshot(t, s, run.ID)
	fail := cairn.Completion{State: cairn.TaskRetrying, RetryAt: t0.Add(time.Hour), Error: "lease expired", Retryable: true}

	_, err := s.Expire(ctx, items[0].Lease, fail, live, false)
	wantErr(t, err, cairn.ErrLeaseLost)
	assertUnchanged(t, s, before)

	exp, err := s.ExpiredLeases(ctx, "", live, 10)
	if err != nil || len(exp) != 0 {
		t.Errorf("ExpiredLeases before expiry = %v, %v", exp, err)
	}
	at := t0.Add(ttl) // items 0, 1 and other's expire at t0+ttl, item 2 later
	exp, err = s.ExpiredLeases(ctx, "", at.Add(time.Second), 10)
	if err != nil || len(exp) != 3 {
		t.Fatalf("ExpiredLeases = %v, %v; want 3", exp, err)
	}
	exp, err = s.ExpiredLeases(ctx, run.ID, at, 10)
	if err != nil || len(exp) != 2 || exp[0].RunID != run.ID || exp[0].Token == "" || exp[0].Worker != "w1" || !exp[0].ExpiresAt.Equal(at) {
		t.Fatalf("ExpiredLeases(run) = %+v, %v; want 2 of run", exp, err)
	}
	if exp, err := s.ExpiredLeases(ctx, "", at.Add(time.Second), 1); err != nil || len(exp) != 1 {
		t.Errorf("ExpiredLeases limit 1 = %v, %v", exp, err)
	}

	got, err := s.Expire(ctx, exp[0], fail, at, false)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != cairn.TaskRetrying || !got.RetryAt.Equal(t0.Add(time.Hour)) || got.LeaseToken != "" || got.Error != "lease expired" || !got.FinishedAt.IsZero() {
		t.Errorf("after expire: %+v", got)
	}
	as := attempts(t, s, run.ID, exp[0].TaskID)
	if as[0].State != cairn.TaskRetrying || !as[0].FinishedAt.Equal(at) || !as[0].Retryable || as[0].Error != "lease expired" {
		t.Errorf("attempt after expire: %+v", as[0])
	}
	// Expiring it again is refused: the lease is gone.
	_, err = s.Expire(ctx, exp[0], fail, at, true)
	wantErr(t, err, cairn.ErrLeaseLost)

	// Force ends a live lease (its holder is known dead).
	got, err = s.Expire(ctx, items[2].Lease, cairn.Completion{State: cairn.TaskFailed, Error: "owner died"}, live, true)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != cairn.TaskFailed || !got.FinishedAt.Equal(live) {
		t.Errorf("after forced expire: %+v", got)
	}
	// A completed lease cannot be expired.
	if _, err := s.Complete(ctx, ol, cairn.Completion{State: cairn.TaskSucceeded}, t0.Add(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	_, err = s.Expire(ctx, ol, fail, at.Add(time.Hour), true)
	wantErr(t, err, cairn.ErrLeaseLost)
}

func testRetryCountsAttempts(t *testing.T, s scheduler.Store) {
	ctx := context.Background()
	t0 := origin()
	run, _ := newRun(t, s, t0, "wf", cairn.TaskReady)
	l1 := lease(t, s, "w1", run.ID, 1, t0)[0].Lease
	if err := s.StartAttempt(ctx, l1, t0); err != nil {
		t.Fatal(err)
	}
	retryAt := t0.Add(5 * time.Second)
	tr, err := s.Complete(ctx, l1, cairn.Completion{State: cairn.TaskRetrying, RetryAt: retryAt, Error: "flaky", Retryable: true}, t0.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if tr.State != cairn.TaskRetrying || !tr.RetryAt.Equal(retryAt) || tr.Attempt != 1 {
		t.Fatalf("after retrying completion: %+v", tr)
	}
	if items := lease(t, s, "w2", "", 10, t0.Add(time.Hour)); len(items) != 0 {
		t.Fatalf("a retrying task was leased: %+v", items)
	}
	p := &scheduler.Plan{RunID: run.ID, Tasks: []scheduler.TaskChange{
		{TaskID: "t0", FromVersion: tr.Version, From: cairn.TaskRetrying, To: cairn.TaskReady, Params: []byte(`{"again":true}`)}}}
	if err := s.ApplyPlan(ctx, p); err != nil {
		t.Fatal(err)
	}
	items := lease(t, s, "w2", "", 10, t0.Add(6*time.Second))
	if len(items) != 1 {
		t.Fatalf("lease after retry = %+v", items)
	}
	l2 := items[0].Lease
	if l2.Attempt != 2 || l2.Token == l1.Token || string(items[0].Params) != `{"again":true}` {
		t.Errorf("second lease = %+v, want attempt 2 with a new token", items[0])
	}
	before := snapshot(t, s, run.ID)
	now := t0.Add(7 * time.Second)
	stale := l1
	wantErr(t, s.StartAttempt(ctx, stale, now), cairn.ErrLeaseLost)
	_, err = s.Heartbeat(ctx, stale, now, ttl)
	wantErr(t, err, cairn.ErrLeaseLost)
	_, err = s.Complete(ctx, stale, cairn.Completion{State: cairn.TaskSucceeded}, now)
	wantErr(t, err, cairn.ErrLeaseLost)
	// The old token with the new attempt number is refused too.
	stale.Attempt = 2
	_, err = s.Complete(ctx, stale, cairn.Completion{State: cairn.TaskSucceeded}, now)
	wantErr(t, err, cairn.ErrLeaseLost)
	assertUnchanged(t, s, before)

	if _, err := s.Complete(ctx, l2, cairn.Completion{State: cairn.TaskSucceeded}, now); err != nil {
		t.Fatal(err)
	}
	as := attempts(t, s, run.ID, "t0")
	if len(as) != 2 || as[0].Number != 1 || as[0].State != cairn.TaskRetrying || as[0].Error != "flaky" ||
		as[1].Number != 2 || as[1].State != cairn.TaskSucceeded || as[1].Worker != "w2" {
		t.Errorf("attempts = %+v %+v", as[0], as[len(as)-1])
	}
	if tr := task(t, s, run.ID, "t0"); tr.Attempt != 2 || !tr.StartedAt.Equal(t0) || tr.Error != "" || !tr.RetryAt.IsZero() {
		t.Errorf("task after second attempt: %+v", tr)
	}
}

// retryTask moves a retrying task back to ready, as the planner does.
func retryTask(t *testing.T, s scheduler.Store, runID, taskID string) {
	t.Helper()
	tr := task(t, s, runID, taskID)
	p := &scheduler.Plan{RunID: runID, Tasks: []scheduler.TaskChange{
		{TaskID: taskID, FromVersion: tr.Version, From: cairn.TaskRetrying, To: cairn.TaskReady, Params: []byte(`{}`)}}}
	if err := s.ApplyPlan(context.Background(), p); err != nil {
		t.Fatal(err)
	}
}

// An interrupted attempt (Completion.Interrupted, by Complete or Expire) is
// stored as interrupted and counts in the task's Interrupted and
// InterruptedInARow, which the next lease hands out with the work item; an
// attempt that ends otherwise ends the run of interruptions in a row.
func testInterruptedAttempts(t *testing.T, s scheduler.Store) {
	ctx := context.Background()
	t0 := origin()
	run, _ := newRun(t, s, t0, "wf", cairn.TaskReady)
	at := t0
	next := func(attempt, interrupted, inARow int) cairn.Lease {
		t.Helper()
		at = at.Add(time.Second)
		items := lease(t, s, "w", run.ID, 1, at)
		if len(items) != 1 {
			t.Fatalf("lease of attempt %d = %+v", attempt, items)
		}
		it := items[0]
		if it.Lease.Attempt != attempt || it.Interrupted != interrupted || it.InterruptedInARow != inARow ||
			it.Retry.MaxInterruptions != 4 {
			t.Fatalf("work item of attempt %d: attempt %d, %d interrupted, %d in a row, max %d; want %d interrupted, %d in a row, max 4",
				attempt, it.Lease.Attempt, it.Interrupted, it.InterruptedInARow, it.Retry.MaxInterruptions, interrupted, inARow)
		}
		return it.Lease
	}
	interrupt := cairn.Completion{State: cairn.TaskRetrying, Error: "attempt interrupted", Retryable: true, Interrupted: true}

	l := next(1, 0, 0)
	// An interrupted attempt cannot leave its task succeeded or cancelled.
	before := snapshot(t, s, run.ID)
	for _, st := range []cairn.TaskState{cairn.TaskSucceeded, cairn.TaskCancelled} {
		if _, err := s.Complete(ctx, l, cairn.Completion{State: st, Interrupted: true}, at); err == nil {
			t.Errorf("an interrupted completion to %s was accepted", st)
		}
	}
	assertUnchanged(t, s, before)
	interrupt.RetryAt = at
	tr, err := s.Expire(ctx, l, interrupt, at, true)
	if err != nil {
		t.Fatal(err)
	}
	if tr.State != cairn.TaskRetrying || tr.Interrupted != 1 || tr.InterruptedInARow != 1 || tr.Error != "attempt interrupted" {
		t.Errorf("after an interrupted attempt: %+v", tr)
	}
	retryTask(t, s, run.ID, "t0")
	l = next(2, 1, 1)
	if _, err := s.Complete(ctx, l, interrupt, at); err != nil {
		t.Fatal(err)
	}
	retryTask(t, s, run.ID, "t0")
	l = next(3, 2, 2)
	if _, err := s.Complete(ctx, l, cairn.Completion{State: cairn.TaskRetrying, RetryAt: at, Error: "flaky", Retryable: true}, at); err != nil {
		t.Fatal(err)
	}
	retryTask(t, s, run.ID, "t0")
	l = next(4, 2, 0) // the failure ended the run of interruptions
	if _, err := s.Complete(ctx, l, interrupt, at); err != nil {
		t.Fatal(err)
	}
	retryTask(t, s, run.ID, "t0")
	l = next(5, 3, 1)
	tr, err = s.Complete(ctx, l, cairn.Completion{State: cairn.TaskFailed, Error: "too many", Interrupted: true}, at)
	if err != nil {
		t.Fatal(err)
	}
	if tr.State != cairn.TaskFailed || tr.Attempt != 5 || tr.Interrupted != 4 || tr.InterruptedInARow != 2 {
		t.Errorf("after the last interruption: %+v", tr)
	}
	if got := task(t, s, run.ID, "t0"); !reflect.DeepEqual(got, tr) {
		t.Errorf("ListTaskRuns = %+v, Complete returned %+v", got, tr)
	}
	var got []cairn.TaskState
	for _, a := range attempts(t, s, run.ID, "t0") {
		got = append(got, a.State)
	}
	want := []cairn.TaskState{cairn.AttemptInterrupted, cairn.AttemptInterrupted, cairn.TaskRetrying,
		cairn.AttemptInterrupted, cairn.AttemptInterrupted}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("attempt states %v, want %v", got, want)
	}
}

func testTerminalNeverChanges(t *testing.T, s scheduler.Store) {
	ctx := context.Background()
	t0 := origin()
	run, _ := newRun(t, s, t0, "wf", cairn.TaskReady, cairn.TaskPending)
	l := lease(t, s, "w", "", 1, t0)[0].Lease
	done, err := s.Complete(ctx, l, cairn.Completion{State: cairn.TaskSucceeded}, t0)
	if err != nil {
		t.Fatal(err)
	}
	p := &scheduler.Plan{RunID: run.ID,
		Run: &scheduler.RunChange{FromVersion: 1, From: cairn.RunQueued, To: cairn.RunRunning, At: t0},
		Tasks: []scheduler.TaskChange{
			{TaskID: "t1", FromVersion: 1, From: cairn.TaskPending, To: cairn.TaskSkipped, At: t0},
		}}
	if err := s.ApplyPlan(ctx, p); err != nil {
		t.Fatal(err)
	}
	p = &scheduler.Plan{RunID: run.ID, Run: &scheduler.RunChange{FromVersion: 2, From: cairn.RunRunning, To: cairn.RunSucceeded, At: t0}}
	if err := s.ApplyPlan(ctx, p); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, s, run.ID)
	bad := []*scheduler.Plan{
		{RunID: run.ID, Tasks: []scheduler.TaskChange{{TaskID: "t0", FromVersion: done.Version, From: cairn.TaskSucceeded, To: cairn.TaskCancelled}}},
		{RunID: run.ID, Tasks: []scheduler.TaskChange{{TaskID: "t1", FromVersion: 2, From: cairn.TaskSkipped, To: cairn.TaskReady}}},
		{RunID: run.ID, Run: &scheduler.RunChange{FromVersion: 3, From: cairn.RunSucceeded, To: cairn.RunFailed}},
	}
	for i, p := range bad {
		if err := s.ApplyPlan(ctx, p); err == nil {
			t.Errorf("plan %d changed a terminal state", i)
		}
	}
	wantErr(t, s.RequestCancel(ctx, run.ID), cairn.ErrTerminal)
	assertUnchanged(t, s, before)
}

func testClaimRun(t *testing.T, s scheduler.Store) {
	ctx := context.Background()
	t0 := origin()
	run, _ := newRun(t, s, t0, "wf", cairn.TaskPending)
	r, err := s.ClaimRun(ctx, run.ID, "a", t0, time.Minute, false)
	if err != nil {
		t.Fatal(err)
	}
	if r.Owner != "a" || !r.OwnerExpiresAt.Equal(t0.Add(time.Minute)) || r.ID != run.ID || r.Workflow != "wf" {
		t.Errorf("claimed run = %+v", r)
	}
	_, err = s.ClaimRun(ctx, run.ID, "b", t0.Add(30*time.Second), time.Minute, false)
	wantErr(t, err, cairn.ErrRunOwned)
	if r, err := s.ClaimRun(ctx, run.ID, "a", t0.Add(50*time.Second), time.Minute, false); err != nil || !r.OwnerExpiresAt.Equal(t0.Add(110*time.Second)) {
		t.Errorf("renewal = %+v, %v", r, err)
	}
	_, err = s.ClaimRun(ctx, run.ID, "b", t0.Add(109*time.Second), time.Minute, false)
	wantErr(t, err, cairn.ErrRunOwned)
	// At expiry the claim has lapsed.
	if r, err := s.ClaimRun(ctx, run.ID, "b", t0.Add(110*time.Second), time.Minute, false); err != nil || r.Owner != "b" {
		t.Errorf("claim after expiry = %+v, %v", r, err)
	}
	if r, err := s.ClaimRun(ctx, run.ID, "c", t0.Add(111*time.Second), time.Minute, true); err != nil || r.Owner != "c" {
		t.Errorf("steal = %+v, %v", r, err)
	}
	// Release by a loser is a no-op; by the owner it frees the run.
	if err := s.ReleaseRun(ctx, run.ID, "b"); err != nil {
		t.Fatal(err)
	}
	if r, _ := s.GetRun(ctx, run.ID); r.Owner != "c" {
		t.Errorf("release by non-owner changed owner to %q", r.Owner)
	}
	if err := s.ReleaseRun(ctx, run.ID, "c"); err != nil {
		t.Fatal(err)
	}
	if r, _ := s.GetRun(ctx, run.ID); r.Owner != "" || !r.OwnerExpiresAt.IsZero() {
		t.Errorf("after release: owner %q until %v", r.Owner, r.OwnerExpiresAt)
	}
	if err := s.RequestCancel(ctx, run.ID); err != nil {
		t.Fatal(err)
	}
	if r, err := s.ClaimRun(ctx, run.ID, "d", t0.Add(112*time.Second), time.Minute, false); err != nil || !r.CancelRequested {
		t.Errorf("claim of a free run = %+v, %v", r, err)
	}
	_, err = s.ClaimRun(ctx, "nosuchrun0000000", "a", t0, time.Minute, false)
	wantErr(t, err, cairn.ErrNotFound)
	// Ownership is not state: a plan made before a claim still applies.
	r, _ = s.GetRun(ctx, run.ID)
	if _, err := s.ClaimRun(ctx, run.ID, "d", t0.Add(113*time.Second), time.Minute, false); err != nil {
		t.Fatal(err)
	}
	if err := s.ApplyPlan(ctx, &scheduler.Plan{RunID: run.ID, Run: &scheduler.RunChange{
		FromVersion: r.Version, From: cairn.RunQueued, To: cairn.RunRunning, At: t0}}); err != nil {
		t.Errorf("plan after a renewal: %v", err)
	}
}

func testRequestCancel(t *testing.T, s scheduler.Store) {
	ctx := context.Background()
	t0 := origin()
	run, _ := newRun(t, s, t0, "wf", cairn.TaskReady)
	l := lease(t, s, "w", "", 1, t0)[0].Lease
	if hb, err := s.Heartbeat(ctx, l, t0, ttl); err != nil || hb.CancelRequested {
		t.Fatalf("heartbeat = %+v, %v", hb, err)
	}
	if err := s.RequestCancel(ctx, run.ID); err != nil {
		t.Fatal(err)
	}
	r, err := s.GetRun(ctx, run.ID)
	if err != nil || !r.CancelRequested || r.Version != 2 {
		t.Errorf("run after cancel request = %+v, %v", r, err)
	}
	if err := s.RequestCancel(ctx, run.ID); err != nil {
		t.Errorf("second request: %v", err)
	}
	if hb, err := s.Heartbeat(ctx, l, t0.Add(time.Second), ttl); err != nil || !hb.CancelRequested {
		t.Errorf("heartbeat after cancel request = %+v, %v", hb, err)
	}
	wantErr(t, s.RequestCancel(ctx, "nosuchrun0000000"), cairn.ErrNotFound)
}

func testListRuns(t *testing.T, s scheduler.Store) {
	ctx := context.Background()
	t0 := origin()
	var ids []string // oldest first
	for i := 0; i < 7; i++ {
		wf := "alpha"
		if i%2 == 1 {
			wf = "beta"
		}
		r, _ := newRun(t, s, t0.Add(time.Duration(i)*time.Second), wf)
		ids = append(ids, r.ID)
		if i >= 5 {
			if err := s.ApplyPlan(ctx, &scheduler.Plan{RunID: r.ID, Run: &scheduler.RunChange{
				FromVersion: 1, From: cairn.RunQueued, To: cairn.RunRunning, At: t0}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	idsOf := func(rs []*cairn.Run) []string {
		out := []string{}
		for _, r := range rs {
			out = append(out, r.ID)
		}
		return out
	}
	list := func(f scheduler.RunFilter) []string {
		t.Helper()
		rs, err := s.ListRuns(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		return idsOf(rs)
	}
	newest := make([]string, len(ids))
	for i, id := range ids {
		newest[len(ids)-1-i] = id
	}
	if got := list(scheduler.RunFilter{}); !reflect.DeepEqual(got, newest) {
		t.Errorf("ListRuns = %v, want %v", got, newest)
	}
	var paged []string
	f := scheduler.RunFilter{Limit: 3}
	for pages := 0; ; pages++ {
		page := list(f)
		if len(page) == 0 || pages > 5 {
			break
		}
		paged = append(paged, page...)
		f.Before = page[len(page)-1]
	}
	if !reflect.DeepEqual(paged, newest) {
		t.Errorf("pages = %v, want %v", paged, newest)
	}
	// A cursor that names no run is an error, not "every run" (nor "none").
	for _, cursor := range []string{"zzzzzzzzzzzzzzzz", "0", ids[3][:8]} {
		rs, err := s.ListRuns(ctx, scheduler.RunFilter{Before: cursor})
		wantErr(t, err, cairn.ErrNotFound)
		if len(rs) != 0 {
			t.Errorf("ListRuns(before %q) = %d runs with the error", cursor, len(rs))
		}
	}
	if got, want := list(scheduler.RunFilter{Workflow: "beta"}), []string{ids[5], ids[3], ids[1]}; !reflect.DeepEqual(got, want) {
		t.Errorf("beta runs = %v, want %v", got, want)
	}
	if got, want := list(scheduler.RunFilter{State: cairn.RunRunning}), []string{ids[6], ids[5]}; !reflect.DeepEqual(got, want) {
		t.Errorf("running runs = %v, want %v", got, want)
	}
	if got, want := list(scheduler.RunFilter{Workflow: "alpha", State: cairn.RunQueued, Before: ids[4], Limit: 1}), []string{ids[2]}; !reflect.DeepEqual(got, want) {
		t.Errorf("alpha queued before #4 = %v, want %v", got, want)
	}
	if got := list(scheduler.RunFilter{Workflow: "gamma"}); len(got) != 0 {
		t.Errorf("gamma runs = %v", got)
	}
	for i := 0; i < 55; i++ {
		newRun(t, s, t0.Add(time.Hour+time.Duration(i)*time.Millisecond), "many")
	}
	if got := list(scheduler.RunFilter{}); len(got) != 50 {
		t.Errorf("default limit returned %d runs, want 50", len(got))
	}
}

func testResolveRunID(t *testing.T, s scheduler.Store) {
	ctx := context.Background()
	t0 := origin()
	// Same millisecond: the ids share their first 10 characters, and b's
	// differs from a's at the 11th.
	a, _ := newRun(t, s, t0, "wf")
	other := byte('0')
	if a.ID[10] == other {
		other = '1'
	}
	b := &cairn.Run{ID: a.ID[:10] + string(other) + a.ID[11:], Workflow: "wf", State: cairn.RunQueued}
	if err := s.CreateRun(ctx, b, nil); err != nil {
		t.Fatal(err)
	}
	if id, err := s.ResolveRunID(ctx, a.ID); err != nil || id != a.ID {
		t.Errorf("full id: %q, %v", id, err)
	}
	if id, err := s.ResolveRunID(ctx, b.ID[:11]); err != nil || id != b.ID {
		t.Errorf("unique prefix: %q, %v", id, err)
	}
	_, err := s.ResolveRunID(ctx, a.ID[:10])
	wantErr(t, err, cairn.ErrAmbiguous)
	_, err = s.ResolveRunID(ctx, "zzzz")
	wantErr(t, err, cairn.ErrNotFound)
	if _, err := s.ResolveRunID(ctx, a.ID[:3]); err == nil {
		t.Error("a 3-character prefix resolved")
	}
}

func testConcurrentLease(t *testing.T, s scheduler.Store) {
	ctx := context.Background()
	t0 := origin()
	const n, workers = 300, 8
	run, _ := newRun(t, s, t0, "wf", states(n, cairn.TaskReady)...)
	var (
		mu  sync.Mutex
		got = map[string][]string{} // task -> workers
		wg  sync.WaitGroup
	)
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			name := fmt.Sprintf("w%d", w)
			for {
				runID := ""
				if w%2 == 0 {
					runID = run.ID
				}
				items, err := s.Lease(ctx, cairn.LeaseRequest{Worker: name, RunID: runID, Max: 1 + w%4, Start: w%3 == 0}, t0, ttl)
				if err != nil {
					errs <- err
					return
				}
				if len(items) == 0 {
					return
				}
				for _, it := range items {
					if _, err := s.Complete(ctx, it.Lease, cairn.Completion{State: cairn.TaskSucceeded}, t0); err != nil {
						errs <- err
						return
					}
				}
				mu.Lock()
				for _, it := range items {
					got[it.Lease.TaskID] = append(got[it.Lease.TaskID], name)
				}
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(got) != n {
		t.Errorf("%d tasks leased, want %d", len(got), n)
	}
	var doubled []string
	for id, ws := range got {
		if len(ws) != 1 {
			doubled = append(doubled, fmt.Sprintf("%s:%v", id, ws))
		}
	}
	sort.Strings(doubled)
	if len(doubled) > 0 {
		t.Errorf("tasks leased more than once: %v", doubled)
	}
	as, err := s.ListAttempts(ctx, run.ID, "")
	if err != nil || len(as) != n {
		t.Errorf("%d attempts, %v; want %d", len(as), err, n)
	}
}

// testLeaseAndStart: a lease taken with Start is running at once, in one
// transaction: the task, its attempt and the work item all say so, and a
// second Start is refused like any start of a running task.
func testLeaseAndStart(t *testing.T, s scheduler.Store) {
	ctx := context.Background()
	t0 := origin()
	run, _ := newRun(t, s, t0, "wf", cairn.TaskReady, cairn.TaskReady)
	now := t0.Add(time.Second)
	items, err := s.Lease(ctx, cairn.LeaseRequest{Worker: "w", RunID: run.ID, Max: 1, Start: true}, now, ttl)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 1 || !items[0].Started || items[0].Lease.Attempt != 1 || items[0].Lease.Token == "" {
		t.Fatalf("items = %+v, want one started lease of attempt 1", items)
	}
	it := items[0]
	if tr := task(t, s, run.ID, it.Lease.TaskID); tr.State != cairn.TaskRunning || tr.LeaseToken != it.Lease.Token {
		t.Fatalf("task = %s token %q, want running under the new lease", tr.State, tr.LeaseToken)
	}
	as := attempts(t, s, run.ID, it.Lease.TaskID)
	if len(as) != 1 || as[0].State != cairn.TaskRunning || !as[0].RunningAt.Equal(now) || !as[0].StartedAt.Equal(now) {
		t.Fatalf("attempts = %+v, want one running since %v", as, now)
	}
	if err := s.StartAttempt(ctx, it.Lease, now); !errors.Is(err, cairn.ErrLeaseLost) {
		t.Fatalf("StartAttempt of a started lease: %v, want ErrLeaseLost", err)
	}
	if _, err := s.Complete(ctx, it.Lease, cairn.Completion{State: cairn.TaskSucceeded}, now.Add(time.Second)); err != nil {
		t.Fatalf("Complete: %v", err)
	}
	// Without Start the other task stays leased.
	rest := lease(t, s, "w", run.ID, 5, now)
	if len(rest) != 1 || rest[0].Started {
		t.Fatalf("lease without start = %+v, want one unstarted item", rest)
	}
	if tr := task(t, s, run.ID, rest[0].Lease.TaskID); tr.State != cairn.TaskLeased {
		t.Fatalf("task = %s, want leased", tr.State)
	}
}

// testBatch: writes made inside Batch commit together or not at all, and a
// refused call inside changes nothing of its own while the rest commits.
func testBatch(t *testing.T, s scheduler.Store) {
	ctx := context.Background()
	t0 := origin()
	run, _ := newRun(t, s, t0, "wf", cairn.TaskReady, cairn.TaskPending, cairn.TaskPending)
	now := t0.Add(time.Second)
	it := lease(t, s, "w", run.ID, 1, now)[0]
	if err := s.StartAttempt(ctx, it.Lease, now); err != nil {
		t.Fatal(err)
	}
	complete := func(tx scheduler.Tx) error {
		_, err := tx.Complete(it.Lease, cairn.Completion{State: cairn.TaskSucceeded}, now)
		return err
	}
	ready := func(tx scheduler.Tx) error {
		return tx.ApplyPlan(&scheduler.Plan{RunID: run.ID, Tasks: []scheduler.TaskChange{
			{TaskID: "t1", FromVersion: 1, From: cairn.TaskPending, To: cairn.TaskReady, Params: []byte(`{}`)}}})
	}

	// fn fails after two successful writes: neither is kept.
	before := snapshot(t, s, run.ID)
	boom := errors.New("boom")
	err := s.Batch(ctx, func(tx scheduler.Tx) error {
		if err := complete(tx); err != nil {
			return err
		}
		if err := ready(tx); err != nil {
			return err
		}
		return boom
	})
	wantErr(t, err, boom)
	assertUnchanged(t, s, before)

	// A refused call inside (a stale token) changes nothing of its own;
	// the batch's other writes commit, together.
	var items []cairn.WorkItem
	err = s.Batch(ctx, func(tx scheduler.Tx) error {
		stale := it.Lease
		stale.Token = "stale"
		if _, err := tx.Complete(stale, cairn.Completion{State: cairn.TaskFailed}, now); !errors.Is(err, cairn.ErrLeaseLost) {
			return fmt.Errorf("stale Complete in batch: %v, want ErrLeaseLost", err)
		}
		if err := complete(tx); err != nil {
			return err
		}
		if err := ready(tx); err != nil {
			return err
		}
		var err error
		items, err = tx.Lease(cairn.LeaseRequest{Worker: "w", RunID: run.ID, Max: 5, Start: true}, now, ttl)
		return err
	})
	if err != nil {
		t.Fatalf("Batch: %v", err)
	}
	if tr := task(t, s, run.ID, "t0"); tr.State != cairn.TaskSucceeded {
		t.Fatalf("t0 = %s, want succeeded", tr.State)
	}
	// The lease saw the plan's write before it, in the same transaction.
	if len(items) != 1 || items[0].Lease.TaskID != "t1" {
		t.Fatalf("batch lease = %+v, want t1, made ready earlier in the batch", items)
	}
	if t1 := task(t, s, run.ID, "t1"); t1.State != cairn.TaskRunning || t1.LeaseToken != items[0].Lease.Token {
		t.Fatalf("t1 = %s token %q, want running under %q", t1.State, t1.LeaseToken, items[0].Lease.Token)
	}
	if tr := task(t, s, run.ID, "t2"); tr.State != cairn.TaskPending {
		t.Fatalf("t2 = %s, want pending", tr.State)
	}
}

// A plan that ends a run clears its claim and deletes its evaluations in
// the same transaction.
func testApplyPlanEndReleases(t *testing.T, s scheduler.Store) {
	ctx := context.Background()
	t0 := origin()
	run, _ := newRun(t, s, t0, "wf", cairn.TaskSucceeded)
	if _, err := s.ClaimRun(ctx, run.ID, "owner:1:a", t0, ttl, false); err != nil {
		t.Fatal(err)
	}
	if err := s.RequestCancel(ctx, run.ID); err != nil {
		t.Fatal(err)
	}
	cur, err := s.GetRun(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ApplyPlan(ctx, &scheduler.Plan{RunID: run.ID, Run: &scheduler.RunChange{FromVersion: cur.Version,
		From: cairn.RunQueued, To: cairn.RunCancelled, At: t0.Add(time.Second)}}); err != nil {
		t.Fatal(err)
	}
	cur, err = s.GetRun(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if cur.State != cairn.RunCancelled || cur.Owner != "" || !cur.OwnerExpiresAt.IsZero() {
		t.Fatalf("ended run: state %s owner %q until %v, want cancelled and no claim", cur.State, cur.Owner, cur.OwnerExpiresAt)
	}
	evs, err := s.Evaluations(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if e.RunID == run.ID {
			t.Fatalf("evaluation of the ended run left: %+v", e)
		}
	}
}

// A run's sub-workflow files are stored with it, byte for byte, and read
// back by RunSources; a run without them reads none, and GetRun does not
// carry them.
func testRunSources(t *testing.T, s scheduler.Store) {
	ctx := context.Background()
	at := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	files := map[string][]byte{
		"steps/prep.yaml": []byte("name: prep\ntasks:\n  - {id: a, type: noop}\n"),
		"mid.yaml":        {0xef, 0xbb, 0xbf, 'n', ':', ' ', 0x00, '\n'}, // bytes as they are, NUL included
	}
	run := &cairn.Run{ID: cairn.NewRunID(at), Workflow: "kept", Digest: digest, SourcePath: "wf/kept.yaml",
		Source: []byte("name: kept\n"), State: cairn.RunQueued, CreatedAt: at, SubSources: files}
	if err := s.CreateRun(ctx, run, []*cairn.TaskRun{{RunID: run.ID, TaskID: "a", Type: "noop", State: cairn.TaskPending}}); err != nil {
		t.Fatalf("CreateRun: %v", err)
	}
	got, err := s.RunSources(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(files) {
		t.Fatalf("RunSources: %d files, want %d", len(got), len(files))
	}
	for rel, src := range files {
		if !bytes.Equal(got[rel], src) {
			t.Errorf("RunSources[%s] = %q, want %q", rel, got[rel], src)
		}
	}
	other, _ := newRun(t, s, at.Add(time.Second), "plain", cairn.TaskPending)
	if got, err := s.RunSources(ctx, other.ID); err != nil || len(got) != 0 {
		t.Errorf("RunSources of a run without uses: %v, %v; want none", got, err)
	}
	if r, err := s.GetRun(ctx, run.ID); err != nil || r.SubSources != nil {
		t.Errorf("GetRun: %v, SubSources %v; want none read back", err, r.SubSources)
	}
}
