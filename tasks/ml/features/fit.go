package features

import (
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/cairnml/cairn/tasks/ml/dataset"
)

// Version is the Transformer format version Fit writes.
const Version = 1

// Transformer is the fitted preprocessing: everything Transform needs,
// learnt by Fit from one frame. It is a plain value; its encoding/json
// form is deterministic and a decoded copy transforms identically.
type Transformer struct {
	// Version is the format version (Version).
	Version int `json:"version"`
	// Label is the label column's name and LabelKind its kind at Fit.
	Label     string       `json:"label"`
	LabelKind dataset.Kind `json:"label_kind"`
	// Classes are the distinct label values seen by Fit, in their
	// Column.Value form, sorted (numerically for numbers, false before
	// true for booleans, byte order for categories). Empty when the label
	// is not a class label (a datetime, or a number that is not an
	// integer).
	Classes []string `json:"classes,omitempty"`
	// Clip is how the numeric and datetime features' clipping bounds
	// (Feature.Clip) were learnt, IQR's default K filled in; nil without
	// clipping (and then absent from the JSON).
	Clip *Clip `json:"clip,omitempty"`
	// Features are the feature columns, in the order of the fitted frame.
	Features []Feature `json:"features"`
}

// Feature is the fitted state of one feature column.
type Feature struct {
	// Name and Kind are the column's name and kind.
	Name string       `json:"name"`
	Kind dataset.Kind `json:"kind"`
	// Strategy is the imputation strategy used.
	Strategy string `json:"strategy"`
	// Fill replaces missing values of numeric, boolean and datetime
	// columns (datetimes in Unix seconds).
	Fill float64 `json:"fill"`
	// FillCategory replaces missing values of categorical columns.
	FillCategory string `json:"fill_category,omitempty"`
	// Categories are a categorical column's one-hot categories, sorted:
	// the distinct values of the imputed training column.
	Categories []string `json:"categories,omitempty"`
	// Clip holds a numeric or datetime feature's clipping bounds, learnt
	// from the imputed training column: Transform clamps the (raw or
	// filled) value to [Clip.Low, Clip.High] before standardizing. It is
	// set exactly when Transformer.Clip is, on numeric and datetime
	// features only; nil (and absent from the JSON) without clipping.
	Clip *Bounds `json:"clip,omitempty"`
	// Center and Scale standardize a numeric or datetime feature:
	// x' = (x - Center) / Scale, computed on the clipped column. Without
	// standardization they are 0 and 1.
	Center float64 `json:"center"`
	Scale  float64 `json:"scale"`
}

// Bounds are a feature's clipping bounds, finite, Low <= High.
type Bounds struct {
	Low  float64 `json:"low"`
	High float64 `json:"high"`
}

// Width returns the number of matrix columns the feature takes.
func (ft *Feature) Width() int {
	if ft.Kind == dataset.Categorical {
		return len(ft.Categories)
	}
	return 1
}

// Fit learns the preprocessing of every feature column of f — every
// column but spec.Label and spec.Exclude, in frame order — from f alone.
// Missing values are ignored when computing mean, median and most frequent
// value; the clipping bounds (with spec.Clip) are learnt from the imputed
// column, and the standardization is computed on the imputed, clipped
// column. The label must be present and have no missing value; its class
// list is recorded for ClassLabels. An invalid spec.Clip is an ErrSpec
// error; clipping bounds that overflow are ErrNonFinite.
func Fit(f *dataset.Frame, spec Spec) (*Transformer, error) {
	var clip *Clip
	if spec.Clip != (Clip{}) {
		c, err := spec.Clip.resolved()
		if err != nil {
			return nil, err
		}
		clip = &c
	}
	if f == nil {
		return nil, fmt.Errorf("features: nil frame: %w", ErrShape)
	}
	if err := f.Validate(); err != nil {
		return nil, fmt.Errorf("features: %w: %w", ErrShape, err)
	}
	label, ok := f.Col(spec.Label)
	if !ok {
		return nil, fmt.Errorf("features: label column %q not found: %w", spec.Label, ErrLabel)
	}
	if f.Rows() == 0 {
		return nil, fmt.Errorf("features: fit: %w", ErrEmpty)
	}
	excluded := make(map[string]bool, len(spec.Exclude))
	for _, name := range spec.Exclude {
		if _, ok := f.Col(name); !ok {
			return nil, colErr(name, ErrSpec, "excluded column not in the frame")
		}
		excluded[name] = true
	}
	for name := range spec.Impute {
		if _, ok := f.Col(name); !ok || name == spec.Label || excluded[name] {
			return nil, colErr(name, ErrSpec, "imputer for a column that is not a feature")
		}
	}
	t := &Transformer{Version: Version, Label: label.Name, LabelKind: label.Kind, Clip: clip}
	classes, err := fitClasses(label)
	if err != nil {
		return nil, err
	}
	t.Classes = classes
	for _, c := range f.Columns {
		if c.Name == spec.Label || excluded[c.Name] {
			continue
		}
		ft, err := fitFeature(c, spec.imputerFor(c), spec.Standardize, clip)
		if err != nil {
			return nil, err
		}
		t.Features = append(t.Features, ft)
	}
	if len(t.Features) == 0 {
		return nil, fmt.Errorf("features: fit: label %q and %d excluded columns leave none: %w", spec.Label, len(excluded), ErrNoFeatures)
	}
	return t, nil
}

func fitClasses(label *dataset.Column) ([]string, error) {
	n := label.Len()
	for i := range n {
		if label.IsMissing(i) {
			return nil, colErr(label.Name, ErrLabel, fmt.Sprintf("label missing in row %d", i))
		}
	}
	switch label.Kind {
	case dataset.Categorical:
		s := slices.Clone(label.Str)
		slices.Sort(s)
		return slices.Compact(s), nil
	case dataset.Numeric, dataset.Boolean:
		v := slices.Clone(label.Num)
		integral := true
		for i, x := range v {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return nil, colErr(label.Name, ErrNonFinite, fmt.Sprintf("label in row %d", i))
			}
			if x != math.Trunc(x) {
				integral = false
			}
			if x == 0 {
				v[i] = 0 // -0 and 0 are one class
			}
		}
		if !integral {
			return nil, nil // a regression target
		}
		slices.Sort(v)
		v = slices.Compact(v)
		out := make([]string, len(v))
		for i, x := range v {
			if label.Kind == dataset.Boolean {
				out[i] = strconv.FormatBool(x != 0)
			} else {
				out[i] = dataset.FormatNumber(x) // as Column.Value writes it: ClassLabels looks it up so
			}
		}
		return out, nil
	}
	return nil, nil
}

func fitFeature(c *dataset.Column, imp Imputer, standardize bool, clip *Clip) (Feature, error) {
	ft := Feature{Name: c.Name, Kind: c.Kind, Strategy: imp.Strategy, Scale: 1}
	n := c.Len()
	if c.Kind == dataset.Categorical {
		var vals []string
		for i := range n {
			if !c.IsMissing(i) {
				vals = append(vals, c.Str[i])
			}
		}
		switch imp.Strategy {
		case MostFrequent:
			if len(vals) == 0 {
				return ft, colErr(c.Name, ErrAllMissing, "nothing to learn "+imp.Strategy+" from")
			}
			slices.Sort(vals)
			ft.FillCategory = mode(vals)
		case Constant:
			s, ok := imp.Value.(string)
			if !ok {
				return ft, colErr(c.Name, ErrStrategy, fmt.Sprintf("constant of type %T for a categorical column (want a string)", imp.Value))
			}
			ft.FillCategory = s
		case Mean, Median:
			return ft, colErr(c.Name, ErrStrategy, imp.Strategy+" of a categorical column")
		default:
			return ft, colErr(c.Name, ErrStrategy, "unknown strategy "+quote(imp.Strategy))
		}
		if len(vals) < n {
			vals = append(vals, ft.FillCategory)
		}
		slices.Sort(vals)
		ft.Categories = slices.Compact(vals)
		return ft, nil
	}

	var vals []float64
	for i := range n {
		if c.IsMissing(i) {
			continue
		}
		x := c.Num[i]
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return ft, colErr(c.Name, ErrNonFinite, fmt.Sprintf("row %d", i))
		}
		vals = append(vals, x)
	}
	switch imp.Strategy {
	case Mean, Median, MostFrequent:
		if len(vals) == 0 {
			return ft, colErr(c.Name, ErrAllMissing, "nothing to learn "+imp.Strategy+" from")
		}
		switch imp.Strategy {
		case Mean:
			ft.Fill = mean(vals)
		case Median:
			s := slices.Clone(vals)
			slices.Sort(s)
			if m := len(s); m%2 == 1 {
				ft.Fill = s[m/2]
			} else {
				ft.Fill = (s[m/2-1] + s[m/2]) / 2
				if math.IsInf(ft.Fill, 0) {
					ft.Fill = s[m/2-1]/2 + s[m/2]/2
				}
			}
		default:
			s := slices.Clone(vals)
			slices.Sort(s)
			ft.Fill = mode(s)
		}
	case Constant:
		x, err := constNum(c.Name, c.Kind, imp.Value)
		if err != nil {
			return ft, err
		}
		ft.Fill = x
	default:
		return ft, colErr(c.Name, ErrStrategy, "unknown strategy "+quote(imp.Strategy))
	}
	if math.IsNaN(ft.Fill) || math.IsInf(ft.Fill, 0) {
		return ft, colErr(c.Name, ErrNonFinite, imp.Strategy+" overflows")
	}
	if (c.Kind != dataset.Numeric && c.Kind != dataset.Datetime) || (!standardize && clip == nil) {
		return ft, nil
	}
	imputed := make([]float64, n)
	for i := range n {
		x := ft.Fill
		if !c.IsMissing(i) {
			x = c.Num[i]
		}
		imputed[i] = x
	}
	if clip != nil {
		b, err := fitBounds(imputed, *clip)
		if err != nil {
			return ft, colErr(c.Name, ErrNonFinite, err.Error())
		}
		ft.Clip = &b
		for i, x := range imputed {
			imputed[i] = min(max(x, b.Low), b.High)
		}
	}
	if !standardize {
		return ft, nil
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, x := range imputed {
		lo, hi = min(lo, x), max(hi, x)
	}
	ft.Center = mean(imputed)
	if lo != hi { // a constant column keeps scale 1
		var ss float64
		for _, x := range imputed {
			d := x - ft.Center
			ss += d * d
		}
		ft.Scale = math.Sqrt(ss / float64(n))
	}
	if math.IsNaN(ft.Center) || math.IsInf(ft.Center, 0) || math.IsInf(ft.Scale, 0) || ft.Scale == 0 {
		return ft, colErr(c.Name, ErrNonFinite, "standardization overflows")
	}
	return ft, nil
}

// fitBounds learns the clipping bounds of the non-empty column v (c
// resolved). Its error says which bound is not finite.
func fitBounds(v []float64, c Clip) (Bounds, error) {
	s := slices.Clone(v)
	slices.Sort(s)
	var b Bounds
	switch c.Method {
	case IQR:
		q1, q3 := quantile(s, 0.25), quantile(s, 0.75)
		// The conversions round the products, so that no platform fuses
		// them into a multiply-add and the bounds are the same everywhere.
		w := float64(c.K * float64(q3-q1))
		b = Bounds{Low: q1 - w, High: q3 + w}
	default: // Quantile
		b = Bounds{Low: quantile(s, c.Low), High: quantile(s, c.High)}
	}
	if math.IsNaN(b.Low) || math.IsInf(b.Low, 0) || math.IsNaN(b.High) || math.IsInf(b.High, 0) {
		return Bounds{}, fmt.Errorf("%s clipping bounds [%v, %v] overflow", c.Method, b.Low, b.High)
	}
	// Interpolation in two adjacent intervals can round the lower
	// quantile one ulp above the upper one; the bounds stay ordered.
	b.High = max(b.High, b.Low)
	return b, nil
}

// quantile returns the q-quantile (0 <= q <= 1) of the sorted, non-empty
// s, as numpy.quantile's default method "linear" computes it, bit for bit:
// h = (n-1)·q, then numpy's lerp between s[⌊h⌋] and s[⌊h⌋+1], which for a
// fraction >= 0.5 interpolates down from the upper value.
func quantile(s []float64, q float64) float64 {
	n := len(s)
	h := float64(float64(n-1) * q)
	if h >= float64(n-1) {
		return s[n-1]
	}
	if h <= 0 {
		return s[0]
	}
	i := math.Floor(h)
	a, b := s[int(i)], s[int(i)+1]
	g := h - i
	d := b - a
	if g >= 0.5 {
		return b - float64(d*(1-g))
	}
	return a + float64(d*g)
}

// mean returns the arithmetic mean of v (len(v) > 0), summed in order.
func mean(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// mode returns the most frequent value of the sorted, non-empty s; the
// first (smallest) on a tie.
func mode[T comparable](s []T) T {
	best, bestN := s[0], 0
	for i := 0; i < len(s); {
		j := i
		for j < len(s) && s[j] == s[i] {
			j++
		}
		if j-i > bestN {
			best, bestN = s[i], j-i
		}
		i = j
	}
	return best
}
