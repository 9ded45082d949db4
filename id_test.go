package cairn

import (
	"testing"
	"time"
)

// Ids made in the same millisecond sort in the order they were made, and
// keep that millisecond while they fit in it.
func TestRunIDsSortInCreationOrder(t *testing.T) {
	at := time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)
	prev := NewRunID(at)
	for i := 0; i < 2000; i++ {
		id := NewRunID(at)
		if id <= prev {
			t.Fatalf("id %d %s sorts before the one made before it, %s", i, id, prev)
		}
		prev = id
	}
	// An earlier time keeps its own millisecond. (Compared with the
	// millisecond itself: a second id of that time may overflow into the
	// next one, once in about 128 runs.)
	early := NewRunID(at.Add(-time.Hour))
	var want [10]byte
	for i, ms := 9, uint64(at.Add(-time.Hour).UnixMilli()); i >= 0; i, ms = i-1, ms>>5 {
		want[i] = crockford[ms&31]
	}
	if early[:10] != string(want[:]) {
		t.Fatalf("id of an earlier time %s, want its millisecond %s", early, want)
	}
}
