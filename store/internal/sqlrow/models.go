package sqlrow

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
)

// NoSuchVersion says why name@version is not found, given how many
// versions name has (n) and its newest (max): no such model, or the
// versions it has.
func NoSuchVersion(name string, version, n, max int) error {
	if n == 0 {
		return fmt.Errorf("no model is named %q: %w", name, cairn.ErrNotFound)
	}
	return fmt.Errorf("model %s has %s, not %d: %w", name, versionsText(max), version, cairn.ErrNotFound)
}

// versionsText says which versions a model has, numbered from 1 to max.
func versionsText(max int) string {
	if max == 1 {
		return "version 1 only"
	}
	return fmt.Sprintf("versions 1 to %d", max)
}

// PromoteAudit is the audit entry of a promotion of name@version from
// stage from to stage to by actor; was is the version that was in
// production and is archived by it (0: none).
func PromoteAudit(name string, version int, from string, to cairn.ModelStage, was int, actor string, now time.Time) (scheduler.Audit, error) {
	d := map[string]any{"model": name, "version": version, "from": from, "to": to}
	if was != 0 {
		d["archived"] = was
	}
	return modelAudit(scheduler.AuditModelPromote, actor, now, d)
}

// RollbackAudit is the audit entry of a rollback of name from version
// cur to version back by actor.
func RollbackAudit(name string, cur, back int, actor string, now time.Time) (scheduler.Audit, error) {
	return modelAudit(scheduler.AuditModelRollback, actor, now, map[string]any{"model": name, "from": cur, "to": back})
}

func modelAudit(action, actor string, now time.Time, detail map[string]any) (scheduler.Audit, error) {
	b, err := json.Marshal(detail)
	if err != nil {
		return scheduler.Audit{}, fmt.Errorf("encode the audit entry: %w", err)
	}
	return scheduler.Audit{At: now, Actor: actor, Action: action, Detail: b}, nil
}

// RegistryTx is the model registry's statements within one transaction,
// in a store's SQL; what the registry decides around them (RegisterModel,
// SetStage, PromoteModel, RollbackModel) is decided here, once. Errors
// are the store's, translated.
type RegistryTx interface {
	// AddArtifact inserts the artifact row of a registered model's bytes
	// unless there is one.
	AddArtifact(a cairn.ArtifactRef, now time.Time) error
	// VersionOf returns the version of name registered from digest and
	// its stage (found false when there is none).
	VersionOf(name, digest string) (version int, stage cairn.ModelStage, found bool, err error)
	// Stage returns the stage of name@version (found false when there is
	// no such version).
	Stage(name string, version int) (stage cairn.ModelStage, found bool, err error)
	// NextVersion returns the number name's next version takes.
	NextVersion(name string) (int, error)
	// InsertModel inserts version of reg at reg.Stage, made by attempt a;
	// metrics and report are their stored JSON (nil: NULL).
	InsertModel(reg cairn.ModelRegistration, version int, metrics, report *string, a cairn.AttemptRef, now time.Time) error
	// Production returns the version of name in production, 0 for none.
	Production(name string) (int, error)
	// UpdateStage writes the stage of name@version and when it changed.
	UpdateStage(name string, version int, to cairn.ModelStage, now time.Time) error
	// LogStage records a change of stage in the model's history.
	LogStage(name string, version int, from, to cairn.ModelStage, reason, actor string, now time.Time) error
	// ProductionSince returns the version of name in production and the
	// id of the history row that put it there (found false: none in
	// production).
	ProductionSince(name string) (version int, since int64, found bool, err error)
	// RollbackTarget returns the newest version put in production before
	// history row since that is not cur and was not rolled back from
	// since (found false: none).
	RollbackTarget(name string, since int64, cur int) (version int, found bool, err error)
	// NoSuchVersion says why name@version is not found (see the
	// function NoSuchVersion).
	NoSuchVersion(name string, version int) error
	// SettleRollout settles name's active rollout after a change by hand
	// or a deploy without a strategy.
	SettleRollout(name string, now time.Time) error
	// ActiveCandidate returns the candidate of name's active rollout, 0
	// for none.
	ActiveCandidate(name string) (int, error)
	// StartRollout starts a rollout of name@version against production.
	StartRollout(name string, version int, spec cairn.RolloutSpec, actor string, now time.Time) error
	// AddAudit writes an entry of the audit log.
	AddAudit(a scheduler.Audit) error
	// PutAlerts writes model name's alerts (their JSON text), counting
	// the times they were set, and returns that count.
	PutAlerts(name, alerts, actor string, now time.Time) (gen int, err error)
}

// RegisterModel registers reg (or finds the version of the same name and
// digest) and moves it to reg.Stage, for attempt a; it returns the
// version. The same bytes again give the existing version, moved to the
// stage asked, never from production back to candidate. reg.Alerts, when
// set, become the model's alerts (SetModelAlerts) in the same transaction.
func RegisterModel(tx RegistryTx, reg cairn.ModelRegistration, a cairn.AttemptRef, now time.Time) (int, error) {
	// The artifact is an input of the deploy, recorded already; a
	// registration that names another still needs its row.
	if err := tx.AddArtifact(reg.Model, now); err != nil {
		return 0, err
	}
	version, stage, found, err := tx.VersionOf(reg.Name, reg.Model.Digest)
	if err != nil {
		return 0, err
	}
	version, err = registerVersion(tx, reg, a, now, version, stage, found)
	if err != nil || reg.Alerts == nil {
		return version, err
	}
	_, err = SetModelAlerts(tx, reg.Name, reg.Alerts, a.String(), now)
	return version, err
}

// registerVersion is RegisterModel's registration of the version: the
// version found of the same bytes (found) at stage, or a new one.
func registerVersion(tx RegistryTx, reg cairn.ModelRegistration, a cairn.AttemptRef, now time.Time, version int, stage cairn.ModelStage, found bool) (int, error) {
	if !found {
		metrics, err := JSONText(reg.Metrics, reg.Metrics == nil)
		if err != nil {
			return 0, fmt.Errorf("encode metrics: %w", err)
		}
		report, err := JSONText(reg.Report, reg.Report == nil)
		if err != nil {
			return 0, fmt.Errorf("encode report: %w", err)
		}
		if version, err = tx.NextVersion(reg.Name); err != nil {
			return 0, err
		}
		if reg.Stage == cairn.StageProduction {
			if err := demoteProduction(tx, reg.Name, "deploy", a.String(), now); err != nil {
				return 0, err
			}
		}
		if err := tx.InsertModel(reg, version, metrics, report, a, now); err != nil {
			return 0, err
		}
		if err := tx.LogStage(reg.Name, version, "", reg.Stage, "deploy", a.String(), now); err != nil {
			return 0, err
		}
		return version, deployRollout(tx, reg, version, reg.Stage, a, now)
	}
	if stage == reg.Stage || stage == cairn.StageProduction {
		if stage != cairn.StageProduction {
			return version, deployRollout(tx, reg, version, stage, a, now)
		}
		return version, nil
	}
	if err := SetStage(tx, reg.Name, version, stage, reg.Stage, "deploy", a.String(), now); err != nil {
		return 0, err
	}
	return version, deployRollout(tx, reg, version, reg.Stage, a, now)
}

// deployRollout does what a deploy's strategy asks of the version it
// registered (at stage): a rollout against the production version, or,
// when there is none, production at once (there is nothing to compare
// it with). Without a strategy, a deploy to production settles the
// model's active rollout.
func deployRollout(tx RegistryTx, reg cairn.ModelRegistration, version int, stage cairn.ModelStage, a cairn.AttemptRef, now time.Time) error {
	if reg.Rollout == nil || reg.Rollout.Strategy == "" || reg.Rollout.Strategy == cairn.StrategyDirect {
		return tx.SettleRollout(reg.Name, now)
	}
	prod, err := tx.Production(reg.Name)
	if err != nil {
		return err
	}
	if prod == 0 {
		return SetStage(tx, reg.Name, version, stage, cairn.StageProduction, "deploy", a.String(), now)
	}
	if prod == version {
		return nil
	}
	if c, err := tx.ActiveCandidate(reg.Name); err != nil || c == version {
		return err // the same version's rollout goes on
	}
	return tx.StartRollout(reg.Name, version, *reg.Rollout, a.String(), now)
}

// demoteProduction archives the production version of name, if any.
func demoteProduction(tx RegistryTx, name, reason, actor string, now time.Time) error {
	v, err := tx.Production(name)
	if err != nil || v == 0 {
		return err
	}
	if err := tx.UpdateStage(name, v, cairn.StageArchived, now); err != nil {
		return err
	}
	return tx.LogStage(name, v, cairn.StageProduction, cairn.StageArchived, reason, actor, now)
}

// SetStage moves version of name from stage from to to, recorded in its
// history; to production, the version in production first goes to
// archived.
func SetStage(tx RegistryTx, name string, version int, from, to cairn.ModelStage, reason, actor string, now time.Time) error {
	if to == cairn.StageProduction {
		if err := demoteProduction(tx, name, reason, actor, now); err != nil {
			return err
		}
	}
	if err := tx.UpdateStage(name, version, to, now); err != nil {
		return err
	}
	return tx.LogStage(name, version, from, to, reason, actor, now)
}

// CheckPromote refuses a stage that is not one, before a promotion's
// transaction.
func CheckPromote(name string, version int, stage cairn.ModelStage) error {
	if !stage.Valid() {
		return fmt.Errorf("promote model %s@%d: stage %q is not candidate, production or archived", name, version, stage)
	}
	return nil
}

// PromoteModel moves version of model name to stage (the version in
// production, for production, goes to archived), with its record in the
// model's history and the audit log (actor is who asked), and settles the
// model's rollout. A version already at stage is left as it is, and
// nothing is recorded. Errors wrap cairn.ErrNotFound when name has no
// such version.
func PromoteModel(tx RegistryTx, name string, version int, stage cairn.ModelStage, actor string, now time.Time) error {
	from, found, err := tx.Stage(name, version)
	if err != nil {
		return err
	}
	if !found {
		return tx.NoSuchVersion(name, version)
	}
	if from == stage {
		return nil // nothing changes, nothing to record
	}
	var was int // the version in production before, which production archives
	if stage == cairn.StageProduction {
		if was, err = tx.Production(name); err != nil {
			return err
		}
	}
	if err := SetStage(tx, name, version, from, stage, "promote", actor, now); err != nil {
		return err
	}
	if err := tx.SettleRollout(name, now); err != nil {
		return err
	}
	a, err := PromoteAudit(name, version, string(from), stage, was, actor, now)
	if err != nil {
		return err
	}
	return tx.AddAudit(a)
}

// RollbackModel puts back in production the version that was there
// before the current one: the newest version promoted to production
// before the current one was, that is neither the current one nor
// archived by a rollback since (a version rolled back from is never gone
// back to). The current one goes to archived; the change is recorded in
// the model's history and the audit log (actor is who asked), and the
// model's rollout settled. It returns the version now in production; an
// error wrapping cairn.ErrNotFound when name has no production version,
// or cairn.ErrConflict when there is none before it to go back to.
func RollbackModel(tx RegistryTx, name, actor string, now time.Time) (int, error) {
	cur, since, found, err := tx.ProductionSince(name)
	if err != nil {
		return 0, err
	}
	if !found {
		return 0, fmt.Errorf("model %s has no version in production to roll back: %w", name, cairn.ErrNotFound)
	}
	back, found, err := tx.RollbackTarget(name, since, cur)
	if err != nil {
		return 0, err
	}
	if !found {
		return 0, fmt.Errorf("version %d is in production and no version before it can be put back: none was in production before it but those a rollback left, "+
			"and a rollback never goes back to a version it rolled back from; promote one by hand (cairn models promote %s VERSION): %w", cur, name, cairn.ErrConflict)
	}
	from, _, err := tx.Stage(name, back)
	if err != nil {
		return 0, err
	}
	if err := SetStage(tx, name, back, from, cairn.StageProduction, "rollback", actor, now); err != nil {
		return 0, err
	}
	if err := tx.SettleRollout(name, now); err != nil {
		return 0, err
	}
	a, err := RollbackAudit(name, cur, back, actor, now)
	if err != nil {
		return 0, err
	}
	return back, tx.AddAudit(a)
}
