package retrain_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/artifacts"
	"github.com/cairnml/cairn/tasks"
	"github.com/cairnml/cairn/tasks/ml/dataset"
	"github.com/cairnml/cairn/tasks/ml/features"
	"github.com/cairnml/cairn/tasks/ml/model"
	"github.com/cairnml/cairn/tasks/ml/synthetic"
	"github.com/cairnml/cairn/tasks/retrain"
	"github.com/cairnml/cairn/tasks/tasktest"
)

// registry is a tasks.ModelReader over one production version (none when
// prod is nil) trained on data through port "train".
type registry struct {
	prod *cairn.ModelVersion
	data cairn.ArtifactRef
	log  *cairn.ArtifactRef // the prediction log, if any
	// calls counts the reads, to check none is made before the params
	// are checked.
	calls int
}

func (r *registry) Production(_ context.Context, name string) (cairn.ModelVersion, error) {
	r.calls++
	if r.prod == nil || r.prod.Name != name {
		return cairn.ModelVersion{}, fmt.Errorf("model %s has no version in production: %w", name, cairn.ErrNotFound)
	}
	return *r.prod, nil
}

func (r *registry) TrainingData(_ context.Context, m cairn.ArtifactRef, port string) (cairn.ArtifactRef, error) {
	r.calls++
	if r.prod == nil || m.Digest != r.prod.Model.Digest || port != "train" {
		return cairn.ArtifactRef{}, fmt.Errorf("no attempt that wrote %s read an input %q: %w", m.Digest, port, cairn.ErrNotFound)
	}
	return r.data, nil
}

func (r *registry) PredictionLog(_ context.Context, name string) (cairn.ArtifactRef, error) {
	r.calls++
	if r.log == nil || r.prod == nil || name != r.prod.Name {
		return cairn.ArtifactRef{}, fmt.Errorf("model %s has no sampled predictions: %w", name, cairn.ErrNotFound)
	}
	return *r.log, nil
}

// world is an artifact store holding a classifier trained on synthetic
// data and that data, registered as churn@2 in production.
type world struct {
	env   tasks.Env
	log   *tasktest.Buffer
	reg   *registry
	model *model.Model
}

// classification is sample of one distribution (sample 0: the training
// data), drifted by d.
func classification(t testing.TB, sample uint64, d synthetic.Drift) *dataset.Frame {
	t.Helper()
	f, err := (synthetic.Classification{Rows: 800, Features: 4, Informative: 3, Seed: 1, Sample: sample, Drift: d}).Frame()
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func put(t testing.TB, env tasks.Env, mediaType string, b []byte) cairn.ArtifactRef {
	t.Helper()
	ref, err := env.Artifacts.Put(context.Background(), mediaType, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

func csvOf(t testing.TB, f *dataset.Frame) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := dataset.WriteCSV(&b, f); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func newWorld(t testing.TB, metrics map[string]float64) *world {
	t.Helper()
	env, log := tasktest.Env(t)
	train := classification(t, 0, synthetic.Drift{})
	m, err := model.Fit(train, model.Spec{Preprocess: features.NewSpec("label"), Algorithm: model.LogisticRegression})
	if err != nil {
		t.Fatal(err)
	}
	var enc bytes.Buffer
	if err := m.Encode(&enc); err != nil {
		t.Fatal(err)
	}
	modelRef := put(t, env, model.MediaType, enc.Bytes())
	dataRef := put(t, env, "text/csv", csvOf(t, train))
	reg := &registry{prod: &cairn.ModelVersion{Name: "churn", Version: 2, Model: modelRef, Stage: cairn.StageProduction, Metrics: metrics}, data: dataRef}
	env.Models = reg
	return &world{env: env, log: log, reg: reg, model: m}
}

// run runs retrain on fresh with params.
func (w *world) run(t testing.TB, fresh []byte, params map[string]any) (tasks.Result, error) {
	t.Helper()
	p, err := json.Marshal(params)
	if err != nil {
		t.Fatal(err)
	}
	req := tasktest.Request(t, p)
	req.Inputs = map[string]cairn.ArtifactRef{"data": put(t, w.env, "text/csv", fresh)}
	return retrain.New().Run(context.Background(), req, w.env)
}

func dropLabel(f *dataset.Frame) *dataset.Frame {
	out := &dataset.Frame{}
	for _, c := range f.Columns {
		if c.Name != "label" {
			out.Columns = append(out.Columns, c)
		}
	}
	return out
}

func output[T any](t testing.TB, res tasks.Result, name string) T {
	t.Helper()
	var v T
	raw, ok := res.Outputs[name]
	if !ok {
		t.Fatalf("no output %s in %v", name, res.Outputs)
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("output %s = %s: %v", name, raw, err)
	}
	return v
}

func read(t testing.TB, env tasks.Env, ref cairn.ArtifactRef) []byte {
	t.Helper()
	rc, err := env.Artifacts.Open(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Stable data (a new sample of the training distribution, without
// labels): no retrain, and the outputs name what was compared.
func TestStableDataNoRetrain(t *testing.T) {
	w := newWorld(t, nil)
	res, err := w.run(t, csvOf(t, dropLabel(classification(t, 2, synthetic.Drift{}))), map[string]any{"model": "churn"})
	if err != nil {
		t.Fatalf("%v\n%s", err, w.log.String())
	}
	if output[bool](t, res, "should_retrain") {
		t.Fatalf("stable data says retrain: %s\n%s", res.Outputs["reason"], w.log.String())
	}
	if d := output[[]string](t, res, "drifted"); len(d) != 0 {
		t.Fatalf("drifted %v", d)
	}
	if r := output[string](t, res, "reason"); r != "no drift" {
		t.Fatalf("reason %q", r)
	}
	if len(res.Effects) != 0 {
		t.Fatalf("stable data raises %+v", res.Effects)
	}
	if v := output[int](t, res, "production_version"); v != 2 {
		t.Fatalf("production_version %d", v)
	}
	if got := output[cairn.ArtifactRef](t, res, "production_model"); got != w.reg.prod.Model {
		t.Fatalf("production_model %+v", got)
	}
	if got := output[cairn.ArtifactRef](t, res, "reference"); got != w.reg.data {
		t.Fatalf("reference %+v", got)
	}
	if string(res.Outputs["live_metric"]) != "null" {
		t.Fatalf("live_metric without labels: %s", res.Outputs["live_metric"])
	}
	want := map[string]cairn.ArtifactRef{"production_model": w.reg.prod.Model, "reference": w.reg.data}
	if !reflect.DeepEqual(res.Inputs, want) {
		t.Fatalf("read inputs %+v, want %+v", res.Inputs, want)
	}
	if res.Metrics["drifted_features"] != 0 || res.Metrics["max_psi"] >= 0.2 || res.Metrics["min_p_value"] <= 0 {
		t.Fatalf("metrics %v", res.Metrics)
	}
	var rep retrain.Report
	if err := json.Unmarshal(read(t, w.env, output[cairn.ArtifactRef](t, res, "report")), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Model != "churn" || rep.ModelVersion != 2 || rep.Reference != w.reg.data.Digest || len(rep.Drift.Features) != 4 || rep.Drift.Features[0].Name != "x0" {
		t.Fatalf("report %+v", rep)
	}
	svg := read(t, w.env, output[cairn.ArtifactRef](t, res, "plot"))
	if !bytes.HasPrefix(svg, []byte("<svg")) || !bytes.Contains(svg, []byte("x3")) {
		t.Fatalf("plot: %.200s", svg)
	}
}

// Drifted data: the features that moved are named, and retrain is due;
// the same inputs give the same bytes.
func TestDriftedDataRetrains(t *testing.T) {
	w := newWorld(t, nil)
	fresh := csvOf(t, dropLabel(classification(t, 3, synthetic.Drift{Shift: 1.5, Features: 2})))
	res, err := w.run(t, fresh, map[string]any{"model": "churn"})
	if err != nil {
		t.Fatalf("%v\n%s", err, w.log.String())
	}
	if !output[bool](t, res, "should_retrain") {
		t.Fatalf("drifted data says no retrain\n%s", w.log.String())
	}
	if d := output[[]string](t, res, "drifted"); !reflect.DeepEqual(d, []string{"x0", "x1"}) {
		t.Fatalf("drifted %v, want [x0 x1]\n%s", d, w.log.String())
	}
	if r := output[string](t, res, "reason"); r != "2 of 4 features drifted: x0, x1" {
		t.Fatalf("reason %q", r)
	}
	sum := output[retrain.Summary](t, res, "drift")
	if sum.PSIThreshold != 0.2 || len(sum.Features) != 4 || !sum.Features[0].Drifted || sum.Features[3].Drifted || sum.Features[0].Test != "ks" {
		t.Fatalf("drift output %+v", sum)
	}
	if res.Metrics["drifted_features"] != 2 || res.Metrics["max_psi"] < 0.2 {
		t.Fatalf("metrics %v", res.Metrics)
	}
	if !strings.Contains(w.log.String(), "should_retrain true") {
		t.Fatalf("log:\n%s", w.log.String())
	}
	// The workflow's notify: on drift is told, by the store, from this
	// effect of the success (issue #22); stable data raises none.
	if len(res.Effects) != 1 || res.Effects[0].Notify == nil || res.Effects[0].Notify.Event != cairn.AlertDrift ||
		res.Effects[0].Notify.Detail != "drifted features: x0, x1; should retrain: true" {
		t.Fatalf("effects %+v, want one drift notification naming x0 and x1", res.Effects)
	}
	again, err := w.run(t, fresh, map[string]any{"model": "churn"})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(res, again) {
		t.Fatalf("not deterministic:\n%v\n%v", res.Outputs, again.Outputs)
	}
	// A stricter rule: three features must drift.
	res, err = w.run(t, fresh, map[string]any{"model": "churn", "min_drifted": 3})
	if err != nil {
		t.Fatal(err)
	}
	if output[bool](t, res, "should_retrain") || !strings.Contains(output[string](t, res, "reason"), "fewer than min_drifted 3") {
		t.Fatalf("min_drifted 3: %s", res.Outputs["reason"])
	}
	// Only the features named are compared.
	res, err = w.run(t, fresh, map[string]any{"model": "churn", "features": []string{"x2", "x3"}})
	if err != nil {
		t.Fatal(err)
	}
	if output[bool](t, res, "should_retrain") {
		t.Fatalf("x2 and x3 did not move: %s", res.Outputs["reason"])
	}
}

// With labels, the production model is scored on the fresh data: against
// the registry's metric, or else its training score; a fall beyond
// metric_drop makes a retrain due even without drift.
func TestLiveMetric(t *testing.T) {
	stable := classification(t, 2, synthetic.Drift{})
	w := newWorld(t, nil)
	res, err := w.run(t, csvOf(t, stable), map[string]any{"model": "churn"})
	if err != nil {
		t.Fatalf("%v\n%s", err, w.log.String())
	}
	live := output[*retrain.LiveMetric](t, res, "live_metric")
	if live == nil || live.Name != "accuracy" || live.BaselineSource != "training data" || live.Baseline == nil || live.Due {
		t.Fatalf("live %+v", live)
	}
	if res.Metrics["live_accuracy"] != live.Value || live.Value < 0.6 {
		t.Fatalf("metrics %v, live %+v", res.Metrics, live)
	}

	// The registry says the version scored 0.99 when it was deployed.
	w = newWorld(t, map[string]float64{"accuracy": 0.99})
	res, err = w.run(t, csvOf(t, stable), map[string]any{"model": "churn"})
	if err != nil {
		t.Fatal(err)
	}
	live = output[*retrain.LiveMetric](t, res, "live_metric")
	if live.BaselineSource != "registry" || *live.Baseline != 0.99 || !live.Due || !output[bool](t, res, "should_retrain") {
		t.Fatalf("live %+v, should_retrain %s", live, res.Outputs["should_retrain"])
	}
	if r := output[string](t, res, "reason"); !strings.HasPrefix(r, "accuracy fell from 0.99 (registry) to ") {
		t.Fatalf("reason %q", r)
	}
	if d := output[[]string](t, res, "drifted"); len(d) != 0 {
		t.Fatalf("drifted %v", d)
	}
	// A wider tolerance, and another metric.
	res, err = w.run(t, csvOf(t, stable), map[string]any{"model": "churn", "metric_drop": 0.5})
	if err != nil || output[bool](t, res, "should_retrain") {
		t.Fatalf("metric_drop 0.5: %v %s", err, res.Outputs["reason"])
	}
	res, err = w.run(t, csvOf(t, stable), map[string]any{"model": "churn", "metric": "log_loss"})
	if err != nil {
		t.Fatal(err)
	}
	if live = output[*retrain.LiveMetric](t, res, "live_metric"); live.Name != "log_loss" || live.HigherIsBetter || live.BaselineSource != "training data" {
		t.Fatalf("log_loss %+v", live)
	}
	if _, err := w.run(t, csvOf(t, stable), map[string]any{"model": "churn", "metric": "rmse"}); err == nil || cairn.IsRetryable(err) || !strings.Contains(err.Error(), "rmse") {
		t.Fatalf("rmse of a classifier: %v", err)
	}

	// A label column under another name.
	renamed := dropLabel(stable)
	lc, _ := stable.Col("label")
	renamed.Columns = append(renamed.Columns, &dataset.Column{Name: "outcome", Kind: lc.Kind, Num: lc.Num, Str: lc.Str})
	res, err = w.run(t, csvOf(t, renamed), map[string]any{"model": "churn", "label": "outcome"})
	if err != nil {
		t.Fatal(err)
	}
	if live = output[*retrain.LiveMetric](t, res, "live_metric"); live == nil || live.Name != "accuracy" {
		t.Fatalf("renamed label: %s", res.Outputs["live_metric"])
	}
	_, err = w.run(t, csvOf(t, dropLabel(stable)), map[string]any{"model": "churn", "label": "outcome"})
	if err == nil || cairn.IsRetryable(err) || !strings.Contains(err.Error(), `no column "outcome", the label named`) {
		t.Fatalf("a label named but absent: %v", err)
	}
}

// No production version: a permanent error naming the model and what to
// do. No registry (a plugin's process): permanent too.
func TestNoProductionModel(t *testing.T) {
	w := newWorld(t, nil)
	fresh := csvOf(t, classification(t, 2, synthetic.Drift{}))
	_, err := w.run(t, fresh, map[string]any{"model": "fraud"})
	if err == nil || cairn.IsRetryable(err) {
		t.Fatalf("no production model: %v", err)
	}
	for _, want := range []string{`model "fraud" has no version in production`, "deploy task", "stage: production", "cairn models promote fraud VERSION"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q lacks %q", err, want)
		}
	}
	_, err = w.run(t, fresh, map[string]any{"model": "churn", "reference_port": "valid"})
	if err == nil || cairn.IsRetryable(err) || !strings.Contains(err.Error(), "the training data of model:churn@2 is not known") || !strings.Contains(err.Error(), "reference_port") {
		t.Fatalf("no training data: %v", err)
	}
	w.env.Models = nil
	_, err = w.run(t, fresh, map[string]any{"model": "churn"})
	if err == nil || cairn.IsRetryable(err) || !strings.Contains(err.Error(), "model registry") {
		t.Fatalf("no registry: %v", err)
	}
}

// Fresh data that cannot be compared: a permanent error naming why.
func TestBadFreshData(t *testing.T) {
	w := newWorld(t, nil)
	noX3 := dropLabel(classification(t, 2, synthetic.Drift{}))
	noX3.Columns = noX3.Columns[:3]
	for name, c := range map[string]struct {
		data []byte
		want string
	}{
		"missing column": {csvOf(t, noX3), `no column "x3"`},
		"header only":    {[]byte("x0,x1,x2,x3\n"), "no rows"},
		"empty":          {nil, "empty"},
		"text in x0":     {[]byte("x0,x1,x2,x3\nabc,1,2,3\n"), "x0"},
	} {
		_, err := w.run(t, c.data, map[string]any{"model": "churn"})
		if err == nil || cairn.IsRetryable(err) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want a permanent error with %q", name, err, c.want)
		}
	}
	// A model where data should be.
	req := tasktest.Request(t, []byte(`{"model":"churn"}`))
	req.Inputs = map[string]cairn.ArtifactRef{"data": w.reg.prod.Model}
	if _, err := retrain.New().Run(context.Background(), req, w.env); err == nil || !strings.Contains(err.Error(), "is a model, not a data set") {
		t.Errorf("a model as data: %v", err)
	}
	req.Inputs = nil
	if _, err := retrain.New().Run(context.Background(), req, w.env); err == nil || !strings.Contains(err.Error(), "input data is required") {
		t.Errorf("no data: %v", err)
	}
}

// The params are checked at validation, and again at run time before
// anything is read.
func TestParams(t *testing.T) {
	tasktest.Run(t, retrain.New(),
		tasktest.Case{Name: "no model", Params: map[string]any{}, InvalidParams: true},
		tasktest.Case{Name: "bad model name", Params: map[string]any{"model": "../x"}, InvalidParams: true},
		tasktest.Case{Name: "alpha 0", Params: map[string]any{"model": "m", "alpha": 0}, InvalidParams: true},
		tasktest.Case{Name: "alpha 2", Params: map[string]any{"model": "m", "alpha": 2}, InvalidParams: true},
		tasktest.Case{Name: "psi negative", Params: map[string]any{"model": "m", "psi_threshold": -1}, InvalidParams: true},
		tasktest.Case{Name: "rule", Params: map[string]any{"model": "m", "rule": "any"}, InvalidParams: true},
		tasktest.Case{Name: "min_drifted 0", Params: map[string]any{"model": "m", "min_drifted": 0}, InvalidParams: true},
		tasktest.Case{Name: "bins 1", Params: map[string]any{"model": "m", "bins": 1}, InvalidParams: true},
		tasktest.Case{Name: "features twice", Params: map[string]any{"model": "m", "features": []any{"a", "a"}}, InvalidParams: true},
		tasktest.Case{Name: "features empty", Params: map[string]any{"model": "m", "features": []any{}}, InvalidParams: true},
		tasktest.Case{Name: "metric", Params: map[string]any{"model": "m", "metric": "acuracy"}, InvalidParams: true},
		tasktest.Case{Name: "metric_drop", Params: map[string]any{"model": "m", "metric_drop": -0.1}, InvalidParams: true},
		tasktest.Case{Name: "unknown", Params: map[string]any{"model": "m", "threshold": 1}, InvalidParams: true},
	)
	errs := retrain.New().ValidateParams(map[string]any{"model": "m", "metric": "acuracy", "alpah": 1})
	var msgs []string
	for _, e := range errs {
		msgs = append(msgs, e.Error()+" ("+e.Hint+")")
	}
	got := strings.Join(msgs, "\n")
	for _, want := range []string{"did you mean alpha?", `did you mean "accuracy"?`} {
		if !strings.Contains(got, want) {
			t.Errorf("%s\nlacks %q", got, want)
		}
	}
	if errs := retrain.New().ValidateParams(map[string]any{"model": "${{ params.model }}", "alpha": "${{ params.a }}"}); len(errs) != 0 {
		t.Errorf("references refused: %v", errs)
	}
	w := newWorld(t, nil)
	if _, err := w.run(t, []byte("x0\n1\n"), map[string]any{"model": "churn", "bins": 1}); err == nil || w.reg.calls != 0 {
		t.Errorf("bad params read the registry (%d calls): %v", w.reg.calls, err)
	}
	if !errors.Is(cairn.ErrNotFound, cairn.ErrNotFound) {
		t.Fatal("unreachable")
	}
}

// jsonlOf writes f's rows as a prediction log does: cairn_time and
// cairn_version first, then the features, no label.
func jsonlOf(t testing.TB, f *dataset.Frame) []byte {
	t.Helper()
	var b bytes.Buffer
	for i := range f.Rows() {
		b.WriteString(`{"cairn_time":"2026-01-01T00:00:00Z","cairn_version":2`)
		for _, c := range f.Columns {
			if c.Name != "label" {
				fmt.Fprintf(&b, `,%q:%s`, c.Name, dataset.FormatNumber(c.Num[i]))
			}
		}
		b.WriteString("}\n")
	}
	return b.Bytes()
}

// source: predictions reads the production model's prediction log
// through the registry, reports it as read, and scores nothing.
func TestPredictionLogSource(t *testing.T) {
	w := newWorld(t, nil)
	params := map[string]any{"model": "churn", "source": "predictions"}
	run := func() (tasks.Result, error) {
		p, _ := json.Marshal(params)
		return retrain.New().Run(context.Background(), tasktest.Request(t, p), w.env)
	}
	_, err := run()
	if err == nil || cairn.IsRetryable(err) || !strings.Contains(err.Error(), "has no sampled predictions") || !strings.Contains(err.Error(), "--prediction-sample") {
		t.Fatalf("no log: %v", err)
	}
	drifted := put(t, w.env, tasks.MediaTypeJSONL, jsonlOf(t, classification(t, 5, synthetic.Drift{Shift: 2, Features: 1})))
	w.reg.log = &drifted
	res, err := run()
	if err != nil {
		t.Fatalf("%v\n%s", err, w.log.String())
	}
	if d := output[[]string](t, res, "drifted"); !reflect.DeepEqual(d, []string{"x0"}) || !output[bool](t, res, "should_retrain") {
		t.Fatalf("drifted %v\n%s", d, w.log.String())
	}
	if string(res.Outputs["live_metric"]) != "null" || res.Inputs["predictions"] != drifted || len(res.Inputs) != 3 {
		t.Fatalf("live %s, read %+v", res.Outputs["live_metric"], res.Inputs)
	}
	stable := put(t, w.env, tasks.MediaTypeJSONL, jsonlOf(t, classification(t, 6, synthetic.Drift{})))
	w.reg.log = &stable
	if res, err = run(); err != nil || output[bool](t, res, "should_retrain") {
		t.Fatalf("a stable log: %v %s", err, res.Outputs["reason"])
	}
	// Both sources at once, or neither, are refused.
	if _, err := w.run(t, csvOf(t, classification(t, 2, synthetic.Drift{})), params); err == nil || !strings.Contains(err.Error(), "leave the data input out") {
		t.Fatalf("data with source predictions: %v", err)
	}
	params["source"] = "logs"
	if _, err := run(); err == nil || !strings.Contains(err.Error(), "want data or predictions") {
		t.Fatalf("source logs: %v", err)
	}
}

// Fresh data damaged on disk fails the attempt naming its digest, whether
// the damage breaks the header (read first, alone) or a data line: not as
// data that does not parse.
func TestCorruptFreshData(t *testing.T) {
	w := newWorld(t, nil)
	fresh := csvOf(t, classification(t, 3, synthetic.Drift{}))
	for name, at := range map[string]int{"header": 1, "data line": bytes.IndexByte(fresh, '\n') + 3} {
		ref := put(t, w.env, "text/csv", fresh)
		b := bytes.Clone(fresh)
		b[at] = '"'
		tasktest.Overwrite(t, w.env, ref, b)
		req := tasktest.Request(t, []byte(`{"model":"churn"}`))
		req.Inputs = map[string]cairn.ArtifactRef{"data": ref}
		_, err := retrain.New().Run(context.Background(), req, w.env)
		if !errors.Is(err, artifacts.ErrCorrupt) || !strings.Contains(err.Error(), ref.Digest) {
			t.Errorf("%s damaged: %v; want an error wrapping artifacts.ErrCorrupt naming %s", name, err, ref.Digest)
		}
		// Put the bytes back for the next case (the same digest).
		tasktest.Overwrite(t, w.env, ref, fresh)
	}
}
