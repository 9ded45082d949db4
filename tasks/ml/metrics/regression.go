package metrics

import (
	"fmt"
	"math"
)

// Regression holds every regression metric of one set of predictions.
type Regression struct {
	MSE  float64 `json:"mse"`
	RMSE float64 `json:"rmse"`
	MAE  float64 `json:"mae"`
	R2   float64 `json:"r2"`
}

// MSE returns the mean squared error. It returns an error wrapping
// ErrEmpty, ErrLengthMismatch or ErrNonFinite.
func MSE(yTrue, yPred []float64) (float64, error) {
	r, err := evaluateRegression("mse", yTrue, yPred, 1)
	return r.MSE, err
}

// RMSE returns the square root of the mean squared error. It returns an
// error wrapping ErrEmpty, ErrLengthMismatch or ErrNonFinite.
func RMSE(yTrue, yPred []float64) (float64, error) {
	r, err := evaluateRegression("rmse", yTrue, yPred, 1)
	return r.RMSE, err
}

// MAE returns the mean absolute error. It returns an error wrapping
// ErrEmpty, ErrLengthMismatch or ErrNonFinite.
func MAE(yTrue, yPred []float64) (float64, error) {
	r, err := evaluateRegression("mae", yTrue, yPred, 1)
	return r.MAE, err
}

// R2 returns the coefficient of determination 1 - SS_res/SS_tot. With a
// constant yTrue (SS_tot = 0) it is 1 when the predictions are exact and 0
// otherwise, like scikit-learn. It returns an error wrapping ErrEmpty,
// ErrLengthMismatch, ErrNonFinite or ErrTooFewSamples (fewer than two,
// where scikit-learn warns and returns NaN).
func R2(yTrue, yPred []float64) (float64, error) {
	r, err := evaluateRegression("r2", yTrue, yPred, 2)
	return r.R2, err
}

// EvaluateRegression returns MSE, RMSE, MAE and R² in two passes. It
// returns an error wrapping ErrEmpty, ErrLengthMismatch, ErrNonFinite or
// ErrTooFewSamples.
func EvaluateRegression(yTrue, yPred []float64) (Regression, error) {
	return evaluateRegression("regression", yTrue, yPred, 2)
}

func evaluateRegression(what string, yTrue, yPred []float64, minN int) (Regression, error) {
	if err := checkLengths(what, len(yTrue), len(yPred)); err != nil {
		return Regression{}, err
	}
	if err := checkFinite(what, "y_true", yTrue); err != nil {
		return Regression{}, err
	}
	if err := checkFinite(what, "y_pred", yPred); err != nil {
		return Regression{}, err
	}
	n := len(yTrue)
	if n < minN {
		return Regression{}, fmt.Errorf("metrics: %s: %d sample, want at least %d: %w", what, n, minN, ErrTooFewSamples)
	}
	var sse, sae, sum float64
	constant := true
	for i, t := range yTrue {
		d := t - yPred[i]
		sse += d * d
		sae += math.Abs(d)
		sum += t
		constant = constant && t == yTrue[0]
	}
	fn := float64(n)
	r := Regression{MSE: sse / fn, MAE: sae / fn}
	r.RMSE = math.Sqrt(r.MSE)
	switch {
	case sse == 0:
		r.R2 = 1
	case constant:
		r.R2 = 0
	default:
		mean := sum / fn
		var sst float64
		for _, t := range yTrue {
			d := t - mean
			sst += d * d
		}
		if sst == 0 { // differences so small their squares underflow
			r.R2 = 0
		} else {
			r.R2 = 1 - sse/sst
		}
	}
	return r, nil
}
