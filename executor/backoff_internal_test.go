package executor

import (
	"testing"
	"time"
)

// TestLeaseBackoff: a failed lease waits 100 ms doubled at each failure in
// a row, at most 5 s, drawn between half and all of it.
func TestLeaseBackoff(t *testing.T) {
	for n, full := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 4: 800 * time.Millisecond,
		6: 3200 * time.Millisecond, 7: 5 * time.Second, 50: 5 * time.Second} {
		lo, hi := full, time.Duration(0)
		for range 200 {
			d := leaseBackoff(n)
			lo, hi = min(lo, d), max(hi, d)
		}
		if lo < full/2 || hi > full || hi-lo < full/10 {
			t.Errorf("failure %d: waits from %s to %s, want spread between %s and %s", n, lo, hi, full/2, full)
		}
	}
}
