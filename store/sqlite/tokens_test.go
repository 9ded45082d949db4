package sqlite_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/auth"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/store/sqlite"
)

// newToken makes and stores a token of role that expires after life (a
// negative life: expired already).
func newToken(t *testing.T, s *sqlite.Store, role auth.Role, name string, life time.Duration) (auth.Token, string) {
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

func TestTokens(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "cairn.db")
	s := open(t, path)
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

	// A read-only store authenticates too (it cannot touch last_used_at).
	ro := open(t, path, sqlite.ReadOnly())
	if _, err := ro.AuthenticateToken(ctx, adminText); err != nil {
		t.Errorf("a read-only store: %v", err)
	}
}

// TestAuditList: newest first, paged by the cursor, filtered by run.
func TestAuditList(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "cairn.db"))
	var ids []int64
	for i := range 7 {
		run := map[bool]string{true: "run-a", false: "run-b"}[i%2 == 0]
		err := s.Batch(ctx, func(tx scheduler.Tx) error {
			id, err := tx.AddAudit(scheduler.Audit{Actor: "tok" + fmt.Sprint(i), Action: scheduler.AuditCancel, RunID: run})
			ids = append(ids, id)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	page, err := s.ListAudit(ctx, scheduler.AuditFilter{Limit: 3})
	if err != nil || len(page) != 3 || page[0].ID != ids[6] || page[2].ID != ids[4] || page[0].Actor != "tok6" || page[0].At.IsZero() {
		t.Fatalf("first page: %+v %v", page, err)
	}
	page, err = s.ListAudit(ctx, scheduler.AuditFilter{Limit: 3, Before: page[2].ID})
	if err != nil || len(page) != 3 || page[0].ID != ids[3] {
		t.Fatalf("second page: %+v %v", page, err)
	}
	page, err = s.ListAudit(ctx, scheduler.AuditFilter{RunID: "run-b"})
	if err != nil || len(page) != 3 || page[0].ID != ids[5] || page[2].ID != ids[1] {
		t.Fatalf("run-b: %+v %v", page, err)
	}
	// An entry whose batch fails is not written.
	err = s.Batch(ctx, func(tx scheduler.Tx) error {
		if _, err := tx.AddAudit(scheduler.Audit{Actor: "x", Action: scheduler.AuditTrigger}); err != nil {
			return err
		}
		return errors.New("the action failed")
	})
	if err == nil {
		t.Fatal("the batch did not fail")
	}
	if page, _ := s.ListAudit(ctx, scheduler.AuditFilter{Limit: 1}); page[0].ID != ids[6] {
		t.Errorf("the failed batch's entry was written: %+v", page[0])
	}
}
