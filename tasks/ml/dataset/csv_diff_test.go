package dataset

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
)

// The differential tests: ReadCSV (readCSV, with chunks from one byte up)
// against readCSVRef, the former encoding/csv reader, on generated and
// hostile inputs: the same frame to the bit, or the same error.

// strictDiff is frameDiff made strict: floats bit for bit (so -0 is not
// 0), and a nil slice is not an empty one (a JSON encoding or a
// reflect.DeepEqual in a caller would tell them apart).
func strictDiff(a, b *Frame) string {
	if d := frameDiff(a, b); d != "" {
		return d
	}
	for j := range a.Columns {
		ca, cb := a.Columns[j], b.Columns[j]
		if (ca.Num == nil) != (cb.Num == nil) || (ca.Str == nil) != (cb.Str == nil) || (ca.Missing == nil) != (cb.Missing == nil) {
			return fmt.Sprintf("column %q: nil slices differ: num %v/%v str %v/%v missing %v/%v", ca.Name,
				ca.Num == nil, cb.Num == nil, ca.Str == nil, cb.Str == nil, ca.Missing == nil, cb.Missing == nil)
		}
	}
	return ""
}

var diffSentinels = []error{ErrFormat, ErrChanged, ErrHeader, ErrTooLarge, ErrType, ErrNonFinite, ErrSchema, iotest.ErrTimeout, errReaderFailed}

var errReaderFailed = errors.New("test reader failed")

// errDiff compares two ReadCSV results' errors.
func errDiff(got, want error) string {
	switch {
	case got == nil && want == nil:
		return ""
	case got == nil || want == nil:
		return fmt.Sprintf("error %v, want %v", got, want)
	case got.Error() != want.Error():
		return fmt.Sprintf("error\n%v\nwant\n%v", got, want)
	}
	for _, s := range diffSentinels {
		if errors.Is(got, s) != errors.Is(want, s) {
			return fmt.Sprintf("error %v: errors.Is(%v) %v, want %v", got, s, errors.Is(got, s), !errors.Is(got, s))
		}
	}
	var gp, wp *ParseError
	if errors.As(got, &gp) != errors.As(want, &wp) || gp != nil && *gp != *wp {
		return fmt.Sprintf("ParseError %+v, want %+v", gp, wp)
	}
	return ""
}

// diffChunks are the chunk sizes diffRead reads with: from one byte,
// which puts a chunk boundary everywhere, to ReadCSV's.
var diffChunks = []int{1, 2, 3, 5, 16, 64 << 10}

// sweepChunks are fewer, for the tests that read an input once per byte
// offset.
var sweepChunks = []int{1, 3, 64 << 10}

// diffRead reads src with both readers, through readers made by wrap
// (nil: a bytes.Reader), and reports the first difference.
func diffRead(src []byte, opts ReadOptions, wrap func(io.Reader) io.Reader) string {
	return diffReadChunks(src, opts, wrap, diffChunks)
}

// diffReadChunks is diffRead with the given chunk sizes. With wrap nil,
// each chunk size is read twice: from the bytes.Reader,
// which ReadCSV reads again when a column turns to text (rereadable), and
// from a reader that hides its ReadAt, whose input ReadCSV keeps.
func diffReadChunks(src []byte, opts ReadOptions, wrap func(io.Reader) io.Reader, chunks []int) string {
	wraps := map[string]func(io.Reader) io.Reader{"": wrap}
	if wrap == nil {
		wraps = map[string]func(io.Reader) io.Reader{
			"read again, ": func(r io.Reader) io.Reader { return r },
			"kept, ":       func(r io.Reader) io.Reader { return onlyReader{r} },
		}
	}
	for how, wrap := range wraps {
		want, werr := readCSVRef(wrap(bytes.NewReader(src)), opts)
		for _, chunk := range chunks {
			got, gerr := readCSV(wrap(bytes.NewReader(src)), opts, chunk, 4*chunk)
			if d := errDiff(gerr, werr); d != "" {
				return fmt.Sprintf("%schunk %d: %s", how, chunk, d)
			}
			if werr == nil {
				if d := strictDiff(got, want); d != "" {
					return fmt.Sprintf("%schunk %d: %s", how, chunk, d)
				}
			}
		}
	}
	return ""
}

// onlyReader hides every method of its reader but Read.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

// The values the generator draws from, by the kind of column they would
// make.
var (
	diffNumbers = []string{
		"0", "-0", "+0", "1", "+1", "-1", "0.5", ".5", "5.", "-.5", "1.50", "2500000", "3.141592653589793",
		"-123.45678901234567", "1e3", "1E+2", "-3e0", "2.5e-7", "1e21", "1e-31", "0e3", "0.0e-400", "1e300",
		"0x1p3", "0x1p-2", "1e400", "-1e999", "Inf", "-inf", "+Infinity", "infinity", "1e-400",
		"9007199254740992", "9007199254740993", "18014398509481984", "1152921504606846976",
		"12345678901234567890", "100000000000000000000", "1000000000000000000000", "0.0000000000000000000000000000001",
		"007", "-007", "00.5", "1_000", "0_7", "NaN", "nan", "-NaN", "12345678901234567", "0.30000000000000004",
		"1.0000000000000000000001", "99999999999999999999e-5",
	}
	diffBools = []string{"true", "false", "True", "FALSE", "yes", "no", "1", "0"}
	diffTimes = []string{"2024-01-02", "2024-01-02 03:04:05", "2024-01-02T03:04:05Z", "2024-01-02T03:04:05.123456789+02:00",
		"2024-13-01", "2024-01-02T25:00:00Z", "1999-12-31", "123e-45678"}
	diffMissing = []string{"", "NA", "null", "?", "-999"}
	diffText    = []string{"a", "b", "x y", " 1", "1 ", "a,b", `say "hi"`, "x\ny", "x\r\ny", "x\r\r\ny", "\r", "p\rq",
		"é", "日本", "\ufeff", `"`, "", "NA", ",", "\n", "\r\n", "Inf", "-"}
	diffInvalid = []string{"\xff", "a\xc3", "\xc3\x28", "\xed\xa0\x80"}
)

// genCSV writes a random CSV document: a header (sometimes with a BOM,
// a duplicate, empty or quoted name), then rows whose columns each have
// a kind for a while and may turn to another, with quoting (sometimes
// broken), CRLF and odd line ends, blank lines, ragged rows and missing
// values mixed in.
func genCSV(r *rand.Rand) []byte {
	var b bytes.Buffer
	ncol := 1 + r.IntN(5)
	if r.IntN(20) == 0 {
		b.WriteString("\ufeff")
	}
	nl := func() {
		switch r.IntN(12) {
		case 0:
			b.WriteString("\r\n")
		case 1:
			if r.IntN(20) == 0 {
				b.WriteString("\r\r\n") // after a quoted field: bad quoting
			} else {
				b.WriteString("\r\n")
			}
		case 2:
			b.WriteString("\n\n")
		case 3:
			b.WriteString("\r\n\r\n")
		case 4:
			b.WriteString("\n\r\n")
		default:
			b.WriteByte('\n')
		}
	}
	field := func(s string) {
		quote := r.IntN(6) == 0 || strings.ContainsAny(s, ",\"\n") && r.IntN(200) != 0
		switch {
		case r.IntN(1000) == 0:
			b.WriteString(`"` + s) // unterminated or broken
		case r.IntN(1000) == 0:
			b.WriteString(`"` + s + `"x`) // text after the closing quote
		case quote:
			b.WriteString(`"` + strings.ReplaceAll(s, `"`, `""`) + `"`)
		default:
			b.WriteString(s)
		}
	}
	for j := range ncol {
		if j > 0 {
			b.WriteByte(',')
		}
		name := "c" + strconv.Itoa(j)
		switch r.IntN(200) {
		case 0:
			name = "c0" // a duplicate, or not
		case 1:
			name = ""
		case 2:
			name = "we,ird \"n\"\r\nme"
		case 3:
			name = "\xff"
		}
		field(name)
	}
	nl()
	// Each column's pool, and the row at which it may switch pools.
	pools := [][]string{diffNumbers, diffBools, diffTimes, diffText}
	pool := make([]int, ncol)
	switchAt := make([]int, ncol)
	nrow := r.IntN(30)
	if r.IntN(10) == 0 {
		nrow = 200 + r.IntN(300)
	}
	for j := range pool {
		pool[j] = r.IntN(len(pools))
		switchAt[j] = r.IntN(2 * (nrow + 1))
	}
	for i := range nrow {
		n := ncol
		if r.IntN(800) == 0 {
			n = ncol + r.IntN(3) - 1 // ragged
		}
		for j := range n {
			if j > 0 {
				b.WriteByte(',')
			}
			p := 0
			if j < ncol {
				p = pool[j]
				if i >= switchAt[j] {
					p = (p + 1) % len(pools)
				}
			}
			var s string
			switch k := r.IntN(1000); {
			case k == 0:
				s = diffInvalid[r.IntN(len(diffInvalid))]
			case k < 80:
				s = diffMissing[r.IntN(len(diffMissing))]
			case k < 90:
				all := pools[r.IntN(len(pools))]
				s = all[r.IntN(len(all))]
			case k < 120:
				// An odd spelling of the column's kind.
				s = pools[p][r.IntN(len(pools[p]))]
			case p == 0:
				// The common case: plain numbers of every length.
				v := r.NormFloat64() * math.Pow(10, float64(r.IntN(10)-3))
				s = strconv.FormatFloat(v, "fg"[r.IntN(2)], r.IntN(18)-1, 64)
			case p == 1:
				s = []string{"true", "false"}[r.IntN(2)]
			case p == 2:
				s = diffTimes[r.IntN(4)] // the valid ones
			default:
				s = pools[p][r.IntN(len(pools[p]))]
			}
			field(s)
		}
		if i < nrow-1 || r.IntN(3) != 0 {
			nl()
		} else if r.IntN(2) == 0 {
			b.WriteByte('\r') // a last line ending in a CR, no LF
		}
	}
	return b.Bytes()
}

// diffOptions are the option sets the differential tests read with.
func diffOptions(r *rand.Rand) ReadOptions {
	var o ReadOptions
	if r.IntN(3) == 0 {
		o.AllowInf = true
	}
	switch r.IntN(6) {
	case 0:
		o.Missing = []string{}
	case 1:
		o.Missing = []string{"NaN", "-999", "0", "nan", "true", "2024-01-02"}
	}
	if r.IntN(3) == 0 {
		o.Schema = map[string]Kind{}
		kinds := []Kind{Numeric, Boolean, Datetime, Categorical}
		o.Schema["c0"] = kinds[r.IntN(len(kinds))]
		if r.IntN(3) == 0 {
			o.Schema["c"+strconv.Itoa(1+r.IntN(3))] = kinds[r.IntN(len(kinds))]
		}
	}
	return o
}

func TestReadCSVMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 5))
	n := 2500
	if testing.Short() || raceEnabled {
		n = 500
	}
	outcomes := map[string]int{}
	for iter := range n {
		src := genCSV(r)
		opts := diffOptions(r)
		if d := diffRead(src, opts, nil); d != "" {
			t.Fatalf("iter %d: %s\nopts %+v\ninput %q", iter, d, opts, src)
		}
		// Tally what the inputs exercised: a test of the error paths
		// only, or of the typed frames only, would not be one.
		f, err := readCSVRef(bytes.NewReader(src), opts)
		switch {
		case err != nil:
			outcomes["error"]++
		default:
			outcomes["frame"]++
			for _, c := range f.Columns {
				outcomes[string(c.Kind)]++
				if c.Kind == Categorical && !opts.Schema[c.Name].Valid() && revertedText(c) {
					outcomes["reverted"]++
				}
			}
		}
	}
	for _, k := range []string{"error", "frame", string(Numeric), string(Categorical), string(Boolean), string(Datetime), "reverted"} {
		if outcomes[k] < n/100 {
			t.Errorf("only %d of the outcome %q in %d inputs: %v", outcomes[k], k, n, outcomes)
		}
	}
	t.Logf("outcomes: %v", outcomes)
}

// revertedText reports whether an inferred categorical column's first
// value is a number, a boolean or a datetime: ReadCSV then read it again
// as text (stDefer).
func revertedText(c *Column) bool {
	for i, s := range c.Str {
		if c.IsMissing(i) {
			continue
		}
		_, num, _ := numberValue([]byte(s), true)
		_, b := boolValue([]byte(s), true)
		_, tm := timeValue([]byte(s))
		return num || b || tm
	}
	return false
}

// TestReadCSVMatchesReferenceTruncated reads generated inputs cut by
// MaxBytes at every length: the error the limit gives, or a format
// error found before it, is the same.
func TestReadCSVMatchesReferenceTruncated(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 6))
	n := 60
	if testing.Short() || raceEnabled {
		n = 15
	}
	for iter := range n {
		src := genCSV(r)
		if len(src) > 250 {
			src = src[:250]
		}
		opts := diffOptions(r)
		for max := int64(1); max <= int64(len(src))+1; max++ {
			opts.MaxBytes = max
			if d := diffReadChunks(src, opts, nil, sweepChunks); d != "" {
				t.Fatalf("iter %d, MaxBytes %d: %s\nopts %+v\ninput %q", iter, max, d, opts, src)
			}
		}
	}
}

// failAfter returns the bytes of r up to n, then an error.
type failAfter struct {
	r io.Reader
	n int
}

func (f *failAfter) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errReaderFailed
	}
	if len(p) > f.n {
		p = p[:f.n]
	}
	k, err := f.r.Read(p)
	f.n -= k
	return k, err
}

// TestReadCSVMatchesReferenceReaders reads through readers that return
// a byte at a time, half of what is asked, data with io.EOF, a timeout
// on the second read, and an error at every offset.
func TestReadCSVMatchesReferenceReaders(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 7))
	wraps := map[string]func(io.Reader) io.Reader{
		"one byte":  iotest.OneByteReader,
		"half":      iotest.HalfReader,
		"data+EOF":  iotest.DataErrReader,
		"fail at 0": func(r io.Reader) io.Reader { return &failAfter{r, 0} },
	}
	n := 150
	if testing.Short() || raceEnabled {
		n = 40
	}
	for iter := range n {
		src := genCSV(r)
		opts := diffOptions(r)
		for name, wrap := range wraps {
			if d := diffRead(src, opts, wrap); d != "" {
				t.Fatalf("iter %d, %s reader: %s\nopts %+v\ninput %q", iter, name, d, opts, src)
			}
		}
		// What a reader that times out on its second read gives depends
		// on the size of the first: compare at ReadCSV's size (the
		// reference reads 64 KiB too), where both get one read's data.
		if d := diffReadChunks(src, opts, iotest.TimeoutReader, []int{64 << 10}); d != "" {
			t.Fatalf("iter %d, timeout reader: %s\nopts %+v\ninput %q", iter, d, opts, src)
		}
		if iter%4 != 0 {
			continue
		}
		if len(src) > 250 {
			src = src[:250]
		}
		for k := 1; k <= len(src); k++ {
			wrap := func(r io.Reader) io.Reader { return &failAfter{r, k} }
			if d := diffReadChunks(src, opts, wrap, sweepChunks); d != "" {
				t.Fatalf("iter %d, error after %d bytes: %s\nopts %+v\ninput %q", iter, k, d, opts, src)
			}
		}
	}
}

// hostileCSV are hand-written inputs at the edges of encoding/csv's rules.
var hostileCSV = []string{
	"", "\n", "\r\n", "\n\n\n", "\r", "\ufeff", "\ufeff\n", "\xef\xbb", "\ufeff\ufeffa\n1\n", "a", "a\n", "a\r", "a\r\r",
	"a\n1", "a\n1\r", "a\n1\r\r", "a\n1\r\r\n", "a\n\r\r\n", "a\n\r\n\r\n1\n", "a,b\n1,2\r\n\r\n3,4", "a,b\n1,2\n3\n",
	"a,b\n1,2,3\n", "a,b\n,\n", "a\n\"\"\n", "a\n\"\"\"\"\n", "a\n\"x\"\"y\"\n", "a\n\"x\ny\"\n", "a\n\"x\r\ny\"\n",
	"a\n\"x\r\r\ny\"\n", "a\n\"x\r\n", "a\n\"x\r", "a\n\"x", "a\n\"", "a\n\"x\"y\n", "a\nx\"y\n", "a\n\"x\" \n", "a,b\n\"x\",\"y\"",
	"a,b\n\"x\",\"y\"\r", "a,b\n\"x\n\n\ny\",2\n", "a,b\n\"x\n\ny\",2,3\n", "\"a\nb\",c\n1,2\n", "\"a\",\"a\"\n", "a,,b\n",
	"a,\xff\n", "a\n\xff\n", "a\n\"\xff\"\n", "a\n\"\xc3\"\"\xa9\"\n", "a\n1\n2\nx\n", "a\n007\n", "a\n1\n1e999\n",
	"a\nInf\nx\n", "a\nNaN\n", "a\n0x1p3\n", "a\n1_000\n", "a\n+1\n-0\n", "a\ntrue\nfalse\n", "a\ntrue\n1\n",
	"a\n2024-01-02\n1\n", "a\n1\n2024-01-02\n", "a\n\"1\"\n\"2.5\"\n", "a\n \"1\"\n", "a\n1 \n", "a,b\n1,\"2\"\"\"\n",
	"a\n\"1\r\n\"\n", "a\n1\rx\n", "a\n\r1\n", "a,b\n1,2\n\"3\n", "a\n9007199254740993\n", "a\n-12345678901234567890\n",
	"a\n1e21\n1\n", "a\n1000000000000000000000\n", "a\nNA\nnull\n?\n\n", "a,b\nNA,\n,NA\n", "a\n-999\n",
	"a\n\"\"\r\n", "a\n,\n", "\"\"\n1\n", "\"\n", "\"a\"\"\"\n1\n", "a\n\"a\"\"\n", "a\n\"a\"\"\"",
}

func TestReadCSVMatchesReferenceHostile(t *testing.T) {
	optsList := []ReadOptions{
		{}, {AllowInf: true}, {Missing: []string{}}, {Missing: []string{"-999", "NaN", "x", "1"}},
		{Schema: map[string]Kind{"a": Numeric}}, {Schema: map[string]Kind{"a": Numeric}, AllowInf: true},
		{Schema: map[string]Kind{"a": Boolean}}, {Schema: map[string]Kind{"a": Datetime}}, {Schema: map[string]Kind{"a": Categorical}},
		{Schema: map[string]Kind{"a": Numeric, "b": Numeric}}, {Schema: map[string]Kind{"b": Boolean}},
	}
	for _, s := range hostileCSV {
		for _, opts := range optsList {
			if d := diffRead([]byte(s), opts, nil); d != "" {
				t.Errorf("%q %+v: %s", s, opts, d)
			}
			for max := int64(1); max <= int64(len(s)); max++ {
				o := opts
				o.MaxBytes = max
				if d := diffRead([]byte(s), o, nil); d != "" {
					t.Errorf("%q %+v: %s", s, o, d)
				}
			}
		}
	}
}

// TestReadCSVMatchesReferenceBig reads inputs larger than a chunk: long
// fields (quoted, over several lines), long lines, many rows, and a
// column that turns to text on the last row, so that the columns read
// again come from several kept chunks.
func TestReadCSVMatchesReferenceBig(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	var b bytes.Buffer
	b.WriteString("x,y,label,when\n")
	for i := range 20_000 {
		fmt.Fprintf(&b, "%s,%d,%s,2024-01-%02d\n", strconv.FormatFloat(r.NormFloat64(), 'g', -1, 64), i, []string{"a", "b", `"c,d"`}[i%3], 1+i%28)
	}
	numeric := b.Bytes()
	huge := strings.Repeat("long value ", 200_000)
	cases := map[string][]byte{
		"numeric":         numeric,
		"text at the end": append(bytes.Clone(numeric), "x,1,a,2024-01-01\n1,y,b,never\n"...),
		"huge field":      []byte("a,b\n1,\"" + huge + "\n" + huge + "\"\n2,x\n"),
		"huge line":       []byte("a,b\n1," + huge + "\n2,\"x\"\n3,1\n"),
	}
	for name, src := range cases {
		for _, opts := range []ReadOptions{{}, {Schema: map[string]Kind{"y": Numeric}}, {Schema: map[string]Kind{"x": Numeric, "y": Categorical, "label": Categorical, "when": Datetime}}} {
			want, werr := readCSVRef(bytes.NewReader(src), opts)
			for _, chunk := range []int{7, 4 << 10, 64 << 10} {
				for _, kept := range []bool{false, true} {
					var r io.Reader = bytes.NewReader(src)
					if kept {
						r = onlyReader{r}
					}
					got, gerr := readCSV(r, opts, chunk, 16*chunk)
					if d := errDiff(gerr, werr); d != "" {
						t.Fatalf("%s, chunk %d, kept %v: %s", name, chunk, kept, d)
					}
					if werr == nil {
						if d := strictDiff(got, want); d != "" {
							t.Fatalf("%s, chunk %d, kept %v: %s", name, chunk, kept, d)
						}
					}
				}
			}
		}
	}
}

// FuzzReadCSVDiff: on any bytes, ReadCSV and the reference agree. mode
// picks the options and a MaxBytes.
func FuzzReadCSVDiff(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.csv")
	for _, file := range files {
		if b, err := os.ReadFile(file); err == nil && len(b) < 64<<10 {
			f.Add(b, uint8(0))
		}
	}
	for i, s := range hostileCSV {
		f.Add([]byte(s), uint8(i))
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 40 {
		f.Add(genCSV(r), uint8(i*7))
	}
	f.Fuzz(func(t *testing.T, src []byte, mode uint8) {
		var opts ReadOptions
		opts.AllowInf = mode&1 != 0
		switch mode >> 1 & 3 {
		case 1:
			opts.Missing = []string{}
		case 2:
			opts.Missing = []string{"NaN", "-999", "0"}
		case 3:
			opts.Schema = map[string]Kind{"a": []Kind{Numeric, Boolean, Datetime, Categorical}[mode>>3&3]}
		}
		if mode&32 != 0 {
			opts.MaxBytes = int64(len(src) / 2)
		}
		if d := diffRead(src, opts, nil); d != "" {
			t.Fatalf("%s\nopts %+v\ninput %q", d, opts, src)
		}
	})
}

// TestPlainDatetime compares plainDatetime with parseTimeValue on
// strings of its two shapes with random digits (most out of range), and
// on the shapes with one byte changed.
func TestPlainDatetime(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 8))
	taken, n := 0, 200_000
	if raceEnabled {
		n = 20_000
	}
	for i := range n {
		shape := []byte("2006-01-02 15:04:05")
		if i%2 == 0 {
			shape = shape[:10]
		}
		for k, c := range shape {
			if c >= '0' && c <= '9' {
				// Digits near the valid ranges: years of any value,
				// months and days around their limits.
				shape[k] = byte('0' + r.IntN(10))
				if k == 5 || k == 8 || k == 11 || k == 14 || k == 17 {
					shape[k] = byte('0' + r.IntN(4))
				}
			}
		}
		if r.IntN(10) == 0 {
			shape[r.IntN(len(shape))] = byte(r.IntN(128))
		}
		s := string(shape)
		v, ok := plainDatetime(shape)
		tm, want := parseTimeValue(s)
		if ok && !want {
			t.Fatalf("%q: plainDatetime reads %v, parseTimeValue fails", s, v)
		}
		if ok {
			taken++
			if w := float64(tm.Unix()) + float64(tm.Nanosecond())/1e9; math.Float64bits(v) != math.Float64bits(w) {
				t.Fatalf("%q: plainDatetime %v, parseTimeValue %v", s, v, w)
			}
		}
		if got, gok := timeValue(shape); gok != want || gok && math.Float64bits(got) != math.Float64bits(float64(tm.Unix())+float64(tm.Nanosecond())/1e9) {
			t.Fatalf("%q: timeValue %v %v, parseTimeValue %v %v", s, got, gok, tm, want)
		}
	}
	if taken < n/10 {
		t.Errorf("plainDatetime read only %d of %d", taken, n)
	}
}

// TestReadCSVMatchesReferenceRepoFiles reads every CSV file of the
// repository (the example data sets, the tasks' test data) with both
// readers, inferred and with the kinds the reference inferred.
func TestReadCSVMatchesReferenceRepoFiles(t *testing.T) {
	var files []string
	for _, pattern := range []string{"testdata/*.csv", "../../*/testdata/*.csv", "../../ml/*/testdata/*.csv", "../../../workflows/examples/data/*.csv", "../../../cmd/cairn/testdata/*/*.csv"} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) < 25 {
		t.Fatalf("found only %d CSV files: %v", len(files), files)
	}
	for _, file := range files {
		src, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		opts := []ReadOptions{{}, {AllowInf: true}, {Missing: []string{}}}
		if f, err := readCSVRef(bytes.NewReader(src), ReadOptions{AllowInf: true}); err == nil {
			opts = append(opts, ReadOptions{Schema: Describe(f).Kinds(), AllowInf: true})
		}
		for _, o := range opts {
			if d := diffRead(src, o, nil); d != "" {
				t.Errorf("%s %+v: %s", file, o, d)
			}
		}
	}
}

// TestReadCSVReserveBounded: the room reserved from the first chunk's
// row density is at most twice the input, however short the first rows
// are next to the others (a file of short rows, then long ones).
func TestReadCSVReserveBounded(t *testing.T) {
	var b bytes.Buffer
	b.WriteString("a,b\n")
	for b.Len() < 64<<10 {
		b.WriteString("1,2\n")
	}
	long := strings.Repeat("x", 10<<10)
	for range 1000 {
		b.WriteString("1," + long + "\n")
	}
	src := b.Bytes()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f, err := ReadCSV(bytes.NewReader(src), ReadOptions{})
	runtime.ReadMemStats(&after)
	if err != nil || f.Columns[1].Kind != Categorical {
		t.Fatalf("%v %+v", err, f)
	}
	// The input kept (1×), the text of column b (1×), at most 2× in
	// reserved slices, and chunk buffers: under 5.5×. Reserving for the
	// rows the first chunk's density predicts would be 4× more.
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > uint64(len(src))*11/2 {
		t.Errorf("read %d bytes with %d bytes allocated (%.1f×)", len(src), alloc, float64(alloc)/float64(len(src)))
	}
}
