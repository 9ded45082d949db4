package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/store/internal/sqlrow"
)

// keptRuns is the runs a retention keeps ($1 the runs kept per workflow,
// $2 the oldest creation time kept).
const keptRuns = `kept(id) AS (
	SELECT id FROM (SELECT id, state, created_at,
		row_number() OVER (PARTITION BY workflow ORDER BY created_at DESC, id DESC) AS n FROM runs) r
	WHERE n <= $1 OR created_at >= $2 OR state IN ('queued', 'running')
)`

// neededQuery is store/sqlite's but for the task runs' values: the
// registry's artifacts and reports, the upstream lineage of every model
// version not archived, and the lineage edges of the kept runs (marked,
// for they come after the task runs' values).
const neededQuery = `WITH RECURSIVE ` + keptRuns + `,
upstream(digest) AS (
	SELECT digest FROM models WHERE stage != 'archived'
	UNION
	SELECT i.digest FROM upstream u
	JOIN lineage o ON o.digest = u.digest AND o.direction = 'out'
	JOIN lineage i ON i.run_id = o.run_id AND i.task_id = o.task_id AND i.attempt = o.attempt AND i.direction = 'in'
)
SELECT digest, 'model ' || name || '@' || version, false FROM models
UNION ALL
SELECT report::jsonb ->> 'digest', 'the report of model ' || name || '@' || version, false FROM models WHERE report IS NOT NULL
UNION ALL
SELECT digest, 'the lineage of a registered model', false FROM upstream
UNION ALL
SELECT l.digest, 'run ' || l.run_id, true FROM lineage l JOIN kept k ON k.id = l.run_id`

// keptValuesQuery reads the inputs and outputs of the kept runs' task
// runs: their JSON is read here, not in SQL (PostgreSQL 15 has no test of
// text's validity as JSON, and a cast of a bad value would fail the whole
// statement where SQLite's json_valid passes it over).
const keptValuesQuery = `WITH ` + keptRuns + `
SELECT t.run_id, t.outputs, t.inputs FROM task_runs t JOIN kept k ON k.id = t.run_id
WHERE t.outputs IS NOT NULL OR t.inputs IS NOT NULL`

// NeededArtifacts returns the digests of the artifacts something still
// needs, each with the first reason found, as store/sqlite's: an input
// or output of a run the retention keeps (its task runs' values and
// every attempt's lineage edges), a model version's artifact or report,
// and the whole upstream lineage of every model version not archived.
// It reads one snapshot of the database (a REPEATABLE READ transaction).
func (s *Store) NeededArtifacts(ctx context.Context, r scheduler.Retention) (map[string]string, error) {
	if err := sqlrow.CheckRetention(r); err != nil {
		return nil, err
	}
	tx, err := s.db.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, fmt.Errorf("needed artifacts: %w", translate(err))
	}
	defer tx.Rollback(ctx)
	since := r.Now.Add(-r.KeepWithin).UnixNano()
	out := map[string]string{}
	add := func(digest, why string) {
		if _, seen := out[digest]; !seen {
			out[digest] = why
		}
	}
	rs, err := tx.Query(ctx, neededQuery, r.KeepLast, since)
	if err != nil {
		return nil, fmt.Errorf("needed artifacts: %w", translate(err))
	}
	var lineage [][2]string // the kept runs' edges, after the task runs' values as store/sqlite lists them
	for rs.Next() {
		var (
			digest, why *string
			edge        bool
		)
		if err := rs.Scan(&digest, &why, &edge); err != nil {
			rs.Close()
			return nil, fmt.Errorf("needed artifacts: %w", translate(err))
		}
		if digest == nil || why == nil {
			continue
		}
		if edge {
			lineage = append(lineage, [2]string{*digest, *why})
			continue
		}
		add(*digest, *why)
	}
	rs.Close()
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("needed artifacts: %w", translate(err))
	}
	rs, err = tx.Query(ctx, keptValuesQuery, r.KeepLast, since)
	if err != nil {
		return nil, fmt.Errorf("needed artifacts: %w", translate(err))
	}
	var ins [][2]string
	for rs.Next() {
		var (
			run             string
			outputs, inputs []byte
		)
		if err := rs.Scan(&run, &outputs, &inputs); err != nil {
			rs.Close()
			return nil, fmt.Errorf("needed artifacts: %w", translate(err))
		}
		for _, d := range sqlrow.ValueDigests(outputs) {
			add(d, "run "+run)
		}
		for _, d := range sqlrow.ValueDigests(inputs) {
			ins = append(ins, [2]string{d, "run " + run})
		}
	}
	rs.Close()
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("needed artifacts: %w", translate(err))
	}
	for _, p := range append(ins, lineage...) {
		add(p[0], p[1])
	}
	return out, nil
}

// OldestActiveAttempt returns when the oldest attempt that still holds a
// lease began, and false when none does (see store/sqlite's).
func (s *Store) OldestActiveAttempt(ctx context.Context) (time.Time, bool, error) {
	var ns *int64
	if err := s.db.QueryRow(ctx, `SELECT min(attempt_started_at) FROM task_runs WHERE lease_token IS NOT NULL`).Scan(&ns); err != nil {
		return time.Time{}, false, fmt.Errorf("oldest active attempt: %w", translate(err))
	}
	if ns == nil {
		return time.Time{}, false, nil
	}
	return time.Unix(0, *ns), true, nil
}
