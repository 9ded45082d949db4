package core

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/ui/runjson"
)

// ModelRegistry is the model registry as the models pages and API use
// it: the store's reads and its two changes by hand (*sqlite.Store
// satisfies it). PromoteModel and RollbackModel record their change in
// the model's history and the audit log, by actor, in one transaction;
// their errors wrap cairn.ErrNotFound (no such model or version) or
// cairn.ErrConflict (nothing to roll back to).
type ModelRegistry interface {
	Models(ctx context.Context) ([]*cairn.ModelVersion, error)
	ModelVersions(ctx context.Context, name string) ([]*cairn.ModelVersion, error)
	ModelVersion(ctx context.Context, name string, version int) (*cairn.ModelVersion, error)
	ModelHistory(ctx context.Context, name string) ([]cairn.ModelStageChange, error)
	PromoteModel(ctx context.Context, name string, version int, stage cairn.ModelStage, actor string, now time.Time) (*cairn.ModelVersion, error)
	RollbackModel(ctx context.Context, name, actor string, now time.Time) (*cairn.ModelVersion, error)
}

// The registry's reads and changes as the API answers them, for the
// routes of package ui and for cairn models on a home's database: one
// code path, one shape, whichever a command talks to.

// ModelSummaries lists every model's summary, by name.
func ModelSummaries(ctx context.Context, reg ModelRegistry) ([]runjson.ModelSummary, error) {
	heads, err := reg.Models(ctx)
	if err != nil {
		return nil, err
	}
	out := []runjson.ModelSummary{}
	for i, m := range heads {
		if i > 0 && heads[i-1].Name == m.Name {
			continue
		}
		vs, err := reg.ModelVersions(ctx, m.Name)
		if err != nil {
			return nil, err
		}
		out = append(out, runjson.Summarize(m.Name, vs))
	}
	return out, nil
}

// ModelOf reads a model's versions (newest first) and history; a name
// without versions is not found.
func ModelOf(ctx context.Context, reg ModelRegistry, name string) ([]*cairn.ModelVersion, []cairn.ModelStageChange, error) {
	vs, err := reg.ModelVersions(ctx, name)
	if err != nil {
		return nil, nil, err
	}
	if len(vs) == 0 {
		return nil, nil, fmt.Errorf("no model is named %q (a deploy task registers one): %w", name, cairn.ErrNotFound)
	}
	hist, err := reg.ModelHistory(ctx, name)
	if err != nil {
		return nil, nil, err
	}
	return vs, hist, nil
}

// ModelDetail is model name with its versions and history; an error
// wrapping cairn.ErrNotFound when no version has that name.
func ModelDetail(ctx context.Context, reg ModelRegistry, name string) (*runjson.Model, error) {
	vs, hist, err := ModelOf(ctx, reg, name)
	if err != nil {
		return nil, err
	}
	m := runjson.FromModel(name, vs, hist)
	return &m, nil
}

// ModelVersionOf is version v of model name; an error wrapping
// cairn.ErrNotFound says which versions the model has, or that none has
// that name.
func ModelVersionOf(ctx context.Context, reg ModelRegistry, name string, v int) (*runjson.ModelVersion, error) {
	mv, err := reg.ModelVersion(ctx, name, v)
	if err != nil {
		return nil, whyMissing(ctx, reg, name, v, err)
	}
	j := runjson.FromModelVersion(mv)
	return &j, nil
}

// whyMissing turns a version's not-found into the registry's reason: no
// such model, or the versions it has.
func whyMissing(ctx context.Context, reg ModelRegistry, name string, v int, err error) error {
	if !errors.Is(err, cairn.ErrNotFound) {
		return err
	}
	vs, lerr := reg.ModelVersions(ctx, name)
	switch {
	case lerr != nil:
		return err
	case len(vs) == 0:
		return fmt.Errorf("no model is named %q: %w", name, cairn.ErrNotFound)
	}
	if vs[0].Version == 1 {
		return fmt.Errorf("model %s has version 1 only, not %d: %w", name, v, cairn.ErrNotFound)
	}
	return fmt.Errorf("model %s has versions 1 to %d, not %d: %w", name, vs[0].Version, v, cairn.ErrNotFound)
}

// PromoteModel moves version v of model name to stage, for actor (the
// audit log's), and says what changed. A version the model lacks, or a
// model that does not exist, is an error wrapping cairn.ErrNotFound that
// says why; nothing changes then.
func PromoteModel(ctx context.Context, reg ModelRegistry, name string, v int, stage cairn.ModelStage, actor string, now time.Time) (*runjson.ModelChange, error) {
	before, err := reg.ModelVersion(ctx, name, v)
	if err != nil {
		return nil, whyMissing(ctx, reg, name, v, err)
	}
	var replaced *int
	if stage == cairn.StageProduction && before.Stage != cairn.StageProduction {
		if vs, err := reg.ModelVersions(ctx, name); err == nil {
			for _, x := range vs {
				if x.Stage == cairn.StageProduction {
					n := x.Version
					replaced = &n
				}
			}
		}
	}
	after, err := reg.PromoteModel(ctx, name, v, stage, actor, now)
	if err != nil {
		return nil, err
	}
	return &runjson.ModelChange{Version: runjson.FromModelVersion(after), From: before.Stage, Replaced: replaced, Changed: before.Stage != after.Stage}, nil
}

// RollbackModel puts back in production the version of model name that
// was there before the current one, for actor, and says what changed:
// an error wrapping cairn.ErrNotFound when the model has no version in
// production, cairn.ErrConflict when there is none before it.
func RollbackModel(ctx context.Context, reg ModelRegistry, name, actor string, now time.Time) (*runjson.ModelChange, error) {
	var cur *int
	if vs, err := reg.ModelVersions(ctx, name); err == nil {
		if len(vs) == 0 {
			return nil, fmt.Errorf("no model is named %q: %w", name, cairn.ErrNotFound)
		}
		for _, x := range vs {
			if x.Stage == cairn.StageProduction {
				n := x.Version
				cur = &n
			}
		}
	}
	after, err := reg.RollbackModel(ctx, name, actor, now)
	if err != nil {
		return nil, err
	}
	from := cairn.StageArchived
	if hist, err := reg.ModelHistory(ctx, name); err == nil && len(hist) > 0 {
		from = hist[len(hist)-1].From
	}
	return &runjson.ModelChange{Version: runjson.FromModelVersion(after), From: from, Replaced: cur, Changed: true}, nil
}
