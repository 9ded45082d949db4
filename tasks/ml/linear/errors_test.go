package linear

import (
	"errors"
	"math"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
)

func TestBadInput(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	X := mat.NewDense(4, 2, []float64{1, 2, 3, 4, 5, 6, 7, 9})
	Xnan := mat.NewDense(4, 2, []float64{1, 2, 3, nan, 5, 6, 7, 9})
	X1 := mat.NewDense(1, 2, []float64{1, 2})
	y := []float64{1, 2, 3, 4}
	cls := []int{0, 1, 0, 1}
	def := DefaultLogisticOptions()
	with := func(f func(*LogisticOptions)) LogisticOptions { o := def; f(&o); return o }
	model := &Logistic{Classes: 2, Coef: [][]float64{{1, 2}}, Intercept: []float64{0}}
	reg := &Regression{Coef: []float64{1, 2}}
	for _, c := range []struct {
		name string
		err  error
		want error
	}{
		{"ols nil X", errOnly(FitOLS(nil, y)), ErrEmpty},
		{"ols empty X", errOnly(FitOLS(&mat.Dense{}, y)), ErrEmpty},
		{"ols empty y", errOnly(FitOLS(X, nil)), ErrEmpty},
		{"ols length", errOnly(FitOLS(X, y[:3])), ErrShape},
		{"ols no sample", errOnly(FitOLS(&mat.Dense{}, nil)), ErrEmpty},
		{"ols nan X", errOnly(FitOLS(Xnan, y)), ErrNonFinite},
		{"ols inf y", errOnly(FitOLS(X, []float64{1, inf, 3, 4})), ErrNonFinite},
		{"ridge negative alpha", errOnly(FitRidge(X, y, -1)), ErrParam},
		{"ridge nan alpha", errOnly(FitRidge(X, y, nan)), ErrParam},
		{"ridge nan y", errOnly(FitRidge(X, []float64{1, nan, 3, 4}, 1)), ErrNonFinite},
		{"logistic empty", errOnly(FitLogistic(&mat.Dense{}, cls, def)), ErrEmpty},
		{"logistic length", errOnly(FitLogistic(X, cls[:2], def)), ErrShape},
		{"logistic one sample", errOnly(FitLogistic(X1, cls[:1], def)), ErrTooFewSamples},
		{"logistic nan", errOnly(FitLogistic(Xnan, cls, def)), ErrNonFinite},
		{"logistic one class", errOnly(FitLogistic(X, []int{1, 1, 1, 1}, def)), ErrOneClass},
		{"logistic one class 0", errOnly(FitLogistic(X, []int{0, 0, 0, 0}, def)), ErrOneClass},
		{"logistic negative label", errOnly(FitLogistic(X, []int{0, 1, -1, 1}, def)), ErrLabel},
		{"logistic absent class", errOnly(FitLogistic(X, []int{0, 2, 0, 2}, def)), ErrLabel},
		{"logistic C zero", errOnly(FitLogistic(X, cls, LogisticOptions{})), ErrParam},
		{"logistic C negative", errOnly(FitLogistic(X, cls, with(func(o *LogisticOptions) { o.C = -1 }))), ErrParam},
		{"logistic C inf", errOnly(FitLogistic(X, cls, with(func(o *LogisticOptions) { o.C = inf }))), ErrParam},
		{"logistic tol negative", errOnly(FitLogistic(X, cls, with(func(o *LogisticOptions) { o.Tol = -1 }))), ErrParam},
		{"logistic max iter negative", errOnly(FitLogistic(X, cls, with(func(o *LogisticOptions) { o.MaxIter = -1 }))), ErrParam},
		{"logistic weights length", errOnly(FitLogistic(X, cls, with(func(o *LogisticOptions) { o.ClassWeight = []float64{1} }))), ErrParam},
		{"logistic weight zero", errOnly(FitLogistic(X, cls, with(func(o *LogisticOptions) { o.ClassWeight = []float64{1, 0} }))), ErrParam},
		{"logistic weights and balanced", errOnly(FitLogistic(X, cls, with(func(o *LogisticOptions) {
			o.ClassWeight, o.Balanced = []float64{1, 1}, true
		}))), ErrParam},
		{"predict columns", errOnly(model.Predict(mat.NewDense(1, 3, nil))), ErrShape},
		{"predict proba nan", errOnly(model.PredictProba(mat.NewDense(1, 2, []float64{nan, 0}))), ErrNonFinite},
		{"predict proba empty", errOnly(model.PredictProba(nil)), ErrEmpty},
		{"predict empty model", errOnly((&Logistic{}).Predict(X)), ErrShape},
		{"regression predict columns", errOnly(reg.Predict(mat.NewDense(1, 3, nil))), ErrShape},
		{"regression predict inf", errOnly(reg.Predict(mat.NewDense(1, 2, []float64{inf, 0}))), ErrNonFinite},
	} {
		t.Run(c.name, func(t *testing.T) {
			if !errors.Is(c.err, c.want) {
				t.Fatalf("error %v, want one wrapping %v", c.err, c.want)
			}
			if !strings.HasPrefix(c.err.Error(), "linear: ") {
				t.Errorf("error %q does not say where it comes from", c.err)
			}
		})
	}
}

func errOnly[T any](_ T, err error) error { return err }

func TestOneClassMessage(t *testing.T) {
	X := mat.NewDense(3, 1, []float64{1, 2, 3})
	_, err := FitLogistic(X, []int{1, 1, 1}, DefaultLogisticOptions())
	if err == nil || !strings.Contains(err.Error(), "only one class") {
		t.Fatalf("error %v, want one saying %q", err, "only one class")
	}
}

func TestErrorsNameTheValue(t *testing.T) {
	X := mat.NewDense(3, 2, []float64{1, 2, 3, 4, 5, math.Inf(-1)})
	_, err := FitOLS(X, []float64{1, 2, 3})
	if err == nil || !strings.Contains(err.Error(), "X[2][1]") {
		t.Fatalf("error %v, want it to name X[2][1]", err)
	}
}
