package dataset

import (
	"cmp"
	"fmt"
	"github.com/cairnml/cairn/tasks/ml/rng"
	"math"
	"slices"
)

// checkFracs checks 0 < testFrac < 1, 0 <= valFrac < 1 and their sum < 1.
func checkFracs(what string, testFrac, valFrac float64) error {
	if !(testFrac > 0 && testFrac < 1) {
		return fmt.Errorf("dataset: %s: test fraction %v, want (0, 1): %w", what, testFrac, ErrParam)
	}
	if !(valFrac >= 0 && valFrac < 1) {
		return fmt.Errorf("dataset: %s: validation fraction %v, want 0 (none) or (0, 1): %w", what, valFrac, ErrParam)
	}
	if testFrac+valFrac >= 1 {
		return fmt.Errorf("dataset: %s: test %v + validation %v >= 1 leaves no training rows: %w", what, testFrac, valFrac, ErrParam)
	}
	return nil
}

// partSizes returns the test and validation sizes for n rows:
// ceil(frac·n), computed in float64 like scikit-learn's train_test_split
// (sklearn.model_selection._split._validate_shuffle_split: n_test =
// ceil(test_size · n_samples), the train part the rest).
func partSizes(n int, testFrac, valFrac float64) (nTest, nVal int) {
	nTest = int(math.Ceil(testFrac * float64(n)))
	if valFrac > 0 {
		nVal = int(math.Ceil(valFrac * float64(n)))
	}
	return nTest, nVal
}

func tooFew(what string, n, nTest, nVal int, valFrac float64) error {
	if nTest < 1 || nVal < 1 && valFrac > 0 || n-nTest-nVal < 1 {
		return fmt.Errorf("dataset: %s: %d rows give %d train, %d test and %d validation rows; every part needs one: %w",
			what, n, n-nTest-nVal, nTest, nVal, ErrTooFewRows)
	}
	return nil
}

// RandomSplit splits rows 0..n-1 at random into train, test and validation
// parts of sizes n−t−v, t = ceil(testFrac·n) and v = ceil(valFrac·n) (the
// sizes scikit-learn's train_test_split gives)
// (valFrac 0: no validation part, val is nil). Each part is sorted
// ascending. The split depends only on (n, fractions, seed) and is the same
// on every platform and Go release (see the package documentation).
func RandomSplit(n int, testFrac, valFrac float64, seed uint64) (train, test, val []int, err error) {
	if err := checkFracs("RandomSplit", testFrac, valFrac); err != nil {
		return nil, nil, nil, err
	}
	nTest, nVal := partSizes(n, testFrac, valFrac)
	if err := tooFew("RandomSplit", n, nTest, nVal, valFrac); err != nil {
		return nil, nil, nil, err
	}
	perm := make([]int, n)
	for i := range perm {
		perm[i] = i
	}
	newShuffler(seed, 0).Shuffle(perm)
	test, val, train = parts(perm, nTest, nVal, valFrac)
	return train, test, val, nil
}

// parts cuts perm into test, validation and train parts, each sorted.
func parts(perm []int, nTest, nVal int, valFrac float64) (test, val, train []int) {
	test = slices.Clone(perm[:nTest])
	if valFrac > 0 {
		val = slices.Clone(perm[nTest : nTest+nVal])
		slices.Sort(val)
	}
	train = slices.Clone(perm[nTest+nVal:])
	slices.Sort(test)
	slices.Sort(train)
	return test, val, train
}

// StratifiedSplit splits rows by class so that each part keeps the class
// proportions, with scikit-learn's sizes (StratifiedShuffleSplit, which
// train_test_split(stratify=...) uses): the test part has t = ceil(testFrac·n)
// rows, the validation part v = ceil(valFrac·n) (0 without validation) and
// train the other n−t−v. The per-class counts are scikit-learn's
// _approximate_mode: the train counts first (each class's share of n−t−v,
// floored, the rows left over given to the largest fractional remainders),
// then the test counts the same way from the rows each class has left, and
// validation the rest. Ties between equal remainders are broken at random
// from the seed, as scikit-learn breaks them from its random_state, so the
// per-class counts match scikit-learn's exactly when no such tie decides
// them, and the part sizes always.
//
// Like scikit-learn, a class with few rows can be absent from the test or
// validation part (its share rounds down); every part has at least as many
// rows as there are classes. Classes are taken in ascending order of label.
// A class with fewer rows than parts (2, or 3 with validation), or a part
// with fewer rows than classes, is an error (ErrTooFewRows) naming the class
// or the part. Labels may be strings (Column.Value turns any column into
// them) or integers.
func StratifiedSplit[L cmp.Ordered](labels []L, testFrac, valFrac float64, seed uint64) (train, test, val []int, err error) {
	if err := checkFracs("StratifiedSplit", testFrac, valFrac); err != nil {
		return nil, nil, nil, err
	}
	byClass := groupByClass(labels)
	need := 2
	if valFrac > 0 {
		need = 3
	}
	n := len(labels)
	if n == 0 {
		return nil, nil, nil, fmt.Errorf("dataset: StratifiedSplit: no rows: %w", ErrTooFewRows)
	}
	for _, g := range byClass {
		if len(g.rows) < need {
			has := fmt.Sprintf("%d rows", len(g.rows))
			if len(g.rows) == 1 {
				has = "1 row"
			}
			return nil, nil, nil, fmt.Errorf("dataset: StratifiedSplit: class %v has %s, a split into %d parts needs at least %d: %w",
				g.class, has, need, need, ErrTooFewRows)
		}
	}
	nTest, nVal := partSizes(n, testFrac, valFrac)
	nTrain := n - nTest - nVal
	k := len(byClass)
	for _, part := range []struct {
		name string
		size int
		on   bool
	}{{"train", nTrain, true}, {"test", nTest, true}, {"validation", nVal, valFrac > 0}} {
		if part.on && part.size < k {
			return nil, nil, nil, fmt.Errorf("dataset: StratifiedSplit: %d rows give %d %s rows, fewer than the %d classes: %w",
				n, part.size, part.name, k, ErrTooFewRows)
		}
	}
	sh := newShuffler(seed, 0)
	counts := make([]int, k)
	for j, g := range byClass {
		counts[j] = len(g.rows)
	}
	trainCounts := approximateMode(counts, nTrain, sh)
	left := make([]int, k)
	for j := range counts {
		left[j] = counts[j] - trainCounts[j]
	}
	testCounts := approximateMode(left, nTest, sh)
	for j, g := range byClass {
		t, v := testCounts[j], left[j]-testCounts[j]
		sh.Shuffle(g.rows)
		test = append(test, g.rows[:t]...)
		val = append(val, g.rows[t:t+v]...)
		train = append(train, g.rows[t+v:]...)
	}
	slices.Sort(train)
	slices.Sort(test)
	if valFrac > 0 {
		slices.Sort(val)
	} else {
		val = nil
	}
	return train, test, val, nil
}

// approximateMode is scikit-learn's _approximate_mode (sklearn/utils/
// extmath.py; sklearn/utils/__init__.py in 1.2): how many of draws rows to
// take from each class of counts, the approximate mode of the multivariate
// hypergeometric. Each class gets floor(counts[j]/Σcounts·draws) (the same
// float64 operations as numpy), and the draws left over go one each to the
// classes with the largest fractional remainders, a tie among classes with
// equal remainders broken by a random choice from sh (where scikit-learn
// uses rng.choice). The result sums to draws.
func approximateMode(counts []int, draws int, sh *rng.Source) []int {
	total := 0
	for _, c := range counts {
		total += c
	}
	out := make([]int, len(counts))
	rem := make([]float64, len(counts))
	need := draws
	for j, c := range counts {
		cont := float64(c) / float64(total) * float64(draws)
		fl := math.Floor(cont)
		out[j] = int(fl)
		rem[j] = cont - fl
		need -= out[j]
	}
	if need <= 0 {
		return out
	}
	values := slices.Clone(rem)
	slices.Sort(values)
	values = slices.Compact(values)
	for i := len(values) - 1; i >= 0 && need > 0; i-- {
		var inds []int
		for j, r := range rem {
			if r == values[i] {
				inds = append(inds, j)
			}
		}
		if len(inds) > need {
			sh.Shuffle(inds)
			inds = inds[:need]
		}
		for _, j := range inds {
			out[j]++
		}
		need -= len(inds)
	}
	return out
}

type classRows[L cmp.Ordered] struct {
	class L
	rows  []int
}

// groupByClass returns the rows of each class, classes ascending, rows in
// order.
func groupByClass[L cmp.Ordered](labels []L) []classRows[L] {
	idx := map[L]int{}
	var groups []classRows[L]
	for i, l := range labels {
		j, ok := idx[l]
		if !ok {
			j = len(groups)
			idx[l] = j
			groups = append(groups, classRows[L]{class: l})
		}
		groups[j].rows = append(groups[j].rows, i)
	}
	slices.SortFunc(groups, func(a, b classRows[L]) int { return cmp.Compare(a.class, b.class) })
	return groups
}

// TimeSplit splits rows by time: the oldest n−t−v rows train, the next v
// validate and the newest t test, with t and v as in RandomSplit. Equal
// times keep row order (the earlier row is older). Times must not be NaN
// (ErrNonFinite); ±Inf sorts first or last.
func TimeSplit(times []float64, testFrac, valFrac float64) (train, test, val []int, err error) {
	if err := checkFracs("TimeSplit", testFrac, valFrac); err != nil {
		return nil, nil, nil, err
	}
	n := len(times)
	for i, t := range times {
		if math.IsNaN(t) {
			return nil, nil, nil, fmt.Errorf("dataset: TimeSplit: times[%d] is NaN (missing): %w", i, ErrNonFinite)
		}
	}
	nTest, nVal := partSizes(n, testFrac, valFrac)
	if err := tooFew("TimeSplit", n, nTest, nVal, valFrac); err != nil {
		return nil, nil, nil, err
	}
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(times[a], times[b]) })
	nTrain := n - nTest - nVal
	train = slices.Clone(order[:nTrain])
	if valFrac > 0 {
		val = slices.Clone(order[nTrain : nTrain+nVal])
		slices.Sort(val)
	}
	test = slices.Clone(order[nTrain+nVal:])
	slices.Sort(train)
	slices.Sort(test)
	return train, test, val, nil
}

// ClassCount is the number of rows of one class in a part.
type ClassCount[L cmp.Ordered] struct {
	Class L   `json:"class"`
	Count int `json:"count"`
}

// PartBalance is the class balance of one part of a split.
type PartBalance[L cmp.Ordered] struct {
	Rows   int             `json:"rows"`
	Counts []ClassCount[L] `json:"counts"`
}

// ClassBalance counts the rows of each class in each part (a list of row
// indices into labels). Every part lists every class of labels, ascending,
// with zero counts included, so parts line up. An index out of range is an
// error (ErrParam).
func ClassBalance[L cmp.Ordered](labels []L, parts ...[]int) ([]PartBalance[L], error) {
	groups := groupByClass(labels)
	classIdx := make(map[L]int, len(groups))
	for j, g := range groups {
		classIdx[g.class] = j
	}
	out := make([]PartBalance[L], len(parts))
	for p, rows := range parts {
		counts := make([]ClassCount[L], len(groups))
		for j, g := range groups {
			counts[j].Class = g.class
		}
		for _, r := range rows {
			if r < 0 || r >= len(labels) {
				return nil, fmt.Errorf("dataset: ClassBalance: part %d has row %d, want 0..%d: %w", p, r, len(labels)-1, ErrParam)
			}
			counts[classIdx[labels[r]]].Count++
		}
		out[p] = PartBalance[L]{Rows: len(rows), Counts: counts}
	}
	return out, nil
}

// newShuffler returns the random stream of a split: PCG seeded from the
// seed and a stream number through SplitMix64 (package rng), so that a seed
// gives the same split in every Go release.
func newShuffler(seed, stream uint64) *rng.Source {
	s1 := rng.SplitMix64(seed ^ rng.SplitMix64(stream))
	return rng.New(s1, rng.SplitMix64(s1))
}
