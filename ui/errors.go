package ui

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/ui/core"
)

// errMethod is an internal error that Status maps.
var errMethod = errors.New("method not allowed")

// Status is the one mapping from an error to the HTTP status and the code
// the API answers with ({"code": ..., "message": ...}), which the pages
// use too.
func Status(err error) (status int, code string) {
	var (
		tooLarge *http.MaxBytesError
		own      apiStatus
	)
	switch {
	case err == nil:
		return http.StatusOK, "ok"
	case errors.As(err, &own):
		return own.APIStatus()
	case errors.As(err, &tooLarge):
		return http.StatusRequestEntityTooLarge, "too_large"
	case errors.Is(err, ErrUnauthenticated):
		return http.StatusUnauthorized, "unauthenticated"
	case errors.Is(err, ErrForbidden):
		return http.StatusForbidden, "forbidden"
	case errors.Is(err, core.ErrBadInput):
		return http.StatusBadRequest, "bad_input"
	case errors.Is(err, cairn.ErrAmbiguous):
		return http.StatusBadRequest, "ambiguous"
	case errors.Is(err, cairn.ErrNotFound):
		return http.StatusNotFound, "not_found"
	case errors.Is(err, cairn.ErrTerminal):
		return http.StatusConflict, "terminal"
	case errors.Is(err, cairn.ErrConflict), errors.Is(err, cairn.ErrRunOwned):
		return http.StatusConflict, "conflict"
	case errors.Is(err, errMethod):
		return http.StatusMethodNotAllowed, "method_not_allowed"
	case errors.Is(err, core.ErrNotImplemented):
		return http.StatusNotImplemented, "not_implemented"
	}
	return http.StatusInternalServerError, "internal"
}

// apiStatus is an error of a seam (Models) that knows the status and
// code it is answered with.
type apiStatus interface {
	APIStatus() (status int, code string)
}

// apiField is an error about one field of a request's row (Models).
type apiField interface {
	APIField() (field string, row int)
}

// apiError is the body of every API error: with params refused, each
// param's problem; with a workflow file that has problems, every one;
// with a predict request's bad row, its index and the column.
type apiError struct {
	Code     string            `json:"code"`
	Message  string            `json:"message"`
	Row      *int              `json:"row,omitempty"`
	Field    string            `json:"field,omitempty"`
	Params   map[string]string `json:"params,omitempty"`
	Problems []problemJSON     `json:"problems,omitempty"`
}

// isAPI reports whether the request is one of the API's (JSON answers).
func isAPI(c *gin.Context) bool {
	p := c.Request.URL.Path
	return p == "/api" || strings.HasPrefix(p, "/api/")
}

// logAttrs are a log line's attributes for the request: its method and
// path, the run and task it names (as the path gives them: a run id may
// be a prefix), then more.
func logAttrs(c *gin.Context, more ...any) []any {
	attrs := []any{"method", c.Request.Method, "path", c.Request.URL.Path}
	if id := c.Param("id"); id != "" {
		attrs = append(attrs, "run", id)
	}
	if task := c.Param("task"); task != "" {
		attrs = append(attrs, "task", task)
	}
	return append(attrs, more...)
}

// fail answers err with its status: JSON {code, message} under /api, the
// error page elsewhere. A 500's message hides the cause (logged here).
func (h *handler) fail(c *gin.Context, err error) {
	status, code := Status(err)
	msg := err.Error()
	if code == "conflict" {
		// The 409 and its code say it; "state changed concurrently"
		// would mislead about a run that is simply running.
		msg = strings.TrimSuffix(msg, ": "+cairn.ErrConflict.Error())
	}
	if status == http.StatusInternalServerError {
		h.o.Logger.Error("ui: request failed", logAttrs(c, "err", err)...)
		msg = "internal error: the server's log has the cause"
	}
	if status == http.StatusTooManyRequests || status == http.StatusRequestEntityTooLarge {
		c.Header("Connection", "close")
	}
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		msg = "the request body is over the server's limit of " + byteSize(tooLarge.Limit)
	}
	if isAPI(c) {
		body := apiError{Code: code, Message: msg}
		var pe *core.ParamsError
		if errors.As(err, &pe) && len(pe.Params) > 0 {
			body.Params = pe.Params
		}
		var af apiField
		if errors.As(err, &af) {
			field, row := af.APIField()
			body.Field = field
			if row >= 0 {
				body.Row = &row
			}
		}
		var fe *core.ProblemsError
		if errors.As(err, &fe) {
			body.Problems = problemsJSON(fe.Problems)
		}
		h.json(c, status, body)
		return
	}
	h.renderError(c, status, msg)
}

func (h *handler) notFound(c *gin.Context) {
	if isAPI(c) {
		h.fail(c, fmt.Errorf("no API route %s %s (the API is under %s): %w", c.Request.Method, c.Request.URL.Path, core.APIPrefix, cairn.ErrNotFound))
		return
	}
	h.fail(c, fmt.Errorf("no such page %s: %w", c.Request.URL.Path, cairn.ErrNotFound))
}

func (h *handler) methodNotAllowed(c *gin.Context) {
	h.fail(c, fmt.Errorf("%s %s: %w", c.Request.Method, c.Request.URL.Path, errMethod))
}

// byteSize is n bytes for a person: "1 MiB", "1000 bytes".
func byteSize(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
