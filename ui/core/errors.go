package core

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/cairnml/cairn/workflows/catalog"
)

// Errors of Actions and of the reads and changes here that the API maps
// to HTTP statuses (ui.Status).
var (
	// ErrBadInput: the request is wrong in a way its message says (400).
	ErrBadInput = errors.New("bad input")
	// ErrNotImplemented: the server does not serve what was asked (501).
	ErrNotImplemented = errors.New("not implemented")
)

// inputError is a bad request whose message says what to do; it is
// ErrBadInput for errors.Is.
type inputError struct{ msg string }

func (e *inputError) Error() string        { return e.msg }
func (e *inputError) Is(target error) bool { return target == ErrBadInput }

// BadInput is an error that is ErrBadInput, with the message format
// and args say.
func BadInput(format string, args ...any) error {
	return &inputError{msg: fmt.Sprintf(format, args...)}
}

// ParamsError is a run's params that its workflow refuses (400): each
// problem by the param it is about, and those about no single param.
type ParamsError struct {
	Params map[string]string
	Other  []string
}

func (e *ParamsError) Error() string {
	var parts []string
	names := make([]string, 0, len(e.Params))
	for k := range e.Params {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if strings.Contains(e.Params[k], strconv.Quote(k)) {
			parts = append(parts, e.Params[k]) // it names the param already
			continue
		}
		parts = append(parts, fmt.Sprintf("param %q: %s", k, e.Params[k]))
	}
	parts = append(parts, e.Other...)
	return strings.Join(parts, "; ")
}

// Is makes a ParamsError an ErrBadInput.
func (e *ParamsError) Is(target error) bool { return target == ErrBadInput }

// ProblemsError is a workflow file with problems (400), each where it is.
type ProblemsError struct {
	File     string
	Problems []catalog.Problem
}

func (e *ProblemsError) Error() string {
	msgs := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		msgs[i] = p.String()
	}
	return fmt.Sprintf("workflow %s has %d problem(s): %s", e.File, len(e.Problems), strings.Join(msgs, "; "))
}

// Is makes a ProblemsError an ErrBadInput.
func (e *ProblemsError) Is(target error) bool { return target == ErrBadInput }

// maxEcho bounds how much of a value a request sent an error message
// quotes back: enough to recognise it, never a 100 KB path or query sent
// back whole.
const maxEcho = 80

// Brief is s quoted for an error message, cut at maxEcho bytes: for a
// value a request sent, which may be of any length.
func Brief(s string) string {
	if len(s) <= maxEcho {
		return strconv.Quote(s)
	}
	cut := maxEcho
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s… (%d bytes)", strconv.Quote(s[:cut]), len(s))
}
