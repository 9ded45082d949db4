package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// The ready queue's statements and the planner's statistics.
//
// The lease's select (the ready tasks in queue order, LIMIT n, FOR
// UPDATE SKIP LOCKED) and the look for a ready task (EXISTS) are cheap
// only on the ready queue's partial indexes walked in their order
// (task_runs_ready, task_runs_ready_run): they read as many entries as
// they take. Chosen by cost, the plan depends on task_runs' statistics,
// which lag behind the queue: on a table not analyzed since its tasks
// became ready (runs just started, or the rare ready rows of a large,
// long-lived table), PostgreSQL expects a few ready rows and takes a
// bitmap scan of every ready row and a sort, for every lease — measured
// on 10,000 ready tasks, 333 buffers and the whole queue sorted for 16
// rows, 2.6 ms of the database's CPU per task of BenchmarkRemoteWorkers20k
// (docs/benchmarks.md). So these statements run after indexPlanner, in
// the same round trip (a pgx batch): no bitmap scan and no sequential
// scan for the rest of the transaction (or of the batch's implicit
// one), leaving the ordered index scans, whatever the statistics say.
// The statements that follow in a completion's transaction (plans
// applied, evaluations) are by primary key, for which the settings
// change nothing.

// indexPlanner turns the planner's bitmap and sequential scans off until
// the transaction ends.
const indexPlanner = `SELECT set_config('enable_bitmapscan', 'off', true), set_config('enable_seqscan', 'off', true)`

// genericPlan makes the prepared statements that follow, until the
// transaction ends, run on their generic plans (made once per connection)
// rather than be planned again at each execution: for statements over
// arrays of keys (the completion's), whose custom plans PostgreSQL
// prefers whenever it estimates the arrays shorter than its default
// guess, though they find each row by its key as the generic one does.
// What follows it in a completion's transaction is by key too.
const genericPlan = `SELECT set_config('plan_cache_mode', 'force_generic_plan', true)`

// batcher is what sends a pgx batch: a pool or a transaction.
type batcher interface {
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// queryRowIndexed runs query, a statement on the ready queue returning
// one row scanned into dest, after indexPlanner, in one round trip.
func (s *Store) queryRowIndexed(ctx context.Context, q batcher, query string, args []any, dest ...any) error {
	var b pgx.Batch
	b.Queue(indexPlanner)
	b.Queue(query, args...).QueryRow(func(row pgx.Row) error { return row.Scan(dest...) })
	s.stmts.Add(2)
	return translate(q.SendBatch(ctx, &b).Close())
}
