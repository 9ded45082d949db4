package sqlrow

import (
	"database/sql"
	"fmt"
	"time"

	"github.com/cairnml/cairn"
)

// HoldAttempt is the condition that the hold of task run t (its table's
// name or alias) is the one of the attempt whose lease token is tok (a
// parameter): the hold's lease is gone with the cancel, but the attempt,
// written as cancelled, kept its token, so that a worker's calls under it
// are matched there. The same text in both dialects.
func HoldAttempt(t, tok string) string {
	return `EXISTS (SELECT 1 FROM attempts a WHERE a.run_id = ` + t + `.run_id AND a.task_id = ` + t + `.task_id
	AND a.number = ` + t + `.attempt AND a.token = ` + tok + `)`
}

// PoolsQuery is the statement that reads, in both dialects, every
// declared pool (kind 0) with its holders — its leased and running tasks
// and its holds (a task cancelled while running whose process may still
// run, HoldOnCancel: hold_until after now, now being the SQL expression
// now), by run and task, the holds said cancelling —, and (kind 1) the
// first cairn.MaxPoolQueue ready tasks of each pool in the lease queue's
// order (cairn.QueueKey, then ready_gen, run, position) with their count.
// ScanPool folds its rows. Each part is an index search (the holds: a
// range of task_runs_pool_hold), not a scan of task_runs.
func PoolsQuery(now string) string {
	return fmt.Sprintf(`SELECT p.name, p.size, p.source, p.updated_at, 0, 0, t.run_id, t.task_id, t.pool_slots, 0, 0, 0
FROM pools p LEFT JOIN task_runs t ON t.pool = p.name AND t.pool != '' AND t.state IN ('leased', 'running')
UNION ALL
SELECT p.name, p.size, p.source, p.updated_at, 0, 0, t.run_id, t.task_id, t.pool_slots, 1, 0, 0
FROM pools p JOIN task_runs t ON t.pool = p.name AND t.hold_until > %s AND t.state NOT IN ('leased', 'running')
UNION ALL
SELECT q.pool, 0, '', 0, 1, q.k, q.run_id, q.task_id, q.pool_slots, q.priority, q.ready_at, q.n FROM (
	SELECT t.pool, t.run_id, t.task_id, t.pool_slots, t.priority, coalesce(t.ready_at, 0) AS ready_at,
		ROW_NUMBER() OVER (PARTITION BY t.pool ORDER BY coalesce(t.ready_at, 0) - t.priority * %d, t.ready_gen, t.run_id, t.seq) AS k,
		COUNT(*) OVER (PARTITION BY t.pool) AS n
	FROM task_runs t WHERE t.pool != '' AND t.state = 'ready') q
WHERE q.k <= %d
ORDER BY 1, 5, 6, 7, 8`, now, int64(cairn.PriorityAging), cairn.MaxPoolQueue)
}

// HoldOnCancel is the assignment of hold_until in a statement that moves
// task runs (of table t, its old values) to state next: a pooled task
// cancelled while running holds its slots until its lease would have
// expired (its refused completion, the process reaped, lets go of them
// sooner: see the stores' releaseHold; its worker's heartbeats renew
// it); any other change leaves a hold as it was. Only a running attempt
// holds: a leased one has not begun (a remote worker's Start is then
// refused), so nothing of it runs. The same text in both dialects.
func HoldOnCancel(next, t string) string {
	return `hold_until = CASE WHEN ` + next + ` = 'cancelled' AND ` + t + `.state = 'running' AND ` + t + `.pool != ''
		THEN ` + t + `.lease_expires_at ELSE ` + t + `.hold_until END`
}

// ScanPool reads one row of PoolsQuery into out, which holds the pools
// read so far, and returns it. A ready task of a pool that is not
// declared is left out.
func ScanPool(sc Scanner, out []cairn.PoolState) ([]cairn.PoolState, error) {
	var (
		name, source                string
		size, updated, kind, k      int64
		run, task                   sql.NullString
		slots, priority, readyAt, n sql.NullInt64
	)
	if err := sc.Scan(&name, &size, &source, &updated, &kind, &k, &run, &task, &slots, &priority, &readyAt, &n); err != nil {
		return out, err
	}
	last := len(out) - 1
	if kind == 0 {
		if last < 0 || out[last].Name != name {
			out = append(out, cairn.PoolState{Name: name, Size: int(size), Source: source, UpdatedAt: time.Unix(0, updated).UTC()})
			last++
		}
		if run.Valid {
			out[last].Holders = append(out[last].Holders, cairn.PoolHolder{RunID: run.String, TaskID: task.String, Slots: int(slots.Int64),
				Cancelling: priority.Int64 != 0})
		}
		return out, nil
	}
	if last < 0 || out[last].Name != name {
		return out, nil // not declared
	}
	w := cairn.PoolWaiter{RunID: run.String, TaskID: task.String, Slots: int(slots.Int64), Priority: int(priority.Int64)}
	if readyAt.Int64 != 0 {
		w.ReadyAt = time.Unix(0, readyAt.Int64).UTC()
	}
	out[last].Waiting = int(n.Int64)
	out[last].Queue = append(out[last].Queue, w)
	return out, nil
}

// PoolNeeded is the most slots a task of an unfinished run takes of pool
// excluded.name (in a pools upsert): a workflow that declares the pool
// smaller leaves it that large, or the task would wait for ever ("needs 3
// slots of pool gpu, which has 1"). The same text in both dialects.
const PoolNeeded = `SELECT coalesce(max(t.pool_slots), 0) FROM task_runs t
WHERE t.pool = excluded.name AND t.pool != '' AND t.state IN ('pending', 'ready', 'leased', 'running', 'retrying')`
