package metrics

import (
	"fmt"
	"math"
)

// LogLossEps is where log loss clips probabilities: [LogLossEps,
// 1-LogLossEps], float64's machine epsilon — scikit-learn's default since
// 1.2 (eps="auto"), so that the exact 0 and 1 probabilities of trees and
// forests score as the reference scores them.
const LogLossEps = 0x1p-52

// LogLoss returns the mean negative log-likelihood of the true classes
// under probs (probs[i][c] for sample i and class c, k = len(probs[0]) >= 2
// columns). Each probability is clipped to [LogLossEps, 1-LogLossEps] and
// each row is then divided by its sum, so rows need not sum to 1. It
// returns an error wrapping ErrEmpty, ErrLengthMismatch, ErrShape,
// ErrLabel, ErrNonFinite or ErrProbability (a value outside [0, 1]).
func LogLoss(yTrue []int, probs [][]float64) (float64, error) {
	const what = "log loss"
	k, err := checkProbRows(what, probs, len(yTrue))
	if err != nil {
		return 0, err
	}
	if err := checkLabels(what, "y_true", yTrue, k); err != nil {
		return 0, err
	}
	return logLoss(yTrue, probs), nil
}

func logLoss(yTrue []int, probs [][]float64) float64 {
	total := 0.0
	for i, row := range probs {
		s := 0.0
		for _, v := range row {
			s += clip(v)
		}
		total -= math.Log(clip(row[yTrue[i]]) / s)
	}
	return total / float64(len(yTrue))
}

// BinaryLogLoss is LogLoss for two classes given the positive class's
// probability p per sample: p is clipped and the row is [1-p, p], as
// scikit-learn does with a one-dimensional y_pred. It returns an error
// wrapping ErrEmpty, ErrLengthMismatch, ErrLabel, ErrNonFinite or
// ErrProbability.
func BinaryLogLoss(yTrue []int, scores []float64) (float64, error) {
	const what = "log loss"
	if err := checkLengths(what, len(yTrue), len(scores)); err != nil {
		return 0, err
	}
	if err := checkLabels(what, "y_true", yTrue, 2); err != nil {
		return 0, err
	}
	if err := checkProbabilities(what, scores); err != nil {
		return 0, err
	}
	return binaryLogLoss(yTrue, scores), nil
}

func checkProbabilities(what string, scores []float64) error {
	for i, v := range scores {
		if v >= 0 && v <= 1 {
			continue
		}
		if err := checkProbability(what, fmt.Sprintf("scores[%d]", i), v); err != nil {
			return err
		}
	}
	return nil
}

func binaryLogLoss(yTrue []int, scores []float64) float64 {
	total := 0.0
	for i, v := range scores {
		p1 := clip(v)
		p0 := 1 - p1
		p := p1
		if yTrue[i] == 0 {
			p = p0
		}
		total -= math.Log(p / (p0 + p1))
	}
	return total / float64(len(yTrue))
}

func clip(v float64) float64 {
	return min(max(v, LogLossEps), 1-LogLossEps)
}
