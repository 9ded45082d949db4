package dataset

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// DefaultMaxBytes is the input size limit when ReadOptions.MaxBytes is 0.
const DefaultMaxBytes int64 = 1 << 30

// DefaultMissing returns the values read as missing when
// ReadOptions.Missing is nil: "", "NA", "null" and "?". Matching is exact
// (case-sensitive, no trimming). "NaN" is deliberately not among them: a
// NaN in data is usually a computation gone wrong upstream, and the ML
// tasks must report it rather than impute it in silence (a column holding
// one reads as non-numeric, and train, tune, evaluate and predict name it).
// List it in ReadOptions.Missing to read it as missing.
func DefaultMissing() []string { return []string{"", "NA", "null", "?"} }

// ReadOptions configures ReadCSV and ReadJSONL. The zero value infers every
// column's kind, reads DefaultMissing as missing, rejects ±Inf and limits
// the input to DefaultMaxBytes.
type ReadOptions struct {
	// Schema gives the kind of some or all columns by name; the others are
	// inferred. A name the input does not have is an error (ErrSchema), and
	// so is a value that does not parse as its declared kind (ErrType).
	Schema map[string]Kind
	// Missing lists the values read as missing, matched exactly. nil means
	// DefaultMissing(); an empty field is always missing.
	Missing []string
	// AllowInf accepts ±Inf ("Inf", "+Inf", "-Inf", "Infinity", any case,
	// or a number too large for float64) as a numeric value. When false a
	// column whose values are all numbers but some infinite is an error
	// (ErrNonFinite), not a categorical column.
	AllowInf bool
	// MaxBytes limits the input size: 0 means DefaultMaxBytes, a negative
	// value means no limit. A longer input is an error (ErrTooLarge).
	MaxBytes int64
}

type config struct {
	missing  []string
	allowInf bool
}

func (o *ReadOptions) config() (*config, error) {
	c := &config{missing: o.Missing, allowInf: o.AllowInf}
	if c.missing == nil {
		c.missing = DefaultMissing()
	}
	names := make([]string, 0, len(o.Schema))
	for name := range o.Schema {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if k := o.Schema[name]; !k.Valid() {
			return nil, fmt.Errorf("dataset: schema: column %q has unknown kind %q: %w", name, k, ErrSchema)
		}
	}
	return c, nil
}

func (c *config) isMissing(s string) bool {
	if s == "" {
		return true
	}
	for _, m := range c.missing {
		if s == m {
			return true
		}
	}
	return false
}

// checkSchemaNames reports a schema column the input does not have (the
// first in sorted order).
func checkSchemaNames(schema map[string]Kind, has func(string) bool) error {
	var unknown []string
	for name := range schema {
		if !has(name) {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return fmt.Errorf("dataset: schema names column %q, which the input does not have: %w", unknown[0], ErrSchema)
	}
	return nil
}

// limitReader returns an error wrapping ErrTooLarge once more than max
// bytes have been read.
type limitReader struct {
	r    io.Reader
	max  int64
	left int64
}

func newLimitReader(r io.Reader, max int64) io.Reader {
	if max < 0 {
		return r
	}
	if max == 0 {
		max = DefaultMaxBytes
	}
	return &limitReader{r: r, max: max, left: max}
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.left < 0 {
		return 0, l.err()
	}
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if l.left < 0 {
		return n - 1, l.err()
	}
	return n, err
}

func (l *limitReader) err() error {
	return fmt.Errorf("dataset: input is longer than %d bytes: %w", l.max, ErrTooLarge)
}

// skipBOM wraps r in a bufio.Reader without a leading UTF-8 byte order mark.
func skipBOM(r io.Reader) *bufio.Reader {
	br := bufio.NewReaderSize(r, 64<<10)
	if b, err := br.Peek(3); err == nil && string(b) == "\xef\xbb\xbf" {
		_, _ = br.Discard(3)
	}
	return br
}

// rawColumn is a column of unparsed fields, one per row.
type rawColumn struct {
	name string
	vals []string
}

// buildFrame types every raw column: the declared kind from schema, or the
// inferred one.
func buildFrame(raws []*rawColumn, lines []int, schema map[string]Kind, c *config) (*Frame, error) {
	f := &Frame{Columns: make([]*Column, len(raws))}
	for j, rc := range raws {
		kind, declared := schema[rc.name]
		col, err := buildColumn(rc.name, rc.vals, lines, kind, declared, c)
		if err != nil {
			return nil, err
		}
		f.Columns[j] = col
	}
	return f, nil
}

func buildColumn(name string, raw []string, lines []int, kind Kind, declared bool, c *config) (*Column, error) {
	miss := make([]bool, len(raw))
	anyMiss := false
	for i, s := range raw {
		if c.isMissing(s) {
			miss[i], anyMiss = true, true
		}
	}
	col := &Column{Name: name, Kind: kind}
	if anyMiss {
		col.Missing = miss
	}
	bad := -1
	typeErr := func(i int) error {
		return parseErr(lines[i], name, ErrType, "%q is not %s", raw[i], kindPhrase[kind])
	}
	infErr := func(i int) error {
		return parseErr(lines[i], name, ErrNonFinite, "%q is infinite: replace it (an empty cell is a missing value) or clean it upstream", raw[i])
	}
	if !declared {
		// Inference: numeric, then boolean, then datetime, else categorical.
		num, bad, inf := parseNumeric(raw, miss, nil, true)
		if bad < 0 {
			if inf >= 0 && !c.allowInf {
				return nil, infErr(inf)
			}
			col.Kind, col.Num = Numeric, num
			return col, nil
		}
		if vals, bad := parseBool(raw, miss, num, true); bad < 0 {
			col.Kind, col.Num = Boolean, vals
			return col, nil
		}
		if vals, bad := parseTime(raw, miss, num); bad < 0 {
			col.Kind, col.Num = Datetime, vals
			return col, nil
		}
		col.Kind, col.Str = Categorical, categorical(raw, miss)
		return col, nil
	}
	switch kind {
	case Numeric:
		var inf int
		col.Num, bad, inf = parseNumeric(raw, miss, nil, false)
		if bad >= 0 {
			if math.IsNaN(col.Num[bad]) {
				return nil, parseErr(lines[bad], name, ErrNonFinite, "%q is NaN (list it in ReadOptions.Missing to read it as missing)", raw[bad])
			}
			return nil, typeErr(bad)
		}
		if inf >= 0 && !c.allowInf {
			return nil, infErr(inf)
		}
	case Boolean:
		col.Num, bad = parseBool(raw, miss, nil, false)
	case Datetime:
		col.Num, bad = parseTime(raw, miss, nil)
	default:
		col.Str = categorical(raw, miss)
	}
	if bad >= 0 {
		return nil, typeErr(bad)
	}
	return col, nil
}

var kindPhrase = map[Kind]string{
	Numeric:  "a number",
	Boolean:  "a boolean (true, false, yes, no, 1, 0)",
	Datetime: `a datetime (RFC 3339, "2006-01-02" or "2006-01-02 15:04:05")`,
}

// parseNumeric parses every non-missing value as a float64 into buf (reused
// if long enough). bad is the first value that is not a number or is NaN
// (-1 if none; buf[bad] is NaN when the value was a NaN literal), inf the
// first infinite one (-1 if none). Inferring, a value is a number only if
// it is one as written (see inferableNumber): an identifier such as 007 or
// an integer a float64 cannot hold exactly is bad, so its column is kept as
// text.
func parseNumeric(raw []string, miss []bool, buf []float64, inferring bool) (vals []float64, bad, inf int) {
	vals = reuse(buf, len(raw))
	inf = -1
	for i, s := range raw {
		if miss[i] {
			continue
		}
		v, err := strconv.ParseFloat(s, 64)
		if err != nil && !(errors.Is(err, strconv.ErrRange) && math.IsInf(v, 0)) {
			return vals, i, inf
		}
		if math.IsNaN(v) {
			vals[i] = v
			return vals, i, inf
		}
		if inferring && !inferableNumber(s, v) {
			return vals, i, inf
		}
		if inf < 0 && math.IsInf(v, 0) {
			inf = i
		}
		vals[i] = v
	}
	return vals, -1, inf
}

// maxExact is 2^53: an integer literal that reads as less than it in
// magnitude is held exactly (2^53+1 reads as 2^53, hence the digit check).
const maxExact = 1 << 53

// inferableNumber reports whether s, which strconv.ParseFloat read as v
// (not NaN), is a number WriteCSV writes back as the same value without
// losing what the user wrote: a plain decimal (an optional sign, digits
// with an optional point, an optional exponent) without a leading zero
// before another digit (007, -007, 00.5 are identifiers: 0, 0.5, -0.25,
// 0e3 are numbers), and, when written as an integer (no point, no
// exponent), one that a float64 holds exactly (any below 2^53; a larger
// one only if its digits are exactly v's, as 2^60 is; one too long for a
// float64 is text, not ±Inf). Also text: a value written without an
// exponent that WriteCSV would write with one (outside plainRange), a
// value too small for a float64 (one that reads as 0 but has a non-zero
// digit) and digit separators (1_000, 0_7).
// Go's hexadecimal floats (0x1p-2) and the words Inf and Infinity (any
// case, signed) are numbers, ±Inf left to AllowInf.
func inferableNumber(s string, v float64) bool {
	t := s
	if t != "" && (t[0] == '+' || t[0] == '-') {
		t = t[1:]
	}
	if strings.IndexByte(t, '_') >= 0 {
		return false
	}
	if t != "" && (t[0] == 'i' || t[0] == 'I') || len(t) > 1 && (t[1] == 'x' || t[1] == 'X') {
		return true // Inf, Infinity, a hexadecimal float: ParseFloat accepted it
	}
	if len(t) > 1 && t[0] == '0' && t[1] >= '0' && t[1] <= '9' {
		return false // a leading zero a number would drop
	}
	digits, integer, plain, nonzero := 0, true, true, false
	i := 0
	for ; i < len(t) && t[i] >= '0' && t[i] <= '9'; i++ {
		digits++
		nonzero = nonzero || t[i] != '0'
	}
	if i < len(t) && t[i] == '.' {
		integer = false
		for i++; i < len(t) && t[i] >= '0' && t[i] <= '9'; i++ {
			digits++
			nonzero = nonzero || t[i] != '0'
		}
	}
	if digits == 0 {
		return false
	}
	if i < len(t) && (t[i] == 'e' || t[i] == 'E') {
		integer, plain = false, false
		i++
		if i < len(t) && (t[i] == '+' || t[i] == '-') {
			i++
		}
		n := 0
		for ; i < len(t) && t[i] >= '0' && t[i] <= '9'; i++ {
			n++
		}
		if n == 0 {
			return false
		}
	}
	if i != len(t) {
		return false // hexadecimal, underscores
	}
	switch {
	case v == 0 && nonzero:
		return false // too small for a float64: it would read as 0
	case plain && !plainRange(v):
		return false // WriteCSV would give it an exponent
	case !integer || math.Abs(v) < maxExact:
		return true
	}
	// An integer beyond 2^53: exact only if v's digits are the ones written.
	return !math.IsInf(v, 0) && strconv.FormatFloat(math.Abs(v), 'f', 0, 64) == t
}

// parseBool parses every non-missing value as a boolean into buf (reused
// if long enough); bad is the first value that is not one (-1 if none).
// Inferring (canonical), only "true" and "false" are booleans: they are
// what WriteCSV writes, so an inferred boolean column is written back as
// the user spelled it. Yes/no, 1/0 or True/False stay categorical (or
// numeric), their spellings kept. A declared boolean accepts them all.
func parseBool(raw []string, miss []bool, buf []float64, canonical bool) ([]float64, int) {
	vals := reuse(buf, len(raw))
	for i, s := range raw {
		if miss[i] {
			continue
		}
		switch {
		case canonical && s == "true":
			vals[i] = 1
		case canonical && s == "false":
			vals[i] = 0
		case canonical:
			return vals, i
		case s == "1" || strings.EqualFold(s, "true") || strings.EqualFold(s, "yes"):
			vals[i] = 1
		case s == "0" || strings.EqualFold(s, "false") || strings.EqualFold(s, "no"):
			vals[i] = 0
		default:
			return vals, i
		}
	}
	return vals, -1
}

// timeLayouts are tried in order. The layouts without a zone read as UTC.
var timeLayouts = []string{time.RFC3339, "2006-01-02", "2006-01-02 15:04:05"}

func parseTime(raw []string, miss []bool, buf []float64) ([]float64, int) {
	vals := reuse(buf, len(raw))
	for i, s := range raw {
		if miss[i] {
			continue
		}
		t, ok := parseTimeValue(s)
		if !ok {
			return vals, i
		}
		vals[i] = float64(t.Unix()) + float64(t.Nanosecond())/1e9
	}
	return vals, -1
}

func parseTimeValue(s string) (time.Time, bool) {
	if len(s) < 10 || s[4] != '-' {
		return time.Time{}, false
	}
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

func categorical(raw []string, miss []bool) []string {
	out := make([]string, len(raw))
	for i, s := range raw {
		if !miss[i] {
			out[i] = s
		}
	}
	return out
}

func reuse(buf []float64, n int) []float64 {
	if cap(buf) >= n {
		buf = buf[:n]
		clear(buf)
		return buf
	}
	return make([]float64, n)
}
