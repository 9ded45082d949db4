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
	// Clip clips numeric and datetime features to bounds learnt from the
	// imputed training column, before standardization. The zero Clip
	// clips nothing (and leaves the Spec's encoding as it was before
	// clipping existed).
	Clip Clip `json:"clip,omitzero"`
}

// The clipping methods (Clip.Method).
const (
	// IQR clips to [Q1 - K·IQR, Q3 + K·IQR], IQR = Q3 - Q1 (Tukey's
	// fences).
	IQR = "iqr"
	// Quantile clips to the Low and High quantiles (winsorizing).
	Quantile = "quantile"
)

// DefaultIQRK is the K of IQR clipping when Clip.K is zero: Tukey's 1.5.
const DefaultIQRK = 1.5

// Clip says how outliers of numeric and datetime features are clipped.
// The bounds are learnt by Fit from the imputed training column; the
// quantiles (Q1 and Q3 for IQR) interpolate linearly between order
// statistics, numpy's default: with the n values sorted, h = (n-1)·q and
// the quantile is s[⌊h⌋] + (h - ⌊h⌋)·(s[⌊h⌋+1] - s[⌊h⌋]).
//
// Zero values: the zero Clip (Method "") clips nothing; with Method IQR a
// zero K means DefaultIQRK. Method Quantile needs 0 <= Low < High <= 1.
// The fields of the other method must be zero.
type Clip struct {
	// Method is "" (no clipping), IQR or Quantile.
	Method string `json:"method,omitempty"`
	// K is IQR's multiple of the interquartile range, > 0.
	K float64 `json:"k,omitempty"`
	// Low and High are Quantile's quantiles, in [0, 1], Low < High.
	Low  float64 `json:"low,omitempty"`
	High float64 `json:"high,omitempty"`
}

// resolved returns c checked, with IQR's default K filled in. Its errors
// wrap ErrSpec.
func (c Clip) resolved() (Clip, error) {
	bad := func(format string, args ...any) (Clip, error) {
		return Clip{}, fmt.Errorf("features: clip: %s: %w", fmt.Sprintf(format, args...), ErrSpec)
	}
	finite := func(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
	switch c.Method {
	case "":
		if c != (Clip{}) {
			return bad("k, low or high without a method (want method %s or %s)", IQR, Quantile)
		}
	case IQR:
		if c.Low != 0 || c.High != 0 {
			return bad("low and high are for method %s; %s takes k", Quantile, IQR)
		}
		if c.K == 0 {
			c.K = DefaultIQRK
		}
		if !(c.K > 0) || !finite(c.K) {
			return bad("k %v, want a finite number > 0", c.K)
		}
	case Quantile:
		if c.K != 0 {
			return bad("k is for method %s; %s takes low and high", IQR, Quantile)
		}
		if !(c.Low >= 0 && c.Low <= 1) || !(c.High >= 0 && c.High <= 1) {
			return bad("quantiles low %v and high %v, want both in [0, 1]", c.Low, c.High)
		}
		if !(c.Low < c.High) {
			return bad("quantile low %v is not below high %v", c.Low, c.High)
		}
	default:
		return bad("unknown method %s (want %s or %s)", quote(c.Method), IQR, Quantile)
	}
	return c, nil
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
