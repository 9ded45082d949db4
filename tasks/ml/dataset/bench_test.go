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

// BenchmarkReadCSV reads a 100,000 × 20 numeric CSV (inference included).
func BenchmarkReadCSV(b *testing.B) {
	data := numericCSV(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		f, err := ReadCSV(bytes.NewReader(data), ReadOptions{})
		if err != nil || f.Rows() != 100_000 {
			b.Fatal(err)
		}
	}
}

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
