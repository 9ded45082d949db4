package features

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cairnml/cairn/tasks/ml/dataset"
	"gonum.org/v1/gonum/mat"
)

// nan marks a missing value in num and a helper-built column.
var nan = math.NaN()

func num(name string, v ...float64) *dataset.Column {
	return numKind(name, dataset.Numeric, v...)
}

func numKind(name string, k dataset.Kind, v ...float64) *dataset.Column {
	c := &dataset.Column{Name: name, Kind: k, Num: make([]float64, len(v))}
	for i, x := range v {
		if math.IsNaN(x) {
			if c.Missing == nil {
				c.Missing = make([]bool, len(v))
			}
			c.Missing[i] = true
			continue
		}
		c.Num[i] = x
	}
	return c
}

// cat builds a categorical column; "?" is missing.
func cat(name string, v ...string) *dataset.Column {
	c := &dataset.Column{Name: name, Kind: dataset.Categorical, Str: make([]string, len(v))}
	for i, s := range v {
		if s == "?" {
			if c.Missing == nil {
				c.Missing = make([]bool, len(v))
			}
			c.Missing[i] = true
			continue
		}
		c.Str[i] = s
	}
	return c
}

func frame(cols ...*dataset.Column) *dataset.Frame { return &dataset.Frame{Columns: cols} }

func mustFit(t *testing.T, f *dataset.Frame, spec Spec) *Transformer {
	t.Helper()
	tr, err := Fit(f, spec)
	if err != nil {
		t.Fatalf("Fit: %v", err)
	}
	return tr
}

func mustTransform(t *testing.T, tr *Transformer, f *dataset.Frame) *mat.Dense {
	t.Helper()
	X, err := tr.Transform(f)
	if err != nil {
		t.Fatalf("Transform: %v", err)
	}
	return X
}

func col(X *mat.Dense, j int) []float64 {
	return mat.Col(nil, j, X)
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-12*math.Max(1, math.Abs(b)) }

func wantCol(t *testing.T, X *mat.Dense, j int, want ...float64) {
	t.Helper()
	got := col(X, j)
	if len(got) != len(want) {
		t.Fatalf("column %d: got %v, want %v", j, got, want)
	}
	for i := range got {
		if !near(got[i], want[i]) {
			t.Fatalf("column %d: got %v, want %v", j, got, want)
		}
	}
}

func TestImputationStrategies(t *testing.T) {
	y := num("y", 0, 1, 0, 1, 0)
	f := frame(
		num("m", 1, 2, nan, 4, 8),   // mean 15/4 = 3.75
		num("md", 5, 1, nan, 3, 10), // median of 1 3 5 10 = 4
		num("mf", 7, 3, 3, nan, 7),  // tie 3 and 7: 3
		num("c", nan, 1, 2, nan, 3), // constant -1
		cat("s", "b", "?", "a", "b", "a"),
		y,
	)
	spec := Spec{Label: "y", Impute: map[string]Imputer{
		"md": {Strategy: Median},
		"mf": {Strategy: MostFrequent},
		"c":  {Strategy: Constant, Value: -1},
	}}
	tr := mustFit(t, f, spec)
	X := mustTransform(t, tr, f)
	wantCol(t, X, 0, 1, 2, 3.75, 4, 8)
	wantCol(t, X, 1, 5, 1, 4, 3, 10)
	wantCol(t, X, 2, 7, 3, 3, 3, 7)
	wantCol(t, X, 3, -1, 1, 2, -1, 3)
	// s: tie a/b (2 each) -> "a"; layout s=a, s=b.
	wantCol(t, X, 4, 0, 1, 1, 0, 1)
	wantCol(t, X, 5, 1, 0, 0, 1, 0)
	if got, want := tr.FeatureNames(), []string{"m", "md", "mf", "c", "s=a", "s=b"}; !slices.Equal(got, want) {
		t.Fatalf("names %v, want %v", got, want)
	}

	// Odd-count median and categorical constant (becomes a category).
	f2 := frame(num("x", 3, nan, 1, 2), cat("s", "?", "z", "z", "a"), num("y", 1, 2, 3, 4))
	tr2 := mustFit(t, f2, Spec{Label: "y", DefaultNumericImpute: Imputer{Strategy: Median},
		DefaultCategoricalImpute: Imputer{Strategy: Constant, Value: "missing"}})
	X2 := mustTransform(t, tr2, f2)
	wantCol(t, X2, 0, 3, 2, 1, 2)
	if got, want := tr2.FeatureNames(), []string{"x", "s=a", "s=missing", "s=z"}; !slices.Equal(got, want) {
		t.Fatalf("names %v, want %v", got, want)
	}
	wantCol(t, X2, 2, 1, 0, 0, 0)
}

func TestStandardize(t *testing.T) {
	// x = 1 2 3 missing -> imputed 1 2 3 2: mean 2, population var 0.5.
	f := frame(num("x", 1, 2, 3, nan), num("k", 5, 5, 5, 5), num("y", 0, 1, 0, 1))
	tr := mustFit(t, f, NewSpec("y"))
	X := mustTransform(t, tr, f)
	s := math.Sqrt(0.5)
	wantCol(t, X, 0, -1/s, 0, 1/s, 0)
	wantCol(t, X, 1, 0, 0, 0, 0) // constant column: scale 1
	if ft := tr.Features[1]; ft.Scale != 1 || ft.Center != 5 {
		t.Fatalf("constant column: %+v", ft)
	}
}

func TestLeakage(t *testing.T) {
	train := frame(num("x", 1, 2, 3, nan), cat("c", "red", "blue", "red", "?"), num("y", 0, 1, 0, 1))
	test := frame(cat("c", "green", "?", "blue"), num("y", 1, 1, 0), num("x", 100, nan, -50))
	tr := mustFit(t, train, NewSpec("y"))
	X := mustTransform(t, tr, test)
	s := math.Sqrt(0.5)
	// Train mean fill 2, center 2, scale sqrt(0.5); nothing from test.
	wantCol(t, X, 0, 98/s, 0, -52/s)
	// c: categories blue, red (fill red); green unknown -> zeros; missing -> red.
	wantCol(t, X, 1, 0, 0, 1)
	wantCol(t, X, 2, 0, 1, 0)
	if r, c := X.Dims(); r != 3 || c != 3 {
		t.Fatalf("dims %d×%d", r, c)
	}
	// The fitted state is unchanged by Transform.
	if tr.Features[0].Fill != 2 || tr.Features[0].Center != 2 || tr.Features[0].Scale != s {
		t.Fatalf("state changed: %+v", tr.Features[0])
	}
}

func TestBooleanAndDatetime(t *testing.T) {
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	day := 86400.0
	f := frame(
		numKind("b", dataset.Boolean, 1, nan, 1, 0),
		numKind("d", dataset.Datetime, float64(t0), float64(t0)+day, nan, float64(t0)+2*day),
		num("y", 1, 2, 3, 4),
	)
	tr := mustFit(t, f, Spec{Label: "y"}) // no standardization
	X := mustTransform(t, tr, f)
	wantCol(t, X, 0, 1, 1, 1, 0) // most frequent true
	wantCol(t, X, 1, float64(t0), float64(t0)+day, float64(t0)+day, float64(t0)+2*day)
	if got := tr.FeatureNames(); !slices.Equal(got, []string{"b", "d"}) {
		t.Fatalf("names %v", got)
	}

	trs := mustFit(t, f, NewSpec("y"))
	Xs := mustTransform(t, trs, f)
	wantCol(t, Xs, 0, 1, 1, 1, 0) // booleans are not standardized
	s := math.Sqrt(day * day / 2) // imputed: 0 d d 2d, mean d, var d²/2
	wantCol(t, Xs, 1, -day/s, 0, 0, day/s)

	// Constant fills by kind.
	when := time.Date(2000, 1, 1, 0, 0, 0, 5e8, time.UTC)
	trc := mustFit(t, f, Spec{Label: "y", Impute: map[string]Imputer{
		"b": {Strategy: Constant, Value: false},
		"d": {Strategy: Constant, Value: when},
	}})
	Xc := mustTransform(t, trc, f)
	wantCol(t, Xc, 0, 1, 0, 1, 0)
	if got := Xc.At(2, 1); got != float64(when.Unix())+0.5 {
		t.Fatalf("datetime constant %v", got)
	}
}

func TestFitErrors(t *testing.T) {
	f := frame(num("x", 1, 2), cat("s", "a", "b"), num("y", 0, 1))
	cases := []struct {
		name string
		f    *dataset.Frame
		spec Spec
		want error
		msg  string
	}{
		{"no label", f, NewSpec("target"), ErrLabel, `label column "target" not found`},
		{"no features", f, Spec{Label: "y", Exclude: []string{"x", "s"}}, ErrNoFeatures, ""},
		{"all missing mean", frame(num("x", nan, nan), num("y", 0, 1)), NewSpec("y"), ErrAllMissing, `"x"`},
		{"all missing median", frame(num("x", nan, nan), num("y", 0, 1)),
			Spec{Label: "y", DefaultNumericImpute: Imputer{Strategy: Median}}, ErrAllMissing, ""},
		{"unknown strategy", f, Spec{Label: "y", Impute: map[string]Imputer{"x": {Strategy: "mode"}}}, ErrStrategy, `"mode"`},
		{"mean of categorical", f, Spec{Label: "y", Impute: map[string]Imputer{"s": {Strategy: Mean}}}, ErrStrategy, ""},
		{"bad constant", f, Spec{Label: "y", Impute: map[string]Imputer{"x": {Strategy: Constant, Value: "a"}}}, ErrStrategy, ""},
		{"bad excluded", f, Spec{Label: "y", Exclude: []string{"nope"}}, ErrSpec, ""},
		{"impute on label", f, Spec{Label: "y", Impute: map[string]Imputer{"y": {Strategy: Mean}}}, ErrSpec, ""},
		{"missing label", frame(num("x", 1, 2), num("y", 0, nan)), NewSpec("y"), ErrLabel, ""},
		{"nan feature", frame(num("x", 1, math.Inf(1)), num("y", 0, 1)), NewSpec("y"), ErrNonFinite, ""},
		{"no rows", frame(num("x"), num("y")), NewSpec("y"), ErrEmpty, ""},
		{"bad frame", frame(num("x", 1), num("y", 0, 1)), NewSpec("y"), ErrShape, ""},
	}
	for _, c := range cases {
		_, err := Fit(c.f, c.spec)
		if !errors.Is(err, c.want) || !strings.Contains(fmtErr(err), c.msg) {
			t.Errorf("%s: got %v, want %v containing %q", c.name, err, c.want, c.msg)
		}
	}
	var ce *ColumnError
	_, err := Fit(frame(num("x", nan, nan), num("y", 0, 1)), NewSpec("y"))
	if !errors.As(err, &ce) || ce.Column != "x" {
		t.Fatalf("want a ColumnError for x, got %v", err)
	}
}

func fmtErr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestTransformSchemaErrors(t *testing.T) {
	train := frame(num("x", 1, 2), cat("s", "a", "b"), num("y", 0, 1))
	tr := mustFit(t, train, NewSpec("y"))
	cases := []struct {
		name string
		f    *dataset.Frame
		col  string
	}{
		{"missing column", frame(num("x", 1)), "s"},
		{"kind differs", frame(num("x", 1), num("s", 1)), "s"},
		{"kind differs 2", frame(cat("x", "1"), cat("s", "a")), "x"},
	}
	for _, c := range cases {
		_, err := tr.Transform(c.f)
		var ce *ColumnError
		if !errors.Is(err, ErrSchema) || !errors.As(err, &ce) || ce.Column != c.col ||
			!strings.Contains(err.Error(), "schema differs from the model's") {
			t.Errorf("%s: got %v", c.name, err)
		}
	}
	// Label is not needed to transform; extra columns are ignored.
	if _, err := tr.Transform(frame(cat("s", "a"), num("extra", 3), num("x", 1))); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Transform(frame(num("x", nan), cat("s", "a"))); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Transform(frame(num("x", math.NaN()), cat("s", "a"))); err != nil {
		t.Fatal(err) // NaN via the helper is missing, fine
	}
	bad := frame(num("x", 1), cat("s", "a"))
	bad.Columns[0].Num[0] = math.Inf(-1)
	if _, err := tr.Transform(bad); !errors.Is(err, ErrNonFinite) {
		t.Fatalf("inf: %v", err)
	}
	if _, err := (&Transformer{}).Transform(bad); !errors.Is(err, ErrShape) {
		t.Fatalf("zero transformer: %v", err)
	}
}

func TestLabels(t *testing.T) {
	train := frame(num("x", 1, 2, 3, 4), cat("y", "b", "a", "c", "a"))
	tr := mustFit(t, train, NewSpec("y"))
	y, classes, err := tr.ClassLabels(train)
	if err != nil || !slices.Equal(y, []int{1, 0, 2, 0}) || !slices.Equal(classes, []string{"a", "b", "c"}) {
		t.Fatalf("ClassLabels %v %v %v", y, classes, err)
	}
	// Test subset with only some classes keeps the fitted indices.
	y, _, err = tr.ClassLabels(frame(cat("y", "c", "c")))
	if err != nil || !slices.Equal(y, []int{2, 2}) {
		t.Fatalf("subset %v %v", y, err)
	}
	if _, _, err := tr.ClassLabels(frame(cat("y", "d"))); !errors.Is(err, ErrLabel) || !strings.Contains(err.Error(), `"d"`) {
		t.Fatalf("unseen: %v", err)
	}
	if _, _, err := tr.ClassLabels(frame(cat("y", "a", "?"))); !errors.Is(err, ErrLabel) {
		t.Fatalf("missing: %v", err)
	}
	if _, _, err := tr.ClassLabels(frame(num("y", 1))); !errors.Is(err, ErrSchema) {
		t.Fatalf("kind: %v", err)
	}
	if _, err := tr.TargetValues(train); !errors.Is(err, ErrLabel) {
		t.Fatalf("categorical target: %v", err)
	}

	// Integer-valued numeric label: classes in numeric order.
	trn := mustFit(t, frame(num("x", 1, 2, 3), num("y", 10, -1, 2)), NewSpec("y"))
	y, classes, err = trn.ClassLabels(frame(num("y", 2, 10, -1)))
	if err != nil || !slices.Equal(y, []int{1, 2, 0}) || !slices.Equal(classes, []string{"-1", "2", "10"}) {
		t.Fatalf("numeric classes %v %v %v", y, classes, err)
	}
	// Boolean label.
	trb := mustFit(t, frame(num("x", 1, 2), numKind("y", dataset.Boolean, 1, 0)), NewSpec("y"))
	y, classes, err = trb.ClassLabels(frame(numKind("y", dataset.Boolean, 1, 1, 0)))
	if err != nil || !slices.Equal(y, []int{1, 1, 0}) || !slices.Equal(classes, []string{"false", "true"}) {
		t.Fatalf("boolean classes %v %v %v", y, classes, err)
	}
	// Regression label: no classes, TargetValues works.
	trr := mustFit(t, frame(num("x", 1, 2), num("y", 0.5, 1.25)), NewSpec("y"))
	if _, _, err := trr.ClassLabels(frame(num("y", 0.5))); !errors.Is(err, ErrLabel) {
		t.Fatalf("regression ClassLabels: %v", err)
	}
	v, err := trr.TargetValues(frame(num("y", 3.5, -2)))
	if err != nil || !slices.Equal(v, []float64{3.5, -2}) {
		t.Fatalf("TargetValues %v %v", v, err)
	}
	if _, err := trr.TargetValues(frame(num("y", 3.5, nan))); !errors.Is(err, ErrLabel) {
		t.Fatalf("missing target: %v", err)
	}
	if _, err := trr.TargetValues(frame(num("x", 1))); !errors.Is(err, ErrLabel) {
		t.Fatalf("no label: %v", err)
	}
}

func richFrame() *dataset.Frame {
	return frame(
		num("age", 30, nan, 45.5, 22, 61),
		cat("color", "red", "blue", "?", "green", "red"),
		numKind("member", dataset.Boolean, 1, 0, nan, 1, 1),
		numKind("seen", dataset.Datetime, 1.7e9, 1.7e9+0.25, 1.8e9, nan, 1.75e9),
		cat("id", "a", "b", "c", "d", "e"),
		cat("y", "no", "yes", "no", "yes", "no"),
	)
}

func TestJSONRoundTripAndDeterminism(t *testing.T) {
	spec := NewSpec("y")
	spec.Exclude = []string{"id"}
	spec.Impute = map[string]Imputer{"age": {Strategy: Median}, "color": {Strategy: Constant, Value: "none"}}
	tr := mustFit(t, richFrame(), spec)
	b1, err := json.Marshal(tr)
	if err != nil {
		t.Fatal(err)
	}
	tr2 := mustFit(t, richFrame(), spec)
	b2, _ := json.Marshal(tr2)
	if !bytes.Equal(b1, b2) {
		t.Fatalf("not deterministic:\n%s\n%s", b1, b2)
	}
	var dec Transformer
	if err := json.Unmarshal(b1, &dec); err != nil {
		t.Fatal(err)
	}
	b3, _ := json.Marshal(&dec)
	if !bytes.Equal(b1, b3) {
		t.Fatalf("re-encoding differs:\n%s\n%s", b1, b3)
	}
	test := frame(
		cat("color", "purple", "?"), num("age", 100, nan),
		numKind("seen", dataset.Datetime, nan, 2e9), numKind("member", dataset.Boolean, nan, 0),
	)
	for _, f := range []*dataset.Frame{richFrame(), test} {
		Xa := mustTransform(t, tr, f)
		Xb := mustTransform(t, &dec, f)
		if !mat.Equal(Xa, Xb) {
			t.Fatalf("decoded transformer differs:\n%v\n%v", mat.Formatted(Xa), mat.Formatted(Xb))
		}
	}
	if got, want := dec.FeatureNames(), []string{"age", "color=blue", "color=green", "color=none", "color=red", "member", "seen"}; !slices.Equal(got, want) {
		t.Fatalf("names %v, want %v", got, want)
	}
	// A damaged artifact is rejected, not silently used.
	dec.Features[0].Scale = 0
	if _, err := dec.Transform(test); !errors.Is(err, ErrShape) {
		t.Fatalf("damaged: %v", err)
	}
}

func TestIris(t *testing.T) {
	fh, err := os.Open("../dataset/testdata/iris.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	f, err := dataset.ReadCSV(fh, dataset.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tr := mustFit(t, f, NewSpec("species"))
	X := mustTransform(t, tr, f)
	if r, c := X.Dims(); r != 150 || c != 4 {
		t.Fatalf("dims %d×%d", r, c)
	}
	for j := range 4 {
		v := col(X, j)
		var m, ss float64
		for _, x := range v {
			m += x
		}
		m /= 150
		for _, x := range v {
			ss += (x - m) * (x - m)
		}
		if math.Abs(m) > 1e-12 || math.Abs(math.Sqrt(ss/150)-1) > 1e-12 {
			t.Fatalf("column %d: mean %g std %g", j, m, math.Sqrt(ss/150))
		}
	}
	y, classes, err := tr.ClassLabels(f)
	if err != nil || len(classes) != 3 || len(y) != 150 {
		t.Fatalf("ClassLabels: %v %v", classes, err)
	}
	counts := make([]int, 3)
	for _, k := range y {
		counts[k]++
	}
	if !slices.Equal(counts, []int{50, 50, 50}) {
		t.Fatalf("class counts %v", counts)
	}
}
