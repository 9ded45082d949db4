package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
)

// The set-based writes: CompleteMany, and Lease, ApplyPlan and
// CompleteMany over more rows than one statement carries.

func testCompleteMany(t *testing.T, s scheduler.Store) {
	ctx := context.Background()
	t0 := origin()
	run, _ := newRun(t, s, t0, "wf", states(6, cairn.TaskReady)...)
	items, err := s.Lease(ctx, cairn.LeaseRequest{Worker: "w", RunID: run.ID, Max: 6, Start: true}, t0, ttl)
	if err != nil || len(items) != 6 {
		t.Fatalf("Lease: %d items, %v", len(items), err)
	}
	by := map[string]cairn.Lease{}
	for _, it := range items {
		by[it.Lease.TaskID] = it.Lease
	}
	wrongToken := by["t3"]
	wrongToken.Token = cairn.NewToken()
	exit := 3
	now := t0.Add(time.Second)
	lastEval, err := s.LastEvaluation(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fs := []scheduler.Finish{
		{Lease: by["t0"], Completion: cairn.Completion{State: cairn.TaskSucceeded, Outputs: map[string]json.RawMessage{"n": json.RawMessage(`7`)},
			Metrics: map[string]float64{"auc": 0.9}}},
		{Lease: by["t1"], Completion: cairn.Completion{State: cairn.TaskFailed, Error: "boom", Stack: "stack", ExitCode: &exit,
			Plugin: &cairn.PluginRef{Name: "p", Version: "1", SHA256: "ab"}}},
		{Lease: by["t2"], Completion: cairn.Completion{State: cairn.TaskRetrying, Error: "gone", Retryable: true, Interrupted: true,
			RetryAt: now}},
		{Lease: wrongToken, Completion: cairn.Completion{State: cairn.TaskSucceeded}},
		{Lease: by["t4"], Completion: cairn.Completion{State: cairn.TaskSucceeded}},
		{Lease: by["t4"], Completion: cairn.Completion{State: cairn.TaskFailed, Error: "second report"}},
		{Lease: by["t5"], Completion: cairn.Completion{State: cairn.TaskLeased}}, // not an end: refused alone
	}
	trs, errs, err := s.CompleteMany(ctx, fs, now)
	if err != nil {
		t.Fatalf("CompleteMany: %v", err)
	}
	if len(trs) != len(fs) || len(errs) != len(fs) {
		t.Fatalf("CompleteMany: %d task runs and %d errors for %d completions", len(trs), len(errs), len(fs))
	}
	for i, want := range []cairn.TaskState{cairn.TaskSucceeded, cairn.TaskFailed, cairn.TaskRetrying, "", cairn.TaskSucceeded, "", ""} {
		switch {
		case want == "" && (errs[i] == nil || trs[i] != nil):
			t.Errorf("completion %d: task run %v, error %v: want it refused", i, trs[i], errs[i])
		case want != "" && (errs[i] != nil || trs[i] == nil):
			t.Errorf("completion %d: error %v", i, errs[i])
		case want != "" && (trs[i].State != want || trs[i].Version != 3 || trs[i].TaskID != fs[i].Lease.TaskID):
			t.Errorf("completion %d: task run %s %s v%d, want %s %s v3", i, trs[i].TaskID, trs[i].State, trs[i].Version,
				fs[i].Lease.TaskID, want)
		}
	}
	for _, i := range []int{3, 5} {
		wantErr(t, errs[i], cairn.ErrLeaseLost)
	}
	if errs[6] == nil || errors.Is(errs[6], cairn.ErrLeaseLost) {
		t.Errorf("completion to leased: error %v, want a refusal of the state", errs[6])
	}
	if trs[0] != nil && (string(trs[0].Outputs["n"]) != "7" || trs[0].Metrics["auc"] != 0.9 || !trs[0].FinishedAt.Equal(now)) {
		t.Errorf("t0 stored as %+v", trs[0])
	}
	if trs[2] != nil && (trs[2].Interrupted != 1 || trs[2].InterruptedInARow != 1 || !trs[2].RetryAt.Equal(now) ||
		!trs[2].FinishedAt.IsZero()) {
		t.Errorf("t2 stored as %+v", trs[2])
	}
	as := attempts(t, s, run.ID, "t1")
	if len(as) != 1 || as[0].State != cairn.TaskFailed || as[0].Error != "boom" || as[0].Stack != "stack" ||
		as[0].ExitCode == nil || *as[0].ExitCode != 3 || as[0].Plugin == nil || as[0].Plugin.SHA256 != "ab" ||
		!as[0].FinishedAt.Equal(now) {
		t.Errorf("t1's attempt: %+v", as)
	}
	if as := attempts(t, s, run.ID, "t2"); len(as) != 1 || as[0].State != cairn.AttemptInterrupted || !as[0].Retryable {
		t.Errorf("t2's attempt: %+v", as)
	}
	for _, id := range []string{"t3", "t5"} {
		if tr := task(t, s, run.ID, id); tr.State != cairn.TaskRunning || tr.Version != 2 {
			t.Errorf("%s after a refused completion: %s v%d, want running v2", id, tr.State, tr.Version)
		}
		if as := attempts(t, s, run.ID, id); len(as) != 1 || !as[0].FinishedAt.IsZero() {
			t.Errorf("%s's attempt after a refused completion: %+v", id, as)
		}
	}
	if as := attempts(t, s, run.ID, "t4"); len(as) != 1 || as[0].State != cairn.TaskSucceeded || as[0].Error != "" {
		t.Errorf("t4's attempt (the first report decides): %+v", as)
	}
	// One evaluation per recorded completion: due now, or at the end of
	// a retry's backoff.
	es, err := s.Evaluations(ctx, lastEval, 100)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, e := range es {
		got[e.TaskID] = e.Reason
	}
	want := map[string]string{"t0": scheduler.EvalCompleted, "t1": scheduler.EvalCompleted, "t2": scheduler.EvalCompleted,
		"t4": scheduler.EvalCompleted}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("evaluations %v, want %v", got, want)
	}
	// An expired lease is refused too, and an empty call writes nothing.
	later := t0.Add(ttl + time.Second)
	trs, errs, err = s.CompleteMany(ctx, []scheduler.Finish{{Lease: by["t3"], Completion: cairn.Completion{State: cairn.TaskSucceeded}}}, later)
	if err != nil || trs[0] != nil {
		t.Fatalf("CompleteMany of an expired lease: %v, %v", trs, err)
	}
	wantErr(t, errs[0], cairn.ErrLeaseLost)
	if trs, errs, err := s.CompleteMany(ctx, nil, later); err != nil || len(trs) != 0 || len(errs) != 0 {
		t.Errorf("CompleteMany of nothing: %v %v %v", trs, errs, err)
	}
}

// testSetWritesLarge moves more tasks at once than one set-based
// statement carries, through every set-based write.
func testSetWritesLarge(t *testing.T, s scheduler.Store) {
	const n = 1300
	ctx := context.Background()
	t0 := origin()
	run, _ := newRun(t, s, t0, "wf", states(n, cairn.TaskPending)...)
	p := &scheduler.Plan{RunID: run.ID, Run: &scheduler.RunChange{FromVersion: 1, From: cairn.RunQueued, To: cairn.RunRunning, At: t0}}
	for i := 0; i < n; i++ {
		p.Tasks = append(p.Tasks, scheduler.TaskChange{TaskID: fmt.Sprintf("t%d", i), FromVersion: 1, From: cairn.TaskPending,
			To: cairn.TaskReady, Params: []byte(fmt.Sprintf(`{"i":%d}`, i))})
	}
	if err := s.ApplyPlan(ctx, p); err != nil {
		t.Fatalf("ApplyPlan of %d changes: %v", n, err)
	}
	for _, c := range p.Tasks {
		if c.NewVersion != 2 {
			t.Fatalf("task %s: new version %d, want 2", c.TaskID, c.NewVersion)
		}
	}
	items, err := s.Lease(ctx, cairn.LeaseRequest{Worker: "w", RunID: run.ID, Max: n, Start: true}, t0, ttl)
	if err != nil || len(items) != n {
		t.Fatalf("Lease of %d: %d items, %v", n, len(items), err)
	}
	seen := map[string]bool{}
	for i, it := range items {
		if want := fmt.Sprintf("t%d", i); it.Lease.TaskID != want || string(it.Params) != fmt.Sprintf(`{"i":%d}`, i) {
			t.Fatalf("item %d: %s %s, want %s in creation order", i, it.Lease.TaskID, it.Params, want)
		}
		if seen[it.Lease.Token] {
			t.Fatalf("token %s given twice", it.Lease.Token)
		}
		seen[it.Lease.Token] = true
	}
	fs := make([]scheduler.Finish, n)
	for i, it := range items {
		fs[i] = scheduler.Finish{Lease: it.Lease, Completion: cairn.Completion{State: cairn.TaskSucceeded, Outputs: map[string]json.RawMessage{"i": json.RawMessage(fmt.Sprint(i))}}}
	}
	trs, errs, err := s.CompleteMany(ctx, fs, t0.Add(time.Second))
	if err != nil {
		t.Fatalf("CompleteMany of %d: %v", n, err)
	}
	for i := range fs {
		if errs[i] != nil || trs[i] == nil || trs[i].TaskID != fs[i].Lease.TaskID || string(trs[i].Outputs["i"]) != fmt.Sprint(i) {
			t.Fatalf("completion %d: %v, %v", i, trs[i], errs[i])
		}
	}
	as, err := s.ListAttempts(ctx, run.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(as) != n {
		t.Fatalf("%d attempts, want %d", len(as), n)
	}
	for _, a := range as {
		if a.State != cairn.TaskSucceeded || a.FinishedAt.IsZero() {
			t.Fatalf("attempt %s#%d: %s, finished %v", a.TaskID, a.Number, a.State, a.FinishedAt)
		}
	}
}

// A change to ready with a lease hands the task to a worker in the same
// write: stored running (or leased) under that lease, its attempt open,
// as Lease would have left it; an incomplete lease, or one for another
// run or task, is refused and changes nothing.
func testApplyPlanHandsOut(t *testing.T, s scheduler.Store) {
	ctx := context.Background()
	t0 := origin()
	run, _ := newRun(t, s, t0, "wf", cairn.TaskPending, cairn.TaskPending, cairn.TaskPending)
	before := snapshot(t, s, run.ID)
	newLease := func(task string) *cairn.Lease {
		return &cairn.Lease{RunID: run.ID, TaskID: task, Attempt: 1, Token: cairn.NewToken(), Worker: "w", ExpiresAt: t0.Add(ttl)}
	}
	bad := map[string]*cairn.Lease{"no token": {RunID: run.ID, TaskID: "t0", Attempt: 1, Worker: "w", ExpiresAt: t0.Add(ttl)},
		"other task": newLease("t1"), "other run": {RunID: "r-x", TaskID: "t0", Attempt: 1, Token: "x", Worker: "w", ExpiresAt: t0.Add(ttl)}}
	for name, l := range bad {
		err := s.ApplyPlan(ctx, &scheduler.Plan{RunID: run.ID, Tasks: []scheduler.TaskChange{
			{TaskID: "t0", FromVersion: 1, From: cairn.TaskPending, To: cairn.TaskReady, At: t0, Lease: l}}})
		if err == nil {
			t.Errorf("%s: applied", name)
		}
	}
	// A stale attempt number is a conflict, like a stale version.
	stale := newLease("t0")
	stale.Attempt = 2
	err := s.ApplyPlan(ctx, &scheduler.Plan{RunID: run.ID, Tasks: []scheduler.TaskChange{
		{TaskID: "t0", FromVersion: 1, From: cairn.TaskPending, To: cairn.TaskReady, At: t0, Lease: stale}}})
	wantErr(t, err, cairn.ErrConflict)
	assertUnchanged(t, s, before)

	l0, l1 := newLease("t0"), newLease("t1")
	p := &scheduler.Plan{RunID: run.ID, Tasks: []scheduler.TaskChange{
		{TaskID: "t0", FromVersion: 1, From: cairn.TaskPending, To: cairn.TaskReady, At: t0, Params: []byte(`{"a":1}`), Lease: l0, Start: true},
		{TaskID: "t1", FromVersion: 1, From: cairn.TaskPending, To: cairn.TaskReady, At: t0, Lease: l1},
		{TaskID: "t2", FromVersion: 1, From: cairn.TaskPending, To: cairn.TaskReady, At: t0},
	}}
	if err := s.ApplyPlan(ctx, p); err != nil {
		t.Fatalf("ApplyPlan: %v", err)
	}
	for i, want := range []cairn.TaskState{cairn.TaskRunning, cairn.TaskLeased, cairn.TaskReady} {
		tr := task(t, s, run.ID, fmt.Sprintf("t%d", i))
		if tr.State != want || tr.Version != 2 || p.Tasks[i].NewVersion != 2 {
			t.Errorf("t%d: %s v%d (plan says v%d), want %s v2", i, tr.State, tr.Version, p.Tasks[i].NewVersion, want)
		}
	}
	tr := task(t, s, run.ID, "t0")
	if tr.Attempt != 1 || tr.LeaseToken != l0.Token || tr.LeaseWorker != "w" || !tr.LeaseExpiresAt.Equal(l0.ExpiresAt) ||
		string(tr.Params) != `{"a":1}` || !tr.StartedAt.Equal(t0) {
		t.Errorf("t0 handed out: %+v", tr)
	}
	if as := attempts(t, s, run.ID, "t0"); len(as) != 1 || as[0].State != cairn.TaskRunning || as[0].Worker != "w" ||
		!as[0].StartedAt.Equal(t0) || !as[0].RunningAt.Equal(t0) {
		t.Errorf("t0's attempt: %+v", as)
	}
	if as := attempts(t, s, run.ID, "t1"); len(as) != 1 || as[0].State != cairn.TaskLeased || !as[0].RunningAt.IsZero() {
		t.Errorf("t1's attempt: %+v", as)
	}
	// The lease is a real one: its holder completes it; the queue never
	// had it.
	if items := lease(t, s, "w2", run.ID, 5, t0); len(items) != 1 || items[0].Lease.TaskID != "t2" {
		t.Errorf("Lease after the hand-out: %+v, want t2 only", items)
	}
	if _, err := s.Complete(ctx, *l0, cairn.Completion{State: cairn.TaskSucceeded}, t0.Add(time.Second)); err != nil {
		t.Errorf("Complete of the handed-out lease: %v", err)
	}
}

// testCompleteManyKnown completes attempts whose task runs the caller
// knows (Finish.Known): whatever a store makes of it, each task run it
// returns is the row as stored afterwards — a known one at its version,
// one whose version moved since (a start), one the caller knows of
// another lease — and a refusal stays one.
func testCompleteManyKnown(t *testing.T, s scheduler.Store) {
	ctx := context.Background()
	t0 := origin()
	run, _ := newRun(t, s, t0, "wf", states(8, cairn.TaskReady)...)
	items, err := s.Lease(ctx, cairn.LeaseRequest{Worker: "w", RunID: run.ID, Max: 7, Start: true}, t0, ttl)
	if err != nil || len(items) != 7 {
		t.Fatalf("Lease: %d items, %v", len(items), err)
	}
	by := map[string]cairn.Lease{}
	for _, it := range items {
		by[it.Lease.TaskID] = it.Lease
	}
	late := lease(t, s, "w2", run.ID, 1, t0) // t7, leased: its start moves its version
	if len(late) != 1 {
		t.Fatalf("Lease: %d items", len(late))
	}
	by[late[0].Lease.TaskID] = late[0].Lease
	known := map[string]*cairn.TaskRun{}
	for id := range by {
		known[id] = task(t, s, run.ID, id)
	}
	if err := s.StartAttempt(ctx, late[0].Lease, t0.Add(time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	now := t0.Add(time.Second)
	exit := 2
	cases := []struct {
		id    string
		c     cairn.Completion
		known *cairn.TaskRun
	}{
		{"t0", cairn.Completion{State: cairn.TaskSucceeded, Outputs: map[string]json.RawMessage{"n": json.RawMessage(`7`), "s": json.RawMessage(`"x"`)},
			Metrics: map[string]float64{"auc": 0.9}}, known["t0"]},
		{"t1", cairn.Completion{State: cairn.TaskFailed, Error: "boom", Stack: "stack", ExitCode: &exit}, known["t1"]},
		{"t2", cairn.Completion{State: cairn.TaskRetrying, Error: "gone", Retryable: true, Interrupted: true, RetryAt: now}, known["t2"]},
		{"t3", cairn.Completion{State: cairn.TaskRetrying, Error: "again", Retryable: true, RetryAt: now.Add(time.Minute)}, known["t3"]},
		{"t4", cairn.Completion{State: cairn.TaskCancelled, Error: "cancelled"}, known["t4"]},
		{"t5", cairn.Completion{State: cairn.TaskSucceeded}, known["t6"]},         // another task's
		{t7(late), cairn.Completion{State: cairn.TaskSucceeded}, known[t7(late)]}, // stale: started since
	}
	for _, c := range cases {
		trs, errs, err := s.CompleteMany(ctx, []scheduler.Finish{{Lease: by[c.id], Completion: c.c, Known: c.known}}, now)
		if err != nil || errs[0] != nil {
			t.Fatalf("%s: CompleteMany: %v, %v", c.id, err, errs[0])
		}
		if stored := task(t, s, run.ID, c.id); !sameTaskRun(trs[0], stored) {
			t.Errorf("%s: CompleteMany returned %+v\nstored %+v", c.id, trs[0], stored)
		}
	}
	// A refusal stays one, known or not: t6 under another token.
	wrong := by["t6"]
	wrong.Token = cairn.NewToken()
	trs, errs, err := s.CompleteMany(ctx, []scheduler.Finish{{Lease: wrong, Completion: cairn.Completion{State: cairn.TaskSucceeded},
		Known: known["t6"]}}, now)
	if err != nil || trs[0] != nil {
		t.Fatalf("a known task run under a lost lease: %v, %v", trs, err)
	}
	wantErr(t, errs[0], cairn.ErrLeaseLost)
	if tr := task(t, s, run.ID, "t6"); !sameTaskRun(tr, known["t6"]) {
		t.Errorf("t6 after a refused completion: %+v, want %+v", tr, known["t6"])
	}
	// In a batch's transaction, as the broker writes it.
	err = s.Batch(ctx, func(tx scheduler.Tx) error {
		trs, errs, err = tx.CompleteMany([]scheduler.Finish{{Lease: by["t6"], Completion: cairn.Completion{State: cairn.TaskSucceeded,
			Metrics: map[string]float64{"m": 1}}, Known: known["t6"]}}, now)
		return err
	})
	if err != nil || errs[0] != nil {
		t.Fatalf("t6 in a batch: %v, %v", err, errs[0])
	}
	if stored := task(t, s, run.ID, "t6"); !sameTaskRun(trs[0], stored) {
		t.Errorf("t6 in a batch: CompleteMany returned %+v\nstored %+v", trs[0], stored)
	}
}

// testCompleteManyKnownBatch is testCompleteManyKnown's completions in
// one call, as a completion batch writes them: known task runs at their
// version, two whose version moved since (a start), one known of another
// task and one under a lost lease, side by side. Each is what it would be
// alone, and the refused one changes nothing.
func testCompleteManyKnownBatch(t *testing.T, s scheduler.Store) {
	ctx := context.Background()
	t0 := origin()
	run, _ := newRun(t, s, t0, "wf", states(8, cairn.TaskReady)...)
	items, err := s.Lease(ctx, cairn.LeaseRequest{Worker: "w", RunID: run.ID, Max: 8}, t0, ttl)
	if err != nil || len(items) != 8 {
		t.Fatalf("Lease: %d items, %v", len(items), err)
	}
	by := map[string]cairn.Lease{}
	known := map[string]*cairn.TaskRun{}
	for _, it := range items {
		by[it.Lease.TaskID] = it.Lease
		known[it.Lease.TaskID] = task(t, s, run.ID, it.Lease.TaskID)
	}
	for _, id := range []string{"t2", "t5"} { // started since they were known
		if err := s.StartAttempt(ctx, by[id], t0.Add(time.Millisecond)); err != nil {
			t.Fatal(err)
		}
	}
	now := t0.Add(time.Second)
	lost := by["t7"]
	lost.Token = cairn.NewToken()
	fs := []scheduler.Finish{
		{Lease: by["t0"], Completion: cairn.Completion{State: cairn.TaskSucceeded, Metrics: map[string]float64{"auc": 0.5}}, Known: known["t0"]},
		{Lease: by["t1"], Completion: cairn.Completion{State: cairn.TaskFailed, Error: "boom"}, Known: known["t1"]},
		{Lease: by["t2"], Completion: cairn.Completion{State: cairn.TaskSucceeded}, Known: known["t2"]},
		{Lease: by["t3"], Completion: cairn.Completion{State: cairn.TaskSucceeded}, Known: known["t4"]}, // another task's
		{Lease: by["t4"], Completion: cairn.Completion{State: cairn.TaskSucceeded}, Known: known["t4"]},
		{Lease: by["t5"], Completion: cairn.Completion{State: cairn.TaskRetrying, Error: "again", Retryable: true, RetryAt: now}, Known: known["t5"]},
		{Lease: by["t6"], Completion: cairn.Completion{State: cairn.TaskSucceeded}},
		{Lease: lost, Completion: cairn.Completion{State: cairn.TaskSucceeded}, Known: known["t7"]},
	}
	var (
		trs  []*cairn.TaskRun
		errs []error
	)
	err = s.Batch(ctx, func(tx scheduler.Tx) error {
		trs, errs, err = tx.CompleteMany(fs, now)
		return err
	})
	if err != nil {
		t.Fatalf("CompleteMany: %v", err)
	}
	for i, f := range fs[:7] {
		id := f.Lease.TaskID
		if errs[i] != nil {
			t.Errorf("%s: %v", id, errs[i])
			continue
		}
		if stored := task(t, s, run.ID, id); !sameTaskRun(trs[i], stored) {
			t.Errorf("%s: CompleteMany returned %+v\nstored %+v", id, trs[i], stored)
		}
	}
	if trs[7] != nil {
		t.Errorf("t7 under a lost lease: returned %+v", trs[7])
	}
	wantErr(t, errs[7], cairn.ErrLeaseLost)
	if tr := task(t, s, run.ID, "t7"); !sameTaskRun(tr, known["t7"]) {
		t.Errorf("t7 after a refused completion: %+v, want %+v", tr, known["t7"])
	}
}

func t7(items []cairn.WorkItem) string { return items[0].Lease.TaskID }

// sameTaskRun reports whether a and b are equal, their times as
// instants.
func sameTaskRun(a, b *cairn.TaskRun) bool {
	if a == nil || b == nil {
		return a == b
	}
	norm := func(tr cairn.TaskRun) cairn.TaskRun {
		for _, p := range []*time.Time{&tr.RetryAt, &tr.LeaseExpiresAt, &tr.StartedAt, &tr.FinishedAt} {
			if !p.IsZero() {
				*p = time.Unix(0, p.UnixNano()).UTC()
			}
		}
		return tr
	}
	return reflect.DeepEqual(norm(*a), norm(*b))
}

// testRunOwner reads a run's claim inside a batch (Tx.RunOwner, the
// read of every hop a run's scheduler plans in a completion's
// transaction): its owner, "" once released, ErrNotFound for no run.
func testRunOwner(t *testing.T, s scheduler.Store) {
	ctx := context.Background()
	t0 := origin()
	run, _ := newRun(t, s, t0, "wf", cairn.TaskReady)
	owner := func(id string) (string, error) {
		var o string
		err := s.Batch(ctx, func(tx scheduler.Tx) error {
			var err error
			o, err = tx.RunOwner(id)
			return err
		})
		return o, err
	}
	if o, err := owner(run.ID); err != nil || o != "" {
		t.Fatalf("RunOwner of an unclaimed run = %q, %v", o, err)
	}
	if _, err := s.ClaimRun(ctx, run.ID, "host:1:a", t0, ttl, false); err != nil {
		t.Fatal(err)
	}
	if o, err := owner(run.ID); err != nil || o != "host:1:a" {
		t.Errorf("RunOwner of a claimed run = %q, %v", o, err)
	}
	if err := s.ReleaseRun(ctx, run.ID, "host:1:a"); err != nil {
		t.Fatal(err)
	}
	if o, err := owner(run.ID); err != nil || o != "" {
		t.Errorf("RunOwner of a released run = %q, %v", o, err)
	}
	_, err := owner(cairn.NewRunID(t0))
	wantErr(t, err, cairn.ErrNotFound)
}
