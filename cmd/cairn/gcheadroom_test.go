package main

import (
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

// The percentage lets the heap grow by the headroom beyond its live part,
// never by less than Go's default.
func TestHeadroomPercent(t *testing.T) {
	const mb = 1 << 20
	for _, c := range []struct {
		live uint64
		want int
	}{
		{0, 1200},       // under Go's minimum heap: counted as 4 MiB
		{4 * mb, 1200},  // 4 + 48 MiB
		{10 * mb, 480},  // 10 + 48 MiB
		{14 * mb, 343},  // rounded up: at least the headroom
		{48 * mb, 100},  // the default's doubling is the headroom
		{110 * mb, 100}, // a large heap: the default
	} {
		if got := headroomPercent(c.live, 48*mb); got != c.want {
			t.Errorf("headroomPercent(%d MiB) = %d, want %d", c.live/mb, got, c.want)
		}
	}
}

// Before any collection the starting percentage is that of an empty live
// heap, the runtime's metrics unread; after one, that of the live heap.
func TestFirstPercent(t *testing.T) {
	if got := firstPercent(0, func() uint64 { t.Error("the live heap read before any collection"); return 0 }); got != 1200 {
		t.Errorf("before any collection: %d, want 1200", got)
	}
	if got := firstPercent(3, func() uint64 { return 24 << 20 }); got != 200 {
		t.Errorf("after 3 collections, 24 MiB live: %d, want 200", got)
	}
}

// gcHeadroom sets the percentage at once and again after each cycle from
// the live heap, and leaves it alone when GOGC is set.
func TestGCHeadroom(t *testing.T) {
	old := debug.SetGCPercent(100)
	defer debug.SetGCPercent(old)
	t.Setenv("GOGC", "100")
	gcHeadroom()()
	if p := debug.SetGCPercent(100); p != 100 {
		t.Fatalf("with GOGC set: percentage %d, want it left at 100", p)
	}
	t.Setenv("GOGC", "")
	called := make(chan struct{}, 1)
	afterEachGC(func() bool {
		select {
		case called <- struct{}{}:
		default:
		}
		return false
	})
	stop := gcHeadroom()
	defer stop()
	if p := debug.SetGCPercent(100); p <= 100 {
		t.Fatalf("percentage %d after gcHeadroom on a small heap, want above 100", p)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		runtime.GC()
		select {
		case <-called:
		case <-time.After(10 * time.Millisecond):
			if time.Now().Before(deadline) {
				continue
			}
			t.Fatal("no call after a collection")
		}
		break
	}
	// The finalizer set it again after the cycle (and those that follow).
	time.Sleep(20 * time.Millisecond)
	if p := debug.SetGCPercent(100); p <= 100 {
		t.Errorf("percentage %d after a collection, want above 100 again", p)
	}
}

// The heap a run is expected to reach: its live heap (48 bytes a source
// byte) and the headroom past it, capped.
func TestHugeHeapBytes(t *testing.T) {
	const mb = 1 << 20
	for _, c := range []struct {
		source int64
		want   int
	}{
		{8 << 10, 48*mb + 48*8<<10}, // the smallest run it is asked for
		{45781, 48*mb + 48*45781},   // a 1,000-task chain
		{288907, 48*mb + 48*288907}, // 10,000 noop tasks: 61 MiB
		{1 << 20, 96 * mb},          // live 48 MiB: the headroom is as much again
		{2 << 20, 192 * mb},         // past it, twice the live heap
		{2988907, 256 * mb},         // 100,000 noop tasks: capped
		{1 << 40, 256 * mb},         // a source larger than any run: capped, no overflow
	} {
		if got := hugeHeapBytes(c.source); got != c.want {
			t.Errorf("hugeHeapBytes(%d) = %d, want %d", c.source, got, c.want)
		}
	}
}

// TestMemProfileRate: heap profiles are sampled only where they are
// served (CAIRN_DEBUG_ADDR), at Go's default rate.
func TestMemProfileRate(t *testing.T) {
	if got := memProfileRate(""); got != 0 {
		t.Errorf("no debug address: rate %d, want 0", got)
	}
	if got := memProfileRate("127.0.0.1:6060"); got != 512<<10 {
		t.Errorf("a debug address: rate %d, want Go's default %d", got, 512<<10)
	}
}
