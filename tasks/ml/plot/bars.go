package plot

import (
	"fmt"
	"html"
	"io"
	"math"
	"strings"
	"unicode/utf8"
)

// Bar is one bar of a BarChart.
type Bar struct {
	Label string
	// Value is the bar's length, finite and not negative.
	Value float64
	// Note is written after the bar's end (a p-value, a count); optional.
	Note string
	// Highlight draws the bar in the alert colour (a drifted feature, a
	// failed gate).
	Highlight bool
}

// BarChart is a horizontal bar chart: one row per bar, in order, labels on
// the left, values from 0 along the x axis, and an optional vertical
// threshold line.
type BarChart struct {
	Title, ValueLabel string
	Bars              []Bar
	// Threshold draws a dashed vertical line at this value when positive,
	// labelled ThresholdLabel.
	Threshold      float64
	ThresholdLabel string
	// Max is the axis' end; 0 means the largest of the values and the
	// threshold, plus a tenth (1 when all are 0).
	Max float64
}

func (c BarChart) check() error {
	if math.IsNaN(c.Max) || math.IsInf(c.Max, 0) || c.Max < 0 {
		return fmt.Errorf("bar chart axis end %g: %w", c.Max, ErrChart)
	}
	if math.IsNaN(c.Threshold) || math.IsInf(c.Threshold, 0) || c.Threshold < 0 {
		return fmt.Errorf("bar chart threshold %g: %w", c.Threshold, ErrChart)
	}
	for i, b := range c.Bars {
		if math.IsNaN(b.Value) || math.IsInf(b.Value, 0) || b.Value < 0 {
			return fmt.Errorf("bar %d (%q) has value %g, want a finite value >= 0: %w", i, b.Label, b.Value, ErrChart)
		}
	}
	return nil
}

// Bar chart geometry, in user units.
const (
	barW, barRow, barTop, barBottom = 560, 24, 44, 46
	barRightPad, barLabelMax        = 96, 24 // room for notes; label runes shown
)

// highlight is the alert colour of a Bar (Okabe–Ito vermillion); other
// bars take the first palette colour.
const highlight = "#d55e00"

// SVG writes the chart as a standalone SVG document: its height grows with
// the number of bars, labels longer than 24 characters are shortened with
// "…" (the whole label is the bar's tooltip), every text is escaped, and
// coordinates have two decimals, so the bytes depend only on the chart.
func (c BarChart) SVG(w io.Writer) error {
	if err := c.check(); err != nil {
		return err
	}
	hi := c.Max
	if hi == 0 {
		hi = c.Threshold
		for _, b := range c.Bars {
			hi = max(hi, b.Value)
		}
		if hi == 0 {
			hi = 1
		} else {
			hi *= 1.1
		}
	}
	labelRunes := 4
	for _, b := range c.Bars {
		labelRunes = max(labelRunes, min(utf8.RuneCountInString(b.Label), barLabelMax))
	}
	left := 16 + 7*labelRunes // about 7 units per character at font size 12
	pw := float64(barW - left - barRightPad)
	rows := max(len(c.Bars), 1)
	ph := float64(rows * barRow)
	h := barTop + rows*barRow + barBottom
	px := func(v float64) float64 { return float64(left) + pw*clamp(v/hi) }

	var s strings.Builder
	fmt.Fprintf(&s, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", barW, h, barW, h)
	fmt.Fprintf(&s, `<rect width="%d" height="%d" fill="#ffffff"/>`+"\n", barW, h)
	if c.Title != "" {
		fmt.Fprintf(&s, `<text x="%d" y="22" text-anchor="middle" font-size="14">%s</text>`+"\n", barW/2, html.EscapeString(c.Title))
	}
	for i := 0; i <= 5; i++ {
		f := float64(i) / 5
		x := float64(left) + pw*f
		fmt.Fprintf(&s, `<line x1="%s" y1="%d" x2="%s" y2="%s" stroke="#e5e5e5"/>`+"\n", num(x), barTop, num(x), num(barTop+ph))
		fmt.Fprintf(&s, `<text x="%s" y="%s" text-anchor="middle">%s</text>`+"\n", num(x), num(barTop+ph+16), tick(f*hi))
	}
	fmt.Fprintf(&s, `<line x1="%d" y1="%d" x2="%d" y2="%s" stroke="#333333"/>`+"\n", left, barTop, left, num(barTop+ph))
	fmt.Fprintf(&s, `<text x="%s" y="%d" text-anchor="middle">%s</text>`+"\n", num(float64(left)+pw/2), h-10, html.EscapeString(c.ValueLabel))
	for i, b := range c.Bars {
		y := float64(barTop + i*barRow)
		colour := palette[0]
		class := "bar"
		if b.Highlight {
			colour, class = highlight, "bar highlight"
		}
		label := b.Label
		if utf8.RuneCountInString(label) > barLabelMax {
			label = string([]rune(label)[:barLabelMax-1]) + "…"
		}
		fmt.Fprintf(&s, `<text x="%d" y="%s" text-anchor="end" dominant-baseline="middle">%s</text>`+"\n", left-6, num(y+barRow/2), html.EscapeString(label))
		fmt.Fprintf(&s, `<rect class="%s" x="%d" y="%s" width="%s" height="%d" fill="%s"><title>%s: %s</title></rect>`+"\n",
			class, left, num(y+4), num(px(b.Value)-float64(left)), barRow-8, colour, html.EscapeString(b.Label), tick(b.Value))
		note := tick(b.Value)
		if b.Note != "" {
			note += " (" + b.Note + ")"
		}
		fmt.Fprintf(&s, `<text x="%s" y="%s" dominant-baseline="middle" font-size="11">%s</text>`+"\n", num(px(b.Value)+4), num(y+barRow/2), html.EscapeString(note))
	}
	if c.Threshold > 0 {
		x := px(c.Threshold)
		fmt.Fprintf(&s, `<line class="threshold" x1="%s" y1="%d" x2="%s" y2="%s" stroke="%s" stroke-dasharray="5 4" stroke-width="1.5"/>`+"\n", num(x), barTop-6, num(x), num(barTop+ph), highlight)
		if c.ThresholdLabel != "" {
			fmt.Fprintf(&s, `<text x="%s" y="%d" text-anchor="middle" font-size="11" fill="%s">%s</text>`+"\n", num(x), barTop-10, highlight, html.EscapeString(c.ThresholdLabel))
		}
	}
	s.WriteString("</svg>\n")
	_, err := io.WriteString(w, s.String())
	return err
}
