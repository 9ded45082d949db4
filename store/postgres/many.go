package postgres

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/store/internal/sqlrow"
)

// completeQuery ends the leases of a list of completions (arrays $1-$24)
// that check accepts, the caller's now being $25: the task runs are
// locked and read as they were, beside what their completion says (old),
// moved on (u), and each attempt written once, as it ended, from what old
// held — one statement. The completions are joined to the task runs once,
// in old, which carries their values on: u and a read only old, each row
// of it found by its key (joining the list again, in each, was a loop
// over the whole list for each row of it). With owners, each row also
// carries its run's owner (a last column, NULL if the run is missing),
// read from the run's row locked FOR SHARE — as batchTx.RunOwner reads
// it, after the task runs' locks —, so that the runs the completer then
// plans need no statement of their own to learn it.
func (s *Store) completeQuery(check leaseCheck, owners bool) string {
	if owners {
		q := s.completeQuery(check, false)
		q = strings.TrimSuffix(q, "\nSELECT * FROM u")
		return q + `,
own AS (SELECT r.id, r.owner FROM runs r WHERE r.id IN (SELECT run_id FROM u) ORDER BY r.id FOR SHARE OF r)
SELECT u.*, own.owner FROM u LEFT JOIN own ON own.id = u.run_id`
	}
	return `WITH v AS (SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[],
	$8::text[], $9::bigint[], $10::bigint[], $11::bigint[], $12::text[], $13::bigint[], $14::text[], $15::bigint[], $16::bigint[],
	$17::text[], $18::text[], $19::text[], $20::text[], $21::text[], $22::bigint[], $23::text[], $24::text[])
	AS v(run_id, task_id, attempt, token, state, outputs, metrics, error, retry_at, finished, intr, astate, afinished, stack,
		retryable, exit_code, plugin, version, cache_key, cached_run, cached_task, cached_attempt, aoutputs, ametrics)),
old AS (SELECT t.run_id, t.task_id, t.attempt, t.lease_worker, t.lease_token, t.attempt_started_at, t.attempt_running_at,
		t.type, t.params, v.state, v.outputs, v.metrics, v.error, v.retry_at, v.finished, v.intr, v.astate, v.afinished, v.stack,
		v.retryable, v.exit_code, v.plugin, v.version, v.cache_key, v.cached_run, v.cached_task, v.cached_attempt, v.aoutputs,
		v.ametrics
	FROM task_runs t JOIN v ON t.run_id = v.run_id AND t.task_id = v.task_id AND t.attempt = v.attempt AND t.lease_token = v.token
	WHERE t.state IN ('leased', 'running') AND ` + s.cond(check, "t", 25) + `
	ORDER BY t.run_id, t.task_id FOR UPDATE OF t),
u AS (UPDATE task_runs t SET state = old.state, outputs = old.outputs, metrics = old.metrics, error = old.error,
	retry_at = old.retry_at, finished_at = coalesce(old.finished, t.finished_at), lease_token = NULL, lease_worker = NULL,
	lease_expires_at = NULL, attempt_started_at = NULL, attempt_running_at = NULL, ` + sqlrow.HoldOnCancel("old.state", "t") + `,
	interrupted = t.interrupted + old.intr, interrupted_streak = (t.interrupted_streak + 1) * old.intr,
	version = t.version + 1
	FROM old
	WHERE t.run_id = old.run_id AND t.task_id = old.task_id
	RETURNING ` + sqlrow.Prefixed("t.", sqlrow.TaskCols) + `),
a AS (INSERT INTO attempts (run_id, task_id, number, state, worker, token, started_at, running_at, finished_at, error, stack,
		retryable, exit_code, plugin, type, version, params, cache_key, cached_run, cached_task, cached_attempt, outputs, metrics)
	SELECT run_id, task_id, attempt, astate, lease_worker, lease_token, attempt_started_at, attempt_running_at, afinished, error,
		stack, retryable, exit_code, plugin, type, version, params, cache_key, cached_run, cached_task, cached_attempt, aoutputs,
		ametrics
	FROM old)
SELECT * FROM u`
}

// completeMany records completions under leases check accepts, in one
// statement whatever their number (see store/sqlite's completeMany).
//
// With owners not nil, the owner of the run of every completion accepted
// is read in the same statement, its run's row locked FOR SHARE, into
// owners (completeQuery).
func (s *Store) completeMany(ctx context.Context, tx pgx.Tx, fs []scheduler.Finish, now time.Time, check leaseCheck,
	owners map[string]string) (trs []*cairn.TaskRun, errs []error, err error) {
	trs, errs = make([]*cairn.TaskRun, len(fs)), make([]error, len(fs))
	type key struct{ run, task string }
	at := make(map[key]int, len(fs))
	rows := make([]sqlrow.Finish, 0, len(fs))
	for i, f := range fs {
		r, err := sqlrow.EncodeFinish(f.Lease, f.Completion, now)
		k := key{f.Lease.RunID, f.Lease.TaskID}
		if _, dup := at[k]; dup && err == nil {
			err = cairn.ErrLeaseLost // the first report of a task decides
		}
		if err != nil {
			errs[i] = fmt.Errorf("complete attempt %s: %w", leaseName(f.Lease), err)
			continue
		}
		at[k] = i
		rows = append(rows, r)
	}
	// Locks are taken in (run, task) order, whoever completes: two
	// completers never wait on each other in a cycle.
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].Lease.RunID != rows[j].Lease.RunID {
			return rows[i].Lease.RunID < rows[j].Lease.RunID
		}
		return rows[i].Lease.TaskID < rows[j].Lease.TaskID
	})
	if len(rows) > 0 {
		n := len(rows)
		var (
			runIDs, taskIDs, tokens, states, errTexts, astates, stacks = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
			plugins, versions, cacheKeys, cachedRuns, cachedTasks      = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
			attempts, intr, afinished, retryable, cachedAttempts       = make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
			outputs, metrics, aoutputs, ametrics                       = make([]*string, n), make([]*string, n), make([]*string, n), make([]*string, n)
			retryAt, finished, exit                                    = make([]*int64, n), make([]*int64, n), make([]*int64, n)
		)
		for i, r := range rows {
			runIDs[i], taskIDs[i], attempts[i], tokens[i] = r.Lease.RunID, r.Lease.TaskID, int64(r.Lease.Attempt), r.Lease.Token
			states[i], outputs[i], metrics[i], errTexts[i] = string(r.State), r.Outputs, r.Metrics, r.ErrText
			retryAt[i], finished[i], intr[i] = r.RetryAt, r.TaskFinished, r.Interrupted
			astates[i], afinished[i], stacks[i], retryable[i], exit[i] = string(r.AttemptState), r.FinishedAt, r.Stack, r.Retryable, r.Exit
			plugins[i], versions[i], cacheKeys[i] = r.Plugin, r.Version, r.CacheKey
			cachedRuns[i], cachedTasks[i], cachedAttempts[i] = r.Cached.RunID, r.Cached.TaskID, int64(r.Cached.Number)
			aoutputs[i], ametrics[i] = r.AttemptOutputs, r.AttemptMetrics
		}
		// The statement's generic plan, prepared once per connection, is
		// its custom one (each row found by its key): without
		// genericPlan, PostgreSQL planned a completion of one report (an
		// idle worker's, a chain's) again at every execution, since its
		// custom plan's estimate of the arrays (one row) is below the
		// generic one's — a plan as long as the execution
		// (pg_stat_statements' plans and total_plan_time,
		// docs/benchmarks.md).
		var b pgx.Batch
		b.Queue(genericPlan)
		b.Queue(s.completeQuery(check, owners != nil), runIDs, taskIDs, attempts, tokens, states, outputs, metrics, errTexts,
			retryAt, finished, intr, astates, afinished, stacks, retryable, exit, plugins, versions, cacheKeys, cachedRuns,
			cachedTasks, cachedAttempts, aoutputs, ametrics, now.UnixNano()).Query(func(res pgx.Rows) error {
			var (
				dec   sqlrow.TaskDecoder
				sc    sqlrow.Scanner = res
				owner *string
			)
			if owners != nil {
				sc = withLast{res, &owner}
			}
			for res.Next() {
				t, err := dec.Decode(sc)
				if err != nil {
					return err
				}
				trs[at[key{t.RunID, t.TaskID}]] = t
				if owner != nil {
					owners[t.RunID] = *owner
				}
			}
			return res.Err()
		})
		s.stmts.Add(2)
		if err := tx.SendBatch(ctx, &b).Close(); err != nil {
			return nil, nil, fmt.Errorf("complete %d attempts: %w", n, translate(err))
		}
	}
	pooled, refused := false, false
	for i := range fs {
		if trs[i] == nil && errs[i] == nil {
			errs[i] = fmt.Errorf("complete attempt %s: %w", leaseName(fs[i].Lease), cairn.ErrLeaseLost)
			refused = true
		}
		pooled = pooled || (trs[i] != nil && trs[i].Pool != "")
	}
	if refused && check == leaseLive {
		// A worker's report of an attempt its run's cancel ended: its
		// process is gone, and so is its hold on its pool's slots.
		n, err := s.releaseHolds(ctx, tx, fs, errs)
		if err != nil {
			return nil, nil, fmt.Errorf("release the pool slots of cancelled attempts: %w", err)
		}
		pooled = pooled || n > 0
	}
	if pooled {
		// A pool's slots came free: the processes listening lease the
		// tasks waiting for them, as they do tasks made ready.
		if _, err := s.exec(ctx, tx, `SELECT pg_notify('`+channelReady+`', '')`); err != nil {
			return nil, nil, err
		}
	}
	ended := make([]sqlrow.Ended, 0, len(rows))
	for i := range rows {
		if t := trs[at[key{rows[i].Lease.RunID, rows[i].Lease.TaskID}]]; t != nil {
			ended = append(ended, sqlrow.Ended{F: &rows[i], TR: t})
		}
	}
	if err := s.recordLineage(ctx, tx, ended, now); err != nil {
		return nil, nil, err
	}
	return trs, errs, nil
}

// CompleteMany is Complete for many completions in one transaction, each
// with its evaluation as Complete records it.
func (s *Store) CompleteMany(ctx context.Context, fs []scheduler.Finish, now time.Time) ([]*cairn.TaskRun, []error, error) {
	var (
		trs  []*cairn.TaskRun
		errs []error
	)
	err := s.inTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		if trs, errs, err = s.completeMany(ctx, tx, fs, now, leaseLive, nil); err != nil {
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
	err := b.run(func(ctx context.Context, tx pgx.Tx) error {
		var err error
		if b.owners == nil {
			b.owners = map[string]string{}
		}
		trs, errs, err = b.s.completeMany(ctx, tx, fs, now, leaseLive, b.owners)
		return err
	}, true)
	if err != nil {
		return nil, nil, fmt.Errorf("complete %d attempts: %w", len(fs), err)
	}
	return trs, errs, nil
}

// withLast scans a row's columns into the destinations given and its
// last column into last.
type withLast struct {
	rows pgx.Rows
	last any
}

func (w withLast) Scan(dest ...any) error {
	return w.rows.Scan(append(dest, w.last)...)
}
