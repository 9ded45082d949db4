package dataset

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

var errNegativeRead = errors.New("dataset: the reader returned an invalid byte count")

// colState is what a column being read holds so far.
type colState uint8

const (
	// stEmpty: inferring, every value so far missing (zeros in num).
	stEmpty colState = iota
	// stNum: numbers in num (inferred so far, or declared Numeric).
	stNum
	// stBool: booleans as 0/1 in num (only true/false when inferring).
	stBool
	// stTime: datetimes as Unix seconds in num.
	stTime
	// stCat: text in str.
	stCat
	// stDefer: inferring, a value that is not of the kind the earlier
	// ones were: the column is categorical, and its text is read in a
	// second pass over the kept input (readDeferred).
	stDefer
	// stSkip: nothing more to read: a declared column with a value that
	// is not of its kind (the error is reported at the end), or a column
	// the second pass does not read.
	stSkip
)

// csvColumn is one column being read.
type csvColumn struct {
	name     string
	kind     Kind // the declared kind (declared), else the inferred one at the end
	declared bool
	st       colState
	num      []float64
	str      strColumn
	miss     []int // missing rows

	// The first value of a declared column that is not of its kind
	// (badLine > 0): its line and text, and whether it was a NaN.
	badLine int
	badVal  string
	badNaN  bool
	// The first ±Inf of a numeric column (infLine > 0).
	infLine int
	infVal  string
}

// addNum appends v to num. The slice doubles when full: append's own
// growth, by a quarter for large slices, copies a column of a million
// values about twenty times (a quarter of the time of a read without a
// size hint, through tasks.ContextReader say); frame trims what doubling
// leaves over.
func (c *csvColumn) addNum(v float64) {
	if len(c.num) == cap(c.num) {
		c.num = growNum(c.num)
	}
	c.num = append(c.num, v)
}

func growNum(s []float64) []float64 {
	return slices.Grow(s, max(len(s), 512))
}

// decoder types the fields of ReadCSV's records column by column as they
// are read: one pass, no string per numeric field. A column infers the
// kind of its first non-missing value (a number as inferableNumber
// reads it, true/false, a datetime, else text; no value is two of them)
// and keeps it while its values agree, which gives the kind buildColumn
// infers: numeric if all are numbers, else boolean if all are true or
// false, else datetime, else categorical. A value that disagrees makes
// the column categorical (stDefer): buildColumn would find some value of
// it not numeric, not boolean and not a datetime.
type decoder struct {
	cols      []csvColumn
	cfg       *config
	missFirst [256]bool // first bytes of the missing markers, and ','
	row       int
	checkUTF8 bool
	rescan    bool // some column is stDefer
}

func newDecoder(names []string, schema map[string]Kind, c *config) *decoder {
	d := &decoder{cols: make([]csvColumn, len(names)), cfg: c, checkUTF8: true}
	for _, m := range c.missing {
		if m != "" {
			d.missFirst[m[0]] = true
		}
	}
	d.missFirst[','] = true
	for j, name := range names {
		col := &d.cols[j]
		col.name = name
		kind, declared := schema[name]
		col.kind, col.declared = kind, declared
		switch {
		case !declared:
			col.st = stEmpty
		case kind == Numeric:
			col.st = stNum
		case kind == Boolean:
			col.st = stBool
		case kind == Datetime:
			col.st = stTime
		default:
			col.st = stCat
		}
	}
	return d
}

// inferring reports whether some column's kind is inferred.
func (d *decoder) inferring() bool {
	for j := range d.cols {
		if !d.cols[j].declared {
			return true
		}
	}
	return false
}

// rowBytes is what a row takes in the columns' slices.
func (d *decoder) rowBytes() int {
	n := 0
	for j := range d.cols {
		if d.cols[j].st == stCat {
			n += 16
		} else {
			n += 8
		}
	}
	return n
}

// reserve gives the columns room for about n rows.
func (d *decoder) reserve(n int) {
	if n <= 0 {
		return
	}
	for j := range d.cols {
		c := &d.cols[j]
		switch c.st {
		case stCat:
			c.str.vals = make([]string, 0, n)
		case stEmpty, stNum, stBool, stTime:
			c.num = make([]float64, 0, n)
		}
	}
}

func (d *decoder) isMissing(f []byte) bool {
	if len(f) == 0 {
		return true
	}
	if !d.missFirst[f[0]] {
		return false
	}
	for _, m := range d.cfg.missing {
		if string(f) == m {
			return true
		}
	}
	return false
}

// rows reads the records after the header to the end of the input.
func (d *decoder) rows(in *csvInput) error {
	for {
		data := in.buf[in.pos:in.end]
		i := bytes.IndexByte(data, '\n')
		if i < 0 && !in.ended {
			in.fill()
			continue
		}
		if i >= 0 {
			// A whole line without quotes is a record of its own, its
			// fields split at commas (or a blank line, skipped).
			b := data[:i]
			if i > 0 && b[i-1] == '\r' {
				b = b[:i-1]
			}
			if bytes.IndexByte(b, '"') < 0 {
				in.pos += i + 1
				in.line++
				if len(b) == 0 {
					continue
				}
				if err := d.line(b, in.line); err != nil {
					return err
				}
				continue
			}
		}
		// Quotes, or the last line: encoding/csv's parser.
		st, line, err := in.readRecord()
		switch st {
		case recMore:
			in.fill()
			continue
		case recEOF:
			return nil
		}
		if err != nil {
			return csvErr(err)
		}
		if err := d.record(in, line); err != nil {
			return err
		}
	}
}

// line reads the fields of a record without quotes, b (no line end).
func (d *decoder) line(b []byte, line int) error {
	cols := d.cols
	last := len(cols) - 1
	badUTF8 := -1
	p := 0
	for j := range cols {
		c := &cols[j]
		e := -1 // where the field ends
		if c.st == stNum && p < len(b) && !d.missFirst[b[p]] {
			// The hot path: a number read in place.
			if r := scanNumber(b, p); r.ok && (r.end == len(b) || b[r.end] == ',') && (r.infer || c.declared) {
				c.addNum(r.v)
				e = r.end
			}
		}
		if e < 0 {
			e = len(b)
			if k := bytes.IndexByte(b[p:], ','); k >= 0 {
				e = p + k
			}
			f := b[p:e]
			if badUTF8 < 0 && d.checkUTF8 && !utf8.Valid(f) {
				badUTF8 = j
			}
			d.push(c, f, line)
		}
		if e == len(b) {
			if j != last {
				return d.countErr(bytes.Count(b, []byte{','})+1, line)
			}
			break
		}
		if j == last {
			return d.countErr(bytes.Count(b, []byte{','})+1, line)
		}
		p = e + 1
	}
	if badUTF8 >= 0 {
		return parseErr(line, cols[badUTF8].name, ErrFormat, "value is not valid UTF-8")
	}
	d.row++
	return nil
}

// record reads the fields readRecord parsed.
func (d *decoder) record(in *csvInput, line int) error {
	if len(in.ends) != len(d.cols) {
		return d.countErr(len(in.ends), line)
	}
	for j := range d.cols {
		f := crlfToLFBytes(in.field(j))
		if d.checkUTF8 && !utf8.Valid(f) {
			return parseErr(line, d.cols[j].name, ErrFormat, "value is not valid UTF-8")
		}
		d.push(&d.cols[j], f, line)
	}
	d.row++
	return nil
}

func (d *decoder) countErr(n, line int) error {
	return parseErr(line, "", ErrFormat, "%d fields, the header has %d", n, len(d.cols))
}

// push adds field f (on the given line) to column c.
func (d *decoder) push(c *csvColumn, f []byte, line int) {
	if c.st >= stDefer {
		return
	}
	if d.isMissing(f) {
		c.miss = append(c.miss, d.row)
		if c.st == stCat {
			c.str.add(nil)
		} else {
			c.addNum(0)
		}
		return
	}
	switch c.st {
	case stEmpty:
		d.first(c, f, line)
	case stNum:
		v, ok, isNaN := numberValue(f, !c.declared)
		switch {
		case ok:
			if c.infLine == 0 && math.IsInf(v, 0) {
				c.infLine, c.infVal = line, string(f)
			}
			c.addNum(v)
		case c.declared:
			c.fail(line, f, isNaN)
		default:
			d.deferCol(c)
		}
	case stBool:
		v, ok := boolValue(f, !c.declared)
		switch {
		case ok:
			c.addNum(v)
		case c.declared:
			c.fail(line, f, false)
		default:
			d.deferCol(c)
		}
	case stTime:
		v, ok := timeValue(f)
		switch {
		case ok:
			c.addNum(v)
		case c.declared:
			c.fail(line, f, false)
		default:
			d.deferCol(c)
		}
	case stCat:
		c.str.add(f)
	}
}

// first types an inferred column by its first non-missing value f. A
// value is at most one of: a number (digits, signs, a point, e, x, p,
// _, or Inf/Infinity/NaN letters), true or false, a datetime (four
// digits before the - at index 4).
func (d *decoder) first(c *csvColumn, f []byte, line int) {
	if v, ok, _ := numberValue(f, true); ok {
		c.st = stNum
		if math.IsInf(v, 0) {
			c.infLine, c.infVal = line, string(f)
		}
		c.addNum(v)
		return
	}
	if v, ok := boolValue(f, true); ok {
		c.st = stBool
		c.addNum(v)
		return
	}
	if v, ok := timeValue(f); ok {
		c.st = stTime
		c.addNum(v)
		return
	}
	// Text: the rows before were all missing.
	c.st = stCat
	c.str.vals = make([]string, len(c.num), max(cap(c.num), len(c.num)+1))
	c.num = nil
	c.str.add(f)
}

func (d *decoder) deferCol(c *csvColumn) {
	c.st, c.num, c.infLine, c.infVal = stDefer, nil, 0, ""
	d.rescan = true
}

func (c *csvColumn) fail(line int, f []byte, isNaN bool) {
	c.badLine, c.badVal, c.badNaN = line, string(f), isNaN
	c.st, c.num = stSkip, nil
}

// numberValue reads f as parseNumeric reads a value: ok if it is a
// number (inferring: one inferableNumber accepts) and not NaN; isNaN if
// it was a NaN.
func numberValue(f []byte, inferring bool) (v float64, ok, isNaN bool) {
	if r := scanNumber(f, 0); r.ok && r.end == len(f) && (r.infer || !inferring) {
		return r.v, true, false
	}
	s := string(f)
	v, err := strconv.ParseFloat(s, 64)
	if err != nil && !(errors.Is(err, strconv.ErrRange) && math.IsInf(v, 0)) {
		return 0, false, false
	}
	if math.IsNaN(v) {
		return v, false, true
	}
	if inferring && !inferableNumber(s, v) {
		return 0, false, false
	}
	return v, true, false
}

// boolValue reads f as parseBool does (canonical: only true and false).
func boolValue(f []byte, canonical bool) (float64, bool) {
	switch {
	case string(f) == "true":
		return 1, true
	case string(f) == "false":
		return 0, true
	case canonical:
		return 0, false
	case string(f) == "1" || bytes.EqualFold(f, []byte("true")) || bytes.EqualFold(f, []byte("yes")):
		return 1, true
	case string(f) == "0" || bytes.EqualFold(f, []byte("false")) || bytes.EqualFold(f, []byte("no")):
		return 0, true
	}
	return 0, false
}

// timeValue reads f as parseTime does.
func timeValue(f []byte) (float64, bool) {
	if len(f) < 10 || f[4] != '-' {
		return 0, false
	}
	if v, ok := plainDatetime(f); ok {
		return v, true
	}
	t, ok := parseTimeValue(string(f))
	if !ok {
		return 0, false
	}
	return float64(t.Unix()) + float64(t.Nanosecond())/1e9, true
}

// plainDatetime reads "2006-01-02" and "2006-01-02 15:04:05" with
// every digit written and in range, as time.Parse reads them (after
// failing RFC 3339, which needs a T; time.Parse's error costs
// allocations): ok false for any other text, left to parseTimeValue.
func plainDatetime(f []byte) (float64, bool) {
	num := func(i, n int) int {
		v := 0
		for _, c := range f[i : i+n] {
			if c < '0' || c > '9' {
				return -1
			}
			v = v*10 + int(c-'0')
		}
		return v
	}
	if len(f) != 10 && len(f) != 19 || f[4] != '-' || f[7] != '-' {
		return 0, false
	}
	year, month, day := num(0, 4), num(5, 2), num(8, 2)
	hour, minute, sec := 0, 0, 0
	if len(f) == 19 {
		if f[10] != ' ' || f[13] != ':' || f[16] != ':' {
			return 0, false
		}
		hour, minute, sec = num(11, 2), num(14, 2), num(17, 2)
	}
	if year < 0 || month < 1 || month > 12 || day < 1 || hour < 0 || hour > 23 || minute < 0 || minute > 59 || sec < 0 || sec > 59 {
		return 0, false
	}
	days := [...]int{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}[month-1]
	if month == 2 && year%4 == 0 && (year%100 != 0 || year%400 == 0) {
		days = 29
	}
	if day > days {
		return 0, false
	}
	return float64(time.Date(year, time.Month(month), day, hour, minute, sec, 0, time.UTC).Unix()), true
}

// crlfToLFBytes is crlfToLF in place.
func crlfToLFBytes(b []byte) []byte {
	if bytes.Index(b, []byte("\r\n")) < 0 {
		return b
	}
	out := b[:0]
	run := 0 // CRs seen and not yet written
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case c == '\r':
			run++
		case c == '\n':
			run = 0
			out = append(out, c)
		default:
			for ; run > 0; run-- {
				out = append(out, '\r')
			}
			out = append(out, c)
		}
	}
	for ; run > 0; run-- {
		out = append(out, '\r')
	}
	return out
}

// frame returns the columns read, or the error buildColumn would return
// first (in column order).
func (d *decoder) frame() (*Frame, error) {
	f := &Frame{Columns: make([]*Column, len(d.cols))}
	for j := range d.cols {
		c := &d.cols[j]
		if c.badLine > 0 {
			if c.badNaN {
				return nil, parseErr(c.badLine, c.name, ErrNonFinite, "%q is NaN (list it in ReadOptions.Missing to read it as missing)", c.badVal)
			}
			return nil, parseErr(c.badLine, c.name, ErrType, "%q is not %s", c.badVal, kindPhrase[c.kind])
		}
		col := &Column{Name: c.name, Kind: c.kind}
		switch c.st {
		case stEmpty, stNum:
			if c.infLine > 0 && !d.cfg.allowInf {
				return nil, parseErr(c.infLine, c.name, ErrNonFinite, "%q is infinite: replace it (an empty cell is a missing value) or clean it upstream", c.infVal)
			}
			col.Kind = Numeric
		case stBool:
			col.Kind = Boolean
		case stTime:
			col.Kind = Datetime
		case stCat:
			col.Kind = Categorical
		default:
			return nil, fmt.Errorf("dataset: reading CSV: column %q was not read (an internal error)", c.name)
		}
		// As buildColumn: with no rows, Str is empty and Num nil.
		if col.Kind == Categorical {
			col.Str = c.str.finish()
			if col.Str == nil {
				col.Str = []string{}
			}
		} else if d.row > 0 {
			col.Num = c.num
			if cap(col.Num)-len(col.Num) > len(col.Num)/8 {
				col.Num = slices.Clone(col.Num)
			}
		}
		if col.Len() != d.row {
			return nil, fmt.Errorf("dataset: reading CSV: column %q has %d values for %d rows (an internal error)", c.name, col.Len(), d.row)
		}
		if len(c.miss) > 0 {
			col.Missing = make([]bool, d.row)
			for _, i := range c.miss {
				col.Missing[i] = true
			}
		}
		f.Columns[j] = col
	}
	return f, nil
}

// strColumn collects text values, copied into shared strings of about
// strChunk bytes rather than one allocation each.
type strColumn struct {
	vals []string
	buf  []byte
	pend []strSpan // values in buf, not yet in vals
}

type strSpan struct{ i, start, end int }

const strChunk = 8 << 10

func (s *strColumn) add(b []byte) {
	switch {
	case len(b) == 0:
		s.vals = append(s.vals, "")
		return
	case len(b) > strChunk/8:
		s.vals = append(s.vals, string(b))
		return
	case len(s.buf)+len(b) > cap(s.buf):
		s.flush()
		if s.buf == nil {
			s.buf = make([]byte, 0, strChunk)
		}
	}
	s.pend = append(s.pend, strSpan{len(s.vals), len(s.buf), len(s.buf) + len(b)})
	s.buf = append(s.buf, b...)
	s.vals = append(s.vals, "")
}

func (s *strColumn) flush() {
	if len(s.pend) == 0 {
		return
	}
	all := string(s.buf)
	for _, p := range s.pend {
		s.vals[p.i] = all[p.start:p.end]
	}
	s.buf, s.pend = s.buf[:0], s.pend[:0]
}

func (s *strColumn) finish() []string {
	s.flush()
	v := s.vals
	*s = strColumn{}
	return v
}

// sizeHint returns the number of bytes r holds if it says (a
// bytes.Reader, strings.Reader or bytes.Buffer; a regular file; a
// reader with a Size and a Seek, an io.SectionReader or an artifact's,
// less where it is), else 0.
func sizeHint(r io.Reader) int64 {
	switch x := r.(type) {
	case interface{ Len() int }:
		return int64(x.Len())
	case interface{ Stat() (fs.FileInfo, error) }:
		if fi, err := x.Stat(); err == nil && fi.Mode().IsRegular() {
			return fi.Size()
		}
	case interface {
		Size() int64
		io.Seeker
	}:
		size := x.Size()
		at, err := x.Seek(0, io.SeekCurrent)
		if err != nil || size <= at {
			return 0
		}
		// A Size may be a limit beyond the bytes there are (a section
		// of math.MaxInt64 bytes, "to the end"): a reader that can say
		// so (io.EOF reading its last byte) has no size to go by. One
		// that cannot read at all yet (an artifact's, until verified)
		// is taken at its word.
		if ra, ok := x.(io.ReaderAt); ok {
			if _, err := ra.ReadAt(make([]byte, 1), size-1); err == io.EOF {
				return 0
			}
		}
		return size - at
	}
	return 0
}

// ParseNumber reads b as a value of a column declared numeric
// (ReadOptions.Schema) is read, with no string made for it on the fast
// path: ok is false for text that is not a number and for NaN. A number
// too large for a float64 reads as ±Inf (ok true): callers that refuse
// infinities check for them, as ReadOptions.AllowInf does.
func ParseNumber(b []byte) (v float64, ok bool) {
	v, ok, _ = numberValue(b, false)
	return v, ok
}

// InferNumber reads b as a value of a column whose kind is inferred (not
// declared) is read: ok only for a number as written — not an identifier
// such as 007, not an integer a float64 cannot hold exactly, not NaN (see
// inferableNumber). ±Inf (Inf, 1e400) is ok, for callers to refuse.
func InferNumber(b []byte) (v float64, ok bool) {
	v, ok, _ = numberValue(b, true)
	return v, ok
}

// InferBool reads b as a value of a column whose kind is inferred is read
// as a boolean: only "true" and "false" (what WriteCSV writes; yes/no, 1/0
// and True are a declared boolean's, see parseBool).
func InferBool(b []byte) (float64, bool) { return boolValue(b, true) }

// ParseDatetime reads b as a value of a datetime column is read (RFC 3339,
// "2006-01-02" or "2006-01-02 15:04:05", UTC without a zone): Unix seconds,
// fractional.
func ParseDatetime(b []byte) (float64, bool) { return timeValue(b) }
