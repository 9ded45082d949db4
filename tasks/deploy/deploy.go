package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/tasks"
	"github.com/cairnml/cairn/tasks/ml/model"
	"github.com/cairnml/cairn/tasks/ml/modelio"
)

// VersionOutput is the output the store sets to the version registered,
// and StageOutput the one it sets to the stage the version is in then.
const (
	VersionOutput = "version"
	StageOutput   = "stage"
)

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
type Task struct {
	// What this process decoded of its inputs, by digest and media type
	// (decodedKey): a model's
	// description (string) and a report (*report). Their bytes are
	// content-addressed, so they decode the same every time; a decoding
	// is taken from here only while the artifact store vouches for the
	// blob itself (remembered), else the blob is read again. n counts
	// the entries, emptied past maxDecoded.
	models, reports sync.Map
	n               atomic.Int64
}

// maxDecoded bounds what a Task remembers of what it decoded.
const maxDecoded = 1024

// remembered is an artifact store that knows a blob intact without
// reading it (*artifacts.Dir: hashed by this process, its file unchanged
// since).
type remembered interface {
	Remembered(ref cairn.ArtifactRef) bool
}

// recall returns what m holds for ref's digest when the store vouches for
// ref's blob.
func recall(m *sync.Map, store any, ref cairn.ArtifactRef) (any, bool) {
	rm, ok := store.(remembered)
	if !ok {
		return nil, false
	}
	v, ok := m.Load(decodedKey(ref))
	if !ok || !rm.Remembered(ref) {
		return nil, false
	}
	return v, true
}

// note remembers v, decoded from ref's blob, in m.
func (t *Task) note(m *sync.Map, ref cairn.ArtifactRef, v any) {
	if t.n.Add(1) > maxDecoded {
		t.models.Clear()
		t.reports.Clear()
		t.n.Store(1)
	}
	m.Store(decodedKey(ref), v)
}

// decodedKey is what a decoding is remembered by: the digest, and the
// media type the reference gives (which a decoder checks first).
func decodedKey(ref cairn.ArtifactRef) string { return ref.Digest + " " + ref.MediaType }

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
			{Name: "strategy", Kind: cairn.KindString, Default: string(cairn.StrategyDirect), Doc: "how the version reaches production's requests: direct (the stage asked, at once), canary (a share raised in steps while its live metric and error rate hold, rolled back when they do not), shadow (production answers; the candidate scores the same rows, both logged) or ab (a fixed split); any but direct registers a candidate and rolls it out against the production version"},
			{Name: "steps", Kind: cairn.KindList, Doc: "canary: the candidate's shares in percent, increasing, the last 100 (default [10, 25, 50, 100])"},
			{Name: "interval", Kind: cairn.KindDuration, Doc: "canary: how long each step lasts before the next (default 5m)"},
			{Name: "split", Kind: cairn.KindAny, Doc: "ab: the candidate's share in percent (default 50), or {production: N, candidate: M} summing to 100"},
			{Name: "min_samples", Kind: cairn.KindInt, Doc: "canary: labeled rows (feedback) each version needs in a step before their live metrics are compared (default 100); canary, shadow, ab: the min of a live_metric_below alert that gives none"},
			{Name: "min_requests", Kind: cairn.KindInt, Doc: "canary: requests the candidate needs in a step before its error rate is judged (default 20); canary, shadow, ab: the min of a p99_latency_above alert that gives none"},
			{Name: "tolerance", Kind: cairn.KindFloat, Doc: "canary: how much worse than production's the candidate's live metric may be, relative (default 0.02)"},
			{Name: "max_error_rate", Kind: cairn.KindFloat, Doc: "canary: the share of the candidate's requests that may fail (default 0.01)"},
			{Name: "judge", Kind: cairn.KindString, Doc: "canary: live (feedback's live metrics and the error rate, the default) or errors (the error rate alone)"},
			{Name: "alerts", Kind: cairn.KindList, Doc: "any strategy: the model's alerts, kept with the model (they replace its alerts; cairn models alerts NAME shows and changes them) and watched by the leader on its production version, and on a rollout's candidate while it is active: [{on: live_metric_below, bound: 0.9, webhook: URL}, {on: p99_latency_above, bound: 50ms, webhook: URL, format: slack, window: 10m, min: 20}]; window is how far back each looks (default 10m), min the labeled rows or requests it needs (default 100 and 20); each fires when its condition starts to hold and again only after it cleared"},
		},
		Inputs: []cairn.PortInfo{
			{Name: "model", Artifact: true, Required: true, Doc: "the model (" + model.MediaType + "), as train writes it"},
			{Name: "report", Artifact: true, Doc: "the evaluate task's report of this model: the models page draws its ROC curve and confusion matrix"},
		},
		Outputs: []cairn.PortInfo{
			{Name: "model", Artifact: true, Doc: "the model artifact registered (the model input)"},
			{Name: VersionOutput, Doc: "the version registered (from 1 per name), set when the success is recorded; null in a reproduced run, which registers nothing"},
			{Name: "name", Doc: "the model's name"},
			{Name: StageOutput, Doc: "the stage the version is in once registered: the stage asked, or production for a model's first version deployed with a rollout strategy (nothing to roll it out against); in a reproduced run, which registers nothing, the stage asked"},
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
	spec, rerrs := rolloutOf(m, resolved)
	_, aerrs := modelAlertsOf(m, spec, resolved)
	return append(append(errs, rerrs...), aerrs...)
}

// rolloutKeys are the params of a rollout, and the strategies each
// applies to.
var rolloutKeys = map[string][]cairn.RolloutStrategy{
	"steps": {cairn.StrategyCanary}, "interval": {cairn.StrategyCanary},
	// min_samples and min_requests: a canary's judgement and any
	// rollout's alerts.
	"min_samples":  {cairn.StrategyCanary, cairn.StrategyShadow, cairn.StrategyAB},
	"min_requests": {cairn.StrategyCanary, cairn.StrategyShadow, cairn.StrategyAB},
	"tolerance":    {cairn.StrategyCanary}, "max_error_rate": {cairn.StrategyCanary},
	"judge": {cairn.StrategyCanary}, "split": {cairn.StrategyAB},
}

// rolloutOf reads the strategy params into a spec (nil for direct).
// Unless resolved, a value that holds a reference is accepted as
// written (and left out of the spec).
func rolloutOf(m map[string]any, resolved bool) (*cairn.RolloutSpec, []tasks.ParamError) {
	literal := func(v any) bool { return resolved || !tasks.IsRef(v) }
	var errs []tasks.ParamError
	strategy := cairn.StrategyDirect
	known := true
	if v, ok := m["strategy"]; ok {
		if !literal(v) {
			known = false
		} else if s, isStr := v.(string); !isStr || !cairn.RolloutStrategy(s).Valid() {
			pe := tasks.ParamError{Key: "strategy", Msg: fmt.Sprintf("want one of %s, got %s", strings.Join(cairn.Strategies, ", "), tasks.Describe(v))}
			if near := tasks.Nearest(s, cairn.Strategies); near != "" {
				pe.Hint = fmt.Sprintf("did you mean %q?", near)
			}
			return nil, append(errs, pe)
		} else {
			strategy = cairn.RolloutStrategy(s)
		}
	}
	if known {
		keys := make([]string, 0, len(rolloutKeys))
		for k := range rolloutKeys {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if _, given := m[k]; given && !slices.Contains(rolloutKeys[k], strategy) {
				errs = append(errs, tasks.ParamError{Key: k, Msg: fmt.Sprintf("%s applies to a %s rollout, not to strategy %s", k, rolloutKeys[k][0], strategy),
					Hint: fmt.Sprintf("set strategy: %s, or drop %s", rolloutKeys[k][0], k)})
			}
		}
		if strategy != cairn.StrategyDirect {
			if v, ok := m["stage"]; ok && literal(v) && v == string(cairn.StageProduction) {
				errs = append(errs, tasks.ParamError{Key: "stage", Msg: fmt.Sprintf("a %s rollout registers a candidate and promotes it when it holds, not a production version", strategy),
					Hint: "drop stage: production, or use strategy: direct"})
			}
		}
	}
	spec := cairn.RolloutSpec{Strategy: strategy}
	if v, ok := m["steps"]; ok && literal(v) {
		list, isList := v.([]any)
		if !isList || len(list) == 0 || len(list) > 20 {
			errs = append(errs, tasks.ParamError{Key: "steps", Msg: "want a list of 1 to 20 shares in percent, such as [10, 25, 50, 100], got " + tasks.Describe(v)})
		} else {
			for i, x := range list {
				f, isNum := tasks.Number(x)
				if !isNum || f != float64(int(f)) {
					errs = append(errs, tasks.ParamError{Key: "steps", Msg: fmt.Sprintf("steps[%d]: want a whole percentage, got %s", i, tasks.Describe(x))})
					break
				}
				spec.Steps = append(spec.Steps, int(f))
			}
		}
	}
	if v, ok := m["interval"]; ok && literal(v) {
		s, _ := v.(string)
		d, err := time.ParseDuration(s)
		if err != nil {
			errs = append(errs, tasks.ParamError{Key: "interval", Msg: `want a duration such as "5m" or "30s", got ` + tasks.Describe(v)})
		} else {
			spec.Interval = cairn.Duration(d)
		}
	}
	if v, ok := m["split"]; ok && literal(v) {
		split, err := splitOf(v)
		if err != nil {
			errs = append(errs, tasks.ParamError{Key: "split", Msg: err.Error()})
		} else {
			spec.Split = split
		}
	}
	for _, k := range []string{"min_samples", "min_requests"} {
		if v, ok := m[k]; ok && literal(v) {
			f, isNum := tasks.Number(v)
			if !isNum || f != float64(int(f)) || f < 1 || f > 1e9 {
				errs = append(errs, tasks.ParamError{Key: k, Msg: "want a whole number from 1, got " + tasks.Describe(v)})
				continue
			}
			if k == "min_samples" {
				spec.MinSamples = int(f)
			} else {
				spec.MinRequests = int(f)
			}
		}
	}
	for _, k := range []string{"tolerance", "max_error_rate"} {
		if v, ok := m[k]; ok && literal(v) {
			f, isNum := tasks.Number(v)
			if !isNum || f <= 0 || f >= 1 {
				errs = append(errs, tasks.ParamError{Key: k, Msg: "want a share between 0 and 1 such as 0.02, got " + tasks.Describe(v)})
				continue
			}
			if k == "tolerance" {
				spec.Tolerance = f
			} else {
				spec.MaxErrorRate = f
			}
		}
	}
	if v, ok := m["judge"]; ok && literal(v) {
		s, _ := v.(string)
		if s != cairn.JudgeLive && s != cairn.JudgeErrors {
			errs = append(errs, tasks.ParamError{Key: "judge", Msg: "want live or errors, got " + tasks.Describe(v)})
		} else {
			spec.Judge = s
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	if err := spec.Validate(); err != nil {
		key, _, _ := strings.Cut(err.Error(), ":")
		key, _, _ = strings.Cut(key, "[")
		if _, isKey := rolloutKeys[key]; !isKey {
			key = "strategy"
		}
		return nil, []tasks.ParamError{{Key: key, Msg: err.Error()}}
	}
	if strategy == cairn.StrategyDirect || !known {
		return nil, nil
	}
	return &spec, nil
}

// modelAlertsOf reads the alerts param (nil when not given, or when it
// holds a reference and resolved is false); a rollout's min_samples and
// min_requests are the min of the alerts that give none.
func modelAlertsOf(m map[string]any, spec *cairn.RolloutSpec, resolved bool) ([]cairn.ModelAlert, []tasks.ParamError) {
	v, ok := m["alerts"]
	if !ok || (!resolved && tasks.IsRef(v)) {
		return nil, nil
	}
	as, err := AlertsOf(v)
	if err != nil {
		return nil, []tasks.ParamError{{Key: "alerts", Msg: err.Error()}}
	}
	for i := range as {
		if as[i].Min > 0 || spec == nil {
			continue
		}
		switch as[i].On {
		case cairn.AlertLiveMetricBelow:
			as[i].Min = spec.MinSamples
		case cairn.AlertP99Above:
			as[i].Min = spec.MinRequests
		}
	}
	return as, nil
}

// AlertsOf reads a model's alerts as a deploy's alerts: (and the API)
// give them: a list of {on, bound, webhook, format, window, min}: a
// live_metric_below's bound a number, a p99_latency_above's a duration
// ("50ms"), window a duration.
func AlertsOf(v any) ([]cairn.ModelAlert, error) {
	list, isList := v.([]any)
	if !isList || len(list) == 0 || len(list) > cairn.MaxModelAlerts {
		return nil, fmt.Errorf("want a list of 1 to %d alerts such as [{on: live_metric_below, bound: 0.9, webhook: https://hooks.example.com/x}], got %s", cairn.MaxModelAlerts, tasks.Describe(v))
	}
	var out []cairn.ModelAlert
	for i, x := range list {
		m, isMap := x.(map[string]any)
		if !isMap {
			return nil, fmt.Errorf("alerts[%d]: want a map {on, bound, webhook, format}, got %s", i, tasks.Describe(x))
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if k != "on" && k != "bound" && k != "webhook" && k != "format" && k != "window" && k != "min" {
				return nil, fmt.Errorf("alerts[%d]: unknown key %q (an alert takes on, bound, webhook, format, window and min)", i, k)
			}
		}
		var a cairn.ModelAlert
		on, _ := m["on"].(string)
		a.On = cairn.AlertEvent(on)
		switch a.On {
		case cairn.AlertLiveMetricBelow:
			f, isNum := tasks.Number(m["bound"])
			if !isNum {
				return nil, fmt.Errorf("alerts[%d]: bound: a live_metric_below's bound is a number such as 0.9 (accuracy, or a regressor's mae), got %s", i, tasks.Describe(m["bound"]))
			}
			a.Bound = f
		case cairn.AlertP99Above:
			s, _ := m["bound"].(string)
			d, err := time.ParseDuration(s)
			if err != nil || d <= 0 {
				return nil, fmt.Errorf("alerts[%d]: bound: a p99_latency_above's bound is a duration such as 50ms, got %s", i, tasks.Describe(m["bound"]))
			}
			a.Bound = d.Seconds()
		case cairn.AlertDriftAbove:
			f, isNum := tasks.Number(m["bound"])
			if !isNum || !(f > 0 && f <= cairn.MaxDriftBound) {
				return nil, fmt.Errorf("alerts[%d]: bound: a drift_above's bound is a PSI above 0 and at most %d, such as 0.2 (the largest PSI of the model's features over its served rows), got %s", i, cairn.MaxDriftBound, tasks.Describe(m["bound"]))
			}
			a.Bound = f
		default:
			return nil, fmt.Errorf("alerts[%d]: on: want live_metric_below, p99_latency_above or drift_above, got %s", i, tasks.Describe(m["on"]))
		}
		a.Webhook, _ = m["webhook"].(string)
		if _, isStr := m["webhook"].(string); !isStr {
			return nil, fmt.Errorf("alerts[%d]: webhook: want an http or https URL, got %s", i, tasks.Describe(m["webhook"]))
		}
		if f, given := m["format"]; given {
			a.Format, _ = f.(string)
			if a.Format != cairn.AlertJSON && a.Format != cairn.AlertSlack {
				return nil, fmt.Errorf("alerts[%d]: format: want json or slack, got %s", i, tasks.Describe(f))
			}
		}
		if w, given := m["window"]; given {
			s, _ := w.(string)
			d, err := time.ParseDuration(s)
			if err != nil || d <= 0 {
				return nil, fmt.Errorf("alerts[%d]: window: want a duration such as 10m or 1h, got %s", i, tasks.Describe(w))
			}
			a.Window = cairn.Duration(d)
		}
		if x, given := m["min"]; given {
			f, isNum := tasks.Number(x)
			if !isNum || f != float64(int(f)) || f < 1 || f > 1e9 {
				return nil, fmt.Errorf("alerts[%d]: min: want a whole number from 1 (labeled rows for live_metric_below, requests for p99_latency_above, sampled served rows for drift_above), got %s", i, tasks.Describe(x))
			}
			a.Min = int(f)
		}
		if err := a.Validate(); err != nil {
			return nil, fmt.Errorf("alerts[%d]: %w", i, err)
		}
		out = append(out, a)
	}
	return out, nil
}

// splitOf reads an A-B split: the candidate's share (1 to 99), or
// {production: N, candidate: M} with N + M = 100.
func splitOf(v any) (int, error) {
	if f, ok := tasks.Number(v); ok {
		if f != float64(int(f)) || f < 1 || f > 99 {
			return 0, fmt.Errorf("the candidate's share is a whole percentage from 1 to 99, got %s", tasks.Describe(v))
		}
		return int(f), nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return 0, fmt.Errorf("want the candidate's share in percent, or {production: N, candidate: M} summing to 100, got %s", tasks.Describe(v))
	}
	var p, c float64
	for k, x := range m {
		f, isNum := tasks.Number(x)
		if !isNum || f != float64(int(f)) || f < 0 || f > 100 {
			return 0, fmt.Errorf("split.%s: want a whole percentage from 0 to 100, got %s", k, tasks.Describe(x))
		}
		switch k {
		case "production":
			p = f
		case "candidate":
			c = f
		default:
			return 0, fmt.Errorf("split has %q: it takes production and candidate", k)
		}
	}
	if p+c != 100 {
		return 0, fmt.Errorf("the split's shares sum to %g, not 100: production %g + candidate %g", p+c, p, c)
	}
	if c < 1 || c > 99 {
		return 0, fmt.Errorf("the candidate's share is %g: an A-B split gives each version 1 to 99 (use strategy: shadow for 0, direct for 100)", c)
	}
	return int(c), nil
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

// plan is what a deploy's resolved params ask for.
type plan struct {
	name    string
	stage   cairn.ModelStage
	metrics map[string]float64 // nil: the report's
	given   bool               // metrics: was given
	rollout *cairn.RolloutSpec
	alerts  []cairn.ModelAlert // nil: the model's stay as they are
}

// planOf reads the resolved params of deploy request req.
func planOf(req tasks.Request) (plan, error) {
	id := req.TaskID
	m, err := req.DecodeMap("deploy")
	if err != nil {
		return plan{}, err
	}
	for k := range m {
		if _, rollout := rolloutKeys[k]; k != "name" && k != "stage" && k != "metrics" && k != "strategy" && k != "alerts" && !rollout {
			return plan{}, cairn.Permanentf("deploy %s: params: unknown param %q (it takes name, stage, metrics, strategy and its settings, alerts)", id, k)
		}
	}
	if _, ok := m["name"]; !ok {
		return plan{}, cairn.Permanentf("deploy %s: params: name is required", id)
	}
	if err := tasks.ParamsError("deploy", id, check(m, true)); err != nil {
		return plan{}, err
	}
	pl := plan{stage: cairn.StageCandidate}
	pl.name, _ = m["name"].(string)
	if s, ok := m["stage"].(string); ok {
		pl.stage = cairn.ModelStage(s)
	}
	_, pl.given = m["metrics"]
	pl.metrics, _ = metricsOf(m["metrics"], true)     // checked above
	pl.rollout, _ = rolloutOf(m, true)                // checked above
	pl.alerts, _ = modelAlertsOf(m, pl.rollout, true) // checked above
	if pl.rollout != nil {
		pl.stage = cairn.StageCandidate
	}
	return pl, nil
}

// Reports opens a report artifact for CheckRegistration (the server's
// artifact store).
type Reports interface {
	Open(ctx context.Context, ref cairn.ArtifactRef) (io.ReadCloser, error)
}

// CheckRegistration says whether reg is the registration a deploy task of
// resolved params and inputs makes: its name, stage, rollout and alerts are those
// the params ask for, its model the task's model input, its report the
// task's report input (none without one), and its metrics the params'
// when they give them, else the report's — read here from reports — and
// none without a report. A server checks what a remote worker reports
// with it: a worker is trusted with a task's results, not with choosing
// what the registry holds.
func CheckRegistration(ctx context.Context, taskID string, params json.RawMessage, inputs map[string]cairn.ArtifactRef, reg *cairn.ModelRegistration, reports Reports) error {
	pl, err := planOf(tasks.Request{TaskID: taskID, Params: params})
	if err != nil {
		return err
	}
	model, ok := inputs["model"]
	switch {
	case reg.Name != pl.name:
		return fmt.Errorf("registers model %q, but the task deploys %q", reg.Name, pl.name)
	case reg.Stage != pl.stage:
		return fmt.Errorf("registers as %s, but the task deploys as %s", reg.Stage, pl.stage)
	case !sameJSON(reg.Rollout, pl.rollout):
		return fmt.Errorf("names a rollout other than the task's params give")
	case !sameJSON(reg.Alerts, pl.alerts):
		return fmt.Errorf("sets model alerts other than the task's params give")
	case !ok || reg.Model.Digest != model.Digest:
		return fmt.Errorf("registers artifact %s, not the task's model input", reg.Model.Digest)
	case reg.VersionOutput != "" && reg.VersionOutput != VersionOutput:
		return fmt.Errorf("sets output %q, not %q", reg.VersionOutput, VersionOutput)
	case reg.StageOutput != "" && reg.StageOutput != StageOutput:
		return fmt.Errorf("sets output %q, not %q", reg.StageOutput, StageOutput)
	case pl.given && !sameJSON(reg.Metrics, pl.metrics) && len(reg.Metrics)+len(pl.metrics) > 0:
		return fmt.Errorf("reports metrics other than the task's params give")
	}
	repIn, hasReport := inputs["report"]
	switch {
	case reg.Report != nil && (!hasReport || repIn.Digest != reg.Report.Digest):
		return fmt.Errorf("names report %s, not the task's report input", reg.Report.Digest)
	case reg.Report == nil && hasReport:
		return fmt.Errorf("names no report, but the task's report input is %s", repIn.Digest)
	case pl.given:
		return nil
	case !hasReport:
		if len(reg.Metrics) > 0 {
			return fmt.Errorf("reports %d metrics, but the task's params give none and it has no report to read them from", len(reg.Metrics))
		}
		return nil
	}
	rep, err := readReport(ctx, reports, repIn)
	if err != nil {
		return fmt.Errorf("its report input %s: %v", repIn.Digest, err)
	}
	if !sameJSON(reg.Metrics, rep.Metrics) && len(reg.Metrics)+len(rep.Metrics) > 0 {
		return fmt.Errorf("reports metrics other than its report input's")
	}
	return nil
}

// sameJSON compares two values as JSON: what a registration is after its
// trip over the wire.
func sameJSON(a, b any) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && bytes.Equal(ja, jb)
}

// Run checks the model (and report) inputs and returns the registration
// as the result's effect; see the package documentation.
func (t *Task) Run(ctx context.Context, req tasks.Request, env tasks.Env) (tasks.Result, error) {
	id := req.TaskID
	pl, err := planOf(req)
	if err != nil {
		return tasks.Result{}, err
	}
	name, stage, metrics, rollout, alerts := pl.name, pl.stage, pl.metrics, pl.rollout, pl.alerts
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
	desc, known := recall(&t.models, env.Artifacts, modelRef)
	if !known {
		mdl, err := modelio.ReadModel(ctx, env.Artifacts, modelRef)
		if err != nil {
			return tasks.Result{}, fmt.Errorf("deploy %s: input model %s: %w", id, modelRef.Digest, err)
		}
		desc = mdl.Describe()
		t.note(&t.models, modelRef, desc)
	}
	fmt.Fprintf(log, "deploy: model %s (%s, %d bytes)\n", desc, modelRef.Digest, modelRef.Size)
	if modelRef.MediaType == "" || modelRef.MediaType == "application/octet-stream" {
		modelRef.MediaType = model.MediaType // it decodes as one
	}

	var reportRef *cairn.ArtifactRef
	if ref, ok := req.Inputs["report"]; ok {
		var rep *report
		if v, known := recall(&t.reports, env.Artifacts, ref); known {
			r := *v.(*report)
			r.Metrics = maps.Clone(r.Metrics)
			rep = &r
		} else {
			var err error
			if rep, err = readReport(ctx, env.Artifacts, ref); err != nil {
				return tasks.Result{}, fmt.Errorf("deploy %s: input report %s: %w", id, ref.Digest, err)
			}
			r := *rep
			r.Metrics = maps.Clone(r.Metrics)
			t.note(&t.reports, ref, &r)
		}
		if rep.Model != "" && rep.Model != modelRef.Digest {
			return tasks.Result{}, cairn.Permanentf("deploy %s: input report evaluates model %s, not the model input %s: give the report of the evaluate task that read this model",
				id, rep.Model, modelRef.Digest)
		}
		if !pl.given {
			metrics = rep.Metrics
		}
		fmt.Fprintf(log, "deploy: report %s (%s evaluation, %s)\n", ref.Digest, rep.Kind, tasks.Plural(len(rep.Metrics), "metric"))
		reportRef = &ref
	}

	reg := &cairn.ModelRegistration{Name: name, Stage: stage, Model: modelRef, Metrics: metrics, Report: reportRef, VersionOutput: VersionOutput,
		StageOutput: StageOutput, Rollout: rollout, Alerts: alerts}
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
	if rollout != nil {
		fmt.Fprintf(log, "deploy: rolls it out (%s) against the production version, which it replaces only when it holds (cairn models rollout %s)\n", rollout.Strategy, name)
	}
	if alerts != nil {
		fmt.Fprintf(log, "deploy: sets the model's %s, watched on its production version (cairn models alerts %s list)\n", tasks.Plural(len(alerts), "alert"), name)
	}

	nameJSON, _ := json.Marshal(name) // a valid name: cannot fail
	return tasks.Result{
		Outputs: map[string]json.RawMessage{
			"model":       modelRef.JSON(),
			VersionOutput: json.RawMessage("null"),
			"name":        nameJSON,
			StageOutput:   json.RawMessage(`"` + string(stage) + `"`),
		},
		Effects: []cairn.Effect{eff},
	}, nil
}

// readReport reads and checks an evaluate report artifact.
func readReport(ctx context.Context, store Reports, ref cairn.ArtifactRef) (*report, error) {
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
