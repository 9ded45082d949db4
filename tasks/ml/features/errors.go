package features

import "errors"

// Sentinel errors. Every error returned by this package wraps one of them
// (test with errors.Is); errors about one column are *ColumnError values
// naming it (errors.As).
var (
	// ErrLabel means: the label column is not in the frame, the label has a
	// missing value, a label value the transformer has not seen in Fit, or
	// a label of the wrong kind for ClassLabels or TargetValues.
	ErrLabel = errors.New("invalid label")
	// ErrNoFeatures means: no column is left once the label and the
	// excluded columns are removed.
	ErrNoFeatures = errors.New("no feature columns")
	// ErrAllMissing means: a column has no non-missing value, so mean,
	// median or most-frequent imputation has nothing to learn from.
	ErrAllMissing = errors.New("column is entirely missing")
	// ErrStrategy means: an unknown imputation strategy, a strategy that
	// does not fit the column's kind (mean or median of a categorical
	// column), or a constant of the wrong type.
	ErrStrategy = errors.New("invalid imputation strategy")
	// ErrSpec means: a Spec that names a column the frame does not have (in
	// Exclude or Impute) or a column that is not a feature (the label), or
	// an invalid Spec.Clip (an unknown method, K < 0 or not finite,
	// quantiles outside [0, 1] or Low >= High, the other method's fields
	// set).
	ErrSpec = errors.New("invalid spec")
	// ErrSchema means: a frame to transform lacks a fitted feature column or
	// has it with another kind. The message says "schema differs from the
	// model's".
	ErrSchema = errors.New("schema differs from the model's")
	// ErrNonFinite means: a NaN or ±Inf value, or a statistic (a fill, the
	// standardization, clipping bounds) that overflows.
	ErrNonFinite = errors.New("value is NaN or Inf")
	// ErrEmpty means: a frame without rows.
	ErrEmpty = errors.New("no rows")
	// ErrShape means: a frame that fails dataset.Frame.Validate, or a
	// Transformer (for instance one decoded from damaged JSON) whose state
	// is inconsistent.
	ErrShape = errors.New("invalid frame or transformer")
)

// ColumnError is the error for a problem with one column. It wraps one of
// the sentinels (Err).
type ColumnError struct {
	// Column is the column name.
	Column string
	// Msg says what is wrong.
	Msg string
	// Err is the sentinel the error wraps.
	Err error
}

func (e *ColumnError) Error() string {
	return "features: column " + quote(e.Column) + ": " + e.Msg + ": " + e.Err.Error()
}

// Unwrap returns the sentinel.
func (e *ColumnError) Unwrap() error { return e.Err }

func colErr(col string, sentinel error, msg string) *ColumnError {
	return &ColumnError{Column: col, Msg: msg, Err: sentinel}
}
