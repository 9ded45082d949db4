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

// The model registry (issue #19): versions numbered from 1 per name, one
// per (name, artifact digest), at most one in production per name (a
// partial unique index); every change of stage is a row of model_stages,
// written with it, which rollback reads.

// registerModel registers reg (or finds the version of the same name and
// digest) and moves it to reg.Stage; it returns the version.
func (s *Store) registerModel(ctx context.Context, tx *sql.Tx, reg cairn.ModelRegistration, a cairn.AttemptRef, now time.Time) (int, error) {
	// The artifact is an input of the deploy, recorded already; a
	// registration that names another still needs its row.
	if _, err := s.exec(ctx, tx, `INSERT INTO artifacts (digest, size, media_type, created_at) VALUES (?, ?, ?, ?)
ON CONFLICT (digest) DO NOTHING`, reg.Model.Digest, reg.Model.Size, reg.Model.MediaType, now.UnixNano()); err != nil {
		return 0, err
	}
	var (
		version int
		stage   string
	)
	err := s.queryRow(ctx, tx, `SELECT version, stage FROM models WHERE name = ? AND digest = ?`, reg.Name, reg.Model.Digest).Scan(&version, &stage)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		metrics, err := jsonValue(reg.Metrics, reg.Metrics == nil)
		if err != nil {
			return 0, fmt.Errorf("encode metrics: %w", err)
		}
		report, err := jsonValue(reg.Report, reg.Report == nil)
		if err != nil {
			return 0, fmt.Errorf("encode report: %w", err)
		}
		if err := s.queryRow(ctx, tx, `SELECT coalesce(max(version), 0) + 1 FROM models WHERE name = ?`, reg.Name).Scan(&version); err != nil {
			return 0, translate(err)
		}
		if reg.Stage == cairn.StageProduction {
			if err := s.demoteProduction(ctx, tx, reg.Name, "deploy", a.String(), now); err != nil {
				return 0, err
			}
		}
		if _, err := s.exec(ctx, tx, `INSERT INTO models (`+sqlrow.ModelCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
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
	// The same bytes again: the existing version, moved to the stage
	// asked — never from production back to candidate.
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

// deployRollout does what a deploy's strategy asks of the version it
// registered (at stage): a rollout against the production version, or,
// when there is none, production at once (there is nothing to compare
// it with). Without a strategy, a deploy to production settles the
// model's active rollout (see settleRollout).
func (s *Store) deployRollout(ctx context.Context, tx *sql.Tx, reg cairn.ModelRegistration, version int, stage cairn.ModelStage, a cairn.AttemptRef, now time.Time) error {
	if reg.Rollout == nil || reg.Rollout.Strategy == "" || reg.Rollout.Strategy == cairn.StrategyDirect {
		return s.settleRollout(ctx, tx, reg.Name, now)
	}
	var prod int
	if err := s.queryRow(ctx, tx, `SELECT coalesce(max(version), 0) FROM models WHERE name = ? AND stage = 'production'`, reg.Name).Scan(&prod); err != nil {
		return translate(err)
	}
	if prod == 0 {
		return s.setStage(ctx, tx, reg.Name, version, stage, cairn.StageProduction, "deploy", a.String(), now)
	}
	if prod == version {
		return nil
	}
	if r, err := s.activeRollout(ctx, tx, reg.Name); err != nil || (r != nil && r.Candidate == version) {
		return err // the same version's rollout goes on
	}
	_, err := s.startRollout(ctx, tx, reg.Name, version, *reg.Rollout, a.String(), now)
	return err
}

// demoteProduction archives the production version of name, if any.
func (s *Store) demoteProduction(ctx context.Context, tx *sql.Tx, name, reason, actor string, now time.Time) error {
	var v int
	err := s.queryRow(ctx, tx, `SELECT version FROM models WHERE name = ? AND stage = 'production'`, name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return translate(err)
	}
	if _, err := s.exec(ctx, tx, `UPDATE models SET stage = 'archived', stage_changed_at = ? WHERE name = ? AND version = ?`, now.UnixNano(), name, v); err != nil {
		return err
	}
	return s.logStage(ctx, tx, name, v, cairn.StageProduction, cairn.StageArchived, reason, actor, now)
}

// setStage moves version of name from stage from to to; to production,
// the version in production first goes to archived.
func (s *Store) setStage(ctx context.Context, tx *sql.Tx, name string, version int, from, to cairn.ModelStage, reason, actor string, now time.Time) error {
	if to == cairn.StageProduction {
		if err := s.demoteProduction(ctx, tx, name, reason, actor, now); err != nil {
			return err
		}
	}
	if _, err := s.exec(ctx, tx, `UPDATE models SET stage = ?, stage_changed_at = ? WHERE name = ? AND version = ?`, string(to), now.UnixNano(), name, version); err != nil {
		return err
	}
	return s.logStage(ctx, tx, name, version, from, to, reason, actor, now)
}

func (s *Store) logStage(ctx context.Context, tx *sql.Tx, name string, version int, from, to cairn.ModelStage, reason, actor string, now time.Time) error {
	_, err := s.exec(ctx, tx, `INSERT INTO model_stages (name, version, from_stage, to_stage, reason, actor, at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		name, version, string(from), string(to), reason, actor, now.UnixNano())
	return err
}

// PromoteModel moves version of model name to stage (the version in
// production, for production, goes to archived), in one transaction with
// its record in the model's history and the audit log; actor is who
// asked. A version already at stage is left as it is, and nothing is
// recorded. It returns the version as it now is.
// Errors wrap cairn.ErrNotFound when name has no such version; a stage
// that is not one is a plain error.
func (s *Store) PromoteModel(ctx context.Context, name string, version int, stage cairn.ModelStage, actor string, now time.Time) (*cairn.ModelVersion, error) {
	if !stage.Valid() {
		return nil, fmt.Errorf("promote model %s@%d: stage %q is not candidate, production or archived", name, version, stage)
	}
	err := s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var from string
		err := s.queryRow(ctx, tx, `SELECT stage FROM models WHERE name = ? AND version = ?`, name, version).Scan(&from)
		if errors.Is(err, sql.ErrNoRows) {
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
			if err := s.queryRow(ctx, tx, `SELECT coalesce(max(version), 0) FROM models WHERE name = ? AND stage = 'production'`, name).Scan(&was); err != nil {
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

// noSuchVersion says why name@version is not found: no such model, or
// the versions it has.
func (s *Store) noSuchVersion(ctx context.Context, tx *sql.Tx, name string, version int) error {
	var n, max int
	if err := s.queryRow(ctx, tx, `SELECT count(*), coalesce(max(version), 0) FROM models WHERE name = ?`, name).Scan(&n, &max); err != nil {
		return translate(err)
	}
	return sqlrow.NoSuchVersion(name, version, n, max)
}

// RollbackModel puts back in production the version that was there
// before the current one: the newest version promoted to production
// before the current one was, that is neither the current one nor
// archived by a rollback since. The current one goes to archived; the
// change is recorded in the model's history and the audit log (actor is
// who asked), in the same transaction. It returns the version now in production; an error wrapping
// cairn.ErrNotFound when name has no production version, or
// cairn.ErrConflict when there is none before it to go back to.
func (s *Store) RollbackModel(ctx context.Context, name, actor string, now time.Time) (*cairn.ModelVersion, error) {
	var back int
	err := s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var cur int
		var since int64
		err := s.queryRow(ctx, tx, `SELECT m.version, (SELECT max(id) FROM model_stages h WHERE h.name = m.name AND h.version = m.version AND h.to_stage = 'production')
FROM models m WHERE m.name = ? AND m.stage = 'production'`, name).Scan(&cur, &since)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("model %s has no version in production to roll back: %w", name, cairn.ErrNotFound)
		}
		if err != nil {
			return translate(err)
		}
		// A version rolled back from is archived by the rollback: it is
		// never gone back to.
		err = s.queryRow(ctx, tx, `SELECT h.version FROM model_stages h JOIN models m ON m.name = h.name AND m.version = h.version
WHERE h.name = ? AND h.to_stage = 'production' AND h.id < ? AND h.version != ?
	AND NOT EXISTS (SELECT 1 FROM model_stages r WHERE r.name = h.name AND r.version = h.version AND r.reason = 'rollback' AND r.from_stage = 'production' AND r.id > h.id)
ORDER BY h.id DESC LIMIT 1`, name, since, cur).Scan(&back)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("version %d is the first in production, there is none before it to roll back to: %w", cur, cairn.ErrConflict)
		}
		if err != nil {
			return translate(err)
		}
		var from string
		if err := s.queryRow(ctx, tx, `SELECT stage FROM models WHERE name = ? AND version = ?`, name, back).Scan(&from); err != nil {
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
	m, err := sqlrow.Model(s.r.QueryRowContext(ctx, sqlrow.ModelSelect+` WHERE m.name = ? AND m.version = ?`, name, version))
	if errors.Is(err, sql.ErrNoRows) {
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
	m, err := sqlrow.Model(s.r.QueryRowContext(ctx, sqlrow.ModelSelect+` WHERE m.name = ? AND m.stage = 'production'`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("model %s has no version in production: %w", name, cairn.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read the production version of %s: %w", name, translate(err))
	}
	return m, nil
}

// ModelVersions returns the versions of name, newest first (empty when
// none).
func (s *Store) ModelVersions(ctx context.Context, name string) ([]*cairn.ModelVersion, error) {
	return s.models(ctx, sqlrow.ModelSelect+` WHERE m.name = ? ORDER BY m.version DESC`, name)
}

// Models returns, per model name in order, its newest version and its
// production one (the same row once when they are one).
func (s *Store) Models(ctx context.Context) ([]*cairn.ModelVersion, error) {
	return s.models(ctx, sqlrow.ModelSelect+` WHERE m.stage = 'production' OR m.version = (SELECT max(version) FROM models n WHERE n.name = m.name)
ORDER BY m.name, m.version DESC`)
}

func (s *Store) models(ctx context.Context, query string, args ...any) ([]*cairn.ModelVersion, error) {
	rows, err := s.r.QueryContext(ctx, query, args...)
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

// ModelStageChange is one row of a model's stage history.
type ModelStageChange = cairn.ModelStageChange

// ModelHistory returns the stage changes of name, oldest first.
func (s *Store) ModelHistory(ctx context.Context, name string) ([]ModelStageChange, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT version, from_stage, to_stage, reason, actor, at FROM model_stages WHERE name = ? ORDER BY id`, name)
	if err != nil {
		return nil, fmt.Errorf("read the history of model %s: %w", name, translate(err))
	}
	out := []ModelStageChange{}
	if err := scanAll(rows, func(sc scanner) error {
		c, err := sqlrow.StageChange(sc)
		out = append(out, c)
		return err
	}); err != nil {
		return nil, fmt.Errorf("read the history of model %s: %w", name, err)
	}
	return out, nil
}

// ModelStageSeq returns the id of the newest stage change of any model
// plus that of the newest rollout event (0 when there is none): it grows
// with every registration, promotion, rollback and change of a rollout,
// in this process or another, so that a server serving models
// learns of a change by reading one number (one step down an index).
func (s *Store) ModelStageSeq(ctx context.Context) (int64, error) {
	var seq int64
	if err := s.r.QueryRowContext(ctx, `SELECT coalesce((SELECT max(id) FROM model_stages), 0) + coalesce((SELECT max(id) FROM rollout_events), 0)`).Scan(&seq); err != nil {
		return 0, fmt.Errorf("read the registry's last change: %w", translate(err))
	}
	return seq, nil
}
