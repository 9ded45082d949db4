package train_test

import (
	"context"
	"encoding/json"
	"io"
	"math"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/tasks"
	"github.com/cairnml/cairn/tasks/ml/features"
	"github.com/cairnml/cairn/tasks/ml/model"
	"github.com/cairnml/cairn/tasks/tasktest"
	"github.com/cairnml/cairn/tasks/train"
)

func data(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func breastCancer(t testing.TB) []byte { return data(t, "../ml/tree/testdata/breast_cancer.csv") }
func iris(t testing.TB) []byte         { return data(t, "../ml/tree/testdata/iris.csv") }
func diabetes(t testing.TB) []byte     { return data(t, "../ml/tree/testdata/diabetes.csv") }
func mixed(t testing.TB) []byte        { return data(t, "../ml/model/testdata/mixed_train.csv") }

func in(b []byte) map[string][]byte { return map[string][]byte{"train": b} }

// loadModel reads the model output back.
func loadModel(t *testing.T, a tasktest.Attempt) (*model.Model, cairn.ArtifactRef) {
	t.Helper()
	ref, ok := cairn.AsArtifactRef(a.Result.Outputs["model"])
	if !ok {
		t.Fatalf("model output %s is not an artifact", a.Result.Outputs["model"])
	}
	if ref.MediaType != model.MediaType {
		t.Errorf("model media type %q", ref.MediaType)
	}
	rc, err := a.Env.Artifacts.Open(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	m, err := model.Decode(rc)
	if err != nil {
		t.Fatalf("model output does not decode: %v", err)
	}
	return m, ref
}

func output[T any](t *testing.T, a tasktest.Attempt, name string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(a.Result.Outputs[name], &v); err != nil {
		t.Fatalf("output %s = %s: %v", name, a.Result.Outputs[name], err)
	}
	return v
}

func TestConformance(t *testing.T) {
	tasktest.Run(t, train.New(),
		tasktest.Case{
			Name:   "logistic-breast-cancer",
			Params: map[string]any{"model": "logistic_regression", "label": "malignant", "hyperparams": map[string]any{"C": 0.5}},
			Inputs: in(breastCancer(t)),
			Want:   tasktest.Succeeds,
			Check: func(t *testing.T, a tasktest.Attempt) {
				m, _ := loadModel(t, a)
				if m.Algorithm != model.LogisticRegression || m.Kind != model.Classification || m.TrainRows != 569 || len(m.Features) != 30 {
					t.Errorf("model: %s", m.Describe())
				}
				if m.Hyperparams["C"] != 0.5 || m.Hyperparams["max_iter"] != 100 {
					t.Errorf("hyperparams %v", m.Hyperparams)
				}
				if c := output[[]string](t, a, "classes"); !reflect.DeepEqual(c, []string{"0", "1"}) {
					t.Errorf("classes %v", c)
				}
				if k := output[string](t, a, "kind"); k != "classification" {
					t.Errorf("kind %q", k)
				}
				if f := output[[]string](t, a, "features"); len(f) != 30 || f[0] != "mean_radius" {
					t.Errorf("features %v", f)
				}
				s := output[train.Score](t, a, "train_score")
				if s.Accuracy == nil || *s.Accuracy < 0.97 || s.F1 == nil || s.LogLoss == nil || s.R2 != nil {
					t.Errorf("train_score %s", a.Result.Outputs["train_score"])
				}
				if a.Result.Metrics["train_rows"] != 569 || a.Result.Metrics["features"] != 30 || a.Result.Metrics["train_accuracy"] != *s.Accuracy {
					t.Errorf("metrics %v", a.Result.Metrics)
				}
				for _, want := range []string{"read 569 rows × 31 columns", "logistic_regression classification", "C=0.5", "30 numeric features, standardized", "classes of \"malignant\": 0, 1"} {
					if !strings.Contains(string(a.Log), want) {
						t.Errorf("log lacks %q:\n%s", want, a.Log)
					}
				}
			},
		},
		tasktest.Case{
			Name: "forest-iris-balanced",
			Params: map[string]any{"model": "random_forest", "label": "species", "seed": 7, "class_weight": "balanced",
				"hyperparams": map[string]any{"n_estimators": 25, "max_depth": 4}},
			Inputs: in(iris(t)),
			Want:   tasktest.Succeeds,
			Check: func(t *testing.T, a tasktest.Attempt) {
				m, _ := loadModel(t, a)
				if m.Forest == nil || len(m.Forest.Trees) != 25 || m.Seed != 7 || !m.ClassWeight.Balanced {
					t.Errorf("model: %s", m.Describe())
				}
				if c := output[[]string](t, a, "classes"); !reflect.DeepEqual(c, []string{"setosa", "versicolor", "virginica"}) {
					t.Errorf("classes %v", c)
				}
			},
		},
		tasktest.Case{
			Name: "mixed-imputation",
			Params: map[string]any{"model": "logistic_regression", "label": "y", "impute_numeric": "median",
				"impute": map[string]any{"color": map[string]any{"strategy": "constant", "value": "none"}}, "exclude": []any{"x2"}},
			Inputs: in(mixed(t)),
			Want:   tasktest.Succeeds,
			Check: func(t *testing.T, a tasktest.Attempt) {
				m, _ := loadModel(t, a)
				want := []string{"x1", "color=blue", "color=green", "color=none", "color=red", "member"}
				if !reflect.DeepEqual(m.Features, want) {
					t.Errorf("features %v, want %v", m.Features, want)
				}
				if m.Preprocess.Features[0].Strategy != "median" || m.Preprocess.Features[1].FillCategory != "none" {
					t.Errorf("imputation %+v", m.Preprocess.Features)
				}
				if !strings.Contains(string(a.Log), "1 categorical features one-hot encoded into 4 columns") {
					t.Errorf("log:\n%s", a.Log)
				}
			},
		},
		tasktest.Case{
			Name:   "clip-iqr-hand",
			Params: map[string]any{"model": "linear_regression", "label": "y", "impute_numeric": "median", "clip_outliers": "iqr"},
			Inputs: in(clipCSV),
			Want:   tasktest.Succeeds,
			Check: func(t *testing.T, a tasktest.Attempt) {
				m, _ := loadModel(t, a)
				// As in tasks/ml/features' TestClipBounds: x imputed with its
				// median 5, Q1 3.25, Q3 6.75, IQR 3.5: [-2, 12].
				tr := m.Preprocess
				if tr.Clip == nil || *tr.Clip != (features.Clip{Method: features.IQR, K: 1.5}) {
					t.Errorf("clip %+v", tr.Clip)
				}
				if b := tr.Features[0].Clip; b == nil || *b != (features.Bounds{Low: -2, High: 12}) {
					t.Errorf("bounds %+v, want [-2, 12]", b)
				}
				// Standardized on the clipped column: mean 5, variance 12.6.
				if ft := tr.Features[0]; ft.Center != 5 || math.Abs(ft.Scale-math.Sqrt(12.6)) > 1e-12 {
					t.Errorf("center %v scale %v", ft.Center, ft.Scale)
				}
				if want := "outliers clipped (iqr, k 1.5) to bounds learnt from the training rows: 2 training values in 1 of 1 features: x [-2, 12] (2)"; !strings.Contains(string(a.Log), want) {
					t.Errorf("log lacks %q:\n%s", want, a.Log)
				}
			},
		},
		tasktest.Case{
			Name:   "clip-quantile",
			Params: map[string]any{"model": "logistic_regression", "label": "malignant", "clip_outliers": map[string]any{"method": "quantile", "low": 0.01, "high": 0.99}},
			Inputs: in(breastCancer(t)),
			Want:   tasktest.Succeeds,
			Check: func(t *testing.T, a tasktest.Attempt) {
				m, _ := loadModel(t, a)
				if c := m.Preprocess.Clip; c == nil || *c != (features.Clip{Method: features.Quantile, Low: 0.01, High: 0.99}) {
					t.Errorf("clip %+v", c)
				}
				for _, ft := range m.Preprocess.Features {
					if ft.Clip == nil || !(ft.Clip.Low < ft.Clip.High) {
						t.Errorf("feature %s bounds %+v", ft.Name, ft.Clip)
					}
				}
				// 1 % of 569 rows on either side: about 6 values per feature.
				if !strings.Contains(string(a.Log), "outliers clipped (quantile, low 0.01, high 0.99)") || !strings.Contains(string(a.Log), "in 30 of 30 features") {
					t.Errorf("log:\n%s", a.Log)
				}
			},
		},
		tasktest.Case{
			Name:   "clip-constant-warning",
			Params: map[string]any{"model": "linear_regression", "label": "y", "clip_outliers": map[string]any{"method": "iqr", "k": 3}},
			Inputs: in([]byte("x,z,y\n0,1,1\n0,2,2\n0,3,3\n0,4,4\n0,5,5\n9,6,6\n")),
			Want:   tasktest.Succeeds,
			Check: func(t *testing.T, a tasktest.Attempt) {
				m, _ := loadModel(t, a)
				if b := m.Preprocess.Features[0].Clip; b == nil || *b != (features.Bounds{}) {
					t.Errorf("x bounds %+v, want [0, 0]", b)
				}
				if !strings.Contains(string(a.Log), "warning: clipping leaves 1 features constant") || !strings.Contains(string(a.Log), "constant (most of their training values are equal, so the bounds meet): x;") {
					t.Errorf("log:\n%s", a.Log)
				}
			},
		},
		tasktest.Case{
			Name:   "ridge-diabetes",
			Params: map[string]any{"model": "ridge", "label": "progression", "hyperparams": map[string]any{"alpha": 2}, "standardize": false},
			Inputs: in(diabetes(t)),
			Want:   tasktest.Succeeds,
			Check: func(t *testing.T, a tasktest.Attempt) {
				m, _ := loadModel(t, a)
				if m.Kind != model.Regression || m.Linear == nil || m.Linear.Alpha != 2 || m.Preprocess.Features[0].Scale != 1 {
					t.Errorf("model: %s", m.Describe())
				}
				if string(a.Result.Outputs["classes"]) != "null" {
					t.Errorf("classes %s", a.Result.Outputs["classes"])
				}
				s := output[train.Score](t, a, "train_score")
				if s.R2 == nil || *s.R2 < 0.4 || s.RMSE == nil || s.Accuracy != nil {
					t.Errorf("train_score %s", a.Result.Outputs["train_score"])
				}
			},
		},
		tasktest.Case{
			Name:   "tree-regression-by-kind",
			Params: map[string]any{"model": "decision_tree", "label": "malignant", "kind": "regression", "hyperparams": map[string]any{"max_depth": 3}},
			Inputs: in(breastCancer(t)),
			Want:   tasktest.Succeeds,
			Check: func(t *testing.T, a tasktest.Attempt) {
				if k := output[string](t, a, "kind"); k != "regression" {
					t.Errorf("kind %q", k)
				}
			},
		},
		// Params wrong as written: the validator and Run both refuse them.
		tasktest.Case{Name: "unknown-model", Params: map[string]any{"model": "random_forrest", "label": "species"}, Inputs: in(iris(t)), InvalidParams: true, Check: tasktest.ErrorMentions(`unknown model "random_forrest"`, "did you mean random_forest?")},
		tasktest.Case{Name: "unknown-hyperparam", Params: map[string]any{"model": "decision_tree", "label": "species", "hyperparams": map[string]any{"max_dept": 3}}, Inputs: in(iris(t)), InvalidParams: true, Check: tasktest.ErrorMentions("max_dept", "did you mean max_depth?")},
		tasktest.Case{Name: "C-zero", Params: map[string]any{"model": "logistic_regression", "label": "species", "hyperparams": map[string]any{"C": 0}}, Inputs: in(iris(t)), InvalidParams: true, Check: tasktest.ErrorMentions("C", "want > 0")},
		tasktest.Case{Name: "max-depth-zero", Params: map[string]any{"model": "random_forest", "label": "species", "hyperparams": map[string]any{"max_depth": 0}}, Inputs: in(iris(t)), InvalidParams: true, Check: tasktest.ErrorMentions("max_depth", "want >= 1")},
		tasktest.Case{Name: "no-label", Params: map[string]any{"model": "ridge"}, Inputs: in(diabetes(t)), InvalidParams: true, Check: tasktest.ErrorMentions("label: required")},
		tasktest.Case{Name: "bad-class-weight", Params: map[string]any{"model": "ridge", "label": "progression", "class_weight": "even"}, Inputs: in(diabetes(t)), InvalidParams: true, Check: tasktest.ErrorMentions("even", "balanced")},
		tasktest.Case{Name: "bad-imputer", Params: map[string]any{"model": "ridge", "label": "progression", "impute_numeric": "meen"}, Inputs: in(diabetes(t)), InvalidParams: true, Check: tasktest.ErrorMentions("meen", "did you mean mean?")},
		tasktest.Case{Name: "categorical-mean", Params: map[string]any{"model": "ridge", "label": "progression", "impute_categorical": "mean"}, Inputs: in(diabetes(t)), InvalidParams: true, Check: tasktest.ErrorMentions(`unknown strategy "mean"`)},
		tasktest.Case{Name: "unknown-param", Params: map[string]any{"model": "ridge", "label": "progression", "standardise": true}, Inputs: in(diabetes(t)), InvalidParams: true, Check: tasktest.ErrorMentions("standardise", "did you mean standardize?")},
		tasktest.Case{Name: "logistic-regression-kind", Params: map[string]any{"model": "logistic_regression", "label": "malignant", "kind": "regression"}, Inputs: in(breastCancer(t)), InvalidParams: true, Check: tasktest.ErrorMentions("kind", "classifier")},
		tasktest.Case{Name: "class-weight-of-ridge", Params: map[string]any{"model": "ridge", "label": "progression", "class_weight": "balanced"}, Inputs: in(diabetes(t)), InvalidParams: true, Check: tasktest.ErrorMentions("classification only")},
		tasktest.Case{Name: "hyperparams-not-map", Params: map[string]any{"model": "ridge", "label": "progression", "hyperparams": 3}, Inputs: in(diabetes(t)), InvalidParams: true, Check: tasktest.ErrorMentions("want a map")},
		tasktest.Case{Name: "clip-unknown-method", Params: map[string]any{"model": "ridge", "label": "progression", "clip_outliers": "iqrr"}, Inputs: in(diabetes(t)), InvalidParams: true, Check: tasktest.ErrorMentions("clip_outliers", `unknown method "iqrr"`, "did you mean iqr?")},
		tasktest.Case{Name: "clip-k-zero", Params: map[string]any{"model": "ridge", "label": "progression", "clip_outliers": map[string]any{"method": "iqr", "k": 0}}, Inputs: in(diabetes(t)), InvalidParams: true, Check: tasktest.ErrorMentions("clip_outliers", "k 0: want a number > 0")},
		tasktest.Case{Name: "clip-quantiles-reversed", Params: map[string]any{"model": "ridge", "label": "progression", "clip_outliers": map[string]any{"method": "quantile", "low": 0.99, "high": 0.01}}, Inputs: in(diabetes(t)), InvalidParams: true, Check: tasktest.ErrorMentions("clip_outliers", "low 0.99 is not below high 0.01")},
		// Params fine, data wrong: permanent at run time.
		tasktest.Case{Name: "missing-label-column", Params: map[string]any{"model": "logistic_regression", "label": "malignat"}, Inputs: in(breastCancer(t)), Want: tasktest.FailsPermanent, Check: tasktest.ErrorMentions(`label column "malignat" not found`, `did you mean "malignant"?`)},
		tasktest.Case{Name: "missing-label-values", Params: map[string]any{"model": "logistic_regression", "label": "y"}, Inputs: in([]byte("x,y\n1,a\n2,\n3,b\n")), Want: tasktest.FailsPermanent, Check: tasktest.ErrorMentions("missing in 1 row (", "data row 2", "drop_missing_label")},
		tasktest.Case{Name: "non-numeric-value", Params: map[string]any{"model": "ridge", "label": "y"}, Inputs: in(numericWithTypo()), Want: tasktest.FailsPermanent, Check: tasktest.ErrorMentions(`column "x"`, "data row 7", `"abc"`, "not a number")},
		tasktest.Case{Name: "nan-value", Params: map[string]any{"model": "ridge", "label": "y"}, Inputs: in([]byte("x,y\n1,1\nnan,2\n3,3\n")), Want: tasktest.FailsPermanent, Check: tasktest.ErrorMentions(`column "x"`, "NaN or infinite")},
		// "NaN" spelt as pandas prints it is an error too, as in evaluate, not a missing value imputed in silence.
		tasktest.Case{Name: "NaN-value", Params: map[string]any{"model": "ridge", "label": "y"}, Inputs: in([]byte("x,y\n1,1\nNaN,2\n3,3\n")), Want: tasktest.FailsPermanent, Check: tasktest.ErrorMentions(`column "x"`, "NaN or infinite")},
		tasktest.Case{Name: "inf-value", Params: map[string]any{"model": "ridge", "label": "y"}, Inputs: in([]byte("x,y\n1,1\nInf,2\n3,3\n")), Want: tasktest.FailsPermanent, Check: tasktest.ErrorMentions("line 3", `"x"`)},
		tasktest.Case{Name: "single-class", Params: map[string]any{"model": "logistic_regression", "label": "y"}, Inputs: in([]byte("x,y\n1,a\n2,a\n3,a\n")), Want: tasktest.FailsPermanent, Check: tasktest.ErrorMentions("single class")},
		tasktest.Case{Name: "empty", Params: map[string]any{"model": "logistic_regression", "label": "y"}, Inputs: in([]byte("x,y\n")), Want: tasktest.FailsPermanent, Check: tasktest.ErrorMentions("no rows")},
		tasktest.Case{Name: "not-csv", Params: map[string]any{"model": "logistic_regression", "label": "y"}, Inputs: in([]byte("x,y\n1,a\n2,b,3\n")), Want: tasktest.FailsPermanent, Check: tasktest.ErrorMentions("not a readable CSV", "line 3")},
		tasktest.Case{Name: "logistic-of-continuous", Params: map[string]any{"model": "logistic_regression", "label": "bmi"}, Inputs: in(diabetes(t)), Want: tasktest.FailsPermanent, Check: tasktest.ErrorMentions("linear_regression or ridge")},
	)
}

func numericWithTypo() []byte {
	var b strings.Builder
	b.WriteString("x,y\n")
	for i := range 30 {
		x := strings.Repeat("1", 1+i%3)
		if i == 6 {
			x = "abc"
		}
		b.WriteString(x + "," + string(rune('0'+i%10)) + "\n")
	}
	return []byte(b.String())
}

// runTrain runs one attempt outside the conformance harness.
func runTrain(t *testing.T, params map[string]any, input []byte) tasktest.Attempt {
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
	res, err := train.New().Run(context.Background(), req, env)
	return tasktest.Attempt{Request: req, Env: env, Result: res, Err: err, Log: log.Bytes()}
}

// TestHyperparamsByReference: a ${{ }} reference passes validation, and the
// value it resolves to is checked at run time, permanently.
func TestHyperparamsByReference(t *testing.T) {
	ref := map[string]any{"model": "logistic_regression", "label": "malignant", "hyperparams": "${{ tasks.tune.outputs.best_params }}"}
	if errs := train.New().ValidateParams(ref); len(errs) != 0 {
		t.Fatalf("a reference is refused: %v", errs)
	}
	modelRef := map[string]any{"model": "${{ params.model }}", "label": "malignant", "hyperparams": map[string]any{"anything": 1}}
	if errs := train.New().ValidateParams(modelRef); len(errs) != 0 {
		t.Fatalf("hyperparams of a referenced model are checked: %v", errs)
	}
	a := runTrain(t, map[string]any{"model": "logistic_regression", "label": "malignant", "hyperparams": map[string]any{"C": -1}}, breastCancer(t))
	if a.Err == nil || cairn.IsRetryable(a.Err) || !strings.Contains(a.Err.Error(), "C: -1 is out of range") {
		t.Fatalf("resolved C=-1: %v", a.Err)
	}
	// best_params as tune writes them: a JSON object with exact numbers.
	a = runTrain(t, map[string]any{"model": "random_forest", "label": "malignant", "hyperparams": json.RawMessage(`{"max_depth":5,"max_features":0.5,"n_estimators":10}`)}, breastCancer(t))
	if a.Err != nil {
		t.Fatal(a.Err)
	}
	m, _ := loadModel(t, a)
	if m.Hyperparams["max_depth"] != 5 || m.Hyperparams["max_features"] != 0.5 || len(m.Forest.Trees) != 10 {
		t.Errorf("hyperparams %v", m.Hyperparams)
	}
}

// TestDeterministic: the same input, params and seed give the same model
// bytes; another seed gives other bytes.
func TestDeterministic(t *testing.T) {
	params := map[string]any{"model": "random_forest", "label": "malignant", "seed": 3, "hyperparams": map[string]any{"n_estimators": 20}}
	digest := func() string {
		a := runTrain(t, params, breastCancer(t))
		if a.Err != nil {
			t.Fatal(a.Err)
		}
		_, ref := loadModel(t, a)
		return ref.Digest
	}
	first := digest()
	if again := digest(); again != first {
		t.Errorf("two runs: %s and %s", first, again)
	}
	params["seed"] = 4
	if other := digest(); other == first {
		t.Error("seed 4 gives the bytes of seed 3")
	}
}

func TestNoInput(t *testing.T) {
	env, _ := tasktest.Env(t)
	req := tasktest.Request(t, json.RawMessage(`{"model": "ridge", "label": "y"}`))
	_, err := train.New().Run(context.Background(), req, env)
	if err == nil || cairn.IsRetryable(err) || !strings.Contains(err.Error(), "input train is required") {
		t.Errorf("no input: %v", err)
	}
}

func TestInfoListsHyperparams(t *testing.T) {
	info := train.New().Info()
	for _, name := range []string{"model", "label", "hyperparams", "exclude", "impute_numeric", "impute_categorical", "impute", "standardize", "clip_outliers", "class_weight", "kind", "seed"} {
		if _, ok := info.Param(name); !ok {
			t.Errorf("Info lacks param %s", name)
		}
	}
	var _ tasks.ParamValidator = train.New()
}

// clipCSV is the column of tasks/ml/features' TestClipBounds: x = -20 2 3
// 4 5 6 7 8 (missing) 100.
var clipCSV = []byte("x,y\n-20,1\n2,2\n3,3\n4,4\n5,5\n6,6\n7,7\n8,8\n,9\n100,10\n")

// TestClipOutliersValidation: what ValidateParams says about clip_outliers.
func TestClipOutliersValidation(t *testing.T) {
	cases := []struct {
		v         any
		msg, hint string // "" msg: valid
	}{
		{"none", "", ""},
		{"iqr", "", ""},
		{map[string]any{"method": "iqr"}, "", ""},
		{map[string]any{"method": "iqr", "k": 3}, "", ""},
		{map[string]any{"method": "quantile", "low": 0, "high": 1}, "", ""},
		{map[string]any{"method": "none"}, "", ""},
		{"IQR", `unknown method "IQR"`, "did you mean iqr?"},
		{"zscore", `unknown method "zscore"`, "one of none, iqr, quantile"},
		{"quantile", "quantile needs low and high", "{method: quantile, low: 0.01, high: 0.99}"},
		{true, "want a method name or {method, ...}, got true", "none, iqr"},
		{map[string]any{"k": 3}, "no method", "{method: iqr, k: 3}"},
		{map[string]any{"method": 1}, "method: want a method name, got 1", ""},
		{map[string]any{"method": "iqr", "k": -1}, "k -1: want a number > 0", "1.5"},
		{map[string]any{"method": "iqr", "k": "big"}, `k: want a number, got "big"`, ""},
		{map[string]any{"method": "iqr", "low": 0.1}, `unknown key "low" for method iqr`, "method iqr takes k"},
		{map[string]any{"method": "iqr", "kk": 2}, `unknown key "kk" for method iqr`, "did you mean k?"},
		{map[string]any{"method": "quantile", "k": 2, "low": 0.1, "high": 0.9}, `unknown key "k" for method quantile`, "method quantile takes low and high"},
		{map[string]any{"method": "quantile", "low": 0.1}, "quantile needs high", ""},
		{map[string]any{"method": "quantile", "low": -0.1, "high": 0.9}, "low -0.1: want a quantile in [0, 1]", "[0, 1]"},
		{map[string]any{"method": "quantile", "low": 0.1, "high": 1.5}, "high 1.5: want a quantile in [0, 1]", ""},
		{map[string]any{"method": "quantile", "low": 0.5, "high": 0.5}, "low 0.5 is not below high 0.5", ""},
		{map[string]any{"method": "none", "k": 1}, `unknown key "k" for method none`, "method none takes no other key"},
		// References: accepted as written, the literal rest still checked.
		{"${{ params.clip }}", "", ""},
		{map[string]any{"method": "${{ params.method }}", "k": -5}, "", ""},
		{map[string]any{"method": "quantile", "low": "${{ params.low }}", "high": 0.99}, "", ""},
		{map[string]any{"method": "quantile", "low": "${{ params.low }}", "high": 1.5}, "high 1.5: want a quantile in [0, 1]", ""},
	}
	for _, c := range cases {
		errs := train.New().ValidateParams(map[string]any{"model": "ridge", "label": "y", "clip_outliers": c.v})
		if c.msg == "" {
			if len(errs) != 0 {
				t.Errorf("%v: refused: %v", c.v, errs)
			}
			continue
		}
		if len(errs) != 1 || errs[0].Key != "clip_outliers" || !strings.Contains(errs[0].Msg, c.msg) || !strings.Contains(errs[0].Hint, c.hint) {
			t.Errorf("%v: got %v, want one clip_outliers error %q (hint %q)", c.v, errs, c.msg, c.hint)
		}
	}
}

// TestClipOutliersByReference: a reference passes validation; the value
// it resolves to is checked by Run, and a bad one fails permanently.
func TestClipOutliersByReference(t *testing.T) {
	a := runTrain(t, map[string]any{"model": "ridge", "label": "y", "clip_outliers": "zscore"}, clipCSV)
	if a.Err == nil || cairn.IsRetryable(a.Err) || !strings.Contains(a.Err.Error(), `clip_outliers: unknown method "zscore"`) {
		t.Fatalf("resolved to zscore: %v", a.Err)
	}
	a = runTrain(t, map[string]any{"model": "ridge", "label": "y", "clip_outliers": map[string]any{"method": "quantile", "low": 0.3, "high": 0.2}}, clipCSV)
	if a.Err == nil || cairn.IsRetryable(a.Err) || !strings.Contains(a.Err.Error(), "low 0.3 is not below high 0.2") {
		t.Fatalf("resolved to reversed quantiles: %v", a.Err)
	}
	// Resolved as the engine passes it: JSON with exact numbers.
	a = runTrain(t, map[string]any{"model": "ridge", "label": "y", "impute_numeric": "median", "clip_outliers": json.RawMessage(`{"method":"quantile","low":0.1,"high":0.9}`)}, clipCSV)
	if a.Err != nil {
		t.Fatal(a.Err)
	}
	m, _ := loadModel(t, a)
	// numpy: the 0.1 and 0.9 quantiles of -20 2 3 4 5 5 6 7 8 100.
	if b := m.Preprocess.Features[0].Clip; b == nil || b.Low != -0.1999999999999993 || b.High != 17.199999999999967 {
		t.Errorf("bounds %+v", b)
	}
}

// TestClipOutliersModelBytes: clipping changes the model and its bytes;
// without clip_outliers (or with none) the model has no clipping fields,
// and the same params give the same bytes.
func TestClipOutliersModelBytes(t *testing.T) {
	digest := func(clip any) (string, []byte) {
		params := map[string]any{"model": "ridge", "label": "y", "impute_numeric": "median"}
		if clip != nil {
			params["clip_outliers"] = clip
		}
		a := runTrain(t, params, clipCSV)
		if a.Err != nil {
			t.Fatal(a.Err)
		}
		_, ref := loadModel(t, a)
		rc, err := a.Env.Artifacts.Open(context.Background(), ref)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		var b strings.Builder
		if _, err := io.Copy(&b, rc); err != nil {
			t.Fatal(err)
		}
		return ref.Digest, []byte(b.String())
	}
	plain, plainBytes := digest(nil)
	if none, _ := digest("none"); none != plain {
		t.Errorf("clip_outliers: none gives other bytes than no clip_outliers")
	}
	if strings.Contains(string(plainBytes), `"clip"`) {
		t.Errorf("an unclipped model holds clipping fields: %s", plainBytes)
	}
	clipped, clippedBytes := digest("iqr")
	if again, _ := digest("iqr"); again != clipped {
		t.Errorf("two clipped runs: %s and %s", clipped, again)
	}
	if clipped == plain || !strings.Contains(string(clippedBytes), `"clip":{"low":-2,"high":12}`) {
		t.Errorf("clipped model:\n%s", clippedBytes)
	}
}

// A training set damaged on disk fails the attempt naming its digest, not
// as a CSV that does not parse (the damage breaks a line before the end
// of the bytes, where the store finds it).
func TestCorruptInput(t *testing.T) {
	tasktest.CorruptInput(t, train.New(), tasktest.Case{
		Params: map[string]any{"model": "logistic_regression", "label": "malignant"},
		Inputs: in(breastCancer(t)),
	}, "train")
}
