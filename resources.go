package cairn

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Resources are the limits a task's processes run under (a task's
// `resources:`): CPU in cores (1.5 is one and a half cores' time per
// period), Memory in bytes; 0 is no limit. A task type that can enforce
// them says so (TypeInfo.Resources) and receives them in its params under
// the key "resources".
type Resources struct {
	CPU    float64 `json:"cpu,omitempty"`
	Memory int64   `json:"memory,omitempty"`
}

// The bounds of Resources a workflow may ask for.
const (
	// MinCPU is the smallest CPU limit: 1 ms of CPU time per 100 ms
	// period, the least a cgroup's quota takes.
	MinCPU = 0.01
	// MaxCPU is the largest CPU limit, in cores.
	MaxCPU = 4096
	// MinMemory is the smallest memory limit: less than a process needs
	// to start.
	MinMemory = 4 << 20
)

var memoryUnits = []struct {
	suffix string
	mult   float64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}, {"Ti", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
	{"K", 1e3}, {"M", 1e6}, {"G", 1e9}, {"T", 1e12},
	{"B", 1},
}

// ParseMemory reads an amount of memory: a whole number of bytes, or a
// number with a unit — KiB, MiB, GiB, TiB (powers of 1024, also written
// Ki, Mi, Gi, Ti) or KB, MB, GB, TB (powers of 1000, also K, M, G, T) —
// such as "2GiB", "512Mi" or "1.5G". It fails for anything else, a
// negative amount, or one beyond int64.
func ParseMemory(s string) (int64, error) {
	t := strings.TrimSpace(s)
	mult := 1.0
	num := t
	for _, u := range memoryUnits {
		if n, ok := strings.CutSuffix(t, u.suffix); ok {
			num, mult = strings.TrimSpace(n), u.mult
			break
		}
	}
	if num == "" {
		return 0, fmt.Errorf("%q is not an amount of memory", s)
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || strings.ContainsAny(num, "xXpP_") {
		return 0, fmt.Errorf("%q is not an amount of memory", s)
	}
	if f < 0 {
		return 0, fmt.Errorf("%q is negative", s)
	}
	b := f * mult
	if b >= math.MaxInt64 {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return int64(b), nil
}

// FormatMemory writes n bytes in the largest power-of-1024 unit that
// holds it whole ("2GiB", "1536MiB"), else in bytes ("1000B").
func FormatMemory(n int64) string {
	for _, u := range []struct {
		name string
		size int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.size && n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + u.name
		}
	}
	return strconv.FormatInt(n, 10) + "B"
}

// OutOfMemoryError is the failure of an attempt whose processes ran out
// of the memory its resources allow and were killed by the kernel. Task
// types return it wrapped in Permanent: run again with the same limit, the
// task would run out again.
type OutOfMemoryError struct {
	Limit int64 // bytes
}

func (e *OutOfMemoryError) Error() string {
	return "out of memory: limit " + FormatMemory(e.Limit)
}
