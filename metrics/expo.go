package metrics

import (
	"bytes"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// ContentType is the media type of the text exposition format 0.0.4.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// Types of metric families, as the TYPE line says them.
const (
	Counter   = "counter"
	Gauge     = "gauge"
	Histogram = "histogram"
)

var (
	metricName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`) })
	labelName  = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`) })
)

// checkNames panics on a metric or label name the format does not allow:
// names are constants of this package, so a bad one is a programming
// error, caught by any test that builds the collector.
func checkNames(name, typ string, labels []string) {
	if !metricName().MatchString(name) {
		panic(fmt.Sprintf("metrics: invalid metric name %q", name))
	}
	for _, l := range labels {
		if !labelName().MatchString(l) || strings.HasPrefix(l, "__") || (typ == Histogram && l == "le") {
			panic(fmt.Sprintf("metrics: %s: invalid label name %q", name, l))
		}
	}
}

// Writer writes metric families in the text exposition format 0.0.4:
// each family's HELP and TYPE lines, then its samples. Label values and
// help text are escaped; values are Go floats written as the format
// reads them (+Inf, -Inf, NaN).
type Writer struct {
	b bytes.Buffer
}

// Bytes returns what was written.
func (w *Writer) Bytes() []byte { return w.b.Bytes() }

// Family starts a family: its HELP and TYPE lines.
func (w *Writer) Family(name, typ, help string) {
	w.b.WriteString("# HELP ")
	w.b.WriteString(name)
	w.b.WriteByte(' ')
	w.b.WriteString(escapeHelp(help))
	w.b.WriteString("\n# TYPE ")
	w.b.WriteString(name)
	w.b.WriteByte(' ')
	w.b.WriteString(typ)
	w.b.WriteByte('\n')
}

// Sample writes one sample: name{labels[0]="values[0]",...} value.
// labels and values have the same length.
func (w *Writer) Sample(name string, labels, values []string, v float64) {
	w.b.WriteString(name)
	if len(labels) > 0 {
		w.b.WriteByte('{')
		for i, l := range labels {
			if i > 0 {
				w.b.WriteByte(',')
			}
			w.b.WriteString(l)
			w.b.WriteString(`="`)
			w.b.WriteString(escapeLabel(values[i]))
			w.b.WriteByte('"')
		}
		w.b.WriteByte('}')
	}
	w.b.WriteByte(' ')
	w.b.WriteString(formatFloat(v))
	w.b.WriteByte('\n')
}

// escapeHelp escapes a HELP line's text: backslash and line feed.
func escapeHelp(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(s)
}

// escapeLabel escapes a label value: backslash, double quote and line
// feed. The format is UTF-8: invalid bytes become U+FFFD.
func escapeLabel(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if !strings.ContainsAny(s, "\\\"\n") {
		return s
	}
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}

// formatFloat writes v as the format reads it: the shortest text that
// reads back as v, and +Inf, -Inf, NaN.
func formatFloat(v float64) string {
	switch {
	case math.IsInf(v, +1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// key joins label values into a map key (0xff never occurs in UTF-8).
func key(values []string) string { return strings.Join(values, "\xff") }

// appendKey appends key(values) to b: a lookup with m[string(appendKey(buf[:0], ...))]
// allocates nothing (a counter is added to on every request).
func appendKey(b []byte, values []string) []byte {
	for i, v := range values {
		if i > 0 {
			b = append(b, 0xff)
		}
		b = append(b, v...)
	}
	return b
}

// CounterVec is a counter family with labels: each set of label values
// is a counter that only goes up.
type CounterVec struct {
	name, help string
	labels     []string
	mu         sync.Mutex
	series     map[string]*counterSeries
}

type counterSeries struct {
	values []string
	n      float64
}

// NewCounterVec returns a counter family. The name should end in _total.
func NewCounterVec(name, help string, labels ...string) *CounterVec {
	checkNames(name, Counter, labels)
	return &CounterVec{name: name, help: help, labels: labels, series: map[string]*counterSeries{}}
}

// Add adds n (>= 0; a negative n is ignored: counters are monotonic) to
// the counter of the label values, creating it at 0.
func (c *CounterVec) Add(n float64, values ...string) {
	if len(values) != len(c.labels) {
		panic(fmt.Sprintf("metrics: %s: %d label values for %d labels", c.name, len(values), len(c.labels)))
	}
	if !(n >= 0) {
		n = 0
	}
	var buf [128]byte
	k := appendKey(buf[:0], values)
	c.mu.Lock()
	s := c.series[string(k)]
	if s == nil {
		s = &counterSeries{values: slices.Clone(values)}
		c.series[string(k)] = s
	}
	s.n += n
	c.mu.Unlock()
}

// Value returns the counter of the label values (0 if never added to).
func (c *CounterVec) Value(values ...string) float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.series[key(values)]; s != nil {
		return s.n
	}
	return 0
}

// Write writes the family, its series sorted by label values.
func (c *CounterVec) Write(w *Writer) {
	c.mu.Lock()
	series := make([]counterSeries, 0, len(c.series))
	for _, s := range c.series {
		series = append(series, *s)
	}
	c.mu.Unlock()
	slices.SortFunc(series, func(a, b counterSeries) int { return slices.Compare(a.values, b.values) })
	w.Family(c.name, Counter, c.help)
	for _, s := range series {
		w.Sample(c.name, c.labels, s.values, s.n)
	}
}

// HistogramVec is a histogram family with labels: each set of label
// values counts observations in fixed buckets, written cumulative, with
// the +Inf bucket, _sum and _count.
type HistogramVec struct {
	name, help string
	labels     []string
	bounds     []float64 // upper bounds, increasing, without +Inf
	mu         sync.Mutex
	series     map[string]*histSeries
}

type histSeries struct {
	values []string
	counts []uint64 // per bucket, not cumulative; the last is +Inf
	sum    float64
	count  uint64
}

// NewHistogramVec returns a histogram family with the buckets' upper
// bounds (increasing, finite; +Inf is added).
func NewHistogramVec(name, help string, bounds []float64, labels ...string) *HistogramVec {
	checkNames(name, Histogram, labels)
	for i, b := range bounds {
		if math.IsInf(b, 0) || math.IsNaN(b) || (i > 0 && b <= bounds[i-1]) {
			panic(fmt.Sprintf("metrics: %s: bucket bounds must increase and be finite: %v", name, bounds))
		}
	}
	return &HistogramVec{name: name, help: help, labels: labels, bounds: slices.Clone(bounds), series: map[string]*histSeries{}}
}

// Observe records v in the histogram of the label values. A NaN is
// dropped.
func (h *HistogramVec) Observe(v float64, values ...string) {
	if len(values) != len(h.labels) {
		panic(fmt.Sprintf("metrics: %s: %d label values for %d labels", h.name, len(values), len(h.labels)))
	}
	if math.IsNaN(v) {
		return
	}
	i, _ := slices.BinarySearch(h.bounds, v) // the first bound >= v: buckets are le
	var buf [128]byte
	k := appendKey(buf[:0], values)
	h.mu.Lock()
	s := h.series[string(k)]
	if s == nil {
		s = &histSeries{values: slices.Clone(values), counts: make([]uint64, len(h.bounds)+1)}
		h.series[string(k)] = s
	}
	s.counts[i]++
	s.sum += v
	s.count++
	h.mu.Unlock()
}

// Init creates the histogram of the label values with no observation,
// so that its series exist from the start.
func (h *HistogramVec) Init(values ...string) {
	k := key(values)
	h.mu.Lock()
	if h.series[k] == nil {
		h.series[k] = &histSeries{values: slices.Clone(values), counts: make([]uint64, len(h.bounds)+1)}
	}
	h.mu.Unlock()
}

// Count returns how many observations the label values' histogram has.
func (h *HistogramVec) Count(values ...string) uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	if s := h.series[key(values)]; s != nil {
		return s.count
	}
	return 0
}

// Write writes the family, its series sorted by label values.
func (h *HistogramVec) Write(w *Writer) {
	h.mu.Lock()
	series := make([]histSeries, 0, len(h.series))
	for _, s := range h.series {
		c := *s
		c.counts = slices.Clone(s.counts)
		series = append(series, c)
	}
	h.mu.Unlock()
	slices.SortFunc(series, func(a, b histSeries) int { return slices.Compare(a.values, b.values) })
	w.Family(h.name, Histogram, h.help)
	labels := append(slices.Clone(h.labels), "le")
	bucket := h.name + "_bucket"
	for _, s := range series {
		values := append(slices.Clone(s.values), "")
		var cum uint64
		for i, n := range s.counts {
			cum += n
			le := "+Inf"
			if i < len(h.bounds) {
				le = formatFloat(h.bounds[i])
			}
			values[len(values)-1] = le
			w.Sample(bucket, labels, values, float64(cum))
		}
		w.Sample(h.name+"_sum", h.labels, s.values, s.sum)
		w.Sample(h.name+"_count", h.labels, s.values, float64(s.count))
	}
}
