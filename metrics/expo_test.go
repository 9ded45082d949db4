package metrics

import (
	"math"
	"strings"
	"testing"
)

func TestEscaping(t *testing.T) {
	var w Writer
	w.Family("cairn_x", Gauge, "help with \\ a backslash\nand a line feed")
	w.Sample("cairn_x", []string{"type", "v"}, []string{"a\"b\\c\nd", "bad\xffutf8"}, 1)
	want := "# HELP cairn_x help with \\\\ a backslash\\nand a line feed\n" +
		"# TYPE cairn_x gauge\n" +
		"cairn_x{type=\"a\\\"b\\\\c\\nd\",v=\"bad\uFFFDutf8\"} 1\n"
	if got := string(w.Bytes()); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

func TestFormatFloat(t *testing.T) {
	for v, want := range map[float64]string{
		math.Inf(1): "+Inf", math.Inf(-1): "-Inf", 0: "0", 1: "1", 0.25: "0.25", 1e21: "1e+21", 1234567: "1.234567e+06",
		0.0001: "0.0001", 1.5e-7: "1.5e-07",
	} {
		if got := formatFloat(v); got != want {
			t.Errorf("formatFloat(%v) = %q, want %q", v, got, want)
		}
	}
	if got := formatFloat(math.NaN()); got != "NaN" {
		t.Errorf("formatFloat(NaN) = %q", got)
	}
}

// Buckets are cumulative, le is inclusive, +Inf counts everything, and
// series come out sorted by label values.
func TestHistogramCumulative(t *testing.T) {
	h := NewHistogramVec("cairn_h_seconds", "h", []float64{1, 2, 5}, "k")
	for _, v := range []float64{0.5, 1, 1.5, 2, 7, 100} {
		h.Observe(v, "b")
	}
	h.Observe(3, "a")
	h.Observe(math.NaN(), "a") // dropped
	var w Writer
	h.Write(&w)
	want := `# HELP cairn_h_seconds h
# TYPE cairn_h_seconds histogram
cairn_h_seconds_bucket{k="a",le="1"} 0
cairn_h_seconds_bucket{k="a",le="2"} 0
cairn_h_seconds_bucket{k="a",le="5"} 1
cairn_h_seconds_bucket{k="a",le="+Inf"} 1
cairn_h_seconds_sum{k="a"} 3
cairn_h_seconds_count{k="a"} 1
cairn_h_seconds_bucket{k="b",le="1"} 2
cairn_h_seconds_bucket{k="b",le="2"} 4
cairn_h_seconds_bucket{k="b",le="5"} 4
cairn_h_seconds_bucket{k="b",le="+Inf"} 6
cairn_h_seconds_sum{k="b"} 112
cairn_h_seconds_count{k="b"} 6
`
	if got := string(w.Bytes()); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

// A counter never goes down: a negative or NaN add is ignored.
func TestCounterMonotonic(t *testing.T) {
	c := NewCounterVec("cairn_c_total", "c", "k")
	c.Add(2, "x")
	c.Add(-5, "x")
	c.Add(math.NaN(), "x")
	c.Add(1, "x")
	if got := c.Value("x"); got != 3 {
		t.Fatalf("counter = %v, want 3", got)
	}
}

func TestBadNamesPanic(t *testing.T) {
	for _, tc := range []struct {
		what string
		make func()
	}{
		{"metric name", func() { NewCounterVec("cairn-x_total", "") }},
		{"label name", func() { NewCounterVec("cairn_x_total", "", "a-b") }},
		{"reserved label", func() { NewCounterVec("cairn_x_total", "", "__x") }},
		{"le on a histogram", func() { NewHistogramVec("cairn_x", "", []float64{1}, "le") }},
		{"bounds not increasing", func() { NewHistogramVec("cairn_x", "", []float64{1, 1}) }},
		{"infinite bound", func() { NewHistogramVec("cairn_x", "", []float64{1, math.Inf(1)}) }},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", tc.what)
				}
			}()
			tc.make()
		}()
	}
	if !strings.Contains(ContentType, "version=0.0.4") {
		t.Fatalf("content type %q", ContentType)
	}
}
