package drift

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"flag"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/cairnml/cairn/tasks/ml/dataset"
	"github.com/cairnml/cairn/tasks/ml/rng"
)

var update = flag.Bool("update", false, "rewrite testdata/report.json and testdata/report.svg")

func goldenBytes(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs:\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// frames builds a reference and a current frame: x numeric (shifted by
// shift in the current one), y numeric and stable, colour categorical
// (its mix changed when shift > 0, with a category the reference lacks),
// flag boolean, when datetime; a few missing values in each column.
func frames(n int, shift float64, seed uint64) (*dataset.Frame, *dataset.Frame) {
	make1 := func(s float64, r *rng.Source, cur bool) *dataset.Frame {
		x := &dataset.Column{Name: "x", Kind: dataset.Numeric, Num: make([]float64, n), Missing: make([]bool, n)}
		y := &dataset.Column{Name: "y", Kind: dataset.Numeric, Num: make([]float64, n)}
		c := &dataset.Column{Name: "colour", Kind: dataset.Categorical, Str: make([]string, n), Missing: make([]bool, n)}
		b := &dataset.Column{Name: "flag", Kind: dataset.Boolean, Num: make([]float64, n)}
		d := &dataset.Column{Name: "when", Kind: dataset.Datetime, Num: make([]float64, n)}
		for i := range n {
			x.Num[i] = r.Normal() + s
			x.Missing[i] = i%97 == 5
			y.Num[i] = r.Normal()
			u := r.Float64()
			switch {
			case cur && s > 0 && u < 0.3:
				c.Str[i] = "violet"
			case u < 0.5:
				c.Str[i] = "red"
			case u < 0.8:
				c.Str[i] = "green"
			default:
				c.Str[i] = "blue"
			}
			c.Missing[i] = i%50 == 7
			if r.Float64() < 0.4 {
				b.Num[i] = 1
			}
			d.Num[i] = 1.7e9 + float64(i)*3600
			if cur {
				d.Num[i] += 1e7
			}
		}
		return &dataset.Frame{Columns: []*dataset.Column{x, y, c, b, d}}
	}
	r := rng.New(seed, 0x5eed)
	return make1(0, r, false), make1(shift, r, true)
}

func TestCompareStableAndDrifted(t *testing.T) {
	ref, cur := frames(2000, 0, 1)
	rep, err := Compare(ref, cur, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.ShouldRetrain || len(rep.Drifted) != 0 {
		t.Errorf("stable data: should_retrain %v, drifted %v", rep.ShouldRetrain, rep.Drifted)
	}
	if got := featureList(rep); got != "x:ks y:ks colour:chi2 flag:chi2" {
		t.Errorf("features %s, want the non-datetime columns in the reference's order", got)
	}

	ref, cur = frames(2000, 1, 2)
	rep, err = Compare(ref, cur, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.ShouldRetrain || strings.Join(rep.Drifted, ",") != "x,colour" {
		t.Errorf("drifted data: should_retrain %v, drifted %v, want x and colour", rep.ShouldRetrain, rep.Drifted)
	}
	x := rep.Features[0]
	if x.ReferenceMissing != 21 || x.ReferenceCount != 2000-21 || x.Method != "exact" || len(x.Bins) != 10 {
		t.Errorf("x: %+v", x)
	}
	if x.Bins[0].Label[:5] != "(-inf" || !strings.HasSuffix(x.Bins[9].Label, "+inf)") {
		t.Errorf("x bins %v", x.Bins)
	}
	colour := rep.Features[2]
	if strings.Join(colour.Unseen, ",") != "violet" || colour.DOF != 3 || colour.Method != "pearson" || colour.CurrentMissing != 40 {
		t.Errorf("colour: %+v", colour)
	}
	if flag := rep.Features[3]; flag.DOF != 1 || flag.Method != "pearson-yates" || flag.Bins[0].Label != "false" {
		t.Errorf("flag: %+v", flag)
	}

	// A datetime column is compared when named, and MinDrifted raises the bar.
	rep, err = Compare(ref, cur, Options{Features: []string{"when", "y"}, MinDrifted: 2})
	if err != nil {
		t.Fatal(err)
	}
	if got := featureList(rep); got != "when:ks y:ks" || strings.Join(rep.Drifted, ",") != "when" || rep.ShouldRetrain {
		t.Errorf("named features: %s, drifted %v, should_retrain %v", got, rep.Drifted, rep.ShouldRetrain)
	}
}

func featureList(r Report) string {
	var s []string
	for _, f := range r.Features {
		s = append(s, f.Name+":"+f.Test)
	}
	return strings.Join(s, " ")
}

func TestCompareRules(t *testing.T) {
	s := Settings{Alpha: 0.05, PSIThreshold: 0.2}
	cases := []struct {
		rule                      Rule
		sigSmall, notSigBig, both bool
	}{
		{RuleBoth, false, false, true},
		{RuleEither, true, true, true},
		{RuleTest, true, false, true},
		{RulePSI, false, true, true},
	}
	for _, c := range cases {
		s.Rule = c.rule
		if s.verdict(0.01, 0.05) != c.sigSmall || s.verdict(0.3, 0.5) != c.notSigBig || s.verdict(0.01, 0.2) != c.both || s.verdict(0.05, 0.1) {
			t.Errorf("rule %s: verdicts wrong", c.rule)
		}
	}
}

func TestCompareDeterministicJSONAndSVG(t *testing.T) {
	ref, cur := frames(300, 0.6, 3)
	var first, firstSVG []byte
	for i := range 3 {
		rep, err := Compare(ref, cur, Options{Features: []string{"colour", "x", "y", "flag"}})
		if err != nil {
			t.Fatal(err)
		}
		b, err := rep.JSON()
		if err != nil {
			t.Fatal(err)
		}
		var svg bytes.Buffer
		if err := rep.SVG(&svg); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first, firstSVG = b, svg.Bytes()
			continue
		}
		if !bytes.Equal(b, first) || !bytes.Equal(svg.Bytes(), firstSVG) {
			t.Fatal("the same inputs gave different bytes")
		}
	}
	var back Report
	if err := json.Unmarshal(first, &back); err != nil {
		t.Fatal(err)
	}
	if back.Version != 1 || back.Settings.Rule != RuleBoth || back.Settings.Bins != 10 || len(back.Features) != 4 || back.Features[0].Name != "colour" {
		t.Errorf("report read back: %+v", back)
	}
	goldenBytes(t, "testdata/report.json", first)
	if err := xml.Unmarshal(firstSVG, new(struct{})); err != nil {
		t.Errorf("the chart is not well-formed XML: %v", err)
	}
	goldenBytes(t, "testdata/report.svg", firstSVG)
}

// TestCompareMatchesGolden runs Compare on the golden chi-squared and
// PSI cases as frames: the categories' order, the counts, the missing
// rule ("" missing) and the values are scipy's and the reference's.
func TestCompareMatchesGolden(t *testing.T) {
	g := loadGolden(t)
	for _, c := range g.Chi2 {
		col := func(v []string) *dataset.Frame {
			cc := &dataset.Column{Name: "c", Kind: dataset.Categorical, Str: v, Missing: make([]bool, len(v))}
			for i, s := range v {
				cc.Missing[i] = s == ""
			}
			return &dataset.Frame{Columns: []*dataset.Column{cc}}
		}
		rep, err := Compare(col(c.Ref), col(c.Cur), Options{})
		if err != nil {
			t.Errorf("%s: %v", c.Name, err)
			continue
		}
		f := rep.Features[0]
		var labels []string
		for _, b := range f.Bins {
			labels = append(labels, b.Label)
		}
		if strings.Join(labels, "\x00") != strings.Join(c.Categories, "\x00") {
			t.Errorf("%s: categories %q, scipy's table %q", c.Name, labels, c.Categories)
		}
		if !close(f.Statistic, c.Statistic) || !close(f.PValue, c.PValue) || f.DOF != c.DOF || !close(f.PSI, c.PSI) {
			t.Errorf("%s: chi2 %v p %v dof %d psi %v, want %v %v %d %v", c.Name, f.Statistic, f.PValue, f.DOF, f.PSI, c.Statistic, c.PValue, c.DOF, c.PSI)
		}
	}
	for _, c := range g.PSI {
		col := func(v []jfloat) *dataset.Frame {
			cc := &dataset.Column{Name: "v", Kind: dataset.Numeric, Num: floats(v)}
			return &dataset.Frame{Columns: []*dataset.Column{cc}}
		}
		rep, err := Compare(col(c.Ref), col(c.Cur), Options{Bins: c.Bins, Epsilon: c.Eps})
		if err != nil {
			t.Errorf("%s: %v", c.Name, err)
			continue
		}
		if f := rep.Features[0]; !close(f.PSI, c.PSI) || len(f.Bins) != len(c.Edges)+1 {
			t.Errorf("%s: PSI %v with %d bins, want %v with %d", c.Name, f.PSI, len(f.Bins), c.PSI, len(c.Edges)+1)
		}
	}
}

func TestCompareErrors(t *testing.T) {
	ref, cur := frames(50, 0, 4)
	num := func(name string, v ...float64) *dataset.Frame {
		return &dataset.Frame{Columns: []*dataset.Column{{Name: name, Kind: dataset.Numeric, Num: v}}}
	}
	allMissing := &dataset.Frame{Columns: []*dataset.Column{{Name: "x", Kind: dataset.Numeric, Num: []float64{0, 0}, Missing: []bool{true, true}}}}
	cases := []struct {
		name     string
		ref, cur *dataset.Frame
		opts     Options
		sentinel error
		want     string
	}{
		{"column absent from current", ref, num("x", 1, 2), Options{}, ErrSchema, `current data has no column "y"`},
		{"kinds differ", num("colour", 1), cur, Options{}, ErrSchema, `column "colour" is numeric in the reference and categorical`},
		{"unknown feature", ref, cur, Options{Features: []string{"nope"}}, ErrSchema, `reference data has no column "nope"`},
		{"feature twice", ref, cur, Options{Features: []string{"x", "x"}}, ErrOptions, `"x" named twice`},
		{"only datetime", &dataset.Frame{Columns: []*dataset.Column{ref.Columns[4]}}, cur, Options{}, ErrSchema, "no numeric, boolean or categorical column"},
		{"reference all missing", allMissing, num("x", 1), Options{}, ErrEmpty, `column "x": no value in the reference`},
		{"current all NaN", num("x", 1), num("x", math.NaN(), math.Inf(1)), Options{}, ErrEmpty, `column "x": no value in the current`},
		{"alpha", ref, cur, Options{Alpha: 1.5}, ErrOptions, "alpha 1.5"},
		{"psi threshold", ref, cur, Options{PSIThreshold: -1}, ErrOptions, "PSI threshold -1"},
		{"rule", ref, cur, Options{Rule: "any"}, ErrOptions, `rule "any"`},
		{"bins", ref, cur, Options{Bins: 1}, ErrOptions, "1 bins"},
		{"epsilon", ref, cur, Options{Epsilon: 2}, ErrOptions, "epsilon 2"},
		{"min drifted", ref, cur, Options{MinDrifted: -1}, ErrOptions, "min drifted -1"},
		{"nil frame", nil, cur, Options{}, ErrOptions, "nil frame"},
		{"bad frame", &dataset.Frame{Columns: []*dataset.Column{{Name: "x", Kind: "text"}}}, cur, Options{}, dataset.ErrShape, "reference data"},
	}
	for _, c := range cases {
		_, err := Compare(c.ref, c.cur, c.opts)
		if !errors.Is(err, c.sentinel) || err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %v containing %q", c.name, err, c.sentinel, c.want)
		}
	}
}
