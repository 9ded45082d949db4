package model

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/cairnml/cairn/tasks"
	"github.com/cairnml/cairn/tasks/ml/dataset"
	"github.com/cairnml/cairn/tasks/ml/features"
	"github.com/cairnml/cairn/tasks/ml/linear"
	"github.com/cairnml/cairn/tasks/ml/tree"
	"gonum.org/v1/gonum/mat"
)

// MediaType is the media type of an encoded model artifact.
const MediaType = "application/vnd.cairn.model+json"

// Version is the format version Encode writes and Decode reads.
const Version = 1

// Kind says what a model predicts.
type Kind string

// The kinds.
const (
	Classification Kind = "classification"
	Regression     Kind = "regression"
)

// MaxInferredClasses is the largest number of distinct integer values a
// numeric label may have for Fit to infer a classification with a tree or
// forest when Spec.Kind is empty; above it the label is a regression
// target.
const MaxInferredClasses = 20

// ClassWeight weights the training rows of each class (classification
// only). The zero value weights every row 1.
type ClassWeight struct {
	// Balanced weights class c by n / (k · n_c), scikit-learn's
	// class_weight="balanced".
	Balanced bool `json:"balanced,omitempty"`
	// Weights maps class labels (as Model.Classes spells them: "1",
	// "true", "setosa") to finite weights > 0; classes not listed weigh 1.
	Weights map[string]float64 `json:"weights,omitempty"`
}

// IsZero reports whether cw weights every row 1.
func (cw ClassWeight) IsZero() bool { return !cw.Balanced && len(cw.Weights) == 0 }

// Spec says what Fit fits: the preprocessing (Preprocess, whose Label is
// the label) and the estimator.
type Spec struct {
	// Preprocess is the feature pipeline: label, excluded columns,
	// imputation, standardization (see package features). Use
	// features.NewSpec(label) for the usual one.
	Preprocess features.Spec
	// Algorithm is one of the algorithm constants.
	Algorithm string
	// Hyperparams are the algorithm's hyperparameters (see Hyperparams);
	// missing ones take their defaults.
	Hyperparams map[string]any
	// Kind is Classification, Regression or "" to infer it: logistic
	// regression classifies, linear regression and ridge regress; a tree
	// or forest classifies a categorical or boolean label, or a numeric one
	// with at most MaxInferredClasses distinct integer values, and regresses
	// any other numeric label.
	Kind Kind
	// ClassWeight weights the classes (classification only; logistic
	// regression, tree and forest).
	ClassWeight ClassWeight
	// Seed seeds a forest (bootstrap samples and feature draws) and a
	// tree's feature draws when max_features is below the feature count.
	Seed uint64
	// Workers bounds how many trees of a forest are built at once (0:
	// GOMAXPROCS). It never changes the model.
	Workers int
}

// Model is a fitted pipeline: the preprocessing and the estimator, with
// what is needed to check the data it predicts on. It is a plain value
// with JSON tags; Encode writes it deterministically and Decode checks it.
type Model struct {
	// Version is the format version (Version).
	Version int `json:"version"`
	// Kind is what the model predicts.
	Kind Kind `json:"kind"`
	// Algorithm is the estimator's algorithm name.
	Algorithm string `json:"algorithm"`
	// Hyperparams are the hyperparameters it was fitted with, defaults
	// included, in canonical form (see ResolveHyperparams).
	Hyperparams map[string]any `json:"hyperparams"`
	// Label is the label column and Classes, for a classifier, the class
	// labels in the order of class indices (Prediction.Class).
	Label   string   `json:"label"`
	Classes []string `json:"classes,omitempty"`
	// ClassWeight is the class weighting it was fitted with.
	ClassWeight ClassWeight `json:"class_weight,omitzero"`
	// Seed is the seed it was fitted with.
	Seed uint64 `json:"seed"`
	// TrainRows is the number of training rows.
	TrainRows int `json:"train_rows"`
	// Features are the names of the estimator's inputs, the columns of
	// the preprocessed matrix (see features.Transformer.FeatureNames).
	Features []string `json:"features"`
	// Preprocess is the fitted preprocessing; its features are the input
	// schema (column names and kinds).
	Preprocess *features.Transformer `json:"preprocess"`
	// Exactly one estimator is set, the one Algorithm names.
	Linear   *linear.Regression `json:"linear,omitempty"`
	Logistic *linear.Logistic   `json:"logistic,omitempty"`
	Tree     *tree.Tree         `json:"tree,omitempty"`
	Forest   *tree.Forest       `json:"forest,omitempty"`
}

// Prediction is a model's output for the rows of a frame.
type Prediction struct {
	// Class is each row's predicted class, an index into Model.Classes
	// (classification).
	Class []int `json:"class,omitempty"`
	// Proba is each row's class probabilities, one per class, summing to 1
	// (classification).
	Proba [][]float64 `json:"proba,omitempty"`
	// Value is each row's predicted value (regression).
	Value []float64 `json:"value,omitempty"`
}

// Column is one input column of a model: its name and kind.
type Column struct {
	Name string       `json:"name"`
	Kind dataset.Kind `json:"kind"`
}

// Schema returns the input columns the model needs (its feature columns,
// in training order) and the label column's name and kind last. A frame to
// predict on must have the feature columns with these kinds; read a CSV
// with ReadOptions.Schema set to SchemaKinds so that its columns get them.
func (m *Model) Schema() []Column {
	if m.Preprocess == nil {
		return nil
	}
	cols := make([]Column, 0, len(m.Preprocess.Features)+1)
	for _, ft := range m.Preprocess.Features {
		cols = append(cols, Column{Name: ft.Name, Kind: ft.Kind})
	}
	return append(cols, Column{Name: m.Preprocess.Label, Kind: m.Preprocess.LabelKind})
}

// SchemaKinds returns the kind of every feature column, for
// dataset.ReadOptions.Schema, and, with label set, of the label column.
// Reading with it makes a value that does not parse as its column's kind an
// error naming its line, rather than a column of another kind.
func (m *Model) SchemaKinds(label bool) map[string]dataset.Kind {
	if m.Preprocess == nil {
		return nil
	}
	kinds := make(map[string]dataset.Kind, len(m.Preprocess.Features)+1)
	for _, ft := range m.Preprocess.Features {
		kinds[ft.Name] = ft.Kind
	}
	if label {
		kinds[m.Preprocess.Label] = m.Preprocess.LabelKind
	}
	return kinds
}

// Fit fits spec's pipeline on f: the preprocessing is learnt from f alone,
// then the estimator is fitted on the preprocessed rows. Errors wrap
// ErrAlgorithm, ErrHyperparam (a *HyperparamError), ErrSpec, ErrData, or
// an error of package features (a missing label column, a NaN, a column
// entirely missing …), linear or tree; every one is about the input.
func Fit(f *dataset.Frame, spec Spec) (*Model, error) {
	if err := CheckAlgorithm(spec.Algorithm); err != nil {
		return nil, err
	}
	hp, herrs := ResolveHyperparams(spec.Algorithm, spec.Hyperparams)
	if len(herrs) > 0 {
		return nil, joinHyperparamErrors(herrs)
	}
	label := spec.Preprocess.Label
	if label == "" {
		return nil, fmt.Errorf("model: no label column given: %w", ErrSpec)
	}
	if f == nil || f.Rows() == 0 {
		return nil, fmt.Errorf("model: the training data has no rows: %w", ErrData)
	}
	tr, err := features.Fit(f, spec.Preprocess)
	if err != nil {
		return nil, err
	}
	kind, err := inferKind(spec, tr)
	if err != nil {
		return nil, err
	}
	if kind == Regression {
		// The target's distinct values are not classes of a regression:
		// the artifact does not carry them (diabetes has 200 of them).
		tr.Classes = nil
	}
	p, err := typed(spec.Algorithm, kind, hp)
	if err != nil {
		return nil, err
	}
	X, err := tr.Transform(f)
	if err != nil {
		return nil, err
	}
	m := &Model{
		Version: Version, Kind: kind, Algorithm: spec.Algorithm, Hyperparams: hp,
		Label: label, ClassWeight: spec.ClassWeight, Seed: spec.Seed,
		TrainRows: f.Rows(), Features: tr.FeatureNames(), Preprocess: tr,
	}
	if len(m.ClassWeight.Weights) == 0 {
		m.ClassWeight.Weights = nil
	}
	if kind == Regression {
		if !spec.ClassWeight.IsZero() {
			return nil, fmt.Errorf("model: class weights apply to classification, and %q is fitted as a regression: %w", label, ErrSpec)
		}
		y, err := tr.TargetValues(f)
		if err != nil {
			return nil, err
		}
		if err := m.fitRegression(X, y, p, spec.Workers); err != nil {
			return nil, err
		}
		return m, nil
	}
	y, classes, err := tr.ClassLabels(f)
	if err != nil {
		return nil, err
	}
	if len(classes) < 2 {
		return nil, fmt.Errorf("model: every training label of %q is %q: classification needs at least two classes: %w", label, classes[0], ErrData)
	}
	m.Classes = classes
	weights, err := classWeights(spec.ClassWeight, classes)
	if err != nil {
		return nil, err
	}
	if err := m.fitClassifier(X, y, weights, spec.ClassWeight.Balanced, p, spec.Workers); err != nil {
		return nil, err
	}
	return m, nil
}

func joinHyperparamErrors(herrs []*HyperparamError) error {
	errs := make([]error, len(herrs))
	for i, e := range herrs {
		errs[i] = e
	}
	return errors.Join(errs...)
}

// inferKind decides classification or regression.
func inferKind(spec Spec, tr *features.Transformer) (Kind, error) {
	label, lk := tr.Label, tr.LabelKind
	classLabel := len(tr.Classes) > 0
	switch spec.Kind {
	case "", Classification, Regression:
	default:
		return "", fmt.Errorf("model: kind %q, want classification or regression: %w", spec.Kind, ErrSpec)
	}
	switch spec.Algorithm {
	case LogisticRegression:
		if spec.Kind == Regression {
			return "", fmt.Errorf("model: logistic_regression is a classifier; for a regression use linear_regression, ridge, decision_tree or random_forest: %w", ErrAlgorithm)
		}
		if !classLabel {
			return "", fmt.Errorf("model: logistic_regression needs class labels, and %q is a %s label with non-integer values; use linear_regression or ridge for a continuous target: %w", label, lk, ErrAlgorithm)
		}
		return Classification, nil
	case LinearRegression, Ridge:
		if spec.Kind == Classification {
			return "", fmt.Errorf("model: %s is a regression; for a classification use logistic_regression, decision_tree or random_forest: %w", spec.Algorithm, ErrAlgorithm)
		}
		if lk != dataset.Numeric && lk != dataset.Boolean {
			return "", fmt.Errorf("model: %s needs a numeric label, and %q is %s; use logistic_regression, decision_tree or random_forest to classify it: %w", spec.Algorithm, label, lk, ErrAlgorithm)
		}
		return Regression, nil
	}
	switch spec.Kind {
	case Classification:
		if !classLabel {
			return "", fmt.Errorf("model: kind classification, but label %q (%s) has non-integer values: %w", label, lk, ErrSpec)
		}
		return Classification, nil
	case Regression:
		if lk != dataset.Numeric && lk != dataset.Boolean {
			return "", fmt.Errorf("model: kind regression, but label %q is %s: %w", label, lk, ErrSpec)
		}
		return Regression, nil
	}
	if lk == dataset.Categorical || lk == dataset.Boolean || (classLabel && len(tr.Classes) <= MaxInferredClasses) {
		if !classLabel {
			return "", fmt.Errorf("model: label %q (%s) can be neither classified nor regressed: %w", label, lk, ErrSpec)
		}
		return Classification, nil
	}
	if lk != dataset.Numeric {
		return "", fmt.Errorf("model: label %q is %s; want a categorical, boolean or numeric label: %w", label, lk, ErrSpec)
	}
	return Regression, nil
}

// classWeights turns cw into one weight per class, or nil.
func classWeights(cw ClassWeight, classes []string) ([]float64, error) {
	if cw.Balanced && len(cw.Weights) > 0 {
		return nil, fmt.Errorf("model: class weights are both balanced and given per class: %w", ErrSpec)
	}
	if len(cw.Weights) == 0 {
		return nil, nil
	}
	w := make([]float64, len(classes))
	for i := range w {
		w[i] = 1
	}
	names := make([]string, 0, len(cw.Weights))
	for c := range cw.Weights {
		names = append(names, c)
	}
	sort.Strings(names)
	for _, c := range names {
		v := cw.Weights[c]
		k := slices.Index(classes, c) // numbers sort numerically, not by bytes
		if k < 0 {
			return nil, fmt.Errorf("model: class weight for %q, which is not a training class (classes: %s): %w", c, strings.Join(classes, ", "), ErrSpec)
		}
		if !(v > 0) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("model: class weight of %q is %v, want a finite number > 0: %w", c, v, ErrSpec)
		}
		w[k] = v
	}
	return w, nil
}

func (m *Model) fitRegression(X *mat.Dense, y []float64, p estimatorParams, workers int) error {
	var err error
	switch m.Algorithm {
	case LinearRegression:
		m.Linear, err = linear.FitOLS(X, y)
	case Ridge:
		m.Linear, err = linear.FitRidge(X, y, p.alpha)
	case DecisionTree:
		m.Tree, err = tree.FitRegressor(rows(X), y, p.tree)
	case RandomForest:
		fp := p.forest
		fp.Seed, fp.Workers = m.Seed, workers
		m.Forest, err = tree.FitForestRegressor(rows(X), y, fp)
	}
	if err != nil {
		return fmt.Errorf("model: fit %s: %w", m.Algorithm, err)
	}
	return nil
}

func (m *Model) fitClassifier(X *mat.Dense, y []int, weights []float64, balanced bool, p estimatorParams, workers int) error {
	var err error
	switch m.Algorithm {
	case LogisticRegression:
		opts := p.logistic
		opts.ClassWeight, opts.Balanced = weights, balanced
		m.Logistic, err = linear.FitLogistic(X, y, opts)
	case DecisionTree:
		tp := p.tree
		tp.ClassWeight = tree.ClassWeight{Balanced: balanced, Weights: weights}
		tp.Seed = m.Seed
		m.Tree, err = tree.FitClassifier(rows(X), y, tp)
	case RandomForest:
		fp := p.forest
		fp.Tree.ClassWeight = tree.ClassWeight{Balanced: balanced, Weights: weights}
		fp.Seed, fp.Workers = m.Seed, workers
		m.Forest, err = tree.FitForestClassifier(rows(X), y, fp)
	}
	if err != nil {
		return fmt.Errorf("model: fit %s: %w", m.Algorithm, err)
	}
	return nil
}

// rows views a dense matrix as row slices (no copy).
func rows(X *mat.Dense) [][]float64 {
	n, p := X.Dims()
	raw := X.RawMatrix()
	out := make([][]float64, n)
	for i := range out {
		out[i] = raw.Data[i*raw.Stride : i*raw.Stride+p : i*raw.Stride+p]
	}
	return out
}

// Predict preprocesses f's rows with the fitted pipeline and predicts them.
// f must have every feature column with its training kind (an error naming
// the first that is missing or different wraps features.ErrSchema); other
// columns, the label among them, are ignored. A category not seen in
// training encodes as zeros.
func (m *Model) Predict(f *dataset.Frame) (*Prediction, error) {
	if err := m.check(); err != nil {
		return nil, err
	}
	return m.predict(f)
}

// Predictor is a model checked once, to predict many times (a server
// answering requests): its Predict is Model.Predict without the check of
// the model's consistency, which costs more than predicting a few rows.
// The model must not change after Checked.
type Predictor struct{ m *Model }

// Checked checks m as Predict does and returns its Predictor.
func (m *Model) Checked() (*Predictor, error) {
	if err := m.check(); err != nil {
		return nil, err
	}
	return &Predictor{m: m}, nil
}

// Predict is Model.Predict of the checked model.
func (p *Predictor) Predict(f *dataset.Frame) (*Prediction, error) { return p.m.predict(f) }

func (m *Model) predict(f *dataset.Frame) (*Prediction, error) {
	X, err := m.Preprocess.Transform(f)
	if err != nil {
		return nil, fmt.Errorf("model: predict: %w", err)
	}
	var pred Prediction
	switch {
	case m.Linear != nil:
		pred.Value, err = m.Linear.Predict(X)
	case m.Logistic != nil:
		pred.Proba, err = m.Logistic.PredictProba(X)
		if err == nil {
			pred.Class, err = m.Logistic.Predict(X)
		}
	case m.Tree != nil && m.Kind == Regression:
		pred.Value, err = m.Tree.PredictValue(rows(X))
	case m.Tree != nil:
		// A leaf's class is the argmax of its probabilities, lowest class
		// on a tie, as Tree.Predict says: one walk of the tree, not two.
		pred.Proba, err = m.Tree.PredictProba(rows(X))
		if err == nil {
			pred.Class = argmaxRows(pred.Proba)
		}
	case m.Forest != nil && m.Kind == Regression:
		pred.Value, err = m.Forest.PredictValue(rows(X))
	case m.Forest != nil:
		pred.Proba, err = m.Forest.PredictProba(rows(X))
		if err == nil {
			pred.Class = argmaxRows(pred.Proba)
		}
	}
	if err != nil {
		if i, j, v, ok := nonFinite(X); ok {
			// Finite input that the preprocessing took past the range of
			// a float64 (1.7e308 scaled): the row's fault, not the model's.
			return nil, &InputError{Row: i, Msg: fmt.Sprintf("a value is out of the range the model computes in: after its preprocessing, feature %d is %v (keep values well within ±1e300)", j, v)}
		}
		return nil, fmt.Errorf("model: predict %s: %w", m.Algorithm, err)
	}
	return &pred, nil
}

// InputError is a prediction refused because of one of its rows: the
// caller's fault, not the model's (a server answers it as a bad request).
type InputError struct {
	Row int // the row's index in the frame
	Msg string
}

func (e *InputError) Error() string { return fmt.Sprintf("row %d: %s", e.Row, e.Msg) }

// nonFinite finds the first NaN or ±Inf of X: its row, column and value.
func nonFinite(X *mat.Dense) (i, j int, v float64, ok bool) {
	n, p := X.Dims()
	raw := X.RawMatrix()
	for i = 0; i < n; i++ {
		for j, v = range raw.Data[i*raw.Stride : i*raw.Stride+p] {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return i, j, v, true
			}
		}
	}
	return 0, 0, 0, false
}

// argmaxRows returns each row's most probable class, the lowest index on a
// tie (as the forest's Predict does, without a second pass over the trees).
func argmaxRows(p [][]float64) []int {
	out := make([]int, len(p))
	for i, row := range p {
		best := 0
		for c, v := range row {
			if v > row[best] {
				best = c
			}
		}
		out[i] = best
	}
	return out
}

// Truth returns f's label column as the model sees it: class indices into
// Classes for a classifier (a class not seen in training is an error
// naming it), or values for a regression. The other slice is nil.
func (m *Model) Truth(f *dataset.Frame) ([]int, []float64, error) {
	if err := m.check(); err != nil {
		return nil, nil, err
	}
	if m.Kind == Regression {
		y, err := m.Preprocess.TargetValues(f)
		if err != nil {
			return nil, nil, fmt.Errorf("model: label: %w", err)
		}
		return nil, y, nil
	}
	y, _, err := m.Preprocess.ClassLabels(f)
	if err != nil {
		return nil, nil, fmt.Errorf("model: label: %w", err)
	}
	return y, nil, nil
}

// Describe returns a one-line summary of the model, for logs.
func (m *Model) Describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s of %q on %d rows, %d features", m.Algorithm, m.Kind, m.Label, m.TrainRows, len(m.Features))
	if m.Kind == Classification {
		fmt.Fprintf(&b, ", %d classes", len(m.Classes))
	}
	names := make([]string, 0, len(m.Hyperparams))
	for k := range m.Hyperparams {
		names = append(names, k)
	}
	sort.Strings(names)
	for i, k := range names {
		sep := ", "
		if i == 0 {
			sep = "; "
		}
		fmt.Fprintf(&b, "%s%s=%s", sep, k, FormatValue(m.Hyperparams[k]))
	}
	return b.String()
}

// FormatValue writes a hyperparameter value for people: numbers in their
// shortest form, null, strings unquoted.
func FormatValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	}
	if f, ok := tasks.Number(v); ok {
		return strconv.FormatFloat(f, 'g', -1, 64)
	}
	return fmt.Sprint(v)
}

// Target returns what Fit would predict from f under spec without fitting
// an estimator: the kind, and for a classification the classes and each
// row's class index (to stratify cross-validation folds). It fails like Fit
// on a bad label, spec or algorithm.
func Target(f *dataset.Frame, spec Spec) (Kind, []string, []int, error) {
	if err := CheckAlgorithm(spec.Algorithm); err != nil {
		return "", nil, nil, err
	}
	if spec.Preprocess.Label == "" {
		return "", nil, nil, fmt.Errorf("model: no label column given: %w", ErrSpec)
	}
	if f == nil || f.Rows() == 0 {
		return "", nil, nil, fmt.Errorf("model: the training data has no rows: %w", ErrData)
	}
	tr, err := features.Fit(f, spec.Preprocess)
	if err != nil {
		return "", nil, nil, err
	}
	kind, err := inferKind(spec, tr)
	if err != nil {
		return "", nil, nil, err
	}
	if kind == Regression {
		return kind, nil, nil, nil
	}
	y, classes, err := tr.ClassLabels(f)
	if err != nil {
		return "", nil, nil, err
	}
	if len(classes) < 2 {
		return "", nil, nil, fmt.Errorf("model: every training label of %q is %q: classification needs at least two classes: %w", spec.Preprocess.Label, classes[0], ErrData)
	}
	return kind, classes, y, nil
}
