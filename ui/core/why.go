package core

import (
	"context"
	"fmt"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/ui/runjson"
)

// PoolLister lists the pools of a database with their holders and queues
// (*sqlite.Store and *postgres.Store satisfy it).
type PoolLister interface {
	Pools(ctx context.Context) ([]cairn.PoolState, error)
}

// RunLister lists runs and reads one (Reader's ListRuns and GetRun).
type RunLister interface {
	ListRuns(ctx context.Context, f scheduler.RunFilter) ([]*cairn.Run, error)
	RunGetter
}

// WaitSources are where Waiting reads what cairn.Why needs beyond a run:
// Runs (required) for a queued run's workflow's active runs, and the
// runs of the pool holders a reason names, each said orphaned as
// runjson.Orphaned judges it with OwnerGone (ui.Options.OwnerGone); Pools
// and Workers, when set, for ready tasks that name a pool or require
// labels or a queue; Pool, the in-process worker pool of the server (if
// any), counted among the workers.
type WaitSources struct {
	Runs    RunLister
	Pools   PoolLister
	Workers WorkerLister
	Pool    *cairn.Worker
	// PoolOwner is the owner (the claims) of the process whose in-process
	// pool Pool is, nil if it runs none: for the runs it drives, every
	// worker that may take a task is known (cairn.WaitFacts.PoolKnown).
	// "": not known.
	PoolOwner string
	OwnerGone func(owner string) bool
}

// Waiting says why each task of run r that is not running is not
// (cairn.Why), reading only what its tasks need: the pools when a ready
// task names one, the workers when one requires labels or a queue, the
// active runs of its workflow when the run is queued under a
// max_active_runs. graph gives the run's workflow, called only when a
// task's reason needs it (cairn.WaitNeeds); nil when its stored file no
// longer parses (upstreams and when: are then not named). `cairn show`
// and the server's run page and API call it.
func Waiting(ctx context.Context, src WaitSources, r *cairn.Run, trs []*cairn.TaskRun, graph func() cairn.WaitGraph, now time.Time) (map[string]string, error) {
	f := cairn.WaitFacts{Run: r, Tasks: trs, Now: now}
	need := cairn.WaitNeeds(r, trs)
	if need.Graph {
		f.Graph = graph()
	}
	if need.Pools && src.Pools != nil {
		ps, err := src.Pools.Pools(ctx)
		if err != nil {
			return nil, fmt.Errorf("list the pools: %w", err)
		}
		f.Pools = make(map[string]cairn.PoolState, len(ps))
		for _, p := range ps {
			f.Pools[p.Name] = p
		}
		f.Orphaned = HolderOrphaned(ctx, src.Runs, src.OwnerGone, now)
	}
	poolKnown := src.PoolOwner != "" && r.Owner == src.PoolOwner
	if (need.Workers || need.Unrouted && poolKnown) && src.Workers != nil {
		ws, err := src.Workers.ListWorkers(ctx, now, now)
		if err != nil {
			return nil, fmt.Errorf("list the workers: %w", err)
		}
		if src.Pool != nil {
			ws = append([]cairn.Worker{*src.Pool}, ws...)
		}
		f.Workers, f.WorkersRead = ws, true
		f.PoolKnown = poolKnown
	}
	if need.ActiveRuns {
		runs, err := src.Runs.ListRuns(ctx, scheduler.RunFilter{Workflow: r.Workflow, State: cairn.RunRunning, Limit: r.MaxActiveRuns})
		if err != nil {
			return nil, fmt.Errorf("list the active runs of workflow %s: %w", r.Workflow, err)
		}
		for _, a := range runs {
			f.ActiveRuns = append(f.ActiveRuns, a.ID)
		}
	}
	return cairn.Why(f), nil
}

// RunGetter reads one run (Reader's GetRun).
type RunGetter interface {
	GetRun(ctx context.Context, id string) (*cairn.Run, error)
}

// HolderOrphaned says whether the run of a pool's holder is orphaned
// (runjson.Orphaned with ownerGone: its process died, and its slot comes
// back only once its lease expires), reading each run once; a run that
// cannot be read is not said to be. For cairn.WaitFacts.Orphaned.
func HolderOrphaned(ctx context.Context, runs RunGetter, ownerGone func(owner string) bool, now time.Time) func(runID string) bool {
	seen := map[string]bool{}
	return func(id string) bool {
		o, ok := seen[id]
		if !ok {
			r, err := runs.GetRun(ctx, id)
			o = err == nil && runjson.Orphaned(r, now, ownerGone)
			seen[id] = o
		}
		return o
	}
}
