// Package limits enforces a task's resources (cairn.Resources: CPU and
// memory) on the processes of a shell attempt with cgroups, and tells an
// attempt killed for running out of its memory from other failures.
//
// Two ways, chosen when a limit is first asked for:
//
//   - cgroup v2: the attempt's own cgroup (package proctree's, which its
//     first process is cloned into) gets memory.max, memory.swap.max and
//     cpu.max, when the memory and cpu controllers are delegated to it; the
//     limits are reset when the attempt ends, as proctree reuses cgroups.
//     An out-of-memory kill is the oom_kill count of memory.events going up.
//   - cgroup v1 (hosts with the memory and cpu controllers mounted apart,
//     as this project's CI has them): a cgroup of each controller is made
//     for the attempt, under this process's own, named cairn.PID.N; the
//     command moves itself into them before it execs (its first process is
//     a /bin/sh that writes its pid into each cgroup.procs and then execs
//     the command: nothing of it runs outside the limits). It sets
//     memory.limit_in_bytes (and memory.memsw.limit_in_bytes where swap is
//     accounted, so that the limit is not worked around by swapping),
//     cpu.cfs_quota_us over a 100 ms cpu.cfs_period_us. An out-of-memory
//     kill is the oom_kill count of memory.oom_control. The cgroups are
//     removed when the attempt ends; those of a cairn process that died
//     (kill -9) are removed the first time a later one enforces limits.
//
// Where neither works (not root, no such mounts, controllers not
// delegated) Apply fails with an error that says so: a task's limits are
// never silently dropped.
package limits

import (
	"errors"
	"fmt"

	"github.com/cairnml/cairn"
)

// ErrUnavailable is wrapped by Apply's error when this host cannot enforce
// limits at all.
var ErrUnavailable = errors.New("resource limits cannot be enforced here")

// Stats are what the cgroups counted of an attempt, for tests and
// diagnostics.
type Stats struct {
	// CPUQuota is the CPU time allowed per period, and CPUPeriod that
	// period, in microseconds (0: no CPU limit).
	CPUQuota, CPUPeriod int64
	// Throttled is the number of periods in which the processes used
	// their whole quota and waited.
	Throttled int64
	// MemoryLimit is the limit in bytes (0: none); OOMKills the processes
	// the kernel killed for reaching it.
	MemoryLimit int64
	OOMKills    int64
}

// Version names the way limits are enforced: "v2", "v1".
type Version string

// Versions.
const (
	V2 Version = "v2"
	V1 Version = "v1"
)

func (g *Group) String() string {
	return fmt.Sprintf("cgroup %s (cpu %g, memory %s)", g.version, g.res.CPU, cairn.FormatMemory(g.res.Memory))
}
