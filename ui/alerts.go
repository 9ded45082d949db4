package ui

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/ui/core"
)

func (h *handler) mountAlerts(e *gin.Engine) {
	api := e.Group(core.APIPrefix)
	h.route(api, http.MethodGet, "/alerts", core.Read, h.apiAlerts)
}

// GET /api/v1/alerts?run=&state=&limit=&before= → {"alerts": [...], "next": ID|null},
// newest first: what was sent, what failed and what waits, with the
// attempts and the last error.
func (h *handler) apiAlerts(c *gin.Context) {
	if h.o.Alerts == nil {
		h.fail(c, fmt.Errorf("this server keeps no alerts: %w", core.ErrNotImplemented))
		return
	}
	f := cairn.AlertFilter{Limit: defaultPage}
	if r := strings.TrimSpace(c.Query("run")); r != "" {
		id, err := h.resolve(c.Request.Context(), r)
		if err != nil {
			h.fail(c, err)
			return
		}
		f.RunID = id
	}
	switch s := cairn.AlertState(strings.TrimSpace(c.Query("state"))); s {
	case "", cairn.AlertPending, cairn.AlertSent, cairn.AlertFailed:
		f.State = s
	default:
		h.fail(c, core.BadInput("state %s: want pending, sent or failed", core.Brief(string(s))))
		return
	}
	if l := c.Query("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > maxPage {
			h.fail(c, core.BadInput("limit %s: want a number from 1 to %d", core.Brief(l), maxPage))
			return
		}
		f.Limit = n
	}
	if b := c.Query("before"); b != "" {
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n < 1 {
			h.fail(c, core.BadInput("before %s: want the next of a previous page", core.Brief(b)))
			return
		}
		f.Before = n
	}
	out, err := core.AlertList(c.Request.Context(), h.o.Alerts, f)
	if err != nil {
		h.fail(c, err)
		return
	}
	h.json(c, http.StatusOK, out)
}
