package ui

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/ui/runjson"
	"github.com/gin-gonic/gin"
)

// ModelAlertsKeeper keeps a model's own alerts (*sqlite.Store and
// *postgres.Store satisfy it): cairn models alerts and
// /api/v1/models/{name}/alerts.
type ModelAlertsKeeper interface {
	ModelAlerts(ctx context.Context, name string) (cairn.ModelAlerts, error)
	SetModelAlerts(ctx context.Context, name string, alerts []cairn.ModelAlert, actor string, now time.Time) (cairn.ModelAlerts, error)
}

// modelAlertsJSON is m as the API shows it: webhooks redacted (a
// webhook's URL is often its credential, and a reader sees the alerts).
func modelAlertsJSON(m cairn.ModelAlerts) *runjson.ModelAlerts {
	out := &runjson.ModelAlerts{Name: m.Name, Alerts: make([]cairn.ModelAlert, len(m.Alerts)), Gen: m.Gen, Actor: m.Actor, Production: m.Production}
	for i, a := range m.Alerts {
		a.Webhook = cairn.RedactWebhook(a.Webhook)
		out.Alerts[i] = a
	}
	if !m.UpdatedAt.IsZero() {
		t := m.UpdatedAt.UTC()
		out.UpdatedAt = &t
	}
	return out
}

// ModelAlertsOf returns model name's own alerts, with the drift measured
// of its versions when k keeps it (DriftReader). Errors wrap
// cairn.ErrNotFound when there is no such model.
func ModelAlertsOf(ctx context.Context, k ModelAlertsKeeper, name string) (*runjson.ModelAlerts, error) {
	m, err := k.ModelAlerts(ctx, name)
	if err != nil {
		return nil, err
	}
	out := modelAlertsJSON(m)
	if dr, ok := k.(DriftReader); ok {
		if out.Drift, err = dr.ModelDrifts(ctx, name); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// SetModelAlerts makes alerts model name's own alerts (none: cleared)
// for actor, audited, and returns them as they now are. Bad alerts are
// bad input; a model that does not exist wraps cairn.ErrNotFound.
func SetModelAlerts(ctx context.Context, k ModelAlertsKeeper, name string, alerts []cairn.ModelAlert, actor string, now time.Time) (*runjson.ModelAlerts, error) {
	if err := cairn.ValidModelName(name); err != nil {
		return nil, badInput("%v", err)
	}
	if err := cairn.ValidateModelAlerts(alerts); err != nil {
		return nil, badInput("%v", err)
	}
	if _, err := k.SetModelAlerts(ctx, name, alerts, actor, now); err != nil {
		return nil, err
	}
	return ModelAlertsOf(ctx, k, name)
}

func (h *handler) modelAlertsKeeper(c *gin.Context) (ModelAlertsKeeper, bool) {
	k, ok := h.o.Registry.(ModelAlertsKeeper)
	if !ok {
		h.fail(c, fmt.Errorf("this server keeps no model alerts: %w", errNotImplemented))
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
	out, err := ModelAlertsOf(c.Request.Context(), k, name)
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
			h.fail(c, badInput(`alerts is required: the body is {"alerts": [{"on": "p99_latency_above", "bound": 0.05, "webhook": "https://..."}]} (DELETE clears them)`))
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
	who, _ := CallerFrom(c.Request.Context())
	if h.authMode() != "none" && who.Access < Admin && slices.ContainsFunc(alerts, func(a cairn.ModelAlert) bool { return a.Webhook != "" }) {
		// A webhook makes the server POST to a URL of the caller's
		// choosing: as running a workflow file, the owner's (admin's)
		// to give (docs/security.md, "Alerts: webhooks").
		h.fail(c, fmt.Errorf("%s may not set an alert with a webhook: that needs an admin token (the server would POST to its URL): %w",
			who.Actor, ErrForbidden))
		return
	}
	out, err := SetModelAlerts(c.Request.Context(), k, name, alerts, actorOf(who), h.o.Now())
	if err != nil {
		h.fail(c, err)
		return
	}
	h.json(c, http.StatusOK, out)
}
