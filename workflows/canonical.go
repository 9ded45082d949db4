package workflows

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/cairnml/cairn/tasks"
	"math/big"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/cairnml/cairn"
)

// Canonical returns the normalized spec as deterministic JSON: defaults
// applied to every task, keys sorted, params sorted by name, needs sorted,
// durations in Go's form, no comments or layout. It is itself a valid
// workflow file that parses to the same Canonical form. Digest hashes it.
func (w *Workflow) Canonical() []byte {
	top := map[string]any{"name": w.Name}
	if w.Description != "" {
		top["description"] = w.Description
	}
	if w.MaxActive != 0 {
		top["concurrency"] = w.MaxActive
	}
	if w.MaxActiveRuns != 0 {
		// Only when set: the digests of workflows without it stay what
		// they were (resume compares them).
		top["max_active_runs"] = w.MaxActiveRuns
	}
	if len(w.Params) > 0 {
		params := map[string]any{}
		for _, d := range w.Params {
			m := map[string]any{"type": string(d.Type), "required": d.Required}
			if d.Default != nil {
				m["default"] = d.Default
			}
			if d.Description != "" {
				m["description"] = d.Description
			}
			if d.Secret {
				m["secret"] = true
			}
			params[d.Name] = m
		}
		top["params"] = params
	}
	if s := w.Schedule; s != nil {
		top["schedule"] = map[string]any{"cron": s.Cron, "timezone": s.Timezone, "catchup": string(s.Catchup)}
	}
	taskList := make([]any, 0, len(w.Tasks))
	for _, t := range w.Tasks {
		m := map[string]any{
			"id":            t.ID,
			"type":          t.Type,
			"retries":       t.Retry.Retries,
			"retry_backoff": canonicalBackoff(t.Retry),
			"timeout":       t.Timeout.String(),
		}
		if t.Retry.MaxInterruptions != 0 {
			// Only when set: the digests of workflows without it stay
			// what they were (resume compares them).
			m["max_interruptions"] = t.Retry.MaxInterruptions
		}
		if t.Description != "" {
			m["description"] = t.Description
		}
		if len(t.With) > 0 {
			m["with"] = canonicalValue(t.With)
		}
		if len(t.Inputs) > 0 {
			in := make(map[string]any, len(t.Inputs))
			for k, v := range t.Inputs {
				in[k] = canonicalValue(v)
			}
			m["inputs"] = in
		}
		if len(t.Needs) > 0 {
			needs := append([]string(nil), t.Needs...)
			sort.Strings(needs)
			m["needs"] = needs
		}
		if t.When != "" {
			m["when"] = t.When
		}
		taskList = append(taskList, m)
	}
	top["tasks"] = taskList
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(top); err != nil {
		// Only values Parse produced are here; they always encode.
		panic(fmt.Sprintf("workflows: canonical form: %v", err))
	}
	return bytes.TrimRight(buf.Bytes(), "\n")
}

// canonicalValue rewrites every template in v in one spelling:
// "${{ params.x }}" however it was spaced.
func canonicalValue(v any) any {
	switch v := v.(type) {
	case string:
		if !hasTemplate(v) {
			return v
		}
		t, err := parseTemplate(v)
		if err != nil {
			return v
		}
		var b strings.Builder
		for _, seg := range t {
			if seg.ref != nil {
				b.WriteString("${{ " + seg.ref.String() + " }}")
			} else {
				b.WriteString(strings.ReplaceAll(seg.lit, "${{", "$${{"))
			}
		}
		return b.String()
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = canonicalValue(x)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = canonicalValue(x)
		}
		return out
	}
	return v
}

func canonicalBackoff(p cairn.RetryPolicy) map[string]any {
	return map[string]any{
		"delay":  p.Backoff.String(),
		"factor": p.Factor,
		"max":    p.MaxBackoff.String(),
	}
}

// BindParams returns the run's params: every declared param with its
// default, overridden by overrides (the text of `-p key=value` flags,
// parsed to the declared type: JSON or YAML flow syntax for lists and
// maps; an int beyond int64 is kept exactly, as a json.Number). The error
// lists every problem: an unknown param (with the nearest name), a value
// that is not valid UTF-8 or of the wrong type, or a required param left
// without a value.
func (w *Workflow) BindParams(overrides map[string]string) (map[string]any, error) {
	out := make(map[string]any, len(w.Params))
	var problems []string
	byParam := map[string]string{}
	problem := func(name, msg string) {
		problems = append(problems, msg)
		byParam[name] = msg
	}
	names := make([]string, len(w.Params))
	for i, d := range w.Params {
		names[i] = d.Name
	}
	for _, k := range sortedKeys(overrides) {
		d, ok := w.Param(k)
		if !ok {
			msg := fmt.Sprintf("unknown param %q", k)
			if s := tasks.Nearest(k, names); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			} else if len(names) > 0 {
				msg += " (params: " + strings.Join(names, ", ") + ")"
			} else {
				msg += " (the workflow declares no params)"
			}
			problem(k, msg)
			continue
		}
		if !utf8.ValidString(overrides[k]) {
			// JSON would silently replace the bad bytes with U+FFFD.
			problem(k, fmt.Sprintf("param %q: the value is not valid UTF-8; pass UTF-8 text (convert it first, for example with iconv -t UTF-8)", k))
			continue
		}
		v, err := parseParamValue(d.Type, overrides[k])
		if err != nil {
			problem(k, fmt.Sprintf("param %q: %v", k, err))
			continue
		}
		out[k] = v
	}
	for _, d := range w.Params {
		if _, set := out[d.Name]; set {
			continue
		}
		if _, bad := overrides[d.Name]; bad {
			continue
		}
		switch {
		case d.Default != nil:
			out[d.Name] = d.Default
		case d.Required && d.Secret:
			problem(d.Name, fmt.Sprintf("secret param %q is required: set %s=VALUE in the environment (or pass -p %s=VALUE, which other users can see in ps)",
				d.Name, SecretEnv(d.Name), d.Name))
		case d.Required:
			problem(d.Name, fmt.Sprintf("param %q (%s) is required: pass -p %s=VALUE", d.Name, d.Type, d.Name))
		default:
			out[d.Name] = zeroValue(d.Type)
		}
	}
	if len(problems) > 0 {
		return nil, &ParamsError{Problems: problems, ByParam: byParam}
	}
	return out, nil
}

// ParamsError is BindParams' error: every problem with the given params.
type ParamsError struct {
	Problems []string
	// ByParam holds each problem by the param it is about (every
	// problem is about one).
	ByParam map[string]string
}

func (e *ParamsError) Error() string {
	if len(e.Problems) == 1 {
		return e.Problems[0]
	}
	return "bad params:\n\t" + strings.Join(e.Problems, "\n\t")
}

func zeroValue(k cairn.ParamKind) any {
	switch k {
	case cairn.KindString:
		return ""
	case cairn.KindInt:
		return 0
	case cairn.KindFloat:
		return 0.0
	case cairn.KindBool:
		return false
	case cairn.KindList:
		return []any{}
	case cairn.KindMap:
		return map[string]any{}
	}
	return nil
}

// parseParamValue parses the text of an override as kind k.
func parseParamValue(k cairn.ParamKind, s string) (any, error) {
	switch k {
	case cairn.KindString:
		return s, nil
	case cairn.KindInt:
		t := strings.TrimSpace(s)
		i, err := strconv.ParseInt(t, 10, 0)
		if err == nil {
			return int(i), nil
		}
		// Beyond int64: kept exactly, as in a workflow file.
		if b, ok := new(big.Int).SetString(t, 10); ok && errors.Is(err, strconv.ErrRange) && len(t) <= maxExactDigits {
			return json.Number(b.String()), nil
		}
		return nil, fmt.Errorf("want an int, got %q", s)
	case cairn.KindFloat:
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil || f != f || f > 1e308 || f < -1e308 {
			return nil, fmt.Errorf("want a float, got %q", s)
		}
		return f, nil
	case cairn.KindBool:
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("want true or false, got %q", s)
		}
		return b, nil
	case cairn.KindDuration:
		if _, err := time.ParseDuration(s); err != nil {
			return nil, fmt.Errorf("want a duration such as 90s, got %q", s)
		}
		return s, nil
	case cairn.KindList, cairn.KindMap:
		v, err := parseYAMLValue(s)
		if err != nil {
			return nil, fmt.Errorf("want a %s in JSON or YAML flow syntax, got %q: %v", k, s, err)
		}
		if kindOf(v) != k {
			return nil, fmt.Errorf("want a %s, got %q", k, s)
		}
		return v, nil
	}
	return s, nil
}

// parseYAMLValue parses s as one YAML (or JSON) value, with the same
// limits and conversions as a workflow file.
func parseYAMLValue(s string) (any, error) {
	if len(s) > DefaultMaxBytes {
		return nil, fmt.Errorf("value too large")
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(strings.NewReader(s))
	if err := safeDecode(dec, &doc); err != nil {
		return nil, fmt.Errorf("%s", yamlMsg(err))
	}
	if len(doc.Content) == 0 {
		return nil, fmt.Errorf("empty value")
	}
	p := &parser{src: []byte(s)}
	if !p.checkExpansion(doc.Content[0]) {
		return nil, fmt.Errorf("%s", p.errs[0].Msg)
	}
	v, ok := p.value(doc.Content[0], "value", 0, nil)
	if !ok {
		return nil, fmt.Errorf("%s", p.errs[0].Msg)
	}
	return v, nil
}
