package metrics

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// binaryData draws n labels with positive rate pos and probability scores
// rounded to `decimals` places (few decimals: many ties).
func binaryData(rng *rand.Rand, n int, pos float64, decimals int) (yTrue, yPred []int, scores []float64) {
	yTrue = make([]int, n)
	yPred = make([]int, n)
	scores = make([]float64, n)
	scale := math.Pow(10, float64(decimals))
	for i := range n {
		if rng.Float64() < pos {
			yTrue[i] = 1
		}
		s := min(1, 0.3*float64(yTrue[i])+0.7*rng.Float64())
		scores[i] = math.Round(s*scale) / scale
		if scores[i] >= 0.5 {
			yPred[i] = 1
		}
	}
	return yTrue, yPred, scores
}

// multiclassData draws n labels of k classes and softmax probabilities.
func multiclassData(rng *rand.Rand, n, k int) (yTrue, yPred []int, probs [][]float64) {
	yTrue = make([]int, n)
	yPred = make([]int, n)
	probs = make([][]float64, n)
	flat := make([]float64, n*k)
	for i := range n {
		yTrue[i] = rng.IntN(k)
		row := flat[i*k : (i+1)*k : (i+1)*k]
		s := 0.0
		for c := range row {
			z := rng.NormFloat64()
			if c == yTrue[i] {
				z += 1.5
			}
			row[c] = math.Exp(z)
			s += row[c]
		}
		for c := range row {
			row[c] /= s
		}
		yPred[i] = argmax(row)
		probs[i] = row
	}
	return yTrue, yPred, probs
}

func argmax(row []float64) int {
	best := 0
	for c, v := range row {
		if v > row[best] {
			best = c
		}
	}
	return best
}

func permute[T any](perm []int, x []T) []T {
	out := make([]T, len(x))
	for i, p := range perm {
		out[i] = x[p]
	}
	return out
}

// nearRel is a relative comparison for values whose summation order
// differs.
func nearRel(a, b float64) bool {
	return math.Abs(a-b) <= 1e-12*math.Max(1, math.Abs(b))
}

func TestPermutationInvariance(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 20 {
		yTrue, yPred, scores := binaryData(rng, 50+rng.IntN(500), 0.1+0.8*rng.Float64(), 1+trial%3)
		perm := rng.Perm(len(yTrue))
		a, err := EvaluateBinary(yTrue, yPred, scores)
		if err != nil {
			t.Fatal(err)
		}
		b, err := EvaluateBinary(permute(perm, yTrue), permute(perm, yPred), permute(perm, scores))
		if err != nil {
			t.Fatal(err)
		}
		if !nearRel(a.LogLoss, b.LogLoss) {
			t.Errorf("log loss %v after permutation, %v before", b.LogLoss, a.LogLoss)
		}
		a.LogLoss, b.LogLoss = 0, 0
		if !equalReports(a, b) {
			t.Fatalf("binary report changed under permutation:\n%+v\n%+v", a, b)
		}

		k := 3 + trial%3
		yt, yp, probs := multiclassData(rng, 100+rng.IntN(300), k)
		perm = rng.Perm(len(yt))
		m1, err := EvaluateMulticlass(yt, yp, probs)
		if err != nil {
			t.Fatal(err)
		}
		m2, err := EvaluateMulticlass(permute(perm, yt), permute(perm, yp), permute(perm, probs))
		if err != nil {
			t.Fatal(err)
		}
		if !nearRel(m1.LogLoss, m2.LogLoss) {
			t.Errorf("multiclass log loss %v after permutation, %v before", m2.LogLoss, m1.LogLoss)
		}
		// counts and areas are exact integers divided once: bit-identical
		if m1.ROCAUCMacro != m2.ROCAUCMacro || m1.ROCAUCWeighted != m2.ROCAUCWeighted ||
			m1.Accuracy != m2.Accuracy || m1.Macro != m2.Macro || m1.Weighted != m2.Weighted {
			t.Fatalf("multiclass report changed under permutation:\n%+v\n%+v", m1, m2)
		}

		y := make([]float64, len(yt))
		p := make([]float64, len(yt))
		for i := range y {
			y[i] = rng.NormFloat64() * 10
			p[i] = y[i] + rng.NormFloat64()
		}
		r1, _ := EvaluateRegression(y, p)
		r2, _ := EvaluateRegression(permute(perm, y), permute(perm, p))
		if !nearRel(r1.MSE, r2.MSE) || !nearRel(r1.MAE, r2.MAE) || !nearRel(r1.R2, r2.R2) || !nearRel(r1.RMSE, r2.RMSE) {
			t.Errorf("regression changed under permutation: %+v vs %+v", r1, r2)
		}
	}
}

func equalReports(a, b BinaryReport) bool {
	if a.Accuracy != b.Accuracy || a.Binary != b.Binary || a.Micro != b.Micro || a.Macro != b.Macro ||
		a.Weighted != b.Weighted || a.ROCAUC != b.ROCAUC || a.ROC.AUC != b.ROC.AUC {
		return false
	}
	for r := range a.Confusion {
		if !slices.Equal(a.Confusion[r], b.Confusion[r]) {
			return false
		}
	}
	return slices.Equal(a.ROC.FPR, b.ROC.FPR) && slices.Equal(a.ROC.TPR, b.ROC.TPR) &&
		slices.Equal(a.ROC.Thresholds, b.ROC.Thresholds)
}

// bruteAUC counts pairs: P(score of a positive > score of a negative), ties half.
func bruteAUC(yTrue []int, scores []float64) float64 {
	var wins float64
	var pairs int
	for i, a := range yTrue {
		if a != 1 {
			continue
		}
		for j, b := range yTrue {
			if b != 0 {
				continue
			}
			pairs++
			switch {
			case scores[i] > scores[j]:
				wins++
			case scores[i] == scores[j]:
				wins += 0.5
			}
		}
	}
	return wins / float64(pairs)
}

// bruteCurve is scikit-learn's roc_curve transcribed literally: sort
// descending, a point at each distinct score, then drop_intermediate.
func bruteCurve(yTrue []int, scores []float64) Curve {
	idx := make([]int, len(scores))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		switch {
		case scores[a] > scores[b]:
			return -1
		case scores[a] < scores[b]:
			return 1
		}
		return 0
	})
	var fps, tps, thr []float64
	tp, fp := 0.0, 0.0
	for n, i := range idx {
		if yTrue[i] == 1 {
			tp++
		} else {
			fp++
		}
		if n == len(idx)-1 || scores[idx[n+1]] != scores[i] {
			fps, tps, thr = append(fps, fp), append(tps, tp), append(thr, scores[i])
		}
	}
	keep := []int{0}
	for i := 1; i < len(fps)-1; i++ {
		if fps[i+1]-2*fps[i]+fps[i-1] != 0 || tps[i+1]-2*tps[i]+tps[i-1] != 0 {
			keep = append(keep, i)
		}
	}
	if len(fps) > 1 {
		keep = append(keep, len(fps)-1)
	}
	c := Curve{FPR: []float64{0}, TPR: []float64{0}, Thresholds: []float64{math.Inf(1)}}
	for _, i := range keep {
		c.FPR = append(c.FPR, fps[i]/fp)
		c.TPR = append(c.TPR, tps[i]/tp)
		c.Thresholds = append(c.Thresholds, thr[i])
	}
	return c
}

func TestROCAgainstBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for trial := range 200 {
		n := 2 + rng.IntN(80)
		yTrue, _, scores := binaryData(rng, n, 0.5, 1+trial%4)
		if trial%5 == 0 { // decision values with -0 and +0
			for i := range scores {
				scores[i] = math.Round(rng.NormFloat64()*3) / 2
				if scores[i] == 0 && rng.IntN(2) == 0 {
					scores[i] = math.Copysign(0, -1)
				}
			}
		}
		yTrue[0], yTrue[1] = 0, 1
		got, err := ROCCurve(yTrue, scores)
		if err != nil {
			t.Fatal(err)
		}
		want := bruteCurve(yTrue, scores)
		if !slices.Equal(got.FPR, want.FPR) || !slices.Equal(got.TPR, want.TPR) || !slices.Equal(got.Thresholds, want.Thresholds) {
			t.Fatalf("scores %v labels %v\n got  %+v\n want %+v", scores, yTrue, got, want)
		}
		if b := bruteAUC(yTrue, scores); !nearRel(got.AUC, b) {
			t.Fatalf("AUC %v, pair count gives %v", got.AUC, b)
		}
		// the area of the kept points is the whole area
		trap := 0.0
		for i := 1; i < len(got.FPR); i++ {
			trap += (got.FPR[i] - got.FPR[i-1]) * (got.TPR[i] + got.TPR[i-1]) / 2
		}
		if !nearRel(trap, got.AUC) {
			t.Fatalf("trapezoid over kept points %v, AUC %v", trap, got.AUC)
		}
		for i := 1; i < len(got.FPR); i++ {
			if got.FPR[i] < got.FPR[i-1] || got.TPR[i] < got.TPR[i-1] || got.Thresholds[i] >= got.Thresholds[i-1] {
				t.Fatalf("curve not monotone at %d: %+v", i, got)
			}
		}
		if l := len(got.FPR) - 1; got.FPR[l] != 1 || got.TPR[l] != 1 {
			t.Fatalf("curve ends at (%v, %v)", got.FPR[l], got.TPR[l])
		}
	}
}

func TestAUCOfNegatedScores(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for trial := range 50 {
		yTrue, _, scores := binaryData(rng, 20+rng.IntN(2000), 0.05+0.9*rng.Float64(), 1+trial%5)
		yTrue[0], yTrue[1] = 0, 1
		neg := make([]float64, len(scores))
		for i, s := range scores {
			neg[i] = -s
		}
		a, err := ROCAUC(yTrue, scores)
		if err != nil {
			t.Fatal(err)
		}
		b, err := ROCAUC(yTrue, neg)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(a+b-1) > 1e-12 {
			t.Fatalf("AUC %v and of negated scores %v: sum %v, want 1", a, b, a+b)
		}
		// and swapping the labels does the same
		flipped := make([]int, len(yTrue))
		for i, y := range yTrue {
			flipped[i] = 1 - y
		}
		c, _ := ROCAUC(flipped, scores)
		if math.Abs(c-b) > 1e-12 {
			t.Fatalf("AUC with swapped labels %v, with negated scores %v", c, b)
		}
	}
}

func TestScoreInvariants(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for trial := range 100 {
		k := 2 + trial%5
		yt, yp, _ := multiclassData(rng, 5+rng.IntN(200), k)
		cm, err := ConfusionMatrix(yt, yp, k)
		if err != nil {
			t.Fatal(err)
		}
		acc, _ := Accuracy(yt, yp)
		for _, avg := range []Average{Binary, Micro, Macro, Weighted} {
			if avg == Binary && k != 2 {
				continue
			}
			s, err := ScoresFromConfusion(cm, avg, 1)
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range []float64{s.Precision, s.Recall, s.F1} {
				if v < 0 || v > 1 || math.IsNaN(v) {
					t.Fatalf("%v scores %+v out of [0, 1]", avg, s)
				}
			}
			if avg != Macro && avg != Weighted { // an average of F1s need not lie between averaged P and R
				if s.F1 < min(s.Precision, s.Recall)-1e-15 || s.F1 > max(s.Precision, s.Recall)+1e-15 {
					t.Fatalf("%v F1 %v not between precision %v and recall %v", avg, s.F1, s.Precision, s.Recall)
				}
			}
			if avg == Micro && (s.Precision != acc || s.Recall != acc || math.Abs(s.F1-acc) > 1e-15) {
				t.Fatalf("micro %+v, accuracy %v", s, acc)
			}
			if avg == Weighted && math.Abs(s.Recall-acc) > 1e-12 { // weighted recall is accuracy
				t.Fatalf("weighted recall %v, accuracy %v", s.Recall, acc)
			}
		}
		total := 0
		for _, row := range cm {
			for _, v := range row {
				total += v
			}
		}
		if total != len(yt) {
			t.Fatalf("confusion matrix counts %d samples of %d", total, len(yt))
		}
	}
}

func TestPerfectAndWorst(t *testing.T) {
	y := []int{0, 1, 0, 1, 1}
	s := []float64{0.1, 0.9, 0.2, 0.8, 0.7}
	rep, err := EvaluateBinary(y, y, s)
	if err != nil {
		t.Fatal(err)
	}
	if rep.ROCAUC != 1 || rep.Accuracy != 1 || rep.Binary != (Scores{1, 1, 1}) {
		t.Errorf("perfect predictions: %+v", rep)
	}
	inv := []float64{0.9, 0.1, 0.8, 0.2, 0.3}
	a, _ := ROCAUC(y, inv)
	if a != 0 {
		t.Errorf("reversed scores: AUC %v, want 0", a)
	}
	// a zero-one probability on the wrong class costs -log(eps)-ish, not Inf
	ll, err := BinaryLogLoss([]int{1}, []float64{0})
	if err != nil || math.IsInf(ll, 0) || math.Abs(ll-(-math.Log(LogLossEps))) > 1e-12 {
		t.Errorf("log loss of a certain mistake = %v, %v; want -log(eps) = %v", ll, err, -math.Log(LogLossEps))
	}
	r, err := EvaluateRegression([]float64{1, 2, 3}, []float64{1, 2, 3})
	if err != nil || r != (Regression{R2: 1}) {
		t.Errorf("perfect regression %+v, %v", r, err)
	}
	// constant y_true on values whose mean is not exact in float64
	r2, err := R2([]float64{0.1, 0.1, 0.1}, []float64{0.1, 0.2, 0.1})
	if err != nil || r2 != 0 {
		t.Errorf("R2 with constant y_true and wrong predictions = %v, %v; want 0", r2, err)
	}
}

func TestSortKeys(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for _, n := range []int{0, 1, 5, radixMin - 1, radixMin, 5000, 100_000} {
		vals := make([]float64, n)
		for i := range vals {
			switch rng.IntN(5) {
			case 0:
				vals[i] = math.Round(rng.NormFloat64() * 3)
			case 1:
				vals[i] = math.Copysign(0, -1)
			case 2:
				vals[i] = rng.Float64()
			case 3:
				vals[i] = -rng.ExpFloat64() * 1e300
			default:
				vals[i] = rng.NormFloat64() * 1e-300
			}
		}
		keys := make([]uint64, n)
		for i, v := range vals {
			keys[i] = key(v)
		}
		sortKeys(keys, make([]uint64, n))
		want := slices.Clone(vals)
		slices.Sort(want)
		for i, k := range keys {
			if got := unkey(k); got != want[i] { // -0 == +0
				t.Fatalf("n=%d: sorted[%d] = %v, want %v", n, i, got, want[i])
			}
		}
	}
}
