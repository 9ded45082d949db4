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

	"github.com/cairnml/cairn/tasks/ml/dataset"
	"gonum.org/v1/gonum/mat"
)

// clipFrame: x = -20 2 3 4 5 6 7 8 missing 100. Median imputation fills 5
// (the median of the nine present values), so the imputed column, sorted,
// is -20 2 3 4 5 5 6 7 8 100 (n = 10). By hand, h = 9q:
//
//	Q1:   h = 2.25: 3 + 0.25·(4-3)   = 3.25
//	Q3:   h = 6.75: 6 + 0.75·(7-6)   = 6.75
//	IQR = 3.5, K 1.5: [3.25 - 5.25, 6.75 + 5.25] = [-2, 12]
//	q0.1: h = 0.9:  -20 + 0.9·22     = -0.2
//	q0.9: h = 8.1:  8 + 0.1·92       = 17.2
//
// (The nine present values alone would give Q1 3, Q3 7 and [-3, 13].)
func clipFrame() *dataset.Frame {
	return frame(
		num("x", -20, 2, 3, 4, 5, 6, 7, 8, nan, 100),
		numKind("b", dataset.Boolean, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0),
		cat("c", "a", "a", "a", "a", "a", "a", "a", "a", "a", "z"),
		num("y", 0, 1, 0, 1, 0, 1, 0, 1, 0, 1),
	)
}

func clipSpec(c Clip, standardize bool) Spec {
	return Spec{Label: "y", DefaultNumericImpute: Imputer{Strategy: Median}, Standardize: standardize, Clip: c}
}

func TestClipBounds(t *testing.T) {
	cases := []struct {
		clip     Clip
		resolved Clip
		low      float64
		high     float64
	}{
		{Clip{Method: IQR}, Clip{Method: IQR, K: 1.5}, -2, 12},
		{Clip{Method: IQR, K: 3}, Clip{Method: IQR, K: 3}, 3.25 - 10.5, 6.75 + 10.5},
		{Clip{Method: Quantile, Low: 0.1, High: 0.9}, Clip{Method: Quantile, Low: 0.1, High: 0.9}, -0.2, 17.2},
		{Clip{Method: Quantile, High: 1}, Clip{Method: Quantile, High: 1}, -20, 100},
	}
	for _, c := range cases {
		tr := mustFit(t, clipFrame(), clipSpec(c.clip, false))
		if tr.Clip == nil || *tr.Clip != c.resolved {
			t.Errorf("%+v: transformer clip %+v, want %+v", c.clip, tr.Clip, c.resolved)
		}
		b := tr.Features[0].Clip
		if b == nil || !near(b.Low, c.low) || !near(b.High, c.high) {
			t.Errorf("%+v: bounds %+v, want [%v, %v]", c.clip, b, c.low, c.high)
		}
		if tr.Features[1].Clip != nil || tr.Features[2].Clip != nil {
			t.Errorf("%+v: boolean or categorical feature clipped: %+v %+v", c.clip, tr.Features[1], tr.Features[2])
		}
	}
}

// TestClipTransformTrain: transforming the training frame changes exactly
// the values outside the bounds, to the bounds.
func TestClipTransformTrain(t *testing.T) {
	f := clipFrame()
	plain := mustTransform(t, mustFit(t, f, clipSpec(Clip{}, false)), f)
	wantCol(t, plain, 0, -20, 2, 3, 4, 5, 6, 7, 8, 5, 100)

	X := mustTransform(t, mustFit(t, f, clipSpec(Clip{Method: IQR}, false)), f)
	wantCol(t, X, 0, -2, 2, 3, 4, 5, 6, 7, 8, 5, 12)
	Xq := mustTransform(t, mustFit(t, f, clipSpec(Clip{Method: Quantile, Low: 0.1, High: 0.9}, false)), f)
	wantCol(t, Xq, 0, -0.2, 2, 3, 4, 5, 6, 7, 8, 5, 17.2)
	// The boolean and the one-hot columns are as without clipping.
	for j := 1; j < 4; j++ {
		if !slices.Equal(col(X, j), col(plain, j)) {
			t.Errorf("column %d changed by clipping: %v, without %v", j, col(X, j), col(plain, j))
		}
	}
}

// TestClipLeakage: a test frame's outliers are clipped to the training
// bounds, its missing value gets the training fill, and nothing of it is
// learnt; fitted on the test frame, the bounds would differ.
func TestClipLeakage(t *testing.T) {
	tr := mustFit(t, clipFrame(), clipSpec(Clip{Method: IQR}, false))
	before, _ := json.Marshal(tr)
	test := frame(num("x", -1000, 50, nan, 0, 10, 12.5, -2.5), numKind("b", dataset.Boolean, 1, 1, 1, 1, 1, 1, 1), cat("c", "a", "a", "a", "a", "a", "a", "q"))
	X := mustTransform(t, tr, test)
	wantCol(t, X, 0, -2, 12, 5, 0, 10, 12, -2)
	if after, _ := json.Marshal(tr); !bytes.Equal(before, after) {
		t.Fatalf("Transform changed the fitted state:\n%s\n%s", before, after)
	}
	own := mustFit(t, frame(num("x", -1000, 50, nan, 0, 10, 12.5, -2.5), num("y", 0, 1, 0, 1, 0, 1, 0)), clipSpec(Clip{Method: IQR}, false))
	if b := own.Features[0].Clip; b.Low == -2 || b.High == 12 {
		t.Fatalf("the test frame's own bounds %+v equal the training ones: the test proves nothing", b)
	}
}

// TestClipThenStandardize: the center and scale are those of the clipped
// column. Clipped: -2 2 3 4 5 6 7 8 5 12, sum 50, mean 5; deviations
// -7 -3 -2 -1 0 1 2 3 0 7, squares sum 126, population variance 12.6.
// (Unclipped, the mean would be 12.)
func TestClipThenStandardize(t *testing.T) {
	f := clipFrame()
	tr := mustFit(t, f, clipSpec(Clip{Method: IQR}, true))
	ft := tr.Features[0]
	s := math.Sqrt(12.6)
	if !near(ft.Center, 5) || !near(ft.Scale, s) {
		t.Fatalf("center %v scale %v, want 5 and %v", ft.Center, ft.Scale, s)
	}
	X := mustTransform(t, tr, f)
	want := []float64{-2, 2, 3, 4, 5, 6, 7, 8, 5, 12}
	for i := range want {
		want[i] = (want[i] - 5) / s
	}
	wantCol(t, X, 0, want...)
	wantCol(t, mustTransform(t, tr, frame(num("x", 1e6), numKind("b", dataset.Boolean, 0), cat("c", "a"))), 0, (12-5)/s)
	if plain := mustFit(t, f, clipSpec(Clip{}, true)); plain.Features[0].Center != 12 {
		t.Fatalf("unclipped center %v, want 12", plain.Features[0].Center)
	}
}

// TestClipMatchesNumpy compares the quantiles and IQR bounds bit for bit
// with numpy's, from testdata/quantiles.json (gen_quantiles.py).
func TestClipMatchesNumpy(t *testing.T) {
	raw, err := os.ReadFile("testdata/quantiles.json")
	if err != nil {
		t.Fatal(err)
	}
	var golden struct {
		Cases []struct {
			Name      string
			Values    []float64
			Quantiles []struct{ Q, Value float64 }
			IQR       []struct{ K, Low, High float64 }
		}
	}
	if err := json.Unmarshal(raw, &golden); err != nil {
		t.Fatal(err)
	}
	if len(golden.Cases) < 5 {
		t.Fatalf("%d cases in quantiles.json", len(golden.Cases))
	}
	for _, c := range golden.Cases {
		s := slices.Clone(c.Values)
		slices.Sort(s)
		for _, q := range c.Quantiles {
			if got := quantile(s, q.Q); got != q.Value {
				t.Errorf("%s: quantile %v = %v, numpy %v", c.Name, q.Q, got, q.Value)
			}
		}
		for _, k := range c.IQR {
			b, err := fitBounds(c.Values, Clip{Method: IQR, K: k.K})
			if err != nil || b.Low != k.Low || b.High != k.High {
				t.Errorf("%s: iqr k %v: %+v %v, numpy [%v, %v]", c.Name, k.K, b, err, k.Low, k.High)
			}
		}
		// Fit on the column gives the same bounds as numpy's quantiles.
		f := frame(num("x", c.Values...), num("y", make([]float64, len(c.Values))...))
		tr := mustFit(t, f, Spec{Label: "y", Clip: Clip{Method: Quantile, Low: 0.01, High: 0.99}})
		var lo, hi float64
		for _, q := range c.Quantiles {
			switch q.Q {
			case 0.01:
				lo = q.Value
			case 0.99:
				hi = q.Value
			}
		}
		if b := tr.Features[0].Clip; b.Low != lo || b.High != hi {
			t.Errorf("%s: Fit quantile bounds %+v, numpy [%v, %v]", c.Name, b, lo, hi)
		}
	}
}

func TestClipJSONRoundTrip(t *testing.T) {
	for _, c := range []Clip{{Method: IQR}, {Method: Quantile, Low: 0.05, High: 0.95}} {
		spec := NewSpec("y")
		spec.Exclude = []string{"id"}
		spec.Clip = c
		tr := mustFit(t, richFrame(), spec)
		for _, ft := range tr.Features {
			numeric := ft.Kind == dataset.Numeric || ft.Kind == dataset.Datetime
			if (ft.Clip != nil) != numeric {
				t.Fatalf("%+v: feature %s (%s) clip %+v", c, ft.Name, ft.Kind, ft.Clip)
			}
		}
		b1, err := json.Marshal(tr)
		if err != nil {
			t.Fatal(err)
		}
		if b2, _ := json.Marshal(mustFit(t, richFrame(), spec)); !bytes.Equal(b1, b2) {
			t.Fatalf("not deterministic:\n%s\n%s", b1, b2)
		}
		if !bytes.Contains(b1, []byte(`"clip":{"method":"`+c.Method+`"`)) || !bytes.Contains(b1, []byte(`"clip":{"low":`)) {
			t.Fatalf("clipping not in the JSON: %s", b1)
		}
		var dec Transformer
		if err := json.Unmarshal(b1, &dec); err != nil {
			t.Fatal(err)
		}
		if b3, _ := json.Marshal(&dec); !bytes.Equal(b1, b3) {
			t.Fatalf("re-encoding differs:\n%s\n%s", b1, b3)
		}
		test := frame(
			cat("color", "purple", "?", "red"), num("age", 1000, nan, -5),
			numKind("seen", dataset.Datetime, nan, 2e9, 1e9), numKind("member", dataset.Boolean, nan, 0, 1),
		)
		for _, f := range []*dataset.Frame{richFrame(), test} {
			Xa, Xb := mustTransform(t, tr, f), mustTransform(t, &dec, f)
			if !mat.Equal(Xa, Xb) {
				t.Fatalf("decoded transformer differs:\n%v\n%v", mat.Formatted(Xa), mat.Formatted(Xb))
			}
		}
		// The test frame's age 1000 and -5 are clipped to the training bounds.
		Xt := mustTransform(t, tr, test)
		age := tr.Features[0]
		if got, want := Xt.At(0, 0), (age.Clip.High-age.Center)/age.Scale; got != want {
			t.Errorf("%+v: age 1000 → %v, want the upper bound's %v", c, got, want)
		}
		if got, want := Xt.At(2, 0), (age.Clip.Low-age.Center)/age.Scale; got != want {
			t.Errorf("%+v: age -5 → %v, want the lower bound's %v", c, got, want)
		}
	}
}

// TestClipCheckRejectsDamage: Transform refuses a transformer whose
// clipping state is damaged.
func TestClipCheckRejectsDamage(t *testing.T) {
	fresh := func() *Transformer {
		return mustFit(t, clipFrame(), clipSpec(Clip{Method: IQR}, true))
	}
	if _, err := fresh().Transform(clipFrame()); err != nil {
		t.Fatalf("undamaged: %v", err)
	}
	cases := []struct {
		name   string
		damage func(*Transformer)
	}{
		{"low NaN", func(tr *Transformer) { tr.Features[0].Clip.Low = math.NaN() }},
		{"high +Inf", func(tr *Transformer) { tr.Features[0].Clip.High = math.Inf(1) }},
		{"low -Inf", func(tr *Transformer) { tr.Features[0].Clip.Low = math.Inf(-1) }},
		{"low above high", func(tr *Transformer) { tr.Features[0].Clip = &Bounds{Low: 3, High: 2} }},
		{"bounds on a boolean", func(tr *Transformer) { tr.Features[1].Clip = &Bounds{Low: 0, High: 1} }},
		{"bounds on a categorical", func(tr *Transformer) { tr.Features[2].Clip = &Bounds{Low: 0, High: 1} }},
		{"numeric without bounds", func(tr *Transformer) { tr.Features[0].Clip = nil }},
		{"bounds without a method", func(tr *Transformer) { tr.Clip = nil }},
		{"unknown method", func(tr *Transformer) { tr.Clip.Method = "zscore" }},
		{"unresolved k", func(tr *Transformer) { tr.Clip.K = 0 }},
		{"negative k", func(tr *Transformer) { tr.Clip.K = -1 }},
		{"quantiles reversed", func(tr *Transformer) { *tr.Clip = Clip{Method: Quantile, Low: 0.9, High: 0.1} }},
	}
	for _, c := range cases {
		tr := fresh()
		c.damage(tr)
		if _, err := tr.Transform(clipFrame()); !errors.Is(err, ErrShape) {
			t.Errorf("%s: %v, want ErrShape", c.name, err)
		}
	}
	// Damaged JSON, as a model file could carry it.
	b, _ := json.Marshal(fresh())
	bad := bytes.Replace(b, []byte(`"clip":{"low":-2,"high":12}`), []byte(`"clip":{"low":12,"high":-2}`), 1)
	if bytes.Equal(b, bad) {
		t.Fatalf("bounds not found in %s", b)
	}
	var dec Transformer
	if err := json.Unmarshal(bad, &dec); err != nil {
		t.Fatal(err)
	}
	if _, err := dec.Transform(clipFrame()); !errors.Is(err, ErrShape) || !strings.Contains(err.Error(), `"x"`) {
		t.Errorf("decoded low > high: %v", err)
	}
}

func TestClipSpecErrors(t *testing.T) {
	cases := []struct {
		clip Clip
		msg  string
	}{
		{Clip{Method: "winsor"}, `unknown method "winsor"`},
		{Clip{Method: "IQR"}, `unknown method "IQR"`},
		{Clip{Method: IQR, K: -1}, "k -1"},
		{Clip{Method: IQR, K: math.NaN()}, "k NaN"},
		{Clip{Method: IQR, K: math.Inf(1)}, "k +Inf"},
		{Clip{Method: IQR, Low: 0.1}, "low and high are for method quantile"},
		{Clip{Method: Quantile, K: 2, Low: 0.1, High: 0.9}, "k is for method iqr"},
		{Clip{Method: Quantile, Low: -0.1, High: 0.9}, "want both in [0, 1]"},
		{Clip{Method: Quantile, Low: 0.1, High: 1.5}, "want both in [0, 1]"},
		{Clip{Method: Quantile, Low: math.NaN(), High: 0.9}, "want both in [0, 1]"},
		{Clip{Method: Quantile, Low: 0.5, High: 0.5}, "not below high"},
		{Clip{Method: Quantile, Low: 0.9, High: 0.1}, "not below high"},
		{Clip{Method: Quantile}, "not below high"},
		{Clip{K: 1.5}, "without a method"},
	}
	for _, c := range cases {
		_, err := Fit(clipFrame(), clipSpec(c.clip, true))
		if !errors.Is(err, ErrSpec) || !strings.Contains(fmtErr(err), c.msg) {
			t.Errorf("%+v: got %v, want ErrSpec containing %q", c.clip, err, c.msg)
		}
	}
	// Extremes that are valid.
	for _, c := range []Clip{{Method: Quantile, Low: 0, High: 1}, {Method: IQR, K: 1e-9}} {
		if _, err := Fit(clipFrame(), clipSpec(c, true)); err != nil {
			t.Errorf("%+v: %v", c, err)
		}
	}
	// Bounds that overflow. Q1 -3.75e307, Q3 3.75e307, 3·IQR 2.25e308.
	_, err := Fit(frame(num("x", -1.5e308, 0, 0, 1.5e308), num("y", 0, 1, 0, 1)), Spec{Label: "y", Clip: Clip{Method: IQR, K: 3}})
	var ce *ColumnError
	if !errors.Is(err, ErrNonFinite) || !errors.As(err, &ce) || ce.Column != "x" {
		t.Errorf("overflowing bounds: %v", err)
	}
}
