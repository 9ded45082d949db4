package cairn

import (
	"fmt"
	"strings"
	"time"
)

// Why a task is not running: one function (Why) decides, in one line, for
// every task of a run that is not running, what it waits for — its run to
// start (a workflow's max_active_runs), upstream tasks, a retry's backoff,
// the run's concurrency:, its for_each task's max_parallel:, a worker that
// may take it, its pool — or why it was skipped. `cairn show` (text and
// --json), the API's run and the web UI's run page all print what it
// returns, from facts their callers read (WaitFacts).

// WaitGraph is what Why reads of a run's workflow (*workflows.Workflow
// implements it): a task's upstreams, whether it has a for_each and its
// max_parallel, its when: expression.
type WaitGraph interface {
	Upstream(id string) []string
	ForEach(id string) (maxParallel int, ok bool)
	WhenOf(id string) string
}

// WaitFacts is everything Why decides from. Run and Tasks are required;
// the rest may be left out when a caller could not read it (Graph nil: a
// stored workflow that no longer parses), and is needed only as
// WaitNeeds says.
type WaitFacts struct {
	Run   *Run
	Tasks []*TaskRun
	Graph WaitGraph
	// Pools are the pools the store knows, by name (needed when a ready
	// task names a pool). Orphaned, when set, says whether the run of a
	// pool's holder is orphaned (WhyPool): asked only of the holders a
	// reason names.
	Pools    map[string]PoolState
	Orphaned func(runID string) bool
	// Workers are the registered workers and any in-process pool that
	// may take tasks, for ready tasks; WorkersRead says they were read
	// (else routing is not judged). A task that is not Routed is judged
	// only when PoolKnown: the process driving the run has its pool among
	// Workers, or none (a server with --workers 0); else (a foreground
	// run, a run of another server) an unseen pool may take it.
	Workers     []Worker
	WorkersRead bool
	PoolKnown   bool
	// ActiveRuns are the ids of the active runs of the run's workflow,
	// for a queued run whose workflow caps them (Run.MaxActiveRuns), at
	// most that many.
	ActiveRuns []string
	Now        time.Time
}

// WaitNeed is what Why needs read beyond a run and its tasks (WaitNeeds).
type WaitNeed struct {
	// Graph: the run's workflow, for a pending task's upstreams and an
	// item's max_parallel, or a when: that skipped a task.
	Graph bool
	// Pools: a ready task names a pool. Workers: a ready task is Routed.
	// Unrouted: a ready task is not, so that the workers are read for it
	// only when its type may be judged (WaitFacts.PoolKnown).
	Pools, Workers, Unrouted bool
	// ActiveRuns: the run is queued under a max_active_runs.
	ActiveRuns bool
}

// WaitNeeds says which facts beyond the run's own Why needs for trs, so
// that a caller reads (and parses) only those: a finished run whose
// tasks all succeeded needs none.
func WaitNeeds(r *Run, trs []*TaskRun) WaitNeed {
	var n WaitNeed
	live := !r.State.Terminal() && !r.CancelRequested
	for _, tr := range trs {
		switch {
		case tr.State == TaskSkipped && tr.Error == WhenFalse:
			n.Graph = true
		case !live:
		case tr.State == TaskPending, tr.State == TaskRetrying && tr.IsItem():
			n.Graph = n.Graph || r.State != RunQueued
		case tr.State == TaskReady:
			n.Pools = n.Pools || tr.Pool != ""
			routed := Routed(tr.Labels, tr.Queue)
			n.Workers = n.Workers || routed
			n.Unrouted = n.Unrouted || !routed
		}
	}
	n.ActiveRuns = live && r.State == RunQueued && r.MaxActiveRuns > 0
	return n
}

// maxNamedInLine bounds the tasks or runs a reason names.
const maxNamedInLine = 3

// WhenFalse is the error a task skipped by a false when: records.
const WhenFalse = "when: condition was false"

// Why says, by task id, why each task of f.Tasks that is not running is
// not, in one line; a task with nothing to say (running, succeeded, about
// to be planned) is left out, and the map is nil when none has a reason.
func Why(f WaitFacts) map[string]string {
	byID := make(map[string]*TaskRun, len(f.Tasks))
	active := 0 // ready, leased or running: what concurrency: counts
	items := map[string][2]int{}
	for _, tr := range f.Tasks {
		byID[tr.TaskID] = tr
		busy := tr.State == TaskReady || tr.State.Active()
		if busy {
			active++
		}
		if parent, _, ok := ParseItemID(tr.TaskID); ok {
			c := items[parent]
			if busy {
				c[0]++
			}
			if tr.State.Terminal() {
				c[1]++
			}
			items[parent] = c
		}
	}
	var out map[string]string
	for _, tr := range f.Tasks {
		why := f.why(tr, byID, active, items)
		if why == "" {
			continue
		}
		if out == nil {
			out = map[string]string{}
		}
		out[tr.TaskID] = why
	}
	return out
}

func (f WaitFacts) why(tr *TaskRun, byID map[string]*TaskRun, active int, items map[string][2]int) string {
	r := f.Run
	if tr.State == TaskSkipped {
		if tr.Error == WhenFalse && f.Graph != nil {
			id := tr.TaskID
			if parent, _, ok := ParseItemID(id); ok {
				id = parent // an item is skipped by its task's when:
			}
			if w := f.Graph.WhenOf(id); w != "" {
				return "skipped: when: " + w + " was false"
			}
		}
		if tr.Error != "" {
			return "skipped: " + tr.Error
		}
		return ""
	}
	if tr.State.Terminal() || tr.State.Active() || r.State.Terminal() || r.CancelRequested {
		return ""
	}
	if r.State == RunQueued {
		return f.whyQueued()
	}
	switch tr.State {
	case TaskReady:
		if f.WorkersRead && (f.PoolKnown || Routed(tr.Labels, tr.Queue)) {
			if why := WhyWaiting(tr.Labels, tr.Queue, tr.Type, f.Workers, f.Now); why != "" {
				return why
			}
		}
		if f.Pools != nil {
			return WhyPool(tr.Pool, tr.PoolSlots, f.Pools, f.Orphaned)
		}
		return ""
	case TaskRetrying:
		if tr.RetryAt.After(f.Now) {
			return fmt.Sprintf("waiting for the retry backoff: attempt %d at %s (in %s) after %s",
				tr.Attempt+1, tr.RetryAt.UTC().Format(time.RFC3339), roundWait(tr.RetryAt.Sub(f.Now)), failedAttempts(tr))
		}
		return f.whyRoom(tr, active, items)
	case TaskPending:
		if parent, _, ok := ParseItemID(tr.TaskID); ok && byID[parent] != nil {
			return f.whyRoom(tr, active, items)
		}
		if tr.Expanded {
			c := items[tr.TaskID]
			return fmt.Sprintf("waiting for its items: %d of %d done", c[1], tr.Items)
		}
		if f.Graph != nil {
			var wait []string
			for _, u := range f.Graph.Upstream(tr.TaskID) {
				if ut := byID[u]; ut != nil && !ut.State.Terminal() {
					wait = append(wait, u+" ("+string(ut.State)+")")
				}
			}
			if len(wait) > 0 {
				word := "tasks"
				if len(wait) == 1 {
					word = "task"
				}
				return "waiting for upstream " + word + ": " + nameSome(wait)
			}
		}
		return f.whyRoom(tr, active, items)
	}
	return ""
}

// whyQueued is the reason of every waiting task of a queued run.
func (f WaitFacts) whyQueued() string {
	r := f.Run
	if r.MaxActiveRuns > 0 && len(f.ActiveRuns) >= r.MaxActiveRuns {
		return fmt.Sprintf("waiting for the run to start: workflow %s has %d of %d runs active (max_active_runs): %s",
			r.Workflow, len(f.ActiveRuns), r.MaxActiveRuns, nameSome(f.ActiveRuns))
	}
	return "waiting for the run to start: it is queued for a cairn server"
}

// whyRoom says which limit holds back a task whose upstreams are done:
// its for_each task's max_parallel, or the run's concurrency.
func (f WaitFacts) whyRoom(tr *TaskRun, active int, items map[string][2]int) string {
	if parent, _, ok := ParseItemID(tr.TaskID); ok && f.Graph != nil {
		if max, ok := f.Graph.ForEach(parent); ok && max > 0 && items[parent][0] >= max {
			return fmt.Sprintf("waiting for max_parallel of %s: %d of %d items ready or running", parent, items[parent][0], max)
		}
	}
	if m := f.Run.MaxActive; m > 0 && active >= m {
		return fmt.Sprintf("waiting for the run's concurrency: %d of %d tasks ready or running", active, m)
	}
	return ""
}

// failedAttempts is "1 failed attempt", "3 failed attempts".
func failedAttempts(tr *TaskRun) string {
	return plural(max(tr.Attempt-tr.Interrupted, 1), "failed attempt", "failed attempts")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// nameSome joins the first maxNamedInLine of names and counts the rest.
func nameSome(names []string) string {
	if len(names) <= maxNamedInLine {
		return strings.Join(names, ", ")
	}
	return strings.Join(names[:maxNamedInLine], ", ") + fmt.Sprintf(" and %d more", len(names)-maxNamedInLine)
}

// roundWait rounds a wait for a line: to the second, or the minute past
// an hour.
func roundWait(d time.Duration) time.Duration {
	if d > time.Hour {
		return d.Round(time.Minute)
	}
	if d < time.Second {
		return d.Round(time.Millisecond)
	}
	return d.Round(time.Second)
}
