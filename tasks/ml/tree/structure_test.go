package tree

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"runtime"
	"slices"
	"testing"
)

func TestStructureOneFeature(t *testing.T) {
	// Classes switch between x=2 and x=3: one split at the midpoint 2.5.
	X := [][]float64{{1}, {2}, {3}, {4}, {2}, {4}}
	y := []int{0, 0, 1, 1, 0, 1}
	tr, err := FitClassifier(X, y, Params{})
	if err != nil {
		t.Fatal(err)
	}
	want := []Node{
		{Feature: 0, Threshold: 2.5, Left: 1, Right: 2, Value: []float64{0.5, 0.5}, Samples: 6, Weight: 6, Impurity: 0.5},
		{Feature: -1, Left: -1, Right: -1, Value: []float64{1, 0}, Samples: 3, Weight: 3, Impurity: 0},
		{Feature: -1, Left: -1, Right: -1, Value: []float64{0, 1}, Samples: 3, Weight: 3, Impurity: 0},
	}
	if !nodesEqual(tr.Nodes, want) {
		t.Fatalf("nodes\n%+v\nwant\n%+v", tr.Nodes, want)
	}
}

func TestStructureTwoLevels(t *testing.T) {
	// Feature 1 separates class 2 (x1 > 5); then feature 0 separates 0 and 1
	// at 1.5. Feature 0 alone cannot isolate anything as well at the root.
	X := [][]float64{{1, 0}, {1, 1}, {2, 0}, {2, 1}, {1, 9}, {2, 9}, {1, 8}, {2, 8}}
	y := []int{0, 0, 1, 1, 2, 2, 2, 2}
	tr, err := FitClassifier(X, y, Params{})
	if err != nil {
		t.Fatal(err)
	}
	type shape struct {
		f           int
		thr         float64
		left, right int
	}
	var got []shape
	for _, n := range tr.Nodes {
		got = append(got, shape{n.Feature, n.Threshold, n.Left, n.Right})
	}
	want := []shape{{1, 4.5, 1, 4}, {0, 1.5, 2, 3}, {-1, 0, -1, -1}, {-1, 0, -1, -1}, {-1, 0, -1, -1}}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if p, _ := tr.Predict([][]float64{{1, 3}, {2, 4}, {1.4, 7}}); !slices.Equal(p, []int{0, 1, 2}) {
		t.Fatalf("predictions %v", p)
	}
}

func TestTieBreakLowestFeature(t *testing.T) {
	// Features 0 and 1 are identical: the split must use feature 0. Within a
	// feature, equal gains keep the smaller threshold.
	X := [][]float64{{1, 1}, {2, 2}, {3, 3}, {4, 4}}
	y := []int{0, 1, 1, 0}
	tr, err := FitClassifier(X, y, Params{MaxDepth: 1})
	if err != nil {
		t.Fatal(err)
	}
	if n := tr.Nodes[0]; n.Feature != 0 || n.Threshold != 1.5 {
		t.Fatalf("root splits feature %d at %v, want 0 at 1.5", n.Feature, n.Threshold)
	}
}

func TestRegressionStructure(t *testing.T) {
	X := [][]float64{{1}, {2}, {3}, {10}, {11}, {12}}
	y := []float64{1, 1, 1, 5, 5, 6}
	tr, err := FitRegressor(X, y, Params{MaxDepth: 1})
	if err != nil {
		t.Fatal(err)
	}
	root := tr.Nodes[0]
	if root.Feature != 0 || root.Threshold != 6.5 {
		t.Fatalf("root %+v", root)
	}
	if l, r := tr.Nodes[root.Left].Value[0], tr.Nodes[root.Right].Value[0]; l != 1 || r != 16.0/3 {
		t.Fatalf("leaf means %v %v", l, r)
	}
	p, err := tr.PredictValue([][]float64{{0}, {100}})
	if err != nil || p[0] != 1 || p[1] != 16.0/3 {
		t.Fatal(p, err)
	}
}

func TestClassWeights(t *testing.T) {
	// One leaf (max_depth 1 is never reached: MinSamplesSplit 10), 3:1 data.
	X := [][]float64{{1}, {2}, {3}, {4}}
	y := []int{0, 0, 0, 1}
	for _, c := range []struct {
		cw   ClassWeight
		want []float64
	}{
		{ClassWeight{}, []float64{0.75, 0.25}},
		{ClassWeight{Balanced: true}, []float64{0.5, 0.5}},
		{ClassWeight{Weights: []float64{1, 6}}, []float64{1.0 / 3, 2.0 / 3}},
	} {
		tr, err := FitClassifier(X, y, Params{MinSamplesSplit: 10, ClassWeight: c.cw})
		if err != nil {
			t.Fatal(err)
		}
		p, _ := tr.PredictProba([][]float64{{0}})
		if math.Abs(p[0][0]-c.want[0]) > 1e-15 || math.Abs(p[0][1]-c.want[1]) > 1e-15 {
			t.Errorf("%+v: proba %v, want %v", c.cw, p[0], c.want)
		}
	}
	// Class weights decide the prediction of a mixed leaf.
	tr, _ := FitClassifier(X, y, Params{MinSamplesSplit: 10, ClassWeight: ClassWeight{Weights: []float64{1, 4}}})
	if p, _ := tr.Predict([][]float64{{0}}); p[0] != 1 {
		t.Errorf("weighted prediction %d, want 1", p[0])
	}
}

func TestMinSamplesLeaf(t *testing.T) {
	// The best split (after row 0) would leave one sample on the left.
	X := [][]float64{{1}, {2}, {3}, {4}, {5}}
	y := []int{1, 0, 0, 0, 0}
	tr, err := FitClassifier(X, y, Params{MinSamplesLeaf: 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range tr.Nodes {
		if n.Samples < 2 {
			t.Fatalf("leaf with %d samples: %+v", n.Samples, tr.Nodes)
		}
	}
}

func fitJSON(t *testing.T, X [][]float64, y []int, fp ForestParams) []byte {
	t.Helper()
	f, err := FitForestClassifier(X, y, fp)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestForestDeterministicJSON(t *testing.T) {
	g := loadGolden(t)
	c := g.Classification[2] // breast cancer
	X, labels := loadCSV(t, c.File, c.Label)
	y := make([]int, len(labels))
	for i, l := range labels {
		y[i] = slices.Index(c.Classes, l)
	}
	X, y = pick(X, c.TrainIdx), pick(y, c.TrainIdx)
	fp := ForestParams{NEstimators: 30, Seed: 7}
	ref := fitJSON(t, X, y, ForestParams{NEstimators: 30, Seed: 7, Workers: 1})
	for _, w := range []int{0, 2, 3, 8} {
		fp.Workers = w
		if b := fitJSON(t, X, y, fp); !bytes.Equal(b, ref) {
			t.Fatalf("workers %d: JSON differs from the sequential fit", w)
		}
	}
	old := runtime.GOMAXPROCS(1)
	b := fitJSON(t, X, y, ForestParams{NEstimators: 30, Seed: 7})
	runtime.GOMAXPROCS(old)
	if !bytes.Equal(b, ref) {
		t.Fatal("GOMAXPROCS 1: JSON differs")
	}
	if b := fitJSON(t, X, y, ForestParams{NEstimators: 30, Seed: 8}); bytes.Equal(b, ref) {
		t.Fatal("seed 8 gives the same forest as seed 7")
	}
	// A round trip through JSON predicts identically.
	var f Forest
	if err := json.Unmarshal(ref, &f); err != nil {
		t.Fatal(err)
	}
	orig, _ := FitForestClassifier(X, y, ForestParams{NEstimators: 30, Seed: 7})
	p1, _ := orig.PredictProba(X)
	p2, err := f.PredictProba(X)
	if err != nil || !slices.EqualFunc(p1, p2, slices.Equal) {
		t.Fatal("decoded forest predicts differently", err)
	}
	if again, _ := json.Marshal(&f); !bytes.Equal(again, ref) {
		t.Fatal("re-encoding differs")
	}
	t.Logf("forest JSON: %d bytes, identical for workers 0,1,2,3,8 and GOMAXPROCS 1", len(ref))
}

func TestTreeDeterministicJSON(t *testing.T) {
	X, y := randomClassification(3, 200, 5, 3)
	var prev []byte
	for range 3 {
		tr, err := FitClassifier(X, y, Params{MaxFeatures: MaxFeatures{Rule: "sqrt"}, Seed: 5})
		if err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(tr)
		if err != nil {
			t.Fatal(err)
		}
		if prev != nil && !bytes.Equal(b, prev) {
			t.Fatal("two fits with the same seed differ")
		}
		prev = b
	}
}

func TestErrors(t *testing.T) {
	X := [][]float64{{1, 2}, {3, 4}, {5, 6}}
	y := []int{0, 1, 0}
	yr := []float64{1, 2, 3}
	for _, c := range []struct {
		name string
		err  error
		fn   func() error
	}{
		{"empty", ErrEmpty, func() error { _, e := FitClassifier(nil, nil, Params{}); return e }},
		{"no features", ErrEmpty, func() error { _, e := FitRegressor([][]float64{{}, {}}, []float64{1, 2}, Params{}); return e }},
		{"ragged", ErrShape, func() error { _, e := FitClassifier([][]float64{{1, 2}, {3}}, []int{0, 1}, Params{}); return e }},
		{"labels", ErrShape, func() error { _, e := FitClassifier(X, []int{0, 1}, Params{}); return e }},
		{"targets", ErrShape, func() error { _, e := FitForestRegressor(X, yr[:1], ForestParams{}); return e }},
		{"nan", ErrNonFinite, func() error {
			_, e := FitClassifier([][]float64{{1}, {math.NaN()}}, []int{0, 1}, Params{})
			return e
		}},
		{"inf", ErrNonFinite, func() error {
			_, e := FitForestClassifier([][]float64{{1}, {math.Inf(-1)}}, []int{0, 1}, ForestParams{})
			return e
		}},
		{"nan target", ErrNonFinite, func() error { _, e := FitRegressor(X, []float64{1, math.NaN(), 2}, Params{}); return e }},
		{"one class", ErrOneClass, func() error { _, e := FitClassifier(X, []int{2, 2, 2}, Params{}); return e }},
		{"one class forest", ErrOneClass, func() error { _, e := FitForestClassifier(X, []int{0, 0, 0}, ForestParams{}); return e }},
		{"negative label", ErrLabel, func() error { _, e := FitClassifier(X, []int{0, -1, 1}, Params{}); return e }},
		{"max depth", ErrParam, func() error { _, e := FitClassifier(X, y, Params{MaxDepth: -1}); return e }},
		{"min split", ErrParam, func() error { _, e := FitClassifier(X, y, Params{MinSamplesSplit: -1}); return e }},
		{"min leaf", ErrParam, func() error { _, e := FitRegressor(X, yr, Params{MinSamplesLeaf: -2}); return e }},
		{"n estimators", ErrParam, func() error { _, e := FitForestClassifier(X, y, ForestParams{NEstimators: -1}); return e }},
		{"workers", ErrParam, func() error { _, e := FitForestClassifier(X, y, ForestParams{Workers: -1}); return e }},
		{"criterion", ErrParam, func() error { _, e := FitRegressor(X, yr, Params{Criterion: Gini}); return e }},
		{"criterion name", ErrParam, func() error { _, e := FitClassifier(X, y, Params{Criterion: "log_loss"}); return e }},
		{"max features rule", ErrParam, func() error {
			_, e := FitClassifier(X, y, Params{MaxFeatures: MaxFeatures{Rule: "half"}})
			return e
		}},
		{"max features count", ErrParam, func() error {
			_, e := FitClassifier(X, y, Params{MaxFeatures: MaxFeatures{Count: 3}})
			return e
		}},
		{"max features fraction", ErrParam, func() error {
			_, e := FitClassifier(X, y, Params{MaxFeatures: MaxFeatures{Fraction: 1.5}})
			return e
		}},
		{"max features both", ErrParam, func() error {
			_, e := FitClassifier(X, y, Params{MaxFeatures: MaxFeatures{Rule: "sqrt", Count: 1}})
			return e
		}},
		{"class weight count", ErrParam, func() error {
			_, e := FitClassifier(X, y, Params{ClassWeight: ClassWeight{Weights: []float64{1}}})
			return e
		}},
		{"class weight zero", ErrParam, func() error {
			_, e := FitClassifier(X, y, Params{ClassWeight: ClassWeight{Weights: []float64{1, 0}}})
			return e
		}},
		{"class weight both", ErrParam, func() error {
			_, e := FitClassifier(X, y, Params{ClassWeight: ClassWeight{Balanced: true, Weights: []float64{1, 1}}})
			return e
		}},
		{"class weight regression", ErrParam, func() error {
			_, e := FitRegressor(X, yr, Params{ClassWeight: ClassWeight{Balanced: true}})
			return e
		}},
	} {
		err := c.fn()
		if !errors.Is(err, c.err) {
			t.Errorf("%s: error %v, want %v", c.name, err, c.err)
		}
	}
	if _, err := FitClassifier(X, []int{1, 1, 1}, Params{}); err == nil || !bytes.Contains([]byte(err.Error()), []byte("only one class")) {
		t.Errorf("one class message: %v", err)
	}

	tr, _ := FitClassifier(X, y, Params{})
	rt, _ := FitRegressor(X, yr, Params{})
	fo, _ := FitForestClassifier(X, y, ForestParams{NEstimators: 2})
	for _, c := range []struct {
		name string
		err  error
		fn   func() error
	}{
		{"tree width", ErrShape, func() error { _, e := tr.Predict([][]float64{{1}}); return e }},
		{"tree nan", ErrNonFinite, func() error { _, e := tr.PredictProba([][]float64{{1, math.NaN()}}); return e }},
		{"tree empty", ErrEmpty, func() error { _, e := rt.PredictValue(nil); return e }},
		{"tree task", ErrTask, func() error { _, e := tr.PredictValue(X); return e }},
		{"regressor task", ErrTask, func() error { _, e := rt.Predict(X); return e }},
		{"forest task", ErrTask, func() error { _, e := fo.PredictValue(X); return e }},
		{"forest width", ErrShape, func() error { _, e := fo.Predict([][]float64{{1, 2, 3}}); return e }},
	} {
		if err := c.fn(); !errors.Is(err, c.err) {
			t.Errorf("%s: error %v, want %v", c.name, err, c.err)
		}
	}
}

func nodesEqual(a, b []Node) bool {
	return slices.EqualFunc(a, b, func(x, y Node) bool {
		return x.Feature == y.Feature && x.Threshold == y.Threshold && x.Left == y.Left && x.Right == y.Right &&
			slices.Equal(x.Value, y.Value) && x.Samples == y.Samples && x.Weight == y.Weight &&
			math.Abs(x.Impurity-y.Impurity) < 1e-15
	})
}
