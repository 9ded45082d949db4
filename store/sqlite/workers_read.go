package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/store/internal/sqlrow"
)

// MaxListedWorkers bounds ListWorkers: the live workers come first.
const MaxListedWorkers = 1000

// listWorkersQuery is ListWorkers': the leases per worker come from the
// whole of the partial index task_runs_lease_run (the leases in progress).
func listWorkersQuery() string {
	return `SELECT ` + sqlrow.Prefixed("w.", sqlrow.WorkerCols) + `, coalesce(r.n, 0)
FROM workers w LEFT JOIN (SELECT lease_worker, count(*) AS n FROM task_runs WHERE lease_token IS NOT NULL GROUP BY lease_worker) r
	ON r.lease_worker = w.id
WHERE (w.state IN ('active', 'draining') AND w.expires_at > ?1) OR w.seen_at >= ?2
ORDER BY (w.state IN ('active', 'draining') AND w.expires_at > ?1) DESC, w.name, w.id LIMIT ?3`
}

// ListWorkers lists the registered workers (the workers table, which the
// server's worker API writes) that are live at now (active or draining,
// their expiry not passed) or were seen at or after since: the live ones
// first, then by name and id, at most MaxListedWorkers. Each has Running,
// the leases it holds. Reads only, from the read pool.
func (s *Store) ListWorkers(ctx context.Context, now, since time.Time) ([]cairn.Worker, error) {
	st, err := s.readStmt(ctx, listWorkersQuery())
	if err != nil {
		return nil, fmt.Errorf("list workers: %w", err)
	}
	rows, err := st.QueryContext(ctx, now.UnixNano(), since.UnixNano(), MaxListedWorkers)
	if err != nil {
		return nil, fmt.Errorf("list workers: %w", translate(err))
	}
	defer rows.Close()
	out, err := sqlrow.Collect(rows, sqlrow.ListedWorker)
	if err != nil {
		return nil, fmt.Errorf("list workers: %w", translate(err))
	}
	return out, nil
}
