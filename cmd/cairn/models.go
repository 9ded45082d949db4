package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/rollouts"
	"github.com/cairnml/cairn/serve"
	"github.com/cairnml/cairn/tasks"
	"github.com/cairnml/cairn/tasks/retrain"
)

// storeModels is the registry and lineage as tasks read them
// (tasks.Env.Models, for retrain): reads of the run's store, never
// writes, and of the prediction logs a server on the home keeps. Plugins
// are given none.
type storeModels struct {
	st   database
	arts tasks.Artifacts
	// predictions is HOME/predictions, where cairn server writes the rows
	// it samples from prediction requests (package serve): NAME/samples.jsonl,
	// and NAME/samples.1.jsonl before it once rotated.
	predictions string
}

// models is the home's storeModels.
func (a *app) models(st database, arts tasks.Artifacts) (storeModels, error) {
	home, err := a.homeDir()
	if err != nil {
		return storeModels{}, err
	}
	return storeModels{st: st, arts: arts, predictions: filepath.Join(home, "predictions")}, nil
}

var _ tasks.ModelReader = storeModels{}

// Production returns the version of name in production.
func (m storeModels) Production(ctx context.Context, name string) (cairn.ModelVersion, error) {
	mv, err := m.st.ProductionModel(ctx, name)
	if err != nil {
		return cairn.ModelVersion{}, err
	}
	return *mv, nil
}

// TrainingData follows lineage from the model artifact to the attempts
// that wrote it, oldest first, and returns what the first of them with an
// input named port read there: the model's training data.
func (m storeModels) TrainingData(ctx context.Context, model cairn.ArtifactRef, port string) (cairn.ArtifactRef, error) {
	producers, err := m.st.ArtifactEdges(ctx, model.Digest, cairn.LineageOut)
	if err != nil {
		return cairn.ArtifactRef{}, err
	}
	if len(producers) == 0 {
		return cairn.ArtifactRef{}, fmt.Errorf("no recorded attempt wrote the model %s: %w", model.Digest, cairn.ErrNotFound)
	}
	var ports []string
	for _, p := range producers {
		edges, err := m.st.AttemptEdges(ctx, p.Attempt)
		if err != nil {
			return cairn.ArtifactRef{}, err
		}
		for _, e := range edges {
			if e.Direction != cairn.LineageIn {
				continue
			}
			if e.Port != port {
				ports = append(ports, p.Attempt.String()+" read "+e.Port)
				continue
			}
			rec, err := m.st.Artifact(ctx, e.Digest)
			if err != nil {
				return cairn.ArtifactRef{}, fmt.Errorf("the input %s of %s: %w", port, p.Attempt, err)
			}
			return rec.ArtifactRef, nil
		}
	}
	what := "none read any artifact"
	if len(ports) > 0 {
		what = fmt.Sprintf("their inputs: %v", ports)
	}
	return cairn.ArtifactRef{}, fmt.Errorf("no attempt that wrote the model %s (%s first) had an input named %q (%s): %w",
		model.Digest, producers[0].Attempt, port, what, cairn.ErrNotFound)
}

// PredictionLog stores the model's sampled prediction rows (the rotated
// file first, then the current one, each up to its last whole line: the
// server may be appending) as one JSON Lines artifact.
func (m storeModels) PredictionLog(ctx context.Context, name string) (cairn.ArtifactRef, error) {
	if err := cairn.ValidModelName(name); err != nil {
		return cairn.ArtifactRef{}, err
	}
	if m.predictions == "" || m.arts == nil {
		return cairn.ArtifactRef{}, fmt.Errorf("no prediction log of model %s: this process keeps none: %w", name, cairn.ErrNotFound)
	}
	var buf bytes.Buffer
	for _, f := range []string{serve.SampleRotatedFile, serve.SampleFile} {
		b, err := os.ReadFile(filepath.Join(m.predictions, name, f))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return cairn.ArtifactRef{}, fmt.Errorf("read the prediction log of model %s: %w", name, err)
		}
		if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
			buf.Write(b[:i+1])
		}
	}
	if buf.Len() == 0 {
		return cairn.ArtifactRef{}, fmt.Errorf("model %s has no sampled predictions in %s: %w", name, filepath.Join(m.predictions, name), cairn.ErrNotFound)
	}
	return m.arts.Put(ctx, tasks.MediaTypeJSONL, &buf)
}

// trainingData reads a model version's training data as retrain finds it
// (lineage: the "train" input of the attempt that wrote the model), for
// the leader's drift_above alerts.
func trainingData(st database, arts tasks.Artifacts) rollouts.ReferenceFunc {
	return func(ctx context.Context, name string, version int) (*retrain.Reference, error) {
		mv, err := st.ModelVersion(ctx, name, version)
		if err != nil {
			return nil, err
		}
		return retrain.ReadReference(ctx, storeModels{st: st, arts: arts}, arts, *mv, "")
	}
}
