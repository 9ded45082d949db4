package draw

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// TestRunChart: a metric across runs and a param against it, numeric and
// in bands, are well-formed SVG with a linked point per run, the same
// bytes every time, every text escaped; what cannot be drawn is refused.
func TestRunChart(t *testing.T) {
	var pts []Point
	for i := 0; i < 300; i++ {
		pts = append(pts, Point{Run: fmt.Sprintf("run%03d", i), Href: fmt.Sprintf("/runs/run%03d?a=1&b=2", i), X: float64(i + 1), Y: float64(i%17) / 17})
	}
	line := RunChart{Title: "f1 <across> runs", XLabel: "run", YLabel: "evaluate.f1", Line: true, Points: pts}
	var a, b bytes.Buffer
	if err := Chart(&a, line); err != nil {
		t.Fatal(err)
	}
	if err := Chart(&b, line); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("the same chart drew different bytes")
	}
	els := parseSVG(t, a.Bytes())
	var circles, links, polylines int
	for _, e := range els {
		switch e.Name {
		case "circle":
			circles++
		case "a":
			links++
			if !strings.HasPrefix(e.Attr["href"], "/runs/run") || !strings.Contains(e.Attr["href"], "&b=2") {
				t.Errorf("link %q", e.Attr["href"])
			}
		case "polyline":
			polylines++
		}
	}
	if circles != 300 || links != 300 || polylines != 1 {
		t.Errorf("%d points, %d links, %d lines; want 300, 300, 1", circles, links, polylines)
	}
	if !strings.Contains(a.String(), "f1 &lt;across&gt; runs") {
		t.Errorf("the title is not escaped")
	}

	// Categories: numbers by value, text by text; a band per value.
	cats, fold := Categories([]string{"10", "9", "10", "1.5"}, "other")
	if strings.Join(cats, ",") != "1.5,9,10" || len(fold) != 0 {
		t.Errorf("numeric categories: %v %v", cats, fold)
	}
	var many []string
	for i := 0; i < 60; i++ {
		many = append(many, fmt.Sprintf("v%02d", i))
		if i < 10 {
			many = append(many, fmt.Sprintf("v%02d", i)) // ten more frequent
		}
	}
	cats, fold = Categories(many, "(others)")
	if len(cats) != maxCategories || cats[len(cats)-1] != "(others)" || len(fold) != 60-(maxCategories-1) || fold["v00"] != "" {
		t.Errorf("folded categories: %d, last %q, %d folded", len(cats), cats[len(cats)-1], len(fold))
	}
	scatter := RunChart{Title: "model against f1", XLabel: "model", YLabel: "f1", Categorical: true, Categories: []string{"<a>", "b"},
		Points: []Point{{Run: "r1", Cat: "<a>", Y: 1}, {Run: "r2", Cat: "b", Y: 0.5}, {Run: "r3", Cat: "<a>", Y: 0}}}
	var s bytes.Buffer
	if err := Chart(&s, scatter); err != nil {
		t.Fatal(err)
	}
	parseSVG(t, s.Bytes())
	if strings.Count(s.String(), `class="mean"`) != 2 || !strings.Contains(s.String(), "&lt;a&gt;: mean 0.5 of 2") {
		t.Errorf("the bands' means:\n%s", s.String())
	}
	if strings.Contains(s.String(), "<a>") {
		t.Errorf("a category is not escaped")
	}

	var e bytes.Buffer
	if err := Chart(&e, RunChart{Title: "none", Empty: "no run has f1"}); err != nil || !strings.Contains(e.String(), "no run has f1") {
		t.Errorf("an empty chart: %v\n%s", err, e.String())
	}
	parseSVG(t, e.Bytes())
	one := RunChart{Points: []Point{{Run: "r", X: 3, Y: 3}}} // one point: a range around it
	if err := Chart(&e, one); err != nil {
		t.Errorf("one point: %v", err)
	}
	for name, bad := range map[string]RunChart{
		"NaN":              {Points: []Point{{Run: "r", Y: nan()}}},
		"unknown category": {Categorical: true, Categories: []string{"a"}, Points: []Point{{Run: "r", Cat: "b"}}},
	} {
		if err := Chart(&e, bad); err == nil {
			t.Errorf("%s: drawn", name)
		}
	}
}

func nan() float64 { z := 0.0; return z / z }
