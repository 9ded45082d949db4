package executor

import (
	"bytes"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// An attempt's scratch folder is named for the process that made it,
// cairn-work-HOST.PID.START-RANDOM (HOST 8 hex digits of the FNV-1a of
// the host name, START the process's start time in clock ticks since
// boot, from /proc; 0 where there is none), so that what a process killed
// with -9 left behind can be told apart from the folders of the live
// processes sharing the parent folder (the system's temporary folder, or
// a worker's home; a folder shared with another machine or container,
// whose processes this one cannot see, by the host): a slot's folder is
// reused from attempt to attempt, so its age says nothing. SweepScratch
// removes the dead ones.
const scratchPrefix = "cairn-work-"

// MakeScratch makes an empty scratch folder in parent (os.TempDir() when
// ""), named for this process, mode 0700; a pool makes its attempts'
// folders with it.
func MakeScratch(parent string) (string, error) {
	if parent == "" {
		parent = os.TempDir()
	}
	dir, err := os.MkdirTemp(parent, scratchPrefix+selfTag()+"-")
	if err != nil {
		return "", fmt.Errorf("make work dir: %w", err)
	}
	return dir, nil
}

// selfTag is this process's HOST.PID.START.
var selfTag = sync.OnceValue(func() string {
	pid := os.Getpid()
	start, _ := startTime(pid)
	return hostTag() + "." + strconv.Itoa(pid) + "." + strconv.FormatUint(start, 10)
})

// hostTag is the host's part of a scratch folder's name.
var hostTag = sync.OnceValue(func() string {
	host, _ := os.Hostname()
	h := fnv.New32a()
	h.Write([]byte(host))
	return fmt.Sprintf("%08x", h.Sum32())
})

// SweepScratch removes from parent (os.TempDir() when "") the scratch
// folders of this host whose process is gone: its PID runs no process (or a zombie),
// or runs another one, started at another time (the PID reused: a
// container's cairn is often PID 1 each time). A live process's folders
// are never removed, whatever their age, nor a folder of another user's,
// nor anything not named as MakeScratch names it (a folder of an older
// cairn, whose process cannot be told). The commands that run attempts
// call it at start (cairn run, resume, retry, server, worker). It returns
// the folders removed.
func SweepScratch(parent string) (int, error) {
	if parent == "" {
		parent = os.TempDir()
	}
	f, err := os.Open(parent)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("sweep scratch folders: %w", err)
	}
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		return 0, fmt.Errorf("sweep scratch folders in %s: %w", parent, err)
	}
	n := 0
	var firstErr error
	for _, name := range names {
		pid, start, ok := scratchOwner(name)
		if !ok || !ownerDead(pid, start) {
			continue
		}
		path := filepath.Join(parent, name)
		if !ownDir(path) {
			continue
		}
		if err := os.RemoveAll(path); err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("sweep scratch folder %s: %w", path, err)
			}
			continue
		}
		n++
	}
	return n, firstErr
}

// scratchOwner reads the PID and start time in the name of a scratch
// folder of this host's.
func scratchOwner(name string) (pid int, start uint64, ok bool) {
	rest, ok := strings.CutPrefix(name, scratchPrefix)
	if !ok {
		return 0, 0, false
	}
	tag, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, 0, false
	}
	host, ps, ok := strings.Cut(tag, ".")
	if !ok || host != hostTag() {
		return 0, 0, false // another machine's, or an older cairn's
	}
	p, s, ok := strings.Cut(ps, ".")
	if !ok {
		return 0, 0, false
	}
	pid, err := strconv.Atoi(p)
	if err != nil || pid <= 0 {
		return 0, 0, false
	}
	start, err = strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, 0, false
	}
	return pid, start, true
}

// ownerDead reports whether the process that made a scratch folder is
// gone. A PID that runs a process this one may not signal (another
// user's) is alive.
func ownerDead(pid int, start uint64) bool {
	if pid == os.Getpid() {
		return selfTag() != hostTag()+"."+strconv.Itoa(pid)+"."+strconv.FormatUint(start, 10)
	}
	if errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
		return true
	}
	now, zombie := startTime(pid)
	if zombie {
		return true
	}
	return start != 0 && now != 0 && now != start
}

// startTime returns process pid's start time in clock ticks since boot,
// and whether it is a zombie (killed, not reaped yet: dead), from
// /proc/PID/stat; 0 where it cannot be read.
func startTime(pid int) (start uint64, zombie bool) {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	// pid (comm) STATE ppid ...: comm may hold spaces and parentheses;
	// starttime is the 22nd field, the 20th after comm.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 20 {
		return 0, false
	}
	start, _ = strconv.ParseUint(f[19], 10, 64)
	return start, f[0] == "Z"
}

// ownDir reports whether path is a folder (not a link) of this process's
// user: another's cannot be emptied, and is not this process's to judge.
func ownDir(path string) bool {
	st, err := os.Lstat(path)
	if err != nil || !st.IsDir() {
		return false
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		return int(sys.Uid) == os.Getuid()
	}
	return true
}
