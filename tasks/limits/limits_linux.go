package limits

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cairnml/cairn"
)

// cfsPeriod is the CPU period the quota is given over, in microseconds:
// the kernel's default.
const cfsPeriod = 100_000

// Group is the cgroups an attempt's processes run in, with its limits.
type Group struct {
	version Version
	res     cairn.Resources
	// v2: the attempt's cgroup (proctree's); v1: the memory and cpu
	// cgroups made for it ("" for one not limited).
	dir            string
	memDir, cpuDir string
	oomBase        int64 // v2: memory.events oom_kill before the attempt
}

// Version says how the limits are enforced.
func (g *Group) Version() Version { return g.version }

// Apply sets up the limits r for an attempt whose cgroup v2 (package
// proctree's) is treeCgroup ("" when it has none). It uses cgroup v2 when
// the memory and cpu controllers are delegated to that cgroup, else cgroup
// v1; Wrap then gives the command to start. It fails, wrapping
// ErrUnavailable, when neither can be used, saying why.
func Apply(treeCgroup string, r cairn.Resources) (*Group, error) {
	var v2why string
	if treeCgroup != "" {
		g, err := applyV2(treeCgroup, r)
		if err == nil {
			return g, nil
		}
		v2why = err.Error()
	} else {
		v2why = "the attempt has no cgroup v2 of its own (no cgroup v2 hierarchy, or cairn may not create cgroups in it)"
	}
	v1, err := setupV1()
	if err != nil {
		return nil, fmt.Errorf("%w: cgroup v2: %s; cgroup v1: %v", ErrUnavailable, v2why, err)
	}
	return v1.apply(r)
}

func applyV2(dir string, r cairn.Resources) (*Group, error) {
	g := &Group{version: V2, res: r, dir: dir}
	if r.Memory > 0 {
		if _, err := os.Stat(filepath.Join(dir, "memory.max")); err != nil {
			return nil, errors.New("the memory controller is not delegated to the attempt's cgroup (enable it in cgroup.subtree_control of the cgroups above it)")
		}
	}
	if r.CPU > 0 {
		if _, err := os.Stat(filepath.Join(dir, "cpu.max")); err != nil {
			return nil, errors.New("the cpu controller is not delegated to the attempt's cgroup (enable it in cgroup.subtree_control of the cgroups above it)")
		}
	}
	if r.Memory > 0 {
		g.oomBase = readKey(filepath.Join(dir, "memory.events"), "oom_kill")
		if err := write(dir, "memory.max", strconv.FormatInt(r.Memory, 10)); err != nil {
			return nil, err
		}
		if _, err := os.Stat(filepath.Join(dir, "memory.swap.max")); err == nil {
			if err := write(dir, "memory.swap.max", "0"); err != nil {
				g.reset()
				return nil, err
			}
		}
	}
	if r.CPU > 0 {
		if err := write(dir, "cpu.max", fmt.Sprintf("%d %d", quota(r.CPU), cfsPeriod)); err != nil {
			g.reset()
			return nil, err
		}
	}
	return g, nil
}

func quota(cpu float64) int64 { return max(int64(cpu*cfsPeriod+0.5), 1000) }

func write(dir, file, value string) error {
	if err := os.WriteFile(filepath.Join(dir, file), []byte(value), 0); err != nil {
		return fmt.Errorf("set %s: %w", file, err)
	}
	return nil
}

// readKey reads the number after key in a "key value" per line file; 0
// when it cannot.
func readKey(path, key string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if k, v, ok := strings.Cut(line, " "); ok && k == key {
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return 0
}

func readInt(path string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	s := strings.TrimSpace(string(b))
	if s == "max" {
		return 0
	}
	n, _ := strconv.ParseInt(strings.Fields(s + " ")[0], 10, 64)
	return n
}

// v1 is where this process makes cgroup v1 cgroups: the folder of its own
// cgroup in the memory and in the cpu hierarchy.
type v1 struct {
	mem, cpu string
}

var seq atomic.Int64

// v1Dirs finds the folders of this process's own cgroups in the v1 memory
// and cpu hierarchies, from /proc alone: nothing is created there.
var v1Dirs = sync.OnceValues(func() (*v1, error) {
	mounts, err := v1Mounts()
	if err != nil {
		return nil, err
	}
	own, err := ownCgroups()
	if err != nil {
		return nil, err
	}
	h := &v1{}
	for _, c := range []struct {
		name string
		dst  *string
	}{{"memory", &h.mem}, {"cpu", &h.cpu}} {
		m, ok := mounts[c.name]
		if !ok {
			return nil, fmt.Errorf("no cgroup v1 %s hierarchy is mounted", c.name)
		}
		p, ok := own[c.name]
		if !ok {
			return nil, fmt.Errorf("this process is in no cgroup v1 %s cgroup (/proc/self/cgroup)", c.name)
		}
		*c.dst = filepath.Join(m, p)
	}
	return h, nil
})

// setupV1 is where this process makes v1 cgroups, once it has checked
// that it may (a cgroup made and removed in each folder), and removed
// the stale ones there.
var setupV1 = sync.OnceValues(func() (*v1, error) {
	h, err := v1Dirs()
	if err != nil {
		return nil, err
	}
	for _, dir := range []string{h.mem, h.cpu} {
		probe := filepath.Join(dir, fmt.Sprintf("cairn.%d.probe", os.Getpid()))
		if err := os.Mkdir(probe, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("cannot create a cgroup in %s (cairn runs as uid %d; limits need root or a delegated cgroup): %w", dir, os.Getuid(), err)
		}
		_ = os.Remove(probe)
	}
	h.removeStale()
	return h, nil
})

// v1Mounts maps controller names to the mount point of their cgroup v1
// hierarchy, from /proc/self/mountinfo.
func v1Mounts() (map[string]string, error) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("read mounts: %w", err)
	}
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		f, g := strings.Fields(pre), strings.Fields(post)
		if len(f) < 5 || len(g) < 3 || g[0] != "cgroup" {
			continue
		}
		for opt := range strings.SplitSeq(g[2], ",") {
			if opt == "memory" || opt == "cpu" {
				if _, seen := out[opt]; !seen {
					out[opt] = f[4]
				}
			}
		}
	}
	return out, nil
}

// ownCgroups maps v1 controller names to this process's cgroup path.
func ownCgroups() (map[string]string, error) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil, fmt.Errorf("read own cgroups: %w", err)
	}
	out := map[string]string{}
	for line := range strings.SplitSeq(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		for c := range strings.SplitSeq(parts[1], ",") {
			out[c] = parts[2]
		}
	}
	return out, nil
}

func (h *v1) apply(r cairn.Resources) (*Group, error) {
	name := fmt.Sprintf("cairn.%d.%d", os.Getpid(), seq.Add(1))
	g := &Group{version: V1, res: r}
	if r.Memory > 0 {
		g.memDir = filepath.Join(h.mem, name)
		if err := os.Mkdir(g.memDir, 0o755); err != nil {
			return nil, fmt.Errorf("create cgroup: %w", err)
		}
		limit := strconv.FormatInt(r.Memory, 10)
		err := write(g.memDir, "memory.limit_in_bytes", limit)
		if err == nil {
			if _, serr := os.Stat(filepath.Join(g.memDir, "memory.memsw.limit_in_bytes")); serr == nil {
				err = write(g.memDir, "memory.memsw.limit_in_bytes", limit)
			}
		}
		if err != nil {
			_ = g.Close()
			return nil, err
		}
	}
	if r.CPU > 0 {
		g.cpuDir = filepath.Join(h.cpu, name)
		if err := os.Mkdir(g.cpuDir, 0o755); err != nil {
			_ = g.Close()
			return nil, fmt.Errorf("create cgroup: %w", err)
		}
		err := write(g.cpuDir, "cpu.cfs_period_us", strconv.Itoa(cfsPeriod))
		if err == nil {
			err = write(g.cpuDir, "cpu.cfs_quota_us", strconv.FormatInt(quota(r.CPU), 10))
		}
		if err != nil {
			_ = g.Close()
			return nil, err
		}
	}
	return g, nil
}

// wrapScript moves the shell into each cgroup whose cgroup.procs follows
// the count, then execs the command: exit 125 if a move fails.
const wrapScript = `n=$1; shift; while [ "$n" -gt 0 ]; do echo $$ > "$1" || exit 125; shift; n=$((n-1)); done; exec "$@"`

// Wrap returns the program and arguments that start prog (with argv) in
// the group: itself for cgroup v2 (the attempt's cgroup is proctree's),
// a /bin/sh that joins the cgroups then execs it for v1. The command
// keeps its pid; its argv[0] becomes prog.
func (g *Group) Wrap(prog string, argv []string) (string, []string) {
	if g.version != V1 {
		return prog, argv
	}
	var procs []string
	for _, d := range []string{g.memDir, g.cpuDir} {
		if d != "" {
			procs = append(procs, filepath.Join(d, "cgroup.procs"))
		}
	}
	out := []string{"/bin/sh", "-c", wrapScript, "cairn-limits", strconv.Itoa(len(procs))}
	out = append(out, procs...)
	out = append(out, prog)
	if len(argv) > 1 {
		out = append(out, argv[1:]...)
	}
	return "/bin/sh", out
}

// Stats reads what the cgroups counted so far.
func (g *Group) Stats() Stats {
	var s Stats
	switch g.version {
	case V2:
		if g.res.CPU > 0 {
			b, _ := os.ReadFile(filepath.Join(g.dir, "cpu.max"))
			if f := strings.Fields(string(b)); len(f) == 2 {
				s.CPUQuota, _ = strconv.ParseInt(f[0], 10, 64)
				s.CPUPeriod, _ = strconv.ParseInt(f[1], 10, 64)
			}
			s.Throttled = readKey(filepath.Join(g.dir, "cpu.stat"), "nr_throttled")
		}
		if g.res.Memory > 0 {
			s.MemoryLimit = readInt(filepath.Join(g.dir, "memory.max"))
			s.OOMKills = readKey(filepath.Join(g.dir, "memory.events"), "oom_kill") - g.oomBase
		}
	case V1:
		if g.cpuDir != "" {
			s.CPUQuota = readInt(filepath.Join(g.cpuDir, "cpu.cfs_quota_us"))
			s.CPUPeriod = readInt(filepath.Join(g.cpuDir, "cpu.cfs_period_us"))
			s.Throttled = readKey(filepath.Join(g.cpuDir, "cpu.stat"), "nr_throttled")
		}
		if g.memDir != "" {
			s.MemoryLimit = readInt(filepath.Join(g.memDir, "memory.limit_in_bytes"))
			s.OOMKills = readKey(filepath.Join(g.memDir, "memory.oom_control"), "oom_kill")
			if s.OOMKills == 0 && readKey(filepath.Join(g.memDir, "memory.oom_control"), "under_oom") > 0 {
				s.OOMKills = 1
			}
		}
	}
	return s
}

// OutOfMemory returns a *cairn.OutOfMemoryError when the kernel killed a
// process of the group for reaching its memory limit, else nil. Call it
// once the command has exited, before Close.
func (g *Group) OutOfMemory() error {
	if g.res.Memory > 0 && g.Stats().OOMKills > 0 {
		return &cairn.OutOfMemoryError{Limit: g.res.Memory}
	}
	return nil
}

// Close kills what is left in the group and removes its cgroups (v1), or
// takes its limits off the attempt's cgroup (v2, which proctree reuses).
func (g *Group) Close() error {
	if g.version == V2 {
		return g.reset()
	}
	var errs []error
	for _, d := range []string{g.memDir, g.cpuDir} {
		if d != "" {
			errs = append(errs, removeCgroup(d))
		}
	}
	return errors.Join(errs...)
}

func (g *Group) reset() error {
	var errs []error
	if g.res.Memory > 0 {
		errs = append(errs, write(g.dir, "memory.max", "max"))
		if _, err := os.Stat(filepath.Join(g.dir, "memory.swap.max")); err == nil {
			errs = append(errs, write(g.dir, "memory.swap.max", "max"))
		}
	}
	if g.res.CPU > 0 {
		errs = append(errs, write(g.dir, "cpu.max", fmt.Sprintf("max %d", cfsPeriod)))
	}
	return errors.Join(errs...)
}

// removeCgroup kills the processes of a v1 cgroup and removes it, waiting
// up to 2 s for the kernel to let them go.
func removeCgroup(dir string) error {
	deadline := time.Now().Add(2 * time.Second)
	for {
		b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		for f := range strings.FieldsSeq(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil && pid > 0 {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		err = os.Remove(dir)
		if err == nil || errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("remove cgroup %s: %w", dir, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// removeStale removes the cgroups left by cairn processes that are gone
// (killed with kill -9, say): cairn.PID.N whose PID does not exist.
func (h *v1) removeStale() {
	for _, base := range []string{h.mem, h.cpu} {
		entries, err := os.ReadDir(base)
		if err != nil {
			continue
		}
		for _, e := range entries {
			if pid, ok := staleOwner(e.Name()); ok && !alive(pid) {
				_ = removeCgroup(filepath.Join(base, e.Name()))
			}
		}
	}
}

// staleOwner reads the pid of a cgroup name cairn.PID.N (or
// cairn.PID.probe).
func staleOwner(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, "cairn.")
	if !ok {
		return 0, false
	}
	p, _, ok := strings.Cut(rest, ".")
	if !ok {
		return 0, false
	}
	pid, err := strconv.Atoi(p)
	return pid, err == nil && pid > 0
}

// alive reports whether process pid exists and is not a zombie (a cairn
// killed with kill -9 whose parent has not reaped it yet is gone).
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return !errors.Is(err, fs.ErrNotExist)
	}
	// The state follows the command's name, which is in parentheses and
	// may hold anything.
	if i := bytes.LastIndexByte(b, ')'); i >= 0 && i+2 < len(b) {
		return b[i+2] != 'Z' && b[i+2] != 'X'
	}
	return true
}

// RemoveStale removes the v1 cgroups of cairn processes that are gone: the
// commands that run tasks call it at start, and the first Apply that uses
// cgroup v1 does it too. It only looks (it makes no cgroup, as Apply's
// check that it may does: a command that runs no limited task pays two
// folder listings), and fails, wrapping ErrUnavailable, when this process
// is in no cgroup v1 memory and cpu hierarchy (there is then nothing of
// cairn's to remove). A cgroup it may not remove is left.
func RemoveStale() error {
	h, err := v1Dirs()
	if err != nil {
		return fmt.Errorf("%w: cgroup v1: %v", ErrUnavailable, err)
	}
	h.removeStale()
	return nil
}
