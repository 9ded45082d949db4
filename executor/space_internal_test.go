package executor

import (
	"errors"
	"syscall"
	"testing"
	"time"
)

// TestDiskCheckBeforeLeaseStands: a check before a lease that found room
// to spare on every folder stands for the next ones within roomFor; one
// that found little room, a full disk, or a folder it could not read
// does not; after a failed attempt (beforeLease false) the disk is always
// looked at.
func TestDiskCheckBeforeLeaseStands(t *testing.T) {
	var (
		calls        int
		avail, ffree uint64 = 1 << 40, 1 << 20
		ok                  = true
	)
	statfs = func(string) (uint64, uint64, uint64, bool) {
		calls++
		return avail, ffree, 1 << 21, ok
	}
	t.Cleanup(func() { statfs = spaceOf })
	p := New(nil, Options{SpaceDirs: []string{"work", "cache"}})
	check := func(beforeLease bool, wantCalls int, wantFull bool) {
		t.Helper()
		calls = 0
		err := p.fullDisk(beforeLease)
		if full := errors.Is(err, syscall.ENOSPC); full != wantFull {
			t.Fatalf("fullDisk(%v) = %v, want full %v", beforeLease, err, wantFull)
		}
		if calls != wantCalls {
			t.Fatalf("fullDisk(%v): %d statfs calls, want %d", beforeLease, calls, wantCalls)
		}
	}
	check(true, 2, false)  // room to spare: looked at, both folders
	check(true, 0, false)  // stands
	check(false, 2, false) // after a failed attempt: looked at
	time.Sleep(roomFor + 20*time.Millisecond)
	check(true, 2, false) // out of date: looked at again

	avail = spareSpace - 1 // room, none to spare
	p.roomUntil.Store(0)
	check(true, 2, false)
	check(true, 2, false)
	avail, ffree = 1<<40, spareInodes-1 // bytes to spare, few inodes
	check(true, 2, false)
	check(true, 2, false)

	ffree = 1 << 20
	check(true, 2, false)
	check(true, 0, false)
	avail = MinFreeSpace - 1 // full: says so even when a check stood...
	check(false, 1, true)
	avail = 1 << 40
	check(true, 2, false) // ...and the next lease looks again
	avail = MinFreeSpace - 1
	p.roomUntil.Store(0)
	check(true, 1, true)
	check(true, 1, true)

	avail, ok = 1<<40, false // cannot be told (not made yet): says nothing
	p.roomUntil.Store(0)
	check(true, 2, false)
	check(true, 0, false)
}
