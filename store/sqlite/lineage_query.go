package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/store/internal/sqlrow"
)

// Lineage queries (cairn lineage, the artifact and lineage pages): an
// artifact by a prefix of its digest, and the closure of the lineage
// graph upstream or downstream of some artifacts, read in one read
// transaction of a handful of statements, whatever its size.

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
	// are below 'g'.
	rows, err := s.r.QueryContext(ctx, `SELECT `+sqlrow.ArtifactCols+` FROM artifacts
WHERE digest >= ? AND digest < ? ORDER BY digest LIMIT ?`, lo, lo+"g", limit)
	if err != nil {
		return nil, fmt.Errorf("find artifacts %s…: %w", lo, translate(err))
	}
	defer rows.Close()
	var out []*cairn.ArtifactRecord
	for rows.Next() {
		a, err := sqlrow.Artifact(rows)
		if err != nil {
			return nil, fmt.Errorf("find artifacts %s…: %w", lo, translate(err))
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find artifacts %s…: %w", lo, translate(err))
	}
	return out, nil
}

// ModelsOf returns the model versions registered from artifact digest,
// by name and version.
func (s *Store) ModelsOf(ctx context.Context, digest string) ([]*cairn.ModelVersion, error) {
	return s.models(ctx, sqlrow.ModelSelect+` WHERE m.digest = ? ORDER BY m.name, m.version`, digest)
}

// closureQuery is the closure of the lineage graph from a set of
// artifacts (a JSON array in ?1), up to ?2 levels with bounded (see
// sqlrow.ClosureQuery).
func closureQuery(dir string, bounded bool) string {
	return sqlrow.ClosureQuery(dir, bounded, `SELECT value%s FROM json_each(?1)`, "?2")
}

// The attempts of a closure (its digests in ?1): upstream, the first
// producer of each; downstream, every attempt that read one.
const (
	upstreamAttempts = `SELECT DISTINCT a.run_id, a.task_id, a.attempt FROM artifacts a
WHERE a.digest IN (SELECT value FROM json_each(?1)) AND a.run_id != ''`
	downstreamAttempts = `SELECT DISTINCT l.run_id, l.task_id, l.attempt FROM lineage l
WHERE l.digest IN (SELECT value FROM json_each(?1)) AND l.direction = 'in'`
)

// LineageClosure reads the lineage graph upstream (dir cairn.LineageIn:
// what made them) or downstream (cairn.LineageOut: what was made from
// them) of the artifacts roots, up to depth attempts away (0: no bound;
// the graph may hold more, at least one level more, so that a reader can
// tell whether it was cut short, and applies the bound). A closure of
// more than MaxLineageAttempts attempts is refused.
func (s *Store) LineageClosure(ctx context.Context, roots []string, dir string, depth int) (*cairn.LineageGraph, error) {
	depth, err := sqlrow.CheckClosure(dir, depth)
	if err != nil {
		return nil, err
	}
	rootsJSON, err := json.Marshal(roots)
	if err != nil {
		return nil, fmt.Errorf("lineage closure: %w", err)
	}
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("lineage closure: %w", translate(err))
	}
	defer tx.Rollback()
	g, err := s.closure(ctx, tx, string(rootsJSON), dir, depth)
	if err != nil {
		return nil, fmt.Errorf("read the lineage of %s: %w", strings.Join(roots, ", "), err)
	}
	return g, nil
}

// MaxLineageAttempts bounds the attempts one closure may reach: past it
// the query is refused, and a bound (a depth) is needed.
const MaxLineageAttempts = sqlrow.MaxLineageAttempts

func (s *Store) closure(ctx context.Context, tx *sql.Tx, roots, dir string, depth int) (*cairn.LineageGraph, error) {
	var args []any
	if depth > 0 {
		args = []any{roots, depth}
	} else {
		args = []any{roots}
	}
	digests, err := s.queryStrings(ctx, tx, closureQuery(dir, depth > 0), args...)
	if err != nil {
		return nil, err
	}
	reached, err := json.Marshal(digests)
	if err != nil {
		return nil, err
	}
	attemptsQuery := upstreamAttempts
	if dir == cairn.LineageOut {
		attemptsQuery = downstreamAttempts
	}
	// The attempts as a JSON array of [run, task, number], for the
	// statements that follow.
	var refs []byte
	err = s.rtxQueryRow(ctx, tx, `SELECT coalesce(json_group_array(json_array(run_id, task_id, attempt)), '[]') FROM (`+attemptsQuery+`)`, string(reached)).Scan(&refs)
	if err != nil {
		return nil, translate(err)
	}
	var count []json.RawMessage
	if err := json.Unmarshal(refs, &count); err != nil {
		return nil, err
	}
	if err := sqlrow.TooManyAttempts(len(count)); err != nil {
		return nil, err
	}
	const attemptSet = `(SELECT json_extract(value, '$[0]') AS run_id, json_extract(value, '$[1]') AS task_id, json_extract(value, '$[2]') AS n FROM json_each(?1))`
	g := sqlrow.NewLineageGraph()

	rows, err := s.rtxQuery(ctx, tx, `SELECT `+sqlrow.Prefixed("l.", sqlrow.EdgeCols)+`
FROM `+attemptSet+` s JOIN lineage l ON l.run_id = s.run_id AND l.task_id = s.task_id AND l.attempt = s.n
ORDER BY l.run_id, l.task_id, l.attempt, l.direction, l.port`, string(refs))
	if err != nil {
		return nil, translate(err)
	}
	if g.Edges, err = scanEdges(rows); err != nil {
		return nil, err
	}

	rows, err = s.rtxQuery(ctx, tx, `SELECT `+sqlrow.Prefixed("a.", sqlrow.AttemptCols)+`
FROM `+attemptSet+` s JOIN attempts a ON a.run_id = s.run_id AND a.task_id = s.task_id AND a.number = s.n
ORDER BY a.run_id, a.task_id, a.number`, string(refs))
	if err != nil {
		return nil, translate(err)
	}
	if err := scanAll(rows, func(sc scanner) error {
		a, err := sqlrow.Attempt(sc)
		g.Attempts = append(g.Attempts, a)
		return err
	}); err != nil {
		return nil, err
	}

	// Every artifact the edges or the roots name.
	allJSON, err := json.Marshal(sqlrow.ClosureDigests(digests, g.Edges))
	if err != nil {
		return nil, err
	}
	rows, err = s.rtxQuery(ctx, tx, `SELECT `+sqlrow.ArtifactCols+` FROM artifacts
WHERE digest IN (SELECT value FROM json_each(?1)) ORDER BY digest`, string(allJSON))
	if err != nil {
		return nil, translate(err)
	}
	if err := scanAll(rows, func(sc scanner) error {
		a, err := sqlrow.Artifact(sc)
		g.Artifacts = append(g.Artifacts, a)
		return err
	}); err != nil {
		return nil, err
	}

	// The writers of each, first producer first, then by the time they
	// ended.
	rows, err = s.rtxQuery(ctx, tx, `SELECT digest, run_id, task_id, attempt, n FROM (
	SELECT l.digest, l.run_id, l.task_id, l.attempt,
		row_number() OVER w AS k, count(*) OVER (PARTITION BY l.digest) AS n
	FROM lineage l JOIN artifacts f ON f.digest = l.digest
	JOIN attempts a ON a.run_id = l.run_id AND a.task_id = l.task_id AND a.number = l.attempt
	WHERE l.digest IN (SELECT value FROM json_each(?1)) AND l.direction = 'out'
	WINDOW w AS (PARTITION BY l.digest ORDER BY (l.run_id = f.run_id AND l.task_id = f.task_id AND l.attempt = f.attempt) DESC,
		a.finished_at, l.run_id, l.task_id, l.attempt)
) WHERE k <= ?2 ORDER BY digest, k`, string(allJSON), cairn.MaxWriters)
	if err != nil {
		return nil, translate(err)
	}
	if err := scanAll(rows, func(sc scanner) error { return sqlrow.Writer(sc, g) }); err != nil {
		return nil, err
	}

	rows, err = s.rtxQuery(ctx, tx, sqlrow.ModelSelect+` WHERE m.digest IN (SELECT value FROM json_each(?1)) ORDER BY m.name, m.version`, string(allJSON))
	if err != nil {
		return nil, translate(err)
	}
	if err := scanAll(rows, func(sc scanner) error {
		m, err := sqlrow.Model(sc)
		if m != nil {
			g.Models = append(g.Models, m)
		}
		return err
	}); err != nil {
		return nil, err
	}

	rows, err = s.rtxQuery(ctx, tx, `SELECT id, workflow, digest, state, created_at, reproduce_of FROM runs
WHERE id IN (SELECT DISTINCT json_extract(value, '$[0]') FROM json_each(?1)) ORDER BY id`, string(refs))
	if err != nil {
		return nil, translate(err)
	}
	if err := scanAll(rows, func(sc scanner) error {
		r, err := sqlrow.LineageRun(sc)
		g.Runs = append(g.Runs, r)
		return err
	}); err != nil {
		return nil, err
	}
	return g, nil
}

func (s *Store) queryStrings(ctx context.Context, tx *sql.Tx, query string, args ...any) ([]string, error) {
	rows, err := s.rtxQuery(ctx, tx, query, args...)
	if err != nil {
		return nil, translate(err)
	}
	out := []string{}
	err = scanAll(rows, func(sc scanner) error {
		var s string
		err := sc.Scan(&s)
		out = append(out, s)
		return err
	})
	return out, err
}

// rtxQuery runs query in the read transaction tx, prepared once per
// connection of the read pool (the closure's statements cost more to
// prepare than to run).
func (s *Store) rtxQuery(ctx context.Context, tx *sql.Tx, query string, args ...any) (*sql.Rows, error) {
	st, err := s.readStmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return tx.StmtContext(ctx, st).QueryContext(ctx, args...)
}

func (s *Store) rtxQueryRow(ctx context.Context, tx *sql.Tx, query string, args ...any) *sql.Row {
	st, err := s.readStmt(ctx, query)
	if err != nil {
		return tx.QueryRowContext(ctx, query, args...) // the prepare's error comes back from Scan
	}
	return tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
}

// scanAll calls fn for each row of rows and closes them.
func scanAll(rows *sql.Rows, fn func(scanner) error) error {
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return translate(err)
		}
	}
	return translate(rows.Err())
}
