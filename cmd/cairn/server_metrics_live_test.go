package main

import (
	"context"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/metrics"
)

// TestLiveMetricOfProduction: /metrics has the live metric of a model's
// production version from the feedback it got, with no rollout (issue
// #22: "the live metric once feedback arrives, on /metrics"), and of both
// versions of an active rollout; a model without feedback has none.
func TestLiveMetricOfProduction(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	reg := openModelReg(t, t.TempDir())
	v1 := reg.deploy("churn", cairn.StageProduction, fitModel(t, 1))
	reg.deploy("quiet", cairn.StageProduction, fitModel(t, 0.5))
	now := time.Now()
	if err := reg.st.LogRequests(ctx, []cairn.ModelRequest{
		{RequestID: "r1", Name: "churn", Version: v1, At: now, Duration: time.Millisecond, Rows: 4, Kind: "classification", Predictions: []byte(`["a","b","a","b"]`)},
		{RequestID: "q1", Name: "quiet", Version: 1, At: now, Duration: time.Millisecond, Rows: 1, Kind: "classification", Predictions: []byte(`["a"]`)},
	}); err != nil {
		t.Fatal(err)
	}
	if err := reg.st.SetFeedback(ctx, "churn", "r1", []cairn.RequestScore{{Version: v1, Labeled: 4, Score: 3}}); err != nil {
		t.Fatal(err)
	}
	got, err := liveMetrics(reg.st)(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := metrics.LiveMetric{Model: "churn", Version: "1", Metric: "accuracy", Value: 0.75, Labeled: 4}
	if len(got) != 1 || got[0] != want {
		t.Fatalf("live metrics without a rollout: %+v, want [%+v]", got, want)
	}

	// During a rollout: both versions, from the feedback of their
	// requests, once each.
	v2 := reg.deploy("churn", cairn.StageCandidate, fitModel(t, 0.0001))
	if _, err := reg.st.StartRollout(ctx, "churn", v2, cairn.RolloutSpec{Strategy: cairn.StrategyShadow}, "cli:test", reg.next()); err != nil {
		t.Fatal(err)
	}
	if err := reg.st.LogRequests(ctx, []cairn.ModelRequest{
		{RequestID: "r2", Name: "churn", Version: v2, At: time.Now(), Duration: time.Millisecond, Rows: 2, Kind: "classification", Predictions: []byte(`["a","a"]`)},
	}); err != nil {
		t.Fatal(err)
	}
	if err := reg.st.SetFeedback(ctx, "churn", "r2", []cairn.RequestScore{{Version: v2, Labeled: 2, Score: 1}}); err != nil {
		t.Fatal(err)
	}
	got, err = liveMetrics(reg.st)(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != want || got[1] != (metrics.LiveMetric{Model: "churn", Version: "2", Metric: "accuracy", Value: 0.5, Labeled: 2}) {
		t.Fatalf("live metrics during a rollout: %+v", got)
	}
}
