package workflows

import (
	"fmt"
	"time"

	"github.com/cairnml/cairn"

	"github.com/cairnml/cairn/scheduler"
)

// A Workflow is the graph the scheduler plans a run over.
var _ scheduler.Graph = (*Workflow)(nil)

// TaskIDs returns every task id, upstreams first (see TopoOrder). The
// slice is shared: callers must not modify it.
func (w *Workflow) TaskIDs() []string { return w.index().order }

// Upstream returns the ids of the tasks that task id waits for; nil for an
// unknown id.
func (w *Workflow) Upstream(id string) []string {
	if t := w.Task(id); t != nil {
		return t.Upstream
	}
	return nil
}

// WhenOf returns task id's when: expression in its normal spelling, ""
// for none or an unknown id (cairn.WaitGraph).
func (w *Workflow) WhenOf(id string) string {
	if t := w.Task(id); t != nil {
		return t.When
	}
	return ""
}

// A Workflow tells why a task waits (cairn.Why).
var _ cairn.WaitGraph = (*Workflow)(nil)

// Prepare evaluates task id's `when:` and, when it holds, resolves its
// params and inputs against s. It fails for an unknown task or a reference
// that cannot be resolved.
func (w *Workflow) Prepare(id string, s scheduler.Scope) (scheduler.Prepared, error) {
	t := w.Task(id)
	if t == nil {
		return scheduler.Prepared{}, fmt.Errorf("workflow %s has no task %q", w.Name, id)
	}
	ok, err := t.EvalWhen(s)
	if err != nil || !ok {
		return scheduler.Prepared{}, err
	}
	params, err := t.ResolveWith(s)
	if err != nil {
		return scheduler.Prepared{}, err
	}
	inputs, err := t.ResolveInputs(s)
	if err != nil {
		return scheduler.Prepared{}, err
	}
	return scheduler.Prepared{Run: true, Params: params, Inputs: inputs}, nil
}

// NewRun returns a new run of the workflow, queued, with one pending task
// run per task, ready for Store.CreateRun. params are the bound params
// (see BindParams); the run pins the workflow's digest and keeps its exact
// source.
func (w *Workflow) NewRun(params map[string]any, now time.Time) (*cairn.Run, []*cairn.TaskRun) {
	run := &cairn.Run{
		ID: cairn.NewRunID(now), Workflow: w.Name, Digest: w.Digest, SourcePath: w.Path, Source: w.Source,
		Params: params, State: cairn.RunQueued, MaxActive: w.MaxActive, MaxActiveRuns: w.MaxActiveRuns, CreatedAt: now,
		Notify: w.Notify, Pools: w.Pools, SubSources: w.SubSources,
	}
	trs := make([]*cairn.TaskRun, 0, len(w.Tasks))
	for _, t := range w.Tasks {
		trs = append(trs, &cairn.TaskRun{RunID: run.ID, TaskID: t.ID, Type: t.Type, State: cairn.TaskPending,
			Retry: t.Retry, Timeout: t.Timeout, Cache: t.Cached, Labels: t.Labels, Queue: t.Queue,
			Pool: t.Pool, PoolSlots: t.PoolSlots, Priority: t.Priority})
	}
	return run, trs
}

// Zone is the time zone of the workflow's schedule (UTC without one), in
// which ${{ run.scheduled_for }} is written.
func (w *Workflow) Zone() *time.Location {
	if w.Schedule != nil {
		if loc, err := w.Schedule.Location(); err == nil {
			return loc
		}
	}
	return time.UTC
}

var _ scheduler.Zoned = (*Workflow)(nil)

// NoCache turns caching off for every task run of a new run (cairn run
// --no-cache): none reuses an earlier success, and none is offered for
// reuse.
func NoCache(trs []*cairn.TaskRun) {
	for _, t := range trs {
		t.Cache = false
	}
}
