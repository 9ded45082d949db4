package model

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/cairnml/cairn/tasks"
	"github.com/cairnml/cairn/tasks/ml/linear"
	"github.com/cairnml/cairn/tasks/ml/tree"
)

// The algorithms Fit knows.
const (
	LinearRegression   = "linear_regression"
	Ridge              = "ridge"
	LogisticRegression = "logistic_regression"
	DecisionTree       = "decision_tree"
	RandomForest       = "random_forest"
)

// Algorithms returns the algorithm names, sorted.
func Algorithms() []string {
	return []string{DecisionTree, LinearRegression, LogisticRegression, RandomForest, Ridge}
}

// CheckAlgorithm returns nil if name is an algorithm, or an error wrapping
// ErrAlgorithm that suggests the nearest name.
func CheckAlgorithm(name string) error {
	if slices.Contains(Algorithms(), name) {
		return nil
	}
	msg := fmt.Sprintf("unknown model %q", name)
	if near := tasks.Nearest(name, Algorithms()); near != "" {
		msg += fmt.Sprintf("; did you mean %q?", near)
	}
	return fmt.Errorf("%s (models: %s): %w", msg, strings.Join(Algorithms(), ", "), ErrAlgorithm)
}

// Value types of hyperparameters (HyperparamInfo.Type).
const (
	TypeFloat       = "float"
	TypeInt         = "int"
	TypeBool        = "bool"
	TypeString      = "string"
	TypeMaxFeatures = "max_features" // "sqrt", "log2", "all", an int count or a fraction in (0, 1]
)

// HyperparamInfo describes one hyperparameter of an algorithm.
type HyperparamInfo struct {
	Name string `json:"name"`
	// Type is one of the Type constants.
	Type string `json:"type"`
	// Default is the value used when the hyperparameter is not given; nil
	// means "none" (max_depth: unlimited) or a default that depends on the
	// label (criterion, max_features).
	Default any    `json:"default"`
	Doc     string `json:"doc"`
	// Nullable says null is accepted (meaning the default).
	Nullable bool `json:"nullable,omitempty"`
	// Min and Max bound a number (inclusive unless MinOpen); Max 0 means
	// no upper bound.
	Min     float64 `json:"min"`
	MinOpen bool    `json:"min_open,omitempty"`
	Max     float64 `json:"max,omitempty"`
	// Choices are a string hyperparameter's values.
	Choices []string `json:"choices,omitempty"`
}

var treeParams = []HyperparamInfo{
	{Name: "criterion", Type: TypeString, Choices: []string{"entropy", "gini", "squared_error"}, Nullable: true,
		Doc: "split impurity: gini (default) or entropy for classification, squared_error (the only one) for regression"},
	{Name: "max_depth", Type: TypeInt, Min: 1, Nullable: true, Doc: "maximum depth of a tree (the root is depth 0); null for unlimited (the default)"},
	{Name: "max_features", Type: TypeMaxFeatures, Nullable: true,
		Doc: "features tried per split: sqrt, log2, all, a count >= 1 or a fraction in (0, 1]; default all for a tree, sqrt for a classification forest, all for a regression forest"},
	{Name: "min_samples_leaf", Type: TypeInt, Default: 1, Min: 1, Doc: "minimum number of training rows in each leaf"},
	{Name: "min_samples_split", Type: TypeInt, Default: 2, Min: 2, Doc: "minimum number of training rows a node needs to be split"},
}

// Hyperparams returns the hyperparameters of algorithm, sorted by name,
// or nil for an unknown algorithm (and for linear_regression, which has
// none).
func Hyperparams(algorithm string) []HyperparamInfo {
	switch algorithm {
	case Ridge:
		return []HyperparamInfo{{Name: "alpha", Type: TypeFloat, Default: 1.0, Min: 0, Doc: "L2 penalty strength, >= 0 (0 is ordinary least squares)"}}
	case LogisticRegression:
		return []HyperparamInfo{
			{Name: "C", Type: TypeFloat, Default: 1.0, Min: 0, MinOpen: true, Doc: "inverse L2 regularisation strength, > 0 (scikit-learn's C); smaller is stronger"},
			{Name: "ftol", Type: TypeFloat, Default: 2.220446049250313e-09, Min: 0, Doc: "L-BFGS also stops when an iteration lowers the objective by at most ftol relative (scipy's L-BFGS-B default, which scikit-learn uses); if the largest gradient entry is still above tol, Newton's method finishes the fit on problems small enough for a Hessian; 0 turns the test off"},
			{Name: "l2", Type: TypeFloat, Min: 0, MinOpen: true, Doc: "L2 penalty strength, > 0: the same as C = 1/l2 (give one of C and l2)"},
			{Name: "max_iter", Type: TypeInt, Default: 100, Min: 1, Doc: "maximum L-BFGS iterations"},
			{Name: "tol", Type: TypeFloat, Default: 1e-4, Min: 0, MinOpen: true, Doc: "stop when the largest gradient entry is at most tol"},
		}
	case DecisionTree:
		return slices.Clone(treeParams)
	case RandomForest:
		ps := slices.Clone(treeParams)
		ps = append(ps,
			HyperparamInfo{Name: "bootstrap", Type: TypeBool, Default: true, Doc: "fit each tree on a bootstrap sample of the rows (false: on every row)"},
			HyperparamInfo{Name: "n_estimators", Type: TypeInt, Default: 100, Min: 1, Max: 10000, Doc: "number of trees"},
		)
		sort.Slice(ps, func(i, j int) bool { return ps[i].Name < ps[j].Name })
		return ps
	}
	return nil
}

func hyperparamInfo(algorithm, name string) (HyperparamInfo, bool) {
	for _, h := range Hyperparams(algorithm) {
		if h.Name == name {
			return h, true
		}
	}
	return HyperparamInfo{}, false
}

// CheckHyperparam checks one hyperparameter value of algorithm (a Go or
// encoding/json value: numbers as int, int64, float64 or json.Number) and
// returns its canonical form: float64 for floats, int for ints, string,
// bool or nil; a max_features fraction of 1 becomes "all". The error names
// the hyperparameter and, for an unknown one, suggests the nearest name.
func CheckHyperparam(algorithm, name string, v any) (any, *HyperparamError) {
	h, ok := hyperparamInfo(algorithm, name)
	if !ok {
		names := make([]string, 0, 8)
		for _, h := range Hyperparams(algorithm) {
			names = append(names, h.Name)
		}
		hint := fmt.Sprintf("%s takes no hyperparameters", algorithm)
		if len(names) > 0 {
			hint = fmt.Sprintf("hyperparameters of %s: %s", algorithm, strings.Join(names, ", "))
			if near := tasks.Nearest(name, names); near != "" {
				hint = fmt.Sprintf("did you mean %s? %s", near, hint)
			}
		}
		return nil, &HyperparamError{Name: name, Msg: fmt.Sprintf("unknown hyperparameter for %s", algorithm), Hint: hint}
	}
	bad := func(format string, args ...any) (any, *HyperparamError) {
		return nil, &HyperparamError{Name: name, Msg: fmt.Sprintf(format, args...), Hint: h.Doc}
	}
	if v == nil {
		if h.Nullable {
			return nil, nil
		}
		return bad("null is not allowed")
	}
	switch h.Type {
	case TypeBool:
		b, ok := v.(bool)
		if !ok {
			return bad("want true or false, got %s", tasks.Describe(v))
		}
		return b, nil
	case TypeString:
		s, ok := v.(string)
		if !ok || !slices.Contains(h.Choices, s) {
			return bad("%s is not one of %s", tasks.Describe(v), strings.Join(h.Choices, ", "))
		}
		return s, nil
	case TypeFloat:
		f, ok := tasks.Number(v)
		if !ok {
			return bad("want a number, got %s", tasks.Describe(v))
		}
		if msg := h.outOfRange(f); msg != "" {
			return bad("%v %s", f, msg)
		}
		return f, nil
	case TypeInt:
		f, ok := tasks.Number(v)
		if !ok || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
			return bad("want an integer, got %s", tasks.Describe(v))
		}
		if msg := h.outOfRange(f); msg != "" {
			return bad("%v %s", f, msg)
		}
		return int(f), nil
	case TypeMaxFeatures:
		if s, ok := v.(string); ok {
			if s != "sqrt" && s != "log2" && s != "all" {
				return bad("%q is not one of sqrt, log2, all (or a count, or a fraction in (0, 1])", s)
			}
			return s, nil
		}
		f, ok := tasks.Number(v)
		if !ok {
			return bad("want sqrt, log2, all, a count or a fraction, got %s", tasks.Describe(v))
		}
		if isIntegral(v) {
			if f < 1 {
				return bad("count %v is below 1", f)
			}
			return int(f), nil
		}
		switch {
		case f == 1:
			return "all", nil
		case f > 0 && f < 1:
			return f, nil
		}
		return bad("fraction %v is not in (0, 1] (write a count as an integer)", f)
	}
	return bad("unsupported type %s", h.Type)
}

func (h HyperparamInfo) outOfRange(f float64) string {
	switch {
	case h.MinOpen && !(f > h.Min):
		return fmt.Sprintf("is out of range: want > %v", h.Min)
	case !h.MinOpen && f < h.Min:
		return fmt.Sprintf("is out of range: want >= %v", h.Min)
	case h.Max > 0 && f > h.Max:
		return fmt.Sprintf("is out of range: want <= %v", h.Max)
	}
	return ""
}

// isIntegral reports whether v is written as an integer: a Go integer, a
// json.Number without a fraction or exponent, or a float64 with an
// integer value (YAML and encoding/json without UseNumber cannot tell 2
// from 2.0).
func isIntegral(v any) bool {
	switch n := v.(type) {
	case int, int64, int32, uint, uint64, uint32:
		return true
	case json.Number:
		return !strings.ContainsAny(string(n), ".eE")
	case float64:
		return n == math.Trunc(n) && n != 1
	}
	return false
}

// ResolveHyperparams checks every hyperparameter in hp for algorithm and
// the combinations (C and l2 exclude each other), and returns the complete
// canonical set: each hyperparameter given, and the default of each one
// not given that has a default. l2 is kept as given; it is not turned into
// C. The errors are sorted by name.
func ResolveHyperparams(algorithm string, hp map[string]any) (map[string]any, []*HyperparamError) {
	if err := CheckAlgorithm(algorithm); err != nil {
		return nil, []*HyperparamError{{Name: "model", Msg: err.Error()}}
	}
	out := map[string]any{}
	var errs []*HyperparamError
	names := make([]string, 0, len(hp))
	for k := range hp {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		v, err := CheckHyperparam(algorithm, k, hp[k])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out[k] = v
	}
	if _, hasC := hp["C"]; hasC && algorithm == LogisticRegression {
		if _, hasL2 := hp["l2"]; hasL2 {
			errs = append(errs, &HyperparamError{Name: "l2", Msg: "l2 and C both given", Hint: "give one: C = 1/l2"})
		}
	}
	for _, h := range Hyperparams(algorithm) {
		if _, given := out[h.Name]; given || h.Default == nil {
			continue
		}
		if h.Name == "C" && out["l2"] != nil {
			continue
		}
		out[h.Name] = h.Default
	}
	return out, errs
}

// estimatorParams are the typed hyperparameters of one fit.
type estimatorParams struct {
	alpha    float64
	logistic linear.LogisticOptions
	tree     tree.Params
	forest   tree.ForestParams
}

// typed turns a resolved hyperparameter set into the estimator's params.
func typed(algorithm string, kind Kind, hp map[string]any) (estimatorParams, error) {
	var p estimatorParams
	num := func(k string) float64 { f, _ := tasks.Number(hp[k]); return f }
	switch algorithm {
	case Ridge:
		p.alpha = num("alpha")
	case LogisticRegression:
		p.logistic = linear.DefaultLogisticOptions()
		p.logistic.C = num("C")
		if hp["l2"] != nil {
			p.logistic.C = 1 / num("l2")
		}
		p.logistic.MaxIter = int(num("max_iter"))
		p.logistic.Tol = num("tol")
		p.logistic.FTol = num("ftol")
		if p.logistic.FTol == 0 {
			p.logistic.FTol = -1 // linear's "off"
		}
	case DecisionTree, RandomForest:
		tp := tree.Params{MinSamplesLeaf: int(num("min_samples_leaf")), MinSamplesSplit: int(num("min_samples_split"))}
		if hp["max_depth"] != nil {
			tp.MaxDepth = int(num("max_depth"))
		}
		if c, ok := hp["criterion"].(string); ok {
			if (kind == Regression) != (c == "squared_error") {
				want := "gini or entropy"
				if kind == Regression {
					want = "squared_error"
				}
				return p, &HyperparamError{Name: "criterion", Msg: fmt.Sprintf("%q does not apply to %s", c, kind), Hint: "for " + string(kind) + " use " + want}
			}
			tp.Criterion = tree.Criterion(c)
		}
		switch mf := hp["max_features"].(type) {
		case string:
			tp.MaxFeatures.Rule = mf
		case int:
			tp.MaxFeatures.Count = mf
		case float64:
			tp.MaxFeatures.Fraction = mf
		}
		if algorithm == DecisionTree {
			p.tree = tp
			break
		}
		p.forest = tree.ForestParams{Tree: tp, NEstimators: int(num("n_estimators")), NoBootstrap: hp["bootstrap"] == false}
	}
	return p, nil
}
