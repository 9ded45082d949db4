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
