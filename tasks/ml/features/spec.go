package features

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/cairnml/cairn/tasks/ml/dataset"
)

// The imputation strategies.
const (
	// Mean fills with the mean of the column's non-missing values
	// (numeric, boolean and datetime columns).
	Mean = "mean"
	// Median fills with the median of the non-missing values, the mean of
	// the two middle ones for an even count (numeric, boolean, datetime).
	Median = "median"
	// MostFrequent fills with the most frequent non-missing value, the
	// smallest one on a tie (numeric order for numbers, byte order for
	// categories). Any kind.
	MostFrequent = "most_frequent"
	// Constant fills with Imputer.Value. Any kind; see Imputer for the
	// types Value may have.
	Constant = "constant"
)

// Imputer says how to fill a column's missing values.
//
// The zero Imputer means "the default for the column's kind" (see Spec).
// For Constant, Value must be, by the column's kind:
//   - numeric: any Go integer or float type;
//   - boolean: a bool, or a number equal to 0 or 1;
//   - datetime: a time.Time, or a number of Unix seconds;
//   - categorical: a string.
//
// Numbers must be finite. Value is ignored by the other strategies.
type Imputer struct {
	Strategy string `json:"strategy"`
	Value    any    `json:"value,omitempty"`
}

// Spec says which columns are features and how to preprocess them.
//
// Zero values: Exclude and Impute may be nil. A zero DefaultNumericImpute
// means Mean, a zero DefaultCategoricalImpute means MostFrequent.
// Numeric and datetime columns use DefaultNumericImpute, categorical and
// boolean columns DefaultCategoricalImpute, unless Impute names the column.
// Standardize is a plain bool, so the zero Spec does NOT standardize; use
// NewSpec for the usual pipeline (standardization on).
type Spec struct {
	// Label is the target column; it is never a feature. Required.
	Label string `json:"label"`
	// Exclude lists columns that are not features (ids, leaky columns).
	// Each must exist in the frame given to Fit.
	Exclude []string `json:"exclude,omitempty"`
	// Impute sets the strategy of single columns; each key must be a
	// feature column.
	Impute map[string]Imputer `json:"impute,omitempty"`
	// DefaultNumericImpute is the strategy of numeric and datetime columns
	// not in Impute. Zero: Mean.
	DefaultNumericImpute Imputer `json:"default_numeric_impute"`
	// DefaultCategoricalImpute is the strategy of categorical and boolean
	// columns not in Impute. Zero: MostFrequent.
	DefaultCategoricalImpute Imputer `json:"default_categorical_impute"`
	// Standardize scales numeric and datetime features to mean 0 and
	// population standard deviation 1 (scikit-learn's StandardScaler; a
	// constant column gets scale 1). Boolean and one-hot features stay 0/1.
	Standardize bool `json:"standardize"`
}

// NewSpec returns the usual Spec: the given label, default imputation
// (mean for numbers, most frequent for categories) and standardization on.
func NewSpec(label string) Spec {
	return Spec{Label: label, Standardize: true}
}

// imputerFor returns the imputer of column c, defaults resolved.
func (s *Spec) imputerFor(c *dataset.Column) Imputer {
	if imp, ok := s.Impute[c.Name]; ok && imp.Strategy != "" {
		return imp
	}
	if c.Kind == dataset.Numeric || c.Kind == dataset.Datetime {
		if s.DefaultNumericImpute.Strategy != "" {
			return s.DefaultNumericImpute
		}
		return Imputer{Strategy: Mean}
	}
	if s.DefaultCategoricalImpute.Strategy != "" {
		return s.DefaultCategoricalImpute
	}
	return Imputer{Strategy: MostFrequent}
}

// constNum converts a constant fill for a numeric-valued column.
func constNum(col string, kind dataset.Kind, v any) (float64, error) {
	var x float64
	switch t := v.(type) {
	case float64:
		x = t
	case float32:
		x = float64(t)
	case int:
		x = float64(t)
	case int8:
		x = float64(t)
	case int16:
		x = float64(t)
	case int32:
		x = float64(t)
	case int64:
		x = float64(t)
	case uint:
		x = float64(t)
	case uint8:
		x = float64(t)
	case uint16:
		x = float64(t)
	case uint32:
		x = float64(t)
	case uint64:
		x = float64(t)
	case bool:
		if kind != dataset.Boolean {
			return 0, colErr(col, ErrStrategy, "constant of type bool for a "+string(kind)+" column")
		}
		if t {
			return 1, nil
		}
		return 0, nil
	case time.Time:
		if kind != dataset.Datetime {
			return 0, colErr(col, ErrStrategy, "constant of type time.Time for a "+string(kind)+" column")
		}
		return float64(t.Unix()) + float64(t.Nanosecond())/1e9, nil
	default:
		return 0, colErr(col, ErrStrategy, fmt.Sprintf("constant of type %T for a %s column", v, kind))
	}
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0, colErr(col, ErrNonFinite, "constant fill value")
	}
	if kind == dataset.Boolean && x != 0 && x != 1 {
		return 0, colErr(col, ErrStrategy, "constant "+strconv.FormatFloat(x, 'g', -1, 64)+" for a boolean column (want 0, 1, false or true)")
	}
	return x, nil
}

func quote(s string) string { return strconv.Quote(s) }
