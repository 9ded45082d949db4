package groupq

import (
	"sync"
	"testing"
)

// Every item is sent exactly once, by one sender at a time, in batches
// of at most max, and each caller returns only once its own item's send
// has returned; items that wait during a send share a batch.
func TestQueue(t *testing.T) {
	var q Queue[*int]
	const callers, max = 200, 7
	var (
		mu      sync.Mutex
		sent    = map[*int]int{}
		sending int
		batches int
		wg      sync.WaitGroup
	)
	send := func(batch []*int) {
		mu.Lock()
		sending++
		if sending != 1 {
			t.Errorf("%d sends at once", sending)
		}
		if len(batch) < 1 || len(batch) > max {
			t.Errorf("a batch of %d", len(batch))
		}
		batches++
		mu.Unlock()
		for _, p := range batch {
			*p = 1 // the outcome
		}
		mu.Lock()
		for _, p := range batch {
			sent[p]++
		}
		sending--
		mu.Unlock()
	}
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			item := new(int)
			q.Submit(item, max, true, send)
			if *item != 1 {
				t.Error("Submit returned before its item was sent")
			}
		}()
	}
	wg.Wait()
	if len(sent) != callers {
		t.Fatalf("%d items sent, want %d", len(sent), callers)
	}
	for _, n := range sent {
		if n != 1 {
			t.Fatalf("an item sent %d times", n)
		}
	}
	if q.sending || len(q.waiting) != 0 {
		t.Errorf("the queue is left sending %v with %d waiting", q.sending, len(q.waiting))
	}
	t.Logf("%d items in %d batches", callers, batches)
}
