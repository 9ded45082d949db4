package model

import (
	"fmt"
	"github.com/cairnml/cairn/tasks/ml/rng"
	"slices"
)

// Fold is one split of cross-validation: row indices to fit on and to
// score on, each ascending.
type Fold struct {
	Train []int `json:"train"`
	Valid []int `json:"valid"`
}

// KFold splits rows 0..n-1 into k folds after a seeded shuffle, like
// scikit-learn's KFold(shuffle=True): the first n mod k folds get one row
// more. Each fold's Valid is one part, its Train the others. It needs
// 2 <= k <= n.
func KFold(n, k int, seed uint64) ([]Fold, error) {
	if k < 2 {
		return nil, fmt.Errorf("model: %d folds, want at least 2: %w", k, ErrSpec)
	}
	if n < k {
		return nil, fmt.Errorf("model: %d rows cannot make %d folds: %w", n, k, ErrData)
	}
	perm := make([]int, n)
	for i := range perm {
		perm[i] = i
	}
	newShuffler(seed).Shuffle(perm)
	of := make([]int, n)
	start := 0
	for f := range k {
		size := n / k
		if f < n%k {
			size++
		}
		for _, r := range perm[start : start+size] {
			of[r] = f
		}
		start += size
	}
	return folds(of, k), nil
}

// StratifiedKFold splits rows by class label y (indices 0..c-1) into k
// folds that keep the class proportions: each class's rows are shuffled
// (seeded, classes in index order, one random stream) and dealt to the
// folds in turn, the deal of each class continuing where the previous
// class's stopped, so fold sizes differ by at most one. Every class must
// have at least k rows, so that every fold holds every class.
func StratifiedKFold(y []int, k int, seed uint64) ([]Fold, error) {
	if k < 2 {
		return nil, fmt.Errorf("model: %d folds, want at least 2: %w", k, ErrSpec)
	}
	if len(y) == 0 {
		return nil, fmt.Errorf("model: no rows to fold: %w", ErrData)
	}
	c := slices.Max(y) + 1
	byClass := make([][]int, c)
	for i, v := range y {
		if v < 0 {
			return nil, fmt.Errorf("model: class index %d: %w", v, ErrData)
		}
		byClass[v] = append(byClass[v], i)
	}
	for cl, rows := range byClass {
		if len(rows) > 0 && len(rows) < k {
			has := fmt.Sprintf("%d rows", len(rows))
			if len(rows) == 1 {
				has = "1 row"
			}
			return nil, fmt.Errorf("model: class %d has %s, fewer than the %d folds: %w", cl, has, k, ErrData)
		}
	}
	s := newShuffler(seed)
	of := make([]int, len(y))
	next := 0
	for _, rows := range byClass {
		s.Shuffle(rows)
		for _, r := range rows {
			of[r] = next
			next = (next + 1) % k
		}
	}
	return folds(of, k), nil
}

func folds(of []int, k int) []Fold {
	out := make([]Fold, k)
	for r, f := range of {
		for g := range out {
			if g == f {
				out[g].Valid = append(out[g].Valid, r)
			} else {
				out[g].Train = append(out[g].Train, r)
			}
		}
	}
	return out
}

// newShuffler returns the random stream of the folds and of Rand: PCG
// seeded from the seed through SplitMix64 (package rng), so a seed gives
// the same folds on every platform and Go release.
func newShuffler(seed uint64) *rng.Source {
	return rng.New(rng.SplitMix64(seed), rng.SplitMix64(seed^0x6b666f6c64))
}

// Rand is a seeded random stream for searches (tune's random search): the
// same seed gives the same draws on every platform and Go release.
type Rand struct{ s *rng.Source }

// NewRand returns the stream of seed.
func NewRand(seed uint64) *Rand { return &Rand{newShuffler(seed ^ 0x7365617263680000)} }

// IntN returns a uniform integer in [0, n); n must be > 0.
func (r *Rand) IntN(n int) int { return int(r.s.Below(uint64(n))) }

// Float64 returns a uniform float64 in [0, 1).
func (r *Rand) Float64() float64 { return r.s.Float64() }
