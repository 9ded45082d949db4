package scheduler

import (
	"fmt"
	"slices"
	"time"

	"github.com/cairnml/cairn"
)

// PlanCreated makes the first plan of a run that is about to be created
// (Store.CreateRun), in memory, and applies it to run and trs in place:
// the run running since now, the tasks that wait for nothing ready (their
// params and inputs resolved), skipped or failed as the plan says, the
// others pending. CreateRun then writes them as planned, and the run's
// driver starts from them (Driver.DriveCreated): a new run of 100,000
// tasks is written once rather than inserted pending and then updated
// task by task by its first plan, which also held a second copy of every
// task run and a change for each.
//
// It is the plan the driver would make first — the same PlanRun — so
// nothing about the run differs but when its first changes are written:
// with the run, in the same transaction. observe, if not nil, is given
// the events the driver would have published for them (the run started,
// each task's change). run must be queued and not yet created (Version
// 0), and trs its task runs as workflows.NewRun made them.
//
// A first plan that creates task runs (a for_each task expanded into its
// items, Plan.Expand) is not one CreateRun can write: PlanCreated then
// changes nothing, and the run is created queued, its driver making the
// first plan as for any other.
func PlanCreated(run *cairn.Run, g Graph, trs []*cairn.TaskRun, now time.Time, observe func(Event)) error {
	if run.State != cairn.RunQueued || run.Version != 0 {
		return fmt.Errorf("plan new run %s: it is %s at version %d, want queued and not created", run.ID, run.State, run.Version)
	}
	snap, err := NewSnapshot(run, g, trs)
	if err != nil {
		return fmt.Errorf("plan new run %s: %w", run.ID, err)
	}
	for _, tr := range trs {
		if tr.State != cairn.TaskPending || tr.Version != 0 {
			return fmt.Errorf("plan new run %s: task %s is %s at version %d, want pending and not created", run.ID, tr.TaskID, tr.State, tr.Version)
		}
	}
	snap.Now = now
	p := PlanRun(snap)
	if len(p.Expand) > 0 || slices.ContainsFunc(p.Tasks, func(c TaskChange) bool { return c.FanIn || c.Lease != nil }) {
		return nil // the driver's to write: see above
	}
	if p.Run != nil {
		run.State = p.Run.To
		if p.Run.To == cairn.RunRunning {
			run.StartedAt = p.Run.At
		}
		if observe != nil {
			observe(Event{RunID: run.ID, Run: p.Run.To, At: p.Run.At})
		}
	}
	for i := range p.Tasks {
		c := &p.Tasks[i]
		tr := snap.Tasks[snap.Topo.Index[c.TaskID]]
		tr.State, tr.Error = c.To, c.Error
		if c.To == cairn.TaskReady {
			tr.Params, tr.Inputs = c.Params, c.Inputs
		}
		if c.To.Terminal() {
			tr.FinishedAt = c.At
		}
		if observe != nil {
			observe(Event{RunID: run.ID, TaskID: c.TaskID, From: c.From, To: c.To, Error: c.Error, At: c.At, Type: tr.Type})
		}
	}
	return nil
}
