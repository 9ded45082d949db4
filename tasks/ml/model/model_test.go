package model_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/cairnml/cairn/tasks/ml/dataset"
	"github.com/cairnml/cairn/tasks/ml/features"
	"github.com/cairnml/cairn/tasks/ml/model"
)

func encode(t testing.TB, m *model.Model) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := m.Encode(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func csvFrame(t testing.TB, s string) *dataset.Frame {
	t.Helper()
	f, err := dataset.ReadCSV(strings.NewReader(s), dataset.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func mixed(t testing.TB) (train, test *dataset.Frame) {
	return readFrame(t, "testdata/mixed_train.csv"), readFrame(t, "testdata/mixed_test.csv")
}

// every algorithm on a fitting data set.
func allSpecs() []struct {
	name, data string
	spec       model.Spec
} {
	return []struct {
		name, data string
		spec       model.Spec
	}{
		{"ols", "diabetes", model.Spec{Preprocess: features.NewSpec("progression"), Algorithm: model.LinearRegression}},
		{"ridge", "diabetes", model.Spec{Preprocess: features.NewSpec("progression"), Algorithm: model.Ridge, Hyperparams: map[string]any{"alpha": 3}}},
		{"logistic", "breast_cancer", model.Spec{Preprocess: features.NewSpec("malignant"), Algorithm: model.LogisticRegression, ClassWeight: model.ClassWeight{Balanced: true}}},
		{"logistic-multi", "iris", model.Spec{Preprocess: features.NewSpec("species"), Algorithm: model.LogisticRegression, Hyperparams: map[string]any{"l2": 2}}},
		{"tree", "wine", model.Spec{Preprocess: features.NewSpec("cultivar"), Algorithm: model.DecisionTree, Hyperparams: map[string]any{"max_depth": 3, "max_features": "sqrt"}, Seed: 3}},
		{"tree-reg", "diabetes", model.Spec{Preprocess: features.NewSpec("progression"), Algorithm: model.DecisionTree, Hyperparams: map[string]any{"max_depth": 4}}},
		{"forest", "breast_cancer", model.Spec{Preprocess: features.NewSpec("malignant"), Algorithm: model.RandomForest, Hyperparams: map[string]any{"n_estimators": 30}, Seed: 11}},
		{"forest-reg", "diabetes", model.Spec{Preprocess: features.NewSpec("progression"), Algorithm: model.RandomForest, Hyperparams: map[string]any{"n_estimators": 20, "max_features": 0.5}, Seed: 5}},
	}
}

// TestRoundTrip: every algorithm encodes, decodes to an equal model,
// re-encodes to the same bytes and predicts the same.
func TestRoundTrip(t *testing.T) {
	for _, c := range allSpecs() {
		t.Run(c.name, func(t *testing.T) {
			train, test, _ := trainTest(t, c.data)
			m, err := model.Fit(train, c.spec)
			if err != nil {
				t.Fatal(err)
			}
			b := encode(t, m)
			back, err := model.Decode(bytes.NewReader(b))
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if again := encode(t, back); !bytes.Equal(again, b) {
				t.Fatal("decoded model encodes to other bytes")
			}
			if !reflect.DeepEqual(back, m) {
				t.Error("decoded model differs from the fitted one")
			}
			p1, err := m.Predict(test)
			if err != nil {
				t.Fatal(err)
			}
			p2, err := back.Predict(test)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(p1, p2) {
				t.Error("decoded model predicts differently")
			}
			if m.Kind == model.Classification {
				if len(p1.Class) != test.Rows() || len(p1.Proba) != test.Rows() || p1.Value != nil {
					t.Fatalf("prediction shape: %d classes, %d proba, value %v", len(p1.Class), len(p1.Proba), p1.Value != nil)
				}
				for i, row := range p1.Proba {
					sum := 0.0
					for _, p := range row {
						sum += p
					}
					if len(row) != len(m.Classes) || sum < 1-1e-9 || sum > 1+1e-9 {
						t.Fatalf("row %d: proba %v", i, row)
					}
				}
				acc, err := m.Score("accuracy", test)
				if err != nil || acc < 0.85 {
					t.Errorf("test accuracy %v (%v)", acc, err)
				}
			} else {
				if len(p1.Value) != test.Rows() || p1.Class != nil {
					t.Fatalf("prediction shape: %d values", len(p1.Value))
				}
				r2, err := m.Score("r2", test)
				if err != nil || r2 < 0.2 {
					t.Errorf("test R² %v (%v)", r2, err)
				}
			}
		})
	}
}

// TestDeterministic: the same data, spec and seed give the same bytes,
// for a forest whatever the number of workers; another seed gives others.
func TestDeterministic(t *testing.T) {
	train, _, _ := trainTest(t, "breast_cancer")
	sum := func(spec model.Spec) [32]byte {
		m, err := model.Fit(train, spec)
		if err != nil {
			t.Fatal(err)
		}
		return sha256.Sum256(encode(t, m))
	}
	for _, c := range allSpecs() {
		tr, _, _ := trainTest(t, c.data)
		m1, err := model.Fit(tr, c.spec)
		if err != nil {
			t.Fatal(err)
		}
		m2, _ := model.Fit(tr, c.spec)
		if sha256.Sum256(encode(t, m1)) != sha256.Sum256(encode(t, m2)) {
			t.Errorf("%s: two fits give different bytes", c.name)
		}
	}
	forest := model.Spec{Preprocess: features.NewSpec("malignant"), Algorithm: model.RandomForest, Hyperparams: map[string]any{"n_estimators": 40}, Seed: 9}
	forest.Workers = 1
	one := sum(forest)
	for _, w := range []int{2, 3, 8} {
		forest.Workers = w
		if sum(forest) != one {
			t.Errorf("forest with %d workers differs from 1 worker", w)
		}
	}
	forest.Seed = 10
	if sum(forest) == one {
		t.Error("another seed gives the same forest")
	}
}

func TestMixedPipeline(t *testing.T) {
	train, test := mixed(t)
	m, err := model.Fit(train, model.Spec{Preprocess: features.NewSpec("y"), Algorithm: model.LogisticRegression})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"x1", "x2", "color=blue", "color=green", "color=red", "member"}
	if !reflect.DeepEqual(m.Features, want) {
		t.Errorf("features %v, want %v", m.Features, want)
	}
	schema := m.Schema()
	if len(schema) != 5 || schema[2] != (model.Column{Name: "color", Kind: dataset.Categorical}) || schema[4] != (model.Column{Name: "y", Kind: dataset.Categorical}) {
		t.Errorf("schema %v", schema)
	}
	if k := m.SchemaKinds(false); len(k) != 4 || k["member"] != dataset.Boolean {
		t.Errorf("schema kinds %v", k)
	}
	// Without the label, in another column order, with an extra column.
	noLabel := &dataset.Frame{}
	for _, name := range []string{"member", "color", "x2", "x1"} {
		c, _ := test.Col(name)
		noLabel.Columns = append(noLabel.Columns, c)
	}
	noLabel.Columns = append(noLabel.Columns, &dataset.Column{Name: "extra", Kind: dataset.Numeric, Num: make([]float64, test.Rows())})
	p1, err := m.Predict(noLabel)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := m.Predict(test)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(p1, p2) {
		t.Error("column order, the label or an extra column changed the predictions")
	}
	if _, _, err := m.Truth(noLabel); err == nil || !strings.Contains(err.Error(), `"y"`) {
		t.Errorf("Truth without the label: %v", err)
	}
	yc, yv, err := m.Truth(test)
	if err != nil || yv != nil || len(yc) != test.Rows() {
		t.Fatalf("Truth: %v %v %v", len(yc), yv, err)
	}
}

func TestPredictSchemaErrors(t *testing.T) {
	train, test := mixed(t)
	m, err := model.Fit(train, model.Spec{Preprocess: features.NewSpec("y"), Algorithm: model.LogisticRegression})
	if err != nil {
		t.Fatal(err)
	}
	drop := &dataset.Frame{}
	for _, c := range test.Columns {
		if c.Name != "x2" {
			drop.Columns = append(drop.Columns, c)
		}
	}
	_, err = m.Predict(drop)
	if !errors.Is(err, features.ErrSchema) || !strings.Contains(err.Error(), `"x2"`) {
		t.Errorf("missing column: %v", err)
	}
	kind := csvFrame(t, "x1,x2,color,member\n1,abc,red,true\n")
	_, err = m.Predict(kind)
	if !errors.Is(err, features.ErrSchema) || !strings.Contains(err.Error(), `"x2"`) || !strings.Contains(err.Error(), "categorical") {
		t.Errorf("other kind: %v", err)
	}
	unseen := csvFrame(t, "x1,x2,color,member,y\n1,2,red,true,maybe\n")
	if _, _, err := m.Truth(unseen); !errors.Is(err, features.ErrLabel) || !strings.Contains(err.Error(), "maybe") {
		t.Errorf("unseen class: %v", err)
	}
	// Reading with the model's kinds turns a bad value into a line error.
	_, err = dataset.ReadCSV(strings.NewReader("x1,x2,color,member\n1,2,red,true\n1,abc,red,true\n"), dataset.ReadOptions{Schema: m.SchemaKinds(false)})
	var pe *dataset.ParseError
	if !errors.As(err, &pe) || pe.Line != 3 || pe.Column != "x2" {
		t.Errorf("read with the model's kinds: %v", err)
	}
}

func TestFitErrors(t *testing.T) {
	bc, _, _ := trainTest(t, "breast_cancer")
	diabetes, _, _ := trainTest(t, "diabetes")
	spec := func(label, algo string, hp map[string]any) model.Spec {
		return model.Spec{Preprocess: features.NewSpec(label), Algorithm: algo, Hyperparams: hp}
	}
	for _, c := range []struct {
		name     string
		f        *dataset.Frame
		spec     model.Spec
		sentinel error
		parts    []string
	}{
		{"unknown model", bc, spec("malignant", "logistic_regresion", nil), model.ErrAlgorithm, []string{`did you mean "logistic_regression"`}},
		{"unknown hyperparam", bc, spec("malignant", model.LogisticRegression, map[string]any{"c": 1}), model.ErrHyperparam, []string{"c", "did you mean C?"}},
		{"C zero", bc, spec("malignant", model.LogisticRegression, map[string]any{"C": 0}), model.ErrHyperparam, []string{"C", "want > 0"}},
		{"C and l2", bc, spec("malignant", model.LogisticRegression, map[string]any{"C": 1, "l2": 1}), model.ErrHyperparam, []string{"l2 and C"}},
		{"max_depth zero", bc, spec("malignant", model.DecisionTree, map[string]any{"max_depth": 0}), model.ErrHyperparam, []string{"max_depth", ">= 1"}},
		{"max_depth float", bc, spec("malignant", model.DecisionTree, map[string]any{"max_depth": 2.5}), model.ErrHyperparam, []string{"integer"}},
		{"alpha negative", diabetes, spec("progression", model.Ridge, map[string]any{"alpha": -1}), model.ErrHyperparam, []string{"alpha", ">= 0"}},
		{"ols takes none", diabetes, spec("progression", model.LinearRegression, map[string]any{"alpha": 1}), model.ErrHyperparam, []string{"takes no hyperparameters"}},
		{"criterion kind", diabetes, spec("progression", model.DecisionTree, map[string]any{"criterion": "gini"}), model.ErrHyperparam, []string{"gini", "squared_error"}},
		{"missing label", bc, spec("malignnt", model.LogisticRegression, nil), features.ErrLabel, []string{`"malignnt"`}},
		{"empty label", bc, model.Spec{Algorithm: model.LogisticRegression}, model.ErrSpec, []string{"no label"}},
		{"logistic of a continuous target", diabetes, spec("bmi", model.LogisticRegression, nil), model.ErrAlgorithm, []string{"linear_regression or ridge"}},
		{"ridge of categories", readFrame(t, "../tree/testdata/iris.csv"), spec("species", model.Ridge, nil), model.ErrAlgorithm, []string{"categorical"}},
		{"single class", csvFrame(t, "x,y\n1,a\n2,a\n3,a\n"), spec("y", model.LogisticRegression, nil), model.ErrData, []string{"two classes", `"a"`}},
		{"no rows", csvFrame(t, "x,y\n"), spec("y", model.LogisticRegression, nil), model.ErrData, []string{"no rows"}},
		{"class weight of a regression", diabetes, model.Spec{Preprocess: features.NewSpec("progression"), Algorithm: model.Ridge, ClassWeight: model.ClassWeight{Balanced: true}}, model.ErrSpec, []string{"regression"}},
		{"class weight of an unknown class", bc, model.Spec{Preprocess: features.NewSpec("malignant"), Algorithm: model.LogisticRegression, ClassWeight: model.ClassWeight{Weights: map[string]float64{"2": 3}}}, model.ErrSpec, []string{`"2"`, "0, 1"}},
		{"class weight zero", bc, model.Spec{Preprocess: features.NewSpec("malignant"), Algorithm: model.LogisticRegression, ClassWeight: model.ClassWeight{Weights: map[string]float64{"1": 0}}}, model.ErrSpec, []string{"> 0"}},
		{"max_features too many", bc, spec("malignant", model.DecisionTree, map[string]any{"max_features": 31}), nil, []string{"max_features"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := model.Fit(c.f, c.spec)
			if err == nil {
				t.Fatal("no error")
			}
			if c.sentinel != nil && !errors.Is(err, c.sentinel) {
				t.Errorf("error %v does not wrap %v", err, c.sentinel)
			}
			for _, p := range c.parts {
				if !strings.Contains(err.Error(), p) {
					t.Errorf("error %q lacks %q", err, p)
				}
			}
		})
	}
}

func TestClassWeights(t *testing.T) {
	train, test, _ := trainTest(t, "breast_cancer")
	recall := func(cw model.ClassWeight) float64 {
		m, err := model.Fit(train, model.Spec{Preprocess: features.NewSpec("malignant"), Algorithm: model.LogisticRegression, ClassWeight: cw, Hyperparams: map[string]any{"C": 0.01}})
		if err != nil {
			t.Fatal(err)
		}
		r, err := m.Score("recall", test)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	plain, heavy := recall(model.ClassWeight{}), recall(model.ClassWeight{Weights: map[string]float64{"1": 10}})
	if !(heavy > plain) {
		t.Errorf("weighting the malignant class 10× gives recall %v, unweighted %v: want higher", heavy, plain)
	}
}

func TestKindInference(t *testing.T) {
	for _, c := range []struct {
		csv  string
		algo string
		kind model.Kind
		want model.Kind
	}{
		{"x,y\n1,0\n2,1\n3,0\n4,1\n", model.DecisionTree, "", model.Classification},
		{"x,y\n1,0.5\n2,1.5\n3,0.25\n4,1\n", model.DecisionTree, "", model.Regression},
		{"x,y\n1,a\n2,b\n3,a\n4,b\n", model.RandomForest, "", model.Classification},
		{"x,y\n1,0\n2,1\n3,0\n4,1\n", model.DecisionTree, model.Regression, model.Regression},
		{"x,y\n1,0\n2,1\n3,0\n4,1\n", model.Ridge, "", model.Regression},
	} {
		m, err := model.Fit(csvFrame(t, c.csv), model.Spec{Preprocess: features.NewSpec("y"), Algorithm: c.algo, Kind: c.kind})
		if err != nil {
			t.Fatalf("%s %q: %v", c.algo, c.csv, err)
		}
		if m.Kind != c.want {
			t.Errorf("%s of %q (kind %q): %s, want %s", c.algo, c.csv, c.kind, m.Kind, c.want)
		}
		// A regression keeps no classes, in the model or its preprocessing.
		if m.Kind == model.Regression && (len(m.Classes) > 0 || len(m.Preprocess.Classes) > 0 || bytes.Contains(encode(t, m), []byte(`"classes"`))) {
			t.Errorf("%s of %q: a regression stores classes %v / %v", c.algo, c.csv, m.Classes, m.Preprocess.Classes)
		}
	}
	// 21 distinct integers: a regression for a tree. (Written without
	// leading zeros: 00, 01, 02 would be identifiers, a categorical label.)
	var b strings.Builder
	b.WriteString("x,y\n")
	for i := range 42 {
		b.WriteString("1," + strconv.Itoa(i%7*10+i%3) + "\n")
	}
	m, err := model.Fit(csvFrame(t, b.String()), model.Spec{Preprocess: features.NewSpec("y"), Algorithm: model.DecisionTree})
	if err != nil {
		t.Fatal(err)
	}
	if m.Kind != model.Regression {
		t.Errorf("21 integer classes: %s", m.Kind)
	}
}

func TestDecodeErrors(t *testing.T) {
	train, _, _ := trainTest(t, "iris")
	m, err := model.Fit(train, model.Spec{Preprocess: features.NewSpec("species"), Algorithm: model.DecisionTree})
	if err != nil {
		t.Fatal(err)
	}
	good := encode(t, m)
	edit := func(fn func(map[string]any)) []byte {
		var v map[string]any
		if err := json.Unmarshal(good, &v); err != nil {
			t.Fatal(err)
		}
		fn(v)
		b, _ := json.Marshal(v)
		return b
	}
	tree := func(v map[string]any) map[string]any { return v["tree"].(map[string]any) }
	node := func(v map[string]any, i int) map[string]any {
		return tree(v)["nodes"].([]any)[i].(map[string]any)
	}
	for _, c := range []struct {
		name  string
		b     []byte
		parts []string
	}{
		{"empty", nil, []string{"empty"}},
		{"csv", []byte("a,b\n1,2\n"), []string{"not a model file"}},
		{"not json", []byte("{nope"), []string{"not a model file"}},
		{"no version", []byte(`{"kind":"classification"}`), []string{"no version"}},
		{"newer", edit(func(v map[string]any) { v["version"] = 2 }), []string{"version 2", "reads version 1"}},
		{"unknown field", edit(func(v map[string]any) { v["extra"] = 1 }), []string{"extra"}},
		{"bad kind", edit(func(v map[string]any) { v["kind"] = "clustering" }), []string{"clustering"}},
		{"two estimators", edit(func(v map[string]any) { v["linear"] = map[string]any{"coef": []any{1}} }), []string{"2 estimators"}},
		{"classes", edit(func(v map[string]any) { v["classes"] = []any{"a", "b"} }), []string{"classes"}},
		{"features", edit(func(v map[string]any) { v["features"] = []any{"x"} }), []string{"feature names"}},
		{"node loop", edit(func(v map[string]any) { node(v, 0)["left"] = 0 }), []string{"node 0"}},
		{"node out of range", edit(func(v map[string]any) { node(v, 0)["right"] = 999 }), []string{"node 0"}},
		{"feature out of range", edit(func(v map[string]any) { node(v, 0)["feature"] = 99 }), []string{"node 0"}},
		{"value width", edit(func(v map[string]any) { node(v, 1)["value"] = []any{1} }), []string{"node 1"}},
		{"unsorted categories", decodeMixed(t, func(v map[string]any) {
			ft := v["preprocess"].(map[string]any)["features"].([]any)[2].(map[string]any)
			ft["categories"] = []any{"red", "blue", "green"}
		}), []string{"preprocessing", "categories"}},
		{"zero scale", decodeMixed(t, func(v map[string]any) {
			v["preprocess"].(map[string]any)["features"].([]any)[0].(map[string]any)["scale"] = 0
		}), []string{"preprocessing", "scale"}},
		{"trailing", append(append([]byte{}, good...), []byte(`{}`)...), []string{"not a model file"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := model.Decode(bytes.NewReader(c.b))
			if !errors.Is(err, model.ErrFormat) {
				t.Fatalf("error %v does not wrap ErrFormat", err)
			}
			for _, p := range c.parts {
				if !strings.Contains(err.Error(), p) {
					t.Errorf("error %q lacks %q", err, p)
				}
			}
		})
	}
}

// decodeMixed returns the encoding of a logistic model of the mixed data,
// edited by fn.
func decodeMixed(t *testing.T, fn func(map[string]any)) []byte {
	t.Helper()
	train, _ := mixed(t)
	m, err := model.Fit(train, model.Spec{Preprocess: features.NewSpec("y"), Algorithm: model.LogisticRegression})
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(encode(t, m), &v); err != nil {
		t.Fatal(err)
	}
	fn(v)
	b, _ := json.Marshal(v)
	return b
}

func TestHyperparams(t *testing.T) {
	for _, algo := range model.Algorithms() {
		hp, errs := model.ResolveHyperparams(algo, nil)
		if len(errs) > 0 {
			t.Fatalf("%s defaults: %v", algo, errs)
		}
		for _, h := range model.Hyperparams(algo) {
			if h.Doc == "" {
				t.Errorf("%s.%s has no doc", algo, h.Name)
			}
			if h.Default != nil && !reflect.DeepEqual(hp[h.Name], h.Default) {
				t.Errorf("%s.%s resolves to %v, default %v", algo, h.Name, hp[h.Name], h.Default)
			}
		}
	}
	for _, c := range []struct {
		algo, name string
		in, want   any
	}{
		{model.RandomForest, "max_features", json.Number("1"), 1},
		{model.RandomForest, "max_features", json.Number("1.0"), "all"},
		{model.RandomForest, "max_features", 0.3, 0.3},
		{model.RandomForest, "max_features", 4.0, 4},
		{model.RandomForest, "max_features", "log2", "log2"},
		{model.DecisionTree, "max_depth", json.Number("3"), 3},
		{model.DecisionTree, "max_depth", nil, nil},
		{model.LogisticRegression, "C", json.Number("0.5"), 0.5},
		{model.LogisticRegression, "max_iter", 200.0, 200},
		{model.RandomForest, "bootstrap", false, false},
	} {
		got, err := model.CheckHyperparam(c.algo, c.name, c.in)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s.%s = %v: got %#v (%v), want %#v", c.algo, c.name, c.in, got, err, c.want)
		}
	}
	for _, c := range []struct {
		algo, name string
		in         any
	}{
		{model.RandomForest, "n_estimators", 0},
		{model.RandomForest, "max_features", 1.5},
		{model.RandomForest, "max_features", "half"},
		{model.RandomForest, "bootstrap", "yes"},
		{model.DecisionTree, "min_samples_split", 1},
		{model.DecisionTree, "criterion", "gain"},
		{model.LogisticRegression, "tol", 0},
		{model.LogisticRegression, "C", "big"},
		{model.LogisticRegression, "C", nil},
	} {
		if _, err := model.CheckHyperparam(c.algo, c.name, c.in); err == nil || !errors.Is(err, model.ErrHyperparam) || err.Name != c.name {
			t.Errorf("%s.%s = %v: error %v", c.algo, c.name, c.in, err)
		}
	}
}

func TestScore(t *testing.T) {
	train, test, _ := trainTest(t, "iris")
	m, err := model.Fit(train, model.Spec{Preprocess: features.NewSpec("species"), Algorithm: model.LogisticRegression})
	if err != nil {
		t.Fatal(err)
	}
	for _, mi := range model.Metrics() {
		v, err := m.Score(mi.Name, test)
		switch {
		case mi.Kind == model.Regression:
			if !errors.Is(err, model.ErrMetric) {
				t.Errorf("%s on a classifier: %v", mi.Name, err)
			}
		case mi.Name == "f1" || mi.Name == "precision" || mi.Name == "recall":
			if !errors.Is(err, model.ErrMetric) || !strings.Contains(err.Error(), "_macro") {
				t.Errorf("binary %s on 3 classes: %v", mi.Name, err)
			}
		case err != nil:
			t.Errorf("%s: %v", mi.Name, err)
		case mi.HigherIsBetter && !(v > 0.8 && v <= 1):
			t.Errorf("%s = %v", mi.Name, v)
		case !mi.HigherIsBetter && !(v >= 0 && v < 0.5):
			t.Errorf("%s = %v", mi.Name, v)
		}
	}
	if _, err := model.LookupMetric("f1_macr"); err == nil || !strings.Contains(err.Error(), `"f1_macro"`) {
		t.Errorf("typo: %v", err)
	}
}

func TestFolds(t *testing.T) {
	check := func(name string, folds []model.Fold, n, k int) {
		t.Helper()
		if len(folds) != k {
			t.Fatalf("%s: %d folds", name, len(folds))
		}
		seen := make([]int, n)
		for _, f := range folds {
			if len(f.Train)+len(f.Valid) != n {
				t.Errorf("%s: %d + %d rows", name, len(f.Train), len(f.Valid))
			}
			if len(f.Valid) < n/k || len(f.Valid) > n/k+1 {
				t.Errorf("%s: fold of %d rows for %d/%d", name, len(f.Valid), n, k)
			}
			for _, r := range f.Valid {
				seen[r]++
			}
			in := map[int]bool{}
			for _, r := range f.Train {
				in[r] = true
			}
			for _, r := range f.Valid {
				if in[r] {
					t.Errorf("%s: row %d in train and valid", name, r)
				}
			}
		}
		for r, c := range seen {
			if c != 1 {
				t.Fatalf("%s: row %d validated %d times", name, r, c)
			}
		}
	}
	a, err := model.KFold(103, 5, 1)
	if err != nil {
		t.Fatal(err)
	}
	check("kfold", a, 103, 5)
	b, _ := model.KFold(103, 5, 1)
	c, _ := model.KFold(103, 5, 2)
	if !reflect.DeepEqual(a, b) || reflect.DeepEqual(a, c) {
		t.Error("KFold is not a function of its seed")
	}
	y := make([]int, 100)
	for i := range y {
		if i%4 == 0 {
			y[i] = 1 // 25 of class 1
		}
	}
	s, err := model.StratifiedKFold(y, 5, 3)
	if err != nil {
		t.Fatal(err)
	}
	check("stratified", s, 100, 5)
	for i, f := range s {
		ones := 0
		for _, r := range f.Valid {
			ones += y[r]
		}
		if ones != 5 {
			t.Errorf("fold %d holds %d of class 1, want 5", i, ones)
		}
	}
	if _, err := model.StratifiedKFold([]int{0, 0, 0, 0, 0, 1, 1}, 3, 0); !errors.Is(err, model.ErrData) || !strings.Contains(err.Error(), "2 rows") {
		t.Errorf("rare class: %v", err)
	}
	if _, err := model.KFold(3, 5, 0); !errors.Is(err, model.ErrData) {
		t.Errorf("too few rows: %v", err)
	}
	if _, err := model.KFold(10, 1, 0); !errors.Is(err, model.ErrSpec) {
		t.Errorf("one fold: %v", err)
	}
}

// TestPredictRowByRow: a row's prediction does not depend on the other
// rows it is predicted with (missing values get the training fills, not
// statistics of the frame predicted).
func TestPredictRowByRow(t *testing.T) {
	train, test := mixed(t)
	for _, algo := range []string{model.LogisticRegression, model.RandomForest} {
		m, err := model.Fit(train, model.Spec{Preprocess: features.NewSpec("y"), Algorithm: algo, Hyperparams: map[string]any{}})
		if err != nil {
			t.Fatal(err)
		}
		all, err := m.Predict(test)
		if err != nil {
			t.Fatal(err)
		}
		for i := range test.Rows() {
			one, err := m.Predict(test.Select([]int{i}))
			if err != nil {
				t.Fatal(err)
			}
			if one.Class[0] != all.Class[i] || !reflect.DeepEqual(one.Proba[0], all.Proba[i]) {
				t.Fatalf("%s row %d: alone %v %v, in the frame %v %v", algo, i, one.Class[0], one.Proba[0], all.Class[i], all.Proba[i])
			}
		}
	}
}

// TestOneTrainingRow: linear regression and ridge fit a single row, as
// scikit-learn's do (coefficients 0, every prediction that row's target),
// standardized or not.
func TestOneTrainingRow(t *testing.T) {
	train := csvFrame(t, "x,z,y\n3,7,12.5\n")
	test := csvFrame(t, "x,z,y\n1,2,0\n5,9,1\n")
	for _, algo := range []string{model.LinearRegression, model.Ridge} {
		for _, std := range []bool{true, false} {
			pre := features.NewSpec("y")
			pre.Standardize = std
			m, err := model.Fit(train, model.Spec{Preprocess: pre, Algorithm: algo})
			if err != nil {
				t.Fatalf("%s standardize %v: %v", algo, std, err)
			}
			p, err := m.Predict(test)
			if err != nil {
				t.Fatal(err)
			}
			for i, v := range p.Value {
				if v != 12.5 {
					t.Errorf("%s standardize %v: prediction %d = %v, want 12.5", algo, std, i, v)
				}
			}
		}
	}
}

// TestCheckedPredictor: a Predictor predicts as the model does, and a
// model that fails Predict's check gets none.
func TestCheckedPredictor(t *testing.T) {
	f := csvFrame(t, "x,c,y\n1,a,no\n2,b,no\n3,a,yes\n4,b,yes\n5,a,yes\n0,b,no\n")
	m, err := model.Fit(f, model.Spec{Preprocess: features.NewSpec("y"), Algorithm: model.DecisionTree})
	if err != nil {
		t.Fatal(err)
	}
	p, err := m.Checked()
	if err != nil {
		t.Fatal(err)
	}
	want, err := m.Predict(f)
	if err != nil {
		t.Fatal(err)
	}
	got, err := p.Predict(f)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("the predictor's %+v %v, the model's %+v", got, err, want)
	}
	m.Classes = m.Classes[:1]
	if _, err := m.Checked(); !errors.Is(err, model.ErrFormat) {
		t.Fatalf("an inconsistent model checked: %v", err)
	}
}
