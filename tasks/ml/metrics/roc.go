package metrics

import (
	"fmt"
	"math"
)

// Curve is a ROC curve as scikit-learn's roc_curve(drop_intermediate=True)
// returns it, with its area.
//
// Point i is reached by predicting positive every sample whose score is >=
// Thresholds[i]. Thresholds decrease; the first point is (0, 0) at +Inf
// (scikit-learn >= 1.3; 1.2 used max(score)+1), the last is (1, 1) at the
// lowest score. Points in the middle of a run of equal steps (collinear, so
// they change neither the plot nor the area) are dropped.
type Curve struct {
	FPR        []float64 `json:"fpr"`
	TPR        []float64 `json:"tpr"`
	Thresholds []float64 `json:"thresholds"`
	// AUC is the area under the full curve (trapezoidal), equal to ROCAUC.
	AUC float64 `json:"auc"`
}

// ROCCurve returns the ROC curve of positive-class scores (any finite
// reals: probabilities or decision values) against labels 0 and 1. It
// returns an error wrapping ErrEmpty, ErrLengthMismatch, ErrLabel,
// ErrNonFinite or ErrOneClass (where scikit-learn would warn and return NaN).
func ROCCurve(yTrue []int, scores []float64) (Curve, error) {
	var r ranker
	pos, neg, err := r.binary("roc curve", yTrue, scores)
	if err != nil {
		return Curve{}, err
	}
	return curve(pos, neg), nil
}

// ROCAUC returns the area under the ROC curve of positive-class scores
// against labels 0 and 1: the probability that a random positive scores
// above a random negative, ties counting half. It returns an error wrapping
// ErrEmpty, ErrLengthMismatch, ErrLabel, ErrNonFinite or ErrOneClass.
func ROCAUC(yTrue []int, scores []float64) (float64, error) {
	var r ranker
	pos, neg, err := r.binary("roc auc", yTrue, scores)
	if err != nil {
		return 0, err
	}
	return auc(pos, neg), nil
}

// ROCAUCOvR returns the one-vs-rest ROC AUC of class probabilities
// (probs[i][c] for sample i and class c, k = len(probs[0]) >= 2 columns,
// each row summing to 1 within numpy.allclose) averaged with Macro or
// Weighted (by class prevalence in yTrue). It returns an error wrapping
// ErrEmpty, ErrLengthMismatch, ErrShape, ErrLabel, ErrNonFinite,
// ErrProbability, ErrAverage or ErrOneClass (a class absent from yTrue).
func ROCAUCOvR(yTrue []int, probs [][]float64, avg Average) (float64, error) {
	const what = "roc auc one-vs-rest"
	k, err := checkProbRows(what, probs, len(yTrue))
	if err != nil {
		return 0, err
	}
	if err := checkLabels(what, "y_true", yTrue, k); err != nil {
		return 0, err
	}
	if avg != Macro && avg != Weighted {
		return 0, fmt.Errorf("metrics: %s: %v, want macro or weighted: %w", what, avg, ErrAverage)
	}
	counts := make([]int, k)
	for _, t := range yTrue {
		counts[t]++
	}
	aucs, err := perClassAUC(what, yTrue, probs, k, counts)
	if err != nil {
		return 0, err
	}
	total := 0.0
	for c, a := range aucs {
		if avg == Weighted {
			total += float64(counts[c]) * a
		} else {
			total += a
		}
	}
	if avg == Weighted {
		return total / float64(len(yTrue)), nil
	}
	return total / float64(k), nil
}

// perClassAUC returns the ROC AUC of each class against the rest on
// checked labels and probabilities; counts are the class counts of yTrue.
func perClassAUC(what string, yTrue []int, probs [][]float64, k int, counts []int) ([]float64, error) {
	for i, row := range probs {
		s := 0.0
		for _, v := range row {
			s += v
		}
		if math.Abs(1-s) > 1e-8+1e-5*math.Abs(s) { // numpy.allclose(1, s)
			return nil, fmt.Errorf("metrics: %s: row %d sums to %v, want 1: %w", what, i, s, ErrProbability)
		}
	}
	n := len(yTrue)
	for c, m := range counts {
		if m == 0 || m == n {
			return nil, fmt.Errorf("metrics: %s: class %d: %w", what, c, ErrOneClass)
		}
	}
	r := ranker{keys: make([]uint64, n), buf: make([]uint64, n)}
	aucs := make([]float64, k)
	for c := range k {
		p, q := 0, counts[c]
		for i, t := range yTrue {
			if t == c {
				r.keys[p] = key(probs[i][c])
				p++
			} else {
				r.keys[q] = key(probs[i][c])
				q++
			}
		}
		aucs[c] = auc(r.sorted(counts[c], n))
	}
	return aucs, nil
}

// ranker holds the key buffers of a ranking metric so that one-vs-rest
// reuses them for every class.
type ranker struct {
	keys, buf []uint64
}

// binary checks labels 0/1 and finite scores, and returns the sorted keys
// of the positives' and the negatives' scores.
func (r *ranker) binary(what string, yTrue []int, scores []float64) (pos, neg []uint64, err error) {
	if err := checkLengths(what, len(yTrue), len(scores)); err != nil {
		return nil, nil, err
	}
	if err := checkLabels(what, "y_true", yTrue, 2); err != nil {
		return nil, nil, err
	}
	if err := checkFinite(what, "scores", scores); err != nil {
		return nil, nil, err
	}
	n := len(yTrue)
	np := 0
	for _, t := range yTrue {
		np += t
	}
	if np == 0 || np == n {
		return nil, nil, fmt.Errorf("metrics: %s: %w", what, ErrOneClass)
	}
	if len(r.keys) < n {
		r.keys = make([]uint64, n)
		r.buf = make([]uint64, n)
	}
	p, q := 0, np
	for i, t := range yTrue {
		if t == 1 {
			r.keys[p] = key(scores[i])
			p++
		} else {
			r.keys[q] = key(scores[i])
			q++
		}
	}
	pos, neg = r.sorted(np, n)
	return pos, neg, nil
}

// sorted sorts keys[:np] (positives) and keys[np:n] (negatives) apart.
func (r *ranker) sorted(np, n int) (pos, neg []uint64) {
	pos, neg = r.keys[:np:np], r.keys[np:n]
	sortKeys(pos, r.buf)
	sortKeys(neg, r.buf)
	return pos, neg
}

// auc is the area under the ROC curve of the sorted scores.
func auc(pos, neg []uint64) float64 {
	return float64(walk(pos, neg, nil)) / (2 * float64(len(pos)) * float64(len(neg)))
}

// walk visits the distinct thresholds from the highest down, calling at
// (unless nil) with the cumulative false and true positives at each, and
// returns twice the area under the curve, summed as trapezoids in integers
// (exact for n up to about 3e9), so ties count half and the only rounding
// is the caller's final division.
func walk(pos, neg []uint64, at func(key uint64, fp, tp int64)) int64 {
	i, j := len(pos)-1, len(neg)-1
	var tp, fp, area2 int64
	for i >= 0 || j >= 0 {
		v := maxKey(pos, neg, i, j)
		tp0, fp0 := tp, fp
		for i >= 0 && pos[i] == v {
			tp++
			i--
		}
		for j >= 0 && neg[j] == v {
			fp++
			j--
		}
		area2 += (fp - fp0) * (tp + tp0)
		if at != nil {
			at(v, fp, tp)
		}
	}
	return area2
}

func maxKey(pos, neg []uint64, i, j int) uint64 {
	switch {
	case i < 0:
		return neg[j]
	case j < 0:
		return pos[i]
	}
	return max(pos[i], neg[j])
}

// curve is auc that also records the points, dropping those scikit-learn's
// drop_intermediate drops: a point whose second differences of both fps and
// tps (on the undropped sequence) are zero.
func curve(pos, neg []uint64) Curve {
	c := Curve{FPR: []float64{0}, TPR: []float64{0}, Thresholds: []float64{math.Inf(1)}}
	type point struct {
		fp, tp int64
		key    uint64
	}
	emit := func(p point) {
		c.FPR = append(c.FPR, float64(p.fp))
		c.TPR = append(c.TPR, float64(p.tp))
		c.Thresholds = append(c.Thresholds, unkey(p.key))
	}
	var a, b point // the two latest points, b undecided unless m == 1
	m := 0
	area2 := walk(pos, neg, func(v uint64, fp, tp int64) {
		p := point{fp, tp, v}
		switch m {
		case 0:
			emit(p) // the first is always kept
		case 1:
		default:
			if p.fp-2*b.fp+a.fp != 0 || p.tp-2*b.tp+a.tp != 0 {
				emit(b)
			}
		}
		a, b = b, p
		m++
	})
	if m > 1 {
		emit(b) // the last is always kept
	}
	nPos, nNeg := float64(len(pos)), float64(len(neg))
	for k := range c.FPR {
		c.FPR[k] /= nNeg
		c.TPR[k] /= nPos
	}
	c.AUC = float64(area2) / (2 * nPos * nNeg)
	return c
}
