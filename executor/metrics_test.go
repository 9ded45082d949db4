package executor_test

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/tasks"
)

// scorer reports the metric its params name, with the value they name.
type scorer struct{}

func (scorer) Info() cairn.TypeInfo {
	return cairn.TypeInfo{Name: "scorer", Params: []cairn.ParamInfo{{Name: "value", Kind: cairn.KindString}}}
}

func (scorer) Run(_ context.Context, req tasks.Request, _ tasks.Env) (tasks.Result, error) {
	var p struct {
		Value string `json:"value"`
	}
	if err := req.DecodeParams(&p); err != nil {
		return tasks.Result{}, err
	}
	v := map[string]float64{"nan": math.NaN(), "inf": math.Inf(1), "-inf": math.Inf(-1), "one": 1}[p.Value]
	return tasks.Result{Metrics: map[string]float64{"f1": v, "rows": 3}}, nil
}

// A task that reports a metric that is not a finite number (an F1 of an
// empty class, a 0/0) fails at once, for good, naming the metric: no
// store can record it, and the attempt used to hang until its lease
// expired and be reported as timed out.
func TestNonFiniteMetricFailsTheAttempt(t *testing.T) {
	r := newRig(t, scorer{})
	wf, id := r.create(t, `
name: scores
tasks:
  - {id: nan, type: scorer, with: {value: nan}, retries: 2}
  - {id: inf, type: scorer, with: {value: inf}}
  - {id: neg, type: scorer, with: {value: "-inf"}}
  - {id: one, type: scorer, with: {value: one}}
`)
	r.startPool(t, 2)
	run := r.drive(t, id, wf)
	wantRun(t, run, cairn.RunFailed)
	trs := r.taskRuns(t, id)
	for task, want := range map[string]string{"nan": `metric "f1" = NaN`, "inf": `metric "f1" = +Inf`, "neg": `metric "f1" = -Inf`} {
		tr := trs[task]
		if tr.State != cairn.TaskFailed || !strings.Contains(tr.Error, want) || !strings.Contains(tr.Error, "finite") {
			t.Errorf("%s: %s %q, want failed with %q", task, tr.State, tr.Error, want)
		}
		if as := r.attempts(t, id, task); len(as) != 1 || as[0].Retryable {
			t.Errorf("%s: a non-finite metric is permanent (no retry), got %d attempts", task, len(as))
		}
	}
	if tr := trs["one"]; tr.State != cairn.TaskSucceeded || tr.Metrics["f1"] != 1 {
		t.Errorf("one: %s %v", tr.State, tr.Metrics)
	}
}
