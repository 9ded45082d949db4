package drift

import (
	"fmt"
	"math"
	"sort"
)

// Defaults of the population stability index.
const (
	// DefaultBins is the number of quantile bins of a numeric feature.
	DefaultBins = 10
	// DefaultEpsilon is the floor of a bin's fraction, so that an empty
	// bin does not make the index infinite.
	DefaultEpsilon = 1e-4
)

// PSIResult is the population stability index of a numeric feature with
// the bins it used.
type PSIResult struct {
	// PSI is Σ (c_i - r_i) ln(c_i / r_i) over the bins, r_i and c_i the
	// reference's and the current sample's fractions floored at epsilon.
	PSI float64
	// Edges are the inner bin edges, increasing: bin 0 holds the values
	// up to Edges[0], bin i the values in (Edges[i-1], Edges[i]], the last
	// bin the values above the last edge. len(Edges)+1 bins.
	Edges []float64
	// RefCounts and CurCounts are the numbers of values in each bin.
	RefCounts, CurCounts []int
}

// PSI computes the population stability index of cur against ref over
// quantile bins of ref:
//
//   - NaN and ±Inf are dropped from both samples (missing);
//   - the inner edges are ref's quantiles at 1/bins, 2/bins, …,
//     (bins-1)/bins, linearly interpolated between order statistics
//     (numpy.quantile's default "linear" method, Hyndman and Fan's type 7),
//     with duplicate edges removed — a reference with many ties has fewer
//     bins, a constant one two;
//   - a value v falls in bin i when Edges[i-1] < v <= Edges[i] (the
//     first bin is open below, the last above, so every current value has
//     a bin);
//   - each sample's fraction in a bin is floored at eps (an empty bin
//     counts as eps; fractions are not renormalised);
//   - PSI = Σ_i (cur_i - ref_i) · ln(cur_i / ref_i).
//
// bins must be at least 2 and eps in (0, 1); an empty sample (after
// dropping) is an error wrapping ErrEmpty. testdata/gen_golden.py writes
// the same definition in numpy.
func PSI(ref, cur []float64, bins int, eps float64) (PSIResult, error) {
	if err := checkPSIOptions(bins, eps); err != nil {
		return PSIResult{}, err
	}
	x, y := finiteSorted(ref), finiteSorted(cur)
	if len(x) == 0 || len(y) == 0 {
		return PSIResult{}, fmt.Errorf("drift: psi: %d finite reference and %d finite current values: %w", len(x), len(y), ErrEmpty)
	}
	edges := make([]float64, 0, bins-1)
	for i := 1; i < bins; i++ {
		e := quantileLinear(x, float64(i)/float64(bins))
		if len(edges) == 0 || e != edges[len(edges)-1] {
			edges = append(edges, e)
		}
	}
	res := PSIResult{Edges: edges, RefCounts: binCounts(x, edges), CurCounts: binCounts(y, edges)}
	res.PSI = psiCounts(res.RefCounts, res.CurCounts, len(x), len(y), eps)
	return res, nil
}

func checkPSIOptions(bins int, eps float64) error {
	if bins < 2 {
		return fmt.Errorf("drift: psi: %d bins, want at least 2: %w", bins, ErrOptions)
	}
	if !(eps > 0 && eps < 1) {
		return fmt.Errorf("drift: psi: epsilon %g, want it in (0, 1): %w", eps, ErrOptions)
	}
	return nil
}

// quantileLinear is numpy.quantile(x, q) (method "linear") of sorted x,
// with numpy's arithmetic: h = (n-1)q, then a + (b-a)t, or b - (b-a)(1-t)
// when t >= 0.5.
func quantileLinear(x []float64, q float64) float64 {
	n := len(x)
	h := float64(n-1) * q
	if h >= float64(n-1) {
		return x[n-1]
	}
	lo := math.Floor(h)
	a, b := x[int(lo)], x[int(lo)+1]
	t := h - lo
	d := b - a
	if t >= 0.5 {
		return b - d*(1-t)
	}
	return a + d*t
}

// binCounts counts sorted values per bin: bin i holds Edges[i-1] < v <= Edges[i].
func binCounts(sorted, edges []float64) []int {
	counts := make([]int, len(edges)+1)
	for _, v := range sorted {
		counts[sort.SearchFloat64s(edges, v)]++
	}
	return counts
}

// psiCounts is the index of two count vectors over the same bins.
func psiCounts(ref, cur []int, nRef, nCur int, eps float64) float64 {
	psi := 0.0
	for i := range ref {
		r := max(float64(ref[i])/float64(nRef), eps)
		c := max(float64(cur[i])/float64(nCur), eps)
		psi += (c - r) * math.Log(c/r)
	}
	return psi
}
