package synthetic_test

import (
	"bytes"
	"errors"
	"flag"
	"math"
	"os"
	"testing"

	"github.com/cairnml/cairn/tasks/ml/dataset"
	"github.com/cairnml/cairn/tasks/ml/synthetic"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func csvBytes(t *testing.T, f *dataset.Frame) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := dataset.WriteCSV(&b, f); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func col(t *testing.T, f *dataset.Frame, name string) *dataset.Column {
	t.Helper()
	c, ok := f.Col(name)
	if !ok {
		t.Fatalf("no column %q in %v", name, f.Names())
	}
	return c
}

// meanBy returns the mean of c over the rows where label == class.
func meanBy(c, label *dataset.Column, class float64) float64 {
	s, n := 0.0, 0
	for i, v := range c.Num {
		if label.Num[i] == class && !c.IsMissing(i) {
			s += v
			n++
		}
	}
	return s / float64(n)
}

func meanStd(c *dataset.Column) (float64, float64) {
	s, n := 0.0, 0
	for i, v := range c.Num {
		if !c.IsMissing(i) {
			s += v
			n++
		}
	}
	m := s / float64(n)
	ss := 0.0
	for i, v := range c.Num {
		if !c.IsMissing(i) {
			ss += (v - m) * (v - m)
		}
	}
	return m, math.Sqrt(ss / float64(n))
}

// TestGolden pins the generators' bytes: a change of algorithm or of the
// random stream shows here (go test -update to accept it on purpose).
func TestGolden(t *testing.T) {
	cases := map[string]interface {
		Frame() (*dataset.Frame, error)
	}{
		"classification.golden.csv": synthetic.Classification{Rows: 12, Features: 4, Informative: 2, Classes: 3, Weights: []float64{2, 1, 1}, MissingRate: 0.1, Seed: 7},
		"regression.golden.csv":     synthetic.Regression{Rows: 8, Features: 3, Informative: 2, Noise: 0.5, Seed: 7},
	}
	for name, g := range cases {
		f, err := g.Frame()
		if err != nil {
			t.Fatal(err)
		}
		got := csvBytes(t, f)
		path := "testdata/" + name
		if *update {
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s changed:\n%s\nwant:\n%s", name, got, want)
		}
	}
}

func TestDeterministic(t *testing.T) {
	g := synthetic.Classification{Rows: 2000, Features: 6, Classes: 3, MissingRate: 0.05, FlipY: 0.1, Drift: synthetic.Drift{Shift: 1}, Seed: 42}
	a, err := g.Frame()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := g.Frame()
	if !bytes.Equal(csvBytes(t, a), csvBytes(t, b)) {
		t.Error("same seed, different bytes")
	}
	g.Seed = 43
	c, _ := g.Frame()
	if bytes.Equal(csvBytes(t, a), csvBytes(t, c)) {
		t.Error("seeds 42 and 43 give the same bytes")
	}
	r := synthetic.Regression{Rows: 500, Features: 4, Noise: 1, Seed: 1}
	ra, _ := r.Frame()
	rb, _ := r.Frame()
	if !bytes.Equal(csvBytes(t, ra), csvBytes(t, rb)) {
		t.Error("regression: same seed, different bytes")
	}
}

func TestClassificationShape(t *testing.T) {
	g := synthetic.Classification{Rows: 10000, Features: 8, Informative: 3, Classes: 2, Weights: []float64{0.9, 0.1}, ClassSep: 1.5, Seed: 3}
	f, err := g.Frame()
	if err != nil {
		t.Fatal(err)
	}
	if f.Rows() != 10000 || len(f.Columns) != 9 || f.Columns[8].Name != "label" || f.Columns[0].Name != "x0" {
		t.Fatalf("shape %d × %v", f.Rows(), f.Names())
	}
	label := col(t, f, "label")
	n1 := 0
	for _, v := range label.Num {
		if v != 0 && v != 1 {
			t.Fatalf("label %v", v)
		}
		n1 += int(v)
	}
	if n1 != 1000 {
		t.Errorf("class 1 has %d rows, want exactly 1000 (weights 0.9/0.1)", n1)
	}
	// Informative features separate the classes by 2 × ClassSep (the
	// centroids differ in at least one of them); noise features do not.
	sep := 0.0
	for j := range 3 {
		c := f.Columns[j]
		sep = max(sep, math.Abs(meanBy(c, label, 0)-meanBy(c, label, 1)))
	}
	if math.Abs(sep-3) > 0.2 {
		t.Errorf("largest class-mean gap over informative features %v, want about 3", sep)
	}
	for j := 3; j < 8; j++ {
		c := f.Columns[j]
		if d := math.Abs(meanBy(c, label, 0) - meanBy(c, label, 1)); d > 0.15 {
			t.Errorf("noise feature %s: class means differ by %v", c.Name, d)
		}
		if m, s := meanStd(c); math.Abs(m) > 0.05 || math.Abs(s-1) > 0.05 {
			t.Errorf("noise feature %s: mean %v std %v, want N(0, 1)", c.Name, m, s)
		}
	}
	counts, err := g.Counts()
	if err != nil || counts[0] != 9000 || counts[1] != 1000 {
		t.Errorf("Counts %v %v", counts, err)
	}
}

func TestClassCountsKeepEveryClass(t *testing.T) {
	counts, err := synthetic.Classification{Rows: 10, Features: 3, Classes: 3, Weights: []float64{100, 1, 0}}.Counts()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0
	for c, m := range counts {
		if m < 1 {
			t.Errorf("class %d has no row: %v", c, counts)
		}
		sum += m
	}
	if sum != 10 {
		t.Errorf("counts %v sum to %d", counts, sum)
	}
}

func TestDriftAndMissing(t *testing.T) {
	base := synthetic.Classification{Rows: 20000, Features: 4, Informative: 2, Seed: 9}
	drifted := base
	drifted.Drift = synthetic.Drift{Shift: 2, Scale: 3, Features: 3}
	f0, _ := base.Frame()
	f1, err := drifted.Frame()
	if err != nil {
		t.Fatal(err)
	}
	// Labels are drawn before the drift: the same for both.
	if !equal(col(t, f0, "label").Num, col(t, f1, "label").Num) {
		t.Error("drift changed the labels")
	}
	for j := range 4 {
		m0, s0 := meanStd(f0.Columns[j])
		m1, s1 := meanStd(f1.Columns[j])
		if j < 3 {
			if math.Abs(m1-(3*m0+2)) > 0.01 || math.Abs(s1/s0-3) > 0.01 {
				t.Errorf("x%d drifted: mean %v→%v std %v→%v, want ×3 + 2", j, m0, m1, s0, s1)
			}
		} else if m0 != m1 || s0 != s1 {
			t.Errorf("x%d drifted though Features is 3", j)
		}
	}

	withMissing := base
	withMissing.MissingRate = 0.2
	fm, err := withMissing.Frame()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range fm.Columns {
		miss := 0
		for i := range c.Len() {
			if c.IsMissing(i) {
				miss++
			}
		}
		rate := float64(miss) / float64(c.Len())
		if c.Name == "label" {
			if miss != 0 {
				t.Errorf("label has %d missing values", miss)
			}
		} else if math.Abs(rate-0.2) > 0.015 {
			t.Errorf("%s: missing rate %v, want about 0.2", c.Name, rate)
		}
	}
}

func equal(a, b []float64) bool {
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

func TestRegression(t *testing.T) {
	f, err := synthetic.Regression{Rows: 5000, Features: 5, Informative: 2, Noise: 0, Seed: 5}.Frame()
	if err != nil {
		t.Fatal(err)
	}
	y := col(t, f, "target")
	// The target is exactly linear in x0 and x1 (up to rounding): a
	// least-squares fit on those two leaves no residual, and the noise
	// features are uncorrelated with it.
	x0, x1 := f.Columns[0].Num, f.Columns[1].Num
	var a, b, c, d, e float64
	for i := range y.Num {
		a += x0[i] * x0[i]
		b += x0[i] * x1[i]
		c += x1[i] * x1[i]
		d += x0[i] * y.Num[i]
		e += x1[i] * y.Num[i]
	}
	det := a*c - b*b
	w0, w1 := (d*c-b*e)/det, (a*e-b*d)/det
	if math.Abs(w0) < 1 || math.Abs(w0) > 10 || math.Abs(w1) < 1 || math.Abs(w1) > 10 {
		t.Errorf("coefficients %v %v outside ±[1, 10)", w0, w1)
	}
	for i := range y.Num {
		if r := y.Num[i] - w0*x0[i] - w1*x1[i]; math.Abs(r) > 1e-3 {
			t.Fatalf("row %d: residual %v with noise 0", i, r)
		}
	}
}

func TestCheck(t *testing.T) {
	for name, g := range map[string]interface{ Check() error }{
		"no rows":          synthetic.Classification{Features: 2},
		"too many values":  synthetic.Classification{Rows: 10_000_000, Features: 100},
		"informative":      synthetic.Classification{Rows: 10, Features: 2, Informative: 3},
		"2^inf < classes":  synthetic.Classification{Rows: 10, Features: 5, Informative: 1, Classes: 3},
		"weights length":   synthetic.Classification{Rows: 10, Features: 2, Weights: []float64{1}},
		"negative weight":  synthetic.Classification{Rows: 10, Features: 2, Weights: []float64{1, -1}},
		"flip":             synthetic.Classification{Rows: 10, Features: 2, FlipY: 1},
		"missing":          synthetic.Classification{Rows: 10, Features: 2, MissingRate: -0.1},
		"label clash":      synthetic.Classification{Rows: 10, Features: 2, Label: "x1"},
		"drift features":   synthetic.Regression{Rows: 10, Features: 2, Drift: synthetic.Drift{Shift: 1, Features: 3}},
		"drift scale":      synthetic.Regression{Rows: 10, Features: 2, Drift: synthetic.Drift{Scale: -1}},
		"noise":            synthetic.Regression{Rows: 10, Features: 2, Noise: math.NaN()},
		"fewer than class": synthetic.Classification{Rows: 2, Features: 2, Classes: 3},
	} {
		if err := g.Check(); !errors.Is(err, synthetic.ErrParam) {
			t.Errorf("%s: Check() = %v, want ErrParam", name, err)
		}
	}
}

// A sample is other rows of the same distribution: the same centroids
// (each class's feature means agree) or coefficients (a least-squares
// refit agrees), other bytes; the same sample gives the same bytes.
func TestSamples(t *testing.T) {
	base := synthetic.Classification{Rows: 4000, Features: 4, Informative: 3, Seed: 11}
	a, err := base.Frame()
	if err != nil {
		t.Fatal(err)
	}
	s := base
	s.Sample = 7
	b, err := s.Frame()
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := s.Frame()
	if bytes.Equal(csvBytes(t, a), csvBytes(t, b)) || !bytes.Equal(csvBytes(t, b), csvBytes(t, b2)) {
		t.Fatal("a sample must differ from the seed's rows and be deterministic")
	}
	means := func(f *dataset.Frame) [2][4]float64 {
		var sum [2][4]float64
		var n [2]float64
		lab := col(t, f, "label")
		for i, l := range lab.Num {
			n[int(l)]++
			for j := range 4 {
				sum[int(l)][j] += f.Columns[j].Num[i]
			}
		}
		for c := range 2 {
			for j := range 4 {
				sum[c][j] /= n[c]
			}
		}
		return sum
	}
	ma, mb := means(a), means(b)
	for c := range 2 {
		for j := range 4 {
			if math.Abs(ma[c][j]-mb[c][j]) > 0.15 {
				t.Errorf("class %d x%d: mean %.3f in the seed's rows, %.3f in sample 7", c, j, ma[c][j], mb[c][j])
			}
		}
	}
	r := synthetic.Regression{Rows: 2000, Features: 2, Informative: 2, Seed: 3}
	ra, _ := r.Frame()
	r.Sample = 1
	rb, _ := r.Frame()
	if bytes.Equal(csvBytes(t, ra), csvBytes(t, rb)) {
		t.Fatal("regression sample 1 equals the seed's rows")
	}
	// Noise 0: the target is exactly coef · x (up to rounding) in both.
	coef := func(f *dataset.Frame) [2]float64 {
		x0, x1, y := f.Columns[0].Num, f.Columns[1].Num, col(t, f, "target").Num
		var a, b, c, d, e float64
		for i := range y {
			a += x0[i] * x0[i]
			b += x0[i] * x1[i]
			c += x1[i] * x1[i]
			d += x0[i] * y[i]
			e += x1[i] * y[i]
		}
		det := a*c - b*b
		return [2]float64{(c*d - b*e) / det, (a*e - b*d) / det}
	}
	ca, cb := coef(ra), coef(rb)
	for j := range 2 {
		if math.Abs(ca[j]-cb[j]) > 1e-3 {
			t.Errorf("coefficient %d: %v in the seed's rows, %v in sample 1", j, ca[j], cb[j])
		}
	}
}
