package predict

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/tasks"
	"github.com/cairnml/cairn/tasks/ml/dataset"
	"github.com/cairnml/cairn/tasks/ml/model"
	"github.com/cairnml/cairn/tasks/ml/modelio"
)

// MediaType is the media type of the predictions output.
const MediaType = "text/csv"

// DefaultColumn is the default name of the prediction column.
const DefaultColumn = "prediction"

// Task is the predict task type. The zero value is ready to use; it holds
// no state and serves any number of attempts at once.
type Task struct{}

var (
	_ tasks.Task           = (*Task)(nil)
	_ tasks.ParamValidator = (*Task)(nil)
)

// New returns the predict task type.
func New() *Task { return &Task{} }

// Info describes the type.
func (*Task) Info() cairn.TypeInfo {
	return cairn.TypeInfo{
		Name:    "predict",
		Cache:   cairn.CacheAuto,
		Summary: "Batch scoring: applies a model to the raw rows of a CSV data set and stores the rows with the predictions (and class probabilities) appended.",
		Params: []cairn.ParamInfo{
			{Name: "keep", Kind: cairn.KindList, Doc: "columns of the input copied into the output, in input order (default: every column)"},
			{Name: "column", Kind: cairn.KindString, Default: DefaultColumn, Doc: "name of the prediction column"},
			{Name: "probabilities", Kind: cairn.KindBool, Default: true, Doc: `classification: also a column "proba_<class>" per class`},
		},
		Inputs: []cairn.PortInfo{
			{Name: "model", Artifact: true, Required: true, Doc: "the model (" + model.MediaType + "), as train writes it"},
			{Name: "data", Artifact: true, Required: true, Doc: "the rows to score: CSV with the model's feature columns; the label may be absent"},
		},
		Outputs: []cairn.PortInfo{
			{Name: "predictions", Artifact: true, Doc: "the kept columns, the prediction, the probabilities (" + MediaType + ")"},
			{Name: "rows", Doc: "the number of rows scored"},
			{Name: "counts", Doc: "classification: {class: rows predicted as it}; null for a regression"},
		},
	}
}

type params struct {
	Keep          []string `json:"keep"`
	Column        string   `json:"column"`
	Probabilities *bool    `json:"probabilities"`
}

// ValidateParams checks the literal params.
func (*Task) ValidateParams(m map[string]any) []tasks.ParamError {
	var errs []tasks.ParamError
	if v, ok := m["keep"]; ok && !tasks.IsRef(v) {
		l, isList := v.([]any)
		if !isList {
			errs = append(errs, tasks.ParamError{Key: "keep", Msg: "want a list of column names, got " + tasks.Describe(v)})
		}
		seen := map[string]bool{}
		for i, item := range l {
			s, isStr := item.(string)
			switch {
			case tasks.IsRef(item):
			case !isStr || s == "":
				errs = append(errs, tasks.ParamError{Key: "keep", Msg: fmt.Sprintf("item %d: want a column name, got %s", i, tasks.Describe(item))})
			case seen[s]:
				errs = append(errs, tasks.ParamError{Key: "keep", Msg: fmt.Sprintf("item %d: %q is listed twice", i, s)})
			}
			seen[s] = true
		}
	}
	if v, ok := m["column"]; ok && !tasks.IsRef(v) {
		if s, isStr := v.(string); !isStr || s == "" {
			errs = append(errs, tasks.ParamError{Key: "column", Msg: "want a column name, got " + tasks.Describe(v)})
		}
	}
	return errs
}

// Run scores the data input with the model input; see the package
// documentation.
func (*Task) Run(ctx context.Context, req tasks.Request, env tasks.Env) (tasks.Result, error) {
	id := req.TaskID
	var p params
	if err := req.DecodeParams(&p); err != nil {
		return tasks.Result{}, err
	}
	if p.Column == "" {
		p.Column = DefaultColumn
	}
	probabilities := p.Probabilities == nil || *p.Probabilities
	if err := ctx.Err(); err != nil {
		return tasks.Result{}, fmt.Errorf("predict %s: not started: %w", id, context.Cause(ctx))
	}
	log := env.Log
	if log == nil {
		log = io.Discard
	}
	m, f, err := modelio.Load(ctx, req, env, modelio.Inputs{Type: "predict", Data: "data",
		DataHint: "the rows to score", DataWhat: "the data set"})
	if err != nil {
		return tasks.Result{}, err
	}

	out, err := kept(f, p.Keep)
	if err != nil {
		return tasks.Result{}, cairn.Permanentf("predict %s: keep: %w", id, err)
	}
	pred, err := m.Predict(f)
	if err != nil {
		return tasks.Result{}, cairn.Permanentf("predict %s: %w", id, err)
	}
	if err := ctx.Err(); err != nil {
		return tasks.Result{}, fmt.Errorf("predict %s: cancelled: %w", id, context.Cause(ctx))
	}
	added, counts := predictionColumns(m, pred, p.Column, probabilities)
	for _, c := range added {
		if _, dup := out.Col(c.Name); dup {
			return tasks.Result{}, cairn.Permanentf("predict %s: the output column %q is also a kept input column: rename it with column: or leave it out of keep:", id, c.Name)
		}
		out.Columns = append(out.Columns, c)
	}

	var buf bytes.Buffer
	if err := dataset.WriteCSV(&buf, out); err != nil {
		return tasks.Result{}, fmt.Errorf("predict %s: write predictions: %w", id, err)
	}
	ref, err := env.Artifacts.Put(ctx, MediaType, &buf)
	if err != nil {
		return tasks.Result{}, fmt.Errorf("predict %s: store predictions: %w", id, err)
	}
	outputs := map[string]json.RawMessage{
		"predictions": ref.JSON(),
		"rows":        json.RawMessage(fmt.Sprint(f.Rows())),
		"counts":      json.RawMessage("null"),
	}
	metrics := map[string]float64{"rows": float64(f.Rows())}
	if counts != nil {
		outputs["counts"], _ = json.Marshal(counts) // a map of ints: cannot fail
		parts := make([]string, len(m.Classes))
		for i, c := range m.Classes {
			parts[i] = fmt.Sprintf("%s %d", c, counts[c])
		}
		fmt.Fprintf(log, "predict: %s predicted: %s\n", tasks.Plural(f.Rows(), "row"), strings.Join(parts, ", "))
	} else {
		var sum float64
		for _, v := range pred.Value {
			sum += v
		}
		metrics["mean_prediction"] = sum / float64(len(pred.Value))
		fmt.Fprintf(log, "predict: %s predicted, mean %g\n", tasks.Plural(f.Rows(), "row"), metrics["mean_prediction"])
	}
	fmt.Fprintf(log, "predict: predictions %s (%d bytes)\n", ref.Digest, ref.Size)
	return tasks.Result{Outputs: outputs, Metrics: metrics}, nil
}

// kept returns the columns of f named by keep, in f's order (every column
// when keep is nil).
func kept(f *dataset.Frame, keep []string) (*dataset.Frame, error) {
	if keep == nil {
		return &dataset.Frame{Columns: slices.Clone(f.Columns)}, nil
	}
	for _, name := range keep {
		if _, ok := f.Col(name); !ok {
			msg := fmt.Sprintf("the data set has no column %q", name)
			if near := tasks.Nearest(name, f.Names()); near != "" {
				msg += fmt.Sprintf("; did you mean %q?", near)
			}
			return nil, fmt.Errorf("%s", msg)
		}
	}
	out := &dataset.Frame{}
	for _, c := range f.Columns {
		if slices.Contains(keep, c.Name) {
			out.Columns = append(out.Columns, c)
		}
	}
	return out, nil
}

// predictionColumns returns the prediction column (and the probability
// columns) of pred, and for a classifier the count of rows per class.
func predictionColumns(m *model.Model, pred *model.Prediction, name string, probabilities bool) ([]*dataset.Column, map[string]int) {
	if m.Kind == model.Regression {
		return []*dataset.Column{{Name: name, Kind: dataset.Numeric, Num: pred.Value}}, nil
	}
	labels := make([]string, len(pred.Class))
	counts := make(map[string]int, len(m.Classes))
	for _, c := range m.Classes {
		counts[c] = 0
	}
	for i, c := range pred.Class {
		labels[i] = m.Classes[c]
		counts[labels[i]]++
	}
	cols := []*dataset.Column{{Name: name, Kind: dataset.Categorical, Str: labels}}
	if probabilities {
		for k, class := range m.Classes {
			p := make([]float64, len(pred.Proba))
			for i, row := range pred.Proba {
				p[i] = row[k]
			}
			cols = append(cols, &dataset.Column{Name: "proba_" + class, Kind: dataset.Numeric, Num: p})
		}
	}
	return cols, counts
}
