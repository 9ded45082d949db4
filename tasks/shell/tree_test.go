//go:build linux

package shell_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/tasks/proctree"
	"github.com/cairnml/cairn/tasks/shell"
	"github.com/cairnml/cairn/tasks/tasktest"
)

// escapes starts processes that leave the command's process group, its
// session and (the last) its parent, each writing its pid to a file.
const escapes = `
setsid sleep 300 & echo $! > setsid.pid
sh -c 'sleep 300 & echo $! > orphan.pid' &
setsid sh -c 'env -i /bin/sleep 300 & echo $! > bare.pid; wait' &
while [ ! -s orphan.pid ] || [ ! -s bare.pid ]; do sleep 0.01; done
echo started
`

// treeModes runs f with the shell type as it runs (a cgroup per attempt
// where cgroup v2 can be written) and with the sweep forced.
func treeModes(t *testing.T, f func(t *testing.T, task *shell.Task)) {
	t.Run("cgroup", func(t *testing.T) {
		if !proctree.CgroupAvailable() {
			t.Skip("no writable cgroup v2 here")
		}
		f(t, shell.New())
	})
	t.Run("sweep", func(t *testing.T) { f(t, shell.NewSweeping()) })
}

func pidsIn(t *testing.T, dir string, names ...string) []int {
	t.Helper()
	var pids []int
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		pids = append(pids, pid)
		t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	}
	return pids
}

// Nothing an attempt started outlives it, success included: not a setsid
// job, not an orphan re-parented away, and (with a live parent) not a
// process that cleared its environment. When Run returns they are dead.
func TestNothingOutlivesASuccessfulAttempt(t *testing.T) {
	treeModes(t, func(t *testing.T, task *shell.Task) {
		raw, _ := json.Marshal(map[string]any{"script": escapes})
		env, buf := tasktest.Env(t)
		req := tasktest.Request(t, raw)
		if _, err := task.Run(context.Background(), req, env); err != nil {
			t.Fatalf("run: %v\n%s", err, buf.String())
		}
		for _, pid := range pidsIn(t, req.WorkDir, "setsid.pid", "orphan.pid", "bare.pid") {
			if !gone(pid) {
				t.Errorf("process %d outlived the successful attempt", pid)
			}
		}
	})
}

// A failing attempt, too.
func TestNothingOutlivesAFailedAttempt(t *testing.T) {
	treeModes(t, func(t *testing.T, task *shell.Task) {
		raw, _ := json.Marshal(map[string]any{"script": escapes + "exit 3"})
		env, _ := tasktest.Env(t)
		req := tasktest.Request(t, raw)
		if _, err := task.Run(context.Background(), req, env); err == nil {
			t.Fatal("exit 3 succeeded")
		}
		for _, pid := range pidsIn(t, req.WorkDir, "setsid.pid", "orphan.pid", "bare.pid") {
			if !gone(pid) {
				t.Errorf("process %d outlived the failed attempt", pid)
			}
		}
	})
}

// An argument over the system's limit (E2BIG) fails for good: the same
// arguments are as long on a retry.
func TestArgumentListTooLongIsPermanent(t *testing.T) {
	raw, _ := json.Marshal(map[string]any{"argv": []string{"/bin/echo", strings.Repeat("x", 200<<10)}})
	env, _ := tasktest.Env(t)
	_, err := shell.New().Run(context.Background(), tasktest.Request(t, raw), env)
	if err == nil || cairn.IsRetryable(err) || !strings.Contains(err.Error(), "limit") {
		t.Fatalf("err = %v, want a permanent error about the limit", err)
	}
}

// A declared output that is a symbolic link, or whose path goes through
// one, is refused: `ln -s /etc/shadow out` must not store the target.
func TestOutputSymlinkIsRefused(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("root:hash"), 0o600); err != nil {
		t.Fatal(err)
	}
	secretDir := filepath.Dir(secret)
	for _, c := range []struct{ name, script, out string }{
		{"file", "ln -s " + secret + " out", "out"},
		{"folder swapped", "rm -r d && ln -s " + secretDir + " d", "d/secret"},
		{"relative link inside", "echo ok > real; ln -s real out", "out"},
	} {
		t.Run(c.name, func(t *testing.T) {
			raw, _ := json.Marshal(map[string]any{"script": c.script, "outputs": map[string]string{"o": c.out}})
			env, log := tasktest.Env(t)
			res, err := shell.New().Run(context.Background(), tasktest.Request(t, raw), env)
			if err == nil || cairn.IsRetryable(err) || !strings.Contains(err.Error(), "symbolic link") {
				t.Fatalf("err = %v, want a permanent error about a symbolic link\n%s", err, log.String())
			}
			if _, stored := res.Outputs["o"]; stored {
				t.Errorf("the link was stored as output o")
			}
		})
	}
}

// Attempts reuse an emptied cgroup; one that left a process behind gets
// it killed, and the next attempt does not find it in its cgroup (a new
// one: a cgroup killed once is not reused).
func TestLeftoverDoesNotReachTheNextAttempt(t *testing.T) {
	if !proctree.CgroupAvailable() {
		t.Skip("no writable cgroup v2 here")
	}
	task := shell.New()
	// Prints the attempt's cgroup and the processes in it.
	const show = `cg=$(sed -n 's/^0:://p' /proc/self/cgroup)
echo "cgroup $cg"
mnt=$(awk '$9 == "cgroup2" {print $5; exit}' /proc/self/mountinfo)
cat "$mnt$cg/cgroup.procs"
`
	attempt := func(n int, script string) (cgroup string, pids []string, workdir string) {
		t.Helper()
		raw, _ := json.Marshal(map[string]any{"script": script})
		env, log := tasktest.Env(t)
		req := tasktest.Request(t, raw)
		req.Attempt = n
		if _, err := task.Run(context.Background(), req, env); err != nil {
			t.Fatalf("attempt %d: %v\n%s", n, err, log)
		}
		for _, line := range strings.Split(strings.TrimSpace(log.String()), "\n") {
			if c, ok := strings.CutPrefix(line, "cgroup "); ok {
				cgroup = c
			} else {
				pids = append(pids, line)
			}
		}
		if cgroup == "" {
			t.Fatalf("attempt %d printed no cgroup:\n%s", n, log)
		}
		return cgroup, pids, req.WorkDir
	}
	cg1, _, _ := attempt(1, show)
	// The leftover writes its pid once in a session of its own: the
	// kill of the command's process group at its end does not reach it.
	cg2, _, wd2 := attempt(2, show+"setsid sh -c 'echo $$ > left.pid; exec sleep 300' &\nwhile [ ! -s left.pid ]; do sleep 0.01; done\n")
	if cg2 != cg1 {
		t.Errorf("attempt 2 ran in %s, not in attempt 1's emptied cgroup %s", cg2, cg1)
	}
	left := pidsIn(t, wd2, "left.pid")[0]
	if !gone(left) {
		t.Fatalf("process %d outlived attempt 2", left)
	}
	cg3, pids3, _ := attempt(3, show)
	if cg3 == cg2 {
		t.Errorf("attempt 3 reuses %s, which was killed", cg3)
	}
	for _, p := range pids3 {
		if p == strconv.Itoa(left) {
			t.Errorf("attempt 2's process %d is in attempt 3's cgroup", left)
		}
	}
}

// A command that prints nothing hands its output's file, empty, to the
// next command, where its tree was a cgroup (found empty at its end); a
// command that printed never does, nor any on the sweep, which cannot
// tell that no process of the command is left to write to it. Each log
// holds its own command's output, and only that.
func TestQuietCommandsHandOnTheirOutputFile(t *testing.T) {
	treeModes(t, func(t *testing.T, task *shell.Task) {
		reused := strings.HasSuffix(t.Name(), "/cgroup")
		idle := shell.IdleSpools()
		for _, c := range []struct{ script, log string }{
			{"true", ""},
			{"echo one", "one\n"},
			{"true", ""},
			{"/bin/true", ""},
			{"echo two >&2", "two\n"},
			{"sleep 300 &", ""}, // killed with its cgroup: nothing of it left
			{"printf three", "three"},
			// Written, then emptied by another descriptor: the file is
			// empty but its shared offset is not at 0.
			{"printf lost; : > /dev/stdout", ""},
			{"printf four", "four"},
			{"true", ""},
		} {
			env, buf := tasktest.Env(t)
			req := tasktest.Request(t, json.RawMessage(`{"script": `+strconv.Quote(c.script)+`}`))
			if _, err := task.Run(context.Background(), req, env); err != nil {
				t.Fatalf("%s: %v", c.script, err)
			}
			if got := buf.String(); got != c.log {
				t.Errorf("%s: log %q, want %q", c.script, got, c.log)
			}
			want := max(idle-1, 0) // it took the file waiting, if one was
			if reused && c.log == "" {
				want++ // and gave it back, or its own, for the next command
			}
			if got := shell.IdleSpools(); got != want {
				t.Errorf("after %s: %d output files kept, want %d", c.script, got, want)
			}
			idle = shell.IdleSpools()
		}
	})
}
