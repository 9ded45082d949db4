package main

import (
	"context"
	"fmt"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/store/sqlite"
	"github.com/cairnml/cairn/tasks"
)

// storeModels is the registry and lineage as tasks read them
// (tasks.Env.Models, for retrain): reads of the run's store, never
// writes. Plugins are given none.
type storeModels struct{ st *sqlite.Store }

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
