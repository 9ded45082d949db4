package linear

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"
)

// LogisticOptions are the hyperparameters of FitLogistic. Start from
// DefaultLogisticOptions: the zero value has C = 0, which is an error.
type LogisticOptions struct {
	// C is the inverse regularisation strength, > 0: FitLogistic minimises
	// C·Σ wᵢ·logloss(xᵢ, yᵢ) + ½‖coef‖² (the intercept is not penalised).
	C float64
	// ClassWeight, if not nil, has one positive weight per class: the loss of
	// a sample of class c is multiplied by ClassWeight[c].
	ClassWeight []float64
	// Balanced weights each class by n / (k · count(class)), like
	// scikit-learn's class_weight="balanced". It excludes ClassWeight.
	Balanced bool
	// Tol stops L-BFGS when max|gradient| <= Tol, where the gradient is that
	// of Σ wᵢ·logloss + ½/C·‖coef‖² (scikit-learn 1.2's scaling of its gtol).
	// 0 means 1e-4, scikit-learn's default.
	Tol float64
	// FTol stops L-BFGS when an iteration lowers the objective by less than
	// FTol·max(|f|, 1), like scipy's L-BFGS-B ftol; if the gradient is then
	// still above Tol, Newton's method finishes the fit (see the package
	// documentation). 0 means scipy's default 2.220446049250313e-09 (factr
	// 1e7); a negative value disables the test, so only Tol and MaxIter
	// stop L-BFGS.
	FTol float64
	// MaxIter bounds the L-BFGS iterations. 0 means 100, scikit-learn's
	// default.
	MaxIter int
}

// DefaultLogisticOptions returns scikit-learn's LogisticRegression defaults:
// C = 1, no class weights, tol 1e-4, max_iter 100.
func DefaultLogisticOptions() LogisticOptions {
	return LogisticOptions{C: 1, Tol: 1e-4, MaxIter: 100}
}

// Logistic is a fitted L2-penalised logistic regression, from FitLogistic.
//
// With two classes it is one sigmoid model: Coef has one row and
// P(class 1) = σ(x·Coef[0] + Intercept[0]). With k > 2 classes it is a
// multinomial (softmax) model: Coef has k rows, Intercept k entries, and
// P(class c) = softmax(x·Coefᵀ + Intercept)[c]. This is scikit-learn's
// layout for coef_ and intercept_ (multi_class="auto").
type Logistic struct {
	// Classes is the number of classes k; labels are 0..k-1.
	Classes int `json:"classes"`
	// Coef is 1×p for two classes, k×p for more.
	Coef [][]float64 `json:"coef"`
	// Intercept has len(Coef) entries. For k > 2 they sum to 0 (the softmax
	// is unchanged by a common shift and the intercept is not penalised).
	Intercept []float64 `json:"intercept"`
	// C is the regularisation it was fitted with.
	C float64 `json:"c"`
	// Iterations is the number of iterations run, L-BFGS then Newton.
	Iterations int `json:"iterations"`
	// Converged is true when the fit ended with max|gradient| <= Tol; false
	// if it stopped at MaxIter, or where the gradient could not get below
	// Tol in floating point.
	Converged bool `json:"converged"`
}

// FitLogistic fits an L2-penalised logistic regression on X (rows are
// samples) and class labels y in 0..k-1, k = max(y)+1, every class present.
// It matches scikit-learn's LogisticRegression(penalty="l2", C=opts.C,
// solver="lbfgs", fit_intercept=True) with multi_class="auto": binomial
// for two classes, multinomial for more. The optimiser is L-BFGS (memory 10,
// like scipy's) started from zero; the result is deterministic and does
// not depend on GOMAXPROCS (see the package documentation).
//
// Not converging is not an error: the model comes back with
// Converged = false, as scikit-learn returns one with a ConvergenceWarning.
func FitLogistic(X *mat.Dense, y []int, opts LogisticOptions) (*Logistic, error) {
	const what = "FitLogistic"
	n, p, err := checkX(what, X, len(y), 2)
	if err != nil {
		return nil, err
	}
	if math.IsNaN(opts.C) || math.IsInf(opts.C, 0) || opts.C <= 0 {
		return nil, fmt.Errorf("linear: %s: C = %v, want a finite value > 0: %w", what, opts.C, ErrParam)
	}
	tol, ftol, maxIter := opts.Tol, opts.FTol, opts.MaxIter
	if math.IsNaN(tol) || tol < 0 || math.IsNaN(ftol) || maxIter < 0 {
		return nil, fmt.Errorf("linear: %s: Tol = %v, FTol = %v, MaxIter = %d, want Tol >= 0 and MaxIter >= 0: %w",
			what, tol, ftol, maxIter, ErrParam)
	}
	if tol == 0 {
		tol = 1e-4
	}
	switch {
	case ftol == 0:
		ftol = 2.220446049250313e-09
	case ftol < 0:
		ftol = 0
	}
	if maxIter == 0 {
		maxIter = 100
	}

	k := 0
	for i, c := range y {
		if c < 0 {
			return nil, fmt.Errorf("linear: %s: y[%d] = %d, want a class index >= 0: %w", what, i, c, ErrLabel)
		}
		k = max(k, c+1)
	}
	counts := make([]int, k)
	for _, c := range y {
		counts[c]++
	}
	if k < 2 || counts[y[0]] == n {
		return nil, fmt.Errorf("linear: %s: every sample is class %d: %w", what, y[0], ErrOneClass)
	}
	for c, cnt := range counts {
		if cnt == 0 {
			return nil, fmt.Errorf("linear: %s: class %d has no sample (labels must be 0..%d, all present): %w",
				what, c, k-1, ErrLabel)
		}
	}

	cw, err := classWeights(what, opts, counts, n)
	if err != nil {
		return nil, err
	}

	prob := newLogLoss(X, y, k, cw, 1/opts.C)
	res := minimizeLBFGS(prob.eval, prob.dim, tol, ftol, maxIter)
	if res.gradNorm > tol && res.iterations < maxIter && newtonFeasible(n, prob.dim) {
		// L-BFGS stopped on the loss change (or its line search could not
		// go on) with the gradient above tol: on an ill-conditioned problem
		// (features of very different scales) that is far from the
		// optimum. Newton's method finishes the fit, within what is left
		// of MaxIter.
		x, _, _, it, ok := refineNewton(prob, res.x, tol, min(maxNewtonIter, maxIter-res.iterations))
		res.x, res.iterations, res.converged = x, res.iterations+it, ok
	}

	m := &Logistic{Classes: k, C: opts.C, Iterations: res.iterations, Converged: res.converged}
	rows := prob.rows
	m.Coef = make([][]float64, rows)
	m.Intercept = make([]float64, rows)
	for r := range rows {
		m.Coef[r] = append([]float64(nil), res.x[r*p:(r+1)*p]...)
		m.Intercept[r] = res.x[rows*p+r]
	}
	if rows > 1 {
		mean := 0.0
		for _, b := range m.Intercept {
			mean += b
		}
		mean /= float64(rows)
		for r := range m.Intercept {
			m.Intercept[r] -= mean
		}
	}
	return m, nil
}

// classWeights returns one weight per class, or nil for all ones.
func classWeights(what string, opts LogisticOptions, counts []int, n int) ([]float64, error) {
	k := len(counts)
	switch {
	case opts.Balanced && opts.ClassWeight != nil:
		return nil, fmt.Errorf("linear: %s: both ClassWeight and Balanced set: %w", what, ErrParam)
	case opts.Balanced:
		cw := make([]float64, k)
		for c, cnt := range counts {
			cw[c] = float64(n) / (float64(k) * float64(cnt))
		}
		return cw, nil
	case opts.ClassWeight != nil:
		if len(opts.ClassWeight) != k {
			return nil, fmt.Errorf("linear: %s: %d class weights for %d classes: %w", what, len(opts.ClassWeight), k, ErrParam)
		}
		for c, w := range opts.ClassWeight {
			if math.IsNaN(w) || math.IsInf(w, 0) || w <= 0 {
				return nil, fmt.Errorf("linear: %s: ClassWeight[%d] = %v, want a finite value > 0: %w", what, c, w, ErrParam)
			}
		}
		return append([]float64(nil), opts.ClassWeight...), nil
	}
	return nil, nil
}

// DecisionFunction returns the linear scores: n×1 (the log-odds of class 1)
// for a binary model, n×k for a multinomial one, like scikit-learn's
// decision_function (which returns a 1-D array in the binary case).
func (m *Logistic) DecisionFunction(X *mat.Dense) ([][]float64, error) {
	return m.scores("Logistic.DecisionFunction", X)
}

func (m *Logistic) scores(what string, X *mat.Dense) ([][]float64, error) {
	if len(m.Coef) == 0 || len(m.Intercept) != len(m.Coef) {
		return nil, fmt.Errorf("linear: %s: model has %d coefficient rows and %d intercepts: %w",
			what, len(m.Coef), len(m.Intercept), ErrShape)
	}
	p := len(m.Coef[0])
	n, err := checkPredict(what, X, p)
	if err != nil {
		return nil, err
	}
	rows := len(m.Coef)
	flat := make([]float64, n*rows)
	out := make([][]float64, n)
	raw := X.RawMatrix()
	for i := range n {
		x := raw.Data[i*raw.Stride : i*raw.Stride+p]
		o := flat[i*rows : (i+1)*rows : (i+1)*rows]
		for r, w := range m.Coef {
			o[r] = m.Intercept[r] + dot(x, w)
		}
		out[i] = o
	}
	return out, nil
}

// PredictProba returns n rows of k class probabilities (each row sums to
// 1), in the layout package metrics takes.
func (m *Logistic) PredictProba(X *mat.Dense) ([][]float64, error) {
	z, err := m.scores("Logistic.PredictProba", X)
	if err != nil {
		return nil, err
	}
	if len(m.Coef) == 1 {
		flat := make([]float64, 2*len(z))
		out := make([][]float64, len(z))
		for i, zi := range z {
			p1 := sigmoid(zi[0])
			out[i] = flat[2*i : 2*i+2 : 2*i+2]
			out[i][0], out[i][1] = 1-p1, p1
		}
		return out, nil
	}
	for _, row := range z {
		softmax(row)
	}
	return z, nil
}

// Predict returns the most probable class of every row (the lowest index
// on a tie, like numpy.argmax). A binary model predicts 1 when the
// log-odds are > 0, like scikit-learn.
func (m *Logistic) Predict(X *mat.Dense) ([]int, error) {
	z, err := m.scores("Logistic.Predict", X)
	if err != nil {
		return nil, err
	}
	out := make([]int, len(z))
	for i, row := range z {
		if len(row) == 1 {
			if row[0] > 0 {
				out[i] = 1
			}
			continue
		}
		best := 0
		for c, v := range row {
			if v > row[best] {
				best = c
			}
		}
		out[i] = best
	}
	return out, nil
}

// sigmoid is 1/(1+e^-z), computed without overflow.
func sigmoid(z float64) float64 {
	if z >= 0 {
		return 1 / (1 + math.Exp(-z))
	}
	e := math.Exp(z)
	return e / (1 + e)
}

// softmax replaces z by softmax(z) in place and returns log Σ e^z.
func softmax(z []float64) float64 {
	zmax := z[0]
	for _, v := range z[1:] {
		zmax = max(zmax, v)
	}
	s := 0.0
	for c, v := range z {
		z[c] = math.Exp(v - zmax)
		s += z[c]
	}
	for c := range z {
		z[c] /= s
	}
	return zmax + math.Log(s)
}

func dot(x, w []float64) float64 {
	w = w[:len(x)]
	s := 0.0
	for j, v := range x {
		s += v * w[j]
	}
	return s
}
