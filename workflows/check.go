package workflows

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/tasks"
)

// validate checks what needs the whole file: task ids, types and their
// params, references, needs and cycles. It fills Task.Upstream, and
// p.ids and p.order for the workflow's index.
func (p *parser) validate(w *Workflow) {
	ids := make(map[string]int, len(p.taskInfo)) // id → position of its (first) task
	p.first = make([]bool, len(p.taskInfo))
	for i, tn := range p.taskInfo {
		t := tn.task
		if !tn.hasID || t.ID == "" {
			if tn.hasID && tn.idIsStr {
				p.errorAt(tn.idAt, "", "task id is empty")
			}
			continue
		}
		if !validTaskID(t.ID) {
			p.errorAt(tn.idAt, "use letters, digits, '_' and '-', starting with a letter (at most 64)",
				"invalid task id %s", quoteClipped(t.ID, 64))
		}
		if first, dup := ids[t.ID]; dup {
			p.errorAt(tn.idAt, fmt.Sprintf("the first is at line %d", p.taskInfo[first].idAt.line), "duplicate task id %q", t.ID)
			continue
		}
		ids[t.ID] = i
		p.first[i] = true
	}
	p.ids = ids

	for _, tn := range p.taskInfo {
		if tn.uses != nil {
			p.loadUses(tn)
		}
	}
	if p.opts.Types != nil {
		// Asked once per type, not once per task.
		infos := map[string]*cairn.TypeInfo{}
		for _, tn := range p.taskInfo {
			if !tn.hasType || tn.task.Type == "" {
				continue
			}
			info, ok := infos[tn.task.Type]
			if !ok {
				if ti, known := p.opts.Types.Info(tn.task.Type); known {
					info = &ti
				}
				infos[tn.task.Type] = info
			}
			if info == nil {
				names := p.opts.Types.Names()
				// A name near none of them is often a plugin's type
				// whose binary is not installed (or not pinned).
				hint := "known types: " + strings.Join(names, ", ") +
					"; a plugin's type needs its binary in the plugins folder (HOME/plugins or --plugins-dir), pinned with 'cairn plugins lock' (docs/plugins.md)"
				if s := tasks.Nearest(tn.task.Type, names); s != "" {
					hint = fmt.Sprintf("did you mean %q? known types: %s", s, strings.Join(names, ", "))
				}
				p.errorAt(tn.typAt, hint, "unknown task type %q", tn.task.Type)
				p.errs[len(p.errs)-1].Err = ErrUnknownType
				continue
			}
			tn.info = info
			p.checkResources(tn, *info)
			p.checkWith(w, tn, *info)
			p.checkInputs(tn, *info)
		}
	}
	for _, tn := range p.taskInfo {
		if tn.uses == nil {
			p.decideCache(tn)
		}
		p.checkPool(w, tn)
	}

	var up []string
	for _, tn := range p.taskInfo {
		t := tn.task
		up = up[:0]
		for k, need := range t.Needs {
			n := tn.needs[k]
			_, known := ids[need]
			switch {
			case need == t.ID:
				p.errorAt(n, "", "task %q needs itself", t.ID)
			case !known:
				p.errorAt(n, p.unknownTaskHint(need), "needs unknown task %q", need)
			default:
				up = append(up, need)
			}
		}
		for _, use := range tn.tmpls {
			for _, r := range use.t.refs() {
				if r.kind == refItem || r.kind == refItemIndex {
					p.checkItemRef(tn, r, use.n, use.forEach)
					continue
				}
				up = p.checkRef(tn, r, use.n, use.input, up)
			}
		}
		p.checkForEach(tn)
		if tn.whenExpr != nil {
			for _, r := range exprRefs(tn.whenExpr) {
				if r.kind == refItem || r.kind == refItemIndex {
					p.checkItemRef(tn, r, tn.when, false)
					continue
				}
				up = p.checkRef(tn, r, tn.when, false, up)
				p.checkSecretInWhen(r, tn.when)
			}
			p.checkWhenTypes(tn, tn.whenExpr)
			p.checkCondition(tn, tn.whenExpr)
		}
		if len(up) > 1 {
			slices.Sort(up)
			up = slices.Compact(up)
		}
		t.Upstream = make([]string, len(up))
		copy(t.Upstream, up)
	}
	p.checkOutputs(w)
	p.cycles(w)
}

// validTaskID says whether id is a task id: ^[A-Za-z][A-Za-z0-9_-]*$, at
// most 64 bytes, without a regexp; its classes written out rather than
// validWord's, as it runs for every task.
func validTaskID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case i > 0 && (c >= '0' && c <= '9' || c == '_' || c == '-'):
		default:
			return false
		}
	}
	return true
}

// maxNearestWork bounds the names compared to find "did you mean" hints
// for unknown task ids: each comparison of a name with every id of a
// 100,000-task workflow is 100,000 edit distances, and a file may have
// as many problems as tasks. Past the budget the problems are reported
// without the hint.
const maxNearestWork = 2_000_000

// unknownTaskHint is the hint for a reference to a task id that does not
// exist.
func (p *parser) unknownTaskHint(name string) string {
	if p.idList == nil {
		p.idList = make([]string, 0, len(p.ids))
		for i, tn := range p.taskInfo {
			if p.first[i] {
				p.idList = append(p.idList, tn.task.ID)
			}
		}
	}
	if p.nearestWork += len(p.idList); p.nearestWork > maxNearestWork && len(p.idList) > 20 {
		return ""
	}
	return hintUnknown(name, p.idList, "tasks")
}

// checkSecretInWhen refuses a secret param in a when: expression: the
// planner sees only its placeholder, and the decision is recorded.
func (p *parser) checkSecretInWhen(r ref, n *yaml.Node) {
	if d, ok := p.params[r.name]; ok && r.kind == refParam && d.Secret {
		line, col := p.strPos(n, r.off)
		p.errAt(line, col, "use it under with: only", "secret param %q cannot decide a when: (its value is not stored with the run)", r.name)
	}
}

func hintUnknown(name string, known []string, what string) string {
	if h := didYouMean(name, known); h != "" {
		return h
	}
	if len(known) == 0 {
		return "there are no " + what
	}
	if len(known) > 20 {
		return ""
	}
	return what + ": " + strings.Join(known, ", ")
}

// checkRef checks reference r, found at byte r.off of node n's value, of
// task tn, and returns up with the task it refers to, if any, added.
func (p *parser) checkRef(tn *taskNodes, r ref, n *yaml.Node, input bool, up []string) []string {
	report := func(hint, format string, args ...any) {
		line, col := p.strPos(n, r.off)
		p.errAt(line, col, hint, format, args...)
	}
	if r.kind == refMeta {
		if r.name == "workflow.dir" && p.opts.NoUses {
			// A file a client sent has no folder here (see NoUses): the run
			// would fail at the task, after it was created.
			report("put the file in the server's --workflows folder and trigger it by name, or run it locally with cairn run",
				"${{ workflow.dir }} is not known for a file sent to a server (its folder is the client's)")
		}
		return up // parseRef checked the key; the value is the run's own
	}
	if r.kind == refParam {
		if _, ok := p.params[r.name]; !ok {
			names := sortedKeys(p.params)
			hint := didYouMean(r.name, names)
			if hint == "" {
				hint = "declare it under params:"
			}
			report(hint, "reference to unknown param %q", r.name)
		}
		return up
	}
	i, known := p.ids[r.task]
	switch {
	case r.task == tn.task.ID:
		report("", "task %q refers to its own output %q", r.task, r.name)
		return up
	case !known:
		report(p.unknownTaskHint(r.task), "reference to unknown task %q", r.task)
		return up
	}
	up = append(up, r.task)
	target := p.taskInfo[i]
	if input && target.forEach != nil {
		report("pass it under with:, where it is a list of the items' values",
			"task %q has for_each: its output %q is a list of its items' outputs, so it cannot be an input", r.task, r.name)
		return up
	}
	if target.info == nil {
		return up
	}
	info := *target.info
	names, open := outputsOf(target, info)
	if open {
		return up
	}
	if !contains(names, r.name) && target.uses != nil {
		hint := hintUnknown(r.name, names, "its outputs")
		if len(names) == 0 {
			hint = "declare it under outputs: in " + target.uses.path
		}
		report(hint, "task %q (uses %s) has no output %q", r.task, target.uses.path, r.name)
		return up
	}
	if !contains(names, r.name) {
		hint := didYouMean(r.name, names)
		if hint == "" {
			hint = fmt.Sprintf("outputs of type %q: %s", info.Name, strings.Join(names, ", "))
			if len(names) == 0 {
				hint = fmt.Sprintf("type %q has no outputs", target.task.Type)
			}
		}
		report(hint, "task %q (type %q) has no output %q", r.task, target.task.Type, r.name)
		return up
	}
	if input && r.path != "" {
		report("give the whole output: tasks."+r.task+".outputs."+r.name, "%s names a key inside output %q, so it cannot be an input", r, r.name)
		return up
	}
	if input {
		for _, o := range info.Outputs {
			if o.Name == r.name && !o.Artifact {
				report("pass plain values under with:", "output %q of task %q is not an artifact, so it cannot be an input", r.name, r.task)
			}
		}
	}
	return up
}

// outputsOf lists a task's outputs; open is true when they cannot be known
// before it runs (its outputs param is not a literal map).
func outputsOf(tn *taskNodes, info cairn.TypeInfo) (names []string, open bool) {
	for _, o := range info.Outputs {
		names = append(names, o.Name)
	}
	for _, param := range []string{info.OutputsParam, info.ValuesParam} {
		if param == "" {
			continue
		}
		if v, ok := tn.task.With[param]; ok {
			m, isMap := v.(map[string]any)
			if !isMap {
				return names, true
			}
			names = append(names, sortedKeys(m)...)
		}
	}
	return names, false
}

func (p *parser) checkWith(w *Workflow, tn *taskNodes, info cairn.TypeInfo) {
	t := tn.task
	known := func() []string {
		var names []string
		for _, pi := range info.Params {
			if info.Resources && pi.Name == "resources" {
				continue // set by the task's resources:, not under with:
			}
			names = append(names, pi.Name)
		}
		return names
	}
	at := tn.pos()
	if tn.withKey != nil {
		at = tn.withKey
	}
	// reported holds the keys this function found at fault, so that the
	// type's own validator, which may check the same things, does not
	// report them a second time. Made on the first problem.
	var reported map[string]bool
	report := func(key string) {
		if reported == nil {
			reported = map[string]bool{}
		}
		reported[key] = true
	}
	t.scripts = p.scriptParams(info)
	for _, pi := range info.Params {
		if _, ok := t.With[pi.Name]; pi.Required && !ok {
			p.errorf(at, fmt.Sprintf("add with.%s (%s)", pi.Name, pi.Kind), "task %q is missing param %q required by type %q", t.ID, pi.Name, t.Type)
			report(pi.Name)
		}
	}
	for _, key := range sortedKeys(t.With) {
		kv, _ := tn.withEntry(key)
		pi, ok := info.Param(key)
		if !ok {
			if !info.OpenParams {
				names := known()
				hint := hintUnknown(key, names, fmt.Sprintf("params of type %q", t.Type))
				if len(names) == 0 {
					hint = fmt.Sprintf("type %q takes no params", t.Type)
				}
				p.errorf(kv.k, hint, "unknown param %q for type %q", key, t.Type)
				report(key)
			}
			continue
		}
		v := t.With[key]
		if s, isStr := v.(string); isStr && hasTemplate(s) {
			tm, err := parseTemplate(s)
			if err != nil {
				continue // reported already
			}
			if r, single := tm.single(); single && r.kind == refParam {
				if d, ok := w.Param(r.name); ok && !kindAccepts(pi.Kind, d.Type) {
					p.errorf(kv.v, "", "with.%s must be %s, but params.%s is %s", key, kindArticle(pi.Kind), r.name, kindArticle(d.Type))
					report(key)
				}
			}
			continue
		}
		if v == nil && !pi.Required {
			continue
		}
		if _, ok := convertKind(pi.Kind, v); !ok && pi.Kind != "" {
			p.errorf(kv.v, "", "with.%s must be %s, not %s", key, kindArticle(pi.Kind), describe(kv.v))
			report(key)
		}
	}
	// The type checks the values a list or map param will take (its
	// default, or an empty one) where a with: value is such a param, so
	// that env: {X: "${{ params.tags }}"} (tags a list) is refused here,
	// as env: {X: [a, b]} is, not at run time.
	// The with: block itself when nothing is replaced (most tasks), not a
	// copy for each task: types only read it.
	params, copied := t.With, false
	for k, v := range t.With {
		if r, changed := typedRefs(w, v); changed {
			if !copied {
				params, copied = maps.Clone(t.With), true
			}
			params[k] = r
		}
	}
	for _, pe := range p.opts.Types.ValidateParams(t.Type, params) {
		if reported[pe.Key] {
			continue // said already, by the checks above
		}
		if kv, ok := tn.withEntry(pe.Key); ok && pe.Key != "" && pe.At > 0 {
			line, col := p.strPos(deref(kv.v), pe.At-1)
			p.errAt(line, col, pe.Hint, "with.%s: %s", pe.Key, pe.Msg)
		} else if ok && pe.Key != "" {
			n, hint := p.entryAt(w, kv, pe)
			p.errorf(n, hint, "with.%s: %s", pe.Key, pe.Msg)
		} else {
			p.errorf(at, pe.Hint, "with: %s", pe.Msg)
		}
	}
}

// entryAt places a type's complaint about with.KEY: at the value of the
// map entry it names first ("X is a list, ..." under env: points at X's
// value), else at KEY. Where that value is a reference to a list or map
// param, the hint says so.
func (p *parser) entryAt(w *Workflow, kv kvPair, pe tasks.ParamError) (*yaml.Node, string) {
	v := deref(kv.v)
	if v.Kind != yaml.MappingNode {
		return kv.k, pe.Hint
	}
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, val := v.Content[i], deref(v.Content[i+1])
		if !strings.HasPrefix(pe.Msg, k.Value+" ") {
			continue
		}
		hint := pe.Hint
		if val.Kind == yaml.ScalarNode && hint == "" {
			if name, kind, ok := listOrMapRef(w, val.Value); ok {
				hint = fmt.Sprintf("params.%s is %s; refer to a string, number or bool param instead", name, kindArticle(kind))
			}
		}
		return val, hint
	}
	return kv.k, pe.Hint
}

// soleRef returns the reference s is, when s is exactly one.
func soleRef(s string) (*ref, bool) {
	if !hasTemplate(s) {
		return nil, false
	}
	tm, err := parseTemplate(s)
	if err != nil {
		return nil, false
	}
	return tm.single()
}

// listOrMapRef reports whether s is exactly one reference to a list or map
// param, and which.
func listOrMapRef(w *Workflow, s string) (string, cairn.ParamKind, bool) {
	r, ok := soleRef(s)
	if !ok {
		return "", "", false
	}
	return listOrMapParam(w, r)
}

// listOrMapParam reports whether r is a list or map param, and which.
func listOrMapParam(w *Workflow, r *ref) (string, cairn.ParamKind, bool) {
	if r.kind != refParam {
		return "", "", false
	}
	d, ok := w.Param(r.name)
	if !ok || d.Type != cairn.KindList && d.Type != cairn.KindMap {
		return "", "", false
	}
	return r.name, d.Type, true
}

// fanIn reports whether r is a whole output of a for_each task: a list at
// run time (the fan-in), which a type that takes a string there (env:
// {ALL: ...}) refuses at validate, not only when the task runs.
func fanIn(w *Workflow, r *ref) bool {
	if r.kind != refOutput || r.path != "" {
		return false
	}
	t := w.Task(r.task)
	return t != nil && t.ForEach != nil
}

// typedRefs returns v with every string that is exactly one reference to
// a list or map param replaced by the value it will have unless -p
// overrides it: its default, or an empty list or map. Other values are
// left as they are (a type skips references when it validates); changed
// is false, and v itself returned, when there was nothing to replace.
func typedRefs(w *Workflow, v any) (out any, changed bool) {
	switch x := v.(type) {
	case string:
		r, ok := soleRef(x)
		if !ok {
			return x, false
		}
		if fanIn(w, r) {
			return []any{}, true // the items' outputs, in a list
		}
		name, _, ok := listOrMapParam(w, r)
		if !ok {
			return x, false
		}
		d, _ := w.Param(name)
		if d.Default != nil {
			return d.Default, true
		}
		return zeroValue(d.Type), true
	case []any:
		var out []any
		for i, e := range x {
			if r, ch := typedRefs(w, e); ch {
				if out == nil {
					out = slices.Clone(x)
				}
				out[i] = r
			}
		}
		if out == nil {
			return x, false
		}
		return out, true
	case map[string]any:
		var out map[string]any
		for k, e := range x {
			if r, ch := typedRefs(w, e); ch {
				if out == nil {
					out = maps.Clone(x)
				}
				out[k] = r
			}
		}
		if out == nil {
			return x, false
		}
		return out, true
	}
	return v, false
}

// scriptParams is the set of with: keys that info declares program text,
// one map per type shared by its tasks (nil when there are none).
func (p *parser) scriptParams(info cairn.TypeInfo) map[string]bool {
	if s, ok := p.scripts[info.Name]; ok {
		return s
	}
	var s map[string]bool
	for _, pi := range info.Params {
		if pi.Script {
			if s == nil {
				s = map[string]bool{}
			}
			s[pi.Name] = true
		}
	}
	if p.scripts == nil {
		p.scripts = map[string]map[string]bool{}
	}
	p.scripts[info.Name] = s
	return s
}

// kindAccepts reports whether a value of kind have fits a param of kind want.
func kindAccepts(want, have cairn.ParamKind) bool {
	switch {
	case want == have, want == cairn.KindAny, want == "", have == cairn.KindAny:
		return true
	case want == cairn.KindFloat && have == cairn.KindInt:
		return true
	case want == cairn.KindDuration && have == cairn.KindString:
		return true
	}
	return false
}

func (p *parser) checkInputs(tn *taskNodes, info cairn.TypeInfo) {
	t := tn.task
	at := tn.pos()
	if tn.inputs != nil {
		at = tn.inputs
	}
	var known []string
	for _, in := range info.Inputs {
		known = append(known, in.Name)
		if _, ok := t.Inputs[in.Name]; in.Required && !ok {
			p.errorf(at, "", "task %q is missing input %q required by type %q", t.ID, in.Name, t.Type)
		}
	}
	if len(known) == 0 {
		return
	}
	for _, name := range sortedKeys(t.Inputs) {
		if !contains(known, name) {
			p.errorf(tn.inputVal[name], hintUnknown(name, known, fmt.Sprintf("inputs of type %q", t.Type)),
				"unknown input %q for type %q", name, t.Type)
		}
	}
}

// cycles orders the tasks (p.order) and, when some are left out of the
// order, reports each strongly connected set of tasks with the shortest
// cycle through its first task in file order.
func (p *parser) cycles(w *Workflow) {
	ids := p.ids
	member := func(i int) bool { return p.first[i] }
	order := topoOrder(w.Tasks, ids, member)
	if len(order) == len(ids) {
		p.order = idsAt(w.Tasks, order)
		return
	}
	// Some tasks are on a cycle or after one: find the cycles among them.
	done := make([]bool, len(w.Tasks))
	for _, i := range order {
		done[i] = true
	}
	var left []string
	for i, t := range w.Tasks {
		if member(i) && !done[i] {
			left = append(left, t.ID)
		}
	}
	down := map[string][]string{}
	for _, id := range left {
		for _, u := range w.Tasks[ids[id]].Upstream {
			down[u] = append(down[u], id)
		}
	}
	for _, scc := range tarjan(left, down) {
		if len(scc) < 2 {
			continue
		}
		in := map[string]bool{}
		start := scc[0]
		for _, id := range scc {
			in[id] = true
			if ids[id] < ids[start] {
				start = id
			}
		}
		path := shortestCycle(start, down, in)
		tn := p.taskInfo[ids[start]]
		ce := &CycleError{Path: path}
		p.errs = append(p.errs, &Error{File: p.file, Line: int(tn.idAt.line), Col: int(tn.idAt.col), Msg: ce.Error(), Err: ce,
			Hint: "a task may not depend on itself through needs: or ${{ tasks... }} references"})
	}
}

// tarjan returns the strongly connected components of the graph.
func tarjan(nodes []string, edges map[string][]string) [][]string {
	index := map[string]int{}
	low := map[string]int{}
	onStack := map[string]bool{}
	var stack []string
	var out [][]string
	next := 0
	var visit func(v string)
	visit = func(v string) {
		index[v], low[v] = next, next
		next++
		stack = append(stack, v)
		onStack[v] = true
		for _, w := range edges[v] {
			if _, seen := index[w]; !seen {
				visit(w)
				low[v] = min(low[v], low[w])
			} else if onStack[w] {
				low[v] = min(low[v], index[w])
			}
		}
		if low[v] == index[v] {
			var scc []string
			for {
				w := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				onStack[w] = false
				scc = append(scc, w)
				if w == v {
					break
				}
			}
			out = append(out, scc)
		}
	}
	for _, v := range nodes {
		if _, seen := index[v]; !seen {
			visit(v)
		}
	}
	return out
}

// shortestCycle finds the shortest path from start back to start inside
// the component in, following edges in sorted order.
func shortestCycle(start string, edges map[string][]string, in map[string]bool) []string {
	prev := map[string]string{}
	queue := []string{start}
	for len(queue) > 0 {
		v := queue[0]
		queue = queue[1:]
		next := append([]string(nil), edges[v]...)
		sort.Strings(next)
		for _, w := range next {
			if !in[w] {
				continue
			}
			if w == start {
				path := []string{start}
				for x := v; x != start; x = prev[x] {
					path = append(path, x)
				}
				for i, j := 1, len(path)-1; i < j; i, j = i+1, j-1 {
					path[i], path[j] = path[j], path[i]
				}
				return append(path, start)
			}
			if _, seen := prev[w]; !seen {
				prev[w] = v
				queue = append(queue, w)
			}
		}
	}
	return []string{start, start}
}

// checkWhenTypes refuses a comparison whose sides are known, from
// literals and declared param types, to be of different kinds (a string
// param == 1 is never true; a string param > 0 fails at run time), and an
// ordering of anything but numbers or strings. Task outputs have no
// declared kind and are not checked.
func (p *parser) checkWhenTypes(tn *taskNodes, n node) {
	switch n := n.(type) {
	case *notNode:
		p.checkWhenTypes(tn, n.x)
	case *binNode:
		p.checkWhenTypes(tn, n.l)
		p.checkWhenTypes(tn, n.r)
		if n.op == "&&" || n.op == "||" {
			return
		}
		lk, ld := p.staticKind(n.l)
		rk, rd := p.staticKind(n.r)
		line, col := p.strPos(tn.when, n.off)
		ordering := n.op != "==" && n.op != "!="
		switch {
		case lk == "" || rk == "":
			if ordering {
				for _, side := range []struct{ k, d string }{{lk, ld}, {rk, rd}} {
					if side.k != "" && side.k != "number" && side.k != "string" {
						p.errAt(line, col, "order numbers or strings only", "when: %s is %s: %s needs numbers or strings", side.d, article(side.k), n.op)
						return
					}
				}
			}
		case lk != rk && lk != "null" && rk != "null":
			hint := "compare values of one kind"
			if pd, lit, litKind := paramSide(n.l, n.r); pd != "" {
				switch litKind {
				case "number":
					hint = fmt.Sprintf("quote the number ('%s') to compare text, or declare %s type: int or float", lit, pd)
				case "string":
					pk := lk
					if pk == "string" {
						pk = rk
					}
					switch pk {
					case "number":
						hint = fmt.Sprintf("compare with a number (no quotes), or declare %s type: string", pd)
					case "bool":
						hint = fmt.Sprintf("compare with true or false (no quotes), or declare %s type: string", pd)
					}
				case "bool":
					hint = fmt.Sprintf("declare %s type: bool, or compare it with a value of its type", pd)
				}
			}
			what := "is never true"
			switch {
			case n.op == "!=":
				what = "is always true"
			case ordering:
				what = "fails at run time"
			}
			p.errAt(line, col, hint, "when: %s is %s and %s is %s: %s %s", ld, article(lk), rd, article(rk), n.op, what)
		case ordering && lk != "number" && lk != "string":
			p.errAt(line, col, "order numbers or strings only", "when: %s and %s are %ss: %s needs numbers or strings", ld, rd, lk, n.op)
		}
	}
}

// checkCondition refuses, where a when: wants a condition (the whole
// expression, each side of && and ||, what ! negates), a value known
// before the run to be no boolean: a param declared string, int, float,
// list or map, or a literal other than true and false. A task output is
// checked when the run evaluates it (condition).
func (p *parser) checkCondition(tn *taskNodes, n node) {
	switch x := n.(type) {
	case *notNode:
		p.checkCondition(tn, x.x)
		return
	case *binNode:
		if x.op == "&&" || x.op == "||" {
			p.checkCondition(tn, x.l)
			p.checkCondition(tn, x.r)
		}
		return
	}
	k, d := p.staticKind(n)
	if k == "" || k == "bool" {
		return
	}
	off := 0
	hint := "write true or false, or a comparison"
	if r, ok := n.(*refNode); ok {
		off = r.r.off
		switch k {
		case "string":
			hint = fmt.Sprintf("compare it: %s == 'true'", d)
		case "number":
			hint = fmt.Sprintf("compare it: %s != 0", d)
		default:
			hint = fmt.Sprintf("declare %s type: bool, or compare it with a value", d)
		}
	}
	line, col := p.strPos(tn.when, off)
	p.errAt(line, col, hint, "when: %s is %s, not a condition: a condition must be true or false", d, article(k))
}

// staticKind is the kind of a when: operand known before the run —
// "number", "string", "bool", "null", "list" or "map" — and how to name
// it; "" for a task output or a run value.
func (p *parser) staticKind(n node) (kind, desc string) {
	switch n := n.(type) {
	case *litNode:
		switch v := n.v.(type) {
		case nil:
			return "null", "null"
		case bool:
			return "bool", strconv.FormatBool(v)
		case json.Number:
			return "number", string(v)
		case string:
			return "string", formatExpr(n)
		}
	case *notNode:
		return "bool", formatExpr(n)
	case *refNode:
		if n.r.kind != refParam {
			return "", ""
		}
		d, ok := p.params[n.r.name]
		if !ok {
			return "", "" // reported as unknown already
		}
		switch d.Type {
		case cairn.KindInt, cairn.KindFloat:
			return "number", "params." + n.r.name
		case cairn.KindString, cairn.KindBool, cairn.KindList, cairn.KindMap:
			return string(d.Type), "params." + n.r.name
		}
	case *binNode:
		return "bool", formatOperand(n)
	}
	return "", ""
}

// paramSide returns, when one side of a comparison is a param and the
// other a literal, the param's name, the literal as written and its kind.
func paramSide(l, r node) (param, lit, litKind string) {
	if _, ok := l.(*litNode); ok {
		l, r = r, l
	}
	ref, ok := l.(*refNode)
	lt, lok := r.(*litNode)
	if !ok || !lok || ref.r.kind != refParam {
		return "", "", ""
	}
	switch lt.v.(type) {
	case json.Number:
		litKind = "number"
	case string:
		litKind = "string"
	case bool:
		litKind = "bool"
	}
	return "params." + ref.r.name, formatExpr(lt), litKind
}

func article(kind string) string {
	switch kind {
	case "null":
		return "null"
	case "int":
		return "an int"
	}
	return "a " + kind
}

// cacheDefaulter is a TypeSet that knows a type's caching default for a
// task's params as written (*tasks.Registry: collect is cached by
// default only from its synthetic source).
type cacheDefaulter interface {
	CacheDefault(name string, params map[string]any) (on bool, why string)
}

// decideCache sets the task's Cached and CacheWhy from its cache: and its
// type's default, refusing cache: true on a type that is never cached.
func (p *parser) decideCache(tn *taskNodes) {
	t := tn.task
	var on bool
	var why string
	switch {
	case tn.info == nil:
		// Unknown type, or parsed without types.
		why = "its type's default is unknown"
	case p.opts.Types != nil && len(t.With) == 0:
		// Every task of a type without params has its type's default:
		// asked once (a fan of 100,000 noop tasks asked 100,000 times,
		// each a TypeInfo and a Sprintf).
		d, ok := p.cacheDefaults[t.Type]
		if !ok {
			d.on, d.why = p.cacheDefault(t.Type, nil, *tn.info)
			if p.cacheDefaults == nil {
				p.cacheDefaults = map[string]cacheDefault{}
			}
			p.cacheDefaults[t.Type] = d
		}
		on, why = d.on, d.why
	case p.opts.Types != nil:
		on, why = p.cacheDefault(t.Type, t.With, *tn.info)
	}
	if t.Cache == nil {
		t.Cached, t.CacheWhy = on, p.intern(why)
		return
	}
	if *t.Cache && tn.info != nil && tn.info.Cache == cairn.CacheNever {
		p.errorAt(tn.cacheAt, "remove cache: true", "task %q: type %q is never cached", t.ID, t.Type)
		return
	}
	t.Cached = *t.Cache
	t.CacheWhy = p.intern(fmt.Sprintf("the task says cache: %t", *t.Cache))
}

// cacheDefault is whether a task of type name with params is cached by
// default, and why.
type cacheDefault struct {
	on  bool
	why string
}

// cacheDefault asks the parser's types whether a task of type name (info)
// with params is cached by default, and why.
func (p *parser) cacheDefault(name string, params map[string]any, info cairn.TypeInfo) (on bool, why string) {
	if cd, ok := p.opts.Types.(cacheDefaulter); ok {
		return cd.CacheDefault(name, params)
	}
	return tasks.CacheDefaultOf(info)
}

// intern returns s, the same string for equal ones (see parser.whys).
func (p *parser) intern(s string) string {
	if w, ok := p.whys[s]; ok {
		return w
	}
	if p.whys == nil {
		p.whys = map[string]string{}
	}
	p.whys[s] = s
	return s
}

// quoteClipped quotes s (%q), its first max bytes only when it is longer
// (cut at a character's start), saying how long it is: a refusal of a
// 1 MB id does not print it whole.
func quoteClipped(s string, max int) string {
	if len(s) <= max {
		return strconv.Quote(s)
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%q… (%d bytes in all)", s[:cut], len(s))
}
