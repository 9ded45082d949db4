package metrics

import (
	"math/rand/v2"
	"testing"
)

const benchN = 1_000_000

func BenchmarkAllBinary1M(b *testing.B) {
	yTrue, yPred, scores := binaryData(rand.New(rand.NewPCG(1, 1)), benchN, 0.3, 17)
	b.ReportAllocs()
	for b.Loop() {
		rep, err := EvaluateBinary(yTrue, yPred, scores)
		if err != nil || rep.ROCAUC < 0.5 {
			b.Fatal(rep.ROCAUC, err)
		}
	}
}

func BenchmarkAllMulticlass1M(b *testing.B) {
	yTrue, yPred, probs := multiclassData(rand.New(rand.NewPCG(2, 2)), benchN, 3)
	b.ReportAllocs()
	for b.Loop() {
		rep, err := EvaluateMulticlass(yTrue, yPred, probs)
		if err != nil || rep.ROCAUCMacro < 0.5 {
			b.Fatal(rep.ROCAUCMacro, err)
		}
	}
}

func BenchmarkAllRegression1M(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 3))
	y, p := make([]float64, benchN), make([]float64, benchN)
	for i := range y {
		y[i] = rng.NormFloat64()
		p[i] = y[i] + 0.1*rng.NormFloat64()
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := EvaluateRegression(y, p); err != nil {
			b.Fatal(err)
		}
	}
}
