package scheduler

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/cairnml/cairn"
)

// FanOut is a Graph with for_each tasks (docs/workflows.md, Fan-out).
// *workflows.Workflow implements it. A Graph that does not has none.
type FanOut interface {
	// ForEach reports whether task id has a for_each, and its
	// max_parallel (0: no bound of its own).
	ForEach(id string) (maxParallel int, ok bool)
	// Items resolves task id's for_each against s: the items, each a
	// JSON value, in order. An error (a reference that does not resolve,
	// a value that is not a list, more than cairn.MaxForEachItems items)
	// fails the task.
	Items(id string, s Scope) ([]json.RawMessage, error)
}

// ItemScope is the Scope an item of a for_each task is prepared in:
// ${{ item }} and ${{ item_index }} resolve through it.
type ItemScope interface {
	Scope
	Item() (value json.RawMessage, index int)
}

// itemScope is a snapshot's scope with one item.
type itemScope struct {
	scope
	value json.RawMessage
	index int
}

func (s itemScope) Item() (json.RawMessage, int) { return s.value, s.index }

var _ ItemScope = itemScope{}

// group is a for_each task's items in a snapshot: they sit at the
// positions base … base+n-1, in item order (after every declared task),
// and their counts are kept by Set as the task runs change.
type group struct {
	parent      int
	base, n     int
	max         int // max_parallel; 0 for none
	active      int // items ready, leased or running
	nonTerminal int
	next        int // items before it are known not to be pending
}

// fanOut returns the graph's for_each side, or nil.
func (s *Snapshot) fanOut() FanOut {
	f, _ := s.Graph.(FanOut)
	return f
}

// groupOf returns the group of the item at position i, or nil.
func (s *Snapshot) groupOf(i int) *group {
	if i < len(s.Topo.IDs) && i >= s.declared {
		return s.groups[s.itemParent[i-s.declared]]
	}
	return nil
}

// addItems appends the items of the expanded for_each task at position
// parent to the snapshot: positions after every task already there,
// upstream of nothing and downstream of their task, so that an item's
// change makes the planner look at its task.
func (s *Snapshot) addItems(parent int, items []*cairn.TaskRun) {
	maxPar := 0
	if f := s.fanOut(); f != nil {
		maxPar, _ = f.ForEach(s.Topo.IDs[parent])
	}
	s.Topo.IDs = slices.Clip(s.Topo.IDs) // Graph.TaskIDs' slice is shared: append to a copy
	g := &group{parent: parent, base: len(s.Tasks), n: len(items), max: maxPar}
	if s.groups == nil {
		s.groups = make(map[int]*group)
	}
	s.groups[parent] = g
	for _, tr := range items {
		i := len(s.Tasks)
		s.Tasks = append(s.Tasks, tr)
		s.Topo.IDs = append(s.Topo.IDs, tr.TaskID)
		s.Topo.Index[tr.TaskID] = i
		s.Topo.Up = append(s.Topo.Up, nil)
		s.Topo.Down = append(s.Topo.Down, []int{parent})
		s.itemParent = append(s.itemParent, parent)
		s.count(i, tr)
	}
	s.advance(g)
}

// advance moves g's cursor past the items that are not pending.
func (s *Snapshot) advance(g *group) {
	for g.next < g.n && s.Tasks[g.base+g.next].State != cairn.TaskPending {
		g.next++
	}
}

// attachItems places a loaded run's item task runs (trs, of any order)
// under their tasks. Every expanded task must have all of its items, and
// every item an expanded task.
func (s *Snapshot) attachItems(trs []*cairn.TaskRun) error {
	byParent := make(map[int][]*cairn.TaskRun)
	for _, tr := range trs {
		parent, index, _ := cairn.ParseItemID(tr.TaskID)
		p, ok := s.Topo.Index[parent]
		if !ok || p >= s.declared {
			return fmt.Errorf("run %s has item %q of a task its workflow lacks", s.Run.ID, tr.TaskID)
		}
		if !s.Tasks[p].Expanded || index >= s.Tasks[p].Items {
			return fmt.Errorf("run %s has item %q that its task %s does not count", s.Run.ID, tr.TaskID, parent)
		}
		byParent[p] = append(byParent[p], tr)
	}
	parents := make([]int, 0, len(byParent))
	for i := 0; i < s.declared; i++ {
		if s.Tasks[i].Expanded {
			parents = append(parents, i)
		}
	}
	for _, p := range parents {
		items := byParent[p]
		sort.Slice(items, func(a, b int) bool {
			_, x, _ := cairn.ParseItemID(items[a].TaskID)
			_, y, _ := cairn.ParseItemID(items[b].TaskID)
			return x < y
		})
		for k, tr := range items {
			if _, index, _ := cairn.ParseItemID(tr.TaskID); index != k {
				return fmt.Errorf("run %s lacks item %s", s.Run.ID, cairn.ItemID(s.Topo.IDs[p], k))
			}
		}
		if len(items) != s.Tasks[p].Items {
			return fmt.Errorf("run %s lacks item %s", s.Run.ID, cairn.ItemID(s.Topo.IDs[p], len(items)))
		}
		s.addItems(p, items)
	}
	return nil
}

// NewItems returns the pending task runs of expansion e of the task run
// parent, as the store creates them (Version 1): each routed, pooled and
// prioritised as parent is.
func NewItems(parent *cairn.TaskRun, e Expansion) []*cairn.TaskRun {
	trs := make([]*cairn.TaskRun, len(e.Items))
	for k, v := range e.Items {
		trs[k] = &cairn.TaskRun{RunID: parent.RunID, TaskID: cairn.ItemID(parent.TaskID, k), Type: parent.Type,
			State: cairn.TaskPending, Retry: parent.Retry, Timeout: parent.Timeout, Cache: parent.Cache,
			Labels: parent.Labels, Queue: parent.Queue, Pool: parent.Pool, PoolSlots: parent.PoolSlots,
			Priority: parent.Priority, Item: v, Version: 1}
	}
	return trs
}

// expand plans for_each task i, whose upstreams are done: its items are
// resolved and recorded (Plan.Expand), or the task fails saying why. It
// reports whether the task ended.
func (pl *planner) expand(i int, f FanOut) bool {
	s := pl.s
	id := s.Topo.IDs[i]
	items, err := f.Items(id, scope{s})
	if err != nil {
		pl.change(i, cairn.TaskFailed, err.Error())
		return true
	}
	pl.p.Expand = append(pl.p.Expand, Expansion{TaskID: id, FromVersion: s.Tasks[i].Version, Items: items})
	return false
}

// fanIn plans the expanded for_each task at position i: it makes its
// pending items ready (or skipped, or failed) in item order while its
// max_parallel and the run's concurrency leave room, and ends it once
// every item has ended — succeeded when each succeeded or was skipped
// (skipped when all of them were), failed otherwise. It reports whether
// the task ended.
func (pl *planner) fanIn(i int) bool {
	s := pl.s
	g := s.groups[i]
	if g == nil {
		return false // not loaded: cannot happen for a snapshot NewSnapshot made
	}
	id := s.Topo.IDs[i]
	k := max(g.next, pl.cursor[i])
	for k < g.n && pl.room() && (g.max <= 0 || g.active+pl.gActive[i] < g.max) {
		j := g.base + k
		if pl.state(j) != cairn.TaskPending {
			k++
			continue
		}
		tr := s.Tasks[j]
		prep, err := s.Graph.Prepare(id, itemScope{scope: scope{s}, value: tr.Item, index: k})
		switch {
		case err != nil:
			pl.change(j, cairn.TaskFailed, err.Error())
		case !prep.Run:
			pl.change(j, cairn.TaskSkipped, cairn.WhenFalse)
		default:
			c := pl.change(j, cairn.TaskReady, "")
			c.Params, c.Inputs = prep.Params, prep.Inputs
			pl.active++
		}
		k++
	}
	if pl.cursor == nil {
		pl.cursor = make(map[int]int)
	}
	pl.cursor[i] = k
	if g.nonTerminal+pl.gNonTerminal[i] > 0 {
		return false
	}
	var bad []string
	skipped := 0
	for k := 0; k < g.n; k++ {
		switch st := pl.state(g.base + k); st {
		case cairn.TaskSucceeded:
		case cairn.TaskSkipped:
			skipped++
		default:
			bad = append(bad, s.Topo.IDs[g.base+k]+" "+string(st))
		}
	}
	switch {
	case len(bad) > 0:
		msg := fmt.Sprintf("%d of %d items did not succeed: ", len(bad), g.n)
		const show = 5
		if len(bad) > show {
			msg += strings.Join(bad[:show], ", ") + fmt.Sprintf(", and %d more", len(bad)-show)
		} else {
			msg += strings.Join(bad, ", ")
		}
		pl.change(i, cairn.TaskFailed, msg)
	case g.n > 0 && skipped == g.n:
		pl.change(i, cairn.TaskSkipped, fmt.Sprintf("all %d items were skipped", g.n))
	default:
		pl.change(i, cairn.TaskSucceeded, "").FanIn = true
	}
	return true
}

// itemFanIn is the output name of an expanded for_each task: a JSON list
// of its items' outputs in item order, null for an item without it (one
// skipped). ok is false when no item has it (and there are items).
func (s *Snapshot) itemFanIn(i int, name string) (json.RawMessage, bool) {
	g := s.groups[i]
	if g == nil {
		return nil, false
	}
	var b strings.Builder
	b.WriteByte('[')
	found := g.n == 0
	for k := 0; k < g.n; k++ {
		if k > 0 {
			b.WriteByte(',')
		}
		tr := s.Tasks[g.base+k]
		v, ok := tr.Outputs[name]
		if tr.State != cairn.TaskSucceeded || !ok {
			b.WriteString("null")
			continue
		}
		found = true
		b.Write(v)
	}
	b.WriteByte(']')
	if !found {
		return nil, false
	}
	return json.RawMessage(b.String()), true
}
