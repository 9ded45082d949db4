package cairn

import (
	"crypto/rand"
	"time"
)

const crockford = "0123456789abcdefghjkmnpqrstvwxyz"

// NewRunID returns a new run id: 16 lowercase Crockford base32 characters,
// the first 10 the creation time in milliseconds, so ids sort by creation
// time, the last 6 random (30 bits).
func NewRunID(now time.Time) string {
	var out [16]byte
	ms := uint64(now.UnixMilli())
	for i := 9; i >= 0; i-- {
		out[i] = crockford[ms&31]
		ms >>= 5
	}
	var r [6]byte
	if _, err := rand.Read(r[:]); err != nil {
		panic("cairn: crypto/rand failed: " + err.Error())
	}
	for i := 0; i < 6; i++ {
		out[10+i] = crockford[r[i]&31]
	}
	return string(out[:])
}
