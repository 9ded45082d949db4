package workflows

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/cairnml/cairn"
)

// Scope is what references resolve against at run time.
type Scope interface {
	// Param returns the run's value of param name.
	Param(name string) (any, bool)
	// Output returns output name of task taskID; only succeeded upstream
	// tasks have outputs.
	Output(taskID, name string) (json.RawMessage, bool)
	// Meta returns the value of a reference to the run itself:
	// "workflow.dir", "workflow.name" or "run.id".
	Meta(key string) (string, bool)
}

// itemScope is a Scope with the item of a for_each task being prepared
// (scheduler.ItemScope).
type itemScope interface {
	Item() (value json.RawMessage, index int)
}

// itemOf returns the item of s, through the bindings of a sub-workflow's
// task (a for_each inside a sub-workflow has its items too).
func itemOf(s Scope) (itemScope, bool) {
	for {
		switch v := s.(type) {
		case itemScope:
			return v, true
		case boundScope:
			s = v.base
		default:
			return nil, false
		}
	}
}

// lookup returns the JSON value of r in s.
func lookup(r ref, s Scope) (json.RawMessage, error) {
	if r.kind == refItem || r.kind == refItemIndex {
		is, ok := itemOf(s)
		if !ok {
			return nil, fmt.Errorf("%s: only known in the items of a task with for_each", r)
		}
		v, index := is.Item()
		switch {
		case r.kind == refItemIndex:
			return json.Marshal(index)
		case r.path == "":
			return v, nil
		}
		return lookupPath(r, v)
	}
	if r.kind == refMeta {
		v, ok := s.Meta(r.name)
		if !ok {
			return nil, fmt.Errorf("%s: not known for this run", r)
		}
		return json.Marshal(v)
	}
	if r.kind == refParam {
		v, ok := s.Param(r.name)
		if !ok {
			if bs, isBound := s.(boundScope); isBound {
				if err := bs.paramError(r.name); err != nil {
					return nil, err
				}
			}
			return nil, fmt.Errorf("%s: no such param in this run", r)
		}
		b, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r, err)
		}
		return b, nil
	}
	raw, ok := s.Output(r.task, r.name)
	if !ok {
		return nil, fmt.Errorf("%s: task %q has no output %q (it has not succeeded, or did not produce it)",
			r, r.task, r.name)
	}
	if !json.Valid(raw) {
		return nil, fmt.Errorf("%s: output is not valid JSON", r)
	}
	if r.path == "" {
		return raw, nil
	}
	return lookupPath(r, raw)
}

// lookupPath reads the value at r's dotted keys inside raw, an object
// output (tasks.eval.outputs.metrics.accuracy): a missing key or a value
// that is not an object on the way is an error naming the keys there are.
func lookupPath(r ref, raw json.RawMessage) (json.RawMessage, error) {
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("%s: %w", r, err)
	}
	at := "tasks." + r.task + ".outputs." + r.name
	if r.kind == refItem {
		at = "item"
	}
	for key := range strings.SplitSeq(r.path, ".") {
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s: %s is %s, not an object, so it has no key %q", r, at, jsonKind(v), key)
		}
		if v, ok = obj[key]; !ok {
			keys := sortedKeys(obj)
			has := "it has none"
			if len(keys) > 0 {
				has = "it has " + strings.Join(keys, ", ")
			}
			return nil, fmt.Errorf("%s: %s has no key %q (%s)", r, at, key, has)
		}
		at += "." + key
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r, err)
	}
	return b, nil
}

// resolveString resolves the references of s: a string that is exactly one
// reference becomes the referenced value; otherwise each reference is
// spliced in as text.
func resolveString(s string, sc Scope) (json.RawMessage, error) {
	t, terr := parseTemplate(s)
	if terr != nil {
		return nil, fmt.Errorf("%q: %s", s, terr.msg)
	}
	if r, ok := t.single(); ok {
		return lookup(*r, sc)
	}
	var b strings.Builder
	for _, seg := range t {
		if seg.ref == nil {
			b.WriteString(seg.lit)
			continue
		}
		raw, err := lookup(*seg.ref, sc)
		if err != nil {
			return nil, err
		}
		b.WriteString(stringify(raw))
	}
	return json.Marshal(b.String())
}

// scriptDone wraps a script param resolveScript resolved already, so that
// resolveValue passes it through.
type scriptDone struct{ v any }

// resolveValue rebuilds v with every string's references resolved.
func resolveValue(v any, sc Scope) (any, error) {
	switch v := v.(type) {
	case string:
		if !hasTemplate(v) {
			return v, nil
		}
		return resolveString(v, sc)
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			r, err := resolveValue(x, sc)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			out[i] = r
		}
		return out, nil
	case map[string]any:
		out := make(map[string]any, len(v))
		for _, k := range sortedKeys(v) {
			r, err := resolveValue(v[k], sc)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			out[k] = r
		}
		return out, nil
	}
	return v, nil
}

// resolveScript resolves a param its type declares program text
// (cairn.ParamInfo.Script): a string with references becomes a
// cairn.ScriptText, the text and the values apart, so that no value ever
// becomes part of the program.
func resolveScript(v any, sc Scope) (any, error) {
	s, ok := v.(string)
	if !ok || !hasTemplate(s) {
		return resolveValue(v, sc)
	}
	t, terr := parseTemplate(s)
	if terr != nil {
		return nil, fmt.Errorf("%q: %s", s, terr.msg)
	}
	st := cairn.ScriptText{Text: []string{""}, Values: []string{}, Refs: []string{}}
	for _, seg := range t {
		if seg.ref == nil {
			st.Text[len(st.Text)-1] += seg.lit
			continue
		}
		raw, err := lookup(*seg.ref, sc)
		if err != nil {
			return nil, err
		}
		st.Values = append(st.Values, stringify(raw))
		st.Refs = append(st.Refs, seg.ref.String())
		st.Text = append(st.Text, "")
	}
	if len(st.Values) == 0 {
		return st.Text[0], nil // only escaped $${{: plain text
	}
	return st, nil
}

// ResolveWith returns the task's `with:` block as a JSON object (keys
// sorted) with every reference resolved. It fails when a reference is
// malformed, names a param the scope lacks, or an output the scope does
// not hold. A param the task's type declares program text
// (cairn.ParamInfo.Script) resolves to a cairn.ScriptText when it holds
// references: they are never spliced into it.
func (t *Task) ResolveWith(s Scope) (json.RawMessage, error) {
	if t.static != nil {
		return slices.Clone(t.static), nil
	}
	return t.resolveWith(s)
}

// setStatic keeps the task's params as ResolveWith makes them when its
// with: holds no reference — no string in it holds "${{", an escaped
// "$${{" included — so that planning each of its attempts (a chain's
// hops, a fan's items) does not marshal the same block again.
func (t *Task) setStatic() {
	t.static = nil
	if hasReference(t.With) {
		return
	}
	if b, err := t.resolveWith(nil); err == nil {
		t.static = b
	}
}

// hasReference reports whether a string in v, a value of a with: block,
// holds a ${{ }} template.
func hasReference(v any) bool {
	switch v := v.(type) {
	case string:
		return hasTemplate(v)
	case []any:
		return slices.ContainsFunc(v, hasReference)
	case map[string]any:
		for _, x := range v {
			if hasReference(x) {
				return true
			}
		}
	}
	return false
}

// resolveWith is ResolveWith, made.
func (t *Task) resolveWith(s Scope) (json.RawMessage, error) {
	s = t.scope(s)
	with := t.With
	if len(t.scripts) > 0 {
		with = make(map[string]any, len(t.With))
		for k, v := range t.With {
			with[k] = v
		}
		for _, k := range sortedKeys(t.scripts) {
			v, ok := t.With[k]
			if !ok {
				continue
			}
			r, err := resolveScript(v, s)
			if err != nil {
				return nil, fmt.Errorf("task %s: with.%s: %w", t.ID, k, err)
			}
			with[k] = scriptDone{r}
		}
	}
	v, err := resolveValue(with, s)
	if err != nil {
		return nil, fmt.Errorf("task %s: with.%w", t.ID, err)
	}
	m, _ := v.(map[string]any)
	if m == nil {
		m = map[string]any{}
	}
	for k, x := range m {
		if d, ok := x.(scriptDone); ok {
			m[k] = d.v
		}
	}
	if t.Resources != nil {
		m["resources"] = t.Resources
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("task %s: with: %w", t.ID, err)
	}
	return b, nil
}

// ResolveInputs resolves each of the task's inputs to an artifact
// reference. It fails when a reference cannot be resolved or its value is
// not an artifact reference.
func (t *Task) ResolveInputs(s Scope) (map[string]cairn.ArtifactRef, error) {
	s = t.scope(s)
	out := make(map[string]cairn.ArtifactRef, len(t.Inputs))
	for _, name := range sortedKeys(t.Inputs) {
		raw, err := resolveString(t.Inputs[name], s)
		if err != nil {
			return nil, fmt.Errorf("task %s: input %s: %w", t.ID, name, err)
		}
		a, ok := cairn.AsArtifactRef(raw)
		if !ok {
			return nil, fmt.Errorf("task %s: input %s: %s is not an artifact reference", t.ID, name, abbreviate(raw))
		}
		out[name] = a
	}
	return out, nil
}

// EvalWhen evaluates the task's `when:`; an empty When is true. It fails
// when the expression is malformed, a reference cannot be resolved, two
// values cannot be ordered (< on a string and a number), or a value where
// a condition is wanted is no boolean (condition).
func (t *Task) EvalWhen(s Scope) (bool, error) {
	if strings.TrimSpace(t.When) == "" {
		return true, nil
	}
	n, perr := parseExpr(t.When)
	if perr != nil {
		return false, fmt.Errorf("task %s: when: %s", t.ID, perr.msg)
	}
	v, err := eval(n, t.scope(s))
	if err == nil {
		var b bool
		if b, err = condition(n, v); err == nil {
			return b, nil
		}
	}
	return false, fmt.Errorf("task %s: when: %w", t.ID, err)
}

func abbreviate(raw json.RawMessage) string {
	s := string(raw)
	if len(s) > 80 {
		s = s[:77] + "..."
	}
	return s
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
