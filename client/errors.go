package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"time"
	"unicode"

	"github.com/cairnml/cairn"
)

// Errors an *Error is (errors.Is) by its status, beside the cairn
// sentinels: cairn.ErrNotFound (404), cairn.ErrConflict (409),
// cairn.ErrTerminal (409 "terminal": the run is finished already),
// cairn.ErrAmbiguous (a run id prefix matching several runs).
var (
	// ErrUnauthenticated: no token, or one the server does not accept (401).
	ErrUnauthenticated = errors.New("authentication required")
	// ErrForbidden: the token's role does not allow the call (403).
	ErrForbidden = errors.New("forbidden")
	// ErrBadInput: the server refused what was sent (400), its message says why.
	ErrBadInput = errors.New("bad input")
	// ErrNotImplemented: the server does not serve the call (501: a
	// read-only server, or an older one).
	ErrNotImplemented = errors.New("not implemented")
)

// Problem is one problem of a workflow file the server refused: where it
// is and what it is.
type Problem struct {
	File    string `json:"file"`
	Line    int    `json:"line"`
	Col     int    `json:"col"`
	Message string `json:"message"`
	Hint    string `json:"hint,omitempty"`
}

// String is the problem as the command line prints a workflow's:
// FILE:LINE:COL: message (no position for a problem of the whole file),
// and its hint on a line of its own.
func (p Problem) String() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File + ":")
	}
	if p.Line > 0 {
		fmt.Fprintf(&b, "%d:%d:", p.Line, p.Col)
	}
	if b.Len() > 0 {
		b.WriteString(" ")
	}
	b.WriteString(p.Message)
	if p.Hint != "" {
		b.WriteString("\n\thint: " + p.Hint)
	}
	return b.String()
}

// Error is an answer of the server that is not a success.
type Error struct {
	Server string // the server's base URL
	What   string // what the call did: "cancel run 01m8x1dm"
	Status int    // the HTTP status
	// Code and Message are the API's {code, message}; Code is "" when the
	// answer was not the API's JSON (a proxy's page), and Message then
	// the status and the beginning of the answer.
	Code     string
	Message  string
	Problems []Problem         // a refused workflow file's problems
	Params   map[string]string // refused params: name → what is wrong
	// Need is the role the call needs ("viewer", "operator"), and
	// TokenSent whether a token went with it: what a 401 or 403 means.
	Need      string
	TokenSent bool
}

func (e *Error) Error() string {
	msg := clean(e.Message)
	switch e.Status {
	case http.StatusUnauthorized:
		if !e.TokenSent {
			return fmt.Sprintf("%s: the server at %s wants a token and none was given (401: %s)", e.What, e.Server, msg)
		}
		return fmt.Sprintf("%s: the server at %s does not accept the token: it is unknown, revoked or expired (401: %s)", e.What, e.Server, msg)
	case http.StatusForbidden:
		if e.Need != "" && !strings.Contains(msg, e.Need) {
			return fmt.Sprintf("%s: the token's role may not do this; it needs a token with the %s role (403: %s)", e.What, e.Need, msg)
		}
		return fmt.Sprintf("%s: the token's role may not do this (403: %s)", e.What, msg)
	case http.StatusNotImplemented:
		return fmt.Sprintf("%s: the server at %s does not do this (501: %s)", e.What, e.Server, msg)
	}
	if e.Code == "" {
		return fmt.Sprintf("%s: the server at %s answered %s", e.What, e.Server, msg)
	}
	if e.Status >= 500 {
		return fmt.Sprintf("%s: the server at %s failed (%d %s: %s)", e.What, e.Server, e.Status, e.Code, msg)
	}
	if strings.HasPrefix(msg, e.What+": ") {
		return msg // the server said what failed already ("roll back model x: ...")
	}
	return fmt.Sprintf("%s: %s", e.What, msg)
}

// Is matches the status's sentinel errors.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrUnauthenticated:
		return e.Status == http.StatusUnauthorized
	case ErrForbidden:
		return e.Status == http.StatusForbidden
	case ErrBadInput:
		return e.Status == http.StatusBadRequest
	case ErrNotImplemented:
		return e.Status == http.StatusNotImplemented
	case cairn.ErrNotFound:
		return e.Status == http.StatusNotFound
	case cairn.ErrConflict:
		return e.Status == http.StatusConflict
	case cairn.ErrTerminal:
		return e.Status == http.StatusConflict && e.Code == "terminal"
	case cairn.ErrAmbiguous:
		return e.Code == "ambiguous"
	}
	return false
}

// answerError reads an answer that is not a success into an *Error.
func (c *Client) answerError(k call, resp *http.Response) error {
	e := &Error{Server: c.URL(), What: k.what, Status: resp.StatusCode, Need: k.need, TokenSent: c.token != ""}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var body struct {
		Code     string            `json:"code"`
		Message  string            `json:"message"`
		Problems []Problem         `json:"problems"`
		Params   map[string]string `json:"params"`
	}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") && json.Unmarshal(b, &body) == nil && body.Code != "" {
		e.Code, e.Message, e.Problems, e.Params = body.Code, body.Message, body.Problems, body.Params
		return e
	}
	// Not the API's JSON: a proxy, another program on that port, a
	// redirect elsewhere.
	e.Message = resp.Status
	if loc := resp.Header.Get("Location"); loc != "" && resp.StatusCode >= 300 && resp.StatusCode < 400 {
		e.Message += " to " + loc + ", not an answer of the cairn API (is the URL the server's own?)"
	} else if s := strings.TrimSpace(string(b)); s != "" {
		if len(s) > 160 {
			s = s[:160] + "…"
		}
		e.Message += ", not an answer of the cairn API: " + strings.Join(strings.Fields(s), " ")
	} else {
		e.Message += ", not an answer of the cairn API"
	}
	return e
}

// UnreachableError: no answer came from the server.
type UnreachableError struct {
	URL     string // the server's base URL
	What    string // what the call did
	Err     error  // the cause (dial, DNS, TLS, timeout)
	Timeout time.Duration
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("%s: cannot reach the server at %s: %s", e.What, e.URL, e.Reason())
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// Reason says in words why the server could not be reached.
func (e *UnreachableError) Reason() string {
	var dns *net.DNSError
	var opErr *net.OpError
	switch {
	case errors.As(e.Err, &dns):
		if dns.IsNotFound {
			return fmt.Sprintf("no such host %q", dns.Name)
		}
		return fmt.Sprintf("looking up %q failed: %v", dns.Name, dns.Err)
	case errors.Is(e.Err, syscall.ECONNREFUSED):
		return "connection refused (nothing listens on that port)"
	case errors.Is(e.Err, syscall.EHOSTUNREACH), errors.Is(e.Err, syscall.ENETUNREACH):
		return "no route to the host"
	case errors.Is(e.Err, os.ErrDeadlineExceeded), isTimeout(e.Err):
		if e.Timeout > 0 {
			return fmt.Sprintf("no answer within %s", e.Timeout)
		}
		return "no answer in time"
	case errors.As(e.Err, &opErr) && opErr.Op == "dial":
		return clean(opErr.Err.Error())
	}
	return clean(e.Err.Error())
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// clean makes text from the network safe to print: control characters
// (an escape sequence that would move a terminal's cursor) become spaces.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if r != '\t' && (unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r)) {
			return ' '
		}
		return r
	}, s)
}
