package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/store/internal/sqlrow"
)

// Lineage reads (cairn lineage, the artifact and lineage pages, caching),
// as store/sqlite's: the same rows in the same order (every text column is
// COLLATE "C", so that orders are by bytes, as SQLite's).

// Artifact returns what the store knows of the artifact digest, or an
// error wrapping cairn.ErrNotFound.
func (s *Store) Artifact(ctx context.Context, digest string) (*cairn.ArtifactRecord, error) {
	a, err := sqlrow.Artifact(s.db.QueryRow(ctx, `SELECT `+sqlrow.ArtifactCols+` FROM artifacts WHERE digest = $1`, digest))
	if noRows(err) {
		return nil, fmt.Errorf("artifact %s: %w", digest, cairn.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read artifact %s: %w", digest, translate(err))
	}
	return a, nil
}

// ArtifactsByPrefix returns up to limit artifacts whose digest's hex
// starts with hexPrefix (lowercase hex, without "sha256:"), in digest
// order.
func (s *Store) ArtifactsByPrefix(ctx context.Context, hexPrefix string, limit int) ([]*cairn.ArtifactRecord, error) {
	for _, r := range hexPrefix {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') {
			return nil, fmt.Errorf("artifact prefix %q: only lowercase hex digits", hexPrefix)
		}
	}
	lo := "sha256:" + hexPrefix
	// Every digest starting with lo sorts in [lo, lo+"g"): hex digits
	// are below 'g' (a range on the primary key).
	rs, err := s.db.Query(ctx, `SELECT `+sqlrow.ArtifactCols+` FROM artifacts
WHERE digest >= $1 AND digest < $2 ORDER BY digest LIMIT $3`, lo, lo+"g", limitArg(limit))
	out, err := collect(rs, err, sqlrow.Artifact)
	if err != nil {
		return nil, fmt.Errorf("find artifacts %s…: %w", lo, err)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// ArtifactEdges returns the edges that name digest in direction dir
// (cairn.LineageOut: the attempts that wrote it; cairn.LineageIn: those
// that read it), oldest attempt first.
func (s *Store) ArtifactEdges(ctx context.Context, digest, dir string) ([]cairn.LineageEdge, error) {
	rs, err := s.db.Query(ctx, `SELECT `+sqlrow.Prefixed("l.", sqlrow.EdgeCols)+`
FROM lineage l JOIN attempts a ON a.run_id = l.run_id AND a.task_id = l.task_id AND a.number = l.attempt
WHERE l.digest = $1 AND l.direction = $2 ORDER BY a.finished_at NULLS FIRST, l.run_id, l.task_id, l.attempt, l.port`, digest, dir)
	out, err := collect(rs, err, sqlrow.Edge)
	if err != nil {
		return nil, fmt.Errorf("read the lineage of %s: %w", digest, err)
	}
	return out, nil
}

// AttemptEdges returns the inputs and outputs of one attempt, inputs
// first, each by port.
func (s *Store) AttemptEdges(ctx context.Context, a cairn.AttemptRef) ([]cairn.LineageEdge, error) {
	rs, err := s.db.Query(ctx, `SELECT `+sqlrow.EdgeCols+` FROM lineage
WHERE run_id = $1 AND task_id = $2 AND attempt = $3 ORDER BY direction, port`, a.RunID, a.TaskID, a.Number)
	out, err := collect(rs, err, sqlrow.Edge)
	if err != nil {
		return nil, fmt.Errorf("read the lineage of %s: %w", a, err)
	}
	return out, nil
}

// Attempt returns one attempt as it ended, or an error wrapping
// cairn.ErrNotFound (an attempt in progress is not found here).
func (s *Store) Attempt(ctx context.Context, a cairn.AttemptRef) (*cairn.Attempt, error) {
	at, err := sqlrow.Attempt(s.db.QueryRow(ctx, `SELECT `+sqlrow.AttemptCols+` FROM attempts WHERE run_id = $1 AND task_id = $2 AND number = $3`,
		a.RunID, a.TaskID, a.Number))
	if noRows(err) {
		return nil, fmt.Errorf("attempt %s: %w", a, cairn.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read attempt %s: %w", a, translate(err))
	}
	return at, nil
}

// findCachedQuery reads the successes of a cache key on the partial index
// attempts_cache (its condition repeated, so that the planner may use it).
const findCachedQuery = `SELECT ` + sqlrow.FindCachedCols + ` FROM attempts
WHERE cache_key = $1 AND cache_key != '' AND state = 'succeeded' AND cached_run = '' ORDER BY finished_at DESC LIMIT $2`

// FindCached returns up to limit earlier successes with cache key key,
// newest first. Each is an attempt that ran (a reuse is never reused:
// the attempt it names is found under the same key).
func (s *Store) FindCached(ctx context.Context, key string, limit int) ([]cairn.CachedAttempt, error) {
	if key == "" {
		return nil, nil
	}
	rs, err := s.db.Query(ctx, findCachedQuery, key, limitArg(limit))
	out, err := collect(rs, err, sqlrow.Cached)
	if err != nil {
		return nil, fmt.Errorf("find cached %s: %w", key, err)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// FindCached is Store.FindCached in the batch's transaction
// (scheduler.Tx), as of it.
func (b *batchTx) FindCached(key string, limit int) ([]cairn.CachedAttempt, error) {
	if key == "" {
		return nil, nil
	}
	var out []cairn.CachedAttempt
	err := b.run(func(ctx context.Context, tx pgx.Tx) error {
		rs, err := b.s.query(ctx, tx, findCachedQuery, key, limitArg(limit))
		out, err = collect(rs, err, sqlrow.Cached)
		return err
	}, true)
	if err != nil {
		return nil, fmt.Errorf("find cached %s: %w", key, err)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// LastSuccessOf returns the newest attempt of task taskID in runs of
// workflow, other than in run exceptRun, that ended succeeded before
// time before (the zero time: whenever): what a cache miss is explained
// against, the last success there was when the attempt in question
// started (not a newer one, which it could not have reused).
func (s *Store) LastSuccessOf(ctx context.Context, workflow, taskID, exceptRun string, before time.Time) (*cairn.Attempt, error) {
	at, err := sqlrow.Attempt(s.db.QueryRow(ctx, `SELECT `+sqlrow.Prefixed("a.", sqlrow.AttemptCols)+` FROM attempts a JOIN runs r ON r.id = a.run_id
WHERE r.workflow = $1 AND a.task_id = $2 AND a.run_id != $3 AND a.state = 'succeeded'
AND a.finished_at < $4 ORDER BY a.finished_at DESC LIMIT 1`,
		workflow, taskID, exceptRun, sqlrow.Before(before)))
	if noRows(err) {
		return nil, fmt.Errorf("an earlier success of %s in workflow %s: %w", taskID, workflow, cairn.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read the last success of %s: %w", taskID, translate(err))
	}
	return at, nil
}

// ModelsOf returns the model versions registered from artifact digest,
// by name and version.
func (s *Store) ModelsOf(ctx context.Context, digest string) ([]*cairn.ModelVersion, error) {
	return s.models(ctx, sqlrow.ModelSelect+` WHERE m.digest = $1 ORDER BY m.name, m.version`, digest)
}

// collect reads every row of a query (rs, err: what Query returned) with
// scan, then closes them; driver errors translated.
func collect[T any](rs pgx.Rows, err error, scan func(sqlrow.Scanner) (T, error)) ([]T, error) {
	if err != nil {
		return nil, translate(err)
	}
	defer rs.Close()
	out, err := sqlrow.Collect(rs, scan)
	if err != nil {
		return nil, translate(err)
	}
	return out, nil
}

// closureQuery is the closure of the lineage graph from a set of
// artifacts ($1), up to $2 levels with bounded (see sqlrow.ClosureQuery).
func closureQuery(dir string, bounded bool) string {
	return sqlrow.ClosureQuery(dir, bounded, `SELECT unnest($1::text[]) COLLATE "C"%s`, "$2")
}

// The attempts of a closure (its digests in $1): upstream, the first
// producer of each; downstream, every attempt that read one.
const (
	upstreamAttempts = `SELECT DISTINCT a.run_id, a.task_id, a.attempt FROM artifacts a
WHERE a.digest = ANY($1::text[]) AND a.run_id != ''`
	downstreamAttempts = `SELECT DISTINCT l.run_id, l.task_id, l.attempt FROM lineage l
WHERE l.digest = ANY($1::text[]) AND l.direction = 'in'`
)

// attemptSet is the attempts of a closure as a relation (run_id, task_id,
// n) from three arrays, $1 to $3.
const attemptSet = `unnest($1::text[], $2::text[], $3::bigint[]) AS s(run_id, task_id, n)`

// LineageClosure reads the lineage graph upstream (dir cairn.LineageIn:
// what made them) or downstream (cairn.LineageOut: what was made from
// them) of the artifacts roots, up to depth attempts away (0: no bound;
// the graph may hold more, at least one level more, so that a reader can
// tell whether it was cut short, and applies the bound), in one
// REPEATABLE READ read-only transaction. A closure of more than
// sqlrow.MaxLineageAttempts attempts is refused.
func (s *Store) LineageClosure(ctx context.Context, roots []string, dir string, depth int) (*cairn.LineageGraph, error) {
	depth, err := sqlrow.CheckClosure(dir, depth)
	if err != nil {
		return nil, err
	}
	tx, err := s.db.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, fmt.Errorf("lineage closure: %w", translate(err))
	}
	defer tx.Rollback(ctx)
	g, err := s.closure(ctx, tx, roots, dir, depth)
	if err != nil {
		return nil, fmt.Errorf("read the lineage of %s: %w", strings.Join(roots, ", "), err)
	}
	return g, nil
}

func (s *Store) closure(ctx context.Context, tx pgx.Tx, roots []string, dir string, depth int) (*cairn.LineageGraph, error) {
	if roots == nil {
		roots = []string{}
	}
	args := []any{roots}
	if depth > 0 {
		args = append(args, depth)
	}
	rs, err := tx.Query(ctx, closureQuery(dir, depth > 0), args...)
	digests, err := collect(rs, err, scanString)
	if err != nil {
		return nil, err
	}
	attemptsQuery := upstreamAttempts
	if dir == cairn.LineageOut {
		attemptsQuery = downstreamAttempts
	}
	rs, err = tx.Query(ctx, attemptsQuery, digests)
	refs, err := collect(rs, err, func(sc sqlrow.Scanner) (cairn.AttemptRef, error) {
		var (
			a cairn.AttemptRef
			n int64
		)
		err := sc.Scan(&a.RunID, &a.TaskID, &n)
		a.Number = int(n)
		return a, err
	})
	if err != nil {
		return nil, err
	}
	if err := sqlrow.TooManyAttempts(len(refs)); err != nil {
		return nil, err
	}
	runs, tasks, numbers := make([]string, len(refs)), make([]string, len(refs)), make([]int64, len(refs))
	for i, a := range refs {
		runs[i], tasks[i], numbers[i] = a.RunID, a.TaskID, int64(a.Number)
	}
	g := sqlrow.NewLineageGraph()

	rs, err = tx.Query(ctx, `SELECT `+sqlrow.Prefixed("l.", sqlrow.EdgeCols)+`
FROM `+attemptSet+` JOIN lineage l ON l.run_id = s.run_id AND l.task_id = s.task_id AND l.attempt = s.n
ORDER BY l.run_id, l.task_id, l.attempt, l.direction, l.port`, runs, tasks, numbers)
	if g.Edges, err = collect(rs, err, sqlrow.Edge); err != nil {
		return nil, err
	}

	rs, err = tx.Query(ctx, `SELECT `+sqlrow.Prefixed("a.", sqlrow.AttemptCols)+`
FROM `+attemptSet+` JOIN attempts a ON a.run_id = s.run_id AND a.task_id = s.task_id AND a.number = s.n
ORDER BY a.run_id, a.task_id, a.number`, runs, tasks, numbers)
	if g.Attempts, err = collect(rs, err, func(sc sqlrow.Scanner) (*cairn.Attempt, error) { return sqlrow.Attempt(sc) }); err != nil {
		return nil, err
	}
	if len(g.Attempts) == 0 {
		g.Attempts = nil
	}

	// Every artifact the edges or the roots name.
	all := sqlrow.ClosureDigests(digests, g.Edges)
	if all == nil {
		all = []string{}
	}
	rs, err = tx.Query(ctx, `SELECT `+sqlrow.ArtifactCols+` FROM artifacts WHERE digest = ANY($1::text[]) ORDER BY digest`, all)
	if g.Artifacts, err = collect(rs, err, sqlrow.Artifact); err != nil {
		return nil, err
	}
	if len(g.Artifacts) == 0 {
		g.Artifacts = nil
	}

	// The writers of each, first producer first, then by the time they
	// ended.
	rs, err = tx.Query(ctx, `SELECT digest, run_id, task_id, attempt, n FROM (
	SELECT l.digest, l.run_id, l.task_id, l.attempt,
		row_number() OVER w AS k, count(*) OVER (PARTITION BY l.digest) AS n
	FROM lineage l JOIN artifacts f ON f.digest = l.digest
	JOIN attempts a ON a.run_id = l.run_id AND a.task_id = l.task_id AND a.number = l.attempt
	WHERE l.digest = ANY($1::text[]) AND l.direction = 'out'
	WINDOW w AS (PARTITION BY l.digest ORDER BY (l.run_id = f.run_id AND l.task_id = f.task_id AND l.attempt = f.attempt) DESC,
		a.finished_at NULLS FIRST, l.run_id, l.task_id, l.attempt)
) w WHERE k <= $2 ORDER BY digest, k`, all, cairn.MaxWriters)
	if _, err = collect(rs, err, func(sc sqlrow.Scanner) (struct{}, error) { return struct{}{}, sqlrow.Writer(sc, g) }); err != nil {
		return nil, err
	}

	rs, err = tx.Query(ctx, sqlrow.ModelSelect+` WHERE m.digest = ANY($1::text[]) ORDER BY m.name, m.version`, all)
	if g.Models, err = collect(rs, err, sqlrow.Model); err != nil {
		return nil, err
	}
	if len(g.Models) == 0 {
		g.Models = nil
	}

	rs, err = tx.Query(ctx, `SELECT id, workflow, digest, state, created_at, reproduce_of FROM runs
WHERE id = ANY($1::text[]) ORDER BY id`, runs)
	if g.Runs, err = collect(rs, err, sqlrow.LineageRun); err != nil {
		return nil, err
	}
	if len(g.Runs) == 0 {
		g.Runs = nil
	}
	return g, nil
}

// limitArg is a LIMIT's argument as SQLite takes it: a negative limit is
// none (NULL), where PostgreSQL would refuse it.
func limitArg(limit int) *int64 {
	if limit < 0 {
		return nil
	}
	n := int64(limit)
	return &n
}

func scanString(sc sqlrow.Scanner) (string, error) {
	var s string
	err := sc.Scan(&s)
	return s, err
}
