package main

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"

	"github.com/cairnml/cairn/internal/hugeheap"
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

// Huge pages for a large run's heap (internal/hugeheap): a run's heap
// grows to about gcHeadroomBytes past its live heap, and its live heap is
// about heapPerSourceByte times its workflow file's size (14 MB live for
// a 10,000-task file of 0.29 MB, 112 MB for 100,000 tasks in 2.99 MB).
// A file under hugeHeapMinSource is a run too small for it to pay: the
// allocation starts a collection and maps the runtime's metadata of the
// region (a one-task run: 270 faults more, for none saved).
const (
	heapPerSourceByte = 48
	hugeHeapMinSource = 8 << 10
	hugeHeapMax       = 256 << 20
)

// runHeap readies the heap of a run in the foreground (cairn run, resume,
// retry) of a workflow source of the size given: huge pages for a large
// one's (prepareHeap), then the collector's headroom (gcHeadroom) until
// stop is called. In that order: the object prepareHeap allocates is
// over the default goal (4 MiB), so the next allocation starts the cycle
// that gives it back; past gcHeadroom's goal (52 MiB before any cycle)
// it would also be, but by less.
func runHeap(sourceBytes int64) (stop func()) {
	prepareHeap(sourceBytes)
	return gcHeadroom()
}

// prepareHeap asks for huge pages on the heap a foreground run of a
// workflow source of the size given is about to fill, unless GOGC is set
// (the user then tunes the heap) or the run is small; see
// internal/hugeheap.
func prepareHeap(sourceBytes int64) {
	if sourceBytes < hugeHeapMinSource || os.Getenv("GOGC") != "" {
		return
	}
	hugeheap.Prepare(hugeHeapBytes(sourceBytes))
}

// hugeHeapBytes is the heap a run of a workflow source of the size given
// is expected to reach: its live heap and the collector's headroom past
// it (gcHeadroom: gcHeadroomBytes, or as much again once that is more),
// at most hugeHeapMax.
func hugeHeapBytes(sourceBytes int64) int {
	live := min(sourceBytes, hugeHeapMax) * heapPerSourceByte
	return int(min(max(live+gcHeadroomBytes, 2*live), hugeHeapMax))
}
