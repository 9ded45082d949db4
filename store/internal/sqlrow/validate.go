package sqlrow

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
)

// ValidateNewRun refuses a run and task runs CreateRun cannot store: an
// empty or duplicate id, a nonzero Version, an unknown state or trigger,
// a leased or running task, negative counts.
func ValidateNewRun(run *cairn.Run, tasks []*cairn.TaskRun) error {
	if run.ID == "" {
		return errors.New("empty run id")
	}
	if run.Version != 0 {
		return fmt.Errorf("version is %d, want 0", run.Version)
	}
	if run.MaxActiveRuns < 0 {
		return fmt.Errorf("max active runs %d is negative", run.MaxActiveRuns)
	}
	if !run.State.Valid() {
		return fmt.Errorf("unknown run state %q", run.State)
	}
	if run.Trigger != "" && !run.Trigger.Valid() {
		return fmt.Errorf("unknown trigger %q", run.Trigger)
	}
	if err := cairn.CheckPools(run.Pools); err != nil {
		return err
	}
	seen := make(map[string]bool, len(tasks))
	for _, t := range tasks {
		switch {
		case t.TaskID == "":
			return errors.New("task with empty id")
		case seen[t.TaskID]:
			return fmt.Errorf("duplicate task %q", t.TaskID)
		case t.RunID != "" && t.RunID != run.ID:
			return fmt.Errorf("task %s belongs to run %s", t.TaskID, t.RunID)
		case t.Version != 0:
			return fmt.Errorf("task %s: version is %d, want 0", t.TaskID, t.Version)
		case !t.State.Valid():
			return fmt.Errorf("task %s: unknown state %q", t.TaskID, t.State)
		case t.State.Active():
			return fmt.Errorf("task %s: cannot be created %s (only Lease leases)", t.TaskID, t.State)
		case t.Retry.MaxInterruptions < 0 || t.Interrupted < 0 || t.InterruptedInARow < 0:
			return fmt.Errorf("task %s: negative max interruptions or interruption count", t.TaskID)
		case t.Round < 0 || t.FailedBefore < 0:
			return fmt.Errorf("task %s: negative round or failed attempts before it", t.TaskID)
		}
		if err := cairn.CheckRoute(t.Labels, t.Queue); err != nil {
			return fmt.Errorf("task %s: %w", t.TaskID, err)
		}
		if err := cairn.CheckTaskPool(t.Pool, t.PoolSlots, t.Priority); err != nil {
			return fmt.Errorf("task %s: %w", t.TaskID, err)
		}
		seen[t.TaskID] = true
	}
	return nil
}

// RetryTasks checks a retry by hand and returns the tasks it runs again,
// sorted, each once.
func RetryTasks(r scheduler.Retry) ([]string, error) {
	if len(r.Tasks) == 0 {
		return nil, errors.New("no task to run again")
	}
	if r.Owner != "" && r.TTL <= 0 {
		return nil, fmt.Errorf("claim ttl %v is not positive", r.TTL)
	}
	ids := slices.Clone(r.Tasks)
	slices.Sort(ids)
	return slices.Compact(ids), nil
}

// CheckRetryState refuses a retry of a run in state: one that succeeded,
// or one not finished.
func CheckRetryState(state string) error {
	switch st := cairn.RunState(state); {
	case st == cairn.RunSucceeded:
		return fmt.Errorf("the run succeeded: nothing to run again: %w", cairn.ErrConflict)
	case !st.CanRetry():
		return fmt.Errorf("the run is %s: it can be retried once it has finished (cancel it first to retry it now): %w", st, cairn.ErrConflict)
	}
	return nil
}

// CheckExpansions refuses for_each expansions that no planner makes: more
// than cairn.MaxForEachItems items, an item that is not valid JSON, the
// expansion of an item, one task expanded twice.
func CheckExpansions(es []scheduler.Expansion) error {
	seen := make(map[string]bool, len(es))
	for _, e := range es {
		switch {
		case seen[e.TaskID]:
			return fmt.Errorf("task %s expanded twice in one plan", e.TaskID)
		case len(e.Items) > cairn.MaxForEachItems:
			return fmt.Errorf("task %s: %d items, over the limit of %d", e.TaskID, len(e.Items), cairn.MaxForEachItems)
		}
		if _, _, item := cairn.ParseItemID(e.TaskID); item {
			return fmt.Errorf("task %s is an item: it cannot expand", e.TaskID)
		}
		seen[e.TaskID] = true
		for k, v := range e.Items {
			if !json.Valid(v) {
				return fmt.Errorf("task %s: item %d is not valid JSON", e.TaskID, k)
			}
		}
	}
	return nil
}
