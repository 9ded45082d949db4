package evaluate

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/cairnml/cairn/tasks/ml/metrics"
)

// Problem kinds, as the model names them.
const (
	Classification = "classification"
	Regression     = "regression"
)

// MetricInfo describes a metric evaluate computes.
type MetricInfo struct {
	Name string
	// Kind is Classification or Regression.
	Kind string
	// Binary marks metrics of the positive class, defined for two classes
	// only.
	Binary bool
	// HigherIsBetter says which way is better.
	HigherIsBetter bool
	Doc            string
}

var metricInfos = []MetricInfo{
	{"accuracy", Classification, false, true, "fraction of rows whose class is predicted right"},
	{"balanced_accuracy", Classification, false, true, "mean recall over the classes present in the test set (scikit-learn's balanced_accuracy_score)"},
	{"precision", Classification, true, true, "precision of the positive class (binary)"},
	{"recall", Classification, true, true, "recall of the positive class (binary)"},
	{"f1", Classification, true, true, "F1 of the positive class (binary)"},
	{"precision_macro", Classification, false, true, "unweighted mean precision over the model's classes"},
	{"recall_macro", Classification, false, true, "unweighted mean recall over the model's classes"},
	{"f1_macro", Classification, false, true, "unweighted mean F1 over the model's classes"},
	{"precision_weighted", Classification, false, true, "mean precision weighted by each class's rows in the test set"},
	{"recall_weighted", Classification, false, true, "mean recall weighted by each class's rows in the test set"},
	{"f1_weighted", Classification, false, true, "mean F1 weighted by each class's rows in the test set"},
	{"roc_auc", Classification, false, true, "area under the ROC curve of the positive class (binary) or one-vs-rest, macro-averaged (more classes)"},
	{"roc_auc_weighted", Classification, false, true, "one-vs-rest ROC AUC weighted by class prevalence (equals roc_auc for two classes)"},
	{"log_loss", Classification, false, false, "mean negative log-likelihood of the true class (probabilities clipped to [1e-15, 1-1e-15])"},
	{"mse", Regression, false, false, "mean squared error"},
	{"rmse", Regression, false, false, "root mean squared error"},
	{"mae", Regression, false, false, "mean absolute error"},
	{"r2", Regression, false, true, "coefficient of determination R²"},
}

// Metrics returns every metric evaluate knows, classification first, in a
// fixed order.
func Metrics() []MetricInfo { return append([]MetricInfo(nil), metricInfos...) }

// MetricNames returns the metric names in Metrics order.
func MetricNames() []string {
	names := make([]string, len(metricInfos))
	for i, mi := range metricInfos {
		names[i] = mi.Name
	}
	return names
}

// LookupMetric returns the metric called name.
func LookupMetric(name string) (MetricInfo, bool) {
	for _, mi := range metricInfos {
		if mi.Name == name {
			return mi, true
		}
	}
	return MetricInfo{}, false
}

// Report is everything evaluate computes, as the report artifact holds it.
// Its JSON form is deterministic: fields in this order, map keys sorted,
// floats in their shortest round-trip form.
type Report struct {
	Kind      string `json:"kind"`
	Algorithm string `json:"algorithm,omitempty"`
	Label     string `json:"label,omitempty"`
	// Model and Test are the digests of the inputs.
	Model string `json:"model,omitempty"`
	Test  string `json:"test,omitempty"`
	Rows  int    `json:"rows"`
	// Classes are the model's classes in index order; Positive is the
	// positive class of the binary metrics (two classes only).
	Classes  []string `json:"classes,omitempty"`
	Positive string   `json:"positive,omitempty"`
	// Metrics holds every metric that applies and is defined.
	Metrics map[string]float64 `json:"metrics"`
	// Undefined says why a metric that applies was not computed (for
	// instance ROC AUC when a class has no row in the test set).
	Undefined map[string]string `json:"undefined,omitempty"`
	// PerClass has precision, recall, F1 and support of each class.
	PerClass  []ClassScores `json:"per_class,omitempty"`
	Confusion *Confusion    `json:"confusion_matrix,omitempty"`
	// ROC holds the full curves: the positive class's for two classes,
	// each class against the rest for more.
	ROC []Curve `json:"roc,omitempty"`
	// Gate holds each condition of the gate param and its outcome.
	Gate   []GateResult `json:"gate,omitempty"`
	Passed bool         `json:"passed"`
}

// ClassScores are one class's scores.
type ClassScores struct {
	Class     string  `json:"class"`
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
	F1        float64 `json:"f1"`
	Support   int     `json:"support"`
}

// Confusion is a confusion matrix: Matrix[true][predicted], classes in
// index order.
type Confusion struct {
	Classes []string `json:"classes"`
	Matrix  [][]int  `json:"matrix"`
}

// Curve is one ROC curve: Class against the rest. Points is the number of
// points of the full curve, which may be more than the arrays hold once
// downsampled. The first threshold is +Inf, written as null in JSON.
type Curve struct {
	Class      string
	AUC        float64
	Points     int
	FPR        []float64
	TPR        []float64
	Thresholds []float64
}

// MarshalJSON writes the curve with a null first threshold (+Inf, where
// nothing is predicted positive), since JSON has no infinity.
func (c Curve) MarshalJSON() ([]byte, error) {
	th := make([]*float64, len(c.Thresholds))
	for i := range c.Thresholds {
		if !math.IsInf(c.Thresholds[i], 0) {
			th[i] = &c.Thresholds[i]
		}
	}
	return json.Marshal(struct {
		Class      string     `json:"class"`
		AUC        float64    `json:"auc"`
		Points     int        `json:"points"`
		FPR        []float64  `json:"fpr"`
		TPR        []float64  `json:"tpr"`
		Thresholds []*float64 `json:"thresholds"`
	}{c.Class, c.AUC, c.Points, c.FPR, c.TPR, th})
}

// Downsample returns c with at most max points (max >= 2): the points at
// evenly spaced positions along the full curve, its first and last always
// among them. It depends on nothing but c and max.
func (c Curve) Downsample(max int) Curve {
	n := len(c.FPR)
	if n <= max || max < 2 {
		return c
	}
	out := Curve{Class: c.Class, AUC: c.AUC, Points: c.Points,
		FPR: make([]float64, max), TPR: make([]float64, max), Thresholds: make([]float64, max)}
	for i := range max {
		j := (i*(n-1) + (max-1)/2) / (max - 1) // round(i·(n-1)/(max-1)) in integers
		out.FPR[i], out.TPR[i], out.Thresholds[i] = c.FPR[j], c.TPR[j], c.Thresholds[j]
	}
	return out
}

// ErrInput is wrapped by errors about predictions that cannot be
// evaluated (length mismatch, labels out of range, probabilities that are
// not).
var ErrInput = errors.New("invalid predictions")

// Classify computes every classification metric of predicted classes and
// probabilities (proba[i][c], one column per class) against true class
// indices, for the k = len(classes) classes of a model. positive is the
// index of the positive class of the binary metrics (two classes). ROC AUC
// is not defined when a class has no row or every row; it is then left out
// of Metrics and the reason given in Undefined. Errors wrap ErrInput.
func Classify(classes []string, yTrue, yPred []int, proba [][]float64, positive int) (*Report, error) {
	k, n := len(classes), len(yTrue)
	switch {
	case k < 2:
		return nil, fmt.Errorf("evaluate: %d classes, want at least 2: %w", k, ErrInput)
	case n == 0:
		return nil, fmt.Errorf("evaluate: no rows: %w", ErrInput)
	case len(yPred) != n || len(proba) != n:
		return nil, fmt.Errorf("evaluate: %d true labels, %d predictions, %d probability rows: %w", n, len(yPred), len(proba), ErrInput)
	case k == 2 && (positive < 0 || positive > 1):
		return nil, fmt.Errorf("evaluate: positive class index %d: %w", positive, ErrInput)
	}
	cm, err := metrics.ConfusionMatrix(yTrue, yPred, k)
	if err != nil {
		return nil, fmt.Errorf("evaluate: %w: %w", ErrInput, err)
	}
	rep := &Report{Kind: Classification, Rows: n, Classes: append([]string(nil), classes...),
		Metrics: map[string]float64{}, Undefined: map[string]string{},
		Confusion: &Confusion{Classes: append([]string(nil), classes...), Matrix: cm}}
	set := func(name string, v float64) { rep.Metrics[name] = v }

	support := make([]int, k)
	predicted := make([]int, k)
	diag := 0
	for t, row := range cm {
		for p, v := range row {
			support[t] += v
			predicted[p] += v
		}
		diag += row[t]
	}
	set("accuracy", float64(diag)/float64(n))
	for c := range k {
		tp := float64(cm[c][c])
		p, r := ratio(tp, predicted[c]), ratio(tp, support[c])
		rep.PerClass = append(rep.PerClass, ClassScores{Class: classes[c], Precision: p, Recall: r, F1: f1(p, r), Support: support[c]})
	}
	ba, err := metrics.BalancedAccuracy(cm)
	if err != nil {
		return nil, fmt.Errorf("evaluate: %w", err)
	}
	set("balanced_accuracy", ba)
	// Macro and weighted averages run over the classes in the test set's
	// labels or in the predictions, as scikit-learn's do by default: a
	// class of the model that neither holds must not count as a zero.
	seen := metrics.PresentClasses(cm)
	for _, avg := range []struct {
		suffix string
		a      metrics.Average
	}{{"_macro", metrics.Macro}, {"_weighted", metrics.Weighted}} {
		s, err := metrics.ScoresFromConfusion(seen, avg.a, 0)
		if err != nil {
			return nil, fmt.Errorf("evaluate: %w", err)
		}
		set("precision"+avg.suffix, s.Precision)
		set("recall"+avg.suffix, s.Recall)
		set("f1"+avg.suffix, s.F1)
	}
	if k == 2 {
		rep.Positive = classes[positive]
		s, err := metrics.ScoresFromConfusion(cm, metrics.Binary, positive)
		if err != nil {
			return nil, fmt.Errorf("evaluate: %w", err)
		}
		set("precision", s.Precision)
		set("recall", s.Recall)
		set("f1", s.F1)
	}
	ll, err := metrics.LogLoss(yTrue, proba)
	if err != nil {
		return nil, fmt.Errorf("evaluate: log loss: %w: %w", ErrInput, err)
	}
	set("log_loss", ll)

	// ROC: the positive class for two classes, each class against the
	// rest for more; the AUCs average over the same curves.
	curveOf := func(c int) (Curve, error) {
		y := make([]int, n)
		s := make([]float64, n)
		for i, t := range yTrue {
			if t == c {
				y[i] = 1
			}
			s[i] = proba[i][c]
		}
		rc, err := metrics.ROCCurve(y, s)
		if err != nil {
			return Curve{}, err
		}
		return Curve{Class: classes[c], AUC: rc.AUC, Points: len(rc.FPR), FPR: rc.FPR, TPR: rc.TPR, Thresholds: rc.Thresholds}, nil
	}
	undefinedAUC := func(c int, err error) {
		why := fmt.Sprintf("class %q has no row in the test set", classes[c])
		if support[c] == n {
			why = fmt.Sprintf("every row of the test set is of class %q", classes[c])
		}
		if !errors.Is(err, metrics.ErrOneClass) {
			why = err.Error()
		}
		rep.Undefined["roc_auc"] = why
		rep.Undefined["roc_auc_weighted"] = why
	}
	if k == 2 {
		c, err := curveOf(positive)
		if err != nil {
			undefinedAUC(positive, err)
		} else {
			rep.ROC = []Curve{c}
			set("roc_auc", c.AUC)
			set("roc_auc_weighted", c.AUC)
		}
	} else {
		macro, weighted := 0.0, 0.0
		for c := range k {
			cv, err := curveOf(c)
			if err != nil {
				undefinedAUC(c, err)
				rep.ROC = nil
				break
			}
			rep.ROC = append(rep.ROC, cv)
			macro += cv.AUC
			weighted += float64(support[c]) * cv.AUC
		}
		if _, bad := rep.Undefined["roc_auc"]; !bad {
			set("roc_auc", macro/float64(k))
			set("roc_auc_weighted", weighted/float64(n))
		}
	}
	if len(rep.Undefined) == 0 {
		rep.Undefined = nil
	}
	return rep, nil
}

// Regress computes every regression metric of predicted values against
// true ones.
func Regress(yTrue, yPred []float64) (*Report, error) {
	r, err := metrics.EvaluateRegression(yTrue, yPred)
	if err != nil {
		return nil, fmt.Errorf("evaluate: %w: %w", ErrInput, err)
	}
	return &Report{Kind: Regression, Rows: len(yTrue), Metrics: map[string]float64{
		"mse": r.MSE, "rmse": r.RMSE, "mae": r.MAE, "r2": r.R2,
	}}, nil
}

// ratio and f1 are package metrics' definitions (0 on a zero denominator).
func ratio(num float64, den int) float64 {
	if den == 0 {
		return 0
	}
	return num / float64(den)
}

func f1(p, r float64) float64 {
	if p+r == 0 {
		return 0
	}
	return 2 * p * r / (p + r)
}
