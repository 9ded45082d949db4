package tasks

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// The helpers below read the values of a task's `with:` params as a
// ParamValidator sees them (YAML decoded into Go values) and as Run sees
// them (JSON decoded, numbers possibly as json.Number), so that every task
// type checks and describes params the same way.

// IsRef reports whether v is a string holding a ${{ }} reference: a value
// known only at run time, which a validator must accept as written.
func IsRef(v any) bool {
	s, ok := v.(string)
	return ok && strings.Contains(s, "${{")
}

// Number returns v as a finite float64 when it is a number: a Go integer
// or float, or a json.Number. NaN and ±Inf are not numbers here.
func Number(v any) (float64, bool) {
	var f float64
	switch n := v.(type) {
	case float64:
		f = n
	case float32:
		f = float64(n)
	case int:
		f = float64(n)
	case int64:
		f = float64(n)
	case int32:
		f = float64(n)
	case uint64:
		f = float64(n)
	case json.Number:
		x, err := strconv.ParseFloat(string(n), 64)
		if err != nil {
			return 0, false
		}
		f = x
	default:
		return 0, false
	}
	return f, !math.IsNaN(f) && !math.IsInf(f, 0)
}

// Integer returns v as an int64 when it is a whole number: an integer, a
// float without a fraction, or a json.Number read exactly when written as
// an integer. Magnitudes of 2^62 and above are refused as floats.
func Integer(v any) (int64, bool) {
	switch n := v.(type) {
	case json.Number:
		if i, err := strconv.ParseInt(string(n), 10, 64); err == nil {
			return i, true
		}
	case int:
		return int64(n), true
	case int64:
		return n, true
	case int32:
		return int64(n), true
	case uint64:
		return int64(n), n < 1<<63
	}
	f, ok := Number(v)
	if !ok || f != math.Trunc(f) || math.Abs(f) >= 1<<62 {
		return 0, false
	}
	return int64(f), true
}

// Seed returns v as a random seed: a non-negative integer, read exactly
// when written as one (so a seed above 2^53 keeps every digit).
func Seed(v any) (uint64, bool) {
	switch n := v.(type) {
	case json.Number:
		if u, err := strconv.ParseUint(string(n), 10, 64); err == nil {
			return u, true
		}
	case uint64:
		return n, true
	case int:
		return uint64(n), n >= 0
	case int64:
		return uint64(n), n >= 0
	}
	f, ok := Number(v)
	if !ok || f < 0 || f != math.Trunc(f) || f >= 1<<64 {
		return 0, false
	}
	return uint64(f), true
}

// Describe names a param value in a message: null, a quoted string, a
// boolean, a number, "a list" or "a map".
func Describe(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case string:
		return strconv.Quote(v)
	case bool:
		return strconv.FormatBool(v)
	case []any, []string:
		return "a list"
	case map[string]any, map[string]string:
		return "a map"
	}
	if f, ok := Number(v); ok {
		if i, exact := Integer(v); exact {
			return strconv.FormatInt(i, 10)
		}
		return strconv.FormatFloat(f, 'g', -1, 64)
	}
	return fmt.Sprintf("%v", v)
}

// Plural returns n and noun, with an s unless n is 1: "1 row", "0 rows",
// "3 rows", for the counts task logs and messages print. Nouns whose
// plural is not noun+s are written out by the caller.
func Plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}
