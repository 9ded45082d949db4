package scheduler

import "time"

// SetKickEvery sets the least time between two adopt passes asked for by
// events (kickEvery, 100 ms by default) in o.
func SetKickEvery(o *ServiceOptions, d time.Duration) { o.kickEvery = d }
