package drift

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"testing"
)

// tolerance is the golden comparison: |got-want| <= tolerance*max(1, |want|),
// absolute for p-values, KS statistics and most PSIs, relative for large
// chi-squared statistics and PSIs.
const tolerance = 1e-9

func close(got, want float64) bool {
	return math.Abs(got-want) <= tolerance*math.Max(1, math.Abs(want))
}

// worst keeps the largest scaled difference seen, for the log.
type worst struct {
	diff float64
	what string
}

func (w *worst) see(what string, got, want float64) {
	if d := math.Abs(got-want) / math.Max(1, math.Abs(want)); d > w.diff || w.what == "" {
		w.diff, w.what = d, what
	}
}

// jfloat is a float64 that also reads "nan", "inf" and "-inf".
type jfloat float64

func (f *jfloat) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		switch s {
		case "nan":
			*f = jfloat(math.NaN())
		case "inf":
			*f = jfloat(math.Inf(1))
		case "-inf":
			*f = jfloat(math.Inf(-1))
		default:
			return fmt.Errorf("unknown float %q", s)
		}
		return nil
	}
	var v float64
	err := json.Unmarshal(b, &v)
	*f = jfloat(v)
	return err
}

func floats(v []jfloat) []float64 {
	out := make([]float64, len(v))
	for i, f := range v {
		out[i] = float64(f)
	}
	return out
}

type goldenSample struct {
	Values []jfloat `json:"values"`
	Grid   *struct {
		Start, Step float64
		N           int
	} `json:"grid"`
}

// values is the sample; a grid is start + step*i, as numpy computes
// np.arange(n)*step + start.
func (s goldenSample) values() []float64 {
	if s.Grid == nil {
		return floats(s.Values)
	}
	out := make([]float64, s.Grid.N)
	for i := range out {
		out[i] = float64(i)*s.Grid.Step + s.Grid.Start
	}
	return out
}

type goldenFile struct {
	ScipyVersion string  `json:"scipy_version"`
	Bins         int     `json:"bins"`
	Eps          float64 `json:"eps"`
	KS           []struct {
		Name      string       `json:"name"`
		X         goldenSample `json:"x"`
		Y         goldenSample `json:"y"`
		Method    string       `json:"method"`
		Statistic float64      `json:"statistic"`
		PValue    float64      `json:"pvalue"`
	} `json:"ks"`
	KSTwo []struct {
		N  int     `json:"n"`
		D  float64 `json:"d"`
		SF float64 `json:"sf"`
	} `json:"kstwo_sf"`
	Chi2 []struct {
		Name       string   `json:"name"`
		Ref        []string `json:"ref"`
		Cur        []string `json:"cur"`
		Categories []string `json:"categories"`
		RefCounts  []int    `json:"ref_counts"`
		CurCounts  []int    `json:"cur_counts"`
		Statistic  float64  `json:"statistic"`
		PValue     float64  `json:"pvalue"`
		DOF        int      `json:"dof"`
		PSI        float64  `json:"psi"`
	} `json:"chi2"`
	PSI []struct {
		Name      string   `json:"name"`
		Ref       []jfloat `json:"ref"`
		Cur       []jfloat `json:"cur"`
		Bins      int      `json:"bins"`
		Eps       float64  `json:"eps"`
		Edges     []jfloat `json:"edges"`
		RefCounts []int    `json:"ref_counts"`
		CurCounts []int    `json:"cur_counts"`
		PSI       float64  `json:"psi"`
	} `json:"psi"`
}

func loadGolden(t *testing.T) goldenFile {
	t.Helper()
	b, err := os.ReadFile("testdata/golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var g goldenFile
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	if len(g.KS) < 30 || len(g.KSTwo) < 100 || len(g.Chi2) < 10 || len(g.PSI) < 10 {
		t.Fatalf("golden.json has too few cases: %d ks, %d kstwo, %d chi2, %d psi", len(g.KS), len(g.KSTwo), len(g.Chi2), len(g.PSI))
	}
	return g
}

func TestGoldenKS(t *testing.T) {
	g := loadGolden(t)
	methods := map[string]int{}
	var wd, wp worst
	defer func() {
		t.Logf("largest differences: statistic %.3g (%s), p-value %.3g (%s)", wd.diff, wd.what, wp.diff, wp.what)
	}()
	for _, c := range g.KS {
		x, y := c.X.values(), c.Y.values()
		got, err := KS(x, y)
		if err != nil {
			t.Errorf("%s: %v", c.Name, err)
			continue
		}
		methods[c.Method]++
		if got.Exact != (c.Method == "exact") {
			t.Errorf("%s: exact %v, scipy used %s", c.Name, got.Exact, c.Method)
		}
		wd.see(c.Name, got.Statistic, c.Statistic)
		wp.see(c.Name, got.PValue, c.PValue)
		if !close(got.Statistic, c.Statistic) || !close(got.PValue, c.PValue) {
			t.Errorf("%s: D %.17g p %.17g, scipy D %.17g p %.17g (diff %.3g, %.3g)", c.Name,
				got.Statistic, got.PValue, c.Statistic, c.PValue, got.Statistic-c.Statistic, got.PValue-c.PValue)
		}
		// The test is symmetric: swapping the samples changes nothing.
		sw, err := KS(y, x)
		if err != nil || sw.Statistic != got.Statistic || sw.PValue != got.PValue {
			t.Errorf("%s: swapped samples give D %v p %v (%v), want D %v p %v", c.Name, sw.Statistic, sw.PValue, err, got.Statistic, got.PValue)
		}
	}
	if methods["exact"] < 20 || methods["asymp"] < 5 {
		t.Errorf("cases by method %v: want both methods covered", methods)
	}
}

func TestGoldenKolmogorovDistribution(t *testing.T) {
	g := loadGolden(t)
	var w worst
	defer func() { t.Logf("largest difference %.3g (%s) over %d points", w.diff, w.what, len(g.KSTwo)) }()
	for _, c := range g.KSTwo {
		got := kstwoSF(c.N, c.D)
		w.see(fmt.Sprintf("n=%d d=%g", c.N, c.D), got, c.SF)
		if !close(got, c.SF) {
			t.Errorf("kstwo.sf(%.17g, %d) = %.17g, scipy %.17g (diff %.3g)", c.D, c.N, got, c.SF, got-c.SF)
		}
	}
}

func TestGoldenChiSquared(t *testing.T) {
	g := loadGolden(t)
	var ws, wp worst
	defer func() {
		t.Logf("largest differences: statistic %.3g (%s), p-value %.3g (%s)", ws.diff, ws.what, wp.diff, wp.what)
	}()
	for _, c := range g.Chi2 {
		got, err := ChiSquared(c.RefCounts, c.CurCounts)
		if err != nil {
			t.Errorf("%s: %v", c.Name, err)
			continue
		}
		ws.see(c.Name, got.Statistic, c.Statistic)
		wp.see(c.Name, got.PValue, c.PValue)
		if !close(got.Statistic, c.Statistic) || !close(got.PValue, c.PValue) || got.DOF != c.DOF {
			t.Errorf("%s: chi2 %.17g p %.17g dof %d, scipy %.17g p %.17g dof %d", c.Name,
				got.Statistic, got.PValue, got.DOF, c.Statistic, c.PValue, c.DOF)
		}
	}
}

func TestGoldenPSI(t *testing.T) {
	g := loadGolden(t)
	var w worst
	defer func() { t.Logf("largest difference %.3g (%s)", w.diff, w.what) }()
	for _, c := range g.PSI {
		got, err := PSI(floats(c.Ref), floats(c.Cur), c.Bins, c.Eps)
		if err != nil {
			t.Errorf("%s: %v", c.Name, err)
			continue
		}
		if !slices.Equal(got.Edges, floats(c.Edges)) {
			t.Errorf("%s: edges %v, numpy %v", c.Name, got.Edges, floats(c.Edges))
		}
		if !slices.Equal(got.RefCounts, c.RefCounts) || !slices.Equal(got.CurCounts, c.CurCounts) {
			t.Errorf("%s: counts %v %v, reference %v %v", c.Name, got.RefCounts, got.CurCounts, c.RefCounts, c.CurCounts)
		}
		w.see(c.Name, got.PSI, c.PSI)
		if !close(got.PSI, c.PSI) {
			t.Errorf("%s: PSI %.17g, reference %.17g", c.Name, got.PSI, c.PSI)
		}
	}
}
