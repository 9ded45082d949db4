package evaluate_test

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/cairnml/cairn/tasks/evaluate"
	"github.com/cairnml/cairn/tasks/ml/metrics"
)

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-12 }

// binaryCase: 8 rows, classes "no", "yes".
//
//	true  0 0 0 0 1 1 1 1
//	pred  0 0 1 0 1 1 0 1
//	p(1)  .1 .2 .7 .4 .9 .8 .3 .6
func binaryCase() ([]int, []int, [][]float64) {
	yTrue := []int{0, 0, 0, 0, 1, 1, 1, 1}
	yPred := []int{0, 0, 1, 0, 1, 1, 0, 1}
	p1 := []float64{.1, .2, .7, .4, .9, .8, .3, .6}
	proba := make([][]float64, len(p1))
	for i, p := range p1 {
		proba[i] = []float64{1 - p, p}
	}
	return yTrue, yPred, proba
}

func TestClassifyBinary(t *testing.T) {
	yTrue, yPred, proba := binaryCase()
	rep, err := evaluate.Classify([]string{"no", "yes"}, yTrue, yPred, proba, 1)
	if err != nil {
		t.Fatal(err)
	}
	// By hand: TP 3, FP 1, FN 1, TN 3. Ranking: the positives score .9
	// .8 .6 .3, the negatives .7 .4 .2 .1: 13 of 16 pairs ordered right.
	want := map[string]float64{
		"accuracy": 0.75, "balanced_accuracy": 0.75,
		"precision": 0.75, "recall": 0.75, "f1": 0.75,
		"precision_macro": 0.75, "recall_macro": 0.75, "f1_macro": 0.75,
		"precision_weighted": 0.75, "recall_weighted": 0.75, "f1_weighted": 0.75,
		"roc_auc": 13.0 / 16, "roc_auc_weighted": 13.0 / 16,
	}
	ll, _ := metrics.LogLoss(yTrue, proba)
	want["log_loss"] = ll
	for k, v := range want {
		if got, ok := rep.Metrics[k]; !ok || !near(got, v) {
			t.Errorf("%s = %v (%v), want %v", k, got, ok, v)
		}
	}
	if len(rep.Metrics) != len(want) {
		t.Errorf("metrics %v", rep.Metrics)
	}
	if rep.Positive != "yes" || rep.Confusion.Matrix[0][1] != 1 || rep.Confusion.Matrix[1][0] != 1 || rep.Confusion.Matrix[1][1] != 3 {
		t.Errorf("positive %q confusion %v", rep.Positive, rep.Confusion.Matrix)
	}
	if len(rep.ROC) != 1 || rep.ROC[0].Class != "yes" || !math.IsInf(rep.ROC[0].Thresholds[0], 1) {
		t.Fatalf("roc %+v", rep.ROC)
	}
	full, _ := metrics.ROCCurve([]int{0, 0, 0, 0, 1, 1, 1, 1}, []float64{.1, .2, .7, .4, .9, .8, .3, .6})
	if len(rep.ROC[0].FPR) != len(full.FPR) || rep.ROC[0].Points != len(full.FPR) {
		t.Errorf("curve has %d points, metrics.ROCCurve %d", len(rep.ROC[0].FPR), len(full.FPR))
	}

	// The other class as positive: its precision is TN/(TN+FN) = 3/4,
	// recall TN/(TN+FP) = 3/4, and the curve ranks by p(no).
	rep0, err := evaluate.Classify([]string{"no", "yes"}, yTrue, yPred, proba, 0)
	if err != nil {
		t.Fatal(err)
	}
	if rep0.Positive != "no" || rep0.ROC[0].Class != "no" || !near(rep0.Metrics["roc_auc"], 13.0/16) {
		t.Errorf("positive 0: %q %q auc %v", rep0.Positive, rep0.ROC[0].Class, rep0.Metrics["roc_auc"])
	}
}

func TestClassifyPerClassAndImbalance(t *testing.T) {
	// 3 classes; class 2 has no row in the test set.
	yTrue := []int{0, 0, 0, 1, 1}
	yPred := []int{0, 1, 2, 1, 1}
	proba := [][]float64{{.8, .1, .1}, {.3, .6, .1}, {.2, .2, .6}, {.1, .8, .1}, {.2, .7, .1}}
	rep, err := evaluate.Classify([]string{"a", "b", "c"}, yTrue, yPred, proba, 1)
	if err != nil {
		t.Fatal(err)
	}
	// a: P 1/1, R 1/3; b: P 2/3, R 2/2; c: P 0/1, R 0 (no support).
	pc := rep.PerClass
	if !near(pc[0].Precision, 1) || !near(pc[0].Recall, 1.0/3) || !near(pc[1].Precision, 2.0/3) || !near(pc[1].Recall, 1) ||
		pc[2].Precision != 0 || pc[2].Recall != 0 || pc[2].Support != 0 || pc[0].Support != 3 {
		t.Errorf("per class %+v", pc)
	}
	if !near(pc[0].F1, 0.5) || !near(pc[1].F1, 0.8) {
		t.Errorf("per-class F1 %v %v", pc[0].F1, pc[1].F1)
	}
	// balanced accuracy: mean recall over the classes present (a, b).
	if !near(rep.Metrics["balanced_accuracy"], (1.0/3+1)/2) {
		t.Errorf("balanced accuracy %v", rep.Metrics["balanced_accuracy"])
	}
	if !near(rep.Metrics["recall_macro"], (1.0/3+1+0)/3) {
		t.Errorf("recall macro %v", rep.Metrics["recall_macro"])
	}
	if _, ok := rep.Metrics["roc_auc"]; ok {
		t.Error("roc_auc computed with a class absent")
	}
	if why := rep.Undefined["roc_auc"]; !strings.Contains(why, `class "c" has no row`) {
		t.Errorf("undefined reason %q", why)
	}
	for _, binaryOnly := range []string{"f1", "precision", "recall"} {
		if _, ok := rep.Metrics[binaryOnly]; ok {
			t.Errorf("%s set for three classes", binaryOnly)
		}
	}
	if rep.ROC != nil {
		t.Errorf("curves without every class: %d", len(rep.ROC))
	}
}

func TestClassifyMulticlassAUCMatchesMetrics(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	n, k := 3000, 4
	yTrue, yPred, proba := make([]int, n), make([]int, n), make([][]float64, n)
	for i := range n {
		yTrue[i] = rng.IntN(k)
		row := make([]float64, k)
		s := 0.0
		for c := range row {
			row[c] = rng.Float64()
			if c == yTrue[i] {
				row[c] += 0.8
			}
			s += row[c]
		}
		best := 0
		for c := range row {
			row[c] /= s
			if row[c] > row[best] {
				best = c
			}
		}
		proba[i], yPred[i] = row, best
	}
	rep, err := evaluate.Classify([]string{"a", "b", "c", "d"}, yTrue, yPred, proba, 1)
	if err != nil {
		t.Fatal(err)
	}
	macro, _ := metrics.ROCAUCOvR(yTrue, proba, metrics.Macro)
	weighted, _ := metrics.ROCAUCOvR(yTrue, proba, metrics.Weighted)
	if rep.Metrics["roc_auc"] != macro || rep.Metrics["roc_auc_weighted"] != weighted {
		t.Errorf("auc %v %v, metrics %v %v", rep.Metrics["roc_auc"], rep.Metrics["roc_auc_weighted"], macro, weighted)
	}
	mr, _ := metrics.EvaluateMulticlass(yTrue, yPred, proba)
	if rep.Metrics["accuracy"] != mr.Accuracy || rep.Metrics["f1_macro"] != mr.Macro.F1 || rep.Metrics["f1_weighted"] != mr.Weighted.F1 || rep.Metrics["log_loss"] != mr.LogLoss {
		t.Errorf("report %v differs from metrics.EvaluateMulticlass %+v", rep.Metrics, mr)
	}
	if len(rep.ROC) != 4 {
		t.Errorf("%d curves", len(rep.ROC))
	}
}

func TestClassifyErrors(t *testing.T) {
	yTrue, yPred, proba := binaryCase()
	for name, f := range map[string]func() error{
		"one class": func() error { _, err := evaluate.Classify([]string{"a"}, yTrue, yPred, proba, 0); return err },
		"no rows":   func() error { _, err := evaluate.Classify([]string{"a", "b"}, nil, nil, nil, 1); return err },
		"lengths":   func() error { _, err := evaluate.Classify([]string{"a", "b"}, yTrue, yPred[:3], proba, 1); return err },
		"label range": func() error {
			_, err := evaluate.Classify([]string{"a", "b"}, []int{0, 2}, []int{0, 1}, proba[:2], 1)
			return err
		},
		"probability": func() error {
			_, err := evaluate.Classify([]string{"a", "b"}, []int{0, 1}, []int{0, 1}, [][]float64{{.5, .5}, {1.5, -.5}}, 1)
			return err
		},
		"regression nan": func() error { _, err := evaluate.Regress([]float64{1, 2}, []float64{1, math.NaN()}); return err },
	} {
		if err := f(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestRegress(t *testing.T) {
	rep, err := evaluate.Regress([]float64{1, 2, 3, 4}, []float64{1.5, 2, 2, 4})
	if err != nil {
		t.Fatal(err)
	}
	// errors .5 0 -1 0: MSE 1.25/4, MAE 1.5/4; SS_tot 5.
	want := map[string]float64{"mse": 0.3125, "rmse": math.Sqrt(0.3125), "mae": 0.375, "r2": 1 - 1.25/5}
	for k, v := range want {
		if !near(rep.Metrics[k], v) {
			t.Errorf("%s = %v, want %v", k, rep.Metrics[k], v)
		}
	}
	if rep.Confusion != nil || rep.ROC != nil || len(rep.Metrics) != 4 {
		t.Errorf("regression report %+v", rep)
	}
}

func TestDownsample(t *testing.T) {
	n := 1001
	c := evaluate.Curve{Class: "x", AUC: 0.7, Points: n, FPR: make([]float64, n), TPR: make([]float64, n), Thresholds: make([]float64, n)}
	for i := range n {
		c.FPR[i], c.TPR[i], c.Thresholds[i] = float64(i)/1000, math.Sqrt(float64(i)/1000), float64(n-i)
	}
	c.Thresholds[0] = math.Inf(1)
	d := c.Downsample(11)
	if len(d.FPR) != 11 || d.Points != n || d.AUC != 0.7 {
		t.Fatalf("%d points, Points %d", len(d.FPR), d.Points)
	}
	for i := range 11 {
		if d.FPR[i] != float64(i)/10 {
			t.Errorf("point %d: fpr %v, want %v (evenly spaced)", i, d.FPR[i], float64(i)/10)
		}
	}
	if !math.IsInf(d.Thresholds[0], 1) || d.TPR[10] != 1 {
		t.Errorf("first or last point lost: %v %v", d.Thresholds[0], d.TPR[10])
	}
	if same := c.Downsample(2000); len(same.FPR) != n {
		t.Errorf("a short curve was changed: %d", len(same.FPR))
	}
	b, err := json.Marshal(d)
	if err != nil || !strings.Contains(string(b), `"thresholds":[null,`) {
		t.Errorf("json %s %v", b, err)
	}
}

func TestParseCondition(t *testing.T) {
	good := map[string]evaluate.Condition{
		">= 0.9":   {Metric: "f1", Op: ">=", Value: 0.9},
		"<0.3":     {Metric: "f1", Op: "<", Value: 0.3},
		" == 1 ":   {Metric: "f1", Op: "==", Value: 1},
		"!= -2e-3": {Metric: "f1", Op: "!=", Value: -0.002},
		"> .5":     {Metric: "f1", Op: ">", Value: 0.5},
		"<= 10":    {Metric: "f1", Op: "<=", Value: 10},
	}
	for expr, want := range good {
		c, err := evaluate.ParseCondition("f1", expr)
		if err != nil || c != want {
			t.Errorf("%q: %+v %v, want %+v", expr, c, err, want)
		}
	}
	for _, c := range []struct{ metric, expr, want string }{
		{"f1", "0.9", "not a comparison"},
		{"f1", "=> 0.9", "not a comparison"},
		{"f1", ">= high", "not a finite number"},
		{"f1", ">= NaN", "not a finite number"},
		{"f1", ">= 0.9 and < 1", "not a comparison"},
		{"acuracy", ">= 0.9", "did you mean accuracy?"},
		{"auc", ">= 0.9", `unknown metric "auc"`},
	} {
		_, err := evaluate.ParseCondition(c.metric, c.expr)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %q: %v, want %q", c.metric, c.expr, err, c.want)
		}
	}
	cond := evaluate.Condition{Metric: "log_loss", Op: "<", Value: 0.3}
	if !cond.Holds(0.29) || cond.Holds(0.3) {
		t.Error("Holds")
	}
}

// Macro averages run over the classes in the labels or the predictions, as
// scikit-learn's f1_score(average="macro") does without labels=: the
// figures are scikit-learn 1.2.1's on the same inputs.
func TestClassifyMacroOverPresentClasses(t *testing.T) {
	classes := []string{"a", "b", "c"}
	oneHot := func(pred []int) [][]float64 {
		p := make([][]float64, len(pred))
		for i, c := range pred {
			p[i] = []float64{0.1, 0.1, 0.1}
			p[i][c] = 0.8
		}
		return p
	}
	for _, c := range []struct {
		name                string
		y, pred             []int
		f1, recall, prec, w float64
	}{
		// c neither true nor predicted: a perfect classifier scores 1.
		{"absent class", []int{0, 0, 1, 1}, []int{0, 0, 1, 1}, 1, 1, 1, 1},
		// c predicted once but never true: it counts (as a zero).
		{"predicted-only class", []int{0, 0, 1, 1, 0}, []int{0, 2, 1, 1, 0}, 0.6, 0.5555555555555555, 0.6666666666666666, 0.8800000000000001},
	} {
		rep, err := evaluate.Classify(classes, c.y, c.pred, oneHot(c.pred), 1)
		if err != nil {
			t.Fatal(err)
		}
		m := rep.Metrics
		for name, want := range map[string]float64{"f1_macro": c.f1, "recall_macro": c.recall, "precision_macro": c.prec, "f1_weighted": c.w} {
			if math.Abs(m[name]-want) > 1e-12 {
				t.Errorf("%s: %s = %v, scikit-learn gives %v", c.name, name, m[name], want)
			}
		}
	}
}
