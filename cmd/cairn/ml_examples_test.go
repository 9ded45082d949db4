package main

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/cairnml/cairn"
)

// mlExamples are the shipped ML workflows that run with no params, each
// with the task whose metrics the summary must show.
var mlExamples = []struct {
	file, evaluate string
	metrics        []string
	rocLegend      []string // what `cairn show` draws under evaluate
}{
	{"breast-cancer.yaml", "evaluate", []string{"accuracy", "f1", "roc_auc", "log_loss"}, []string{"class 1: AUC 0.99"}},
	{"wine.yaml", "evaluate", []string{"accuracy", "f1_macro", "roc_auc"}, []string{"class_0: AUC", "class_1: AUC", "class_2: AUC"}},
	{"diabetes.yaml", "evaluate", []string{"rmse", "r2", "mae"}, nil},
}

// Every ML example runs end to end through the real binary from a fresh
// home, twice, and the two runs agree to the byte: every output of every
// task (artifact digests included) and every metric. The summary prints
// the evaluation's metrics.
func TestMLExamplesReproduce(t *testing.T) {
	t.Parallel()
	for _, ex := range mlExamples {
		t.Run(ex.file, func(t *testing.T) {
			t.Parallel()
			path, err := filepath.Abs(filepath.Join("../../workflows/examples", ex.file))
			if err != nil {
				t.Fatal(err)
			}
			var shows [2]runJSON
			for i := range shows {
				e := newEnv(t)
				r := e.must(0, "run", path, "--progress", "none")
				if !strings.Contains(r.stdout, "\nmetrics:\n") || !strings.Contains(r.stdout, "  "+ex.evaluate+" ") {
					t.Errorf("summary has no metrics of %s:\n%s", ex.evaluate, r.stdout)
				}
				id := runIDOf(t, r.stderr)
				shows[i] = e.show(id)
				text := e.must(0, "show", id).stdout
				for _, l := range ex.rocLegend {
					if !strings.Contains(text, l) || !strings.Contains(text, "false positive rate") {
						t.Errorf("show draws no ROC curve with %q:\n%s", l, text)
					}
				}
				if ex.rocLegend == nil && strings.Contains(text, "false positive rate") {
					t.Errorf("show draws a ROC curve for a regression:\n%s", text)
				}
				if hasCM := strings.Contains(text, "confusion matrix (rows: true class"); hasCM != (ex.rocLegend != nil) {
					t.Errorf("show's confusion matrix table: shown %v, want %v:\n%s", hasCM, ex.rocLegend != nil, text)
				}
			}
			a, b := shows[0], shows[1]
			if a.State != cairn.RunSucceeded || a.Digest != b.Digest {
				t.Fatalf("runs: %s %s / %s %s", a.State, a.Digest, b.State, b.Digest)
			}
			artifacts := 0
			for i, ta := range a.Tasks {
				tb := b.Tasks[i]
				if ta.ID != tb.ID || ta.State != cairn.TaskSucceeded || tb.State != cairn.TaskSucceeded {
					t.Fatalf("task %s %s / %s %s", ta.ID, ta.State, tb.ID, tb.State)
				}
				if !reflect.DeepEqual(outputsText(ta.Outputs), outputsText(tb.Outputs)) {
					t.Errorf("task %s: outputs differ between two runs:\n%v\n%v", ta.ID, outputsText(ta.Outputs), outputsText(tb.Outputs))
				}
				if !reflect.DeepEqual(ta.Metrics, tb.Metrics) {
					t.Errorf("task %s: metrics differ between two runs:\n%v\n%v", ta.ID, ta.Metrics, tb.Metrics)
				}
				for _, v := range ta.Outputs {
					if _, ok := cairn.AsArtifactRef(v); ok {
						artifacts++
					}
				}
			}
			if artifacts < 5 {
				t.Errorf("only %d artifact outputs compared", artifacts)
			}
			ev := taskByID(t, a, ex.evaluate)
			for _, m := range ex.metrics {
				if _, ok := ev.Metrics[m]; !ok {
					t.Errorf("%s has no metric %s: %v", ex.evaluate, m, ev.Metrics)
				}
			}
			var passed bool
			if err := json.Unmarshal(ev.Outputs["passed"], &passed); err != nil || !passed {
				t.Errorf("the example's gate did not hold: passed = %s (%v); metrics %v", ev.Outputs["passed"], err, ev.Metrics)
			}
		})
	}
}

// outputsText renders outputs as strings so that a difference prints
// readably.
func outputsText(o map[string]json.RawMessage) map[string]string {
	m := make(map[string]string, len(o))
	for k, v := range o {
		m[k] = string(v)
	}
	return m
}
