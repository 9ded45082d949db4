package model

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"

	"github.com/cairnml/cairn/tasks/ml/dataset"
	"github.com/cairnml/cairn/tasks/ml/features"
	"github.com/cairnml/cairn/tasks/ml/tree"
)

// MaxDecodeBytes bounds what Decode reads: 1 GiB.
const MaxDecodeBytes = 1 << 30

// Encode writes m as JSON followed by a newline. The bytes depend only on
// the model: struct fields in declaration order, map keys sorted, floats in
// their shortest round-trip form, so identical fits encode identically and
// a decoded model encodes to the same bytes. It fails (wrapping ErrFormat)
// on an inconsistent model.
func (m *Model) Encode(w io.Writer) error {
	if err := m.check(); err != nil {
		return err
	}
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("model: encode: %w: %w", ErrFormat, err)
	}
	b = append(b, '\n')
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("model: encode: write: %w", err)
	}
	return nil
}

// Decode reads a model Encode wrote and checks it: the version, unknown
// fields, and that its parts agree (one estimator, of the algorithm named;
// the feature count, class count and tree structure consistent with the
// preprocessing). Errors wrap ErrFormat, except those of the reader.
func Decode(r io.Reader) (*Model, error) {
	raw, err := io.ReadAll(io.LimitReader(r, MaxDecodeBytes+1))
	if err != nil {
		return nil, fmt.Errorf("model: decode: read: %w", err)
	}
	if len(raw) > MaxDecodeBytes {
		return nil, fmt.Errorf("model: decode: larger than %d bytes: %w", MaxDecodeBytes, ErrFormat)
	}
	trimmed := bytes.TrimLeft(raw, " \t\r\n")
	if len(trimmed) == 0 {
		return nil, fmt.Errorf("model: decode: empty input: %w", ErrFormat)
	}
	if trimmed[0] != '{' {
		return nil, fmt.Errorf("model: decode: not a model file (want a JSON object, it starts with %q): %w", trimmed[0], ErrFormat)
	}
	// Check the version before the rest, so that a newer file says so
	// rather than failing on a field this version does not know.
	var v struct {
		Version *int `json:"version"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, fmt.Errorf("model: decode: not a model file: %w: %w", ErrFormat, err)
	}
	switch {
	case v.Version == nil:
		return nil, fmt.Errorf("model: decode: no version field (not a model file?): %w", ErrFormat)
	case *v.Version != Version:
		return nil, fmt.Errorf("model: decode: format version %d, this build reads version %d: %w", *v.Version, Version, ErrFormat)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	var m Model
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("model: decode: %w: %w", ErrFormat, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("model: decode: data after the model: %w", ErrFormat)
	}
	if err := m.check(); err != nil {
		return nil, err
	}
	// Back to the canonical values Fit records (json.Numbers → int or
	// float64 by the hyperparameter's type), so the decoded model equals
	// the fitted one.
	for k, v := range m.Hyperparams {
		c, herr := CheckHyperparam(m.Algorithm, k, v)
		if herr != nil {
			return nil, fmt.Errorf("model: decode: %w: %w", ErrFormat, herr)
		}
		m.Hyperparams[k] = c
	}
	return &m, nil
}

// check reports an inconsistent model (hand-made, or decoded from damaged
// bytes) with an error wrapping ErrFormat.
func (m *Model) check() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("model: inconsistent model: %s: %w", fmt.Sprintf(format, args...), ErrFormat)
	}
	if m == nil {
		return bad("nil model")
	}
	if m.Version != Version {
		return bad("version %d, want %d", m.Version, Version)
	}
	if m.Kind != Classification && m.Kind != Regression {
		return bad("kind %q", m.Kind)
	}
	if CheckAlgorithm(m.Algorithm) != nil {
		return bad("unknown algorithm %q", m.Algorithm)
	}
	tr := m.Preprocess
	if tr == nil || len(tr.Features) == 0 || tr.Version != features.Version {
		return bad("no fitted preprocessing of version %d", features.Version)
	}
	if tr.Label != m.Label {
		return bad("label %q, preprocessing label %q", m.Label, tr.Label)
	}
	if err := checkTransformer(tr); err != nil {
		return bad("preprocessing: %v", err)
	}
	p := tr.NumFeatures()
	if !slices.Equal(m.Features, tr.FeatureNames()) {
		return bad("feature names differ from the preprocessing's")
	}
	k := len(m.Classes)
	switch m.Kind {
	case Classification:
		if k < 2 || !slices.Equal(m.Classes, tr.Classes) {
			return bad("classes %v, preprocessing classes %v", m.Classes, tr.Classes)
		}
	case Regression:
		if k != 0 {
			return bad("a regression with classes")
		}
		if tr.LabelKind != dataset.Numeric && tr.LabelKind != dataset.Boolean {
			return bad("a regression of a %s label", tr.LabelKind)
		}
	}
	set := 0
	for _, isSet := range []bool{m.Linear != nil, m.Logistic != nil, m.Tree != nil, m.Forest != nil} {
		if isSet {
			set++
		}
	}
	if set != 1 {
		return bad("%d estimators, want 1", set)
	}
	switch m.Algorithm {
	case LinearRegression, Ridge:
		if m.Linear == nil || m.Kind != Regression {
			return bad("%s without a linear regression", m.Algorithm)
		}
		if len(m.Linear.Coef) != p || !finite(m.Linear.Coef...) || !finite(m.Linear.Intercept) {
			return bad("%d coefficients for %d features, or a non-finite one", len(m.Linear.Coef), p)
		}
	case LogisticRegression:
		lg := m.Logistic
		if lg == nil || m.Kind != Classification {
			return bad("logistic_regression without a logistic model")
		}
		rowsWant := k
		if k == 2 {
			rowsWant = 1
		}
		if lg.Classes != k || len(lg.Coef) != rowsWant || len(lg.Intercept) != rowsWant || !finite(lg.Intercept...) {
			return bad("logistic model of %d classes with %d coefficient rows for %d classes", lg.Classes, len(lg.Coef), k)
		}
		for _, row := range lg.Coef {
			if len(row) != p || !finite(row...) {
				return bad("a logistic coefficient row of %d entries for %d features, or a non-finite one", len(row), p)
			}
		}
	case DecisionTree:
		if m.Tree == nil {
			return bad("decision_tree without a tree")
		}
		if err := checkTree(m.Tree, m.Kind, p, k); err != nil {
			return bad("tree: %v", err)
		}
	case RandomForest:
		fo := m.Forest
		if fo == nil || len(fo.Trees) == 0 {
			return bad("random_forest without trees")
		}
		if fo.Task != taskOf(m.Kind) || fo.NFeatures != p || fo.NClasses != treeClasses(m.Kind, k) {
			return bad("forest for %s with %d features and %d classes", fo.Task, fo.NFeatures, fo.NClasses)
		}
		for i, t := range fo.Trees {
			if t == nil {
				return bad("forest tree %d is null", i)
			}
			if err := checkTree(t, m.Kind, p, k); err != nil {
				return bad("forest tree %d: %v", i, err)
			}
		}
	}
	return nil
}

// checkTransformer runs the transformer's own consistency check (kinds,
// sorted categories, finite fills, positive scales) by transforming one
// row of missing values, so that a damaged file fails in Decode rather than
// in Predict.
func checkTransformer(tr *features.Transformer) error {
	f := &dataset.Frame{}
	for _, ft := range tr.Features {
		c := &dataset.Column{Name: ft.Name, Kind: ft.Kind, Missing: []bool{true}}
		if ft.Kind == dataset.Categorical {
			c.Str = []string{""}
		} else {
			c.Num = []float64{0}
		}
		f.Columns = append(f.Columns, c)
	}
	_, err := tr.Transform(f)
	return err
}

func taskOf(k Kind) tree.Task {
	if k == Classification {
		return tree.Classification
	}
	return tree.Regression
}

func treeClasses(kind Kind, k int) int {
	if kind == Classification {
		return k
	}
	return 0
}

// checkTree checks that every node is reachable once, in range, and has a
// value of the right width, so that prediction cannot index out of range
// or loop.
func checkTree(t *tree.Tree, kind Kind, p, k int) error {
	if t.Task != taskOf(kind) || t.NFeatures != p || t.NClasses != treeClasses(kind, k) {
		return fmt.Errorf("for %s with %d features and %d classes", t.Task, t.NFeatures, t.NClasses)
	}
	if len(t.Nodes) == 0 {
		return fmt.Errorf("no nodes")
	}
	width := 1
	if kind == Classification {
		width = k
	}
	for i, n := range t.Nodes {
		if len(n.Value) != width || !finite(n.Value...) {
			return fmt.Errorf("node %d has %d values, want %d finite ones", i, len(n.Value), width)
		}
		if n.Feature < 0 {
			if n.Feature != -1 || n.Left != -1 || n.Right != -1 {
				return fmt.Errorf("leaf %d with children", i)
			}
			continue
		}
		// Depth-first order: children come after their parent, so a walk
		// always moves forward and ends.
		if n.Feature >= p || n.Left <= i || n.Right <= i || n.Left >= len(t.Nodes) || n.Right >= len(t.Nodes) || math.IsNaN(n.Threshold) {
			return fmt.Errorf("node %d: feature %d, children %d and %d, of %d nodes", i, n.Feature, n.Left, n.Right, len(t.Nodes))
		}
	}
	return nil
}

func finite(xs ...float64) bool {
	for _, x := range xs {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false
		}
	}
	return true
}
