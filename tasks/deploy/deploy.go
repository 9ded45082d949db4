package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/tasks"
	"github.com/cairnml/cairn/tasks/ml/model"
	"github.com/cairnml/cairn/tasks/ml/modelio"
)

// VersionOutput is the output the store sets to the version registered.
const VersionOutput = "version"

// MaxReportBytes bounds the report input deploy reads.
const MaxReportBytes = 64 << 20

// MaxMetrics bounds the metrics recorded with a version, and
// MaxMetricName the length of a metric's name.
const (
	MaxMetrics    = 256
	MaxMetricName = 128
)

// Task is the deploy task type. The zero value is ready to use; it holds
// no state and serves any number of attempts at once.
type Task struct{}

var (
	_ tasks.Task           = (*Task)(nil)
	_ tasks.ParamValidator = (*Task)(nil)
	_ tasks.NoScratch      = (*Task)(nil)
)

// New returns the deploy task type.
func New() *Task { return &Task{} }

// NoScratch: deploy writes no file.
func (*Task) NoScratch() {}

// Info describes the type.
func (*Task) Info() cairn.TypeInfo {
	return cairn.TypeInfo{
		Name:    "deploy",
		Cache:   cairn.CacheNever, // its registration is an effect of its success: a reuse would skip it
		Summary: "Registers a model artifact in the model registry under a name (a new version, or the existing one for the same bytes) and moves it to a stage: candidate or production.",
		Params: []cairn.ParamInfo{
			{Name: "name", Kind: cairn.KindString, Required: true, Doc: "the model's name: 1 to 128 letters, digits, '-', '_' and '.', starting with a letter or digit"},
			{Name: "stage", Kind: cairn.KindString, Default: string(cairn.StageCandidate), Doc: "candidate or production (the version in production before is archived)"},
			{Name: "metrics", Kind: cairn.KindMap, Doc: `metric -> number recorded with the version, such as "${{ tasks.evaluate.outputs.metrics }}" (default: the report's metrics, when a report is given)`},
		},
		Inputs: []cairn.PortInfo{
			{Name: "model", Artifact: true, Required: true, Doc: "the model (" + model.MediaType + "), as train writes it"},
			{Name: "report", Artifact: true, Doc: "the evaluate task's report of this model: the models page draws its ROC curve and confusion matrix"},
		},
		Outputs: []cairn.PortInfo{
			{Name: "model", Artifact: true, Doc: "the model artifact registered (the model input)"},
			{Name: VersionOutput, Doc: "the version registered (from 1 per name), set when the success is recorded; null in a reproduced run, which registers nothing"},
			{Name: "name", Doc: "the model's name"},
			{Name: "stage", Doc: "the stage asked: candidate or production"},
		},
	}
}

// ValidateParams checks the literal params; the same checks run on the
// resolved params at run time.
func (*Task) ValidateParams(m map[string]any) []tasks.ParamError { return check(m, false) }

// check checks params as written (resolved false: a value holding a
// reference is accepted) or as resolved (every value is final).
func check(m map[string]any, resolved bool) []tasks.ParamError {
	literal := func(v any) bool { return resolved || !tasks.IsRef(v) }
	var errs []tasks.ParamError
	if v, ok := m["name"]; ok && literal(v) {
		s, isStr := v.(string)
		if !isStr {
			errs = append(errs, tasks.ParamError{Key: "name", Msg: "want a model name, got " + tasks.Describe(v)})
		} else if err := cairn.ValidModelName(s); err != nil {
			errs = append(errs, tasks.ParamError{Key: "name", Msg: err.Error()})
		}
	}
	if v, ok := m["stage"]; ok && literal(v) {
		s, _ := v.(string)
		switch cairn.ModelStage(s) {
		case cairn.StageCandidate, cairn.StageProduction:
		case cairn.StageArchived:
			errs = append(errs, tasks.ParamError{Key: "stage", Msg: "a deploy registers a candidate or production version, not an archived one",
				Hint: "archive a version with: cairn models promote NAME VERSION --stage archived"})
		default:
			pe := tasks.ParamError{Key: "stage", Msg: "want candidate or production, got " + tasks.Describe(v)}
			if near := tasks.Nearest(s, []string{string(cairn.StageCandidate), string(cairn.StageProduction)}); near != "" {
				pe.Hint = fmt.Sprintf("did you mean %q?", near)
			}
			errs = append(errs, pe)
		}
	}
	if v, ok := m["metrics"]; ok && literal(v) {
		if _, err := metricsOf(v, resolved); err != nil {
			errs = append(errs, tasks.ParamError{Key: "metrics", Msg: err.Error()})
		}
	}
	return errs
}

// metricsOf reads the metrics param: an object of numbers (null: none).
// Unless resolved, a value that holds a reference is accepted as written.
func metricsOf(v any, resolved bool) (map[string]float64, error) {
	if v == nil {
		return nil, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("want a map of metric -> number, got %s", tasks.Describe(v))
	}
	if len(m) > MaxMetrics {
		return nil, fmt.Errorf("%d metrics, at most %d", len(m), MaxMetrics)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make(map[string]float64, len(m))
	for _, k := range keys {
		if k == "" || len(k) > MaxMetricName || strings.ContainsAny(k, "\x00\r\n") {
			return nil, fmt.Errorf("metric name %q: want 1 to %d characters on one line", k, MaxMetricName)
		}
		if !resolved && tasks.IsRef(m[k]) {
			continue
		}
		f, ok := tasks.Number(m[k])
		if !ok {
			return nil, fmt.Errorf("metric %q: want a number, got %s", k, tasks.Describe(m[k]))
		}
		out[k] = f
	}
	return out, nil
}

// report is what deploy reads of evaluate's report artifact.
type report struct {
	Kind    string             `json:"kind"`
	Model   string             `json:"model"`
	Metrics map[string]float64 `json:"metrics"`
}

// Run checks the model (and report) inputs and returns the registration
// as the result's effect; see the package documentation.
func (*Task) Run(ctx context.Context, req tasks.Request, env tasks.Env) (tasks.Result, error) {
	id := req.TaskID
	m, err := req.DecodeMap("deploy")
	if err != nil {
		return tasks.Result{}, err
	}
	for k := range m {
		if k != "name" && k != "stage" && k != "metrics" {
			return tasks.Result{}, cairn.Permanentf("deploy %s: params: unknown param %q (it takes name, stage, metrics)", id, k)
		}
	}
	if _, ok := m["name"]; !ok {
		return tasks.Result{}, cairn.Permanentf("deploy %s: params: name is required", id)
	}
	if err := tasks.ParamsError("deploy", id, check(m, true)); err != nil {
		return tasks.Result{}, err
	}
	name, _ := m["name"].(string)
	stage := cairn.StageCandidate
	if s, ok := m["stage"].(string); ok {
		stage = cairn.ModelStage(s)
	}
	metrics, _ := metricsOf(m["metrics"], true) // checked above
	if err := ctx.Err(); err != nil {
		return tasks.Result{}, fmt.Errorf("deploy %s: not started: %w", id, context.Cause(ctx))
	}
	if env.Artifacts == nil {
		return tasks.Result{}, cairn.Permanentf("deploy %s: the attempt has no artifact store", id)
	}
	log := env.Log
	if log == nil {
		log = io.Discard
	}
	modelRef, ok := req.Inputs["model"]
	if !ok {
		return tasks.Result{}, cairn.Permanentf("deploy %s: input model is required: give the train task's model output under inputs:", id)
	}
	mdl, err := modelio.ReadModel(ctx, env.Artifacts, modelRef)
	if err != nil {
		return tasks.Result{}, fmt.Errorf("deploy %s: input model %s: %w", id, modelRef.Digest, err)
	}
	fmt.Fprintf(log, "deploy: model %s (%s, %d bytes)\n", mdl.Describe(), modelRef.Digest, modelRef.Size)
	if modelRef.MediaType == "" || modelRef.MediaType == "application/octet-stream" {
		modelRef.MediaType = model.MediaType // it decodes as one
	}

	var reportRef *cairn.ArtifactRef
	if ref, ok := req.Inputs["report"]; ok {
		rep, err := readReport(ctx, env.Artifacts, ref)
		if err != nil {
			return tasks.Result{}, fmt.Errorf("deploy %s: input report %s: %w", id, ref.Digest, err)
		}
		if rep.Model != "" && rep.Model != modelRef.Digest {
			return tasks.Result{}, cairn.Permanentf("deploy %s: input report evaluates model %s, not the model input %s: give the report of the evaluate task that read this model",
				id, rep.Model, modelRef.Digest)
		}
		if _, given := m["metrics"]; !given {
			metrics = rep.Metrics
		}
		fmt.Fprintf(log, "deploy: report %s (%s evaluation, %s)\n", ref.Digest, rep.Kind, tasks.Plural(len(rep.Metrics), "metric"))
		reportRef = &ref
	}

	reg := &cairn.ModelRegistration{Name: name, Stage: stage, Model: modelRef, Metrics: metrics, Report: reportRef, VersionOutput: VersionOutput}
	eff := cairn.Effect{RegisterModel: reg}
	if err := eff.Validate(); err != nil {
		return tasks.Result{}, cairn.Permanentf("deploy %s: %w", id, err)
	}
	keys := make([]string, 0, len(metrics))
	for k := range metrics {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%.4g", k, metrics[k])
	}
	fmt.Fprintf(log, "deploy: registers %s as %s", name, stage)
	if len(parts) > 0 {
		fmt.Fprintf(log, " with %s", strings.Join(parts, " "))
	}
	fmt.Fprintln(log, " (the version is given when the success is recorded)")

	nameJSON, _ := json.Marshal(name) // a valid name: cannot fail
	return tasks.Result{
		Outputs: map[string]json.RawMessage{
			"model":       modelRef.JSON(),
			VersionOutput: json.RawMessage("null"),
			"name":        nameJSON,
			"stage":       json.RawMessage(`"` + string(stage) + `"`),
		},
		Effects: []cairn.Effect{eff},
	}, nil
}

// readReport reads and checks an evaluate report artifact.
func readReport(ctx context.Context, store tasks.Artifacts, ref cairn.ArtifactRef) (*report, error) {
	switch ref.MediaType {
	case "", "application/json", "application/octet-stream":
	default:
		return nil, cairn.Permanentf("the artifact is %s, not an evaluate report (application/json): pass the evaluate task's report output", ref.MediaType)
	}
	rc, err := store.Open(ctx, ref)
	if err != nil {
		if errors.Is(err, cairn.ErrNotFound) {
			return nil, cairn.Permanent(err)
		}
		return nil, err
	}
	defer rc.Close()
	raw, err := io.ReadAll(io.LimitReader(tasks.ContextReader(ctx, rc), MaxReportBytes+1))
	if err != nil {
		return nil, err
	}
	if len(raw) > MaxReportBytes {
		return nil, cairn.Permanentf("larger than %d bytes: not an evaluate report", MaxReportBytes)
	}
	var rep report
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&rep); err != nil {
		return nil, cairn.Permanentf("not an evaluate report (want its JSON object): %v", err)
	}
	if rep.Kind != "classification" && rep.Kind != "regression" {
		return nil, cairn.Permanentf("not an evaluate report: its kind is %q, want classification or regression: pass the evaluate task's report output", rep.Kind)
	}
	return &rep, nil
}
