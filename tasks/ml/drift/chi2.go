package drift

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/stat/distuv"
)

// ChiSquaredResult is Pearson's chi-squared test of homogeneity of two
// samples of categories.
type ChiSquaredResult struct {
	// Statistic is Σ (observed - expected)² / expected over the 2×k table,
	// with Yates' correction when k = 2.
	Statistic float64
	// PValue is the chi-squared survival function at Statistic with DOF
	// degrees of freedom; 1 when DOF is 0.
	PValue float64
	// DOF is k-1, k the number of categories.
	DOF int
}

// ChiSquared tests whether ref and cur, the counts of the same k
// categories in two samples (ref[i] and cur[i] the counts of category i),
// come from one distribution, as scipy.stats.chi2_contingency([ref, cur])
// does with its defaults: expected counts row total × column total / total;
// with one degree of freedom (k = 2) Yates' continuity correction moves
// each observed count towards its expected one by at most 0.5
// (scipy's correction=True); with k = 1 the statistic is 0 and the p-value 1.
//
// Every category must have a positive count in at least one sample (a
// category seen in neither has no expected count: leave it out), counts
// must not be negative, and each sample must have a positive total; errors
// wrap ErrEmpty or ErrOptions.
func ChiSquared(ref, cur []int) (ChiSquaredResult, error) {
	k := len(ref)
	if k != len(cur) {
		return ChiSquaredResult{}, fmt.Errorf("drift: chi-squared: %d reference and %d current categories: %w", len(ref), len(cur), ErrOptions)
	}
	var rowR, rowC float64
	cols := make([]float64, k)
	for i := range k {
		if ref[i] < 0 || cur[i] < 0 {
			return ChiSquaredResult{}, fmt.Errorf("drift: chi-squared: category %d has a negative count: %w", i, ErrOptions)
		}
		if ref[i] == 0 && cur[i] == 0 {
			return ChiSquaredResult{}, fmt.Errorf("drift: chi-squared: category %d has no value in either sample: %w", i, ErrOptions)
		}
		rowR += float64(ref[i])
		rowC += float64(cur[i])
		cols[i] = float64(ref[i] + cur[i])
	}
	if rowR == 0 || rowC == 0 {
		return ChiSquaredResult{}, fmt.Errorf("drift: chi-squared: %g reference and %g current values: %w", rowR, rowC, ErrEmpty)
	}
	dof := k - 1
	if dof == 0 {
		return ChiSquaredResult{Statistic: 0, PValue: 1, DOF: 0}, nil
	}
	total := rowR + rowC
	terms := make([]float64, 0, 2*k)
	for r, row := range [2][]int{ref, cur} {
		rowSum := rowR
		if r == 1 {
			rowSum = rowC
		}
		for i, o := range row {
			obs := float64(o)
			exp := rowSum * cols[i] / total
			if dof == 1 { // Yates
				diff := exp - obs
				obs += min(0.5, math.Abs(diff)) * sign(diff)
			}
			d := obs - exp
			terms = append(terms, d*d/exp)
		}
	}
	stat := pairwiseSum(terms)
	p := distuv.ChiSquared{K: float64(dof)}.Survival(stat)
	return ChiSquaredResult{Statistic: stat, PValue: clip01(p), DOF: dof}, nil
}

// sign is numpy.sign: -1, 0 or 1.
func sign(v float64) float64 {
	switch {
	case v > 0:
		return 1
	case v < 0:
		return -1
	}
	return 0
}

// pairwiseSum adds v as numpy's sum does (pairwise summation: blocks of
// up to 128 values, each with eight interleaved partial sums), so that the
// statistic is the float scipy gets.
func pairwiseSum(v []float64) float64 {
	n := len(v)
	switch {
	case n < 8:
		s := 0.0
		for _, x := range v {
			s += x
		}
		return s
	case n <= 128:
		var r [8]float64
		copy(r[:], v[:8])
		i := 8
		for ; i < n-n%8; i += 8 {
			for j := range r {
				r[j] += v[i+j]
			}
		}
		s := (r[0] + r[1]) + (r[2] + r[3]) + ((r[4] + r[5]) + (r[6] + r[7]))
		for ; i < n; i++ {
			s += v[i]
		}
		return s
	}
	n2 := n / 2
	n2 -= n2 % 8
	return pairwiseSum(v[:n2]) + pairwiseSum(v[n2:])
}
