//go:build linux

package shell

import (
	"context"
	"fmt"

	"github.com/cairnml/cairn/tasks/proctree"
)

// ReapOrphans kills every process left from attempt `attempt` of the task
// by a worker that died: its cgroup, when one is left over, and every
// process whose environment carries the attempt's CAIRN_RUN_ID,
// CAIRN_TASK_ID and CAIRN_ATTEMPT (which every process the command started
// inherits), with their descendants. It kills in rounds until none is
// left, since one may fork while another is killed.
func (*Task) ReapOrphans(ctx context.Context, runID, taskID string, attempt int) error {
	if err := proctree.Reap(ctx, treeName(runID, taskID, attempt), attemptMarks(runID, taskID, attempt)); err != nil {
		return fmt.Errorf("find processes of %s/%s attempt %d: %w", runID, taskID, attempt, err)
	}
	return nil
}
