package metrics

import (
	"errors"
	"fmt"
	"math"
)

// Sentinel errors. Every error returned by this package wraps one of them
// (test with errors.Is) and says where the problem is.
var (
	// ErrEmpty means: no samples.
	ErrEmpty = errors.New("empty input")
	// ErrLengthMismatch means: inputs that must have one entry per sample do not.
	ErrLengthMismatch = errors.New("length mismatch")
	// ErrNonFinite means: a NaN or ±Inf score, probability or regression value.
	ErrNonFinite = errors.New("value is NaN or Inf")
	// ErrProbability means: a probability outside [0, 1], or a row that must sum
	// to 1 and does not.
	ErrProbability = errors.New("invalid probability")
	// ErrLabel means: a class label outside [0, k).
	ErrLabel = errors.New("label out of range")
	// ErrShape means: a probability row with the wrong number of columns, or
	// fewer than two classes.
	ErrShape = errors.New("invalid shape")
	// ErrOneClass means: a ranking metric needs both a positive and a negative
	// sample. Its message says "only one class present", like scikit-learn's.
	ErrOneClass = errors.New("only one class present in y_true; ROC AUC is not defined in that case")
	// ErrAverage means: an averaging mode the metric does not support.
	ErrAverage = errors.New("unsupported average")
	// ErrTooFewSamples means: R² needs at least two samples.
	ErrTooFewSamples = errors.New("too few samples")
)

func checkLengths(what string, a, b int) error {
	if a == 0 || b == 0 {
		return fmt.Errorf("metrics: %s: %w", what, ErrEmpty)
	}
	if a != b {
		return fmt.Errorf("metrics: %s: %d true values and %d predictions: %w", what, a, b, ErrLengthMismatch)
	}
	return nil
}

func checkLabels(what, name string, y []int, k int) error {
	for i, v := range y {
		if uint(v) >= uint(k) {
			return fmt.Errorf("metrics: %s: %s[%d] = %d, want 0..%d: %w", what, name, i, v, k-1, ErrLabel)
		}
	}
	return nil
}

func checkFinite(what, name string, x []float64) error {
	for i, v := range x {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("metrics: %s: %s[%d] = %v: %w", what, name, i, v, ErrNonFinite)
		}
	}
	return nil
}

func checkProbability(what, where string, v float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return fmt.Errorf("metrics: %s: %s = %v: %w", what, where, v, ErrNonFinite)
	}
	if v < 0 || v > 1 {
		return fmt.Errorf("metrics: %s: %s = %v, want [0, 1]: %w", what, where, v, ErrProbability)
	}
	return nil
}

// checkProbRows checks that probs has n rows of k >= 2 probabilities each
// and returns k.
func checkProbRows(what string, probs [][]float64, n int) (int, error) {
	if err := checkLengths(what, n, len(probs)); err != nil {
		return 0, err
	}
	k := len(probs[0])
	if k < 2 {
		return 0, fmt.Errorf("metrics: %s: %d probability columns, want at least 2: %w", what, k, ErrShape)
	}
	for i, row := range probs {
		if len(row) != k {
			return 0, fmt.Errorf("metrics: %s: row %d has %d probabilities, row 0 has %d: %w", what, i, len(row), k, ErrShape)
		}
		for j, v := range row {
			if v >= 0 && v <= 1 {
				continue
			}
			if err := checkProbability(what, fmt.Sprintf("probs[%d][%d]", i, j), v); err != nil {
				return 0, err
			}
		}
	}
	return k, nil
}
