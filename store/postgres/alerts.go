package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/store/internal/sqlrow"
)

// Alerts (issue #22): a run's notify: targets are written with it
// (run_notify); the transaction that records an event writes one alert per
// target that wants it (the outbox), and processes that deliver them
// claim, finish and list them here.

// insertNotify writes run's targets, in CreateRun's transaction. A run
// that reproduces another alerts nobody (it applies no effect either).
func (s *Store) insertNotify(ctx context.Context, tx pgx.Tx, run *cairn.Run) error {
	if run.ReproduceOf != "" {
		return nil
	}
	for i, t := range run.Notify {
		if _, err := s.exec(ctx, tx, `INSERT INTO run_notify (run_id, seq, events, webhook, format) VALUES ($1, $2, $3, $4, $5)`,
			run.ID, i, notifyEvents(t.On), t.Webhook, t.Format); err != nil {
			return fmt.Errorf("notify target %d: %w", i, err)
		}
	}
	return nil
}

// notifyEvents encodes events as run_notify.events: ",a,b,".
func notifyEvents(es []cairn.AlertEvent) string {
	var b strings.Builder
	b.WriteByte(',')
	for _, e := range es {
		b.WriteString(string(e))
		b.WriteByte(',')
	}
	return b.String()
}

// writeAlerts writes, in the caller's transaction, an alert of event for
// each target of run runID that wants it. keyPrefix makes the keys (the
// target's number is appended): the same event recorded again writes
// nothing.
func (s *Store) writeAlerts(ctx context.Context, tx pgx.Tx, runID string, event cairn.AlertEvent, taskID, detail, keyPrefix string, now time.Time) error {
	_, err := s.exec(ctx, tx, `INSERT INTO alerts (key, run_id, workflow, event, task_id, detail, webhook, format, next_at, created_at)
SELECT $1 || n.seq::text, r.id, r.workflow, $2, $3, $4, n.webhook, n.format, $5, $6
FROM run_notify n JOIN runs r ON r.id = n.run_id WHERE n.run_id = $7 AND n.events LIKE $8
ON CONFLICT (key) DO NOTHING`, keyPrefix, string(event), taskID, detail, now.UnixNano(), now.UnixNano(), runID, "%,"+string(event)+",%")
	if err != nil {
		return fmt.Errorf("write the %s alerts of run %s: %w", event, runID, err)
	}
	return nil
}

// runEndAlerts writes the alerts of a run that ended in state to (at run
// version v), in ApplyPlan's transaction.
func (s *Store) runEndAlerts(ctx context.Context, tx pgx.Tx, runID string, to cairn.RunState, v int64, errText string, now time.Time) error {
	event, ok := sqlrow.RunEndEvent(to)
	if !ok {
		return nil
	}
	return s.writeAlerts(ctx, tx, runID, event, "", errText, sqlrow.RunAlertKey(runID, event, v), now)
}

// ClaimAlerts claims due alerts for c.Owner (see cairn.AlertClaim), in
// one statement.
func (s *Store) ClaimAlerts(ctx context.Context, c cairn.AlertClaim) ([]cairn.Alert, error) {
	if c.Owner == "" || c.Max <= 0 || c.TTL <= 0 {
		return nil, fmt.Errorf("claim alerts: an owner, a positive max and a positive ttl are needed")
	}
	var out []cairn.Alert
	now := c.Now.UnixNano()
	err := s.inTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		out = out[:0]
		rows, err := s.query(ctx, tx, `UPDATE alerts SET claim_owner = $1, claim_expires_at = $2, attempts = attempts + 1
WHERE id IN (SELECT id FROM alerts WHERE state = 'pending' AND next_at <= $3 AND (claim_expires_at IS NULL OR claim_expires_at <= $3)
	AND ($4 = '' OR run_id = $4) ORDER BY id LIMIT $5 FOR UPDATE SKIP LOCKED)
RETURNING `+sqlrow.AlertCols, c.Owner, c.Now.Add(c.TTL).UnixNano(), now, c.RunID, c.Max)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			a, err := sqlrow.Alert(rows)
			if err != nil {
				return err
			}
			out = append(out, a)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("claim alerts: %w", translate(err))
	}
	return out, nil
}

// FinishAlert records how a delivery went (see cairn.AlertOutcome).
func (s *Store) FinishAlert(ctx context.Context, o cairn.AlertOutcome) error {
	var done *int64
	switch o.State {
	case cairn.AlertSent, cairn.AlertFailed:
		done = nanos(o.Now)
	case cairn.AlertPending:
	default:
		return fmt.Errorf("finish alert %d: state %q", o.ID, o.State)
	}
	if o.NextAt.IsZero() {
		o.NextAt = o.Now
	}
	err := s.inTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		n, err := s.exec(ctx, tx, `UPDATE alerts SET state = $1, last_error = $2, next_at = $3, done_at = $4, claim_owner = '', claim_expires_at = NULL
WHERE id = $5 AND claim_owner = $6 AND state = 'pending'`, string(o.State), o.Error, o.NextAt.UnixNano(), done, o.ID, o.Owner)
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("alert %d is no longer claimed by %s: %w", o.ID, o.Owner, cairn.ErrLeaseLost)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("finish alert %d: %w", o.ID, err)
	}
	return nil
}

// ListAlerts lists alerts newest first (see cairn.AlertFilter).
func (s *Store) ListAlerts(ctx context.Context, f cairn.AlertFilter) ([]cairn.Alert, error) {
	var (
		where []string
		args  []any
	)
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, fmt.Sprintf(cond, len(args)))
	}
	if f.RunID != "" {
		add("run_id = $%d", f.RunID)
	}
	if f.Model != "" {
		add("model = $%d", f.Model)
	}
	if f.State != "" {
		add("state = $%d", string(f.State))
	}
	if f.Before > 0 {
		add("id < $%d", f.Before)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = defaultListLimit
	}
	q := `SELECT ` + sqlrow.AlertCols + ` FROM alerts`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	args = append(args, limit)
	rows, err := s.db.Query(ctx, q+fmt.Sprintf(` ORDER BY id DESC LIMIT $%d`, len(args)), args...)
	if err != nil {
		return nil, fmt.Errorf("list alerts: %w", translate(err))
	}
	defer rows.Close()
	out := []cairn.Alert{}
	for rows.Next() {
		a, err := sqlrow.Alert(rows)
		if err != nil {
			return nil, fmt.Errorf("list alerts: %w", translate(err))
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list alerts: %w", translate(err))
	}
	return out, nil
}

// RecordModelAlert records a finding of a per-model alert (see
// cairn.ModelAlertFinding): when its condition starts to hold (it did not
// at the last finding, or there was none) it writes the alert, in the
// same transaction as the new state; fired says it did. The state's row
// is locked FOR UPDATE (or its insert conflicts), so that two processes
// that find the same start write one alert.
func (s *Store) RecordModelAlert(ctx context.Context, f cairn.ModelAlertFinding) (fired bool, err error) {
	format := f.Alert.Format
	if format == "" {
		format = cairn.AlertJSON
	}
	err = s.inTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		fired = false
		var holds, n int64
		err := tx.QueryRow(ctx, `SELECT holds, fired FROM model_alert_state WHERE name = $1 AND version = $2 AND seq = $3 AND event = $4 FOR UPDATE`,
			f.Name, f.Version, f.Seq, string(f.Alert.On)).Scan(&holds, &n)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if (holds == 1) == f.Holds && err == nil {
			return nil
		}
		if f.Holds {
			n++
			fired = true
		}
		if _, err := s.exec(ctx, tx, `INSERT INTO model_alert_state (name, version, seq, event, holds, fired, changed_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (name, version, seq, event) DO UPDATE SET holds = excluded.holds, fired = excluded.fired, changed_at = excluded.changed_at`,
			f.Name, f.Version, f.Seq, string(f.Alert.On), map[bool]int64{true: 1}[f.Holds], n, f.Now.UnixNano()); err != nil {
			return err
		}
		if !fired {
			return nil
		}
		_, err = s.exec(ctx, tx, `INSERT INTO alerts (key, run_id, workflow, event, detail, webhook, format, next_at, created_at, model, version, value, bound)
VALUES ($1, '', '', $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (key) DO NOTHING`,
			sqlrow.ModelAlertKey(f.Name, f.Version, f.Seq, f.Alert.On, int(n)), string(f.Alert.On), f.Detail, f.Alert.Webhook, format,
			f.Now.UnixNano(), f.Now.UnixNano(), f.Name, f.Version, f.Value, f.Alert.Bound)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("record the %s alert of model %s version %d: %w", f.Alert.On, f.Name, f.Version, err)
	}
	return fired, nil
}
