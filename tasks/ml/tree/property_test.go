package tree

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// randomClassification draws n rows of p features rounded to one decimal
// (many ties) and k classes loosely tied to the first feature.
func randomClassification(seed uint64, n, p, k int) ([][]float64, []int) {
	rng := rand.New(rand.NewPCG(seed, 99))
	X := make([][]float64, n)
	y := make([]int, n)
	for i := range X {
		X[i] = make([]float64, p)
		for j := range X[i] {
			X[i][j] = math.Round(10*rng.NormFloat64()) / 10
		}
		y[i] = int(math.Abs(X[i][0]+rng.NormFloat64())*float64(k)/3) % k
	}
	y[0], y[1] = 0, 1
	return X, y
}

// checkInvariants checks what every fitted tree must satisfy: children
// after parents, thresholds strictly inside the node's range, pure nodes are
// leaves, child counts add up.
func checkInvariants(t *testing.T, tr *Tree) {
	t.Helper()
	for i, n := range tr.Nodes {
		if n.IsLeaf() {
			if n.Left != -1 || n.Right != -1 {
				t.Fatalf("leaf %d has children", i)
			}
			continue
		}
		if n.Left <= i || n.Right <= i {
			t.Fatalf("node %d: children %d %d not after it", i, n.Left, n.Right)
		}
		l, r := tr.Nodes[n.Left], tr.Nodes[n.Right]
		if l.Samples+r.Samples != n.Samples || l.Samples == 0 || r.Samples == 0 {
			t.Fatalf("node %d: %d samples split into %d and %d", i, n.Samples, l.Samples, r.Samples)
		}
		if tr.Task == Classification {
			pure := 0
			for _, v := range n.Value {
				if v > 0 {
					pure++
				}
			}
			if pure <= 1 {
				t.Fatalf("pure node %d was split", i)
			}
		}
	}
}

func TestPropertyPureNodeNeverSplits(t *testing.T) {
	for seed := range uint64(20) {
		X, y := randomClassification(seed, 150, 4, 3)
		tr, err := FitClassifier(X, y, Params{})
		if err != nil {
			t.Fatal(err)
		}
		checkInvariants(t, tr)
		// Every leaf of an unlimited tree is pure unless its rows cannot be
		// separated (identical feature vectors).
		for _, n := range tr.Nodes {
			if n.IsLeaf() && n.Impurity > 0 && n.Samples < 2 {
				t.Fatalf("seed %d: impure single-sample leaf", seed)
			}
		}
	}
}

func TestPropertyDepthLimit(t *testing.T) {
	X, y := randomClassification(1, 300, 5, 4)
	for depth := 1; depth <= 6; depth++ {
		tr, err := FitClassifier(X, y, Params{MaxDepth: depth})
		if err != nil {
			t.Fatal(err)
		}
		if d := tr.Depth(); d > depth {
			t.Fatalf("max_depth %d: depth %d", depth, d)
		}
		checkInvariants(t, tr)
		f, err := FitForestClassifier(X, y, ForestParams{NEstimators: 5, Tree: Params{MaxDepth: depth}, Seed: 3})
		if err != nil {
			t.Fatal(err)
		}
		for _, tr := range f.Trees {
			if d := tr.Depth(); d > depth {
				t.Fatalf("forest max_depth %d: depth %d", depth, d)
			}
			checkInvariants(t, tr)
		}
	}
}

func TestPropertyMinSamples(t *testing.T) {
	X, y := randomClassification(2, 300, 5, 3)
	for _, leaf := range []int{1, 3, 10} {
		for _, split := range []int{2, 7, 40} {
			tr, err := FitClassifier(X, y, Params{MinSamplesLeaf: leaf, MinSamplesSplit: split})
			if err != nil {
				t.Fatal(err)
			}
			for i, n := range tr.Nodes {
				if n.Samples < leaf {
					t.Fatalf("leaf %d split %d: node %d has %d samples", leaf, split, i, n.Samples)
				}
				if !n.IsLeaf() && n.Samples < split {
					t.Fatalf("leaf %d split %d: node %d split with %d samples", leaf, split, i, n.Samples)
				}
			}
		}
	}
}

// distinctRows draws rows that are pairwise distinct (continuous values).
func distinctRows(seed uint64, n, p int) [][]float64 {
	rng := rand.New(rand.NewPCG(seed, 7))
	X := make([][]float64, n)
	for i := range X {
		X[i] = make([]float64, p)
		for j := range X[i] {
			X[i][j] = rng.NormFloat64()
		}
	}
	return X
}

func TestPropertyTrainingPointsExact(t *testing.T) {
	for seed := range uint64(10) {
		X := distinctRows(seed, 200, 3)
		rng := rand.New(rand.NewPCG(seed, 8))
		yc := make([]int, len(X))
		yr := make([]float64, len(X))
		for i := range X {
			yc[i] = rng.IntN(4)
			yr[i] = rng.NormFloat64()
		}
		for _, crit := range []Criterion{Gini, Entropy} {
			tr, err := FitClassifier(X, yc, Params{Criterion: crit})
			if err != nil {
				t.Fatal(err)
			}
			checkInvariants(t, tr)
			p, _ := tr.Predict(X)
			if !slices.Equal(p, yc) {
				t.Fatalf("seed %d %s: training predictions are not exact", seed, crit)
			}
			probs, _ := tr.PredictProba(X)
			for i, row := range probs {
				if row[yc[i]] != 1 {
					t.Fatalf("seed %d %s: proba %v for class %d", seed, crit, row, yc[i])
				}
			}
		}
		rt, err := FitRegressor(X, yr, Params{})
		if err != nil {
			t.Fatal(err)
		}
		checkInvariants(t, rt)
		p, _ := rt.PredictValue(X)
		if !slices.Equal(p, yr) {
			t.Fatalf("seed %d: regression training predictions are not exact", seed)
		}
	}
}

func TestPropertyProbaRows(t *testing.T) {
	X, y := randomClassification(4, 200, 4, 3)
	f, err := FitForestClassifier(X, y, ForestParams{NEstimators: 20, Seed: 1, Tree: Params{ClassWeight: ClassWeight{Balanced: true}}})
	if err != nil {
		t.Fatal(err)
	}
	probs, _ := f.PredictProba(X)
	pred, _ := f.Predict(X)
	for i, row := range probs {
		s := 0.0
		for _, v := range row {
			if v < 0 || v > 1 {
				t.Fatalf("row %d: %v", i, row)
			}
			s += v
		}
		if math.Abs(s-1) > 1e-12 || pred[i] != argmax(row) {
			t.Fatalf("row %d: %v sums to %v, predicted %d", i, row, s, pred[i])
		}
	}
}
