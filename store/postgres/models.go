package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/store/internal/sqlrow"
)

// The model registry, as store/sqlite's. Every registry write takes the
// registry's advisory lock first, for the rest of its transaction: version
// numbers (max()+1 per name) cannot race, and model_stages ids appear in
// commit order (ModelStageSeq only grows as changes become visible).

func (s *Store) lockRegistry(ctx context.Context, tx pgx.Tx) error {
	_, err := s.exec(ctx, tx, `SELECT pg_advisory_xact_lock($1)`, lockRegistry)
	return err
}

func (s *Store) registerModel(ctx context.Context, tx pgx.Tx, reg cairn.ModelRegistration, a cairn.AttemptRef, now time.Time) (int, error) {
	if err := s.lockRegistry(ctx, tx); err != nil {
		return 0, err
	}
	if _, err := s.exec(ctx, tx, `INSERT INTO artifacts (digest, size, media_type, created_at) VALUES ($1, $2, $3, $4)
ON CONFLICT (digest) DO NOTHING`, reg.Model.Digest, reg.Model.Size, reg.Model.MediaType, now.UnixNano()); err != nil {
		return 0, err
	}
	var (
		version int
		stage   string
	)
	err := s.queryRow(ctx, tx, `SELECT version, stage FROM models WHERE name = $1 AND digest = $2`, reg.Name, reg.Model.Digest).Scan(&version, &stage)
	switch {
	case noRows(err):
		metrics, err := jsonText(reg.Metrics, reg.Metrics == nil)
		if err != nil {
			return 0, fmt.Errorf("encode metrics: %w", err)
		}
		report, err := jsonText(reg.Report, reg.Report == nil)
		if err != nil {
			return 0, fmt.Errorf("encode report: %w", err)
		}
		if err := s.queryRow(ctx, tx, `SELECT coalesce(max(version), 0) + 1 FROM models WHERE name = $1`, reg.Name).Scan(&version); err != nil {
			return 0, translate(err)
		}
		if reg.Stage == cairn.StageProduction {
			if err := s.demoteProduction(ctx, tx, reg.Name, "deploy", a.String(), now); err != nil {
				return 0, err
			}
		}
		if _, err := s.exec(ctx, tx, `INSERT INTO models (`+sqlrow.ModelCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
			reg.Name, version, reg.Model.Digest, string(reg.Stage), metrics, report, a.RunID, a.TaskID, a.Number, now.UnixNano(), now.UnixNano()); err != nil {
			return 0, err
		}
		if err := s.logStage(ctx, tx, reg.Name, version, "", reg.Stage, "deploy", a.String(), now); err != nil {
			return 0, err
		}
		return version, s.deployRollout(ctx, tx, reg, version, reg.Stage, a, now)
	case err != nil:
		return 0, translate(err)
	}
	if cairn.ModelStage(stage) == reg.Stage || cairn.ModelStage(stage) == cairn.StageProduction {
		if cairn.ModelStage(stage) != cairn.StageProduction {
			return version, s.deployRollout(ctx, tx, reg, version, cairn.ModelStage(stage), a, now)
		}
		return version, nil
	}
	if err := s.setStage(ctx, tx, reg.Name, version, cairn.ModelStage(stage), reg.Stage, "deploy", a.String(), now); err != nil {
		return 0, err
	}
	return version, s.deployRollout(ctx, tx, reg, version, reg.Stage, a, now)
}

// deployRollout is store/sqlite's: what a deploy's strategy asks of the
// version it registered.
func (s *Store) deployRollout(ctx context.Context, tx pgx.Tx, reg cairn.ModelRegistration, version int, stage cairn.ModelStage, a cairn.AttemptRef, now time.Time) error {
	if reg.Rollout == nil || reg.Rollout.Strategy == "" || reg.Rollout.Strategy == cairn.StrategyDirect {
		return s.settleRollout(ctx, tx, reg.Name, now)
	}
	var prod int
	if err := s.queryRow(ctx, tx, `SELECT coalesce(max(version), 0) FROM models WHERE name = $1 AND stage = 'production'`, reg.Name).Scan(&prod); err != nil {
		return translate(err)
	}
	if prod == 0 {
		return s.setStage(ctx, tx, reg.Name, version, stage, cairn.StageProduction, "deploy", a.String(), now)
	}
	if prod == version {
		return nil
	}
	if r, err := s.activeRollout(ctx, tx, reg.Name); err != nil || (r != nil && r.Candidate == version) {
		return err
	}
	_, err := s.startRollout(ctx, tx, reg.Name, version, *reg.Rollout, a.String(), now)
	return err
}

func (s *Store) demoteProduction(ctx context.Context, tx pgx.Tx, name, reason, actor string, now time.Time) error {
	var v int
	err := s.queryRow(ctx, tx, `SELECT version FROM models WHERE name = $1 AND stage = 'production'`, name).Scan(&v)
	if noRows(err) {
		return nil
	}
	if err != nil {
		return translate(err)
	}
	if _, err := s.exec(ctx, tx, `UPDATE models SET stage = 'archived', stage_changed_at = $1 WHERE name = $2 AND version = $3`, now.UnixNano(), name, v); err != nil {
		return err
	}
	return s.logStage(ctx, tx, name, v, cairn.StageProduction, cairn.StageArchived, reason, actor, now)
}

func (s *Store) setStage(ctx context.Context, tx pgx.Tx, name string, version int, from, to cairn.ModelStage, reason, actor string, now time.Time) error {
	if to == cairn.StageProduction {
		if err := s.demoteProduction(ctx, tx, name, reason, actor, now); err != nil {
			return err
		}
	}
	if _, err := s.exec(ctx, tx, `UPDATE models SET stage = $1, stage_changed_at = $2 WHERE name = $3 AND version = $4`, string(to), now.UnixNano(), name, version); err != nil {
		return err
	}
	return s.logStage(ctx, tx, name, version, from, to, reason, actor, now)
}

func (s *Store) logStage(ctx context.Context, tx pgx.Tx, name string, version int, from, to cairn.ModelStage, reason, actor string, now time.Time) error {
	_, err := s.exec(ctx, tx, `INSERT INTO model_stages (name, version, from_stage, to_stage, reason, actor, at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		name, version, string(from), string(to), reason, actor, now.UnixNano())
	return err
}

// PromoteModel moves version of model name to stage, in one transaction
// with its record in the model's history and the audit log (actor is who
// asked), as store/sqlite's: a version already at stage is left as it
// is, and nothing is recorded.
func (s *Store) PromoteModel(ctx context.Context, name string, version int, stage cairn.ModelStage, actor string, now time.Time) (*cairn.ModelVersion, error) {
	if !stage.Valid() {
		return nil, fmt.Errorf("promote model %s@%d: stage %q is not candidate, production or archived", name, version, stage)
	}
	err := s.inTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		if err := s.lockRegistry(ctx, tx); err != nil {
			return err
		}
		var from string
		err := s.queryRow(ctx, tx, `SELECT stage FROM models WHERE name = $1 AND version = $2`, name, version).Scan(&from)
		if noRows(err) {
			return s.noSuchVersion(ctx, tx, name, version)
		}
		if err != nil {
			return translate(err)
		}
		if cairn.ModelStage(from) == stage {
			return nil // nothing changes, nothing to record
		}
		var was int // the version in production before, which production archives
		if stage == cairn.StageProduction {
			if err := s.queryRow(ctx, tx, `SELECT coalesce(max(version), 0) FROM models WHERE name = $1 AND stage = 'production'`, name).Scan(&was); err != nil {
				return translate(err)
			}
		}
		if err := s.setStage(ctx, tx, name, version, cairn.ModelStage(from), stage, "promote", actor, now); err != nil {
			return err
		}
		if err := s.settleRollout(ctx, tx, name, now); err != nil {
			return err
		}
		a, err := sqlrow.PromoteAudit(name, version, from, stage, was, actor, now)
		if err != nil {
			return err
		}
		_, err = s.addAudit(ctx, tx, a)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("promote model %s@%d to %s: %w", name, version, stage, err)
	}
	return s.ModelVersion(ctx, name, version)
}

func (s *Store) noSuchVersion(ctx context.Context, tx pgx.Tx, name string, version int) error {
	var n, max int
	if err := s.queryRow(ctx, tx, `SELECT count(*), coalesce(max(version), 0) FROM models WHERE name = $1`, name).Scan(&n, &max); err != nil {
		return translate(err)
	}
	return sqlrow.NoSuchVersion(name, version, n, max)
}

// RollbackModel puts back in production the version that was there before
// the current one (see store/sqlite's RollbackModel).
func (s *Store) RollbackModel(ctx context.Context, name, actor string, now time.Time) (*cairn.ModelVersion, error) {
	var back int
	err := s.inTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		if err := s.lockRegistry(ctx, tx); err != nil {
			return err
		}
		var cur int
		var since int64
		err := s.queryRow(ctx, tx, `SELECT m.version, (SELECT max(id) FROM model_stages h WHERE h.name = m.name AND h.version = m.version AND h.to_stage = 'production')
FROM models m WHERE m.name = $1 AND m.stage = 'production'`, name).Scan(&cur, &since)
		if noRows(err) {
			return fmt.Errorf("model %s has no version in production to roll back: %w", name, cairn.ErrNotFound)
		}
		if err != nil {
			return translate(err)
		}
		err = s.queryRow(ctx, tx, `SELECT h.version FROM model_stages h JOIN models m ON m.name = h.name AND m.version = h.version
WHERE h.name = $1 AND h.to_stage = 'production' AND h.id < $2 AND h.version != $3
	AND NOT EXISTS (SELECT 1 FROM model_stages r WHERE r.name = h.name AND r.version = h.version AND r.reason = 'rollback' AND r.from_stage = 'production' AND r.id > h.id)
ORDER BY h.id DESC LIMIT 1`, name, since, cur).Scan(&back)
		if noRows(err) {
			return fmt.Errorf("version %d is the first in production, there is none before it to roll back to: %w", cur, cairn.ErrConflict)
		}
		if err != nil {
			return translate(err)
		}
		var from string
		if err := s.queryRow(ctx, tx, `SELECT stage FROM models WHERE name = $1 AND version = $2`, name, back).Scan(&from); err != nil {
			return translate(err)
		}
		if err := s.setStage(ctx, tx, name, back, cairn.ModelStage(from), cairn.StageProduction, "rollback", actor, now); err != nil {
			return err
		}
		if err := s.settleRollout(ctx, tx, name, now); err != nil {
			return err
		}
		a, err := sqlrow.RollbackAudit(name, cur, back, actor, now)
		if err != nil {
			return err
		}
		_, err = s.addAudit(ctx, tx, a)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("roll back model %s: %w", name, err)
	}
	return s.ModelVersion(ctx, name, back)
}

// ModelVersion returns one version, or an error wrapping cairn.ErrNotFound.
func (s *Store) ModelVersion(ctx context.Context, name string, version int) (*cairn.ModelVersion, error) {
	m, err := sqlrow.Model(s.db.QueryRow(ctx, sqlrow.ModelSelect+` WHERE m.name = $1 AND m.version = $2`, name, version))
	if noRows(err) {
		return nil, fmt.Errorf("model %s@%d: %w", name, version, cairn.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read model %s@%d: %w", name, version, translate(err))
	}
	return m, nil
}

// ProductionModel returns the version of name in production, or an error
// wrapping cairn.ErrNotFound.
func (s *Store) ProductionModel(ctx context.Context, name string) (*cairn.ModelVersion, error) {
	m, err := sqlrow.Model(s.db.QueryRow(ctx, sqlrow.ModelSelect+` WHERE m.name = $1 AND m.stage = 'production'`, name))
	if noRows(err) {
		return nil, fmt.Errorf("model %s has no version in production: %w", name, cairn.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read the production version of %s: %w", name, translate(err))
	}
	return m, nil
}

// ModelVersions returns the versions of name, newest first.
func (s *Store) ModelVersions(ctx context.Context, name string) ([]*cairn.ModelVersion, error) {
	return s.models(ctx, sqlrow.ModelSelect+` WHERE m.name = $1 ORDER BY m.version DESC`, name)
}

// Models returns, per model name in order, its newest version and its
// production one.
func (s *Store) Models(ctx context.Context) ([]*cairn.ModelVersion, error) {
	return s.models(ctx, sqlrow.ModelSelect+` WHERE m.stage = 'production' OR m.version = (SELECT max(version) FROM models n WHERE n.name = m.name)
ORDER BY m.name, m.version DESC`)
}

func (s *Store) models(ctx context.Context, query string, args ...any) ([]*cairn.ModelVersion, error) {
	rows, err := s.db.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list models: %w", translate(err))
	}
	defer rows.Close()
	out, err := sqlrow.Collect(rows, sqlrow.Model)
	if err != nil {
		return nil, fmt.Errorf("list models: %w", translate(err))
	}
	return out, nil
}

// ModelStageSeq returns the id of the newest stage change of any model
// plus that of the newest rollout event (0 when there is none); both are
// written under the registry's lock, so the sum only grows as changes
// become visible.
func (s *Store) ModelStageSeq(ctx context.Context) (int64, error) {
	var seq int64
	if err := s.db.QueryRow(ctx, `SELECT coalesce((SELECT max(id) FROM model_stages), 0) + coalesce((SELECT max(id) FROM rollout_events), 0)`).Scan(&seq); err != nil {
		return 0, fmt.Errorf("read the registry's last change: %w", translate(err))
	}
	return seq, nil
}

// ModelHistory returns the stage changes of name, oldest first.
func (s *Store) ModelHistory(ctx context.Context, name string) ([]cairn.ModelStageChange, error) {
	rs, err := s.db.Query(ctx, `SELECT version, from_stage, to_stage, reason, actor, at FROM model_stages WHERE name = $1 ORDER BY id`, name)
	out, err := collect(rs, err, sqlrow.StageChange)
	if err != nil {
		return nil, fmt.Errorf("read the history of model %s: %w", name, err)
	}
	return out, nil
}
