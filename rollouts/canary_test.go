package rollouts_test

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/rollouts"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/store/sqlite"
)

// TestCanaryPromotedFromFullShare: a canary judged on feedback reaches its
// last step, 100%, where production answers nothing; it is judged there
// against production's feedback over the whole rollout and promoted once
// the step has held, rather than waiting for production's feedback for
// ever. A candidate worse than that is rolled back at 100% too.
func TestCanaryPromotedFromFullShare(t *testing.T) {
	for _, tc := range []struct {
		name  string
		score float64 // the candidate's share of right answers at 100%
		want  cairn.RolloutState
	}{
		{"as good", 1, cairn.RolloutPromoted},
		{"worse", 0.5, cairn.RolloutRolledBack},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "cairn.db"))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
			// Steps and promotions are fenced by the leader's term.
			lead, err := s.AcquireLeader(ctx, scheduler.LeaderScheduler, "test", at, 24*time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			ctl, err := rollouts.New(rollouts.Options{Store: s, Now: func() time.Time { return at },
				Leader: func() (scheduler.Fence, bool) { return lead.Fence(), true }})
			if err != nil {
				t.Fatal(err)
			}
			v1 := deployReg(t, s, at, "v1", cairn.ModelRegistration{Name: "churn", Stage: cairn.StageProduction})
			v2 := deployReg(t, s, at, "v2", cairn.ModelRegistration{Name: "churn", Stage: cairn.StageCandidate,
				Rollout: &cairn.RolloutSpec{Strategy: cairn.StrategyCanary, Steps: []int{50, 100}, Interval: cairn.Duration(10 * time.Second),
					MinSamples: 10, MinRequests: 5}})
			seq := 0
			log := func(version, n int, right float64) {
				t.Helper()
				var reqs []cairn.ModelRequest
				for i := 0; i < n; i++ {
					seq++
					reqs = append(reqs, cairn.ModelRequest{RequestID: "q" + strconv.Itoa(seq), Name: "churn", Version: version, At: at,
						Duration: time.Millisecond, Rows: 1, Kind: "classification", Predictions: []byte(`[0]`), Labeled: 1, Score: right})
				}
				if err := s.LogRequests(ctx, reqs); err != nil {
					t.Fatal(err)
				}
			}
			rollout := func() *cairn.Rollout {
				t.Helper()
				r, err := s.Rollout(ctx, "churn")
				if err != nil {
					t.Fatal(err)
				}
				return r
			}
			// 50%: both versions answer, with feedback, for the interval.
			at = at.Add(time.Second)
			log(v1, 20, 1)
			log(v2, 20, 1)
			for i := 0; i < 12; i++ {
				at = at.Add(time.Second)
				ctl.Tick(ctx)
			}
			if r := rollout(); r.State != cairn.RolloutActive || r.Share != 100 {
				t.Fatalf("after the first step: %s at %d%%, want active at 100%%", r.State, r.Share)
			}
			// 100%: only the candidate answers.
			at = at.Add(time.Second)
			log(v2, 20, tc.score)
			for i := 0; i < 12; i++ {
				at = at.Add(time.Second)
				ctl.Tick(ctx)
			}
			r := rollout()
			if r.State != tc.want {
				t.Fatalf("at 100%%: %s (%s), want %s", r.State, r.Reason, tc.want)
			}
			m, err := s.ProductionModel(ctx, "churn")
			if err != nil {
				t.Fatal(err)
			}
			if want := map[bool]int{true: v2, false: v1}[tc.want == cairn.RolloutPromoted]; m.Version != want {
				t.Errorf("production is version %d, want %d", m.Version, want)
			}
		})
	}
}
