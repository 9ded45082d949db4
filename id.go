package cairn

import (
	"crypto/rand"
	"sync"
	"time"
)

const crockford = "0123456789abcdefghjkmnpqrstvwxyz"

// NewRunID returns a new run id: 16 lowercase Crockford base32 characters,
// the first 10 the creation time in milliseconds, so ids sort by creation
// time, the last 6 random (30 bits). Within one process, ids made in the
// same millisecond also sort in the order they were made: the random part
// of the next one is the last's plus a random step (ULID's monotonic mode,
// with a step rather than +1 so that ids of one millisecond still differ
// early), moving on to the next millisecond if it would overflow.
func NewRunID(now time.Time) string {
	ms := uint64(max(now.UnixMilli(), 0))
	var r [8]byte
	if _, err := rand.Read(r[:]); err != nil {
		panic("cairn: crypto/rand failed: " + err.Error())
	}
	low := uint64(r[0])<<22 | uint64(r[1])<<14 | uint64(r[2])<<6 | uint64(r[3])>>2 // 30 bits
	step := 1 + (uint64(r[4])<<16|uint64(r[5])<<8|uint64(r[6]))&(1<<24-1)          // [1, 2^24]
	ms, low = lastID.next(ms, low, step)
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

// next returns (ms, low), or, in the millisecond of the last id (or up to
// a second before it: ids that overflowed into the next millisecond, a
// clock stepping back a little), the last's plus step. A time further back
// (given explicitly) keeps its own millisecond and random part.
func (m *monotonic) next(ms, low, step uint64) (uint64, uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if ms <= m.ms && m.ms-ms <= 1000 {
		ms = m.ms
		low = m.low + step
		if low >= 1<<30 {
			ms, low = ms+1, low&(1<<30-1)
		}
	}
	m.ms, m.low = ms, low
	return ms, low
}
