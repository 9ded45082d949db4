package retrain

import (
	"context"
	"errors"
	"fmt"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/tasks"
	"github.com/cairnml/cairn/tasks/ml/dataset"
	"github.com/cairnml/cairn/tasks/ml/modelio"
)

// Reference is a model version's training data as retrain compares
// fresh data with it: the frame of its feature columns read with the
// model's kinds, and the model's features in its order.
type Reference struct {
	Frame    *dataset.Frame
	Features []string
	// Kinds are the model's feature columns' kinds, to read other data
	// (served rows) as the reference was read.
	Kinds map[string]dataset.Kind
	// Data is the training data's artifact.
	Data cairn.ArtifactRef
}

// ReadReference finds model version mv's training data as retrain does
// (through lineage: the input port, "" for DefaultReferencePort, of the
// attempt that wrote the model) and reads it with the model's kinds: what
// the leader's drift_above alerts compare the served rows with. Errors
// wrap cairn.ErrNotFound when the training data is not known.
func ReadReference(ctx context.Context, models tasks.ModelReader, arts tasks.Artifacts, mv cairn.ModelVersion, port string) (*Reference, error) {
	if port == "" {
		port = DefaultReferencePort
	}
	ref, err := models.TrainingData(ctx, mv.Model, port)
	if err != nil {
		if errors.Is(err, cairn.ErrNotFound) {
			return nil, fmt.Errorf("the training data of %s is not known: %w", mv.Ref(), err)
		}
		return nil, fmt.Errorf("find the training data of %s: %w", mv.Ref(), err)
	}
	m, err := modelio.ReadModel(ctx, arts, mv.Model)
	if err != nil {
		return nil, fmt.Errorf("the model of %s: %w", mv.Ref(), err)
	}
	f, _, err := readFrame(ctx, arts, ref, m, m.Label, false, "the training data")
	if err != nil {
		return nil, fmt.Errorf("the training data of %s (%s): %w", mv.Ref(), ref.Digest, err)
	}
	return &Reference{Frame: f, Features: featureColumns(m), Kinds: m.SchemaKinds(false), Data: ref}, nil
}
