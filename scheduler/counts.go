package scheduler

import (
	"time"

	"github.com/cairnml/cairn"
)

// Two shapes every store answers in the same terms beyond Store: what a
// /metrics scrape reads (StateCounts) and what cairn gc keeps
// (Retention). They live here, with the stores' other vocabulary, so that
// a consumer's interface names one type whatever the database.

// StateCounts is what cairn server's /metrics reads from the database at
// each scrape.
type StateCounts struct {
	// Runs counts every run by state.
	Runs map[cairn.RunState]int64
	// Tasks counts the task runs of queued and running runs by state.
	Tasks map[cairn.TaskState]int64
	// Ready is the number of task runs ready and waiting for a worker
	// (the lease queue).
	Ready int64
	// Owned is the number of queued and running runs whose claim the
	// owner given to StateCounts holds.
	Owned int64
}

// Retention says which runs keep their artifacts from cairn gc: the last
// KeepLast runs of each workflow, every run created within KeepWithin of
// Now, and every run not finished. (Model versions keep theirs whatever
// the rule: see a store's NeededArtifacts.)
type Retention struct {
	KeepLast   int
	KeepWithin time.Duration
	Now        time.Time
}
