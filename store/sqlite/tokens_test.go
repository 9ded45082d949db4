package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

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

// TestTokenReadOnly: a read-only store authenticates (it cannot touch
// last_used_at; the request goes on). The rest of the tokens' behaviour
// is storetest's (RunServer).
func TestTokenReadOnly(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "cairn.db")
	s := open(t, path)
	_, text := newToken(t, s, auth.Admin, "root's", 0)
	ro := open(t, path, sqlite.ReadOnly())
	if tok, err := ro.AuthenticateToken(ctx, text); err != nil || tok.Role != auth.Admin {
		t.Errorf("a read-only store: %+v %v", tok, err)
	}
	if list, err := s.ListTokens(ctx); err != nil || len(list) != 1 || !list[0].LastUsedAt.IsZero() {
		t.Errorf("a read-only store touched last_used_at: %+v %v", list, err)
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
