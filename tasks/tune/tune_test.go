package tune_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/tasks/ml/dataset"
	"github.com/cairnml/cairn/tasks/ml/features"
	"github.com/cairnml/cairn/tasks/ml/model"
	"github.com/cairnml/cairn/tasks/tasktest"
	"github.com/cairnml/cairn/tasks/train"
	"github.com/cairnml/cairn/tasks/tune"
)

func data(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("../ml/tree/testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func in(b []byte) map[string][]byte { return map[string][]byte{"train": b} }

func trials(t *testing.T, a tasktest.Attempt) []tune.Trial {
	t.Helper()
	ref, ok := cairn.AsArtifactRef(a.Result.Outputs["trials"])
	if !ok || ref.MediaType != tune.TrialsMediaType {
		t.Fatalf("trials output %s", a.Result.Outputs["trials"])
	}
	rc, err := a.Env.Artifacts.Open(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var out []tune.Trial
	sc := bufio.NewScanner(rc)
	for sc.Scan() {
		var tr tune.Trial
		dec := json.NewDecoder(strings.NewReader(sc.Text()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&tr); err != nil {
			t.Fatalf("trial line %q: %v", sc.Text(), err)
		}
		out = append(out, tr)
	}
	return out
}

func output[T any](t *testing.T, a tasktest.Attempt, name string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(a.Result.Outputs[name], &v); err != nil {
		t.Fatalf("output %s = %s: %v", name, a.Result.Outputs[name], err)
	}
	return v
}

// checkTrials holds the trial lines to their own arithmetic and the best
// to the outputs.
func checkTrials(t *testing.T, a tasktest.Attempt, n, folds int, higher bool) []tune.Trial {
	t.Helper()
	trs := trials(t, a)
	if len(trs) != n {
		t.Fatalf("%d trials, want %d", len(trs), n)
	}
	best := 0
	for i, tr := range trs {
		if tr.Trial != i+1 || len(tr.FoldScores) != folds {
			t.Fatalf("trial %d: %+v", i, tr)
		}
		mean, ss := 0.0, 0.0
		for _, s := range tr.FoldScores {
			mean += s
		}
		mean /= float64(folds)
		for _, s := range tr.FoldScores {
			ss += (s - mean) * (s - mean)
		}
		if math.Abs(mean-tr.Mean) > 1e-12 || math.Abs(math.Sqrt(ss/float64(folds))-tr.Std) > 1e-12 {
			t.Errorf("trial %d: mean %v std %v of %v", tr.Trial, tr.Mean, tr.Std, tr.FoldScores)
		}
		if (higher && tr.Mean > trs[best].Mean) || (!higher && tr.Mean < trs[best].Mean) {
			best = i
		}
	}
	if trs[best].Rank != 1 {
		t.Errorf("best trial %d has rank %d", best+1, trs[best].Rank)
	}
	var bp map[string]any
	if err := json.Unmarshal(a.Result.Outputs["best_params"], &bp); err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(trs[best].Params)
	if got, _ := json.Marshal(bp); string(got) != string(want) {
		t.Errorf("best_params %s, best trial's %s", got, want)
	}
	if bs := output[float64](t, a, "best_score"); bs != trs[best].Mean || a.Result.Metrics["best_score"] != bs {
		t.Errorf("best_score %v, metrics %v, best mean %v", bs, a.Result.Metrics, trs[best].Mean)
	}
	return trs
}

func TestConformance(t *testing.T) {
	bc, iris, diabetes := data(t, "breast_cancer.csv"), data(t, "iris.csv"), data(t, "diabetes.csv")
	tasktest.Run(t, tune.New(),
		tasktest.Case{
			Name: "grid-logistic-f1",
			Params: map[string]any{"model": "logistic_regression", "label": "malignant", "metric": "f1", "cv_folds": 5,
				"space": map[string]any{"C": []any{0.01, 0.1, 1, 10}}, "seed": 1},
			Inputs: in(bc),
			Want:   tasktest.Succeeds,
			Check: func(t *testing.T, a tasktest.Attempt) {
				trs := checkTrials(t, a, 4, 5, true)
				if !reflect.DeepEqual(trs[0].Params, map[string]any{"C": 0.01}) || !reflect.DeepEqual(trs[3].Params, map[string]any{"C": 10.0}) {
					t.Errorf("grid order: %v … %v", trs[0].Params, trs[3].Params)
				}
				if m := output[tune.MetricOutput](t, a, "metric"); m != (tune.MetricOutput{Name: "f1", HigherIsBetter: true}) {
					t.Errorf("metric %+v", m)
				}
				for _, want := range []string{"grid search of logistic_regression", "4 candidates × 5 stratified folds = 20 fits", "metric f1 (higher is better)", "tune: 3 of 4 candidates done", "mean f1", "tune: best: trial"} {
					if !strings.Contains(string(a.Log), want) {
						t.Errorf("log lacks %q:\n%s", want, a.Log)
					}
				}
			},
		},
		tasktest.Case{
			Name: "grid-two-dims",
			Params: map[string]any{"model": "decision_tree", "label": "species", "cv_folds": 3,
				"space": map[string]any{"max_depth": []any{1, 3, nil}, "criterion": []any{"gini", "entropy"}}},
			Inputs: in(iris),
			Want:   tasktest.Succeeds,
			Check: func(t *testing.T, a tasktest.Attempt) {
				trs := checkTrials(t, a, 6, 3, true)
				// criterion < max_depth: max_depth varies fastest.
				if trs[0].Params["criterion"] != "gini" || trs[1].Params["max_depth"] != 3.0 || trs[2].Params["max_depth"] != nil || trs[3].Params["criterion"] != "entropy" {
					t.Errorf("grid order: %v", trs)
				}
				if trs[0].Mean > 0.7 || trs[1].Mean < 0.9 {
					t.Errorf("depth 1 scores %v, depth 3 %v on iris", trs[0].Mean, trs[1].Mean)
				}
			},
		},
		tasktest.Case{
			Name: "random-forest-ranges",
			Params: map[string]any{"model": "random_forest", "label": "species", "search": "random", "trials": 5, "seed": 4, "cv_folds": 3,
				"hyperparams": map[string]any{"n_estimators": 10},
				"space":       map[string]any{"max_depth": map[string]any{"min": 2, "max": 6}, "max_features": []any{"sqrt", 0.5}, "min_samples_leaf": map[string]any{"min": 1, "max": 20, "log": true}}},
			Inputs: in(iris),
			Want:   tasktest.Succeeds,
			Check: func(t *testing.T, a tasktest.Attempt) {
				trs := checkTrials(t, a, 5, 3, true)
				for _, tr := range trs {
					d, leaf := tr.Params["max_depth"].(float64), tr.Params["min_samples_leaf"].(float64)
					if d < 2 || d > 6 || d != math.Trunc(d) || leaf < 1 || leaf > 20 || leaf != math.Trunc(leaf) || tr.Params["n_estimators"] != 10.0 {
						t.Errorf("trial %d params %v", tr.Trial, tr.Params)
					}
					if mf := tr.Params["max_features"]; mf != "sqrt" && mf != 0.5 {
						t.Errorf("trial %d max_features %v", tr.Trial, mf)
					}
				}
			},
		},
		tasktest.Case{
			Name: "random-distinct-lists",
			Params: map[string]any{"model": "ridge", "label": "progression", "search": "random", "trials": 3, "metric": "rmse",
				"space": map[string]any{"alpha": []any{0.1, 1, 10, 100}}},
			Inputs: in(diabetes),
			Want:   tasktest.Succeeds,
			Check: func(t *testing.T, a tasktest.Attempt) {
				trs := checkTrials(t, a, 3, 5, false)
				seen := map[float64]bool{}
				for _, tr := range trs {
					seen[tr.Params["alpha"].(float64)] = true
				}
				if len(seen) != 3 {
					t.Errorf("random search drew repeated candidates: %v", trs)
				}
				if m := output[tune.MetricOutput](t, a, "metric"); m.HigherIsBetter {
					t.Errorf("rmse: higher is better?")
				}
			},
		},
		tasktest.Case{
			Name:   "no-space-defaults",
			Params: map[string]any{"model": "linear_regression", "label": "progression"},
			Inputs: in(diabetes),
			Want:   tasktest.Succeeds,
			Check: func(t *testing.T, a tasktest.Attempt) {
				trs := checkTrials(t, a, 1, 5, true)
				if len(trs[0].Params) != 0 || string(a.Result.Outputs["best_params"]) != "{}" {
					t.Errorf("params %v, best_params %s", trs[0].Params, a.Result.Outputs["best_params"])
				}
				if m := output[tune.MetricOutput](t, a, "metric"); m.Name != "r2" {
					t.Errorf("default metric %q", m.Name)
				}
			},
		},
		tasktest.Case{
			// 16 × 5 forest fits take seconds; the search stops between fits.
			Name: "cancelled-mid-search",
			Params: map[string]any{"model": "random_forest", "label": "malignant", "parallelism": 1,
				"space": map[string]any{"max_depth": []any{2, 3, 4, 5}, "min_samples_leaf": []any{1, 2, 3, 4}}},
			Inputs: in(bc),
			Want:   tasktest.Blocks,
			Delay:  300 * time.Millisecond,
			Check: func(t *testing.T, a tasktest.Attempt) {
				if !cairn.IsRetryable(a.Err) {
					t.Errorf("a stopped search fails for good: %v", a.Err)
				}
			},
		},
		tasktest.Case{Name: "unknown-metric", Params: map[string]any{"model": "ridge", "label": "progression", "metric": "rsme"}, Inputs: in(diabetes), InvalidParams: true, Check: tasktest.ErrorMentions(`unknown metric "rsme"`, "did you mean rmse?")},
		tasktest.Case{Name: "metric-of-other-kind", Params: map[string]any{"model": "logistic_regression", "label": "malignant", "metric": "r2"}, Inputs: in(bc), InvalidParams: true, Check: tasktest.ErrorMentions("r2 scores a regression")},
		tasktest.Case{Name: "space-unknown", Params: map[string]any{"model": "logistic_regression", "label": "malignant", "space": map[string]any{"alpha": []any{1}}}, Inputs: in(bc), InvalidParams: true, Check: tasktest.ErrorMentions("alpha", "unknown hyperparameter")},
		tasktest.Case{Name: "space-out-of-range", Params: map[string]any{"model": "logistic_regression", "label": "malignant", "space": map[string]any{"C": []any{0, 1}}}, Inputs: in(bc), InvalidParams: true, Check: tasktest.ErrorMentions("C", "want > 0")},
		tasktest.Case{Name: "space-max-depth-zero", Params: map[string]any{"model": "decision_tree", "label": "malignant", "space": map[string]any{"max_depth": []any{0, 2}}}, Inputs: in(bc), InvalidParams: true, Check: tasktest.ErrorMentions("max_depth", ">= 1")},
		tasktest.Case{Name: "range-with-grid", Params: map[string]any{"model": "ridge", "label": "progression", "space": map[string]any{"alpha": map[string]any{"min": 0, "max": 1}}}, Inputs: in(diabetes), InvalidParams: true, Check: tasktest.ErrorMentions("search: random")},
		tasktest.Case{Name: "trials-with-grid", Params: map[string]any{"model": "ridge", "label": "progression", "trials": 3}, Inputs: in(diabetes), InvalidParams: true, Check: tasktest.ErrorMentions("trials", "random only")},
		tasktest.Case{Name: "one-fold", Params: map[string]any{"model": "ridge", "label": "progression", "cv_folds": 1}, Inputs: in(diabetes), InvalidParams: true, Check: tasktest.ErrorMentions("cv_folds")},
		tasktest.Case{Name: "C-and-l2", Params: map[string]any{"model": "logistic_regression", "label": "malignant", "space": map[string]any{"C": []any{1}, "l2": []any{1}}}, Inputs: in(bc), InvalidParams: true, Check: tasktest.ErrorMentions("C and l2")},
		tasktest.Case{Name: "log-range-from-zero", Params: map[string]any{"model": "ridge", "label": "progression", "search": "random", "space": map[string]any{"alpha": map[string]any{"min": 0, "max": 1, "log": true}}}, Inputs: in(diabetes), InvalidParams: true, Check: tasktest.ErrorMentions("min > 0")},
		tasktest.Case{Name: "unknown-param", Params: map[string]any{"model": "ridge", "label": "progression", "cv_fold": 3}, Inputs: in(diabetes), InvalidParams: true, Check: tasktest.ErrorMentions("cv_fold", "did you mean cv_folds?")},
		tasktest.Case{Name: "clip-k-negative", Params: map[string]any{"model": "ridge", "label": "progression", "clip_outliers": map[string]any{"method": "iqr", "k": -2}}, Inputs: in(diabetes), InvalidParams: true, Check: tasktest.ErrorMentions("clip_outliers", "k -2: want a number > 0")},
		tasktest.Case{Name: "rare-class", Params: map[string]any{"model": "logistic_regression", "label": "y", "cv_folds": 3}, Inputs: in([]byte("x,y\n1,a\n2,a\n3,a\n4,b\n5,b\n6,a\n")), Want: tasktest.FailsPermanent, Check: tasktest.ErrorMentions(`class "b" has 2 rows`, "lower cv_folds")},
		tasktest.Case{Name: "missing-label", Params: map[string]any{"model": "logistic_regression", "label": "malignat"}, Inputs: in(bc), Want: tasktest.FailsPermanent, Check: tasktest.ErrorMentions(`did you mean "malignant"?`)},
		tasktest.Case{Name: "auc-of-regression-kind", Params: map[string]any{"model": "decision_tree", "label": "progression", "metric": "roc_auc"}, Inputs: in(diabetes), Want: tasktest.FailsPermanent, Check: tasktest.ErrorMentions("roc_auc scores a classification", "regression here")},
	)
}

// runTune runs one attempt outside the harness.
func runTune(t testing.TB, params map[string]any, input []byte) tasktest.Attempt {
	t.Helper()
	raw, err := json.Marshal(params)
	if err != nil {
		t.Fatal(err)
	}
	env, log := tasktest.Env(t)
	req := tasktest.Request(t, raw)
	ref, err := env.Artifacts.Put(context.Background(), "text/csv", strings.NewReader(string(input)))
	if err != nil {
		t.Fatal(err)
	}
	req.Inputs = map[string]cairn.ArtifactRef{"train": ref}
	res, err := tune.New().Run(context.Background(), req, env)
	if err != nil {
		t.Fatalf("tune: %v\n%s", err, log.Bytes())
	}
	return tasktest.Attempt{Request: req, Env: env, Result: res, Log: log.Bytes()}
}

// TestParallelismDeterministic: the outputs are the same bytes with 1 and
// 2 (and 5) fits at once.
func TestParallelismDeterministic(t *testing.T) {
	bc := data(t, "breast_cancer.csv")
	for _, algo := range []struct {
		model string
		space map[string]any
	}{
		{"logistic_regression", map[string]any{"C": []any{0.01, 0.1, 1, 10}}},
		{"random_forest", map[string]any{"max_depth": []any{2, 4}, "n_estimators": []any{5, 10}}},
	} {
		var first map[string]string
		for _, par := range []int{1, 2, 5} {
			a := runTune(t, map[string]any{"model": algo.model, "label": "malignant", "metric": "roc_auc", "space": algo.space, "parallelism": par, "seed": 3}, bc)
			got := map[string]string{}
			for k, v := range a.Result.Outputs {
				got[k] = string(v)
			}
			if first == nil {
				first = got
			} else if !reflect.DeepEqual(got, first) {
				t.Errorf("%s: parallelism %d gives other outputs:\n%v\nvs\n%v", algo.model, par, got, first)
			}
		}
	}
}

// TestFoldScoresAreRefits recomputes a trial's fold scores by hand: the
// same stratified folds, the whole pipeline fitted on each fold's
// training rows only, scored on the held-out rows.
func TestFoldScoresAreRefits(t *testing.T) {
	bc := data(t, "breast_cancer.csv")
	a := runTune(t, map[string]any{"model": "logistic_regression", "label": "malignant", "metric": "log_loss", "cv_folds": 4, "seed": 8, "space": map[string]any{"C": []any{0.3}}}, bc)
	got := trials(t, a)[0].FoldScores

	f, err := dataset.ReadCSV(strings.NewReader(string(bc)), dataset.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	spec := model.Spec{Preprocess: features.NewSpec("malignant"), Algorithm: model.LogisticRegression, Hyperparams: map[string]any{"C": 0.3}}
	_, _, y, err := model.Target(f, spec)
	if err != nil {
		t.Fatal(err)
	}
	folds, err := model.StratifiedKFold(y, 4, 8)
	if err != nil {
		t.Fatal(err)
	}
	for i, fo := range folds {
		m, err := model.Fit(f.Select(fo.Train), spec)
		if err != nil {
			t.Fatal(err)
		}
		if m.TrainRows != len(fo.Train) {
			t.Fatalf("fold %d: fitted on %d rows", i, m.TrainRows)
		}
		want, err := m.Score("log_loss", f.Select(fo.Valid))
		if err != nil {
			t.Fatal(err)
		}
		if got[i] != want {
			t.Errorf("fold %d: score %v, refit by hand %v", i, got[i], want)
		}
	}
}

// TestBestParamsFeedTrain: best_params, as the workflow passes it, is a
// valid hyperparams value for train with the same model.
func TestBestParamsFeedTrain(t *testing.T) {
	bc := data(t, "breast_cancer.csv")
	a := runTune(t, map[string]any{"model": "random_forest", "label": "malignant", "cv_folds": 3,
		"hyperparams": map[string]any{"n_estimators": 8},
		"space":       map[string]any{"max_features": []any{"sqrt", 0.5, 1.0}, "max_depth": []any{3, nil}}}, bc)
	best := a.Result.Outputs["best_params"]
	params, _ := json.Marshal(map[string]any{"model": "random_forest", "label": "malignant", "hyperparams": best})
	env, _ := tasktest.Env(t)
	req := tasktest.Request(t, params)
	ref, _ := env.Artifacts.Put(context.Background(), "text/csv", strings.NewReader(string(bc)))
	req.Inputs = map[string]cairn.ArtifactRef{"train": ref}
	res, err := train.New().Run(context.Background(), req, env)
	if err != nil {
		t.Fatalf("train with best_params %s: %v", best, err)
	}
	var used map[string]any
	if err := json.Unmarshal(res.Outputs["hyperparams"], &used); err != nil {
		t.Fatal(err)
	}
	var bp map[string]any
	json.Unmarshal(best, &bp)
	for k, v := range bp {
		if !reflect.DeepEqual(used[k], v) {
			t.Errorf("train used %s=%v, best_params %v", k, used[k], v)
		}
	}
}

func TestCancelled(t *testing.T) {
	bc := data(t, "breast_cancer.csv")
	raw, _ := json.Marshal(map[string]any{"model": "random_forest", "label": "malignant", "space": map[string]any{"max_depth": []any{1, 2, 3, 4, 5, 6, 7, 8}}, "parallelism": 2})
	env, _ := tasktest.Env(t)
	req := tasktest.Request(t, raw)
	ref, _ := env.Artifacts.Put(context.Background(), "text/csv", strings.NewReader(string(bc)))
	req.Inputs = map[string]cairn.ArtifactRef{"train": ref}
	ctx, cancel := context.WithCancel(context.Background())
	// Cancel once the search has started, from its own log line: the
	// workers must notice and stop between fits.
	log := &cancelOn{marker: "search of random_forest", cancel: cancel}
	env.Log = log
	_, err := tune.New().Run(ctx, req, env)
	if err == nil || !cairn.IsRetryable(err) || strings.Contains(err.Error(), "not started") {
		t.Errorf("cancelled search: %v (want a retryable error from the search, not before it)", err)
	}
	if !log.fired {
		t.Fatalf("the search never started:\n%s", log.buf.String())
	}
	if strings.Contains(log.buf.String(), "best:") {
		t.Errorf("the search ran to its end after the cancel:\n%s", log.buf.String())
	}
}

// cancelOn is a log that calls cancel when a line holds marker.
type cancelOn struct {
	marker string
	cancel context.CancelFunc
	fired  bool
	buf    strings.Builder
}

func (c *cancelOn) Write(p []byte) (int, error) {
	c.buf.Write(p)
	if !c.fired && strings.Contains(string(p), c.marker) {
		c.fired = true
		c.cancel()
	}
	return len(p), nil
}

// plantedOutliers is a regression y = 3x + noise on 60 rows, x from 0 to
// 10, with four rows whose x is wildly wrong (their y is not).
func plantedOutliers() []byte {
	var b strings.Builder
	b.WriteString("x,y\n")
	for i := range 60 {
		x := float64(i) / 6
		y := 3*x + math.Sin(float64(i))
		switch i {
		case 7:
			x = 500
		case 23:
			x = -400
		case 41:
			x = 800
		case 55:
			x = 650
		}
		b.WriteString(strconv.FormatFloat(x, 'g', -1, 64) + "," + strconv.FormatFloat(y, 'g', -1, 64) + "\n")
	}
	return []byte(b.String())
}

// TestClipRefittedPerFold: with clip_outliers, each fold's scores are those
// of the pipeline — clipping bounds included — refitted on that fold's
// training rows (bounds that differ from the whole train split's), and
// they differ from the scores without clipping.
func TestClipRefittedPerFold(t *testing.T) {
	csv := plantedOutliers()
	params := map[string]any{"model": "linear_regression", "label": "y", "metric": "r2", "cv_folds": 4, "seed": 5}
	plain := trials(t, runTune(t, params, csv))[0].FoldScores
	params["clip_outliers"] = "iqr"
	a := runTune(t, params, csv)
	clipped := trials(t, a)[0].FoldScores

	f, err := dataset.ReadCSV(strings.NewReader(string(csv)), dataset.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	spec := model.Spec{Preprocess: features.NewSpec("y"), Algorithm: model.LinearRegression}
	spec.Preprocess.Clip = features.Clip{Method: features.IQR, K: 1.5}
	whole, err := model.Fit(f, spec)
	if err != nil {
		t.Fatal(err)
	}
	folds, err := model.KFold(f.Rows(), 4, 5)
	if err != nil {
		t.Fatal(err)
	}
	for i, fo := range folds {
		m, err := model.Fit(f.Select(fo.Train), spec)
		if err != nil {
			t.Fatal(err)
		}
		if *m.Preprocess.Features[0].Clip == *whole.Preprocess.Features[0].Clip {
			t.Fatalf("fold %d: bounds %+v equal the whole split's: the test cannot tell a refit", i, *m.Preprocess.Features[0].Clip)
		}
		want, err := m.Score("r2", f.Select(fo.Valid))
		if err != nil {
			t.Fatal(err)
		}
		if clipped[i] != want {
			t.Errorf("fold %d: score %v, refit by hand with the fold's bounds %v", i, clipped[i], want)
		}
		if clipped[i] == plain[i] {
			t.Errorf("fold %d: score %v with and without clipping", i, plain[i])
		}
	}
	if mean(clipped) <= mean(plain) {
		t.Errorf("clipping the planted outliers does not help: r2 %v clipped, %v not", clipped, plain)
	}
}

func mean(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// The kind is decided once, on the whole train split: a label with 21
// distinct integers is a regression for a tree, and a fold that happens to
// miss the rare value 20 (so it sees only 20 values) must not be fitted as
// a classification.
func TestFoldsKeepTheSplitsKind(t *testing.T) {
	var b strings.Builder
	b.WriteString("x,y\n")
	for v := range 20 {
		for i := range 5 {
			fmt.Fprintf(&b, "%d.%d,%d\n", v, i, v)
		}
	}
	b.WriteString("20.5,20\n")
	tasktest.Run(t, tune.New(), tasktest.Case{
		Name:   "rare-integer-label",
		Params: map[string]any{"model": "decision_tree", "label": "y", "cv_folds": 5, "space": map[string]any{"max_depth": []any{2, 4}}},
		Inputs: in([]byte(b.String())), Want: tasktest.Succeeds,
		Check: func(t *testing.T, a tasktest.Attempt) {
			var m struct{ Name string }
			if err := json.Unmarshal(a.Result.Outputs["metric"], &m); err != nil || m.Name != "r2" {
				t.Errorf("metric %s (%v), want r2: the search is a regression", a.Result.Outputs["metric"], err)
			}
		},
	})
}

// A training set damaged on disk fails the attempt naming its digest.
func TestCorruptInput(t *testing.T) {
	tasktest.CorruptInput(t, tune.New(), tasktest.Case{
		Params: map[string]any{"model": "logistic_regression", "label": "malignant", "metric": "f1", "cv_folds": 2,
			"space": map[string]any{"C": []any{0.1, 1}}, "seed": 1},
		Inputs: in(data(t, "breast_cancer.csv")),
	}, "train")
}
