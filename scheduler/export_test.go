package scheduler

import "time"

// SetKickEvery sets the least time between two adopt passes asked for by
// events (kickEvery, 100 ms by default) in o.
func SetKickEvery(o *ServiceOptions, d time.Duration) { o.kickEvery = d }

// Handable is how many Leases wait in b for work a commit may hand them.
func (b *Broker) Handable() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, w := range b.waiters {
		if w.handable && !w.held && !w.closed {
			n++
		}
	}
	return n
}
