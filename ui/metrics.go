package ui

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/cairnml/cairn/ui/core"
)

// MetricsPath is where Options.Metrics is served.
const MetricsPath = "/metrics"

// mountMetrics serves Options.Metrics at GET /metrics with Read access:
// a Prometheus holding a viewer token scrapes it (Authorization: Bearer).
// A refusal is plain text with its status, never a page nor a redirect
// to sign in: a scraper reads the status only.
func (h *handler) mountMetrics(e *gin.Engine) {
	if h.o.Metrics == nil {
		return
	}
	h.routes = append(h.routes, Route{Method: http.MethodGet, Path: MetricsPath, Access: core.Read})
	e.GET(MetricsPath, func(c *gin.Context) {
		// The authentication of every other route (tokens, Authorize, or
		// a loopback Host without either), answered in plain text.
		if err := h.authenticate(c, core.Read); err != nil {
			status, _ := Status(err)
			msg := err.Error()
			switch status {
			case http.StatusUnauthorized:
				c.Header("WWW-Authenticate", `Bearer realm="cairn"`)
				msg += ": scrape /metrics with a viewer token (Authorization: Bearer TOKEN)"
			case http.StatusInternalServerError:
				h.o.Logger.Error("ui: authorize a scrape", "path", c.Request.URL.Path, "err", err)
				msg = "internal error: the server's log has the cause"
			}
			c.Header("Cache-Control", "no-store")
			c.String(status, "%s\n", msg)
			return
		}
		h.o.Metrics.ServeHTTP(c.Writer, c.Request)
	})
}
