package drift

import "math"

// This file computes the survival function of the two-sided one-sample
// Kolmogorov–Smirnov statistic D_n, P(D_n > d), as scipy.stats.kstwo.sf
// (scipy 1.10, scipy/stats/_ksstats.py) does: the method is chosen by n and
// n·d² after Simard and L'Ecuyer, "Computing the Two-Sided
// Kolmogorov-Smirnov Distribution", J. Stat. Softw. 39(11), 2011 —
// Ruben–Gambino's closed forms at the ends, the Durbin matrix (Marsaglia,
// Tsang and Wang 2003), Pomeranz's recursion (1974), the Pelz–Good
// asymptotic series (1976) and twice the one-sided tail (Smirnov 1944;
// Birnbaum and Tingey 1951). KS uses it for the asymptotic p-value.

const (
	e128  = 128
	ep128 = 0x1p128
	em128 = 0x1p-128
)

// kstwoSF is scipy.stats.kstwo.sf(d, n): 1 at or below the support's lower
// end 1/(2n), 0 at or above 1.
func kstwoSF(n int, d float64) float64 {
	switch {
	case math.IsNaN(d) || n < 1:
		return math.NaN()
	case d <= 0.5/float64(n):
		return 1
	case d >= 1:
		return 0
	}
	return kolmogorovSF(n, d)
}

// kolmogorovSF is P(D_n > x) for 0 < x < 1 (scipy's _kolmogn with
// cdf=False).
func kolmogorovSF(n int, x float64) float64 {
	fn := float64(n)
	if x >= 1 {
		return 0
	}
	if x <= 0 {
		return 1
	}
	t := fn * x
	if t <= 1 { // Ruben–Gambino: 1/(2n) < x <= 1/n
		if t <= 0.5 {
			return 1
		}
		var cdf float64
		if n <= 140 {
			cdf = 1
			for i := 1; i <= n; i++ {
				cdf *= float64(i) * (1 / fn) * (2*t - 1)
			}
		} else {
			cdf = math.Exp(logFactorialOverPower(fn) + fn*math.Log(2*t-1))
		}
		return clip01(1 - cdf)
	}
	if t >= fn-1 { // Ruben–Gambino: x >= 1 - 1/n
		return clip01(2 * math.Pow(1-x, fn))
	}
	if x >= 0.5 {
		return clip01(2 * smirnovSF(n, x))
	}
	nxx := t * x
	if n <= 140 {
		switch {
		case nxx <= 0.754693:
			return clip01(1 - durbinCDF(n, x))
		case nxx <= 4:
			return clip01(1 - pomeranzCDF(n, x))
		}
		return clip01(2 * smirnovSF(n, x))
	}
	switch {
	case nxx >= 370:
		return 0
	case nxx >= 2.2:
		return clip01(2 * smirnovSF(n, x))
	}
	var cdf float64
	if n <= 100000 && fn*math.Pow(x, 1.5) <= 1.4 {
		cdf = durbinCDF(n, x)
	} else {
		cdf = pelzGoodCDF(n, x)
	}
	return clip01(1 - cdf)
}

// logFactorialOverPower is log(n!/n^n) by Stirling's series.
func logFactorialOverPower(n float64) float64 {
	coeffs := [...]float64{-2.955065359477124183e-2, 6.4102564102564102564e-3,
		-1.9175269175269175269e-3, 8.4175084175084175084e-4,
		-5.952380952380952381e-4, 7.9365079365079365079e-4,
		-2.7777777777777777778e-3, 8.3333333333333333333e-2}
	rn := 1 / n
	u := rn / n
	poly := 0.0
	for _, c := range coeffs {
		poly = poly*u + c
	}
	return math.Log(n)/2 - n + math.Log(2*math.Pi)/2 + rn*poly
}

// durbinCDF is P(D_n <= d) by the Durbin matrix: the (k, k) entry of H^n
// times n!/n^n, with H a (2k-1)² matrix, k = ceil(n·d); powers are
// rescaled by 2^128 and the exponent kept apart.
func durbinCDF(n int, d float64) float64 {
	if d >= 1 {
		return 1
	}
	fn := float64(n)
	nd := fn * d
	if nd <= 0.5 {
		return 0
	}
	k := int(math.Ceil(nd))
	h := float64(k) - nd
	m := 2*k - 1

	v := make([]float64, m)
	w := make([]float64, m)
	fac := 1.0
	for j := 1; j <= m; j++ {
		v[j-1] = 1 - math.Pow(h, float64(j))
		w[j-1] = fac
		fac /= float64(j)
		v[j-1] *= fac
	}
	tt := math.Pow(max(2*h-1, 0), float64(m)) - 2*math.Pow(h, float64(m))
	v[m-1] = (1 + tt) * fac

	H := newSquare(m)
	for i := 1; i < m; i++ {
		for r := i - 1; r < m; r++ {
			H.set(r, i, w[r-(i-1)])
		}
	}
	for r := 0; r < m; r++ {
		H.set(r, 0, v[r])
	}
	for c := 0; c < m; c++ {
		H.set(m-1, c, v[m-1-c])
	}

	pw := identity(m)
	expnt, hexpnt := 0, 0
	for nn := n; nn > 0; nn /= 2 {
		if nn%2 == 1 {
			pw = pw.mul(H)
			expnt += hexpnt
		}
		H = H.mul(H)
		hexpnt *= 2
		if math.Abs(H.at(k-1, k-1)) > ep128 {
			H.scale(1 / ep128)
			hexpnt += e128
		}
	}
	p := pw.at(k-1, k-1)
	for i := 1; i <= n; i++ {
		p = float64(i) * p / fn
		if math.Abs(p) < em128 {
			p *= ep128
			expnt -= e128
		}
	}
	if expnt != 0 {
		p = math.Ldexp(p, expnt)
	}
	return clip01(p)
}

// square is a dense m×m matrix, row-major.
type square struct {
	m int
	a []float64
}

func newSquare(m int) square { return square{m, make([]float64, m*m)} }

func identity(m int) square {
	s := newSquare(m)
	for i := 0; i < m; i++ {
		s.a[i*m+i] = 1
	}
	return s
}

func (s square) at(r, c int) float64     { return s.a[r*s.m+c] }
func (s square) set(r, c int, v float64) { s.a[r*s.m+c] = v }

func (s square) scale(f float64) {
	for i := range s.a {
		s.a[i] *= f
	}
}

func (s square) mul(t square) square {
	m := s.m
	out := newSquare(m)
	for i := 0; i < m; i++ {
		row := out.a[i*m : (i+1)*m]
		for k := 0; k < m; k++ {
			f := s.a[i*m+k]
			if f == 0 {
				continue
			}
			trow := t.a[k*m : (k+1)*m]
			for j := range row {
				row[j] += f * trow[j]
			}
		}
	}
	return out
}

// pomeranzCDF is P(D_n <= x) by Pomeranz's recursion over 2n+2 rows of
// truncated convolutions, rescaled by 2^128 against underflow.
func pomeranzCDF(n int, x float64) float64 {
	fn := float64(n)
	t := fn * x
	ll := int(math.Floor(t))
	f := t - float64(ll)
	g := min(f, 1-f)
	ceilf, roundf := 0, 0
	if f > 0 {
		ceilf = 1
	}
	if f > 0.5 {
		roundf = 1
	}
	npwrs := 2 * (ll + 1)
	gpower := make([]float64, npwrs)
	twogpower := make([]float64, npwrs)
	onem2gpower := make([]float64, npwrs)
	gpower[0], twogpower[0], onem2gpower[0] = 1, 1, 1
	gn, twogn, onem2gn := g/fn, 2*g/fn, (1-2*g)/fn
	for m := 1; m < npwrs; m++ {
		fm := float64(m)
		gpower[m] = gpower[m-1] * gn / fm
		twogpower[m] = twogpower[m-1] * twogn / fm
		onem2gpower[m] = onem2gpower[m-1] * onem2gn / fm
	}
	bounds := func(i int) (int, int) {
		var j1, j2 int
		switch {
		case i == 0:
			j1, j2 = -ll-ceilf-1, ll+ceilf-1
		case (i+1)%2 == 0: // i odd
			half := (i + 1) / 2
			if half == n+1 {
				j1, j2 = n-ll-ceilf-1, n+ll+ceilf-1
			} else {
				j1, j2 = half-1-ll-roundf-1, half+ll-1+ceilf-1
			}
		default:
			half := (i + 1) / 2
			j1, j2 = half-1-ll-1, half+ll+roundf-1
		}
		return max(j1+2, 0), min(j2, n)
	}

	v0 := make([]float64, npwrs)
	v1 := make([]float64, npwrs)
	v1[0] = 1
	v0s, v1s := 0, 0
	expnt := 0
	j1, j2 := bounds(0)
	for i := 1; i < 2*n+2; i++ {
		k1 := j1
		v0, v1 = v1, v0
		v0s, v1s = v1s, v0s
		clear(v1)
		j1, j2 = bounds(i)
		pwrs := onem2gpower
		switch {
		case i == 1 || i == 2*n+1:
			pwrs = gpower
		case i%2 == 1:
			pwrs = twogpower
		}
		ln2 := j2 - k1 + 1
		if ln2 <= 0 {
			continue
		}
		// The full convolution of a = v0[k1-v0s:][:ln2] (as far as it
		// goes) and b = pwrs[:ln2], entries j1-k1 .. j2-k1.
		lo := k1 - v0s
		a := v0[lo:min(lo+ln2, len(v0))]
		b := pwrs[:ln2]
		start, length := j1-k1, j2-j1+1
		vmax := math.Inf(-1)
		for c := 0; c < length; c++ {
			tc := start + c
			s := 0.0
			for p := max(0, tc-len(b)+1); p <= min(tc, len(a)-1); p++ {
				s += a[p] * b[tc-p]
			}
			v1[c] = s
		}
		for _, e := range v1 {
			vmax = max(vmax, e)
		}
		if 0 < vmax && vmax < em128 {
			for c := range v1 {
				v1[c] *= ep128
			}
			expnt -= e128
		}
		v1s = v0s + j1 - k1
	}
	ans := v1[n-v1s]
	for m := 1; m <= n; m++ {
		if math.Abs(ans) > ep128 {
			ans *= em128
			expnt += e128
		}
		ans *= float64(m)
	}
	if expnt != 0 {
		ans = math.Ldexp(ans, expnt)
	}
	return clip01(ans)
}

// pelzGoodCDF is the Pelz–Good approximation of P(D_n <= x): Li-Chien and
// Korolyuk's expansion K0(z) + K1(z)/√n + K2(z)/n + K3(z)/n^1.5 at
// z = x√n, each term in its theta-function form for small z.
func pelzGoodCDF(n int, x float64) float64 {
	if x <= 0 {
		return 0
	}
	if x >= 1 {
		return 1
	}
	const (
		sqrt2pi = 2.5066282746310002 // sqrt(2π)
		sqrt3   = 1.7320508075688772
	)
	pi2 := math.Pow(math.Pi, 2)
	pi4 := math.Pow(math.Pi, 4)
	pi6 := math.Pow(math.Pi, 6)
	fn := float64(n)
	z := math.Sqrt(fn) * x
	z2, z3, z4, z6 := math.Pow(z, 2), math.Pow(z, 3), math.Pow(z, 4), math.Pow(z, 6)
	qlog := -pi2 / 8 / z2
	if qlog < -708 {
		return 0
	}
	q := math.Exp(qlog)

	k1a, k1b := -z2, pi2/4
	k2a := 6*z6 + 2*z4
	k2b := (2*z4 - 5*z2) * pi2 / 4
	k2c := pi4 * (1 - 2*z2) / 16
	k3d := pi6 * (5 - 30*z2) / 64
	k3c := pi4 * (-60*z2 + 212*z4) / 16
	k3b := pi2 * (135*z4 - 96*z6) / 4
	k3a := -30*z6 - 90*math.Pow(z, 8)

	var K [4]float64
	maxk := int(math.Ceil(16 * z / math.Pi))
	for k := maxk; k > 0; k-- {
		m := float64(2*k - 1)
		m2, m4, m6 := m*m, math.Pow(m, 4), math.Pow(m, 6)
		qp := math.Pow(q, float64(8*k))
		c := [4]float64{1, k1a + k1b*m2, k2a + k2b*m2 + k2c*m4, k3a + k3b*m2 + k3c*m4 + k3d*m6}
		for i := range K {
			K[i] = K[i]*qp + c[i]
		}
	}
	div := [4]float64{z, 6 * z4, 72 * math.Pow(z, 7), 6480 * math.Pow(z, 10)}
	for i := range K {
		K[i] = K[i] * q * sqrt2pi / div[i]
	}

	q = math.Exp(-pi2 / 2 / z2)
	sqrt3z := sqrt3 * z
	var k2extra, k3extra float64
	for k := maxk; k > 0; k-- {
		fk := float64(k)
		ksq := fk * fk
		qk := math.Pow(q, ksq)
		kspi := math.Pi * fk
		k2extra += ksq * qk
		k3extra += (sqrt3z + kspi) * (sqrt3z - kspi) * ksq * qk
	}
	K[2] += k2extra * pi2 * sqrt2pi / (-36 * z3)
	K[3] += k3extra * pi2 * sqrt2pi / (216 * z6)
	sum := 0.0
	for i := range K {
		sum += K[i] / math.Pow(fn, float64(i)/2)
	}
	return sum
}

// smirnovSF is P(D+_n > x), the one-sided statistic's tail, as
// scipy.special.smirnov computes it where the two-sided distribution
// needs it (x above 1/n and above 0.5/√n):
//
//	x Σ_{v=0}^{⌊n(1-x)⌋} C(n,v) (x+v/n)^(v-1) (1-x-v/n)^(n-v)
//
// (Smirnov 1944, Birnbaum and Tingey 1951), every term positive, computed
// in log space with log-gamma binomials; n > 10^6 uses scipy's
// approximation exp(-(6nx+1)²/(18n)). Where scipy sums in double-double
// this sums in float64: the terms' relative error grows with log n! (about
// 1e-11 of the p-value at n = 10^6 in the golden cases).
func smirnovSF(n int, x float64) float64 {
	switch {
	case math.IsNaN(x) || n < 1 || x < 0 || x > 1:
		return math.NaN()
	case n == 1:
		return 1 - x
	case x == 0:
		return 1
	case x == 1:
		return 0
	}
	fn := float64(n)
	// n·x as hi+lo exactly, and its floor.
	hi := fn * x
	lo := math.FMA(fn, x, -hi)
	nxfl := math.Floor(hi)
	alpha := hi - nxfl + lo
	if hi == nxfl {
		nxfl += math.Floor(lo)
		alpha = lo - math.Floor(lo)
	}
	if alpha >= 1 {
		nxfl++
		alpha = 0
	}
	ifl := int(nxfl)
	if ifl == 0 || ifl == 1 && alpha == 0 { // x <= 1/n
		return 1 - x*math.Pow(1+x, fn-1)
	}
	if -2*fn*x*x < -708.3964185322641 { // cephes MINLOG: the tail underflows
		return 0
	}
	if ifl >= n-1 { // x >= 1 - 1/n
		return math.Pow(1-x, fn)
	}
	if n > 1000000 {
		logp := -math.Pow(6.0*fn*x+1, 2) / 18.0 / fn
		if logp < -math.Ln2 {
			return math.Exp(logp)
		}
		return 1 - -math.Expm1(logp)
	}
	last := n - ifl - 1 // terms with 1-x-v/n > 0
	lgn1, _ := math.Lgamma(fn + 1)
	sum := 0.0
	for v := 0; v <= last; v++ {
		fv := float64(v)
		evn := (fv + hi + lo) / fn               // x + v/n
		omevn := ((float64(n-v) - hi) - lo) / fn // 1 - x - v/n
		lv, _ := math.Lgamma(fv + 1)
		lnv, _ := math.Lgamma(float64(n-v) + 1)
		term := math.Exp(lgn1 - lv - lnv + (fv-1)*math.Log(evn) + float64(n-v)*math.Log(omevn))
		sum += term
		// scipy's stopping rule: the terms left cannot add a rounding error.
		if term > 0 && 4*float64(last-v)*term < 0x1p-52*sum {
			break
		}
	}
	return clip01(x * sum)
}
