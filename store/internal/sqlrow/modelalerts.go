package sqlrow

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
)

// ModelAlertsCols are the columns of model_alerts that ModelAlerts reads,
// in its order (production: the model's production version, 0 for none,
// which the query gives).
const ModelAlertsCols = `a.name, a.alerts, a.gen, a.updated_at, a.actor`

// ModelAlertsProduction is the column of a watched model's production
// version (after ModelAlertsCols).
const ModelAlertsProduction = `coalesce((SELECT m.version FROM models m WHERE m.name = a.name AND m.stage = 'production'), 0)`

// ModelAlertsOne and ModelAlertsOneGroup are the query of one model's
// alerts, around the placeholder of its name: a row whenever the model
// has a version (none set: '[]' and gen 0), none when it has none.
const (
	ModelAlertsOne = `SELECT m.name, coalesce(a.alerts, '[]'), coalesce(a.gen, 0), coalesce(a.updated_at, 0), coalesce(a.actor, ''),
	coalesce(max(CASE WHEN m.stage = 'production' THEN m.version END), 0)
FROM models m LEFT JOIN model_alerts a ON a.name = m.name WHERE m.name = `
	ModelAlertsOneGroup = ` GROUP BY m.name, a.alerts, a.gen, a.updated_at, a.actor`
)

// ModelAlerts decodes a row of ModelAlertsCols, with the production
// version after them when withProduction.
func ModelAlerts(sc Scanner, withProduction bool) (cairn.ModelAlerts, error) {
	var (
		m       cairn.ModelAlerts
		text    string
		updated int64
	)
	dest := []any{&m.Name, &text, &m.Gen, &updated, &m.Actor}
	if withProduction {
		dest = append(dest, &m.Production)
	}
	if err := sc.Scan(dest...); err != nil {
		return m, err
	}
	if err := json.Unmarshal([]byte(text), &m.Alerts); err != nil {
		return m, fmt.Errorf("the alerts of model %s: %w", m.Name, err)
	}
	if m.Alerts == nil {
		m.Alerts = []cairn.ModelAlert{}
	}
	if updated != 0 {
		m.UpdatedAt = time.Unix(0, updated).UTC()
	}
	return m, nil
}

// SetModelAlerts makes alerts model name's alerts (none: cleared), for
// actor, with its entry in the audit log (the webhooks redacted: a
// webhook's URL is often its credential); the model must have a version.
// It returns the set as stored.
func SetModelAlerts(tx RegistryTx, name string, alerts []cairn.ModelAlert, actor string, now time.Time) (cairn.ModelAlerts, error) {
	if err := cairn.ValidateModelAlerts(alerts); err != nil {
		return cairn.ModelAlerts{}, err
	}
	next, err := tx.NextVersion(name)
	if err != nil {
		return cairn.ModelAlerts{}, err
	}
	if next <= 1 {
		return cairn.ModelAlerts{}, NoSuchVersion(name, 0, 0, 0)
	}
	if alerts == nil {
		alerts = []cairn.ModelAlert{}
	}
	text, err := json.Marshal(alerts)
	if err != nil {
		return cairn.ModelAlerts{}, fmt.Errorf("encode the alerts: %w", err)
	}
	gen, err := tx.PutAlerts(name, string(text), actor, now)
	if err != nil {
		return cairn.ModelAlerts{}, err
	}
	shown := make([]cairn.ModelAlert, len(alerts))
	for i, a := range alerts {
		a.Webhook = cairn.RedactWebhook(a.Webhook)
		shown[i] = a
	}
	au, err := modelAudit(scheduler.AuditModelAlerts, actor, now, map[string]any{"model": name, "alerts": shown})
	if err != nil {
		return cairn.ModelAlerts{}, err
	}
	if err := tx.AddAudit(au); err != nil {
		return cairn.ModelAlerts{}, err
	}
	return cairn.ModelAlerts{Name: name, Alerts: alerts, Gen: gen, UpdatedAt: now.UTC(), Actor: actor}, nil
}
