package metrics_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cairnml/cairn/metrics"
)

// TestVersionSeries: per-version requests, latency and the distribution
// of predictions, with the classes and the versions bounded; the live
// metric and the drift read at the scrape.
func TestVersionSeries(t *testing.T) {
	c := metrics.New(metrics.Options{Live: func(context.Context) ([]metrics.LiveMetric, error) {
		return []metrics.LiveMetric{{Model: "churn", Version: "2", Metric: "accuracy", Value: 0.75, Labeled: 40}}, nil
	}, Drift: func(context.Context) ([]metrics.Drift, error) {
		return []metrics.Drift{{Model: "churn", Version: "1", Value: 0.31, Rows: 250}}, nil
	}})
	classes := make([]string, 25)
	for i := range classes {
		classes[i] = fmt.Sprintf("c%d", i)
	}
	c.ObserveVersion(metrics.VersionPrediction{Model: "churn", Version: 2, Arm: "candidate", Code: "ok", Duration: 3 * time.Millisecond,
		Classes: classes, Class: []int{0, 0, 1, 21, 24}})
	c.ObserveVersion(metrics.VersionPrediction{Model: "churn", Version: 2, Arm: "candidate", Code: "internal"})
	c.ObserveVersion(metrics.VersionPrediction{Model: "price", Version: 1, Code: "ok", Values: []float64{-3, 0.5, 50}})
	// churn@2 and price@1 hold two of the pairs: 62 of many's 69 versions
	// get series, the other 7 count as "other".
	for v := range metrics.MaxVersionSeries + 5 {
		c.ObserveVersion(metrics.VersionPrediction{Model: "many", Version: v + 1, Code: "ok"})
	}
	var w metrics.Writer
	c.Write(context.Background(), &w)
	out := string(w.Bytes())
	for _, want := range []string{
		`cairn_model_version_requests_total{model="churn",version="2",arm="candidate",code="ok"} 1`,
		`cairn_model_version_requests_total{model="churn",version="2",arm="candidate",code="internal"} 1`,
		`cairn_model_version_predictions_total{model="churn",version="2",class="c0"} 2`,
		`cairn_model_version_predictions_total{model="churn",version="2",class="c1"} 1`,
		`cairn_model_version_predictions_total{model="churn",version="2",class="other"} 2`,
		`cairn_model_version_duration_seconds_count{model="churn",version="2",arm="candidate"} 1`,
		`cairn_model_version_prediction_value_count{model="price",version="1"} 3`,
		`cairn_model_version_prediction_value_bucket{model="price",version="1",le="0"} 1`,
		`cairn_model_version_requests_total{model="many",version="other",arm="none",code="ok"} 7`,
		`cairn_model_live_metric{model="churn",version="2",metric="accuracy"} 0.75`,
		`cairn_model_live_labeled_rows{model="churn",version="2"} 40`,
		`cairn_model_drift{model="churn",version="1"} 0.31`,
		`cairn_model_drift_rows{model="churn",version="1"} 250`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %s in\n%s", want, out)
		}
	}
	if strings.Contains(out, `class="c21"`) {
		t.Error("a class past the 20th has a series of its own")
	}
}

// A request of a version whose series exist allocates nothing in the
// metrics (every prediction, and every shadow scoring, is counted): the
// series are found by their label values without a key built on the heap.
func TestObserveVersionAllocates0(t *testing.T) {
	c := metrics.New(metrics.Options{})
	cls := metrics.VersionPrediction{Model: "churn", Version: 2, Arm: "shadow", Code: "ok", Duration: 8 * time.Microsecond,
		Classes: []string{"no", "yes"}, Class: []int{1, 0, 1}}
	reg := metrics.VersionPrediction{Model: "price", Version: 1, Code: "ok", Duration: time.Millisecond, Values: []float64{3, 40}}
	c.ObserveVersion(cls)
	c.ObserveVersion(reg)
	c.ObservePrediction("churn", "ok", 3, 8*time.Microsecond)
	if n := testing.AllocsPerRun(100, func() {
		c.ObserveVersion(cls)
		c.ObserveVersion(reg)
		c.ObservePrediction("churn", "ok", 3, 8*time.Microsecond)
	}); n != 0 {
		t.Errorf("%v allocations per request counted, want 0", n)
	}
	var w metrics.Writer
	c.Write(context.Background(), &w)
	out := string(w.Bytes())
	for _, want := range []string{`cairn_model_version_requests_total{model="churn",version="2",arm="shadow",code="ok"} 102`,
		`cairn_model_version_predictions_total{model="churn",version="2",class="yes"} 204`,
		`cairn_model_version_prediction_value_count{model="price",version="1"} 204`} {
		if !strings.Contains(out, want) {
			t.Errorf("the exposition lacks %s:\n%s", want, out)
		}
	}
}
