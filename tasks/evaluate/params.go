package evaluate

import (
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/cairnml/cairn/tasks"
	"github.com/cairnml/cairn/tasks/ml/dataset"
)

// Defaults.
const (
	DefaultROCPoints = 200
	MaxROCPoints     = 100_000
)

var paramNames = []string{"metrics", "gate", "fail_on_gate", "positive", "roc_points"}

// Condition is one comparison of a gate: Metric Op Value.
type Condition struct {
	Metric string  `json:"metric"`
	Op     string  `json:"op"`
	Value  float64 `json:"value"`
}

// Holds reports whether v satisfies the condition.
func (c Condition) Holds(v float64) bool {
	switch c.Op {
	case ">=":
		return v >= c.Value
	case ">":
		return v > c.Value
	case "<=":
		return v <= c.Value
	case "<":
		return v < c.Value
	case "==":
		return v == c.Value
	case "!=":
		return v != c.Value
	}
	return false
}

func (c Condition) String() string {
	return c.Metric + " " + c.Op + " " + strconv.FormatFloat(c.Value, 'g', -1, 64)
}

// GateResult is a condition and how the test set fared.
type GateResult struct {
	Condition
	// Actual is the metric's value; absent when it is not defined.
	Actual *float64 `json:"actual,omitempty"`
	Passed bool     `json:"passed"`
	// Reason says why an undefined metric failed the condition.
	Reason string `json:"reason,omitempty"`
}

var condRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^\s*(>=|<=|==|!=|>|<)\s*(\S+)\s*$`) })

// ParseCondition parses a gate entry: metric and an expression such as
// ">= 0.9" or "< 0.3" (operators >=, >, <=, <, ==, !=; a finite number).
// The metric must be one evaluate knows.
func ParseCondition(metric, expr string) (Condition, error) {
	if _, ok := LookupMetric(metric); !ok {
		return Condition{}, unknownMetric(metric)
	}
	m := condRE().FindStringSubmatch(expr)
	if m == nil {
		return Condition{}, fmt.Errorf("gate %s: %q is not a comparison: write an operator (>=, >, <=, <, ==, !=) and a number, for example \">= 0.9\"", metric, expr)
	}
	v, err := strconv.ParseFloat(m[2], 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return Condition{}, fmt.Errorf("gate %s: %q in %q is not a finite number", metric, m[2], expr)
	}
	return Condition{Metric: metric, Op: m[1], Value: v}, nil
}

func unknownMetric(name string) error {
	msg := fmt.Sprintf("unknown metric %q", name)
	if near := tasks.Nearest(name, MetricNames()); near != "" {
		msg += fmt.Sprintf(" (did you mean %s?)", near)
	}
	return fmt.Errorf("%s; metrics: %s", msg, strings.Join(MetricNames(), ", "))
}

// params are the decoded `with:` params.
type params struct {
	Metrics    []string // nil: all that apply
	Gate       []Condition
	FailOnGate bool
	Positive   *string
	ROCPoints  int
}

// ValidateParams checks the params as written: metric names (with the
// nearest suggested), every gate condition parsed, positive a scalar,
// roc_points in range. A ${{ }} reference is accepted for any param and
// checked at run time.
func (*Task) ValidateParams(m map[string]any) []tasks.ParamError {
	_, errs := parseParams(m, true)
	return errs
}

func parseParams(m map[string]any, allowRefs bool) (params, []tasks.ParamError) {
	p := params{ROCPoints: DefaultROCPoints}
	var errs []tasks.ParamError
	add := func(key, hint, format string, args ...any) {
		errs = append(errs, tasks.ParamError{Key: key, Msg: fmt.Sprintf(format, args...), Hint: hint})
	}
	isRef := func(v any) bool {
		s, ok := v.(string)
		return allowRefs && ok && strings.Contains(s, "${{")
	}
	for _, k := range sortedKeys(m) {
		v := m[k]
		if isRef(v) {
			continue
		}
		switch k {
		case "metrics":
			l, ok := v.([]any)
			if !ok {
				add(k, "for example [accuracy, f1, roc_auc]", "want a list of metric names, got %s", tasks.Describe(v))
				break
			}
			p.Metrics = []string{}
			seen := map[string]bool{}
			for i, item := range l {
				if isRef(item) {
					continue
				}
				s, ok := item.(string)
				if !ok {
					add(k, "", "item %d: want a metric name, got %s", i, tasks.Describe(item))
					continue
				}
				if _, ok := LookupMetric(s); !ok {
					add(k, "", "item %d: %v", i, unknownMetric(s))
					continue
				}
				if seen[s] {
					add(k, "list each metric once", "item %d: %s is listed twice", i, s)
					continue
				}
				seen[s] = true
				p.Metrics = append(p.Metrics, s)
			}
		case "gate":
			gm, ok := v.(map[string]any)
			if !ok {
				add(k, `for example {f1: ">= 0.9", log_loss: "< 0.3"}`, "want a map of metric to comparison, got %s", tasks.Describe(v))
				break
			}
			for _, name := range sortedKeys(gm) {
				ev := gm[name]
				if isRef(ev) {
					continue
				}
				s, ok := ev.(string)
				if !ok {
					hint := `write the comparison as a string, for example ">= 0.9"`
					if f, isNum := tasks.Number(ev); isNum {
						hint = fmt.Sprintf(`write the comparison as a string, for example ">= %v"`, f)
					}
					add(k, hint, "%s: want a comparison such as \">= 0.9\", got %s", name, tasks.Describe(ev))
					continue
				}
				c, err := ParseCondition(name, s)
				if err != nil {
					add(k, "", "%v", err)
					continue
				}
				p.Gate = append(p.Gate, c)
			}
		case "fail_on_gate":
			b, ok := v.(bool)
			if !ok {
				add(k, "", "want true or false, got %s", tasks.Describe(v))
				break
			}
			p.FailOnGate = b
		case "positive":
			var s string
			switch x := v.(type) {
			case string:
				s = x
			case bool:
				s = strconv.FormatBool(x)
			default:
				f, ok := tasks.Number(v)
				if !ok {
					add(k, "a class label of the model, for example 1 or malignant", "want a class label, got %s", tasks.Describe(v))
					continue
				}
				s = dataset.FormatNumber(f) // the spelling of the model's numeric classes
			}
			p.Positive = &s
		case "roc_points":
			f, ok := tasks.Number(v)
			if !ok || f != math.Trunc(f) || f < 2 || f > MaxROCPoints {
				add(k, "", "want an integer in 2 .. %d, got %s", MaxROCPoints, tasks.Describe(v))
				break
			}
			p.ROCPoints = int(f)
		default:
			hint := "params are " + strings.Join(paramNames, ", ")
			if near := tasks.Nearest(k, paramNames); near != "" {
				hint = fmt.Sprintf("did you mean %s?", near)
			}
			add(k, hint, "unknown param")
		}
	}
	return p, errs
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
