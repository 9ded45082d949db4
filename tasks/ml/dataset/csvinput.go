package dataset

import (
	"bytes"
	"encoding/csv"
	"hash/crc32"
	"io"
)

// csvInput is ReadCSV's view of its input: the bytes in chunks, read as
// encoding/csv reads them. The data from pos to end is not yet parsed; a
// record is parsed only once a whole line of it is in the buffer, so the
// hot path (a line without quotes) splits fields in place. When keep is
// set, the parsed bytes are kept (kept, then buf[keepFrom:pos]) so that
// they can be read a second time (see decoder.rescan). When summing is
// set instead, the input is not kept but its checksum taken, so that it
// can be read a second time from its source and found the same.
type csvInput struct {
	src        io.Reader
	buf        []byte
	pos, end   int
	ended      bool  // src has no more data
	err        error // why: io.EOF or the error src returned
	line       int   // lines parsed, as csv.Reader counts them
	firstChunk int
	maxChunk   int

	keep     bool
	kept     [][]byte
	keepFrom int

	summing bool
	sum     uint32 // crc32c of the bytes read from src (when summing)
	total   int64  // bytes read from src

	// The fields of the last record readRecord parsed: field k is
	// rec[ends[k-1]:ends[k]] (ends[-1] = 0).
	rec  []byte
	ends []int
}

// newCSVInput reads the first bytes of src: into kept chunks with keep,
// into a checksum with summing.
func newCSVInput(src io.Reader, firstChunk, maxChunk int, skipBOM, keep, summing bool) *csvInput {
	in := &csvInput{src: src, firstChunk: firstChunk, maxChunk: maxChunk, keep: keep, summing: summing}
	for in.end-in.pos < 3 && !in.ended {
		in.fill()
	}
	// As skipBOM: a byte order mark is skipped when the input's first
	// three bytes are one.
	if skipBOM && bytes.HasPrefix(in.buf[in.pos:in.end], []byte("\xef\xbb\xbf")) {
		in.pos += 3
		in.keepFrom = in.pos
	}
	return in
}

// fill reads more input after the unparsed data, which it moves to the
// start of the buffer (of a new one when the parsed data is kept). The
// buffer doubles up to maxChunk, and beyond it when the unparsed data
// (a record longer than a chunk) takes more than half of it, so a long
// record is parsed again only a logarithmic number of times. fill reads
// until the buffer is full or src ends.
func (in *csvInput) fill() {
	if in.ended {
		return
	}
	if in.keep && in.pos > in.keepFrom {
		in.kept = append(in.kept, in.buf[in.keepFrom:in.pos:in.pos])
	}
	tail := in.end - in.pos
	size := len(in.buf)
	switch {
	case size == 0:
		size = in.firstChunk
	case size < in.maxChunk:
		size *= 2
	}
	for tail*2 > size {
		size *= 2
	}
	if in.keep || size != len(in.buf) {
		nb := make([]byte, size)
		copy(nb, in.buf[in.pos:in.end])
		in.buf = nb
	} else {
		copy(in.buf, in.buf[in.pos:in.end])
	}
	in.pos, in.end, in.keepFrom = 0, tail, 0
	for empty := 0; in.end < len(in.buf); {
		n, err := in.src.Read(in.buf[in.end:])
		if n < 0 || n > len(in.buf)-in.end {
			n, err = 0, errNegativeRead
		}
		if in.summing {
			in.sum = crc32.Update(in.sum, castagnoli, in.buf[in.end:in.end+n])
		}
		in.end += n
		in.total += int64(n)
		if err != nil {
			in.ended, in.err = true, err
			return
		}
		if n > 0 {
			empty = 0
		} else if empty++; empty >= 100 {
			in.ended, in.err = true, io.ErrNoProgress // as bufio.Reader
			return
		}
	}
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// keptData returns the bytes parsed so far when keep is set.
func (in *csvInput) keptData() [][]byte {
	if in.pos > in.keepFrom {
		return append(in.kept, in.buf[in.keepFrom:in.pos])
	}
	return in.kept
}

// record parses the next record into rec and ends (reading more input as
// needed) and returns the line it starts on. err is io.EOF when there is
// none, a *csv.ParseError for bad quoting, or the error src returned.
func (in *csvInput) record() (int, error) {
	for {
		st, line, err := in.readRecord()
		switch st {
		case recMore:
			in.fill()
		case recEOF:
			return 0, io.EOF
		default:
			return line, err
		}
	}
}

type recStatus int

const (
	recDone recStatus = iota // a record, or an error
	recMore                  // the record goes beyond the data read so far
	recEOF                   // no more records
)

// readRecord is encoding/csv's Reader.readRecord (Go 1.26: comma
// separator, no comment character, no LazyQuotes, no TrimLeadingSpace)
// on the buffered data, with its line numbers, error positions and
// handling of line ends, blank lines and the end of input. It changes
// nothing but rec, ends and, when it returns recDone, pos and line: on
// recMore the caller fills and calls again from the same place.
//
// A line is held as its bytes without the LF and without the CR of a
// CRLF (csv.Reader's readLine normalizes CRLF to LF), plus whether the LF
// was there.
func (in *csvInput) readRecord() (recStatus, int, error) {
	p := in.pos
	numLine := in.line
	more := false
	// readLine is csv.Reader.readLine on the buffer.
	readLine := func() (line []byte, nl bool, err error) {
		data := in.buf[p:in.end]
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, nl = data[:i], true
			p += i + 1
			if i > 0 && line[i-1] == '\r' {
				line = line[:i-1]
			}
		} else if !in.ended {
			more = true
			return nil, false, nil
		} else {
			line, err = data, in.err
			p = in.end
			if len(line) > 0 && err == io.EOF {
				err = nil
				// For backwards compatibility, drop trailing \r before EOF.
				if line[len(line)-1] == '\r' {
					line = line[:len(line)-1]
				}
			}
		}
		numLine++
		return line, nl, err
	}
	nlLen := func(nl bool) int {
		if nl {
			return 1
		}
		return 0
	}

	// Read line (automatically skipping past empty lines).
	var line []byte
	var nl bool
	var errRead error
	for errRead == nil {
		line, nl, errRead = readLine()
		if more {
			return recMore, 0, nil
		}
		if errRead == nil && len(line) == 0 {
			continue // Skip empty lines
		}
		break
	}
	if errRead == io.EOF {
		in.pos, in.line = p, numLine
		return recEOF, 0, nil
	}

	var err error
	recLine := numLine
	in.rec, in.ends = in.rec[:0], in.ends[:0]
	posLine, posCol := numLine, 1
parseField:
	for {
		if len(line) == 0 || line[0] != '"' {
			// Non-quoted string field
			i := bytes.IndexByte(line, ',')
			field := line
			if i >= 0 {
				field = field[:i]
			}
			if j := bytes.IndexByte(field, '"'); j >= 0 {
				err = &csv.ParseError{StartLine: recLine, Line: numLine, Column: posCol + j, Err: csv.ErrBareQuote}
				break parseField
			}
			in.rec = append(in.rec, field...)
			in.ends = append(in.ends, len(in.rec))
			if i >= 0 {
				line = line[i+1:]
				posCol += i + 1
				continue parseField
			}
			break parseField
		}
		// Quoted string field
		line = line[1:]
		posCol++
		for {
			i := bytes.IndexByte(line, '"')
			switch {
			case i >= 0:
				// Hit next quote.
				in.rec = append(in.rec, line[:i]...)
				line = line[i+1:]
				posCol += i + 1
				switch {
				case len(line) > 0 && line[0] == '"':
					// `""` sequence (append quote).
					in.rec = append(in.rec, '"')
					line = line[1:]
					posCol++
				case len(line) > 0 && line[0] == ',':
					// `",` sequence (end of field).
					line = line[1:]
					posCol++
					in.ends = append(in.ends, len(in.rec))
					continue parseField
				case len(line) == 0:
					// `"\n` sequence (end of line).
					in.ends = append(in.ends, len(in.rec))
					break parseField
				default:
					// `"*` sequence (invalid non-escaped quote).
					err = &csv.ParseError{StartLine: recLine, Line: numLine, Column: posCol - 1, Err: csv.ErrQuote}
					break parseField
				}
			case len(line) > 0 || nl:
				// Hit end of line (copy all data so far).
				in.rec = append(in.rec, line...)
				if nl {
					in.rec = append(in.rec, '\n')
				}
				if errRead != nil {
					break parseField
				}
				posCol += len(line) + nlLen(nl)
				line, nl, errRead = readLine()
				if more {
					return recMore, 0, nil
				}
				if len(line) > 0 || nl {
					posLine++
					posCol = 1
				}
				if errRead == io.EOF {
					errRead = nil
				}
			default:
				// Abrupt end of file (EOF or error).
				if errRead == nil {
					err = &csv.ParseError{StartLine: recLine, Line: posLine, Column: posCol, Err: csv.ErrQuote}
					break parseField
				}
				in.ends = append(in.ends, len(in.rec))
				break parseField
			}
		}
	}
	if err == nil {
		err = errRead
	}
	in.pos, in.line = p, numLine
	return recDone, recLine, err
}

// field returns field k of the last record readRecord parsed.
func (in *csvInput) field(k int) []byte {
	start := 0
	if k > 0 {
		start = in.ends[k-1]
	}
	return in.rec[start:in.ends[k]]
}
