package dataset

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"unicode/utf8"
)

// ReadCSV reads a CSV table with a header row (RFC 4180: comma separated,
// fields optionally double-quoted, quotes doubled inside them, LF or CRLF
// line endings, a leading UTF-8 byte order mark skipped) and types its
// columns (see the package documentation for the inference rules).
//
// Errors wrap a sentinel; those about a place in the input are *ParseError
// values carrying the line number and column name: no header, an empty or
// duplicate column name (ErrHeader), bad quoting, invalid UTF-8 or a row
// with a different number of fields than the header (ErrFormat), a value
// that does not parse as its declared kind (ErrType), ±Inf without AllowInf
// (ErrNonFinite). Blank lines are skipped, as encoding/csv does; fields are
// not trimmed, and a CRLF (any run of CRs before an LF) inside a quoted
// field reads as LF, in names and values; ReadJSONL reads its strings so.
//
// Memory: ReadCSV holds the frame and a buffer of at most a few MiB of
// input, unless a column's kind is inferred and r cannot be read again:
// then it keeps the input read so far in memory too, in case a column
// that began as numbers (booleans, datetimes) turns to text and must be
// read again. An r that is an io.ReaderAt and an io.Seeker (a
// bytes.Reader, a strings.Reader, a regular *os.File) is read again
// instead, from where it was when ReadCSV began; if its bytes differ
// then, the error wraps ErrChanged.
func ReadCSV(r io.Reader, opts ReadOptions) (*Frame, error) {
	return readCSV(r, opts, 0, 4<<20)
}

// readCSV is ReadCSV reading its input in chunks of firstChunk bytes,
// doubling up to maxChunk (tests use tiny ones). firstChunk 0 means:
// as much as r holds (sizeHint, at most MaxBytes) up to maxChunk when it
// says, so that an input of known size is not read into buffers of
// growing sizes, else 64 KiB.
//
// It is encoding/csv's reader and the inference of buildColumn in one
// pass over the bytes, with the same results and errors (the reference
// in csv_ref_test.go is the former ReadCSV built on them; the tests
// compare the two): a line without quotes is split in place and its
// numbers are read from the bytes (scanNumber); a record with quotes,
// and the last line, go through readRecord, encoding/csv's parser. Each
// column keeps the kind of its first value while the others agree (see
// decoder). When a column of numbers, booleans or datetimes turns out to
// be text, its values are read again: from r itself when it can be read
// again (rereadable; the bytes checked against the first read's crc32c),
// else from the input kept in memory (kept only then, and only while
// some column's kind is inferred).
func readCSV(r io.Reader, opts ReadOptions, firstChunk, maxChunk int) (*Frame, error) {
	c, err := opts.config()
	if err != nil {
		return nil, err
	}
	size := sizeHint(r)
	if opts.MaxBytes > 0 {
		size = min(size, opts.MaxBytes)
	}
	if firstChunk == 0 {
		firstChunk = 64 << 10
		if size > 0 {
			// One more byte than r holds (or than MaxBytes lets it):
			// the first read sees its end (size+1 would overflow for a
			// size near math.MaxInt64).
			firstChunk = int(min(size, int64(maxChunk)-1) + 1)
		}
	}
	source, sourceAt, reread := rereadable(r)
	in := newCSVInput(newLimitReader(r, opts.MaxBytes), firstChunk, maxChunk, true, !reread, reread)
	hline, err := in.record()
	if err == io.EOF {
		return nil, parseErr(1, "", ErrHeader, "no header row")
	}
	if err != nil {
		return nil, csvErr(err)
	}
	names := make([]string, len(in.ends))
	index := make(map[string]int, len(names))
	for j := range names {
		name := string(crlfToLFBytes(in.field(j)))
		switch _, dup := index[name]; {
		case !utf8.ValidString(name):
			return nil, parseErr(hline, "", ErrFormat, "column %d: name is not valid UTF-8", j+1)
		case name == "":
			return nil, parseErr(hline, "", ErrHeader, "column %d has an empty name", j+1)
		case dup:
			return nil, parseErr(hline, name, ErrHeader, "name appears twice (columns %d and %d)", index[name]+1, j+1)
		}
		index[name] = j
		names[j] = name
	}
	if err := checkSchemaNames(opts.Schema, func(n string) bool { _, ok := index[n]; return ok }); err != nil {
		return nil, err
	}
	d := newDecoder(names, opts.Schema, c)
	if !d.inferring() {
		in.keep, in.kept, in.summing = false, nil, false
	}
	if in.ended {
		// All of r is in the buffer: its size is known, whatever r said
		// (a section's Size is its limit, not the bytes under it).
		size = min(size, in.total)
	}
	if rest := in.buf[in.pos:in.end]; size > 0 && len(rest) > 0 {
		// Room for the rows the input holds at the density of the
		// first chunk, in slices of at most twice the input's size (the
		// first rows may be shorter than the others).
		est := float64(size) / float64(len(rest)) * float64(bytes.Count(rest, []byte{'\n'})) * 1.05
		d.reserve(int(min(est, 2*float64(size)/float64(d.rowBytes()))))
	}
	if err := d.rows(in); err != nil {
		return nil, err
	}
	if d.rescan {
		if reread {
			// The bytes read, from where the first read began, again;
			// their checksum says whether they are still the same.
			src := io.NewSectionReader(source, sourceAt, in.total)
			first := int(min(in.total+1, int64(maxChunk)))
			again := newCSVInput(src, first, maxChunk, true, false, true)
			err := d.readDeferred(again)
			switch {
			case again.err != nil && again.err != io.EOF:
				return nil, fmt.Errorf("dataset: reading CSV again (a column turned out to be text): %w", again.err)
			case err != nil || again.total != in.total || again.sum != in.sum:
				// What parsed the first time and does not now, or
				// reads as other bytes, changed in between.
				return nil, fmt.Errorf("dataset: reading CSV: the input changed while it was read "+
					"(its columns of text are read a second time, and the bytes differ): read a copy no one writes to: %w", ErrChanged)
			}
		} else {
			var rs []io.Reader
			for _, b := range in.keptData() {
				rs = append(rs, bytes.NewReader(b))
			}
			again := newCSVInput(io.MultiReader(rs...), maxChunk, maxChunk, false, false, false)
			err := d.readDeferred(again)
			if err != nil {
				return nil, fmt.Errorf("dataset: reading CSV again: %w (an internal error)", err)
			}
		}
	}
	return d.frame()
}

// rereadable reports whether r can be read again from where it is now,
// and how: through ReadAt from offset at (its Seek(0, io.SeekCurrent)).
// A bytes.Reader, a strings.Reader or a regular file can; a pipe's Seek
// fails, and a reader that is neither an io.ReaderAt nor an io.Seeker
// cannot. ReadCSV then does not keep its input in memory while it infers
// the columns' kinds (a column that turns to text is read again from r),
// and checks that the bytes read again are the ones it read first.
func rereadable(r io.Reader) (ra io.ReaderAt, at int64, ok bool) {
	ra, isAt := r.(io.ReaderAt)
	sk, isSeeker := r.(io.Seeker)
	if !isAt || !isSeeker {
		return nil, 0, false
	}
	at, err := sk.Seek(0, io.SeekCurrent)
	if err != nil || at < 0 {
		return nil, 0, false
	}
	return ra, at, true
}

// readDeferred reads the columns that turned out to be text (stDefer)
// again from in, the input read from its start again (kept, or from its
// source), as categorical columns, skipping the others.
func (d *decoder) readDeferred(in *csvInput) error {
	if _, err := in.record(); err != nil {
		return err
	}
	rows := d.row
	saved := make([]colState, len(d.cols))
	for j := range d.cols {
		c := &d.cols[j]
		saved[j] = c.st
		if c.st == stDefer {
			c.st, c.kind, c.miss = stCat, Categorical, nil
			c.str.vals = make([]string, 0, rows)
		} else {
			c.st = stSkip
		}
	}
	d.row, d.checkUTF8 = 0, false
	if err := d.rows(in); err != nil {
		return err
	}
	for j := range d.cols {
		if saved[j] != stDefer {
			d.cols[j].st = saved[j]
		}
	}
	if d.row != rows {
		return fmt.Errorf("%d rows, then %d", rows, d.row)
	}
	return nil
}

// crlfToLF drops every run of CRs that ends a line (a CR run before LF)
// in a field. encoding/csv turns CRLF into LF inside quotes, but a CR
// before that CRLF survives it ("\r\r\n" reads as "\r\n"), and
// WriteCSV's "\r\n" would then read back as "\n": done here, a field read
// never holds a CRLF, and a frame read, written and read again is the
// same. One pass, whatever the number of CRs.
func crlfToLF(s string) string {
	if !strings.Contains(s, "\r\n") {
		return s
	}
	b := make([]byte, 0, len(s))
	run := 0 // CRs seen and not yet written
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\r':
			run++
		case c == '\n':
			run = 0
			b = append(b, c)
		default:
			for ; run > 0; run-- {
				b = append(b, '\r')
			}
			b = append(b, c)
		}
	}
	for ; run > 0; run-- {
		b = append(b, '\r')
	}
	return string(b)
}

func csvErr(err error) error {
	if errors.Is(err, ErrTooLarge) {
		return err
	}
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		if pe.Line != pe.StartLine {
			return parseErr(pe.StartLine, "", ErrFormat, "line %d, column %d: %v", pe.Line, pe.Column, pe.Err)
		}
		return parseErr(pe.StartLine, "", ErrFormat, "column %d: %v", pe.Column, pe.Err)
	}
	return fmt.Errorf("dataset: reading CSV: %w", err)
}

// WriteCSV writes f as CSV with a header row, deterministically: numbers as
// FormatNumber writes them — plain decimal notation from 1e-30 up to 1e21
// in magnitude (integers with every digit, others with the fewest digits
// that read back as the same float64, so 1.50 is written 1.5 and 2500000
// stays 2500000), the shortest exponent form outside it, ±Inf as
// "+Inf"/"-Inf" — booleans as
// true/false, datetimes as RFC 3339 in UTC with fractional seconds only when
// present (to the nanosecond), missing values as empty fields, LF line
// endings, and RFC 4180 quoting only where needed (a comma, double quote, CR
// or LF in the field). In a one-column frame an empty field is written as ""
// so that its row is not a blank line.
//
// ReadCSV with ReadOptions{Schema: Describe(f).Kinds(), AllowInf: true}
// reads the bytes back into f exactly, except: categorical values that are
// empty or in the missing list read as missing, a CRLF inside a categorical
// value reads as LF, and datetimes round to the nanosecond. It returns an
// error wrapping ErrShape for an invalid frame (see Frame.Validate) and
// ErrNonFinite for a non-missing NaN or an infinite datetime, and ErrShape
// for a boolean value other than 0 or 1.
func WriteCSV(w io.Writer, f *Frame) error {
	if err := f.Validate(); err != nil {
		return err
	}
	if len(f.Columns) == 0 {
		return fmt.Errorf("dataset: WriteCSV: frame has no columns: %w", ErrShape)
	}
	for _, c := range f.Columns {
		if c.Kind == Categorical {
			continue
		}
		for i, v := range c.Num {
			if c.IsMissing(i) {
				continue
			}
			if c.Kind == Boolean && v != 0 && v != 1 {
				return fmt.Errorf("dataset: WriteCSV: boolean column %q row %d: %v is not 0 or 1: %w", c.Name, i, v, ErrShape)
			}
			if math.IsNaN(v) || (c.Kind != Numeric && math.IsInf(v, 0)) {
				return fmt.Errorf("dataset: WriteCSV: column %q row %d: %v is not missing: %w", c.Name, i, v, ErrNonFinite)
			}
		}
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	one := len(f.Columns) == 1
	var buf []byte
	for j, c := range f.Columns {
		if j > 0 {
			buf = append(buf, ',')
		}
		if j == 0 && strings.HasPrefix(c.Name, "\ufeff") {
			// Unquoted, it would read back as a byte order mark, which
			// ReadCSV skips: quoted, the name keeps its U+FEFF.
			buf = append(append(append(buf, '"'), strings.ReplaceAll(c.Name, `"`, `""`)...), '"')
			continue
		}
		buf = appendField(buf, c.Name, one)
	}
	buf = append(buf, '\n')
	var field []byte
	for i, n := 0, f.Rows(); i < n; i++ {
		for j, c := range f.Columns {
			if j > 0 {
				buf = append(buf, ',')
			}
			switch {
			case c.IsMissing(i):
				if one {
					buf = append(buf, `""`...)
				}
			case c.Kind == Categorical:
				buf = appendField(buf, c.Str[i], one)
			default:
				field = c.appendValue(field[:0], i)
				buf = append(buf, field...)
			}
		}
		buf = append(buf, '\n')
		if len(buf) >= 32<<10 {
			if _, err := bw.Write(buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
	}
	if _, err := bw.Write(buf); err != nil {
		return err
	}
	return bw.Flush()
}

// appendField appends s, quoted if it holds a comma, quote, CR or LF (or
// is empty and alone on its line).
func appendField(b []byte, s string, alone bool) []byte {
	if !strings.ContainsAny(s, ",\"\r\n") && !(alone && s == "") {
		return append(b, s...)
	}
	b = append(b, '"')
	for {
		k := strings.IndexByte(s, '"')
		if k < 0 {
			break
		}
		b = append(b, s[:k+1]...)
		b = append(b, '"')
		s = s[k+1:]
	}
	b = append(b, s...)
	return append(b, '"')
}
