package shell

import (
	"fmt"
	"math"
	"time"

	"github.com/cairnml/cairn/tasks"
)

// ValidateParams checks what Info's kinds cannot: argv or script, exactly
// one; argv's elements and env values are scalars (strings, numbers, bools); env names are valid
// names; outputs are identifiers mapped to relative paths inside workdir;
// exit codes are 0-255; durations are not negative. A string holding a
// ${{ }} reference is accepted wherever its value may later fit.
func (*Task) ValidateParams(params map[string]any) []tasks.ParamError {
	var errs []tasks.ParamError
	add := func(key, hint, format string, args ...any) {
		errs = append(errs, tasks.ParamError{Key: key, Msg: fmt.Sprintf(format, args...), Hint: hint})
	}
	argv, hasArgv := params["argv"]
	script, hasScript := params["script"]
	switch {
	case hasArgv && hasScript:
		add("", "keep argv to run a program directly, or script to run /bin/sh", "argv and script are exclusive")
	case !hasArgv && !hasScript:
		add("", `for example argv: [python, train.py] or script: "make all"`, "one of argv or script is required")
	}
	if hasArgv && !tasks.IsRef(argv) {
		if list, ok := asList(argv); !ok {
			add("argv", "", "want a list of strings, got %s", describe(argv))
		} else if len(list) == 0 {
			add("argv", "", "empty: name the program to run")
		} else {
			for i, el := range list {
				if !isScalar(el) {
					add("argv", "", "element %d is %s, want a string, number or bool", i, describe(el))
				}
			}
			if s, ok := list[0].(string); ok && s == "" {
				add("argv", "", "empty program name")
			}
		}
	}
	if s, ok := script.(string); hasScript && !ok {
		add("script", "", "want a string, got %s", describe(script))
	} else if hasScript {
		if off, msg, hint, ok := checkScriptRefs(s); !ok {
			errs = append(errs, tasks.ParamError{Key: "script", Msg: msg, Hint: hint, At: off + 1})
		}
	}
	if v, ok := params["env"]; ok && !tasks.IsRef(v) {
		if m, ok := asMap(v); !ok {
			add("env", "", "want a map of names to strings, got %s", describe(v))
		} else {
			for _, k := range sortedKeys(m) {
				if err := checkEnvName(k); err != nil {
					add("env", "", "%v", err)
				}
				if !isScalar(m[k]) {
					add("env", "", "%s is %s, want a string, number or bool", k, describe(m[k]))
				}
			}
		}
	}
	if v, ok := params["outputs"]; ok && !tasks.IsRef(v) {
		if m, ok := asMap(v); !ok {
			add("outputs", "", "want a map of output names to file paths, got %s", describe(v))
		} else {
			paths := map[string]string{}
			for _, k := range sortedKeys(m) {
				s, ok := m[k].(string)
				if !ok {
					add("outputs", "", "%s is %s, want a file path", k, describe(m[k]))
					continue
				}
				if !tasks.IsRef(s) {
					paths[k] = s
				}
			}
			if err := checkOutputs(paths); err != nil {
				add("outputs", "", "%v", err)
			}
		}
	}
	if v, ok := params["values"]; ok && !tasks.IsRef(v) {
		if m, ok := asMap(v); !ok {
			add("values", "", "want a map of output names to file paths, got %s", describe(v))
		} else {
			paths := map[string]string{}
			for _, k := range sortedKeys(m) {
				s, ok := m[k].(string)
				if !ok {
					add("values", "", "%s is %s, want a file path", k, describe(m[k]))
					continue
				}
				if !tasks.IsRef(s) {
					paths[k] = s
				}
			}
			outs := map[string]string{}
			if om, ok := asMap(params["outputs"]); ok {
				for k := range om {
					outs[k] = ""
				}
			}
			if err := checkValues(paths, outs); err != nil {
				add("values", "", "%v", err)
			}
		}
	}
	if v, ok := params["success_exit_codes"]; ok && !tasks.IsRef(v) {
		if list, ok := asList(v); !ok {
			add("success_exit_codes", "", "want a list of integers, got %s", describe(v))
		} else {
			for i, el := range list {
				if f, ok := tasks.Number(el); !ok || f != math.Trunc(f) || f < 0 || f > 255 {
					add("success_exit_codes", "", "element %d is %s, want an integer from 0 to 255", i, describe(el))
				}
			}
		}
	}
	for _, k := range []string{"timeout", "kill_grace"} {
		if s, ok := params[k].(string); ok && !tasks.IsRef(s) {
			if d, err := time.ParseDuration(s); err != nil {
				add(k, `for example "90s" or "1h30m"`, "%q is not a duration", s)
			} else if d < 0 {
				add(k, "", "negative duration %s", s)
			}
		}
	}
	return errs
}

func asList(v any) ([]any, bool) {
	switch l := v.(type) {
	case []any:
		return l, true
	case []string:
		out := make([]any, len(l))
		for i, s := range l {
			out[i] = s
		}
		return out, true
	}
	return nil, false
}

func asMap(v any) (map[string]any, bool) {
	switch m := v.(type) {
	case map[string]any:
		return m, true
	case map[string]string:
		out := make(map[string]any, len(m))
		for k, s := range m {
			out[k] = s
		}
		return out, true
	}
	return nil, false
}

func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return fmt.Sprintf("the string %q", x)
	case bool:
		return fmt.Sprintf("the boolean %v", x)
	case []any, []string:
		return "a list"
	case map[string]any, map[string]string:
		return "a map"
	}
	if _, ok := tasks.Number(v); ok {
		return fmt.Sprintf("the number %v", v)
	}
	return fmt.Sprintf("a %T", v)
}

// isScalar reports whether v can be passed as text: a string, number or bool.
func isScalar(v any) bool {
	switch v.(type) {
	case string, bool, int, int64, uint64, float64:
		return true
	}
	return false
}
