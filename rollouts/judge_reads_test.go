package rollouts_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/rollouts"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/store/sqlite"
)

// statsCounter is a store that counts its RequestStats reads per model.
type statsCounter struct {
	*sqlite.Store
	reads map[string]int
}

func (s *statsCounter) RequestStats(ctx context.Context, name string, since time.Time) (map[int]cairn.RequestStats, error) {
	s.reads[name]++
	return s.Store.RequestStats(ctx, name, since)
}

// TestJudgeReadsStatsOnlyWhenUsed: the leader reads a rollout's request
// stats (a scan of the request log since its step began) only for a
// canary, which they step and roll back, and for a rollout with alerts,
// which watch them: a shadow or A-B rollout without alerts, never
// stepped, costs no read per pass.
func TestJudgeReadsStatsOnlyWhenUsed(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "cairn.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	alert := cairn.ModelAlert{On: cairn.AlertP99Above, Bound: 1, Webhook: "https://hooks.example.com/p99"}
	specs := map[string]cairn.RolloutSpec{
		"shadow":         {Strategy: cairn.StrategyShadow},
		"ab":             {Strategy: cairn.StrategyAB},
		"canary":         {Strategy: cairn.StrategyCanary},
		"shadow-alerted": {Strategy: cairn.StrategyShadow, Alerts: []cairn.ModelAlert{alert}},
	}
	for name, spec := range specs {
		deployReg(t, st, at, name+"1", cairn.ModelRegistration{Name: name, Stage: cairn.StageProduction})
		deploy(t, st, at, name, name+"2", &spec)
	}
	s := &statsCounter{Store: st, reads: map[string]int{}}
	ctl, err := rollouts.New(rollouts.Options{Store: s, Now: func() time.Time { return at },
		Leader: func() (scheduler.Fence, bool) { return scheduler.Fence{}, true }})
	if err != nil {
		t.Fatal(err)
	}
	rs, err := st.ActiveRollouts(ctx)
	if err != nil || len(rs) != len(specs) {
		t.Fatalf("active rollouts %d (%v), want %d", len(rs), err, len(specs))
	}
	ctl.Tick(ctx)
	ctl.Tick(ctx)
	want := map[string]int{"canary": 2, "shadow-alerted": 2}
	for name := range specs {
		if s.reads[name] != want[name] {
			t.Errorf("%s: %d reads of its request stats over two passes, want %d", name, s.reads[name], want[name])
		}
	}
}
