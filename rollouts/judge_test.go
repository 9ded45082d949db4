package rollouts_test

import (
	"strings"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/rollouts"
)

func TestJudge(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	canary := func(step, share int) *cairn.Rollout {
		return &cairn.Rollout{Name: "churn", Baseline: 1, Candidate: 2, State: cairn.RolloutActive, Step: step, Share: share, StepAt: t0,
			Spec: cairn.RolloutSpec{Strategy: cairn.StrategyCanary, Steps: []int{10, 50, 100}, Interval: cairn.Duration(time.Minute), MinSamples: 50, MinRequests: 20}.WithDefaults()}
	}
	paused := func(r *cairn.Rollout) *cairn.Rollout { r.Paused = true; return r }
	cls := func(v, req, failed, labeled int, right float64) cairn.RequestStats {
		return cairn.RequestStats{Version: v, Requests: req, Failed: failed, Labeled: labeled, Score: right, Kind: "classification"}
	}
	for _, tc := range []struct {
		name  string
		r     *cairn.Rollout
		stats map[int]cairn.RequestStats
		at    time.Duration
		event string
		share int
		why   string
	}{
		{"errors roll back at once", canary(0, 10), map[int]cairn.RequestStats{2: cls(2, 40, 2, 0, 0)}, time.Second,
			cairn.RolloutEventRollback, 0, "failed 2 of 40 requests (5.0%)"},
		{"too few requests to judge errors", canary(0, 10), map[int]cairn.RequestStats{2: cls(2, 5, 5, 0, 0)}, time.Second, "", 0, "holds"},
		{"worse accuracy rolls back before the interval", canary(0, 10), map[int]cairn.RequestStats{1: cls(1, 500, 0, 100, 90), 2: cls(2, 60, 0, 60, 40)}, time.Second,
			cairn.RolloutEventRollback, 0, "accuracy 0.6667 is worse than production's 0.9"},
		{"within tolerance holds until the interval", canary(0, 10), map[int]cairn.RequestStats{1: cls(1, 500, 0, 100, 90), 2: cls(2, 60, 0, 60, 53.5)}, time.Second,
			"", 0, "holds 59s more"},
		{"within tolerance steps after the interval", canary(0, 10), map[int]cairn.RequestStats{1: cls(1, 500, 0, 100, 90), 2: cls(2, 60, 0, 60, 53.5)}, time.Minute,
			cairn.RolloutEventStep, 50, "10% held for 1m0s"},
		{"no feedback holds", canary(0, 10), map[int]cairn.RequestStats{1: cls(1, 500, 0, 0, 0), 2: cls(2, 60, 0, 3, 3)}, time.Hour,
			"", 0, "waiting for feedback: 3 and 0 labeled rows of the 50"},
		{"the last step promotes", canary(2, 100), map[int]cairn.RequestStats{1: cls(1, 500, 0, 100, 90), 2: cls(2, 600, 0, 300, 280)}, time.Minute,
			cairn.RolloutEventPromote, 0, "held at 100%"},
		{"a regressor's error is lower-better", &cairn.Rollout{Name: "r", Baseline: 1, Candidate: 2, State: cairn.RolloutActive, StepAt: t0, Share: 10,
			Spec: cairn.RolloutSpec{Strategy: cairn.StrategyCanary, MinSamples: 10}.WithDefaults()},
			map[int]cairn.RequestStats{1: {Version: 1, Requests: 100, Labeled: 100, Score: 100, Kind: "regression"}, 2: {Version: 2, Requests: 30, Labeled: 30, Score: 60, Kind: "regression"}},
			time.Second, cairn.RolloutEventRollback, 0, "mae 2 is worse than production's 1"},
		{"a paused canary holds past its interval", paused(canary(0, 10)), map[int]cairn.RequestStats{1: cls(1, 500, 0, 100, 90), 2: cls(2, 60, 0, 60, 53.5)}, time.Hour,
			"", 0, "paused at 10%: cairn models rollout churn resume"},
		{"a paused canary at 100% is not promoted", paused(canary(2, 100)), map[int]cairn.RequestStats{1: cls(1, 500, 0, 100, 90), 2: cls(2, 600, 0, 300, 280)}, time.Hour,
			"", 0, "paused at 100%"},
		{"a paused canary that fails is rolled back", paused(canary(0, 10)), map[int]cairn.RequestStats{2: cls(2, 40, 2, 0, 0)}, time.Second,
			cairn.RolloutEventRollback, 0, "failed 2 of 40"},
		{"a share set below the first step goes on to it", canary(-1, 5), map[int]cairn.RequestStats{1: cls(1, 500, 0, 100, 90), 2: cls(2, 60, 0, 60, 53.5)}, time.Minute,
			cairn.RolloutEventStep, 10, "5% held"},
		{"an A-B rollout changes by hand", &cairn.Rollout{Name: "ab", Baseline: 1, Candidate: 2, State: cairn.RolloutActive, StepAt: t0, Share: 50,
			Spec: cairn.RolloutSpec{Strategy: cairn.StrategyAB}}, map[int]cairn.RequestStats{2: cls(2, 100, 100, 0, 0)}, time.Hour, "", 0, "changes only by hand"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := rollouts.Judge(tc.r, tc.stats, t0.Add(tc.at))
			if d.Event != tc.event || d.Share != tc.share || !strings.Contains(d.Why, tc.why) {
				t.Fatalf("got %+v, want %q %d %q", d, tc.event, tc.share, tc.why)
			}
		})
	}
	// Errors alone: no feedback needed.
	r := canary(0, 10)
	r.Spec.Judge = cairn.JudgeErrors
	if d := rollouts.Judge(r, map[int]cairn.RequestStats{2: cls(2, 40, 0, 0, 0)}, t0.Add(time.Minute)); d.Event != cairn.RolloutEventStep || d.Share != 50 {
		t.Fatalf("judged on errors: %+v", d)
	}
}
