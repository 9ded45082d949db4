package dataset

import (
	"math"
	"testing"
)

func TestParseNumberAndDatetime(t *testing.T) {
	for _, c := range []struct {
		in string
		v  float64
		ok bool
	}{
		{"1.5", 1.5, true}, {"-0", 0, true}, {"1e3", 1000, true}, {"007", 7, true}, {"0.1", 0.1, true},
		{"12345678901234567890123", 12345678901234567890123, true}, {"1e400", math.Inf(1), true},
		{"NaN", 0, false}, {"abc", 0, false}, {"", 0, false}, {"1,5", 0, false},
	} {
		v, ok := ParseNumber([]byte(c.in))
		if ok != c.ok || ok && v != c.v {
			t.Errorf("ParseNumber(%q) = %v, %v; want %v, %v", c.in, v, ok, c.v, c.ok)
		}
	}
	for _, c := range []struct {
		in string
		v  float64
		ok bool
	}{
		{"2024-01-02", 1704153600, true}, {"2024-01-02 03:04:05", 1704164645, true},
		{"2024-01-02T03:04:05.5Z", 1704164645.5, true}, {"2024-02-30", 0, false}, {"yesterday", 0, false},
	} {
		v, ok := ParseDatetime([]byte(c.in))
		if ok != c.ok || ok && v != c.v {
			t.Errorf("ParseDatetime(%q) = %v, %v; want %v, %v", c.in, v, ok, c.v, c.ok)
		}
	}
}
