// Package groupq is a group-commit queue: callers that each have one
// item to send — a worker's completion to commit (scheduler's completer),
// a slot's report to post (remote's client) — queue it, and the first to
// find nobody sending sends the queue itself, as one batch, then hands
// the lead to the oldest item still waiting once its own is sent. A
// single item on an idle queue is sent at once by its own caller (no
// hand-off, no added latency), while the items that arrive during a send
// share the next: a batch is as large as the load makes it, and its
// window is the previous send's time. Standard library only.
package groupq

import (
	"runtime"
	"sync"
)

// Queue is a group-commit queue of items of type T. Its zero value is
// ready to use.
type Queue[T any] struct {
	mu      sync.Mutex
	waiting []*waiter[T]
	sending bool
}

type waiter[T any] struct {
	item T
	lead chan bool // receives true once to lead the next sends, or false once sent
}

// Submit queues item and returns once a send holding it has returned.
// send is called with batches of at most max items in their order of
// arrival, by one caller at a time, and must set each item's outcome
// before it returns. With yield, a caller about to send first lets the
// goroutines that are ready to run (others about to submit) join its
// batch; on an idle system there are none and it goes on at once.
func (q *Queue[T]) Submit(item T, max int, yield bool, send func(batch []T)) {
	w := &waiter[T]{item: item, lead: make(chan bool, 1)}
	q.mu.Lock()
	q.waiting = append(q.waiting, w)
	lead := !q.sending
	q.sending = true
	q.mu.Unlock()
	if !lead && !<-w.lead {
		return // sent in another caller's batch
	}
	if yield {
		runtime.Gosched()
	}
	for {
		q.mu.Lock()
		n := min(len(q.waiting), max)
		batch := q.waiting[:n:n]
		q.waiting = q.waiting[n:]
		q.mu.Unlock()
		items := make([]T, n)
		mine := false
		for i, b := range batch {
			items[i], mine = b.item, mine || b == w
		}
		send(items)
		for _, b := range batch {
			if b != w {
				b.lead <- false
			}
		}
		if mine { // ours is sent: pass the lead on
			q.mu.Lock()
			if len(q.waiting) == 0 {
				q.sending = false
			} else {
				q.waiting[0].lead <- true
			}
			q.mu.Unlock()
			return
		}
		// more than max were ahead of ours
	}
}
