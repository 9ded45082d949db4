package tree

import (
	"slices"
	"testing"
)

func breastCancer(b *testing.B) ([][]float64, []int) {
	g := loadGolden(b)
	c := g.Classification[2]
	X, labels := loadCSV(b, c.File, c.Label)
	y := make([]int, len(labels))
	for i, l := range labels {
		y[i] = slices.Index(c.Classes, l)
	}
	return X, y
}

// BenchmarkForest100Trees fits scikit-learn's default forest (100 trees,
// sqrt features, bootstrap) on all 569×30 breast cancer rows.
func BenchmarkForest100Trees(b *testing.B) {
	X, y := breastCancer(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := FitForestClassifier(X, y, ForestParams{Seed: 1}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkForest100TreesOneWorker is the same fit on one goroutine.
func BenchmarkForest100TreesOneWorker(b *testing.B) {
	X, y := breastCancer(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := FitForestClassifier(X, y, ForestParams{Seed: 1, Workers: 1}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTree(b *testing.B) {
	X, y := breastCancer(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := FitClassifier(X, y, Params{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkForestPredict(b *testing.B) {
	X, y := breastCancer(b)
	f, err := FitForestClassifier(X, y, ForestParams{Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.PredictProba(X); err != nil {
			b.Fatal(err)
		}
	}
}
