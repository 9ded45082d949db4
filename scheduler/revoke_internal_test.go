package scheduler

import (
	"testing"

	"github.com/cairnml/cairn"
)

// OnRevoke calls its function when the lease's task is cancelled, at once
// for a task cancelled before it asked, never once stopped, never for a
// lease the broker does not hold.
func TestOnRevoke(t *testing.T) {
	b := NewBroker(nil, BrokerOptions{})
	item := func(task string) cairn.WorkItem {
		return cairn.WorkItem{Lease: cairn.Lease{RunID: "r", TaskID: task, Attempt: 1, Token: cairn.NewToken()}}
	}
	a, c, d := item("a"), item("c"), item("d")
	b.revokeCancelled("r", "c") // c cancelled while its lease was on its way
	b.issue([]cairn.WorkItem{a, c, d}, nil)

	calls := map[string]int{}
	stopA := b.OnRevoke(a.Lease, func() { calls["a"]++ })
	defer stopA()
	stopC := b.OnRevoke(c.Lease, func() { calls["c"]++ })
	defer stopC()
	if calls["c"] != 1 {
		t.Fatalf("a lease revoked before OnRevoke: %d calls, want 1 at once", calls["c"])
	}
	stopD := b.OnRevoke(d.Lease, func() { calls["d"]++ })
	stopD()
	unknown := b.OnRevoke(cairn.Lease{RunID: "r", TaskID: "x", Token: "nope"}, func() { calls["x"]++ })
	defer unknown()

	e := item("e")
	b.issue([]cairn.WorkItem{e}, nil)
	revokedE := b.Revoked(e.Lease)
	b.revokeCancelled("r", "a")
	b.revokeCancelled("r", "d")
	b.revokeCancelled("r", "x")
	b.revokeCancelled("r", "a") // again: nothing more
	b.revokeCancelled("r", "e")
	if want := map[string]int{"a": 1, "c": 1}; len(calls) != 2 || calls["a"] != 1 || calls["c"] != 1 {
		t.Errorf("calls %v, want %v", calls, want)
	}
	// An attempt begun after its lease was revoked (an item a pool
	// leased ahead) is stopped at once, and its channel is closed.
	stopE := b.OnRevoke(e.Lease, func() { calls["e"]++ })
	defer stopE()
	if calls["e"] != 1 {
		t.Errorf("OnRevoke after the revocation: %d calls, want 1 at once", calls["e"])
	}
	for _, ch := range []<-chan struct{}{revokedE, b.Revoked(e.Lease), b.Revoked(c.Lease)} {
		select {
		case <-ch:
		default:
			t.Error("a revoked lease's channel is open")
		}
	}
	if ch := b.Revoked(cairn.Lease{Token: "nope"}); ch != nil {
		t.Error("a channel for a lease the broker did not issue")
	}
}
