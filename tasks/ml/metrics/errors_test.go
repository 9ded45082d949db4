package metrics

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestBadInput(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	rows := [][]float64{{0.5, 0.5}, {0.2, 0.8}}
	wrap := func(f float64, err error) error { return err }
	for _, c := range []struct {
		name string
		err  error
		want error
	}{
		{"accuracy empty", wrap(Accuracy(nil, nil)), ErrEmpty},
		{"accuracy length", wrap(Accuracy([]int{1}, []int{1, 0})), ErrLengthMismatch},
		{"confusion label", errOnly(ConfusionMatrix([]int{0, 3}, []int{0, 1}, 3)), ErrLabel},
		{"confusion negative label", errOnly(ConfusionMatrix([]int{0, 1}, []int{-1, 1}, 3)), ErrLabel},
		{"confusion no classes", errOnly(ConfusionMatrix([]int{0}, []int{0}, 0)), ErrShape},
		{"prf binary with 3 classes", errOnly(PrecisionRecallF1([]int{0, 1, 2}, []int{0, 1, 2}, 3, Binary, 1)), ErrAverage},
		{"prf bad pos label", errOnly(PrecisionRecallF1([]int{0, 1}, []int{0, 1}, 2, Binary, 2)), ErrAverage},
		{"prf unknown average", errOnly(PrecisionRecallF1([]int{0, 1}, []int{0, 1}, 2, Average(9), 1)), ErrAverage},
		{"scores from ragged confusion", errOnly(ScoresFromConfusion([][]int{{1, 2}, {3}}, Macro, 1)), ErrShape},
		{"scores from zero confusion", errOnly(ScoresFromConfusion([][]int{{0, 0}, {0, 0}}, Macro, 1)), ErrEmpty},
		{"auc empty", wrap(ROCAUC(nil, nil)), ErrEmpty},
		{"auc length", wrap(ROCAUC([]int{0, 1}, []float64{0.1})), ErrLengthMismatch},
		{"auc nan", wrap(ROCAUC([]int{0, 1}, []float64{0.1, nan})), ErrNonFinite},
		{"auc inf", wrap(ROCAUC([]int{0, 1}, []float64{-inf, 0.2})), ErrNonFinite},
		{"auc label", wrap(ROCAUC([]int{0, 2}, []float64{0.1, 0.2})), ErrLabel},
		{"auc one class", wrap(ROCAUC([]int{1, 1}, []float64{0.1, 0.2})), ErrOneClass},
		{"curve one class", errOnly(ROCCurve([]int{0, 0}, []float64{0.1, 0.2})), ErrOneClass},
		{"ovr one class absent", wrap(ROCAUCOvR([]int{0, 1, 0}, [][]float64{{.5, .3, .2}, {.2, .5, .3}, {.6, .2, .2}}, Macro)), ErrOneClass},
		{"ovr rows not summing to 1", wrap(ROCAUCOvR([]int{0, 1}, [][]float64{{0.5, 0.4}, {0.2, 0.8}}, Macro)), ErrProbability},
		{"ovr micro", wrap(ROCAUCOvR([]int{0, 1}, rows, Micro)), ErrAverage},
		{"ovr ragged", wrap(ROCAUCOvR([]int{0, 1}, [][]float64{{0.5, 0.5}, {1}}, Macro)), ErrShape},
		{"log loss one column", wrap(LogLoss([]int{0, 0}, [][]float64{{1}, {1}})), ErrShape},
		{"log loss negative", wrap(LogLoss([]int{0, 1}, [][]float64{{-0.1, 1.1}, {0.2, 0.8}})), ErrProbability},
		{"log loss nan", wrap(LogLoss([]int{0, 1}, [][]float64{{nan, 0.5}, {0.2, 0.8}})), ErrNonFinite},
		{"log loss label", wrap(LogLoss([]int{0, 2}, rows)), ErrLabel},
		{"log loss length", wrap(LogLoss([]int{0}, rows)), ErrLengthMismatch},
		{"binary log loss above 1", wrap(BinaryLogLoss([]int{0, 1}, []float64{0.5, 1.5})), ErrProbability},
		{"binary log loss inf", wrap(BinaryLogLoss([]int{0, 1}, []float64{0.5, inf})), ErrNonFinite},
		{"evaluate binary decision values", errOnly(EvaluateBinary([]int{0, 1}, []int{0, 1}, []float64{-1, 2})), ErrProbability},
		{"evaluate binary one class", errOnly(EvaluateBinary([]int{1, 1}, []int{0, 1}, []float64{0.1, 0.2})), ErrOneClass},
		{"evaluate binary pred label", errOnly(EvaluateBinary([]int{0, 1}, []int{0, 5}, []float64{0.1, 0.2})), ErrLabel},
		{"evaluate multiclass pred length", errOnly(EvaluateMulticlass([]int{0, 1}, []int{0}, rows)), ErrLengthMismatch},
		{"mse empty", wrap(MSE(nil, nil)), ErrEmpty},
		{"mse nan", wrap(MSE([]float64{1, nan}, []float64{1, 2})), ErrNonFinite},
		{"mae inf pred", wrap(MAE([]float64{1, 2}, []float64{1, inf})), ErrNonFinite},
		{"rmse length", wrap(RMSE([]float64{1, 2}, []float64{1})), ErrLengthMismatch},
		{"r2 one sample", wrap(R2([]float64{1}, []float64{1})), ErrTooFewSamples},
	} {
		t.Run(c.name, func(t *testing.T) {
			if !errors.Is(c.err, c.want) {
				t.Fatalf("error %v, want one wrapping %v", c.err, c.want)
			}
			if !strings.HasPrefix(c.err.Error(), "metrics: ") {
				t.Errorf("error %q does not say where it comes from", c.err)
			}
		})
	}
}

func errOnly[T any](_ T, err error) error { return err }

func TestOneClassMessage(t *testing.T) {
	_, err := ROCAUC([]int{0, 0, 0}, []float64{0.1, 0.2, 0.3})
	if err == nil || !strings.Contains(err.Error(), "only one class present") {
		t.Fatalf("error %v, want one saying %q like scikit-learn", err, "only one class present")
	}
}

func TestErrorsNameTheSample(t *testing.T) {
	_, err := ROCAUC([]int{0, 1, 0}, []float64{0.1, 0.2, math.NaN()})
	if err == nil || !strings.Contains(err.Error(), "scores[2]") {
		t.Fatalf("error %v, want it to name scores[2]", err)
	}
}
