package sqlite_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
)

// A promotion and a rollback are written with their audit entry, by the
// actor who asked; a promotion that changes nothing, or is refused,
// records nothing.
func TestModelChangesAudited(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "a.db"))
	at := cancelT0
	next := func() time.Time { at = at.Add(time.Second); return at }
	for _, m := range []string{"one", "two"} {
		if _, err := deploy(t, s, next(), "churn", cairn.StageProduction, testRef(m), ""); err != nil {
			t.Fatal(err)
		}
	}
	audit := func() []scheduler.Audit {
		t.Helper()
		es, err := s.ListAudit(ctx, scheduler.AuditFilter{})
		if err != nil {
			t.Fatal(err)
		}
		return es
	}
	if es := audit(); len(es) != 0 {
		t.Fatalf("deploys wrote audit entries: %+v", es)
	}
	when := next()
	if _, err := s.PromoteModel(ctx, "churn", 1, cairn.StageProduction, "tok1", when); err != nil {
		t.Fatal(err)
	}
	es := audit()
	if len(es) != 1 || es[0].Action != scheduler.AuditModelPromote || es[0].Actor != "tok1" || !es[0].At.Equal(when) {
		t.Fatalf("audit after a promotion: %+v", es)
	}
	var d map[string]any
	if err := json.Unmarshal(es[0].Detail, &d); err != nil {
		t.Fatal(err)
	}
	if want := map[string]any{"model": "churn", "version": 1.0, "from": "archived", "to": "production", "archived": 2.0}; !reflect.DeepEqual(d, want) {
		t.Errorf("detail %v, want %v", d, want)
	}
	// Already there: nothing changes, nothing is recorded.
	if _, err := s.PromoteModel(ctx, "churn", 1, cairn.StageProduction, "tok1", next()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PromoteModel(ctx, "churn", 7, cairn.StageArchived, "tok1", next()); !errors.Is(err, cairn.ErrNotFound) {
		t.Fatalf("promote a missing version: %v", err)
	}
	if n := len(audit()); n != 1 {
		t.Fatalf("%d audit entries after a promotion that changed nothing and a refused one, want 1", n)
	}
	if v, err := s.RollbackModel(ctx, "churn", "cli:me@here", next()); err != nil || v.Version != 2 {
		t.Fatalf("rollback: %+v %v", v, err)
	}
	es = audit()
	if len(es) != 2 || es[0].Action != scheduler.AuditModelRollback || es[0].Actor != "cli:me@here" || string(es[0].Detail) != `{"from":1,"model":"churn","to":2}` {
		t.Fatalf("audit after a rollback: %+v", es)
	}
	hist, err := s.ModelHistory(ctx, "churn")
	if err != nil {
		t.Fatal(err)
	}
	last := hist[len(hist)-1]
	if last.Version != 2 || last.From != cairn.StageArchived || last.To != cairn.StageProduction || last.Reason != "rollback" || last.Actor != "cli:me@here" {
		t.Errorf("the history's last change %+v", last)
	}
}
