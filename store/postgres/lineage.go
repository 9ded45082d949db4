package postgres

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/store/internal/sqlrow"
)

// Lineage (issue #19), as store/sqlite records it: the transaction that
// records attempts ending also records what they read and wrote and
// applies a success's effects.

func (s *Store) recordLineage(ctx context.Context, tx pgx.Tx, ended []sqlrow.Ended, now time.Time) error {
	if edges := sqlrow.LineageEdges(ended); len(edges) > 0 {
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

func (s *Store) writeEdges(ctx context.Context, tx pgx.Tx, edges []sqlrow.LineageRow, now time.Time) error {
	// Each artifact once; an output rather than an input, for it names
	// the producer.
	arts := sqlrow.Artifacts(edges)
	// In digest order: two transactions recording the same artifacts take
	// their row locks in one order.
	sort.Slice(arts, func(i, j int) bool { return arts[i].Ref.Digest < arts[j].Ref.Digest })
	n := len(arts)
	digests, media, runs, tasks := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	sizes, attempts := make([]int64, n), make([]int64, n)
	for i, a := range arts {
		p := a.Producer()
		digests[i], sizes[i], media[i] = a.Ref.Digest, a.Ref.Size, a.Ref.MediaType
		runs[i], tasks[i], attempts[i] = p.RunID, p.TaskID, int64(p.Number)
	}
	if _, err := s.exec(ctx, tx, `INSERT INTO artifacts (digest, size, media_type, run_id, task_id, attempt, created_at)
SELECT * , $7::bigint FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::bigint[])
ON CONFLICT (digest) DO UPDATE SET run_id = excluded.run_id, task_id = excluded.task_id, attempt = excluded.attempt
WHERE artifacts.run_id = '' AND excluded.run_id != ''`, digests, sizes, media, runs, tasks, attempts, now.UnixNano()); err != nil {
		return fmt.Errorf("record artifacts: %w", err)
	}
	m := len(edges)
	eruns, etasks, dirs, ports, edigests, eattempts := make([]string, m), make([]string, m), make([]string, m), make([]string, m), make([]string, m), make([]int64, m)
	for i, e := range edges {
		eruns[i], etasks[i], eattempts[i], dirs[i], ports[i], edigests[i] = e.Attempt.RunID, e.Attempt.TaskID, int64(e.Attempt.Number), e.Direction, e.Port, e.Ref.Digest
	}
	if _, err := s.exec(ctx, tx, `INSERT INTO lineage (run_id, task_id, attempt, direction, port, digest)
SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[])`,
		eruns, etasks, eattempts, dirs, ports, edigests); err != nil {
		return fmt.Errorf("record lineage: %w", err)
	}
	return nil
}

func (s *Store) applyEffect(ctx context.Context, tx pgx.Tx, e sqlrow.Ended, eff cairn.Effect, now time.Time) error {
	if n := eff.Notify; n != nil {
		// A run that reproduces another has no targets (insertNotify).
		a := cairn.AttemptRef{RunID: e.TR.RunID, TaskID: e.TR.TaskID, Number: e.F.Lease.Attempt}
		return s.writeAlerts(ctx, tx, a.RunID, n.Event, a.TaskID, n.Detail, sqlrow.TaskAlertKey(a, n.Event), now)
	}
	reg := eff.RegisterModel
	var reproduceOf string
	if err := s.queryRow(ctx, tx, `SELECT reproduce_of FROM runs WHERE id = $1`, e.TR.RunID).Scan(&reproduceOf); err != nil {
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
		if err := s.queryRow(ctx, tx, `SELECT stage FROM models WHERE name = $1 AND version = $2`, reg.Name, v).Scan(&stage); err != nil {
			return fmt.Errorf("register model %s: read the stage of version %d: %w", reg.Name, v, translate(err))
		}
	}
	b, err := sqlrow.WithRegistered(e.TR, reg, v, stage)
	if err != nil {
		return fmt.Errorf("register model %s: encode outputs: %w", reg.Name, err)
	}
	if _, err := s.exec(ctx, tx, `UPDATE task_runs SET outputs = $1 WHERE run_id = $2 AND task_id = $3`, b, a.RunID, a.TaskID); err != nil {
		return fmt.Errorf("register model %s: write outputs: %w", reg.Name, err)
	}
	if _, err := s.exec(ctx, tx, `UPDATE attempts SET outputs = $1 WHERE run_id = $2 AND task_id = $3 AND number = $4`, b, a.RunID, a.TaskID, a.Number); err != nil {
		return fmt.Errorf("register model %s: write the attempt's outputs: %w", reg.Name, err)
	}
	return nil
}
