package linear

import (
	"encoding/json"
	"math"
	"os"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// Golden tolerances (see testdata/README.md).
const (
	// regTol: OLS and ridge coefficients, intercepts and predictions,
	// |got-want| <= regTol·max(1, |want|).
	regTol = 1e-6
	// convergedTol: logistic coefficients and intercepts against
	// scikit-learn's converged (newton-cg) fit,
	// |got-want| <= convergedTol·max(|want|, logFloor·max|want of the model|),
	// a relative test with a floor for coefficients near 0. Issue 3 asks for
	// 1e-4; the fits agree to 2e-8. Probabilities: |got-want| <= logTol.
	convergedTol = 1e-6
	logTol       = 1e-4
	logFloor     = 0.1
	// lbfgsTol: the same test against scikit-learn's lbfgs fits, which
	// scipy's ftol stops short of the optimum (up to 4e-4 on iris).
	lbfgsTol = 1e-3
)

type goldenFile struct {
	SklearnVersion string `json:"sklearn_version"`
	NumpyVersion   string `json:"numpy_version"`
	ScipyVersion   string `json:"scipy_version"`
	Head           int    `json:"head"`
	Regression     []struct {
		Name string      `json:"name"`
		X    [][]float64 `json:"x"`
		Y    []float64   `json:"y"`
		OLS  struct {
			goldenRegression
			Rank int `json:"rank"`
		} `json:"ols"`
		Ridge []struct {
			goldenRegression
			Alpha float64 `json:"alpha"`
		} `json:"ridge"`
	} `json:"regression"`
	Logistic []struct {
		Name string      `json:"name"`
		X    [][]float64 `json:"x"`
		Y    []int       `json:"y"`
		Fits []struct {
			C         float64     `json:"c"`
			Balanced  bool        `json:"balanced"`
			Coef      [][]float64 `json:"coef"`
			Intercept []float64   `json:"intercept"`
			NIter     int         `json:"n_iter"`
			Proba     [][]float64 `json:"proba"`
			Predict   []int       `json:"predict"`
			Converged struct {
				Coef      [][]float64 `json:"coef"`
				Intercept []float64   `json:"intercept"`
				NIter     int         `json:"n_iter"`
				Proba     [][]float64 `json:"proba"`
			} `json:"converged"`
		} `json:"fits"`
	} `json:"logistic"`
}

type goldenRegression struct {
	Coef      []float64 `json:"coef"`
	Intercept float64   `json:"intercept"`
	Predict   []float64 `json:"predict"`
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
	if len(g.Regression) == 0 || len(g.Logistic) == 0 || g.Head == 0 {
		t.Fatal("golden.json has an empty section")
	}
	t.Logf("golden values from scikit-learn %s, numpy %s, scipy %s", g.SklearnVersion, g.NumpyVersion, g.ScipyVersion)
	return g
}

func denseOf(rows [][]float64) *mat.Dense {
	X := mat.NewDense(len(rows), len(rows[0]), nil)
	for i, r := range rows {
		X.SetRow(i, r)
	}
	return X
}

func checkReg(t *testing.T, name string, got, want []float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", name, len(got), len(want))
	}
	for i := range got {
		if math.Abs(got[i]-want[i]) > regTol*math.Max(1, math.Abs(want[i])) {
			t.Errorf("%s[%d] = %.12g, want %.12g (diff %.3g)", name, i, got[i], want[i], got[i]-want[i])
		}
	}
}

func TestGoldenRegression(t *testing.T) {
	g := loadGolden(t)
	for _, c := range g.Regression {
		t.Run(c.Name, func(t *testing.T) {
			X := denseOf(c.X)
			head := denseOf(c.X[:min(g.Head, len(c.X))])
			check := func(name string, m *Regression, want goldenRegression) {
				t.Helper()
				checkReg(t, name+" coef", m.Coef, want.Coef)
				checkReg(t, name+" intercept", []float64{m.Intercept}, []float64{want.Intercept})
				pred, err := m.Predict(head)
				if err != nil {
					t.Fatal(err)
				}
				checkReg(t, name+" predict", pred, want.Predict)
			}
			ols, err := FitOLS(X, c.Y)
			if err != nil {
				t.Fatal(err)
			}
			check("ols", ols, c.OLS.goldenRegression)
			if ols.Rank != c.OLS.Rank {
				t.Errorf("ols rank %d, want %d", ols.Rank, c.OLS.Rank)
			}
			for _, r := range c.Ridge {
				m, err := FitRidge(X, c.Y, r.Alpha)
				if err != nil {
					t.Fatal(err)
				}
				check("ridge alpha="+ftoa(r.Alpha), m, r.goldenRegression)
			}
		})
	}
}

func TestGoldenLogistic(t *testing.T) {
	g := loadGolden(t)
	for _, c := range g.Logistic {
		t.Run(c.Name, func(t *testing.T) {
			X := denseOf(c.X)
			head := denseOf(c.X[:min(g.Head, len(c.X))])
			for _, f := range c.Fits {
				name := "C=" + ftoa(f.C)
				if f.Balanced {
					name += " balanced"
				}
				opts := LogisticOptions{C: f.C, Balanced: f.Balanced, Tol: 1e-10, FTol: -1, MaxIter: 10000}
				m, err := FitLogistic(X, c.Y, opts)
				if err != nil {
					t.Fatal(err)
				}
				if !m.Converged {
					t.Errorf("%s: not converged after %d iterations", name, m.Iterations)
				}
				worst := checkLogistic(t, name+" vs newton-cg", m, f.Converged.Coef, f.Converged.Intercept, convergedTol)
				worstLBFGS := checkLogistic(t, name+" vs lbfgs", m, f.Coef, f.Intercept, lbfgsTol)
				proba, err := m.PredictProba(head)
				if err != nil {
					t.Fatal(err)
				}
				worstP := 0.0
				for i := range f.Converged.Proba {
					for k := range f.Converged.Proba[i] {
						d := math.Abs(proba[i][k] - f.Converged.Proba[i][k])
						worstP = max(worstP, d)
						if d > logTol {
							t.Errorf("%s: proba[%d][%d] = %.10g, want %.10g", name, i, k, proba[i][k], f.Converged.Proba[i][k])
						}
					}
				}
				pred, err := m.Predict(head)
				if err != nil {
					t.Fatal(err)
				}
				for i := range pred {
					if pred[i] != f.Predict[i] {
						t.Errorf("%s: predict[%d] = %d, want %d (proba %v)", name, i, pred[i], f.Predict[i], f.Proba[i])
					}
				}
				// Our optimum must be at least as good as scikit-learn's.
				fOurs := objective(X, c.Y, m, f.C, f.Balanced)
				fSk := objective(X, c.Y, &Logistic{Classes: m.Classes, Coef: f.Coef, Intercept: f.Intercept}, f.C, f.Balanced)
				fRef := objective(X, c.Y, &Logistic{Classes: m.Classes, Coef: f.Converged.Coef, Intercept: f.Converged.Intercept}, f.C, f.Balanced)
				if fOurs > min(fSk, fRef)*(1+1e-13) {
					t.Errorf("%s: objective %.17g above scikit-learn's (lbfgs %.17g, newton-cg %.17g)", name, fOurs, fSk, fRef)
				}
				t.Logf("%s: %d iterations (sklearn lbfgs %d, newton-cg %d); worst rel diff %.2g vs newton-cg, %.2g vs lbfgs; proba diff %.2g; objective %.15g (lbfgs %+.2g, newton-cg %+.2g)",
					name, m.Iterations, f.NIter, f.Converged.NIter, worst, worstLBFGS, worstP, fOurs, fSk-fOurs, fRef-fOurs)
			}
		})
	}
}

// checkLogistic compares m's coefficients and intercepts to want with
// |got-want| <= tol·max(|want|, logFloor·max|want|) and returns the worst
// ratio |got-want| / max(|want|, logFloor·max|want|).
func checkLogistic(t *testing.T, name string, m *Logistic, coef [][]float64, intercept []float64, tol float64) float64 {
	t.Helper()
	if len(m.Coef) != len(coef) || len(m.Intercept) != len(intercept) {
		t.Fatalf("%s: %d coefficient rows and %d intercepts, want %d and %d", name, len(m.Coef), len(m.Intercept), len(coef), len(intercept))
	}
	scale := normInf(intercept)
	for _, row := range coef {
		scale = max(scale, normInf(row))
	}
	worst := 0.0
	cmp := func(what string, got, want float64) {
		d := math.Abs(got - want)
		den := math.Max(math.Abs(want), logFloor*scale)
		worst = max(worst, d/den)
		if d > tol*den {
			t.Errorf("%s: %s = %.10g, want %.10g (relative diff %.3g)", name, what, got, want, d/den)
		}
	}
	for r := range coef {
		if len(m.Coef[r]) != len(coef[r]) {
			t.Fatalf("%s: coef row %d has %d values, want %d", name, r, len(m.Coef[r]), len(coef[r]))
		}
		for j := range coef[r] {
			cmp("coef["+itoa(r)+"]["+itoa(j)+"]", m.Coef[r][j], coef[r][j])
		}
		cmp("intercept["+itoa(r)+"]", m.Intercept[r], intercept[r])
	}
	return worst
}

// objective evaluates the fitted objective Σ swᵢ·logloss + ½/C·‖coef‖² of m.
func objective(X *mat.Dense, y []int, m *Logistic, C float64, balanced bool) float64 {
	counts := make([]int, m.Classes)
	for _, c := range y {
		counts[c]++
	}
	cw, _ := classWeights("test", LogisticOptions{Balanced: balanced}, counts, len(y))
	l := newLogLoss(X, y, m.Classes, cw, 1/C)
	x := make([]float64, 0, l.dim)
	for _, row := range m.Coef {
		x = append(x, row...)
	}
	x = append(x, m.Intercept...)
	return l.eval(x, make([]float64, l.dim))
}
