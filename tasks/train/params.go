package train

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/tasks"
	"github.com/cairnml/cairn/tasks/ml/features"
	"github.com/cairnml/cairn/tasks/ml/model"
)

// Pipeline is the part of the params that train and tune share: which
// model pipeline is fitted (everything but the hyperparameters). tune
// takes the same keys, so that the pipeline it cross-validates is the one
// train fits.
type Pipeline struct {
	// Spec is the pipeline as far as the params give it; its Hyperparams
	// are left to the task.
	Spec model.Spec
	// Refs marks the keys that still hold a ${{ }} reference (at
	// validation time only); checks that need their values are skipped.
	Refs map[string]bool
	has  map[string]bool
}

var pipelineKeys = []string{"model", "label", "exclude", "impute_numeric", "impute_categorical", "impute", "standardize", "clip_outliers", "class_weight", "kind", "seed"}

// PipelineParams describes the pipeline params, for a task's Info.
func PipelineParams() []cairn.ParamInfo {
	return []cairn.ParamInfo{
		{Name: "model", Kind: cairn.KindString, Required: true, Doc: "the algorithm: " + strings.Join(model.Algorithms(), ", ")},
		{Name: "label", Kind: cairn.KindString, Required: true, Doc: "the column to predict; every other column is a feature unless excluded"},
		{Name: "exclude", Kind: cairn.KindList, Doc: "columns that are not features (ids, leaky columns)"},
		{Name: "impute_numeric", Kind: cairn.KindAny, Default: features.Mean, Doc: "how missing values of numeric and datetime features are filled, learnt from the training rows: mean, median, most_frequent, or {strategy: constant, value: 0}"},
		{Name: "impute_categorical", Kind: cairn.KindAny, Default: features.MostFrequent, Doc: "how missing values of categorical and boolean features are filled: most_frequent, or {strategy: constant, value: \"missing\"}"},
		{Name: "impute", Kind: cairn.KindMap, Doc: "per-column imputation, column -> strategy (as impute_numeric or impute_categorical)"},
		{Name: "standardize", Kind: cairn.KindBool, Default: true, Doc: "scale numeric and datetime features to mean 0 and standard deviation 1 (learnt from the training rows); categories are one-hot encoded either way"},
		{Name: "clip_outliers", Kind: cairn.KindAny, Default: ClipNone, Doc: "clip numeric and datetime features to bounds learnt from the training rows (after imputation, before standardization; a test row's outliers are clipped to the training bounds): none, iqr (Q1 - 1.5·IQR, Q3 + 1.5·IQR), {method: iqr, k: 3}, or {method: quantile, low: 0.01, high: 0.99}"},
		{Name: "class_weight", Kind: cairn.KindAny, Doc: "classification only: balanced (weights n / (classes × class count)) or a map class -> weight > 0 (classes not listed weigh 1)"},
		{Name: "kind", Kind: cairn.KindString, Doc: "classification or regression; by default logistic_regression classifies, linear_regression and ridge regress, and a tree or forest classifies a categorical or boolean label or one with at most 20 distinct integers, and regresses any other number"},
		{Name: "seed", Kind: cairn.KindInt, Default: 0, Doc: "seed of the random forest (bootstrap samples, feature draws) and of a tree's feature draws (a non-negative integer); the same seed gives the same model"},
	}
}

// NewPipeline returns the defaults: standardization on, seed 0.
func NewPipeline() *Pipeline {
	return &Pipeline{Spec: model.Spec{Preprocess: features.Spec{Standardize: true}}, Refs: map[string]bool{}, has: map[string]bool{}}
}

// Param reads pipeline key k. It reports false for a key that is not a
// pipeline key, and otherwise the problems with its value. With allowRefs,
// a value holding a ${{ }} reference is accepted unread.
func (p *Pipeline) Param(k string, v any, allowRefs bool) (bool, []tasks.ParamError) {
	isKey := false
	for _, pk := range pipelineKeys {
		isKey = isKey || pk == k
	}
	if !isKey {
		return false, nil
	}
	p.has[k] = true
	if allowRefs && tasks.IsRef(v) {
		p.Refs[k] = true
		return true, nil
	}
	var errs []tasks.ParamError
	add := func(hint, format string, args ...any) {
		errs = append(errs, tasks.ParamError{Key: k, Msg: fmt.Sprintf(format, args...), Hint: hint})
	}
	spec := &p.Spec
	switch k {
	case "model":
		s, ok := v.(string)
		if !ok {
			add("one of "+strings.Join(model.Algorithms(), ", "), "want an algorithm name, got %s", tasks.Describe(v))
		} else if err := model.CheckAlgorithm(s); err != nil {
			hint := "one of " + strings.Join(model.Algorithms(), ", ")
			if near := tasks.Nearest(s, model.Algorithms()); near != "" {
				hint = fmt.Sprintf("did you mean %s?", near)
			}
			add(hint, "unknown model %q", s)
		} else {
			spec.Algorithm = s
		}
	case "label":
		s, ok := v.(string)
		switch {
		case !ok:
			add("", "want a column name (a string), got %s", tasks.Describe(v))
		case s == "":
			add("name the column to predict", "empty column name")
		default:
			spec.Preprocess.Label = s
		}
	case "exclude":
		list, ok := v.([]any)
		if !ok {
			add("for example exclude: [id]", "want a list of column names, got %s", tasks.Describe(v))
			break
		}
		for i, e := range list {
			s, ok := e.(string)
			if !ok || s == "" {
				add("", "entry %d: want a column name, got %s", i, tasks.Describe(e))
				continue
			}
			spec.Preprocess.Exclude = append(spec.Preprocess.Exclude, s)
		}
	case "impute_numeric", "impute_categorical":
		imp, msg, hint := imputer(v, k == "impute_numeric")
		if msg != "" {
			add(hint, "%s", msg)
		} else if k == "impute_numeric" {
			spec.Preprocess.DefaultNumericImpute = imp
		} else {
			spec.Preprocess.DefaultCategoricalImpute = imp
		}
	case "impute":
		m, ok := v.(map[string]any)
		if !ok {
			add("for example impute: {age: median, city: {strategy: constant, value: unknown}}", "want a map column -> strategy, got %s", tasks.Describe(v))
			break
		}
		spec.Preprocess.Impute = map[string]features.Imputer{}
		for _, col := range sortedKeys(m) {
			if allowRefs && tasks.IsRef(m[col]) {
				continue
			}
			imp, msg, hint := imputer(m[col], true)
			if msg != "" {
				errs = append(errs, tasks.ParamError{Key: k, Msg: fmt.Sprintf("column %q: %s", col, msg), Hint: hint})
				continue
			}
			spec.Preprocess.Impute[col] = imp
		}
	case "standardize":
		b, ok := v.(bool)
		if !ok {
			add("", "want true or false, got %s", tasks.Describe(v))
		} else {
			spec.Preprocess.Standardize = b
		}
	case "clip_outliers":
		c, cerrs := clipParam(v, allowRefs)
		for _, e := range cerrs {
			errs = append(errs, tasks.ParamError{Key: k, Msg: e.Msg, Hint: e.Hint})
		}
		if len(cerrs) == 0 {
			spec.Preprocess.Clip = c
		}
	case "class_weight":
		switch cw := v.(type) {
		case string:
			if cw != "balanced" {
				add(`balanced, or a map such as {"1": 5}`, "unknown class weighting %q", cw)
			} else {
				spec.ClassWeight = model.ClassWeight{Balanced: true}
			}
		case map[string]any:
			w := map[string]float64{}
			for _, c := range sortedKeys(cw) {
				if allowRefs && tasks.IsRef(cw[c]) {
					continue
				}
				f, ok := tasks.Number(cw[c])
				if !ok || !(f > 0) {
					add("weights are finite numbers > 0", "class %q: weight %s", c, tasks.Describe(cw[c]))
					continue
				}
				w[c] = f
			}
			spec.ClassWeight = model.ClassWeight{Weights: w}
		default:
			add(`balanced, or a map class -> weight such as {"1": 5}`, "want balanced or a map, got %s", tasks.Describe(v))
		}
	case "kind":
		s, _ := v.(string)
		if s != string(model.Classification) && s != string(model.Regression) {
			add("classification or regression (or leave it out to infer it)", "unknown kind %s", tasks.Describe(v))
		} else {
			spec.Kind = model.Kind(s)
		}
	case "seed":
		s, ok := tasks.Seed(v)
		if !ok {
			add("", "want a non-negative integer, got %s", tasks.Describe(v))
		} else {
			spec.Seed = s
		}
	}
	return true, errs
}

// Check reports what is missing once every key is read: model and label.
func (p *Pipeline) Check() []tasks.ParamError {
	var errs []tasks.ParamError
	if !p.has["model"] {
		errs = append(errs, tasks.ParamError{Key: "model", Msg: "required", Hint: "one of " + strings.Join(model.Algorithms(), ", ")})
	}
	if !p.has["label"] {
		errs = append(errs, tasks.ParamError{Key: "label", Msg: "required", Hint: "name the column to predict"})
	}
	algo, kind := p.Spec.Algorithm, p.Spec.Kind
	regression := algo == model.LinearRegression || algo == model.Ridge
	switch {
	case algo == model.LogisticRegression && kind == model.Regression:
		errs = append(errs, tasks.ParamError{Key: "kind", Msg: "logistic_regression is a classifier", Hint: "for a regression use linear_regression, ridge, decision_tree or random_forest"})
	case regression && kind == model.Classification:
		errs = append(errs, tasks.ParamError{Key: "kind", Msg: algo + " is a regression", Hint: "to classify use logistic_regression, decision_tree or random_forest"})
	case (regression || kind == model.Regression) && p.has["class_weight"] && !p.Refs["class_weight"]:
		errs = append(errs, tasks.ParamError{Key: "class_weight", Msg: "class weights apply to classification only", Hint: "leave class_weight out for a regression"})
	}
	return errs
}

// ClipNone is the clip_outliers value that clips nothing (the default).
const ClipNone = "none"

const clipHint = "none, iqr, {method: iqr, k: 3} or {method: quantile, low: 0.01, high: 0.99}"

// clipParam reads clip_outliers. With allowRefs, a field holding a ${{ }}
// reference is left unread, and the checks that need it are skipped.
func clipParam(v any, allowRefs bool) (features.Clip, []tasks.ParamError) {
	methods := []string{ClipNone, features.IQR, features.Quantile}
	var errs []tasks.ParamError
	add := func(hint, format string, args ...any) {
		errs = append(errs, tasks.ParamError{Msg: fmt.Sprintf(format, args...), Hint: hint})
	}
	method := func(s string) {
		if s == ClipNone || s == features.IQR || s == features.Quantile {
			return
		}
		hint := "one of " + strings.Join(methods, ", ")
		if near := tasks.Nearest(s, methods); near != "" {
			hint = fmt.Sprintf("did you mean %s?", near)
		}
		add(hint, "unknown method %q", s)
	}
	switch x := v.(type) {
	case string:
		method(x)
		switch {
		case len(errs) > 0:
			return features.Clip{}, errs
		case x == features.IQR:
			return features.Clip{Method: features.IQR, K: features.DefaultIQRK}, nil
		case x == features.Quantile:
			add("write {method: quantile, low: 0.01, high: 0.99}", "quantile needs low and high")
			return features.Clip{}, errs
		}
		return features.Clip{}, nil
	case map[string]any:
		var c features.Clip
		m, _ := x["method"].(string)
		switch {
		case x["method"] == nil:
			add(clipHint, "no method")
			return c, errs
		case allowRefs && tasks.IsRef(x["method"]):
			return c, nil // the rest depends on it
		case m == "":
			add(clipHint, "method: want a method name, got %s", tasks.Describe(x["method"]))
			return c, errs
		}
		method(m)
		if len(errs) > 0 {
			return c, errs
		}
		allowed := map[string][]string{ClipNone: nil, features.IQR: {"k"}, features.Quantile: {"low", "high"}}[m]
		nums := map[string]float64{}
		refs := map[string]bool{}
		for _, key := range sortedKeys(x) {
			if key == "method" {
				continue
			}
			if !slices.Contains(allowed, key) {
				hint := "method none takes no other key"
				if len(allowed) > 0 {
					hint = "method " + m + " takes " + strings.Join(allowed, " and ")
				}
				if !slices.Contains([]string{"k", "low", "high"}, key) {
					hint = "keys are method, k (iqr), low and high (quantile)"
					if near := tasks.Nearest(key, []string{"method", "k", "low", "high"}); near != "" {
						hint = fmt.Sprintf("did you mean %s?", near)
					}
				}
				add(hint, "unknown key %q for method %s", key, m)
				continue
			}
			val := x[key]
			if allowRefs && tasks.IsRef(val) {
				refs[key] = true
				continue
			}
			f, ok := tasks.Number(val)
			switch {
			case !ok:
				add("", "%s: want a number, got %s", key, tasks.Describe(val))
				continue
			case key == "k" && !(f > 0):
				add("1.5 is Tukey's usual fence, 3 a far one", "k %v: want a number > 0", f)
				continue
			case key != "k" && (f < 0 || f > 1):
				add("quantiles are in [0, 1], e.g. low: 0.01, high: 0.99", "%s %v: want a quantile in [0, 1]", key, f)
				continue
			}
			nums[key] = f
		}
		if len(errs) > 0 {
			return c, errs
		}
		switch m {
		case features.IQR:
			c = features.Clip{Method: m, K: features.DefaultIQRK}
			if k, ok := nums["k"]; ok {
				c.K = k
			}
		case features.Quantile:
			for _, key := range []string{"low", "high"} {
				if _, ok := nums[key]; !ok && !refs[key] {
					add("write {method: quantile, low: 0.01, high: 0.99}", "quantile needs %s", key)
				}
			}
			lo, okLo := nums["low"]
			hi, okHi := nums["high"]
			if okLo && okHi && !(lo < hi) {
				add("for example low: 0.01, high: 0.99", "low %v is not below high %v", lo, hi)
			}
			c = features.Clip{Method: m, Low: lo, High: hi}
		}
		if len(refs) > 0 {
			return features.Clip{}, errs // checked once resolved, at run time
		}
		return c, errs
	}
	return features.Clip{}, []tasks.ParamError{{Msg: fmt.Sprintf("want a method name or {method, ...}, got %s", tasks.Describe(v)), Hint: clipHint}}
}

// Keys returns the pipeline keys, for did-you-mean hints.
func Keys() []string { return append([]string(nil), pipelineKeys...) }

func imputer(v any, numericOK bool) (features.Imputer, string, string) {
	strategies := []string{features.MostFrequent, features.Constant}
	if numericOK {
		strategies = []string{features.Mean, features.Median, features.MostFrequent, features.Constant}
	}
	hint := "one of " + strings.Join(strategies, ", ") + "; constant as {strategy: constant, value: V}"
	valid := func(s string) bool {
		for _, x := range strategies {
			if x == s {
				return true
			}
		}
		return false
	}
	switch x := v.(type) {
	case string:
		if !valid(x) {
			if near := tasks.Nearest(x, strategies); near != "" {
				hint = fmt.Sprintf("did you mean %s?", near)
			}
			return features.Imputer{}, fmt.Sprintf("unknown strategy %q", x), hint
		}
		if x == features.Constant {
			return features.Imputer{}, "constant needs a value", "write {strategy: constant, value: 0}"
		}
		return features.Imputer{Strategy: x}, "", ""
	case map[string]any:
		var imp features.Imputer
		for _, k := range sortedKeys(x) {
			switch k {
			case "strategy":
				s, _ := x[k].(string)
				if !valid(s) {
					return imp, fmt.Sprintf("unknown strategy %s", tasks.Describe(x[k])), hint
				}
				imp.Strategy = s
			case "value":
				switch val := x[k].(type) {
				case string, bool:
					imp.Value = val
				default:
					f, ok := tasks.Number(val)
					if !ok {
						return imp, fmt.Sprintf("constant value %s: want a number, a string or a boolean", tasks.Describe(val)), hint
					}
					imp.Value = f
				}
			default:
				return imp, fmt.Sprintf("unknown key %q", k), "keys are strategy and value"
			}
		}
		if imp.Strategy == "" {
			return imp, "no strategy", hint
		}
		if imp.Strategy == features.Constant && imp.Value == nil {
			return imp, "constant needs a value", "write {strategy: constant, value: 0}"
		}
		if imp.Strategy != features.Constant && imp.Value != nil {
			return imp, "a value is for strategy constant only", hint
		}
		return imp, "", ""
	}
	return features.Imputer{}, fmt.Sprintf("want a strategy name or {strategy, value}, got %s", tasks.Describe(v)), hint
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// HyperparamErrors converts the model package's errors, under key.
func HyperparamErrors(key string, herrs []*model.HyperparamError) []tasks.ParamError {
	out := make([]tasks.ParamError, len(herrs))
	for i, e := range herrs {
		out[i] = tasks.ParamError{Key: key, Msg: e.Name + ": " + e.Msg, Hint: e.Hint}
	}
	return out
}
