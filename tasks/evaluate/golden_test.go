package evaluate_test

import (
	"encoding/json"
	"math"
	"os"
	"testing"

	"github.com/cairnml/cairn/tasks/evaluate"
)

// golden is testdata/golden.json: scikit-learn's metrics on fixed
// predictions (testdata/gen_golden.py).
type golden struct {
	Sklearn string `json:"sklearn"`
	Cases   []struct {
		Name      string             `json:"name"`
		Kind      string             `json:"kind"`
		Classes   []string           `json:"classes"`
		Positive  int                `json:"positive"`
		YTrue     json.RawMessage    `json:"y_true"`
		YPred     json.RawMessage    `json:"y_pred"`
		Proba     [][]float64        `json:"proba"`
		Metrics   map[string]float64 `json:"metrics"`
		Confusion [][]int            `json:"confusion"`
		PerClass  []struct {
			Precision, Recall, F1 float64
			Support               int
		} `json:"per_class"`
		ROC []struct {
			Class      string    `json:"class"`
			FPR        []float64 `json:"fpr"`
			TPR        []float64 `json:"tpr"`
			Thresholds []float64 `json:"thresholds"`
		} `json:"roc"`
	} `json:"cases"`
}

// close1e9 compares to 1e-9, absolute below 1 and relative above.
func close1e9(got, want float64) bool {
	return math.Abs(got-want) <= 1e-9*math.Max(1, math.Abs(want))
}

func TestGoldenSklearn(t *testing.T) {
	raw, err := os.ReadFile("testdata/golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var g golden
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatal(err)
	}
	if len(g.Cases) != 5 {
		t.Fatalf("%d cases", len(g.Cases))
	}
	for _, c := range g.Cases {
		t.Run(c.Name, func(t *testing.T) {
			var rep *evaluate.Report
			if c.Kind == "regression" {
				var y, p []float64
				if json.Unmarshal(c.YTrue, &y) != nil || json.Unmarshal(c.YPred, &p) != nil {
					t.Fatal("bad regression case")
				}
				rep, err = evaluate.Regress(y, p)
			} else {
				var y, p []int
				if json.Unmarshal(c.YTrue, &y) != nil || json.Unmarshal(c.YPred, &p) != nil {
					t.Fatal("bad classification case")
				}
				rep, err = evaluate.Classify(c.Classes, y, p, c.Proba, c.Positive)
			}
			if err != nil {
				t.Fatal(err)
			}
			for name, want := range c.Metrics {
				got, ok := rep.Metrics[name]
				if !ok || !close1e9(got, want) {
					t.Errorf("%s = %v (%v), scikit-learn %s says %v", name, got, ok, g.Sklearn, want)
				}
			}
			for name := range rep.Metrics {
				if _, ok := c.Metrics[name]; !ok {
					t.Errorf("%s = %v, which scikit-learn does not define here", name, rep.Metrics[name])
				}
			}
			if c.Kind == "regression" {
				return
			}
			for r, row := range c.Confusion {
				for col, v := range row {
					if rep.Confusion.Matrix[r][col] != v {
						t.Fatalf("confusion %v, want %v", rep.Confusion.Matrix, c.Confusion)
					}
				}
			}
			for i, pc := range c.PerClass {
				got := rep.PerClass[i]
				if !close1e9(got.Precision, pc.Precision) || !close1e9(got.Recall, pc.Recall) || !close1e9(got.F1, pc.F1) || got.Support != pc.Support {
					t.Errorf("class %d: %+v, want %+v", i, got, pc)
				}
			}
			if len(rep.ROC) != len(c.ROC) {
				t.Fatalf("%d curves, want %d", len(rep.ROC), len(c.ROC))
			}
			for i, want := range c.ROC {
				got := rep.ROC[i]
				if got.Class != want.Class || len(got.FPR) != len(want.FPR) {
					t.Fatalf("curve %d: class %s, %d points; want %s, %d", i, got.Class, len(got.FPR), want.Class, len(want.FPR))
				}
				for j := range want.FPR {
					if !close1e9(got.FPR[j], want.FPR[j]) || !close1e9(got.TPR[j], want.TPR[j]) {
						t.Fatalf("curve %s point %d: (%v, %v), want (%v, %v)", want.Class, j, got.FPR[j], got.TPR[j], want.FPR[j], want.TPR[j])
					}
				}
				for j, th := range want.Thresholds {
					if !close1e9(got.Thresholds[j+1], th) {
						t.Fatalf("curve %s threshold %d: %v, want %v", want.Class, j+1, got.Thresholds[j+1], th)
					}
				}
			}
		})
	}
}
