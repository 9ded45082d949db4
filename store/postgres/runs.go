package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/store/internal/sqlrow"
)

// jsonText encodes v as JSON text, NULL for a nil map or value.
func jsonText[T any](v T, isNil bool) (*string, error) {
	if isNil {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	s := string(b)
	return &s, nil
}

// CreateRun inserts run and its task runs in one transaction and sets
// their Version to 1 (and an empty Trigger to cairn.TriggerManual).
// Errors: cairn.ErrConflict if the run id exists, or the workflow has a
// run for its slot; a plain error for an invalid run or task run.
func (s *Store) CreateRun(ctx context.Context, run *cairn.Run, tasks []*cairn.TaskRun) error {
	fn, err := s.createRunFn(run, tasks)
	if err == nil {
		err = s.inTx(ctx, fn)
	}
	if err != nil {
		return fmt.Errorf("create run %s: %w", run.ID, err)
	}
	run.Version = 1
	for _, t := range tasks {
		t.Version = 1
	}
	return nil
}

// taskInsertChunk bounds the task runs one INSERT carries.
const taskInsertChunk = 10000

func (s *Store) createRunFn(run *cairn.Run, tasks []*cairn.TaskRun) (txFn, error) {
	if err := sqlrow.ValidateNewRun(run, tasks); err != nil {
		return nil, err
	}
	params, err := jsonText(run.Params, run.Params == nil)
	if err != nil {
		return nil, fmt.Errorf("encode params: %w", err)
	}
	if run.Trigger == "" {
		run.Trigger = cairn.TriggerManual
	}
	trigger := run.Trigger
	cols, err := taskColumns(tasks, run.CreatedAt)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, tx pgx.Tx) error {
		_, err := s.exec(ctx, tx, `INSERT INTO runs (`+sqlrow.RunCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, 1, $16, $17, $18, $19)`,
			run.ID, run.Workflow, run.Digest, run.SourcePath, run.Source, params, string(run.State), run.MaxActive,
			boolInt(run.CancelRequested), run.Error, nanos(run.CreatedAt), nanos(run.StartedAt), nanos(run.FinishedAt),
			run.Owner, nanos(run.OwnerExpiresAt), run.MaxActiveRuns, run.ReproduceOf, string(trigger), nanos(run.ScheduledFor))
		if err != nil {
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
			if _, err := s.exec(ctx, tx, `INSERT INTO run_sources (run_id, path, source) VALUES ($1, $2, $3)`, run.ID, rel, run.SubSources[rel]); err != nil {
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
		for start := 0; start < len(tasks); start += taskInsertChunk {
			end := min(start+taskInsertChunk, len(tasks))
			args := []any{run.ID}
			for _, c := range cols {
				args = append(args, c.slice(start, end))
			}
			if _, err := s.exec(ctx, tx, taskInsertQuery, args...); err != nil {
				return err
			}
		}
		return nil
	}, nil
}

// taskInsertQuery inserts task runs from arrays, one per column; a ready
// task gets the transaction's generation (and wakes the listeners).
const taskInsertQuery = `WITH v AS (SELECT * FROM unnest($2::text[], $3::bigint[], $4::text[], $5::text[], $6::bigint[], $7::bigint[],
	$8::bigint[], $9::float8[], $10::bigint[], $11::bigint[], $12::text[], $13::text[], $14::text[], $15::text[], $16::text[],
	$17::bigint[], $18::bigint[], $19::bigint[], $20::bigint[], $21::bigint[], $22::bigint[], $23::bigint[], $24::bigint[],
	$25::bigint[], $26::text[], $27::text[], $28::text[], $29::bigint[], $30::bigint[], $31::bigint[]) AS v(task_id, seq, type, state, attempt,
	retries, backoff_ns, backoff_factor, max_backoff_ns, timeout_ns, params, inputs, outputs, metrics, error, retry_at, started_at,
	finished_at, max_interruptions, interrupted, interrupted_streak, round, failed_before, cache, labels, queue, pool, pool_slots,
	priority, ready_at)),
g AS (SELECT CASE WHEN EXISTS (SELECT 1 FROM v WHERE state = 'ready') THEN nextval('task_runs_ready_gen') END AS gen),
n AS (SELECT pg_notify('` + channelReady + `', '') FROM v WHERE state = 'ready' LIMIT 1)
INSERT INTO task_runs (run_id, task_id, seq, type, state, attempt, retries, backoff_ns, backoff_factor, max_backoff_ns,
	timeout_ns, params, inputs, outputs, metrics, error, retry_at, ready_gen, started_at, finished_at, max_interruptions,
	interrupted, interrupted_streak, round, failed_before, cache, labels, queue, pool, pool_slots, priority, ready_at, version)
SELECT $1, v.task_id, v.seq, v.type, v.state, v.attempt, v.retries, v.backoff_ns, v.backoff_factor, v.max_backoff_ns,
	v.timeout_ns, v.params, v.inputs, v.outputs, v.metrics, v.error, v.retry_at,
	CASE WHEN v.state = 'ready' THEN g.gen END, v.started_at, v.finished_at, v.max_interruptions, v.interrupted,
	v.interrupted_streak, v.round, v.failed_before, v.cache, v.labels, v.queue, v.pool, v.pool_slots, v.priority,
	CASE WHEN v.state = 'ready' THEN v.ready_at END, 1
FROM v CROSS JOIN g LEFT JOIN n ON true`

// column is one column of taskInsertQuery's arrays.
type column interface{ slice(from, to int) any }

type col[T any] []T

func (c col[T]) slice(from, to int) any { return []T(c[from:to]) }

// taskColumns encodes tasks as taskInsertQuery's arrays ($2...$31); a
// ready task became ready when it was created.
func taskColumns(tasks []*cairn.TaskRun, created time.Time) ([]column, error) {
	n := len(tasks)
	var (
		ids, types, states, errs                = make(col[string], n), make(col[string], n), make(col[string], n), make(col[string], n)
		params, inputs, outputs, metrics        = make(col[*string], n), make(col[*string], n), make(col[*string], n), make(col[*string], n)
		seq, attempt, retries, backoff, maxBack = make(col[int64], n), make(col[int64], n), make(col[int64], n), make(col[int64], n), make(col[int64], n)
		timeout, maxIntr, intr, streak, round   = make(col[int64], n), make(col[int64], n), make(col[int64], n), make(col[int64], n), make(col[int64], n)
		failedBefore, cache                     = make(col[int64], n), make(col[int64], n)
		factor                                  = make(col[float64], n)
		retryAt, started, finished              = make(col[*int64], n), make(col[*int64], n), make(col[*int64], n)
		labels, queues                          = make(col[*string], n), make(col[string], n)
		pools, poolSlots, priority, readyAt     = make(col[string], n), make(col[int64], n), make(col[int64], n), make(col[*int64], n)
	)
	for i, t := range tasks {
		var err error
		if inputs[i], err = jsonText(t.Inputs, t.Inputs == nil); err != nil {
			return nil, fmt.Errorf("task %s: encode inputs: %w", t.TaskID, err)
		}
		if outputs[i], err = jsonText(t.Outputs, t.Outputs == nil); err != nil {
			return nil, fmt.Errorf("task %s: encode outputs: %w", t.TaskID, err)
		}
		if metrics[i], err = jsonText(t.Metrics, t.Metrics == nil); err != nil {
			return nil, fmt.Errorf("task %s: encode metrics: %w", t.TaskID, err)
		}
		ids[i], types[i], states[i], errs[i] = t.TaskID, t.Type, string(t.State), t.Error
		params[i] = rawJSON(t.Params)
		seq[i], attempt[i], retries[i] = int64(i), int64(t.Attempt), int64(t.Retry.Retries)
		backoff[i], factor[i], maxBack[i], timeout[i] = int64(t.Retry.Backoff), t.Retry.Factor, int64(t.Retry.MaxBackoff), int64(t.Timeout)
		retryAt[i], started[i], finished[i] = nanos(t.RetryAt), nanos(t.StartedAt), nanos(t.FinishedAt)
		maxIntr[i], intr[i], streak[i] = int64(t.Retry.MaxInterruptions), int64(t.Interrupted), int64(t.InterruptedInARow)
		round[i], failedBefore[i], cache[i] = int64(t.Round), int64(t.FailedBefore), boolInt(t.Cache)
		if len(t.Labels) > 0 {
			if labels[i], err = jsonText(t.Labels, false); err != nil {
				return nil, fmt.Errorf("task %s: encode labels: %w", t.TaskID, err)
			}
		}
		queues[i] = cairn.StoredQueue(t.Queue)
		pools[i], poolSlots[i], priority[i] = t.Pool, int64(max(t.PoolSlots, 1)), int64(t.Priority)
		readyAt[i] = nanos(created) // kept for a ready one only
	}
	return []column{ids, seq, types, states, attempt, retries, backoff, factor, maxBack, timeout, params, inputs, outputs,
		metrics, errs, retryAt, started, finished, maxIntr, intr, streak, round, failedBefore, cache, labels, queues,
		pools, poolSlots, priority, readyAt}, nil
}

// GetRun returns run id. Errors: cairn.ErrNotFound.
func (s *Store) GetRun(ctx context.Context, id string) (*cairn.Run, error) {
	r, err := sqlrow.Run(s.db.QueryRow(ctx, `SELECT `+sqlrow.RunCols+` FROM runs WHERE id = $1`, id))
	if noRows(err) {
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
	rows, err := s.db.Query(ctx, `SELECT path, source FROM run_sources WHERE run_id = $1`, id)
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

const minPrefix = 4

// ResolveRunID expands a unique prefix of at least 4 characters (case
// insensitive) to a run id.
func (s *Store) ResolveRunID(ctx context.Context, prefix string) (string, error) {
	if len(prefix) < minPrefix {
		return "", fmt.Errorf("resolve run id %q: a prefix needs at least %d characters", prefix, minPrefix)
	}
	lower := strings.ToLower(prefix)
	// A range on the primary key (ids are COLLATE "C": by bytes).
	rows, err := s.db.Query(ctx, `SELECT id FROM runs WHERE id >= $1 AND id < $2 ORDER BY id LIMIT 2`,
		lower, lower+"\x7f")
	if err != nil {
		return "", fmt.Errorf("resolve run id %s: %w", prefix, translate(err))
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return "", fmt.Errorf("resolve run id %s: %w", prefix, translate(err))
	}
	var match []string
	for _, id := range ids {
		if strings.HasPrefix(id, lower) {
			match = append(match, id)
		}
	}
	switch len(match) {
	case 0:
		return "", fmt.Errorf("resolve run id %s: %w", prefix, cairn.ErrNotFound)
	case 1:
		return match[0], nil
	}
	return "", fmt.Errorf("resolve run id %s: %w", prefix, cairn.ErrAmbiguous)
}

const defaultListLimit = 50

// ListRuns returns runs newest first (by id descending), filtered and
// paginated as store/sqlite's.
func (s *Store) ListRuns(ctx context.Context, f scheduler.RunFilter) ([]*cairn.Run, error) {
	if f.Before != "" {
		var one int
		switch err := s.db.QueryRow(ctx, `SELECT 1 FROM runs WHERE id = $1`, f.Before).Scan(&one); {
		case noRows(err):
			return nil, fmt.Errorf("list runs before %s: %w", f.Before, cairn.ErrNotFound)
		case err != nil:
			return nil, fmt.Errorf("list runs: %w", translate(err))
		}
	}
	var (
		where []string
		args  []any
	)
	if f.Workflow != "" {
		args = append(args, f.Workflow)
		where = append(where, fmt.Sprintf("workflow = $%d", len(args)))
	}
	if f.State != "" {
		args = append(args, string(f.State))
		where = append(where, fmt.Sprintf("state = $%d", len(args)))
	}
	if f.Before != "" {
		args = append(args, f.Before)
		where = append(where, fmt.Sprintf(`id < $%d`, len(args)))
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
	query += fmt.Sprintf(` ORDER BY id DESC LIMIT $%d`, len(args))
	rows, err := s.db.Query(ctx, query, args...)
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

// ListTaskRuns returns run runID's task runs in creation order.
func (s *Store) ListTaskRuns(ctx context.Context, runID string) ([]*cairn.TaskRun, error) {
	rows, err := s.db.Query(ctx, `SELECT `+sqlrow.TaskCols+` FROM task_runs WHERE run_id = $1 ORDER BY seq`, runID)
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

// SummaryTaskRuns is what the summary of a run reads of its task runs
// (see the SQLite store's): the number in each state of those counted
// (not a for_each task that has items) and, in creation order, only the
// task runs the summary may print a line of.
func (s *Store) SummaryTaskRuns(ctx context.Context, runID string) (map[cairn.TaskState]int, []*cairn.TaskRun, error) {
	rows, err := s.db.Query(ctx, `SELECT state, count(*) FROM task_runs WHERE run_id = $1 AND `+sqlrow.SummaryCounted+` GROUP BY state`, runID)
	if err != nil {
		return nil, nil, fmt.Errorf("count task runs of %s: %w", runID, translate(err))
	}
	counts, err := sqlrow.StateCounts(rows)
	rows.Close()
	if err != nil {
		return nil, nil, fmt.Errorf("count task runs of %s: %w", runID, translate(err))
	}
	rows, err = s.db.Query(ctx, `SELECT `+sqlrow.TaskCols+` FROM task_runs WHERE run_id = $1 AND `+sqlrow.SummaryShown+` ORDER BY seq`, runID)
	if err != nil {
		return nil, nil, fmt.Errorf("list task runs of %s: %w", runID, translate(err))
	}
	defer rows.Close()
	shown, err := sqlrow.Collect(rows, sqlrow.TaskRun)
	if err != nil {
		return nil, nil, fmt.Errorf("list task runs of %s: %w", runID, translate(err))
	}
	return counts, shown, nil
}

// GetTaskRun returns task taskID of run runID. Errors: cairn.ErrNotFound.
func (s *Store) GetTaskRun(ctx context.Context, runID, taskID string) (*cairn.TaskRun, error) {
	t, err := sqlrow.TaskRun(s.db.QueryRow(ctx, `SELECT `+sqlrow.TaskCols+` FROM task_runs WHERE run_id = $1 AND task_id = $2`, runID, taskID))
	if noRows(err) {
		return nil, fmt.Errorf("get task run %s/%s: %w", runID, taskID, cairn.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get task run %s/%s: %w", runID, taskID, translate(err))
	}
	return t, nil
}

// inProgressCols are sqlrow.AttemptCols of the attempt in progress, read from
// its task run.
const inProgressCols = `run_id, task_id, attempt, state, lease_worker, attempt_started_at, attempt_running_at, NULL::bigint, '', '', 0::bigint,
	NULL::bigint, '', type, '', params, '', '', '', 0::bigint`

// ListAttempts returns the attempts of task taskID of run runID oldest
// first, or with taskID "" those of every task of the run (by task
// creation order, then attempt number); the one in progress is read from
// its task run.
func (s *Store) ListAttempts(ctx context.Context, runID, taskID string) ([]*cairn.Attempt, error) {
	var (
		rows pgx.Rows
		err  error
	)
	if taskID == "" {
		rows, err = s.db.Query(ctx, `SELECT `+sqlrow.Prefixed("a.", sqlrow.AttemptCols)+`, t.seq
FROM attempts a JOIN task_runs t ON t.run_id = a.run_id AND t.task_id = a.task_id
WHERE a.run_id = $1
UNION ALL
SELECT `+inProgressCols+`, seq FROM task_runs WHERE run_id = $1 AND lease_token IS NOT NULL
ORDER BY 21, 3`, runID)
	} else {
		rows, err = s.db.Query(ctx, `SELECT `+sqlrow.AttemptCols+`, 0::bigint FROM attempts WHERE run_id = $1 AND task_id = $2
UNION ALL
SELECT `+inProgressCols+`, 0::bigint FROM task_runs WHERE run_id = $1 AND task_id = $2 AND lease_token IS NOT NULL
ORDER BY 3`, runID, taskID)
	}
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

// runMissOrConflict explains a compare-and-set on run id that matched no
// row.
func (s *Store) runMissOrConflict(ctx context.Context, q querier, id, what string) error {
	var n int
	if err := s.queryRow(ctx, q, `SELECT count(*) FROM runs WHERE id = $1`, id).Scan(&n); err != nil {
		return translate(err)
	}
	if n == 0 {
		return fmt.Errorf("run %s: %w", id, cairn.ErrNotFound)
	}
	return fmt.Errorf("%s: %w", what, cairn.ErrConflict)
}

func (s *Store) taskMissOrConflict(ctx context.Context, q querier, runID, taskID string, from int64) error {
	var n int
	if err := s.queryRow(ctx, q, `SELECT count(*) FROM task_runs WHERE run_id = $1 AND task_id = $2`, runID, taskID).Scan(&n); err != nil {
		return translate(err)
	}
	if n == 0 {
		return fmt.Errorf("task %s: %w", taskID, cairn.ErrNotFound)
	}
	return fmt.Errorf("task %s at version %d: %w", taskID, from, cairn.ErrConflict)
}

// RequestCancel marks run id for cancellation (bumping its Version).
// Idempotent. Errors: cairn.ErrNotFound, cairn.ErrTerminal.
func (s *Store) RequestCancel(ctx context.Context, id string) error {
	if err := s.inTx(ctx, s.requestCancelFn(id)); err != nil {
		return fmt.Errorf("request cancel of run %s: %w", id, err)
	}
	return nil
}

func (s *Store) requestCancelFn(id string) txFn {
	return func(ctx context.Context, tx pgx.Tx) error {
		var (
			state  string
			cancel int64
		)
		err := s.queryRow(ctx, tx, `SELECT state, cancel_requested FROM runs WHERE id = $1 FOR UPDATE`, id).Scan(&state, &cancel)
		if noRows(err) {
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
		if _, err = s.exec(ctx, tx, `UPDATE runs SET cancel_requested = 1, version = version + 1 WHERE id = $1`, id); err != nil {
			return err
		}
		_, err = s.addEvaluation(ctx, tx, scheduler.Evaluation{RunID: id, Reason: scheduler.EvalCancel})
		return err
	}
}

func (b *batchTx) CreateRun(run *cairn.Run, tasks []*cairn.TaskRun) error {
	delete(b.owners, run.ID)
	fn, err := b.s.createRunFn(run, tasks)
	if err == nil {
		err = b.run(fn, false)
	}
	if err != nil {
		return fmt.Errorf("create run %s: %w", run.ID, err)
	}
	run.Version = 1
	for _, t := range tasks {
		t.Version = 1
	}
	return nil
}

func (b *batchTx) RequestCancel(id string) error {
	if err := b.run(b.s.requestCancelFn(id), false); err != nil {
		return fmt.Errorf("request cancel of run %s: %w", id, err)
	}
	return nil
}
