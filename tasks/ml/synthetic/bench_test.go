package synthetic_test

import (
	"testing"

	"github.com/cairnml/cairn/tasks/ml/synthetic"
)

// BenchmarkClassification1Mx10 generates 1,000,000 rows × 10 features,
// imbalanced, with missing values.
func BenchmarkClassification1Mx10(b *testing.B) {
	g := synthetic.Classification{Rows: 1_000_000, Features: 10, Weights: []float64{0.9, 0.1}, MissingRate: 0.01, Seed: 1}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := g.Frame(); err != nil {
			b.Fatal(err)
		}
	}
}
