package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/store/internal/sqlrow"
)

// inProgressCols are sqlrow.AttemptCols of the attempt in progress, read from its
// task run.
const inProgressCols = `run_id, task_id, attempt, state, lease_worker, attempt_started_at, attempt_running_at, NULL, '', '', 0,
	NULL, '', type, '', params, '', '', '', 0`

// taskInsertRows is how many task runs one INSERT statement carries.
const taskInsertRows = 100

// taskInsertWidest is the number of values of the widest row of
// CreateRun's INSERTs (taskInsertArgs').
const taskInsertWidest = 32

const taskInsertCols = `(run_id, task_id, seq, type, state, attempt, retries, backoff_ns, backoff_factor, max_backoff_ns,
	timeout_ns, params, inputs, outputs, metrics, error, retry_at, ready_gen, started_at, finished_at, max_interruptions,
	interrupted, interrupted_streak, round, failed_before, cache, labels, queue, pool, pool_slots, priority, ready_at, version)`

const taskInsertRow = `(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)`

// taskInsertFreshCols and taskInsertFreshRow insert task runs as a new
// run has them (see freshTask): only what differs between tasks is bound,
// the other columns take their defaults, which are what taskInsertArgs
// would write (NULL, 0, an empty string). Each bound value is a call into
// SQLite: a run of 100,000 tasks binds 1,000,000 values, not 2,500,000.
const (
	taskInsertFreshCols = `(run_id, task_id, seq, type, state, retries, backoff_ns, backoff_factor, max_backoff_ns, timeout_ns,
	max_interruptions, cache, version)`
	taskInsertFreshRow = `(?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, 1)`
)

// taskInsertReadyCols and taskInsertReadyRow are taskInsertFreshCols and
// taskInsertFreshRow for a chunk that holds ready tasks too, as
// scheduler.PlanCreated makes them (freshReady): their state, params,
// inputs (none, or an empty map) and lease-queue generation are bound as
// well.
const (
	taskInsertReadyCols = `(run_id, task_id, seq, type, retries, backoff_ns, backoff_factor, max_backoff_ns, timeout_ns,
	max_interruptions, cache, state, params, inputs, ready_gen, version)`
	taskInsertReadyRow = `(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)`
)

// freshTask reports whether t is pending and has nothing yet that the
// columns left to their defaults by taskInsertFreshCols would hold.
func freshTask(t *cairn.TaskRun) bool {
	return t.State == cairn.TaskPending && len(t.Params) == 0 && t.Inputs == nil && freshRest(t)
}

// freshReady reports whether t is pending or ready with nothing yet that
// the columns left to their defaults by taskInsertReadyCols would hold:
// a ready task's inputs are none or an empty map, which ApplyPlan would
// have stored as NULL or {}.
func freshReady(t *cairn.TaskRun) bool {
	return (t.State == cairn.TaskReady || (t.State == cairn.TaskPending && len(t.Params) == 0 && t.Inputs == nil)) &&
		len(t.Inputs) == 0 && freshRest(t)
}

func freshRest(t *cairn.TaskRun) bool {
	return t.Attempt == 0 && t.Interrupted == 0 && t.InterruptedInARow == 0 && t.Round == 0 && t.FailedBefore == 0 &&
		t.Outputs == nil && t.Metrics == nil && t.Error == "" && t.RetryAt.IsZero() && t.StartedAt.IsZero() &&
		t.FinishedAt.IsZero() && len(t.Labels) == 0 && t.Queue == "" && t.Pool == "" && t.Priority == 0 &&
		!t.Expanded && t.Items == 0 && len(t.Item) == 0
}

// emptyInputs is how ApplyPlan stores an empty map of inputs.
const emptyInputs = "{}"

// scanner is a row of a result (sqlrow.Scanner).
type scanner = sqlrow.Scanner

// CreateRun inserts run and its task runs in one transaction and sets
// their Version to 1 (and an empty Trigger to cairn.TriggerManual). Errors: cairn.ErrConflict if the run id exists; a
// plain error for an invalid run or task run (nonzero Version, unknown
// state, duplicate task id, a leased or running task).
func (s *Store) CreateRun(ctx context.Context, run *cairn.Run, tasks []*cairn.TaskRun) error {
	fn, err := s.createRunFn(run, tasks)
	if err == nil {
		err = s.inTx(ctx, fn)
	}
	if err != nil {
		return fmt.Errorf("create run %s: %w", run.ID, err)
	}
	s.silent.note(run)
	run.Version = 1
	for _, t := range tasks {
		t.Version = 1
	}
	return nil
}

// createRunFn checks a new run and returns the body of the transaction
// that inserts it.
func (s *Store) createRunFn(run *cairn.Run, tasks []*cairn.TaskRun) (txFn, error) {
	if err := sqlrow.ValidateNewRun(run, tasks); err != nil {
		return nil, err
	}
	params, err := jsonValue(run.Params, run.Params == nil)
	if err != nil {
		return nil, fmt.Errorf("encode params: %w", err)
	}
	if run.Trigger == "" {
		run.Trigger = cairn.TriggerManual // as stored
	}
	trigger := run.Trigger
	return func(ctx context.Context, tx *sql.Conn) error {
		// Room for the widest row (taskInsertArgs') of the largest chunk:
		// a run of one task does not allocate (and zero) a list for 100.
		args := make([]any, 0, min(len(tasks), taskInsertRows)*taskInsertWidest)
		if _, err := s.exec(ctx, tx, `INSERT INTO runs (`+sqlrow.RunCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?)`,
			run.ID, run.Workflow, run.Digest, run.SourcePath, run.Source, params, string(run.State), run.MaxActive,
			boolInt(run.CancelRequested), run.Error, nanos(run.CreatedAt), nanos(run.StartedAt), nanos(run.FinishedAt),
			run.Owner, nanos(run.OwnerExpiresAt), run.MaxActiveRuns, run.ReproduceOf, string(trigger), nanos(run.ScheduledFor)); err != nil {
			if errors.Is(err, cairn.ErrConflict) && !run.ScheduledFor.IsZero() {
				return fmt.Errorf("workflow %s has a run for slot %s already: %w", run.Workflow,
					run.ScheduledFor.UTC().Format(time.RFC3339), err)
			}
			return err
		}
		if err := s.insertNotify(ctx, tx, run); err != nil {
			return err
		}
		for _, rel := range slices.Sorted(maps.Keys(run.SubSources)) {
			if _, err := s.exec(ctx, tx, `INSERT INTO run_sources (run_id, path, source) VALUES (?, ?, ?)`, run.ID, rel, run.SubSources[rel]); err != nil {
				return fmt.Errorf("sub-workflow %s: %w", rel, err)
			}
		}
		if err := s.declareRunPools(ctx, tx, run, tasks); err != nil {
			return err
		}
		if !run.State.Terminal() {
			if _, err := s.addEvaluation(ctx, tx, scheduler.Evaluation{RunID: run.ID, Reason: scheduler.EvalCreated,
				CreatedAt: run.CreatedAt}); err != nil {
				return err
			}
		}
		var gen any
		for _, t := range tasks {
			if t.State == cairn.TaskReady {
				g, err := s.nextReadyGen(ctx, tx)
				if err != nil {
					return err
				}
				gen = g
				break
			}
		}
		for start := 0; start < len(tasks); start += taskInsertRows {
			chunk := tasks[start:min(start+taskInsertRows, len(tasks))]
			args = args[:0]
			fresh, ready := true, true
			for _, t := range chunk {
				fresh = fresh && freshTask(t)
				ready = ready && freshReady(t)
			}
			cols, row := taskInsertCols, taskInsertRow
			switch {
			case fresh:
				cols, row = taskInsertFreshCols, taskInsertFreshRow
				for i, t := range chunk {
					args = append(args, run.ID, t.TaskID, start+i, t.Type, t.Retry.Retries, int64(t.Retry.Backoff),
						t.Retry.Factor, int64(t.Retry.MaxBackoff), int64(t.Timeout), t.Retry.MaxInterruptions, boolInt(t.Cache))
				}
			case ready:
				cols, row = taskInsertReadyCols, taskInsertReadyRow
				for i, t := range chunk {
					var inputs, g any
					if t.Inputs != nil {
						inputs = emptyInputs
					}
					if t.State == cairn.TaskReady {
						g = gen
					}
					args = append(args, run.ID, t.TaskID, start+i, t.Type, t.Retry.Retries, int64(t.Retry.Backoff),
						t.Retry.Factor, int64(t.Retry.MaxBackoff), int64(t.Timeout), t.Retry.MaxInterruptions, boolInt(t.Cache),
						string(t.State), rawJSON(t.Params), inputs, g)
				}
			default:
				for i, t := range chunk {
					a, err := taskInsertArgs(run.ID, t, start+i, gen, run.CreatedAt)
					if err != nil {
						return err
					}
					args = append(args, a...)
				}
			}
			query := `INSERT INTO task_runs ` + cols + ` VALUES ` + strings.TrimSuffix(strings.Repeat(row+",", len(chunk)), ",")
			if _, err := s.exec(ctx, tx, query, args...); err != nil {
				return err
			}
		}
		return nil
	}, nil
}

func taskInsertArgs(runID string, t *cairn.TaskRun, seq int, gen any, created time.Time) ([]any, error) {
	inputs, err := jsonValue(t.Inputs, t.Inputs == nil)
	if err != nil {
		return nil, fmt.Errorf("task %s: encode inputs: %w", t.TaskID, err)
	}
	outputs, err := jsonValue(t.Outputs, t.Outputs == nil)
	if err != nil {
		return nil, fmt.Errorf("task %s: encode outputs: %w", t.TaskID, err)
	}
	metrics, err := jsonValue(t.Metrics, t.Metrics == nil)
	if err != nil {
		return nil, fmt.Errorf("task %s: encode metrics: %w", t.TaskID, err)
	}
	labels, err := jsonValue(t.Labels, len(t.Labels) == 0)
	if err != nil {
		return nil, fmt.Errorf("task %s: encode labels: %w", t.TaskID, err)
	}
	var g, readyAt any
	if t.State == cairn.TaskReady {
		g, readyAt = gen, nanos(created) // it became ready as it was created
	}
	return []any{runID, t.TaskID, seq, t.Type, string(t.State), t.Attempt, t.Retry.Retries, int64(t.Retry.Backoff),
		t.Retry.Factor, int64(t.Retry.MaxBackoff), int64(t.Timeout), rawJSON(t.Params), inputs, outputs, metrics,
		t.Error, nanos(t.RetryAt), g, nanos(t.StartedAt), nanos(t.FinishedAt), t.Retry.MaxInterruptions, t.Interrupted,
		t.InterruptedInARow, t.Round, t.FailedBefore, boolInt(t.Cache), labels, cairn.StoredQueue(t.Queue),
		t.Pool, max(t.PoolSlots, 1), t.Priority, readyAt}, nil
}

// nextReadyGen returns the lease-queue generation for tasks made ready in
// this transaction: after every task already ready.
func (s *Store) nextReadyGen(ctx context.Context, tx *sql.Conn) (int64, error) {
	st, err := s.txStmt(ctx, tx, `SELECT coalesce(max(ready_gen), 0) + 1 FROM task_runs WHERE state = 'ready'`)
	if err != nil {
		return 0, err
	}
	var g int64
	s.stmts.Add(1)
	if err := st.QueryRowContext(ctx).Scan(&g); err != nil {
		return 0, translate(err)
	}
	return g, nil
}

// GetRun returns run id. Errors: cairn.ErrNotFound.
func (s *Store) GetRun(ctx context.Context, id string) (*cairn.Run, error) {
	st, err := s.readStmt(ctx, `SELECT `+sqlrow.RunCols+` FROM runs WHERE id = ?`)
	if err != nil {
		return nil, fmt.Errorf("get run %s: %w", id, err)
	}
	r, err := sqlrow.Run(st.QueryRowContext(ctx, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("get run %s: %w", id, cairn.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get run %s: %w", id, translate(err))
	}
	return r, nil
}

// RunSources returns the sub-workflow files stored with run id, by path
// relative to its workflow's folder; empty for a run without `uses:` (or
// created before Cairn kept them).
func (s *Store) RunSources(ctx context.Context, id string) (map[string][]byte, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT path, source FROM run_sources WHERE run_id = ?`, id)
	if err != nil {
		return nil, fmt.Errorf("sub-workflows of run %s: %w", id, translate(err))
	}
	defer rows.Close()
	out, err := sqlrow.Sources(rows)
	if err != nil {
		return nil, fmt.Errorf("sub-workflows of run %s: %w", id, translate(err))
	}
	return out, nil
}

// minPrefix is the shortest prefix ResolveRunID accepts.
const minPrefix = 4

// ResolveRunID expands a unique prefix of at least 4 characters (case
// insensitive) to a run id. Errors: cairn.ErrNotFound, cairn.ErrAmbiguous,
// or a plain error for a short prefix.
func (s *Store) ResolveRunID(ctx context.Context, prefix string) (string, error) {
	if len(prefix) < minPrefix {
		return "", fmt.Errorf("resolve run id %q: a prefix needs at least %d characters", prefix, minPrefix)
	}
	lower := strings.ToLower(prefix)
	st, err := s.readStmt(ctx, `SELECT id FROM runs WHERE id >= ? AND id < ? ORDER BY id LIMIT 2`)
	if err != nil {
		return "", fmt.Errorf("resolve run id %s: %w", prefix, err)
	}
	// Every id starting with lower sorts in [lower, lower+"\xff").
	rows, err := st.QueryContext(ctx, lower, lower+"\xff")
	if err != nil {
		return "", fmt.Errorf("resolve run id %s: %w", prefix, translate(err))
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return "", fmt.Errorf("resolve run id %s: %w", prefix, translate(err))
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return "", fmt.Errorf("resolve run id %s: %w", prefix, translate(err))
	}
	switch len(ids) {
	case 0:
		return "", fmt.Errorf("resolve run id %s: %w", prefix, cairn.ErrNotFound)
	case 1:
		return ids[0], nil
	}
	return "", fmt.Errorf("resolve run id %s: %w", prefix, cairn.ErrAmbiguous)
}

// defaultListLimit is RunFilter.Limit's meaning of 0.
const defaultListLimit = 50

// ListRuns returns runs newest first (by id descending), filtered by
// workflow and state, before the cursor f.Before, at most f.Limit (0 means
// 50). A cursor that names no run is an error wrapping cairn.ErrNotFound:
// a mistyped cursor must not read as "every run".
func (s *Store) ListRuns(ctx context.Context, f scheduler.RunFilter) ([]*cairn.Run, error) {
	var (
		where []string
		args  []any
	)
	if f.Before != "" {
		st, err := s.readStmt(ctx, `SELECT 1 FROM runs WHERE id = ?`)
		if err != nil {
			return nil, fmt.Errorf("list runs: %w", err)
		}
		var one int
		switch err := st.QueryRowContext(ctx, f.Before).Scan(&one); {
		case errors.Is(err, sql.ErrNoRows):
			return nil, fmt.Errorf("list runs before %s: %w", f.Before, cairn.ErrNotFound)
		case err != nil:
			return nil, fmt.Errorf("list runs: %w", translate(err))
		}
	}
	if f.Workflow != "" {
		where, args = append(where, "workflow = ?"), append(args, f.Workflow)
	}
	if f.State != "" {
		where, args = append(where, "state = ?"), append(args, string(f.State))
	}
	if f.Before != "" {
		where, args = append(where, "id < ?"), append(args, f.Before)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = defaultListLimit
	}
	args = append(args, limit)
	query := `SELECT ` + sqlrow.RunCols + ` FROM runs`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	query += ` ORDER BY id DESC LIMIT ?`
	st, err := s.readStmt(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", translate(err))
	}
	defer rows.Close()
	runs := []*cairn.Run{}
	for rows.Next() {
		r, err := sqlrow.Run(rows)
		if err != nil {
			return nil, fmt.Errorf("list runs: %w", translate(err))
		}
		runs = append(runs, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list runs: %w", translate(err))
	}
	return runs, nil
}

// ListTaskRuns returns run runID's task runs in creation order; an empty
// slice for an unknown run.
func (s *Store) ListTaskRuns(ctx context.Context, runID string) ([]*cairn.TaskRun, error) {
	st, err := s.readStmt(ctx, `SELECT `+sqlrow.TaskCols+` FROM task_runs WHERE run_id = ? ORDER BY seq`)
	if err != nil {
		return nil, fmt.Errorf("list task runs of %s: %w", runID, err)
	}
	rows, err := st.QueryContext(ctx, runID)
	if err != nil {
		return nil, fmt.Errorf("list task runs of %s: %w", runID, translate(err))
	}
	defer rows.Close()
	out, err := sqlrow.Collect(rows, sqlrow.TaskRun)
	if err != nil {
		return nil, fmt.Errorf("list task runs of %s: %w", runID, translate(err))
	}
	return out, nil
}

// SummaryTaskRuns is what the summary of a run ('cairn run', 'resume',
// 'retry') reads of its task runs, without reading back every one: the
// number of task runs in each state, of those counted
// (cairn.TaskRun.Counted: not a for_each task that has items), and, in
// creation order, the task runs the summary may print a line of — every
// failed one, and the succeeded ones with metrics, with a "passed" output
// (a gate) or of type deploy. The second set may hold more than the
// summary prints, never less; for a fan of 10,000 noop tasks it is empty
// where ListTaskRuns decoded 10,000 rows.
func (s *Store) SummaryTaskRuns(ctx context.Context, runID string) (map[cairn.TaskState]int, []*cairn.TaskRun, error) {
	// One pass over the run's task runs counts, per state, those counted
	// and those the summary may show; the shown ones are read only if
	// there are any. A run whose tasks all plainly succeeded prepares and
	// runs one statement, not two (a one-task cairn run: about 300,000
	// instructions, the second statement's preparation, fewer).
	counts := map[cairn.TaskState]int{}
	anyShown := false
	err := s.reading(ctx, `SELECT state, sum(`+sqlrow.SummaryCounted+`), sum(`+sqlrow.SummaryShown+`) FROM task_runs WHERE run_id = ? GROUP BY state`, func(ctx context.Context, st *sql.Stmt) error {
		rows, err := st.QueryContext(ctx, runID)
		if err != nil {
			return translate(err)
		}
		defer rows.Close()
		for rows.Next() {
			var (
				state         string
				counted, show int
			)
			if err := rows.Scan(&state, &counted, &show); err != nil {
				return translate(err)
			}
			if counted > 0 {
				counts[cairn.TaskState(state)] = counted
			}
			anyShown = anyShown || show > 0
		}
		return translate(rows.Err())
	})
	if err != nil {
		return nil, nil, fmt.Errorf("count task runs of %s: %w", runID, err)
	}
	if !anyShown {
		return counts, nil, nil
	}
	var shown []*cairn.TaskRun
	err = s.reading(ctx, `SELECT `+sqlrow.TaskCols+` FROM task_runs WHERE run_id = ? AND `+sqlrow.SummaryShown+` ORDER BY seq`, func(ctx context.Context, st *sql.Stmt) error {
		rows, err := st.QueryContext(ctx, runID)
		if err != nil {
			return translate(err)
		}
		defer rows.Close()
		shown, err = sqlrow.Collect(rows, sqlrow.TaskRun)
		return translate(err)
	})
	if err != nil {
		return nil, nil, fmt.Errorf("list task runs of %s: %w", runID, err)
	}
	return counts, shown, nil
}

// ListAttempts returns the attempts of task taskID of run runID oldest
// first, or with taskID "" those of every task of the run (by task
// creation order, then attempt number).
func (s *Store) ListAttempts(ctx context.Context, runID, taskID string) ([]*cairn.Attempt, error) {
	var (
		st  *sql.Stmt
		err error
	)
	args := []any{runID}
	// The attempts that ended are rows of attempts; the one in progress,
	// if any, is on its task run (see migration 0007).
	if taskID == "" {
		st, err = s.readStmt(ctx, `SELECT `+sqlrow.Prefixed("a.", sqlrow.AttemptCols)+`, t.seq
FROM attempts a JOIN task_runs t ON t.run_id = a.run_id AND t.task_id = a.task_id
WHERE a.run_id = ?
UNION ALL
SELECT `+inProgressCols+`, seq FROM task_runs WHERE run_id = ? AND lease_token IS NOT NULL
ORDER BY 21, 3`)
		args = append(args, runID)
	} else {
		st, err = s.readStmt(ctx, `SELECT `+sqlrow.AttemptCols+`, 0 FROM attempts WHERE run_id = ? AND task_id = ?
UNION ALL
SELECT `+inProgressCols+`, 0 FROM task_runs WHERE run_id = ? AND task_id = ? AND lease_token IS NOT NULL
ORDER BY 3`)
		args = append(args, taskID, runID, taskID)
	}
	if err != nil {
		return nil, fmt.Errorf("list attempts of %s/%s: %w", runID, taskID, err)
	}
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return nil, fmt.Errorf("list attempts of %s/%s: %w", runID, taskID, translate(err))
	}
	defer rows.Close()
	out := []*cairn.Attempt{}
	for rows.Next() {
		var seq int64
		a, err := sqlrow.Attempt(rows, &seq)
		if err != nil {
			return nil, fmt.Errorf("list attempts of %s/%s: %w", runID, taskID, translate(err))
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list attempts of %s/%s: %w", runID, taskID, translate(err))
	}
	return out, nil
}

// ApplyPlan applies p in one transaction, each change a compare-and-set on
// the row's version and state. If any fails, nothing is applied and the
// error wraps cairn.ErrConflict (cairn.ErrNotFound for an unknown run or
// task). A change the state machine forbids, or one to leased or running
// (only Lease and StartAttempt do those), is refused with a plain error.
// On success p's NewVersion fields are set.
//
// A task change from leased or running ends the current attempt with the
// new state, the change's Error and At, and clears the lease. A change to
// ready stores the resolved Params and Inputs and queues the task for
// Lease behind every task already ready.
func (s *Store) ApplyPlan(ctx context.Context, p *scheduler.Plan) error {
	fn, cas, err := s.applyPlanFn(p)
	if err == nil && fn != nil {
		if cas {
			err = s.inTxCAS(ctx, fn)
		} else {
			err = s.inTx(ctx, fn)
		}
	}
	if err != nil {
		return fmt.Errorf("apply plan run %s: %w", p.RunID, err)
	}
	return nil
}

// applyPlanFn checks p and returns the body of the transaction that
// applies it (nil for an empty plan), which sets p's new versions once
// every change applied, and whether its first write is its only
// compare-and-set (no savepoint needed).
func (s *Store) applyPlanFn(p *scheduler.Plan) (fn txFn, cas bool, err error) {
	if p.Empty() {
		return nil, false, nil
	}
	if p.Run != nil && !p.Run.From.CanTransition(p.Run.To) {
		return nil, false, fmt.Errorf("run cannot move from %s to %s", p.Run.From, p.Run.To)
	}
	for i := range p.Tasks {
		c := &p.Tasks[i]
		if !c.Allowed() {
			return nil, false, fmt.Errorf("task %s cannot move from %s to %s", c.TaskID, c.From, c.To)
		}
		if c.To.Active() {
			return nil, false, fmt.Errorf("task %s: only Lease and StartAttempt move a task to %s", c.TaskID, c.To)
		}
		if l := c.Lease; l != nil {
			switch {
			case c.To != cairn.TaskReady:
				return nil, false, fmt.Errorf("task %s: a lease comes with a change to ready, not to %s", c.TaskID, c.To)
			case l.RunID != p.RunID || l.TaskID != c.TaskID:
				return nil, false, fmt.Errorf("task %s: lease of %s/%s", c.TaskID, l.RunID, l.TaskID)
			case l.Token == "" || l.Worker == "" || l.Attempt < 1 || l.ExpiresAt.IsZero() || c.At.IsZero():
				return nil, false, fmt.Errorf("task %s: incomplete lease (token, worker, attempt, expiry and the change's time are needed)", c.TaskID)
			}
		}
	}
	if err := sqlrow.CheckExpansions(p.Expand); err != nil {
		return nil, false, err
	}
	// One compare-and-set: a refusal writes nothing, no savepoint needed.
	cas = len(p.Expand) == 0 && (len(p.Tasks) == 1 && p.Run == nil || len(p.Tasks) == 0)
	return func(ctx context.Context, tx *sql.Conn) error {
		var runVersion int64
		taskVersions := make([]int64, len(p.Tasks))
		if rc := p.Run; rc != nil {
			var started, finished any
			if rc.To == cairn.RunRunning {
				started = nanos(rc.At)
			}
			if rc.To.Terminal() {
				finished = nanos(rc.At)
			}
			// A run that ends lets go of its claim in the same statement:
			// nothing is left to plan, and no scheduler must be asked.
			st, err := s.txStmt(ctx, tx, `UPDATE runs SET state = ?, error = ?,
	started_at = coalesce(?, started_at), finished_at = coalesce(?, finished_at), version = version + 1,
	owner = CASE WHEN ? THEN '' ELSE owner END, owner_expires_at = CASE WHEN ? THEN NULL ELSE owner_expires_at END
WHERE id = ? AND version = ? AND state = ? RETURNING version`)
			if err != nil {
				return err
			}
			s.stmts.Add(1)
			end := boolInt(rc.To.Terminal())
			err = st.QueryRowContext(ctx, string(rc.To), rc.Error, started, finished, end, end, p.RunID, rc.FromVersion,
				string(rc.From)).Scan(&runVersion)
			if errors.Is(err, sql.ErrNoRows) {
				return s.runMissOrConflict(ctx, tx, p.RunID, fmt.Sprintf("run at version %d", rc.FromVersion))
			}
			if err != nil {
				return translate(err)
			}
		}
		if err := s.checkFanIns(ctx, tx, p.RunID, p.Tasks); err != nil {
			return err
		}
		if err := s.applyTaskChanges(ctx, tx, p.RunID, p.Tasks, taskVersions); err != nil {
			return err
		}
		if err := s.applyExpansions(ctx, tx, p.RunID, p.Expand); err != nil {
			return err
		}
		if rc := p.Run; rc != nil && rc.To.Terminal() {
			// Its evaluations, too, are done with.
			if _, err := s.exec(ctx, tx, `DELETE FROM evaluations WHERE run_id = ?`, p.RunID); err != nil {
				return err
			}
			// Its notify: targets are told, by the outbox, in this
			// transaction.
			if err := s.runEndAlerts(ctx, tx, p.RunID, rc.To, runVersion, rc.Error, rc.At); err != nil {
				return err
			}
		}
		if p.Run != nil {
			p.Run.NewVersion = runVersion
		}
		for i := range p.Tasks {
			p.Tasks[i].NewVersion = taskVersions[i]
		}
		return nil
	}, cas, nil
}

// readyChangeCols and endChangeCols are the widths of the rows of
// readyChangeQuery's and endChangeQuery's lists.
const (
	readyChangeCols = 7
	endChangeCols   = 7
)

// readyChangeQuery makes a list of a run's tasks ready, each a
// compare-and-set on its version and state, for size rows.
func readyChangeQuery(size int) string { return readyChangeQueryTexts.get(size, buildReadyChangeQuery) }

var readyChangeQueryTexts sizedQueries

func buildReadyChangeQuery(size int) string {
	return setQuery(size, "run_id, task_id, version, state, params, inputs, error", `UPDATE OR FAIL task_runs SET state = 'ready', params = v.params, inputs = v.inputs, error = v.error, ready_gen = ?,
	ready_at = ?, retry_at = NULL, version = task_runs.version + 1
FROM v WHERE task_runs.run_id = v.run_id AND task_runs.task_id = v.task_id AND task_runs.version = v.version
	AND task_runs.state = v.state`+returnsVersion)
}

// endChangeQuery moves a list of a run's tasks to other states than
// ready (ending their leases, if any), each a compare-and-set on its
// version and state, for size rows. A pooled task cancelled while running
// keeps its slots (sqlrow.HoldOnCancel).
func endChangeQuery(size int) string { return endChangeQueryTexts.get(size, buildEndChangeQuery) }

var endChangeQueryTexts sizedQueries

func buildEndChangeQuery(size int) string {
	return setQuery(size, "run_id, task_id, version, state, next, error, finished", `UPDATE OR FAIL task_runs SET state = v.next, error = v.error, finished_at = coalesce(v.finished, task_runs.finished_at),
	ready_gen = NULL, lease_token = NULL, lease_worker = NULL, lease_expires_at = NULL, attempt_started_at = NULL,
	attempt_running_at = NULL, `+sqlrow.HoldOnCancel("v.next", "task_runs")+`, version = task_runs.version + 1
FROM v WHERE task_runs.run_id = v.run_id AND task_runs.task_id = v.task_id AND task_runs.version = v.version
	AND task_runs.state = v.state`+returnsVersion)
}

// applyTaskChanges applies a plan's task changes in one statement per
// kind (to ready, to anything else) and maxSetRows changes, and closes
// the attempts of the active tasks they end; it sets versions[i] to
// change i's new version. A change whose row moved on fails the whole
// call (cairn.ErrConflict; the caller's transaction or savepoint undoes
// the rest).
func (s *Store) applyTaskChanges(ctx context.Context, tx *sql.Conn, runID string, cs []scheduler.TaskChange, versions []int64) error {
	var ready, leased, ends, closing []int
	for i := range cs {
		switch c := &cs[i]; {
		case c.Lease != nil:
			leased = append(leased, i)
		case c.To == cairn.TaskReady:
			ready = append(ready, i)
		default:
			ends = append(ends, i)
			if c.From.Active() {
				closing = append(closing, i)
			}
		}
	}
	// The workers' leases end with their tasks' states: their attempts are
	// written as they end, before the updates let go of what they copy
	// (the same compare-and-set: a change that misses writes none, and
	// the update below names it).
	err := eachChunk(closing, func(chunk []int, size int) error {
		args := make([]any, 0, size*endAttemptCols)
		for _, i := range chunk {
			c := &cs[i]
			args = append(args, runID, c.TaskID, c.FromVersion, string(c.From), string(c.To), c.Error, nanos(c.At))
		}
		if _, err := s.exec(ctx, tx, endAttemptQuery(size), padArgs(args, len(chunk), size, endAttemptCols)...); err != nil {
			return fmt.Errorf("write the attempts of %d tasks: %w", len(chunk), err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	toReady := func(c *scheduler.TaskChange) ([]any, error) {
		inputs, err := jsonValue(c.Inputs, c.Inputs == nil)
		if err != nil {
			return nil, fmt.Errorf("task %s: encode inputs: %w", c.TaskID, err)
		}
		return []any{runID, c.TaskID, c.FromVersion, string(c.From), rawJSON(c.Params), inputs, c.Error}, nil
	}
	if len(ready) > 0 {
		gen, err := s.nextReadyGen(ctx, tx)
		if err != nil {
			return err
		}
		// The plan's changes share its time: when they became ready.
		at := nanos(cs[ready[0]].At)
		if err := s.changeTasks(ctx, tx, runID, cs, ready, versions, readyChangeCols, readyChangeQuery, toReady, gen, at); err != nil {
			return err
		}
	}
	err = s.changeTasks(ctx, tx, runID, cs, leased, versions, leaseChangeCols, leaseChangeQuery,
		func(c *scheduler.TaskChange) ([]any, error) {
			args, err := toReady(c)
			l := c.Lease
			return append(args, l.Attempt, l.Token, l.Worker, l.ExpiresAt.UnixNano(), string(leaseState(c)), c.At.UnixNano()), err
		})
	if err != nil {
		return err
	}
	return s.changeTasks(ctx, tx, runID, cs, ends, versions, endChangeCols, endChangeQuery,
		func(c *scheduler.TaskChange) ([]any, error) {
			var finished any
			if c.To.Terminal() {
				finished = nanos(c.At)
			}
			return []any{runID, c.TaskID, c.FromVersion, string(c.From), string(c.To), c.Error, finished}, nil
		})
}

// changeTasks applies the changes of cs at positions idx with the
// set-based statement text (cols values a row, from rowArgs, then extra),
// each a compare-and-set returning the task's new version into versions;
// a change that matched no row fails the call, naming it.
func (s *Store) changeTasks(ctx context.Context, tx *sql.Conn, runID string, cs []scheduler.TaskChange, idx []int,
	versions []int64, cols int, text func(int) string, rowArgs func(*scheduler.TaskChange) ([]any, error), extra ...any) error {
	return eachChunk(idx, func(chunk []int, size int) error {
		args := make([]any, 0, size*cols+len(extra))
		at := make(map[string]int, len(chunk))
		for _, i := range chunk {
			a, err := rowArgs(&cs[i])
			if err != nil {
				return err
			}
			args = append(args, a...)
			at[cs[i].TaskID] = i
		}
		args = append(padArgs(args, len(chunk), size, cols), extra...)
		if q, ok := withoutReturning(text(size)); ok && len(chunk) == 1 {
			// One row (a chain's hop): its new version is known, and
			// whether the compare-and-set matched is the count of rows
			// changed; without RETURNING, SQLite fills no table of
			// results to read back.
			i := chunk[0]
			n, err := s.exec(ctx, tx, q, args...)
			if err != nil {
				return err
			}
			if n != 1 {
				return s.taskMissOrConflict(ctx, tx, runID, cs[i].TaskID, cs[i].FromVersion)
			}
			versions[i] = cs[i].FromVersion + 1
			return nil
		}
		rows, err := s.query(ctx, tx, text(size), args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				id      string
				version int64
			)
			if err := rows.Scan(&id, &version); err != nil {
				return translate(err)
			}
			versions[at[id]] = version
		}
		if err := rows.Err(); err != nil {
			return translate(err)
		}
		for _, i := range chunk {
			if versions[i] == 0 {
				return s.taskMissOrConflict(ctx, tx, runID, cs[i].TaskID, cs[i].FromVersion)
			}
		}
		return nil
	})
}

// returnsVersion ends the statements of changeTasks: each changed task
// and its new version (its old one, which the statement compares, plus 1).
const returnsVersion = "\nRETURNING task_runs.task_id, task_runs.version"

var withoutReturningCache sync.Map // a statement's text → it without returnsVersion

// withoutReturning is query, a statement of changeTasks, without its
// RETURNING clause; false if it has none.
func withoutReturning(query string) (string, bool) {
	if q, ok := withoutReturningCache.Load(query); ok {
		return q.(string), true
	}
	q, ok := strings.CutSuffix(query, returnsVersion)
	if ok {
		withoutReturningCache.Store(query, q)
	}
	return q, ok
}

// leaseState is the state a task handed out with its change to ready is
// stored in.
func leaseState(c *scheduler.TaskChange) cairn.TaskState {
	if c.Start {
		return cairn.TaskRunning
	}
	return cairn.TaskLeased
}

// leaseChangeCols is the width of a row of leaseChangeQuery's list.
const leaseChangeCols = 13

// leaseChangeQuery makes a list of a run's tasks ready and hands each to
// a worker at once (TaskChange.Lease), each a compare-and-set on its
// version, state and attempt, for size rows.
func leaseChangeQuery(size int) string { return leaseChangeQueryTexts.get(size, buildLeaseChangeQuery) }

var leaseChangeQueryTexts sizedQueries

func buildLeaseChangeQuery(size int) string {
	return setQuery(size, "run_id, task_id, version, state, params, inputs, error, attempt, token, worker, expires, next, at", `UPDATE OR FAIL task_runs SET state = v.next, params = v.params, inputs = v.inputs, error = v.error, attempt = v.attempt,
	lease_token = v.token, lease_worker = v.worker, lease_expires_at = v.expires, ready_gen = NULL, retry_at = NULL,
	started_at = coalesce(task_runs.started_at, v.at), attempt_started_at = v.at,
	attempt_running_at = CASE WHEN v.next = 'running' THEN v.at END,
	attempt_due_at = CASE WHEN v.next = 'running' THEN v.at + `+dueAfter+` END, version = task_runs.version + 1
FROM v WHERE task_runs.run_id = v.run_id AND task_runs.task_id = v.task_id AND task_runs.version = v.version
	AND task_runs.state = v.state AND task_runs.attempt + 1 = v.attempt`+returnsVersion)
}

// endAttemptCols is the width of a row of endAttemptQuery's list.
const endAttemptCols = 7

// endAttemptQuery writes the attempts of a list of a run's active tasks
// a plan ends, as they ended, for size rows: each a compare-and-set on
// the task's version and state, like the change itself.
func endAttemptQuery(size int) string { return endAttemptQueryTexts.get(size, buildEndAttemptQuery) }

var endAttemptQueryTexts sizedQueries

func buildEndAttemptQuery(size int) string {
	return setQuery(size, "run_id, task_id, version, state, next, error, finished_at", `INSERT INTO attempts (run_id, task_id, number, state, worker, token, started_at, running_at, finished_at, error)
SELECT t.run_id, t.task_id, t.attempt, v.next, t.lease_worker, t.lease_token, t.attempt_started_at, t.attempt_running_at,
	v.finished_at, v.error
FROM v JOIN task_runs t ON t.run_id = v.run_id AND t.task_id = v.task_id AND t.version = v.version AND t.state = v.state
WHERE t.lease_token IS NOT NULL`)
}

// runMissOrConflict explains a compare-and-set on run id that matched no
// row.
func (s *Store) runMissOrConflict(ctx context.Context, tx *sql.Conn, id, what string) error {
	var n int
	s.stmts.Add(1)
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM runs WHERE id = ?`, id).Scan(&n); err != nil {
		return translate(err)
	}
	if n == 0 {
		return fmt.Errorf("run %s: %w", id, cairn.ErrNotFound)
	}
	return fmt.Errorf("%s: %w", what, cairn.ErrConflict)
}

func (s *Store) taskMissOrConflict(ctx context.Context, tx *sql.Conn, runID, taskID string, from int64) error {
	var n int
	s.stmts.Add(1)
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM task_runs WHERE run_id = ? AND task_id = ?`, runID, taskID).Scan(&n); err != nil {
		return translate(err)
	}
	if n == 0 {
		return fmt.Errorf("task %s: %w", taskID, cairn.ErrNotFound)
	}
	return fmt.Errorf("task %s at version %d: %w", taskID, from, cairn.ErrConflict)
}

// ClaimRun makes owner the driver of run id until now+ttl if the run has
// no live owner, owner already holds it, or steal is set. The claim does
// not change the run's Version: ownership is not part of the run's state.
// Errors: cairn.ErrRunOwned, cairn.ErrNotFound.
func (s *Store) ClaimRun(ctx context.Context, id, owner string, now time.Time, ttl time.Duration, steal bool) (*cairn.Run, error) {
	var run *cairn.Run
	fn, err := s.claimRunFn(id, owner, now, ttl, steal, &run)
	if err == nil {
		err = s.inTx(ctx, fn)
	}
	if err != nil {
		return nil, claimErr(id, owner, err)
	}
	return run, nil
}

// claimRunFn is the body of ClaimRun's transaction; it sets *out.
func (s *Store) claimRunFn(id, owner string, now time.Time, ttl time.Duration, steal bool, out **cairn.Run) (txFn, error) {
	if owner == "" {
		return nil, errors.New("empty owner")
	}
	return func(ctx context.Context, tx *sql.Conn) error {
		st, err := s.txStmt(ctx, tx, `UPDATE runs SET owner = ?, owner_expires_at = ?
WHERE id = ? AND (owner = '' OR owner = ? OR owner_expires_at IS NULL OR owner_expires_at <= ? OR ?)
RETURNING `+sqlrow.RunCols)
		if err != nil {
			return err
		}
		s.stmts.Add(1)
		run, err := sqlrow.Run(st.QueryRowContext(ctx, owner, now.Add(ttl).UnixNano(), id, owner, now.UnixNano(), boolInt(steal)))
		if errors.Is(err, sql.ErrNoRows) {
			return s.runMissOrConflict(ctx, tx, id, "owned")
		}
		if err != nil {
			return translate(err)
		}
		*out = run
		return nil
	}, nil
}

func claimErr(id, owner string, err error) error {
	if errors.Is(err, cairn.ErrConflict) {
		return fmt.Errorf("claim run %s for %s: %w", id, owner, cairn.ErrRunOwned)
	}
	return fmt.Errorf("claim run %s for %s: %w", id, owner, err)
}

// ReleaseRun clears owner's claim on run id; a no-op if owner no longer
// holds it. Errors: cairn.ErrNotFound for an unknown run.
func (s *Store) ReleaseRun(ctx context.Context, id, owner string) error {
	err := s.inTx(ctx, func(ctx context.Context, tx *sql.Conn) error {
		n, err := s.exec(ctx, tx, `UPDATE runs SET owner = '', owner_expires_at = NULL WHERE id = ? AND owner = ?`, id, owner)
		if err != nil || n > 0 {
			return err
		}
		if err := s.runMissOrConflict(ctx, tx, id, "not owned"); errors.Is(err, cairn.ErrNotFound) {
			return err
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("release run %s by %s: %w", id, owner, err)
	}
	return nil
}

// RequestCancel marks run id for cancellation (bumping its Version, so a
// plan made without knowing it conflicts). Idempotent. Errors:
// cairn.ErrNotFound, cairn.ErrTerminal.
func (s *Store) RequestCancel(ctx context.Context, id string) error {
	if err := s.inTx(ctx, s.requestCancelFn(id)); err != nil {
		return fmt.Errorf("request cancel of run %s: %w", id, err)
	}
	return nil
}

func (s *Store) requestCancelFn(id string) txFn {
	return func(ctx context.Context, tx *sql.Conn) error {
		var state string
		var cancel int
		s.stmts.Add(1)
		err := tx.QueryRowContext(ctx, `SELECT state, cancel_requested FROM runs WHERE id = ?`, id).Scan(&state, &cancel)
		if errors.Is(err, sql.ErrNoRows) {
			return cairn.ErrNotFound
		}
		if err != nil {
			return translate(err)
		}
		if cairn.RunState(state).Terminal() {
			return fmt.Errorf("run is %s: %w", state, cairn.ErrTerminal)
		}
		if cancel != 0 {
			return nil
		}
		if _, err = s.exec(ctx, tx, `UPDATE runs SET cancel_requested = 1, version = version + 1 WHERE id = ?`, id); err != nil {
			return err
		}
		_, err = s.addEvaluation(ctx, tx, scheduler.Evaluation{RunID: id, Reason: scheduler.EvalCancel})
		return err
	}
}
