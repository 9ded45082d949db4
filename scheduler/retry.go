package scheduler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/cairnml/cairn"
)

// RetryTasks works out which tasks of a finished run a retry runs again
// (Retry.Tasks): with taskID "", every task that failed, was cancelled or
// did not run because an upstream failed (cairn.TaskState.CanRetry); with
// a taskID, that task — failed or cancelled — and whatever downstream of
// it did not succeed. The ids come in g's topological order. Errors:
// cairn.ErrNotFound for a task the run lacks; cairn.ErrConflict when the
// run has not finished, succeeded, or the task is not one a retry runs
// again (the message says what to do instead).
func RetryTasks(run *cairn.Run, g Graph, trs []*cairn.TaskRun, taskID string) ([]string, error) {
	switch {
	case run.State == cairn.RunSucceeded:
		return nil, fmt.Errorf("run %s succeeded: nothing to run again: %w", run.ID, cairn.ErrConflict)
	case !run.State.CanRetry():
		return nil, fmt.Errorf("run %s is %s: it can be retried once it has finished (cancel it first to retry it now): %w",
			run.ID, run.State, cairn.ErrConflict)
	}
	// An item (train[3]) runs again with its task, alone of its items.
	var onlyItem, onlyParent string
	if parent, _, ok := cairn.ParseItemID(taskID); ok {
		var it *cairn.TaskRun
		for _, tr := range trs {
			if tr.TaskID == taskID {
				it = tr
			}
		}
		switch {
		case it == nil:
			return nil, fmt.Errorf("run %s has no task %q: %w", run.ID, taskID, cairn.ErrNotFound)
		case it.State != cairn.TaskFailed && it.State != cairn.TaskCancelled:
			return nil, fmt.Errorf("task %s %s: only a failed or cancelled task runs again: %w", taskID, it.State, cairn.ErrConflict)
		}
		onlyItem, onlyParent, taskID = taskID, parent, parent
	}
	topo := NewTopology(g)
	byPos := make([]*cairn.TaskRun, len(topo.IDs))
	for _, tr := range trs {
		if i, ok := topo.Index[tr.TaskID]; ok {
			byPos[i] = tr
		}
	}
	for i, tr := range byPos {
		if tr == nil {
			return nil, fmt.Errorf("run %s lacks a task run for %q", run.ID, topo.IDs[i])
		}
	}
	in := make([]bool, len(topo.IDs))
	var queue []int
	if taskID == "" {
		for i, tr := range byPos {
			if tr.State.CanRetry() {
				in[i] = true
			}
		}
	} else {
		i, ok := topo.Index[taskID]
		if !ok {
			return nil, fmt.Errorf("run %s has no task %q: %w", run.ID, taskID, cairn.ErrNotFound)
		}
		switch tr := byPos[i]; tr.State {
		case cairn.TaskFailed, cairn.TaskCancelled:
			in[i] = true
			queue = append(queue, i)
		case cairn.TaskUpstreamFailed:
			var bad []string
			for _, u := range topo.Up[i] {
				if st := byPos[u].State; st == cairn.TaskFailed || st == cairn.TaskUpstreamFailed || st == cairn.TaskCancelled {
					bad = append(bad, topo.IDs[u]+" "+string(st))
				}
			}
			return nil, fmt.Errorf("task %s did not run: its upstream %s; retry that task, or the whole run: %w",
				taskID, strings.Join(bad, ", "), cairn.ErrConflict)
		default:
			return nil, fmt.Errorf("task %s %s: only a failed or cancelled task runs again: %w", taskID, tr.State, cairn.ErrConflict)
		}
	}
	// Downstream of what runs again, what did not succeed runs again too.
	for len(queue) > 0 {
		i := queue[0]
		queue = queue[1:]
		for _, d := range topo.Down[i] {
			if !in[d] && byPos[d].State.CanRetry() {
				in[d] = true
				queue = append(queue, d)
			}
		}
	}
	// The items of a for_each task that runs again: those that did not
	// succeed (or the one named), after their tasks.
	items := make(map[string][]string)
	for _, tr := range trs {
		parent, _, ok := cairn.ParseItemID(tr.TaskID)
		if !ok || !tr.State.CanRetry() || parent == onlyParent && tr.TaskID != onlyItem {
			continue
		}
		items[parent] = append(items[parent], tr.TaskID)
	}
	var ids []string
	for i, ok := range in {
		if ok {
			ids = append(ids, topo.IDs[i])
			ids = append(ids, items[topo.IDs[i]]...)
		}
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("run %s is %s but none of its tasks failed or was cancelled: nothing to run again: %w",
			run.ID, run.State, cairn.ErrConflict)
	}
	return ids, nil
}

// Take starts planning run id, whose claim this service's owner holds —
// taken in the transaction of a retry (Retry.Owner) or of a resume
// (Tx.ClaimRun) — as it plans the runs it adopts: it renews the claim
// (ErrRunOwned if another scheduler has taken it meanwhile), loads the
// run's graph with ServiceOptions.Load and ends what a previous owner
// left. If the service cannot plan it, the claim is released so that
// another scheduler (or this one, a minute later) takes the run, and the
// error says why. A run that has finished meanwhile is left alone.
func (s *Service) Take(ctx context.Context, id string) error {
	// The service may still be letting go of the run as it was before the
	// retry (its loop saw it end): wait for that, which releases its claim.
	s.mu.Lock()
	prev := s.runs[id]
	s.mu.Unlock()
	if prev != nil {
		prev.mu.Lock()
		over := prev.final != nil || prev.err != nil
		prev.mu.Unlock()
		if !over {
			return nil // planning it
		}
		select {
		case <-prev.done:
		case <-ctx.Done():
			return fmt.Errorf("take run %s: %w", id, context.Cause(ctx))
		}
	}
	run, err := s.store.ClaimRun(ctx, id, s.o.Owner, s.o.Now(), s.o.OwnerTTL, false)
	if err != nil {
		return fmt.Errorf("take run %s: %w", id, err)
	}
	s.held.Add(1)
	switch {
	case run.State.Terminal():
		s.release(id)
		return nil
	case s.o.Load == nil:
		s.release(id)
		return fmt.Errorf("take run %s: this scheduler has no way to load a run's workflow (ServiceOptions.Load)", id)
	}
	g, err := s.o.Load(ctx, run)
	if err != nil {
		s.release(id)
		return fmt.Errorf("take run %s: %w", id, err)
	}
	if s.o.Claimed != nil {
		s.o.Claimed(run)
	}
	if _, err := s.own(run, g, nil, nil); err != nil {
		if errors.Is(err, errAlreadyOwned) {
			return nil
		}
		s.release(id)
		return fmt.Errorf("take run %s: %w", id, err)
	}
	return nil
}

// GoneInputs checks, before a retry changes anything, that the tasks it
// runs again (ids, from RetryTasks) can read what they take from the
// tasks that do not run again: a failed task's recorded inputs, or, for a
// task that never became ready, the artifact outputs of its succeeded
// upstreams that stay as they are. gone reports whether an artifact's
// bytes are gone (cairn gc removed them). A retry does not run a
// succeeded task again — its new outputs could differ from those its
// other downstreams read, and its effects (a deploy's registration) would
// happen twice — so when something is gone the retry is refused with
// cairn.ErrConflict naming the producers and their outputs, rather than
// spending an attempt failing on "artifact not found".
func GoneInputs(run *cairn.Run, g Graph, trs []*cairn.TaskRun, ids []string, gone func(digest string) (bool, error)) error {
	byID := make(map[string]*cairn.TaskRun, len(trs))
	for _, tr := range trs {
		byID[tr.TaskID] = tr
	}
	again := make(map[string]bool, len(ids))
	for _, id := range ids {
		again[id] = true
	}
	checked := make(map[string]bool)
	missing := make(map[string][]string) // producer → its outputs gone
	var producers []string
	for _, id := range ids {
		tr := byID[id]
		if tr == nil {
			continue
		}
		node := id
		if parent, _, ok := cairn.ParseItemID(id); ok {
			node = parent
		}
		// The digests task id reads: its recorded inputs when it had
		// them, else every artifact its upstreams that stay made.
		want := make(map[string]bool)
		for _, ref := range tr.Inputs {
			want[ref.Digest] = true
		}
		for _, u := range g.Upstream(node) {
			p := byID[u]
			if p == nil || again[u] || p.State != cairn.TaskSucceeded {
				continue
			}
			for _, name := range slices.Sorted(maps.Keys(p.Outputs)) {
				for _, d := range artifactDigests(p.Outputs[name]) {
					if tr.Inputs != nil && !want[d] {
						continue
					}
					key := u + "\x00" + name + "\x00" + d
					if checked[key] {
						continue
					}
					checked[key] = true
					isGone, err := gone(d)
					if err != nil {
						return err
					}
					if isGone {
						if missing[u] == nil {
							producers = append(producers, u)
						}
						missing[u] = append(missing[u], name+" ("+d+")")
					}
				}
			}
		}
	}
	if len(producers) == 0 {
		return nil
	}
	var what []string
	for _, p := range producers {
		what = append(what, "task "+p+"'s output "+strings.Join(missing[p], ", "))
	}
	return fmt.Errorf("run %s cannot be retried: what it would read of tasks that succeeded is gone (cairn gc removed it): %s; "+
		"a retry runs no task that succeeded again (%s would make new outputs, unlike those its other downstream tasks read, and apply its effects twice): "+
		"run workflow %s again with the same params to make them (cairn reproduce %s --reread does, from this run's stored file and params, into a new run): %w",
		run.ID, strings.Join(what, "; "), strings.Join(producers, ", "), run.Workflow, run.ID, cairn.ErrConflict)
}

// artifactDigests returns the digests of the artifact references in an
// output value: the value itself, or those in the lists and objects it
// holds (a for_each task's outputs).
func artifactDigests(v json.RawMessage) []string {
	if ref, ok := cairn.AsArtifactRef(v); ok {
		return []string{ref.Digest}
	}
	var list []json.RawMessage
	if json.Unmarshal(v, &list) == nil {
		var out []string
		for _, e := range list {
			out = append(out, artifactDigests(e)...)
		}
		return out
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(v, &obj) == nil {
		var out []string
		for _, k := range slices.Sorted(maps.Keys(obj)) {
			out = append(out, artifactDigests(obj[k])...)
		}
		return out
	}
	return nil
}
