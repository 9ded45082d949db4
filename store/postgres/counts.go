package postgres

import (
	"context"
	"fmt"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
)

// countsQuery is store/sqlite's, one statement so that the counts are one
// snapshot: runs by state on runs_state_id, the tasks of active runs
// through it and task_runs' primary key, the lease queue on its partial
// index, a scheduler's runs on runs_owner.
const countsQuery = `SELECT 'run', state, count(*) FROM runs GROUP BY state
UNION ALL
SELECT 'task', t.state, count(*) FROM runs r JOIN task_runs t ON t.run_id = r.id
	WHERE r.state IN ('queued', 'running') GROUP BY t.state
UNION ALL
SELECT 'ready', '', count(*) FROM task_runs WHERE state = 'ready'
UNION ALL
SELECT 'owned', '', count(*) FROM runs WHERE owner = $1 AND state IN ('queued', 'running')`

// StateCounts counts runs by state, the task runs of active runs by
// state, the ready task runs and the active runs owner holds, in one
// read: what cairn server's /metrics reads at each scrape.
func (s *Store) StateCounts(ctx context.Context, owner string) (scheduler.StateCounts, error) {
	out := scheduler.StateCounts{Runs: map[cairn.RunState]int64{}, Tasks: map[cairn.TaskState]int64{}}
	rs, err := s.pool.Query(ctx, countsQuery, owner)
	if err != nil {
		return out, fmt.Errorf("count states: %w", translate(err))
	}
	defer rs.Close()
	for rs.Next() {
		var (
			kind, state string
			n           int64
		)
		if err := rs.Scan(&kind, &state, &n); err != nil {
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
	if err := rs.Err(); err != nil {
		return out, fmt.Errorf("count states: %w", translate(err))
	}
	return out, nil
}
