// Package hugeheap asks the kernel to back the part of the Go heap that a
// large run is about to fill with transparent huge pages.
//
// Every page of memory a process touches for the first time costs a page
// fault. On some virtual machines that fault is slow: 9.5 µs of CPU for a
// 4 KiB page on the 2-CPU machines Cairn's figures were measured on
// (docs/benchmarks.md), where a 10,000-task run touched about 20,000 such
// pages, a third of its CPU. A 2 MiB huge page costs one fault for 512 of
// them (64 MiB of fresh memory: 155 ms in 4 KiB faults, 3.3 ms in huge
// pages, once the host backs it). Linux gives huge pages to anonymous
// memory either always or, the default of many distributions, only where
// the process asked with madvise(MADV_HUGEPAGE); Go's runtime does not ask
// for its heap. Go maps its heap in pieces as it grows, each piece a new
// mapping that an earlier madvise does not reach, so Prepare makes the
// runtime map the piece a run will fill at once, by allocating it as one
// object, asks for huge pages on it, and lets it go: the runtime then
// places the run's objects in those pages, lowest addresses first.
//
// GODEBUG=disablethp=1, Go's own setting against huge pages for its heap,
// turns Prepare off, and so does a limit on the process's address space
// or data (ulimit -v, -d): the one allocation could go past it where the
// heap grown piece by piece would not, and Go's out of memory is fatal.
package hugeheap

// Page is the size of a transparent huge page on the platforms where
// Prepare does anything (x86-64 and arm64 with 4 KiB base pages).
const Page = 2 << 20
