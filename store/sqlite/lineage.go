package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/store/internal/sqlrow"
)

// Lineage (issue #19): the transaction that records attempts ending also
// records what they read and wrote — an edge per input and per artifact
// output, each artifact once by digest with its first producer — and
// applies a success's effects (a deploy's registration). A run of noop
// tasks has none of these and pays nothing for them.

const artifactCols = 7

// upsertArtifacts records each artifact once; an output names its first
// producer, also when the artifact was first seen as an input.
func upsertArtifactsQuery(size int) string {
	return `INSERT INTO artifacts (digest, size, media_type, run_id, task_id, attempt, created_at)
SELECT column1, column2, column3, column4, column5, column6, column7 FROM (VALUES ` + valuesList(size, artifactCols) + `)
WHERE column1 IS NOT NULL
ON CONFLICT (digest) DO UPDATE SET run_id = excluded.run_id, task_id = excluded.task_id, attempt = excluded.attempt
WHERE artifacts.run_id = '' AND excluded.run_id != ''`
}

const edgeCols = 6

func insertEdgesQuery(size int) string {
	return `INSERT INTO lineage (run_id, task_id, attempt, direction, port, digest)
SELECT column1, column2, column3, column4, column5, column6 FROM (VALUES ` + valuesList(size, edgeCols) + `)
WHERE column1 IS NOT NULL`
}

// recordLineage writes the lineage of the attempts in ended and applies
// their effects.
func (s *Store) recordLineage(ctx context.Context, tx *sql.Conn, ended []sqlrow.Ended, now time.Time) error {
	edges := sqlrow.LineageEdges(ended)
	if len(edges) > 0 {
		if err := s.writeEdges(ctx, tx, edges, now); err != nil {
			return err
		}
	}
	for _, e := range ended {
		for _, eff := range e.F.Effects {
			if err := s.applyEffect(ctx, tx, e, eff, now); err != nil {
				return err
			}
		}
	}
	return nil
}

// minLineageRows is the fewest rows a statement of writeEdges is padded
// to. A task's edges and artifacts are a few (breast cancer's: 1 to 4):
// padded to powers of two from 1 they made three texts of each
// statement, each prepared (parsed, planned) once per process; padded to
// 8, one — a re-run of breast cancer prepares 36 statements rather than
// 41, 0.66 M instructions fewer (callgrind). A padded row binds NULLs
// and is skipped by the statement.
const minLineageRows = 8

func (s *Store) writeEdges(ctx context.Context, tx *sql.Conn, edges []sqlrow.LineageRow, now time.Time) error {
	// Each artifact once; an output rather than an input, for it names
	// the producer.
	arts := sqlrow.Artifacts(edges)
	err := eachChunk(arts, func(chunk []sqlrow.LineageRow, size int) error {
		size = max(size, minLineageRows)
		args := make([]any, 0, size*artifactCols)
		for _, a := range chunk {
			p := a.Producer()
			args = append(args, a.Ref.Digest, a.Ref.Size, a.Ref.MediaType, p.RunID, p.TaskID, p.Number, now.UnixNano())
		}
		_, err := s.exec(ctx, tx, upsertArtifactsQuery(size), padArgs(args, len(chunk), size, artifactCols)...)
		return err
	})
	if err != nil {
		return fmt.Errorf("record artifacts: %w", err)
	}
	err = eachChunk(edges, func(chunk []sqlrow.LineageRow, size int) error {
		size = max(size, minLineageRows)
		args := make([]any, 0, size*edgeCols)
		for _, e := range chunk {
			args = append(args, e.Attempt.RunID, e.Attempt.TaskID, e.Attempt.Number, e.Direction, e.Port, e.Ref.Digest)
		}
		_, err := s.exec(ctx, tx, insertEdgesQuery(size), padArgs(args, len(chunk), size, edgeCols)...)
		return err
	})
	if err != nil {
		return fmt.Errorf("record lineage: %w", err)
	}
	return nil
}

// applyEffect applies one effect of a success, unless its run reproduces
// another.
func (s *Store) applyEffect(ctx context.Context, tx *sql.Conn, e sqlrow.Ended, eff cairn.Effect, now time.Time) error {
	if n := eff.Notify; n != nil {
		// A run that reproduces another has no targets (insertNotify).
		a := cairn.AttemptRef{RunID: e.TR.RunID, TaskID: e.TR.TaskID, Number: e.F.Lease.Attempt}
		return s.writeAlerts(ctx, tx, a.RunID, n.Event, a.TaskID, n.Detail, sqlrow.TaskAlertKey(a, n.Event), now)
	}
	reg := eff.RegisterModel
	var reproduceOf string
	if err := s.queryRow(ctx, tx, `SELECT reproduce_of FROM runs WHERE id = ?`, e.TR.RunID).Scan(&reproduceOf); err != nil {
		return fmt.Errorf("register model %s: read run %s: %w", reg.Name, e.TR.RunID, translate(err))
	}
	if reproduceOf != "" {
		return nil
	}
	a := cairn.AttemptRef{RunID: e.TR.RunID, TaskID: e.TR.TaskID, Number: e.F.Lease.Attempt}
	v, err := s.registerModel(ctx, tx, *reg, a, now)
	if err != nil {
		return fmt.Errorf("register model %s from %s: %w", reg.Name, a, err)
	}
	if reg.VersionOutput == "" && reg.StageOutput == "" {
		return nil
	}
	var stage cairn.ModelStage
	if reg.StageOutput != "" {
		if err := s.queryRow(ctx, tx, `SELECT stage FROM models WHERE name = ? AND version = ?`, reg.Name, v).Scan(&stage); err != nil {
			return fmt.Errorf("register model %s: read the stage of version %d: %w", reg.Name, v, translate(err))
		}
	}
	b, err := sqlrow.WithRegistered(e.TR, reg, v, stage)
	if err != nil {
		return fmt.Errorf("register model %s: encode outputs: %w", reg.Name, err)
	}
	if _, err := s.exec(ctx, tx, `UPDATE task_runs SET outputs = ? WHERE run_id = ? AND task_id = ?`, b, a.RunID, a.TaskID); err != nil {
		return fmt.Errorf("register model %s: write outputs: %w", reg.Name, err)
	}
	if _, err := s.exec(ctx, tx, `UPDATE attempts SET outputs = ? WHERE run_id = ? AND task_id = ? AND number = ?`, b, a.RunID, a.TaskID, a.Number); err != nil {
		return fmt.Errorf("register model %s: write the attempt's outputs: %w", reg.Name, err)
	}
	return nil
}

func (s *Store) queryRow(ctx context.Context, tx *sql.Conn, query string, args ...any) *sql.Row {
	st, err := s.txStmt(ctx, tx, query)
	if err != nil {
		// A prepare error comes back from Scan, as database/sql does.
		return tx.QueryRowContext(ctx, query, args...)
	}
	s.stmts.Add(1)
	return st.QueryRowContext(ctx, args...)
}

// Reads.

// Artifact returns what the store knows of the artifact digest, or an
// error wrapping cairn.ErrNotFound.
func (s *Store) Artifact(ctx context.Context, digest string) (*cairn.ArtifactRecord, error) {
	a, err := sqlrow.Artifact(s.r.QueryRowContext(ctx, `SELECT `+sqlrow.ArtifactCols+` FROM artifacts WHERE digest = ?`, digest))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("artifact %s: %w", digest, cairn.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read artifact %s: %w", digest, translate(err))
	}
	return a, nil
}

// ArtifactEdges returns the edges that name digest in direction dir
// (cairn.LineageOut: the attempts that wrote it; cairn.LineageIn: those
// that read it), oldest attempt first.
func (s *Store) ArtifactEdges(ctx context.Context, digest, dir string) ([]cairn.LineageEdge, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+sqlrow.Prefixed("l.", sqlrow.EdgeCols)+`
FROM lineage l JOIN attempts a ON a.run_id = l.run_id AND a.task_id = l.task_id AND a.number = l.attempt
WHERE l.digest = ? AND l.direction = ? ORDER BY a.finished_at, l.run_id, l.task_id, l.attempt, l.port`, digest, dir)
	if err != nil {
		return nil, fmt.Errorf("read the lineage of %s: %w", digest, translate(err))
	}
	return scanEdges(rows)
}

// AttemptEdges returns the inputs and outputs of one attempt, inputs
// first, each by port.
func (s *Store) AttemptEdges(ctx context.Context, a cairn.AttemptRef) ([]cairn.LineageEdge, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+sqlrow.EdgeCols+` FROM lineage
WHERE run_id = ? AND task_id = ? AND attempt = ? ORDER BY direction, port`, a.RunID, a.TaskID, a.Number)
	if err != nil {
		return nil, fmt.Errorf("read the lineage of %s: %w", a, translate(err))
	}
	return scanEdges(rows)
}

func scanEdges(rows *sql.Rows) ([]cairn.LineageEdge, error) {
	out := []cairn.LineageEdge{}
	err := scanAll(rows, func(sc scanner) error {
		e, err := sqlrow.Edge(sc)
		out = append(out, e)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read lineage: %w", err)
	}
	return out, nil
}

// Attempt returns one attempt as it ended, or an error wrapping
// cairn.ErrNotFound (an attempt in progress is not found here).
func (s *Store) Attempt(ctx context.Context, a cairn.AttemptRef) (*cairn.Attempt, error) {
	row := s.r.QueryRowContext(ctx, `SELECT `+sqlrow.AttemptCols+` FROM attempts WHERE run_id = ? AND task_id = ? AND number = ?`,
		a.RunID, a.TaskID, a.Number)
	at, err := sqlrow.Attempt(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("attempt %s: %w", a, cairn.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read attempt %s: %w", a, translate(err))
	}
	return at, nil
}

// CachedAttempt is an earlier success a cache key finds: the attempt, its
// outputs and metrics.
type CachedAttempt = cairn.CachedAttempt

// findCachedQuery reads the successes of a cache key through the partial
// index attempts_cache: its condition that the key is not empty is what
// lets SQLite use it (a bound key does not imply it), else every attempt
// is scanned.
const findCachedQuery = `SELECT ` + sqlrow.FindCachedCols + ` FROM attempts
WHERE cache_key = ? AND cache_key != '' AND state = 'succeeded' AND cached_run = '' ORDER BY finished_at DESC LIMIT ?`

// FindCached returns up to limit earlier successes with cache key key,
// newest first. Each is an attempt that ran (a reuse is never reused:
// the attempt it names is found under the same key).
func (s *Store) FindCached(ctx context.Context, key string, limit int) ([]CachedAttempt, error) {
	if key == "" {
		return nil, nil
	}
	// Prepared once per connection: a re-run asks once per task. On the
	// idle writer (reading): a re-run's lookups come between its
	// commits, and on the read pool they opened one connection, often
	// two, each parsing the whole schema (2.2M instructions; a re-run of
	// breast cancer is about 60M).
	var out []CachedAttempt
	err := s.reading(ctx, findCachedQuery, func(ctx context.Context, st *sql.Stmt) error {
		rows, err := st.QueryContext(ctx, key, limit)
		if err != nil {
			return translate(err)
		}
		return scanAll(rows, func(sc scanner) error {
			c, err := sqlrow.Cached(sc)
			if err == nil {
				out = append(out, c)
			}
			return err
		})
	})
	if err != nil {
		return nil, fmt.Errorf("find cached %s: %w", key, err)
	}
	return out, nil
}

// FindCached is Store.FindCached in the batch's transaction, on the
// writer's connection (scheduler.Tx): a cache hit reused in the write
// that hands its task out is looked up there, not on the read pool, whose
// connection would start a read transaction of its own at each lookup
// (and, in a process that opened none yet, be opened: the schema parsed).
func (b *batchTx) FindCached(key string, limit int) ([]CachedAttempt, error) {
	if key == "" {
		return nil, nil
	}
	var out []CachedAttempt
	err := b.run(func(ctx context.Context, tx *sql.Conn) error {
		st, err := b.s.txStmt(ctx, tx, findCachedQuery)
		if err != nil {
			return err
		}
		b.s.stmts.Add(1)
		rows, err := st.QueryContext(ctx, key, limit)
		if err != nil {
			return translate(err)
		}
		out = out[:0]
		return scanAll(rows, func(sc scanner) error {
			c, err := sqlrow.Cached(sc)
			if err == nil {
				out = append(out, c)
			}
			return err
		})
	}, true)
	if err != nil {
		return nil, fmt.Errorf("find cached %s: %w", key, err)
	}
	return out, nil
}

// LastSuccessOf returns the newest attempt of task taskID in runs of
// workflow, other than in run exceptRun, that ended succeeded before
// time before (the zero time: whenever): what a cache miss is explained
// against, the last success there was when the attempt in question
// started (not a newer one, which it could not have reused).
func (s *Store) LastSuccessOf(ctx context.Context, workflow, taskID, exceptRun string, before time.Time) (*cairn.Attempt, error) {
	row := s.r.QueryRowContext(ctx, `SELECT `+sqlrow.Prefixed("a.", sqlrow.AttemptCols)+` FROM attempts a JOIN runs r ON r.id = a.run_id
WHERE r.workflow = ? AND a.task_id = ? AND a.run_id != ? AND a.state = 'succeeded'
AND a.finished_at < ? ORDER BY a.finished_at DESC LIMIT 1`,
		workflow, taskID, exceptRun, sqlrow.Before(before))
	at, err := sqlrow.Attempt(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("an earlier success of %s in workflow %s: %w", taskID, workflow, cairn.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read the last success of %s: %w", taskID, translate(err))
	}
	return at, nil
}
