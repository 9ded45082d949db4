//go:build linux

// Package proctree holds every process a task attempt starts, so that
// none outlives it: a shell command and whatever it forks (background
// jobs, setsid daemons), a plugin process's children.
//
// A Tree is one cgroup v2 of its own when the cgroup v2 hierarchy is
// mounted and this process may create a cgroup under its own: the first
// process starts inside it (clone3 CLONE_INTO_CGROUP, so there is no
// moment outside), everything it forks stays inside whatever it does to
// its session, process group or environment, and Kill writes cgroup.kill
// (or, before Linux 5.14, freezes the cgroup and kills each member).
//
// Cgroups are reused: a tree whose cgroup is empty when it closes (its
// processes all exited and were reaped, the common case) hands it back to
// a pool, and the next tree of this process takes it, instead of making
// and removing a cgroup per attempt (mkdir, the first clone into a new
// cgroup and rmdir cost about 170 µs per attempt here, a reused one about
// 20). Emptiness is read from cgroup.events ("populated 0"): an empty
// cgroup has no process that could fork into it, so nothing of the
// attempt is left. A cgroup that still held processes is killed with
// cgroup.kill and removed, never reused: on this kernel (6.18), a process
// cloned into a cgroup after its cgroup.kill was written is killed at
// birth (the clone compares the kill sequence of its parent's cgroup with
// the target's). A pooled cgroup is named cairn.PID.N.pool and carries
// its tree's name in the extended attribute user.cairn.tree while in use,
// which is how Reap finds a dead worker's. Reap never writes a pooled
// cgroup's cgroup.kill: it freezes it, kills each member and thaws it,
// and removes it only if its owner is gone (a live owner, whose attempt
// lost its lease, keeps reusing it).
//
// Otherwise (no cgroup v2, no right to create one, a kernel before 5.14,
// or clone3 refused, as some container seccomp profiles do: all probed
// once, cloning a process into a cgroup) the Tree falls back
// to a sweep: this process becomes a child subreaper (PR_SET_CHILD_SUBREAPER),
// so orphans of the attempt are re-parented to it instead of init, and Kill
// kills, in rounds until none is left, every process that descends from
// the tree's root, or carries the attempt's marks (CAIRN_RUN_ID,
// CAIRN_TASK_ID, CAIRN_ATTEMPT) in its environment, or descends from one
// that does. Being a subreaper, this process is an ancestor of every one of
// them, so the sweep reads only its own descendants (through
// /proc/PID/task/TID/children), not all of /proc: about 0.3 ms more per
// attempt than the cgroup path, against 11 ms for a full scan of 120
// processes on the development VM. A process that both cleared its
// environment and lost its parent cannot be told apart from others on
// this path; the cgroup path has no such gap.
package proctree

import (
	"bufio"
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
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// Options configures a Tree.
type Options struct {
	// NoCgroup forces the sweep even where a cgroup could be made (tests
	// of the fallback, or an operator's choice).
	NoCgroup bool
}

// Tree is the set of processes of one attempt (or of one plugin process).
// Start its first process with Prepare, record it with Started, and call
// Close when done; Close kills whatever is left.
type Tree struct {
	name  string
	marks [][]byte
	cg    *cgroup // nil when sweeping
	root  atomic.Int64
	// rootStart tells root from a later process given its pid.
	rootStart atomic.Int64

	mu     sync.Mutex
	closed bool
}

// cgroups says where trees make their cgroups: base, this process's own
// cgroup in the v2 hierarchy ("" when there is none we may write), and
// whether they may be reused (pool: the kernel keeps a user extended
// attribute on a cgroup, Linux 5.7, which names the tree using it).
type cgroups struct {
	base string
	pool bool
}

var setup = sync.OnceValue(func() cgroups {
	mnt := cgroup2Mount()
	if mnt == "" {
		return cgroups{}
	}
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return cgroups{}
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "0::"); ok {
			dir := filepath.Join(mnt, filepath.Clean("/"+rest))
			// The probe's cgroup is the pool's first.
			cg, err := makeCgroup(dir, "pool", true)
			if err != nil {
				return cgroups{}
			}
			s := cgroups{base: dir, pool: canName(cg.fd)}
			if !canStartIn(cg) {
				s = cgroups{}
			}
			if s.pool {
				pool.mu.Lock()
				pool.idle = append(pool.idle, cg)
				pool.mu.Unlock()
			} else {
				cg.close()
				removeCgroup(cg.dir)
			}
			return s
		}
	}
	return cgroups{}
})

// cgroupBase is the folder under which trees make their cgroups: this
// process's own cgroup in the v2 hierarchy; "" when there is none we may
// write.
func cgroupBase() string { return setup().base }

// canName reports whether the cgroup open on fd keeps the extended
// attribute a pooled cgroup is named by.
func canName(fd int) bool {
	return fsetxattr(fd, treeAttr, []byte("probe")) == nil && fremovexattr(fd, treeAttr) == nil
}

// canStartIn reports whether a process can be started straight into the
// cgroup and the cgroup killed: clone3's CLONE_INTO_CGROUP (Linux 5.7; a
// container's seccomp profile may refuse clone3) and cgroup.kill (5.14).
// It clones a process into the cgroup whose exec then fails, on a path
// under a file (cgroup.procs/cairn-probe): ENOTDIR, which clone3 never
// returns, comes from the child, so the clone worked, without the cost of
// running a program (true(1) took about 1 ms here, at the start of every
// cairn process).
func canStartIn(cg *cgroup) bool {
	if _, err := os.Stat(filepath.Join(cg.dir, "cgroup.kill")); err != nil {
		return false
	}
	_, err := syscall.ForkExec(filepath.Join(cg.dir, "cgroup.procs", "cairn-probe"), []string{"cairn-probe"},
		&syscall.ProcAttr{Sys: &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: cg.fd}})
	return errors.Is(err, syscall.ENOTDIR)
}

// cgroup2Mount finds where the cgroup v2 hierarchy is mounted (also in a
// hybrid layout, /sys/fs/cgroup/unified).
func cgroup2Mount() string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// id parent major:minor root mountpoint options ... - fstype source super
		fields := strings.Fields(sc.Text())
		for i, fld := range fields {
			if fld == "-" && i+1 < len(fields) && fields[i+1] == "cgroup2" && len(fields) > 4 {
				return fields[4]
			}
		}
	}
	return ""
}

// CgroupAvailable reports whether trees get a cgroup of their own here.
func CgroupAvailable() bool { return cgroupBase() != "" }

var (
	subreaper sync.Once
	staleOnce sync.Once
	seq       atomic.Int64
)

// New makes a tree. name (letters, digits, . _ -) names its cgroup, so
// that Reap finds it if this process dies. marks are NAME=value environment entries that every
// process of the tree inherits unless it clears its environment.
func New(name string, marks []string, o Options) (*Tree, error) {
	t := &Tree{name: name}
	for _, m := range marks {
		t.marks = append(t.marks, []byte(m))
	}
	if s := setup(); s.base != "" && !o.NoCgroup {
		cg, err := takeCgroup(s, name)
		if err != nil {
			return nil, fmt.Errorf("process tree %s: %w", name, err)
		}
		staleOnce.Do(RemoveStale)
		t.cg = cg
		return t, nil
	}
	var err error
	subreaper.Do(func() { err = setSubreaper() })
	if err != nil {
		return nil, fmt.Errorf("process tree %s: become a child subreaper: %w", name, err)
	}
	return t, nil
}

// cgroup is the cgroup v2 a tree holds its processes in, with the files
// its tree uses kept open.
type cgroup struct {
	dir    string
	fd     int  // the folder, for clone3
	events int  // cgroup.events, read to know whether it is empty
	pooled bool // reusable (cairn.PID.N.pool), named by treeAttr while in use
	killed bool // cgroup.kill was written (or it was found frozen): never reused
}

// treeAttr is the extended attribute that names the tree a pooled cgroup
// serves.
const treeAttr = "user.cairn.tree"

// maxIdle bounds the emptied cgroups a process keeps for reuse: as many as
// it ran trees at once, up to this.
const maxIdle = 64

// pool holds the emptied cgroups of this process, the last one emptied on
// top.
var pool struct {
	mu   sync.Mutex
	idle []*cgroup
}

// takeCgroup returns an empty cgroup for the tree name: a pooled one
// (reused, or made for the pool; Started names it by its attribute), or
// where cgroups cannot be named, a new one named cairn.PID.N.NAME.
func takeCgroup(s cgroups, name string) (*cgroup, error) {
	if !s.pool {
		return makeCgroup(s.base, sanitize(name), false)
	}
	pool.mu.Lock()
	var cg *cgroup
	if n := len(pool.idle); n > 0 {
		cg = pool.idle[n-1]
		pool.idle = pool.idle[:n-1]
	}
	pool.mu.Unlock()
	if cg == nil {
		var err error
		cg, err = makeCgroup(s.base, "pool", true)
		if err != nil {
			return nil, err
		}
	}
	return cg, nil
}

// made holds the cgroup folders this process made and has not removed
// (RemoveStale tells them from those of an earlier process that had the
// same pid, as a restarted container's cairn often has).
var made sync.Map

// removeCgroup removes the cgroup folder dir, made by this process.
func removeCgroup(dir string) error {
	err := os.Remove(dir)
	if err == nil || errors.Is(err, os.ErrNotExist) {
		made.Delete(dir)
	}
	return err
}

// makeCgroup makes a cgroup cairn.PID.N.name under base and opens it. N
// counts up past a folder that exists already (left by an earlier process
// with this pid).
func makeCgroup(base, name string, pooled bool) (*cgroup, error) {
	var dir string
	for try := 0; ; try++ {
		dir = filepath.Join(base, fmt.Sprintf("cairn.%d.%d.%s", os.Getpid(), seq.Add(1), name))
		// Known as this process's before it exists: RemoveStale, running
		// meanwhile in another goroutine, would otherwise take it for an
		// earlier process's with the same pid and remove it between the
		// mkdir and the open.
		made.Store(dir, true)
		err := os.Mkdir(dir, 0o755)
		if err == nil {
			break
		}
		made.Delete(dir)
		if !errors.Is(err, os.ErrExist) || try == 100 {
			return nil, fmt.Errorf("make cgroup: %w", err)
		}
	}
	fd, err := syscall.Open(dir, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		removeCgroup(dir)
		return nil, fmt.Errorf("open cgroup: %w", err)
	}
	ev, err := syscall.Openat(fd, "cgroup.events", syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		syscall.Close(fd)
		removeCgroup(dir)
		return nil, fmt.Errorf("open cgroup.events: %w", err)
	}
	return &cgroup{dir: dir, fd: fd, events: ev, pooled: pooled}, nil
}

// state reads whether a process is in the cgroup (one that exited is
// not, even before it is reaped) and whether it is frozen.
func (c *cgroup) state() (populated, frozen bool, err error) {
	var b [128]byte
	n, err := syscall.Pread(c.events, b[:], 0)
	if err != nil {
		return false, false, fmt.Errorf("read cgroup.events: %w", err)
	}
	seen := false
	for _, line := range strings.Split(string(b[:max(n, 0)]), "\n") {
		if v, ok := strings.CutPrefix(line, "populated "); ok {
			populated, seen = v != "0", true
		} else if v, ok := strings.CutPrefix(line, "frozen "); ok {
			frozen = v != "0"
		}
	}
	if !seen {
		return false, false, fmt.Errorf("cgroup.events of %s has no populated line: %q", c.dir, b[:max(n, 0)])
	}
	return populated, frozen, nil
}

func (c *cgroup) close() {
	syscall.Close(c.events)
	syscall.Close(c.fd)
}

// release ends the tree's use of the cgroup, which is empty: back to the
// pool when it may be reused, else removed.
// empty says whether the cgroup holds no process, so that nothing can
// fork into it and there is nothing to kill. A frozen one is being
// reaped from outside: not reused.
func (c *cgroup) empty() bool {
	pop, frozen, err := c.state()
	if err != nil || pop {
		return false
	}
	c.killed = c.killed || frozen
	return true
}

func (c *cgroup) release() error {
	if c.pooled && !c.killed && unname(c.fd) == nil {
		pool.mu.Lock()
		if len(pool.idle) < maxIdle {
			pool.idle = append(pool.idle, c)
			pool.mu.Unlock()
			return nil
		}
		pool.mu.Unlock()
	}
	c.close()
	if err := removeCgroup(c.dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove cgroup: %w", err)
	}
	return nil
}

// RemoveIdle removes the emptied cgroups this process keeps for reuse;
// call it when no more trees will be made (the end of the process).
func RemoveIdle() {
	pool.mu.Lock()
	idle := pool.idle
	pool.idle = nil
	pool.mu.Unlock()
	for _, c := range idle {
		c.close()
		removeCgroup(c.dir)
	}
}

func fsetxattr(fd int, name string, value []byte) error {
	p, err := syscall.BytePtrFromString(name)
	if err != nil {
		return err
	}
	var v unsafe.Pointer
	if len(value) > 0 {
		v = unsafe.Pointer(&value[0])
	}
	_, _, errno := syscall.Syscall6(syscall.SYS_FSETXATTR, uintptr(fd), uintptr(unsafe.Pointer(p)), uintptr(v), uintptr(len(value)), 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

// unname removes the attribute that names a pooled cgroup's tree; a
// cgroup never named (its tree started nothing) has none to remove.
func unname(fd int) error {
	if err := fremovexattr(fd, treeAttr); err != nil && err != syscall.ENODATA {
		return err
	}
	return nil
}

func fremovexattr(fd int, name string) error {
	p, err := syscall.BytePtrFromString(name)
	if err != nil {
		return err
	}
	_, _, errno := syscall.Syscall(syscall.SYS_FREMOVEXATTR, uintptr(fd), uintptr(unsafe.Pointer(p)), 0)
	if errno != 0 {
		return errno
	}
	return nil
}

func sanitize(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c == '.' || c == '_' || c == '-' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			b[i] = '_'
		}
	}
	return string(b)
}

// Cgroup returns the tree's cgroup folder, "" when it sweeps.
func (t *Tree) Cgroup() string {
	if t.cg == nil {
		return ""
	}
	return t.cg.dir
}

// Prepare makes cmd start inside the tree. It keeps cmd's other
// SysProcAttr settings.
func (t *Tree) Prepare(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	t.PrepareAttr(cmd.SysProcAttr)
}

// PrepareAttr is Prepare for a process started with os.StartProcess.
func (t *Tree) PrepareAttr(a *syscall.SysProcAttr) {
	if t.cg == nil {
		return
	}
	a.UseCgroupFD = true
	a.CgroupFD = t.cg.fd
}

// Started records the tree's first process, once it runs. In a pooled
// cgroup, it names the cgroup after the tree (user.cairn.tree), so that
// Reap finds it if this process dies: done once the process has started,
// while it runs, rather than before, where an attempt's start waits on it
// (a cold fsetxattr took 7-13 µs in a chain of shell attempts here). On
// the sweep, it is the process whose descendants the sweep kills for as
// long as it runs (a plugin process; a shell command's are found by their
// marks once it has exited); a pid reused by another process after this
// one is gone is told apart by its start time.
func (t *Tree) Started(pid int) {
	if t.cg != nil {
		if t.cg.pooled {
			_ = fsetxattr(t.cg.fd, treeAttr, []byte(t.name)) // setup found it works
		}
		return
	}
	t.root.Store(int64(pid))
	t.rootStart.Store(startTime(pid))
}

// startTime is the process's start time in clock ticks since boot, 0 if
// it cannot be read.
func startTime(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	_, st, ok := parseStat(b)
	if !ok {
		return 0
	}
	return st.start
}

// Kill kills every process of the tree and waits until they are gone.
func (t *Tree) Kill(ctx context.Context) error { return t.kill(ctx, 0, t.marks) }

// KillExcept kills every process of the tree but keep (a plugin process
// that serves on, whose children die with the attempt). marks, when
// given, replace the tree's own for this sweep (one attempt's).
func (t *Tree) KillExcept(ctx context.Context, keep int, marks ...string) error {
	ms := t.marks
	if len(marks) > 0 {
		ms = nil
		for _, m := range marks {
			ms = append(ms, []byte(m))
		}
	}
	return t.kill(ctx, keep, ms)
}

func (t *Tree) kill(ctx context.Context, keep int, marks [][]byte) error {
	if t.cg != nil {
		if keep != 0 {
			return killMembers(ctx, t.cg.dir, keep)
		}
		if t.cg.empty() {
			return nil
		}
		t.cg.killed = true
		return killCgroup(ctx, t.cg.dir)
	}
	return sweep(ctx, int(t.root.Load()), t.rootStart.Load(), keep, marks, true)
}

// Close kills every process of the tree and gives back its cgroup (to
// the pool, or removed).
func (t *Tree) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil
	}
	t.closed = true
	var err error
	if t.cg == nil || !t.cg.empty() { // an empty cgroup needs no deadline (nor its timer)
		// Bounded: a process in uninterruptible sleep may take a while to die.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err = t.Kill(ctx)
		cancel()
	}
	if t.cg != nil {
		if err == nil {
			err = t.cg.release()
		} else {
			t.cg.close() // left, still populated, for Reap
		}
	}
	if err != nil {
		return fmt.Errorf("process tree %s: %w", t.name, err)
	}
	return nil
}

// pause is the wait between two looks at processes that are dying.
const pause = 2 * time.Millisecond

// killCgroup kills every process in the cgroup dir and waits until it is
// empty.
func killCgroup(ctx context.Context, dir string) error {
	if err := os.WriteFile(filepath.Join(dir, "cgroup.kill"), []byte("1"), 0); err != nil {
		if cgroupGone(dir, err) {
			return nil // removed, so empty: another process cleaned it up
		}
		if !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("cgroup.kill: %w", err)
		}
		// Before Linux 5.14: freeze (no more forks), kill each, thaw.
		_ = os.WriteFile(filepath.Join(dir, "cgroup.freeze"), []byte("1"), 0)
		defer os.WriteFile(filepath.Join(dir, "cgroup.freeze"), []byte("0"), 0)
		if err := killMembers(ctx, dir, 0); err != nil {
			return err
		}
	}
	for {
		pids, err := members(dir)
		if err != nil {
			return err
		}
		if len(pids) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cgroup %s still holds %v: %w", dir, pids, ctx.Err())
		case <-time.After(pause):
		}
	}
}

// killMembers kills every process in the cgroup dir but keep, in rounds
// until none is left (one may fork while another is killed).
func killMembers(ctx context.Context, dir string, keep int) error {
	for {
		pids, err := members(dir)
		if err != nil {
			return err
		}
		left := 0
		for _, pid := range pids {
			if pid != keep {
				_ = syscall.Kill(pid, syscall.SIGKILL)
				left++
			}
		}
		if left == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cgroup %s: processes keep appearing: %w", dir, ctx.Err())
		case <-time.After(pause):
		}
	}
}

// cgroupGone reports whether err, from a file of the cgroup dir, says the
// cgroup is gone or being removed — which only an empty cgroup can be: the
// file is missing with its dir, or the kernel refuses the open file with
// ENODEV because the cgroup was removed between the open and the read or
// write (another cairn's RemoveStale; resume failed on "cgroup.kill: write
// ...: no such device").
func cgroupGone(dir string, err error) bool {
	if errors.Is(err, syscall.ENODEV) {
		return true
	}
	if errors.Is(err, os.ErrNotExist) {
		_, serr := os.Stat(dir)
		return errors.Is(serr, os.ErrNotExist)
	}
	return false
}

// members lists the processes in the cgroup dir; none when dir is gone
// (a cgroup can be removed only once it is empty).
func members(dir string) ([]int, error) {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil && cgroupGone(dir, err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read cgroup.procs: %w", err)
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// proc is one process as /proc shows it.
type proc struct {
	pid, ppid int
	start     int64 // clock ticks after boot
	zombie    bool
	marked    bool
}

// parseStat reads /proc/PID/stat: pid (comm) STATE PPID ... STARTTIME
// (field 22); comm may hold spaces and parentheses.
func parseStat(stat []byte) (pid int, p proc, ok bool) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, proc{}, false
	}
	fields := strings.Fields(string(stat[i+1:]))
	if len(fields) < 20 {
		return 0, proc{}, false
	}
	p.ppid, _ = strconv.Atoi(fields[1])
	p.start, _ = strconv.ParseInt(fields[19], 10, 64)
	p.zombie = fields[0] == "Z" || fields[0] == "X"
	return 0, p, true
}

// sweep kills, in rounds until none is left, the processes that descend
// from root (not root itself when it is keep), carry every one of marks,
// or descend from one that does; and reaps those re-parented to this
// process.
//
// local limits the search to this process's descendants: with this process
// a child subreaper, every process an attempt of it started, orphaned or
// not, is one, and reading only them is much cheaper than all of /proc. A
// dead worker's leftovers (Marked) are not, so that search reads all.
func sweep(ctx context.Context, root int, rootStart int64, keep int, marks [][]byte, local bool) error {
	self := os.Getpid()
	if local && !childrenListed() {
		local = false
	}
	// killed holds the processes sent SIGKILL so far (pid -> start
	// time): one that is still exiting may no longer show its marks (its
	// environment is gone with its memory), and must count until it is
	// dead.
	killed := map[int]int64{}
	for round := 0; ; round++ {
		var procs map[int]proc
		var err error
		if local {
			procs, err = subtree(self, marks)
		} else {
			procs, err = snapshot(marks)
		}
		if err != nil {
			return fmt.Errorf("list processes: %w", err)
		}
		kids := map[int][]int{}
		for _, p := range procs {
			kids[p.ppid] = append(kids[p.ppid], p.pid)
		}
		in := map[int]bool{}
		var walk func(pid int)
		walk = func(pid int) {
			for _, k := range kids[pid] {
				if !in[k] {
					in[k] = true
					walk(k)
				}
			}
		}
		if root > 0 {
			if p, alive := procs[root]; alive && !p.zombie && p.start == rootStart && rootStart != 0 {
				in[root] = true
				walk(root)
			}
		}
		for _, p := range procs {
			if (p.marked || killed[p.pid] == p.start && p.start != 0) && !in[p.pid] {
				in[p.pid] = true
				walk(p.pid)
			}
		}
		delete(in, self)
		delete(in, keep)
		live := 0
		for pid := range in {
			p := procs[pid]
			if p.ppid == self && pid != root {
				// Re-parented to this subreaper: reap it once dead.
				var ws syscall.WaitStatus
				if p.zombie {
					_, _ = syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
					continue
				}
			}
			if p.zombie {
				continue // dead; its parent reaps it
			}
			_ = syscall.Kill(pid, syscall.SIGKILL)
			killed[pid] = p.start
			live++
		}
		if live == 0 {
			return nil
		}
		if round > 1000 {
			return errors.New("processes keep appearing after 1000 rounds of SIGKILL")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pause):
		}
	}
}

// snapshot reads every process's parent and state, and whether its
// environment holds all of marks (none: never marked). Processes gone
// while reading, or unreadable, are left out.
func snapshot(marks [][]byte) (map[int]proc, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	procs := make(map[int]proc, len(entries))
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		_, p, ok := parseStat(stat)
		if !ok {
			continue
		}
		p.pid = pid
		if len(marks) > 0 && !p.zombie {
			if env, err := os.ReadFile("/proc/" + e.Name() + "/environ"); err == nil {
				p.marked = hasAll(env, marks)
			}
		}
		procs[pid] = p
	}
	return procs, nil
}

// childrenListed reports whether the kernel lists a thread's children
// (/proc/PID/task/TID/children, CONFIG_PROC_CHILDREN).
var childrenListed = sync.OnceValue(func() bool {
	_, err := os.Stat(fmt.Sprintf("/proc/self/task/%d/children", syscall.Gettid()))
	return err == nil
})

// subtree is snapshot limited to the descendants of pid (pid left out).
func subtree(pid int, marks [][]byte) (map[int]proc, error) {
	procs := map[int]proc{}
	queue := []int{pid}
	for len(queue) > 0 {
		parent := queue[0]
		queue = queue[1:]
		tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", parent))
		if err != nil {
			if parent == pid {
				return nil, err
			}
			continue // gone meanwhile
		}
		for _, t := range tasks {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", parent, t.Name()))
			if err != nil {
				continue
			}
			for _, f := range strings.Fields(string(b)) {
				child, err := strconv.Atoi(f)
				if err != nil {
					continue
				}
				if _, seen := procs[child]; seen {
					continue
				}
				p, ok := readProc(child, marks)
				if !ok {
					continue
				}
				procs[child] = p
				queue = append(queue, child)
			}
		}
	}
	return procs, nil
}

// readProc reads one process as snapshot does.
func readProc(pid int, marks [][]byte) (proc, bool) {
	dir := "/proc/" + strconv.Itoa(pid)
	stat, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return proc{}, false
	}
	_, p, ok := parseStat(stat)
	if !ok {
		return proc{}, false
	}
	p.pid = pid
	if len(marks) > 0 && !p.zombie {
		if env, err := os.ReadFile(dir + "/environ"); err == nil {
			p.marked = hasAll(env, marks)
		}
	}
	return p, true
}

func hasAll(env []byte, marks [][]byte) bool {
	vars := bytes.Split(env, []byte{0})
	for _, m := range marks {
		found := false
		for _, v := range vars {
			if bytes.Equal(v, m) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// Marked kills every process whose environment carries all of marks, and
// those that descend from one, in rounds until none is left: what an
// attempt of a worker that died left running.
func Marked(ctx context.Context, marks []string) error {
	if len(marks) == 0 {
		return errors.New("no marks: every process would match")
	}
	var ms [][]byte
	for _, m := range marks {
		ms = append(ms, []byte(m))
	}
	return sweep(ctx, 0, 0, 0, ms, false)
}

// Reap kills what an attempt named name left (its cgroup, if one is left
// over from a worker that died: named after it, or a pooled one that
// carries its name) and every process carrying marks. The cgroup is
// removed.
func Reap(ctx context.Context, name string, marks []string) error {
	if base := cgroupBase(); base != "" {
		dirs, _ := filepath.Glob(filepath.Join(base, "cairn.*.*."+sanitize(name)))
		for _, dir := range dirs {
			if err := killCgroup(ctx, dir); err != nil {
				return err
			}
			removeCgroup(dir)
		}
		pooled, _ := filepath.Glob(filepath.Join(base, "cairn.*.*.pool"))
		for _, dir := range pooled {
			if treeOf(dir) == name {
				if err := reapPooled(ctx, dir, name); err != nil {
					return err
				}
			}
		}
	}
	return Marked(ctx, marks)
}

// treeOf is the name of the tree the pooled cgroup dir serves, "" if none.
func treeOf(dir string) string {
	var b [256]byte
	n, err := syscall.Getxattr(dir, treeAttr, b[:])
	if err != nil {
		return ""
	}
	return string(b[:n])
}

// reapPooled kills the processes of the pooled cgroup dir, which serves
// the tree name, and removes it if the process it belongs to is gone.
// Not with cgroup.kill: that would make the cgroup kill every process
// later cloned into it, and a live owner (one whose attempt lost its
// lease) keeps it for its next trees. It freezes the cgroup, checks that
// it still serves name (it cannot change hands while frozen: its
// processes cannot end), kills each member until none is left, and thaws
// it. An owner that finds it frozen at its tree's end does not reuse it.
func reapPooled(ctx context.Context, dir, name string) error {
	freeze := filepath.Join(dir, "cgroup.freeze")
	if err := os.WriteFile(freeze, []byte("1"), 0); err != nil {
		if cgroupGone(dir, err) {
			return nil
		}
		return fmt.Errorf("freeze cgroup: %w", err)
	}
	thawed := false
	thaw := func() {
		if !thawed {
			thawed = true
			_ = os.WriteFile(freeze, []byte("0"), 0)
		}
	}
	defer thaw()
	if treeOf(dir) != name {
		return nil // it went back to its pool, or serves another tree now
	}
	if err := killMembers(ctx, dir, 0); err != nil {
		return err
	}
	thaw()
	if ownerGone(dir) {
		removeCgroup(dir)
	}
	return nil
}

// ownerGone reports whether the process that made the cgroup dir
// (cairn.PID.N.NAME) is gone: not running, or this process's pid but
// not made by this process.
func ownerGone(dir string) bool {
	f := strings.SplitN(filepath.Base(dir), ".", 4)
	if len(f) < 4 {
		return false
	}
	pid, err := strconv.Atoi(f[1])
	if err != nil || pid <= 0 {
		return false
	}
	if pid == os.Getpid() {
		_, mine := made.Load(dir)
		return !mine
	}
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

// RemoveStale removes the empty cgroups of trees whose cairn process is
// gone (cairn.PID.N.NAME, PID no longer running, or this process's pid
// but not made by it): the litter a worker killed with -9 leaves. A
// cgroup that still holds processes is left for Reap, which the run's
// resume calls before the task is retried. New calls RemoveStale once per
// process.
func RemoveStale() {
	base := cgroupBase()
	if base == "" {
		return
	}
	dirs, _ := filepath.Glob(filepath.Join(base, "cairn.*.*.*"))
	for _, dir := range dirs {
		if ownerGone(dir) {
			removeCgroup(dir) // fails, and keeps it, unless it is empty
		}
	}
	// The probe's cgroup of earlier versions, cairn.probe.PID, left by one
	// killed while probing.
	probes, _ := filepath.Glob(filepath.Join(base, "cairn.probe.*"))
	for _, dir := range probes {
		pid, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(dir), "cairn.probe."))
		if err == nil && pid > 0 && pid != os.Getpid() && errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
			os.Remove(dir)
		}
	}
}
