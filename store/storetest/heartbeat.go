package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
)

// HeartbeatMany renews, in one call, exactly the leases Heartbeat would
// renew — live ones, leased or running, of a run being cancelled or not —
// and reports each of the others lost: expired, superseded by a later
// attempt's lease, completed, with a wrong token. The results keep the
// order of the call; the lost leases' tasks are left as they were, and no
// renewal changes a task's Version.
func testHeartbeatMany(t *testing.T, s scheduler.Store) {
	ctx := context.Background()
	t0 := origin()
	now := t0.Add(10 * time.Second)

	// A lease taken a minute before now has expired (ttl 30s).
	old, _ := newRun(t, s, t0.Add(-time.Hour), "old", cairn.TaskReady)
	expired := lease(t, s, "w", old.ID, 1, t0.Add(-time.Minute))[0].Lease

	run, _ := newRun(t, s, t0, "wf", states(4, cairn.TaskReady)...)
	items := lease(t, s, "w", run.ID, 4, t0)
	byTask := map[string]cairn.Lease{}
	for _, it := range items {
		byTask[it.Lease.TaskID] = it.Lease
	}
	live, running, done, superseded := byTask["t0"], byTask["t1"], byTask["t2"], byTask["t3"]
	if err := s.StartAttempt(ctx, running, t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Complete(ctx, done, cairn.Completion{State: cairn.TaskSucceeded}, t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	// t3's first attempt failed and was retried: its first lease is
	// superseded by the second's.
	if _, err := s.Complete(ctx, superseded, cairn.Completion{State: cairn.TaskRetrying, Error: "flaky", RetryAt: t0.Add(time.Second)},
		t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	retryTask(t, s, run.ID, "t3")
	second := lease(t, s, "w", run.ID, 1, t0.Add(2*time.Second))[0].Lease
	if second.TaskID != "t3" || second.Attempt != 2 {
		t.Fatalf("re-lease = %+v, want t3's attempt 2", second)
	}
	wrongToken := live
	wrongToken.Token = cairn.NewToken()

	cancelled, _ := newRun(t, s, t0.Add(time.Hour), "cancelled", cairn.TaskReady)
	cl := lease(t, s, "w", cancelled.ID, 1, t0)[0].Lease
	if err := s.RequestCancel(ctx, cancelled.ID); err != nil {
		t.Fatal(err)
	}

	before := map[string]*cairn.TaskRun{}
	for _, l := range []cairn.Lease{expired, live, running, done, second, cl} {
		before[l.RunID+"/"+l.TaskID] = task(t, s, l.RunID, l.TaskID)
	}
	oldBefore := snapshot(t, s, old.ID)

	call := []struct {
		name   string
		l      cairn.Lease
		lost   bool
		cancel bool
	}{
		{"expired", expired, true, false},
		{"live leased", live, false, false},
		{"completed", done, true, false},
		{"superseded", superseded, true, false},
		{"running", running, false, false},
		{"wrong token", wrongToken, true, false},
		{"of a run being cancelled", cl, false, true},
		{"the superseding lease", second, false, false},
		{"live leased again", live, false, false}, // a lease named twice gets two answers
	}
	leases := make([]cairn.Lease, len(call))
	for i, c := range call {
		leases[i] = c.l
	}
	rs, err := s.HeartbeatMany(ctx, leases, now, ttl)
	if err != nil {
		t.Fatalf("HeartbeatMany: %v", err)
	}
	if len(rs) != len(call) {
		t.Fatalf("HeartbeatMany returned %d results for %d leases", len(rs), len(call))
	}
	for i, c := range call {
		r := rs[i]
		if c.lost {
			if !errors.Is(r.Err, cairn.ErrLeaseLost) || r.Reply != (cairn.HeartbeatReply{}) {
				t.Errorf("lease %d (%s): %+v, want an error wrapping ErrLeaseLost and no reply", i, c.name, r)
			}
			continue
		}
		want := cairn.HeartbeatReply{ExpiresAt: now.Add(ttl), CancelRequested: c.cancel}
		if r.Err != nil || !r.Reply.ExpiresAt.Equal(want.ExpiresAt) || r.Reply.CancelRequested != want.CancelRequested {
			t.Errorf("lease %d (%s): %+v, want renewed: %+v", i, c.name, r, want)
		}
	}
	for _, l := range []cairn.Lease{live, running, second, cl} {
		tr := task(t, s, l.RunID, l.TaskID)
		b := before[l.RunID+"/"+l.TaskID]
		if !tr.LeaseExpiresAt.Equal(now.Add(ttl)) || tr.Version != b.Version || tr.State != b.State || tr.LeaseToken != l.Token {
			t.Errorf("%s after HeartbeatMany: expiry %v version %d state %s; want expiry %v, version %d and state %s unchanged",
				l.TaskID, tr.LeaseExpiresAt, tr.Version, tr.State, now.Add(ttl), b.Version, b.State)
		}
	}
	assertUnchanged(t, s, oldBefore) // the expired lease stays expired
	if tr := task(t, s, run.ID, "t2"); tr.State != cairn.TaskSucceeded || tr.LeaseToken != "" || !tr.LeaseExpiresAt.IsZero() {
		t.Errorf("the completed task after HeartbeatMany: %+v", tr)
	}
	// Each renewed lease is live until its new expiry: a Heartbeat just
	// before it succeeds.
	if _, err := s.Heartbeat(ctx, running, now.Add(ttl-time.Nanosecond), ttl); err != nil {
		t.Errorf("Heartbeat of a renewed lease before its new expiry: %v", err)
	}

	// An empty call does nothing.
	snaps := []snap{snapshot(t, s, run.ID), snapshot(t, s, cancelled.ID)}
	for _, empty := range [][]cairn.Lease{nil, {}} {
		rs, err := s.HeartbeatMany(ctx, empty, now.Add(time.Second), ttl)
		if err != nil || len(rs) != 0 {
			t.Errorf("HeartbeatMany(%v) = %v, %v; want no results, no error", empty, rs, err)
		}
	}
	for _, b := range snaps {
		assertUnchanged(t, s, b)
	}
}

// HeartbeatMany renews any number of leases in one call (more than one
// statement's worth, for a store that splits them), keeping their order.
func testHeartbeatManyLarge(t *testing.T, s scheduler.Store) {
	ctx := context.Background()
	t0 := origin()
	const n = 1100
	run, _ := newRun(t, s, t0, "wf", states(n, cairn.TaskReady)...)
	items := lease(t, s, "w", run.ID, n, t0)
	if len(items) != n {
		t.Fatalf("leased %d of %d", len(items), n)
	}
	leases := make([]cairn.Lease, n)
	for i, it := range items {
		leases[n-1-i] = it.Lease // reversed: the order is the caller's
	}
	// Every 100th lease carries a stale token.
	for i := 0; i < n; i += 100 {
		leases[i].Token = cairn.NewToken()
	}
	now := t0.Add(20 * time.Second)
	rs, err := s.HeartbeatMany(ctx, leases, now, ttl)
	if err != nil {
		t.Fatalf("HeartbeatMany of %d leases: %v", n, err)
	}
	if len(rs) != n {
		t.Fatalf("%d results for %d leases", len(rs), n)
	}
	trs, err := s.ListTaskRuns(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	expiry := map[string]time.Time{}
	for _, tr := range trs {
		expiry[tr.TaskID] = tr.LeaseExpiresAt
	}
	bad := 0
	for i, r := range rs {
		l := leases[i]
		want := now.Add(ttl)
		if i%100 == 0 {
			want = t0.Add(ttl)
			if !errors.Is(r.Err, cairn.ErrLeaseLost) {
				bad++
				t.Errorf("lease %d (%s, stale token): %+v, want lost", i, l.TaskID, r)
			}
		} else if r.Err != nil || !r.Reply.ExpiresAt.Equal(now.Add(ttl)) {
			bad++
			t.Errorf("lease %d (%s): %+v, want renewed", i, l.TaskID, r)
		}
		if !expiry[l.TaskID].Equal(want) {
			bad++
			t.Errorf("task %s expires at %v, want %v", l.TaskID, expiry[l.TaskID], want)
		}
		if bad > 10 {
			t.Fatalf("… and more (%d results checked)", i+1)
		}
	}
}

// A running attempt with a timeout is due cairn.TimeoutGrace after it:
// its lease is renewed up to its due time plus the TTL, no further, and
// from then on a heartbeat is refused, whatever its worker says; its
// lease, expired, is listed PastDue. A task without a timeout, one leased
// but not started, and an attempt whose worker stopped heartbeating
// before its due time (listed expired, not PastDue) are as before.
func testHeartbeatPastDue(t *testing.T, s scheduler.Store) {
	ctx := context.Background()
	t0 := origin()
	run := &cairn.Run{ID: cairn.NewRunID(t0), Workflow: "due", Digest: digest, SourcePath: "wf/due.yaml",
		Source: []byte("name: due\n"), State: cairn.RunQueued, CreatedAt: t0}
	var trs []*cairn.TaskRun
	for i, timeout := range []time.Duration{time.Minute, time.Minute, 0, time.Minute} {
		trs = append(trs, &cairn.TaskRun{RunID: run.ID, TaskID: fmt.Sprintf("t%d", i), Type: "shell", State: cairn.TaskReady,
			Params: json.RawMessage(`{"argv":["sleep","1000"]}`), Timeout: timeout, Retry: cairn.RetryPolicy{Retries: 2}})
	}
	if err := s.CreateRun(ctx, run, trs); err != nil {
		t.Fatal(err)
	}
	ls := map[string]cairn.Lease{}
	for _, it := range lease(t, s, "w", run.ID, 4, t0) {
		ls[it.Lease.TaskID] = it.Lease
	}
	overdue, leased, untimed, quiet := ls["t0"], ls["t1"], ls["t2"], ls["t3"]
	start := t0.Add(time.Second)
	for _, l := range []cairn.Lease{overdue, untimed, quiet} {
		if err := s.StartAttempt(ctx, l, start); err != nil {
			t.Fatal(err)
		}
	}
	due := start.Add(time.Minute + cairn.TimeoutGrace) // t0+71s; refused from t0+101s
	for at := 20 * time.Second; at <= 140*time.Second; at += 20 * time.Second {
		now := t0.Add(at)
		call := []cairn.Lease{overdue, leased, untimed}
		if at <= 40*time.Second {
			call = append(call, quiet)
		}
		rs, err := s.HeartbeatMany(ctx, call, now, ttl)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range rs {
			wantLost := call[i] == overdue && !now.Before(due.Add(ttl))
			if lost := errors.Is(r.Err, cairn.ErrLeaseLost); lost != wantLost || !lost && r.Err != nil {
				t.Errorf("HeartbeatMany of %s at t0+%s: %v, want lost %v", call[i].TaskID, at, r.Err, wantLost)
			}
			// Heartbeat says the same of each, a moment later.
			_, err := s.Heartbeat(ctx, call[i], now.Add(time.Millisecond), ttl)
			wantLost = call[i] == overdue && !now.Add(time.Millisecond).Before(due.Add(ttl))
			if lost := errors.Is(err, cairn.ErrLeaseLost); lost != wantLost || !lost && err != nil {
				t.Errorf("Heartbeat of %s at t0+%s: %v, want lost %v", call[i].TaskID, at, err, wantLost)
			}
		}
	}
	// Renewed at t0+100s, its lease ends at its due time plus the TTL,
	// not at t0+130s.
	exp, err := s.ExpiredLeases(ctx, run.ID, due.Add(ttl).Add(-time.Millisecond), 10)
	if err != nil || len(exp) != 1 || exp[0].TaskID != "t3" || exp[0].PastDue {
		t.Fatalf("ExpiredLeases(due+ttl-1ms) = %+v, %v; want t3's alone, not past due", exp, err)
	}
	exp, err = s.ExpiredLeases(ctx, run.ID, t0.Add(140*time.Second), 10)
	if err != nil || len(exp) != 2 {
		t.Fatalf("ExpiredLeases(t0+140s) = %+v, %v; want t3's and t0's", exp, err)
	}
	for _, l := range exp {
		if want := l.TaskID == "t0"; l.PastDue != want || l.Token != ls[l.TaskID].Token {
			t.Errorf("expired lease %+v: PastDue %v, want %v", l, l.PastDue, want)
		}
		if l.TaskID == "t0" && !l.ExpiresAt.Equal(due.Add(ttl)) {
			t.Errorf("t0's lease expires at %v, want its due time plus the TTL, %v", l.ExpiresAt, due.Add(ttl))
		}
	}
	// What the reaper does with it: ended, as any expired lease.
	if _, err := s.Expire(ctx, overdue, cairn.Completion{State: cairn.TaskRetrying, Error: "timed out after 1m0s", Retryable: true,
		RetryAt: t0.Add(141 * time.Second)}, t0.Add(140*time.Second), false); err != nil {
		t.Fatalf("Expire of the overdue attempt: %v", err)
	}
	if tr := task(t, s, run.ID, "t0"); tr.State != cairn.TaskRetrying || tr.Interrupted != 0 {
		t.Errorf("t0 after its expiry: %s, interrupted %d; want retrying, not interrupted", tr.State, tr.Interrupted)
	}
}
