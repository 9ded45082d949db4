package retrain

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/tasks"
	"github.com/cairnml/cairn/tasks/ml/dataset"
	"github.com/cairnml/cairn/tasks/ml/drift"
	"github.com/cairnml/cairn/tasks/ml/model"
	"github.com/cairnml/cairn/tasks/ml/modelio"
)

// Media types of the report and plot artifacts.
const (
	ReportMediaType = "application/json"
	PlotMediaType   = "image/svg+xml"
)

// The ports under which retrain reports the artifacts it read beyond its
// inputs (tasks.Result.Inputs), and the outputs that name them.
const (
	PortProductionModel = "production_model"
	PortReference       = "reference"
	PortPredictions     = "predictions" // the prediction log read, with source predictions
)

// Task is the retrain task type; it holds no state.
type Task struct{}

var (
	_ tasks.Task           = (*Task)(nil)
	_ tasks.ParamValidator = (*Task)(nil)
	_ tasks.NoScratch      = (*Task)(nil)
)

// New returns the retrain task type.
func New() *Task { return &Task{} }

// NoScratch: retrain works in memory.
func (*Task) NoScratch() {}

// Info describes the type.
func (*Task) Info() cairn.TypeInfo {
	return cairn.TypeInfo{
		Name:    "retrain",
		Cache:   cairn.CacheNever, // it reads the registry, which changes between runs
		Summary: "Decides whether a production model should be retrained: per-feature drift of fresh data from the model's training data (found through lineage), and its live score when the fresh data has labels.",
		Params: []cairn.ParamInfo{
			{Name: "model", Kind: cairn.KindString, Required: true, Doc: "the registered model's name; its version in production is checked"},
			{Name: "source", Kind: cairn.KindString, Default: SourceData, Doc: "the fresh data: data (the data input) or predictions (the rows cairn server sampled from the prediction requests the model answered: its features only, so no live score)"},
			{Name: "reference_port", Kind: cairn.KindString, Default: DefaultReferencePort, Doc: "the input of the attempt that wrote the model that holds its training data (train's train)"},
			{Name: "features", Kind: cairn.KindList, Doc: "the columns compared (default: the model's feature columns)"},
			{Name: "alpha", Kind: cairn.KindFloat, Default: drift.DefaultAlpha, Doc: "significance level of the KS and chi-squared tests, in (0, 1]"},
			{Name: "psi_threshold", Kind: cairn.KindFloat, Default: drift.DefaultPSIThreshold, Doc: "PSI at and above which a feature has moved materially"},
			{Name: "rule", Kind: cairn.KindString, Default: string(drift.DefaultRule), Doc: "a feature drifted when: both (the test rejects and the PSI reaches the threshold), either, test or psi"},
			{Name: "min_drifted", Kind: cairn.KindInt, Default: drift.DefaultMinDrifted, Doc: "how many features must drift for should_retrain"},
			{Name: "bins", Kind: cairn.KindInt, Default: drift.DefaultBins, Doc: "quantile bins of a numeric feature's PSI"},
			{Name: "label", Kind: cairn.KindString, Doc: "the fresh data's column of true values (default: the model's label): when present, the production model is scored on the fresh data"},
			{Name: "metric", Kind: cairn.KindString, Doc: "the live score's metric (default accuracy for a classifier, r2 for a regression)"},
			{Name: "metric_drop", Kind: cairn.KindFloat, Default: DefaultMetricDrop, Doc: "a fall of the live score below its baseline (the registered version's metric, else its training score) beyond this also makes should_retrain true"},
		},
		Inputs: []cairn.PortInfo{
			{Name: "data", Artifact: true, Doc: "the fresh data (with source data, the default): CSV with the compared columns (and the label, to score the production model)"},
		},
		Outputs: []cairn.PortInfo{
			{Name: "should_retrain", Doc: "true when enough features drifted or the live score fell by more than metric_drop"},
			{Name: "drifted", Doc: "the names of the drifted features"},
			{Name: "reason", Doc: "the decision in words"},
			{Name: "production_model", Artifact: true, Doc: "the production version's model artifact: evaluate it on the fresh data beside a new model (champion/challenger)"},
			{Name: "production_version", Doc: "the production version's number"},
			{Name: "reference", Artifact: true, Doc: "the production model's training data, found through lineage"},
			{Name: "report", Artifact: true, Doc: "everything (" + ReportMediaType + "): per feature its test, statistic, p-value, PSI with its bins and verdict; the live score; the decision"},
			{Name: "plot", Artifact: true, Doc: "the PSI of each feature as bars (" + PlotMediaType + "), drifted ones highlighted"},
			{Name: "drift", Doc: "{psi_threshold, features: [{name, test, statistic, p_value, psi, drifted}]}: the report's per-feature figures without the bins, what the run page draws"},
			{Name: "live_metric", Doc: "{name, value, baseline, baseline_source, drop} when the fresh data has the label, else null"},
		},
	}
}

// Report is the report artifact.
type Report struct {
	Version int `json:"version"` // 1
	// Model, ModelVersion and ModelDigest name the production version.
	Model        string `json:"model"`
	ModelVersion int    `json:"model_version"`
	ModelDigest  string `json:"model_digest"`
	// Reference and Data are the digests of the training data and the
	// fresh data.
	Reference     string       `json:"reference"`
	Data          string       `json:"data"`
	Drift         drift.Report `json:"drift"`
	Live          *LiveMetric  `json:"live_metric"`
	ShouldRetrain bool         `json:"should_retrain"`
	// Reasons are the decision in words, one per cause ("no drift" alone
	// when there is none).
	Reasons []string `json:"reasons"`
}

// LiveMetric is the production model's score on the fresh data.
type LiveMetric struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	// Baseline is what it is compared with, from BaselineSource:
	// "registry" (the metric recorded with the version) or "training
	// data" (the model's score on its reference data); nil when neither
	// is known.
	Baseline       *float64 `json:"baseline"`
	BaselineSource string   `json:"baseline_source,omitempty"`
	HigherIsBetter bool     `json:"higher_is_better"`
	// Drop is how much worse the value is than the baseline (negative:
	// better), in the metric's units.
	Drop    float64 `json:"drop"`
	MaxDrop float64 `json:"max_drop"`
	// Due is Drop > MaxDrop.
	Due bool `json:"due"`
}

// Run decides; see the package documentation.
func (*Task) Run(ctx context.Context, req tasks.Request, env tasks.Env) (tasks.Result, error) {
	id := req.TaskID
	fail := func(err error) (tasks.Result, error) { return tasks.Result{}, fmt.Errorf("retrain %s: %w", id, err) }
	m, err := req.DecodeMap("retrain")
	if err != nil {
		return tasks.Result{}, err
	}
	p, errs := parseParams(m, false)
	if err := tasks.ParamsError("retrain", id, errs); err != nil {
		return tasks.Result{}, err
	}
	log := env.Log
	if log == nil {
		log = io.Discard
	}
	switch {
	case env.Artifacts == nil:
		return fail(cairn.Permanentf("the attempt has no artifact store"))
	case env.Models == nil:
		return fail(cairn.Permanentf("the process running the attempt lends no access to the model registry (a plugin's process has none): run retrain in cairn run, cairn server or a cairn worker"))
	}
	dataRef, hasData := req.Inputs["data"]
	switch {
	case p.Source == SourceData && !hasData:
		return fail(cairn.Permanentf("input data is required: give the fresh data set (a collect task's data output) under inputs:, or say source: predictions"))
	case p.Source == SourcePredictions && hasData:
		return fail(cairn.Permanentf("source predictions reads the model's prediction log: leave the data input out, or say source: data"))
	}

	mv, err := env.Models.Production(ctx, p.Model)
	if err != nil {
		if errors.Is(err, cairn.ErrNotFound) {
			return fail(cairn.Permanentf("model %q has no version in production, so there is nothing to retrain: deploy a first version with a deploy task (with: {name: %s, stage: production}), or promote a registered one with `cairn models promote %s VERSION`", p.Model, p.Model, p.Model))
		}
		return fail(fmt.Errorf("read the production version of %s: %w", p.Model, err))
	}
	fmt.Fprintf(log, "retrain: %s is in production (%s)\n", mv.Ref(), mv.Model.Digest)
	read := map[string]cairn.ArtifactRef{PortProductionModel: mv.Model}
	if p.Source == SourcePredictions {
		if dataRef, err = env.Models.PredictionLog(ctx, p.Model); err != nil {
			if errors.Is(err, cairn.ErrNotFound) {
				return fail(cairn.Permanentf("source predictions: %w (cairn server samples the rows of POST /api/v1/models/%s/predict, --prediction-sample)", err, p.Model))
			}
			return fail(fmt.Errorf("source predictions: %w", err))
		}
		read[PortPredictions] = dataRef
		fmt.Fprintf(log, "retrain: the prediction log of %s is %s (%d bytes)\n", p.Model, dataRef.Digest, dataRef.Size)
	}
	refRef, err := env.Models.TrainingData(ctx, mv.Model, p.ReferencePort)
	if err != nil {
		if errors.Is(err, cairn.ErrNotFound) {
			return fail(cairn.Permanentf("the training data of %s is not known: %w (retrain compares the fresh data with what the attempt that wrote the model read as its input %q; set reference_port if it is another input)", mv.Ref(), err, p.ReferencePort))
		}
		return fail(fmt.Errorf("find the training data of %s: %w", mv.Ref(), err))
	}
	fmt.Fprintf(log, "retrain: its training data is %s (%d bytes), input %s of the attempt that wrote it\n", refRef.Digest, refRef.Size, p.ReferencePort)

	mdl, err := modelio.ReadModel(ctx, env.Artifacts, mv.Model)
	if err != nil {
		return fail(fmt.Errorf("the model of %s: %w", mv.Ref(), err))
	}
	fmt.Fprintf(log, "retrain: model %s\n", mdl.Describe())
	refFrame, refLabel, err := readFrame(ctx, env.Artifacts, refRef, mdl, mdl.Label, false, "the training data")
	if err != nil {
		return fail(fmt.Errorf("the training data of %s: %w", mv.Ref(), err))
	}
	label := p.Label
	if label == "" {
		label = mdl.Label
	}
	curFrame, curLabel, err := readFrame(ctx, env.Artifacts, dataRef, mdl, label, p.Label != "", "the fresh data")
	if err != nil {
		return fail(fmt.Errorf("input data: %w", err))
	}
	fmt.Fprintf(log, "retrain: data: %s × %s (%s); reference: %s\n", tasks.Plural(curFrame.Rows(), "row"), tasks.Plural(len(curFrame.Columns), "column"), dataRef.Digest, tasks.Plural(refFrame.Rows(), "row"))

	opts := p.Drift
	if len(opts.Features) == 0 {
		opts.Features = featureColumns(mdl)
	}
	rep, err := drift.Compare(refFrame, curFrame, opts)
	if err != nil {
		return fail(cairn.Permanentf("%w", err))
	}
	if err := ctx.Err(); err != nil {
		return fail(fmt.Errorf("cancelled: %w", context.Cause(ctx)))
	}

	var live *LiveMetric
	if curLabel {
		if live, err = liveMetric(mdl, mv, p, curFrame, refFrame, refLabel); err != nil {
			return fail(err)
		}
	} else {
		fmt.Fprintf(log, "retrain: the fresh data has no column %q: the production model is not scored\n", label)
	}
	out := Report{Version: 1, Model: mv.Name, ModelVersion: mv.Version, ModelDigest: mv.Model.Digest,
		Reference: refRef.Digest, Data: dataRef.Digest, Drift: rep, Live: live}
	out.ShouldRetrain, out.Reasons = decide(&rep, live)
	logReport(log, &out)

	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(&out); err != nil {
		return fail(cairn.Permanentf("report: %w", err))
	}
	reportRef, err := env.Artifacts.Put(ctx, ReportMediaType, &buf)
	if err != nil {
		return fail(fmt.Errorf("store the report: %w", err))
	}
	var svg bytes.Buffer
	if err := rep.SVG(&svg); err != nil {
		return fail(cairn.Permanentf("plot: %w", err))
	}
	plotRef, err := env.Artifacts.Put(ctx, PlotMediaType, &svg)
	if err != nil {
		return fail(fmt.Errorf("store the plot: %w", err))
	}

	outputs := map[string]json.RawMessage{
		"should_retrain":     json.RawMessage(strconv.FormatBool(out.ShouldRetrain)),
		"production_model":   mv.Model.JSON(),
		"production_version": json.RawMessage(strconv.Itoa(mv.Version)),
		"reference":          refRef.JSON(),
		"report":             reportRef.JSON(),
		"plot":               plotRef.JSON(),
		"live_metric":        json.RawMessage("null"),
	}
	outputs["drifted"], _ = json.Marshal(rep.Drifted)
	if outputs["drift"], err = json.Marshal(summarize(&rep)); err != nil {
		return fail(cairn.Permanentf("drift: %w", err))
	}
	outputs["reason"], _ = json.Marshal(strings.Join(out.Reasons, "; "))
	metrics := map[string]float64{"drifted_features": float64(len(rep.Drifted))}
	maxPSI, minP := 0.0, 1.0
	for _, f := range rep.Features {
		maxPSI, minP = math.Max(maxPSI, f.PSI), math.Min(minP, f.PValue)
	}
	metrics["max_psi"], metrics["min_p_value"] = maxPSI, minP
	if live != nil {
		if outputs["live_metric"], err = json.Marshal(live); err != nil {
			return fail(cairn.Permanentf("live metric: %w", err))
		}
		metrics["live_"+live.Name] = live.Value
	}
	read[PortReference] = refRef
	res := tasks.Result{Outputs: outputs, Metrics: metrics, Inputs: read}
	if len(rep.Drifted) > 0 {
		// An event of the workflow's notify: (drift), which the store
		// turns into the run's alerts with this success.
		res.Effects = []cairn.Effect{{Notify: &cairn.Notification{Event: cairn.AlertDrift,
			Detail: fmt.Sprintf("drifted features: %s; should retrain: %v", strings.Join(rep.Drifted, ", "), out.ShouldRetrain)}}}
	}
	return res, nil
}

// Summary is the drift output: the report's per-feature figures without
// the bins.
type Summary struct {
	PSIThreshold float64          `json:"psi_threshold"`
	Features     []FeatureSummary `json:"features"`
}

// FeatureSummary is one feature of Summary.
type FeatureSummary struct {
	Name      string  `json:"name"`
	Test      string  `json:"test"`
	Statistic float64 `json:"statistic"`
	PValue    float64 `json:"p_value"`
	PSI       float64 `json:"psi"`
	Drifted   bool    `json:"drifted"`
}

func summarize(r *drift.Report) Summary {
	s := Summary{PSIThreshold: r.Settings.PSIThreshold, Features: make([]FeatureSummary, len(r.Features))}
	for i, f := range r.Features {
		s.Features[i] = FeatureSummary{Name: f.Name, Test: f.Test, Statistic: f.Statistic, PValue: f.PValue, PSI: f.PSI, Drifted: f.Drifted}
	}
	return s
}

// featureColumns are the model's input columns, in its order.
func featureColumns(m *model.Model) []string {
	cols := m.Schema()
	names := make([]string, 0, len(cols))
	for _, c := range cols[:max(len(cols)-1, 0)] { // the label is last
		names = append(names, c.Name)
	}
	return names
}

// readFrame reads the CSV ref with the model's kinds for the feature
// columns it has, and the label's kind for its column label, renamed to
// the model's label when it is another. It says whether the label was
// there; needLabel makes its absence an error.
func readFrame(ctx context.Context, store tasks.Artifacts, ref cairn.ArtifactRef, m *model.Model, label string, needLabel bool, what string) (*dataset.Frame, bool, error) {
	if ref.MediaType == model.MediaType {
		return nil, false, cairn.Permanentf("%s is a model, not a data set", what)
	}
	var err error
	jsonl := ref.MediaType == tasks.MediaTypeJSONL
	var header []string
	if jsonl {
		// A prediction log: every row holds every feature, never the label.
		for _, c := range m.Schema() {
			if c.Name != m.Label {
				header = append(header, c.Name)
			}
		}
	} else if header, err = readHeader(ctx, store, ref); err != nil {
		return nil, false, err
	}
	has := make(map[string]bool, len(header))
	for _, h := range header {
		has[h] = true
	}
	kinds := map[string]dataset.Kind{}
	for name, k := range m.SchemaKinds(false) {
		if has[name] {
			kinds[name] = k
		}
	}
	hasLabel := has[label]
	switch {
	case !hasLabel && needLabel:
		return nil, false, cairn.Permanentf("%s has no column %q, the label named (its columns: %s)", what, label, strings.Join(header, ", "))
	case hasLabel && label != m.Label && has[m.Label]:
		return nil, false, cairn.Permanentf("%s has both %q, the label named, and %q, the model's label: rename one", what, label, m.Label)
	case hasLabel:
		kinds[label] = m.Preprocess.LabelKind
	}
	rc, err := store.Open(ctx, ref)
	if err != nil {
		return nil, false, storeErr(err)
	}
	defer rc.Close()
	read := dataset.ReadCSV
	if jsonl {
		read = dataset.ReadJSONL
	}
	f, err := read(tasks.ContextReader(ctx, rc), dataset.ReadOptions{Schema: kinds})
	err = tasks.ReadErr(ctx, rc, err)
	if err != nil {
		switch {
		case ctx.Err() != nil:
			return nil, false, err
		case errors.Is(err, dataset.ErrSchema), errors.Is(err, dataset.ErrType):
			return nil, false, cairn.Permanentf("%s differs from the model's columns: %w (the model needs %s)", what, err, modelio.Needs(m, true))
		case errors.Is(err, dataset.ErrNonFinite), errors.Is(err, dataset.ErrTooLarge), errors.Is(err, dataset.ErrFormat), errors.Is(err, dataset.ErrHeader):
			return nil, false, cairn.Permanentf("%s: %w", what, err)
		}
		var pe *dataset.ParseError
		if errors.As(err, &pe) {
			return nil, false, cairn.Permanentf("%s cannot be read: %w", what, err)
		}
		return nil, false, storeErr(err)
	}
	if f.Rows() == 0 {
		return nil, false, cairn.Permanentf("%s has a header but no rows", what)
	}
	if hasLabel && label != m.Label {
		c, _ := f.Col(label)
		c.Name = m.Label
	}
	return f, hasLabel, nil
}

// readHeader returns the column names of the CSV ref.
func readHeader(ctx context.Context, store tasks.Artifacts, ref cairn.ArtifactRef) ([]string, error) {
	rc, err := store.Open(ctx, ref)
	if err != nil {
		return nil, storeErr(err)
	}
	defer rc.Close()
	r := csv.NewReader(tasks.ContextReader(ctx, rc))
	r.FieldsPerRecord = -1
	header, err := r.Read()
	err = tasks.ReadErr(ctx, rc, err)
	if err != nil {
		if ctx.Err() != nil {
			return nil, err
		}
		if errors.Is(err, io.EOF) {
			return nil, cairn.Permanentf("the data set is empty: no header")
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			return nil, cairn.Permanentf("the header is not valid CSV: %w", err)
		}
		return nil, storeErr(err)
	}
	if len(header) > 0 {
		header[0] = strings.TrimPrefix(header[0], "\ufeff")
	}
	return header, nil
}

// storeErr marks a failure to read an artifact: permanent when it does not
// exist, else retryable.
func storeErr(err error) error {
	if errors.Is(err, cairn.ErrNotFound) {
		return cairn.Permanent(err)
	}
	return err
}

// liveMetric scores the production model on the fresh data and compares
// the score with its baseline.
func liveMetric(m *model.Model, mv cairn.ModelVersion, p params, cur, ref *dataset.Frame, refLabel bool) (*LiveMetric, error) {
	name := p.Metric
	if name == "" {
		name = model.DefaultMetric(m.Kind)
	}
	mi, err := model.LookupMetric(name)
	if err != nil {
		return nil, cairn.Permanentf("metric: %w", err)
	}
	v, err := m.Score(name, cur)
	if err != nil {
		return nil, cairn.Permanentf("score the production model on the fresh data: %w", err)
	}
	lm := &LiveMetric{Name: name, Value: v, HigherIsBetter: mi.HigherIsBetter, MaxDrop: p.MetricDrop}
	if b, ok := mv.Metrics[name]; ok {
		lm.Baseline, lm.BaselineSource = &b, "registry"
	} else if refLabel {
		b, err := m.Score(name, ref)
		if err != nil {
			return nil, cairn.Permanentf("score the production model on its training data: %w", err)
		}
		lm.Baseline, lm.BaselineSource = &b, "training data"
	}
	if lm.Baseline != nil {
		lm.Drop = *lm.Baseline - v
		if !mi.HigherIsBetter {
			lm.Drop = -lm.Drop
		}
		lm.Due = lm.Drop > p.MetricDrop
	}
	return lm, nil
}

// decide is the decision and its reasons.
func decide(rep *drift.Report, live *LiveMetric) (bool, []string) {
	var reasons []string
	if rep.ShouldRetrain {
		reasons = append(reasons, fmt.Sprintf("%d of %s drifted: %s", len(rep.Drifted), tasks.Plural(len(rep.Features), "feature"), strings.Join(rep.Drifted, ", ")))
	} else if len(rep.Drifted) > 0 {
		reasons = append(reasons, fmt.Sprintf("%d of %s drifted (%s), fewer than min_drifted %d", len(rep.Drifted), tasks.Plural(len(rep.Features), "feature"), strings.Join(rep.Drifted, ", "), rep.Settings.MinDrifted))
	}
	if live != nil && live.Due {
		reasons = append(reasons, fmt.Sprintf("%s fell from %s (%s) to %s, by more than %s", live.Name,
			fmtNum(*live.Baseline), live.BaselineSource, fmtNum(live.Value), fmtNum(live.MaxDrop)))
	}
	should := rep.ShouldRetrain || live != nil && live.Due
	if len(reasons) == 0 {
		reasons = []string{"no drift"}
	}
	return should, reasons
}

func fmtNum(v float64) string { return strconv.FormatFloat(v, 'g', 4, 64) }

// logReport writes the decision and a line per feature.
func logReport(w io.Writer, r *Report) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "feature\ttest\tstatistic\tp-value\tPSI\tdrifted")
	for _, f := range r.Drift.Features {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%v\n", f.Name, f.Test, fmtNum(f.Statistic), fmtNum(f.PValue), fmtNum(f.PSI), f.Drifted)
	}
	tw.Flush()
	if l := r.Live; l != nil {
		base := "no baseline"
		if l.Baseline != nil {
			base = fmt.Sprintf("baseline %s (%s)", fmtNum(*l.Baseline), l.BaselineSource)
		}
		fmt.Fprintf(w, "retrain: live %s %s, %s\n", l.Name, fmtNum(l.Value), base)
	}
	fmt.Fprintf(w, "retrain: should_retrain %v: %s\n", r.ShouldRetrain, strings.Join(r.Reasons, "; "))
}
