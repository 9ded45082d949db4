package plot

import (
	"bytes"
	"encoding/xml"
	"errors"
	"flag"
	"math"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

func golden(t *testing.T, path string, got []byte) {
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

// A ROC chart of two curves, as a real evaluate produces them.
func twoCurves() Chart {
	return ROC("ROC (test split)",
		Series{Name: "model A (AUC 0.92)", X: []float64{0, 0, 0.1, 0.3, 1}, Y: []float64{0, 0.5, 0.8, 0.95, 1}},
		Series{Name: "model B & <friends>", X: []float64{0, 0.5, 1}, Y: []float64{0, 0.6, 1}})
}

func TestSVGGoldenAndWellFormed(t *testing.T) {
	var a, b bytes.Buffer
	if err := twoCurves().SVG(&a); err != nil {
		t.Fatal(err)
	}
	if err := twoCurves().SVG(&b); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("the same chart gave different bytes")
	}
	// Well-formed XML: the title and names are escaped.
	dec := xml.NewDecoder(bytes.NewReader(a.Bytes()))
	polylines := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			if err.Error() != "EOF" {
				t.Fatalf("not well-formed XML: %v\n%s", err, a.String())
			}
			break
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "polyline" {
			polylines++
		}
	}
	if polylines != 2 {
		t.Errorf("%d polylines, want one per series (2)", polylines)
	}
	if !strings.Contains(a.String(), "model B &amp; &lt;friends&gt;") {
		t.Error("series name not escaped")
	}
	// The first curve's corner (0, 0.5) maps into the frame's left edge.
	if !strings.Contains(a.String(), `points="60,350 60,193 `) {
		t.Errorf("unexpected coordinates:\n%s", a.String())
	}
	golden(t, "testdata/roc.svg", a.Bytes())
}

func TestTextGolden(t *testing.T) {
	s, err := twoCurves().Text(30, 10)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	// title, 10 plot rows, axis, x labels, axis names, 2 legend lines
	if len(lines) != 1+10+1+1+1+2 {
		t.Fatalf("%d lines:\n%s", len(lines), s)
	}
	for _, l := range lines[1:11] {
		if n := len([]rune(l)); n != 1+1+30 {
			t.Errorf("plot row %q is %d runes wide, want 32", l, n)
		}
	}
	// The bottom-left and top-right cells hold dots of the curves.
	if r := []rune(lines[10])[2]; r == 0x2800 {
		t.Errorf("bottom-left cell is empty:\n%s", s)
	}
	if r := []rune(lines[1])[31]; r == 0x2800 {
		t.Errorf("top-right cell is empty:\n%s", s)
	}
	golden(t, "testdata/roc.txt", []byte(s))
}

func TestBadCharts(t *testing.T) {
	for name, c := range map[string]Chart{
		"empty x range":   {XMin: 1, XMax: 1, YMax: 1},
		"inverted y":      {XMax: 1, YMin: 1, YMax: 0},
		"length mismatch": ROC("", Series{X: []float64{0, 1}, Y: []float64{0}}),
		"NaN point":       ROC("", Series{X: []float64{0, math.NaN()}, Y: []float64{0, 1}}),
		"infinite range":  {XMax: math.Inf(1), YMax: 1},
	} {
		if err := c.SVG(&bytes.Buffer{}); !errors.Is(err, ErrChart) {
			t.Errorf("%s: SVG error %v, want ErrChart", name, err)
		}
		if _, err := c.Text(20, 5); !errors.Is(err, ErrChart) {
			t.Errorf("%s: Text error %v, want ErrChart", name, err)
		}
	}
}

func TestPointsOutsideAreClipped(t *testing.T) {
	c := ROC("", Series{X: []float64{-1, 2}, Y: []float64{-5, 5}})
	var b bytes.Buffer
	if err := c.SVG(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), `points="60,350 460,36"`) {
		t.Errorf("out-of-range points not clipped to the frame corners:\n%s", b.String())
	}
}

func TestScatter(t *testing.T) {
	c := Scatter("predicted vs true", "true", "predicted", []float64{0, 10, 20}, []float64{1, 9, 22})
	if c.XMin != -1.1 || c.XMax != 23.1 || c.YMin != c.XMin || c.YMax != c.XMax {
		t.Errorf("axes x [%g, %g] y [%g, %g], want both [-1.1, 23.1]", c.XMin, c.XMax, c.YMin, c.YMax)
	}
	var b bytes.Buffer
	if err := c.SVG(&b); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(b.String(), "<circle "); n != 3 {
		t.Errorf("%d dots, want 3", n)
	}
	if strings.Contains(b.String(), "<polyline") {
		t.Error("a scatter plot joins its dots")
	}
	golden(t, "testdata/scatter.svg", b.Bytes())
	txt, err := c.Text(20, 5)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "testdata/scatter.txt", []byte(txt))
	// Degenerate data still gives a drawable chart.
	for _, xs := range [][]float64{nil, {3, 3}} {
		if err := Scatter("", "", "", xs, xs).SVG(&bytes.Buffer{}); err != nil {
			t.Errorf("scatter of %v: %v", xs, err)
		}
	}
}

// Markers draw each point of a line as a dot in its colour, so that a
// line of one point shows too.
func TestMarkers(t *testing.T) {
	c := Chart{XMin: 0, XMax: 5, YMin: 0, YMax: 1, Series: []Series{
		{X: []float64{1}, Y: []float64{0.5}, Markers: true},
		{X: []float64{1, 2, 3}, Y: []float64{0.1, 0.2, 0.3}, Markers: true},
		{X: []float64{1, 2}, Y: []float64{0.1, 0.2}},
	}}
	var b bytes.Buffer
	if err := c.SVG(&b); err != nil {
		t.Fatal(err)
	}
	svg := b.String()
	if n := strings.Count(svg, "<circle "); n != 4 {
		t.Errorf("%d dots, want one per point of the series with markers (4):\n%s", n, svg)
	}
	if !strings.Contains(svg, `<g fill="#0072b2">`+"\n"+`<circle cx="140" cy="193" r="3.5"/>`) {
		t.Errorf("the one-point line's dot is not drawn in its colour at (1, 0.5):\n%s", svg)
	}
}
