package ui

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/cairnml/cairn"
)

// A retrain task's result is its metrics, its decision and the PSI of
// each feature as a bar chart, drifted ones highlighted; feature names
// are text in the picture, whatever they hold.
func TestRetrainResult(t *testing.T) {
	drift := map[string]any{"psi_threshold": 0.2, "features": []map[string]any{
		{"name": "x0", "test": "ks", "statistic": 0.6, "p_value": 1e-30, "psi": 2.9, "drifted": true},
		{"name": `<script>alert("f")</script>`, "test": "chi2", "statistic": 0.1, "p_value": 0.7, "psi": 0.01, "drifted": false},
	}}
	raw, _ := json.Marshal(drift)
	tr := &cairn.TaskRun{TaskID: "drift", Type: "retrain", State: cairn.TaskSucceeded,
		Metrics: map[string]float64{"drifted_features": 1, "max_psi": 2.9},
		Outputs: map[string]json.RawMessage{"drift": raw, "should_retrain": json.RawMessage("true"),
			"reason": json.RawMessage(`"1 of 2 features drifted: x0"`)}}
	res, ok := resultOf("r1", tr)
	if !ok {
		t.Fatal("no result")
	}
	if res.Decision != "should_retrain true: 1 of 2 features drifted: x0" {
		t.Errorf("decision %q", res.Decision)
	}
	svg := string(res.Drift)
	for _, want := range []string{"<svg", "Drift per feature: 1 of 2 drifted", "x0", "&lt;script&gt;", "PSI 0.2"} {
		if !strings.Contains(svg, want) {
			t.Errorf("chart lacks %q:\n%.600s", want, svg)
		}
	}
	if strings.Contains(svg, "<script") {
		t.Error("a feature name came out as markup")
	}
	// A retrain without the drift output (an older binary's) still shows
	// its decision; a failed one shows nothing.
	delete(tr.Outputs, "drift")
	if res, _ := resultOf("r1", tr); res.Drift != "" || res.Decision == "" {
		t.Errorf("without drift: %+v", res)
	}
	tr.State = cairn.TaskFailed
	if _, ok := resultOf("r1", tr); ok {
		t.Error("a failed retrain has a result")
	}
}
