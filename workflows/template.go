package workflows

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// refKind tells params references from task output references.
type refKind int

const (
	refParam     refKind = iota + 1 // params.NAME
	refOutput                       // tasks.ID.outputs.NAME
	refMeta                         // workflow.dir, workflow.name, run.id, run.scheduled_for
	refItem                         // item, item.KEY...: an item of the task's for_each
	refItemIndex                    // item_index
)

// metaRefs are the references to the run itself, with what they hold.
var metaRefs = map[string]string{
	"workflow.dir":      "the absolute directory of the workflow file the run was started from",
	"workflow.name":     "the workflow's name",
	"run.id":            "the run's id",
	"run.scheduled_for": "the slot of a scheduled or backfilled run (RFC 3339 in the schedule's zone); the run's creation time for others",
}

// ref is one parsed reference.
type ref struct {
	kind refKind
	name string // param or output name; for refMeta the whole key ("workflow.dir")
	task string // for refOutput
	// path, for refOutput, is the dotted keys after the output's name
	// ("accuracy" in tasks.eval.outputs.metrics.accuracy): the value is
	// read inside the output, an object; "" for the whole output.
	path string
	off  int // byte offset of the reference in the string it came from
}

func (r ref) String() string {
	switch r.kind {
	case refParam:
		return "params." + r.name
	case refMeta:
		return r.name
	case refItem:
		if r.path != "" {
			return "item." + r.path
		}
		return "item"
	case refItemIndex:
		return "item_index"
	}
	if r.path != "" {
		return "tasks." + r.task + ".outputs." + r.name + "." + r.path
	}
	return "tasks." + r.task + ".outputs." + r.name
}

// segment is a literal run of text or a reference.
type segment struct {
	lit string
	ref *ref
}

// template is a string split into literals and ${{ }} references.
type template []segment

// single returns the reference when the template is exactly one reference.
func (t template) single() (*ref, bool) {
	if len(t) == 1 && t[0].ref != nil {
		return t[0].ref, true
	}
	return nil, false
}

func (t template) refs() []ref {
	var rs []ref
	for _, s := range t {
		if s.ref != nil {
			rs = append(rs, *s.ref)
		}
	}
	return rs
}

// textError is a problem at a byte offset of a string value.
type textError struct {
	off  int
	msg  string
	hint string
}

func (e *textError) Error() string { return e.msg }

// parseTemplate splits s into literals and references; "$${{" stands for
// a literal "${{".
func parseTemplate(s string) (template, *textError) {
	var t template
	var lit strings.Builder
	i := 0
	for i < len(s) {
		j := strings.Index(s[i:], "${{")
		if j < 0 {
			lit.WriteString(s[i:])
			break
		}
		j += i
		if j > 0 && s[j-1] == '$' {
			lit.WriteString(s[i : j-1])
			lit.WriteString("${{")
			i = j + 3
			continue
		}
		lit.WriteString(s[i:j])
		end := strings.Index(s[j+3:], "}}")
		if end < 0 {
			return nil, &textError{off: j, msg: "unterminated ${{ (no closing }})"}
		}
		inner := s[j+3 : j+3+end]
		r, err := parseRef(strings.TrimSpace(inner), j)
		if err != nil {
			if strings.ContainsAny(inner, "=!<>&|()'\"") {
				err.hint = "only a single reference may appear inside ${{ }} here; expressions belong in when:"
			}
			return nil, err
		}
		if lit.Len() > 0 {
			t = append(t, segment{lit: lit.String()})
			lit.Reset()
		}
		t = append(t, segment{ref: &r})
		i = j + 3 + end + 2
	}
	if lit.Len() > 0 {
		t = append(t, segment{lit: lit.String()})
	}
	return t, nil
}

// hasTemplate reports whether s holds a ${{ (escaped or not).
func hasTemplate(s string) bool { return strings.Contains(s, "${{") }

// parseRef parses "params.NAME", "tasks.ID.outputs.NAME" (with, after
// NAME, optional dotted keys into an object output) or a key of the run.
func parseRef(s string, off int) (ref, *textError) {
	if s == "" {
		return ref{}, &textError{off: off, msg: "empty ${{ }} reference",
			hint: "write ${{ params.NAME }} or ${{ tasks.ID.outputs.NAME }}"}
	}
	// The first four parts and how many there are: strings.Split would
	// allocate for every reference of a file.
	var parts [4]string
	n := 0
	for rest, more := s, true; more; n++ {
		var p string
		p, rest, more = strings.Cut(rest, ".")
		if !isRefWord(p) && !(n == 1 && isTaskPath(p)) {
			return ref{}, &textError{off: off, msg: fmt.Sprintf("malformed reference %q", s),
				hint: "write ${{ params.NAME }} or ${{ tasks.ID.outputs.NAME }}"}
		}
		if n < len(parts) {
			parts[n] = p
		}
	}
	switch parts[0] {
	case "params":
		if n != 2 {
			return ref{}, &textError{off: off, msg: fmt.Sprintf("malformed reference %q", s),
				hint: "write ${{ params.NAME }}"}
		}
		return ref{kind: refParam, name: parts[1], off: off}, nil
	case "tasks":
		if n < 4 || parts[2] != "outputs" {
			hint := "write ${{ tasks.ID.outputs.NAME }}"
			if n > 2 && parts[2] != "outputs" {
				if h := didYouMean(parts[2], []string{"outputs"}); h != "" {
					hint = h
				}
			}
			return ref{}, &textError{off: off, msg: fmt.Sprintf("malformed reference %q", s), hint: hint}
		}
		r := ref{kind: refOutput, task: parts[1], name: parts[3], off: off}
		if n > 4 {
			// A key inside an object output: tasks.ID.outputs.NAME.KEY...
			r.path = s[len("tasks.")+len(parts[1])+len(".outputs.")+len(parts[3])+1:]
		}
		return r, nil
	case "item":
		r := ref{kind: refItem, off: off}
		if n > 1 {
			r.path = s[len("item."):]
		}
		return r, nil
	case "item_index":
		if n != 1 {
			return ref{}, &textError{off: off, msg: fmt.Sprintf("malformed reference %q", s),
				hint: "write ${{ item_index }}: the item's position in the for_each list, from 0"}
		}
		return ref{kind: refItemIndex, off: off}, nil
	case "workflow", "run":
		if _, ok := metaRefs[s]; !ok {
			known := sortedKeys(metaRefs)
			hint := didYouMean(s, known)
			if hint == "" {
				hint = "the run's own references are " + strings.Join(known, ", ")
			}
			return ref{}, &textError{off: off, msg: fmt.Sprintf("unknown reference %q", s), hint: hint}
		}
		return ref{kind: refMeta, name: s, off: off}, nil
	}
	hint := didYouMean(parts[0], []string{"params", "tasks", "workflow", "run", "item", "item_index"})
	if hint == "" {
		hint = `references start with "params.", "tasks.", "workflow." or "run."`
	}
	return ref{}, &textError{off: off, msg: fmt.Sprintf("unknown reference root %q in %q", parts[0], s), hint: hint}
}

func isRefWord(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !isWordChar(c) {
			return false
		}
	}
	return true
}

// isTaskPath reports whether s is the id of a task of a sub-workflow as
// its using file sees it: words joined by TaskSep ("prep:clean").
func isTaskPath(s string) bool {
	for w := range strings.SplitSeq(s, TaskSep) {
		if !isRefWord(w) {
			return false
		}
	}
	return strings.Contains(s, TaskSep)
}

func isWordChar(c rune) bool {
	return c == '_' || c == '-' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// stringify renders a referenced value spliced into a longer string:
// strings as they are, anything else as compact JSON.
func stringify(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return string(raw)
	}
	return b.String()
}
