package workflows

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"

	"gopkg.in/yaml.v3"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
)

// forEachHint is what a for_each may be.
const forEachHint = `a list ([a, b, c]) or one reference to a list ("${{ tasks.ID.outputs.NAME }}", "${{ params.NAME }}")`

// forEach reads a task's `for_each:`: a literal list (its strings may hold
// references, resolved at run time) or a string that is exactly one
// reference to a param or an upstream task's output.
func (p *parser) forEach(tn *taskNodes, n *yaml.Node) {
	d := deref(n)
	tn.forEach = d
	switch {
	case d.Kind == yaml.SequenceNode:
		if len(d.Content) > cairn.MaxForEachItems {
			p.errorf(d, "split the list over several for_each tasks or runs (the limit holds for a list given by a param or a task too), or batch several items into one",
				"for_each has %s items, over the limit of %s", thousands(len(d.Content)), thousands(cairn.MaxForEachItems))
			return
		}
		collect := p.collect(tn, false)
		v, _ := p.value(d, "for_each", 1, func(s string, n *yaml.Node) {
			before := len(tn.tmpls)
			collect(s, n)
			for k := before; k < len(tn.tmpls); k++ {
				tn.tmpls[k].forEach = true
			}
		})
		tn.task.ForEach = v
	case d.Kind == yaml.ScalarNode && d.ShortTag() == "!!str" && hasTemplate(d.Value):
		t, err := parseTemplate(d.Value)
		if err != nil {
			p.textErr(d, err)
			return
		}
		r, single := t.single()
		if !single {
			p.errorf(d, forEachHint, "for_each must be exactly one ${{ }} reference to a list, not text around one")
			return
		}
		tn.forEachRef = r
		tn.tmpls = append(tn.tmpls, tmplUse{t: t, n: d, forEach: true})
		tn.task.ForEach = d.Value
	default:
		p.errorf(d, forEachHint, "for_each must be a list, not %s", describe(d))
	}
}

// checkForEach checks what only the whole file tells about task tn's
// for_each: a param it names is a list.
func (p *parser) checkForEach(tn *taskNodes) {
	r := tn.forEachRef
	if r == nil || r.kind != refParam {
		return
	}
	if d, ok := p.params[r.name]; ok && d.Type != "" && d.Type != cairn.KindList {
		p.errorf(tn.forEach, "declare the param with type: list", "for_each: params.%s is %s, not a list", r.name, kindArticle(d.Type))
	}
}

// checkItemRef checks a reference to ${{ item }} or ${{ item_index }}
// of task tn, found in use.
func (p *parser) checkItemRef(tn *taskNodes, r ref, n *yaml.Node, inForEach bool) {
	line, col := p.strPos(n, r.off)
	switch {
	case inForEach:
		p.errAt(line, col, "for_each gives the items; use ${{ item }} in with:, when: or inputs:",
			"%s cannot appear in for_each itself", r)
	case tn.forEach == nil:
		p.errAt(line, col, "add for_each: to the task, a list of the values ${{ item }} takes",
			"%s is only known in a task with for_each, and task %q has none", r, tn.task.ID)
	}
}

// A Workflow's for_each tasks, as the planner sees them.
var _ scheduler.FanOut = (*Workflow)(nil)

// ForEach reports whether task id has a for_each, and its max_parallel.
func (w *Workflow) ForEach(id string) (int, bool) {
	t := w.Task(id)
	if t == nil || t.ForEach == nil {
		return 0, false
	}
	return t.MaxParallel, true
}

// Items resolves task id's for_each against s into its items, each a
// compact JSON value (or returns its RecordedItems, when it has them). Errors: a reference that does not resolve, a value
// that is not a list (its type named), more than cairn.MaxForEachItems
// items.
func (w *Workflow) Items(id string, s scheduler.Scope) ([]json.RawMessage, error) {
	t := w.Task(id)
	if t == nil || t.ForEach == nil {
		return nil, fmt.Errorf("task %q has no for_each", id)
	}
	if items, ok := w.RecordedItems[id]; ok {
		return slices.Clone(items), nil
	}
	var raw json.RawMessage
	switch fe := t.ForEach.(type) {
	case string:
		v, err := resolveString(fe, s)
		if err != nil {
			return nil, fmt.Errorf("for_each: %w", err)
		}
		raw = v
	default:
		v, err := resolveValue(fe, s)
		if err != nil {
			return nil, fmt.Errorf("for_each: %w", err)
		}
		if raw, err = json.Marshal(v); err != nil {
			return nil, fmt.Errorf("for_each: %w", err)
		}
	}
	var items []json.RawMessage
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 || trimmed[0] != '[' {
		var v any
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		_ = dec.Decode(&v)
		return nil, fmt.Errorf("for_each: %s is %s, not a list", forEachWhat(t), kindPhrase(v))
	}
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, fmt.Errorf("for_each: %s: %w", forEachWhat(t), err)
	}
	if len(items) > cairn.MaxForEachItems {
		return nil, fmt.Errorf("for_each: %s has %s items, over the limit of %s: split the work over several tasks or runs",
			forEachWhat(t), thousands(len(items)), thousands(cairn.MaxForEachItems))
	}
	for k, v := range items {
		var b bytes.Buffer
		if err := json.Compact(&b, v); err != nil {
			return nil, fmt.Errorf("for_each: item %d: %w", k, err)
		}
		items[k] = b.Bytes()
	}
	return items, nil
}

// kindPhrase names the JSON type of v with its article.
func kindPhrase(v any) string {
	switch k := jsonKind(v); k {
	case "null":
		return "null"
	case "map":
		return "a map (a JSON object)"
	default:
		return "a " + k
	}
}

// forEachWhat names a task's for_each value in an error.
func forEachWhat(t *Task) string {
	if s, ok := t.ForEach.(string); ok {
		return canonicalString(s)
	}
	return "the list"
}

// Declared returns the task of w that task run id stands for: the task
// itself, or the for_each task an item (X[3]) belongs to; nil for none.
func (w *Workflow) Declared(id string) *Task {
	if t := w.Task(id); t != nil {
		return t
	}
	if parent, _, ok := cairn.ParseItemID(id); ok {
		if t := w.Task(parent); t != nil && t.ForEach != nil {
			return t
		}
	}
	return nil
}
