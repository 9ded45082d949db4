package scheduler

import (
	"testing"

	"github.com/cairnml/cairn"
)

// A lease claimed before its run's cancellation committed but issued
// after the driver revoked the task is revoked the moment it is issued.
func TestLeaseIssuedAfterCancellationIsRevoked(t *testing.T) {
	b := NewBroker(nil, BrokerOptions{})
	b.subscribe("r", nil, nil)
	b.revokeCancelled("r", "t1")
	late := cairn.WorkItem{Lease: cairn.Lease{RunID: "r", TaskID: "t1", Attempt: 1, Token: "late"}}
	other := cairn.WorkItem{Lease: cairn.Lease{RunID: "r", TaskID: "t2", Attempt: 1, Token: "other"}}
	b.issue([]cairn.WorkItem{late, other}, nil)
	select {
	case <-b.Revoked(late.Lease):
	default:
		t.Fatal("a lease of a cancelled task was issued unrevoked")
	}
	select {
	case <-b.Revoked(other.Lease):
		t.Fatal("a lease of a task that was not cancelled was revoked")
	default:
	}
	// Once the run's driver is gone, the task's record goes too.
	b.unsubscribe("r")
	again := cairn.WorkItem{Lease: cairn.Lease{RunID: "r", TaskID: "t1", Attempt: 2, Token: "again"}}
	b.issue([]cairn.WorkItem{again}, nil)
	select {
	case <-b.Revoked(again.Lease):
		t.Fatal("the cancellation record outlived its run's driver")
	default:
	}
}
