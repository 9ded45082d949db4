package plot

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"math"
	"strings"
	"testing"
)

func driftBars() BarChart {
	return BarChart{
		Title: "Drift <per> feature", ValueLabel: "PSI", Threshold: 0.2, ThresholdLabel: "PSI ≥ 0.2 & drifted",
		Bars: []Bar{
			{Label: "age", Value: 0.05, Note: "p 0.3"},
			{Label: "income & <bonus>", Value: 0.45, Note: "p 1e-06", Highlight: true},
			{Label: "a very long feature name that goes on and on", Value: 0},
		},
	}
}

func TestBarChartSVG(t *testing.T) {
	var a, b bytes.Buffer
	if err := driftBars().SVG(&a); err != nil {
		t.Fatal(err)
	}
	if err := driftBars().SVG(&b); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("the same chart gave different bytes")
	}
	dec := xml.NewDecoder(bytes.NewReader(a.Bytes()))
	var bars, highlighted, thresholds int
	var widths []string
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, a.String())
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		for _, at := range se.Attr {
			switch {
			case at.Name.Local == "class" && strings.HasPrefix(at.Value, "bar"):
				bars++
				if strings.Contains(at.Value, "highlight") {
					highlighted++
				}
				for _, at2 := range se.Attr {
					if at2.Name.Local == "width" {
						widths = append(widths, at2.Value)
					}
				}
			case at.Name.Local == "class" && at.Value == "threshold":
				thresholds++
			}
		}
	}
	if bars != 3 || highlighted != 1 || thresholds != 1 {
		t.Errorf("%d bars (%d highlighted), %d threshold lines; want 3 (1), 1", bars, highlighted, thresholds)
	}
	// The axis ends at 0.45 * 1.1; the second bar is 1/1.1 of the plot
	// width, the third has none.
	s := a.String()
	for _, want := range []string{"income &amp; &lt;bonus&gt;", "Drift &lt;per&gt; feature", "PSI ≥ 0.2 &amp; drifted", "a very long feature nam…"} {
		if !strings.Contains(s, want) {
			t.Errorf("missing %q", want)
		}
	}
	if len(widths) == 3 && widths[2] != "0" {
		t.Errorf("bar widths %v, want the zero bar empty", widths)
	}
	golden(t, "testdata/bars.svg", a.Bytes())
}

func TestBarChartRefusesBadValues(t *testing.T) {
	for _, c := range []BarChart{
		{Bars: []Bar{{Label: "x", Value: math.NaN()}}},
		{Bars: []Bar{{Label: "x", Value: -1}}},
		{Bars: []Bar{{Label: "x", Value: math.Inf(1)}}},
		{Threshold: math.NaN()},
		{Max: -2},
	} {
		if err := c.SVG(io.Discard); !errors.Is(err, ErrChart) {
			t.Errorf("%+v: error %v, want ErrChart", c, err)
		}
	}
	// No bars at all still draws the axes.
	var b bytes.Buffer
	if err := (BarChart{Title: "nothing"}).SVG(&b); err != nil || !strings.Contains(b.String(), "nothing") {
		t.Errorf("empty chart: %v", err)
	}
}
