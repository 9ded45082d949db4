package sqlrow

import (
	"database/sql"
	"strconv"
	"time"

	"github.com/cairnml/cairn"
)

// The alerts outbox as both stores read and key it: the keys must be the
// same whichever store wrote an event (two stores on one database, a home
// copied to PostgreSQL), or a receiver could not drop the repeats.

// AlertCols are the columns Alert reads, in its order.
const AlertCols = `id, key, run_id, workflow, event, task_id, detail, webhook, format, state, attempts, next_at, last_error, created_at, done_at, model, version, value, bound`

// Alert decodes a row of AlertCols.
func Alert(sc Scanner) (cairn.Alert, error) {
	var (
		a             cairn.Alert
		event, state  string
		next, created int64
		done          sql.NullInt64
	)
	if err := sc.Scan(&a.ID, &a.Key, &a.RunID, &a.Workflow, &event, &a.TaskID, &a.Detail, &a.Webhook, &a.Format, &state,
		&a.Attempts, &next, &a.LastError, &created, &done, &a.Model, &a.Version, &a.Value, &a.Bound); err != nil {
		return a, err
	}
	a.Event, a.State = cairn.AlertEvent(event), cairn.AlertState(state)
	a.NextAt, a.CreatedAt = time.Unix(0, next).UTC(), time.Unix(0, created).UTC()
	a.DoneAt = Time(done)
	return a, nil
}

// RunEndEvent is the alert event of a run that ended in state to; false
// for a state that has none (cancelled).
func RunEndEvent(to cairn.RunState) (cairn.AlertEvent, bool) {
	switch to {
	case cairn.RunSucceeded:
		return cairn.AlertSuccess, true
	case cairn.RunFailed:
		return cairn.AlertFailure, true
	}
	return "", false
}

// RunAlertKey and TaskAlertKey are the idempotency keys' prefixes: the
// event and where it happened (the run's version when it ended, a retry
// by hand ending it again at another; the task's attempt).
func RunAlertKey(runID string, e cairn.AlertEvent, v int64) string {
	return runID + "/" + string(e) + "/v" + strconv.FormatInt(v, 10) + "/"
}

// TaskAlertKey: see RunAlertKey.
func TaskAlertKey(a cairn.AttemptRef, e cairn.AlertEvent) string {
	return a.RunID + "/" + string(e) + "/" + a.TaskID + "/" + strconv.Itoa(a.Number) + "/"
}

// ModelAlertKey is a per-model alert's idempotency key: the model
// version, the alert's number in its rollout's alerts, its event and how
// many times its condition started to hold (fired).
func ModelAlertKey(name string, version, seq int, e cairn.AlertEvent, fired int) string {
	return "model/" + name + "/v" + strconv.Itoa(version) + "/" + string(e) + "/" + strconv.Itoa(seq) + "/" + strconv.Itoa(fired)
}
