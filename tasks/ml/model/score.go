package model

import (
	"fmt"
	"slices"
	"strings"

	"github.com/cairnml/cairn/tasks"
	"github.com/cairnml/cairn/tasks/ml/dataset"
	"github.com/cairnml/cairn/tasks/ml/metrics"
)

// MetricInfo describes a metric Score computes.
type MetricInfo struct {
	Name string `json:"name"`
	// Kind is the kind of model it scores.
	Kind Kind `json:"kind"`
	// HigherIsBetter says which way is better.
	HigherIsBetter bool   `json:"higher_is_better"`
	Doc            string `json:"doc"`
}

var metricInfos = []MetricInfo{
	{"accuracy", Classification, true, "fraction of rows whose class is predicted right"},
	{"balanced_accuracy", Classification, true, "mean recall over classes"},
	{"f1", Classification, true, "F1 of the positive class (the second class, e.g. 1 or true); binary only"},
	{"f1_macro", Classification, true, "unweighted mean F1 over classes"},
	{"f1_weighted", Classification, true, "mean F1 over classes weighted by their support"},
	{"log_loss", Classification, false, "mean negative log-likelihood of the true class (lower is better)"},
	{"precision", Classification, true, "precision of the positive class; binary only"},
	{"precision_macro", Classification, true, "unweighted mean precision over classes"},
	{"recall", Classification, true, "recall of the positive class; binary only"},
	{"recall_macro", Classification, true, "unweighted mean recall over classes"},
	{"roc_auc", Classification, true, "area under the ROC curve; one-vs-rest, macro-averaged, for more than two classes"},
	{"mae", Regression, false, "mean absolute error (lower is better)"},
	{"mse", Regression, false, "mean squared error (lower is better)"},
	{"r2", Regression, true, "coefficient of determination R²"},
	{"rmse", Regression, false, "root mean squared error (lower is better)"},
}

// Metrics returns the metrics Score knows, classification ones first,
// each group sorted by name.
func Metrics() []MetricInfo { return slices.Clone(metricInfos) }

// LookupMetric returns the metric called name, or an error wrapping
// ErrMetric that suggests the nearest name.
func LookupMetric(name string) (MetricInfo, error) {
	names := make([]string, len(metricInfos))
	for i, mi := range metricInfos {
		if mi.Name == name {
			return mi, nil
		}
		names[i] = mi.Name
	}
	msg := fmt.Sprintf("unknown metric %q", name)
	if near := tasks.Nearest(name, names); near != "" {
		msg += fmt.Sprintf("; did you mean %q?", near)
	}
	return MetricInfo{}, fmt.Errorf("%s (metrics: %s): %w", msg, strings.Join(names, ", "), ErrMetric)
}

// DefaultMetric is the metric of a kind when none is asked for: accuracy
// for a classification, r2 for a regression.
func DefaultMetric(k Kind) string {
	if k == Regression {
		return "r2"
	}
	return "accuracy"
}

// Score predicts f and scores the predictions against f's label with
// metric (see Metrics). The metric must suit the model's kind, and a
// binary one (f1, precision, recall) two classes.
func (m *Model) Score(metric string, f *dataset.Frame) (float64, error) {
	mi, err := LookupMetric(metric)
	if err != nil {
		return 0, err
	}
	if mi.Kind != m.Kind {
		return 0, fmt.Errorf("model: metric %s scores a %s, and the model is a %s: %w", metric, mi.Kind, m.Kind, ErrMetric)
	}
	yc, yv, err := m.Truth(f)
	if err != nil {
		return 0, err
	}
	pred, err := m.Predict(f)
	if err != nil {
		return 0, err
	}
	return ScorePredictions(metric, len(m.Classes), yc, yv, pred)
}

// ScorePredictions scores predictions against true class indices (yClass,
// for a classification of k classes) or values (yValue, for a
// regression). See Metrics for the names.
func ScorePredictions(metric string, k int, yClass []int, yValue []float64, pred *Prediction) (float64, error) {
	mi, err := LookupMetric(metric)
	if err != nil {
		return 0, err
	}
	var v float64
	if mi.Kind == Regression {
		if yValue == nil || pred.Value == nil {
			return 0, fmt.Errorf("model: metric %s needs regression values: %w", metric, ErrMetric)
		}
		switch metric {
		case "mae":
			v, err = metrics.MAE(yValue, pred.Value)
		case "mse":
			v, err = metrics.MSE(yValue, pred.Value)
		case "rmse":
			v, err = metrics.RMSE(yValue, pred.Value)
		case "r2":
			v, err = metrics.R2(yValue, pred.Value)
		}
		if err != nil {
			return 0, fmt.Errorf("model: %s: %w", metric, err)
		}
		return v, nil
	}
	if yClass == nil || pred.Class == nil {
		return 0, fmt.Errorf("model: metric %s needs class labels: %w", metric, ErrMetric)
	}
	if (metric == "f1" || metric == "precision" || metric == "recall") && k != 2 {
		return 0, fmt.Errorf("model: metric %s is for two classes and there are %d; use %s_macro: %w", metric, k, metric, ErrMetric)
	}
	// Averages run over the classes in the labels or the predictions, and
	// balanced accuracy over those in the labels, as evaluate's and
	// scikit-learn's do.
	cm, err := metrics.ConfusionMatrix(yClass, pred.Class, k)
	if err != nil {
		return 0, fmt.Errorf("model: %s: %w", metric, err)
	}
	var s metrics.Scores
	switch metric {
	case "accuracy":
		v, err = metrics.Accuracy(yClass, pred.Class)
	case "balanced_accuracy":
		v, err = metrics.BalancedAccuracy(cm)
	case "f1", "precision", "recall":
		s, err = metrics.ScoresFromConfusion(cm, metrics.Binary, 1)
		v = pick(metric, s)
	case "f1_macro", "precision_macro", "recall_macro":
		s, err = metrics.ScoresFromConfusion(metrics.PresentClasses(cm), metrics.Macro, 0)
		v = pick(metric, s)
	case "f1_weighted":
		s, err = metrics.ScoresFromConfusion(metrics.PresentClasses(cm), metrics.Weighted, 0)
		v = s.F1
	case "log_loss":
		v, err = metrics.LogLoss(yClass, pred.Proba)
	case "roc_auc":
		if k == 2 {
			pos := make([]float64, len(pred.Proba))
			for i, row := range pred.Proba {
				pos[i] = row[1]
			}
			v, err = metrics.ROCAUC(yClass, pos)
		} else {
			v, err = metrics.ROCAUCOvR(yClass, pred.Proba, metrics.Macro)
		}
	}
	if err != nil {
		return 0, fmt.Errorf("model: %s: %w", metric, err)
	}
	return v, nil
}

func pick(metric string, s metrics.Scores) float64 {
	switch strings.SplitN(metric, "_", 2)[0] {
	case "precision":
		return s.Precision
	case "recall":
		return s.Recall
	}
	return s.F1
}
