//go:build linux

package proctree_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/cairnml/cairn/tasks/proctree"
)

func TestMain(m *testing.M) {
	if name := os.Getenv("PROCTREE_TEST_WORKER"); name != "" {
		worker(name)
		return
	}
	code := m.Run()
	proctree.RemoveIdle()
	os.Exit(code)
}

// worker is a cairn worker that dies with an attempt running: it starts,
// in a tree named name, a process that cleared its environment, prints
// its pid and the tree's cgroup, and exits without closing the tree.
func worker(name string) {
	tree, err := proctree.New(name, nil, proctree.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	cmd := exec.Command("/bin/sh", "-c", `env -i /bin/sleep 300 & echo $!`)
	cmd.Stderr = os.Stderr
	tree.Prepare(cmd)
	out, err := cmd.StdoutPipe()
	if err == nil {
		err = cmd.Start()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	tree.Started(cmd.Process.Pid)
	var pid int
	fmt.Fscan(out, &pid)
	fmt.Println(pid, tree.Cgroup())
	os.Exit(0) // dies: the tree is never closed
}

func dead(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	i := bytes.LastIndexByte(b, ')')
	return i >= 0 && i+2 < len(b) && (b[i+2] == 'Z' || b[i+2] == 'X')
}

// start runs script under sh in tree and waits for it to print the pid
// of a process it leaves behind.
func start(t *testing.T, tree *proctree.Tree, script string, env []string) (*exec.Cmd, int) {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.Env = env
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	tree.Prepare(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	tree.Started(cmd.Process.Pid)
	var line []byte
	b := make([]byte, 1)
	for {
		if _, err := out.Read(b); err != nil || b[0] == '\n' {
			break
		}
		line = append(line, b[0])
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(line)))
	if err != nil {
		t.Fatalf("pid %q: %v", line, err)
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	return cmd, pid
}

// In a cgroup, even a process that cleared its environment and lost its
// parent (a double fork under env -i) dies with the tree.
func TestCgroupKillsACleanOrphan(t *testing.T) {
	if !proctree.CgroupAvailable() {
		t.Skip("no writable cgroup v2 here")
	}
	tree, err := proctree.New("test.clean-orphan", []string{"CAIRN_RUN_ID=none"}, proctree.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if tree.Cgroup() == "" {
		t.Fatal("no cgroup although one is available")
	}
	cmd, pid := start(t, tree, `setsid env -i /bin/sh -c 'sleep 300 & echo $!' &`, []string{"PATH=/usr/bin:/bin"})
	_ = cmd.Wait()
	if dead(pid) {
		t.Fatal("the orphan died by itself: this test shows nothing")
	}
	if err := tree.Close(); err != nil {
		t.Fatal(err)
	}
	if !dead(pid) {
		t.Fatalf("process %d outlived its tree", pid)
	}
	if _, err := os.Stat(tree.Cgroup()); !os.IsNotExist(err) {
		t.Errorf("cgroup %s left behind: %v", tree.Cgroup(), err)
	}
}

// The sweep kills the descendants of a live root (a plugin process it
// spares) and every process with the marks, not others.
func TestSweepKillsDescendantsAndMarked(t *testing.T) {
	tree, err := proctree.New("test.sweep", []string{"CAIRN_RUN_ID=r", "CAIRN_ATTEMPT=1"}, proctree.Options{NoCgroup: true})
	if err != nil {
		t.Fatal(err)
	}
	if tree.Cgroup() != "" {
		t.Fatal("a cgroup although NoCgroup")
	}
	// The root serves on (as a plugin does); its child cleared its env.
	root, child := start(t, tree, `env -i /bin/sleep 300 & echo $!; exec sleep 300`, []string{"PATH=/usr/bin:/bin"})
	t.Cleanup(func() { _ = root.Process.Kill(); _ = root.Wait() })
	// A marked process outside the root's tree, and an unmarked one.
	marked := exec.Command("/bin/sleep", "300")
	marked.Env = []string{"CAIRN_RUN_ID=r", "CAIRN_ATTEMPT=1"}
	other := exec.Command("/bin/sleep", "300")
	other.Env = []string{"CAIRN_RUN_ID=r", "CAIRN_ATTEMPT=2"}
	for _, c := range []*exec.Cmd{marked, other} {
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Process.Kill(); _ = c.Wait() })
	}
	if err := tree.KillExcept(context.Background(), root.Process.Pid); err != nil {
		t.Fatal(err)
	}
	switch {
	case !dead(child):
		t.Errorf("the root's child %d survived", child)
	case !dead(marked.Process.Pid):
		t.Errorf("the marked process survived")
	case dead(root.Process.Pid):
		t.Errorf("the root was killed although kept")
	case dead(other.Process.Pid):
		t.Errorf("a process of another attempt was killed")
	}
}

// Reap kills what a dead worker's tree left in its cgroup. The worker is
// a process of its own (this test binary), which exits without closing
// its tree.
func TestReapKillsALeftoverCgroup(t *testing.T) {
	if !proctree.CgroupAvailable() {
		t.Skip("no writable cgroup v2 here")
	}
	w := exec.Command(os.Args[0])
	// A name of this process's own: another test process reaping the
	// same name would take the leftover first.
	name := fmt.Sprintf("test.leftover.%d", os.Getpid())
	w.Env = append(os.Environ(), "PROCTREE_TEST_WORKER="+name)
	w.Stderr = os.Stderr
	out, err := w.Output()
	if err != nil {
		t.Fatalf("worker: %v", err)
	}
	var pid int
	var cgroup string
	if _, err := fmt.Sscan(string(out), &pid, &cgroup); err != nil {
		t.Fatalf("worker said %q: %v", out, err)
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	if dead(pid) {
		t.Fatal("the leftover died with its worker: this test shows nothing")
	}
	if err := proctree.Reap(context.Background(), name, []string{"NO_SUCH_MARK=1"}); err != nil {
		t.Fatal(err)
	}
	if !dead(pid) {
		t.Fatalf("process %d of the leftover cgroup survived Reap", pid)
	}
	if m, _ := filepath.Glob(cgroup); len(m) != 0 {
		t.Errorf("leftover cgroup %s not removed", cgroup)
	}
}

// The empty cgroup of a cairn process that is gone (kill -9) is removed;
// one that still holds a process is left for the run's resume (Reap), and
// one whose owner runs is left alone.
func TestRemoveStaleCgroups(t *testing.T) {
	if !proctree.CgroupAvailable() {
		t.Skip("no writable cgroup v2 here")
	}
	live, err := proctree.New("test.live", nil, proctree.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	// A dead owner: a process that has exited and been reaped.
	gone := exec.Command("/bin/true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	base := filepath.Dir(live.Cgroup())
	empty := filepath.Join(base, fmt.Sprintf("cairn.%d.1.test.stale", gone.Process.Pid))
	oldProbe := filepath.Join(base, fmt.Sprintf("cairn.probe.%d", gone.Process.Pid)) // as earlier versions named it
	held := filepath.Join(base, fmt.Sprintf("cairn.%d.2.test.held", gone.Process.Pid))
	for _, d := range []string{empty, held, oldProbe} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	fd, err := syscall.Open(held, syscall.O_RDONLY|syscall.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	orphan := exec.Command("/bin/sleep", "300")
	orphan.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	err = orphan.Start()
	syscall.Close(fd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = orphan.Process.Kill()
		_ = orphan.Wait()
		os.Remove(held)
		os.Remove(empty)
		os.Remove(oldProbe)
	})
	proctree.RemoveStale()
	for _, d := range []string{empty, oldProbe} {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("empty stale cgroup %s not removed: %v", d, err)
		}
	}
	if _, err := os.Stat(held); err != nil || dead(orphan.Process.Pid) {
		t.Errorf("a stale cgroup holding a process was removed or killed (%v); resume's Reap decides", err)
	}
	if _, err := os.Stat(live.Cgroup()); err != nil {
		t.Errorf("a live tree's cgroup was removed: %v", err)
	}
}

// A cgroup removed before it is killed (another cairn process's
// RemoveStale, or its own tree's Close, got there first) was empty: it is
// nothing to kill, not an error. Resume failed on it ("read cgroup.procs:
// no such file or directory").
func TestKillCgroupThatIsGone(t *testing.T) {
	if !proctree.CgroupAvailable() {
		t.Skip("no writable cgroup v2 here")
	}
	tree, err := proctree.New("test.gone", nil, proctree.Options{})
	if err != nil {
		t.Fatal(err)
	}
	dir := tree.Cgroup()
	if err := tree.Close(); err != nil {
		t.Fatal(err)
	}
	proctree.RemoveIdle() // an emptied cgroup is kept for reuse until then
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("cgroup %s still there after Close and RemoveIdle: %v", dir, err)
	}
	if err := proctree.KillCgroup(context.Background(), dir); err != nil {
		t.Fatalf("killing a cgroup that is gone: %v", err)
	}
}

// A cgroup removed while it is being killed — its cgroup.kill or
// cgroup.procs already open — makes the kernel refuse the open file with
// ENODEV: it was empty (only an empty cgroup can be removed), so that is
// gone too, not an error. Resume failed on it in the full suite
// ("cgroup.kill: write ...: no such device") while another cairn process
// removed the dead owner's empty cgroups.
func TestCgroupRemovedWhileOpenIsGone(t *testing.T) {
	if !proctree.CgroupAvailable() {
		t.Skip("no writable cgroup v2 here")
	}
	tree, err := proctree.New("test.enodev", nil, proctree.Options{})
	if err != nil {
		t.Fatal(err)
	}
	dir := tree.Cgroup()
	f, err := os.OpenFile(filepath.Join(dir, "cgroup.kill"), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := tree.Close(); err != nil {
		t.Fatal(err)
	}
	proctree.RemoveIdle() // removes the cgroup, kept for reuse until then
	_, werr := f.Write([]byte("1"))
	if !errors.Is(werr, syscall.ENODEV) {
		t.Skipf("writing a removed cgroup's open cgroup.kill gave %v here, not ENODEV", werr)
	}
	if !proctree.CgroupGone(dir, werr) {
		t.Errorf("%v on a removed cgroup's file is not taken as the cgroup gone", werr)
	}
	if proctree.CgroupGone(t.TempDir(), os.ErrPermission) {
		t.Error("a permission error is taken as the cgroup gone")
	}
}

// A tree whose processes all ended hands its cgroup to the next tree;
// one that still held a process is killed and removed, never reused (a
// process cloned into a cgroup after its cgroup.kill is killed at birth
// on some kernels), and what it held does not reach the next tree.
func TestCgroupReusedOnlyWhenEmpty(t *testing.T) {
	if !proctree.CgroupAvailable() {
		t.Skip("no writable cgroup v2 here")
	}
	proctree.RemoveIdle()
	run := func(name, script string) (*proctree.Tree, int) {
		tree, err := proctree.New(name, nil, proctree.Options{})
		if err != nil {
			t.Fatal(err)
		}
		cmd, pid := start(t, tree, script, []string{"PATH=/usr/bin:/bin"})
		if err := cmd.Wait(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return tree, pid
	}
	// Attempt 1 leaves nothing: its cgroup is reused by attempt 2.
	t1, _ := run("test.reuse.1", `echo $$`)
	dir1 := t1.Cgroup()
	if err := t1.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir1); err != nil {
		t.Fatalf("the emptied cgroup %s was removed, not kept: %v", dir1, err)
	}
	// Attempt 2, in the same cgroup, leaves a process that cleared its
	// environment and lost its parent.
	t2, left := run("test.reuse.2", `setsid env -i /bin/sleep 300 & echo $!`)
	if t2.Cgroup() != dir1 {
		t.Fatalf("attempt 2 got cgroup %s, want the emptied %s", t2.Cgroup(), dir1)
	}
	if dead(left) {
		t.Fatal("the leftover died by itself: this test shows nothing")
	}
	if err := t2.Close(); err != nil {
		t.Fatal(err)
	}
	if !dead(left) {
		t.Fatalf("process %d outlived its tree", left)
	}
	if _, err := os.Stat(dir1); !os.IsNotExist(err) {
		t.Errorf("the killed cgroup %s was kept: %v", dir1, err)
	}
	// Attempt 3 gets a fresh cgroup, holding only its own processes, and
	// its command runs (a cgroup reused after cgroup.kill would kill it).
	t3, err := proctree.New("test.reuse.3", nil, proctree.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer t3.Close()
	if t3.Cgroup() == dir1 {
		t.Fatalf("attempt 3 reuses the killed cgroup %s", dir1)
	}
	cmd := exec.Command("/bin/sh", "-c", `sed -n 's/^0:://p' /proc/self/cgroup; cat cgroup.procs`)
	cmd.Dir = t3.Cgroup()
	t3.Prepare(cmd)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("attempt 3: %v\n%s", err, out)
	}
	lines := strings.Fields(string(out))
	if len(lines) < 2 || !strings.HasSuffix(lines[0], "/"+filepath.Base(t3.Cgroup())) {
		t.Fatalf("attempt 3 ran outside its cgroup %s:\n%s", t3.Cgroup(), out)
	}
	for _, f := range lines[1:] {
		if f == strconv.Itoa(left) {
			t.Errorf("attempt 3's cgroup lists attempt 2's process %d", left)
		}
	}
}

// Reap finds a pooled cgroup by the name it carries, and leaves the
// pooled cgroups of other trees alone. Here its owner lives (an attempt
// whose lease another process took over): Reap kills the processes but
// keeps the cgroup, which the owner reuses — Reap did not write its
// cgroup.kill, after which a process cloned into it would die at birth.
func TestReapFindsAPooledCgroupByName(t *testing.T) {
	if !proctree.CgroupAvailable() {
		t.Skip("no writable cgroup v2 here")
	}
	name := fmt.Sprintf("test.reap-pooled.%d", os.Getpid()) // this process's own
	mine, err := proctree.New(name+".1", nil, proctree.Options{})
	if err != nil {
		t.Fatal(err)
	}
	other, err := proctree.New(name+".2", nil, proctree.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if !strings.HasSuffix(mine.Cgroup(), ".pool") {
		t.Skipf("cgroups are not pooled here (%s)", mine.Cgroup())
	}
	cmd, pid := start(t, mine, `env -i /bin/sleep 300 & echo $!`, nil)
	_ = cmd.Wait()
	ocmd, opid := start(t, other, `env -i /bin/sleep 300 & echo $!`, nil)
	_ = ocmd.Wait()
	if err := proctree.Reap(context.Background(), name+".1", []string{"NO_SUCH_MARK=1"}); err != nil {
		t.Fatal(err)
	}
	if !dead(pid) {
		t.Errorf("process %d of the pooled cgroup survived Reap", pid)
	}
	if dead(opid) {
		t.Errorf("Reap of %s.1 killed process %d of %s.2", name, opid, name)
	}
	if _, err := os.Stat(mine.Cgroup()); err != nil {
		t.Fatalf("Reap removed the cgroup %s of a live process: %v", mine.Cgroup(), err)
	}
	dir := mine.Cgroup()
	if err := mine.Close(); err != nil {
		t.Fatal(err)
	}
	next, err := proctree.New(name+".3", nil, proctree.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer next.Close()
	if next.Cgroup() != dir {
		t.Fatalf("the next tree got %s, not the reaped and emptied %s", next.Cgroup(), dir)
	}
	proc := exec.Command("/bin/true")
	next.Prepare(proc)
	if err := proc.Run(); err != nil {
		t.Errorf("a process started in the reaped cgroup: %v", err)
	}
}

// Trees made at once never share a cgroup, pooled or not.
func TestCgroupPoolConcurrent(t *testing.T) {
	if !proctree.CgroupAvailable() {
		t.Skip("no writable cgroup v2 here")
	}
	var mu sync.Mutex
	inUse := map[string]bool{}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 10; i++ {
				tree, err := proctree.New(fmt.Sprintf("test.concurrent.%d.%d", g, i), nil, proctree.Options{})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if inUse[tree.Cgroup()] {
					t.Errorf("two trees hold %s at once", tree.Cgroup())
				}
				inUse[tree.Cgroup()] = true
				mu.Unlock()
				cmd := exec.Command("/bin/true")
				tree.Prepare(cmd)
				if err := cmd.Run(); err != nil {
					t.Errorf("true in %s: %v", tree.Cgroup(), err)
				}
				mu.Lock()
				delete(inUse, tree.Cgroup())
				mu.Unlock()
				if err := tree.Close(); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
}
