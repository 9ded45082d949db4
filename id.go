package cairn

import (
	"crypto/rand"
	"sync"
	"time"
)

const crockford = "0123456789abcdefghjkmnpqrstvwxyz"

// NewRunID returns a new run id: 16 lowercase Crockford base32 characters,
// the first 10 the creation time in milliseconds, so ids sort by creation
// time, the last 6 random (30 bits). Within one process ids also sort in
// the order they were made when several share a millisecond (or the clock
// stepped back): the random part of the next one is one more than the
// last's, as in ULID's monotonic mode, so that queued runs start in the
// order they were created.
func NewRunID(now time.Time) string {
	ms := uint64(max(now.UnixMilli(), 0))
	var r [4]byte
	if _, err := rand.Read(r[:]); err != nil {
		panic("cairn: crypto/rand failed: " + err.Error())
	}
	low := uint64(r[0])<<22 | uint64(r[1])<<14 | uint64(r[2])<<6 | uint64(r[3])>>2 // 30 bits
	ms, low = lastID.next(ms, low)
	var out [16]byte
	for i := 9; i >= 0; i-- {
		out[i] = crockford[ms&31]
		ms >>= 5
	}
	for i := 15; i >= 10; i-- {
		out[i] = crockford[low&31]
		low >>= 5
	}
	return string(out[:])
}

// monotonic is the last id this process made. It is the one piece of
// mutable package state: run ids are unique per process, like the clock
// they are read from.
type monotonic struct {
	mu      sync.Mutex
	ms, low uint64
}

var lastID monotonic

// next returns (ms, low), or the successor of the last id when that is
// not after it.
func (m *monotonic) next(ms, low uint64) (uint64, uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if ms <= m.ms {
		ms, low = m.ms, m.low+1
		if low >= 1<<30 {
			ms, low = ms+1, 0
		}
	}
	m.ms, m.low = ms, low
	return ms, low
}
