package groupq

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// Every item is sent exactly once, by at most Lanes senders at a time
// (one by default), in batches of at most max, and each caller returns
// only once its own item's send has returned; items that wait during a
// send share a batch.
func TestQueue(t *testing.T) {
	for _, lanes := range []int{0, 1, 3} {
		t.Run(fmt.Sprintf("lanes=%d", lanes), func(t *testing.T) { testQueue(t, lanes) })
	}
}

func testQueue(t *testing.T, lanes int) {
	q := Queue[*int]{Lanes: lanes}
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
		if sending > q.lanes() {
			t.Errorf("%d sends at once, lanes %d", sending, lanes)
		}
		if len(batch) < 1 || len(batch) > max {
			t.Errorf("a batch of %d", len(batch))
		}
		batches++
		mu.Unlock()
		time.Sleep(50 * time.Microsecond)
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
	if q.sending != 0 || q.gathering || len(q.waiting) != 0 {
		t.Errorf("the queue is left with %d lanes sending (gathering %v) and %d waiting", q.sending, q.gathering, len(q.waiting))
	}
	t.Logf("%d items in %d batches", callers, batches)
}

// With two lanes, an item submitted while a batch is sending is sent at
// once beside it; with one, it waits for that send to end.
func TestQueueLanesOverlap(t *testing.T) {
	for _, lanes := range []int{1, 2} {
		t.Run(fmt.Sprintf("lanes=%d", lanes), func(t *testing.T) {
			q := Queue[int]{Lanes: lanes}
			started, release := make(chan int, 2), make(chan struct{})
			send := func(batch []int) {
				started <- batch[0]
				if batch[0] == 1 {
					<-release
				}
			}
			var wg sync.WaitGroup
			wg.Add(2)
			go func() { defer wg.Done(); q.Submit(1, 10, true, send) }()
			if got := <-started; got != 1 {
				t.Fatalf("first send holds %d", got)
			}
			go func() { defer wg.Done(); q.Submit(2, 10, true, send) }()
			select {
			case <-started:
				if lanes == 1 {
					t.Error("a second batch was sent while the first was sending, on one lane")
				}
			case <-time.After(200 * time.Millisecond):
				if lanes > 1 {
					t.Error("the second item waited for the first send, with a lane free")
				}
			}
			close(release)
			wg.Wait()
			if lanes == 1 {
				if got := <-started; got != 2 {
					t.Errorf("second send holds %d", got)
				}
			}
			if q.sending != 0 || q.gathering || len(q.waiting) != 0 {
				t.Errorf("left %d sending, %d waiting", q.sending, len(q.waiting))
			}
		})
	}
}

// SubmitAll's items go in one batch, side by side and in their order,
// each sent once: callers of 1 to 9 items beside one another, with max 7
// (a caller of 8 or 9 items is a batch of its own, larger than max).
func TestSubmitAllTogether(t *testing.T) {
	for _, lanes := range []int{1, 2} {
		t.Run(fmt.Sprintf("lanes=%d", lanes), func(t *testing.T) {
			q := Queue[*[2]int]{Lanes: lanes}
			const callers, max = 100, 7
			var (
				mu   sync.Mutex
				sent = map[*[2]int]int{}
				wg   sync.WaitGroup
			)
			send := func(batch []*[2]int) {
				time.Sleep(20 * time.Microsecond)
				mu.Lock()
				defer mu.Unlock()
				if len(batch) > max && len(batch) != batch[0][1] {
					t.Errorf("a batch of %d, its first caller's items %d", len(batch), batch[0][1])
				}
				for i := 0; i < len(batch); {
					n := batch[i][1] // the caller's items, numbered from 0
					for j := range n {
						if i+j >= len(batch) || batch[i+j][0] != j || batch[i+j][1] != n {
							t.Errorf("a caller's %d items were split or reordered in a batch of %d", n, len(batch))
							return
						}
						sent[batch[i+j]]++
					}
					i += n
				}
			}
			for c := range callers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					n := 1 + c%9
					items := make([]*[2]int, n)
					for j := range items {
						items[j] = &[2]int{j, n}
					}
					q.SubmitAll(items, max, true, send)
					mu.Lock()
					defer mu.Unlock()
					for _, it := range items {
						if sent[it] != 1 {
							t.Errorf("SubmitAll returned with an item sent %d times", sent[it])
						}
					}
				}()
			}
			wg.Wait()
			if q.sending != 0 || q.gathering || len(q.waiting) != 0 {
				t.Errorf("left %d sending, %d waiting", q.sending, len(q.waiting))
			}
			q.SubmitAll(nil, max, true, func([]*[2]int) { t.Error("a send of nothing") })
		})
	}
}
