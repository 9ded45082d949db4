package main

import (
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/cairnml/cairn/experiments"
)

// expWF trains and evaluates on a synthetic set; its seed changes the
// data, so the model, the metrics and the artifacts.
const expWF = `name: exp
params:
  seed: {type: int, default: 1}
tasks:
  - id: data
    type: collect
    with: {source: synthetic, rows: 120, features: 3, seed: "${{ params.seed }}", label: y}
  - id: split
    type: split
    inputs: {data: "${{ tasks.data.outputs.data }}"}
    with: {label: y, test_size: 0.3, seed: 1}
  - id: train
    type: train
    inputs: {train: "${{ tasks.split.outputs.train }}"}
    with: {model: logistic_regression, label: y}
  - id: evaluate
    type: evaluate
    inputs: {model: "${{ tasks.train.outputs.model }}", test: "${{ tasks.split.outputs.test }}"}
    with: {metrics: [accuracy, roc_auc]}
`

// TestCompareAndMetricRuns: cairn compare and runs --metric/--sort on the
// home's database and through a server print the same, and agree with
// what show says of each run.
func TestCompareAndMetricRuns(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	wf := filepath.Join(t.TempDir(), "exp.yaml")
	if err := os.WriteFile(wf, []byte(expWF), 0o600); err != nil {
		t.Fatal(err)
	}
	var ids []string
	acc := map[string]float64{}
	for _, seed := range []string{"1", "2", "3", "1"} {
		id := runIDOf(t, e.must(0, "run", wf, "-p", "seed="+seed, "--progress", "none").stderr)
		ids = append(ids, id)
		for _, tk := range e.show(id).Tasks {
			if tk.ID == "evaluate" {
				acc[id] = tk.Metrics["accuracy"]
			}
		}
	}
	api := e.apiServer()
	both := func(want int, args ...string) result {
		t.Helper()
		l, r := e.must(want, args...), e.must(want, append(args, "--server", api)...)
		if l.stdout != r.stdout {
			t.Errorf("cairn %s: the server's answer prints otherwise:\n--- local:\n%s--- remote:\n%s", strings.Join(args, " "), l.stdout, r.stdout)
		}
		return l
	}

	// Seeds 1 and 2: the param, the data and everything after it differ.
	cmp := decodeJSON[experiments.Comparison](t, both(0, "compare", ids[0][:14], ids[1], "--json"))
	if len(cmp.Runs) != 2 || cmp.Runs[0].ID != ids[0] || cmp.Runs[1].ID != ids[1] {
		t.Fatalf("compared runs: %+v", cmp.Runs)
	}
	var params []string
	for _, p := range cmp.Params {
		params = append(params, p.Task+"."+p.Name+"="+string(p.Values[0])+"/"+string(p.Values[1]))
	}
	if want := []string{".seed=1/2", "data.seed=1/2"}; strings.Join(params, " ") != strings.Join(want, " ") {
		t.Errorf("params that differ: %v, want %v", params, want)
	}
	found := false
	for _, m := range cmp.Metrics {
		if m.Task == "evaluate" && m.Metric == "accuracy" {
			found = true
			if *m.Values[0] != acc[ids[0]] || *m.Values[1] != acc[ids[1]] || *m.Diffs[1] != acc[ids[1]]-acc[ids[0]] || m.Diffs[0] != nil {
				t.Errorf("evaluate.accuracy: %+v, show says %v and %v", m, acc[ids[0]], acc[ids[1]])
			}
		}
	}
	if !found {
		t.Errorf("no evaluate.accuracy among %+v", cmp.Metrics)
	}
	if want := []string{"data", "split", "train", "evaluate"}; strings.Join(cmp.Tasks, ",") != strings.Join(want, ",") {
		t.Errorf("tasks whose outputs differ: %v, want %v", cmp.Tasks, want)
	}
	// The same seed twice: the same bytes, nothing differs but the run.
	same := decodeJSON[experiments.Comparison](t, both(0, "compare", ids[0], ids[3], "--json"))
	if len(same.Params)+len(same.Outputs)+len(same.Tasks)+len(same.States) != 0 {
		t.Errorf("two runs of one seed differ: %+v", same)
	}
	text := both(0, "compare", ids[0], ids[1], ids[2]).stdout
	for _, want := range []string{"RUN3  " + ids[2], "PARAMS THAT DIFFER", "seed", "ΔRUN3", "evaluate.accuracy", "train.model", "tasks whose outputs differ: data, split, train, evaluate"} {
		if !strings.Contains(text, want) {
			t.Errorf("compare's text has no %q:\n%s", want, text)
		}
	}

	// runs --metric: a column per metric, the values show gives.
	page := decodeJSON[runsJSON](t, both(0, "runs", "--workflow", "exp", "--metric", "evaluate.accuracy,evaluate.roc_auc", "--json"))
	if len(page.Runs) != 4 {
		t.Fatalf("runs --metric: %d runs", len(page.Runs))
	}
	for _, r := range page.Runs {
		if r.Metrics["evaluate.accuracy"] != acc[r.ID] || len(r.Metrics) != 2 {
			t.Errorf("run %s: metrics %v, show says accuracy %v", r.ID, r.Metrics, acc[r.ID])
		}
	}
	// Ranked, paged by offset: the pages put together are every run,
	// each once, in order of the metric.
	var ranked []string
	for offset := "0"; ; {
		r := both(0, "runs", "--workflow", "exp", "--metric", "evaluate.accuracy", "--sort", "desc", "--limit", "3", "--offset", offset, "--json")
		p := decodeJSON[runsJSON](t, r)
		for _, run := range p.Runs {
			ranked = append(ranked, run.ID)
		}
		if p.NextOffset == nil {
			break
		}
		offset = strconv.Itoa(*p.NextOffset)
		if len(ranked) > 4 {
			t.Fatal("paging does not end")
		}
	}
	want := append([]string(nil), ids...)
	sort.SliceStable(want, func(i, j int) bool {
		if acc[want[i]] != acc[want[j]] {
			return acc[want[i]] > acc[want[j]]
		}
		return want[i] > want[j]
	})
	if strings.Join(ranked, " ") != strings.Join(want, " ") {
		t.Errorf("ranked by accuracy: %v, want %v (%v)", ranked, want, acc)
	}
	r := e.must(0, "runs", "--workflow", "exp", "--metric", "evaluate.accuracy", "--sort", "asc", "--limit", "1")
	if !strings.Contains(r.stdout, "EVALUATE.ACCURACY") || !strings.Contains(r.stderr, "more: cairn runs --workflow exp --metric evaluate.accuracy --sort asc --limit 1 --offset 1") {
		t.Errorf("a ranked page's text and next page:\n%s", r)
	}
	// A page past the last says so, not that no run has the metric.
	if r := e.must(0, "runs", "--workflow", "exp", "--metric", "evaluate.accuracy", "--sort", "asc", "--offset", "9"); r.stdout != "" ||
		strings.TrimSpace(r.stderr) != "no runs with evaluate.accuracy past offset 9" {
		t.Errorf("a ranked page past the last:\n%s", r)
	}

	// Bad usage says what to do, here and through the server alike.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"compare", ids[0]}, "want two run ids or more"},
		{[]string{"runs", "--metric", "f1"}, "want TASK.METRIC"},
		{[]string{"runs", "--sort", "desc"}, "--sort ranks by a metric"},
		{[]string{"runs", "--metric", "evaluate.f1", "--sort", "up"}, "want asc or desc"},
		{[]string{"runs", "--metric", "evaluate.f1", "--offset", "2"}, "--offset pages a sorted list"},
	} {
		for _, args := range [][]string{c.args, append(c.args, "--server", api)} {
			if r := e.must(2, args...); !strings.Contains(r.stderr, c.want) {
				t.Errorf("cairn %s: want %q in\n%s", strings.Join(args, " "), c.want, r)
			}
		}
	}
	if r := e.must(1, "compare", ids[0], "zzzzzzzz"); !strings.Contains(r.stderr, `no run "zzzzzzzz"`) {
		t.Errorf("compare with an unknown run: %s", r)
	}
}
