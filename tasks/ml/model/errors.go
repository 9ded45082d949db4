package model

import "errors"

// Sentinel errors. Every error this package returns wraps one of them or an
// error of packages dataset, features, linear, tree or metrics; all of them
// are about the input (no I/O happens here), so a task fails permanently on
// any of them.
var (
	// ErrAlgorithm means: an unknown algorithm name, or an algorithm that
	// does not fit the label (logistic regression of a continuous target,
	// linear regression of a categorical one).
	ErrAlgorithm = errors.New("invalid algorithm")
	// ErrHyperparam means: an unknown hyperparameter for the algorithm, a
	// value of the wrong type or out of range.
	ErrHyperparam = errors.New("invalid hyperparameter")
	// ErrSpec means: an invalid Spec beyond the hyperparameters (an empty
	// label, class weights for a regression or for classes that do not
	// occur, a non-positive weight).
	ErrSpec = errors.New("invalid model spec")
	// ErrData means: training data a model cannot be fitted on (no rows, a
	// single class, a class with too few rows for the folds).
	ErrData = errors.New("invalid training data")
	// ErrFormat means: model bytes that do not decode, a version this
	// package does not read, or a model whose parts are inconsistent.
	ErrFormat = errors.New("invalid model file")
	// ErrMetric means: an unknown metric, or one that does not apply to the
	// model's kind or number of classes.
	ErrMetric = errors.New("invalid metric")
)

// HyperparamError is the error for one hyperparameter. It wraps
// ErrHyperparam.
type HyperparamError struct {
	// Name is the hyperparameter's name as given.
	Name string
	// Msg says what is wrong; Hint, if not empty, what to do.
	Msg  string
	Hint string
}

func (e *HyperparamError) Error() string {
	s := "hyperparameter " + e.Name + ": " + e.Msg
	if e.Hint != "" {
		s += " (" + e.Hint + ")"
	}
	return s
}

// Unwrap returns ErrHyperparam.
func (e *HyperparamError) Unwrap() error { return ErrHyperparam }
