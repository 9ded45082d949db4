package core

import (
	"context"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/ui/runjson"
)

// ModelAlertsKeeper keeps a model's own alerts (*sqlite.Store and
// *postgres.Store satisfy it): cairn models alerts and
// /api/v1/models/{name}/alerts.
type ModelAlertsKeeper interface {
	ModelAlerts(ctx context.Context, name string) (cairn.ModelAlerts, error)
	SetModelAlerts(ctx context.Context, name string, alerts []cairn.ModelAlert, actor string, now time.Time) (cairn.ModelAlerts, error)
}

// DriftReader reads the drift the leader measured of a model's versions
// (*sqlite.Store and *postgres.Store satisfy it): the model page, and
// ModelAlertsOf.
type DriftReader interface {
	ModelDrifts(ctx context.Context, name string) ([]cairn.ModelDrift, error)
}

// ModelAlertsJSON is m as the API shows it: webhooks redacted (a
// webhook's URL is often its credential, and a reader sees the alerts).
func ModelAlertsJSON(m cairn.ModelAlerts) *runjson.ModelAlerts {
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
	out := ModelAlertsJSON(m)
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
		return nil, BadInput("%v", err)
	}
	if err := cairn.ValidateModelAlerts(alerts); err != nil {
		return nil, BadInput("%v", err)
	}
	if _, err := k.SetModelAlerts(ctx, name, alerts, actor, now); err != nil {
		return nil, err
	}
	return ModelAlertsOf(ctx, k, name)
}
