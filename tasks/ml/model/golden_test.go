package model_test

import (
	"encoding/json"
	"math"
	"os"
	"testing"

	"github.com/cairnml/cairn/tasks/ml/dataset"
	"github.com/cairnml/cairn/tasks/ml/features"
	"github.com/cairnml/cairn/tasks/ml/model"
)

// The reference is scikit-learn (testdata/gen_golden.py): whole pipelines
// fitted on the same rows, their test predictions compared here.
const (
	// probaTol bounds |p - p_ref| / max(p_ref, 1e-3) for logistic
	// probabilities, fitted to the optimum (ftol 0) like the reference:
	// tighter than issue 3's 1e-4 relative (about 1e-8 is observed).
	probaTol = 1e-6
	// valueTol bounds the relative difference of OLS and ridge predictions
	// (issue 3: 1e-6).
	valueTol = 1e-6
)

type goldenCase struct {
	Name          string         `json:"name"`
	File          string         `json:"file"`
	TrainFile     string         `json:"train_file"`
	TestFile      string         `json:"test_file"`
	Split         string         `json:"split"`
	Label         string         `json:"label"`
	Algorithm     string         `json:"algorithm"`
	Hyperparams   map[string]any `json:"hyperparams"`
	Standardize   bool           `json:"standardize"`
	NumericImpute string         `json:"numeric_impute"`
	Classes       []string       `json:"classes"`
	Proba         [][]float64    `json:"proba"`
	Class         []int          `json:"class"`
	Value         []float64      `json:"value"`
}

// treeSplits are the fixed train/test rows of ../tree/testdata/golden.json.
type treeSplits struct {
	Classification []treeCase `json:"classification"`
	Regression     []treeCase `json:"regression"`
}

type treeCase struct {
	Name           string    `json:"name"`
	File           string    `json:"file"`
	Label          string    `json:"label"`
	TrainIdx       []int     `json:"train_idx"`
	TestIdx        []int     `json:"test_idx"`
	TreeSweep      []float64 `json:"tree_accuracy_sweep"`
	ForestSweep    []float64 `json:"forest_accuracy_sweep"`
	ForestAccuracy float64   `json:"forest_accuracy"`
	TreeAccuracy   float64   `json:"tree_accuracy"`
	TreeMaxDepth   int       `json:"tree_max_depth"`
	TreeR2         float64   `json:"tree_r2"`
	ForestR2       float64   `json:"forest_r2"`
}

func readJSON(t testing.TB, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func readFrame(t testing.TB, path string) *dataset.Frame {
	t.Helper()
	r, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	f, err := dataset.ReadCSV(r, dataset.ReadOptions{})
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return f
}

func splits(t testing.TB) map[string]treeCase {
	t.Helper()
	var s treeSplits
	readJSON(t, "../tree/testdata/golden.json", &s)
	out := map[string]treeCase{}
	for _, c := range append(s.Classification, s.Regression...) {
		out[c.Name] = c
	}
	return out
}

// trainTest returns the named data set's fixed train and test frames.
func trainTest(t testing.TB, name string) (train, test *dataset.Frame, tc treeCase) {
	t.Helper()
	tc, ok := splits(t)[name]
	if !ok {
		t.Fatalf("no split %q", name)
	}
	f := readFrame(t, "../tree/testdata/"+tc.File)
	return f.Select(tc.TrainIdx), f.Select(tc.TestIdx), tc
}

func TestGoldenPipelines(t *testing.T) {
	var g struct {
		Cases []goldenCase `json:"cases"`
	}
	readJSON(t, "testdata/golden.json", &g)
	if len(g.Cases) < 6 {
		t.Fatalf("golden.json has %d cases", len(g.Cases))
	}
	for _, c := range g.Cases {
		t.Run(c.Name, func(t *testing.T) {
			var train, test *dataset.Frame
			if c.Split != "" {
				train, test, _ = trainTest(t, c.Split)
			} else {
				train, test = readFrame(t, "testdata/"+c.TrainFile), readFrame(t, "testdata/"+c.TestFile)
			}
			spec := model.Spec{Preprocess: features.Spec{Label: c.Label, Standardize: c.Standardize}, Algorithm: c.Algorithm, Hyperparams: c.Hyperparams}
			if c.NumericImpute != "" {
				spec.Preprocess.DefaultNumericImpute = features.Imputer{Strategy: c.NumericImpute}
			}
			if c.Algorithm == model.LogisticRegression {
				// Converge like the reference (newton-cg, tol 1e-8).
				spec.Hyperparams["tol"] = 1e-8
				spec.Hyperparams["ftol"] = 0
				spec.Hyperparams["max_iter"] = 10000
			}
			m, err := model.Fit(train, spec)
			if err != nil {
				t.Fatal(err)
			}
			pred, err := m.Predict(test)
			if err != nil {
				t.Fatal(err)
			}
			if c.Value != nil {
				if len(pred.Value) != len(c.Value) {
					t.Fatalf("%d predictions, want %d", len(pred.Value), len(c.Value))
				}
				worst := 0.0
				for i, want := range c.Value {
					worst = math.Max(worst, math.Abs(pred.Value[i]-want)/math.Max(math.Abs(want), 1))
				}
				if worst > valueTol {
					t.Errorf("predictions differ from scikit-learn's by %.3g relative, want <= %g", worst, valueTol)
				}
				t.Logf("worst relative difference %.3g", worst)
				return
			}
			if !equalStrings(m.Classes, c.Classes) {
				t.Fatalf("classes %v, want %v", m.Classes, c.Classes)
			}
			worst := 0.0
			for i, row := range c.Proba {
				sum := 0.0
				for k, want := range row {
					got := pred.Proba[i][k]
					sum += got
					worst = math.Max(worst, math.Abs(got-want)/math.Max(want, 1e-3))
				}
				if math.Abs(sum-1) > 1e-12 {
					t.Errorf("row %d: probabilities sum to %v", i, sum)
				}
				if pred.Class[i] != c.Class[i] {
					t.Errorf("row %d: class %d, scikit-learn %d (proba %v vs %v)", i, pred.Class[i], c.Class[i], pred.Proba[i], row)
				}
			}
			if worst > probaTol {
				t.Errorf("probabilities differ from scikit-learn's by %.3g relative, want <= %g", worst, probaTol)
			}
			t.Logf("worst relative difference %.3g", worst)
		})
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestTreeAccuracy fits trees and forests through the whole pipeline on
// the tree package's fixed splits: issue 3 wants accuracy within 3 points
// of scikit-learn's (here: of its mean over random_state 0..9, or within
// one test row of its random_state=0 figure, as ../tree does).
func TestTreeAccuracy(t *testing.T) {
	var s treeSplits
	readJSON(t, "../tree/testdata/golden.json", &s)
	mean := func(v []float64) float64 {
		sum := 0.0
		for _, x := range v {
			sum += x
		}
		return sum / float64(len(v))
	}
	for _, tc := range s.Classification {
		for _, algo := range []string{model.DecisionTree, model.RandomForest} {
			t.Run(tc.Name+"/"+algo, func(t *testing.T) {
				train, test, _ := trainTest(t, tc.Name)
				m, err := model.Fit(train, model.Spec{Preprocess: features.NewSpec(tc.Label), Algorithm: algo})
				if err != nil {
					t.Fatal(err)
				}
				acc, err := m.Score("accuracy", test)
				if err != nil {
					t.Fatal(err)
				}
				ref, sweep := tc.TreeAccuracy, tc.TreeSweep
				if algo == model.RandomForest {
					ref, sweep = tc.ForestAccuracy, tc.ForestSweep
				}
				row := 1 / float64(len(tc.TestIdx))
				if math.Abs(acc-mean(sweep)) > 0.03 && math.Abs(acc-ref) > math.Max(0.03, row)+1e-12 {
					t.Errorf("accuracy %.4f, scikit-learn %.4f (mean over seeds %.4f)", acc, ref, mean(sweep))
				}
				t.Logf("accuracy %.4f, scikit-learn %.4f", acc, ref)
			})
		}
	}
	for _, tc := range s.Regression {
		t.Run(tc.Name+"/forest", func(t *testing.T) {
			train, test, _ := trainTest(t, tc.Name)
			m, err := model.Fit(train, model.Spec{Preprocess: features.NewSpec(tc.Label), Algorithm: model.RandomForest})
			if err != nil {
				t.Fatal(err)
			}
			if m.Kind != model.Regression {
				t.Fatalf("kind %s for %s", m.Kind, tc.Label)
			}
			r2, err := m.Score("r2", test)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(r2-tc.ForestR2) > 0.05 {
				t.Errorf("R² %.4f, scikit-learn %.4f", r2, tc.ForestR2)
			}
		})
	}
}
