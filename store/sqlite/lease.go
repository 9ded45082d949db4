package sqlite

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/store/internal/sqlrow"
)

// Lease claims up to r.Max ready task runs for r.Worker, those made ready
// earliest first (then by run and creation order), only run r.RunID's when
// it is set, only those of runs r.Owner holds when that is set. Each
// becomes leased (and running, with r.Start) with its attempt count one
// higher, a new attempt row, a fresh token and expiry now+ttl. It returns
// an empty slice when nothing is ready; that case is answered from a read
// connection, without taking the write lock. A ready task whose stored
// params or inputs do not decode fails alone (see scheduler.LeaseStore).
func (s *Store) Lease(ctx context.Context, r cairn.LeaseRequest, now time.Time, ttl time.Duration) ([]cairn.WorkItem, error) {
	if r.Total() <= 0 {
		return []cairn.WorkItem{}, nil
	}
	if ttl <= 0 {
		return nil, fmt.Errorf("lease for %s: ttl %v is not positive", r.Worker, ttl)
	}
	if ready, err := s.anyReady(ctx, r); err != nil || !ready {
		return []cairn.WorkItem{}, err
	}
	var items []cairn.WorkItem
	asked := time.Now()
	if err := s.inTxCAS(ctx, func(ctx context.Context, tx *sql.Conn) error {
		// Granted when the write lock is held, not when asked for.
		return s.leaseFn(r, cairn.GrantedAt(now, asked), ttl, &items)(ctx, tx)
	}); err != nil {
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
// rooms has room for (poolFilter) when m.pooled; its last argument is the
// limit, which the caller appends. Its run, owner and limit are bound as
// expressions the planner does not look into (textArg, limitArg).
func leaseSelect(r cairn.LeaseRequest, m leaseMode, rooms map[string]*poolRoom) (query string, args []any) {
	const cols = `SELECT t.run_id, t.task_id, t.attempt, t.type, t.params, t.inputs, t.timeout_ns, t.retries, t.backoff_ns,
	t.backoff_factor, t.max_backoff_ns, t.max_interruptions, t.interrupted, t.interrupted_streak, t.failed_before, t.cache,
	t.pool, t.pool_slots
FROM task_runs t`
	route, rargs := routeFilter(r)
	if m.pooled {
		pool, pargs := poolFilter(rooms)
		route, rargs = route+pool, append(rargs, pargs...)
	} else {
		route += ` AND t.pool = ''` // none is ready (the one writer: none becomes so)
	}
	switch {
	case r.RunID != "" && r.Owner != "":
		return cols + ` JOIN runs ON runs.id = t.run_id WHERE t.state = 'ready' AND t.run_id = ` + textArg + ` AND runs.owner = ` + textArg + route +
			queueOrder(m, true) + limitArg, append([]any{r.RunID, r.Owner}, rargs...)
	case r.RunID != "":
		return cols + ` WHERE t.state = 'ready' AND t.run_id = ` + textArg + route + queueOrder(m, true) + limitArg,
			append([]any{r.RunID}, rargs...)
	case r.Owner != "":
		// CROSS JOIN keeps task_runs the outer loop: the lease queue's
		// index gives the rows in order and the scan stops at the limit,
		// where SQLite would otherwise go through every run owner holds
		// and sort all of their ready tasks, on every lease.
		return cols + ` CROSS JOIN runs ON runs.id = t.run_id WHERE t.state = 'ready' AND runs.owner = ` + textArg + route +
			queueOrder(m, false) + limitArg, append([]any{r.Owner}, rargs...)
	}
	return cols + ` WHERE t.state = 'ready'` + route + queueOrder(m, false) + limitArg, rargs
}

// Bound values the planner does not look into. SQLite (3.54 here) plans
// some statements with the values bound to them — a plain `LIMIT ?`, and
// a column compared with `= ?` in a statement that orders its rows — and
// then marks the statement to be prepared again, parsed and planned, each
// time a value is bound to it, which database/sql does at every execution.
// A lease's select had both: on a fan of 10,000 noop tasks on 8 workers
// every lease parsed and planned it anew (sqlite3Reprepare, 6–8 % of the
// run's CPU). The same parameter inside a CAST is an expression the planner
// takes as a constant without reading it: the plan is the one it made for
// any value (the queue's index, the rows in its order, no sort), made
// once. TestHopStatementsNotReprepared counts the preparations and
// TestLeasePlans checks the plans.
const (
	textArg  = `CAST(? AS TEXT)`
	limitArg = ` LIMIT CAST(? AS INTEGER)`
)

// routeFilter is the condition on task_runs t that keeps the tasks r may
// take (cairn.LeaseRequest.Takes), with its args: nothing with AnyTask;
// otherwise the task's queue among r's (the default one when r names
// none) and each of its labels, as "key=value", among r's. The common
// case, a worker with no labels on the default queue, is two comparisons
// on the row (labels IS NULL, an empty queue). A label's key has no '=',
// so "key=value" names one pair.
func routeFilter(r cairn.LeaseRequest) (string, []any) {
	if r.AnyTask {
		return "", nil
	}
	var (
		sb   strings.Builder
		args []any
	)
	if len(r.Queues) == 0 {
		sb.WriteString(` AND t.queue = ''`)
	} else {
		sb.WriteString(` AND t.queue IN (`)
		for i, q := range r.Queues {
			if i > 0 {
				sb.WriteString(", ")
			}
			sb.WriteByte('?')
			args = append(args, cairn.StoredQueue(q))
		}
		sb.WriteByte(')')
	}
	if r.Types != nil {
		// One statement text whatever the types: a JSON array.
		b, _ := json.Marshal(r.Types) // strings always encode
		sb.WriteString(` AND t.type IN (SELECT value FROM json_each(?))`)
		args = append(args, string(b))
	}
	if len(r.Labels) == 0 {
		sb.WriteString(` AND t.labels IS NULL`)
		return sb.String(), args
	}
	sb.WriteString(` AND (t.labels IS NULL OR NOT EXISTS (SELECT 1 FROM json_each(t.labels) j WHERE j.key || '=' || j.value NOT IN (`)
	keys := make([]string, 0, len(r.Labels))
	for k := range r.Labels {
		keys = append(keys, k)
	}
	slices.Sort(keys) // one statement text per set of labels
	for i, k := range keys {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteByte('?')
		args = append(args, k+"="+r.Labels[k])
	}
	sb.WriteString(`)))`)
	return sb.String(), args
}

// badRow is a ready task whose stored values do not decode.
type badRow struct {
	runID, taskID        string
	badParams, badInputs bool // which stored values do not decode
	err                  error
}

// leaseFn is the body of a lease transaction; it sets *out.
//
// It selects up to r.Total() ready tasks and claims the good ones, for
// r's workers in order (cairn.LeaseRequest.Holders); a bad row
// among them fails (failBadRow), which takes it out of the ready queue,
// and the selection is made again for the places it took, so that a bad
// row never costs the caller a task it could have had (a lease of one
// whose first ready task was bad would otherwise return nothing, and the
// pool wait for a wake-up with work ready). Each round fails at least one
// row or ends, so it ends.
func (s *Store) leaseFn(r cairn.LeaseRequest, now time.Time, ttl time.Duration, out *[]cairn.WorkItem) txFn {
	return func(ctx context.Context, tx *sql.Conn) error {
		items := []cairn.WorkItem{}
		*out = items
		total := r.Total()
		if total <= 0 {
			return nil
		}
		state := cairn.TaskLeased
		var running any
		if r.Start {
			state, running = cairn.TaskRunning, now.UnixNano()
		}
		expires := now.Add(ttl)
		m, err := s.leaseMode(ctx, tx)
		if err != nil {
			return err
		}
		var rooms map[string]*poolRoom
		if m.pooled {
			if rooms, err = s.poolRooms(ctx, tx, now); err != nil {
				return err
			}
		}
		for len(items) < total {
			query, args := leaseSelect(r, m, rooms)
			got, slots, bad, err := s.scanReady(query, args, total-len(items))
			if err != nil {
				return err
			}
			for _, b := range bad {
				if err := s.failBadRow(ctx, tx, b, now); err != nil {
					return err
				}
			}
			refused := false
			if m.pooled {
				got, refused = grant(got, slots, rooms)
			}
			holders := r.Holders(len(items) + len(got))[len(items):]
			for i := range got {
				it := &got[i]
				it.Lease.Attempt++
				it.Lease.Token = cairn.NewToken()
				it.Lease.Worker = holders[i]
				it.Lease.ExpiresAt = expires
				it.Started = r.Start
			}
			if err := s.claimReady(ctx, tx, got, state, expires, now, running); err != nil {
				return err
			}
			if len(items) == 0 {
				items = got // the first selection's, not copied
			} else {
				items = append(items, got...)
			}
			// Fewer ready than asked for, or all of them leased. A bad
			// row failed, or a pool refused a task (and is left out of
			// the next selection): select again for the places they took.
			if len(bad) == 0 && !refused {
				break
			}
		}
		if len(items) == 0 {
			return nil
		}
		*out = items
		return nil
	}
}

// readyCap is the room a selection of at most limit ready tasks starts
// with: all of it up to 256 (a completion batch's lease takes about 200
// tasks of a fan; grown from 64 they were copied twice, a WorkItem is 300
// bytes), so that a large limit with few tasks ready does not allocate
// for it.
func readyCap(limit int) int { return min(limit, 256) }

// scanReady runs the lease query for at most limit ready tasks (its last
// value) and splits them into work items (attempt, token and lease not
// yet set) and bad rows. It reads past database/sql (queryRawRows), each
// value converted as database/sql's Scan would convert it, and refused
// where Scan would refuse it (rawCols); each row is read into its place
// in items, which has room for the first 256 from the start (readyCap).
func (s *Store) scanReady(query string, args []any, limit int) (items []cairn.WorkItem, slots []int, bad []badRow, err error) {
	items, slots = make([]cairn.WorkItem, 0, readyCap(limit)), make([]int, 0, readyCap(limit))
	err = s.queryRawRows(query, append(args, limit), 18, func(v []driver.Value) error {
		items = append(items, cairn.WorkItem{})
		it := &items[len(items)-1]
		var (
			c                                       rawCols
			params, inputs                          []byte
			timeout, backoff, maxBackoff, poolSlots int64
		)
		c.text(v[0], &it.Lease.RunID)
		c.text(v[1], &it.Lease.TaskID)
		c.int(v[2], &it.Lease.Attempt)
		c.text(v[3], &it.Type)
		c.bytes(v[4], &params)
		c.bytes(v[5], &inputs)
		c.int64(v[6], &timeout)
		c.int(v[7], &it.Retry.Retries)
		c.int64(v[8], &backoff)
		c.float(v[9], &it.Retry.Factor)
		c.int64(v[10], &maxBackoff)
		c.int(v[11], &it.Retry.MaxInterruptions)
		c.int(v[12], &it.Interrupted)
		c.int(v[13], &it.InterruptedInARow)
		c.int(v[14], &it.FailedBefore)
		c.bool(v[15], &it.Cache)
		c.text(v[16], &it.Pool)
		c.int64(v[17], &poolSlots)
		if c.err != nil {
			return fmt.Errorf("read a ready task: %w", c.err)
		}
		if badParams, badInputs, err := sqlrow.WorkItemStored(it, params, inputs); err != nil {
			bad = append(bad, badRow{runID: it.Lease.RunID, taskID: it.Lease.TaskID, badParams: badParams, badInputs: badInputs, err: err})
			items = items[:len(items)-1]
			return nil
		}
		it.Timeout, it.Retry.Backoff, it.Retry.MaxBackoff = time.Duration(timeout), time.Duration(backoff), time.Duration(maxBackoff)
		it.PoolSlots = int(poolSlots)
		slots = append(slots, int(poolSlots))
		return nil
	})
	if err != nil {
		return nil, nil, nil, err
	}
	return items, slots, bad, nil
}

// rawCols converts the values of a row as go-sqlite3 gives them (an
// INTEGER an int64, a REAL a float64, a TEXT a string or []byte, NULL nil)
// into variables as database/sql's Scan would, keeping the first value it
// cannot convert as err.
type rawCols struct{ err error }

func (c *rawCols) fail(v driver.Value, into string) {
	if c.err == nil {
		c.err = fmt.Errorf("cannot read %T %v as %s", v, v, into)
	}
}

func (c *rawCols) text(v driver.Value, dst *string) {
	if t, ok := rawText(v); ok {
		*dst = t
		return
	}
	c.fail(v, "text")
}

func (c *rawCols) bytes(v driver.Value, dst *[]byte) {
	switch t := v.(type) {
	case nil:
		*dst = nil
	case string:
		*dst = []byte(t)
	case []byte:
		*dst = bytes.Clone(t)
	default:
		c.fail(v, "bytes")
	}
}

func (c *rawCols) int64(v driver.Value, dst *int64) {
	if n, ok := v.(int64); ok {
		*dst = n
		return
	}
	c.fail(v, "an integer")
}

func (c *rawCols) int(v driver.Value, dst *int) {
	var n int64
	c.int64(v, &n)
	*dst = int(n)
}

func (c *rawCols) float(v driver.Value, dst *float64) {
	switch t := v.(type) {
	case float64:
		*dst = t
	case int64:
		*dst = float64(t)
	default:
		c.fail(v, "a number")
	}
}

// bool is 0 or 1, as Scan reads an integer into a bool (strconv.ParseBool
// of its digits: any other integer is refused).
func (c *rawCols) bool(v driver.Value, dst *bool) {
	switch v {
	case int64(0):
		*dst = false
	case int64(1):
		*dst = true
	default:
		c.fail(v, "a boolean")
	}
}

// claimReadyCols is the width of a row of claimReadyQuery's list.
const claimReadyCols = 5

// claimReadyQuery leases a list of ready tasks, for size rows.
func claimReadyQuery(size int) string { return claimReadyQueryTexts.get(size, buildClaimReadyQuery) }

var claimReadyQueryTexts sizedQueries

func buildClaimReadyQuery(size int) string {
	return setQuery(size, "run_id, task_id, attempt, token, worker", `UPDATE OR FAIL task_runs SET state = ?, attempt = v.attempt, lease_token = v.token, lease_worker = v.worker, lease_expires_at = ?,
	ready_gen = NULL, retry_at = NULL, started_at = coalesce(task_runs.started_at, ?), attempt_started_at = ?,
	attempt_running_at = ?, attempt_due_at = ? + `+dueAfter+`, version = task_runs.version + 1
FROM v WHERE task_runs.run_id = v.run_id AND task_runs.task_id = v.task_id AND task_runs.state = 'ready'`)
}

// claimReady leases the ready tasks of items (their leases set, holder
// included) in one statement per maxSetRows.
func (s *Store) claimReady(ctx context.Context, tx *sql.Conn, items []cairn.WorkItem, state cairn.TaskState,
	expires, now time.Time, running any) error {
	return eachChunk(items, func(chunk []cairn.WorkItem, size int) error {
		args := s.argList(size*claimReadyCols + 7)
		defer func() { s.keepArgs(args) }()
		for _, it := range chunk {
			args = append(args, it.Lease.RunID, it.Lease.TaskID, it.Lease.Attempt, it.Lease.Token, it.Lease.Worker)
		}
		args = append(padArgs(args, len(chunk), size, claimReadyCols), string(state), expires.UnixNano(), now.UnixNano(),
			now.UnixNano(), running, running)
		n, err := s.exec(ctx, tx, claimReadyQuery(size), args...)
		if err != nil {
			return err
		}
		// The writer lock is held since the select: this cannot miss.
		if n != int64(len(chunk)) {
			return fmt.Errorf("lease %d tasks: %d left ready within the transaction", len(chunk), int64(len(chunk))-n)
		}
		return nil
	})
}

// failBadRow fails a ready task whose stored values cannot be handed to a
// worker, permanently and saying why, and records an evaluation of its
// run so that its downstream tasks are planned: one bad row must not
// stop every lease (the whole transaction would roll back, over and
// over). The values that do not decode are cleared (the error says
// which), or the task, and with it its whole run, could not be read again
// to be planned to its end.
func (s *Store) failBadRow(ctx context.Context, tx *sql.Conn, b badRow, now time.Time) error {
	msg := fmt.Sprintf("cannot be run: %v; the database was changed by hand or is damaged (the bad value was cleared; start a new run)", b.err)
	n, err := s.exec(ctx, tx, `UPDATE task_runs SET state = 'failed', error = ?, finished_at = ?, ready_gen = NULL,
	params = CASE WHEN ? THEN NULL ELSE params END, inputs = CASE WHEN ? THEN NULL ELSE inputs END, version = version + 1
WHERE run_id = ? AND task_id = ? AND state = 'ready'`, msg, now.UnixNano(), boolInt(b.badParams), boolInt(b.badInputs), b.runID, b.taskID)
	if err != nil {
		return fmt.Errorf("fail task %s/%s: %w", b.runID, b.taskID, err)
	}
	if n != 1 {
		// The writer lock is held since the select: this cannot miss,
		// and a row left ready would be selected again.
		return fmt.Errorf("fail task %s/%s: task left ready within the transaction (%d rows)", b.runID, b.taskID, n)
	}
	_, err = s.addEvaluation(ctx, tx, scheduler.Evaluation{RunID: b.runID, TaskID: b.taskID, Reason: scheduler.EvalCompleted,
		CreatedAt: now, DueAt: now})
	return err
}

// anyReadyQuery is the query of whether some task run is ready for r.
func anyReadyQuery(r cairn.LeaseRequest) (string, []any) {
	route, rargs := routeFilter(r)
	switch {
	case r.RunID != "":
		return `SELECT EXISTS (SELECT 1 FROM task_runs t WHERE t.state = 'ready' AND t.run_id = ?` + route + `)`,
			append([]any{r.RunID}, rargs...)
	case r.Owner != "":
		return `SELECT EXISTS (SELECT 1 FROM task_runs t CROSS JOIN runs ON runs.id = t.run_id
WHERE t.state = 'ready' AND runs.owner = ?` + route + `)`, append([]any{r.Owner}, rargs...)
	}
	return `SELECT EXISTS (SELECT 1 FROM task_runs t WHERE t.state = 'ready'` + route + `)`, rargs
}

// anyReady reports whether some task run is ready for r, reading from the
// read pool.
func (s *Store) anyReady(ctx context.Context, r cairn.LeaseRequest) (bool, error) {
	q, args := anyReadyQuery(r)
	var ok bool
	err := s.reading(ctx, q, func(ctx context.Context, st *sql.Stmt) error {
		return translate(st.QueryRowContext(ctx, args...).Scan(&ok))
	})
	if err != nil {
		return false, fmt.Errorf("lease: %w", err)
	}
	return ok, nil
}

// AnyReady reports whether some task run is ready for r, as of the
// batch's transaction.
func (b *batchTx) AnyReady(r cairn.LeaseRequest) (bool, error) {
	var ok bool
	err := b.run(func(ctx context.Context, tx *sql.Conn) error {
		q, args := anyReadyQuery(r)
		st, err := b.s.txStmt(ctx, tx, q)
		if err != nil {
			return err
		}
		b.s.stmts.Add(1)
		return translate(st.QueryRowContext(ctx, args...).Scan(&ok))
	}, true)
	if err != nil {
		return false, fmt.Errorf("look for ready tasks: %w", err)
	}
	return ok, nil
}

// leaseName is how errors name a lease: run/task#attempt.
func leaseName(l cairn.Lease) string { return fmt.Sprintf("%s/%s#%d", l.RunID, l.TaskID, l.Attempt) }

// StartAttempt moves a leased task run to running if l is its current,
// unexpired lease. Otherwise cairn.ErrLeaseLost and nothing changes.
func (s *Store) StartAttempt(ctx context.Context, l cairn.Lease, now time.Time) error {
	err := s.inTxCAS(ctx, func(ctx context.Context, tx *sql.Conn) error {
		n, err := s.exec(ctx, tx, `UPDATE task_runs SET state = 'running', attempt_running_at = ?, attempt_due_at = ? + `+dueAfter+`, version = version + 1
WHERE run_id = ? AND task_id = ? AND attempt = ? AND lease_token = ? AND state = 'leased' AND lease_expires_at > ?`,
			now.UnixNano(), now.UnixNano(), l.RunID, l.TaskID, l.Attempt, l.Token, now.UnixNano())
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
// lease, and reports whether the run is being cancelled. It does not
// change the task run's Version: the lease's expiry is not part of the
// task's state. The attempt of a pooled task cancelled while running has
// its hold on the pool's slots renewed instead, and is told its run is
// cancelled (see HeartbeatMany). Otherwise cairn.ErrLeaseLost.
func (s *Store) Heartbeat(ctx context.Context, l cairn.Lease, now time.Time, ttl time.Duration) (cairn.HeartbeatReply, error) {
	if ttl <= 0 {
		return cairn.HeartbeatReply{}, fmt.Errorf("heartbeat %s: ttl %v is not positive", leaseName(l), ttl)
	}
	expires := now.Add(ttl)
	var cancel int
	err := s.inTxCAS(ctx, func(ctx context.Context, tx *sql.Conn) error {
		// Up to a running attempt's due time plus the TTL, as HeartbeatMany.
		st, err := s.txStmt(ctx, tx, `UPDATE task_runs SET lease_expires_at = min(?, coalesce(attempt_due_at + ?, ?))
WHERE run_id = ? AND task_id = ? AND attempt = ? AND lease_token = ? AND state IN ('leased', 'running')
	AND lease_expires_at > ? AND (attempt_due_at IS NULL OR attempt_due_at + ? > ?)
RETURNING (SELECT cancel_requested FROM runs INDEXED BY runs_id_small WHERE runs.id = task_runs.run_id)`)
		if err != nil {
			return err
		}
		s.stmts.Add(1)
		err = st.QueryRowContext(ctx, expires.UnixNano(), int64(ttl), expires.UnixNano(), l.RunID, l.TaskID, l.Attempt, l.Token,
			now.UnixNano(), int64(ttl), now.UnixNano()).Scan(&cancel)
		if errors.Is(err, sql.ErrNoRows) {
			// Cancelled while it ran: its hold is renewed (HeartbeatMany).
			held, err := s.renewHold(ctx, tx, l, now, expires, ttl)
			if err != nil || !held {
				return cmp.Or(err, cairn.ErrLeaseLost)
			}
			cancel = 1
			return nil
		}
		return translate(err)
	})
	if err != nil {
		return cairn.HeartbeatReply{}, fmt.Errorf("heartbeat %s: %w", leaseName(l), err)
	}
	return cairn.HeartbeatReply{ExpiresAt: expires, CancelRequested: cancel != 0}, nil
}

// leaseCheck says which leases finish accepts.
type leaseCheck int

const (
	leaseLive    leaseCheck = iota // expires_at > now: Complete
	leaseExpired                   // expires_at <= now: Expire
	leaseAny                       // Expire with force
)

// Complete ends the attempt l holds as c says and moves the task run to
// c.State (succeeded, failed, retrying or cancelled), if l is the task's
// current, unexpired lease; otherwise cairn.ErrLeaseLost and nothing
// changes. Outputs, metrics and the error go to the task run; the error,
// stack, exit code and retryability to the attempt. A retrying task gets
// RetryAt; a terminal one FinishedAt (c.FinishedAt, or now if zero). With
// c.Interrupted the attempt's state is cairn.AttemptInterrupted and the
// task's interruption counts go up by one; otherwise its count of
// interruptions in a row goes back to 0. An evaluation of the run is
// recorded in the same transaction (see completionEval).
func (s *Store) Complete(ctx context.Context, l cairn.Lease, c cairn.Completion, now time.Time) (*cairn.TaskRun, error) {
	var t *cairn.TaskRun
	fn, err := s.finishFn(l, c, now, leaseLive, &t)
	if err == nil {
		err = s.inTxCAS(ctx, withEval(s, fn, completionEval(l, c, now, scheduler.EvalCompleted)))
	}
	if err != nil {
		return nil, fmt.Errorf("complete attempt %s: %w", leaseName(l), err)
	}
	return t, nil
}

// completionEval is the evaluation a completion records: due now, or at
// the end of a retry's backoff.
func completionEval(l cairn.Lease, c cairn.Completion, now time.Time, reason string) scheduler.Evaluation {
	e := scheduler.Evaluation{RunID: l.RunID, TaskID: l.TaskID, Reason: reason, CreatedAt: now, DueAt: now}
	if c.State == cairn.TaskRetrying && c.RetryAt.After(now) {
		e.Reason, e.DueAt = scheduler.EvalRetry, c.RetryAt
	}
	return e
}

// withEval runs fn, then records e.
func withEval(s *Store, fn txFn, e scheduler.Evaluation) txFn {
	return func(ctx context.Context, tx *sql.Conn) error {
		if err := fn(ctx, tx); err != nil {
			return err
		}
		_, err := s.addEvaluation(ctx, tx, e)
		return err
	}
}

// Expire ends lease l as Complete does, on behalf of a holder that can no
// longer complete it: the lease must have expired by now (expires_at <=
// now), or with force be any current lease. cairn.ErrLeaseLost if it was
// completed or superseded meanwhile, or (without force) is still live.
func (s *Store) Expire(ctx context.Context, l cairn.Lease, c cairn.Completion, now time.Time, force bool) (*cairn.TaskRun, error) {
	var t *cairn.TaskRun
	fn, err := s.finishFn(l, c, now, expireCheck(force), &t)
	if err == nil {
		err = s.inTxCAS(ctx, withEval(s, fn, completionEval(l, c, now, scheduler.EvalExpired)))
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

// finishFn returns the body of the transaction that records completion c
// of lease l, if check accepts the lease (cairn.ErrLeaseLost otherwise):
// completeMany of one. The body sets *out.
func (s *Store) finishFn(l cairn.Lease, c cairn.Completion, now time.Time, check leaseCheck, out **cairn.TaskRun) (txFn, error) {
	if _, err := sqlrow.EncodeFinish(l, c, now); err != nil {
		return nil, err
	}
	return func(ctx context.Context, tx *sql.Conn) error {
		trs, errs, err := s.completeMany(ctx, tx, []scheduler.Finish{{Lease: l, Completion: c}}, now, check)
		if err != nil {
			return err
		}
		if errs[0] != nil {
			if errors.Is(errs[0], cairn.ErrLeaseLost) {
				return cairn.ErrLeaseLost // the caller names the attempt
			}
			return errs[0]
		}
		*out = trs[0]
		return nil
	}, nil
}

// leaseCols are the columns of a lease, as queryLeases reads them.
const leaseCols = `SELECT run_id, task_id, attempt, lease_token, lease_worker, lease_expires_at,
	coalesce(lease_expires_at >= attempt_due_at, 0) FROM task_runs `

// dueAfter is the SQL of how long after it began running an attempt of
// task_runs' row is due (cairn.TimeoutGrace past its timeout), NULL for a
// task without a timeout: added to the start, it gives attempt_due_at.
var dueAfter = "nullif(task_runs.timeout_ns, 0) + " + strconv.FormatInt(int64(cairn.TimeoutGrace), 10)

// expiredLeasesQuery and expiredRunLeasesQuery are ExpiredLeases' of
// every run and of one. The first reads the whole of the partial index
// task_runs_lease_run (the leases in progress) and sorts what it keeps.
const (
	expiredLeasesQuery    = leaseCols + `WHERE lease_token IS NOT NULL AND lease_expires_at <= ? ORDER BY lease_expires_at` + limitArg
	expiredRunLeasesQuery = leaseCols + `WHERE lease_token IS NOT NULL AND lease_expires_at <= ? AND run_id = ` + textArg + ` ORDER BY lease_expires_at` + limitArg
)

// defaultExpiredLimit is ExpiredLeases' meaning of a limit <= 0.
const defaultExpiredLimit = 100

// ExpiredLeases lists up to limit (100 if limit <= 0) leases that have
// expired by now (expires_at <= now: exactly those Expire accepts without
// force), soonest expired first, only run runID's unless runID is "".
func (s *Store) ExpiredLeases(ctx context.Context, runID string, now time.Time, limit int) ([]cairn.Lease, error) {
	if limit <= 0 {
		limit = defaultExpiredLimit
	}
	var (
		st  *sql.Stmt
		err error
	)
	args := []any{now.UnixNano()}
	if runID == "" {
		st, err = s.readStmt(ctx, expiredLeasesQuery)
	} else {
		st, err = s.readStmt(ctx, expiredRunLeasesQuery)
		args = append(args, runID)
	}
	if err != nil {
		return nil, fmt.Errorf("list expired leases: %w", err)
	}
	ls, err := queryLeases(ctx, st, append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("list expired leases: %w", err)
	}
	return ls, nil
}

// ActiveLeases lists the leases of run runID's leased or running task
// runs, soonest expiring first.
func (s *Store) ActiveLeases(ctx context.Context, runID string) ([]cairn.Lease, error) {
	st, err := s.readStmt(ctx, leaseCols+`WHERE lease_token IS NOT NULL AND run_id = ? ORDER BY lease_expires_at, task_id`)
	if err != nil {
		return nil, fmt.Errorf("list active leases of %s: %w", runID, err)
	}
	ls, err := queryLeases(ctx, st, runID)
	if err != nil {
		return nil, fmt.Errorf("list active leases of %s: %w", runID, err)
	}
	return ls, nil
}

func queryLeases(ctx context.Context, st *sql.Stmt, args ...any) ([]cairn.Lease, error) {
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	out := []cairn.Lease{}
	for rows.Next() {
		var (
			l       cairn.Lease
			expires sql.NullInt64
		)
		if err := rows.Scan(&l.RunID, &l.TaskID, &l.Attempt, &l.Token, &l.Worker, &expires, &l.PastDue); err != nil {
			return nil, translate(err)
		}
		l.ExpiresAt = fromNanos(expires)
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, translate(err)
	}
	return out, nil
}

// giveBackQuery puts a leased task run whose attempt never began back in
// the queue (GiveBack): the claim of claimReadyQuery undone, but for the
// queue's place (the end) and the lease's times, which are cleared.
var giveBackQuery = `UPDATE OR FAIL task_runs SET state = 'ready', attempt = attempt - 1, lease_token = NULL, lease_worker = NULL,
	lease_expires_at = NULL, ready_gen = ?, started_at = CASE WHEN attempt = 1 THEN NULL ELSE started_at END,
	attempt_started_at = NULL, attempt_running_at = NULL, attempt_due_at = NULL, version = version + 1
WHERE run_id = ? AND task_id = ? AND attempt = ? AND lease_token = ? AND state IN ('leased', 'running')
RETURNING ` + sqlrow.TaskCols

// GiveBack puts leased task runs whose attempts never began back in the
// queue (scheduler.LeaseStore), one statement a lease: a pool gives back
// the few it leased ahead, and seldom.
func (s *Store) GiveBack(ctx context.Context, leases []cairn.Lease, now time.Time) ([]*cairn.TaskRun, error) {
	trs := make([]*cairn.TaskRun, len(leases))
	if len(leases) == 0 {
		return trs, nil
	}
	err := s.inTxCAS(ctx, func(ctx context.Context, tx *sql.Conn) error {
		clear(trs)
		gen, err := s.nextReadyGen(ctx, tx)
		if err != nil {
			return err
		}
		for i, l := range leases {
			rows, err := s.query(ctx, tx, giveBackQuery, gen, l.RunID, l.TaskID, l.Attempt, l.Token)
			if err != nil {
				return fmt.Errorf("give back %s: %w", leaseName(l), err)
			}
			for rows.Next() {
				if trs[i], err = s.tdec.Decode(rows); err != nil {
					rows.Close()
					return fmt.Errorf("give back %s: %w", leaseName(l), translate(err))
				}
			}
			if err := rows.Close(); err != nil {
				return fmt.Errorf("give back %s: %w", leaseName(l), translate(err))
			}
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
