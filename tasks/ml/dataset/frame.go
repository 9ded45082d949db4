package dataset

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// Kind is the type of a column.
type Kind string

// The column kinds.
const (
	// Numeric columns hold float64 values in Column.Num.
	Numeric Kind = "numeric"
	// Categorical columns hold strings in Column.Str.
	Categorical Kind = "categorical"
	// Boolean columns hold 0 (false) or 1 (true) in Column.Num.
	Boolean Kind = "boolean"
	// Datetime columns hold Unix seconds (UTC, fractional) in Column.Num.
	Datetime Kind = "datetime"
)

// Valid reports whether k is one of the four kinds.
func (k Kind) Valid() bool {
	switch k {
	case Numeric, Categorical, Boolean, Datetime:
		return true
	}
	return false
}

// Column is one named, typed column. Numeric, Boolean and Datetime values
// are in Num, Categorical values in Str; the other slice is nil. Missing[i]
// marks row i missing (its Num or Str entry is then 0 or "" and
// meaningless); a nil Missing means nothing is missing.
type Column struct {
	Name    string    `json:"name"`
	Kind    Kind      `json:"kind"`
	Num     []float64 `json:"num,omitempty"`
	Str     []string  `json:"str,omitempty"`
	Missing []bool    `json:"missing,omitempty"`
}

// Len returns the number of values in the column.
func (c *Column) Len() int {
	if c.Kind == Categorical {
		return len(c.Str)
	}
	return len(c.Num)
}

// IsMissing reports whether row i is missing.
func (c *Column) IsMissing(i int) bool { return c.Missing != nil && c.Missing[i] }

// Value returns row i formatted as WriteCSV writes it: "" when missing,
// numbers in plain decimal notation (integers with every digit, others with
// the fewest digits that read back as the same float64), booleans as "true" or
// "false", datetimes as RFC 3339 in UTC (fractional seconds only when
// present), categories unchanged. It is the label form the split functions
// take for a label column of any kind.
func (c *Column) Value(i int) string {
	if c.IsMissing(i) {
		return ""
	}
	return string(c.appendValue(nil, i))
}

func (c *Column) appendValue(b []byte, i int) []byte {
	switch c.Kind {
	case Categorical:
		return append(b, c.Str[i]...)
	case Boolean:
		if c.Num[i] != 0 {
			return append(b, "true"...)
		}
		return append(b, "false"...)
	case Datetime:
		return appendTime(b, c.Num[i])
	default:
		return appendNumber(b, c.Num[i])
	}
}

// FormatNumber formats v as WriteCSV and Column.Value write a number (see
// appendNumber): the spelling of a numeric class label wherever one is
// named, so that a label read from data and a class stored in a model
// compare equal.
func FormatNumber(v float64) string { return string(appendNumber(nil, v)) }

// appendNumber writes v in plain decimal notation, never with an exponent,
// when it is 0 or in plainRange: an integer with all its digits (exact:
// 2^60 is 1152921504606846976), any other number with the fewest digits
// that read back as v (1.50 comes back as 1.5, 0.00001 as 0.00001, not
// 1e-05). Outside that range (a value read from 1e300 or 1e-40) it uses
// the shortest exponent form (1e+300), so that no value takes more than
// about 50 bytes; ReadCSV infers a value written there without an exponent
// as text, so a number the user wrote plainly is never given one, and
// what WriteCSV writes is inferred as a number again. ±Inf is
// "+Inf"/"-Inf".
func appendNumber(b []byte, v float64) []byte {
	switch {
	case !plainRange(v) && !math.IsInf(v, 0):
		return strconv.AppendFloat(b, v, 'e', -1, 64)
	case v == math.Trunc(v):
		return strconv.AppendFloat(b, v, 'f', 0, 64)
	}
	return strconv.AppendFloat(b, v, 'f', -1, 64)
}

// plainRange reports whether v is written in plain notation: 0, or a
// magnitude from 1e-30 up to, not including, 1e21 (the bound JavaScript
// uses too: 21 integer digits at most).
func plainRange(v float64) bool {
	a := math.Abs(v)
	return a == 0 || a >= 1e-30 && a < 1e21
}

// appendTime formats Unix seconds v as RFC 3339 UTC, rounding to the
// nanosecond.
func appendTime(b []byte, v float64) []byte {
	sec := math.Floor(v)
	nsec := math.Round((v - sec) * 1e9)
	if nsec >= 1e9 {
		sec++
		nsec -= 1e9
	}
	return time.Unix(int64(sec), int64(nsec)).UTC().AppendFormat(b, time.RFC3339Nano)
}

// Frame is an in-memory table: columns of equal length.
type Frame struct {
	Columns []*Column `json:"columns"`
}

// Rows returns the number of rows (0 for a frame without columns).
func (f *Frame) Rows() int {
	if len(f.Columns) == 0 {
		return 0
	}
	return f.Columns[0].Len()
}

// Col returns the column called name.
func (f *Frame) Col(name string) (*Column, bool) {
	for _, c := range f.Columns {
		if c.Name == name {
			return c, true
		}
	}
	return nil, false
}

// Names returns the column names in order.
func (f *Frame) Names() []string {
	names := make([]string, len(f.Columns))
	for i, c := range f.Columns {
		names[i] = c.Name
	}
	return names
}

// Select returns a new frame holding the given rows, in that order (a row
// may repeat). It shares nothing with f. It panics if an index is out of
// range, like a slice index.
func (f *Frame) Select(rows []int) *Frame {
	out := &Frame{Columns: make([]*Column, len(f.Columns))}
	for j, c := range f.Columns {
		nc := &Column{Name: c.Name, Kind: c.Kind}
		if c.Kind == Categorical {
			nc.Str = make([]string, len(rows))
			for i, r := range rows {
				nc.Str[i] = c.Str[r]
			}
		} else {
			nc.Num = make([]float64, len(rows))
			for i, r := range rows {
				nc.Num[i] = c.Num[r]
			}
		}
		if c.Missing != nil {
			nc.Missing = make([]bool, len(rows))
			for i, r := range rows {
				nc.Missing[i] = c.Missing[r]
			}
		}
		out.Columns[j] = nc
	}
	return out
}

// Validate checks that every column has a valid kind, a unique non-empty
// name, the value slice its kind needs, the same length as the others, and
// a Missing slice of that length or nil. Errors wrap ErrShape.
func (f *Frame) Validate() error {
	for j, c := range f.Columns {
		if c == nil {
			return fmt.Errorf("dataset: column %d is nil: %w", j, ErrShape)
		}
	}
	n := f.Rows()
	seen := make(map[string]bool, len(f.Columns))
	for j, c := range f.Columns {
		if !c.Kind.Valid() {
			return fmt.Errorf("dataset: column %q: unknown kind %q: %w", c.Name, c.Kind, ErrShape)
		}
		if c.Name == "" {
			return fmt.Errorf("dataset: column %d has an empty name: %w", j, ErrShape)
		}
		if seen[c.Name] {
			return fmt.Errorf("dataset: column %q appears twice: %w", c.Name, ErrShape)
		}
		seen[c.Name] = true
		if c.Kind == Categorical && c.Num != nil || c.Kind != Categorical && c.Str != nil {
			return fmt.Errorf("dataset: column %q: %s column with the wrong value slice: %w", c.Name, c.Kind, ErrShape)
		}
		if c.Len() != n {
			return fmt.Errorf("dataset: column %q has %d rows, column %q has %d: %w", c.Name, c.Len(), f.Columns[0].Name, n, ErrShape)
		}
		if c.Missing != nil && len(c.Missing) != n {
			return fmt.Errorf("dataset: column %q: %d missing flags for %d rows: %w", c.Name, len(c.Missing), n, ErrShape)
		}
	}
	return nil
}
