package dataset

import (
	"errors"
	"fmt"
	"strconv"
)

// Sentinel errors. Every error returned by this package wraps one of them
// (test with errors.Is) and says where the problem is.
var (
	// ErrFormat means: the input is not well-formed CSV or JSON Lines: bad
	// quoting, a row whose field count differs from the header's, invalid
	// UTF-8, a line that is not a JSON object, a nested JSON value.
	ErrFormat = errors.New("malformed input")
	// ErrHeader means: no header row, or an empty or duplicate column name.
	ErrHeader = errors.New("invalid header")
	// ErrTooLarge means: the input is longer than ReadOptions.MaxBytes.
	ErrTooLarge = errors.New("input too large")
	// ErrType means: a value that does not parse as its column's declared kind.
	ErrType = errors.New("value does not match column kind")
	// ErrNonFinite means: ±Inf in a numeric column when ReadOptions.AllowInf is
	// false, a NaN or ±Inf where a finite value is needed (WriteCSV, TimeSplit).
	ErrNonFinite = errors.New("value is NaN or Inf")
	// ErrSchema means: an explicit schema that names a column the input does
	// not have, or an unknown Kind.
	ErrSchema = errors.New("invalid schema")
	// ErrShape means: a Frame whose columns have different lengths, or a
	// column whose value slice does not match its Kind.
	ErrShape = errors.New("invalid frame")
	// ErrParam means: a split fraction outside its range, or an index out of
	// range.
	ErrParam = errors.New("invalid parameter")
	// ErrChanged means: an input ReadCSV read twice (a column that
	// turned out to be text is read again from a re-readable source, see
	// ReadCSV) gave other bytes the second time: someone wrote to it.
	ErrChanged = errors.New("input changed while read")
	// ErrTooFewRows means: too few rows (or too few rows of one class) to give
	// every part of a split at least one row.
	ErrTooFewRows = errors.New("too few rows")
)

// ParseError is the error ReadCSV and ReadJSONL return for a problem at a
// place in the input. It wraps one of the sentinels (Err).
type ParseError struct {
	// Line is the 1-based line number of the row (for CSV, the line where
	// the record starts; a quoted field may span several lines).
	Line int
	// Column is the column name, or "" when the problem is the whole row.
	Column string
	// Msg says what is wrong.
	Msg string
	// Err is the sentinel the error wraps.
	Err error
}

func (e *ParseError) Error() string {
	s := "dataset: line " + strconv.Itoa(e.Line)
	if e.Column != "" {
		s += ", column " + strconv.Quote(e.Column)
	}
	return s + ": " + e.Msg + ": " + e.Err.Error()
}

// Unwrap returns the sentinel.
func (e *ParseError) Unwrap() error { return e.Err }

func parseErr(line int, col string, sentinel error, format string, args ...any) *ParseError {
	return &ParseError{Line: line, Column: col, Msg: fmt.Sprintf(format, args...), Err: sentinel}
}
