package linear

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"
)

// Regression is a fitted linear model y ≈ X·Coef + Intercept, from FitOLS
// or FitRidge.
type Regression struct {
	// Coef has one coefficient per feature (column of X).
	Coef []float64 `json:"coef"`
	// Intercept is the unpenalised constant term.
	Intercept float64 `json:"intercept"`
	// Alpha is the ridge penalty the model was fitted with (0 for OLS).
	Alpha float64 `json:"alpha"`
	// Rank is the numerical rank of the centred X: the number of its
	// singular values above max(n, p)·eps·σ_max. Below the number of
	// features, OLS returned the minimum-norm solution.
	Rank int `json:"rank"`
}

// FitOLS fits ordinary least squares with an intercept, like
// scikit-learn's LinearRegression(fit_intercept=True): X and y are centred,
// the centred problem is solved through the SVD of X, and the intercept is
// mean(y) - mean(X)·Coef.
//
// A rank-deficient X (collinear columns, or fewer samples than features) is
// not an error: like scipy.linalg.lstsq, FitOLS returns the minimum-norm
// solution, treating singular values at or below max(n, p)·eps·σ_max as
// zero (numpy.linalg.lstsq's rcond), and reports the rank found.
func FitOLS(X *mat.Dense, y []float64) (*Regression, error) {
	return fitLeastSquares("FitOLS", X, y, 0)
}

// FitRidge fits ridge regression with an unpenalised intercept, like
// scikit-learn's Ridge(alpha, fit_intercept=True): it minimises
// ‖y - X·w - b‖² + alpha·‖w‖² by centring X and y, solving
// (XcᵀXc + alpha·I)·w = Xcᵀyc, and recovering b = mean(y) - mean(X)·w.
// The solve goes through the SVD of Xc (w = V·diag(s/(s²+alpha))·Uᵀ·yc),
// which equals scikit-learn's Cholesky solution and stays accurate when
// XᵀX is ill-conditioned. alpha must be >= 0; alpha = 0 is FitOLS.
func FitRidge(X *mat.Dense, y []float64, alpha float64) (*Regression, error) {
	if math.IsNaN(alpha) || math.IsInf(alpha, 0) || alpha < 0 {
		return nil, fmt.Errorf("linear: FitRidge: alpha = %v, want a finite value >= 0: %w", alpha, ErrParam)
	}
	return fitLeastSquares("FitRidge", X, y, alpha)
}

func fitLeastSquares(what string, X *mat.Dense, y []float64, alpha float64) (*Regression, error) {
	// One row is enough, as for scikit-learn: centred, it is all zeros, so
	// the coefficients are 0 and the intercept is that row's target.
	n, p, err := checkX(what, X, len(y), 1)
	if err != nil {
		return nil, err
	}
	if err := checkFinite(what, "y", y); err != nil {
		return nil, err
	}

	// Centre X and y.
	xMean := make([]float64, p)
	Xc := mat.DenseCopyOf(X)
	raw := Xc.RawMatrix()
	for i := range n {
		row := raw.Data[i*raw.Stride : i*raw.Stride+p]
		for j, v := range row {
			xMean[j] += v
		}
	}
	for j := range xMean {
		xMean[j] /= float64(n)
	}
	yMean := 0.0
	for _, v := range y {
		yMean += v
	}
	yMean /= float64(n)
	yc := make([]float64, n)
	for i := range n {
		row := raw.Data[i*raw.Stride : i*raw.Stride+p]
		for j := range row {
			row[j] -= xMean[j]
		}
		yc[i] = y[i] - yMean
	}

	var svd mat.SVD
	if !svd.Factorize(Xc, mat.SVDThin) {
		return nil, fmt.Errorf("linear: %s: SVD did not converge: %w", what, ErrNonFinite)
	}
	s := svd.Values(nil)
	var u, v mat.Dense
	svd.UTo(&u)
	svd.VTo(&v)

	cutoff := 0.0
	if len(s) > 0 {
		cutoff = float64(max(n, p)) * eps * s[0]
	}
	// uty = Uᵀ·yc, scaled by the filter factors.
	uty := mat.NewVecDense(len(s), nil)
	uty.MulVec(u.T(), mat.NewVecDense(n, yc))
	rank := 0
	for i, si := range s {
		if si > cutoff {
			rank++
		}
		switch {
		case alpha > 0:
			uty.SetVec(i, uty.AtVec(i)*si/(si*si+alpha))
		case si > cutoff:
			uty.SetVec(i, uty.AtVec(i)/si)
		default:
			uty.SetVec(i, 0)
		}
	}
	coef := make([]float64, p)
	mat.NewVecDense(p, coef).MulVec(&v, uty)

	b := yMean
	for j, c := range coef {
		b -= xMean[j] * c
	}
	return &Regression{Coef: coef, Intercept: b, Alpha: alpha, Rank: rank}, nil
}

// eps is the float64 machine epsilon (2^-52), numpy.finfo(float64).eps.
const eps = 0x1p-52

// Predict returns X·Coef + Intercept for every row of X.
func (m *Regression) Predict(X *mat.Dense) ([]float64, error) {
	n, err := checkPredict("Regression.Predict", X, len(m.Coef))
	if err != nil {
		return nil, err
	}
	out := make([]float64, n)
	raw := X.RawMatrix()
	for i := range n {
		row := raw.Data[i*raw.Stride : i*raw.Stride+raw.Cols]
		z := m.Intercept
		for j, c := range m.Coef {
			z += row[j] * c
		}
		out[i] = z
	}
	return out, nil
}
