package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/store/internal/sqlrow"
)

// Pools and priorities at lease time (see cairn's pools.go). A lease runs
// in the one writer's transaction, so the holders it counts cannot change
// before its claims commit: no two leases grant the same slot.

// declareRunPools declares the pools of a new run's workflow (a server's
// declaration of the same name wins) and refuses the run, writing
// nothing, when one of its tasks names a pool that is not declared or is
// smaller than its slots (cairn.PoolError).
func (s *Store) declareRunPools(ctx context.Context, tx *sql.Conn, run *cairn.Run, tasks []*cairn.TaskRun) error {
	pooled := false
	for _, t := range tasks {
		pooled = pooled || t.Pool != ""
	}
	if len(run.Pools) == 0 && !pooled {
		return nil
	}
	now := run.CreatedAt
	if now.IsZero() {
		now = time.Now()
	}
	for _, name := range slices.Sorted(maps.Keys(run.Pools)) {
		if _, err := s.exec(ctx, tx, `INSERT INTO pools (name, size, source, updated_at) VALUES (?, ?, 'workflow', ?)
ON CONFLICT (name) DO UPDATE SET size = max(excluded.size, (`+sqlrow.PoolNeeded+`)), updated_at = excluded.updated_at
WHERE pools.source = 'workflow'`,
			name, run.Pools[name], now.UnixNano()); err != nil {
			return fmt.Errorf("declare pool %s: %w", name, err)
		}
	}
	if !pooled {
		return nil
	}
	rows, err := s.query(ctx, tx, `SELECT name, size FROM pools`)
	if err != nil {
		return fmt.Errorf("read pools: %w", err)
	}
	defer rows.Close()
	sizes := map[string]int{}
	for rows.Next() {
		var (
			name string
			size int
		)
		if err := rows.Scan(&name, &size); err != nil {
			return translate(err)
		}
		sizes[name] = size
	}
	if err := rows.Err(); err != nil {
		return translate(err)
	}
	return cairn.CheckRunPools(tasks, sizes)
}

// SetPools declares pools as a server's (cairn server --pool NAME=SIZE):
// each inserted, or its size set whoever declared it before. A
// workflow's declaration of the same name no longer changes it.
func (s *Store) SetPools(ctx context.Context, pools map[string]int, now time.Time) error {
	if err := cairn.CheckPools(pools); err != nil {
		return fmt.Errorf("set pools: %w", err)
	}
	err := s.inTx(ctx, func(ctx context.Context, tx *sql.Conn) error {
		for _, name := range slices.Sorted(maps.Keys(pools)) {
			if _, err := s.exec(ctx, tx, `INSERT INTO pools (name, size, source, updated_at) VALUES (?, ?, 'server', ?)
ON CONFLICT (name) DO UPDATE SET size = excluded.size, source = 'server', updated_at = excluded.updated_at`,
				name, pools[name], now.UnixNano()); err != nil {
				return fmt.Errorf("pool %s: %w", name, err)
			}
		}
		// A pool a server declared before and this one does not is a
		// workflow's again: its size stays until a workflow declares it.
		names, err := json.Marshal(append([]string{}, slices.Sorted(maps.Keys(pools))...))
		if err != nil {
			return err
		}
		_, err = s.exec(ctx, tx, `UPDATE pools SET source = 'workflow', updated_at = ?
WHERE source = 'server' AND name NOT IN (SELECT value FROM json_each(?))`, now.UnixNano(), string(names))
		return err
	})
	if err != nil {
		return fmt.Errorf("set pools: %w", err)
	}
	// A pool that grew may lease tasks waiting for it.
	return nil
}

// poolsQuery is sqlrow.PoolsQuery, now its one parameter.
var poolsQuery = sqlrow.PoolsQuery("?")

// Pools lists every declared pool by name, with the tasks holding its
// slots — leased, running, or cancelled while running and not yet gone
// (Cancelling) — by run and task, and the first cairn.MaxPoolQueue of its
// ready tasks in the lease queue's order, in one statement
// (sqlrow.PoolsQuery). A hold is judged by the wall clock, as the
// callers' leases are.
func (s *Store) Pools(ctx context.Context) ([]cairn.PoolState, error) {
	st, err := s.readStmt(ctx, poolsQuery)
	if err != nil {
		return nil, fmt.Errorf("list pools: %w", err)
	}
	rows, err := st.QueryContext(ctx, time.Now().UnixNano())
	if err != nil {
		return nil, fmt.Errorf("list pools: %w", translate(err))
	}
	defer rows.Close()
	out := []cairn.PoolState{}
	for rows.Next() {
		if out, err = sqlrow.ScanPool(rows, out); err != nil {
			return nil, fmt.Errorf("list pools: %w", translate(err))
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list pools: %w", translate(err))
	}
	return out, nil
}

// leaseMode is what a lease's transaction finds of the ready tasks
// before it selects: whether any names a pool, or has a priority.
type leaseMode struct{ pooled, priority bool }

// leaseModeQuery answers both with two probes of partial indexes.
const leaseModeQuery = `SELECT EXISTS (SELECT 1 FROM task_runs WHERE pool != '' AND state = 'ready'),
	EXISTS (SELECT 1 FROM task_runs WHERE priority != 0 AND state = 'ready')`

func (s *Store) leaseMode(ctx context.Context, tx *sql.Conn) (leaseMode, error) {
	st, err := s.txStmt(ctx, tx, leaseModeQuery)
	if err != nil {
		return leaseMode{}, err
	}
	s.stmts.Add(1)
	var m leaseMode
	if err := st.QueryRowContext(ctx).Scan(&m.pooled, &m.priority); err != nil {
		return leaseMode{}, translate(err)
	}
	return m, nil
}

// poolRoom is a pool's size and the slots its holders take, as a lease
// grants them.
type poolRoom struct {
	size, used int
	blocked    bool // a task of it did not fit: none after it is leased in this lease
}

// poolRooms reads the size and holders of every pool with a ready task:
// its leased and running tasks, and its holds live at now (a task
// cancelled while running, sqlrow.HoldOnCancel), each an index range.
func (s *Store) poolRooms(ctx context.Context, tx *sql.Conn, now time.Time) (map[string]*poolRoom, error) {
	rows, err := s.query(ctx, tx, `SELECT p.name, p.size, (SELECT coalesce(sum(h.pool_slots), 0) FROM task_runs h
	WHERE h.pool = p.name AND h.pool != '' AND h.state IN ('leased', 'running')) + (SELECT coalesce(sum(h.pool_slots), 0)
	FROM task_runs h WHERE h.pool = p.name AND h.hold_until > ?1 AND h.state NOT IN ('leased', 'running'))
FROM pools p WHERE p.name IN (SELECT pool FROM task_runs WHERE pool != '' AND state = 'ready')`, now.UnixNano())
	if err != nil {
		return nil, fmt.Errorf("read pools: %w", err)
	}
	defer rows.Close()
	out := map[string]*poolRoom{}
	for rows.Next() {
		var (
			name string
			p    poolRoom
		)
		if err := rows.Scan(&name, &p.size, &p.used); err != nil {
			return nil, translate(err)
		}
		out[name] = &p
	}
	return out, translate(rows.Err())
}

// poolFilter is the condition on task_runs t that keeps, of the pooled
// tasks, those of pools with room left that no earlier task of this lease
// was refused, and that fit in their pool's size at all (a pool made
// smaller than a task's slots leaves the task waiting, not blocking the
// pool). Unpooled tasks always pass; the tasks of a pool that is not
// declared never do.
func poolFilter(rooms map[string]*poolRoom) (string, []any) {
	var (
		sb   strings.Builder
		args []any
	)
	sb.WriteString(` AND (t.pool = ''`)
	for _, name := range slices.Sorted(maps.Keys(rooms)) {
		p := rooms[name]
		if p.blocked || p.used >= p.size {
			continue
		}
		sb.WriteString(` OR (t.pool = ? AND t.pool_slots <= ?)`)
		args = append(args, name, p.size)
	}
	sb.WriteByte(')')
	return sb.String(), args
}

// grant takes, of the items a round selected (in queue order) with their
// slots, those their pools have room for, counting their slots as held;
// a pooled item that does not fit blocks its pool for the rest of the
// lease, so that a task needing many slots is not passed over forever by
// smaller ones behind it. It reports whether it refused any.
func grant(items []cairn.WorkItem, slots []int, rooms map[string]*poolRoom) (kept []cairn.WorkItem, refused bool) {
	kept = items[:0:0]
	for i, it := range items {
		if it.Pool == "" {
			kept = append(kept, it)
			continue
		}
		p := rooms[it.Pool]
		switch {
		case p == nil || p.blocked:
			refused = true
		case p.used+slots[i] <= p.size:
			p.used += slots[i]
			kept = append(kept, it)
		default:
			p.blocked, refused = true, true
		}
	}
	return kept, refused
}

// queueOrder is the lease queue's order with priorities (cairn.QueueKey),
// or by ready generation when no ready task has one.
func queueOrder(m leaseMode, byRun bool) string {
	key := ""
	if m.priority {
		key = fmt.Sprintf("coalesce(t.ready_at, 0) - t.priority * %d, ", int64(cairn.PriorityAging))
	}
	if byRun {
		return ` ORDER BY ` + key + `t.ready_gen, t.seq`
	}
	return ` ORDER BY ` + key + `t.ready_gen, t.run_id, t.seq`
}

// PoolWaiting reports whether some ready task names a pool (an index
// probe on the read pool).
func (s *Store) PoolWaiting(ctx context.Context) (bool, error) {
	var ok bool
	err := s.reading(ctx, `SELECT EXISTS (SELECT 1 FROM task_runs WHERE pool != '' AND state = 'ready')`, func(ctx context.Context, st *sql.Stmt) error {
		return translate(st.QueryRowContext(ctx).Scan(&ok))
	})
	if err != nil {
		return false, fmt.Errorf("look for tasks waiting for a pool: %w", err)
	}
	return ok, nil
}
