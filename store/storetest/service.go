package storetest

// The cases of the scheduler service's part of the contract (issue #16):
// GetTaskRun, evaluations, claims on many runs, leases by owner, and a
// bad row failing alone inside Lease.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
)

// setRunState moves run id from its stored state to to, as the planner
// does.
func setRunState(t *testing.T, s scheduler.Store, id string, to cairn.RunState, at time.Time) {
	t.Helper()
	ctx := context.Background()
	r, err := s.GetRun(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	p := &scheduler.Plan{RunID: id, Run: &scheduler.RunChange{FromVersion: r.Version, From: r.State, To: to, At: at}}
	if err := s.ApplyPlan(ctx, p); err != nil {
		t.Fatalf("run %s %s -> %s: %v", id, r.State, to, err)
	}
}

// claim makes owner the holder of run id until at+d (d may be negative
// for a claim that has expired by at).
func claim(t *testing.T, s scheduler.Store, id, owner string, at time.Time, d time.Duration) {
	t.Helper()
	if _, err := s.ClaimRun(context.Background(), id, owner, at, d, true); err != nil {
		t.Fatalf("ClaimRun %s for %s: %v", id, owner, err)
	}
}

// allEvals lists every evaluation in the store, by id, in pages of
// three (so paging is exercised); with runID only that run's.
func allEvals(t *testing.T, s scheduler.Store, runID string) []scheduler.Evaluation {
	t.Helper()
	out := []scheduler.Evaluation{}
	var after int64
	for {
		page, err := s.Evaluations(context.Background(), after, 3)
		if err != nil {
			t.Fatalf("Evaluations: %v", err)
		}
		if len(page) > 3 {
			t.Fatalf("Evaluations with limit 3 returned %d", len(page))
		}
		if len(page) == 0 {
			return out
		}
		for _, e := range page {
			if e.ID <= after {
				t.Fatalf("Evaluations(after %d) returned id %d: not above after, or not by id", after, e.ID)
			}
			after = e.ID
			if runID == "" || e.RunID == runID {
				out = append(out, e)
			}
		}
	}
}

// evalKey is what a case expects of an evaluation: everything but the
// id the store gives it.
type evalKey struct {
	RunID, Reason, TaskID, Writer string
	DueAt, CreatedAt              time.Time
}

func keys(es []scheduler.Evaluation) []evalKey {
	out := []evalKey{}
	for _, e := range es {
		out = append(out, evalKey{e.RunID, e.Reason, e.TaskID, e.Writer, e.DueAt.UTC(), e.CreatedAt.UTC()})
	}
	return out
}

// newEvals returns the evaluations of runID written since before (a
// LastEvaluation), checking that their ids are above it.
func newEvals(t *testing.T, s scheduler.Store, runID string, before int64) []evalKey {
	t.Helper()
	var out []scheduler.Evaluation
	for _, e := range allEvals(t, s, runID) {
		if e.ID > before {
			out = append(out, e)
		}
	}
	return keys(out)
}

func last(t *testing.T, s scheduler.Store) int64 {
	t.Helper()
	id, err := s.LastEvaluation(context.Background())
	if err != nil {
		t.Fatalf("LastEvaluation: %v", err)
	}
	return id
}

func wantEvals(t *testing.T, what string, got []evalKey, want ...evalKey) {
	t.Helper()
	if len(want) == 0 {
		want = []evalKey{}
	}
	if len(got) == 0 {
		got = []evalKey{}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s: evaluations\n%+v\nwant\n%+v", what, got, want)
	}
}

func testGetTaskRun(t *testing.T, s scheduler.Store) {
	ctx := context.Background()
	t0 := origin()
	run, tasks := newRun(t, s, t0, "wf", cairn.TaskReady, cairn.TaskPending)
	for _, want := range tasks {
		got, err := s.GetTaskRun(ctx, run.ID, want.TaskID)
		if err != nil {
			t.Fatalf("GetTaskRun %s: %v", want.TaskID, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("GetTaskRun %s = %+v\nwant %+v", want.TaskID, got, want)
		}
	}
	// Leased, then completed with outputs: it reads what ListTaskRuns reads.
	l := lease(t, s, "w", run.ID, 1, t0)[0].Lease
	got, err := s.GetTaskRun(ctx, run.ID, "t0")
	if err != nil || got.State != cairn.TaskLeased || got.LeaseToken != l.Token || !reflect.DeepEqual(got, task(t, s, run.ID, "t0")) {
		t.Errorf("GetTaskRun of a leased task = %+v, %v", got, err)
	}
	done, err := s.Complete(ctx, l, cairn.Completion{State: cairn.TaskSucceeded, Metrics: map[string]float64{"f1": 0.5}}, t0.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetTaskRun(ctx, run.ID, "t0"); err != nil || !reflect.DeepEqual(got, done) {
		t.Errorf("GetTaskRun after Complete = %+v, %v; Complete returned %+v", got, err, done)
	}
	_, err = s.GetTaskRun(ctx, run.ID, "nope")
	wantErr(t, err, cairn.ErrNotFound)
	_, err = s.GetTaskRun(ctx, "nosuchrun0000000", "t0")
	wantErr(t, err, cairn.ErrNotFound)
}

// testEvaluations: what each write records. CreateRun, RequestCancel, the
// Store's Complete and Expire each record one evaluation in their own
// transaction; the Tx's Complete and Expire record none (the caller
// plans or records one itself); AddEvaluation records what it is given.
func testEvaluations(t *testing.T, s scheduler.Store) {
	ctx := context.Background()
	t0 := origin()
	if id := last(t, s); id != 0 {
		t.Errorf("LastEvaluation of an empty store = %d, want 0", id)
	}
	if es := allEvals(t, s, ""); len(es) != 0 {
		t.Errorf("evaluations of an empty store: %+v", es)
	}

	run, _ := newRun(t, s, t0, "wf", cairn.TaskReady, cairn.TaskReady, cairn.TaskReady, cairn.TaskReady, cairn.TaskReady)
	es := allEvals(t, s, "")
	wantEvals(t, "CreateRun", keys(es), evalKey{RunID: run.ID, Reason: scheduler.EvalCreated, DueAt: t0, CreatedAt: t0})
	if len(es) == 1 && (es[0].ID <= 0 || last(t, s) != es[0].ID) {
		t.Errorf("created evaluation's id %d, LastEvaluation %d", es[0].ID, last(t, s))
	}

	// A run created finished needs no planning.
	done := &cairn.Run{ID: cairn.NewRunID(t0.Add(time.Second)), Workflow: "wf", State: cairn.RunSucceeded, CreatedAt: t0, FinishedAt: t0}
	before := last(t, s)
	if err := s.CreateRun(ctx, done, nil); err != nil {
		t.Fatal(err)
	}
	wantEvals(t, "CreateRun of a finished run", newEvals(t, s, "", before))

	before = last(t, s)
	if err := s.RequestCancel(ctx, run.ID); err != nil {
		t.Fatal(err)
	}
	got := newEvals(t, s, run.ID, before)
	if len(got) != 1 || got[0].Reason != scheduler.EvalCancel || got[0].TaskID != "" || got[0].RunID != run.ID {
		t.Errorf("RequestCancel: evaluations %+v, want one %q of the run", got, scheduler.EvalCancel)
	}

	now := t0.Add(10 * time.Second)
	items := lease(t, s, "w", run.ID, 5, now)
	if len(items) != 5 {
		t.Fatalf("leased %d, want 5", len(items))
	}
	byTask := map[string]cairn.Lease{}
	for _, it := range items {
		byTask[it.Lease.TaskID] = it.Lease
	}
	if got := newEvals(t, s, run.ID, last(t, s)); len(got) != 0 {
		t.Errorf("Lease recorded evaluations: %+v", got)
	}

	// Store.Complete: "completed", due now; a retry that waits: "retry",
	// due when its backoff ends; a retry due now is "completed".
	cases := []struct {
		task string
		c    cairn.Completion
		want evalKey
	}{
		{"t0", cairn.Completion{State: cairn.TaskSucceeded},
			evalKey{RunID: run.ID, Reason: scheduler.EvalCompleted, TaskID: "t0", DueAt: now, CreatedAt: now}},
		{"t1", cairn.Completion{State: cairn.TaskRetrying, RetryAt: now.Add(time.Minute), Error: "flaky", Retryable: true},
			evalKey{RunID: run.ID, Reason: scheduler.EvalRetry, TaskID: "t1", DueAt: now.Add(time.Minute), CreatedAt: now}},
		{"t2", cairn.Completion{State: cairn.TaskRetrying, RetryAt: now, Error: "interrupted", Retryable: true, Interrupted: true},
			evalKey{RunID: run.ID, Reason: scheduler.EvalCompleted, TaskID: "t2", DueAt: now, CreatedAt: now}},
	}
	for _, c := range cases {
		before := last(t, s)
		if _, err := s.Complete(ctx, byTask[c.task], c.c, now); err != nil {
			t.Fatalf("Complete %s: %v", c.task, err)
		}
		wantEvals(t, "Complete "+c.task+" "+string(c.c.State), newEvals(t, s, run.ID, before), c.want)
	}
	// A refused completion records nothing.
	before = last(t, s)
	if _, err := s.Complete(ctx, byTask["t0"], cairn.Completion{State: cairn.TaskSucceeded}, now); !errors.Is(err, cairn.ErrLeaseLost) {
		t.Fatalf("second Complete: %v, want ErrLeaseLost", err)
	}
	wantEvals(t, "refused Complete", newEvals(t, s, "", before))

	// Store.Expire: "expired", due now (a retry that waits is due when its
	// backoff ends, as with Complete).
	exp := now.Add(ttl)
	before = last(t, s)
	if _, err := s.Expire(ctx, byTask["t3"], cairn.Completion{State: cairn.TaskFailed, Error: "lease expired"}, exp, false); err != nil {
		t.Fatal(err)
	}
	wantEvals(t, "Expire", newEvals(t, s, run.ID, before),
		evalKey{RunID: run.ID, Reason: scheduler.EvalExpired, TaskID: "t3", DueAt: exp, CreatedAt: exp})
	before = last(t, s)
	if _, err := s.Expire(ctx, byTask["t4"], cairn.Completion{State: cairn.TaskRetrying, RetryAt: exp.Add(time.Hour),
		Error: "lease expired", Retryable: true}, exp, false); err != nil {
		t.Fatal(err)
	}
	wantEvals(t, "Expire to a retry that waits", newEvals(t, s, run.ID, before),
		evalKey{RunID: run.ID, Reason: scheduler.EvalRetry, TaskID: "t4", DueAt: exp.Add(time.Hour), CreatedAt: exp})

	// Inside a Batch, Complete and Expire record none; AddEvaluation
	// records what it is given and returns its id.
	r2, _ := newRun(t, s, t0.Add(time.Minute), "wf", cairn.TaskReady, cairn.TaskReady)
	ls := lease(t, s, "w", r2.ID, 2, now)
	before = last(t, s)
	var id int64
	err := s.Batch(ctx, func(tx scheduler.Tx) error {
		if _, err := tx.Complete(ls[0].Lease, cairn.Completion{State: cairn.TaskSucceeded}, now); err != nil {
			return err
		}
		if _, err := tx.Expire(ls[1].Lease, cairn.Completion{State: cairn.TaskFailed, Error: "owner died"}, now, true); err != nil {
			return err
		}
		var err error
		id, err = tx.AddEvaluation(scheduler.Evaluation{RunID: r2.ID, Reason: scheduler.EvalRetry, TaskID: "t0", Writer: "sched-1",
			DueAt: now.Add(time.Hour), CreatedAt: now})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if tr := task(t, s, r2.ID, "t1"); tr.State != cairn.TaskFailed {
		t.Errorf("Tx.Expire left t1 %s", tr.State)
	}
	es = allEvals(t, s, r2.ID)
	if len(es) == 0 || es[len(es)-1].ID != id || id <= before {
		t.Errorf("AddEvaluation returned id %d; run's evaluations %+v; LastEvaluation before %d", id, es, before)
	}
	wantEvals(t, "Batch of Tx.Complete, Tx.Expire and AddEvaluation", newEvals(t, s, r2.ID, before),
		evalKey{RunID: r2.ID, Reason: scheduler.EvalRetry, TaskID: "t0", Writer: "sched-1", DueAt: now.Add(time.Hour), CreatedAt: now})
	// An evaluation added in a Batch that fails is not kept.
	before = last(t, s)
	boom := errors.New("boom")
	err = s.Batch(ctx, func(tx scheduler.Tx) error {
		if _, err := tx.AddEvaluation(scheduler.Evaluation{RunID: r2.ID, Reason: scheduler.EvalCompleted, CreatedAt: now}); err != nil {
			return err
		}
		return boom
	})
	wantErr(t, err, boom)
	wantEvals(t, "failed Batch", newEvals(t, s, "", before))
	// An evaluation of a run that does not exist is refused.
	err = s.Batch(ctx, func(tx scheduler.Tx) error {
		_, err := tx.AddEvaluation(scheduler.Evaluation{RunID: "nosuchrun0000000", Reason: scheduler.EvalCompleted, CreatedAt: now})
		return err
	})
	if err == nil {
		t.Error("AddEvaluation of an unknown run succeeded")
	}

	// Ids grow in the order the writes were made; Evaluations pages by id.
	all := allEvals(t, s, "")
	var reasons []string
	for _, e := range all {
		reasons = append(reasons, e.RunID+":"+e.Reason+":"+e.TaskID)
	}
	r1, r2id := run.ID, r2.ID
	if want := []string{r1 + ":created:", r1 + ":cancel:", r1 + ":completed:t0", r1 + ":retry:t1", r1 + ":completed:t2",
		r1 + ":expired:t3", r1 + ":retry:t4", r2id + ":created:", r2id + ":retry:t0"}; !reflect.DeepEqual(reasons, want) {
		t.Errorf("evaluations by id: %v, want %v (the order of the writes)", reasons, want)
	}
	if page, err := s.Evaluations(ctx, all[1].ID, 2); err != nil || len(page) != 2 || page[0].ID != all[2].ID || page[1].ID != all[3].ID {
		t.Errorf("Evaluations(after %d, 2) = %+v, %v; want ids %d, %d", all[1].ID, page, err, all[2].ID, all[3].ID)
	}
	if page, err := s.Evaluations(ctx, all[len(all)-1].ID, 10); err != nil || len(page) != 0 {
		t.Errorf("Evaluations after the last = %+v, %v; want none", page, err)
	}
	if page, err := s.Evaluations(ctx, 0, 0); err != nil || len(page) != len(all) {
		t.Errorf("Evaluations with limit 0 = %d, %v; want all %d (fewer than 100)", len(page), err, len(all))
	}
}

// testAckEvaluations: AckEvaluations deletes only the run's evaluations
// with an id up to upTo that are due by now, or with upTo < 0 all of
// the run's; ids never go back, even once the highest row is deleted.
func testAckEvaluations(t *testing.T, s scheduler.Store) {
	ctx := context.Background()
	t0 := origin()
	a, _ := newRun(t, s, t0, "wf", cairn.TaskReady, cairn.TaskReady, cairn.TaskReady, cairn.TaskReady)
	b, _ := newRun(t, s, t0.Add(time.Second), "wf", cairn.TaskPending)
	now := t0.Add(time.Minute)
	items := lease(t, s, "w", a.ID, 4, now)
	complete := func(i int, c cairn.Completion) {
		t.Helper()
		if _, err := s.Complete(ctx, items[i].Lease, c, now); err != nil {
			t.Fatal(err)
		}
	}
	complete(0, cairn.Completion{State: cairn.TaskRetrying, RetryAt: now.Add(time.Hour), Retryable: true, Error: "x"}) // due later
	complete(1, cairn.Completion{State: cairn.TaskSucceeded})
	complete(2, cairn.Completion{State: cairn.TaskSucceeded})
	ea := allEvals(t, s, a.ID) // created, retry, completed t1, completed t2
	eb := allEvals(t, s, b.ID) // created
	if len(ea) != 4 || len(eb) != 1 {
		t.Fatalf("evaluations of a %+v, of b %+v; want 4 and 1", ea, eb)
	}
	ids := func(es []scheduler.Evaluation) []int64 {
		out := []int64{}
		for _, e := range es {
			out = append(out, e.ID)
		}
		return out
	}
	ack := func(run string, upTo int64, at time.Time) {
		t.Helper()
		if err := s.AckEvaluations(ctx, run, upTo, at); err != nil {
			t.Fatalf("AckEvaluations(%s, %d): %v", run, upTo, err)
		}
	}
	// Up to a's "completed t1": the created one and t1's go; the retry is
	// not due yet; t2's is above upTo; b's is another run's.
	ack(a.ID, ea[2].ID, now)
	if got, want := ids(allEvals(t, s, a.ID)), []int64{ea[1].ID, ea[3].ID}; !reflect.DeepEqual(got, want) {
		t.Errorf("a's evaluations after the ack = %v, want %v", got, want)
	}
	if got := ids(allEvals(t, s, b.ID)); !reflect.DeepEqual(got, ids(eb)) {
		t.Errorf("b's evaluations after a's ack = %v, want %v", got, ids(eb))
	}
	// Once the retry is due it goes too.
	ack(a.ID, ea[3].ID, now.Add(time.Hour))
	if got := allEvals(t, s, a.ID); len(got) != 0 {
		t.Errorf("a's evaluations after the ack at the retry's time: %+v", got)
	}

	// upTo < 0: all of the run's, due or not.
	complete(3, cairn.Completion{State: cairn.TaskRetrying, RetryAt: now.Add(2 * time.Hour), Retryable: true, Error: "x"})
	if err := s.RequestCancel(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if got := allEvals(t, s, a.ID); len(got) != 2 {
		t.Fatalf("a's evaluations = %+v, want a retry and a cancel", got)
	}
	high := last(t, s)
	ack(a.ID, -1, now)
	if got := allEvals(t, s, a.ID); len(got) != 0 {
		t.Errorf("a's evaluations after the ack of all: %+v", got)
	}
	if got := ids(allEvals(t, s, b.ID)); !reflect.DeepEqual(got, ids(eb)) {
		t.Errorf("b's evaluations after acking all of a's = %v, want %v", got, ids(eb))
	}
	// The highest row is gone: LastEvaluation still says its id, and the
	// next evaluation gets a higher one.
	if got := last(t, s); got != high {
		t.Errorf("LastEvaluation after its row was deleted = %d, want %d", got, high)
	}
	var next int64
	if err := s.Batch(ctx, func(tx scheduler.Tx) error {
		var err error
		next, err = tx.AddEvaluation(scheduler.Evaluation{RunID: b.ID, Reason: scheduler.EvalCompleted, CreatedAt: now})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if next <= high || last(t, s) != next {
		t.Errorf("evaluation after deleting id %d got id %d (LastEvaluation %d): ids must only grow", high, next, last(t, s))
	}
	// Acknowledging nothing, or a run without evaluations, is no error.
	ack(a.ID, -1, now)
	ack(b.ID, 0, now)
	if got := allEvals(t, s, b.ID); len(got) != 2 {
		t.Errorf("b's evaluations after an ack up to 0 = %+v, want both kept", got)
	}
}

// idSet sorts ids for comparison.
func idSet(ids []string) []string {
	out := append([]string{}, ids...)
	sort.Strings(out)
	return out
}

// claimRuns are a store's runs in every claim situation.
type claimRuns struct {
	free, other, otherExpired, mine, done, running *cairn.Run
}

func testClaimRuns(t *testing.T, s scheduler.Store) {
	ctx := context.Background()
	t0 := origin()
	mk := func(i int) *cairn.Run {
		r, _ := newRun(t, s, t0.Add(time.Duration(i)*time.Second), "wf", cairn.TaskPending)
		return r
	}
	now := t0.Add(time.Hour)
	c := claimRuns{free: mk(0), other: mk(1), otherExpired: mk(2), mine: mk(3), done: mk(4), running: mk(5)}
	claim(t, s, c.other.ID, "other", now, time.Minute)
	claim(t, s, c.otherExpired.ID, "other", now.Add(-2*time.Minute), time.Minute)
	claim(t, s, c.mine.ID, "me", now.Add(-30*time.Second), time.Minute)
	setRunState(t, s, c.done.ID, cairn.RunFailed, t0)
	setRunState(t, s, c.running.ID, cairn.RunRunning, t0)
	all := []*cairn.Run{c.free, c.other, c.otherExpired, c.mine, c.done, c.running}
	before := map[string]*cairn.Run{}
	for _, r := range all {
		got, err := s.GetRun(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		before[r.ID] = got
	}

	// Many ids, most of them unknown: only the known ones can be claimed.
	var ids []string
	for i, r := range all {
		ids = append(ids, r.ID)
		for j := 0; j < 250; j++ {
			ids = append(ids, fmt.Sprintf("nosuchrun%03d%04d", i, j))
		}
	}
	held, err := s.ClaimRuns(ctx, ids, "me", now, 2*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	want := idSet([]string{c.free.ID, c.otherExpired.ID, c.mine.ID, c.running.ID})
	if got := idSet(held); !reflect.DeepEqual(got, want) {
		t.Errorf("ClaimRuns held %v, want %v (free, expired, already mine, running)", got, want)
	}
	for _, r := range all {
		got, err := s.GetRun(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		b := before[r.ID]
		if got.Version != b.Version || got.State != b.State {
			t.Errorf("run %s: a claim changed its version or state (%d %s -> %d %s)", r.ID, b.Version, b.State, got.Version, got.State)
		}
		switch r {
		case c.other, c.done:
			if got.Owner != b.Owner || !got.OwnerExpiresAt.Equal(b.OwnerExpiresAt) {
				t.Errorf("run %s claimed by ClaimRuns: owner %q until %v, was %q until %v", r.ID, got.Owner, got.OwnerExpiresAt,
					b.Owner, b.OwnerExpiresAt)
			}
		default:
			if got.Owner != "me" || !got.OwnerExpiresAt.Equal(now.Add(2*time.Minute)) {
				t.Errorf("run %s after ClaimRuns: owner %q until %v, want me until %v", r.ID, got.Owner, got.OwnerExpiresAt, now.Add(2*time.Minute))
			}
		}
	}
	// While the claims are live no one else gets them; the same owner
	// renews them.
	if held, err := s.ClaimRuns(ctx, []string{c.free.ID, c.mine.ID}, "other", now.Add(time.Minute), time.Minute); err != nil || len(held) != 0 {
		t.Errorf("ClaimRuns by other of live claims = %v, %v; want none", held, err)
	}
	if _, err := s.ClaimRun(ctx, c.free.ID, "other", now.Add(time.Minute), time.Minute, false); !errors.Is(err, cairn.ErrRunOwned) {
		t.Errorf("ClaimRun by other of a run ClaimRuns gave me: %v, want ErrRunOwned", err)
	}
	if held, err := s.ClaimRuns(ctx, []string{c.free.ID}, "me", now.Add(time.Minute), time.Minute); err != nil || !reflect.DeepEqual(held, []string{c.free.ID}) {
		t.Errorf("ClaimRuns renewal = %v, %v", held, err)
	}
	if held, err := s.ClaimRuns(ctx, nil, "me", now, time.Minute); err != nil || len(held) != 0 {
		t.Errorf("ClaimRuns of no ids = %v, %v", held, err)
	}
}

func testRenewAndReleaseClaims(t *testing.T, s scheduler.Store) {
	ctx := context.Background()
	t0 := origin()
	mk := func(i int) *cairn.Run {
		r, _ := newRun(t, s, t0.Add(time.Duration(i)*time.Second), "wf", cairn.TaskPending)
		return r
	}
	now := t0.Add(time.Hour)
	a, b, lapsed, fin, other, free := mk(0), mk(1), mk(2), mk(3), mk(4), mk(5)
	claim(t, s, a.ID, "me", now, time.Minute)
	setRunState(t, s, b.ID, cairn.RunRunning, t0)
	claim(t, s, b.ID, "me", now, time.Minute)
	claim(t, s, lapsed.ID, "me", now.Add(-time.Hour), time.Minute) // expired, no one took it
	claim(t, s, fin.ID, "me", now, time.Minute)
	setRunState(t, s, fin.ID, cairn.RunCancelled, now)
	claim(t, s, other.ID, "other", now, time.Minute)
	get := func(r *cairn.Run) *cairn.Run {
		t.Helper()
		got, err := s.GetRun(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	finBefore, otherBefore, freeBefore := get(fin), get(other), get(free)

	later := now.Add(30 * time.Second)
	held, err := s.RenewClaims(ctx, "me", later, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := idSet(held), idSet([]string{a.ID, b.ID, lapsed.ID}); !reflect.DeepEqual(got, want) {
		t.Errorf("RenewClaims = %v, want %v (not the finished run, not other's)", got, want)
	}
	for _, r := range []*cairn.Run{a, b, lapsed} {
		if got := get(r); got.Owner != "me" || !got.OwnerExpiresAt.Equal(later.Add(5*time.Minute)) {
			t.Errorf("run %s after RenewClaims: owner %q until %v, want me until %v", r.ID, got.Owner, got.OwnerExpiresAt, later.Add(5*time.Minute))
		}
	}
	for _, r := range []*cairn.Run{finBefore, otherBefore, freeBefore} {
		if got := get(r); !reflect.DeepEqual(got, r) {
			t.Errorf("RenewClaims changed run %s: %+v\nwas %+v", r.ID, got, r)
		}
	}
	if held, err := s.RenewClaims(ctx, "nobody", later, time.Minute); err != nil || len(held) != 0 {
		t.Errorf("RenewClaims of an owner without claims = %v, %v", held, err)
	}

	// ReleaseClaims frees every run of mine and no one else's.
	if err := s.ReleaseClaims(ctx, "me"); err != nil {
		t.Fatal(err)
	}
	for _, r := range []*cairn.Run{a, b, lapsed, fin} {
		if got := get(r); got.Owner != "" || !got.OwnerExpiresAt.IsZero() {
			t.Errorf("run %s after ReleaseClaims: owner %q until %v", r.ID, got.Owner, got.OwnerExpiresAt)
		}
	}
	if got := get(other); !reflect.DeepEqual(got, otherBefore) {
		t.Errorf("ReleaseClaims of me changed other's run: %+v", got)
	}
	if held, err := s.RenewClaims(ctx, "me", later, time.Minute); err != nil || len(held) != 0 {
		t.Errorf("RenewClaims after ReleaseClaims = %v, %v; want none", held, err)
	}
	if held, err := s.ClaimRuns(ctx, []string{a.ID, other.ID}, "third", later, time.Minute); err != nil || !reflect.DeepEqual(held, []string{a.ID}) {
		t.Errorf("ClaimRuns of a released run and a live one = %v, %v; want the released one", held, err)
	}
}

// claimIDs lists the ids of claims, in order.
func claimIDs(cs []scheduler.RunClaim) []string {
	out := []string{}
	for _, c := range cs {
		out = append(out, c.ID)
	}
	return out
}

// testRunsByClaim: Unowned, Owned and ActiveRuns over runs in every claim
// situation.
func testRunsByClaim(t *testing.T, s scheduler.Store) {
	ctx := context.Background()
	t0 := origin()
	now := t0.Add(time.Hour)
	mk := func(i int, wf string, maxActive int) *cairn.Run {
		run := &cairn.Run{ID: cairn.NewRunID(t0.Add(time.Duration(i) * time.Second)), Workflow: wf, State: cairn.RunQueued,
			CreatedAt: t0.Add(time.Duration(i) * time.Second), MaxActiveRuns: maxActive}
		if err := s.CreateRun(ctx, run, []*cairn.TaskRun{{TaskID: "t", Type: "noop", State: cairn.TaskPending}}); err != nil {
			t.Fatal(err)
		}
		return run
	}
	r1 := mk(1, "a", 0) // queued, free
	r2 := mk(2, "a", 0) // running, free
	setRunState(t, s, r2.ID, cairn.RunRunning, t0)
	r3 := mk(3, "b", 2) // queued, A's live claim
	claim(t, s, r3.ID, "A", now, time.Minute)
	r4 := mk(4, "a", 3) // running, A's expired claim
	setRunState(t, s, r4.ID, cairn.RunRunning, t0)
	claim(t, s, r4.ID, "A", now.Add(-2*time.Minute), time.Minute)
	r5 := mk(5, "b", 0) // queued, B's claim expiring exactly now: expired
	claim(t, s, r5.ID, "B", now.Add(-time.Minute), time.Minute)
	r6 := mk(6, "a", 0) // finished under A's live claim
	claim(t, s, r6.ID, "A", now, time.Minute)
	setRunState(t, s, r6.ID, cairn.RunRunning, t0)
	setRunState(t, s, r6.ID, cairn.RunSucceeded, t0)
	r7 := mk(7, "c", 0) // running, B's live claim
	setRunState(t, s, r7.ID, cairn.RunRunning, t0)
	claim(t, s, r7.ID, "B", now, time.Minute)
	r8 := mk(8, "b", 0) // queued, free
	r9 := mk(9, "c", 0) // cancelled, free
	setRunState(t, s, r9.ID, cairn.RunCancelled, t0)

	un, err := s.Unowned(ctx, now, 100)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := claimIDs(un), []string{r2.ID, r4.ID, r1.ID, r5.ID, r8.ID}; !reflect.DeepEqual(got, want) {
		t.Errorf("Unowned = %v, want %v (running in creation order, then queued)", got, want)
	}
	wantClaim := scheduler.RunClaim{ID: r4.ID, Workflow: "a", State: cairn.RunRunning, MaxActiveRuns: 3, Owner: "A",
		OwnerExpiresAt: now.Add(-time.Minute)}
	if len(un) > 1 && !reflect.DeepEqual(un[1], wantClaim) {
		t.Errorf("Unowned's claim of r4 = %+v, want %+v", un[1], wantClaim)
	}
	if un, err := s.Unowned(ctx, now, 3); err != nil || !reflect.DeepEqual(claimIDs(un), []string{r2.ID, r4.ID, r1.ID}) {
		t.Errorf("Unowned limit 3 = %v, %v", claimIDs(un), err)
	}
	if un, err := s.Unowned(ctx, now, 1); err != nil || !reflect.DeepEqual(claimIDs(un), []string{r2.ID}) {
		t.Errorf("Unowned limit 1 = %v, %v", claimIDs(un), err)
	}
	// Once A's and B's live claims lapse, their runs are unowned too.
	if un, err := s.Unowned(ctx, now.Add(time.Minute), 100); err != nil ||
		!reflect.DeepEqual(claimIDs(un), []string{r2.ID, r4.ID, r7.ID, r1.ID, r3.ID, r5.ID, r8.ID}) {
		t.Errorf("Unowned a minute later = %v, %v", claimIDs(un), err)
	}

	owned := func(except string, limit int) []string {
		t.Helper()
		cs, err := s.Owned(ctx, except, limit)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cs {
			if c.Owner == "" || c.Owner == except || c.State.Terminal() {
				t.Errorf("Owned(%q) listed %+v", except, c)
			}
		}
		return idSet(claimIDs(cs))
	}
	if got, want := owned("A", 100), idSet([]string{r5.ID, r7.ID}); !reflect.DeepEqual(got, want) {
		t.Errorf("Owned except A = %v, want %v", got, want)
	}
	if got, want := owned("B", 100), idSet([]string{r3.ID, r4.ID}); !reflect.DeepEqual(got, want) {
		t.Errorf("Owned except B = %v, want %v (live and expired, not the finished run)", got, want)
	}
	if got, want := owned("", 100), idSet([]string{r3.ID, r4.ID, r5.ID, r7.ID}); !reflect.DeepEqual(got, want) {
		t.Errorf("Owned except nobody = %v, want %v", got, want)
	}
	if got := owned("", 2); len(got) != 2 {
		t.Errorf("Owned limit 2 = %v", got)
	}
	cs, err := s.Owned(ctx, "B", 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if c.ID == r3.ID {
			want := scheduler.RunClaim{ID: r3.ID, Workflow: "b", State: cairn.RunQueued, MaxActiveRuns: 2, Owner: "A", OwnerExpiresAt: now.Add(time.Minute)}
			if !reflect.DeepEqual(c, want) {
				t.Errorf("Owned's claim of r3 = %+v, want %+v", c, want)
			}
		}
	}

	active := func(at time.Time) map[string]int {
		t.Helper()
		m, err := s.ActiveRuns(ctx, at)
		if err != nil {
			t.Fatal(err)
		}
		for wf, n := range m {
			if n == 0 {
				delete(m, wf)
			}
		}
		return m
	}
	// Running whatever the claim (r2, r4; r7), queued only under a live
	// claim (r3).
	if got, want := active(now), map[string]int{"a": 2, "b": 1, "c": 1}; !reflect.DeepEqual(got, want) {
		t.Errorf("ActiveRuns = %v, want %v", got, want)
	}
	if got, want := active(now.Add(time.Minute)), map[string]int{"a": 2, "c": 1}; !reflect.DeepEqual(got, want) {
		t.Errorf("ActiveRuns once r3's claim lapsed = %v, want %v", got, want)
	}
}

// testLeaseByOwner: LeaseRequest.Owner leases only the tasks of runs that
// owner holds, alone or with RunID.
func testLeaseByOwner(t *testing.T, s scheduler.Store) {
	ctx := context.Background()
	t0 := origin()
	x, _ := newRun(t, s, t0, "wf", cairn.TaskReady, cairn.TaskReady)
	y, _ := newRun(t, s, t0.Add(time.Second), "wf", cairn.TaskReady, cairn.TaskReady)
	z, _ := newRun(t, s, t0.Add(2*time.Second), "wf", cairn.TaskReady, cairn.TaskReady)
	claim(t, s, x.ID, "A", t0, time.Hour)
	claim(t, s, y.ID, "B", t0, time.Hour)
	now := t0.Add(time.Minute)
	get := func(r cairn.LeaseRequest) []string {
		t.Helper()
		items, err := s.Lease(ctx, r, now, ttl)
		if err != nil {
			t.Fatalf("Lease %+v: %v", r, err)
		}
		out := []string{}
		for _, it := range items {
			out = append(out, it.Lease.RunID+"/"+it.Lease.TaskID)
		}
		sort.Strings(out)
		return out
	}
	if got := get(cairn.LeaseRequest{Worker: "w", Owner: "C", Max: 10}); len(got) != 0 {
		t.Errorf("Lease for an owner of nothing = %v", got)
	}
	if got := get(cairn.LeaseRequest{Worker: "w", Owner: "A", RunID: y.ID, Max: 10}); len(got) != 0 {
		t.Errorf("Lease for A of B's run = %v", got)
	}
	if got, want := get(cairn.LeaseRequest{Worker: "w", Owner: "A", Max: 10}), []string{x.ID + "/t0", x.ID + "/t1"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Lease for A = %v, want %v", got, want)
	}
	if got, want := get(cairn.LeaseRequest{Worker: "w", Owner: "B", RunID: y.ID, Max: 1}), []string{y.ID + "/t0"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Lease for B of y, max 1 = %v, want %v", got, want)
	}
	if got, want := get(cairn.LeaseRequest{Worker: "w", Owner: "B", RunID: z.ID, Max: 10}), []string{}; !reflect.DeepEqual(got, want) {
		t.Errorf("Lease for B of a free run = %v, want none", got)
	}
	if got, want := get(cairn.LeaseRequest{Worker: "w", Max: 10}), []string{y.ID + "/t1", z.ID + "/t0", z.ID + "/t1"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Lease for anyone = %v, want %v", got, want)
	}
	// In a Batch too.
	w, _ := newRun(t, s, t0.Add(3*time.Second), "wf", cairn.TaskReady)
	v, _ := newRun(t, s, t0.Add(4*time.Second), "wf", cairn.TaskReady)
	claim(t, s, v.ID, "A", t0, time.Hour)
	var items []cairn.WorkItem
	if err := s.Batch(ctx, func(tx scheduler.Tx) error {
		var err error
		items, err = tx.Lease(cairn.LeaseRequest{Worker: "w", Owner: "A", Max: 10}, now, ttl)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if len(items) != 1 || items[0].Lease.RunID != v.ID {
		t.Errorf("Tx.Lease for A = %+v, want v's task only", items)
	}
	if tr := task(t, s, w.ID, "t0"); tr.State != cairn.TaskReady {
		t.Errorf("a free run's task was leased for A: %s", tr.State)
	}
}

// testLeaseFailsBadRow: a ready task whose stored params or inputs do not
// decode fails alone inside Lease — failed, saying why, with an
// evaluation of its run — while the call leases the others, as many as
// it asks for.
func testLeaseFailsBadRow(t *testing.T, s scheduler.Store, corrupt func(t *testing.T, s scheduler.Store, runID, taskID, field string)) {
	ctx := context.Background()
	t0 := origin()
	run, _ := newRun(t, s, t0, "wf", states(6, cairn.TaskReady)...)
	corrupt(t, s, run.ID, "t0", "params")
	corrupt(t, s, run.ID, "t2", "inputs")
	other, _ := newRun(t, s, t0.Add(time.Second), "wf", cairn.TaskReady, cairn.TaskReady)
	corrupt(t, s, other.ID, "t0", "inputs")

	now := t0.Add(time.Minute)
	before := last(t, s)
	// The first ready task is bad: a lease of one still gets one.
	items := lease(t, s, "w", run.ID, 1, now)
	if len(items) != 1 || items[0].Lease.TaskID != "t1" {
		t.Fatalf("Lease max 1 with t0 bad = %+v, want t1", items)
	}
	items = append(items, lease(t, s, "w", run.ID, 3, now)...)
	var got []string
	for _, it := range items {
		got = append(got, it.Lease.TaskID)
	}
	if want := []string{"t1", "t3", "t4", "t5"}; !reflect.DeepEqual(got, want) {
		t.Errorf("leased %v, want %v: every good task, as many as asked for", got, want)
	}
	// The failed rows read back (the run can be loaded and planned to its
	// end), without the values that did not decode.
	trs, err := s.ListTaskRuns(ctx, run.ID)
	if err != nil {
		t.Fatalf("ListTaskRuns of the run once its bad rows failed: %v", err)
	}
	for _, tr := range trs {
		if tr.State == cairn.TaskFailed && tr.TaskID == "t0" && tr.Params != nil && !json.Valid(tr.Params) {
			t.Errorf("the failed task's params read back as %q, not JSON", tr.Params)
		}
	}
	for task, field := range map[string]string{"t0": "params", "t2": "inputs"} {
		tr, err := s.GetTaskRun(ctx, run.ID, task)
		if err != nil {
			t.Fatalf("GetTaskRun of the bad task %s: %v", task, err)
		}
		if !cairn.TaskReady.CanTransition(tr.State) {
			t.Errorf("bad task %s went from ready to %s, which the state machine does not allow", task, tr.State)
		}
		if tr.State != cairn.TaskFailed || !tr.FinishedAt.Equal(now) || tr.LeaseToken != "" || tr.Attempt != 0 {
			t.Errorf("bad task %s after Lease: %s finished %v, token %q, attempt %d; want failed at %v, never leased",
				task, tr.State, tr.FinishedAt, tr.LeaseToken, tr.Attempt, now)
		}
		if !strings.Contains(tr.Error, field) {
			t.Errorf("bad task %s's error %q does not say its %s are bad", task, tr.Error, field)
		}
		if as := attempts(t, s, run.ID, task); len(as) != 0 {
			t.Errorf("bad task %s has attempts %+v", task, as)
		}
	}
	evals := newEvals(t, s, run.ID, before)
	byTask := map[string]int{}
	for _, e := range evals {
		if e.RunID != run.ID || !e.DueAt.Equal(now) {
			t.Errorf("evaluation %+v: want one of run %s due %v", e, run.ID, now)
		}
		byTask[e.TaskID]++
	}
	if !reflect.DeepEqual(byTask, map[string]int{"t0": 1, "t2": 1}) {
		t.Errorf("evaluations after the bad rows failed: %+v; want one for t0 and one for t2", evals)
	}
	// The other run's bad row fails inside a Batch too, and the Batch's
	// writes before it stand.
	var batchItems []cairn.WorkItem
	if err := s.Batch(ctx, func(tx scheduler.Tx) error {
		if _, err := tx.Complete(items[0].Lease, cairn.Completion{State: cairn.TaskSucceeded}, now); err != nil {
			return err
		}
		var err error
		batchItems, err = tx.Lease(cairn.LeaseRequest{Worker: "w", RunID: other.ID, Max: 1}, now, ttl)
		return err
	}); err != nil {
		t.Fatalf("Batch of a completion and a lease meeting a bad row: %v", err)
	}
	if len(batchItems) != 1 || batchItems[0].Lease.TaskID != "t1" {
		t.Errorf("Tx.Lease max 1 with t0 bad = %+v, want t1", batchItems)
	}
	if tr := task(t, s, other.ID, "t0"); tr.State != cairn.TaskFailed || !strings.Contains(tr.Error, "inputs") {
		t.Errorf("other's bad task after Tx.Lease: %s %q", tr.State, tr.Error)
	}
	if tr := task(t, s, run.ID, "t1"); tr.State != cairn.TaskSucceeded {
		t.Errorf("the completion in the Batch: t1 is %s, want succeeded", tr.State)
	}
	if e := newEvals(t, s, other.ID, before); len(e) != 1 || e[0].TaskID != "t0" {
		t.Errorf("other's evaluations: %+v, want one for t0", e)
	}
}
