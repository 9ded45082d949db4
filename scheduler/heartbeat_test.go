package scheduler_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cairnml/cairn"
)

// Broker.HeartbeatMany renews the live leases it is given at the broker's
// clock plus its TTL and reports the others lost, in the order given; a
// lease renewed so outlives its first expiry.
func TestBrokerHeartbeatMany(t *testing.T) {
	clk := &clock{}
	const ttl = time.Minute
	r := newRig(t, rigOptions{leaseTTL: ttl, now: clk.Now})
	id := r.createReady(t, 2, cairn.RetryPolicy{})
	ctx := context.Background()
	a, b := leaseOne(t, r, "w", id).Lease, leaseOne(t, r, "w", id).Lease
	stale := a
	stale.Token = cairn.NewToken()

	clk.Advance(ttl / 2)
	rs, err := r.broker.HeartbeatMany(ctx, []cairn.Lease{b, stale, a})
	if err != nil || len(rs) != 3 {
		t.Fatalf("HeartbeatMany = %+v, %v; want 3 results", rs, err)
	}
	for _, i := range []int{0, 2} {
		if rs[i].Err != nil || rs[i].Reply.ExpiresAt.Before(b.ExpiresAt.Add(ttl/2)) || rs[i].Reply.CancelRequested {
			t.Errorf("result %d = %+v, want renewed until about %v", i, rs[i], b.ExpiresAt.Add(ttl/2))
		}
	}
	if !errors.Is(rs[1].Err, cairn.ErrLeaseLost) {
		t.Errorf("result for a stale token = %+v, want ErrLeaseLost", rs[1])
	}
	// Past the first expiry, the renewed leases still hold.
	clk.Advance(ttl/2 + time.Second)
	rs, err = r.broker.HeartbeatMany(ctx, []cairn.Lease{a, b})
	if err != nil || rs[0].Err != nil || rs[1].Err != nil {
		t.Fatalf("HeartbeatMany past the first expiry = %+v, %v; want both renewed", rs, err)
	}
	if rs, err := r.broker.HeartbeatMany(ctx, nil); err != nil || len(rs) != 0 {
		t.Errorf("HeartbeatMany(nil) = %+v, %v", rs, err)
	}
}
