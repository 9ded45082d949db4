package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/store/internal/sqlrow"
)

// Lease claims up to r.Max ready task runs for r.Worker, those made ready
// earliest first (then by run and creation order), as store/sqlite's
// Lease. The rows are selected FOR UPDATE SKIP LOCKED: concurrent leases
// (in this process or another) take different tasks without waiting on
// each other, and none is handed out twice. It returns an empty slice
// when nothing is ready, from one read, without a write transaction.
func (s *Store) Lease(ctx context.Context, r cairn.LeaseRequest, now time.Time, ttl time.Duration) ([]cairn.WorkItem, error) {
	if r.Total() <= 0 {
		return []cairn.WorkItem{}, nil
	}
	if ttl <= 0 {
		return nil, fmt.Errorf("lease for %s: ttl %v is not positive", r.Worker, ttl)
	}
	if ready, err := s.anyReady(ctx, s.pool, r); err != nil || !ready {
		if err != nil {
			return nil, leaseErr(r, err)
		}
		return []cairn.WorkItem{}, nil
	}
	var items []cairn.WorkItem
	if err := s.inTx(ctx, s.leaseFn(r, now, ttl, &items)); err != nil {
		return nil, leaseErr(r, err)
	}
	return items, nil
}

func (b *batchTx) Lease(r cairn.LeaseRequest, now time.Time, ttl time.Duration) ([]cairn.WorkItem, error) {
	if ttl <= 0 {
		return nil, fmt.Errorf("lease for %s: ttl %v is not positive", r.Worker, ttl)
	}
	var items []cairn.WorkItem
	if err := b.run(b.s.leaseFn(r, now, ttl, &items), true); err != nil {
		return nil, leaseErr(r, err)
	}
	return items, nil
}

func leaseErr(r cairn.LeaseRequest, err error) error {
	if r.RunID != "" {
		return fmt.Errorf("lease run %s for %s: %w", r.RunID, r.Worker, err)
	}
	return fmt.Errorf("lease for %s: %w", r.Worker, err)
}

// leaseSelect is the lease query for a request's filters, in the order
// of the lease queue (queueOrder), keeping of the pooled tasks those
// rooms has room for (poolFilter) when m.pooled, and none otherwise; its
// last parameter is the limit.
func leaseSelect(r cairn.LeaseRequest, m leaseMode, rooms map[string]*poolRoom) (query string, args []any) {
	const cols = `SELECT ` + leaseCols + `, t.ctid FROM task_runs t`
	where, args := leaseWhere(r, m, rooms)
	order := queueOrder(m, r.RunID != "")
	return cols + where + order + fmt.Sprintf(" LIMIT $%d", len(args)+1) + ` FOR UPDATE OF t SKIP LOCKED`, args
}

// leaseCols are the columns of task_runs t a lease hands out (scanRows).
const leaseCols = `t.run_id, t.task_id, t.attempt, t.type, t.params, t.inputs, t.timeout_ns, t.retries, t.backoff_ns,
	t.backoff_factor, t.max_backoff_ns, t.max_interruptions, t.interrupted, t.interrupted_streak, t.failed_before, t.cache,
	t.pool, t.pool_slots`

// leaseWhere is the lease query's joins and conditions on task_runs t
// after its FROM, and their parameters (see leaseSelect).
func leaseWhere(r cairn.LeaseRequest, m leaseMode, rooms map[string]*poolRoom) (where string, args []any) {
	switch {
	case r.RunID != "" && r.Owner != "":
		args = []any{r.RunID, r.Owner}
		where = ` JOIN runs ON runs.id = t.run_id WHERE t.state = 'ready' AND t.run_id = $1 AND runs.owner = $2`
	case r.RunID != "":
		args = []any{r.RunID}
		where = ` WHERE t.state = 'ready' AND t.run_id = $1`
	case r.Owner != "":
		args = []any{r.Owner}
		where = ` JOIN runs ON runs.id = t.run_id WHERE t.state = 'ready' AND runs.owner = $1`
	default:
		where = ` WHERE t.state = 'ready'`
	}
	route, args := routeFilter(r, args)
	// Without the pools' locks, no pooled task: one made ready since
	// leaseMode looked would otherwise be leased uncounted.
	pool := ` AND t.pool = ''`
	if m.pooled {
		pool, args = poolFilter(rooms, args)
	}
	return where + route + pool, args
}

// routeFilter is the condition on task_runs t that keeps the tasks r may
// take (cairn.LeaseRequest.Takes), its parameters appended to args:
// nothing with AnyTask; otherwise the task's queue among r's (the
// default one when r names none) and its labels contained in r's, as
// jsonb (a task's labels are all among the worker's with the same
// values). The common case, a worker with no labels on the default
// queue, is two comparisons on the row (labels IS NULL, an empty queue).
func routeFilter(r cairn.LeaseRequest, args []any) (string, []any) {
	if r.AnyTask {
		return "", args
	}
	var sb strings.Builder
	if len(r.Queues) == 0 {
		sb.WriteString(` AND t.queue = ''`)
	} else {
		qs := make([]string, len(r.Queues))
		for i, q := range r.Queues {
			qs[i] = cairn.StoredQueue(q)
		}
		args = append(args, qs)
		fmt.Fprintf(&sb, ` AND t.queue = ANY($%d::text[])`, len(args))
	}
	if r.Types != nil {
		args = append(args, r.Types)
		fmt.Fprintf(&sb, ` AND t.type = ANY($%d::text[])`, len(args))
	}
	if len(r.Labels) == 0 {
		sb.WriteString(` AND t.labels IS NULL`)
		return sb.String(), args
	}
	b, _ := json.Marshal(r.Labels) // a map of strings always encodes
	args = append(args, string(b))
	fmt.Fprintf(&sb, ` AND (t.labels IS NULL OR t.labels::jsonb <@ $%d::jsonb)`, len(args))
	return sb.String(), args
}

type badRow struct {
	runID, taskID        string
	badParams, badInputs bool
	err                  error
}

// leaseFn is the body of a lease transaction; it sets *out. A bad row
// among those selected fails alone and the selection is made again for
// the places it took (see store/sqlite's leaseFn). The items go to r's
// workers in order (cairn.LeaseRequest.Holders). In the usual mode (no
// ready task in a pool, none with a priority) the first selection is
// claimed by the statement that makes it (leaseFirst); otherwise, and for
// the places of bad rows, each selection is claimed by one more
// statement, whatever its number of rows.
func (s *Store) leaseFn(r cairn.LeaseRequest, now time.Time, ttl time.Duration, out *[]cairn.WorkItem) txFn {
	return func(ctx context.Context, tx pgx.Tx) error {
		items := []cairn.WorkItem{}
		*out = items
		total := r.Total()
		if total <= 0 {
			return nil
		}
		c := claim{state: cairn.TaskLeased, now: now, ttl: ttl, expires: now.Add(ttl), start: r.Start}
		if r.Start {
			c.state, c.running = cairn.TaskRunning, nanos(now)
		}
		// open is the holder of each place not yet filled, in order.
		open := r.Holders(total)
		m, first, err := s.leaseFirst(ctx, tx, r, open, c)
		if err != nil {
			return err
		}
		if first != nil {
			items = append(items, first.items...)
			holes := make([]string, 0, len(first.bad))
			for _, b := range first.bad {
				if err := s.unclaim(ctx, tx, b); err != nil {
					return err
				}
				if err := s.failBadRow(ctx, tx, b.badRow, now); err != nil {
					return err
				}
				holes = append(holes, open[b.place])
			}
			if len(holes) == 0 {
				*out = items
				return nil
			}
			open = holes
		}
		var rooms map[string]*poolRoom
		if m.pooled {
			if rooms, err = s.poolRooms(ctx, tx, now); err != nil {
				return err
			}
		}
		for len(open) > 0 {
			query, args := leaseSelect(r, m, rooms)
			sel, err := s.scanReady(ctx, tx, query, append(args, len(open)))
			if err != nil {
				return err
			}
			got := sel.items
			for _, b := range sel.bad {
				if err := s.failBadRow(ctx, tx, b, now); err != nil {
					return err
				}
			}
			refused := false
			if m.pooled {
				got, refused = grant(got, sel.slots, rooms)
			}
			for i := range got {
				it := &got[i]
				it.Lease.Attempt++
				it.Lease.Token = cairn.NewToken()
				it.Lease.Worker = open[i]
				it.Lease.ExpiresAt = c.expires
				it.Started = r.Start
			}
			open = open[len(got):]
			if err := s.claimReady(ctx, tx, got, sel.tids, c.state, now, ttl, c.running); err != nil {
				return err
			}
			items = append(items, got...)
			if len(sel.bad) == 0 && !refused {
				break
			}
		}
		*out = items
		return nil
	}
}

// claim is what a lease writes of each task it claims, but its attempt,
// token and worker.
type claim struct {
	state   cairn.TaskState
	now     time.Time
	ttl     time.Duration
	expires time.Time // the lease's expiry in the caller's terms
	start   bool
	running *int64 // now, when the attempts start with their lease
}

// claimed is what leaseFirst's statement claimed: the good rows' items,
// their leases set, and the bad rows, claimed too, with what unclaim
// needs to put them back as they were.
type claimed struct {
	items []cairn.WorkItem
	bad   []claimedBad
}

// claimedBad is a bad row leaseFirst claimed: its place among the
// lease's holders, its token, and its columns the claim set, as they were.
type claimedBad struct {
	badRow
	place                                          int
	token                                          string
	attempt, version                               int64
	readyGen, retryAt, startedAt, dueAt, expiresAt *int64
	attemptStartedAt, attemptRunningAt             *int64
	leaseToken, leaseWorker                        *string
}

// leaseFirst selects and claims, in one statement after indexPlanner (one
// round trip), up to len(holders) ready tasks for r in the usual mode — no
// ready task in a pool, none with a priority — the place of each in queue
// order (row_number) giving it its holder and one of the tokens drawn
// here; each row is claimed where the select locked it (its ctid). The
// statement reads the lease's mode (leaseMode) too, and claims nothing in
// another mode: then it returns that mode and nil, and the caller selects
// in the mode's order. A bad row (its params or inputs do not decode,
// which only Go can tell) is claimed like the others and returned for the
// caller to put back (unclaim) and fail.
func (s *Store) leaseFirst(ctx context.Context, tx pgx.Tx, r cairn.LeaseRequest, holders []string, c claim) (leaseMode, *claimed, error) {
	query, args, tokens := s.leaseFirstQuery(r, holders, c)
	var (
		m   leaseMode
		out claimed
		b   pgx.Batch
	)
	b.Queue(indexPlanner)
	b.Queue(query, args...).Query(func(rows pgx.Rows) error {
		var rowsClaimed, rowsRead int64
		for rows.Next() {
			var (
				it             cairn.WorkItem
				lr             leaseRow
				i              *int64
				params, inputs []byte
				poolSlots      int64 // read, not kept: no pooled task in this mode
				cb             claimedBad
			)
			if err := rows.Scan(&m.pooled, &m.priority, &i, &rowsClaimed, &it.Lease.RunID, &it.Lease.TaskID, &lr.attempt, &it.Type,
				&params, &inputs, &lr.timeout, &lr.retries, &lr.backoff, &it.Retry.Factor, &lr.maxBackoff, &lr.maxIntr, &lr.intr,
				&lr.streak, &lr.fb, &lr.cache, &it.Pool, &poolSlots, &cb.readyGen, &cb.retryAt, &cb.startedAt, &cb.dueAt, &cb.version,
				&cb.expiresAt, &cb.leaseToken, &cb.leaseWorker, &cb.attemptStartedAt, &cb.attemptRunningAt); err != nil {
				return err
			}
			if i == nil {
				continue // no row claimed: the mode alone
			}
			rowsRead++
			place := int(*i) - 1
			if place < 0 || place >= len(holders) {
				return fmt.Errorf("lease: the claim numbered a row %d of %d", *i, len(holders))
			}
			if b, bad := lr.decode(&it, params, inputs); bad {
				cb.badRow, cb.place, cb.token, cb.attempt = b, place, tokens[place], lr.attempt
				out.bad = append(out.bad, cb)
				continue
			}
			it.Lease.Attempt++
			it.Lease.Token, it.Lease.Worker, it.Lease.ExpiresAt, it.Started = tokens[place], holders[place], c.expires, c.start
			out.items = append(out.items, it) // no pooled task in this mode
		}
		if err := rows.Err(); err != nil {
			return err
		}
		// The rows are locked since the select: this cannot miss.
		if rowsClaimed != rowsRead {
			return fmt.Errorf("lease %d tasks: %d left ready within the statement", rowsRead, rowsRead-rowsClaimed)
		}
		return nil
	})
	s.stmts.Add(2)
	if err := translate(tx.SendBatch(ctx, &b).Close()); err != nil {
		return leaseMode{}, nil, err
	}
	if m != (leaseMode{}) {
		return m, nil, nil
	}
	return m, &out, nil
}

// leaseFirstQuery is leaseFirst's statement and its parameters, and the
// tokens drawn for its places.
func (s *Store) leaseFirstQuery(r cairn.LeaseRequest, holders []string, c claim) (query string, args []any, tokens []string) {
	var where string
	where, args = leaseWhere(r, leaseMode{}, nil)
	order := queueOrder(leaseMode{}, r.RunID != "")
	n := len(args)
	tokens = make([]string, len(holders))
	for i := range tokens {
		tokens[i] = cairn.NewToken()
	}
	args = append(args, len(holders), tokens, holders, string(c.state), c.now.UnixNano(), int64(c.ttl), c.running)
	query = `WITH m AS (SELECT ` + leaseModeCols + `),
sel AS (SELECT t.ctid AS tid, ` + leaseCols + `, t.ready_gen, t.seq, t.retry_at, t.started_at, t.attempt_due_at,
	t.version, t.lease_expires_at, t.lease_token, t.lease_worker, t.attempt_started_at, t.attempt_running_at
	FROM task_runs t` + where + ` AND NOT (SELECT pooled OR priority FROM m)` + order + fmt.Sprintf(` LIMIT $%d`, n+1) + `
	FOR UPDATE OF t SKIP LOCKED),
num AS (SELECT sel.*, row_number() OVER (` + strings.TrimSpace(strings.ReplaceAll(order, "t.", "sel.")) + `) AS i FROM sel),
u AS (UPDATE task_runs t SET ` + s.claimSet("num.attempt + 1", fmt.Sprintf("($%d::text[])[num.i]", n+2),
		fmt.Sprintf("($%d::text[])[num.i]", n+3), n+4) + `
	FROM num WHERE t.ctid = num.tid RETURNING 1)
SELECT m.pooled, m.priority, num.i, (SELECT count(*) FROM u), coalesce(num.run_id, ''), coalesce(num.task_id, ''),
	coalesce(num.attempt, 0), coalesce(num.type, ''), num.params, num.inputs, coalesce(num.timeout_ns, 0), coalesce(num.retries, 0),
	coalesce(num.backoff_ns, 0), coalesce(num.backoff_factor, 0), coalesce(num.max_backoff_ns, 0),
	coalesce(num.max_interruptions, 0), coalesce(num.interrupted, 0), coalesce(num.interrupted_streak, 0),
	coalesce(num.failed_before, 0), coalesce(num.cache, 0), coalesce(num.pool, ''), coalesce(num.pool_slots, 0),
	num.ready_gen, num.retry_at, num.started_at, num.attempt_due_at, coalesce(num.version, 0), num.lease_expires_at,
	num.lease_token, num.lease_worker, num.attempt_started_at, num.attempt_running_at
FROM m LEFT JOIN num ON true ORDER BY num.i`
	return query, args, tokens
}

// unclaim puts a row leaseFirst claimed back as it was, ready.
func (s *Store) unclaim(ctx context.Context, tx pgx.Tx, b claimedBad) error {
	n, err := s.exec(ctx, tx, `UPDATE task_runs SET state = 'ready', attempt = $3, lease_token = $4, lease_worker = $5,
	lease_expires_at = $6, ready_gen = $7, retry_at = $8, started_at = $9, attempt_started_at = $10, attempt_running_at = $11,
	attempt_due_at = $12, version = $13
WHERE run_id = $1 AND task_id = $2 AND lease_token = $14`, b.runID, b.taskID, b.attempt, b.leaseToken, b.leaseWorker, b.expiresAt,
		b.readyGen, b.retryAt, b.startedAt, b.attemptStartedAt, b.attemptRunningAt, b.dueAt, b.version, b.token)
	if err != nil {
		return fmt.Errorf("put task %s/%s back: %w", b.runID, b.taskID, err)
	}
	if n != 1 {
		return fmt.Errorf("put task %s/%s back: %d rows held its claim", b.runID, b.taskID, n)
	}
	return nil
}

// claimReady leases the ready tasks of items (locked by the select, each
// item's Lease set), in one statement. Each row is found where the select
// found it (tids: its ctid, which stays while the row is locked), not by
// an index: by its key, the planner chose the run's ready queue
// (task_runs_ready_run) and walked it from the run's first ready task for
// each row, a loop over the batch for each row of it.
func (s *Store) claimReady(ctx context.Context, tx pgx.Tx, items []cairn.WorkItem, tids map[taskKey]pgtype.TID,
	state cairn.TaskState, now time.Time, ttl time.Duration, running *int64) error {
	if len(items) == 0 {
		return nil
	}
	n := len(items)
	runs, tasks, attempts, tokens, workers := make([]string, n), make([]string, n), make([]int64, n), make([]string, n), make([]string, n)
	at := make([]pgtype.TID, n)
	for i, it := range items {
		runs[i], tasks[i], attempts[i], tokens[i], workers[i] = it.Lease.RunID, it.Lease.TaskID, int64(it.Lease.Attempt), it.Lease.Token, it.Lease.Worker
		at[i] = tids[taskKey{it.Lease.RunID, it.Lease.TaskID}]
	}
	got, err := s.exec(ctx, tx, `UPDATE task_runs t SET `+s.claimSet("v.attempt", "v.token", "v.worker", 6)+`
FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $10::tid[]) AS v(run_id, task_id, attempt, token, worker, tid)
WHERE t.ctid = v.tid AND t.run_id = v.run_id AND t.task_id = v.task_id AND t.state = 'ready'`,
		runs, tasks, attempts, tokens, workers, string(state), now.UnixNano(), int64(ttl), running, at)
	if err != nil {
		return err
	}
	// The rows are locked since the select: this cannot miss.
	if got != int64(n) {
		return fmt.Errorf("lease %d tasks: %d left ready within the transaction", n, int64(n)-got)
	}
	return nil
}

// claimSet is the SET list of a claim of task_runs t: the attempt, token
// and worker the SQL expressions given, its state $n, now $n+1, the TTL
// $n+2 and the attempt's start of running $n+3 (NULL unless started).
func (s *Store) claimSet(attempt, token, worker string, n int) string {
	state, now, ttl, running := n, n+1, n+2, n+3
	return fmt.Sprintf(`state = $%d, attempt = %s, lease_token = %s, lease_worker = %s,
	lease_expires_at = %s + $%d, ready_gen = NULL, retry_at = NULL, started_at = coalesce(t.started_at, $%d),
	attempt_started_at = $%d, attempt_running_at = $%d,
	attempt_due_at = CASE WHEN $%d::bigint IS NOT NULL THEN %s + %s END, version = t.version + 1`,
		state, attempt, token, worker, s.clock(now), ttl, now, now, running, running, s.clock(now), dueAfter("t"))
}

// selection is what a lease's select returned: the good rows as work
// items (attempt, token and lease not yet set) with their pool slots and
// where each row lies (its ctid), and the bad rows.
type selection struct {
	items []cairn.WorkItem
	slots []int
	tids  map[taskKey]pgtype.TID
	bad   []badRow
}

// taskKey is a task run's key.
type taskKey struct{ run, task string }

func (s *Store) scanReady(ctx context.Context, tx pgx.Tx, query string, args []any) (*selection, error) {
	rows, err := s.query(ctx, tx, query, args...)
	if err != nil {
		return nil, err
	}
	return scanRows(rows)
}

// scanRows reads a lease's select (leaseSelect) and closes rows.
func scanRows(rows pgx.Rows) (*selection, error) {
	defer rows.Close()
	sel := &selection{tids: map[taskKey]pgtype.TID{}}
	for rows.Next() {
		var (
			it                                                 cairn.WorkItem
			params, inputs                                     []byte
			attempt, retries, maxIntr, intr, streak, fb, cache int64
			timeout, backoff, maxBackoff, poolSlots            int64
			tid                                                pgtype.TID
		)
		if err := rows.Scan(&it.Lease.RunID, &it.Lease.TaskID, &attempt, &it.Type, &params, &inputs,
			&timeout, &retries, &backoff, &it.Retry.Factor, &maxBackoff, &maxIntr, &intr, &streak, &fb, &cache,
			&it.Pool, &poolSlots, &tid); err != nil {
			return nil, translate(err)
		}
		r := leaseRow{attempt, retries, maxIntr, intr, streak, fb, cache, timeout, backoff, maxBackoff}
		if b, bad := r.decode(&it, params, inputs); bad {
			sel.bad = append(sel.bad, b)
			continue
		}
		it.PoolSlots = int(poolSlots)
		sel.items = append(sel.items, it)
		sel.slots = append(sel.slots, it.PoolSlots)
		sel.tids[taskKey{it.Lease.RunID, it.Lease.TaskID}] = tid
	}
	if err := rows.Err(); err != nil {
		return nil, translate(err)
	}
	return sel, nil
}

// leaseRow is a lease's select's numbers of a task run, as read.
type leaseRow struct {
	attempt, retries, maxIntr, intr, streak, fb, cache, timeout, backoff, maxBackoff int64
}

// decode sets it (its run and task, type and retry factor already read)
// from r and the row's stored params and inputs, or reports the row bad,
// saying why, when those do not decode.
func (r leaseRow) decode(it *cairn.WorkItem, params, inputs []byte) (badRow, bool) {
	it.Lease.Attempt, it.Retry.Retries, it.Retry.MaxInterruptions = int(r.attempt), int(r.retries), int(r.maxIntr)
	it.Interrupted, it.InterruptedInARow, it.FailedBefore, it.Cache = int(r.intr), int(r.streak), int(r.fb), r.cache != 0
	if badParams, badInputs, err := sqlrow.WorkItemStored(it, params, inputs); err != nil {
		return badRow{runID: it.Lease.RunID, taskID: it.Lease.TaskID, badParams: badParams, badInputs: badInputs, err: err}, true
	}
	it.Timeout, it.Retry.Backoff, it.Retry.MaxBackoff = time.Duration(r.timeout), time.Duration(r.backoff), time.Duration(r.maxBackoff)
	return badRow{}, false
}

// failBadRow fails a ready task whose stored values cannot be handed to a
// worker (see store/sqlite's failBadRow).
func (s *Store) failBadRow(ctx context.Context, tx pgx.Tx, b badRow, now time.Time) error {
	msg := fmt.Sprintf("cannot be run: %v; the database was changed by hand or is damaged (the bad value was cleared; start a new run)", b.err)
	n, err := s.exec(ctx, tx, `UPDATE task_runs SET state = 'failed', error = $1, finished_at = $2, ready_gen = NULL,
	params = CASE WHEN $3 THEN NULL ELSE params END, inputs = CASE WHEN $4 THEN NULL ELSE inputs END, version = version + 1
WHERE run_id = $5 AND task_id = $6 AND state = 'ready'`, msg, now.UnixNano(), b.badParams, b.badInputs, b.runID, b.taskID)
	if err != nil {
		return fmt.Errorf("fail task %s/%s: %w", b.runID, b.taskID, err)
	}
	if n != 1 {
		return fmt.Errorf("fail task %s/%s: task left ready within the transaction (%d rows)", b.runID, b.taskID, n)
	}
	_, err = s.addEvaluation(ctx, tx, scheduler.Evaluation{RunID: b.runID, TaskID: b.taskID, Reason: scheduler.EvalCompleted,
		CreatedAt: now, DueAt: now})
	return err
}

func anyReadyQuery(r cairn.LeaseRequest) (string, []any) {
	var (
		q    string
		args []any
	)
	switch {
	case r.RunID != "":
		q, args = `SELECT EXISTS (SELECT 1 FROM task_runs t WHERE t.state = 'ready' AND t.run_id = $1`, []any{r.RunID}
	case r.Owner != "":
		q, args = `SELECT EXISTS (SELECT 1 FROM task_runs t JOIN runs ON runs.id = t.run_id
WHERE t.state = 'ready' AND runs.owner = $1`, []any{r.Owner}
	default:
		q = `SELECT EXISTS (SELECT 1 FROM task_runs t WHERE t.state = 'ready'`
	}
	route, args := routeFilter(r, args)
	return q + route + `)`, args
}

// anyReady looks for a ready task r may take, after indexPlanner (on a
// pool, in the batch's implicit transaction).
func (s *Store) anyReady(ctx context.Context, q batcher, r cairn.LeaseRequest) (bool, error) {
	query, args := anyReadyQuery(r)
	var ok bool
	if err := s.queryRowIndexed(ctx, q, query, args, &ok); err != nil {
		return false, err
	}
	return ok, nil
}

// AnyReady reports whether some task run is ready for r, as of the
// batch's transaction.
func (b *batchTx) AnyReady(r cairn.LeaseRequest) (bool, error) {
	var ok bool
	err := b.run(func(ctx context.Context, tx pgx.Tx) error {
		var err error
		ok, err = b.s.anyReady(ctx, tx, r)
		return err
	}, true)
	if err != nil {
		return false, fmt.Errorf("look for ready tasks: %w", err)
	}
	return ok, nil
}

func leaseName(l cairn.Lease) string { return fmt.Sprintf("%s/%s#%d", l.RunID, l.TaskID, l.Attempt) }

// StartAttempt moves a leased task run to running if l is its current,
// unexpired lease. Otherwise cairn.ErrLeaseLost and nothing changes.
func (s *Store) StartAttempt(ctx context.Context, l cairn.Lease, now time.Time) error {
	err := s.inTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		n, err := s.exec(ctx, tx, `UPDATE task_runs SET state = 'running', attempt_running_at = $1,
	attempt_due_at = `+s.clock(1)+` + `+dueAfter("task_runs")+`, version = version + 1
WHERE run_id = $2 AND task_id = $3 AND attempt = $4 AND lease_token = $5 AND state = 'leased' AND lease_expires_at > `+s.clock(1),
			now.UnixNano(), l.RunID, l.TaskID, l.Attempt, l.Token)
		if err != nil {
			return err
		}
		if n == 0 {
			return cairn.ErrLeaseLost
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("start attempt %s: %w", leaseName(l), err)
	}
	return nil
}

// Heartbeat extends l to now+ttl if it is the task's current, unexpired
// lease, and reports whether the run is being cancelled.
func (s *Store) Heartbeat(ctx context.Context, l cairn.Lease, now time.Time, ttl time.Duration) (cairn.HeartbeatReply, error) {
	res, err := s.HeartbeatMany(ctx, []cairn.Lease{l}, now, ttl)
	if err != nil {
		return cairn.HeartbeatReply{}, fmt.Errorf("heartbeat %s: %w", leaseName(l), errors.Unwrap(err))
	}
	return res[0].Reply, res[0].Err
}

// HeartbeatMany extends each of leases to now+ttl, as Heartbeat does one,
// in one statement whatever their number. The attempts of pooled tasks
// cancelled while running have their holds on the pools' slots renewed
// instead (sqlrow.HoldOnCancel), with CancelRequested: a second statement,
// only for the leases the first did not renew.
func (s *Store) HeartbeatMany(ctx context.Context, leases []cairn.Lease, now time.Time, ttl time.Duration) ([]cairn.HeartbeatResult, error) {
	out := make([]cairn.HeartbeatResult, len(leases))
	if len(leases) == 0 {
		return out, nil
	}
	if ttl <= 0 {
		return nil, fmt.Errorf("heartbeat %d leases: ttl %v is not positive", len(leases), ttl)
	}
	expires := now.Add(ttl)
	type key struct {
		runID, taskID string
		attempt       int
		token         string
	}
	renewed := make(map[key]bool, len(leases))
	runs, tasks, attempts, tokens := leaseArrays(leases)
	err := s.inTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		clear(renewed)
		// A running attempt's lease lasts until its due time (its timeout
		// and cairn.TimeoutGrace over) plus the TTL at most, and is not
		// renewed from then on: the server ends an attempt that overran
		// its timeout whatever its worker says.
		rows, err := s.query(ctx, tx, `UPDATE task_runs t SET lease_expires_at = least(`+s.clock(5)+` + $6, coalesce(t.attempt_due_at + $6, `+s.clock(5)+` + $6))
FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[]) AS v(run_id, task_id, attempt, token)
WHERE t.run_id = v.run_id AND t.task_id = v.task_id AND t.attempt = v.attempt AND t.lease_token = v.token
	AND t.state IN ('leased', 'running') AND t.lease_expires_at > `+s.clock(5)+`
	AND (t.attempt_due_at IS NULL OR t.attempt_due_at + $6 > `+s.clock(5)+`)
RETURNING t.run_id, t.task_id, t.attempt, t.lease_token, (SELECT cancel_requested FROM runs WHERE runs.id = t.run_id)`,
			runs, tasks, attempts, tokens, now.UnixNano(), int64(ttl))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				k       key
				attempt int64
				cancel  int64
			)
			if err := rows.Scan(&k.runID, &k.taskID, &attempt, &k.token, &cancel); err != nil {
				return translate(err)
			}
			k.attempt = int(attempt)
			renewed[k] = cancel != 0
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return translate(err)
		}
		// A lease not renewed may be an attempt its run's cancel ended
		// while it ran: its hold on its pool's slots is renewed instead,
		// and its worker told to stop it.
		var rest []cairn.Lease
		for _, l := range leases {
			if _, ok := renewed[key{l.RunID, l.TaskID, l.Attempt, l.Token}]; !ok {
				rest = append(rest, l)
			}
		}
		if len(rest) == 0 {
			return nil
		}
		return s.renewHolds(ctx, tx, rest, now, ttl, func(run, task string, attempt int, token string) {
			renewed[key{run, task, attempt, token}] = true
		})
	})
	if err != nil {
		return nil, fmt.Errorf("heartbeat %d leases: %w", len(leases), err)
	}
	for i, l := range leases {
		cancel, ok := renewed[key{l.RunID, l.TaskID, l.Attempt, l.Token}]
		if !ok {
			out[i].Err = fmt.Errorf("heartbeat %s: %w", leaseName(l), cairn.ErrLeaseLost)
			continue
		}
		out[i].Reply = cairn.HeartbeatReply{ExpiresAt: expires, CancelRequested: cancel}
	}
	return out, nil
}

// leaseCheck says which leases a completion accepts.
type leaseCheck int

const (
	leaseLive    leaseCheck = iota // expires_at > now: Complete
	leaseExpired                   // expires_at <= now: Expire
	leaseAny                       // Expire with force
)

// cond is the condition on the lease's expiry of t, the caller's now being
// parameter $n.
func (s *Store) cond(check leaseCheck, t string, n int) string {
	switch check {
	case leaseExpired:
		return t + `.lease_expires_at <= ` + s.clock(n)
	case leaseAny:
		return `$` + fmt.Sprint(n) + `::bigint IS NOT NULL`
	}
	return t + `.lease_expires_at > ` + s.clock(n)
}

// Complete ends the attempt l holds as c says, if l is the task's current,
// unexpired lease, with an evaluation of the run.
func (s *Store) Complete(ctx context.Context, l cairn.Lease, c cairn.Completion, now time.Time) (*cairn.TaskRun, error) {
	var t *cairn.TaskRun
	fn, err := s.finishFn(l, c, now, leaseLive, &t)
	if err == nil {
		err = s.inTx(ctx, s.withEval(fn, completionEval(l, c, now, scheduler.EvalCompleted)))
	}
	if err != nil {
		return nil, fmt.Errorf("complete attempt %s: %w", leaseName(l), err)
	}
	return t, nil
}

func completionEval(l cairn.Lease, c cairn.Completion, now time.Time, reason string) scheduler.Evaluation {
	e := scheduler.Evaluation{RunID: l.RunID, TaskID: l.TaskID, Reason: reason, CreatedAt: now, DueAt: now}
	if c.State == cairn.TaskRetrying && c.RetryAt.After(now) {
		e.Reason, e.DueAt = scheduler.EvalRetry, c.RetryAt
	}
	return e
}

func (s *Store) withEval(fn txFn, e scheduler.Evaluation) txFn {
	return func(ctx context.Context, tx pgx.Tx) error {
		if err := fn(ctx, tx); err != nil {
			return err
		}
		_, err := s.addEvaluation(ctx, tx, e)
		return err
	}
}

// Expire ends lease l as Complete does, on behalf of a holder that can no
// longer complete it: expired by now, or with force any current lease.
func (s *Store) Expire(ctx context.Context, l cairn.Lease, c cairn.Completion, now time.Time, force bool) (*cairn.TaskRun, error) {
	var t *cairn.TaskRun
	fn, err := s.finishFn(l, c, now, expireCheck(force), &t)
	if err == nil {
		err = s.inTx(ctx, s.withEval(fn, completionEval(l, c, now, scheduler.EvalExpired)))
	}
	if err != nil {
		return nil, fmt.Errorf("expire attempt %s: %w", leaseName(l), err)
	}
	return t, nil
}

func expireCheck(force bool) leaseCheck {
	if force {
		return leaseAny
	}
	return leaseExpired
}

func (s *Store) finishFn(l cairn.Lease, c cairn.Completion, now time.Time, check leaseCheck, out **cairn.TaskRun) (txFn, error) {
	if _, err := sqlrow.EncodeFinish(l, c, now); err != nil {
		return nil, err
	}
	return func(ctx context.Context, tx pgx.Tx) error {
		trs, errs, err := s.completeMany(ctx, tx, []scheduler.Finish{{Lease: l, Completion: c}}, now, check, nil)
		if err != nil {
			return err
		}
		if errs[0] != nil {
			if errors.Is(errs[0], cairn.ErrLeaseLost) {
				return cairn.ErrLeaseLost
			}
			return errs[0]
		}
		*out = trs[0]
		return nil
	}, nil
}

func (b *batchTx) Complete(l cairn.Lease, c cairn.Completion, now time.Time) (*cairn.TaskRun, error) {
	var t *cairn.TaskRun
	fn, err := b.s.finishFn(l, c, now, leaseLive, &t)
	if err == nil {
		err = b.run(fn, true)
	}
	if err != nil {
		return nil, fmt.Errorf("complete attempt %s: %w", leaseName(l), err)
	}
	return t, nil
}

func (b *batchTx) Expire(l cairn.Lease, c cairn.Completion, now time.Time, force bool) (*cairn.TaskRun, error) {
	var t *cairn.TaskRun
	fn, err := b.s.finishFn(l, c, now, expireCheck(force), &t)
	if err == nil {
		err = b.run(fn, true)
	}
	if err != nil {
		return nil, fmt.Errorf("expire attempt %s: %w", leaseName(l), err)
	}
	return t, nil
}

const defaultExpiredLimit = 100

// dueAfter is the SQL of how long after it began running an attempt of
// the task_runs row t is due (cairn.TimeoutGrace past its timeout), NULL
// for a task without a timeout: added to the start on the store's clock,
// it gives attempt_due_at.
func dueAfter(t string) string {
	return "nullif(" + t + ".timeout_ns, 0) + " + strconv.FormatInt(int64(cairn.TimeoutGrace), 10)
}

// leaseExpiry is a lease's expiry in the caller's terms (see Open), the
// caller's now being $1.
func (s *Store) leaseExpiry() string {
	if s.callerClock {
		return "lease_expires_at + 0 * $1::bigint"
	}
	return "lease_expires_at - " + s.clock(1) + " + $1"
}

// ExpiredLeases lists up to limit (100 if limit <= 0) leases that have
// expired by now (exactly those Expire accepts without force), soonest
// expired first, only run runID's unless runID is "".
func (s *Store) ExpiredLeases(ctx context.Context, runID string, now time.Time, limit int) ([]cairn.Lease, error) {
	if limit <= 0 {
		limit = defaultExpiredLimit
	}
	ls, err := s.queryLeases(ctx, `SELECT run_id, task_id, attempt, lease_token, lease_worker, `+s.leaseExpiry()+`,
	coalesce(lease_expires_at >= attempt_due_at, false) FROM task_runs
WHERE lease_token IS NOT NULL AND lease_expires_at <= `+s.clock(1)+` AND ($2 = '' OR run_id = $2)
ORDER BY lease_expires_at LIMIT $3`, now.UnixNano(), runID, limit)
	if err != nil {
		return nil, fmt.Errorf("list expired leases: %w", err)
	}
	return ls, nil
}

// ActiveLeases lists the leases of run runID's leased or running task
// runs, soonest expiring first.
func (s *Store) ActiveLeases(ctx context.Context, runID string) ([]cairn.Lease, error) {
	ls, err := s.queryLeases(ctx, `SELECT run_id, task_id, attempt, lease_token, lease_worker, `+s.leaseExpiry()+`,
	coalesce(lease_expires_at >= attempt_due_at, false) FROM task_runs
WHERE lease_token IS NOT NULL AND run_id = $2 ORDER BY lease_expires_at, task_id`, time.Now().UnixNano(), runID)
	if err != nil {
		return nil, fmt.Errorf("list active leases of %s: %w", runID, err)
	}
	return ls, nil
}

func (s *Store) queryLeases(ctx context.Context, sql string, args ...any) ([]cairn.Lease, error) {
	rows, err := s.db.Query(ctx, sql, args...)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	out := []cairn.Lease{}
	for rows.Next() {
		var (
			l       cairn.Lease
			attempt int64
			expires *int64
		)
		if err := rows.Scan(&l.RunID, &l.TaskID, &attempt, &l.Token, &l.Worker, &expires, &l.PastDue); err != nil {
			return nil, translate(err)
		}
		l.Attempt, l.ExpiresAt = int(attempt), fromNanos(expires)
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, translate(err)
	}
	return out, nil
}

// GiveBack puts leased task runs whose attempts never began back in the
// queue (scheduler.LeaseStore), one statement a lease: a pool gives back
// the few it leased ahead, and seldom. The claim of claimSet undone, but
// for the queue's place (the end) and the lease's times, which are
// cleared; the processes waiting for ready tasks are told.
func (s *Store) GiveBack(ctx context.Context, leases []cairn.Lease, now time.Time) ([]*cairn.TaskRun, error) {
	trs := make([]*cairn.TaskRun, len(leases))
	if len(leases) == 0 {
		return trs, nil
	}
	err := s.inTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		clear(trs)
		for i, l := range leases {
			rows, err := s.query(ctx, tx, `WITH n AS (SELECT pg_notify('`+channelReady+`', '')), g AS (SELECT nextval('task_runs_ready_gen') AS gen)
UPDATE task_runs t SET state = 'ready', attempt = t.attempt - 1, lease_token = NULL, lease_worker = NULL,
	lease_expires_at = NULL, ready_gen = g.gen, started_at = CASE WHEN t.attempt = 1 THEN NULL ELSE t.started_at END,
	attempt_started_at = NULL, attempt_running_at = NULL, attempt_due_at = NULL, version = t.version + 1
FROM g, n
WHERE t.run_id = $1 AND t.task_id = $2 AND t.attempt = $3 AND t.lease_token = $4 AND t.state IN ('leased', 'running')
RETURNING `+sqlrow.Prefixed("t.", sqlrow.TaskCols), l.RunID, l.TaskID, l.Attempt, l.Token)
			if err != nil {
				return fmt.Errorf("give back %s: %w", leaseName(l), err)
			}
			for rows.Next() {
				if trs[i], err = sqlrow.TaskRun(rows); err != nil {
					rows.Close()
					return fmt.Errorf("give back %s: %w", leaseName(l), translate(err))
				}
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return fmt.Errorf("give back %s: %w", leaseName(l), translate(err))
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return trs, nil
}
