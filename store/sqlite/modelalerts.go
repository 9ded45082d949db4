package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/store/internal/sqlrow"
)

// A model's own alerts (issue #22): model_alerts, set by a deploy's
// alerts: (in the registration's transaction) or by hand, read by the
// leader's rollouts controller (WatchedModels).

func (r registry) PutAlerts(name, alerts, actor string, now time.Time) (int, error) {
	var gen int
	_, err := r.scan(`INSERT INTO model_alerts (name, alerts, gen, updated_at, actor) VALUES (?, ?, 1, ?, ?)
ON CONFLICT (name) DO UPDATE SET alerts = excluded.alerts, gen = model_alerts.gen + 1, updated_at = excluded.updated_at, actor = excluded.actor
RETURNING gen`, []any{name, alerts, now.UnixNano(), actor}, &gen)
	return gen, err
}

// SetModelAlerts makes alerts model name's alerts (none: cleared), in one
// transaction with the audit log's entry (actor is who asked); see
// sqlrow.SetModelAlerts. Errors wrap cairn.ErrNotFound when no model is
// named name.
func (s *Store) SetModelAlerts(ctx context.Context, name string, alerts []cairn.ModelAlert, actor string, now time.Time) (cairn.ModelAlerts, error) {
	var out cairn.ModelAlerts
	err := s.inTx(ctx, func(ctx context.Context, tx *sql.Conn) error {
		var err error
		out, err = sqlrow.SetModelAlerts(registry{s, ctx, tx}, name, alerts, actor, now)
		return err
	})
	if err != nil {
		return cairn.ModelAlerts{}, fmt.Errorf("set the alerts of model %s: %w", name, translate(err))
	}
	return out, nil
}

// ModelAlerts returns model name's alerts (none, Gen 0, when they were
// never set). Errors wrap cairn.ErrNotFound when no model is named name.
func (s *Store) ModelAlerts(ctx context.Context, name string) (cairn.ModelAlerts, error) {
	m, err := sqlrow.ModelAlerts(s.r.QueryRowContext(ctx, sqlrow.ModelAlertsOne+`?`+sqlrow.ModelAlertsOneGroup, name), true)
	if errors.Is(err, sql.ErrNoRows) {
		return cairn.ModelAlerts{}, sqlrow.NoSuchVersion(name, 0, 0, 0)
	}
	if err != nil {
		return cairn.ModelAlerts{}, fmt.Errorf("read the alerts of model %s: %w", name, translate(err))
	}
	return m, nil
}

// WatchedModels returns every model that has alerts, by name, with its
// production version (0: none).
func (s *Store) WatchedModels(ctx context.Context) ([]cairn.ModelAlerts, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+sqlrow.ModelAlertsCols+`, `+sqlrow.ModelAlertsProduction+` FROM model_alerts a WHERE a.alerts != '[]' ORDER BY a.name`)
	if err != nil {
		return nil, fmt.Errorf("list the models' alerts: %w", translate(err))
	}
	defer rows.Close()
	out, err := sqlrow.Collect(rows, func(sc sqlrow.Scanner) (cairn.ModelAlerts, error) { return sqlrow.ModelAlerts(sc, true) })
	if err != nil {
		return nil, fmt.Errorf("list the models' alerts: %w", translate(err))
	}
	return out, nil
}
