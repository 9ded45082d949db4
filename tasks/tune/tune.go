package tune

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/tasks"
	"github.com/cairnml/cairn/tasks/ml/dataset"
	"github.com/cairnml/cairn/tasks/ml/model"
	"github.com/cairnml/cairn/tasks/train"
)

// TrialsMediaType is the media type of the trials output: one JSON object
// per line.
const TrialsMediaType = "application/x-ndjson"

// Task is the tune task type. The zero value is ready to use; it holds no
// state and serves any number of attempts at once.
type Task struct{}

var (
	_ tasks.Task           = (*Task)(nil)
	_ tasks.ParamValidator = (*Task)(nil)
)

// New returns the tune task type.
func New() *Task { return &Task{} }

// Info describes the type.
func (*Task) Info() cairn.TypeInfo {
	var classify, regress, lower []string
	for _, mi := range model.Metrics() {
		if mi.Kind == model.Classification {
			classify = append(classify, mi.Name)
		} else {
			regress = append(regress, mi.Name)
		}
		if !mi.HigherIsBetter {
			lower = append(lower, mi.Name)
		}
	}
	metricDoc := fmt.Sprintf("what the search optimises, the mean over the folds: %s (classification; f1, precision and recall are binary, of the second class); %s (regression). %s are lower-is-better, the rest higher. Default: accuracy for a classification, r2 for a regression",
		strings.Join(classify, ", "), strings.Join(regress, ", "), strings.Join(lower, ", "))
	own := []cairn.ParamInfo{
		{Name: "metric", Kind: cairn.KindString, Doc: metricDoc},
		{Name: "cv_folds", Kind: cairn.KindInt, Default: DefaultFolds, Doc: "k of the k-fold cross-validation on the train rows (stratified by class for a classification, seeded); every class needs at least k rows"},
		{Name: "search", Kind: cairn.KindString, Default: Grid, Doc: "grid (every combination of the space's values) or random (trials draws from the space)"},
		{Name: "space", Kind: cairn.KindMap, Doc: "hyperparameter -> list of values to try, e.g. {C: [0.1, 1, 10]}; with search random also a range {min, max, log: true} (integers for an integer hyperparameter). Empty: one trial with the defaults"},
		{Name: "hyperparams", Kind: cairn.KindMap, Doc: "hyperparameters fixed for every trial (not tuned); they are part of best_params"},
		{Name: "trials", Kind: cairn.KindInt, Default: DefaultTrials, Doc: "search random only: the number of candidates drawn (distinct ones while the space is a finite list)"},
		{Name: "parallelism", Kind: cairn.KindInt, Doc: "how many fits run at once (default: the number of CPUs); the results do not depend on it"},
	}
	pipe := train.PipelineParams()
	for i := range pipe {
		if pipe[i].Name == "seed" {
			pipe[i].Doc = "seed of the folds, of random search's draws and of each fit (as train's seed); the same seed gives the same trials"
		}
	}
	params := append(pipe[:2:2], own...)
	params = append(params, pipe[2:]...)
	return cairn.TypeInfo{
		Name:    "tune",
		Cache:   cairn.CacheAuto,
		Summary: "Searches hyperparameters (grid or random) by k-fold cross-validation on the train split only, refitting the whole pipeline in each fold, trials in parallel; outputs best_params for train and every trial's fold scores.",
		Params:  params,
		Inputs: []cairn.PortInfo{
			{Name: "train", Artifact: true, Required: true, Doc: "the training rows: CSV with a header row, as split writes them"},
		},
		Outputs: []cairn.PortInfo{
			{Name: "best_params", Doc: "the best candidate's hyperparameters (with the fixed ones), a JSON object for train's hyperparams: ${{ tasks.tune.outputs.best_params }}"},
			{Name: "best_score", Doc: "the best candidate's mean score over the folds"},
			{Name: "metric", Doc: `{"name": ..., "higher_is_better": ...}`},
			{Name: "trials", Artifact: true, Doc: "every candidate (" + TrialsMediaType + "): one line {trial, params, fold_scores, mean, std, rank} per candidate, in search order"},
		},
	}
}

// ValidateParams checks the params as written: the pipeline params (as
// train's), the metric (and that it suits the model), cv_folds, search,
// trials, parallelism, and every hyperparameter and value of the space
// and of hyperparams for the model. A ${{ }} reference is accepted and
// what depends on it is left to Run.
func (*Task) ValidateParams(m map[string]any) []tasks.ParamError {
	_, errs := parseParams(m, true)
	return errs
}

// Trial is one candidate's line of the trials output.
type Trial struct {
	// Trial numbers the candidates from 1 in search order.
	Trial      int            `json:"trial"`
	Params     map[string]any `json:"params"`
	FoldScores []float64      `json:"fold_scores"`
	Mean       float64        `json:"mean"`
	// Std is the population standard deviation of the fold scores, like
	// scikit-learn's std_test_score.
	Std float64 `json:"std"`
	// Rank is 1 for the best mean; equal means share the smaller rank.
	Rank int `json:"rank"`
}

// MetricOutput is the metric output.
type MetricOutput struct {
	Name           string `json:"name"`
	HigherIsBetter bool   `json:"higher_is_better"`
}

// Run searches; see the package documentation.
func (*Task) Run(ctx context.Context, req tasks.Request, env tasks.Env) (tasks.Result, error) {
	id := req.TaskID
	raw, err := req.DecodeMap("tune")
	if err != nil {
		return tasks.Result{}, err
	}
	p, errs := parseParams(raw, false)
	if len(errs) > 0 {
		return tasks.Result{}, tasks.ParamsError("tune", id, errs)
	}
	if err := ctx.Err(); err != nil {
		return tasks.Result{}, fmt.Errorf("tune %s: not started: %w", id, context.Cause(ctx))
	}
	log := env.Log
	if log == nil {
		log = io.Discard
	}
	f, err := train.ReadInput(ctx, req, env, "tune", "train")
	if err != nil {
		return tasks.Result{}, err
	}
	fmt.Fprintf(log, "tune: read %s × %s from train\n", tasks.Plural(f.Rows(), "row"), tasks.Plural(len(f.Columns), "column"))
	if err := train.CheckFrame(f, p.pipe.Spec.Preprocess); err != nil {
		return tasks.Result{}, cairn.Permanentf("tune %s: input train: %w", id, err)
	}
	out, err := search(ctx, f, p, log)
	if err != nil {
		if ctx.Err() != nil {
			return tasks.Result{}, fmt.Errorf("tune %s: stopped: %w", id, context.Cause(ctx))
		}
		return tasks.Result{}, cairn.Permanentf("tune %s: %w", id, err)
	}

	var buf bytes.Buffer
	for _, tr := range out.Trials {
		b, err := json.Marshal(tr)
		if err != nil {
			return tasks.Result{}, cairn.Permanentf("tune %s: trial %d: %w", id, tr.Trial, err)
		}
		buf.Write(b)
		buf.WriteByte('\n')
	}
	ref, err := env.Artifacts.Put(ctx, TrialsMediaType, &buf)
	if err != nil {
		return tasks.Result{}, fmt.Errorf("tune %s: store trials: %w", id, err)
	}
	best := out.Trials[out.Best]
	return tasks.Result{
		Outputs: map[string]json.RawMessage{
			"best_params": mustJSON(best.Params),
			"best_score":  mustJSON(best.Mean),
			"metric":      mustJSON(MetricOutput{Name: out.Metric.Name, HigherIsBetter: out.Metric.HigherIsBetter}),
			"trials":      ref.JSON(),
		},
		Metrics: map[string]float64{
			"best_score": best.Mean,
			"best_std":   best.Std,
			"trials":     float64(len(out.Trials)),
			"folds":      float64(p.folds),
		},
	}, nil
}

// outcome is a finished search.
type outcome struct {
	Metric model.MetricInfo
	Trials []Trial
	// Best indexes Trials: the best mean, the earliest trial on a tie.
	Best int
}

// fitAndScore fits spec on train and scores it on valid. A panic in the
// fit (a bug) becomes that fit's error, with its stack, so that it fails
// the attempt rather than the worker process.
func fitAndScore(train, valid *dataset.Frame, spec model.Spec, metric string) (score float64, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &cairn.PanicError{Value: r, Stack: debug.Stack()}
		}
	}()
	m, err := model.Fit(train, spec)
	if err != nil {
		return 0, err
	}
	return m.Score(metric, valid)
}

// search cross-validates every candidate of p's space on f and ranks them.
// Its errors are about the data or the params (permanent), or ctx's.
func search(ctx context.Context, f *dataset.Frame, p *params, log io.Writer) (*outcome, error) {
	spec := p.pipe.Spec
	kind, classes, y, err := model.Target(f, spec)
	if err != nil {
		return nil, train.FitError(err)
	}
	metric := p.metric
	if metric == "" {
		metric = model.DefaultMetric(kind)
	}
	mi, _ := model.LookupMetric(metric)
	if mi.Kind != kind {
		return nil, fmt.Errorf("metric %s scores a %s, and %s of %q is a %s here: pick a %s metric such as %s", metric, mi.Kind, spec.Algorithm, spec.Preprocess.Label, kind, kind, model.DefaultMetric(kind))
	}
	var folds []model.Fold
	if kind == model.Classification {
		folds, err = model.StratifiedKFold(y, p.folds, spec.Seed)
		if err != nil {
			return nil, fmt.Errorf("stratified %d-fold cross-validation: %w (lower cv_folds, or merge rare classes; classes: %s)", p.folds, classNames(err, classes), strings.Join(classes, ", "))
		}
	} else {
		folds, err = model.KFold(f.Rows(), p.folds, spec.Seed)
		if err != nil {
			return nil, fmt.Errorf("%d-fold cross-validation: %w (lower cv_folds)", p.folds, err)
		}
	}
	cands := candidates(p)
	dir := "higher is better"
	if !mi.HigherIsBetter {
		dir = "lower is better"
	}
	workers := p.parallelism
	if workers == 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	jobs := len(cands) * len(folds)
	workers = min(workers, jobs)
	strat := ""
	if kind == model.Classification {
		strat = "stratified "
	}
	fmt.Fprintf(log, "tune: %s search of %s (%s of %q): %d candidates × %d %sfolds = %d fits, %d at a time; metric %s (%s), seed %d\n",
		p.search, spec.Algorithm, kind, spec.Preprocess.Label, len(cands), len(folds), strat, jobs, workers, metric, dir, spec.Seed)

	// The fold frames are shared read-only by the fits.
	trainF := make([]*dataset.Frame, len(folds))
	validF := make([]*dataset.Frame, len(folds))
	for i, fo := range folds {
		trainF[i], validF[i] = f.Select(fo.Train), f.Select(fo.Valid)
	}
	scores := make([]float64, jobs)
	errs := make([]error, jobs)
	// Progress: a line each time another tenth of the candidates is done
	// (each one when there are fewer than ten), for long searches.
	left := make([]atomic.Int32, len(cands))
	for c := range left {
		left[c].Store(int32(len(folds)))
	}
	var logMu sync.Mutex
	done, step := 0, max(1, len(cands)/10)
	finished := func() {
		logMu.Lock()
		defer logMu.Unlock()
		done++
		if done%step == 0 && done < len(cands) {
			fmt.Fprintf(log, "tune: %d of %d candidates done\n", done, len(cands))
		}
	}
	var next atomic.Int64
	var failed atomic.Bool
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				j := int(next.Add(1) - 1)
				if j >= jobs || failed.Load() || ctx.Err() != nil {
					return
				}
				c, fo := j/len(folds), j%len(folds)
				s := spec
				s.Hyperparams = cands[c]
				s.Workers = 1 // parallelism bounds the goroutines that fit
				// The kind found on the whole train split, not inferred again
				// on a fold's rows: a fold missing a rare value of an integer
				// label must not turn a regression into a classification.
				s.Kind = kind

				var err error
				scores[j], err = fitAndScore(trainF[fo], validF[fo], s, metric)
				if err == nil && (math.IsNaN(scores[j]) || math.IsInf(scores[j], 0)) {
					err = fmt.Errorf("score %v", scores[j])
				}
				if err != nil {
					errs[j] = err
					failed.Store(true)
					continue
				}
				if left[c].Add(-1) == 0 {
					finished()
				}
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, context.Cause(ctx)
	}
	for j, err := range errs {
		if err != nil {
			c, fo := j/len(folds), j%len(folds)
			return nil, fmt.Errorf("trial %d (%s), fold %d of %d: %w", c+1, formatParams(cands[c]), fo+1, len(folds), train.FitError(err))
		}
	}
	out := &outcome{Metric: mi, Trials: make([]Trial, len(cands))}
	for c := range cands {
		fs := scores[c*len(folds) : (c+1)*len(folds)]
		mean := 0.0
		for _, s := range fs {
			mean += s
		}
		mean /= float64(len(fs))
		ss := 0.0
		for _, s := range fs {
			ss += (s - mean) * (s - mean)
		}
		out.Trials[c] = Trial{Trial: c + 1, Params: cands[c], FoldScores: append([]float64(nil), fs...), Mean: mean, Std: math.Sqrt(ss / float64(len(fs)))}
	}
	better := func(a, b float64) bool {
		if mi.HigherIsBetter {
			return a > b
		}
		return a < b
	}
	for c := range out.Trials {
		rank := 1
		for d := range out.Trials {
			if better(out.Trials[d].Mean, out.Trials[c].Mean) {
				rank++
			}
		}
		out.Trials[c].Rank = rank
		if better(out.Trials[c].Mean, out.Trials[out.Best].Mean) {
			out.Best = c
		}
	}
	logTrials(log, p, out)
	return out, nil
}

// classNames rewrites "class 3" of a fold error into the class's label.
func classNames(err error, classes []string) error {
	msg := err.Error()
	for i := len(classes) - 1; i >= 0; i-- {
		msg = strings.Replace(msg, fmt.Sprintf("class %d has", i), fmt.Sprintf("class %q has", classes[i]), 1)
	}
	return fmt.Errorf("%s", msg)
}

// candidates lists the hyperparameter sets to try, in search order, each
// with the fixed hyperparameters. A grid varies the last name (sorted)
// fastest. A random search draws from one seeded stream: while the space
// is only lists, distinct grid points (the whole grid if trials covers
// it); otherwise each name (sorted) in turn per trial.
func candidates(p *params) []map[string]any {
	with := func(point map[string]any) map[string]any {
		for k, v := range p.fixed {
			point[k] = v
		}
		return point
	}
	gridPoint := func(i int) map[string]any {
		point := map[string]any{}
		for d := len(p.space) - 1; d >= 0; d-- {
			dim := p.space[d]
			point[dim.Name] = dim.Values[i%len(dim.Values)]
			i /= len(dim.Values)
		}
		return with(point)
	}
	lists := true
	for _, d := range p.space {
		lists = lists && d.valueRange == nil
	}
	size := gridSize(p.space)
	if p.search == Grid || (lists && size <= float64(p.trials)) {
		out := make([]map[string]any, int(size))
		for i := range out {
			out[i] = gridPoint(i)
		}
		return out
	}
	r := model.NewRand(p.pipe.Spec.Seed)
	out := make([]map[string]any, 0, p.trials)
	if lists && size <= 1e6 {
		seen := map[int]bool{}
		for len(out) < p.trials {
			i := r.IntN(int(size))
			if !seen[i] {
				seen[i] = true
				out = append(out, gridPoint(i))
			}
		}
		return out
	}
	for range p.trials {
		point := map[string]any{}
		for _, d := range p.space {
			point[d.Name] = d.draw(r)
		}
		out = append(out, with(point))
	}
	return out
}

func (d dim) draw(r *model.Rand) any {
	if d.valueRange == nil {
		return d.Values[r.IntN(len(d.Values))]
	}
	lo, hi := d.valueRange.Min, d.valueRange.Max
	if d.Int {
		if d.valueRange.Log {
			v := math.Floor(math.Exp(math.Log(lo) + r.Float64()*(math.Log(hi+1)-math.Log(lo))))
			return int(math.Min(math.Max(v, lo), hi))
		}
		return int(lo) + r.IntN(int(hi-lo)+1)
	}
	if d.valueRange.Log {
		return math.Min(math.Max(math.Exp(math.Log(lo)+r.Float64()*(math.Log(hi)-math.Log(lo))), lo), hi)
	}
	return lo + r.Float64()*(hi-lo)
}

func formatParams(hp map[string]any) string {
	if len(hp) == 0 {
		return "defaults"
	}
	keys := sortedKeys(hp)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + model.FormatValue(hp[k])
	}
	return strings.Join(parts, ", ")
}

// logTrials writes the trial table (the first 200 rows by trial order,
// then the best if it was cut) and the best candidate.
func logTrials(w io.Writer, p *params, out *outcome) {
	names := []string{}
	for _, d := range p.space {
		names = append(names, d.Name)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "  trial\t")
	for _, n := range names {
		fmt.Fprintf(tw, "%s\t", n)
	}
	fmt.Fprintf(tw, "mean %s\tstd\trank\t\n", out.Metric.Name)
	const shown = 200
	row := func(tr Trial) {
		fmt.Fprintf(tw, "  %d\t", tr.Trial)
		for _, n := range names {
			fmt.Fprintf(tw, "%s\t", model.FormatValue(tr.Params[n]))
		}
		fmt.Fprintf(tw, "%.6f\t%.6f\t%d\t\n", tr.Mean, tr.Std, tr.Rank)
	}
	for i, tr := range out.Trials {
		if i == shown {
			fmt.Fprintf(tw, "  … %d more in the trials output\t\n", len(out.Trials)-shown)
			break
		}
		row(tr)
	}
	if out.Best >= shown {
		row(out.Trials[out.Best])
	}
	tw.Flush()
	best := out.Trials[out.Best]
	fmt.Fprintf(w, "tune: best: trial %d (%s): mean %s %.6f ± %.6f over %d folds\n", best.Trial, formatParams(best.Params), out.Metric.Name, best.Mean, best.Std, len(best.FoldScores))
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // plain values
	}
	return b
}
