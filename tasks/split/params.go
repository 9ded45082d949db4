package split

import (
	"fmt"
	"sort"
	"strings"

	"github.com/cairnml/cairn/tasks"
)

// Strategies.
const (
	Random     = "random"
	Stratified = "stratified"
	Time       = "time"
)

// Defaults.
const (
	DefaultTestSize = 0.2
	DefaultStrategy = Random
)

// params are the decoded `with:` params. refs marks keys that still hold a
// ${{ }} reference (at validation time only).
type params struct {
	Strategy   string
	Label      string
	TimeColumn string
	TestSize   float64
	ValSize    float64
	Seed       uint64
	refs       map[string]bool
}

var paramNames = []string{"strategy", "label", "time_column", "test_size", "validation_size", "seed"}

// ValidateParams checks the params as written: kinds, ranges (test_size in
// (0, 1), validation_size in [0, 1), their sum below 1, seed a non-negative
// integer), the strategy name, and the combinations (stratified needs a
// label, time needs a time_column, time_column is for time only). A string
// holding a ${{ }} reference is accepted in any param, and the checks that
// depend on it are left to Run.
func (*Task) ValidateParams(m map[string]any) []tasks.ParamError {
	_, errs := parseParams(m, true)
	return errs
}

// parseParams decodes and checks m. With allowRefs, strings holding ${{
// are accepted for any key and skipped.
func parseParams(m map[string]any, allowRefs bool) (params, []tasks.ParamError) {
	p := params{Strategy: DefaultStrategy, TestSize: DefaultTestSize, refs: map[string]bool{}}
	var errs []tasks.ParamError
	add := func(key, hint, format string, args ...any) {
		errs = append(errs, tasks.ParamError{Key: key, Msg: fmt.Sprintf(format, args...), Hint: hint})
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	has := map[string]bool{}
	for _, k := range keys {
		v := m[k]
		if allowRefs && tasks.IsRef(v) {
			p.refs[k] = true
			has[k] = true
			continue
		}
		switch k {
		case "strategy":
			s, ok := v.(string)
			switch {
			case !ok:
				add(k, "", "want a string, got %s", tasks.Describe(v))
			case s != Random && s != Stratified && s != Time:
				add(k, "one of random, stratified, time", "unknown strategy %q", s)
			default:
				p.Strategy = s
			}
		case "label", "time_column":
			s, ok := v.(string)
			switch {
			case !ok:
				add(k, "", "want a column name (a string), got %s", tasks.Describe(v))
			case s == "":
				add(k, "name a column of the data set, or leave the param out", "empty column name")
			case k == "label":
				p.Label = s
			default:
				p.TimeColumn = s
			}
		case "test_size":
			f, ok := tasks.Number(v)
			switch {
			case !ok:
				add(k, "", "want a number, got %s", tasks.Describe(v))
			case !(f > 0 && f < 1):
				add(k, "for example 0.2 for a fifth of the rows", "%v is not a fraction in (0, 1)", f)
			default:
				p.TestSize = f
			}
		case "validation_size":
			f, ok := tasks.Number(v)
			switch {
			case !ok:
				add(k, "", "want a number, got %s", tasks.Describe(v))
			case !(f >= 0 && f < 1):
				add(k, "0 for no validation part", "%v is not a fraction in [0, 1)", f)
			default:
				p.ValSize = f
			}
		case "seed":
			s, ok := tasks.Seed(v)
			if !ok {
				add(k, "", "want a non-negative integer, got %s", tasks.Describe(v))
			} else {
				p.Seed = s
			}
		default:
			hint := "params are " + strings.Join(paramNames, ", ")
			if near := tasks.Nearest(k, paramNames); near != "" {
				hint = fmt.Sprintf("did you mean %s?", near)
			}
			add(k, hint, "unknown param")
			continue
		}
		has[k] = true
	}
	if !p.refs["strategy"] {
		switch p.Strategy {
		case Stratified:
			if !has["label"] {
				add("label", "name the class column, for example label: species", "required for strategy stratified")
			}
		case Time:
			if !has["time_column"] {
				add("time_column", "name a numeric or datetime column", "required for strategy time")
			}
		}
		if has["time_column"] && p.Strategy != Time {
			add("time_column", "set strategy: time, or leave time_column out", "applies to strategy time only (strategy is %s)", p.Strategy)
		}
	}
	if !p.refs["test_size"] && !p.refs["validation_size"] && p.TestSize+p.ValSize >= 1 {
		add("validation_size", "lower test_size or validation_size", "test_size %v + validation_size %v >= 1 leaves no training rows", p.TestSize, p.ValSize)
	}
	return p, errs
}
