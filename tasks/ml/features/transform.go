package features

import (
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/cairnml/cairn/tasks/ml/dataset"
	"gonum.org/v1/gonum/mat"
)

// NumFeatures returns the number of matrix columns Transform produces.
func (t *Transformer) NumFeatures() int {
	p := 0
	for i := range t.Features {
		p += t.Features[i].Width()
	}
	return p
}

// FeatureNames returns the names of the matrix columns Transform produces,
// in order: the column name for numeric, boolean and datetime features,
// "column=category" for each one-hot category.
func (t *Transformer) FeatureNames() []string {
	names := make([]string, 0, t.NumFeatures())
	for _, ft := range t.Features {
		if ft.Kind == dataset.Categorical {
			for _, c := range ft.Categories {
				names = append(names, ft.Name+"="+c)
			}
			continue
		}
		names = append(names, ft.Name)
	}
	return names
}

// Transform applies the fitted preprocessing to f, which may be the
// training frame or any other with the same feature columns: one row per
// row of f, NumFeatures columns named by FeatureNames.
//
// Columns are matched by name; extra columns (the label among them) are
// ignored, column order does not matter. A fitted feature column that f
// lacks, or has with another kind, is an ErrSchema error naming it.
// Missing values get the fitted fill values, never statistics of f; with
// clipping, a numeric or datetime value (raw or filled) is clamped to the
// bounds learnt by Fit, never to bounds of f. A category not seen by Fit gives an all-zero one-hot row for that column
// (scikit-learn's handle_unknown="ignore"). A NaN or ±Inf value is an
// ErrNonFinite error.
func (t *Transformer) Transform(f *dataset.Frame) (*mat.Dense, error) {
	if err := t.check(); err != nil {
		return nil, err
	}
	if f == nil {
		return nil, fmt.Errorf("features: nil frame: %w", ErrShape)
	}
	if err := f.Validate(); err != nil {
		return nil, fmt.Errorf("features: %w: %w", ErrShape, err)
	}
	cols := make([]*dataset.Column, len(t.Features))
	for j, ft := range t.Features {
		c, ok := f.Col(ft.Name)
		if !ok {
			return nil, colErr(ft.Name, ErrSchema, "feature column not in the frame")
		}
		if c.Kind != ft.Kind {
			return nil, colErr(ft.Name, ErrSchema, fmt.Sprintf("kind %s, fitted as %s", c.Kind, ft.Kind))
		}
		cols[j] = c
	}
	n, p := f.Rows(), t.NumFeatures()
	if n == 0 {
		return nil, fmt.Errorf("features: transform: %w", ErrEmpty)
	}
	data := make([]float64, n*p)
	off := 0
	for j := range t.Features {
		ft, c := &t.Features[j], cols[j]
		if ft.Kind == dataset.Categorical {
			for i := range n {
				s := ft.FillCategory
				if !c.IsMissing(i) {
					s = c.Str[i]
				}
				if k, found := slices.BinarySearch(ft.Categories, s); found {
					data[i*p+off+k] = 1
				}
			}
			off += len(ft.Categories)
			continue
		}
		for i := range n {
			x := ft.Fill
			if !c.IsMissing(i) {
				x = c.Num[i]
				if math.IsNaN(x) || math.IsInf(x, 0) {
					return nil, colErr(ft.Name, ErrNonFinite, "row "+strconv.Itoa(i))
				}
			}
			if ft.Clip != nil {
				x = min(max(x, ft.Clip.Low), ft.Clip.High)
			}
			data[i*p+off] = (x - ft.Center) / ft.Scale
		}
		off++
	}
	return mat.NewDense(n, p, data), nil
}

// check reports an inconsistent Transformer (a zero value, or one decoded
// from damaged JSON): an unknown version or kind, unsorted categories,
// non-finite fills, centers, scales or clipping bounds, a scale <= 0,
// clipping bounds with low above high, on a boolean or categorical
// feature, or on some numeric features only, and an invalid clipping
// method. Its errors wrap ErrShape.
func (t *Transformer) check() error {
	if t == nil || len(t.Features) == 0 {
		return fmt.Errorf("features: transformer has no features (not fitted?): %w", ErrShape)
	}
	if t.Version != Version {
		return fmt.Errorf("features: transformer version %d, want %d: %w", t.Version, Version, ErrShape)
	}
	if t.Clip != nil {
		if c, err := t.Clip.resolved(); err != nil || c != *t.Clip {
			return fmt.Errorf("features: transformer: clip %+v is not a valid, resolved clipping method: %w", *t.Clip, ErrShape)
		}
	}
	for _, ft := range t.Features {
		bad := ""
		numeric := ft.Kind == dataset.Numeric || ft.Kind == dataset.Datetime
		switch {
		case !ft.Kind.Valid():
			bad = "unknown kind " + quote(string(ft.Kind))
		case ft.Kind == dataset.Categorical && (len(ft.Categories) == 0 || !isSortedUnique(ft.Categories)):
			bad = "categories empty or not sorted"
		case !(ft.Scale > 0) || math.IsInf(ft.Scale, 0) || math.IsNaN(ft.Center) || math.IsInf(ft.Center, 0) || math.IsNaN(ft.Fill) || math.IsInf(ft.Fill, 0):
			bad = "non-finite fill, center or scale"
		case ft.Clip != nil && !numeric:
			bad = "clipping bounds on a " + string(ft.Kind) + " feature"
		case numeric && ft.Clip != nil && t.Clip == nil:
			bad = "clipping bounds, but the transformer records no clipping method"
		case numeric && ft.Clip == nil && t.Clip != nil:
			bad = "no clipping bounds, but the transformer clips"
		case ft.Clip != nil && !finite(ft.Clip.Low, ft.Clip.High):
			bad = "non-finite clipping bounds"
		case ft.Clip != nil && ft.Clip.Low > ft.Clip.High:
			bad = "clipping bounds with low above high"
		}
		if bad != "" {
			return colErr(ft.Name, ErrShape, "transformer: "+bad)
		}
	}
	return nil
}

func finite(v ...float64) bool {
	for _, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false
		}
	}
	return true
}

func isSortedUnique(s []string) bool {
	for i := 1; i < len(s); i++ {
		if s[i-1] >= s[i] {
			return false
		}
	}
	return true
}

// labelColumn returns f's label column, checked against the fitted kind
// and for missing values.
func (t *Transformer) labelColumn(f *dataset.Frame) (*dataset.Column, error) {
	if f == nil {
		return nil, fmt.Errorf("features: nil frame: %w", ErrShape)
	}
	if err := f.Validate(); err != nil {
		return nil, fmt.Errorf("features: %w: %w", ErrShape, err)
	}
	c, ok := f.Col(t.Label)
	if !ok {
		return nil, fmt.Errorf("features: label column %q not found: %w", t.Label, ErrLabel)
	}
	if c.Kind != t.LabelKind {
		return nil, colErr(c.Name, ErrSchema, fmt.Sprintf("label kind %s, fitted as %s", c.Kind, t.LabelKind))
	}
	for i := range c.Len() {
		if c.IsMissing(i) {
			return nil, colErr(c.Name, ErrLabel, "label missing in row "+strconv.Itoa(i))
		}
	}
	return c, nil
}

// ClassLabels returns f's label as class indices into the fitted class
// list (Transformer.Classes, which it also returns, as a copy). The label
// must be categorical, boolean or an integer-valued number at Fit; a
// value Fit did not see is an ErrLabel error.
func (t *Transformer) ClassLabels(f *dataset.Frame) (y []int, classes []string, err error) {
	c, err := t.labelColumn(f)
	if err != nil {
		return nil, nil, err
	}
	if len(t.Classes) == 0 {
		return nil, nil, colErr(c.Name, ErrLabel, "not a class label (fitted as a "+string(t.LabelKind)+" target without classes)")
	}
	index := make(map[string]int, len(t.Classes))
	for k, s := range t.Classes {
		index[s] = k
	}
	y = make([]int, c.Len())
	for i := range y {
		s := c.Value(i) // canonical: dataset.FormatNumber numbers, true/false booleans
		if c.Kind == dataset.Numeric && c.Num[i] == 0 {
			s = "0" // -0 and 0 are one class
		}
		k, ok := index[s]
		if !ok {
			return nil, nil, colErr(c.Name, ErrLabel, fmt.Sprintf("row %d: class %q not seen in training", i, s))
		}
		y[i] = k
	}
	return y, slices.Clone(t.Classes), nil
}

// TargetValues returns f's label as regression targets. The label must be
// numeric or boolean (0/1), without missing, NaN or ±Inf values.
func (t *Transformer) TargetValues(f *dataset.Frame) ([]float64, error) {
	c, err := t.labelColumn(f)
	if err != nil {
		return nil, err
	}
	if c.Kind != dataset.Numeric && c.Kind != dataset.Boolean {
		return nil, colErr(c.Name, ErrLabel, "a "+string(c.Kind)+" label is not a regression target")
	}
	y := slices.Clone(c.Num)
	for i, x := range y {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, colErr(c.Name, ErrNonFinite, "label in row "+strconv.Itoa(i))
		}
	}
	return y, nil
}
