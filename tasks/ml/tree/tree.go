package tree

import (
	"fmt"
	"github.com/cairnml/cairn/tasks/ml/rng"
	"math/rand/v2"
)

// Task says what a model predicts.
type Task string

const (
	// Classification models predict class indices 0..k-1 and probabilities.
	Classification Task = "classification"
	// Regression models predict real values.
	Regression Task = "regression"
)

// Node is one node of a fitted tree. An internal node sends a row x to
// Left if x[Feature] <= Threshold and to Right otherwise; a leaf has
// Feature, Left and Right -1.
type Node struct {
	Feature   int     `json:"feature"`
	Threshold float64 `json:"threshold"`
	Left      int     `json:"left"`
	Right     int     `json:"right"`
	// Value is, for classification, the weighted class fractions of the
	// node's training samples (k entries summing to 1); for regression, one
	// entry: their weighted mean.
	Value []float64 `json:"value"`
	// Samples is the number of distinct training rows in the node, Weight
	// their total sample weight (class weight times bootstrap count).
	Samples int     `json:"samples"`
	Weight  float64 `json:"weight"`
	// Impurity is the node's Gini, entropy (bits) or weighted variance.
	Impurity float64 `json:"impurity"`
}

// IsLeaf reports whether the node is a leaf.
func (n *Node) IsLeaf() bool { return n.Feature < 0 }

// Tree is a fitted CART tree: its nodes in depth-first order, root first,
// each left subtree before its right subtree. It holds no unexported state,
// so encoding/json round-trips it exactly.
type Tree struct {
	Task      Task   `json:"task"`
	NFeatures int    `json:"n_features"`
	NClasses  int    `json:"n_classes,omitempty"`
	Nodes     []Node `json:"nodes"`
}

// FitClassifier fits a classification tree to rows X (n × p, finite) and
// class labels y in 0..k-1, where k = max(y)+1; at least two distinct labels
// must occur.
func FitClassifier(X [][]float64, y []int, p Params) (*Tree, error) {
	d, err := newData("fit classifier", X, true, y, nil)
	if err != nil {
		return nil, err
	}
	r, err := p.resolve(true, d.p)
	if err != nil {
		return nil, err
	}
	cw, err := p.ClassWeight.classWeights(y, d.k)
	if err != nil {
		return nil, err
	}
	return fitOne(d, r, rowWeights(y, cw), rand.New(rand.NewPCG(seedPair(p.Seed, 0)))), nil
}

// FitRegressor fits a regression tree (squared error) to rows X (n × p,
// finite) and finite targets y.
func FitRegressor(X [][]float64, y []float64, p Params) (*Tree, error) {
	d, err := newData("fit regressor", X, false, nil, y)
	if err != nil {
		return nil, err
	}
	r, err := p.resolve(false, d.p)
	if err != nil {
		return nil, err
	}
	return fitOne(d, r, nil, rand.New(rand.NewPCG(seedPair(p.Seed, 0)))), nil
}

// fitOne fits a tree on every row with weights w (nil: all 1).
func fitOne(d *data, r resolved, w []float64, rng *rand.Rand) *Tree {
	if w == nil {
		w = make([]float64, d.n)
		for i := range w {
			w[i] = 1
		}
	}
	samples := make([]int32, d.n)
	for i := range samples {
		samples[i] = int32(i)
	}
	return newBuilder(d, r, rng).fit(samples, w)
}

// rowWeights returns each row's class weight.
func rowWeights(y []int, cw []float64) []float64 {
	w := make([]float64, len(y))
	for i, c := range y {
		w[i] = cw[c]
	}
	return w
}

func (t *Tree) leaf(x []float64) *Node {
	n := &t.Nodes[0]
	for n.Feature >= 0 {
		if x[n.Feature] <= n.Threshold {
			n = &t.Nodes[n.Left]
		} else {
			n = &t.Nodes[n.Right]
		}
	}
	return n
}

func (t *Tree) check(what string, task Task, X [][]float64) error {
	if t.Task != task {
		return fmt.Errorf("tree: %s on a %s tree: %w", what, t.Task, ErrTask)
	}
	_, err := checkX(what, X, t.NFeatures)
	return err
}

// PredictProba returns, for each row of X, the class fractions of the leaf
// it falls in (weighted by class weight; k entries summing to 1).
func (t *Tree) PredictProba(X [][]float64) ([][]float64, error) {
	if err := t.check("predict proba", Classification, X); err != nil {
		return nil, err
	}
	out := make([][]float64, len(X))
	flat := make([]float64, len(X)*t.NClasses)
	for i, x := range X {
		out[i] = flat[i*t.NClasses : (i+1)*t.NClasses : (i+1)*t.NClasses]
		copy(out[i], t.leaf(x).Value)
	}
	return out, nil
}

// Predict returns the most probable class of each row of X (the lowest
// class index on a tie).
func (t *Tree) Predict(X [][]float64) ([]int, error) {
	if err := t.check("predict", Classification, X); err != nil {
		return nil, err
	}
	out := make([]int, len(X))
	for i, x := range X {
		out[i] = argmax(t.leaf(x).Value)
	}
	return out, nil
}

// PredictValue returns the regression prediction of each row of X: the
// mean target of its leaf.
func (t *Tree) PredictValue(X [][]float64) ([]float64, error) {
	if err := t.check("predict value", Regression, X); err != nil {
		return nil, err
	}
	out := make([]float64, len(X))
	for i, x := range X {
		out[i] = t.leaf(x).Value[0]
	}
	return out, nil
}

// Depth returns the depth of the tree (0 for a single leaf).
func (t *Tree) Depth() int {
	var depth func(i, d int) int
	depth = func(i, d int) int {
		n := &t.Nodes[i]
		if n.IsLeaf() {
			return d
		}
		return max(depth(n.Left, d+1), depth(n.Right, d+1))
	}
	return depth(0, 0)
}

// Leaves returns the number of leaves.
func (t *Tree) Leaves() int {
	c := 0
	for i := range t.Nodes {
		if t.Nodes[i].IsLeaf() {
			c++
		}
	}
	return c
}

func argmax(v []float64) int {
	best := 0
	for c, x := range v {
		if x > v[best] {
			best = c
		}
	}
	return best
}

// seedPair derives the two PCG seeds of stream i (a tree index) from seed.
func seedPair(seed, i uint64) (uint64, uint64) {
	s1 := rng.SplitMix64(seed ^ rng.SplitMix64(i))
	return s1, rng.SplitMix64(s1)
}
