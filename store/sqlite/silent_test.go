package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/store/sqlite"
)

// A run this store created without notify: targets ends without the
// statement that writes a run's alerts (it would find no target); a run
// with targets, or one another store created (whose targets this one
// does not know), ends with it, and the targets' alerts are written.
func TestEndOfSilentRunWritesNoAlertStatement(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "cairn.db")
	s := open(t, path)
	other := open(t, path)
	t0 := time.Unix(1_800_000_000, 0)
	target := []cairn.NotifyTarget{{On: []cairn.AlertEvent{cairn.AlertSuccess}, Webhook: "https://hooks.example.com/a", Format: cairn.AlertJSON}}
	create := func(st *sqlite.Store, at time.Time, notify []cairn.NotifyTarget, reproduceOf string) *cairn.Run {
		t.Helper()
		run := &cairn.Run{ID: cairn.NewRunID(at), Workflow: "w", Digest: "sha256:00", Source: []byte("name: w\n"),
			State: cairn.RunRunning, CreatedAt: at, StartedAt: at, Notify: notify, ReproduceOf: reproduceOf}
		if err := st.CreateRun(ctx, run, nil); err != nil {
			t.Fatal(err)
		}
		return run
	}
	// end ends run in s and returns the statements that took.
	end := func(run *cairn.Run, at time.Time) int64 {
		t.Helper()
		before := s.WriteStats().Statements
		if err := s.ApplyPlan(ctx, &scheduler.Plan{RunID: run.ID, Run: &scheduler.RunChange{FromVersion: run.Version,
			From: cairn.RunRunning, To: cairn.RunSucceeded, At: at}}); err != nil {
			t.Fatal(err)
		}
		return s.WriteStats().Statements - before
	}
	alerts := func(run *cairn.Run) int {
		t.Helper()
		got, err := s.ListAlerts(ctx, cairn.AlertFilter{RunID: run.ID})
		if err != nil {
			t.Fatal(err)
		}
		return len(got)
	}
	silent := create(s, t0, nil, "")
	loud := create(s, t0.Add(time.Second), target, "")
	elsewhere := create(other, t0.Add(2*time.Second), target, "")
	quietElsewhere := create(other, t0.Add(3*time.Second), nil, "")
	repro := create(s, t0.Add(4*time.Second), target, loud.ID)

	nSilent, nLoud := end(silent, t0.Add(time.Minute)), end(loud, t0.Add(time.Minute))
	if nSilent != nLoud-1 {
		t.Errorf("the end of a run without targets took %d statements, of one with targets %d: want one fewer (no alert statement)", nSilent, nLoud)
	}
	if n := end(elsewhere, t0.Add(time.Minute)); n != nLoud {
		t.Errorf("the end of a run another store created took %d statements, want %d (its targets looked for)", n, nLoud)
	}
	if n := end(quietElsewhere, t0.Add(time.Minute)); n != nLoud {
		t.Errorf("the end of a run another store created without targets took %d statements, want %d (this store does not know it)", n, nLoud)
	}
	if n := end(repro, t0.Add(time.Minute)); n != nSilent {
		t.Errorf("the end of a reproduction took %d statements, want %d (it alerts nobody)", n, nSilent)
	}
	for _, c := range []struct {
		run  *cairn.Run
		want int
	}{{silent, 0}, {loud, 1}, {elsewhere, 1}, {quietElsewhere, 0}, {repro, 0}} {
		if got := alerts(c.run); got != c.want {
			t.Errorf("run %s: %d alerts, want %d", c.run.ID, got, c.want)
		}
	}
}
