package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cairnml/cairn"
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
	// workerCols, its times shifted.
	cols := `w.id, w.name, w.host, w.token_id, w.version, w.protocol, w.labels, w.queues, w.concurrency, w.state, ` +
		shift("w.registered_at") + `, ` + shift("w.seen_at") + `, ` + shift("w.expires_at")
	rows, err := s.db.Query(ctx, `SELECT `+cols+`, coalesce(r.n, 0)
FROM workers w LEFT JOIN (SELECT lease_worker, count(*) AS n FROM task_runs WHERE lease_token IS NOT NULL GROUP BY lease_worker) r
	ON r.lease_worker = w.id
WHERE (`+live+`) OR `+shift("w.seen_at")+` >= $2
ORDER BY (`+live+`) DESC, w.name, w.id LIMIT $3`, now.UnixNano(), since.UnixNano(), MaxListedWorkers)
	if err != nil {
		return nil, fmt.Errorf("list workers: %w", translate(err))
	}
	defer rows.Close()
	out := []cairn.Worker{}
	for rows.Next() {
		var running int64
		w, err := scanWorker(scanMore{rows, []any{&running}})
		if err != nil {
			return nil, fmt.Errorf("list workers: %w", translate(err))
		}
		w.Running = int(running)
		for i, q := range w.Queues {
			w.Queues[i] = cairn.StoredQueue(q)
		}
		out = append(out, w)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list workers: %w", translate(err))
	}
	return out, nil
}

// scanMore scans a row's first columns as its caller asks, then the rest
// into more.
type scanMore struct {
	sc   pgx.Row
	more []any
}

func (m scanMore) Scan(dest ...any) error { return m.sc.Scan(append(dest, m.more...)...) }
