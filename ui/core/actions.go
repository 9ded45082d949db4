package core

import (
	"context"

	"github.com/cairnml/cairn/ui/runjson"
)

// Actions change runs: the write side, which the server implements over
// its scheduler service. Each returns an error wrapping cairn.ErrNotFound
// (no such run or task or workflow), cairn.ErrTerminal (cancel a finished
// run), cairn.ErrConflict or cairn.ErrRunOwned (retry a run still
// running, resume a run another process drives), or ErrBadInput (an
// unknown or mistyped param, a task that cannot be retried), each
// answered with its status (see ui.Status).
type Actions interface {
	// Trigger creates a run of workflow name with params given as text
	// (typed by the workflow, as -p is) and returns its id.
	Trigger(ctx context.Context, workflow string, params map[string]string, o RunOptions) (string, error)
	// Cancel asks run id to stop.
	Cancel(ctx context.Context, runID string) error
	// Retry runs task taskID of run id again with a new attempt, or with
	// taskID "" every failed task of the run (and what they held back).
	Retry(ctx context.Context, runID, taskID string) error
	// Resume takes over an orphaned run and drives it on.
	Resume(ctx context.Context, runID string) error
	// Submit creates a run of the workflow file src that a client sent
	// (named file, as the client has it), with params as Trigger's, and
	// returns its id. A file with problems is a *ProblemsError.
	Submit(ctx context.Context, file string, src []byte, params map[string]string, o RunOptions) (string, error)
}

// RunOptions are how a new run differs from its workflow's defaults.
type RunOptions struct {
	// NoCache runs every task: no earlier success is reused, and none of
	// the run's is offered for reuse (cairn run --no-cache; the API's
	// "no_cache").
	NoCache bool
}

// Schedules is the cron side of a server (actions.Actions): the
// schedules of its workflows folder listed, paused and resumed, and a
// workflow's past slots backfilled. Without it (ui's Options.Schedules)
// the schedules routes answer 501 and the page says there are none.
type Schedules interface {
	// Schedules lists the schedules by workflow name.
	Schedules(ctx context.Context) ([]runjson.Schedule, error)
	// PauseSchedule pauses workflow's schedule, or with paused false
	// resumes it (its slots from then on fire; those of the pause not).
	PauseSchedule(ctx context.Context, workflow string, paused bool) error
	// Backfill queues the runs of workflow's slots from from to to, both
	// included (RFC 3339, or a date or date and time in the schedule's
	// zone). A bad range is ErrBadInput.
	Backfill(ctx context.Context, workflow, from, to string) (runjson.Backfill, error)
}
