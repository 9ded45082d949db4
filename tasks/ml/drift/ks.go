package drift

import (
	"fmt"
	"math"
	"slices"
)

// MaxExactN is the largest sample size for which KS computes the exact
// p-value: scipy.stats.ks_2samp's method="auto" is exact when both
// samples have at most this many values and asymptotic otherwise.
const MaxExactN = 10000

// KSResult is a two-sample Kolmogorov–Smirnov test.
type KSResult struct {
	// Statistic is D, the largest absolute difference between the two
	// samples' empirical distribution functions, in [0, 1]. With the exact
	// method it is rounded to the nearest multiple of 1/lcm(N1, N2), as
	// scipy does.
	Statistic float64
	// PValue is the two-sided p-value, in [0, 1].
	PValue float64
	// Exact reports whether PValue comes from the exact distribution of D
	// (both samples at most MaxExactN values) rather than the asymptotic one.
	Exact bool
	// N1 and N2 are the numbers of values tested (the finite ones).
	N1, N2 int
}

// KS runs the two-sample Kolmogorov–Smirnov test of ref against cur,
// two-sided, as scipy.stats.ks_2samp(ref, cur) does with its defaults
// (method="auto"): the statistic from the two empirical distribution
// functions evaluated at every value of both samples (so ties count as
// scipy counts them), and the p-value exact when both samples have at most
// MaxExactN values (Hodges' lattice-path counting, Viehmann's recursion for
// 1-p when the sizes differ), otherwise from the distribution of the
// one-sample statistic with n = round(n1*n2/(n1+n2)) (scipy's
// kstwo.sf, Simard and L'Ecuyer's algorithm).
//
// NaN and ±Inf are treated as missing and dropped from each sample before
// the test. A sample with no finite value is an error wrapping ErrEmpty.
// The inputs are not modified.
func KS(ref, cur []float64) (KSResult, error) {
	x, y := finiteSorted(ref), finiteSorted(cur)
	if len(x) == 0 || len(y) == 0 {
		return KSResult{}, fmt.Errorf("drift: ks: %d finite reference and %d finite current values: %w", len(x), len(y), ErrEmpty)
	}
	n1, n2 := len(x), len(y)
	d := ksStatistic(x, y)
	res := KSResult{Statistic: d, N1: n1, N2: n2}
	if max(n1, n2) <= MaxExactN {
		g := gcd(n1, n2)
		lcm := (n1 / g) * n2
		h := int(math.RoundToEven(d * float64(lcm)))
		res.Statistic = float64(h) / float64(lcm)
		if h == 0 {
			res.PValue, res.Exact = 1, true
			return res, nil
		}
		var p float64
		if n1 == n2 {
			p = probOutsideSquare(n1, h)
		} else {
			p = probOutsideInside(n1, n2, g, h)
		}
		if 0 <= p && p <= 1 {
			res.PValue, res.Exact = p, true
			return res, nil
		}
		// Like scipy: an exact computation that failed falls back to the
		// asymptotic one (not seen in practice for the two-sided test).
	}
	m, n := float64(max(n1, n2)), float64(min(n1, n2))
	en := m * n / (m + n)
	res.PValue = clip01(kstwoSF(int(math.RoundToEven(en)), res.Statistic))
	return res, nil
}

// finiteSorted returns the finite values of v, sorted.
func finiteSorted(v []float64) []float64 {
	out := make([]float64, 0, len(v))
	for _, f := range v {
		if !math.IsNaN(f) && !math.IsInf(f, 0) {
			out = append(out, f)
		}
	}
	slices.Sort(out)
	return out
}

// ksStatistic returns max(max(cdf1-cdf2), clip(-min(cdf1-cdf2), 0, 1)) over
// every value of x and y (both sorted), each cdf the fraction of its sample
// at or below the value, computed as scipy computes it (count / n, then
// the difference) so that the float is the same.
func ksStatistic(x, y []float64) float64 {
	n1, n2 := float64(len(x)), float64(len(y))
	i, j := 0, 0
	maxS, minS := math.Inf(-1), math.Inf(1)
	for i < len(x) || j < len(y) {
		var v float64
		switch {
		case i == len(x):
			v = y[j]
		case j == len(y):
			v = x[i]
		default:
			v = min(x[i], y[j])
		}
		for i < len(x) && x[i] <= v {
			i++
		}
		for j < len(y) && y[j] <= v {
			j++
		}
		diff := float64(i)/n1 - float64(j)/n2
		maxS, minS = max(maxS, diff), min(minS, diff)
	}
	if m := min(max(-minS, 0), 1); m > maxS {
		return m
	}
	return maxS
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

func clip01(p float64) float64 { return min(max(p, 0), 1) }

// probOutsideSquare is P(D ≥ h/n) for two samples of n values each:
// 2 Σ_k (-1)^k binom(2n, n-(k+1)h) / binom(2n, n), each ratio a product of
// h factors, summed from the innermost term out to avoid cancellation.
func probOutsideSquare(n, h int) float64 {
	p := 0.0
	for k := n / h; k >= 0; k-- {
		p1 := 1.0
		for j := 0; j < h; j++ {
			p1 = float64(n-k*h-j) * p1 / float64(n+k*h+j+1)
		}
		p = p1 * (1 - p)
	}
	return 2 * p
}

// probOutsideInside is P(D ≥ h/lcm(m, n)) for samples of m and n values
// (g = gcd(m, n)): one minus the fraction of the monotone lattice paths
// from (0, 0) to (m, n) that stay strictly inside |x/m - y/n| < h/lcm,
// carried as that complement column by column so that it loses no
// precision near 0 (Hodges 1958; Viehmann 2021, arXiv:2102.08037).
func probOutsideInside(m, n, g, h int) float64 {
	if m < n {
		m, n = n, m
	}
	mg, ng := m/g, n/g
	minj, maxj := 0, min(int(math.Ceil(float64(h)/float64(mg))), n+1)
	curlen := maxj - minj
	a := make([]float64, min(2*maxj+2, n+1))
	for i := range a {
		a[i] = 1
	}
	for i := minj; i < maxj; i++ {
		a[i] = 0
	}
	for i := 1; i <= m; i++ {
		lastminj, lastlen := minj, curlen
		minj = min(max(int(math.Floor(float64(ng*i-h)/float64(mg)))+1, 0), n)
		maxj = min(int(math.Ceil(float64(ng*i+h)/float64(mg))), n+1)
		if maxj <= minj {
			return 1
		}
		val := 1.0
		if minj == 0 {
			val = 0
		}
		fi := float64(i)
		for jj := 0; jj < maxj-minj; jj++ {
			j := jj + minj
			val = (a[jj+minj-lastminj]*fi + val*float64(j)) / float64(i+j)
			a[jj] = val
		}
		curlen = maxj - minj
		if lastlen > curlen {
			for k := maxj - minj; k < maxj-minj+(lastlen-curlen) && k < len(a); k++ {
				a[k] = 1
			}
		}
	}
	return a[maxj-minj-1]
}
