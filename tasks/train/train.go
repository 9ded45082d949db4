package train

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/tasks"
	"github.com/cairnml/cairn/tasks/ml/dataset"
	"github.com/cairnml/cairn/tasks/ml/features"
	"github.com/cairnml/cairn/tasks/ml/linear"
	"github.com/cairnml/cairn/tasks/ml/model"
	"github.com/cairnml/cairn/tasks/ml/tree"
)

// Task is the train task type. The zero value is ready to use; it holds
// no state and serves any number of attempts at once.
type Task struct{}

var (
	_ tasks.Task           = (*Task)(nil)
	_ tasks.ParamValidator = (*Task)(nil)
)

// New returns the train task type.
func New() *Task { return &Task{} }

// Info describes the type.
func (*Task) Info() cairn.TypeInfo {
	params := PipelineParams()
	params = append(params[:2:2], append([]cairn.ParamInfo{
		{Name: "hyperparams", Kind: cairn.KindMap, Doc: "the algorithm's hyperparameters, typically ${{ tasks.tune.outputs.best_params }}: ridge alpha; logistic_regression C (or l2 = 1/C), max_iter, tol, ftol; decision_tree and random_forest max_depth, min_samples_split, min_samples_leaf, max_features, criterion; random_forest n_estimators, bootstrap. Missing ones take scikit-learn's defaults"},
	}, params[2:]...)...)
	return cairn.TypeInfo{
		Name:    "train",
		Cache:   cairn.CacheAuto,
		Summary: "Fits a model pipeline (imputation, standardization, one-hot encoding, then linear or ridge regression, logistic regression, a decision tree or a random forest) on the training split only; outputs the model as deterministic JSON that predicts on raw rows.",
		Params:  params,
		Inputs: []cairn.PortInfo{
			{Name: "train", Artifact: true, Required: true, Doc: "the training rows: CSV with a header row, as split writes them"},
		},
		Outputs: []cairn.PortInfo{
			{Name: "model", Artifact: true, Doc: "the fitted pipeline (" + model.MediaType + "): preprocessing, estimator, input schema, classes"},
			{Name: "kind", Doc: "classification or regression"},
			{Name: "classes", Doc: "the class labels in the order of the model's class indices; null for a regression"},
			{Name: "features", Doc: "the names of the model's input features after preprocessing (one-hot categories as column=value)"},
			{Name: "hyperparams", Doc: "the hyperparameters used, defaults included"},
			{Name: "train_score", Doc: "scores on the training rows: {accuracy, f1 (binary), log_loss} or {r2, rmse}"},
		},
	}
}

// ValidateParams checks the params as written: the model name (with a
// did-you-mean), label, the pipeline options, and, when both the model and
// the hyperparams are literal, every hyperparameter (unknown name with the
// nearest suggestion, type, range). A value holding a ${{ }} reference is
// accepted, and what depends on it is checked by Run.
func (*Task) ValidateParams(m map[string]any) []tasks.ParamError {
	_, _, errs := parse(m, true)
	return errs
}

// parse reads the params. hp is nil when hyperparams is a reference.
func parse(m map[string]any, allowRefs bool) (*Pipeline, map[string]any, []tasks.ParamError) {
	p := NewPipeline()
	var errs []tasks.ParamError
	var hp map[string]any
	hpRef := false
	for _, k := range sortedKeys(m) {
		v := m[k]
		if ok, perrs := p.Param(k, v, allowRefs); ok {
			errs = append(errs, perrs...)
			continue
		}
		if k != "hyperparams" {
			names := append(Keys(), "hyperparams")
			hint := "params are " + strings.Join(names, ", ")
			if near := tasks.Nearest(k, names); near != "" {
				hint = fmt.Sprintf("did you mean %s?", near)
			}
			errs = append(errs, tasks.ParamError{Key: k, Msg: "unknown param", Hint: hint})
			continue
		}
		switch x := v.(type) {
		case nil:
			hp = map[string]any{}
		case map[string]any:
			hp = x
		default:
			if allowRefs && tasks.IsRef(v) {
				hpRef = true
				continue
			}
			errs = append(errs, tasks.ParamError{Key: k, Msg: fmt.Sprintf("want a map hyperparameter -> value, got %s", tasks.Describe(v)), Hint: "for example hyperparams: {C: 0.5}, or ${{ tasks.tune.outputs.best_params }}"})
		}
	}
	errs = append(errs, p.Check()...)
	if hp == nil && !hpRef {
		hp = map[string]any{}
	}
	if hp != nil && p.Spec.Algorithm != "" {
		lit := map[string]any{}
		for k, v := range hp {
			if !(allowRefs && tasks.IsRef(v)) {
				lit[k] = v
			}
		}
		_, herrs := model.ResolveHyperparams(p.Spec.Algorithm, lit)
		errs = append(errs, HyperparamErrors("hyperparams", herrs)...)
	}
	return p, hp, errs
}

// Score is the train_score output.
type Score struct {
	Accuracy *float64 `json:"accuracy,omitempty"`
	F1       *float64 `json:"f1,omitempty"`
	LogLoss  *float64 `json:"log_loss,omitempty"`
	R2       *float64 `json:"r2,omitempty"`
	RMSE     *float64 `json:"rmse,omitempty"`
}

// Run fits the pipeline on the `train` input; see the package
// documentation.
func (*Task) Run(ctx context.Context, req tasks.Request, env tasks.Env) (tasks.Result, error) {
	id := req.TaskID
	raw, err := req.DecodeMap("train")
	if err != nil {
		return tasks.Result{}, err
	}
	p, hp, errs := parse(raw, false)
	if len(errs) > 0 {
		return tasks.Result{}, tasks.ParamsError("train", id, errs)
	}
	if err := ctx.Err(); err != nil {
		return tasks.Result{}, fmt.Errorf("train %s: not started: %w", id, context.Cause(ctx))
	}
	log := env.Log
	if log == nil {
		log = io.Discard
	}
	f, err := ReadInput(ctx, req, env, "train", "train")
	if err != nil {
		return tasks.Result{}, err
	}
	fmt.Fprintf(log, "train: read %s × %s from train\n", tasks.Plural(f.Rows(), "row"), tasks.Plural(len(f.Columns), "column"))
	if err := CheckFrame(f, p.Spec.Preprocess); err != nil {
		return tasks.Result{}, cairn.Permanentf("train %s: input train: %w", id, err)
	}
	spec := p.Spec
	spec.Hyperparams = hp
	m, err := model.Fit(f, spec)
	if err != nil {
		return tasks.Result{}, cairn.Permanentf("train %s: %w", id, FitError(err))
	}
	if err := ctx.Err(); err != nil {
		return tasks.Result{}, fmt.Errorf("train %s: stopped: %w", id, context.Cause(ctx))
	}
	fmt.Fprintf(log, "train: fitted %s\n", m.Describe())
	LogPipeline(log, "train", m, f)
	if m.Logistic != nil && !m.Logistic.Converged {
		fmt.Fprintf(log, "train: warning: L-BFGS stopped after %d iterations before converging (tol %v); raise max_iter, or standardize the features\n", m.Logistic.Iterations, m.Hyperparams["tol"])
	}

	var buf bytes.Buffer
	if err := m.Encode(&buf); err != nil {
		return tasks.Result{}, cairn.Permanentf("train %s: %w", id, err)
	}
	size := buf.Len()
	ref, err := env.Artifacts.Put(ctx, model.MediaType, &buf)
	if err != nil {
		return tasks.Result{}, fmt.Errorf("train %s: store model: %w", id, err)
	}
	fmt.Fprintf(log, "train: model %s (%d bytes)\n", ref.Digest, size)

	score, metrics, err := trainScore(m, f)
	if err != nil {
		return tasks.Result{}, cairn.Permanentf("train %s: score on the training rows: %w", id, err)
	}
	res := tasks.Result{
		Outputs: map[string]json.RawMessage{
			"model":       ref.JSON(),
			"kind":        mustJSON(m.Kind),
			"classes":     mustJSON(m.Classes),
			"features":    mustJSON(m.Features),
			"hyperparams": mustJSON(m.Hyperparams),
			"train_score": mustJSON(score),
		},
		Metrics: metrics,
	}
	res.Metrics["train_rows"] = float64(m.TrainRows)
	res.Metrics["features"] = float64(len(m.Features))
	return res, nil
}

// trainScore scores the model on its own training rows.
func trainScore(m *model.Model, f *dataset.Frame) (Score, map[string]float64, error) {
	names := []string{"r2", "rmse"}
	if m.Kind == model.Classification {
		names = []string{"accuracy", "log_loss"}
		if len(m.Classes) == 2 {
			names = []string{"accuracy", "f1", "log_loss"}
		}
	}
	yc, yv, err := m.Truth(f)
	if err != nil {
		return Score{}, nil, err
	}
	pred, err := m.Predict(f)
	if err != nil {
		return Score{}, nil, err
	}
	var s Score
	metrics := map[string]float64{}
	for _, name := range names {
		v, err := model.ScorePredictions(name, len(m.Classes), yc, yv, pred)
		if err != nil {
			return Score{}, nil, err
		}
		metrics["train_"+name] = v
		switch name {
		case "accuracy":
			s.Accuracy = &v
		case "f1":
			s.F1 = &v
		case "log_loss":
			s.LogLoss = &v
		case "r2":
			s.R2 = &v
		case "rmse":
			s.RMSE = &v
		}
	}
	return s, metrics, nil
}

// LogPipeline writes what the preprocessing learnt, one line per kind of
// feature, and the clipping: its bounds, and how many values of f (the
// training rows; nil to leave the counts out) fall outside them.
func LogPipeline(w io.Writer, what string, m *model.Model, f *dataset.Frame) {
	var num, cat, boolean []string
	onehot := 0
	for _, ft := range m.Preprocess.Features {
		switch ft.Kind {
		case dataset.Categorical:
			cat = append(cat, fmt.Sprintf("%s (%d)", ft.Name, len(ft.Categories)))
			onehot += len(ft.Categories)
		case dataset.Boolean:
			boolean = append(boolean, ft.Name)
		default:
			num = append(num, ft.Name)
		}
	}
	std := "standardized"
	if len(m.Preprocess.Features) > 0 && !isStandardized(m) {
		std = "not standardized"
	}
	if len(num) > 0 {
		fmt.Fprintf(w, "%s: %d numeric features, %s: %s\n", what, len(num), std, shorten(num))
	}
	if len(num) > 0 && m.Preprocess.Clip != nil {
		logClip(w, what, m.Preprocess, f)
	}
	if len(cat) > 0 {
		fmt.Fprintf(w, "%s: %d categorical features one-hot encoded into %d columns (categories): %s\n", what, len(cat), onehot, shorten(cat))
	}
	if len(boolean) > 0 {
		fmt.Fprintf(w, "%s: %d boolean features: %s\n", what, len(boolean), shorten(boolean))
	}
	if m.Kind == model.Classification {
		fmt.Fprintf(w, "%s: classes of %q: %s\n", what, m.Label, shorten(m.Classes))
	}
}

// logClip describes the clipping: the method, the features whose training
// values it changed with their bounds (to 4 significant digits) and
// counts, and the features it leaves constant.
func logClip(w io.Writer, what string, tr *features.Transformer, f *dataset.Frame) {
	c := tr.Clip
	method := fmt.Sprintf("iqr, k %g", c.K)
	if c.Method == features.Quantile {
		method = fmt.Sprintf("quantile, low %g, high %g", c.Low, c.High)
	}
	var changed, constant []string
	clipped, total := 0, 0
	for _, ft := range tr.Features {
		if ft.Clip == nil {
			continue
		}
		total++
		b := *ft.Clip
		if b.Low == b.High {
			constant = append(constant, ft.Name)
		}
		if f == nil {
			continue
		}
		col, ok := f.Col(ft.Name)
		if !ok || col.Kind != ft.Kind {
			continue
		}
		n := 0
		for i, x := range col.Num {
			if !col.IsMissing(i) && (x < b.Low || x > b.High) {
				n++
			}
		}
		if n > 0 {
			changed = append(changed, fmt.Sprintf("%s [%.4g, %.4g] (%d)", ft.Name, b.Low, b.High, n))
			clipped += n
		}
	}
	if f == nil {
		fmt.Fprintf(w, "%s: outliers clipped (%s) to bounds learnt from the training rows, in %d features\n", what, method, total)
	} else {
		fmt.Fprintf(w, "%s: outliers clipped (%s) to bounds learnt from the training rows: %d training values in %d of %d features", what, method, clipped, len(changed), total)
		if len(changed) > 0 {
			fmt.Fprintf(w, ": %s", shorten(changed))
		}
		fmt.Fprintln(w)
	}
	if len(constant) > 0 {
		fmt.Fprintf(w, "%s: warning: clipping leaves %d features constant (most of their training values are equal, so the bounds meet): %s; a larger k, quantile bounds, or no clipping keeps them\n", what, len(constant), shorten(constant))
	}
}

func isStandardized(m *model.Model) bool {
	for _, ft := range m.Preprocess.Features {
		if (ft.Kind == dataset.Numeric || ft.Kind == dataset.Datetime) && (ft.Center != 0 || ft.Scale != 1) {
			return true
		}
	}
	return false
}

func shorten(s []string) string {
	if len(s) > 12 {
		return strings.Join(s[:12], ", ") + fmt.Sprintf(", … %d more", len(s)-12)
	}
	return strings.Join(s, ", ")
}

// ReadInput reads input name of req as a CSV data set. A missing input,
// a missing artifact and malformed data (naming the line) are permanent
// errors, an I/O failure is retryable. what is the task type, for
// messages.
func ReadInput(ctx context.Context, req tasks.Request, env tasks.Env, what, name string) (*dataset.Frame, error) {
	id := req.TaskID
	ref, ok := req.Inputs[name]
	if !ok {
		return nil, cairn.Permanentf("%s %s: input %s is required: give the training rows under inputs: (for example %s: ${{ tasks.split.outputs.train }})", what, id, name, name)
	}
	if env.Artifacts == nil {
		return nil, cairn.Permanentf("%s %s: the attempt has no artifact store", what, id)
	}
	rc, err := env.Artifacts.Open(ctx, ref)
	if err == nil {
		defer rc.Close()
		var f *dataset.Frame
		f, err = dataset.ReadCSV(tasks.ContextReader(ctx, rc), dataset.ReadOptions{MaxBytes: -1})
		if err == nil {
			return f, nil
		}
		err = tasks.ReadErr(ctx, rc, err)
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("%s %s: reading %s stopped: %w", what, id, name, context.Cause(ctx))
	}
	for _, sentinel := range []error{dataset.ErrFormat, dataset.ErrHeader, dataset.ErrType, dataset.ErrNonFinite, dataset.ErrTooLarge, dataset.ErrSchema} {
		if errors.Is(err, sentinel) {
			return nil, cairn.Permanentf("%s %s: input %s is not a readable CSV data set: %w", what, id, name, err)
		}
	}
	if errors.Is(err, cairn.ErrNotFound) {
		return nil, cairn.Permanentf("%s %s: input %s: %w", what, id, name, err)
	}
	return nil, fmt.Errorf("%s %s: reading input %s: %w", what, id, name, err)
}

// CheckFrame checks a training frame for what a fit would silently get
// wrong or report badly: no rows, a label that is not there (suggesting the
// nearest column), a label with missing values, and a feature column that
// reads as categorical only because of a few values that are not numbers
// (or of NaN or Inf): it names the first such value.
func CheckFrame(f *dataset.Frame, spec features.Spec) error {
	if f.Rows() == 0 {
		return fmt.Errorf("no rows: it has a header (%s) but no data; check the split and clean steps before it", shorten(f.Names()))
	}
	label, ok := f.Col(spec.Label)
	if !ok {
		msg := fmt.Sprintf("label column %q not found", spec.Label)
		if near := tasks.Nearest(spec.Label, f.Names()); near != "" {
			msg += fmt.Sprintf("; did you mean %q?", near)
		}
		return fmt.Errorf("%s (columns: %s)", msg, shorten(f.Names()))
	}
	missing, first := 0, -1
	for i := range label.Len() {
		if label.IsMissing(i) {
			if first < 0 {
				first = i
			}
			missing++
		}
	}
	if missing > 0 {
		return fmt.Errorf("label %q is missing in %s (the first is data row %d); drop them first (clean: drop_missing_label: %s)", spec.Label, tasks.Plural(missing, "row"), first+1, spec.Label)
	}
	excluded := map[string]bool{spec.Label: true}
	for _, e := range spec.Exclude {
		excluded[e] = true
	}
	for _, c := range f.Columns {
		if c.Kind != dataset.Categorical || excluded[c.Name] {
			continue
		}
		numeric, present, bad, nonFinite := 0, 0, -1, -1
		for i, s := range c.Str {
			if c.IsMissing(i) {
				continue
			}
			present++
			x, err := strconv.ParseFloat(s, 64)
			switch {
			case err == nil && (math.IsNaN(x) || math.IsInf(x, 0)):
				if nonFinite < 0 {
					nonFinite = i
				}
			case err == nil:
				numeric++
			case bad < 0:
				bad = i
			}
		}
		if numeric == 0 {
			continue
		}
		if nonFinite >= 0 && bad < 0 {
			return fmt.Errorf("column %q: data row %d holds %q, which is NaN or infinite; a model needs finite numbers: write it as empty (missing, then imputed) or drop the row", c.Name, nonFinite+1, c.Str[nonFinite])
		}
		if bad >= 0 && numeric*10 >= present*9 {
			return fmt.Errorf("column %q: data row %d holds %q, which is not a number, while %d of its %d values are: fix or drop those rows (clean: types: {%s: numeric}), or exclude the column", c.Name, bad+1, c.Str[bad], numeric, present, c.Name)
		}
	}
	return nil
}

// FitError adds what to do to the errors of model.Fit.
func FitError(err error) error {
	switch {
	case errors.Is(err, linear.ErrOneClass), errors.Is(err, tree.ErrOneClass), errors.Is(err, model.ErrData) && strings.Contains(err.Error(), "two classes"):
		return fmt.Errorf("%w (the training rows hold a single class: check the label column and the split)", err)
	case errors.Is(err, features.ErrAllMissing):
		return fmt.Errorf("%w (exclude the column, or impute it with {strategy: constant, value: ...})", err)
	case errors.Is(err, features.ErrNoFeatures):
		return fmt.Errorf("%w (the label and the excluded columns are all there is)", err)
	}
	return err
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // plain values: strings, numbers, maps of them
	}
	return b
}
