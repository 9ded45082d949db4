package tree

import (
	"math"
)

// Criterion is the impurity a split minimises.
type Criterion string

const (
	// Gini is the Gini impurity 1 - Σ p_k² (classification; the default).
	Gini Criterion = "gini"
	// Entropy is the Shannon entropy -Σ p_k log2 p_k (classification).
	Entropy Criterion = "entropy"
	// SquaredError is the weighted variance of the targets (regression; the
	// only regression criterion and its default).
	SquaredError Criterion = "squared_error"
)

// MaxFeatures says how many features each split looks at, chosen at random
// without replacement (scikit-learn's max_features). At most one field may
// be set; the zero value means the default: every feature for a tree and a
// regression forest, "sqrt" for a classification forest. As in scikit-learn,
// the search goes on past the limit while the features drawn so far are all
// constant in the node.
type MaxFeatures struct {
	// Rule is "" (unset), "all", "sqrt" (max(1, ⌊√p⌋)) or "log2"
	// (max(1, ⌊log2 p⌋)).
	Rule string `json:"rule,omitempty"`
	// Count, if > 0, is the number of features, at most p.
	Count int `json:"count,omitempty"`
	// Fraction, if > 0, is a share of the features in (0, 1]:
	// max(1, ⌊Fraction·p⌋).
	Fraction float64 `json:"fraction,omitempty"`
}

func (m MaxFeatures) isZero() bool { return m == MaxFeatures{} }

func (m MaxFeatures) validate() error {
	set := 0
	if m.Rule != "" {
		set++
		switch m.Rule {
		case "all", "sqrt", "log2":
		default:
			return paramErr("max_features rule %q, want all, sqrt or log2", m.Rule)
		}
	}
	if m.Count != 0 {
		set++
		if m.Count < 1 {
			return paramErr("max_features count %d, want >= 1", m.Count)
		}
	}
	if m.Fraction != 0 {
		set++
		if !(m.Fraction > 0 && m.Fraction <= 1) {
			return paramErr("max_features fraction %v, want (0, 1]", m.Fraction)
		}
	}
	if set > 1 {
		return paramErr("max_features sets more than one of rule, count and fraction")
	}
	return nil
}

// resolve returns the number of features per split out of p.
func (m MaxFeatures) resolve(p int) (int, error) {
	switch {
	case m.Count > 0:
		if m.Count > p {
			return 0, paramErr("max_features count %d > %d features", m.Count, p)
		}
		return m.Count, nil
	case m.Fraction > 0:
		return max(1, int(m.Fraction*float64(p))), nil
	case m.Rule == "sqrt":
		return max(1, int(math.Sqrt(float64(p)))), nil
	case m.Rule == "log2":
		return max(1, int(math.Log2(float64(p)))), nil
	}
	return p, nil
}

// ClassWeight weights the samples of each class (classification only).
// The zero value weights every sample 1.
type ClassWeight struct {
	// Balanced weights class c by n / (k · n_c) over the training labels
	// (scikit-learn's "balanced"; k counts the classes present).
	Balanced bool `json:"balanced,omitempty"`
	// Weights, if set, holds one finite weight > 0 per class index 0..k-1.
	Weights []float64 `json:"weights,omitempty"`
}

// Params are the hyperparameters of one tree. The zero value is
// scikit-learn's default tree: Gini (or squared error), unlimited depth,
// min_samples_split 2, min_samples_leaf 1, every feature.
type Params struct {
	// Criterion: "" means Gini for classification, SquaredError for regression.
	Criterion Criterion `json:"criterion,omitempty"`
	// MaxDepth: 0 means unlimited; otherwise >= 1 (the root has depth 0).
	MaxDepth int `json:"max_depth,omitempty"`
	// MinSamplesSplit: 0 means 2; otherwise >= 1. A node with fewer samples
	// is a leaf.
	MinSamplesSplit int `json:"min_samples_split,omitempty"`
	// MinSamplesLeaf: 0 means 1; otherwise >= 1. Each child of a split keeps
	// at least this many samples.
	MinSamplesLeaf int `json:"min_samples_leaf,omitempty"`
	// MaxFeatures: see MaxFeatures.
	MaxFeatures MaxFeatures `json:"max_features,omitzero"`
	// ClassWeight: see ClassWeight. Regression rejects a non-zero value.
	ClassWeight ClassWeight `json:"class_weight,omitzero"`
	// Seed seeds the feature draws when MaxFeatures is below the number of
	// features (a forest ignores it and seeds each tree itself).
	Seed uint64 `json:"seed,omitempty"`
}

// resolved holds the validated, defaulted parameters of one fit.
type resolved struct {
	crit        Criterion
	maxDepth    int // math.MaxInt when unlimited
	minSplit    int
	minLeaf     int
	maxFeatures int
}

func (p Params) resolve(classify bool, nFeatures int) (resolved, error) {
	r := resolved{crit: p.Criterion, maxDepth: p.MaxDepth, minSplit: p.MinSamplesSplit, minLeaf: p.MinSamplesLeaf}
	switch {
	case r.crit == "" && classify:
		r.crit = Gini
	case r.crit == "":
		r.crit = SquaredError
	case classify && r.crit != Gini && r.crit != Entropy:
		return r, paramErr("criterion %q for classification, want gini or entropy", r.crit)
	case !classify && r.crit != SquaredError:
		return r, paramErr("criterion %q for regression, want squared_error", r.crit)
	}
	if r.maxDepth < 0 {
		return r, paramErr("max_depth %d, want >= 1 (or 0 for unlimited)", r.maxDepth)
	}
	if r.maxDepth == 0 {
		r.maxDepth = math.MaxInt
	}
	if r.minSplit < 0 {
		return r, paramErr("min_samples_split %d, want >= 1", r.minSplit)
	}
	if r.minSplit == 0 {
		r.minSplit = 2
	}
	if r.minLeaf < 0 {
		return r, paramErr("min_samples_leaf %d, want >= 1", r.minLeaf)
	}
	if r.minLeaf == 0 {
		r.minLeaf = 1
	}
	if err := p.MaxFeatures.validate(); err != nil {
		return r, err
	}
	mf, err := p.MaxFeatures.resolve(nFeatures)
	if err != nil {
		return r, err
	}
	r.maxFeatures = mf
	cw := p.ClassWeight
	if !classify && (cw.Balanced || cw.Weights != nil) {
		return r, paramErr("class_weight is for classification only")
	}
	if cw.Balanced && cw.Weights != nil {
		return r, paramErr("class_weight sets both balanced and weights")
	}
	for c, w := range cw.Weights {
		if !(w > 0) || math.IsInf(w, 0) {
			return r, paramErr("class_weight[%d] = %v, want finite > 0", c, w)
		}
	}
	return r, nil
}

// classWeights returns one weight per class for labels y of k classes.
func (cw ClassWeight) classWeights(y []int, k int) ([]float64, error) {
	w := make([]float64, k)
	switch {
	case cw.Weights != nil:
		if len(cw.Weights) != k {
			return nil, paramErr("class_weight has %d weights for %d classes", len(cw.Weights), k)
		}
		copy(w, cw.Weights)
	case cw.Balanced:
		counts := make([]int, k)
		for _, c := range y {
			counts[c]++
		}
		present := 0
		for _, n := range counts {
			if n > 0 {
				present++
			}
		}
		for c, n := range counts {
			w[c] = 1
			if n > 0 {
				w[c] = float64(len(y)) / (float64(present) * float64(n))
			}
		}
	default:
		for c := range w {
			w[c] = 1
		}
	}
	return w, nil
}
