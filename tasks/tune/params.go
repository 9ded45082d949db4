package tune

import (
	"fmt"
	"sort"
	"strings"

	"github.com/cairnml/cairn/tasks"
	"github.com/cairnml/cairn/tasks/ml/model"
	"github.com/cairnml/cairn/tasks/train"
)

// Searches.
const (
	Grid   = "grid"
	Random = "random"
)

// Defaults and bounds.
const (
	DefaultFolds  = 5
	DefaultTrials = 10
	// MaxCandidates bounds a grid (and random search's trials): beyond it,
	// a search is a mistake more often than a plan.
	MaxCandidates = 10000
	MaxFolds      = 100
)

// valueRange is a random-search dimension: a number drawn uniformly from
// [Min, Max], or log-uniformly when Log is set (Min > 0). An int
// hyperparameter draws an integer.
type valueRange struct {
	Min float64 `json:"min"`
	Max float64 `json:"max"`
	Log bool    `json:"log,omitempty"`
}

// dim is one hyperparameter of the search space: a list of values, or a
// range (random search only).
type dim struct {
	Name       string
	Values     []any // canonical values (model.CheckHyperparam)
	valueRange *valueRange
	Int        bool // the range draws integers
}

// params are the decoded `with:` params.
type params struct {
	pipe        *train.Pipeline
	metric      string
	folds       int
	search      string
	space       []dim // sorted by name
	fixed       map[string]any
	trials      int
	parallelism int // 0: GOMAXPROCS
	refs        map[string]bool
}

var ownKeys = []string{"metric", "cv_folds", "search", "space", "hyperparams", "trials", "parallelism"}

func parseParams(m map[string]any, allowRefs bool) (*params, []tasks.ParamError) {
	p := &params{pipe: train.NewPipeline(), folds: DefaultFolds, search: Grid, trials: DefaultTrials, fixed: map[string]any{}, refs: map[string]bool{}}
	var errs []tasks.ParamError
	add := func(key, hint, format string, args ...any) {
		errs = append(errs, tasks.ParamError{Key: key, Msg: fmt.Sprintf(format, args...), Hint: hint})
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var rawSpace, rawFixed map[string]any
	for _, k := range keys {
		v := m[k]
		if ok, perrs := p.pipe.Param(k, v, allowRefs); ok {
			errs = append(errs, perrs...)
			continue
		}
		if allowRefs && tasks.IsRef(v) {
			p.refs[k] = true
			isOwn := false
			for _, o := range ownKeys {
				isOwn = isOwn || o == k
			}
			if isOwn {
				continue
			}
		}
		switch k {
		case "metric":
			s, ok := v.(string)
			if !ok {
				add(k, "", "want a metric name, got %v", v)
			} else if _, err := model.LookupMetric(s); err != nil {
				add(k, metricHint(s), "unknown metric %q", s)
			} else {
				p.metric = s
			}
		case "cv_folds":
			n, ok := integer(v)
			if !ok || n < 2 || n > MaxFolds {
				add(k, "5 is usual; at least 2", "want an integer in [2, %d], got %v", MaxFolds, v)
			} else {
				p.folds = n
			}
		case "search":
			s, _ := v.(string)
			if s != Grid && s != Random {
				add(k, "grid or random", "unknown search %v", v)
			} else {
				p.search = s
			}
		case "trials":
			n, ok := integer(v)
			if !ok || n < 1 || n > MaxCandidates {
				add(k, "", "want an integer in [1, %d], got %v", MaxCandidates, v)
			} else {
				p.trials = n
			}
		case "parallelism":
			n, ok := integer(v)
			if !ok || n < 1 {
				add(k, "leave it out for one trial per CPU", "want an integer >= 1, got %v", v)
			} else {
				p.parallelism = n
			}
		case "space":
			sm, ok := v.(map[string]any)
			if !ok {
				add(k, "for example space: {C: [0.1, 1, 10]}", "want a map hyperparameter -> list of values, got %v", v)
			} else {
				rawSpace = sm
			}
		case "hyperparams":
			switch hm := v.(type) {
			case nil:
			case map[string]any:
				rawFixed = hm
			default:
				add(k, "for example hyperparams: {n_estimators: 50}", "want a map hyperparameter -> value, got %v", v)
			}
		default:
			names := append(train.Keys(), ownKeys...)
			hint := "params are " + strings.Join(names, ", ")
			if near := tasks.Nearest(k, names); near != "" {
				hint = fmt.Sprintf("did you mean %s?", near)
			}
			add(k, hint, "unknown param")
		}
	}
	errs = append(errs, p.pipe.Check()...)
	if _, given := m["trials"]; given && !p.refs["search"] && p.search != Random {
		add("trials", "set search: random, or leave trials out", "applies to search random only (a grid tries every candidate)")
	}
	algo := p.pipe.Spec.Algorithm
	if algo == "" {
		return p, errs // a reference or an error: the rest needs it
	}
	if p.metric != "" {
		mi, _ := model.LookupMetric(p.metric)
		switch {
		case algo == model.LogisticRegression && mi.Kind == model.Regression,
			(algo == model.LinearRegression || algo == model.Ridge) && mi.Kind == model.Classification,
			p.pipe.Spec.Kind != "" && mi.Kind != p.pipe.Spec.Kind:
			add("metric", "a "+string(otherKind(mi.Kind))+" metric such as "+model.DefaultMetric(otherKind(mi.Kind)), "%s scores a %s, and %s is not one here", p.metric, mi.Kind, algo)
		}
	}
	for _, name := range sortedKeys(rawFixed) {
		v := rawFixed[name]
		if allowRefs && tasks.IsRef(v) {
			continue
		}
		c, herr := model.CheckHyperparam(algo, name, v)
		if herr != nil {
			add("hyperparams", herr.Hint, "%s: %s", name, herr.Msg)
			continue
		}
		if _, tuned := rawSpace[name]; tuned {
			add("hyperparams", "give it in space or in hyperparams, not both", "%s is also in space", name)
			continue
		}
		p.fixed[name] = c
	}
	for _, name := range sortedKeys(rawSpace) {
		d, perrs := parseDim(algo, name, rawSpace[name], p.search, allowRefs)
		errs = append(errs, perrs...)
		if len(perrs) == 0 && d != nil {
			p.space = append(p.space, *d)
		}
	}
	if len(errs) == 0 {
		if _, hasC := rawSpace["C"]; hasC || p.fixed["C"] != nil {
			if _, hasL2 := rawSpace["l2"]; hasL2 || p.fixed["l2"] != nil {
				add("space", "tune one of C and l2 (C = 1/l2)", "C and l2 both given")
			}
		}
		if p.search == Grid {
			if n := gridSize(p.space); n > MaxCandidates {
				add("space", "use search: random with trials, or fewer values", "a grid of %.0f candidates, more than %d", n, MaxCandidates)
			}
		}
	}
	return p, errs
}

func otherKind(k model.Kind) model.Kind {
	if k == model.Classification {
		return model.Regression
	}
	return model.Classification
}

func metricHint(s string) string {
	names := []string{}
	for _, mi := range model.Metrics() {
		names = append(names, mi.Name)
	}
	if near := tasks.Nearest(s, names); near != "" {
		return fmt.Sprintf("did you mean %s?", near)
	}
	return "one of " + strings.Join(names, ", ")
}

func parseDim(algo, name string, v any, search string, allowRefs bool) (*dim, []tasks.ParamError) {
	bad := func(hint, format string, args ...any) (*dim, []tasks.ParamError) {
		return nil, []tasks.ParamError{{Key: "space", Msg: name + ": " + fmt.Sprintf(format, args...), Hint: hint}}
	}
	if allowRefs && tasks.IsRef(v) {
		return nil, nil
	}
	if _, herr := model.CheckHyperparam(algo, name, nil); herr != nil && strings.HasPrefix(herr.Msg, "unknown") {
		return bad(herr.Hint, "%s", herr.Msg)
	}
	switch x := v.(type) {
	case []any:
		if len(x) == 0 {
			return bad("list the values to try", "empty list")
		}
		d := &dim{Name: name}
		for _, e := range x {
			if allowRefs && tasks.IsRef(e) {
				d.Values = append(d.Values, e)
				continue
			}
			c, herr := model.CheckHyperparam(algo, name, e)
			if herr != nil {
				return bad(herr.Hint, "%s", herr.Msg)
			}
			d.Values = append(d.Values, c)
		}
		return d, nil
	case map[string]any:
		if search != Random {
			return bad("use search: random for a range, or list the values", "a range {min, max} needs search: random")
		}
		var h *model.HyperparamInfo
		for _, hi := range model.Hyperparams(algo) {
			if hi.Name == name {
				h = &hi
			}
		}
		if h == nil || (h.Type != model.TypeFloat && h.Type != model.TypeInt) {
			return bad("list its values instead", "a range applies to a number hyperparameter")
		}
		r := &valueRange{}
		var hasMin, hasMax bool
		for _, k := range sortedKeys(x) {
			switch k {
			case "min", "max":
				f, ok := tasks.Number(x[k])
				if !ok {
					return bad("", "%s: want a number, got %v", k, x[k])
				}
				if k == "min" {
					r.Min, hasMin = f, true
				} else {
					r.Max, hasMax = f, true
				}
			case "log":
				b, ok := x[k].(bool)
				if !ok {
					return bad("", "log: want true or false")
				}
				r.Log = b
			default:
				return bad("keys are min, max and log", "unknown key %q in a range", k)
			}
		}
		if !hasMin || !hasMax {
			return bad("for example {min: 0.001, max: 100, log: true}", "a range needs min and max")
		}
		if r.Min > r.Max {
			return bad("", "min %v > max %v", r.Min, r.Max)
		}
		if r.Log && !(r.Min > 0) {
			return bad("a log range needs min > 0", "log range from %v", r.Min)
		}
		for _, end := range []float64{r.Min, r.Max} {
			if _, herr := model.CheckHyperparam(algo, name, end); herr != nil {
				return bad(herr.Hint, "range end: %s", herr.Msg)
			}
		}
		return &dim{Name: name, valueRange: r, Int: h.Type == model.TypeInt}, nil
	}
	return bad("for example [0.1, 1, 10], or {min, max, log} with search: random", "want a list of values, got %v", v)
}

func gridSize(space []dim) float64 {
	n := 1.0
	for _, d := range space {
		n *= float64(len(d.Values))
	}
	return n
}

// integer reads a whole number of int32 range (counts and sizes).
func integer(v any) (int, bool) {
	i, ok := tasks.Integer(v)
	if !ok || i > 1<<31 || i < -1<<31 {
		return 0, false
	}
	return int(i), true
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
