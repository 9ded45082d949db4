package tree

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
)

// ForestParams are the hyperparameters of a random forest.
type ForestParams struct {
	// Tree holds each tree's parameters. Its zero MaxFeatures means "sqrt"
	// for classification and every feature for regression (scikit-learn's
	// defaults); its Seed is ignored.
	Tree Params `json:"tree"`
	// NEstimators is the number of trees: 0 means 100; otherwise >= 1.
	NEstimators int `json:"n_estimators,omitempty"`
	// NoBootstrap fits every tree on every training row (weight 1) instead
	// of a bootstrap sample of n rows drawn with replacement.
	NoBootstrap bool `json:"no_bootstrap,omitempty"`
	// Seed determines the forest: tree i draws its bootstrap sample and its
	// features from PCG seeded with seedPair(Seed, i) (SplitMix64 of Seed
	// and i), so the result depends on neither Workers nor GOMAXPROCS.
	Seed uint64 `json:"seed"`
	// Workers bounds how many trees are built at once: 0 means GOMAXPROCS,
	// 1 builds them in order on the calling goroutine. It never changes
	// the result, so it is not serialised.
	Workers int `json:"-"`
}

// Forest is a fitted random forest: its trees in index order.
type Forest struct {
	Task      Task    `json:"task"`
	NFeatures int     `json:"n_features"`
	NClasses  int     `json:"n_classes,omitempty"`
	Trees     []*Tree `json:"trees"`
}

func (fp ForestParams) resolve(classify bool, nFeatures int) (resolved, int, error) {
	n := fp.NEstimators
	if n < 0 {
		return resolved{}, 0, paramErr("n_estimators %d, want >= 1 (or 0 for 100)", n)
	}
	if n == 0 {
		n = 100
	}
	if fp.Workers < 0 {
		return resolved{}, 0, paramErr("workers %d, want >= 1 (or 0 for GOMAXPROCS)", fp.Workers)
	}
	tp := fp.Tree
	if tp.MaxFeatures.isZero() && classify {
		tp.MaxFeatures.Rule = "sqrt"
	}
	r, err := tp.resolve(classify, nFeatures)
	return r, n, err
}

// FitForestClassifier fits a classification forest to rows X and labels y
// (as FitClassifier). Class weights are computed once on y (scikit-learn's
// class_weight="balanced", not "balanced_subsample") and multiplied by each
// row's bootstrap count.
func FitForestClassifier(X [][]float64, y []int, fp ForestParams) (*Forest, error) {
	d, err := newData("fit forest classifier", X, true, y, nil)
	if err != nil {
		return nil, err
	}
	r, n, err := fp.resolve(true, d.p)
	if err != nil {
		return nil, err
	}
	cw, err := fp.Tree.ClassWeight.classWeights(y, d.k)
	if err != nil {
		return nil, err
	}
	return fitForest(d, r, n, fp, rowWeights(y, cw)), nil
}

// FitForestRegressor fits a regression forest to rows X and targets y (as
// FitRegressor); a tree's prediction is its leaf mean, the forest's the
// mean over trees.
func FitForestRegressor(X [][]float64, y []float64, fp ForestParams) (*Forest, error) {
	d, err := newData("fit forest regressor", X, false, nil, y)
	if err != nil {
		return nil, err
	}
	r, n, err := fp.resolve(false, d.p)
	if err != nil {
		return nil, err
	}
	return fitForest(d, r, n, fp, nil), nil
}

func fitForest(d *data, r resolved, nTrees int, fp ForestParams, cw []float64) *Forest {
	f := &Forest{Task: Regression, NFeatures: d.p, Trees: make([]*Tree, nTrees)}
	if d.yc != nil {
		f.Task, f.NClasses = Classification, d.k
	}
	fitTree := func(t int) {
		rng := rand.New(rand.NewPCG(seedPair(fp.Seed, uint64(t))))
		w := make([]float64, d.n)
		if fp.NoBootstrap {
			for i := range w {
				w[i] = 1
			}
		} else {
			for range d.n {
				w[rng.IntN(d.n)]++
			}
		}
		samples := make([]int32, 0, d.n)
		for i := range w {
			if w[i] == 0 {
				continue
			}
			if cw != nil {
				w[i] *= cw[i]
			}
			samples = append(samples, int32(i))
		}
		f.Trees[t] = newBuilder(d, r, rng).fit(samples, w)
	}
	workers := fp.Workers
	if workers == 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = min(workers, nTrees)
	if workers <= 1 {
		for t := range nTrees {
			fitTree(t)
		}
		return f
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				t := int(next.Add(1) - 1)
				if t >= nTrees {
					return
				}
				fitTree(t)
			}
		})
	}
	wg.Wait()
	return f
}

func (f *Forest) check(what string, task Task, X [][]float64) error {
	if f.Task != task {
		return fmt.Errorf("tree: %s on a %s forest: %w", what, f.Task, ErrTask)
	}
	_, err := checkX(what, X, f.NFeatures)
	return err
}

// PredictProba returns, for each row of X, the mean over the trees (summed
// in tree order, then divided by the number of trees) of the trees' class
// fractions, as scikit-learn's RandomForestClassifier.predict_proba.
func (f *Forest) PredictProba(X [][]float64) ([][]float64, error) {
	if err := f.check("predict proba", Classification, X); err != nil {
		return nil, err
	}
	return f.proba(X), nil
}

func (f *Forest) proba(X [][]float64) [][]float64 {
	k := f.NClasses
	out := make([][]float64, len(X))
	flat := make([]float64, len(X)*k)
	nt := float64(len(f.Trees))
	for i, x := range X {
		row := flat[i*k : (i+1)*k : (i+1)*k]
		for _, t := range f.Trees {
			for c, v := range t.leaf(x).Value {
				row[c] += v
			}
		}
		for c := range row {
			row[c] /= nt
		}
		out[i] = row
	}
	return out
}

// Predict returns the class of highest mean probability for each row of X
// (the lowest class index on a tie).
func (f *Forest) Predict(X [][]float64) ([]int, error) {
	if err := f.check("predict", Classification, X); err != nil {
		return nil, err
	}
	out := make([]int, len(X))
	for i, p := range f.proba(X) {
		out[i] = argmax(p)
	}
	return out, nil
}

// PredictValue returns the mean over the trees (summed in tree order) of
// the trees' predictions for each row of X.
func (f *Forest) PredictValue(X [][]float64) ([]float64, error) {
	if err := f.check("predict value", Regression, X); err != nil {
		return nil, err
	}
	out := make([]float64, len(X))
	nt := float64(len(f.Trees))
	for i, x := range X {
		s := 0.0
		for _, t := range f.Trees {
			s += t.leaf(x).Value[0]
		}
		out[i] = s / nt
	}
	return out, nil
}
