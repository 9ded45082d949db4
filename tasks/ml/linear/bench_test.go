package linear

import (
	"bytes"
	"math"
	"math/rand/v2"
	"os/exec"
	"regexp"
	"strconv"
	"testing"
	"time"

	"gonum.org/v1/gonum/mat"
)

// benchBinary draws the benchmark data set: n×p standard normal features,
// true coefficients β_j = ((j mod 7) - 3)/4, intercept -0.5, and
// y ~ Bernoulli(σ(x·β - 0.5)). testdata/bench_sklearn.py draws the same
// recipe with numpy (a different generator, the same distribution).
func benchBinary(seed uint64, n, p int) (*mat.Dense, []int) {
	rng := rand.New(rand.NewPCG(seed, seed))
	data := make([]float64, n*p)
	y := make([]int, n)
	for i := range n {
		row := data[i*p : (i+1)*p]
		z := -0.5
		for j := range row {
			row[j] = rng.NormFloat64()
			z += row[j] * (float64(j%7) - 3) / 4
		}
		if rng.Float64() < 1/(1+math.Exp(-z)) {
			y[i] = 1
		}
	}
	return mat.NewDense(n, p, data), y
}

// BenchmarkLogisticFit200kx20 is issue 3's performance target: at most 2×
// scikit-learn's LogisticRegression(solver="lbfgs") fit time on the same
// machine and data shape (testdata/bench_sklearn.py).
func BenchmarkLogisticFit200kx20(b *testing.B) {
	X, y := benchBinary(1, 200_000, 20)
	opts := DefaultLogisticOptions()
	var m *Logistic
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if m, err = FitLogistic(X, y, opts); err != nil || !m.Converged {
			b.Fatal(err, m)
		}
	}
	b.ReportMetric(float64(m.Iterations), "iters")
}

func BenchmarkLogisticFitMultinomial50kx20(b *testing.B) {
	X, y := benchBinary(2, 50_000, 20)
	raw := X.RawMatrix()
	for i := range y { // a third class from the second feature
		if raw.Data[i*raw.Stride+1] > 0.8 {
			y[i] = 2
		}
	}
	opts := DefaultLogisticOptions()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := FitLogistic(X, y, opts); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRidge200kx20(b *testing.B) {
	X, y := benchBinary(3, 200_000, 20)
	yf := make([]float64, len(y))
	for i, v := range y {
		yf[i] = float64(v)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := FitRidge(X, yf, 1); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLogisticVsScikitLearn200kx20 measures issue 3's ratio in one
// run: the Go fit of BenchmarkLogisticFit200kx20, then scikit-learn's lbfgs
// fit of the same shape (testdata/bench_sklearn.py, best of 5) when
// python3 with scikit-learn is installed; it says so when it is not.
func BenchmarkLogisticVsScikitLearn200kx20(b *testing.B) {
	X, y := benchBinary(1, 200_000, 20)
	opts := DefaultLogisticOptions()
	best := time.Duration(math.MaxInt64)
	for b.Loop() {
		start := time.Now()
		if m, err := FitLogistic(X, y, opts); err != nil || !m.Converged {
			b.Fatal(err, m)
		}
		best = min(best, time.Since(start))
	}
	b.ReportMetric(float64(best.Microseconds())/1000, "ms-go-best")
	python := ""
	for _, p := range []string{"/usr/bin/python3", "python3"} {
		if exec.Command(p, "-c", "import sklearn").Run() == nil {
			python = p
			break
		}
	}
	if python == "" {
		b.Log("scikit-learn is not installed (apt-get install python3-sklearn): only the Go fit is measured")
		return
	}
	out, err := exec.Command(python, "testdata/bench_sklearn.py", "5").CombinedOutput()
	if err != nil {
		b.Fatalf("bench_sklearn.py: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`min ([0-9.]+) s`).FindSubmatch(out)
	if m == nil {
		b.Fatalf("bench_sklearn.py printed no time:\n%s", out)
	}
	sk, _ := strconv.ParseFloat(string(m[1]), 64)
	b.ReportMetric(sk*1000, "ms-sklearn-best")
	b.ReportMetric(best.Seconds()/sk, "x-sklearn")
	b.Logf("%s", bytes.TrimSpace(out))
}
