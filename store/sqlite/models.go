package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/store/internal/sqlrow"
)

// The model registry (issue #19): versions numbered from 1 per name, one
// per (name, artifact digest), at most one in production per name (a
// partial unique index); every change of stage is a row of model_stages,
// written with it, which rollback reads. What the registry decides is
// sqlrow's (RegistryTx); its statements are here.

// registerModel registers reg (or finds the version of the same name and
// digest) and moves it to reg.Stage; it returns the version (see
// sqlrow.RegisterModel).
func (s *Store) registerModel(ctx context.Context, tx *sql.Conn, reg cairn.ModelRegistration, a cairn.AttemptRef, now time.Time) (int, error) {
	return sqlrow.RegisterModel(registry{s, ctx, tx}, reg, a, now)
}

// setStage moves version of name from stage from to to; to production,
// the version in production first goes to archived.
func (s *Store) setStage(ctx context.Context, tx *sql.Conn, name string, version int, from, to cairn.ModelStage, reason, actor string, now time.Time) error {
	return sqlrow.SetStage(registry{s, ctx, tx}, name, version, from, to, reason, actor, now)
}

// noSuchVersion says why name@version is not found: no such model, or
// the versions it has.
func (s *Store) noSuchVersion(ctx context.Context, tx *sql.Conn, name string, version int) error {
	return registry{s, ctx, tx}.NoSuchVersion(name, version)
}

// PromoteModel moves version of model name to stage (the version in
// production, for production, goes to archived), in one transaction with
// its record in the model's history and the audit log; actor is who
// asked. A version already at stage is left as it is, and nothing is
// recorded. It returns the version as it now is.
// Errors wrap cairn.ErrNotFound when name has no such version; a stage
// that is not one is a plain error.
func (s *Store) PromoteModel(ctx context.Context, name string, version int, stage cairn.ModelStage, actor string, now time.Time) (*cairn.ModelVersion, error) {
	if err := sqlrow.CheckPromote(name, version, stage); err != nil {
		return nil, err
	}
	err := s.inTx(ctx, func(ctx context.Context, tx *sql.Conn) error {
		return sqlrow.PromoteModel(registry{s, ctx, tx}, name, version, stage, actor, now)
	})
	if err != nil {
		return nil, fmt.Errorf("promote model %s@%d to %s: %w", name, version, stage, err)
	}
	return s.ModelVersion(ctx, name, version)
}

// RollbackModel puts back in production the version that was there
// before the current one, in one transaction with its record in the
// model's history and the audit log (actor is who asked): see
// sqlrow.RollbackModel. It returns the version now in production; an
// error wrapping cairn.ErrNotFound when name has no production version,
// or cairn.ErrConflict when there is none before it to go back to.
func (s *Store) RollbackModel(ctx context.Context, name, actor string, now time.Time) (*cairn.ModelVersion, error) {
	var back int
	err := s.inTx(ctx, func(ctx context.Context, tx *sql.Conn) error {
		var err error
		back, err = sqlrow.RollbackModel(registry{s, ctx, tx}, name, actor, now)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("roll back model %s: %w", name, err)
	}
	return s.ModelVersion(ctx, name, back)
}

// registry is sqlrow.RegistryTx on one transaction.
type registry struct {
	s   *Store
	ctx context.Context
	tx  *sql.Conn
}

func (r registry) exec(query string, args ...any) error {
	_, err := r.s.exec(r.ctx, r.tx, query, args...)
	return err
}

// scan reads one row into dest; found false when there is none.
func (r registry) scan(query string, args []any, dest ...any) (bool, error) {
	err := r.s.queryRow(r.ctx, r.tx, query, args...).Scan(dest...)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, translate(err)
}

func (r registry) AddArtifact(a cairn.ArtifactRef, now time.Time) error {
	return r.exec(`INSERT INTO artifacts (digest, size, media_type, created_at) VALUES (?, ?, ?, ?)
ON CONFLICT (digest) DO NOTHING`, a.Digest, a.Size, a.MediaType, now.UnixNano())
}

func (r registry) VersionOf(name, digest string) (int, cairn.ModelStage, bool, error) {
	var (
		version int
		stage   string
	)
	found, err := r.scan(`SELECT version, stage FROM models WHERE name = ? AND digest = ?`, []any{name, digest}, &version, &stage)
	return version, cairn.ModelStage(stage), found, err
}

func (r registry) Stage(name string, version int) (cairn.ModelStage, bool, error) {
	var stage string
	found, err := r.scan(`SELECT stage FROM models WHERE name = ? AND version = ?`, []any{name, version}, &stage)
	return cairn.ModelStage(stage), found, err
}

func (r registry) NextVersion(name string) (int, error) {
	var v int
	_, err := r.scan(`SELECT coalesce(max(version), 0) + 1 FROM models WHERE name = ?`, []any{name}, &v)
	return v, err
}

func (r registry) InsertModel(reg cairn.ModelRegistration, version int, metrics, report *string, a cairn.AttemptRef, now time.Time) error {
	return r.exec(`INSERT INTO models (`+sqlrow.ModelCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		reg.Name, version, reg.Model.Digest, string(reg.Stage), metrics, report, a.RunID, a.TaskID, a.Number, now.UnixNano(), now.UnixNano())
}

func (r registry) Production(name string) (int, error) {
	var v int
	_, err := r.scan(`SELECT coalesce(max(version), 0) FROM models WHERE name = ? AND stage = 'production'`, []any{name}, &v)
	return v, err
}

func (r registry) UpdateStage(name string, version int, to cairn.ModelStage, now time.Time) error {
	return r.exec(`UPDATE models SET stage = ?, stage_changed_at = ? WHERE name = ? AND version = ?`, string(to), now.UnixNano(), name, version)
}

func (r registry) LogStage(name string, version int, from, to cairn.ModelStage, reason, actor string, now time.Time) error {
	return r.exec(`INSERT INTO model_stages (name, version, from_stage, to_stage, reason, actor, at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		name, version, string(from), string(to), reason, actor, now.UnixNano())
}

func (r registry) ProductionSince(name string) (int, int64, bool, error) {
	var (
		cur   int
		since int64
	)
	found, err := r.scan(`SELECT m.version, (SELECT max(id) FROM model_stages h WHERE h.name = m.name AND h.version = m.version AND h.to_stage = 'production')
FROM models m WHERE m.name = ? AND m.stage = 'production'`, []any{name}, &cur, &since)
	return cur, since, found, err
}

func (r registry) RollbackTarget(name string, since int64, cur int) (int, bool, error) {
	var back int
	found, err := r.scan(`SELECT h.version FROM model_stages h JOIN models m ON m.name = h.name AND m.version = h.version
WHERE h.name = ? AND h.to_stage = 'production' AND h.id < ? AND h.version != ?
	AND NOT EXISTS (SELECT 1 FROM model_stages r WHERE r.name = h.name AND r.version = h.version AND r.reason = 'rollback' AND r.from_stage = 'production' AND r.id > h.id)
ORDER BY h.id DESC LIMIT 1`, []any{name, since, cur}, &back)
	return back, found, err
}

func (r registry) NoSuchVersion(name string, version int) error {
	var n, max int
	if _, err := r.scan(`SELECT count(*), coalesce(max(version), 0) FROM models WHERE name = ?`, []any{name}, &n, &max); err != nil {
		return err
	}
	return sqlrow.NoSuchVersion(name, version, n, max)
}

func (r registry) SettleRollout(name string, now time.Time) error {
	return r.s.settleRollout(r.ctx, r.tx, name, now)
}

func (r registry) ActiveCandidate(name string) (int, error) {
	ro, err := r.s.activeRollout(r.ctx, r.tx, name)
	if err != nil || ro == nil {
		return 0, err
	}
	return ro.Candidate, nil
}

func (r registry) StartRollout(name string, version int, spec cairn.RolloutSpec, actor string, now time.Time) error {
	_, err := r.s.startRollout(r.ctx, r.tx, name, version, spec, actor, now)
	return err
}

func (r registry) AddAudit(a scheduler.Audit) error {
	_, err := r.s.addAudit(r.ctx, r.tx, a)
	return err
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
