package tree

import (
	"errors"
	"fmt"
	"math"
)

// Sentinel errors. Every error returned by this package wraps one of them
// (test with errors.Is) and says where the problem is.
var (
	// ErrEmpty means: no samples, or samples with no features.
	ErrEmpty = errors.New("empty input")
	// ErrShape means: rows of different lengths, a label count that differs
	// from the row count, or rows whose width differs from the model's.
	ErrShape = errors.New("shape mismatch")
	// ErrNonFinite means: a NaN or ±Inf feature or regression target.
	ErrNonFinite = errors.New("value is NaN or Inf")
	// ErrLabel means: a negative class label.
	ErrLabel = errors.New("invalid class label")
	// ErrOneClass means: classification needs at least two classes in the
	// training labels.
	ErrOneClass = errors.New("only one class in the training labels")
	// ErrParam means: an invalid hyperparameter.
	ErrParam = errors.New("invalid parameter")
	// ErrTask means: a classification method called on a regression model or
	// the reverse.
	ErrTask = errors.New("wrong task for model")
)

func paramErr(format string, args ...any) error {
	return fmt.Errorf("tree: %s: %w", fmt.Sprintf(format, args...), ErrParam)
}

// checkX checks that X is a non-empty matrix of finite values with
// want columns (any width >= 1 if want < 0) and returns its width.
func checkX(what string, X [][]float64, want int) (int, error) {
	if len(X) == 0 {
		return 0, fmt.Errorf("tree: %s: no rows: %w", what, ErrEmpty)
	}
	p := len(X[0])
	if want >= 0 && p != want {
		return 0, fmt.Errorf("tree: %s: row 0 has %d features, the model has %d: %w", what, p, want, ErrShape)
	}
	if p == 0 {
		return 0, fmt.Errorf("tree: %s: rows have no features: %w", what, ErrEmpty)
	}
	for i, row := range X {
		if len(row) != p {
			return 0, fmt.Errorf("tree: %s: row %d has %d features, row 0 has %d: %w", what, i, len(row), p, ErrShape)
		}
		for j, v := range row {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return 0, fmt.Errorf("tree: %s: X[%d][%d] = %v: %w", what, i, j, v, ErrNonFinite)
			}
		}
	}
	return p, nil
}

// checkClasses checks the labels and returns the number of classes,
// max(y)+1; at least two distinct labels must be present.
func checkClasses(what string, y []int, n int) (int, error) {
	if len(y) != n {
		return 0, fmt.Errorf("tree: %s: %d rows and %d labels: %w", what, n, len(y), ErrShape)
	}
	k, first, two := 0, y[0], false
	for i, v := range y {
		if v < 0 {
			return 0, fmt.Errorf("tree: %s: y[%d] = %d, want >= 0: %w", what, i, v, ErrLabel)
		}
		k = max(k, v+1)
		two = two || v != first
	}
	if !two {
		return 0, fmt.Errorf("tree: %s: every label is %d: %w", what, first, ErrOneClass)
	}
	return k, nil
}

func checkTargets(what string, y []float64, n int) error {
	if len(y) != n {
		return fmt.Errorf("tree: %s: %d rows and %d targets: %w", what, n, len(y), ErrShape)
	}
	for i, v := range y {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("tree: %s: y[%d] = %v: %w", what, i, v, ErrNonFinite)
		}
	}
	return nil
}
