package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
)

// Set-based writes: one statement over many rows, its rows given as a
// VALUES list in a common table expression (`WITH v(...) AS (VALUES ...)
// UPDATE ... FROM v`). A list is padded with rows of NULLs up to a power of
// two, which match no row, so that a handful of statement texts — one per
// size — serve every batch and stay prepared on the writer.

// maxSetRows bounds the rows of one set-based statement (SQLite allows
// 32,766 bound values; the widest list here has 14 columns).
const maxSetRows = 512

// setSize is the padded number of rows for n.
func setSize(n int) int {
	size := 1
	for size < n {
		size *= 2
	}
	return size
}

var valuesCache sync.Map // "rows,cols" → the VALUES list's text

// valuesList returns "(?, ?), (?, ?), ..." for rows rows of cols values.
func valuesList(rows, cols int) string {
	key := fmt.Sprint(rows, ",", cols)
	if s, ok := valuesCache.Load(key); ok {
		return s.(string)
	}
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", cols), ", ") + ")"
	s := strings.TrimSuffix(strings.Repeat(row+", ", rows), ", ")
	valuesCache.Store(key, s)
	return s
}

// padArgs appends NULL rows to args (rows of cols values) up to size rows.
func padArgs(args []any, rows, size, cols int) []any {
	for i := rows * cols; i < size*cols; i++ {
		args = append(args, nil)
	}
	return args
}

// finishRow is a completion encoded for the store.
type finishRow struct {
	l            cairn.Lease
	state        cairn.TaskState
	attemptState cairn.TaskState
	interrupted  int
	outputs      any
	metrics      any
	errText      string
	stack        string
	retryable    int
	retryAt      any // the task's, while retrying
	taskFinished any // the task's, when it ends
	finishedAt   int64
	exit         any
	plugin       string
}

// encodeFinish checks and encodes completion c of lease l.
func encodeFinish(l cairn.Lease, c cairn.Completion, now time.Time) (finishRow, error) {
	f := finishRow{l: l, state: c.State, attemptState: c.State, errText: c.Error, stack: c.Stack, retryable: boolInt(c.Retryable)}
	switch c.State {
	case cairn.TaskSucceeded, cairn.TaskFailed, cairn.TaskRetrying, cairn.TaskCancelled:
	default:
		return f, fmt.Errorf("completion state %q is not succeeded, failed, retrying or cancelled", c.State)
	}
	if c.Interrupted {
		if c.State != cairn.TaskRetrying && c.State != cairn.TaskFailed {
			return f, fmt.Errorf("an interrupted attempt leaves its task retrying or failed, not %s", c.State)
		}
		f.attemptState, f.interrupted = cairn.AttemptInterrupted, 1
	}
	var err error
	if f.outputs, err = jsonValue(c.Outputs, c.Outputs == nil); err != nil {
		return f, fmt.Errorf("encode outputs: %w", err)
	}
	if f.metrics, err = jsonValue(c.Metrics, c.Metrics == nil); err != nil {
		return f, fmt.Errorf("encode metrics: %w", err)
	}
	finishedAt := c.FinishedAt
	if finishedAt.IsZero() {
		finishedAt = now
	}
	f.finishedAt = finishedAt.UnixNano()
	if c.State == cairn.TaskRetrying {
		f.retryAt = nanos(c.RetryAt)
	} else {
		f.taskFinished = f.finishedAt
	}
	if c.ExitCode != nil {
		f.exit = *c.ExitCode
	}
	if c.Plugin != nil {
		b, err := jsonValue(c.Plugin, false)
		if err != nil {
			return f, fmt.Errorf("encode plugin: %w", err)
		}
		f.plugin = b.(string)
	}
	return f, nil
}

// completeManyCols is the width of a row of completeManyQuery's list.
const completeManyCols = 11

// completeManyQuery ends the live leases of a list of completions, for
// size rows.
func completeManyQuery(size int) string {
	return `WITH v(run_id, task_id, attempt, token, state, outputs, metrics, error, retry_at, finished, intr) AS (VALUES ` +
		valuesList(size, completeManyCols) + `)
UPDATE task_runs SET state = v.state, outputs = v.outputs, metrics = v.metrics, error = v.error, retry_at = v.retry_at,
	finished_at = coalesce(v.finished, task_runs.finished_at), lease_token = NULL, lease_worker = NULL,
	lease_expires_at = NULL, interrupted = task_runs.interrupted + v.intr,
	interrupted_streak = (task_runs.interrupted_streak + 1) * v.intr, version = task_runs.version + 1
FROM v WHERE task_runs.run_id = v.run_id AND task_runs.task_id = v.task_id AND task_runs.attempt = v.attempt
	AND task_runs.lease_token = v.token AND task_runs.state IN ('leased', 'running') AND task_runs.lease_expires_at > ?
RETURNING ` + qualifiedTaskCols
}

// qualifiedTaskCols is taskCols naming task_runs, for statements that
// join it with others.
var qualifiedTaskCols = "task_runs." + strings.Join(strings.Split(strings.ReplaceAll(taskCols, "\n\t", " "), ", "), ", task_runs.")

// closeAttemptsCols is the width of a row of closeAttemptsQuery's list.
const closeAttemptsCols = 10

// closeAttemptsQuery records how a list of attempts ended, for size rows.
func closeAttemptsQuery(size int) string {
	return `WITH v(run_id, task_id, number, state, finished_at, error, stack, retryable, exit_code, plugin) AS (VALUES ` +
		valuesList(size, closeAttemptsCols) + `)
UPDATE attempts SET state = v.state, finished_at = v.finished_at, error = v.error, stack = v.stack,
	retryable = v.retryable, exit_code = v.exit_code, plugin = v.plugin
FROM v WHERE attempts.run_id = v.run_id AND attempts.task_id = v.task_id AND attempts.number = v.number`
}

// completeMany records completions under live leases in a few
// statements whatever their number: each is as Complete (without its
// evaluation). It returns per completion the task run as stored, or the
// error that refused it alone (cairn.ErrLeaseLost, a value that does not
// encode); err is a failure of the database, after which the transaction
// cannot be trusted.
func (s *Store) completeMany(ctx context.Context, tx *sql.Tx, fs []scheduler.Finish, now time.Time) (trs []*cairn.TaskRun, errs []error, err error) {
	trs, errs = make([]*cairn.TaskRun, len(fs)), make([]error, len(fs))
	type key struct{ run, task string }
	at := make(map[key]int, len(fs)) // the position of each task's completion
	rows := make([]finishRow, 0, len(fs))
	pos := make([]int, 0, len(fs))
	for i, f := range fs {
		r, err := encodeFinish(f.Lease, f.Completion, now)
		k := key{f.Lease.RunID, f.Lease.TaskID}
		if _, dup := at[k]; dup && err == nil {
			// Two reports for one task: the first decides, the second
			// finds the lease gone, as it would one statement later.
			err = cairn.ErrLeaseLost
		}
		if err != nil {
			errs[i] = fmt.Errorf("complete attempt %s: %w", leaseName(f.Lease), err)
			continue
		}
		at[k] = i
		rows, pos = append(rows, r), append(pos, i)
	}
	done := make([]finishRow, 0, len(rows))
	for start := 0; start < len(rows); start += maxSetRows {
		chunk := rows[start:min(start+maxSetRows, len(rows))]
		size := setSize(len(chunk))
		args := make([]any, 0, size*completeManyCols+1)
		for _, r := range chunk {
			args = append(args, r.l.RunID, r.l.TaskID, r.l.Attempt, r.l.Token, string(r.state), r.outputs, r.metrics,
				r.errText, r.retryAt, r.taskFinished, r.interrupted)
		}
		args = append(padArgs(args, len(chunk), size, completeManyCols), now.UnixNano())
		st, err := s.txStmt(ctx, tx, completeManyQuery(size))
		if err != nil {
			return nil, nil, err
		}
		s.stmts.Add(1)
		res, err := st.QueryContext(ctx, args...)
		if err != nil {
			return nil, nil, translate(err)
		}
		for res.Next() {
			t, err := scanTaskRun(res)
			if err != nil {
				res.Close()
				return nil, nil, translate(err)
			}
			i := at[key{t.RunID, t.TaskID}]
			trs[i] = t
			done = append(done, rows[indexOf(pos, i)])
		}
		if err := res.Err(); err != nil {
			return nil, nil, translate(err)
		}
		res.Close()
	}
	for i := range fs {
		if trs[i] == nil && errs[i] == nil {
			errs[i] = fmt.Errorf("complete attempt %s: %w", leaseName(fs[i].Lease), cairn.ErrLeaseLost)
		}
	}
	for start := 0; start < len(done); start += maxSetRows {
		chunk := done[start:min(start+maxSetRows, len(done))]
		size := setSize(len(chunk))
		args := make([]any, 0, size*closeAttemptsCols)
		for _, r := range chunk {
			args = append(args, r.l.RunID, r.l.TaskID, r.l.Attempt, string(r.attemptState), r.finishedAt, r.errText, r.stack,
				r.retryable, r.exit, r.plugin)
		}
		args = padArgs(args, len(chunk), size, closeAttemptsCols)
		if _, err := s.exec(ctx, tx, closeAttemptsQuery(size), args...); err != nil {
			return nil, nil, fmt.Errorf("close attempts: %w", err)
		}
	}
	return trs, errs, nil
}

// indexOf returns the position of v in xs (xs is increasing).
func indexOf(xs []int, v int) int {
	lo, hi := 0, len(xs)
	for lo < hi {
		m := (lo + hi) / 2
		if xs[m] < v {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// CompleteMany is Complete for many completions in one transaction and a
// few statements, each with its evaluation as Complete records it.
func (s *Store) CompleteMany(ctx context.Context, fs []scheduler.Finish, now time.Time) ([]*cairn.TaskRun, []error, error) {
	var (
		trs  []*cairn.TaskRun
		errs []error
	)
	err := s.inTxCAS(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var err error
		if trs, errs, err = s.completeMany(ctx, tx, fs, now); err != nil {
			return err
		}
		for i, f := range fs {
			if trs[i] == nil {
				continue
			}
			if _, err := s.addEvaluation(ctx, tx, completionEval(f.Lease, f.Completion, now, scheduler.EvalCompleted)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("complete %d attempts: %w", len(fs), err)
	}
	return trs, errs, nil
}

func (b *batchTx) CompleteMany(fs []scheduler.Finish, now time.Time) ([]*cairn.TaskRun, []error, error) {
	var (
		trs  []*cairn.TaskRun
		errs []error
	)
	// Refusals write nothing and are reported per item: the call fails
	// only when the database does, which breaks the transaction anyway.
	err := b.run(func(ctx context.Context, tx *sql.Tx) error {
		var err error
		trs, errs, err = b.s.completeMany(ctx, tx, fs, now)
		return err
	}, true)
	if err != nil {
		return nil, nil, fmt.Errorf("complete %d attempts: %w", len(fs), err)
	}
	return trs, errs, nil
}
