// Package tree implements CART decision trees and random forests for
// classification and regression, the "decision tree" and "random forest"
// models of Cairn's train task.
//
// Every function is pure and deterministic: no I/O, no clock, no package
// state, and randomness only from an explicit uint64 seed. Bad input (no
// rows, ragged rows, NaN or Inf, a single class, an invalid hyperparameter)
// comes back as an error wrapping one of the sentinels in errors.go.
//
// # Fitting
//
// FitClassifier and FitRegressor grow one tree; FitForestClassifier and
// FitForestRegressor grow a forest. Rows are [][]float64 (n × p); class
// labels are indices 0..k-1 with k = max(y)+1. The zero Params is
// scikit-learn's default tree and the zero ForestParams its default forest
// (100 trees, bootstrap, max_features "sqrt" for classification and all
// features for regression).
//
// The algorithm is scikit-learn's (best splitter, depth first):
//
//   - A node is a leaf when it is pure (one class with weight, or one target
//     value), at MaxDepth, has fewer than MinSamplesSplit rows or fewer than
//     2·MinSamplesLeaf, or when every candidate feature is constant in it.
//     Sample counts are distinct rows; a bootstrap sample is a weight per row
//     (its draw count times its class weight), as in scikit-learn.
//   - Candidate thresholds are the midpoints a/2 + c/2 between consecutive
//     distinct values of a feature in the node (a when rounding reaches c);
//     rows with x <= threshold go left. Values are distinct when they differ
//     at all (scikit-learn ignores gaps below 1e-7).
//   - The split maximises the weighted impurity decrease (Gini, entropy or
//     squared error), and every split that keeps MinSamplesLeaf rows on each
//     side is allowed, even one that decreases nothing, as in scikit-learn.
//
// # Tie-breaking
//
// When every feature is a candidate (a tree's default), features are
// searched in index order; otherwise each node draws them by a partial
// Fisher–Yates shuffle from the tree's PCG stream, and keeps drawing past
// MaxFeatures while the drawn features are constant in the node. Among
// splits of equal proxy gain the first one found wins: the earliest feature
// in search order, then the smallest threshold. (scikit-learn shuffles the
// features even when it uses them all, so its tree depends on random_state
// through ties; ours does not.) Predict picks the lowest class index among
// equal probabilities.
//
// # Forests and determinism
//
// Tree i of a forest draws its bootstrap sample (n draws of IntN(n)) and its
// features from rand.New(rand.NewPCG(s1, s2)) with (s1, s2) derived by
// SplitMix64 from (Seed, i). Trees are built in parallel by at most Workers
// goroutines, each into its own slot, and predictions sum the trees in index
// order, so a fit is bit-identical for the same data, parameters, seed and
// Go release, whatever Workers or GOMAXPROCS. Tree and Forest are plain
// exported structs (nodes in an array); encoding/json output is
// byte-identical for identical fits and round-trips exactly.
//
// # Accuracy
//
// testdata/golden.json holds fixed stratified 80/20 splits of the iris, wine
// and breast cancer sets and scikit-learn's test accuracies on them; the
// tests fit on the same rows and require the same accuracy within 3 points
// (see testdata/README.md for how it is compared).
package tree
