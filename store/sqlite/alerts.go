package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/store/internal/sqlrow"
)

// Alerts (issue #22): a run's notify: targets are written with it
// (run_notify); the transaction that records an event writes one alert per
// target that wants it (the outbox), and processes that deliver them
// claim, finish and list them here.

// insertNotify writes run's targets, in CreateRun's transaction. A run
// that reproduces another alerts nobody (it applies no effect either).
func (s *Store) insertNotify(ctx context.Context, tx *sql.Conn, run *cairn.Run) error {
	if run.ReproduceOf != "" {
		return nil
	}
	for i, t := range run.Notify {
		if _, err := s.exec(ctx, tx, `INSERT INTO run_notify (run_id, seq, events, webhook, format) VALUES (?, ?, ?, ?, ?)`,
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
func (s *Store) writeAlerts(ctx context.Context, tx *sql.Conn, runID string, event cairn.AlertEvent, taskID, detail, keyPrefix string, now time.Time) error {
	_, err := s.exec(ctx, tx, `INSERT INTO alerts (key, run_id, workflow, event, task_id, detail, webhook, format, next_at, created_at)
SELECT ? || n.seq, r.id, r.workflow, ?, ?, ?, n.webhook, n.format, ?, ?
FROM run_notify n JOIN runs r ON r.id = n.run_id WHERE n.run_id = ? AND n.events LIKE ?
ON CONFLICT (key) DO NOTHING`, keyPrefix, string(event), taskID, detail, now.UnixNano(), now.UnixNano(), runID, "%,"+string(event)+",%")
	if err != nil {
		return fmt.Errorf("write the %s alerts of run %s: %w", event, runID, err)
	}
	return nil
}

// runEndAlerts writes the alerts of a run that ended in state to (at run
// version v), in ApplyPlan's transaction. A run this store created
// without targets has none to write: the statement, which would find no
// target, is not run (a one-task cairn run's end: prepared twice, as its
// LIKE makes SQLite prepare it again at its first execution).
func (s *Store) runEndAlerts(ctx context.Context, tx *sql.Conn, runID string, to cairn.RunState, v int64, errText string, now time.Time) error {
	event, ok := sqlrow.RunEndEvent(to)
	if !ok || s.silent.ended(runID) {
		return nil
	}
	return s.writeAlerts(ctx, tx, runID, event, "", errText, sqlrow.RunAlertKey(runID, event, v), now)
}

// silentRuns are the runs a store created without notify: targets (or
// as a reproduction, which alerts nobody), as far as it remembers them:
// a run's targets are written with it (run_notify) and never after, so
// such a run's end has no alert to write. Up to maxSilentRuns are kept,
// each until its end (a run created elsewhere, or past the bound, has
// its alerts looked for as any).
type silentRuns struct {
	mu  sync.Mutex
	ids map[string]struct{}
}

// maxSilentRuns bounds the runs a store remembers as silent (a server
// whose runs are ended by another server would otherwise keep them all).
const maxSilentRuns = 4096

// note remembers run, which CreateRun just committed, if it has no
// targets.
func (r *silentRuns) note(run *cairn.Run) {
	if len(run.Notify) > 0 && run.ReproduceOf == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ids == nil {
		r.ids = map[string]struct{}{}
	}
	if len(r.ids) < maxSilentRuns {
		r.ids[run.ID] = struct{}{}
	}
}

// ended reports whether run id is known to have no targets, and forgets
// it: it ends (a transaction that does not commit leaves it forgotten,
// and its end, then, looks for targets as any run's).
func (r *silentRuns) ended(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.ids[id]
	delete(r.ids, id)
	return ok
}

// ClaimAlerts claims due alerts for c.Owner (see cairn.AlertClaim), in
// one statement.
func (s *Store) ClaimAlerts(ctx context.Context, c cairn.AlertClaim) ([]cairn.Alert, error) {
	if c.Owner == "" || c.Max <= 0 || c.TTL <= 0 {
		return nil, fmt.Errorf("claim alerts: an owner, a positive max and a positive ttl are needed")
	}
	var out []cairn.Alert
	now := c.Now.UnixNano()
	err := s.inTx(ctx, func(ctx context.Context, tx *sql.Conn) error {
		out = out[:0]
		rows, err := tx.QueryContext(ctx, `UPDATE alerts SET claim_owner = ?, claim_expires_at = ?, attempts = attempts + 1
WHERE id IN (SELECT id FROM alerts WHERE state = 'pending' AND next_at <= ? AND (claim_expires_at IS NULL OR claim_expires_at <= ?)
	AND (? = '' OR run_id = ?) ORDER BY id LIMIT ?)
RETURNING `+sqlrow.AlertCols, c.Owner, c.Now.Add(c.TTL).UnixNano(), now, now, c.RunID, c.RunID, c.Max)
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
	var done any
	switch o.State {
	case cairn.AlertSent, cairn.AlertFailed:
		done = o.Now.UnixNano()
	case cairn.AlertPending:
	default:
		return fmt.Errorf("finish alert %d: state %q", o.ID, o.State)
	}
	if o.NextAt.IsZero() {
		o.NextAt = o.Now
	}
	err := s.inTx(ctx, func(ctx context.Context, tx *sql.Conn) error {
		n, err := s.exec(ctx, tx, `UPDATE alerts SET state = ?, last_error = ?, next_at = ?, done_at = ?, claim_owner = '', claim_expires_at = NULL
WHERE id = ? AND claim_owner = ? AND state = 'pending'`, string(o.State), o.Error, o.NextAt.UnixNano(), done, o.ID, o.Owner)
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
	if f.RunID != "" {
		where, args = append(where, "run_id = ?"), append(args, f.RunID)
	}
	if f.Model != "" {
		where, args = append(where, "model = ?"), append(args, f.Model)
	}
	if f.State != "" {
		where, args = append(where, "state = ?"), append(args, string(f.State))
	}
	if f.Before > 0 {
		where, args = append(where, "id < ?"), append(args, f.Before)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = defaultListLimit
	}
	q := `SELECT ` + sqlrow.AlertCols + ` FROM alerts`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	rows, err := s.r.QueryContext(ctx, q+` ORDER BY id DESC LIMIT ?`, append(args, limit)...)
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
// same transaction as the new state; fired says it did.
func (s *Store) RecordModelAlert(ctx context.Context, f cairn.ModelAlertFinding) (fired bool, err error) {
	format := f.Alert.Format
	if format == "" {
		format = cairn.AlertJSON
	}
	err = s.inTx(ctx, func(ctx context.Context, tx *sql.Conn) error {
		fired = false
		var holds, n int
		err := tx.QueryRowContext(ctx, `SELECT holds, fired FROM model_alert_state WHERE name = ? AND version = ? AND seq = ? AND event = ?`,
			f.Name, f.Version, f.Seq, string(f.Alert.On)).Scan(&holds, &n)
		if err != nil && err != sql.ErrNoRows {
			return err
		}
		if (holds == 1) == f.Holds && err == nil {
			return nil
		}
		if f.Holds {
			n++
			fired = true
		}
		if _, err := s.exec(ctx, tx, `INSERT INTO model_alert_state (name, version, seq, event, holds, fired, changed_at) VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (name, version, seq, event) DO UPDATE SET holds = excluded.holds, fired = excluded.fired, changed_at = excluded.changed_at`,
			f.Name, f.Version, f.Seq, string(f.Alert.On), map[bool]int{true: 1}[f.Holds], n, f.Now.UnixNano()); err != nil {
			return err
		}
		if !fired {
			return nil
		}
		_, err = s.exec(ctx, tx, `INSERT INTO alerts (key, run_id, workflow, event, detail, webhook, format, next_at, created_at, model, version, value, bound)
VALUES (?, '', '', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING`,
			sqlrow.ModelAlertKey(f.Name, f.Version, f.Seq, f.Alert.On, n), string(f.Alert.On), f.Detail, f.Alert.Webhook, format,
			f.Now.UnixNano(), f.Now.UnixNano(), f.Name, f.Version, f.Value, f.Alert.Bound)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("record the %s alert of model %s version %d: %w", f.Alert.On, f.Name, f.Version, translate(err))
	}
	return fired, nil
}
