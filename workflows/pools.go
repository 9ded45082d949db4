package workflows

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/cairnml/cairn"
)

// Pools and priorities in a workflow file (see cairn's pools.go):
//
//	pools: {gpu: 1, warehouse: 4}   # declared when a run is created
//	defaults: {priority: 1}
//	tasks:
//	  - {id: train, type: train, pool: gpu, pool_slots: 1, priority: 5}
//
// A task's pool need not be declared in the file: a server may declare it
// (cairn server --pool gpu=1). Whether it is declared somewhere is known
// only with the database, so it is checked when the run is created (and by
// cairn run and cairn validate --db against the home's pools).

// pools reads the top-level `pools:`, a mapping of pool names to sizes
// (whole numbers from 1 to cairn.MaxPoolSize); nil for none.
func (p *parser) pools(n *yaml.Node) map[string]int {
	kvs, ok := p.mapping(n, "pools")
	if !ok {
		return nil
	}
	var out map[string]int
	for _, kv := range kvs {
		if err := cairn.CheckPool(kv.key); err != nil {
			p.errorf(kv.k, cairn.PoolSyntax, "%v", err)
			continue
		}
		size, ok := p.wholeNumber(kv.v, "pool "+kv.key+" size", 1, cairn.MaxPoolSize,
			fmt.Sprintf("a pool's size is how many tasks hold it at once, e.g. %q", kv.key+": 1"))
		if !ok {
			continue
		}
		if out == nil {
			out = make(map[string]int, len(kvs))
		}
		out[kv.key] = size
	}
	return out
}

// pool reads a task's (or the defaults') `pool:` name; "" when it is not
// valid (the problem is reported) or null.
func (p *parser) pool(n *yaml.Node) string {
	d := deref(n)
	if d.Kind == yaml.ScalarNode && d.ShortTag() == "!!null" {
		return ""
	}
	name, ok := p.str(n, "pool")
	if !ok {
		return ""
	}
	if strings.Contains(name, "${{") {
		p.errorf(d, "name the pool itself, e.g. \"pool: gpu\"", "pool cannot hold a reference: it is read when the run is created")
		return ""
	}
	if err := cairn.CheckPool(name); err != nil {
		p.errorf(d, cairn.PoolSyntax, "%v", err)
		return ""
	}
	return name
}

// poolSlots reads a task's `pool_slots:`, 1 to cairn.MaxPoolSize; 1 when
// it is not valid (the problem is reported).
func (p *parser) poolSlots(n *yaml.Node) int {
	i, ok := p.wholeNumber(n, "pool_slots", 1, cairn.MaxPoolSize, "pool_slots is how many of its pool's slots the task holds, e.g. \"pool_slots: 2\"")
	if !ok {
		return 1
	}
	return i
}

// priority reads a `priority:`, a whole number from -cairn.MaxPriority to
// cairn.MaxPriority; 0 when it is not valid (the problem is reported).
func (p *parser) priority(n *yaml.Node) int {
	i, _ := p.wholeNumber(n, "priority", -cairn.MaxPriority, cairn.MaxPriority,
		fmt.Sprintf("a priority is a whole number from %d to %d, higher first, e.g. \"priority: 5\"", -cairn.MaxPriority, cairn.MaxPriority))
	return i
}

// wholeNumber reads an integer from lo to hi; a quoted one is refused with
// a hint to drop the quotes, a reference because the value is needed when
// the run is created.
func (p *parser) wholeNumber(n *yaml.Node, what string, lo, hi int, hint string) (int, bool) {
	d := deref(n)
	if d.Kind == yaml.ScalarNode && d.ShortTag() == "!!str" {
		if strings.Contains(d.Value, "${{") {
			p.errorf(d, hint, "%s cannot hold a reference: it is read when the run is created", what)
			return 0, false
		}
		if i, err := strconv.Atoi(strings.TrimSpace(d.Value)); err == nil {
			p.errorf(d, fmt.Sprintf("write it without quotes: %d", i), "%s must be an integer, not %s", what, describe(d))
			return 0, false
		}
	}
	if d.Kind != yaml.ScalarNode || d.ShortTag() != "!!int" {
		p.errorf(d, hint, "%s must be an integer, not %s", what, describe(d))
		return 0, false
	}
	var i int
	if err := d.Decode(&i); err != nil || i < lo || i > hi {
		p.errorf(d, hint, "%s must be from %d to %d, not %s", what, lo, hi, d.Value)
		return 0, false
	}
	return i, true
}

// checkPool checks a task's pool against the file's pools: pool_slots
// without a pool, or more than a pool the file declares has. A pool the
// file does not declare may be a server's: CheckPoolsDeclared, with the
// database's.
func (p *parser) checkPool(w *Workflow, tn *taskNodes) {
	t := tn.task
	if t.Pool == "" {
		if t.PoolSlots > 0 && tn.slotsAt.line > 0 {
			p.errorAt(tn.slotsAt, "add \"pool: NAME\", or remove pool_slots", "task %q has pool_slots but no pool", t.ID)
		}
		t.PoolSlots = 0
		return
	}
	if t.PoolSlots == 0 {
		t.PoolSlots = 1
	}
	if size, ok := w.Pools[t.Pool]; ok && t.PoolSlots > size {
		at := tn.slotsAt
		if at.line == 0 {
			at = filePos{int32(t.PoolLine), int32(t.PoolCol)}
		}
		p.errorAt(at, fmt.Sprintf("lower pool_slots to at most %d, or make pool %s larger in pools:", size, t.Pool),
			"task %q takes %d slots of pool %s, which has %d: it could never run", t.ID, t.PoolSlots, t.Pool, size)
	}
}

// CheckPools is CheckPoolsDeclared against the pools a database lists.
func CheckPools(w *Workflow, ps []cairn.PoolState) error {
	declared, server := map[string]int{}, map[string]bool{}
	for _, p := range ps {
		declared[p.Name], server[p.Name] = p.Size, p.Source == cairn.PoolServer
	}
	return CheckPoolsDeclared(w, declared, server)
}

// UsesPools reports whether a task of w takes a pool.
func (w *Workflow) UsesPools() bool {
	return slices.ContainsFunc(w.Tasks, func(t *Task) bool { return t.Pool != "" })
}

// CheckPoolsDeclared reports, as FILE:LINE:COL errors at each task's
// pool:, the tasks of w whose pool neither w's pools: nor declared (the
// database's pools, name → size: a server's and other workflows') has,
// or that take more slots than a pool of declared has (w's own sizes were
// checked by Parse). A pool of declared that a server declared wins over
// w's size for the same name: serverPools names them. nil when all is
// well.
func CheckPoolsDeclared(w *Workflow, declared map[string]int, serverPools map[string]bool) error {
	var errs ErrorList
	for _, t := range w.Tasks {
		if t.Pool == "" {
			continue
		}
		size, own := w.Pools[t.Pool]
		if dsize, ok := declared[t.Pool]; ok && (!own || serverPools[t.Pool]) {
			size, own = dsize, true
		}
		file := w.Path
		if t.File != "" {
			file = t.File // a sub-workflow's task
		}
		at := &Error{File: file, Line: max(t.PoolLine, 1), Col: max(t.PoolCol, 1)}
		switch {
		case !own:
			at.Msg = fmt.Sprintf("task %q: pool %s is not declared", t.ID, t.Pool)
			at.Hint = fmt.Sprintf("declare it in the file (pools: {%s: 1}) or on the server (cairn server --pool %s=SIZE)", t.Pool, t.Pool)
			if names := sortedKeys(declared); len(names) > 0 {
				at.Hint += "; declared: " + strings.Join(names, ", ")
			}
		case max(t.PoolSlots, 1) > size:
			at.Msg = fmt.Sprintf("task %q takes %d slots of pool %s, which has %d: it could never run", t.ID, max(t.PoolSlots, 1), t.Pool, size)
			at.Hint = fmt.Sprintf("lower pool_slots to at most %d", size)
			if own, ok := w.Pools[t.Pool]; ok && serverPools[t.Pool] && own != size {
				at.Hint += fmt.Sprintf(" (a server declared pool %s with --pool %s=%d, which wins over this file's %s: %d)", t.Pool, t.Pool, size, t.Pool, own)
			}
		default:
			continue
		}
		errs = append(errs, at)
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}
