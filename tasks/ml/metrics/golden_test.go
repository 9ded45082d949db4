package metrics

import (
	"encoding/json"
	"math"
	"os"
	"strings"
	"testing"
)

// tolerance is the golden comparison: |got-want| <= tolerance*max(1, |want|),
// absolute for values up to 1 (every ratio, AUC and rate), relative above
// (log loss, MSE, ...).
const tolerance = 1e-9

type goldenScores struct {
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
	F1        float64 `json:"f1"`
}

type goldenClassification struct {
	Name      string        `json:"name"`
	YTrue     []int         `json:"y_true"`
	YPred     []int         `json:"y_pred"`
	Accuracy  float64       `json:"accuracy"`
	Confusion [][]int       `json:"confusion"`
	Binary    *goldenScores `json:"binary"`
	Micro     goldenScores  `json:"micro"`
	Macro     goldenScores  `json:"macro"`
	Weighted  goldenScores  `json:"weighted"`
	LogLoss   *float64      `json:"log_loss"`
}

type goldenFile struct {
	SklearnVersion string  `json:"sklearn_version"`
	NumpyVersion   string  `json:"numpy_version"`
	LogLossEps     float64 `json:"log_loss_eps"`
	Binary         []struct {
		goldenClassification
		Scores      []float64 `json:"scores"`
		LogLossRows *float64  `json:"log_loss_rows"`
		ROCAUC      float64   `json:"roc_auc"`
		ROCCurve    struct {
			FPR        []float64 `json:"fpr"`
			TPR        []float64 `json:"tpr"`
			Thresholds []float64 `json:"thresholds"`
		} `json:"roc_curve"`
	} `json:"binary"`
	Multiclass []struct {
		goldenClassification
		NClasses    int         `json:"n_classes"`
		Probs       [][]float64 `json:"probs"`
		AUCMacro    *float64    `json:"roc_auc_ovr_macro"`
		AUCWeighted *float64    `json:"roc_auc_ovr_weighted"`
		ROCAUCError string      `json:"roc_auc_error"`
	} `json:"multiclass"`
	Regression []struct {
		Name  string    `json:"name"`
		YTrue []float64 `json:"y_true"`
		YPred []float64 `json:"y_pred"`
		MSE   float64   `json:"mse"`
		RMSE  float64   `json:"rmse"`
		MAE   float64   `json:"mae"`
		R2    float64   `json:"r2"`
	} `json:"regression"`
}

func loadGolden(t *testing.T) goldenFile {
	t.Helper()
	b, err := os.ReadFile("testdata/golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var g goldenFile
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	if len(g.Binary) == 0 || len(g.Multiclass) == 0 || len(g.Regression) == 0 {
		t.Fatal("golden.json has an empty section")
	}
	t.Logf("golden values from scikit-learn %s, numpy %s", g.SklearnVersion, g.NumpyVersion)
	return g
}

func near(got, want float64) bool {
	return math.Abs(got-want) <= tolerance*math.Max(1, math.Abs(want))
}

func checkValue(t *testing.T, name string, got, want float64) {
	t.Helper()
	if !near(got, want) {
		t.Errorf("%s = %.17g, want %.17g (diff %.3g)", name, got, want, got-want)
	}
}

func checkFloats(t *testing.T, name string, got, want []float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d values, want %d\n got  %v\n want %v", name, len(got), len(want), got, want)
		return
	}
	for i := range got {
		if !near(got[i], want[i]) {
			t.Errorf("%s[%d] = %.17g, want %.17g", name, i, got[i], want[i])
		}
	}
}

func checkScores(t *testing.T, name string, got Scores, want goldenScores) {
	t.Helper()
	checkValue(t, name+" precision", got.Precision, want.Precision)
	checkValue(t, name+" recall", got.Recall, want.Recall)
	checkValue(t, name+" f1", got.F1, want.F1)
}

func checkConfusion(t *testing.T, got, want [][]int) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("confusion matrix %v, want %v", got, want)
	}
	for r := range got {
		for c := range got[r] {
			if got[r][c] != want[r][c] {
				t.Fatalf("confusion matrix %v, want %v", got, want)
			}
		}
	}
}

// checkLabelMetrics checks the functions on labels (not the reports) and
// returns the confusion matrix.
func checkLabelMetrics(t *testing.T, g goldenClassification, k int) {
	t.Helper()
	acc, err := Accuracy(g.YTrue, g.YPred)
	if err != nil {
		t.Fatal(err)
	}
	checkValue(t, "accuracy", acc, g.Accuracy)
	cm, err := ConfusionMatrix(g.YTrue, g.YPred, k)
	if err != nil {
		t.Fatal(err)
	}
	checkConfusion(t, cm, g.Confusion)
	for _, c := range []struct {
		avg  Average
		want *goldenScores
	}{{Binary, g.Binary}, {Micro, &g.Micro}, {Macro, &g.Macro}, {Weighted, &g.Weighted}} {
		if c.want == nil {
			continue
		}
		s, err := PrecisionRecallF1(g.YTrue, g.YPred, k, c.avg, 1)
		if err != nil {
			t.Fatal(err)
		}
		checkScores(t, c.avg.String(), s, *c.want)
	}
}

func TestGoldenBinary(t *testing.T) {
	g := loadGolden(t)
	if g.LogLossEps != LogLossEps {
		t.Fatalf("golden log loss eps %v, package uses %v", g.LogLossEps, LogLossEps)
	}
	for _, c := range g.Binary {
		t.Run(c.Name, func(t *testing.T) {
			checkLabelMetrics(t, c.goldenClassification, 2)

			a, err := ROCAUC(c.YTrue, c.Scores)
			if err != nil {
				t.Fatal(err)
			}
			checkValue(t, "roc auc", a, c.ROCAUC)

			cur, err := ROCCurve(c.YTrue, c.Scores)
			if err != nil {
				t.Fatal(err)
			}
			checkRawCurve(t, cur, c.ROCCurve.FPR, c.ROCCurve.TPR, c.ROCCurve.Thresholds, c.Scores)
			checkValue(t, "curve auc", cur.AUC, c.ROCAUC)

			if c.LogLoss == nil {
				if _, err := EvaluateBinary(c.YTrue, c.YPred, c.Scores); err == nil {
					t.Error("EvaluateBinary accepted scores outside [0, 1]")
				}
				return
			}
			ll, err := BinaryLogLoss(c.YTrue, c.Scores)
			if err != nil {
				t.Fatal(err)
			}
			checkValue(t, "log loss", ll, *c.LogLoss)
			// through the two-column form [1-p, p], which scikit-learn
			// clips column by column
			rows := make([][]float64, len(c.Scores))
			for i, p := range c.Scores {
				rows[i] = []float64{1 - p, p}
			}
			ll2, err := LogLoss(c.YTrue, rows)
			if err != nil {
				t.Fatal(err)
			}
			checkValue(t, "log loss (rows)", ll2, *c.LogLossRows)

			rep, err := EvaluateBinary(c.YTrue, c.YPred, c.Scores)
			if err != nil {
				t.Fatal(err)
			}
			checkValue(t, "report accuracy", rep.Accuracy, c.Accuracy)
			checkConfusion(t, rep.Confusion, c.Confusion)
			checkScores(t, "report binary", rep.Binary, *c.Binary)
			checkScores(t, "report micro", rep.Micro, c.Micro)
			checkScores(t, "report macro", rep.Macro, c.Macro)
			checkScores(t, "report weighted", rep.Weighted, c.Weighted)
			checkValue(t, "report log loss", rep.LogLoss, *c.LogLoss)
			checkValue(t, "report roc auc", rep.ROCAUC, c.ROCAUC)
			checkRawCurve(t, rep.ROC, c.ROCCurve.FPR, c.ROCCurve.TPR, c.ROCCurve.Thresholds, c.Scores)
		})
	}
}

// checkRawCurve compares a curve with scikit-learn's arrays. The first
// threshold is +Inf here; scikit-learn 1.2 wrote max(score)+1 (checked, so
// a regenerated file from a newer version is noticed) and >= 1.3 would
// write +Inf, which JSON cannot hold.
func checkRawCurve(t *testing.T, cur Curve, fpr, tpr, thr, scores []float64) {
	t.Helper()
	checkFloats(t, "fpr", cur.FPR, fpr)
	checkFloats(t, "tpr", cur.TPR, tpr)
	if len(cur.Thresholds) != len(thr) || len(thr) < 2 {
		t.Fatalf("thresholds %v, want %v", cur.Thresholds, thr)
	}
	if !math.IsInf(cur.Thresholds[0], 1) {
		t.Errorf("first threshold %v, want +Inf", cur.Thresholds[0])
	}
	top := math.Inf(-1)
	for _, s := range scores {
		top = math.Max(top, s)
	}
	if thr[0] != top+1 {
		t.Errorf("golden first threshold %v, want max+1 = %v (scikit-learn 1.2)", thr[0], top+1)
	}
	checkFloats(t, "thresholds[1:]", cur.Thresholds[1:], thr[1:])
}

func TestGoldenMulticlass(t *testing.T) {
	g := loadGolden(t)
	for _, c := range g.Multiclass {
		t.Run(c.Name, func(t *testing.T) {
			k := c.NClasses
			checkLabelMetrics(t, c.goldenClassification, k)
			ll, err := LogLoss(c.YTrue, c.Probs)
			if err != nil {
				t.Fatal(err)
			}
			checkValue(t, "log loss", ll, *c.LogLoss)

			rep, repErr := EvaluateMulticlass(c.YTrue, c.YPred, c.Probs)
			if c.ROCAUCError != "" {
				for _, avg := range []Average{Macro, Weighted} {
					_, err := ROCAUCOvR(c.YTrue, c.Probs, avg)
					if err == nil || !strings.Contains(strings.ToLower(err.Error()), "only one class present") {
						t.Errorf("ROCAUCOvR %v: error %v, want one like scikit-learn's %q", avg, err, c.ROCAUCError)
					}
				}
				if repErr == nil {
					t.Error("EvaluateMulticlass: no error with a class absent from y_true")
				}
				return
			}
			for _, x := range []struct {
				avg  Average
				want float64
			}{{Macro, *c.AUCMacro}, {Weighted, *c.AUCWeighted}} {
				a, err := ROCAUCOvR(c.YTrue, c.Probs, x.avg)
				if err != nil {
					t.Fatal(err)
				}
				checkValue(t, "roc auc ovr "+x.avg.String(), a, x.want)
			}
			if repErr != nil {
				t.Fatal(repErr)
			}
			checkValue(t, "report accuracy", rep.Accuracy, c.Accuracy)
			checkConfusion(t, rep.Confusion, c.Confusion)
			checkScores(t, "report micro", rep.Micro, c.Micro)
			checkScores(t, "report macro", rep.Macro, c.Macro)
			checkScores(t, "report weighted", rep.Weighted, c.Weighted)
			checkValue(t, "report log loss", rep.LogLoss, *c.LogLoss)
			checkValue(t, "report auc macro", rep.ROCAUCMacro, *c.AUCMacro)
			checkValue(t, "report auc weighted", rep.ROCAUCWeighted, *c.AUCWeighted)
		})
	}
}

func TestGoldenRegression(t *testing.T) {
	g := loadGolden(t)
	for _, c := range g.Regression {
		t.Run(c.Name, func(t *testing.T) {
			for _, f := range []struct {
				name string
				fn   func(a, b []float64) (float64, error)
				want float64
			}{{"mse", MSE, c.MSE}, {"rmse", RMSE, c.RMSE}, {"mae", MAE, c.MAE}, {"r2", R2, c.R2}} {
				got, err := f.fn(c.YTrue, c.YPred)
				if err != nil {
					t.Fatal(err)
				}
				checkValue(t, f.name, got, f.want)
			}
			r, err := EvaluateRegression(c.YTrue, c.YPred)
			if err != nil {
				t.Fatal(err)
			}
			checkValue(t, "report mse", r.MSE, c.MSE)
			checkValue(t, "report rmse", r.RMSE, c.RMSE)
			checkValue(t, "report mae", r.MAE, c.MAE)
			checkValue(t, "report r2", r.R2, c.R2)
		})
	}
}

// Exact 0 and 1 probabilities, as trees and forests give them, score as
// scikit-learn 1.2.1's log_loss with its default eps ("auto"):
// log_loss([0, 1, 1, 0], [[1, 0], [0, 1], [1, 0], [.3, .7]]).
func TestLogLossOfCertainProbabilities(t *testing.T) {
	got, err := LogLoss([]int{0, 1, 1, 0}, [][]float64{{1, 0}, {0, 1}, {1, 0}, {.3, .7}})
	if err != nil {
		t.Fatal(err)
	}
	if want := 9.311906548360772; math.Abs(got-want) > 1e-9 {
		t.Errorf("log loss = %.15g, scikit-learn gives %.15g", got, want)
	}
}

// PresentClasses and BalancedAccuracy follow scikit-learn 1.2.1's defaults
// (no labels=): y = [0 0 1 1 0], predicted [0 2 1 1 0], three classes.
func TestPresentClassesAndBalancedAccuracy(t *testing.T) {
	cm, err := ConfusionMatrix([]int{0, 0, 1, 1, 0}, []int{0, 2, 1, 1, 0}, 4) // class 3: in neither
	if err != nil {
		t.Fatal(err)
	}
	present := PresentClasses(cm)
	if len(present) != 3 {
		t.Fatalf("present classes %v, want the 3 that occur", present)
	}
	s, err := ScoresFromConfusion(present, Macro, 0)
	if err != nil || math.Abs(s.F1-0.6) > 1e-12 {
		t.Errorf("macro F1 = %v (%v), scikit-learn gives 0.6", s.F1, err)
	}
	ba, err := BalancedAccuracy(cm)
	if err != nil || math.Abs(ba-0.8333333333333333) > 1e-12 {
		t.Errorf("balanced accuracy = %v (%v), scikit-learn gives 0.8333333333333333", ba, err)
	}
	if _, err := BalancedAccuracy([][]int{{0, 0}, {0, 0}}); err == nil {
		t.Error("balanced accuracy of no samples")
	}
}
