package scheduler

import (
	"encoding/json"
	"fmt"
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
}

// NewTopology indexes g.
func NewTopology(g Graph) *Topology {
	ids := g.TaskIDs()
	t := &Topology{IDs: ids, Index: make(map[string]int, len(ids)), Up: make([][]int, len(ids))}
	for i, id := range ids {
		t.Index[id] = i
	}
	for i, id := range ids {
		for _, u := range g.Upstream(id) {
			if j, ok := t.Index[u]; ok {
				t.Up[i] = append(t.Up[i], j)
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
}

// NewSnapshot indexes a run's task runs along g's topology. Every task of
// g must have a task run.
func NewSnapshot(run *cairn.Run, g Graph, trs []*cairn.TaskRun) (*Snapshot, error) {
	topo := NewTopology(g)
	s := &Snapshot{Run: run, Graph: g, Topo: topo, Tasks: make([]*cairn.TaskRun, len(topo.IDs))}
	for _, tr := range trs {
		i, ok := topo.Index[tr.TaskID]
		if !ok {
			return nil, fmt.Errorf("run %s has task %q that its workflow lacks", run.ID, tr.TaskID)
		}
		s.Tasks[i] = tr
	}
	for i, tr := range s.Tasks {
		if tr == nil {
			return nil, fmt.Errorf("run %s lacks a task run for %q", run.ID, topo.IDs[i])
		}
	}
	return s, nil
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

func (sc scope) Output(taskID, name string) (json.RawMessage, bool) {
	tr := sc.s.Task(taskID)
	if tr == nil || tr.State != cairn.TaskSucceeded {
		return nil, false
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
	ids, up := s.Topo.IDs, s.Topo.Up
	state := make([]cairn.TaskState, len(s.Tasks))
	for i, tr := range s.Tasks {
		state[i] = tr.State
	}
	change := func(i int, to cairn.TaskState, msg string) *TaskChange {
		tr := s.Tasks[i]
		p.Tasks = append(p.Tasks, TaskChange{
			TaskID: tr.TaskID, FromVersion: tr.Version, From: tr.State, To: to, Error: msg, At: s.Now,
		})
		state[i] = to
		return &p.Tasks[len(p.Tasks)-1]
	}

	if s.Cancel || run.CancelRequested {
		for i := range s.Tasks {
			if !state[i].Terminal() {
				change(i, cairn.TaskCancelled, "run cancelled")
			}
		}
		p.Run = &RunChange{FromVersion: run.Version, From: run.State, To: cairn.RunCancelled, Error: "cancelled", At: s.Now}
		return p
	}
	if run.State == cairn.RunQueued {
		p.Run = &RunChange{FromVersion: run.Version, From: run.State, To: cairn.RunRunning, At: s.Now}
	}

	active := 0
	for _, st := range state {
		if st == cairn.TaskReady || st.Active() {
			active++
		}
	}
	room := func() bool { return run.MaxActive <= 0 || active < run.MaxActive }
	sc := scope{s}
	for i, tr := range s.Tasks {
		switch state[i] {
		case cairn.TaskPending:
			waiting, skipped, failed := -1, -1, -1
			for _, u := range up[i] {
				switch state[u] {
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
				change(i, cairn.TaskUpstreamFailed, fmt.Sprintf("upstream %s %s", ids[failed], state[failed]))
			case waiting >= 0:
			case skipped >= 0:
				change(i, cairn.TaskSkipped, fmt.Sprintf("upstream %s was skipped", ids[skipped]))
			case !room():
			default:
				prep, err := s.Graph.Prepare(ids[i], sc)
				switch {
				case err != nil:
					change(i, cairn.TaskFailed, err.Error())
				case !prep.Run:
					change(i, cairn.TaskSkipped, "when: condition was false")
				default:
					c := change(i, cairn.TaskReady, "")
					c.Params, c.Inputs = prep.Params, prep.Inputs
					active++
				}
			}
		case cairn.TaskRetrying:
			if tr.RetryAt.After(s.Now) {
				if p.WakeAt.IsZero() || tr.RetryAt.Before(p.WakeAt) {
					p.WakeAt = tr.RetryAt
				}
				continue
			}
			if room() {
				c := change(i, cairn.TaskReady, "")
				c.Params, c.Inputs = tr.Params, tr.Inputs
				active++
			}
		}
	}

	if p.Run != nil {
		// queued → running first; the terminal state, if any, comes from
		// the next plan, so every run passes through running.
		return p
	}
	var bad []string
	for i, st := range state {
		if !st.Terminal() {
			return p
		}
		if st != cairn.TaskSucceeded && st != cairn.TaskSkipped {
			bad = append(bad, ids[i]+" "+string(st))
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

func summarize(bad []string) string {
	const max = 5
	msg := fmt.Sprintf("%d task(s) did not succeed: ", len(bad))
	if len(bad) > max {
		return msg + strings.Join(bad[:max], ", ") + fmt.Sprintf(", and %d more", len(bad)-max)
	}
	return msg + strings.Join(bad, ", ")
}
