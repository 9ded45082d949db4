package draw

import (
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Point is one run on an experiments chart: its value on the y axis and,
// on a numeric x axis, X, on a categorical one, Cat.
type Point struct {
	Run  string // the run's id: the point's tooltip
	Href string // where the point links ("" for none)
	X    float64
	Cat  string
	Y    float64
}

// RunChart is a chart of runs: a metric across runs (Line, x the run's
// place in creation order) or a param against a metric (a scatter, x
// numeric or, with Categorical, one band per value in Categories' order).
type RunChart struct {
	Title, XLabel, YLabel string
	// Line joins the points in order (a metric across runs).
	Line bool
	// Categorical puts one band per category on the x axis, in the order
	// of Categories (every Point.Cat must be one of them); within a band
	// each point's place comes from its run id (the same on every
	// drawing), and a bar marks the band's mean.
	Categorical bool
	Categories  []string
	Points      []Point
	// Empty is what the chart says when it has no point.
	Empty string
}

// Geometry of a RunChart, in user units.
const (
	rcW, rcH                       = 640, 380
	rcLeft, rcRight, rcTop, rcBott = 70, 20, 34, 74
	rcMaxCatLabel                  = 16 // runes of a category's label shown
)

// maxCategories bounds the bands of a categorical axis; RunChart refuses
// more (the caller folds the rest into one).
const maxCategories = 40

// Chart writes c as a standalone SVG document: the same bytes for the
// same chart, every text escaped, every point a link to its run (when
// Href is set) with its run id and values as a tooltip. Points whose
// values are not finite are an error, as is a category it does not list.
func Chart(w io.Writer, c RunChart) error {
	cat := map[string]int{}
	if c.Categorical {
		if len(c.Categories) > maxCategories {
			return fmt.Errorf("chart %q: %d categories, at most %d", c.Title, len(c.Categories), maxCategories)
		}
		for i, k := range c.Categories {
			cat[k] = i
		}
	}
	for i, p := range c.Points {
		if bad(p.Y) || !c.Categorical && bad(p.X) {
			return fmt.Errorf("chart %q: point %d (run %s) is not finite", c.Title, i, p.Run)
		}
		if _, ok := cat[p.Cat]; c.Categorical && !ok {
			return fmt.Errorf("chart %q: point %d (run %s) has category %q, which Categories does not list", c.Title, i, p.Run, p.Cat)
		}
	}
	pw, ph := float64(rcW-rcLeft-rcRight), float64(rcH-rcTop-rcBott)
	ylo, yhi := span(c.Points, func(p Point) float64 { return p.Y })
	py := func(y float64) float64 { return rcTop + ph*(1-(y-ylo)/(yhi-ylo)) }
	var xlo, xhi float64
	var px func(p Point, j, n int) float64
	if c.Categorical {
		band := pw / float64(max(len(c.Categories), 1))
		px = func(p Point, _, _ int) float64 {
			// Spread over the middle 60% of the band by a hash of the
			// run's id: the same place on every drawing.
			h := fnv.New32a()
			h.Write([]byte(p.Run))
			return rcLeft + band*(float64(cat[p.Cat])+0.2+0.6*float64(h.Sum32()%1000)/999)
		}
	} else {
		xlo, xhi = span(c.Points, func(p Point) float64 { return p.X })
		px = func(p Point, _, _ int) float64 { return rcLeft + pw*(p.X-xlo)/(xhi-xlo) }
	}

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" class="run-chart" viewBox="0 0 %d %d" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", rcW, rcH, rcW, rcH)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#ffffff"/>`+"\n", rcW, rcH)
	if c.Title != "" {
		fmt.Fprintf(&b, `<text x="%d" y="20" text-anchor="middle" font-size="14">%s</text>`+"\n", rcW/2, esc(clipText(c.Title, 80)))
	}
	// The y grid at fifths, and the x grid: fifths of a numeric axis, one
	// line between bands of a categorical one.
	for _, v := range niceTicks(ylo, yhi) {
		y := py(v)
		fmt.Fprintf(&b, `<line x1="%d" y1="%s" x2="%d" y2="%s" stroke="#e5e5e5"/>`+"\n", rcLeft, num(y), rcW-rcRight, num(y))
		fmt.Fprintf(&b, `<text x="%d" y="%s" text-anchor="end" dominant-baseline="middle">%s</text>`+"\n", rcLeft-6, num(y), tickLabel(v))
	}
	if c.Categorical {
		band := pw / float64(max(len(c.Categories), 1))
		for i, k := range c.Categories {
			x := rcLeft + band*float64(i)
			if i > 0 {
				fmt.Fprintf(&b, `<line x1="%s" y1="%d" x2="%s" y2="%d" stroke="#e5e5e5"/>`+"\n", num(x), rcTop, num(x), rcH-rcBott)
			}
			cx := x + band/2
			label := esc(clipText(k, rcMaxCatLabel))
			if len(c.Categories) > 8 { // slanted, so that they do not overlap
				fmt.Fprintf(&b, `<text class="category" transform="translate(%s %d) rotate(-35)" text-anchor="end">%s<title>%s</title></text>`+"\n", num(cx), rcH-rcBott+14, label, esc(k))
			} else {
				fmt.Fprintf(&b, `<text class="category" x="%s" y="%d" text-anchor="middle">%s<title>%s</title></text>`+"\n", num(cx), rcH-rcBott+16, label, esc(k))
			}
		}
	} else {
		for _, v := range niceTicks(xlo, xhi) {
			x := rcLeft + pw*(v-xlo)/(xhi-xlo)
			fmt.Fprintf(&b, `<line x1="%s" y1="%d" x2="%s" y2="%d" stroke="#e5e5e5"/>`+"\n", num(x), rcTop, num(x), rcH-rcBott)
			fmt.Fprintf(&b, `<text x="%s" y="%d" text-anchor="middle">%s</text>`+"\n", num(x), rcH-rcBott+16, tickLabel(v))
		}
	}
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%s" height="%s" fill="none" stroke="#333333"/>`+"\n", rcLeft, rcTop, num(pw), num(ph))
	fmt.Fprintf(&b, `<text x="%s" y="%d" text-anchor="middle">%s</text>`+"\n", num(rcLeft+pw/2), rcH-10, esc(clipText(c.XLabel, 80)))
	fmt.Fprintf(&b, `<text transform="translate(16 %s) rotate(-90)" text-anchor="middle">%s</text>`+"\n", num(rcTop+ph/2), esc(clipText(c.YLabel, 50)))
	if len(c.Points) == 0 {
		fmt.Fprintf(&b, `<text class="empty" x="%s" y="%s" text-anchor="middle" fill="#5c5c5c">%s</text>`+"\n", num(rcLeft+pw/2), num(rcTop+ph/2), esc(c.Empty))
		b.WriteString("</svg>\n")
		_, err := io.WriteString(w, b.String())
		return err
	}

	// Where each point goes: its place within its band (categorical).
	xs := make([]float64, len(c.Points))
	if c.Categorical {
		count := map[string]int{}
		for _, p := range c.Points {
			count[p.Cat]++
		}
		seen := map[string]int{}
		sum := map[string]float64{}
		for i, p := range c.Points {
			xs[i] = px(p, seen[p.Cat], count[p.Cat])
			seen[p.Cat]++
			sum[p.Cat] += p.Y
		}
		band := pw / float64(len(c.Categories))
		for i, k := range c.Categories {
			if count[k] == 0 {
				continue
			}
			mean := sum[k] / float64(count[k])
			x := rcLeft + band*float64(i)
			fmt.Fprintf(&b, `<line class="mean" x1="%s" y1="%s" x2="%s" y2="%s" stroke="#d55e00" stroke-width="2"><title>%s: mean %s of %d</title></line>`+"\n",
				num(x+band*0.15), num(py(mean)), num(x+band*0.85), num(py(mean)), esc(k), tickLabel(mean), count[k])
		}
	} else {
		for i, p := range c.Points {
			xs[i] = px(p, 0, 0)
		}
	}
	if c.Line && len(c.Points) > 1 {
		b.WriteString(`<polyline fill="none" stroke="#0072b2" stroke-width="1.5" points="`)
		for i, p := range c.Points {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(num(xs[i]) + "," + num(py(p.Y)))
		}
		b.WriteString("\"/>\n")
	}
	r := "3.5"
	if len(c.Points) > 200 {
		r = "2.5"
	}
	b.WriteString(`<g fill="#0072b2" fill-opacity="0.75">` + "\n")
	for i, p := range c.Points {
		xv := c.XLabel + " " + tickLabel(p.X)
		if c.Categorical {
			xv = c.XLabel + " " + p.Cat
		}
		tip := esc(fmt.Sprintf("run %s: %s, %s %s", p.Run, xv, c.YLabel, strconv.FormatFloat(p.Y, 'g', 6, 64)))
		dot := `<circle class="point" data-run="` + esc(p.Run) + `" cx="` + num(xs[i]) + `" cy="` + num(py(p.Y)) + `" r="` + r + `"><title>` + tip + `</title></circle>`
		if p.Href != "" {
			dot = `<a href="` + esc(p.Href) + `">` + dot + `</a>`
		}
		b.WriteString(dot + "\n")
	}
	b.WriteString("</g>\n</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func bad(v float64) bool { return math.IsNaN(v) || math.IsInf(v, 0) }

// span is the range of f over ps with a margin of a twentieth on each
// side; a single value gets a range around it, no point [0, 1].
func span(ps []Point, f func(Point) float64) (float64, float64) {
	if len(ps) == 0 {
		return 0, 1
	}
	lo, hi := f(ps[0]), f(ps[0])
	for _, p := range ps[1:] {
		lo, hi = math.Min(lo, f(p)), math.Max(hi, f(p))
	}
	if hi == lo {
		d := math.Max(math.Abs(lo)/20, 0.5)
		return lo - d, hi + d
	}
	m := (hi - lo) / 20
	return lo - m, hi + m
}

// niceTicks are the values of [lo, hi] at a round step (1, 2 or 5 times
// a power of ten) that gives about five ticks.
func niceTicks(lo, hi float64) []float64 {
	raw := (hi - lo) / 5
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 5, 10} {
		if step = m * mag; step >= raw {
			break
		}
	}
	var out []float64
	for i := math.Ceil(lo / step); i*step <= hi+step*1e-9 && len(out) < 12; i++ {
		out = append(out, i*step)
	}
	return out
}

// tickLabel is an axis value in at most four significant digits.
func tickLabel(v float64) string {
	if math.Abs(v) < 1e-12 {
		v = 0
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

// Categories orders the values of a categorical axis: numbers by value
// (when every value reads as one), else as text; past maxCategories the
// rarest are folded into other, whose name it returns as the last
// category (fold maps each folded value to it).
func Categories(values []string, other string) (cats []string, fold map[string]string) {
	count := map[string]int{}
	for _, v := range values {
		count[v]++
	}
	for v := range count {
		cats = append(cats, v)
	}
	numeric := true
	nums := map[string]float64{}
	for _, v := range cats {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			numeric = false
			break
		}
		nums[v] = f
	}
	sort.Slice(cats, func(i, j int) bool {
		if numeric && nums[cats[i]] != nums[cats[j]] {
			return nums[cats[i]] < nums[cats[j]]
		}
		return cats[i] < cats[j]
	})
	fold = map[string]string{}
	if len(cats) <= maxCategories {
		return cats, fold
	}
	// Keep the most frequent maxCategories-1 (ties by order), fold the rest.
	byCount := append([]string(nil), cats...)
	sort.SliceStable(byCount, func(i, j int) bool { return count[byCount[i]] > count[byCount[j]] })
	keep := map[string]bool{}
	for _, v := range byCount[:maxCategories-1] {
		keep[v] = true
	}
	var out []string
	for _, v := range cats {
		if keep[v] {
			out = append(out, v)
		} else {
			fold[v] = other
		}
	}
	return append(out, other), fold
}
