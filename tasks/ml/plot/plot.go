// Package plot draws the pictures of Cairn's ML results — ROC curves and
// other line charts, bar charts — as deterministic SVG for files and the
// web UI, and (line charts) as Unicode braille text for terminals. It does
// no I/O of its own beyond the writer it is given, reads no clock, and
// gives the same bytes for the same chart every time.
package plot

import (
	"errors"
	"fmt"
	"html"
	"io"
	"math"
	"strconv"
	"strings"
)

// Series is one line of a chart: points (X[i], Y[i]) joined in order, or
// drawn as separate dots when Dots is set (a scatter plot). Markers draws
// each point of a line as a dot too (in SVG), so that a line of one point
// shows.
type Series struct {
	Name    string
	X, Y    []float64
	Dots    bool
	Markers bool
}

// Chart is a line chart over fixed axis ranges.
type Chart struct {
	Title, XLabel, YLabel string
	// XMin..XMax and YMin..YMax are the axis ranges; points outside are
	// clipped to the frame.
	XMin, XMax, YMin, YMax float64
	// Diagonal draws the line y = x (chance level on a ROC chart).
	Diagonal bool
	Series   []Series
}

// ROC returns the chart of one or more ROC curves (false positive rate
// against true positive rate) on the unit square, with the chance diagonal.
func ROC(title string, curves ...Series) Chart {
	return Chart{Title: title, XLabel: "false positive rate", YLabel: "true positive rate",
		XMin: 0, XMax: 1, YMin: 0, YMax: 1, Diagonal: true, Series: curves}
}

// Scatter returns the chart of predicted against true values (or any
// pairs): dots, on axes that span both with a margin of a twentieth, and
// the line y = x where a perfect prediction would fall.
func Scatter(title, xLabel, yLabel string, x, y []float64) Chart {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, vs := range [][]float64{x, y} {
		for _, v := range vs {
			if !math.IsNaN(v) && !math.IsInf(v, 0) {
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
		}
	}
	if !(hi > lo) { // no points, or all equal
		if math.IsInf(lo, 1) {
			lo, hi = 0, 1
		}
		lo, hi = lo-0.5, hi+0.5
	}
	m := (hi - lo) / 20
	return Chart{Title: title, XLabel: xLabel, YLabel: yLabel, XMin: lo - m, XMax: hi + m, YMin: lo - m, YMax: hi + m,
		Diagonal: true, Series: []Series{{X: x, Y: y, Dots: true}}}
}

// ErrChart says a chart cannot be drawn: an empty or inverted axis range,
// a series whose X and Y differ in length, or a non-finite point.
var ErrChart = errors.New("invalid chart")

func (c Chart) check() error {
	if !(c.XMax > c.XMin) || !(c.YMax > c.YMin) || anyInf(c.XMin, c.XMax, c.YMin, c.YMax) {
		return fmt.Errorf("axis ranges x [%g, %g], y [%g, %g]: %w", c.XMin, c.XMax, c.YMin, c.YMax, ErrChart)
	}
	for _, s := range c.Series {
		if len(s.X) != len(s.Y) {
			return fmt.Errorf("series %q has %d x and %d y values: %w", s.Name, len(s.X), len(s.Y), ErrChart)
		}
		for i := range s.X {
			if anyInf(s.X[i], s.Y[i]) {
				return fmt.Errorf("series %q point %d (%g, %g) is not finite: %w", s.Name, i, s.X[i], s.Y[i], ErrChart)
			}
		}
	}
	return nil
}

func anyInf(vs ...float64) bool {
	for _, v := range vs {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return true
		}
	}
	return false
}

// palette holds the series colours, reused in turn (colour-blind safe,
// after Okabe and Ito).
var palette = [...]string{"#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000"}

// SVG geometry, in user units.
const (
	svgW, svgH                         = 480, 400
	padLeft, padRight, padTop, padBott = 60, 20, 36, 50
)

// SVG writes the chart as a standalone SVG document. Coordinates are
// written with two decimals, so the bytes depend only on the chart.
func (c Chart) SVG(w io.Writer) error {
	if err := c.check(); err != nil {
		return err
	}
	pw, ph := float64(svgW-padLeft-padRight), float64(svgH-padTop-padBott)
	px := func(x float64) float64 { return padLeft + pw*clamp((x-c.XMin)/(c.XMax-c.XMin)) }
	py := func(y float64) float64 { return padTop + ph*(1-clamp((y-c.YMin)/(c.YMax-c.YMin))) }

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", svgW, svgH, svgW, svgH)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#ffffff"/>`+"\n", svgW, svgH)
	if c.Title != "" {
		fmt.Fprintf(&b, `<text x="%d" y="22" text-anchor="middle" font-size="14">%s</text>`+"\n", svgW/2, html.EscapeString(c.Title))
	}
	// Grid and tick labels at fifths of each axis.
	for i := 0; i <= 5; i++ {
		f := float64(i) / 5
		x, y := padLeft+pw*f, padTop+ph*(1-f)
		fmt.Fprintf(&b, `<line x1="%s" y1="%d" x2="%s" y2="%d" stroke="#e5e5e5"/>`+"\n", num(x), padTop, num(x), svgH-padBott)
		fmt.Fprintf(&b, `<line x1="%d" y1="%s" x2="%d" y2="%s" stroke="#e5e5e5"/>`+"\n", padLeft, num(y), svgW-padRight, num(y))
		fmt.Fprintf(&b, `<text x="%s" y="%d" text-anchor="middle">%s</text>`+"\n", num(x), svgH-padBott+16, tick(c.XMin+f*(c.XMax-c.XMin)))
		fmt.Fprintf(&b, `<text x="%d" y="%s" text-anchor="end" dominant-baseline="middle">%s</text>`+"\n", padLeft-6, num(y), tick(c.YMin+f*(c.YMax-c.YMin)))
	}
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%s" height="%s" fill="none" stroke="#333333"/>`+"\n", padLeft, padTop, num(pw), num(ph))
	fmt.Fprintf(&b, `<text x="%s" y="%d" text-anchor="middle">%s</text>`+"\n", num(padLeft+pw/2), svgH-12, html.EscapeString(c.XLabel))
	fmt.Fprintf(&b, `<text transform="translate(16 %s) rotate(-90)" text-anchor="middle">%s</text>`+"\n", num(padTop+ph/2), html.EscapeString(c.YLabel))
	if c.Diagonal {
		lo, hi := math.Max(c.XMin, c.YMin), math.Min(c.XMax, c.YMax)
		if hi > lo {
			fmt.Fprintf(&b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#999999" stroke-dasharray="4 4"/>`+"\n", num(px(lo)), num(py(lo)), num(px(hi)), num(py(hi)))
		}
	}
	for i, s := range c.Series {
		colour := palette[i%len(palette)]
		if s.Dots {
			b.WriteString(`<g fill="` + colour + `" fill-opacity="0.6">` + "\n")
			for j := range s.X {
				b.WriteString(`<circle cx="` + num(px(s.X[j])) + `" cy="` + num(py(s.Y[j])) + `" r="2.5"/>` + "\n")
			}
			b.WriteString("</g>\n")
		} else if len(s.X) > 0 {
			b.WriteString(`<polyline fill="none" stroke-width="2" stroke="` + colour + `" points="`)
			for j := range s.X {
				if j > 0 {
					b.WriteByte(' ')
				}
				b.WriteString(num(px(s.X[j])) + "," + num(py(s.Y[j])))
			}
			b.WriteString("\"/>\n")
			if s.Markers {
				b.WriteString(`<g fill="` + colour + `">` + "\n")
				for j := range s.X {
					b.WriteString(`<circle cx="` + num(px(s.X[j])) + `" cy="` + num(py(s.Y[j])) + `" r="3.5"/>` + "\n")
				}
				b.WriteString("</g>\n")
			}
		}
		if s.Name != "" { // legend, bottom right inside the frame
			ly := svgH - padBott - 12 - 18*(len(c.Series)-1-i)
			fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"/>`+"\n", svgW-padRight-170, ly, svgW-padRight-150, ly, colour)
			fmt.Fprintf(&b, `<text x="%d" y="%d" dominant-baseline="middle">%s</text>`+"\n", svgW-padRight-144, ly, html.EscapeString(s.Name))
		}
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func clamp(f float64) float64 { return math.Min(1, math.Max(0, f)) }

// num formats a coordinate with two decimals and no trailing zeros.
func num(v float64) string {
	s := strconv.FormatFloat(v, 'f', 2, 64)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	if s == "-0" {
		s = "0"
	}
	return s
}

// tick formats an axis label.
func tick(v float64) string { return strconv.FormatFloat(v, 'g', 3, 64) }

// Text draws the chart in a terminal: a frame of width × height character
// cells, each a 2 × 4 braille dot matrix, with the y range on the left and
// the x range underneath, and a legend line per named series (all series
// share the dots; a terminal has no colour guarantee). width and height
// are at least 10 and 4.
func (c Chart) Text(width, height int) (string, error) {
	if err := c.check(); err != nil {
		return "", err
	}
	width, height = max(width, 10), max(height, 4)
	dw, dh := 2*width, 4*height
	dots := make([]uint8, width*height) // braille bits per cell
	set := func(x, y int) {
		if x < 0 || y < 0 || x >= dw || y >= dh {
			return
		}
		// Braille bit layout per cell: columns 0,1; rows 0..3.
		bits := [2][4]uint8{{0x01, 0x02, 0x04, 0x40}, {0x08, 0x10, 0x20, 0x80}}
		dots[(y/4)*width+x/2] |= bits[x%2][y%4]
	}
	toDot := func(x, y float64) (int, int) {
		fx := clamp((x - c.XMin) / (c.XMax - c.XMin))
		fy := clamp((y - c.YMin) / (c.YMax - c.YMin))
		return int(math.Round(fx * float64(dw-1))), int(math.Round((1 - fy) * float64(dh-1)))
	}
	line := func(x0, y0, x1, y1 float64) {
		ax, ay := toDot(x0, y0)
		bx, by := toDot(x1, y1)
		n := max(abs(bx-ax), abs(by-ay), 1)
		for i := 0; i <= n; i++ {
			set(ax+(bx-ax)*i/n, ay+(by-ay)*i/n)
		}
	}
	if c.Diagonal {
		lo, hi := math.Max(c.XMin, c.YMin), math.Min(c.XMax, c.YMax)
		if hi > lo {
			ax, ay := toDot(lo, lo)
			bx, by := toDot(hi, hi)
			n := max(abs(bx-ax), abs(by-ay), 1)
			for i := 0; i <= n; i += 3 { // dotted
				set(ax+(bx-ax)*i/n, ay+(by-ay)*i/n)
			}
		}
	}
	for _, s := range c.Series {
		for j := range s.X {
			if j == 0 || s.Dots {
				line(s.X[j], s.Y[j], s.X[j], s.Y[j])
				continue
			}
			line(s.X[j-1], s.Y[j-1], s.X[j], s.Y[j])
		}
	}

	ylo, yhi := tick(c.YMin), tick(c.YMax)
	lw := max(len(ylo), len(yhi))
	var b strings.Builder
	if c.Title != "" {
		b.WriteString(strings.Repeat(" ", lw+1) + c.Title + "\n")
	}
	for r := 0; r < height; r++ {
		label := ""
		switch r {
		case 0:
			label = yhi
		case height - 1:
			label = ylo
		}
		b.WriteString(fmt.Sprintf("%*s│", lw, label))
		for col := 0; col < width; col++ {
			b.WriteRune(rune(0x2800 + int(dots[r*width+col])))
		}
		b.WriteString("\n")
	}
	b.WriteString(strings.Repeat(" ", lw) + "└" + strings.Repeat("─", width) + "\n")
	xlo, xhi := tick(c.XMin), tick(c.XMax)
	gap := max(1, width-len(xlo)-len(xhi))
	b.WriteString(strings.Repeat(" ", lw+1) + xlo + strings.Repeat(" ", gap) + xhi + "\n")
	if c.XLabel != "" || c.YLabel != "" {
		b.WriteString(strings.Repeat(" ", lw+1) + "x: " + c.XLabel + ", y: " + c.YLabel + "\n")
	}
	for _, s := range c.Series {
		if s.Name != "" {
			b.WriteString(strings.Repeat(" ", lw+1) + "─ " + s.Name + "\n")
		}
	}
	return b.String(), nil
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}
