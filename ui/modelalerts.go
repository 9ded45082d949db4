package ui

import (
	"fmt"
	"net/http"
	"slices"

	"github.com/gin-gonic/gin"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/ui/core"
)

func (h *handler) modelAlertsKeeper(c *gin.Context) (core.ModelAlertsKeeper, bool) {
	k, ok := h.o.Registry.(core.ModelAlertsKeeper)
	if !ok {
		h.fail(c, fmt.Errorf("this server keeps no model alerts: %w", core.ErrNotImplemented))
	}
	return k, ok
}

// GET /api/v1/models/{name}/alerts → the model's own alerts.
func (h *handler) apiModelAlerts(c *gin.Context) {
	k, ok := h.modelAlertsKeeper(c)
	if !ok {
		return
	}
	name, err := modelName(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	out, err := core.ModelAlertsOf(c.Request.Context(), k, name)
	if err != nil {
		h.fail(c, err)
		return
	}
	h.json(c, http.StatusOK, out)
}

// PUT /api/v1/models/{name}/alerts with {"alerts": [...]} replaces the
// model's alerts; DELETE clears them. Both answer the alerts as they now
// are.
func (h *handler) apiSetModelAlerts(c *gin.Context) {
	k, ok := h.modelAlertsKeeper(c)
	if !ok {
		return
	}
	var body struct {
		Alerts *[]cairn.ModelAlert `json:"alerts"`
	}
	if c.Request.Method == http.MethodPut {
		if err := decodeBody(c, &body); err != nil {
			h.fail(c, err)
			return
		}
		if body.Alerts == nil || len(*body.Alerts) == 0 {
			h.fail(c, core.BadInput(`alerts is required: the body is {"alerts": [{"on": "p99_latency_above", "bound": 0.05, "webhook": "https://..."}]} (DELETE clears them)`))
			return
		}
	}
	name, err := modelName(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	var alerts []cairn.ModelAlert
	if body.Alerts != nil {
		alerts = *body.Alerts
	}
	who, _ := core.CallerFrom(c.Request.Context())
	if h.authMode() != "none" && who.Access < core.Admin && slices.ContainsFunc(alerts, func(a cairn.ModelAlert) bool { return a.Webhook != "" }) {
		// A webhook makes the server POST to a URL of the caller's
		// choosing: as running a workflow file, the owner's (admin's)
		// to give (docs/security.md, "Alerts: webhooks").
		h.fail(c, fmt.Errorf("%s may not set an alert with a webhook: that needs an admin token (the server would POST to its URL): %w",
			who.Actor, ErrForbidden))
		return
	}
	out, err := core.SetModelAlerts(c.Request.Context(), k, name, alerts, actorOf(who), h.o.Now())
	if err != nil {
		h.fail(c, err)
		return
	}
	h.json(c, http.StatusOK, out)
}
