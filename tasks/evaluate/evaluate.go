package evaluate

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/tasks"
	"github.com/cairnml/cairn/tasks/ml/dataset"
	"github.com/cairnml/cairn/tasks/ml/model"
	"github.com/cairnml/cairn/tasks/ml/modelio"
	"github.com/cairnml/cairn/tasks/ml/plot"
)

// ReportMediaType is the media type of the report artifact.
const ReportMediaType = "application/json"

// PlotMediaType is the media type of the plot artifact.
const PlotMediaType = "image/svg+xml"

// maxScatter bounds the points of a regression's plot.
const maxScatter = 2000

// Task is the evaluate task type. The zero value is ready to use; it holds
// no state and serves any number of attempts at once.
type Task struct{}

var (
	_ tasks.Task           = (*Task)(nil)
	_ tasks.ParamValidator = (*Task)(nil)
)

// New returns the evaluate task type.
func New() *Task { return &Task{} }

// Info describes the type.
func (*Task) Info() cairn.TypeInfo {
	return cairn.TypeInfo{
		Name:    "evaluate",
		Cache:   cairn.CacheAuto,
		Summary: "Scores a model on a test set: accuracy, precision, recall, F1, ROC AUC, log loss, confusion matrix and ROC curves, or MSE, RMSE, MAE, R²; an optional gate sets passed.",
		Params: []cairn.ParamInfo{
			{Name: "metrics", Kind: cairn.KindList, Doc: "the metrics to record as the task's metrics and metrics output (default: every one that applies): " + strings.Join(MetricNames(), ", ")},
			{Name: "gate", Kind: cairn.KindMap, Doc: `metric -> comparison, for example {f1: ">= 0.9", log_loss: "< 0.3"} (operators >=, >, <=, <, ==, !=); passed is true when every one holds`},
			{Name: "fail_on_gate", Kind: cairn.KindBool, Default: false, Doc: "fail the task (without retry) when the gate does not hold, instead of succeeding with passed = false"},
			{Name: "positive", Kind: cairn.KindAny, Doc: "binary classification: the positive class of precision, recall, F1 and ROC (default: the model's second class, such as 1 or true)"},
			{Name: "roc_points", Kind: cairn.KindInt, Default: DefaultROCPoints, Doc: "at most this many points per ROC curve in the roc output (evenly spaced along the curve); the report holds every point"},
		},
		Inputs: []cairn.PortInfo{
			{Name: "model", Artifact: true, Required: true, Doc: "the model (" + model.MediaType + "), as train writes it"},
			{Name: "test", Artifact: true, Required: true, Doc: "the test set: CSV with the model's feature columns and its label"},
		},
		Outputs: []cairn.PortInfo{
			{Name: "metrics", Doc: "JSON object metric -> value: the metrics param's selection (default: every metric that applies)"},
			{Name: "confusion_matrix", Doc: "classification: {classes, matrix} with matrix[true][predicted]; null for a regression"},
			{Name: "roc", Doc: "classification: a list of ROC curves {class, auc, points, fpr, tpr, thresholds} (the positive class, or each class against the rest), at most roc_points points each; the first threshold, +Inf, is null; null for a regression"},
			{Name: "report", Artifact: true, Doc: "everything (" + ReportMediaType + "): every metric, per-class scores, confusion matrix, full ROC curves, the gate's conditions and outcome"},
			{Name: "plot", Artifact: true, Doc: "a picture (" + PlotMediaType + "): the ROC curves of a classification (as in the roc output), predicted against true values of a regression (at most " + fmt.Sprint(maxScatter) + " test rows, evenly spaced)"},
			{Name: "passed", Doc: "true when every gate condition holds (true without a gate); a when: condition of a later task can test it"},
		},
	}
}

// Run evaluates the `model` input on the `test` input; see the package
// documentation.
func (*Task) Run(ctx context.Context, req tasks.Request, env tasks.Env) (tasks.Result, error) {
	id := req.TaskID
	p, err := decode(req)
	if err != nil {
		return tasks.Result{}, err
	}
	if err := ctx.Err(); err != nil {
		return tasks.Result{}, fmt.Errorf("evaluate %s: not started: %w", id, context.Cause(ctx))
	}
	log := env.Log
	if log == nil {
		log = io.Discard
	}
	m, f, err := modelio.Load(ctx, req, env, modelio.Inputs{Type: "evaluate", Data: "test",
		DataHint: "the test split (split's test output)", DataWhat: "the test set", WithLabel: true})
	if err != nil {
		return tasks.Result{}, err
	}

	rep, truth, predicted, err := evaluate(m, f, p)
	if err != nil {
		return tasks.Result{}, fmt.Errorf("evaluate %s: %w", id, err)
	}
	if err := ctx.Err(); err != nil {
		return tasks.Result{}, fmt.Errorf("evaluate %s: cancelled: %w", id, context.Cause(ctx))
	}
	rep.Model, rep.Test = req.Inputs["model"].Digest, req.Inputs["test"].Digest
	selected, err := selectMetrics(rep, p.Metrics)
	if err != nil {
		return tasks.Result{}, fmt.Errorf("evaluate %s: metrics: %w", id, err)
	}
	if err := applyGate(rep, p.Gate); err != nil {
		return tasks.Result{}, fmt.Errorf("evaluate %s: gate: %w", id, err)
	}
	logReport(log, rep)
	if !rep.Passed && p.FailOnGate {
		return tasks.Result{}, cairn.Permanentf("evaluate %s: the gate does not hold: %s (fail_on_gate is set)", id, failed(rep.Gate))
	}

	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(rep); err != nil {
		return tasks.Result{}, cairn.Permanentf("evaluate %s: report: %w", id, err) // deterministic: a retry fails the same way
	}
	reportRef, err := env.Artifacts.Put(ctx, ReportMediaType, &buf)
	if err != nil {
		return tasks.Result{}, fmt.Errorf("evaluate %s: store report: %w", id, err)
	}
	outputs := map[string]json.RawMessage{
		"report":           reportRef.JSON(),
		"confusion_matrix": json.RawMessage("null"),
		"roc":              json.RawMessage("null"),
		"passed":           json.RawMessage(fmt.Sprint(rep.Passed)),
	}
	if outputs["metrics"], err = json.Marshal(selected); err != nil {
		return tasks.Result{}, cairn.Permanentf("evaluate %s: metrics: %w", id, err)
	}
	if rep.Confusion != nil {
		outputs["confusion_matrix"], _ = json.Marshal(rep.Confusion)
	}
	var chart plot.Chart
	if rep.ROC != nil {
		curves := make([]Curve, len(rep.ROC))
		series := make([]plot.Series, len(rep.ROC))
		for i, c := range rep.ROC {
			curves[i] = c.Downsample(p.ROCPoints)
			series[i] = plot.Series{Name: fmt.Sprintf("%s: AUC %.4f", c.Class, c.AUC), X: curves[i].FPR, Y: curves[i].TPR}
		}
		if outputs["roc"], err = json.Marshal(curves); err != nil {
			return tasks.Result{}, cairn.Permanentf("evaluate %s: roc: %w", id, err)
		}
		chart = plot.ROC(fmt.Sprintf("ROC of %s (%s), %d test rows", m.Label, m.Algorithm, rep.Rows), series...)
	} else {
		x, y := everyNth(truth, maxScatter), everyNth(predicted, maxScatter)
		chart = plot.Scatter(fmt.Sprintf("%s (%s): predicted against true, R² %.4f", m.Label, m.Algorithm, rep.Metrics["r2"]), "true "+m.Label, "predicted", x, y)
	}
	var svg bytes.Buffer
	if err := chart.SVG(&svg); err != nil {
		return tasks.Result{}, fmt.Errorf("evaluate %s: plot: %w", id, err)
	}
	plotRef, err := env.Artifacts.Put(ctx, PlotMediaType, &svg)
	if err != nil {
		return tasks.Result{}, fmt.Errorf("evaluate %s: store plot: %w", id, err)
	}
	outputs["plot"] = plotRef.JSON()
	res := tasks.Result{Outputs: outputs, Metrics: selected}
	if !rep.Passed {
		// An event of the workflow's notify: (gate_failed), which the
		// store turns into the run's alerts with this success.
		res.Effects = []cairn.Effect{{Notify: &cairn.Notification{Event: cairn.AlertGateFailed,
			Detail: "the gate does not hold: " + failed(rep.Gate)}}}
	}
	return res, nil
}

// everyNth returns at most n values of vs, evenly spaced, first included.
func everyNth(vs []float64, n int) []float64 {
	if len(vs) <= n {
		return vs
	}
	out := make([]float64, 0, n)
	for i := range n {
		out = append(out, vs[i*len(vs)/n])
	}
	return out
}

// decode reads the request's params; every problem is permanent.
func decode(req tasks.Request) (params, error) {
	m, err := req.DecodeMap("evaluate")
	if err != nil {
		return params{}, err
	}
	p, errs := parseParams(m, false)
	return p, tasks.ParamsError("evaluate", req.TaskID, errs)
}

// evaluate predicts f with m and computes the report; for a regression it
// also returns the true and predicted values. Every error is permanent: it
// is about the data or the model.
func evaluate(m *model.Model, f *dataset.Frame, p params) (rep *Report, truth, predicted []float64, err error) {
	yClass, yValue, err := m.Truth(f)
	if err != nil {
		return nil, nil, nil, cairn.Permanentf("test set label: %w", err)
	}
	pred, err := m.Predict(f)
	if err != nil {
		return nil, nil, nil, cairn.Permanentf("predict the test set: %w", err)
	}
	if m.Kind == model.Regression {
		if p.Positive != nil {
			return nil, nil, nil, cairn.Permanentf("positive applies to binary classification; the model is a regression")
		}
		rep, err = Regress(yValue, pred.Value)
		truth, predicted = yValue, pred.Value
	} else {
		positive := 1
		if p.Positive != nil {
			if len(m.Classes) != 2 {
				return nil, nil, nil, cairn.Permanentf("positive applies to binary classification; the model has %d classes", len(m.Classes))
			}
			positive = -1
			for c, name := range m.Classes {
				if name == *p.Positive {
					positive = c
				}
			}
			if positive < 0 {
				return nil, nil, nil, cairn.Permanentf("positive %q is not a class of the model (classes: %s)", *p.Positive, strings.Join(m.Classes, ", "))
			}
		}
		rep, err = Classify(m.Classes, yClass, pred.Class, pred.Proba, positive)
	}
	if err != nil {
		return nil, nil, nil, cairn.Permanent(err)
	}
	rep.Algorithm, rep.Label = m.Algorithm, m.Label
	return rep, truth, predicted, nil
}

// applies reports why metric does not apply to rep's model ("" if it does).
func applies(name string, rep *Report) string {
	mi, _ := LookupMetric(name)
	switch {
	case mi.Kind != rep.Kind:
		return fmt.Sprintf("%s scores a %s, and the model is a %s", name, mi.Kind, rep.Kind)
	case mi.Binary && len(rep.Classes) != 2:
		return fmt.Sprintf("%s is for two classes and the model has %d: use %s_macro or %s_weighted", name, len(rep.Classes), name, name)
	}
	return ""
}

// selectMetrics returns the metrics named (all defined ones when names is
// nil); a named metric that does not apply or is not defined is an error.
func selectMetrics(rep *Report, names []string) (map[string]float64, error) {
	if names == nil {
		out := make(map[string]float64, len(rep.Metrics))
		for k, v := range rep.Metrics {
			out[k] = v
		}
		return out, nil
	}
	out := make(map[string]float64, len(names))
	for _, name := range names {
		if why := applies(name, rep); why != "" {
			return nil, cairn.Permanentf("%s", why)
		}
		v, ok := rep.Metrics[name]
		if !ok {
			return nil, cairn.Permanentf("%s is not defined on this test set: %s; leave it out of metrics: or use a test set with every class", name, rep.Undefined[name])
		}
		out[name] = v
	}
	return out, nil
}

// applyGate evaluates the conditions into rep.Gate and rep.Passed. A
// condition on a metric that does not apply to the model is an error; one
// on a metric not defined on this test set fails.
func applyGate(rep *Report, conds []Condition) error {
	rep.Passed = true
	for _, c := range conds {
		if why := applies(c.Metric, rep); why != "" {
			return cairn.Permanentf("%s", why)
		}
		r := GateResult{Condition: c}
		if v, ok := rep.Metrics[c.Metric]; ok {
			r.Actual = &v
			r.Passed = c.Holds(v)
		} else {
			r.Reason = "not defined on this test set: " + rep.Undefined[c.Metric]
		}
		rep.Passed = rep.Passed && r.Passed
		rep.Gate = append(rep.Gate, r)
	}
	return nil
}

func failed(gate []GateResult) string {
	var parts []string
	for _, g := range gate {
		if g.Passed {
			continue
		}
		if g.Actual != nil {
			parts = append(parts, fmt.Sprintf("%s is %v, want %s %v", g.Metric, *g.Actual, g.Op, g.Value))
		} else {
			parts = append(parts, fmt.Sprintf("%s %s", g.Metric, g.Reason))
		}
	}
	return strings.Join(parts, "; ")
}

func logReport(log io.Writer, rep *Report) {
	if rep.Positive != "" {
		fmt.Fprintf(log, "evaluate: positive class %q\n", rep.Positive)
	}
	for _, mi := range metricInfos {
		if v, ok := rep.Metrics[mi.Name]; ok {
			fmt.Fprintf(log, "evaluate:   %-18s %.6g\n", mi.Name, v)
		} else if why, ok := rep.Undefined[mi.Name]; ok {
			fmt.Fprintf(log, "evaluate:   %-18s not defined: %s\n", mi.Name, why)
		}
	}
	if rep.Confusion != nil && len(rep.Classes) <= 20 {
		fmt.Fprintf(log, "evaluate: confusion matrix (rows: true class, columns: predicted)\n")
		tw := tabwriter.NewWriter(log, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprint(tw, "\t")
		for _, c := range rep.Classes {
			fmt.Fprintf(tw, "%s\t", c)
		}
		fmt.Fprintln(tw)
		for t, row := range rep.Confusion.Matrix {
			fmt.Fprintf(tw, "%s\t", rep.Classes[t])
			for _, v := range row {
				fmt.Fprintf(tw, "%d\t", v)
			}
			fmt.Fprintln(tw)
		}
		tw.Flush()
	}
	for _, g := range rep.Gate {
		verdict := "holds"
		if !g.Passed {
			verdict = "does not hold"
		}
		if g.Actual != nil {
			fmt.Fprintf(log, "evaluate: gate %s: %.6g, %s\n", g.Condition, *g.Actual, verdict)
		} else {
			fmt.Fprintf(log, "evaluate: gate %s: %s, %s\n", g.Condition, g.Reason, verdict)
		}
	}
	fmt.Fprintf(log, "evaluate: passed = %v\n", rep.Passed)
}
