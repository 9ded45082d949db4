package serve

import (
	"fmt"
	"net/http"
	"strconv"
	"unicode/utf8"
)

// Codes of the errors Predict returns (the API's "code" field).
const (
	CodeBadInput     = "bad_input"         // 400: the request says what is wrong
	CodeNotFound     = "not_found"         // 404: no such model, version or production version
	CodeTooLarge     = "too_large"         // 413: more rows than the limit
	CodeUnavailable  = "model_unavailable" // 503: the model's artifact cannot be served (corrupt, missing, not a model)
	CodeNotInRollout = "not_in_rollout"    // 409: a pinned version that is not part of the model's active rollout
	CodeBusy         = "busy"              // 503: the bodies being read fill the server's memory budget: try again
)

// Error is an error of Predict with the HTTP status and code it is
// answered with, and, for a bad row, the row and the field it is about.
type Error struct {
	Status int
	Code   string
	Msg    string
	// Row is the index of the row in the request's rows (from 0), -1 when
	// the error is not about one row; Field names the column, "" when
	// none.
	Row   int
	Field string
	// Err is the cause, if any (a store's or the artifact's error).
	Err error
}

func (e *Error) Error() string { return e.Msg }
func (e *Error) Unwrap() error { return e.Err }

// APIStatus is the status and code the API answers the error with.
func (e *Error) APIStatus() (int, string) { return e.Status, e.Code }

// APIField is the field and row the error is about (row -1: none).
func (e *Error) APIField() (field string, row int) { return e.Field, e.Row }

func badInput(format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Code: CodeBadInput, Msg: fmt.Sprintf(format, args...), Row: -1}
}

// rowErr is a bad value or column of row.
func rowErr(row int, field, format string, args ...any) *Error {
	prefix := "rows[" + strconv.Itoa(row) + "]"
	if field != "" {
		prefix += "." + strconv.Quote(field)
	}
	return &Error{Status: http.StatusBadRequest, Code: CodeBadInput, Msg: prefix + ": " + fmt.Sprintf(format, args...), Row: row, Field: field}
}

// maxEcho bounds how much of a value a message quotes back.
const maxEcho = 60

// brief quotes b for a message, cut at maxEcho bytes.
func brief(b []byte) string {
	if len(b) <= maxEcho {
		return strconv.Quote(string(b))
	}
	cut := maxEcho
	for cut > 0 && !utf8.RuneStart(b[cut]) {
		cut--
	}
	return fmt.Sprintf("%s… (%d bytes)", strconv.Quote(string(b[:cut])), len(b))
}
