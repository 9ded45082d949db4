package chaos_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/cairnml/cairn/chaos"
	"github.com/cairnml/cairn/store/sqlite"
)

// TestAmbiguousNext: with no fault drawn, AmbiguousNext(2) makes the next
// two writes that commit report failure (ErrInjected, counted as
// ambiguous commits); a write the store itself refuses does not use one,
// a read is not one, and the write after them passes.
func TestAmbiguousNext(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "cairn.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	fs := chaos.NewFaultStore(st, chaos.Faults{Seed: 1})
	fs.AmbiguousNext(2)
	now := time.Now()
	if _, err := fs.ClaimRun(ctx, "no-such-run", "me", now, time.Second, false); err == nil || errors.Is(err, chaos.ErrInjected) {
		t.Fatalf("claim of a run that does not exist: %v, want the store's own error", err)
	}
	if _, err := fs.GetRun(ctx, "no-such-run"); errors.Is(err, chaos.ErrInjected) {
		t.Fatalf("a read failed as injected: %v", err)
	}
	for i := range 2 {
		if _, err := fs.RenewClaims(ctx, "me", now, time.Second); !errors.Is(err, chaos.ErrInjected) {
			t.Fatalf("write %d: %v, want an injected ambiguous commit", i+1, err)
		}
	}
	if _, err := fs.RenewClaims(ctx, "me", now, time.Second); err != nil {
		t.Fatalf("the write after them: %v", err)
	}
	if got := fs.Stats().After; got != 2 {
		t.Errorf("%d ambiguous commits counted, want 2", got)
	}
}
