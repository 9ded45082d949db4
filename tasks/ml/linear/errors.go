package linear

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"
)

// Sentinel errors. Every error returned by this package wraps one of them
// (test with errors.Is) and says where the problem is.
var (
	// ErrEmpty means: no samples or no features (a nil or empty matrix).
	ErrEmpty = errors.New("empty input")
	// ErrShape means: a target with a different number of entries than X has
	// rows, or a matrix to predict on with a different number of columns
	// than the model was fitted with.
	ErrShape = errors.New("shape mismatch")
	// ErrNonFinite means: a NaN or ±Inf feature or target value.
	ErrNonFinite = errors.New("value is NaN or Inf")
	// ErrOneClass means: logistic regression needs at least two classes in y.
	// Its message says "only one class", like scikit-learn's.
	ErrOneClass = errors.New("only one class in y; logistic regression needs at least 2")
	// ErrLabel means: a class label below 0, or a class between 0 and max(y)
	// with no sample.
	ErrLabel = errors.New("invalid class label")
	// ErrParam means: an invalid hyperparameter (negative alpha, C <= 0,
	// class weights of the wrong length or not positive, negative tolerance
	// or iteration limit).
	ErrParam = errors.New("invalid hyperparameter")
	// ErrTooFewSamples means: fitting needs more samples (logistic
	// regression two; OLS and ridge one).
	ErrTooFewSamples = errors.New("too few samples")
)

// dims returns the shape of X, or an error if X is nil or empty.
func dims(what string, X *mat.Dense) (n, p int, err error) {
	if X == nil || X.IsEmpty() {
		return 0, 0, fmt.Errorf("linear: %s: X: %w", what, ErrEmpty)
	}
	n, p = X.Dims()
	return n, p, nil
}

// checkX checks that X is non-empty with finite values and at least
// minRows rows, and that the target has one entry per row.
func checkX(what string, X *mat.Dense, ny, minRows int) (n, p int, err error) {
	n, p, err = dims(what, X)
	if err != nil {
		return 0, 0, err
	}
	if ny == 0 {
		return 0, 0, fmt.Errorf("linear: %s: y: %w", what, ErrEmpty)
	}
	if ny != n {
		return 0, 0, fmt.Errorf("linear: %s: X has %d rows, y has %d values: %w", what, n, ny, ErrShape)
	}
	if n < minRows {
		return 0, 0, fmt.Errorf("linear: %s: %d sample, need at least %d: %w", what, n, minRows, ErrTooFewSamples)
	}
	if err := checkFiniteMatrix(what, X); err != nil {
		return 0, 0, err
	}
	return n, p, nil
}

func checkFiniteMatrix(what string, X *mat.Dense) error {
	raw := X.RawMatrix()
	for i := 0; i < raw.Rows; i++ {
		row := raw.Data[i*raw.Stride : i*raw.Stride+raw.Cols]
		for j, v := range row {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("linear: %s: X[%d][%d] = %v: %w", what, i, j, v, ErrNonFinite)
			}
		}
	}
	return nil
}

func checkFinite(what, name string, x []float64) error {
	for i, v := range x {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("linear: %s: %s[%d] = %v: %w", what, name, i, v, ErrNonFinite)
		}
	}
	return nil
}

// checkPredict checks a matrix to predict on against the fitted width p.
func checkPredict(what string, X *mat.Dense, p int) (int, error) {
	n, c, err := dims(what, X)
	if err != nil {
		return 0, err
	}
	if c != p {
		return 0, fmt.Errorf("linear: %s: X has %d columns, the model has %d features: %w", what, c, p, ErrShape)
	}
	if err := checkFiniteMatrix(what, X); err != nil {
		return 0, err
	}
	return n, nil
}
