package postgres

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/store/internal/sqlrow"
)

// Pools and priorities at lease time, as store/sqlite's. Several
// processes lease at once here: a lease that may grant a pool's slots
// first locks the rows of the pools with ready tasks FOR UPDATE, in name
// order (no deadlock between two leases), and only then counts the
// holders, in a statement of its own, which under READ COMMITTED sees
// every claim committed by a lease that held the lock before it. The
// claims commit before the lock is let go, so no two leases grant the
// same slot.

// declareRunPools declares the pools of a new run's workflow (a server's
// declaration of the same name wins) and refuses the run, writing
// nothing, when one of its tasks names a pool that is not declared or is
// smaller than its slots (cairn.PoolError).
func (s *Store) declareRunPools(ctx context.Context, tx pgx.Tx, run *cairn.Run, tasks []*cairn.TaskRun) error {
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
	if len(run.Pools) > 0 {
		names := slices.Sorted(maps.Keys(run.Pools))
		sizes := make([]int64, len(names))
		for i, n := range names {
			sizes[i] = int64(run.Pools[n])
		}
		if _, err := s.exec(ctx, tx, `INSERT INTO pools (name, size, source, updated_at)
SELECT v.name, v.size, 'workflow', $3 FROM unnest($1::text[], $2::bigint[]) AS v(name, size) ORDER BY v.name
ON CONFLICT (name) DO UPDATE SET size = GREATEST(excluded.size, (`+sqlrow.PoolNeeded+`)),
	updated_at = excluded.updated_at WHERE pools.source = 'workflow'`,
			names, sizes, now.UnixNano()); err != nil {
			return fmt.Errorf("declare pools: %w", err)
		}
	}
	if !pooled {
		return nil
	}
	rows, err := s.query(ctx, tx, `SELECT name, size FROM pools`)
	if err != nil {
		return fmt.Errorf("read pools: %w", err)
	}
	sizes := map[string]int{}
	var (
		name string
		size int64
	)
	_, err = pgx.ForEachRow(rows, []any{&name, &size}, func() error {
		sizes[name] = int(size)
		return nil
	})
	if err != nil {
		return fmt.Errorf("read pools: %w", translate(err))
	}
	return cairn.CheckRunPools(tasks, sizes)
}

// SetPools declares pools as a server's (cairn server --pool NAME=SIZE):
// each inserted, or its size set whoever declared it before. A
// workflow's declaration of the same name no longer changes it. Tasks
// that a larger pool now has room for are announced to the listeners.
func (s *Store) SetPools(ctx context.Context, pools map[string]int, now time.Time) error {
	if err := cairn.CheckPools(pools); err != nil {
		return fmt.Errorf("set pools: %w", err)
	}
	names := append([]string{}, slices.Sorted(maps.Keys(pools))...) // never nil: NULL matches nothing below
	sizes := make([]int64, len(names))
	for i, n := range names {
		sizes[i] = int64(pools[n])
	}
	err := s.inTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		_, err := s.exec(ctx, tx, `INSERT INTO pools (name, size, source, updated_at)
SELECT v.name, v.size, 'server', $3 FROM unnest($1::text[], $2::bigint[]) AS v(name, size) ORDER BY v.name
ON CONFLICT (name) DO UPDATE SET size = excluded.size, source = 'server', updated_at = excluded.updated_at`,
			names, sizes, now.UnixNano())
		if err != nil {
			return err
		}
		// A pool a server declared before and this one does not is a
		// workflow's again: its size stays until a workflow declares it.
		_, err = s.exec(ctx, tx, `UPDATE pools SET source = 'workflow', updated_at = $2 WHERE source = 'server' AND NOT (name = ANY($1::text[]))`,
			names, now.UnixNano())
		if err != nil {
			return err
		}
		_, err = s.exec(ctx, tx, `SELECT pg_notify('`+channelReady+`', '')`)
		return err
	})
	if err != nil {
		return fmt.Errorf("set pools: %w", err)
	}
	return nil
}

// Pools lists every declared pool by name, with the tasks holding its
// slots — leased, running, or cancelled while running and not yet gone
// (Cancelling) — by run and task, and the first cairn.MaxPoolQueue of its
// ready tasks in the lease queue's order, in one statement
// (sqlrow.PoolsQuery). A hold is judged by the database's clock, as the
// leases are (the wall clock with WithCallerClock).
func (s *Store) Pools(ctx context.Context) ([]cairn.PoolState, error) {
	rows, err := s.query(ctx, s.pool, sqlrow.PoolsQuery(s.clock(1)), time.Now().UnixNano())
	if err != nil {
		return nil, fmt.Errorf("list pools: %w", err)
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

// leaseModeQuery reads a leaseMode: whether a ready task is in a pool,
// and whether one has a priority.
const leaseModeQuery = `SELECT ` + leaseModeCols

// leaseModeCols are leaseModeQuery's two columns, pooled and priority.
const leaseModeCols = `EXISTS (SELECT 1 FROM task_runs WHERE pool != '' AND state = 'ready') AS pooled,
	EXISTS (SELECT 1 FROM task_runs WHERE priority != 0 AND state = 'ready') AS priority`

// poolRoom is a pool's size and the slots its holders take, as a lease
// grants them.
type poolRoom struct {
	size, used int
	blocked    bool // a task of it did not fit: none after it is leased in this lease
}

// poolRooms locks the rows of the pools with a ready task, in name order,
// then reads their holders: their leased and running tasks, and their
// holds live at now (a task cancelled while running,
// sqlrow.HoldOnCancel).
func (s *Store) poolRooms(ctx context.Context, tx pgx.Tx, now time.Time) (map[string]*poolRoom, error) {
	rows, err := s.query(ctx, tx, `SELECT p.name, p.size FROM pools p
WHERE p.name IN (SELECT pool FROM task_runs WHERE pool != '' AND state = 'ready') ORDER BY p.name FOR UPDATE OF p`)
	if err != nil {
		return nil, fmt.Errorf("lock pools: %w", err)
	}
	out := map[string]*poolRoom{}
	var names []string
	var (
		name string
		size int64
	)
	if _, err := pgx.ForEachRow(rows, []any{&name, &size}, func() error {
		out[name] = &poolRoom{size: int(size)}
		names = append(names, name)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("lock pools: %w", translate(err))
	}
	if len(names) == 0 {
		return out, nil
	}
	rows, err = s.query(ctx, tx, `SELECT pool, sum(n)::bigint FROM (
	SELECT pool, sum(pool_slots) AS n FROM task_runs
	WHERE pool = ANY($1::text[]) AND pool != '' AND state IN ('leased', 'running') GROUP BY pool
	UNION ALL
	SELECT pool, sum(pool_slots) FROM task_runs
	WHERE pool = ANY($1::text[]) AND hold_until > `+s.clock(2)+` AND state NOT IN ('leased', 'running') GROUP BY pool) h
GROUP BY pool`, names, now.UnixNano())
	if err != nil {
		return nil, fmt.Errorf("count pool holders: %w", err)
	}
	var used int64
	if _, err := pgx.ForEachRow(rows, []any{&name, &used}, func() error {
		out[name].used = int(used)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("count pool holders: %w", translate(err))
	}
	return out, nil
}

// poolFilter is the condition on task_runs t that keeps, of the pooled
// tasks, those of pools with room left that no earlier task of this lease
// was refused, and that fit in their pool's size at all; its parameters
// appended to args. Unpooled tasks always pass; the tasks of a pool that
// is not declared never do.
func poolFilter(rooms map[string]*poolRoom, args []any) (string, []any) {
	var (
		names []string
		sizes []int64
	)
	for _, name := range slices.Sorted(maps.Keys(rooms)) {
		if p := rooms[name]; !p.blocked && p.used < p.size {
			names, sizes = append(names, name), append(sizes, int64(p.size))
		}
	}
	if len(names) == 0 {
		return ` AND t.pool = ''`, args
	}
	args = append(args, names, sizes)
	return fmt.Sprintf(` AND (t.pool = '' OR EXISTS (SELECT 1 FROM unnest($%d::text[], $%d::bigint[]) AS o(name, size)
	WHERE o.name = t.pool AND t.pool_slots <= o.size))`, len(args)-1, len(args)), args
}

// grant takes, of the items a round selected (in queue order) with their
// slots, those their pools have room for, counting their slots as held;
// a pooled item that does not fit blocks its pool for the rest of the
// lease (see store/sqlite's grant). It reports whether it refused any.
// The refused rows stay locked by this transaction until it ends: no
// other lease could have had them either, the pool's lock being held.
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

// PoolWaiting reports whether some ready task names a pool.
func (s *Store) PoolWaiting(ctx context.Context) (bool, error) {
	var ok bool
	if err := s.queryRow(ctx, s.pool, `SELECT EXISTS (SELECT 1 FROM task_runs WHERE pool != '' AND state = 'ready')`).Scan(&ok); err != nil {
		return false, fmt.Errorf("look for tasks waiting for a pool: %w", translate(err))
	}
	return ok, nil
}
