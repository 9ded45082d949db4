package ui

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/ui/runjson"
)

// AlertReader lists the outbox of notify: (*sqlite.Store and
// *postgres.Store satisfy it).
type AlertReader interface {
	ListAlerts(ctx context.Context, f cairn.AlertFilter) ([]cairn.Alert, error)
}

func (h *handler) mountAlerts(e *gin.Engine) {
	api := e.Group(APIPrefix)
	h.route(api, http.MethodGet, "/alerts", Read, h.apiAlerts)
}

// AlertList reads a page of alerts (one more than f.Limit tells whether
// another page follows) in their JSON shape: what the API answers and
// cairn alerts list prints on a home's database.
func AlertList(ctx context.Context, r AlertReader, f cairn.AlertFilter) (*runjson.AlertPage, error) {
	limit := f.Limit
	f.Limit++
	as, err := r.ListAlerts(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("list alerts: %w", err)
	}
	out := &runjson.AlertPage{Alerts: make([]runjson.Alert, 0, len(as))}
	if len(as) > limit {
		as = as[:limit]
		next := as[len(as)-1].ID
		out.Next = &next
	}
	for _, a := range as {
		out.Alerts = append(out.Alerts, runjson.FromAlert(a))
	}
	return out, nil
}

// GET /api/v1/alerts?run=&state=&limit=&before= → {"alerts": [...], "next": ID|null},
// newest first: what was sent, what failed and what waits, with the
// attempts and the last error.
func (h *handler) apiAlerts(c *gin.Context) {
	if h.o.Alerts == nil {
		h.fail(c, fmt.Errorf("this server keeps no alerts: %w", errNotImplemented))
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
		h.fail(c, badInput("state %s: want pending, sent or failed", Brief(string(s))))
		return
	}
	if l := c.Query("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > maxPage {
			h.fail(c, badInput("limit %s: want a number from 1 to %d", Brief(l), maxPage))
			return
		}
		f.Limit = n
	}
	if b := c.Query("before"); b != "" {
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n < 1 {
			h.fail(c, badInput("before %s: want the next of a previous page", Brief(b)))
			return
		}
		f.Before = n
	}
	out, err := AlertList(c.Request.Context(), h.o.Alerts, f)
	if err != nil {
		h.fail(c, err)
		return
	}
	h.json(c, http.StatusOK, out)
}
