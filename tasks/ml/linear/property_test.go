package linear

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"

	"gonum.org/v1/gonum/mat"
)

func nearRel(a, b, tol float64) bool {
	return math.Abs(a-b) <= tol*math.Max(1, math.Abs(b))
}

func regressionData(seed uint64, n, p int, noise float64) (*mat.Dense, []float64, []float64) {
	rng := rand.New(rand.NewPCG(seed, seed))
	X := mat.NewDense(n, p, nil)
	beta := make([]float64, p)
	for j := range beta {
		beta[j] = rng.NormFloat64()
	}
	y := make([]float64, n)
	for i := range n {
		z := 2.5
		for j := range p {
			v := rng.NormFloat64()*float64(j+1) + float64(j)
			X.Set(i, j, v)
			z += v * beta[j]
		}
		y[i] = z + noise*rng.NormFloat64()
	}
	return X, y, beta
}

// Exact linear data: OLS recovers the coefficients and intercept.
func TestOLSExact(t *testing.T) {
	X, y, beta := regressionData(1, 50, 6, 0)
	m, err := FitOLS(X, y)
	if err != nil {
		t.Fatal(err)
	}
	for j := range beta {
		if !nearRel(m.Coef[j], beta[j], 1e-10) {
			t.Errorf("coef[%d] = %v, want %v", j, m.Coef[j], beta[j])
		}
	}
	if !nearRel(m.Intercept, 2.5, 1e-10) || m.Rank != 6 {
		t.Errorf("intercept %v rank %d, want 2.5 and 6", m.Intercept, m.Rank)
	}
}

// The ridge solution satisfies its normal equations
// (XcᵀXc + αI)w = Xcᵀyc, its coefficient norm shrinks as alpha grows, and
// alpha = 0 is OLS.
func TestRidgeProperties(t *testing.T) {
	X, y, _ := regressionData(2, 40, 5, 1)
	ols, _ := FitOLS(X, y)
	r0, _ := FitRidge(X, y, 0)
	if !slices.Equal(ols.Coef, r0.Coef) || ols.Intercept != r0.Intercept {
		t.Errorf("ridge alpha=0 %v, OLS %v", r0, ols)
	}
	prev := math.Inf(1)
	for _, alpha := range []float64{1e-3, 0.1, 1, 10, 1000} {
		m, err := FitRidge(X, y, alpha)
		if err != nil {
			t.Fatal(err)
		}
		norm := mat.Norm(mat.NewVecDense(len(m.Coef), m.Coef), 2)
		if norm >= prev {
			t.Errorf("alpha %v: ‖coef‖ %v, not below %v", alpha, norm, prev)
		}
		prev = norm
		// Normal equations on centred data: Xcᵀ(yc - Xc w) = αw, which with
		// the intercept is Xcᵀ(y - Xw - b) = αw and Σ(y - Xw - b) = 0.
		pred, _ := m.Predict(X)
		n, p := X.Dims()
		xm := make([]float64, p)
		for j := range p {
			xm[j] = mat.Sum(X.ColView(j)) / float64(n)
		}
		sumRes := 0.0
		for i := range n {
			sumRes += y[i] - pred[i]
		}
		if math.Abs(sumRes) > 1e-9*float64(n) {
			t.Errorf("alpha %v: residuals sum to %v", alpha, sumRes)
		}
		for j := range p {
			g := 0.0
			for i := range n {
				g += (X.At(i, j) - xm[j]) * (y[i] - pred[i])
			}
			if !nearRel(g, alpha*m.Coef[j], 1e-8) {
				t.Errorf("alpha %v: normal equation %d: %v != %v", alpha, j, g, alpha*m.Coef[j])
			}
		}
	}
}

// Row order does not change the fits beyond rounding.
func TestRowPermutation(t *testing.T) {
	X, y, _ := regressionData(3, 60, 4, 0.5)
	n, p := X.Dims()
	perm := rand.New(rand.NewPCG(9, 9)).Perm(n)
	Xp := mat.NewDense(n, p, nil)
	yp := make([]float64, n)
	cls, clsP := make([]int, n), make([]int, n)
	for i, k := range perm {
		Xp.SetRow(i, X.RawRowView(k))
		yp[i] = y[k]
	}
	for i := range n {
		if y[i] > 3 {
			cls[i] = 1
		}
	}
	for i, k := range perm {
		clsP[i] = cls[k]
	}
	a, _ := FitRidge(X, y, 0.5)
	b, _ := FitRidge(Xp, yp, 0.5)
	for j := range a.Coef {
		if !nearRel(a.Coef[j], b.Coef[j], 1e-10) {
			t.Errorf("ridge coef[%d]: %v vs %v", j, a.Coef[j], b.Coef[j])
		}
	}
	opts := LogisticOptions{C: 1, Tol: 1e-10, FTol: -1, MaxIter: 1000}
	la, _ := FitLogistic(X, cls, opts)
	lb, _ := FitLogistic(Xp, clsP, opts)
	for j := range la.Coef[0] {
		if !nearRel(la.Coef[0][j], lb.Coef[0][j], 1e-7) {
			t.Errorf("logistic coef[%d]: %v vs %v", j, la.Coef[0][j], lb.Coef[0][j])
		}
	}
}

func classData(seed uint64, n, p, k int) (*mat.Dense, []int) {
	rng := rand.New(rand.NewPCG(seed, seed))
	X := mat.NewDense(n, p, nil)
	y := make([]int, n)
	for i := range n {
		y[i] = rng.IntN(k)
		if i < k {
			y[i] = i
		}
		for j := range p {
			v := rng.NormFloat64()
			if j%k == y[i] {
				v += 1.2
			}
			X.Set(i, j, v)
		}
	}
	return X, y
}

// At the optimum the gradient is 0; for the unpenalised intercept that
// says the weighted mean predicted probability of every class equals its
// weighted frequency. For the multinomial model the coefficients of the k
// classes also sum to 0 (the penalty picks that representative).
func TestLogisticOptimality(t *testing.T) {
	for _, k := range []int{2, 3, 4} {
		for _, balanced := range []bool{false, true} {
			X, y := classData(uint64(10+k), 300, 5, k)
			m, err := FitLogistic(X, y, LogisticOptions{C: 0.7, Balanced: balanced, Tol: 1e-9, FTol: -1, MaxIter: 1000})
			if err != nil || !m.Converged {
				t.Fatal(err, m)
			}
			proba, _ := m.PredictProba(X)
			counts := make([]int, k)
			for _, c := range y {
				counts[c]++
			}
			sw := make([]float64, k)
			for c := range sw {
				sw[c] = 1
				if balanced {
					sw[c] = float64(len(y)) / float64(k*counts[c])
				}
			}
			for c := range k {
				got, want := 0.0, 0.0
				for i, row := range proba {
					got += sw[y[i]] * row[c]
					if y[i] == c {
						want += sw[y[i]]
					}
				}
				if math.Abs(got-want) > 1e-7 {
					t.Errorf("k=%d balanced=%v class %d: Σ weighted probability %v, weighted count %v", k, balanced, c, got, want)
				}
			}
			for i, row := range proba {
				s := 0.0
				for _, v := range row {
					s += v
				}
				if math.Abs(s-1) > 1e-12 || len(row) != k {
					t.Fatalf("row %d: %v sums to %v", i, row, s)
				}
			}
			if k > 2 {
				for j := range m.Coef[0] {
					s := 0.0
					for c := range k {
						s += m.Coef[c][j]
					}
					if math.Abs(s) > 1e-8 {
						t.Errorf("k=%d: coefficients of feature %d sum to %v", k, j, s)
					}
				}
			}
		}
	}
}

// Multiplying every class weight by s is the same objective as C·s.
func TestClassWeightScalesC(t *testing.T) {
	X, y := classData(20, 200, 4, 3)
	base := LogisticOptions{Tol: 1e-10, FTol: -1, MaxIter: 1000}
	a := base
	a.C, a.ClassWeight = 0.5, []float64{2, 2, 2}
	b := base
	b.C = 1
	ma, _ := FitLogistic(X, y, a)
	mb, _ := FitLogistic(X, y, b)
	for c := range ma.Coef {
		for j := range ma.Coef[c] {
			if !nearRel(ma.Coef[c][j], mb.Coef[c][j], 1e-7) {
				t.Errorf("coef[%d][%d]: %v vs %v", c, j, ma.Coef[c][j], mb.Coef[c][j])
			}
		}
	}
	// Balanced is the explicit n/(k·count) weighting.
	counts := make([]int, 3)
	for _, c := range y {
		counts[c]++
	}
	bal, exp := base, base
	bal.C, bal.Balanced = 1, true
	exp.C = 1
	for _, c := range counts {
		exp.ClassWeight = append(exp.ClassWeight, float64(len(y))/float64(3*c))
	}
	m1, _ := FitLogistic(X, y, bal)
	m2, _ := FitLogistic(X, y, exp)
	if !slices.Equal(m1.Intercept, m2.Intercept) {
		t.Errorf("balanced %v, explicit weights %v", m1.Intercept, m2.Intercept)
	}
}

// The gradient of the objective is that of its value (central differences).
func TestLogLossGradient(t *testing.T) {
	for _, k := range []int{2, 3} {
		X, y := classData(30, 50, 3, k)
		l := newLogLoss(X, y, k, []float64{1, 2, 0.5}[:k], 0.8)
		rng := rand.New(rand.NewPCG(5, 5))
		x := make([]float64, l.dim)
		for j := range x {
			x[j] = rng.NormFloat64()
		}
		g := make([]float64, l.dim)
		l.eval(x, g)
		scratch := make([]float64, l.dim)
		for j := range x {
			h := 1e-6
			x0 := x[j]
			x[j] = x0 + h
			fp := l.eval(x, scratch)
			x[j] = x0 - h
			fm := l.eval(x, scratch)
			x[j] = x0
			if num := (fp - fm) / (2 * h); !nearRel(g[j], num, 1e-6) {
				t.Errorf("k=%d: gradient[%d] = %v, finite difference %v", k, j, g[j], num)
			}
		}
	}
}

// The fit is the same bits whatever GOMAXPROCS is (chunked sums added in a
// fixed order), and its JSON is byte-identical across runs and round-trips.
func TestLogisticDeterministic(t *testing.T) {
	X, y := benchBinary(7, 3*chunkRows+123, 6) // several chunks
	fit := func(procs int) []byte {
		old := runtime.GOMAXPROCS(procs)
		defer runtime.GOMAXPROCS(old)
		m, err := FitLogistic(X, y, DefaultLogisticOptions())
		if err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	one, four := fit(1), fit(4)
	if !bytes.Equal(one, four) || !bytes.Equal(one, fit(4)) {
		t.Fatalf("fits differ:\n%s\n%s", one, four)
	}
	var m Logistic
	if err := json.Unmarshal(one, &m); err != nil {
		t.Fatal(err)
	}
	again, _ := json.Marshal(&m)
	if !bytes.Equal(one, again) {
		t.Fatalf("JSON does not round-trip:\n%s\n%s", one, again)
	}
}

// Separable data has no finite optimum without the penalty; with it the
// fit converges, and a huge C still gives finite coefficients.
func TestSeparable(t *testing.T) {
	X := mat.NewDense(6, 1, []float64{-3, -2, -1, 1, 2, 3})
	y := []int{0, 0, 0, 1, 1, 1}
	for _, C := range []float64{1, 1e6} {
		m, err := FitLogistic(X, y, LogisticOptions{C: C, MaxIter: 10000})
		if err != nil {
			t.Fatal(err)
		}
		if math.IsNaN(m.Coef[0][0]) || math.IsInf(m.Coef[0][0], 0) || m.Coef[0][0] <= 0 {
			t.Errorf("C=%v: coef %v", C, m.Coef)
		}
		pred, _ := m.Predict(X)
		if !slices.Equal(pred, y) {
			t.Errorf("C=%v: predictions %v", C, pred)
		}
	}
}

// A non-converged fit is reported, not an error.
func TestMaxIter(t *testing.T) {
	X, y := classData(40, 100, 4, 3)
	m, err := FitLogistic(X, y, LogisticOptions{C: 1, Tol: 1e-12, FTol: -1, MaxIter: 2})
	if err != nil || m.Converged || m.Iterations != 2 {
		t.Fatalf("err %v converged %v after %d iterations, want false after 2", err, m.Converged, m.Iterations)
	}
}
