package scheduler

import (
	"container/heap"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/cairnml/cairn"
)

// Graph is a workflow as the planner sees it. *workflows.Workflow
// implements it.
type Graph interface {
	// TaskIDs returns every task id in a topological order (upstreams
	// first).
	TaskIDs() []string
	// Upstream returns the ids task id waits for.
	Upstream(id string) []string
	// Prepare resolves task id's params and inputs and evaluates its
	// `when:` against the run's params and its upstreams' outputs. An
	// error means a reference could not be resolved: the task fails.
	Prepare(id string, scope Scope) (Prepared, error)
}

// Scope is what references resolve against.
type Scope interface {
	Param(name string) (any, bool)
	Output(taskID, name string) (json.RawMessage, bool)
	Meta(key string) (string, bool)
}

// Prepared is a task ready to be dispatched, or skipped.
type Prepared struct {
	Run    bool // false: `when:` was false
	Params json.RawMessage
	Inputs map[string]cairn.ArtifactRef
}

// Topology is a Graph indexed once per run, so that planning — done on
// every event — walks slices instead of hashing task ids.
type Topology struct {
	IDs   []string       // topological order
	Index map[string]int // task id → position in IDs
	Up    [][]int        // positions of each task's upstreams
	Down  [][]int        // positions of each task's downstreams
}

// NewTopology indexes g.
func NewTopology(g Graph) *Topology {
	ids := g.TaskIDs()
	t := &Topology{IDs: ids, Index: make(map[string]int, len(ids)), Up: make([][]int, len(ids)), Down: make([][]int, len(ids))}
	for i, id := range ids {
		t.Index[id] = i
	}
	for i, id := range ids {
		for _, u := range g.Upstream(id) {
			if j, ok := t.Index[u]; ok {
				t.Up[i] = append(t.Up[i], j)
				t.Down[j] = append(t.Down[j], i)
			}
		}
	}
	return t
}

// Snapshot is everything PlanRun reads.
type Snapshot struct {
	Run   *cairn.Run
	Graph Graph
	Topo  *Topology
	// Tasks holds the run's task runs in Topo.IDs order.
	Tasks []*cairn.TaskRun
	// Cancel asks for the run to be cancelled (Ctrl-C, `cairn cancel`).
	Cancel bool
	Now    time.Time
	// Dirty, when not nil, lists the positions of the tasks whose state
	// changed since the last plan: PlanRun then looks only at them, their
	// downstream tasks and the retrying ones, rather than at every task —
	// planning runs on every event, and a run may have 10,000 tasks. It
	// must be complete. Nil means look at everything.
	Dirty []int

	// Kept by Set (or Reindex) for the Dirty path.
	nonTerminal int
	retrying    map[int]bool
	// ready counts the tasks ready in the snapshot (Set, Reindex). The
	// store may have fewer (a lease the snapshot has not heard of), never
	// more: only the run's planner, this snapshot's, makes a task ready.
	ready int

	// declared is the number of the workflow's own tasks: the positions
	// from it on hold the items of for_each tasks (foreach.go), each
	// group's after one another; itemParent gives each item's task.
	declared   int
	groups     map[int]*group // by the position of the for_each task
	itemParent []int          // by position - declared
}

// NewSnapshot indexes a run's task runs along g's topology. Every task of
// g must have a task run.
func NewSnapshot(run *cairn.Run, g Graph, trs []*cairn.TaskRun) (*Snapshot, error) {
	topo := NewTopology(g)
	s := &Snapshot{Run: run, Graph: g, Topo: topo, Tasks: make([]*cairn.TaskRun, len(topo.IDs)), declared: len(topo.IDs)}
	var items []*cairn.TaskRun
	for _, tr := range trs {
		i, ok := topo.Index[tr.TaskID]
		if !ok {
			if _, _, isItem := cairn.ParseItemID(tr.TaskID); isItem {
				items = append(items, tr)
				continue
			}
			return nil, fmt.Errorf("run %s has task %q that its workflow lacks", run.ID, tr.TaskID)
		}
		s.Tasks[i] = tr
	}
	for i, tr := range s.Tasks {
		if tr == nil {
			return nil, fmt.Errorf("run %s lacks a task run for %q", run.ID, topo.IDs[i])
		}
	}
	s.Reindex()
	if err := s.attachItems(items); err != nil {
		return nil, err
	}
	return s, nil
}

// Set replaces the task run at position i, keeping the counts the Dirty
// path of PlanRun relies on.
func (s *Snapshot) Set(i int, tr *cairn.TaskRun) {
	old := s.Tasks[i]
	if !old.State.Terminal() {
		s.nonTerminal--
	}
	if old.State == cairn.TaskReady {
		s.ready--
	}
	g := s.groupOf(i)
	if g != nil {
		if !old.State.Terminal() {
			g.nonTerminal--
		}
		if busy(old.State) {
			g.active--
		}
	}
	delete(s.retrying, i)
	s.Tasks[i] = tr
	s.count(i, tr)
	if g != nil {
		s.advance(g)
	}
}

// busy reports whether an item in st takes a place of its task's
// max_parallel: ready, leased or running.
func busy(st cairn.TaskState) bool { return st == cairn.TaskReady || st.Active() }

// Reindex recomputes those counts from Tasks, after they were changed in
// place.
func (s *Snapshot) Reindex() {
	s.nonTerminal, s.ready, s.retrying = 0, 0, make(map[int]bool)
	for _, g := range s.groups {
		g.active, g.nonTerminal, g.next = 0, 0, 0
	}
	for i, tr := range s.Tasks {
		s.count(i, tr)
	}
	for _, g := range s.groups {
		s.advance(g)
	}
}

func (s *Snapshot) count(i int, tr *cairn.TaskRun) {
	if !tr.State.Terminal() {
		s.nonTerminal++
	}
	if tr.State == cairn.TaskReady {
		s.ready++
	}
	if tr.State == cairn.TaskRetrying {
		if s.retrying == nil {
			s.retrying = make(map[int]bool)
		}
		s.retrying[i] = true
	}
	if g := s.groupOf(i); g != nil {
		if !tr.State.Terminal() {
			g.nonTerminal++
		}
		if busy(tr.State) {
			g.active++
		}
	}
}

// Task returns the task run of id, or nil.
func (s *Snapshot) Task(id string) *cairn.TaskRun {
	if i, ok := s.Topo.Index[id]; ok {
		return s.Tasks[i]
	}
	return nil
}

// scope resolves references against a snapshot.
type scope struct{ s *Snapshot }

func (sc scope) Param(name string) (any, bool) {
	v, ok := sc.s.Run.Params[name]
	return v, ok
}

// Meta answers the references to the run itself. workflow.dir is the
// directory of Run.SourcePath, which `cairn run` records as an absolute
// path; a run created with a relative one has no workflow.dir.
func (sc scope) Meta(key string) (string, bool) {
	r := sc.s.Run
	switch key {
	case "workflow.dir":
		if !filepath.IsAbs(r.SourcePath) {
			return "", false
		}
		return filepath.Dir(r.SourcePath), true
	case "workflow.name":
		return r.Workflow, true
	case "run.id":
		return r.ID, true
	case "run.scheduled_for":
		t := r.ScheduledFor
		if t.IsZero() {
			t = r.CreatedAt
		}
		loc := time.UTC
		if z, ok := sc.s.Graph.(Zoned); ok {
			if l := z.Zone(); l != nil {
				loc = l
			}
		}
		return t.In(loc).Format(time.RFC3339), true
	}
	return "", false
}

// Zoned is a Graph with a time zone: its schedule's, in which
// ${{ run.scheduled_for }} is written.
type Zoned interface {
	Zone() *time.Location
}

func (sc scope) Output(taskID, name string) (json.RawMessage, bool) {
	tr := sc.s.Task(taskID)
	if tr != nil && tr.Expanded && tr.State == cairn.TaskPending {
		// A for_each task ends in the plan that then prepares its
		// downstream tasks (its state here is the snapshot's): that it
		// succeeded is the planner's to check, as it does for every
		// upstream.
		return sc.s.itemFanIn(sc.s.Topo.Index[taskID], name)
	}
	if tr == nil || tr.State != cairn.TaskSucceeded {
		return nil, false
	}
	if tr.Expanded {
		return sc.s.itemFanIn(sc.s.Topo.Index[taskID], name)
	}
	v, ok := tr.Outputs[name]
	return v, ok
}

// PlanRun decides a run's next changes. It is pure: the same snapshot always
// gives the same plan, and it does not modify the snapshot.
//
// Rules, in topological order so that one plan propagates a chain:
//   - a cancel request cancels every non-terminal task and the run;
//   - a pending task whose upstreams include a failed, upstream_failed or
//     cancelled one becomes upstream_failed; once all upstreams succeeded
//     or were skipped, it is skipped if any was skipped, otherwise its
//     references are resolved: an unresolvable one fails it, a false
//     `when:` skips it, and else it becomes ready;
//   - a retrying task whose backoff has ended becomes ready;
//   - ready, leased and running tasks count against Run.MaxActive;
//   - when every task is terminal the run succeeds if all of them
//     succeeded or were skipped, and fails otherwise.
func PlanRun(s *Snapshot) *Plan {
	p := &Plan{RunID: s.Run.ID}
	run := s.Run
	if run.State.Terminal() {
		return p
	}
	pl := &planner{s: s, p: p, over: make(map[int]cairn.TaskState), nonTerminal: s.nonTerminal}
	if s.Cancel || run.CancelRequested {
		for i := range s.Tasks {
			if !pl.state(i).Terminal() {
				pl.change(i, cairn.TaskCancelled, "run cancelled")
			}
		}
		p.Run = &RunChange{FromVersion: run.Version, From: run.State, To: cairn.RunCancelled, Error: "cancelled", At: s.Now}
		return p
	}
	if run.State == cairn.RunQueued {
		p.Run = &RunChange{FromVersion: run.Version, From: run.State, To: cairn.RunRunning, At: s.Now}
	}

	if s.Dirty == nil || run.MaxActive > 0 {
		// Everything, in topological order, so that one plan propagates
		// down a chain. A per-run limit frees room for any pending task
		// whenever one finishes, so it always takes this path.
		pl.nonTerminal = 0
		for _, tr := range s.Tasks {
			if tr.State == cairn.TaskReady || tr.State.Active() {
				pl.active++
			}
			if !tr.State.Terminal() {
				pl.nonTerminal++
			}
		}
		if run.State == cairn.RunQueued && s.Topo != nil {
			// A new run's first plan changes at least its roots (ready,
			// or skipped): all of a fan's tasks. Made room for at once,
			// the changes and their states are not copied as they grow
			// (a tenth of the first plan of 10,000 tasks).
			roots := 0
			for i, up := range s.Topo.Up {
				if len(up) == 0 && s.Tasks[i].State == cairn.TaskPending {
					roots++
				}
			}
			p.Tasks = make([]TaskChange, 0, roots)
			pl.over = make(map[int]cairn.TaskState, roots)
		}
		for i := range s.Tasks {
			pl.consider(i)
		}
	} else {
		// Only what can have changed: the dirty tasks, their downstreams,
		// and the retrying ones; in topological order again (a min-heap
		// of positions, which are topological), adding the downstreams
		// of each task this plan ends.
		h := &posHeap{}
		queued := make(map[int]bool)
		push := func(i int) {
			if !queued[i] {
				queued[i] = true
				heap.Push(h, i)
			}
		}
		for _, i := range s.Dirty {
			push(i)
			for _, d := range s.Topo.Down[i] {
				push(d)
			}
		}
		for i := range s.retrying {
			push(i)
		}
		for h.Len() > 0 {
			i := heap.Pop(h).(int)
			if pl.consider(i) {
				for _, d := range s.Topo.Down[i] {
					push(d)
				}
			}
		}
	}

	if p.Run != nil {
		// queued → running first; the terminal state, if any, comes from
		// the next plan, so every run passes through running.
		return p
	}
	if pl.nonTerminal > 0 {
		return p
	}
	var bad []string
	for i := range s.Tasks {
		if st := pl.state(i); st != cairn.TaskSucceeded && st != cairn.TaskSkipped {
			bad = append(bad, s.Topo.IDs[i]+" "+string(st))
		}
	}
	rc := &RunChange{FromVersion: run.Version, From: run.State, To: cairn.RunSucceeded, At: s.Now}
	if len(bad) > 0 {
		sort.Strings(bad)
		rc.To = cairn.RunFailed
		rc.Error = summarize(bad)
	}
	p.Run = rc
	return p
}

// planner is one PlanRun in progress: the changes so far over the
// snapshot's states.
type planner struct {
	s           *Snapshot
	p           *Plan
	over        map[int]cairn.TaskState // states this plan changed
	active      int                     // ready, leased or running; counted on the full path only
	nonTerminal int                     // after this plan's changes so far
	// What this plan changed of for_each tasks' item counts (by the
	// task's position), and how far fanIn looked through their items.
	gActive, gNonTerminal map[int]int
	cursor                map[int]int
}

func (pl *planner) state(i int) cairn.TaskState {
	if st, ok := pl.over[i]; ok {
		return st
	}
	return pl.s.Tasks[i].State
}

func (pl *planner) change(i int, to cairn.TaskState, msg string) *TaskChange {
	tr := pl.s.Tasks[i]
	pl.p.Tasks = append(pl.p.Tasks, TaskChange{
		TaskID: tr.TaskID, FromVersion: tr.Version, From: tr.State, To: to, Error: msg, At: pl.s.Now,
	})
	if !pl.state(i).Terminal() && to.Terminal() {
		pl.nonTerminal--
	}
	if g := pl.s.groupOf(i); g != nil {
		if pl.gActive == nil {
			pl.gActive, pl.gNonTerminal = make(map[int]int), make(map[int]int)
		}
		from := pl.state(i)
		switch {
		case busy(from) && !busy(to):
			pl.gActive[g.parent]--
		case !busy(from) && busy(to):
			pl.gActive[g.parent]++
		}
		if !from.Terminal() && to.Terminal() {
			pl.gNonTerminal[g.parent]--
		}
	}
	pl.over[i] = to
	return &pl.p.Tasks[len(pl.p.Tasks)-1]
}

func (pl *planner) room() bool {
	return pl.s.Run.MaxActive <= 0 || pl.active < pl.s.Run.MaxActive
}

// itemRoom reports whether task i, if an item, has room under its task's
// max_parallel.
func (pl *planner) itemRoom(i int) bool {
	g := pl.s.groupOf(i)
	return g == nil || g.max <= 0 || g.active+pl.gActive[g.parent] < g.max
}

// forEach reports whether declared task i has a for_each.
func (pl *planner) forEach(i int) bool {
	f := pl.s.fanOut()
	if f == nil {
		return false
	}
	_, ok := f.ForEach(pl.s.Topo.IDs[i])
	return ok
}

// consider plans task i and reports whether this plan ended it (so that
// its downstream tasks may need planning too).
func (pl *planner) consider(i int) (ended bool) {
	s, ids := pl.s, pl.s.Topo.IDs
	tr := s.Tasks[i]
	switch pl.state(i) {
	case cairn.TaskPending:
		if i >= s.declared {
			return false // an item: its task plans it (fanIn)
		}
		if tr.Expanded {
			return pl.fanIn(i)
		}
		waiting, skipped, failed := -1, -1, -1
		for _, u := range s.Topo.Up[i] {
			switch pl.state(u) {
			case cairn.TaskFailed, cairn.TaskUpstreamFailed, cairn.TaskCancelled:
				if failed < 0 {
					failed = u
				}
			case cairn.TaskSkipped:
				if skipped < 0 {
					skipped = u
				}
			case cairn.TaskSucceeded:
			default:
				waiting = u
			}
		}
		switch {
		case failed >= 0:
			pl.change(i, cairn.TaskUpstreamFailed, fmt.Sprintf("upstream %s %s", ids[failed], pl.state(failed)))
			return true
		case waiting >= 0:
		case skipped >= 0:
			pl.change(i, cairn.TaskSkipped, fmt.Sprintf("upstream %s was skipped", ids[skipped]))
			return true
		case pl.forEach(i):
			return pl.expand(i, s.fanOut())
		case !pl.room():
		default:
			prep, err := s.Graph.Prepare(ids[i], scope{s})
			switch {
			case err != nil:
				pl.change(i, cairn.TaskFailed, err.Error())
				return true
			case !prep.Run:
				pl.change(i, cairn.TaskSkipped, cairn.WhenFalse)
				return true
			default:
				c := pl.change(i, cairn.TaskReady, "")
				c.Params, c.Inputs = prep.Params, prep.Inputs
				pl.active++
			}
		}
	case cairn.TaskRetrying:
		if tr.RetryAt.After(s.Now) {
			if pl.p.WakeAt.IsZero() || tr.RetryAt.Before(pl.p.WakeAt) {
				pl.p.WakeAt = tr.RetryAt
			}
			return false
		}
		if pl.room() && pl.itemRoom(i) {
			c := pl.change(i, cairn.TaskReady, "")
			c.Params, c.Inputs = tr.Params, tr.Inputs
			pl.active++
		}
	}
	return false
}

// posHeap is a min-heap of task positions.
type posHeap []int

func (h posHeap) Len() int           { return len(h) }
func (h posHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h posHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *posHeap) Push(x any)        { *h = append(*h, x.(int)) }
func (h *posHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

func summarize(bad []string) string {
	const max = 5
	msg := fmt.Sprintf("%d tasks did not succeed: ", len(bad))
	if len(bad) == 1 {
		msg = "1 task did not succeed: "
	}
	if len(bad) > max {
		return msg + strings.Join(bad[:max], ", ") + fmt.Sprintf(", and %d more", len(bad)-max)
	}
	return msg + strings.Join(bad, ", ")
}
