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

// Snapshot is everything Plan reads.
type Snapshot struct {
	Run   *cairn.Run
	Graph Graph
	Tasks map[string]*cairn.TaskRun
	// Cancel asks for the run to be cancelled (Ctrl-C, `cairn cancel`).
	Cancel bool
	Now    time.Time
}

// scope resolves references against a snapshot.
type scope struct{ s *Snapshot }

func (sc scope) Param(name string) (any, bool) {
	v, ok := sc.s.Run.Params[name]
	return v, ok
}

func (sc scope) Output(taskID, name string) (json.RawMessage, bool) {
	tr := sc.s.Tasks[taskID]
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
	state := make(map[string]cairn.TaskState, len(s.Tasks))
	for id, tr := range s.Tasks {
		state[id] = tr.State
	}
	change := func(tr *cairn.TaskRun, to cairn.TaskState, msg string) *TaskChange {
		p.Tasks = append(p.Tasks, TaskChange{
			TaskID: tr.TaskID, FromVersion: tr.Version, From: tr.State, To: to, Error: msg, At: s.Now,
		})
		state[tr.TaskID] = to
		return &p.Tasks[len(p.Tasks)-1]
	}
	ids := s.Graph.TaskIDs()

	if s.Cancel || run.CancelRequested {
		for _, id := range ids {
			if tr := s.Tasks[id]; tr != nil && !tr.State.Terminal() {
				change(tr, cairn.TaskCancelled, "run cancelled")
			}
		}
		p.Run = &RunChange{FromVersion: run.Version, From: run.State, To: cairn.RunCancelled, Error: "cancelled", At: s.Now}
		return p
	}
	if run.State == cairn.RunQueued {
		p.Run = &RunChange{FromVersion: run.Version, From: run.State, To: cairn.RunRunning, At: s.Now}
	}

	active := 0
	for _, tr := range s.Tasks {
		if tr.State == cairn.TaskReady || tr.State.Active() {
			active++
		}
	}
	room := func() bool { return run.MaxActive <= 0 || active < run.MaxActive }
	sc := scope{s}
	for _, id := range ids {
		tr := s.Tasks[id]
		if tr == nil {
			continue
		}
		switch tr.State {
		case cairn.TaskPending:
			var waiting, skipped, failed string
			for _, up := range s.Graph.Upstream(id) {
				switch state[up] {
				case cairn.TaskFailed, cairn.TaskUpstreamFailed, cairn.TaskCancelled:
					if failed == "" {
						failed = up
					}
				case cairn.TaskSkipped:
					if skipped == "" {
						skipped = up
					}
				case cairn.TaskSucceeded:
				default:
					waiting = up
				}
			}
			switch {
			case failed != "":
				change(tr, cairn.TaskUpstreamFailed, fmt.Sprintf("upstream %s %s", failed, state[failed]))
			case waiting != "":
			case skipped != "":
				change(tr, cairn.TaskSkipped, fmt.Sprintf("upstream %s was skipped", skipped))
			case !room():
			default:
				prep, err := s.Graph.Prepare(id, sc)
				switch {
				case err != nil:
					change(tr, cairn.TaskFailed, err.Error())
				case !prep.Run:
					change(tr, cairn.TaskSkipped, "when: condition was false")
				default:
					c := change(tr, cairn.TaskReady, "")
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
				c := change(tr, cairn.TaskReady, "")
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
	for _, id := range ids {
		st := state[id]
		if !st.Terminal() {
			return p
		}
		if st != cairn.TaskSucceeded && st != cairn.TaskSkipped {
			bad = append(bad, id+" "+string(st))
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
