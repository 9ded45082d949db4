package ui

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/cairnml/cairn/ui/core"
)

// Models serves predictions of the model registry's versions (cairn
// server: package serve's *Server).
type Models interface {
	// Predict answers body, {"rows": [{column: value, ...}, ...]}, with
	// model name's production version (version 0) or the version given,
	// writing the answer's JSON to w only when it is whole. Its errors
	// carry their status (APIStatus) and, for a bad row, the row and the
	// column (APIField); a body cut at the limit is a *http.MaxBytesError.
	// key is the request's routing key during a rollout (the
	// Cairn-Route-Key header or ?key=; "" routes at random).
	Predict(ctx context.Context, name string, version int, key string, body io.Reader, w io.Writer) error
	// Feedback takes the true labels of a request answered before,
	// {"request_id", "labels"}, and writes the scores it recorded per
	// version to w as JSON; an unknown model or request id is an error
	// with status 404 that changes nothing.
	Feedback(ctx context.Context, name string, body io.Reader, w io.Writer) error
	// Refresh reads model name's production version again and serves it
	// before it returns: what a route that promotes or rolls back a model
	// calls after the change, so that the next request is answered by the
	// new version (a change made by another process is seen within the
	// model server's poll, about half a second).
	Refresh(ctx context.Context, name string) error
}

// predictPath is the predict route's pattern.
const predictPath = core.APIPrefix + "/models/:name/predict"

func (h *handler) mountPredict(e *gin.Engine) {
	api := e.Group(core.APIPrefix)
	// A prediction changes nothing and tells what a viewer can already
	// read (the model's artifact): read access, a viewer token.
	h.route(api, http.MethodPost, "/models/:name/predict", core.Read, h.apiPredict)
	// Feedback changes the live metrics a rollout is judged by: an
	// operator's.
	h.route(api, http.MethodPost, "/models/:name/feedback", core.Operate, h.apiFeedback)
}

// RouteKeyHeader names the header that carries a predict request's
// routing key (sticky routing during a rollout).
const RouteKeyHeader = "Cairn-Route-Key"

// maxRouteKey bounds a routing key.
const maxRouteKey = 256

// POST /api/v1/models/{name}/feedback {"request_id", "labels"} → the
// scores recorded per version.
func (h *handler) apiFeedback(c *gin.Context) {
	if h.o.Models == nil {
		h.fail(c, fmt.Errorf("this server serves no models: %w", core.ErrNotImplemented))
		return
	}
	hd := c.Writer.Header()
	hd.Set("Content-Type", "application/json; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	if err := h.o.Models.Feedback(c.Request.Context(), c.Param("name"), c.Request.Body, c.Writer); err != nil {
		h.fail(c, err)
	}
}

// POST /api/v1/models/{name}/predict[?version=N] → {"model", "version",
// "classes", "predictions", "probabilities"}.
func (h *handler) apiPredict(c *gin.Context) {
	if h.o.Models == nil {
		h.fail(c, fmt.Errorf("this server serves no models: %w", core.ErrNotImplemented))
		return
	}
	version := 0
	if v, ok := c.GetQuery("version"); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			h.fail(c, core.BadInput("version=%s: want a version number from 1", core.Brief(v)))
			return
		}
		version = n
	}
	key := c.GetHeader(RouteKeyHeader)
	if k, ok := c.GetQuery("key"); ok {
		key = k
	}
	if len(key) > maxRouteKey {
		h.fail(c, core.BadInput("the routing key is %d bytes, at most %d: send a user or session id", len(key), maxRouteKey))
		return
	}
	hd := c.Writer.Header()
	hd.Set("Content-Type", "application/json; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	if err := h.o.Models.Predict(c.Request.Context(), c.Param("name"), version, key, c.Request.Body, c.Writer); err != nil {
		h.fail(c, err)
	}
}
