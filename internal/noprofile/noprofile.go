// Package noprofile turns off the runtime's sampling of allocations for
// heap profiles as early as a package can: imported by the cairn command,
// it depends on the runtime alone, so Go initializes it before the
// packages whose path sorts after its own (Go initializes, among the
// packages whose imports are ready, the one first by import path), the
// heavy initializers among them: gin's validator, gRPC and protobuf's
// descriptors, golang.org/x/net. Each sampled allocation unwinds its
// stack and records it, the cost of 2–3 % of `cairn version`'s CPU for
// profiles only `cairn server --debug-addr` ever serves; the command sets
// the rate again as it starts (main.memProfileRate).
package noprofile

import "runtime"

func init() {
	runtime.MemProfileRate = 0
}
