//go:build linux

package proctree

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
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
	cg, err := makeCgroup(base, "test-probe", false)
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

// A cairn process restarted with the pid of one that died (as in a
// container) finds that one's cgroups: it makes its own past them, and
// RemoveStale removes the empty ones it did not make, not its own.
func TestSamePidAsADeadProcess(t *testing.T) {
	base := cgroupBase()
	if base == "" {
		t.Skip("no writable cgroup v2 here")
	}
	var earlier []string
	for i := int64(1); i <= 2; i++ {
		dir := filepath.Join(base, fmt.Sprintf("cairn.%d.%d.pool", os.Getpid(), seq.Load()+i))
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Remove(dir) })
		earlier = append(earlier, dir)
	}
	cg, err := makeCgroup(base, "pool", true)
	if err != nil {
		t.Fatalf("a cgroup of an earlier process with this pid stops this one: %v", err)
	}
	defer func() { cg.close(); removeCgroup(cg.dir) }()
	if slices.Contains(earlier, cg.dir) {
		t.Fatalf("made %s, which existed", cg.dir)
	}
	RemoveStale()
	for _, dir := range earlier {
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("the earlier process's empty cgroup %s was kept: %v", dir, err)
		}
	}
	if _, err := os.Stat(cg.dir); err != nil {
		t.Errorf("RemoveStale removed this process's own cgroup %s: %v", cg.dir, err)
	}
}

// A cgroup this process is making is never taken for a dead process's by
// RemoveStale running at the same time (the first trees of a process are
// made while its first New removes the stale ones): every makeCgroup
// opens what it made.
func TestMakeCgroupBesideRemoveStale(t *testing.T) {
	base := cgroupBase()
	if base == "" {
		t.Skip("no writable cgroup v2 here")
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
				RemoveStale()
			}
		}
	}()
	for i := 0; i < 300; i++ {
		cg, err := makeCgroup(base, fmt.Sprintf("race-%d", i), false)
		if err != nil {
			close(stop)
			<-done
			t.Fatalf("make cgroup %d beside RemoveStale: %v", i, err)
		}
		cg.close()
		removeCgroup(cg.dir)
	}
	close(stop)
	<-done
}
