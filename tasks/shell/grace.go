package shell

import (
	"encoding/json"
	"time"

	"github.com/cairnml/cairn/tasks"
)

// StopGrace is how long an attempt with these params may take to stop once
// its context ended: its kill_grace (SIGTERM, then SIGKILL) and a margin
// for reaping the process group. The executor does not abandon the attempt
// before that, so that nothing the command started outlives its attempt.
func (t *Task) StopGrace(params json.RawMessage) time.Duration {
	var p struct {
		KillGrace *tasks.Duration `json:"kill_grace"`
	}
	grace := DefaultKillGrace
	if json.Unmarshal(params, &p) == nil && p.KillGrace != nil {
		grace = time.Duration(*p.KillGrace)
	}
	return grace + 2*time.Second
}
