package drift

import (
	"encoding/binary"
	"math"
	"slices"
	"testing"

	"github.com/cairnml/cairn/tasks/ml/rng"
)

// checkKS asserts what holds for any two samples: D and p in [0, 1], the
// test symmetric, invariant under reordering and under a common monotone
// transform, and the statistic a multiple of 1/lcm(n1, n2) when exact.
func checkKS(t *testing.T, x, y []float64) {
	t.Helper()
	r, err := KS(x, y)
	if err != nil {
		return // a sample without finite values; covered elsewhere
	}
	if !(r.Statistic >= 0 && r.Statistic <= 1 && r.PValue >= 0 && r.PValue <= 1) {
		t.Fatalf("D %v p %v out of [0, 1] for %v %v", r.Statistic, r.PValue, x, y)
	}
	s, _ := KS(y, x)
	if s != (KSResult{Statistic: r.Statistic, PValue: r.PValue, Exact: r.Exact, N1: r.N2, N2: r.N1}) {
		t.Fatalf("not symmetric: %+v vs %+v", r, s)
	}
	rx := slices.Clone(x)
	slices.Reverse(rx)
	if o, _ := KS(rx, y); o != r {
		t.Fatalf("order matters: %+v vs %+v", o, r)
	}
	if r.Exact {
		g := gcd(r.N1, r.N2)
		lcm := float64(r.N1 / g * r.N2)
		if h := r.Statistic * lcm; math.Abs(h-math.Round(h)) > 1e-6 {
			t.Fatalf("exact D %v is not a multiple of 1/%v", r.Statistic, lcm)
		}
	}
	if slices.Equal(finiteSorted(x), finiteSorted(y)) && (r.Statistic != 0 || r.PValue != 1) {
		t.Fatalf("identical samples: D %v p %v", r.Statistic, r.PValue)
	}
}

func TestKSProperties(t *testing.T) {
	r := rng.New(7, 7)
	for i := range 400 {
		n1, n2 := 1+int(r.Below(60)), 1+int(r.Below(60))
		if i%10 == 0 {
			n1 += 300
		}
		x, y := make([]float64, n1), make([]float64, n2)
		ties := i%3 == 0
		shift := float64(i%5) * 0.3
		for j := range x {
			x[j] = r.Normal()
			if ties {
				x[j] = math.Round(x[j])
			}
		}
		for j := range y {
			y[j] = r.Normal() + shift
			if ties {
				y[j] = math.Round(y[j])
			}
		}
		checkKS(t, x, y)
		checkKS(t, x, slices.Clone(x))
		// A strictly increasing transform changes neither D nor p.
		ex, ey := make([]float64, n1), make([]float64, n2)
		for j := range x {
			ex[j] = math.Exp(x[j] / 4)
		}
		for j := range y {
			ey[j] = math.Exp(y[j] / 4)
		}
		a, _ := KS(x, y)
		b, _ := KS(ex, ey)
		if a != b {
			t.Fatalf("monotone transform changed the test: %+v vs %+v", a, b)
		}
	}
}

// The asymptotic distribution is a survival function: in [0, 1] and not
// increasing in d, for sizes on both sides of every switch.
func TestKolmogorovSFMonotone(t *testing.T) {
	for _, n := range []int{1, 2, 7, 140, 141, 1000, 100000, 100001, 2000000} {
		prev := 1.0
		for i := 0; i <= 400; i++ {
			d := float64(i) / 400
			p := kstwoSF(n, d)
			if !(p >= 0 && p <= 1) || p > prev+1e-12 {
				t.Fatalf("n=%d: sf(%v) = %v after %v", n, d, p, prev)
			}
			prev = p
		}
	}
}

func TestPSIAndChiSquaredProperties(t *testing.T) {
	r := rng.New(8, 8)
	for i := range 200 {
		n1, n2 := 2+int(r.Below(200)), 2+int(r.Below(200))
		x, y := make([]float64, n1), make([]float64, n2)
		for j := range x {
			x[j] = math.Round(r.Normal() * float64(1+i%4))
		}
		for j := range y {
			y[j] = math.Round(r.Normal()*float64(1+i%4) + float64(i%3))
		}
		p, err := PSI(x, y, 2+i%15, 1e-4)
		if err != nil {
			t.Fatal(err)
		}
		if !(p.PSI >= 0) || math.IsInf(p.PSI, 0) || !slices.IsSorted(p.Edges) || sum(p.RefCounts) != n1 || sum(p.CurCounts) != n2 {
			t.Fatalf("psi %+v", p)
		}
		if same, _ := PSI(x, x, 10, 1e-4); same.PSI != 0 {
			t.Fatalf("PSI of a sample with itself: %v", same.PSI)
		}
		k := 1 + i%6
		a, b := make([]int, k), make([]int, k)
		for j := range k {
			a[j], b[j] = 1+int(r.Below(50)), int(r.Below(50))
			if j == 0 {
				b[j]++ // each sample has a value
			}
		}
		c, err := ChiSquared(a, b)
		if err != nil {
			t.Fatal(err)
		}
		d, _ := ChiSquared(b, a)
		if !(c.Statistic >= 0 && c.PValue >= 0 && c.PValue <= 1) || c.DOF != k-1 || math.Abs(c.Statistic-d.Statistic) > 1e-9*max(1, c.Statistic) {
			t.Fatalf("chi2 %v %v: %+v, swapped %+v", a, b, c, d)
		}
	}
}

func sum(v []int) int {
	s := 0
	for _, x := range v {
		s += x
	}
	return s
}

// FuzzKS feeds arbitrary float64 samples (NaN, infinities, ties,
// subnormals included) to KS and PSI: no panic, and the properties hold.
func FuzzKS(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, uint8(1))
	f.Add(make([]byte, 64), uint8(3))
	f.Fuzz(func(t *testing.T, b []byte, split uint8) {
		var v []float64
		for len(b) >= 8 && len(v) < 300 {
			v = append(v, math.Float64frombits(binary.LittleEndian.Uint64(b)))
			b = b[8:]
		}
		for _, c := range b {
			v = append(v, float64(c%7))
		}
		if len(v) < 2 {
			return
		}
		k := 1 + int(split)%(len(v)-1)
		x, y := v[:k], v[k:]
		checkKS(t, x, y)
		if p, err := PSI(x, y, 10, 1e-4); err == nil && !(p.PSI >= 0) {
			t.Fatalf("PSI %v", p.PSI)
		}
	})
}
