// Package modelio reads what the task types that apply a model (evaluate,
// predict) take from an attempt's artifact store: the model artifact and
// the CSV data set it is applied to, read with the model's column kinds.
// Its errors are the ones such a task returns: permanent (cairn.Permanent)
// when the input is wrong — not a model, a schema that differs from the
// model's, a malformed CSV, a missing artifact — and retryable when
// reading the store failed.
package modelio

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/tasks"
	"github.com/cairnml/cairn/tasks/ml/dataset"
	"github.com/cairnml/cairn/tasks/ml/model"
)

// ReadModel reads and checks the model artifact ref.
func ReadModel(ctx context.Context, store tasks.Artifacts, ref cairn.ArtifactRef) (*model.Model, error) {
	switch ref.MediaType {
	case "", model.MediaType, "application/octet-stream":
	default:
		return nil, cairn.Permanentf("the artifact is %s, not a model (%s): pass the train task's model output", ref.MediaType, model.MediaType)
	}
	rc, err := store.Open(ctx, ref)
	if err != nil {
		return nil, storeErr(err)
	}
	defer rc.Close()
	m, err := model.Decode(tasks.ContextReader(ctx, rc))
	if err != nil {
		if errors.Is(err, model.ErrFormat) {
			return nil, cairn.Permanentf("not a model artifact: %w", err)
		}
		if ctx.Err() != nil {
			return nil, err
		}
		return nil, storeErr(err)
	}
	return m, nil
}

// ReadData reads the CSV data set ref with m's column kinds (and the
// label's too when withLabel is set), so that a value that does not parse
// as its training kind is an error naming its line and column and a
// missing feature column is an error naming it. Extra columns are read
// with inferred kinds. what names the input where a message needs it ("the
// test set"); callers prefix the input's name ("input test: ...").
func ReadData(ctx context.Context, store tasks.Artifacts, ref cairn.ArtifactRef, m *model.Model, withLabel bool, what string) (*dataset.Frame, error) {
	if ref.MediaType == model.MediaType {
		return nil, cairn.Permanentf("%s is a model, not a data set", what)
	}
	rc, err := store.Open(ctx, ref)
	if err != nil {
		return nil, storeErr(err)
	}
	defer rc.Close()
	f, err := dataset.ReadCSV(tasks.ContextReader(ctx, rc), dataset.ReadOptions{Schema: m.SchemaKinds(withLabel)})
	err = tasks.ReadErr(ctx, rc, err)
	if err != nil {
		switch {
		case ctx.Err() != nil:
			return nil, err
		case errors.Is(err, dataset.ErrSchema):
			return nil, cairn.Permanentf("its columns differ from the model's: %w (the model needs %s)", err, Needs(m, withLabel))
		case errors.Is(err, dataset.ErrType):
			return nil, cairn.Permanentf("its schema differs from the model's: %w (the model needs %s)", err, Needs(m, withLabel))
		case errors.Is(err, dataset.ErrNonFinite):
			return nil, cairn.Permanentf("%w; NaN and ±Inf are not values: write a missing value as an empty field (the model's pipeline imputes it)", err)
		case errors.Is(err, dataset.ErrTooLarge):
			return nil, cairn.Permanent(err)
		}
		var pe *dataset.ParseError
		if errors.As(err, &pe) || errors.Is(err, dataset.ErrFormat) || errors.Is(err, dataset.ErrHeader) {
			return nil, cairn.Permanentf("not a valid CSV: %w", err)
		}
		return nil, storeErr(err)
	}
	if f.Rows() == 0 {
		return nil, cairn.Permanentf("%s has a header but no rows", what)
	}
	return f, nil
}

// Needs lists the model's input columns (and its label) for messages.
func Needs(m *model.Model, withLabel bool) string {
	cols := m.Schema()
	if !withLabel && len(cols) > 0 && cols[len(cols)-1].Name == m.Label {
		cols = cols[:len(cols)-1]
	}
	parts := make([]string, len(cols))
	for i, c := range cols {
		parts[i] = fmt.Sprintf("%s (%s)", c.Name, c.Kind)
	}
	if len(parts) > 12 {
		parts = append(parts[:12], fmt.Sprintf("… %d more", len(cols)-12))
	}
	s := strings.Join(parts, ", ")
	if withLabel {
		s += "; the last is the label"
	}
	return s
}

// storeErr marks a failure to read an artifact: permanent when it does not
// exist, else retryable.
func storeErr(err error) error {
	if errors.Is(err, cairn.ErrNotFound) {
		return cairn.Permanent(err)
	}
	return err
}

// Inputs says how a task names its inputs, for Load.
type Inputs struct {
	// Type is the task type, the prefix of messages ("evaluate").
	Type string
	// Data is the name of the data input ("test"), DataHint what to give
	// there, and DataWhat how messages call it ("the test set").
	Data, DataHint, DataWhat string
	// WithLabel reads the label column with its training kind too (it
	// must then be present).
	WithLabel bool
}

// Load is the start of a task that applies a model: it checks that the
// attempt has an artifact store and the `model` and data inputs, reads
// both (ReadModel, ReadData) and logs what it read. Its errors carry the
// task's name and id and the input's name.
func Load(ctx context.Context, req tasks.Request, env tasks.Env, in Inputs) (*model.Model, *dataset.Frame, error) {
	id := req.TaskID
	if env.Artifacts == nil {
		return nil, nil, cairn.Permanentf("%s %s: the attempt has no artifact store", in.Type, id)
	}
	log := env.Log
	if log == nil {
		log = io.Discard
	}
	modelRef, ok := req.Inputs["model"]
	if !ok {
		return nil, nil, cairn.Permanentf("%s %s: input model is required: give the train task's model output under inputs:", in.Type, id)
	}
	dataRef, ok := req.Inputs[in.Data]
	if !ok {
		return nil, nil, cairn.Permanentf("%s %s: input %s is required: give %s under inputs:", in.Type, id, in.Data, in.DataHint)
	}
	m, err := ReadModel(ctx, env.Artifacts, modelRef)
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: input model: %w", in.Type, id, err)
	}
	fmt.Fprintf(log, "%s: model %s\n", in.Type, m.Describe())
	f, err := ReadData(ctx, env.Artifacts, dataRef, m, in.WithLabel, in.DataWhat)
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: input %s: %w", in.Type, id, in.Data, err)
	}
	fmt.Fprintf(log, "%s: %s: %s × %s (%s, %d bytes)\n", in.Type, in.Data, tasks.Plural(f.Rows(), "row"), tasks.Plural(len(f.Columns), "column"), dataRef.Digest, dataRef.Size)
	return m, f, nil
}
