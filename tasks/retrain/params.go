package retrain

import (
	"fmt"
	"sort"
	"strings"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/tasks"
	"github.com/cairnml/cairn/tasks/ml/drift"
	"github.com/cairnml/cairn/tasks/ml/model"
)

// Defaults of the params that are not drift's.
const (
	DefaultReferencePort = "train"
	DefaultMetricDrop    = 0.05
)

// Sources of the fresh data (param source).
const (
	SourceData        = "data"        // the data input
	SourcePredictions = "predictions" // the production model's sampled prediction log
)

// params are the task's `with:` values, defaults filled in.
type params struct {
	Model         string
	Source        string
	ReferencePort string
	Drift         drift.Options
	Label         string // "" = the model's, measured when present
	Metric        string // "" = model.DefaultMetric of the model's kind
	MetricDrop    float64
}

var paramNames = []string{"model", "source", "reference_port", "features", "alpha", "psi_threshold", "rule", "min_drifted", "bins", "label", "metric", "metric_drop"}

// ValidateParams checks the params as written; a ${{ }} reference is
// accepted for any of them and checked at run time.
func (*Task) ValidateParams(m map[string]any) []tasks.ParamError {
	_, errs := parseParams(m, true)
	return errs
}

func parseParams(m map[string]any, allowRefs bool) (params, []tasks.ParamError) {
	p := params{Source: SourceData, ReferencePort: DefaultReferencePort, MetricDrop: DefaultMetricDrop}
	var errs []tasks.ParamError
	add := func(key, hint, format string, args ...any) {
		errs = append(errs, tasks.ParamError{Key: key, Msg: fmt.Sprintf(format, args...), Hint: hint})
	}
	isRef := func(v any) bool { return allowRefs && tasks.IsRef(v) }
	number := func(k string, v any, ok func(float64) bool, want string) (float64, bool) {
		f, isNum := tasks.Number(v)
		if !isNum || !ok(f) {
			add(k, "", "want %s, got %s", want, tasks.Describe(v))
			return 0, false
		}
		return f, true
	}
	integer := func(k string, v any, lo, hi int64) (int, bool) {
		i, isInt := tasks.Integer(v)
		if !isInt || i < lo || i > hi {
			add(k, "", "want a whole number from %d to %d, got %s", lo, hi, tasks.Describe(v))
			return 0, false
		}
		return int(i), true
	}
	name := func(k string, v any) (string, bool) {
		s, ok := v.(string)
		if !ok || s == "" {
			add(k, "", "want a column name, got %s", tasks.Describe(v))
			return "", false
		}
		return s, true
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := m[k]
		if isRef(v) {
			continue
		}
		switch k {
		case "model":
			s, ok := v.(string)
			if !ok {
				add(k, "the name a deploy task registered it under", "want a model name, got %s", tasks.Describe(v))
				break
			}
			if err := cairn.ValidModelName(s); err != nil {
				add(k, "", "%v", err)
				break
			}
			p.Model = s
		case "source":
			s, _ := v.(string)
			if s != SourceData && s != SourcePredictions {
				add(k, "data: the data input; predictions: the rows cairn server sampled from the production model's prediction requests", "want data or predictions, got %s", tasks.Describe(v))
				break
			}
			p.Source = s
		case "reference_port":
			if s, ok := name(k, v); ok {
				p.ReferencePort = s
			}
		case "features":
			l, ok := v.([]any)
			if !ok || len(l) == 0 {
				add(k, "for example [age, income]; leave it out for the model's features", "want a non-empty list of column names, got %s", tasks.Describe(v))
				break
			}
			seen := map[string]bool{}
			for i, item := range l {
				if isRef(item) {
					continue
				}
				s, ok := item.(string)
				if !ok || s == "" {
					add(k, "", "item %d: want a column name, got %s", i, tasks.Describe(item))
					continue
				}
				if seen[s] {
					add(k, "list each column once", "item %d: %s is listed twice", i, s)
					continue
				}
				seen[s] = true
				p.Drift.Features = append(p.Drift.Features, s)
			}
		case "alpha":
			p.Drift.Alpha, _ = number(k, v, func(f float64) bool { return f > 0 && f <= 1 }, "a significance level in (0, 1]")
		case "psi_threshold":
			p.Drift.PSIThreshold, _ = number(k, v, func(f float64) bool { return f > 0 }, "a positive number")
		case "rule":
			s, _ := v.(string)
			switch r := drift.Rule(s); r {
			case drift.RuleBoth, drift.RuleEither, drift.RuleTest, drift.RulePSI:
				p.Drift.Rule = r
			default:
				add(k, "both: the test rejects and the PSI reaches its threshold; either; test; psi", "want both, either, test or psi, got %s", tasks.Describe(v))
			}
		case "min_drifted":
			p.Drift.MinDrifted, _ = integer(k, v, 1, 1<<20)
		case "bins":
			p.Drift.Bins, _ = integer(k, v, 2, 1000)
		case "label":
			p.Label, _ = name(k, v)
		case "metric":
			s, _ := v.(string)
			if _, err := model.LookupMetric(s); err != nil {
				add(k, "", "%v", err)
				break
			}
			p.Metric = s
		case "metric_drop":
			if f, ok := number(k, v, func(f float64) bool { return f >= 0 }, "a number ≥ 0"); ok {
				p.MetricDrop = f
			}
		default:
			hint := "params are " + strings.Join(paramNames, ", ")
			if near := tasks.Nearest(k, paramNames); near != "" {
				hint = fmt.Sprintf("did you mean %s?", near)
			}
			add(k, hint, "unknown param")
		}
	}
	if _, ok := m["model"]; !ok {
		add("model", "the name a deploy task registered the production version under", "model is required")
	}
	return p, errs
}
