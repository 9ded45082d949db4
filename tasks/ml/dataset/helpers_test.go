package dataset

import (
	"fmt"
	"math"
	"strings"
	"testing"
)

func mustReadCSV(t testing.TB, s string, opts ReadOptions) *Frame {
	t.Helper()
	f, err := ReadCSV(strings.NewReader(s), opts)
	if err != nil {
		t.Fatalf("ReadCSV: %v", err)
	}
	return f
}

func writeString(t testing.TB, f *Frame) string {
	t.Helper()
	var sb strings.Builder
	if err := WriteCSV(&sb, f); err != nil {
		t.Fatalf("WriteCSV: %v", err)
	}
	return sb.String()
}

// frameDiff returns "" if a and b hold the same columns, kinds, missing
// flags and values (floats compared bit for bit; nil and empty slices and
// a nil Missing and an all-false one are equal), else the first difference.
func frameDiff(a, b *Frame) string {
	if len(a.Columns) != len(b.Columns) {
		return fmt.Sprintf("%d columns vs %d", len(a.Columns), len(b.Columns))
	}
	for j := range a.Columns {
		ca, cb := a.Columns[j], b.Columns[j]
		if ca.Name != cb.Name || ca.Kind != cb.Kind {
			return fmt.Sprintf("column %d: %q %s vs %q %s", j, ca.Name, ca.Kind, cb.Name, cb.Kind)
		}
		if ca.Len() != cb.Len() || len(ca.Num) != len(cb.Num) || len(ca.Str) != len(cb.Str) {
			return fmt.Sprintf("column %q: %d/%d/%d values vs %d/%d/%d", ca.Name, ca.Len(), len(ca.Num), len(ca.Str), cb.Len(), len(cb.Num), len(cb.Str))
		}
		for i := range ca.Len() {
			if ca.IsMissing(i) != cb.IsMissing(i) {
				return fmt.Sprintf("column %q row %d: missing %v vs %v", ca.Name, i, ca.IsMissing(i), cb.IsMissing(i))
			}
			if ca.Kind == Categorical {
				if ca.Str[i] != cb.Str[i] {
					return fmt.Sprintf("column %q row %d: %q vs %q", ca.Name, i, ca.Str[i], cb.Str[i])
				}
			} else if math.Float64bits(ca.Num[i]) != math.Float64bits(cb.Num[i]) {
				return fmt.Sprintf("column %q row %d: %v vs %v", ca.Name, i, ca.Num[i], cb.Num[i])
			}
		}
	}
	return ""
}

func nan() float64 { return math.NaN() }
func inf() float64 { return math.Inf(1) }
