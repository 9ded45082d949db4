package tree

import (
	"encoding/csv"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
)

// accuracyTolerance is issue 3's bound: tree and forest test accuracy within
// 3 percentage points of scikit-learn's on the same split. It is applied to
// means over the seed sweep (scikit-learn random_state 0..9; for the Go
// forest Seed 0..9; the Go tree has no randomness), because on a 30-row test
// set (iris) one row is 3.3 points and scikit-learn's own accuracy moves by
// a row between random_states. The single random_state=0 figures are
// compared too, within max(3 points, one test row).
const accuracyTolerance = 0.03

// r2Tolerance bounds the regression forest's test R² against scikit-learn's
// (not in the issue; a sanity bound).
const r2Tolerance = 0.05

type goldenFile struct {
	SklearnVersion string   `json:"sklearn_version"`
	NumpyVersion   string   `json:"numpy_version"`
	SweepSeeds     []uint64 `json:"sweep_seeds"`
	Classification []struct {
		Name           string    `json:"name"`
		File           string    `json:"file"`
		Label          string    `json:"label"`
		Classes        []string  `json:"classes"`
		TrainIdx       []int     `json:"train_idx"`
		TestIdx        []int     `json:"test_idx"`
		TreeAccuracy   float64   `json:"tree_accuracy"`
		TreeDepth      int       `json:"tree_depth"`
		TreeLeaves     int       `json:"tree_leaves"`
		ForestAccuracy float64   `json:"forest_accuracy"`
		TreeSweep      []float64 `json:"tree_accuracy_sweep"`
		ForestSweep    []float64 `json:"forest_accuracy_sweep"`
	} `json:"classification"`
	Regression []struct {
		Name         string  `json:"name"`
		File         string  `json:"file"`
		Label        string  `json:"label"`
		TrainIdx     []int   `json:"train_idx"`
		TestIdx      []int   `json:"test_idx"`
		TreeMaxDepth int     `json:"tree_max_depth"`
		TreeR2       float64 `json:"tree_r2"`
		ForestR2     float64 `json:"forest_r2"`
	} `json:"regression"`
}

func loadGolden(t testing.TB) goldenFile {
	t.Helper()
	b, err := os.ReadFile("testdata/golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var g goldenFile
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	if len(g.Classification) == 0 || len(g.Regression) == 0 {
		t.Fatal("golden.json has an empty section")
	}
	return g
}

// loadCSV reads a testdata CSV: a header, numeric features, the label last.
func loadCSV(t testing.TB, name, label string) (X [][]float64, labels []string) {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if h := rows[0]; h[len(h)-1] != label {
		t.Fatalf("%s: last column %q, want %q", name, h[len(h)-1], label)
	}
	for i, r := range rows[1:] {
		x := make([]float64, len(r)-1)
		for j := range x {
			if x[j], err = strconv.ParseFloat(r[j], 64); err != nil {
				t.Fatalf("%s line %d: %v", name, i+2, err)
			}
		}
		X = append(X, x)
		labels = append(labels, r[len(r)-1])
	}
	return X, labels
}

func pick[T any](v []T, idx []int) []T {
	out := make([]T, len(idx))
	for i, j := range idx {
		out[i] = v[j]
	}
	return out
}

func accuracy(y, p []int) float64 {
	ok := 0
	for i := range y {
		if y[i] == p[i] {
			ok++
		}
	}
	return float64(ok) / float64(len(y))
}

func r2(y, p []float64) float64 {
	mean := 0.0
	for _, v := range y {
		mean += v
	}
	mean /= float64(len(y))
	var ssr, sst float64
	for i := range y {
		ssr += (y[i] - p[i]) * (y[i] - p[i])
		sst += (y[i] - mean) * (y[i] - mean)
	}
	return 1 - ssr/sst
}

func TestGoldenClassification(t *testing.T) {
	g := loadGolden(t)
	t.Logf("reference: scikit-learn %s, numpy %s", g.SklearnVersion, g.NumpyVersion)
	for _, c := range g.Classification {
		t.Run(c.Name, func(t *testing.T) {
			X, labels := loadCSV(t, c.File, c.Label)
			y := make([]int, len(labels))
			for i, l := range labels {
				if y[i] = slices.Index(c.Classes, l); y[i] < 0 {
					t.Fatalf("label %q not in %v", l, c.Classes)
				}
			}
			Xtr, ytr := pick(X, c.TrainIdx), pick(y, c.TrainIdx)
			Xte, yte := pick(X, c.TestIdx), pick(y, c.TestIdx)

			tr, err := FitClassifier(Xtr, ytr, Params{})
			if err != nil {
				t.Fatal(err)
			}
			pred, err := tr.Predict(Xte)
			if err != nil {
				t.Fatal(err)
			}
			acc := accuracy(yte, pred)
			oneRow := math.Max(accuracyTolerance, 1/float64(len(yte)))
			t.Logf("%s tree:   Go %.4f  sklearn %.4f (random_state 0), mean %.4f (0..9)  depth %d/%d, leaves %d/%d",
				c.Name, acc, c.TreeAccuracy, mean(c.TreeSweep), tr.Depth(), c.TreeDepth, tr.Leaves(), c.TreeLeaves)
			if d := math.Abs(acc - mean(c.TreeSweep)); d > accuracyTolerance+1e-12 {
				t.Errorf("tree accuracy %.4f, sklearn mean %.4f: %.1f points apart", acc, mean(c.TreeSweep), 100*d)
			}
			if d := math.Abs(acc - c.TreeAccuracy); d > oneRow+1e-12 {
				t.Errorf("tree accuracy %.4f, sklearn %.4f: %.1f points apart", acc, c.TreeAccuracy, 100*d)
			}

			var accs []float64
			for _, seed := range g.SweepSeeds {
				fo, err := FitForestClassifier(Xtr, ytr, ForestParams{NEstimators: 100, Seed: seed})
				if err != nil {
					t.Fatal(err)
				}
				pred, err := fo.Predict(Xte)
				if err != nil {
					t.Fatal(err)
				}
				accs = append(accs, accuracy(yte, pred))
			}
			t.Logf("%s forest: Go %.4f  sklearn %.4f (seed 0), mean Go %.4f  sklearn %.4f (seeds 0..9)",
				c.Name, accs[0], c.ForestAccuracy, mean(accs), mean(c.ForestSweep))
			if d := math.Abs(mean(accs) - mean(c.ForestSweep)); d > accuracyTolerance+1e-12 {
				t.Errorf("forest mean accuracy %.4f, sklearn %.4f: %.1f points apart", mean(accs), mean(c.ForestSweep), 100*d)
			}
			if d := math.Abs(accs[0] - c.ForestAccuracy); d > oneRow+1e-12 {
				t.Errorf("forest accuracy %.4f, sklearn %.4f: %.1f points apart", accs[0], c.ForestAccuracy, 100*d)
			}
		})
	}
}

func mean(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

func TestGoldenRegression(t *testing.T) {
	g := loadGolden(t)
	for _, c := range g.Regression {
		t.Run(c.Name, func(t *testing.T) {
			X, labels := loadCSV(t, c.File, c.Label)
			y := make([]float64, len(labels))
			for i, l := range labels {
				var err error
				if y[i], err = strconv.ParseFloat(l, 64); err != nil {
					t.Fatal(err)
				}
			}
			Xtr, ytr := pick(X, c.TrainIdx), pick(y, c.TrainIdx)
			Xte, yte := pick(X, c.TestIdx), pick(y, c.TestIdx)

			tr, err := FitRegressor(Xtr, ytr, Params{MaxDepth: c.TreeMaxDepth})
			if err != nil {
				t.Fatal(err)
			}
			pred, err := tr.PredictValue(Xte)
			if err != nil {
				t.Fatal(err)
			}
			got := r2(yte, pred)
			t.Logf("%s tree (max_depth %d): R² Go %.4f  sklearn %.4f", c.Name, c.TreeMaxDepth, got, c.TreeR2)
			if math.Abs(got-c.TreeR2) > r2Tolerance {
				t.Errorf("tree R² %.4f, sklearn %.4f", got, c.TreeR2)
			}

			fo, err := FitForestRegressor(Xtr, ytr, ForestParams{NEstimators: 100})
			if err != nil {
				t.Fatal(err)
			}
			pred, err = fo.PredictValue(Xte)
			if err != nil {
				t.Fatal(err)
			}
			got = r2(yte, pred)
			t.Logf("%s forest: R² Go %.4f  sklearn %.4f", c.Name, got, c.ForestR2)
			if math.Abs(got-c.ForestR2) > r2Tolerance {
				t.Errorf("forest R² %.4f, sklearn %.4f", got, c.ForestR2)
			}
		})
	}
}
