// Package groupq is a group-commit queue: callers that each have one
// item to send — a worker's completion to commit (scheduler's completer),
// a slot's report to post (remote's client) — queue it, and the first to
// find nobody sending sends the queue itself, as one batch, then hands
// the lead to the oldest item still waiting once its own is sent. A
// single item on an idle queue is sent at once by its own caller (no
// hand-off, no added latency), while the items that arrive during a send
// share the next: a batch is as large as the load makes it, and its
// window is the previous send's time.
//
// With Lanes above 1, up to that many batches are sent at once (commits
// that overlap, on a store that lets them): a caller that finds every
// lane's batch taken and sending, and a lane free, leads a new batch;
// while one leader gathers its batch (it has not taken it yet) the
// others wait to share it, so a burst of items still forms one batch
// rather than as many as there are lanes. Standard library only.
package groupq

import (
	"runtime"
	"sync"
)

// Queue is a group-commit queue of items of type T. Its zero value is
// ready to use and sends one batch at a time.
type Queue[T any] struct {
	// Lanes is how many batches may be sent at once; 0 or 1: one. Set
	// it before the first Submit, or at any time with SetLanes.
	Lanes int

	mu      sync.Mutex
	waiting []*waiter[T] // items not taken by a leader yet, oldest first
	sending int          // lanes taken: their leaders gathering or sending
	// gathering is set while a leader has not taken its batch yet: the
	// items arriving then join it rather than lead another lane.
	gathering bool
}

// waiter is one caller's items, sent in one batch (SubmitAll's are
// never split).
type waiter[T any] struct {
	items []T
	lead  chan bool // receives true once to lead a batch, or false once sent
}

// lanes is Lanes, at least one. q.mu is held.
func (q *Queue[T]) lanes() int { return max(q.Lanes, 1) }

// SetLanes sets Lanes, with Submits under way: the batches being sent go
// on, and the next lane opens only while fewer than n are sending.
func (q *Queue[T]) SetLanes(n int) {
	q.mu.Lock()
	q.Lanes = n
	q.mu.Unlock()
}

// Submit queues item and returns once a send holding it has returned.
// send is called with batches of at most max items in their order of
// arrival, by at most Lanes callers at a time, and must set each item's
// outcome before it returns. With yield, a caller about to send first
// lets the goroutines that are ready to run (others about to submit)
// join its batch; on an idle system there are none and it goes on at
// once.
func (q *Queue[T]) Submit(item T, max int, yield bool, send func(batch []T)) {
	q.SubmitAll([]T{item}, max, yield, send)
}

// SubmitAll is Submit of several items at once, by one caller that
// waits for them all: they go in one batch, together (more than max
// only when items alone are more), rather than each on a goroutine of
// its own. It returns once that batch's send has returned. No items: it
// returns at once.
func (q *Queue[T]) SubmitAll(items []T, max int, yield bool, send func(batch []T)) {
	q.SubmitAllOverlapping(items, max, yield, func(batch []T, _ func()) { send(batch) })
}

// SubmitAllOverlapping is SubmitAll whose send may give its lane up
// before it returns: once it calls release (at most once; a second call
// does nothing), the next batch may be sent beside the rest of this one,
// which no longer counts against Lanes. So with one lane a batch can
// gather and begin while the previous one finishes — its commit flushed,
// say — but never while it is in its part that must not overlap.
func (q *Queue[T]) SubmitAllOverlapping(items []T, max int, yield bool, send func(batch []T, release func())) {
	if len(items) == 0 {
		return
	}
	w := &waiter[T]{items: items, lead: make(chan bool, 1)}
	q.mu.Lock()
	// Items wait only while every lane is taken or a leader gathers:
	// a caller leading here has none before its own.
	lead := !q.gathering && q.sending < q.lanes()
	if lead {
		q.sending++
		q.gathering = true
	} else {
		q.waiting = append(q.waiting, w)
	}
	q.mu.Unlock()
	if !lead && !<-w.lead {
		return // sent in another caller's batch
	}
	// A leader's own items are out of the queue and first in its batch
	// (the oldest: lanes are handed to the oldest waiting caller).
	if yield {
		runtime.Gosched()
	}
	q.mu.Lock()
	n, size := 0, len(items)
	for n < len(q.waiting) && size+len(q.waiting[n].items) <= max {
		size += len(q.waiting[n].items)
		n++
	}
	batch := q.waiting[:n:n]
	q.waiting = q.waiting[n:]
	q.gathering = false
	if len(q.waiting) > 0 && q.sending < q.lanes() {
		q.handLocked() // more than max waited: another lane takes the rest
	}
	q.mu.Unlock()
	all := items
	if n > 0 {
		all = make([]T, 0, size)
		all = append(all, items...)
		for _, b := range batch {
			all = append(all, b.items...)
		}
	}
	released := false
	release := func() {
		if released {
			return
		}
		released = true
		q.mu.Lock()
		if len(q.waiting) > 0 && !q.gathering {
			q.sending-- // the lane goes to the oldest caller waiting
			q.handLocked()
		} else {
			q.sending--
		}
		q.mu.Unlock()
	}
	send(all, release)
	for _, b := range batch {
		b.lead <- false
	}
	release()
}

// handLocked makes the oldest waiting item lead a batch in a lane of its
// own. q.mu is held; a lane is free.
func (q *Queue[T]) handLocked() {
	w := q.waiting[0]
	q.waiting = q.waiting[1:]
	q.sending++
	q.gathering = true
	w.lead <- true
}
