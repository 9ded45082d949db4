package sqlite

import (
	"context"
	"fmt"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
)

// StateCounts is what cairn server's /metrics reads from the database at
// each scrape (scheduler.StateCounts).
type StateCounts = scheduler.StateCounts

// countsQuery is one statement, so that the counts are one snapshot.
// Runs are counted on the index runs_state_id, the tasks of active runs
// through it and task_runs' (run_id, seq) index, the lease queue on its
// partial index, a scheduler's runs on runs_owner: the cost grows with the
// number of runs (an index scan, no table read) and with the tasks of
// active runs only.
const countsQuery = `SELECT 'run', state, count(*) FROM runs GROUP BY state
UNION ALL
SELECT 'task', t.state, count(*) FROM runs r JOIN task_runs t ON t.run_id = r.id
	WHERE r.state IN ('queued', 'running') GROUP BY t.state
UNION ALL
SELECT 'ready', '', count(*) FROM task_runs WHERE state = 'ready'
UNION ALL
SELECT 'owned', '', count(*) FROM runs WHERE owner = ? AND state IN ('queued', 'running')`

// StateCounts counts runs by state, the task runs of active runs by
// state, the ready task runs and the active runs owner holds, in one
// read.
func (s *Store) StateCounts(ctx context.Context, owner string) (StateCounts, error) {
	out := StateCounts{Runs: map[cairn.RunState]int64{}, Tasks: map[cairn.TaskState]int64{}}
	st, err := s.readStmt(ctx, countsQuery)
	if err != nil {
		return out, fmt.Errorf("count states: %w", err)
	}
	rows, err := st.QueryContext(ctx, owner)
	if err != nil {
		return out, fmt.Errorf("count states: %w", translate(err))
	}
	defer rows.Close()
	for rows.Next() {
		var (
			kind, state string
			n           int64
		)
		if err := rows.Scan(&kind, &state, &n); err != nil {
			return out, fmt.Errorf("count states: %w", translate(err))
		}
		switch kind {
		case "run":
			out.Runs[cairn.RunState(state)] = n
		case "task":
			out.Tasks[cairn.TaskState(state)] = n
		case "ready":
			out.Ready = n
		case "owned":
			out.Owned = n
		}
	}
	if err := rows.Err(); err != nil {
		return out, fmt.Errorf("count states: %w", translate(err))
	}
	return out, nil
}
