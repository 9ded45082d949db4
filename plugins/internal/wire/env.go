package wire

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/tasks"
)

// EnvParam is the `with:` param the host adds to every plugin-served type:
// environment variables for the plugin's process during one attempt. It
// never reaches the plugin's own params; it travels in Start.env.
const EnvParam = "env"

// envParamInfo describes EnvParam as `cairn types` shows it.
func envParamInfo() cairn.ParamInfo {
	return cairn.ParamInfo{
		Name: EnvParam, Kind: cairn.KindMap,
		Doc: "environment variables NAME: value for the plugin's process during this attempt only " +
			"(values may be ${{ }} references; not logged, but stored with the params)",
	}
}

var envNameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`) })

// checkEnvName reports why name cannot be set by a task's env: param:
// not a portable variable name, or one the host or go-plugin relies on.
func checkEnvName(name string) (msg, hint string) {
	switch {
	case !envNameRE().MatchString(name):
		return fmt.Sprintf("%q is not a valid environment variable name", name), "letters, digits and _, not starting with a digit"
	case strings.HasPrefix(name, "CAIRN_"):
		return fmt.Sprintf("%s is reserved: names starting with CAIRN_ belong to cairn", name), "pick another name"
	case strings.HasPrefix(name, "PLUGIN_"):
		return fmt.Sprintf("%s is reserved: names starting with PLUGIN_ belong to the plugin transport (go-plugin)", name), "pick another name"
	}
	switch name {
	case "PATH", "HOME", "TMPDIR", "LANG":
		return fmt.Sprintf("%s is reserved: the host sets PATH, HOME, TMPDIR and LANG for every plugin process", name), "pick another name"
	}
	return "", ""
}

// validateEnv checks a task's env: param as written: a map of variable
// names to strings. A ${{ }} reference, as the whole map or as a value, is
// accepted here and checked again at run time (splitEnv).
func validateEnv(v any) []tasks.ParamError {
	if v == nil || tasks.IsRef(v) {
		return nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return []tasks.ParamError{{Key: EnvParam, Msg: fmt.Sprintf("want a map of NAME: value, got %s", tasks.Describe(v)),
			Hint: `for example env: {AWS_REGION: eu-west-1, API_TOKEN: "${{ params.token }}"}`}}
	}
	var errs []tasks.ParamError
	for _, name := range sortedKeys(m) {
		if msg, hint := checkEnvName(name); msg != "" {
			errs = append(errs, tasks.ParamError{Key: EnvParam, Msg: msg, Hint: hint})
			continue
		}
		switch s, isString := m[name].(string); {
		case !isString:
			errs = append(errs, tasks.ParamError{Key: EnvParam, Msg: fmt.Sprintf("%s: want a string, got %s", name, tasks.Describe(m[name])),
				Hint: "quote the value"})
		case strings.IndexByte(s, 0) >= 0:
			errs = append(errs, tasks.ParamError{Key: EnvParam, Msg: fmt.Sprintf("%s: the value holds a NUL byte, which no environment variable can", name)})
		}
	}
	return errs
}

// splitEnv takes the env: param out of an attempt's resolved params: the
// params the plugin's task gets (unchanged bytes when there is no env:)
// and the variables. A reference may have resolved to a number or a
// boolean, which is passed as its JSON text; any other non-string, or a
// name checkEnvName refuses, is an error.
func splitEnv(params json.RawMessage) (json.RawMessage, map[string]string, error) {
	if len(bytes.TrimSpace(params)) == 0 {
		return params, nil, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(params, &m); err != nil {
		return nil, nil, fmt.Errorf("params: want a JSON object: %w", err)
	}
	raw, ok := m[EnvParam]
	if !ok {
		return params, nil, nil
	}
	delete(m, EnvParam)
	rest, err := json.Marshal(m)
	if err != nil {
		return nil, nil, fmt.Errorf("params: %w", err)
	}
	var vals map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&vals); err != nil {
		// Not the value itself: it may be a secret that resolved to the
		// wrong shape.
		return nil, nil, fmt.Errorf("with.%s: want a map of NAME: value, got %s", EnvParam, jsonKind(raw))
	}
	if len(vals) == 0 {
		return rest, nil, nil
	}
	vars := make(map[string]string, len(vals))
	for _, name := range sortedKeys(vals) {
		if msg, _ := checkEnvName(name); msg != "" {
			return nil, nil, fmt.Errorf("with.%s: %s", EnvParam, msg)
		}
		var s string
		switch v := vals[name].(type) {
		case string:
			s = v
		case json.Number:
			s = v.String()
		case bool:
			s = fmt.Sprint(v)
		default:
			return nil, nil, fmt.Errorf("with.%s: %s: want a string, got %s", EnvParam, name, tasks.Describe(v))
		}
		if strings.IndexByte(s, 0) >= 0 {
			return nil, nil, fmt.Errorf("with.%s: %s: the value holds a NUL byte, which no environment variable can", EnvParam, name)
		}
		vars[name] = s
	}
	return rest, vars, nil
}

// setEnv sets vars in this process's environment and returns the function
// that puts back what was there before (the previous value, or unset).
// A process-wide change: the caller makes sure that nothing else runs a
// task in this process meanwhile.
func setEnv(vars map[string]string) (restore func(), err error) {
	type saved struct {
		name, value string
		had         bool
	}
	var prev []saved
	restore = func() {
		for i := len(prev) - 1; i >= 0; i-- {
			p := prev[i]
			if p.had {
				os.Setenv(p.name, p.value)
			} else {
				os.Unsetenv(p.name)
			}
		}
	}
	for _, name := range sortedKeys(vars) {
		v, had := os.LookupEnv(name)
		if err := os.Setenv(name, vars[name]); err != nil {
			restore()
			return nil, fmt.Errorf("set environment variable %s: %w", name, err)
		}
		prev = append(prev, saved{name, v, had})
	}
	return restore, nil
}

// jsonKind names the kind of a JSON value without quoting it.
func jsonKind(raw json.RawMessage) string {
	b := bytes.TrimSpace(raw)
	if len(b) == 0 {
		return "nothing"
	}
	switch b[0] {
	case '"':
		return "a string"
	case '[':
		return "a list"
	case 't', 'f':
		return "a boolean"
	case '{':
		return "a malformed map"
	}
	return "a number"
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
