package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// A yes/no label and feature keep their spellings from collect (and clean) to predict
// (issue 15): the collected data, the model's classes, evaluate's
// positive: "yes", the ROC curve's class and predict's output all say yes
// and no, never true and false.
func TestYesNoKeptAsWritten(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.must(0, "run", testdata(t, "yesno/churn.yaml"), "--progress", "none")
	id := runIDOf(t, r.stderr)
	run := e.show(id)

	for _, task := range []string{"collect", "clean"} {
		data := e.must(0, "artifact", id, task, "data").stdout
		if !strings.HasPrefix(data, "tenure,plan,support_calls,churn\n") || strings.Contains(data, "true") || strings.Contains(data, "false") ||
			!strings.Contains(data, ",yes,") || !strings.Contains(data, ",no\n") {
			t.Errorf("%s's data does not keep yes/no:\n%.300s", task, data)
		}
	}

	var m struct {
		Classes []string `json:"classes"`
	}
	if err := json.Unmarshal([]byte(e.must(0, "artifact", id, "train", "model").stdout), &m); err != nil {
		t.Fatal(err)
	}
	if strings.Join(m.Classes, ",") != "no,yes" {
		t.Errorf("model classes %q, want no, yes", m.Classes)
	}

	ev := taskByID(t, run, "evaluate")
	var roc []struct {
		Class string `json:"class"`
	}
	if err := json.Unmarshal(ev.Outputs["roc"], &roc); err != nil || len(roc) != 1 || roc[0].Class != "yes" {
		t.Errorf("evaluate's ROC curve is not of class yes: %s (%v)", ev.Outputs["roc"], err)
	}
	if _, ok := ev.Metrics["recall"]; !ok {
		t.Errorf("evaluate has no recall of the positive class: %v", ev.Metrics)
	}

	score := taskByID(t, run, "score")
	var counts map[string]int
	if err := json.Unmarshal(score.Outputs["counts"], &counts); err != nil || len(counts) != 2 || counts["yes"]+counts["no"] != 20 {
		t.Errorf("predict counts %s (%v), want yes and no over 20 rows", score.Outputs["counts"], err)
	}
	pred := e.must(0, "artifact", id, "score", "predictions").stdout
	lines := strings.Split(strings.TrimSpace(pred), "\n")
	if lines[0] != "tenure,plan,support_calls,churn,prediction,proba_no,proba_yes" {
		t.Fatalf("predictions header %q", lines[0])
	}
	for _, l := range lines[1:] {
		f := strings.Split(l, ",")
		if f[1] != "yes" && f[1] != "no" || f[3] != "yes" && f[3] != "no" || f[4] != "yes" && f[4] != "no" {
			t.Fatalf("prediction row %q does not keep yes/no", l)
		}
	}
}
