package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/auth"
	"github.com/cairnml/cairn/scheduler"
)

// newToken makes and stores a token of role that expires after life (a
// negative life: expired already).
func newToken(t *testing.T, s Server, role auth.Role, name string, life time.Duration) (auth.Token, string) {
	t.Helper()
	now := time.Now()
	tok, text, hash, err := auth.New(role, name, now, max(life, 0))
	if err != nil {
		t.Fatal(err)
	}
	if life < 0 {
		tok.ExpiresAt = now.Add(life)
	}
	if err := s.CreateToken(context.Background(), tok, hash, "cli:tester@host"); err != nil {
		t.Fatal(err)
	}
	return tok, text
}

func testTokens(t *testing.T, s Server) {
	ctx := context.Background()
	if n, err := s.CountValidTokens(ctx); err != nil || n != 0 {
		t.Fatalf("a new database has %d valid tokens, %v", n, err)
	}
	admin, adminText := newToken(t, s, auth.Admin, "root's", 90*24*time.Hour)
	viewer, viewerText := newToken(t, s, auth.Viewer, "", 0)
	_, expiredText := newToken(t, s, auth.Operator, "old", -time.Second)
	if n, err := s.CountValidTokens(ctx); err != nil || n != 2 {
		t.Errorf("%d valid tokens, %v; want 2 (the third expired)", n, err)
	}

	got, err := s.AuthenticateToken(ctx, adminText)
	if err != nil || got.ID != admin.ID || got.Role != auth.Admin || got.Name != "root's" || !got.ExpiresAt.Equal(admin.ExpiresAt) {
		t.Fatalf("AuthenticateToken(admin) = %+v, %v", got, err)
	}
	if got, err := s.AuthenticateToken(ctx, " "+viewerText+"\n"); err != nil || got.ID != viewer.ID || !got.ExpiresAt.IsZero() {
		t.Errorf("AuthenticateToken(viewer, pasted with space) = %+v, %v", got, err)
	}
	// Wrong secret, unknown id, malformed, expired: all invalid; only
	// the holder of the secret learns that it expired.
	wrong := adminText[:len(adminText)-1] + map[bool]string{true: "b", false: "a"}[strings.HasSuffix(adminText, "a")]
	_, unknownText, _, _ := auth.New(auth.Admin, "", time.Now(), 0)
	for name, text := range map[string]string{"wrong secret": wrong, "unknown": unknownText, "malformed": "cairn_xyz", "empty": ""} {
		_, err := s.AuthenticateToken(ctx, text)
		if !errors.Is(err, auth.ErrInvalid) || errors.Is(err, auth.ErrExpired) {
			t.Errorf("%s: %v, want auth.ErrInvalid", name, err)
		}
	}
	if _, err := s.AuthenticateToken(ctx, expiredText); !errors.Is(err, auth.ErrExpired) {
		t.Errorf("expired: %v, want auth.ErrExpired", err)
	}

	// Revoked: refused at once, by secret and by id (a session).
	if _, err := s.ValidToken(ctx, viewer.ID); err != nil {
		t.Errorf("ValidToken(viewer) before revocation: %v", err)
	}
	rv, err := s.RevokeToken(ctx, viewer.ID, "cli:tester@host")
	if err != nil || rv.RevokedAt.IsZero() {
		t.Fatalf("RevokeToken: %+v %v", rv, err)
	}
	if _, err := s.AuthenticateToken(ctx, viewerText); !errors.Is(err, auth.ErrRevoked) {
		t.Errorf("a revoked token: %v, want auth.ErrRevoked", err)
	}
	if _, err := s.ValidToken(ctx, viewer.ID); !errors.Is(err, auth.ErrRevoked) {
		t.Errorf("ValidToken of a revoked token: %v", err)
	}
	if _, err := s.RevokeToken(ctx, viewer.ID, "cli:tester@host"); !errors.Is(err, cairn.ErrTerminal) {
		t.Errorf("revoking twice: %v, want cairn.ErrTerminal", err)
	}
	if _, err := s.RevokeToken(ctx, "0123456789abcdef", "cli:tester@host"); !errors.Is(err, cairn.ErrNotFound) {
		t.Errorf("revoking no token: %v, want cairn.ErrNotFound", err)
	}
	if _, err := s.ValidToken(ctx, "0123456789abcdef"); !errors.Is(err, auth.ErrInvalid) {
		t.Errorf("ValidToken of no token: %v", err)
	}
	if n, _ := s.CountValidTokens(ctx); n != 1 {
		t.Errorf("%d valid tokens after a revocation, want 1", n)
	}
	// The same id twice is a conflict.
	dup := admin
	if err := s.CreateToken(ctx, dup, strings.Repeat("0", 64), "cli:tester@host"); !errors.Is(err, cairn.ErrConflict) {
		t.Errorf("the same id again: %v, want cairn.ErrConflict", err)
	}

	list, err := s.ListTokens(ctx)
	if err != nil || len(list) != 3 {
		t.Fatalf("ListTokens: %d, %v", len(list), err)
	}
	byID := map[string]auth.Token{}
	for _, tk := range list {
		byID[tk.ID] = tk
	}
	if tk := byID[viewer.ID]; tk.RevokedAt.IsZero() || tk.LastUsedAt.IsZero() {
		t.Errorf("the viewer listed: %+v (revoked and used)", tk)
	}
	if tk := byID[admin.ID]; tk.LastUsedAt.IsZero() || !tk.RevokedAt.IsZero() {
		t.Errorf("the admin listed: %+v (used, not revoked)", tk)
	}

	// The audit log has each creation and the revocation, by their actor.
	entries, err := s.ListAudit(ctx, scheduler.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range entries {
		var d struct{ Token, Role string }
		if err := json.Unmarshal(e.Detail, &d); err != nil || e.Actor != "cli:tester@host" {
			t.Errorf("audit entry %+v: %v", e, err)
		}
		actions = append(actions, e.Action+" "+d.Role+" "+map[bool]string{true: "viewer-token", false: "other"}[d.Token == viewer.ID])
	}
	if want := "token.revoke viewer viewer-token,token.create operator other,token.create viewer viewer-token,token.create admin other"; strings.Join(actions, ",") != want {
		t.Errorf("audit: %s\nwant  %s", strings.Join(actions, ","), want)
	}

}

// testTokenLastUsedAtMostOncePerMinute: authenticating writes
// last_used_at when it is older than a minute, and otherwise writes
// nothing at all.
func testTokenLastUsedAtMostOncePerMinute(t *testing.T, s Server, h Hooks) {
	ctx := context.Background()
	tok, text := newToken(t, s, auth.Operator, "", 0)
	lastUsed := func() time.Time {
		list, err := s.ListTokens(ctx)
		if err != nil || len(list) != 1 {
			t.Fatalf("ListTokens: %v", err)
		}
		return list[0].LastUsedAt
	}
	if !lastUsed().IsZero() {
		t.Fatal("a new token was used")
	}
	if _, err := s.AuthenticateToken(ctx, text); err != nil {
		t.Fatal(err)
	}
	first := lastUsed()
	if first.IsZero() {
		t.Fatal("authenticating did not set last_used_at")
	}
	var before int64
	if h.Writes != nil {
		before = h.Writes(s)
	}
	for range 20 {
		if _, err := s.AuthenticateToken(ctx, text); err != nil {
			t.Fatal(err)
		}
		if _, err := s.ValidToken(ctx, tok.ID); err != nil {
			t.Fatal(err)
		}
	}
	if h.Writes != nil {
		if after := h.Writes(s); after != before {
			t.Errorf("40 authentications within a minute wrote (%d statements and transactions)", after-before)
		}
	}
	if !lastUsed().Equal(first) {
		t.Error("last_used_at moved within the minute")
	}
	// Older than a minute: written again.
	if h.Exec == nil {
		t.Log("Hooks.Exec is nil: last_used_at older than a minute is not tried")
		return
	}
	old := time.Now().Add(-2 * time.Minute).UnixNano()
	h.Exec(t, s, fmt.Sprintf("UPDATE tokens SET last_used_at = %d", old))
	if _, err := s.ValidToken(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	if u := lastUsed(); u.UnixNano() == old || u.Before(first) {
		t.Errorf("last_used_at two minutes old was not written again: %v", u)
	}
}

// StateCounts counts every run by state, the task runs of queued and
// running runs only by state, the ready task runs, and the active runs
// an owner holds.
func testStateCounts(t *testing.T, s Server) {
	ctx := context.Background()
	mk := func(i int, state cairn.RunState, tasks ...cairn.TaskState) string {
		run := &cairn.Run{ID: cairn.NewRunID(origin().Add(time.Duration(i) * time.Millisecond)), Workflow: "w", State: state, CreatedAt: origin()}
		var trs []*cairn.TaskRun
		for j, ts := range tasks {
			trs = append(trs, &cairn.TaskRun{TaskID: fmt.Sprintf("t%d", j), Type: "noop", State: ts})
		}
		if err := s.CreateRun(ctx, run, trs); err != nil {
			t.Fatal(err)
		}
		return run.ID
	}
	mk(1, cairn.RunQueued, cairn.TaskPending, cairn.TaskPending, cairn.TaskReady)
	b := mk(2, cairn.RunRunning, cairn.TaskSucceeded, cairn.TaskReady, cairn.TaskReady)
	mk(3, cairn.RunSucceeded, cairn.TaskSucceeded, cairn.TaskSucceeded)
	mk(4, cairn.RunFailed, cairn.TaskFailed, cairn.TaskUpstreamFailed)
	if items, err := s.Lease(ctx, cairn.LeaseRequest{Worker: "w", RunID: b, Max: 1, Start: true}, origin(), time.Minute); err != nil || len(items) != 1 {
		t.Fatalf("Lease: %v %v", items, err)
	}
	if _, err := s.ClaimRun(ctx, b, "me", origin(), time.Minute, false); err != nil {
		t.Fatal(err)
	}
	got, err := s.StateCounts(ctx, "me")
	if err != nil {
		t.Fatal(err)
	}
	want := map[cairn.RunState]int64{cairn.RunQueued: 1, cairn.RunRunning: 1, cairn.RunSucceeded: 1, cairn.RunFailed: 1}
	if !reflect.DeepEqual(got.Runs, want) {
		t.Errorf("runs %v, want %v", got.Runs, want)
	}
	wantTasks := map[cairn.TaskState]int64{cairn.TaskPending: 2, cairn.TaskReady: 2, cairn.TaskRunning: 1, cairn.TaskSucceeded: 1}
	if !reflect.DeepEqual(got.Tasks, wantTasks) {
		t.Errorf("tasks of active runs %v, want %v", got.Tasks, wantTasks)
	}
	if got.Ready != 2 || got.Owned != 1 {
		t.Errorf("ready %d, owned %d: want 2 and 1", got.Ready, got.Owned)
	}
	if other, err := s.StateCounts(ctx, "someone else"); err != nil || other.Owned != 0 {
		t.Errorf("another owner's count: %d %v, want 0", other.Owned, err)
	}
}

// testWorkerToken: a worker token (migration 0010's role) is stored,
// listed and authenticated with its role; a role no token may have is
// refused before anything is written.
func testWorkerToken(t *testing.T, s Server) {
	ctx := context.Background()
	w, text := newToken(t, s, auth.Worker, "gpu-1", 0)
	got, err := s.AuthenticateToken(ctx, text)
	if err != nil || got.ID != w.ID || got.Role != auth.Worker || got.Name != "gpu-1" {
		t.Fatalf("AuthenticateToken(worker) = %+v, %v", got, err)
	}
	bad, _, hash, err := auth.New(auth.Viewer, "", time.Now(), 0)
	if err != nil {
		t.Fatal(err)
	}
	bad.Role = "root"
	if err := s.CreateToken(ctx, bad, hash, "cli:tester@host"); err == nil {
		t.Fatal("a token of role root was stored")
	}
	if list, err := s.ListTokens(ctx); err != nil || len(list) != 1 || list[0].Role != auth.Worker {
		t.Fatalf("ListTokens: %+v %v", list, err)
	}
	if es, err := s.ListAudit(ctx, scheduler.AuditFilter{}); err != nil || len(es) != 1 {
		t.Fatalf("audit after one creation and a refused one: %+v %v", es, err)
	}
}
