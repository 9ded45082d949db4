package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/store/internal/sqlrow"
)

// Retention says which runs keep their artifacts from cairn gc
// (scheduler.Retention).
type Retention = scheduler.Retention

// NeededArtifacts returns the digests of the artifacts something still
// needs, each with the first reason found: an input or output of a run
// the retention keeps (its task runs' values and every attempt's lineage
// edges), a model version's artifact or report, and the whole upstream
// lineage of every model version not archived — what reproducing it
// needs. It reads one snapshot of the database.
func (s *Store) NeededArtifacts(ctx context.Context, r Retention) (map[string]string, error) {
	if err := sqlrow.CheckRetention(r); err != nil {
		return nil, err
	}
	rows, err := s.r.QueryContext(ctx, `WITH RECURSIVE
kept(id) AS (
	SELECT id FROM (SELECT id, state, created_at,
		row_number() OVER (PARTITION BY workflow ORDER BY created_at DESC, id DESC) AS n FROM runs)
	WHERE n <= ?1 OR created_at >= ?2 OR state IN ('queued', 'running')
),
upstream(digest) AS (
	SELECT digest FROM models WHERE stage != 'archived'
	UNION
	SELECT i.digest FROM upstream u
	JOIN lineage o ON o.digest = u.digest AND o.direction = 'out'
	JOIN lineage i ON i.run_id = o.run_id AND i.task_id = o.task_id AND i.attempt = o.attempt AND i.direction = 'in'
)
SELECT digest, 'model ' || name || '@' || version FROM models
UNION ALL
SELECT json_extract(report, '$.digest'), 'the report of model ' || name || '@' || version FROM models WHERE report IS NOT NULL
UNION ALL
SELECT digest, 'the lineage of a registered model' FROM upstream
UNION ALL
SELECT json_extract(j.value, '$.digest'), 'run ' || t.run_id FROM task_runs t JOIN kept k ON k.id = t.run_id, json_each(t.outputs) j
WHERE t.outputs IS NOT NULL AND json_valid(t.outputs) AND j.type = 'object'
UNION ALL
SELECT json_extract(j.value, '$.digest'), 'run ' || t.run_id FROM task_runs t JOIN kept k ON k.id = t.run_id, json_each(t.inputs) j
WHERE t.inputs IS NOT NULL AND json_valid(t.inputs) AND j.type = 'object'
UNION ALL
SELECT l.digest, 'run ' || l.run_id FROM lineage l JOIN kept k ON k.id = l.run_id`, r.KeepLast, r.Now.Add(-r.KeepWithin).UnixNano())
	if err != nil {
		return nil, fmt.Errorf("needed artifacts: %w", translate(err))
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var digest, why *string
		if err := rows.Scan(&digest, &why); err != nil {
			return nil, fmt.Errorf("needed artifacts: %w", translate(err))
		}
		if digest == nil || why == nil {
			continue
		}
		if _, seen := out[*digest]; !seen {
			out[*digest] = *why
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("needed artifacts: %w", translate(err))
	}
	return out, nil
}

// OldestActiveAttempt returns when the oldest attempt that still holds a
// lease (leased or running: its process may still store artifacts it has
// not reported) began, and false when none does. 'cairn gc' removes no
// artifact stored since.
func (s *Store) OldestActiveAttempt(ctx context.Context) (time.Time, bool, error) {
	var ns sql.NullInt64
	if err := s.r.QueryRowContext(ctx, `SELECT min(attempt_started_at) FROM task_runs WHERE lease_token IS NOT NULL`).Scan(&ns); err != nil {
		return time.Time{}, false, fmt.Errorf("oldest active attempt: %w", translate(err))
	}
	if !ns.Valid {
		return time.Time{}, false, nil
	}
	return time.Unix(0, ns.Int64), true, nil
}
