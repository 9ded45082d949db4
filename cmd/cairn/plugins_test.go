package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairnml/cairn/plugins"
)

// A plugin binary is built once per test binary, next to the cairn
// binary TestMain builds (and removes).
type pluginBuild struct {
	once      sync.Once
	name, pkg string
	path      string
	err       error
}

var (
	kmeansPlugin = pluginBuild{name: "kmeans", pkg: "../../plugins/examples/kmeans"}
	testPlugin   = pluginBuild{name: "testplugin", pkg: "../../plugins/internal/testplugin"}
)

func (b *pluginBuild) bin(t *testing.T) string {
	t.Helper()
	b.once.Do(func() {
		b.path = filepath.Join(filepath.Dir(cairnBin), "plugins-build", b.name)
		out, err := exec.Command("go", "build", "-o", b.path, b.pkg).CombinedOutput()
		if err != nil {
			b.err = fmt.Errorf("build the %s plugin: %v\n%s", b.name, err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

func kmeansBin(t *testing.T) string { t.Helper(); return kmeansPlugin.bin(t) }

// pluginHome returns a fresh cairn home whose plugins folder holds the
// example kmeans plugin, pinned in its lock file.
func pluginHome(t *testing.T) string {
	t.Helper()
	home := t.TempDir()
	dir := filepath.Join(home, "plugins")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	copyFile(t, kmeansBin(t), filepath.Join(dir, "kmeans"), 0o755)
	if _, err := plugins.LockFolder(context.Background(), dir, filepath.Join(home, "plugins.lock")); err != nil {
		t.Fatal(err)
	}
	return home
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, mode); err != nil {
		t.Fatal(err)
	}
}

// processesOf lists the live processes of the plugin at path
// (HOME/plugins/NAME): those executing the file itself, or a copy in the
// home's plugin cache, which is what cairn executes.
func processesOf(path string) []string {
	cache := filepath.Join(filepath.Dir(filepath.Dir(path)), ".plugin-cache") + string(filepath.Separator)
	exes, _ := filepath.Glob("/proc/[0-9]*/exe")
	var pids []string
	for _, e := range exes {
		if target, err := os.Readlink(e); err == nil && (target == path || strings.HasPrefix(target, cache)) {
			stat, _ := os.ReadFile(filepath.Join(filepath.Dir(e), "stat"))
			if i := bytes.LastIndexByte(stat, ')'); i >= 0 && !bytes.HasPrefix(stat[i+2:], []byte("Z")) {
				pids = append(pids, filepath.Base(filepath.Dir(e)))
			}
		}
	}
	return pids
}

// The example workflow runs through the real binary with the plugin
// installed in its plugins folder: the plugin's outputs are recorded, its
// identity heads the task's log, the same inputs give the same bytes, and
// no plugin process outlives the command.
func TestPluginWorkflowEndToEnd(t *testing.T) {
	e := &env{t: t, home: pluginHome(t)}
	plugin := filepath.Join(e.home, "plugins", "kmeans")
	var digests []string
	for i := 0; i < 2; i++ {
		r := e.cairn("run", "../../workflows/examples/iris-kmeans.yaml", "--progress", "none")
		if r.code != 0 {
			t.Fatalf("run: %s", r)
		}
		id := e.cairn("runs", "-q", "--limit", "1").stdout
		id = strings.TrimSpace(id)
		show := e.cairn("show", id, "--json")
		var got struct {
			Tasks []struct {
				ID      string                     `json:"id"`
				Outputs map[string]json.RawMessage `json:"outputs"`
				History []struct {
					Plugin *struct {
						Name, Version, SHA256 string
						Protocol              int
					} `json:"plugin"`
				} `json:"attempt_history"`
			} `json:"tasks"`
		}
		if err := json.Unmarshal([]byte(show.stdout), &got); err != nil {
			t.Fatalf("show --json: %v\n%s", err, show)
		}
		lock, err := plugins.ReadLock(filepath.Join(e.home, "plugins.lock"))
		if err != nil {
			t.Fatal(err)
		}
		var outs map[string]json.RawMessage
		for _, tr := range got.Tasks {
			if tr.ID == "cluster" {
				outs = tr.Outputs
				// The attempt records the binary that ran it, durably.
				if len(tr.History) != 1 || tr.History[0].Plugin == nil || tr.History[0].Plugin.Name != "kmeans" ||
					tr.History[0].Plugin.Version != "0.1.0" || tr.History[0].Plugin.SHA256 != lock["kmeans"] || tr.History[0].Plugin.Protocol != 1 {
					t.Errorf("cluster's attempt history %+v", tr.History)
				}
			} else if len(tr.History) != 1 || tr.History[0].Plugin != nil {
				t.Errorf("%s (built in) attempt history %+v", tr.ID, tr.History)
			}
		}
		if text := e.cairn("show", id).stdout; !strings.Contains(text, "  plugin  attempt 1: kmeans 0.1.0, sha256:"+lock["kmeans"]+", protocol 1\n") {
			t.Errorf("show does not name the plugin:\n%s", text)
		}
		// Lineage records the implementation's version: the plugin
		// binary's sha256 for its type, Cairn's version for a built-in.
		var g struct {
			Attempts []struct{ ID, Type, Version string } `json:"attempts"`
		}
		if lj := e.cairn("lineage", id+"/cluster", "--format", "json"); lj.code != 0 || json.Unmarshal([]byte(lj.stdout), &g) != nil || len(g.Attempts) < 2 {
			t.Fatalf("lineage of the plugin's task: %s", lj)
		}
		for _, at := range g.Attempts {
			want := "cairn "
			if at.ID == id+"/cluster#1" {
				want = "sha256:" + lock["kmeans"]
			}
			if !strings.HasPrefix(at.Version, want) || at.ID == id+"/cluster#1" && at.Version != want {
				t.Errorf("lineage: attempt %s (%s) has version %q, want %q", at.ID, at.Type, at.Version, want)
			}
		}
		var sizes bytes.Buffer
		json.Compact(&sizes, outs["sizes"])
		if sizes.String() != "[50,62,38]" {
			t.Fatalf("cluster outputs %v\n%s", outs, show.stdout)
		}
		var ref struct{ Digest string }
		json.Unmarshal(outs["assignments"], &ref)
		digests = append(digests, ref.Digest)
		logs := e.cairn("logs", id, "cluster")
		if want := "cairn: plugin kmeans version 0.1.0, sha256:" + lock["kmeans"] + ", protocol 1, pid "; !strings.HasPrefix(logs.stdout, want) ||
			!strings.Contains(logs.stdout, "kmeans: 150 rows, 4 features") {
			t.Errorf("log of the plugin task, want it to start %q:\n%s", want, logs)
		}
		if pids := processesOf(plugin); len(pids) > 0 {
			t.Errorf("plugin processes %v outlived 'cairn run'", pids)
		}
	}
	if digests[0] != digests[1] || !strings.HasPrefix(digests[0], "sha256:") {
		t.Errorf("two runs gave different assignments: %v", digests)
	}
}

func TestPluginsCommands(t *testing.T) {
	e := &env{t: t, home: t.TempDir()}
	dir := filepath.Join(e.home, "plugins")
	os.Mkdir(dir, 0o755)
	copyFile(t, kmeansBin(t), filepath.Join(dir, "kmeans"), 0o755)

	// No lock file: nothing runs, and the workflow's type is unknown.
	r := e.cairn("plugins", "list")
	if r.code != 1 || !strings.Contains(r.stderr, "there is no lock file "+filepath.Join(e.home, "plugins.lock")) || !strings.Contains(r.stdout, "(not loaded)") {
		t.Fatalf("list without a lock file: %s", r)
	}
	r = e.cairn("validate", "../../workflows/examples/iris-kmeans.yaml")
	if r.code != 2 || !strings.Contains(r.stderr, `unknown task type "kmeans"`) || !strings.Contains(r.stderr, "known types: ") ||
		!strings.Contains(r.stderr, "cairn: warning: plugin kmeans not started") {
		t.Fatalf("validate without a lock file: %s", r)
	}
	// A run of built-in types does not look at the plugins (nor start them).
	noop := filepath.Join(t.TempDir(), "noop.yaml")
	if err := os.WriteFile(noop, []byte("name: plain\ntasks:\n  - {id: a, type: noop}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r = e.cairn("run", noop, "--quiet"); r.code != 0 || strings.Contains(r.stderr, "plugin") {
		t.Fatalf("run of a built-in type with an unpinned plugin beside: %s", r)
	}
	// A run of a plugin type does, and says why the type is unknown.
	if r = e.cairn("run", "../../workflows/examples/iris-kmeans.yaml"); r.code != 2 || !strings.Contains(r.stderr, `unknown task type "kmeans"`) ||
		!strings.Contains(r.stderr, "cairn: warning: plugin kmeans not started") || !strings.Contains(r.stderr, "nothing was run") {
		t.Fatalf("run of the plugin's type without a lock file: %s", r)
	}

	// Lock, then list; a non-executable entry is reported, the rest loads.
	copyFile(t, "../../workflows/examples/data/iris.csv", filepath.Join(dir, "notes.csv"), 0o644)
	r = e.cairn("plugins", "lock")
	if r.code != 1 || !strings.Contains(r.stderr, "pinned 1 plugin binaries") || !strings.Contains(r.stderr, "plugin notes.csv: not executable") {
		t.Fatalf("lock: %s", r)
	}
	sum := strings.Fields(readFile(t, filepath.Join(e.home, "plugins.lock")))[0]
	if !regexpMatch(`(?m)^kmeans\s+0\.1\.0\s+1\s+`+sum+`\s+kmeans$`, r.stdout) {
		t.Fatalf("lock's listing:\n%s", r)
	}
	if r = e.cairn("validate", "../../workflows/examples/iris-kmeans.yaml"); r.code != 0 {
		t.Fatalf("validate with the plugin pinned: %s", r)
	}
	// The plugin's own validator runs at validation time.
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("name: bad\ntasks:\n  - {id: c, type: kmeans, with: {k: 0}}\n"), 0o644)
	if r = e.cairn("validate", bad); r.code != 2 || !strings.Contains(r.stderr, "must be a whole number ≥ 1, got 0") {
		t.Fatalf("validate with k: 0: %s", r)
	}
	os.Remove(filepath.Join(dir, "notes.csv"))
	r = e.cairn("plugins", "list", "--json")
	var list struct {
		Plugins []struct {
			Name, SHA256, Version string
			Protocol              int
			Types                 []string
		}
		Problems []string
	}
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || r.code != 0 || len(list.Plugins) != 1 || list.Plugins[0].SHA256 != sum ||
		list.Plugins[0].Protocol != 1 || list.Plugins[0].Types[0] != "kmeans" || len(list.Problems) != 0 {
		t.Fatalf("list --json: %v\n%s", err, r)
	}

	// The binary changes: refused, with the reason.
	f, _ := os.OpenFile(filepath.Join(dir, "kmeans"), os.O_APPEND|os.O_WRONLY, 0)
	f.Write([]byte{0})
	f.Close()
	r = e.cairn("plugins", "list")
	if r.code != 1 || !strings.Contains(r.stderr, "the binary changed since it was pinned") {
		t.Fatalf("list after the binary changed: %s", r)
	}
	r = e.cairn("run", "../../workflows/examples/iris-kmeans.yaml")
	if r.code != 2 || !strings.Contains(r.stderr, `unknown task type "kmeans"`) || !strings.Contains(r.stderr, "nothing was run") {
		t.Fatalf("run with a changed plugin: %s", r)
	}

	r = e.cairn("plugins", "--help")
	if r.code != 0 || !strings.Contains(r.stdout, "usage: cairn plugins list|lock") {
		t.Fatalf("--help: %s", r)
	}
	if r = e.cairn("plugins", "pin"); r.code != 2 || !strings.Contains(r.stderr, `unknown subcommand "pin"`) {
		t.Fatalf("unknown subcommand: %s", r)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func regexpMatch(re, s string) bool { return regexp.MustCompile(re).MatchString(s) }

// testPluginBin builds plugins/internal/testplugin once per test binary.
func testPluginBin(t *testing.T) string { t.Helper(); return testPlugin.bin(t) }

// No plugin process outlives cairn: not after Ctrl-C during a plugin
// attempt, and not after kill -9 (the parent-death signal).
func TestPluginProcessesEndWithCairn(t *testing.T) {
	for _, how := range []string{"interrupt", "kill -9"} {
		t.Run(how, func(t *testing.T) {
			e := &env{t: t, home: t.TempDir()}
			dir := filepath.Join(e.home, "plugins")
			os.Mkdir(dir, 0o755)
			plugin := filepath.Join(dir, "alpha")
			copyFile(t, testPluginBin(t), plugin, 0o755)
			if _, err := plugins.LockFolder(context.Background(), dir, filepath.Join(e.home, "plugins.lock")); err != nil {
				t.Fatal(err)
			}
			wf := filepath.Join(t.TempDir(), "sleep.yaml")
			os.WriteFile(wf, []byte("name: sleep\ntasks:\n  - {id: s, type: misbehave, with: {mode: sleep}}\n"), 0o644)
			p := e.start("run", wf, "--progress", "lines")
			waitFor(t, 20*time.Second, "the plugin task to run", func() bool {
				return strings.Contains(p.stderr.String(), "task s running") || p.exited()
			})
			if len(processesOf(plugin)) == 0 {
				t.Fatalf("no plugin process while its task runs\n%s", p.stderr.String())
			}
			if how == "interrupt" {
				p.cmd.Process.Signal(os.Interrupt)
				if code := p.wait(20 * time.Second); code != 130 {
					t.Errorf("exit %d after Ctrl-C, want 130 (128+SIGINT)\n%s", code, p.stderr.String())
				}
				if pids := processesOf(plugin); len(pids) > 0 {
					t.Fatalf("plugin processes %v outlived cairn", pids)
				}
				return
			}
			p.kill9()
			waitFor(t, 10*time.Second, "the plugin process to die with cairn", func() bool { return len(processesOf(plugin)) == 0 })
		})
	}
}

// A workflow gives a plugin task environment variables with env:, from a
// param given at run time: the plugin sees the value, the host's own
// variables stay out, the log names the variables but holds no value;
// bad names are refused by validate; types lists env for plugin types.
func TestPluginEnvFromWorkflow(t *testing.T) {
	t.Setenv("CAIRN_TEST_SECRET", "hunter2")
	e := &env{t: t, home: t.TempDir()}
	dir := filepath.Join(e.home, "plugins")
	os.Mkdir(dir, 0o755)
	copyFile(t, testPluginBin(t), filepath.Join(dir, "alpha"), 0o755)
	if _, err := plugins.LockFolder(context.Background(), dir, filepath.Join(e.home, "plugins.lock")); err != nil {
		t.Fatal(err)
	}
	wf := filepath.Join(t.TempDir(), "greet.yaml")
	os.WriteFile(wf, []byte(`name: greet
params:
  word: {type: string}
tasks:
  - id: g
    type: getenv
    with:
      names: [GREETING, CAIRN_TEST_SECRET]
      env: {GREETING: "${{ params.word }}, world"}
`), 0o644)
	r := e.must(0, "run", wf, "-p", "word=bonjour", "--progress", "none")
	id := strings.TrimSpace(e.must(0, "runs", "-q", "--limit", "1").stdout)
	var values map[string]*string
	if err := json.Unmarshal(taskByID(t, e.show(id), "g").Outputs["values"], &values); err != nil {
		t.Fatalf("values: %v\n%s", err, r)
	}
	if g := values["GREETING"]; g == nil || *g != "bonjour, world" || values["CAIRN_TEST_SECRET"] != nil {
		t.Fatalf("the plugin saw %v, want GREETING=bonjour, world and no CAIRN_TEST_SECRET", values)
	}
	logs := e.must(0, "logs", id, "g").stdout
	if !strings.Contains(logs, "cairn: environment variables from env: GREETING (values not logged)") || strings.Contains(logs, "bonjour") {
		t.Errorf("log:\n%s", logs)
	}

	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("name: bad\ntasks:\n  - {id: g, type: getenv, with: {names: [], env: {PATH: /tmp, PORT: 80, 9LIVES: x}}}\n"), 0o644)
	r = e.must(2, "validate", bad)
	for _, want := range []string{"with.env: PATH is reserved", "with.env: PORT: want a string, got 80", `with.env: "9LIVES" is not a valid environment variable name`} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("validate lacks %q:\n%s", want, r)
		}
	}
	if r = e.must(0, "types"); !regexpMatch(`(?m)^getenv .*\n(  with\..*\n)*  with\.env\s+map\s+environment variables NAME: value`, r.stdout) {
		t.Errorf("types does not list getenv's env param:\n%s", r.stdout)
	}
}

// A required param a plugin type declares and a workflow leaves out is
// reported once by validate: the parser reports it, and the host's check
// against the type's Info says it about the same key.
func TestValidateReportsAMissingPluginParamOnce(t *testing.T) {
	e := &env{t: t, home: t.TempDir()}
	dir := filepath.Join(e.home, "plugins")
	os.Mkdir(dir, 0o755)
	copyFile(t, testPluginBin(t), filepath.Join(dir, "alpha"), 0o755)
	if _, err := plugins.LockFolder(context.Background(), dir, filepath.Join(e.home, "plugins.lock")); err != nil {
		t.Fatal(err)
	}
	wf := filepath.Join(t.TempDir(), "missing.yaml")
	os.WriteFile(wf, []byte("name: missing\ntasks:\n  - {id: g, type: getenv, with: {}}\n"), 0o644)
	r := e.must(2, "validate", wf)
	if n := strings.Count(r.stderr, `"names"`); n != 1 {
		t.Errorf("validate names the missing param %d times, want once:\n%s", n, r.stderr)
	}
}
