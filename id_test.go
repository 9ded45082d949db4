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
	// An earlier time keeps its own millisecond.
	early := NewRunID(at.Add(-time.Hour))
	if want := NewRunID(at.Add(-time.Hour))[:10]; early[:10] != want {
		t.Fatalf("id of an earlier time %s, want its millisecond %s", early, want)
	}
}
