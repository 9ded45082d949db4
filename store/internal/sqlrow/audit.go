package sqlrow

import (
	"errors"
	"fmt"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
)

// AuditCols is what Audit decodes, of audit.
const AuditCols = `id, at, actor, action, run_id, task_id, detail`

// AuditPage is the limit and cursor of a page of the audit log: f's, or
// 50 entries from the newest.
func AuditPage(f scheduler.AuditFilter) (limit int, before int64) {
	limit, before = f.Limit, f.Before
	if limit <= 0 {
		limit = 50
	}
	if before <= 0 {
		before = 1<<63 - 1
	}
	return limit, before
}

// Audit decodes AuditCols.
func Audit(sc Scanner) (scheduler.Audit, error) {
	var (
		a      scheduler.Audit
		at     int64
		detail string
	)
	if err := sc.Scan(&a.ID, &at, &a.Actor, &a.Action, &a.RunID, &a.TaskID, &detail); err != nil {
		return a, err
	}
	a.At = time.Unix(0, at).UTC()
	if detail != "" {
		a.Detail = []byte(detail)
	}
	return a, nil
}

// ScheduleCols is what Schedule decodes, of schedules.
const ScheduleCols = `workflow, spec, position, paused, updated_at, version`

// Schedule decodes ScheduleCols.
func Schedule(sc Scanner) (scheduler.ScheduleState, error) {
	var (
		st                        scheduler.ScheduleState
		position, updated, paused int64
	)
	if err := sc.Scan(&st.Workflow, &st.Spec, &position, &paused, &updated, &st.Version); err != nil {
		return st, err
	}
	st.Position, st.UpdatedAt, st.Paused = time.Unix(0, position).UTC(), time.Unix(0, updated).UTC(), paused != 0
	return st, nil
}

// CheckSchedule refuses a schedule's state that lacks what PutSchedule
// stores.
func CheckSchedule(st *scheduler.ScheduleState) error {
	if st.Workflow == "" || st.Spec == "" || st.Position.IsZero() {
		return errors.New("put schedule: a workflow, a spec and a position are required")
	}
	return nil
}

// ScheduleChanged is PutSchedule's error when its compare-and-set wrote
// nothing.
func ScheduleChanged(workflow string) error {
	return fmt.Errorf("schedule of %s changed meanwhile: %w", workflow, cairn.ErrConflict)
}

// CountsQuery is StateCounts' one statement, both dialects' (the owner is
// its one parameter, written as the dialect writes it): runs by state on
// runs_state_id, the tasks of active runs through it and task_runs'
// (run_id, ...) key, the lease queue on its partial index, a
// scheduler's runs on runs_owner; the cost grows with the number of runs
// (an index scan, no table read) and with the tasks of active runs only.
func CountsQuery(param string) string {
	return `SELECT 'run', state, count(*) FROM runs GROUP BY state
UNION ALL
SELECT 'task', t.state, count(*) FROM runs r JOIN task_runs t ON t.run_id = r.id
	WHERE r.state IN ('queued', 'running') GROUP BY t.state
UNION ALL
SELECT 'ready', '', count(*) FROM task_runs WHERE state = 'ready'
UNION ALL
SELECT 'owned', '', count(*) FROM runs WHERE owner = ` + param + ` AND state IN ('queued', 'running')`
}

// NewStateCounts is an empty count, its maps made.
func NewStateCounts() scheduler.StateCounts {
	return scheduler.StateCounts{Runs: map[cairn.RunState]int64{}, Tasks: map[cairn.TaskState]int64{}}
}

// Count decodes a row of CountsQuery into c.
func Count(sc Scanner, c *scheduler.StateCounts) error {
	var (
		kind, state string
		n           int64
	)
	if err := sc.Scan(&kind, &state, &n); err != nil {
		return err
	}
	switch kind {
	case "run":
		c.Runs[cairn.RunState(state)] = n
	case "task":
		c.Tasks[cairn.TaskState(state)] = n
	case "ready":
		c.Ready = n
	case "owned":
		c.Owned = n
	}
	return nil
}
