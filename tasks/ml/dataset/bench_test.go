package dataset

import (
	"bytes"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

// numericCSV returns a 100,000 × 20 CSV of random numbers (a mix of
// short decimals and full-precision floats), the same every call.
func numericCSV(tb testing.TB) []byte {
	tb.Helper()
	r := rand.New(rand.NewPCG(1, 1))
	var b bytes.Buffer
	for j := range 20 {
		if j > 0 {
			b.WriteByte(',')
		}
		b.WriteString("f" + strconv.Itoa(j))
	}
	b.WriteByte('\n')
	for range 100_000 {
		for j := range 20 {
			if j > 0 {
				b.WriteByte(',')
			}
			v := r.NormFloat64() * 100
			if j%2 == 0 {
				b.WriteString(strconv.FormatFloat(v, 'f', 2, 64))
			} else {
				b.WriteString(strconv.FormatFloat(v, 'g', -1, 64))
			}
		}
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// mixedCSV returns a 100,000-row CSV of every kind, the same every call:
// an integer id, four numbers (one with 5 % NA), a label of five
// classes, true/false, a date, and a note quoted in about a third of the
// rows (it holds a comma there).
func mixedCSV(tb testing.TB) []byte {
	tb.Helper()
	r := rand.New(rand.NewPCG(2, 2))
	labels := []string{"setosa", "versicolor", "virginica", "other", "unknown"}
	var b bytes.Buffer
	b.WriteString("id,x1,x2,x3,score,label,flag,when,note\n")
	for i := range 100_000 {
		b.WriteString(strconv.Itoa(i))
		for range 3 {
			b.WriteByte(',')
			b.WriteString(strconv.FormatFloat(r.NormFloat64()*10, 'f', 3, 64))
		}
		b.WriteByte(',')
		if r.IntN(20) == 0 {
			b.WriteString("NA")
		} else {
			b.WriteString(strconv.FormatFloat(r.Float64(), 'g', -1, 64))
		}
		b.WriteString("," + labels[r.IntN(len(labels))])
		b.WriteString("," + strconv.FormatBool(r.IntN(2) == 0))
		b.WriteString(",2024-" + strconv.Itoa(10+r.IntN(3)) + "-" + strconv.Itoa(10+r.IntN(18)))
		if r.IntN(3) == 0 {
			b.WriteString(`,"note ` + strconv.Itoa(r.IntN(1000)) + `, with a comma"` + "\n")
		} else {
			b.WriteString(",plain note " + strconv.Itoa(r.IntN(1000)) + "\n")
		}
	}
	return b.Bytes()
}

func benchRead(b *testing.B, data []byte, read func(io.Reader, ReadOptions) (*Frame, error)) {
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		f, err := read(bytes.NewReader(data), ReadOptions{})
		if err != nil || f.Rows() != 100_000 {
			b.Fatal(err)
		}
	}
}

// BenchmarkReadCSV reads a 100,000 × 20 numeric CSV (inference included).
func BenchmarkReadCSV(b *testing.B) { benchRead(b, numericCSV(b), ReadCSV) }

// BenchmarkReadCSVReference reads the same with readCSVRef, the reader
// ReadCSV replaced (encoding/csv, then the fields typed as strings): the
// before of BenchmarkReadCSV, measured in the same minutes.
func BenchmarkReadCSVReference(b *testing.B) { benchRead(b, numericCSV(b), readCSVRef) }

// BenchmarkReadCSVMixed reads mixedCSV: numbers, text, booleans, dates,
// quoted fields and missing values.
func BenchmarkReadCSVMixed(b *testing.B) { benchRead(b, mixedCSV(b), ReadCSV) }

// BenchmarkReadCSVMixedReference is BenchmarkReadCSVMixed's before.
func BenchmarkReadCSVMixedReference(b *testing.B) { benchRead(b, mixedCSV(b), readCSVRef) }

// BenchmarkWriteCSV writes the same frame; MB/s is of the bytes written.
func BenchmarkWriteCSV(b *testing.B) {
	f, err := ReadCSV(bytes.NewReader(numericCSV(b)), ReadOptions{})
	if err != nil {
		b.Fatal(err)
	}
	var sb strings.Builder
	if err := WriteCSV(&sb, f); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(sb.Len()))
	b.ReportAllocs()
	for b.Loop() {
		if err := WriteCSV(io.Discard, f); err != nil {
			b.Fatal(err)
		}
	}
}
