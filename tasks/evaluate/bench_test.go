package evaluate_test

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/tasks/evaluate"
	"github.com/cairnml/cairn/tasks/ml/dataset"
	"github.com/cairnml/cairn/tasks/ml/features"
	"github.com/cairnml/cairn/tasks/ml/model"
	"github.com/cairnml/cairn/tasks/ml/synthetic"
	"github.com/cairnml/cairn/tasks/tasktest"
)

const benchN = 1_000_000

// predictions makes n seeded predictions of k classes: each row's true
// class gets a head start in its probabilities, so the scores rank well
// but not perfectly, and ties are rare (continuous scores: a ROC curve of
// hundreds of thousands of points, the expensive case).
func predictions(n, k int, seed uint64) (yTrue, yPred []int, proba [][]float64) {
	rng := rand.New(rand.NewPCG(seed, seed))
	yTrue, yPred, proba = make([]int, n), make([]int, n), make([][]float64, n)
	flat := make([]float64, n*k)
	for i := range n {
		if k == 2 && rng.Float64() < 0.7 {
			yTrue[i] = 0 // 30 % positives
		} else {
			yTrue[i] = rng.IntN(k)
		}
		row := flat[i*k : (i+1)*k : (i+1)*k]
		s := 0.0
		for c := range row {
			row[c] = rng.Float64()
			if c == yTrue[i] {
				row[c] += 0.6
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
	return yTrue, yPred, proba
}

// BenchmarkClassifyBinary1M is evaluate's metric computation on 1,000,000
// binary predictions: every metric (accuracy, balanced accuracy,
// precision, recall and F1 binary/macro/weighted, per-class scores, log
// loss, confusion matrix, ROC AUC) with the full ROC curve, plus the
// downsampling of the curve for the roc output. Not included: reading the
// test CSV and the model's predictions (train's and dataset's costs), and
// encoding the report (BenchmarkReportJSONBinary1M).
func BenchmarkClassifyBinary1M(b *testing.B) {
	yTrue, yPred, proba := predictions(benchN, 2, 1)
	b.ReportAllocs()
	var points int
	for b.Loop() {
		rep, err := evaluate.Classify([]string{"0", "1"}, yTrue, yPred, proba, 1)
		if err != nil || rep.Metrics["roc_auc"] < 0.5 {
			b.Fatal(err)
		}
		_ = rep.ROC[0].Downsample(evaluate.DefaultROCPoints)
		points = rep.ROC[0].Points
	}
	b.ReportMetric(float64(points), "roc-points")
}

// BenchmarkClassify3Class1M is the same for 3 classes: three one-vs-rest
// curves.
func BenchmarkClassify3Class1M(b *testing.B) {
	yTrue, yPred, proba := predictions(benchN, 3, 2)
	b.ReportAllocs()
	for b.Loop() {
		rep, err := evaluate.Classify([]string{"a", "b", "c"}, yTrue, yPred, proba, 1)
		if err != nil || rep.Metrics["roc_auc"] < 0.5 {
			b.Fatal(err)
		}
		for _, c := range rep.ROC {
			_ = c.Downsample(evaluate.DefaultROCPoints)
		}
	}
}

// BenchmarkRegress1M is MSE, RMSE, MAE and R² of 1,000,000 predictions.
func BenchmarkRegress1M(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 3))
	y, p := make([]float64, benchN), make([]float64, benchN)
	for i := range y {
		y[i] = rng.NormFloat64()
		p[i] = y[i] + 0.1*rng.NormFloat64()
	}
	b.ReportAllocs()
	for b.Loop() {
		rep, err := evaluate.Regress(y, p)
		if err != nil || math.IsNaN(rep.Metrics["r2"]) {
			b.Fatal(err)
		}
	}
}

// BenchmarkReportJSONBinary1M encodes the report of
// BenchmarkClassifyBinary1M, its full ROC curve included, as the task
// stores it.
func BenchmarkReportJSONBinary1M(b *testing.B) {
	yTrue, yPred, proba := predictions(benchN, 2, 1)
	rep, err := evaluate.Classify([]string{"0", "1"}, yTrue, yPred, proba, 1)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	var size int
	for b.Loop() {
		var buf bytes.Buffer
		if err := json.NewEncoder(&buf).Encode(rep); err != nil {
			b.Fatal(err)
		}
		size = buf.Len()
	}
	b.ReportMetric(float64(size)/1e6, "MB")
}

// BenchmarkRunBinary1M is the whole task on a test set of 1,000,000 rows
// × 10 features (synthetic, seeded) with a logistic regression fitted on
// 10,000 other rows: reading the model and the 1M-row CSV, predicting,
// every metric with the full ROC curve, encoding and storing the report
// (on a temporary folder).
func BenchmarkRunBinary1M(b *testing.B) {
	gen := synthetic.Classification{Rows: 10_000, Features: 10, Weights: []float64{0.7, 0.3}, ClassSep: 0.7, Seed: 1}
	train, err := gen.Frame()
	if err != nil {
		b.Fatal(err)
	}
	m, err := model.Fit(train, model.Spec{Preprocess: features.NewSpec("label"), Algorithm: model.LogisticRegression})
	if err != nil {
		b.Fatal(err)
	}
	gen.Rows, gen.Seed = benchN, 2
	test, err := gen.Frame()
	if err != nil {
		b.Fatal(err)
	}
	var enc, csv bytes.Buffer
	if err := m.Encode(&enc); err != nil {
		b.Fatal(err)
	}
	if err := dataset.WriteCSV(&csv, test); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	env, _ := tasktest.Env(b)
	mref, _ := env.Artifacts.Put(ctx, model.MediaType, bytes.NewReader(enc.Bytes()))
	tref, _ := env.Artifacts.Put(ctx, "text/csv", bytes.NewReader(csv.Bytes()))
	req := tasktest.Request(b, []byte(`{"gate": {"roc_auc": ">= 0.5"}}`))
	req.Inputs = map[string]cairn.ArtifactRef{"model": mref, "test": tref}
	task := evaluate.New()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		res, err := task.Run(ctx, req, env)
		if err != nil || string(res.Outputs["passed"]) != "true" {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(csv.Len())/1e6, "csv-MB")
}
