package metrics

import "fmt"

// Average says how per-class precision, recall, F1 or ROC AUC are combined.
type Average int

const (
	// Binary reports the positive class only (two classes).
	Binary Average = iota
	// Micro pools true positives, false positives and false negatives over
	// all classes; with every class counted, precision = recall = F1 =
	// accuracy.
	Micro
	// Macro is the unweighted mean over classes.
	Macro
	// Weighted is the mean over classes weighted by their support (number
	// of true samples).
	Weighted
)

// String returns the name scikit-learn uses for the mode.
func (a Average) String() string {
	switch a {
	case Binary:
		return "binary"
	case Micro:
		return "micro"
	case Macro:
		return "macro"
	case Weighted:
		return "weighted"
	}
	return fmt.Sprintf("Average(%d)", int(a))
}

// Scores holds precision, recall and F1 under one averaging mode.
type Scores struct {
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
	F1        float64 `json:"f1"`
}

// Accuracy returns the fraction of samples whose prediction equals the true
// label. It returns an error wrapping ErrEmpty or ErrLengthMismatch.
func Accuracy(yTrue, yPred []int) (float64, error) {
	if err := checkLengths("accuracy", len(yTrue), len(yPred)); err != nil {
		return 0, err
	}
	hits := 0
	for i, t := range yTrue {
		if t == yPred[i] {
			hits++
		}
	}
	return float64(hits) / float64(len(yTrue)), nil
}

// ConfusionMatrix counts samples by true class (row) and predicted class
// (column) for labels 0..nClasses-1. It returns an error wrapping ErrEmpty,
// ErrLengthMismatch, ErrShape (nClasses < 1) or ErrLabel.
func ConfusionMatrix(yTrue, yPred []int, nClasses int) ([][]int, error) {
	const what = "confusion matrix"
	if err := checkLengths(what, len(yTrue), len(yPred)); err != nil {
		return nil, err
	}
	if nClasses < 1 {
		return nil, fmt.Errorf("metrics: %s: %d classes: %w", what, nClasses, ErrShape)
	}
	if err := checkLabels(what, "y_true", yTrue, nClasses); err != nil {
		return nil, err
	}
	if err := checkLabels(what, "y_pred", yPred, nClasses); err != nil {
		return nil, err
	}
	return confusion(yTrue, yPred, nClasses), nil
}

// confusion counts into one backing array, labels already checked.
func confusion(yTrue, yPred []int, k int) [][]int {
	flat := make([]int, k*k)
	if k == 2 {
		// the common case: branch-free index, no multiply
		for i, t := range yTrue {
			flat[t<<1|yPred[i]]++
		}
	} else {
		for i, t := range yTrue {
			flat[t*k+yPred[i]]++
		}
	}
	cm := make([][]int, k)
	for r := range cm {
		cm[r] = flat[r*k : (r+1)*k : (r+1)*k]
	}
	return cm
}

// PrecisionRecallF1 returns precision, recall and F1 over labels
// 0..nClasses-1 averaged as avg; posLabel is the positive class for Binary
// and ignored otherwise. Undefined ratios are 0 (see the package
// documentation). It returns an error wrapping ErrEmpty, ErrLengthMismatch,
// ErrShape, ErrLabel or ErrAverage (Binary with nClasses != 2 or posLabel
// out of range, or an unknown mode).
func PrecisionRecallF1(yTrue, yPred []int, nClasses int, avg Average, posLabel int) (Scores, error) {
	cm, err := ConfusionMatrix(yTrue, yPred, nClasses)
	if err != nil {
		return Scores{}, err
	}
	return ScoresFromConfusion(cm, avg, posLabel)
}

// ScoresFromConfusion is PrecisionRecallF1 on a confusion matrix made by
// ConfusionMatrix (rows = true class, columns = predicted class), so that
// several averages cost one pass over the samples. It returns an error
// wrapping ErrShape (not square, empty or all zero) or ErrAverage.
func ScoresFromConfusion(cm [][]int, avg Average, posLabel int) (Scores, error) {
	const what = "precision, recall, F1"
	k := len(cm)
	if k == 0 {
		return Scores{}, fmt.Errorf("metrics: %s: empty confusion matrix: %w", what, ErrShape)
	}
	trueSum := make([]int, k)
	predSum := make([]int, k)
	total, diag := 0, 0
	for r, row := range cm {
		if len(row) != k {
			return Scores{}, fmt.Errorf("metrics: %s: confusion matrix row %d has %d columns, want %d: %w", what, r, len(row), k, ErrShape)
		}
		for c, v := range row {
			trueSum[r] += v
			predSum[c] += v
			total += v
		}
		diag += row[r]
	}
	if total == 0 {
		return Scores{}, fmt.Errorf("metrics: %s: confusion matrix counts no sample: %w", what, ErrEmpty)
	}
	perClass := func(c int) Scores {
		tp := float64(cm[c][c])
		p := ratio(tp, predSum[c])
		r := ratio(tp, trueSum[c])
		return Scores{Precision: p, Recall: r, F1: f1(p, r)}
	}
	switch avg {
	case Binary:
		if k != 2 {
			return Scores{}, fmt.Errorf("metrics: %s: binary average with %d classes: %w", what, k, ErrAverage)
		}
		if posLabel != 0 && posLabel != 1 {
			return Scores{}, fmt.Errorf("metrics: %s: positive label %d, want 0 or 1: %w", what, posLabel, ErrAverage)
		}
		return perClass(posLabel), nil
	case Micro:
		// every class counted: pooled predictions = pooled truths = total
		p := ratio(float64(diag), total)
		return Scores{Precision: p, Recall: p, F1: f1(p, p)}, nil
	case Macro, Weighted:
		var s Scores
		for c := 0; c < k; c++ {
			w := 1.0
			if avg == Weighted {
				w = float64(trueSum[c])
			}
			pc := perClass(c)
			s.Precision += w * pc.Precision
			s.Recall += w * pc.Recall
			s.F1 += w * pc.F1
		}
		d := float64(k)
		if avg == Weighted {
			d = float64(total)
		}
		s.Precision /= d
		s.Recall /= d
		s.F1 /= d
		return s, nil
	}
	return Scores{}, fmt.Errorf("metrics: %s: %v: %w", what, avg, ErrAverage)
}

// ratio is num/den, or 0 when den is 0 (scikit-learn's zero_division="warn").
func ratio(num float64, den int) float64 {
	if den == 0 {
		return 0
	}
	return num / float64(den)
}

// f1 is the harmonic mean, computed as scikit-learn does, 0 when p+r = 0.
func f1(p, r float64) float64 {
	if p+r == 0 {
		return 0
	}
	return 2 * p * r / (p + r)
}

// PresentClasses returns cm restricted to the classes that occur among the
// true labels or the predictions (cm itself when every class does): the
// classes scikit-learn's averages run over when not given labels=, so that
// a class absent from both does not count as a zero in a macro average.
func PresentClasses(cm [][]int) [][]int {
	k := len(cm)
	seen := make([]bool, k)
	for t, row := range cm {
		for p, v := range row {
			if v > 0 {
				seen[t], seen[p] = true, true
			}
		}
	}
	var keep []int
	for c, ok := range seen {
		if ok {
			keep = append(keep, c)
		}
	}
	if len(keep) == k {
		return cm
	}
	out := make([][]int, len(keep))
	for i, t := range keep {
		out[i] = make([]int, len(keep))
		for j, p := range keep {
			out[i][j] = cm[t][p]
		}
	}
	return out
}

// BalancedAccuracy is the mean recall over the classes that occur among
// the true labels of confusion matrix cm (scikit-learn's
// balanced_accuracy_score). It returns an error wrapping ErrShape for a
// matrix without samples.
func BalancedAccuracy(cm [][]int) (float64, error) {
	sum, present := 0.0, 0
	for c, row := range cm {
		support := 0
		for _, v := range row {
			support += v
		}
		if support > 0 {
			sum += float64(row[c]) / float64(support)
			present++
		}
	}
	if present == 0 {
		return 0, fmt.Errorf("metrics: balanced accuracy: no samples: %w", ErrShape)
	}
	return sum / float64(present), nil
}
