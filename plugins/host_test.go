package plugins_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/plugins"
	"github.com/cairnml/cairn/tasks"
	"github.com/cairnml/cairn/tasks/noop"
	"github.com/cairnml/cairn/tasks/proctree"
	"github.com/cairnml/cairn/tasks/tasktest"
)

// The plugin binaries are built once per test binary: building costs
// seconds here.
var bins struct {
	plugin, protocol99 string
	// variant is the test plugin as version 6.6.6: other bytes, same
	// protocol, so it would load if it ever ran unpinned.
	variant string
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "cairn-plugins-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bins.plugin = filepath.Join(dir, "testplugin")
	bins.protocol99 = filepath.Join(dir, "testplugin99")
	bins.variant = filepath.Join(dir, "testplugin-variant")
	for _, b := range []struct{ out, tags, ldflags string }{
		{bins.plugin, "", ""},
		{bins.protocol99, "testplugin_protocol99", ""},
		{bins.variant, "", "-X main.version=6.6.6"},
	} {
		cmd := exec.Command("go", "build", "-tags", b.tags, "-ldflags", b.ldflags, "-o", b.out, "./internal/testplugin")
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build the test plugin: %v\n%s", err, out)
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

// install copies bin into dir as name with mode.
func install(t *testing.T, dir, name, bin string, mode os.FileMode) string {
	t.Helper()
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, b, mode); err != nil {
		t.Fatal(err)
	}
	return path
}

// mkdirCopy makes dir and copies bin into it as name.
func mkdirCopy(dir, name, bin string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	b, err := os.ReadFile(bin)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, name), b, 0o755)
}

// folder makes a plugins folder holding the test plugin as each of names,
// pinned in a lock file; it returns the host options.
func folder(t *testing.T, names ...string) plugins.Options {
	t.Helper()
	root := t.TempDir()
	o := plugins.Options{Dir: filepath.Join(root, "plugins"), LockFile: filepath.Join(root, "plugins.lock"), StartTimeout: 5 * time.Second, KillGrace: 500 * time.Millisecond}
	if err := os.Mkdir(o.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		install(t, o.Dir, n, bins.plugin, 0o755)
	}
	if _, err := plugins.LockFolder(context.Background(), o.Dir, o.LockFile); err != nil {
		t.Fatal(err)
	}
	return o
}

// pluginsLock pins o.Dir's binaries in o.LockFile.
func pluginsLock(o plugins.Options) ([]plugins.Entry, error) {
	return plugins.LockFolder(context.Background(), o.Dir, o.LockFile)
}

// open opens a host and, when the test ends, closes it and checks that
// no plugin process is left.
func open(t *testing.T, o plugins.Options) *plugins.Host {
	t.Helper()
	h, err := plugins.Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		h.Close()
		if kids := children(t); len(kids) > 0 {
			t.Errorf("plugin processes left behind after Close: %v", kids)
		}
	})
	return h
}

// children lists the live (not zombie) child processes of this test.
func children(t *testing.T) []string {
	t.Helper()
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var kids []string
	me := strconv.Itoa(os.Getpid())
	for _, s := range stats {
		b, err := os.ReadFile(s)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		rest := string(b[bytes.LastIndexByte(b, ')')+2:])
		f := strings.Fields(rest)
		if len(f) > 1 && f[1] == me && f[0] != "Z" {
			kids = append(kids, s)
		}
	}
	return kids
}

func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	rest := string(b[bytes.LastIndexByte(b, ')')+2:])
	return !strings.HasPrefix(rest, "Z")
}

func lookup(t *testing.T, h *plugins.Host, name string) tasks.Task {
	t.Helper()
	task, ok := h.Lookup(name)
	if !ok {
		t.Fatalf("no type %q; problems: %v", name, h.Problems())
	}
	return task
}

// attempt runs one attempt of task with params.
func attempt(t *testing.T, ctx context.Context, task tasks.Task, params string) (tasks.Result, error, string) {
	t.Helper()
	env, log := tasktest.Env(t)
	res, err := task.Run(ctx, tasktest.Request(t, json.RawMessage(params)), env)
	return res, err, log.String()
}

var noopCases = []tasktest.Case{
	{Name: "no params", Want: tasktest.Succeeds},
	{Name: "short sleep", Params: map[string]any{"sleep": "10ms"}, Want: tasktest.Succeeds},
	{Name: "long sleep", Params: map[string]any{"sleep": "1h"}, Want: tasktest.Blocks},
	{Name: "fail", Params: map[string]any{"fail": "boom"}, Want: tasktest.FailsRetryable,
		Check: func(t *testing.T, a tasktest.Attempt) {
			if a.Err == nil || !strings.HasSuffix(a.Err.Error(), "boom") {
				t.Errorf("err = %v, want boom", a.Err)
			}
		}},
	{Name: "panic", Params: map[string]any{"panic": true}, Want: tasktest.Panics},
	{Name: "unknown param", Params: map[string]any{"slep": "1s"}, InvalidParams: true},
	{Name: "bad duration", Params: map[string]any{"sleep": "soon"}, InvalidParams: true},
}

// The same conformance cases pass against the built-in noop in process
// and against noop served by a real plugin subprocess.
func TestConformanceInProcessAndPlugin(t *testing.T) {
	t.Run("built-in", func(t *testing.T) { tasktest.Run(t, noop.New(), noopCases...) })
	t.Run("plugin", func(t *testing.T) {
		h := open(t, folder(t, "alpha"))
		tasktest.Run(t, lookup(t, h, "noop"), noopCases...)
		tasktest.Run(t, lookup(t, h, "alpha-echo"),
			tasktest.Case{Name: "echoes", Params: map[string]any{"text": "hi"}, Check: func(t *testing.T, a tasktest.Attempt) {
				if string(a.Result.Outputs["text"]) != `"hi"` {
					t.Errorf("outputs %v", a.Result.Outputs)
				}
			}},
			tasktest.Case{Name: "empty", Params: map[string]any{"text": ""}, InvalidParams: true})
	})
}

func TestListAndLog(t *testing.T) {
	o := folder(t, "alpha")
	h := open(t, o)
	ps := h.Plugins()
	if len(ps) != 1 || ps[0].Err != nil {
		t.Fatalf("plugins %+v", ps)
	}
	p := ps[0]
	var names []string
	for _, ty := range p.Types {
		names = append(names, ty.Name)
	}
	lock, err := plugins.ReadLock(o.LockFile)
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "alpha" || p.Version != "1.2.3" || p.Protocol != 1 || p.SHA256 != lock["alpha"] || len(p.SHA256) != 64 ||
		strings.Join(names, ",") != "alpha-echo,getenv,misbehave,noop" {
		t.Fatalf("plugin %+v, types %v", p, names)
	}
	_, err, log := attempt(t, context.Background(), lookup(t, h, "noop"), `{}`)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("cairn: plugin alpha version 1.2.3, sha256:%s, protocol 1, pid ", p.SHA256)
	if !strings.HasPrefix(log, want) || !strings.Contains(log, "(warm process)") {
		t.Fatalf("log header %q, want it to start %q and say warm (the discovery process is reused)", log, want)
	}
}

func TestBadEntriesAreReportedAndOthersLoad(t *testing.T) {
	o := folder(t, "alpha", "beta")
	install(t, o.Dir, "notexec", bins.plugin, 0o644)
	if err := os.WriteFile(filepath.Join(o.Dir, "notaplugin"), []byte("#!/bin/sh\necho hello from a script\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	install(t, o.Dir, "old", bins.protocol99, 0o755)
	if _, err := plugins.LockFolder(context.Background(), o.Dir, o.LockFile); err != nil {
		t.Fatal(err)
	}
	install(t, o.Dir, "unpinned", bins.plugin, 0o755)
	tampered := install(t, o.Dir, "tampered", bins.plugin, 0o755)
	lock, _ := plugins.ReadLock(o.LockFile)
	lock["tampered"] = lock["alpha"]
	if err := lock.Write(o.LockFile); err != nil {
		t.Fatal(err)
	}
	f, _ := os.OpenFile(tampered, os.O_APPEND|os.O_WRONLY, 0)
	f.Write([]byte("x"))
	f.Close()

	h := open(t, o)
	reg, err := tasks.NewRegistry(noop.New())
	if err != nil {
		t.Fatal(err)
	}
	problems := append(h.Problems(), h.Compose(reg)...)
	text := fmt.Sprint(problems)
	for _, want := range []string{
		"plugin notexec: not executable (mode -rw-r--r--)",
		"plugin notaplugin: start: Unrecognized remote plugin message: hello from a script",
		"is it a cairn plugin?",
		"plugin old: start: incompatible API version with plugin. Plugin version: 99, Client versions: [1] (this cairn speaks plugin protocol version 1",
		"plugin unpinned not started: it is not pinned in " + o.LockFile,
		"plugin tampered not started: its sha256 is ",
		"the binary changed since it was pinned",
		`task type "misbehave" is provided by several plugins (alpha, beta)`,
		`task type "noop" is provided by several plugins (alpha, beta)`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("problems lack %q:\n%s", want, strings.Join(strings.Split(text, "plugin "), "\nplugin "))
		}
	}
	if got := reg.Names(); strings.Join(got, ",") != "alpha-echo,beta-echo,noop" {
		t.Errorf("registry %v, want the built-in noop and each plugin's own type", got)
	}
	if _, err, _ := attempt(t, context.Background(), lookup(t, h, "beta-echo"), `{"text":"x"}`); err != nil {
		t.Errorf("beta-echo: %v", err)
	}
}

func TestBuiltinTypeIsKept(t *testing.T) {
	h := open(t, folder(t, "alpha"))
	builtin := noop.New()
	reg, _ := tasks.NewRegistry(builtin)
	errs := h.Compose(reg)
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), `plugin alpha provides task type "noop", which is built in: the built-in type is used`) {
		t.Fatalf("compose: %v", errs)
	}
	if got, _ := reg.Lookup("noop"); got != tasks.Task(builtin) {
		t.Fatalf("noop is %T, want the built-in", got)
	}
}

func TestNoLockFileStartsNothing(t *testing.T) {
	o := folder(t, "alpha")
	os.Remove(o.LockFile)
	h := open(t, o)
	if len(h.Names()) != 0 || len(h.Problems()) != 1 ||
		!strings.Contains(h.Problems()[0].Error(), "there is no lock file "+o.LockFile+", and no plugin binary is started before it is pinned there") {
		t.Fatalf("types %v, problems %v", h.Names(), h.Problems())
	}
	if p := h.Plugins()[0]; p.Version != "" || p.Err == nil {
		t.Fatalf("plugin %+v was started", p)
	}
}

func TestMalformedLockFile(t *testing.T) {
	o := folder(t, "alpha")
	os.WriteFile(o.LockFile, []byte("abc  alpha\n"), 0o644)
	h := open(t, o)
	if len(h.Names()) != 0 || !strings.Contains(fmt.Sprint(h.Problems()), "plugins.lock:1: want \"<64 hex digits>  <file name>\"") {
		t.Fatalf("types %v, problems %v", h.Names(), h.Problems())
	}
}

// pidOf runs misbehave in pid mode and returns the pid of the process
// that ran it.
func pidOf(t *testing.T, task tasks.Task) int {
	t.Helper()
	res, err, log := attempt(t, context.Background(), task, `{"mode":"pid"}`)
	if err != nil {
		t.Fatalf("pid: %v\nlog:\n%s", err, log)
	}
	n, _ := strconv.Atoi(string(res.Outputs["value"]))
	return n
}

// exeSHA256 is the sha256 of the bytes process pid executes.
func exeSHA256(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// A binary swapped in the plugins folder after discovery never runs, be it
// renamed over the plugin or reached through a retargeted symlink: the
// host runs its copy of the pinned bytes, every time it starts a process.
func TestSwappedBinaryNeverRuns(t *testing.T) {
	for _, how := range []string{"rename", "symlink"} {
		t.Run(how, func(t *testing.T) {
			o := folder(t)
			entry := filepath.Join(o.Dir, "alpha")
			if how == "symlink" {
				install(t, filepath.Dir(o.Dir), "good", bins.plugin, 0o755)
				install(t, filepath.Dir(o.Dir), "bad", bins.variant, 0o755)
				if err := os.Symlink("../good", entry); err != nil {
					t.Fatal(err)
				}
			} else {
				install(t, o.Dir, "alpha", bins.plugin, 0o755)
			}
			if _, err := pluginsLock(o); err != nil {
				t.Fatal(err)
			}
			pin := mustLock(t, o)["alpha"]
			h := open(t, o)
			task := lookup(t, h, "misbehave")
			if sum := exeSHA256(t, pidOf(t, task)); sum != pin {
				t.Fatalf("the first process runs sha256 %s, want the pinned %s", sum, pin)
			}
			swap(t, entry, how)
			// Crash the warm process, so that the next attempt starts a new one.
			if _, err, _ := attempt(t, context.Background(), task, `{"mode":"crash"}`); err == nil {
				t.Fatal("crash succeeded")
			}
			pid := pidOf(t, task)
			if sum := exeSHA256(t, pid); sum != pin {
				t.Errorf("the process started after the swap runs sha256 %s, want the pinned %s", sum, pin)
			}
		})
	}
}

// swap puts the variant build where entry leads: renamed over it, or by
// retargeting the symlink entry is.
func swap(t *testing.T, entry, how string) {
	t.Helper()
	tmp := entry + ".new"
	var err error
	if how == "symlink" {
		err = os.Symlink("../bad", tmp)
	} else {
		err = os.Link(bins.variant, tmp)
	}
	if err == nil {
		err = os.Rename(tmp, entry)
	}
	if err != nil {
		t.Fatal(err)
	}
}

func mustLock(t *testing.T, o plugins.Options) plugins.Lock {
	t.Helper()
	l, err := plugins.ReadLock(o.LockFile)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// The reviewer's race: while a loop renames the variant build and the
// pinned one over the plugin in turn, a plugin that loads is always the
// pinned one (the variant, version 6.6.6, would load too if it ran).
func TestOpenRacingARenameRunsOnlyThePinned(t *testing.T) {
	o := folder(t, "alpha")
	entry := filepath.Join(o.Dir, "alpha")
	good := filepath.Join(t.TempDir(), "good")
	install(t, filepath.Dir(good), "good", bins.plugin, 0o755)
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				done <- os.Rename(good, entry) // leave the pinned one in place
				return
			default:
			}
			src := []string{good, bins.variant}[i%2]
			tmp := entry + ".swap"
			if err := os.Link(src, tmp); err != nil {
				done <- err
				return
			}
			if err := os.Rename(tmp, entry); err != nil {
				done <- err
				return
			}
		}
	}()
	loaded := 0
	for i := 0; i < 60; i++ {
		h, err := plugins.Open(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		if p := h.Plugins()[0]; p.Err == nil {
			loaded++
			if p.Version != "1.2.3" {
				t.Errorf("open %d: plugin version %s ran, which is not the pinned binary", i, p.Version)
			}
		}
		h.Close()
	}
	close(stop)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if loaded == 0 {
		t.Error("the plugin never loaded: the race was not run")
	}
	if kids := children(t); len(kids) > 0 {
		t.Errorf("plugin processes left behind: %v", kids)
	}
}

func TestCrashFailsOnlyTheAttempt(t *testing.T) {
	h := open(t, folder(t, "alpha"))
	task := lookup(t, h, "misbehave")
	pid := func() int {
		res, err, _ := attempt(t, context.Background(), task, `{"mode":"pid"}`)
		if err != nil {
			t.Fatal(err)
		}
		n, _ := strconv.Atoi(string(res.Outputs["value"]))
		return n
	}
	first := pid()
	if again := pid(); again != first {
		t.Fatalf("warm process not reused: pid %d then %d", first, again)
	}
	for _, c := range []struct{ mode, inLog, inErr string }{
		{"crash", "testplugin: about to crash", "plugin connection lost during the attempt"},
		{"crash-goroutine", "panic: testplugin: boom in a goroutine", "plugin connection lost during the attempt"},
		{"garbage", "", `plugin broke the protocol: output "value" is not valid JSON`},
	} {
		before := pid()
		_, err, log := attempt(t, context.Background(), task, fmt.Sprintf(`{"mode":%q}`, c.mode))
		if err == nil || !cairn.IsRetryable(err) || !strings.Contains(err.Error(), c.inErr) || !strings.Contains(log, c.inLog) {
			t.Errorf("%s: err %v (retryable %v), log:\n%s", c.mode, err, cairn.IsRetryable(err), log)
		}
		if alive(before) {
			t.Errorf("%s: the process %d lives on", c.mode, before)
		}
		if after := pid(); after == before {
			t.Errorf("%s: the next attempt ran in the same process %d", c.mode, after)
		}
	}
	// A panic the SDK recovers: a failed attempt with the plugin's stack.
	before := pid()
	_, err, _ := attempt(t, context.Background(), lookup(t, h, "noop"), `{"panic":true}`)
	var pe *cairn.PanicError
	if !errors.As(err, &pe) || !strings.Contains(string(pe.Stack), "tasks/noop") {
		t.Fatalf("err = %v, want a PanicError with the plugin's stack", err)
	}
	if after := pid(); after == before {
		t.Errorf("after a panic the next attempt ran in the same process %d", after)
	}
}

func TestStderrGoesToTheTaskLog(t *testing.T) {
	h := open(t, folder(t, "alpha"))
	_, err, log := attempt(t, context.Background(), lookup(t, h, "misbehave"), `{"mode":"stderr"}`)
	if err != nil || !strings.Contains(log, "testplugin: a line on stderr\n") || !strings.Contains(log, "testplugin: a line on os.Stderr\n") {
		t.Fatalf("err %v, log %q", err, log)
	}
}

func TestHungPluginIsKilled(t *testing.T) {
	o := folder(t, "alpha")
	h := open(t, o)
	task := lookup(t, h, "misbehave")
	res, err, _ := attempt(t, context.Background(), task, `{"mode":"pid"}`)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(string(res.Outputs["value"]))
	ctx, cancel := context.WithTimeoutCause(context.Background(), 200*time.Millisecond, errors.New("timed out after 200ms"))
	defer cancel()
	start := time.Now()
	_, err, log := attempt(t, ctx, task, `{"mode":"hang"}`)
	took := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), "plugin alpha: plugin did not stop within 500ms of the attempt ending (timed out after 200ms); its process (pid") {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(log, "hanging, deaf to cancellation") {
		t.Errorf("log %q", log)
	}
	if took > 200*time.Millisecond+o.KillGrace+2*time.Second {
		t.Errorf("took %v to give up", took)
	}
	if alive(pid) {
		t.Errorf("hung process %d still alive", pid)
	}
}

func TestEnvironmentIsMinimal(t *testing.T) {
	t.Setenv("CAIRN_TEST_SECRET", "hunter2")
	o := folder(t, "alpha")
	o.Env = []string{"CAIRN_GIVEN=1"}
	h := open(t, o)
	res, err, _ := attempt(t, context.Background(), lookup(t, h, "misbehave"), `{"mode":"env"}`)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	json.Unmarshal(res.Outputs["value"], &names)
	got := " " + strings.Join(names, " ") + " "
	if strings.Contains(got, "CAIRN_TEST_SECRET") || !strings.Contains(got, " CAIRN_GIVEN ") || !strings.Contains(got, " PATH ") {
		t.Fatalf("plugin environment %v: want PATH and CAIRN_GIVEN, not the host's CAIRN_TEST_SECRET", names)
	}
	// AutoMTLS: the host handed the plugin its client certificate, so the
	// plugin's server requires it on the connection.
	if !strings.Contains(got, " PLUGIN_CLIENT_CERT ") {
		t.Errorf("plugin environment %v has no PLUGIN_CLIENT_CERT: the connection is not mutually authenticated", names)
	}
	// During an attempt, its identity too: the marks by which what the
	// attempt starts is found and killed at its end (tasks/proctree).
	for _, n := range []string{"CAIRN_RUN_ID", "CAIRN_TASK_ID", "CAIRN_ATTEMPT"} {
		if !strings.Contains(got, " "+n+" ") {
			t.Errorf("plugin environment %v has no %s during the attempt", names, n)
		}
	}
	for _, n := range names {
		switch n {
		case "PATH", "HOME", "TMPDIR", "LANG", "CAIRN_GIVEN", "CAIRN_PLUGIN", "PLUGIN_MIN_PORT", "PLUGIN_MAX_PORT", "PLUGIN_PROTOCOL_VERSIONS", "PLUGIN_CLIENT_CERT",
			"PLUGIN_UNIX_SOCKET_DIR",
			"CAIRN_RUN_ID", "CAIRN_TASK_ID", "CAIRN_ATTEMPT":
		default:
			t.Errorf("plugin environment has %s", n)
		}
	}
}

func TestIdleProcessesStop(t *testing.T) {
	o := folder(t, "alpha")
	o.IdleTimeout = 150 * time.Millisecond
	h := open(t, o)
	res, err, _ := attempt(t, context.Background(), lookup(t, h, "misbehave"), `{"mode":"pid"}`)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(string(res.Outputs["value"]))
	deadline := time.Now().Add(5 * time.Second)
	for alive(pid) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if alive(pid) {
		t.Fatalf("idle process %d still running after %v", pid, 5*time.Second)
	}
	res, err, log := attempt(t, context.Background(), lookup(t, h, "misbehave"), `{"mode":"pid"}`)
	if err != nil || string(res.Outputs["value"]) == strconv.Itoa(pid) || !strings.Contains(log, "(new process)") {
		t.Fatalf("after the idle stop: %v, %s, log %q", err, res.Outputs["value"], log)
	}
}

func TestConcurrentAttemptsUseSeveralProcesses(t *testing.T) {
	h := open(t, folder(t, "alpha"))
	task := lookup(t, h, "noop")
	errs := make(chan error, 4)
	for i := 0; i < 4; i++ {
		go func() {
			env, _ := tasktest.Env(t)
			_, err := task.Run(context.Background(), tasks.Request{RunID: "r", TaskID: "t", Attempt: 1, Params: json.RawMessage(`{"sleep":"100ms"}`)}, env)
			errs <- err
		}()
	}
	for i := 0; i < 4; i++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if kids := children(t); len(kids) < 2 {
		t.Errorf("%d plugin processes for 4 concurrent attempts", len(kids))
	}
}

func TestLockRoundTrip(t *testing.T) {
	o := folder(t, "b", "a")
	install(t, o.Dir, "skipped", bins.plugin, 0o600)
	entries, err := plugins.LockFolder(context.Background(), o.Dir, o.LockFile)
	if err != nil || len(entries) != 3 {
		t.Fatalf("%v %v", entries, err)
	}
	b, _ := os.ReadFile(o.LockFile)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 2 || !strings.HasSuffix(lines[0], "  a") || !strings.HasSuffix(lines[1], "  b") {
		t.Fatalf("lock file:\n%s", b)
	}
	// sha256sum can check it.
	if _, err := exec.LookPath("sha256sum"); err == nil {
		cmd := exec.Command("sha256sum", "-c", o.LockFile)
		cmd.Dir = o.Dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("sha256sum -c: %v\n%s", err, out)
		}
	}
}

// getenvAttempt runs the test plugin's getenv on names with the with:
// block's env value envJSON ("" for none), and returns the values the
// plugin saw, the pid of the process that ran it, and its log.
func getenvAttempt(t *testing.T, task tasks.Task, envJSON string, names ...string) (map[string]*string, int, string) {
	t.Helper()
	n, _ := json.Marshal(names)
	params := fmt.Sprintf(`{"names":%s}`, n)
	if envJSON != "" {
		params = fmt.Sprintf(`{"env":%s,"names":%s}`, envJSON, n)
	}
	res, err, log := attempt(t, context.Background(), task, params)
	if err != nil {
		t.Fatalf("getenv with %s: %v\nlog:\n%s", params, err, log)
	}
	var values map[string]*string
	if err := json.Unmarshal(res.Outputs["values"], &values); err != nil {
		t.Fatalf("values %s: %v", res.Outputs["values"], err)
	}
	m := regexp.MustCompile(`, pid (\d+) \(`).FindStringSubmatch(log)
	if m == nil {
		t.Fatalf("no pid in the log:\n%s", log)
	}
	pid, _ := strconv.Atoi(m[1])
	return values, pid, log
}

func show(v *string) string {
	if v == nil {
		return "(unset)"
	}
	return strconv.Quote(*v)
}

// A task's env: reaches the plugin's process for that attempt only (the
// next attempt in the same warm process sees the previous environment),
// never reaches its params (getenv decodes them strictly), and its values
// stay out of the log; the host's own variables still do not leak.
func TestEnvIsGivenForOneAttempt(t *testing.T) {
	t.Setenv("CAIRN_TEST_SECRET", "hunter2")
	t.Setenv("GREETING", "from the host")
	o := folder(t, "alpha")
	o.Env = []string{"REGION=embedder"}
	h := open(t, o)
	task := lookup(t, h, "getenv")
	names := []string{"GREETING", "REGION", "PORT", "CAIRN_TEST_SECRET"}

	got, pid1, log := getenvAttempt(t, task, `{"GREETING":"hello, plugin","REGION":"eu-west-1","PORT":8080}`, names...)
	if show(got["GREETING"]) != `"hello, plugin"` || show(got["REGION"]) != `"eu-west-1"` || show(got["PORT"]) != `"8080"` || got["CAIRN_TEST_SECRET"] != nil {
		t.Errorf("with env: GREETING %s, REGION %s, PORT %s, CAIRN_TEST_SECRET %s", show(got["GREETING"]), show(got["REGION"]), show(got["PORT"]), show(got["CAIRN_TEST_SECRET"]))
	}
	if !strings.Contains(log, "cairn: environment variables from env: GREETING, PORT, REGION (values not logged)\n") ||
		strings.Contains(log, "hello, plugin") || strings.Contains(log, "eu-west-1") {
		t.Errorf("log names the variables and holds no value? log:\n%s", log)
	}

	got, pid2, log := getenvAttempt(t, task, "", names...)
	if pid2 != pid1 || !strings.Contains(log, "(warm process)") {
		t.Fatalf("the second attempt ran in process %d, the first in %d: want the same warm process", pid2, pid1)
	}
	if got["GREETING"] != nil || show(got["REGION"]) != `"embedder"` || got["PORT"] != nil || got["CAIRN_TEST_SECRET"] != nil {
		t.Errorf("the next attempt sees GREETING %s, REGION %s, PORT %s, CAIRN_TEST_SECRET %s: want unset, the embedder's, unset, unset",
			show(got["GREETING"]), show(got["REGION"]), show(got["PORT"]), show(got["CAIRN_TEST_SECRET"]))
	}
	if strings.Contains(log, "environment variables from env") {
		t.Errorf("an attempt without env: logs variables:\n%s", log)
	}

	// env: null is no variables; a value resolved at run time is checked
	// again, permanently.
	if got, _, _ := getenvAttempt(t, task, "null", "GREETING"); got["GREETING"] != nil {
		t.Errorf("env: null gave GREETING %s", show(got["GREETING"]))
	}
	for env, want := range map[string]string{
		`{"PATH":"/tmp"}`:   "with.env: PATH is reserved",
		`{"1X":"a"}`:        `with.env: "1X" is not a valid environment variable name`,
		`{"A":["b"]}`:       "with.env: A: want a string, got a list",
		`"A=secret"`:        "with.env: want a map of NAME: value, got a string",
		`{"A":"nul\u0000"}`: "with.env: A: the value holds a NUL byte",
	} {
		_, err, _ := attempt(t, context.Background(), task, `{"names":[],"env":`+env+`}`)
		if err == nil || cairn.IsRetryable(err) || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "secret") {
			t.Errorf("env %s: err %v (retryable %v), want a permanent error saying %q", env, err, cairn.IsRetryable(err), want)
		}
	}
}

// env: is a param of every plugin type in the composed registry, checked
// by the registry's ValidateParams; the plugin's own validator, or the
// host's check against its Info, gets the other params without it.
func TestEnvIsValidated(t *testing.T) {
	h := open(t, folder(t, "alpha"))
	reg, err := tasks.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	if errs := h.Compose(reg); len(errs) > 0 {
		t.Fatal(errs)
	}
	for _, typ := range []string{"getenv", "noop", "alpha-echo", "misbehave"} {
		info, _ := reg.Info(typ)
		p, ok := info.Param("env")
		if !ok || p.Kind != cairn.KindMap || !strings.Contains(p.Doc, "environment variables") {
			t.Errorf("%s: param env %+v (declared %v)", typ, p, ok)
		}
	}
	for _, c := range []struct {
		typ    string
		params map[string]any
		want   []string // in the errors, in order; none for valid params
	}{
		{"getenv", map[string]any{"names": []any{}, "env": map[string]any{"GREETING": "${{ params.word }}", "_A1": "x", "Lower": ""}}, nil},
		{"getenv", map[string]any{"names": []any{}, "env": "${{ params.vars }}"}, nil},
		{"getenv", map[string]any{"names": []any{}, "env": nil}, nil},
		{"getenv", map[string]any{"names": []any{}, "env": map[string]any{"1BAD": "x", "A-B": "x"}},
			[]string{`env: "1BAD" is not a valid environment variable name`, `env: "A-B" is not a valid environment variable name`}},
		{"getenv", map[string]any{"names": []any{}, "env": map[string]any{"CAIRN_HOME": "x", "PLUGIN_CLIENT_CERT": "x", "PATH": "x", "HOME": "x", "TMPDIR": "x", "LANG": "x"}},
			[]string{"env: CAIRN_HOME is reserved", "env: HOME is reserved", "env: LANG is reserved", "env: PATH is reserved", "env: PLUGIN_CLIENT_CERT is reserved", "env: TMPDIR is reserved"}},
		{"getenv", map[string]any{"names": []any{}, "env": map[string]any{"PORT": 8080, "ON": true}},
			[]string{"env: ON: want a string, got true", "env: PORT: want a string, got 8080"}},
		{"getenv", map[string]any{"names": []any{}, "env": []any{"A=b"}}, []string{"env: want a map of NAME: value, got a list"}},
		// The plugin's validator: env: is not among the params it sees.
		{"alpha-echo", map[string]any{"text": "x", "env": map[string]any{"A": "b"}}, nil},
		{"alpha-echo", map[string]any{"text": "", "env": map[string]any{"PATH": "b"}}, []string{"env: PATH is reserved", "text: must not be empty"}},
		// No validator of its own: the host checks the params against Info.
		{"noop", map[string]any{"sleep": "1s", "env": map[string]any{"A": "b"}}, nil},
		{"noop", map[string]any{"slep": "1s"}, []string{"slep: unknown param"}},
		{"noop", map[string]any{"sleep": "soon", "env": map[string]any{"A": 1}}, []string{"env: A: want a string, got 1", "sleep: want a duration, got \"soon\""}},
		{"getenv", map[string]any{}, []string{`names: missing param "names" (list), which type "getenv" requires`}},
	} {
		var got []string
		for _, e := range reg.ValidateParams(c.typ, c.params) {
			got = append(got, e.Error())
		}
		if len(got) != len(c.want) {
			t.Errorf("%s %v: errors %q, want %q", c.typ, c.params, got, c.want)
			continue
		}
		for i := range got {
			if !strings.HasPrefix(got[i], c.want[i]) {
				t.Errorf("%s %v: error %d is %q, want it to start %q", c.typ, c.params, i, got[i], c.want[i])
			}
		}
	}
}

// A plugin type that declares a param named env clashes with the host's:
// it is reported and not served; the plugin's other types still are.
func TestEnvParamClash(t *testing.T) {
	h := open(t, folder(t, "clash"))
	text := fmt.Sprint(h.Problems())
	if want := `plugin clash: task type "clash-env" declares a param "env", which cairn reserves for the environment variables of every plugin task: rename the param in the plugin; the type is not served`; !strings.Contains(text, want) {
		t.Errorf("problems %s\nwant %q", text, want)
	}
	if _, ok := h.Lookup("clash-env"); ok {
		t.Error("clash-env is served")
	}
	if _, err, _ := attempt(t, context.Background(), lookup(t, h, "clash-echo"), `{"text":"x"}`); err != nil {
		t.Errorf("clash-echo: %v", err)
	}
}

// The cache next to the lock file holds a read-only copy of each pinned
// binary, in a folder closed to others; a copy that is damaged is made
// again from the folder, and copies no pin names go at the next Open.
func TestCacheHoldsThePinnedCopies(t *testing.T) {
	o := folder(t, "alpha")
	pin := mustLock(t, o)["alpha"]
	cache := filepath.Join(filepath.Dir(o.LockFile), ".plugin-cache")
	stale := filepath.Join(cache, strings.Repeat("0", 64))
	if err := os.MkdirAll(cache, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(stale, []byte("old"), 0o500); err != nil {
		t.Fatal(err)
	}
	h := open(t, o)
	task := lookup(t, h, "misbehave")
	if fi, err := os.Stat(cache); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("cache folder: %v, mode %v, want 0700", err, fi.Mode())
	}
	copyPath := filepath.Join(cache, pin)
	if fi, err := os.Stat(copyPath); err != nil || fi.Mode().Perm() != 0o500 {
		t.Fatalf("the copy: %v, want mode 0500", err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a copy no pin names is still there: %v", err)
	}
	// Damage the copy, then have a new process started.
	os.Chmod(copyPath, 0o700)
	f, _ := os.OpenFile(copyPath, os.O_APPEND|os.O_WRONLY, 0)
	f.Write([]byte("x"))
	f.Close()
	if _, err, _ := attempt(t, context.Background(), task, `{"mode":"crash"}`); err == nil {
		t.Fatal("crash succeeded")
	}
	if sum := exeSHA256(t, pidOf(t, task)); sum != pin {
		t.Errorf("after the damage the process runs sha256 %s, want the pinned %s", sum, pin)
	}
}

// failingLog is an attempt's log that cannot be written.
type failingLog struct{}

func (failingLog) Write([]byte) (int, error) { return 0, errors.New("disk full") }

// An attempt whose log cannot be written fails, and the process that may
// still be running it (here: hanging, deaf to cancellation) never serves
// another attempt: the next one gets a fresh process.
func TestFailedLogWriteRetiresTheProcess(t *testing.T) {
	h := open(t, folder(t, "alpha"))
	task := lookup(t, h, "misbehave")
	hung := pidOf(t, task)
	env, _ := tasktest.Env(t)
	env.Log = failingLog{}
	_, err := task.Run(context.Background(), tasktest.Request(t, json.RawMessage(`{"mode":"hang"}`)), env)
	if err == nil || !cairn.IsRetryable(err) || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("err = %v (retryable %v), want a retryable error about the log", err, cairn.IsRetryable(err))
	}
	if alive(hung) {
		t.Errorf("the process %d that ran the attempt lives on", hung)
	}
	values, pid, log := getenvAttempt(t, lookup(t, h, "getenv"), `{"GREETING":"hi"}`, "GREETING")
	if pid == hung || show(values["GREETING"]) != `"hi"` || !strings.Contains(log, "(new process)") {
		t.Errorf("the next attempt ran in pid %d (the hung one was %d), saw GREETING %s, log:\n%s", pid, hung, show(values["GREETING"]), log)
	}
}

// signalLog is a log that closes first on its first write (the host's
// header, written once the attempt has attached its output).
type signalLog struct {
	once  sync.Once
	first chan struct{}
	mu    sync.Mutex
	buf   bytes.Buffer
}

func (l *signalLog) Write(p []byte) (int, error) {
	l.once.Do(func() { close(l.first) })
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *signalLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// An attempt that has given its process back does not touch the process's
// output afterwards: the next attempt, which took the process meanwhile,
// keeps its stderr in its log.
func TestReleasedProcessKeepsTheNextAttemptsStderr(t *testing.T) {
	h := open(t, folder(t, "alpha"))
	task := lookup(t, h, "misbehave")
	next := &signalLog{first: make(chan struct{})}
	nextErr := make(chan error, 1)
	var once sync.Once
	plugins.SetAfterRelease(h, func() {
		once.Do(func() {
			go func() {
				env, _ := tasktest.Env(t)
				env.Log = next
				_, err := task.Run(context.Background(), tasktest.Request(t, json.RawMessage(`{"mode":"stderr"}`)), env)
				nextErr <- err
			}()
			select { // until the next attempt has attached its log
			case <-next.first:
			case <-time.After(5 * time.Second):
				t.Error("the next attempt did not start")
			}
		})
	})
	pidOf(t, task)
	if err := <-nextErr; err != nil {
		t.Fatal(err)
	}
	if log := next.String(); !strings.Contains(log, "(warm process)") || !strings.Contains(log, "testplugin: a line on stderr\n") || !strings.Contains(log, "testplugin: a line on os.Stderr\n") {
		t.Errorf("the next attempt's log lacks its stderr:\n%s", log)
	}
}

// Close during an attempt cancels it (the task returns, or is killed
// after KillGrace), fails it retryably with ErrClosed, and leaves no
// plugin process once it returns.
func TestCloseDuringAnAttempt(t *testing.T) {
	for _, mode := range []string{"sleep", "hang"} {
		t.Run(mode, func(t *testing.T) {
			h, err := plugins.Open(context.Background(), folder(t, "alpha"))
			if err != nil {
				t.Fatal(err)
			}
			task := lookup(t, h, "misbehave")
			log := &signalLog{first: make(chan struct{})}
			done := make(chan error, 1)
			go func() {
				env, _ := tasktest.Env(t)
				env.Log = log
				_, err := task.Run(context.Background(), tasktest.Request(t, json.RawMessage(fmt.Sprintf(`{"mode":%q}`, mode))), env)
				done <- err
			}()
			waitUntil(t, "the attempt to run", func() bool { return strings.Contains(log.String(), "cancel") })
			h.Close()
			if kids := children(t); len(kids) > 0 {
				t.Errorf("plugin processes alive when Close returned: %v", kids)
			}
			err = <-done
			if !errors.Is(err, plugins.ErrClosed) || !cairn.IsRetryable(err) || strings.Contains(err.Error(), "crash") {
				t.Errorf("err = %v (retryable %v), want a retryable ErrClosed", err, cairn.IsRetryable(err))
			}
		})
	}
}

// Close while an attempt starts a process (one that takes 2 s to start)
// kills it: no plugin process is left once Close returns.
func TestCloseDuringAStart(t *testing.T) {
	h, err := plugins.Open(context.Background(), folder(t, "slow"))
	if err != nil {
		t.Fatal(err)
	}
	task := lookup(t, h, "misbehave")
	if _, err, _ := attempt(t, context.Background(), task, `{"mode":"crash"}`); err == nil {
		t.Fatal("crash succeeded")
	}
	waitUntil(t, "the crashed process to go", func() bool { return len(children(t)) == 0 })
	done := make(chan error, 1)
	go func() {
		env, _ := tasktest.Env(t)
		_, err := task.Run(context.Background(), tasktest.Request(t, json.RawMessage(`{"mode":"pid"}`)), env)
		done <- err
	}()
	waitUntil(t, "a new process to start", func() bool { return len(children(t)) > 0 })
	start := time.Now()
	h.Close()
	if kids := children(t); len(kids) > 0 {
		t.Errorf("plugin processes alive when Close returned: %v", kids)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("Close took %v: it waited for the start instead of killing it", took)
	}
	if err := <-done; !errors.Is(err, plugins.ErrClosed) || !cairn.IsRetryable(err) {
		t.Errorf("err = %v (retryable %v), want a retryable ErrClosed", err, cairn.IsRetryable(err))
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// A relative plugins folder, even ".", works: paths are made absolute, so
// none is a bare name that exec would look up in $PATH.
func TestRelativePluginsFolder(t *testing.T) {
	o := folder(t, "alpha")
	t.Chdir(o.Dir)
	o.Dir, o.LockFile = ".", filepath.Join("..", "plugins.lock")
	entries, err := plugins.Scan(context.Background(), o.Dir)
	if err != nil || len(entries) != 1 || !filepath.IsAbs(entries[0].Path) {
		t.Fatalf("scan: %+v, %v; want one entry with an absolute path", entries, err)
	}
	h := open(t, o)
	if p := h.Plugins()[0]; p.Err != nil || p.Path != entries[0].Path {
		t.Fatalf("plugin %+v, want it loaded from %s", p, entries[0].Path)
	}
	if _, err, _ := attempt(t, context.Background(), lookup(t, h, "alpha-echo"), `{"text":"x"}`); err != nil {
		t.Fatal(err)
	}
}

// A plugin task tells the attempt's Env.RanBy the binary that ran it, and
// only when a process of the plugin had the attempt: not when its params
// were refused first, nor when no process could be had.
func TestRanByOnlyWhenAProcessRanTheAttempt(t *testing.T) {
	h, err := plugins.Open(context.Background(), folder(t, "alpha"))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	p := h.Plugins()[0]
	want := cairn.PluginRef{Name: "alpha", Version: "1.2.3", SHA256: p.SHA256, Protocol: 1}
	run := func(params string) (*cairn.PluginRef, error) {
		env, _ := tasktest.Env(t)
		var got *cairn.PluginRef
		env.RanBy = func(r cairn.PluginRef) { got = &r }
		_, err := lookup(t, h, "misbehave").Run(context.Background(), tasktest.Request(t, json.RawMessage(params)), env)
		return got, err
	}
	if got, err := run(`{"mode":"pid"}`); err != nil || got == nil || *got != want {
		t.Errorf("a successful attempt: RanBy %+v (err %v), want %+v", got, err, want)
	}
	if got, err := run(`{"mode":"crash"}`); err == nil || got == nil || *got != want {
		t.Errorf("a crashed attempt: RanBy %+v (err %v), want %+v", got, err, want)
	}
	if got, err := run(`{"mode":"pid","env":{"PATH":"/tmp"}}`); err == nil || got != nil {
		t.Errorf("env: refused: RanBy %+v (err %v), want no call", got, err)
	}
	h.Close()
	if got, err := run(`{"mode":"pid"}`); !errors.Is(err, plugins.ErrClosed) || got != nil {
		t.Errorf("after Close: RanBy %+v (err %v), want no call", got, err)
	}
}

// Problems returns a copy: a caller appending to it or changing it does
// not change what the host reports next.
func TestProblemsIsACopy(t *testing.T) {
	o := folder(t, "alpha")
	install(t, o.Dir, "unpinned", bins.plugin, 0o755)
	h := open(t, o)
	got := h.Problems()
	if len(got) != 1 {
		t.Fatalf("problems %v, want the unpinned binary's", got)
	}
	got[0] = errors.New("changed")
	if again := h.Problems(); len(again) != 1 || again[0].Error() == "changed" {
		t.Errorf("after the caller changed its slice, Problems is %v", again)
	}
}

// The processes an attempt of a plugin starts (one in a session of its
// own, one orphaned) die when the attempt ends, success included; the
// plugin process itself serves on. With a cgroup per plugin process, and
// with the sweep forced.
func TestAttemptChildrenDieWithTheAttempt(t *testing.T) {
	for _, noCgroup := range []bool{false, true} {
		t.Run(fmt.Sprintf("NoCgroup=%v", noCgroup), func(t *testing.T) {
			if !noCgroup && !proctree.CgroupAvailable() {
				t.Skip("no writable cgroup v2 here")
			}
			o := folder(t, "alpha")
			o.NoCgroup = noCgroup
			h := open(t, o)
			task := lookup(t, h, "misbehave")
			res, err, log := attempt(t, context.Background(), task, `{"mode":"spawn"}`)
			if err != nil {
				t.Fatalf("attempt: %v\n%s", err, log)
			}
			var pids []int
			if err := json.Unmarshal(res.Outputs["value"], &pids); err != nil || len(pids) != 3 {
				t.Fatalf("value %s: %v", res.Outputs["value"], err)
			}
			for _, pid := range pids[1:] {
				t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
				if alive(pid) {
					t.Errorf("process %d the attempt started outlived it", pid)
				}
			}
			if !alive(pids[0]) {
				t.Fatalf("the plugin process %d was killed with its children", pids[0])
			}
			res, err, _ = attempt(t, context.Background(), task, `{"mode":"pid"}`)
			if err != nil || string(res.Outputs["value"]) != strconv.Itoa(pids[0]) {
				t.Errorf("the next attempt ran on %s (%v), want the warm process %d", res.Outputs["value"], err, pids[0])
			}
		})
	}
}

// A lock file others may write (or replace) lets them pin their own
// binary: no plugin starts until it is fixed.
func TestWritableLockFileStartsNothing(t *testing.T) {
	for _, c := range []struct {
		name      string
		file, dir os.FileMode
		want      string
	}{
		{"world-writable file", 0o666, 0o755, "writable by everyone"},
		{"group-writable file", 0o664, 0o755, "writable by its group"},
		{"world-writable folder", 0o644, 0o777, "folder"},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := folder(t, "alpha")
			if err := os.Chmod(o.LockFile, c.file); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(filepath.Dir(o.LockFile), c.dir); err != nil {
				t.Fatal(err)
			}
			h := open(t, o)
			if _, ok := h.Lookup("misbehave"); ok {
				t.Fatal("a plugin started with a lock file others may write")
			}
			probs := fmt.Sprint(h.Problems())
			if !strings.Contains(probs, c.want) || !strings.Contains(probs, "chmod go-w") {
				t.Errorf("problems = %s, want %q and the fix", probs, c.want)
			}
		})
	}
	t.Run("sticky folder", func(t *testing.T) {
		o := folder(t, "alpha")
		if err := os.Chmod(filepath.Dir(o.LockFile), 0o777|os.ModeSticky); err != nil {
			t.Fatal(err)
		}
		lookup(t, open(t, o), "misbehave")
	})
}

// A lock file, or a folder holding it, that another user owns lets that
// user pin a binary of theirs, which would run as this one: no plugin
// starts, whatever the modes (the sticky bit does not stop a folder's
// owner). Root may own them. (The test runs as root, which nobody's lock
// could escalate to: the case the check is for.)
func TestLockOwnedByAnotherUserStartsNothing(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("giving a file to another user needs root")
	}
	const nobody = 65534
	for _, c := range []struct {
		name string
		own  func(o plugins.Options) error
		want string
	}{
		{"lock file", func(o plugins.Options) error { return os.Chown(o.LockFile, nobody, nobody) }, "the lock file"},
		{"sticky folder", func(o plugins.Options) error {
			dir := filepath.Dir(o.LockFile)
			if err := os.Chmod(dir, 0o777|os.ModeSticky); err != nil {
				return err
			}
			return os.Chown(dir, nobody, nobody)
		}, "the lock file's folder"},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := folder(t, "alpha")
			if err := c.own(o); err != nil {
				t.Fatal(err)
			}
			h := open(t, o)
			if _, ok := h.Lookup("misbehave"); ok {
				t.Fatal("a plugin started with a lock another user may rewrite")
			}
			probs := fmt.Sprint(h.Problems())
			if !strings.Contains(probs, c.want) || !strings.Contains(probs, "belongs to another user (uid 65534)") {
				t.Errorf("problems = %s, want %q belongs to another user", probs, c.want)
			}
		})
	}
}

// A plugins folder others may write is warned about; the pinned plugins
// still load.
func TestWritablePluginsFolderIsWarned(t *testing.T) {
	o := folder(t, "alpha")
	if err := os.Chmod(o.Dir, 0o777); err != nil {
		t.Fatal(err)
	}
	h := open(t, o)
	lookup(t, h, "misbehave")
	if probs := fmt.Sprint(h.Problems()); !strings.Contains(probs, "warning: the plugins folder") {
		t.Errorf("problems = %s, want a warning about the folder", probs)
	}
}

// A pin whose binary is gone from the folder is reported.
func TestPinWithoutBinaryIsReported(t *testing.T) {
	o := folder(t, "alpha")
	l, err := plugins.ReadLock(o.LockFile)
	if err != nil {
		t.Fatal(err)
	}
	l["gone"] = strings.Repeat("ab", 32)
	if err := l.Write(o.LockFile); err != nil {
		t.Fatal(err)
	}
	h := open(t, o)
	lookup(t, h, "misbehave")
	if probs := fmt.Sprint(h.Problems()); !strings.Contains(probs, "plugin gone is pinned in") || !strings.Contains(probs, "no such file") {
		t.Errorf("problems = %s, want the missing pinned binary reported", probs)
	}
}

// A plugin type reaps what an attempt of a dead worker left: the
// processes carrying the attempt's marks.
func TestPluginTypeReapsOrphans(t *testing.T) {
	h := open(t, folder(t, "alpha"))
	r, ok := lookup(t, h, "misbehave").(tasks.OrphanReaper)
	if !ok {
		t.Fatal("a plugin type is not a tasks.OrphanReaper")
	}
	if _, ok := lookup(t, h, "misbehave").(tasks.ParamValidator); !ok {
		t.Fatal("a plugin type lost its validator")
	}
	orphan := exec.Command("/bin/sleep", "300")
	orphan.Env = []string{"CAIRN_RUN_ID=r9", "CAIRN_TASK_ID=t", "CAIRN_ATTEMPT=2"}
	if err := orphan.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = orphan.Process.Kill(); _ = orphan.Wait() })
	if err := r.ReapOrphans(context.Background(), "r9", "t", 2); err != nil {
		t.Fatal(err)
	}
	if alive(orphan.Process.Pid) {
		t.Fatal("the attempt's orphan survived ReapOrphans")
	}
}

// TestWarmProcessAfterIdle: a process left idle for longer than go-plugin
// keeps the connection info of the host's Artifacts service (5 s: the
// discovery process, kept warm after Open, or one between two attempts)
// still runs attempts. Before, the plugin's first dial of the service
// came too late and failed ("dial the host's artifact service: timeout
// waiting for connection info") in every attempt the process ran.
func TestWarmProcessAfterIdle(t *testing.T) {
	t.Parallel()
	h := open(t, folder(t, "alpha"))
	task := lookup(t, h, "misbehave")
	var pid string
	for i := range 2 {
		time.Sleep(6 * time.Second) // after Open, then between two attempts
		res, err, log := attempt(t, context.Background(), task, `{"mode":"pid"}`)
		if err != nil {
			t.Fatalf("attempt %d after 6 s idle: %v\n%s", i+1, err, log)
		}
		if !strings.Contains(log, "(warm process)") || pid != "" && string(res.Outputs["value"]) != pid {
			t.Errorf("attempt %d: pid %s, log %q, want the warm process %s", i+1, res.Outputs["value"], log, pid)
		}
		pid = string(res.Outputs["value"])
	}
}

// A plugin that hangs at start — a wrapper script whose child sleeps and
// keeps the plugin's stdout and stderr — costs the start timeout, not the
// child's life: the start is given up, the whole plugin (the child too)
// killed, and the same host does not start it again (trial 13-15). Both
// ways of holding a plugin's processes: its cgroup, where there is one,
// and without.
func TestHungStartOfAWrapperIsKilledWhole(t *testing.T) {
	for _, noCgroup := range []bool{false, true} {
		t.Run(fmt.Sprintf("NoCgroup=%v", noCgroup), func(t *testing.T) {
			if !noCgroup && !proctree.CgroupAvailable() {
				t.Skip("no cgroup v2 to write here")
			}
			root := t.TempDir()
			o := plugins.Options{Dir: filepath.Join(root, "plugins"), LockFile: filepath.Join(root, "plugins.lock"),
				StartTimeout: time.Second, KillGrace: 500 * time.Millisecond, NoCgroup: noCgroup}
			if err := os.Mkdir(o.Dir, 0o755); err != nil {
				t.Fatal(err)
			}
			pidFile := filepath.Join(root, "child.pid")
			starts := filepath.Join(root, "starts")
			script := fmt.Sprintf("#!/bin/sh\necho >> %s\nsleep 300 &\necho $! > %s\nwait\n", starts, pidFile)
			if err := os.WriteFile(filepath.Join(o.Dir, "sleepy"), []byte(script), 0o755); err != nil {
				t.Fatal(err)
			}
			install(t, o.Dir, "good", bins.plugin, 0o755)
			if _, err := pluginsLock(o); err != nil {
				t.Fatal(err)
			}
			type opened struct {
				h   *plugins.Host
				err error
			}
			ch := make(chan opened, 1)
			begin := time.Now()
			go func() {
				h, err := plugins.Open(context.Background(), o)
				ch <- opened{h, err}
			}()
			var r opened
			select {
			case r = <-ch:
			case <-time.After(o.StartTimeout + 5*time.Second):
				if b, err := os.ReadFile(pidFile); err == nil {
					pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
					syscall.Kill(pid, syscall.SIGKILL) // lets the test end
				}
				r = <-ch
				t.Fatalf("Open returned after %v, want within the start timeout (%v) and a few seconds", time.Since(begin), o.StartTimeout)
			}
			if r.err != nil {
				t.Fatal(r.err)
			}
			h := r.h
			defer h.Close()
			b, err := os.ReadFile(pidFile)
			if err != nil {
				t.Fatal(err)
			}
			child, err := strconv.Atoi(strings.TrimSpace(string(b)))
			if err != nil {
				t.Fatal(err)
			}
			if alive(child) {
				syscall.Kill(child, syscall.SIGKILL)
				t.Errorf("the wrapper's child %d outlived the plugin's failed start", child)
			}
			var sleepy *plugins.Plugin
			for _, p := range h.Plugins() {
				if p.Name == "sleepy" {
					sleepy = &p
				}
			}
			if sleepy == nil || sleepy.Err == nil || !strings.Contains(sleepy.Err.Error(), "timeout") {
				t.Fatalf("sleepy = %+v, want a start timeout", sleepy)
			}
			// The good plugin still serves.
			if _, err, _ := attempt(t, context.Background(), lookup(t, h, "good-echo"), `{"text":"hi"}`); err != nil {
				t.Error(err)
			}
			if b, _ := os.ReadFile(starts); len(b) != 1 {
				t.Errorf("sleepy was started %d times, want once", len(b))
			}
			h.Close()
			if kids := children(t); len(kids) > 0 {
				t.Errorf("plugin processes left behind after Close: %v", kids)
			}
		})
	}
}

// A plugin whose process, started again after one died, hangs at start is
// not started once more by the next attempt: that fails at once, naming
// the failed start.
func TestFailedStartIsNotTriedAgain(t *testing.T) {
	root := t.TempDir()
	o := plugins.Options{Dir: filepath.Join(root, "plugins"), LockFile: filepath.Join(root, "plugins.lock"),
		StartTimeout: time.Second, KillGrace: 500 * time.Millisecond}
	if err := os.Mkdir(o.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	starts, marker := filepath.Join(root, "starts"), filepath.Join(root, "started")
	script := fmt.Sprintf("#!/bin/sh\necho >> %s\nif [ -e %s ]; then sleep 300; fi\n: > %s\nexec %s\n", starts, marker, marker, bins.plugin)
	if err := os.WriteFile(filepath.Join(o.Dir, "flaky"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := pluginsLock(o); err != nil {
		t.Fatal(err)
	}
	h := open(t, o)
	task := lookup(t, h, "misbehave")
	if _, err, _ := attempt(t, context.Background(), task, `{"mode":"crash"}`); err == nil {
		t.Fatal("crash succeeded")
	}
	begin := time.Now()
	_, err1, _ := attempt(t, context.Background(), task, `{"mode":"pid"}`)
	_, err2, _ := attempt(t, context.Background(), task, `{"mode":"pid"}`)
	if err1 == nil || err2 == nil || !strings.Contains(err2.Error(), "timeout") {
		t.Fatalf("errors %v and %v, want two failed starts", err1, err2)
	}
	if took := time.Since(begin); took > o.StartTimeout+5*time.Second {
		t.Errorf("the two attempts took %v", took)
	}
	if b, _ := os.ReadFile(starts); len(b) != 2 {
		t.Errorf("flaky was started %d times, want twice (at Open and once after the crash)", len(b))
	}
}

// A plugin's result is bounded as a shell task's and a worker's are: a
// value output at most 1 MiB, a message at most 64 MiB, 256 outputs, 1,000
// metrics; and its outputs are those its type declares (trial 13-14).
func TestResultIsBounded(t *testing.T) {
	h := open(t, folder(t, "alpha"))
	task := lookup(t, h, "misbehave")
	for _, c := range []struct{ mode, inErr string }{
		{"big", fmt.Sprintf(`plugin broke the protocol: output "value" is %d bytes, over the %d`, tasks.MaxValueBytes+1, tasks.MaxValueBytes)},
		{"huge", "plugin broke the protocol: a message of the attempt is over 67108864 bytes"},
		{"outputs", "plugin broke the protocol: 1001 outputs, at most 256"},
		{"metrics", "plugin broke the protocol: 1001 metrics, at most 1000"},
		{"undeclared", `plugin broke the protocol: output "../../etc" (1 bytes) is not one type "misbehave" declares`},
	} {
		res, err, _ := attempt(t, context.Background(), task, fmt.Sprintf(`{"mode":%q}`, c.mode))
		if err == nil || !strings.Contains(err.Error(), c.inErr) {
			t.Errorf("%s: err %.300v, outputs %d, want %q", c.mode, err, len(res.Outputs), c.inErr)
		}
	}
	if _, err, _ := attempt(t, context.Background(), task, `{"mode":"pid"}`); err != nil {
		t.Error(err)
	}
}

// A plugin's text that would drive a terminal or reorder a page — an
// escape sequence or a bidi control in its version, a type's summary or a
// param's doc — is refused at the handshake: the plugin, or the type,
// is not served, and the problem names it escaped (trial 13-4).
func TestControlCharactersAreRefusedAtTheHandshake(t *testing.T) {
	h := open(t, folder(t, "badversion", "badtext"))
	for _, p := range h.Plugins() {
		switch p.Name {
		case "badversion":
			if p.Err == nil || !strings.Contains(p.Err.Error(), `its version "1.2.3\x1b[5mblink" holds control or format characters`) {
				t.Errorf("badversion: version %q, err %v", p.Version, p.Err)
			}
		case "badtext":
			if p.Err != nil {
				t.Errorf("badtext: %v", p.Err)
			}
		}
	}
	if _, ok := h.Lookup("badtext-echo"); !ok {
		t.Error("badtext-echo, whose text is plain, is not served")
	}
	var problems []string
	for _, err := range h.Problems() {
		problems = append(problems, err.Error())
	}
	all := strings.Join(problems, "\n")
	for _, want := range []string{
		`task type "badtext-summary": its summary "red \x1b[31mRED\x1b[0m \x1b]0;TITLE\a" holds control`,
		`task type "badtext-doc": its param "text"'s doc "clear\x1b[2J" holds control`,
		`task type "badtext-bidi": its param "text"'s doc "\u202eevil" holds control`,
	} {
		if !strings.Contains(all, want) {
			t.Errorf("problems lack %s:\n%s", want, all)
		}
	}
	for _, name := range []string{"badtext-summary", "badtext-doc", "badtext-bidi"} {
		if _, ok := h.Lookup(name); ok {
			t.Errorf("%s is served", name)
		}
	}
	if strings.ContainsFunc(all, func(r rune) bool { return r == 0x1b || r == 0x202e }) {
		t.Errorf("the problems hold the raw characters:\n%q", all)
	}
}

// A plugin process makes its gRPC socket in the host's own folder, named
// for the host's process as an attempt's scratch folder is
// (executor.MakeScratch), never loose in the temporary folder: a plugin
// process killed with -9 (as it is when its host is) cannot remove its
// socket, and Close removes the folder with what is in it; what a host
// killed with -9 leaves, the next command's executor.SweepScratch removes.
func TestPluginSocketsInTheHostsFolder(t *testing.T) {
	o := folder(t, "alpha")
	// A short folder: t.TempDir's paths are too long for a socket in a
	// scratch folder in them (the host then leaves the socket to go-plugin).
	tmp, err := os.MkdirTemp("/tmp", "cs")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(tmp) })
	t.Setenv("TMPDIR", tmp)
	h, err := plugins.Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	pid := pidOf(t, lookup(t, h, "misbehave"))
	// The host's own broker sockets are in its temporary folder (go-plugin
	// gives no way to move them); the plugin's are in a cairn-work-* one.
	folders, _ := filepath.Glob(filepath.Join(tmp, "cairn-work-*"))
	if len(folders) != 1 {
		t.Fatalf("cairn-work-* folders in the temporary folder: %v, want one", folders)
	}
	if socks, _ := filepath.Glob(filepath.Join(folders[0], "plugin*")); len(socks) == 0 {
		t.Fatalf("no plugin socket in %s", folders[0])
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the plugin process to die", func() bool { return !alive(pid) })
	h.Close()
	if entries, _ := os.ReadDir(tmp); len(entries) != 0 {
		t.Fatalf("after Close the temporary folder holds %v", entries)
	}
	if kids := children(t); len(kids) > 0 {
		t.Errorf("plugin processes left behind after Close: %v", kids)
	}
}
