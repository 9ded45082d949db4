package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/store/internal/sqlrow"
)

// MaxListedWorkers bounds ListWorkers: the live workers come first.
const MaxListedWorkers = 1000

// ListWorkers lists the registered workers that are live at now (active
// or draining, their expiry not passed by the database's clock) or were
// seen at or after since, as store/sqlite's ListWorkers: the live ones
// first, then by name and id, at most MaxListedWorkers, each with Running.
// Their times are in the caller's terms (now plus what is left, as lease
// expiries are).
func (s *Store) ListWorkers(ctx context.Context, now, since time.Time) ([]cairn.Worker, error) {
	// A stored time t in the caller's terms: t - clock + now.
	shift := func(col string) string {
		if s.callerClock {
			return col + " + 0 * $1::bigint"
		}
		return col + " - " + s.clock(1) + " + $1"
	}
	live := `w.state IN ('active', 'draining') AND w.expires_at > ` + s.clock(1)
	// sqlrow.WorkerCols, its times shifted.
	cols := `w.id, w.name, w.host, w.token_id, w.version, w.protocol, w.labels, w.queues, w.concurrency, w.state, ` +
		shift("w.registered_at") + `, ` + shift("w.seen_at") + `, ` + shift("w.expires_at") + `, w.types`
	rows, err := s.db.Query(ctx, `SELECT `+cols+`, coalesce(r.n, 0)
FROM workers w LEFT JOIN (SELECT lease_worker, count(*) AS n FROM task_runs WHERE lease_token IS NOT NULL GROUP BY lease_worker) r
	ON r.lease_worker = w.id
WHERE (`+live+`) OR `+shift("w.seen_at")+` >= $2
ORDER BY (`+live+`) DESC, w.name, w.id LIMIT $3`, now.UnixNano(), since.UnixNano(), MaxListedWorkers)
	out, err := collect(rows, err, sqlrow.ListedWorker)
	if err != nil {
		return nil, fmt.Errorf("list workers: %w", err)
	}
	return out, nil
}
