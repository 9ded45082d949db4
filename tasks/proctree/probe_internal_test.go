//go:build linux

package proctree

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// The probe says yes for a cgroup a process can be cloned into, and no
// when the clone itself fails (here: the descriptor is not a cgroup's).
func TestCanStartIn(t *testing.T) {
	base := cgroupBase()
	if base == "" {
		t.Skip("no writable cgroup v2 here")
	}
	cg, err := makeCgroup(filepath.Join(base, fmt.Sprintf("cairn.%d.%d.test-probe", os.Getpid(), seq.Add(1))), false)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { cg.close(); os.Remove(cg.dir) }()
	if !canStartIn(cg) {
		t.Fatalf("a process cannot be started into %s, yet cgroups were found usable", cg.dir)
	}
	notCgroup, err := syscall.Open(t.TempDir(), syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(notCgroup)
	if canStartIn(&cgroup{dir: cg.dir, fd: notCgroup}) {
		t.Error("the probe says yes for a clone into a folder that is not a cgroup")
	}
}
