package main

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
)

// The collector of a run in the foreground (cairn run, resume, retry).
// Go's default (GOGC=100) starts a cycle once the heap has doubled what
// the last one left live: a 10,000-task run, whose live heap is 3–16 MB,
// went through 12–13 cycles, about a tenth of its CPU (the marking, the
// assists charged to the goroutines that allocate, its commits' among
// them). gcHeadroom lets the heap grow by at least gcHeadroomBytes beyond
// what the last cycle left live before the next: the percentage is set
// again after every cycle from the live heap, so that a large run — whose
// live heap is past gcHeadroomBytes — is collected as by default (the
// 100,000-task run's peak RSS stays what it was), and a small one at most
// gcHeadroomBytes above its live heap. GOGC in the environment rules
// instead.
const gcHeadroomBytes = 48 << 20

// gcHeadroom sets the collector's percentage for gcHeadroomBytes of
// headroom now and after every cycle, unless GOGC is set, until stop is
// called (a command runs it until it exits).
func gcHeadroom() (stop func()) {
	if os.Getenv("GOGC") != "" {
		return func() {}
	}
	var stopped atomic.Bool
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	live := func() uint64 {
		metrics.Read(sample)
		if sample[0].Value.Kind() == metrics.KindUint64 {
			return sample[0].Value.Uint64()
		}
		return 0
	}
	var gcs debug.GCStats
	debug.ReadGCStats(&gcs)
	debug.SetGCPercent(firstPercent(gcs.NumGC, live))
	afterEachGC(func() bool {
		if stopped.Load() {
			return false
		}
		debug.SetGCPercent(headroomPercent(live(), gcHeadroomBytes))
		return true
	})
	return func() { stopped.Store(true) }
}

// firstPercent is gcHeadroom's percentage when it starts, after cycles
// collections; live reads the live heap. Before any cycle (a command's
// start) nothing was marked live, and live is not called: the runtime's
// metrics are left unread — their first read builds the runtime's table
// of them (83,000 instructions and 18 KB of a one-task run).
func firstPercent(cycles int64, live func() uint64) int {
	if cycles == 0 {
		return headroomPercent(0, gcHeadroomBytes)
	}
	return headroomPercent(live(), gcHeadroomBytes)
}

// headroomPercent is the GOGC percentage that lets a heap of live bytes
// grow by headroom before the next cycle, and never by less than Go's
// default (100: by as much as it holds). A live heap under Go's minimum
// (4 MiB) counts as that.
func headroomPercent(live, headroom uint64) int {
	live = max(live, 4<<20)
	if headroom <= live {
		return 100
	}
	return int((100*headroom + live - 1) / live)
}

// afterEachGC calls f after every garbage collection, from the finalizer
// of an object dropped at once and made again each time, until f returns
// false.
func afterEachGC(f func() bool) {
	t := &gcTick{}
	runtime.SetFinalizer(t, func(*gcTick) {
		if f() {
			afterEachGC(f)
		}
	})
}

// gcTick holds a pointer so that it is not a tiny allocation (whose
// finalizer may never run).
type gcTick struct{ _ *byte }
