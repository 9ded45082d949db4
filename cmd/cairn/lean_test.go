package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// leanPair is the lean build TestMain made and the full build beside it;
// the test is skipped when CAIRN_TEST_BIN gave another binary.
func leanPair(t *testing.T) (lean, full string) {
	t.Helper()
	full = filepath.Join(filepath.Dir(cairnBin), fullBuildName)
	out, err := exec.Command(cairnBin, "version").Output()
	if err != nil {
		t.Fatalf("cairn version: %v", err)
	}
	if !strings.Contains(string(out), "\nbuild  lean ") {
		t.Skipf("the binary under test is not a lean build:\n%s", out)
	}
	if _, err := os.Stat(full); err != nil {
		t.Skipf("no full build beside the binary under test: %v", err)
	}
	return cairnBin, full
}

// runBin runs bin with args in home and returns what it printed and its
// exit code.
func runBin(t *testing.T, bin, home string, args ...string) result {
	t.Helper()
	return (&env{t: t, home: home, bin: bin}).cairn(args...)
}

// TestLeanVersionNamesTheBuild: both builds print the same version and
// commit (a run's attempts and cache keys hold them: implVersion), each
// naming which build it is.
func TestLeanVersionNamesTheBuild(t *testing.T) {
	t.Parallel()
	lean, full := leanPair(t)
	home := t.TempDir()
	l := runBin(t, lean, home, "version")
	f := runBin(t, full, home, "version")
	if l.code != 0 || f.code != 0 {
		t.Fatalf("version: lean %s\nfull %s", l, f)
	}
	if !strings.HasSuffix(f.stdout, "\nbuild  full\n") || !strings.Contains(l.stdout, "\nbuild  lean (") || !strings.Contains(l.stdout, fullBuildName) {
		t.Errorf("version does not name the build:\nlean:\n%s\nfull:\n%s", l.stdout, f.stdout)
	}
	first := func(s string) string { return s[:strings.Index(s, "\nbuild ")] }
	if first(l.stdout) != first(f.stdout) {
		t.Errorf("the builds' versions differ:\nlean:\n%s\nfull:\n%s", l.stdout, f.stdout)
	}
	// A cairn-full handed a command by a cairn of another version refuses
	// it (their runs' attempts and cache keys would name another version).
	cmd := exec.Command(full, "--home", home, "runs")
	cmd.Env = append(testEnviron(), "CAIRN_HOME="+home, envHandedOff+"=cairn 0.0.1-other")
	out, err := cmd.CombinedOutput()
	if ee := (*exec.ExitError)(nil); !errors.As(err, &ee) || ee.ExitCode() != 1 ||
		!strings.Contains(string(out), `by a cairn of another version (CAIRN_HANDED_OFF="cairn 0.0.1-other" in the environment): install both binaries of one 'make build'`) {
		t.Errorf("cairn-full handed a command by another version: %v\n%s", err, out)
	}
	// Both know the same commands and flags.
	for _, args := range [][]string{{"completion", "bash"}, {"completion", "zsh"}, {"help"}, {"help", "server"}, {"help", "plugins"}, {"server", "--help"}} {
		l, f := runBin(t, lean, home, args...), runBin(t, full, home, args...)
		if l.code != 0 || l.stdout != f.stdout || l.stderr != f.stderr {
			t.Errorf("%s: the builds differ:\nlean %s\nfull %s", strings.Join(args, " "), l, f)
		}
	}
}

// TestLeanHandsTheServerOff: cairn server through the lean build is the
// full build's server in the same process (the same pid: the claim and
// the server's info file name the process started), and it stops as one.
func TestLeanHandsTheServerOff(t *testing.T) {
	t.Parallel()
	_, full := leanPair(t)
	e := newEnv(t)
	s := e.startServer(nil)
	exe, err := os.Readlink("/proc/" + strconv.Itoa(s.pid()) + "/exe")
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := filepath.EvalSymlinks(full); exe != want {
		t.Errorf("the server's process executes %s, want the full build %s", exe, want)
	}
	if cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(s.pid()) + "/cmdline"); err != nil || !bytes.HasPrefix(cmdline, []byte(cairnBin+"\x00")) {
		t.Errorf("the server's command line does not start with the name it was started as, %s: %q, %v", cairnBin, cmdline, err)
	}
	if code, _ := s.get("/healthz"); code != 200 {
		t.Errorf("GET /healthz: %d", code)
	}
	s.term()
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		t.Fatal("the server did not stop on SIGTERM")
	}
	// 143: a command ended by SIGTERM says so (main.go).
	if code := s.cmd.ProcessState.ExitCode(); code != 143 {
		t.Errorf("the server ended with %v, want exit 143\n%s", s.err, s.stderr.String())
	}
}

// TestLeanAlone: the lean build with no cairn-full beside it runs what
// needs neither the server nor a plugin, and refuses what does — saying
// what to install, before it writes anything.
func TestLeanAlone(t *testing.T) {
	t.Parallel()
	lean, _ := leanPair(t)
	dir := t.TempDir()
	alone := filepath.Join(dir, "cairn")
	copyFile(t, lean, alone, 0o755)
	wf := writeWorkflow(t, "one.yaml", "name: one\ntasks:\n  - id: a\n    type: noop\n")

	home := t.TempDir()
	if r := runBin(t, alone, home, "run", wf, "--quiet"); r.code != 0 {
		t.Fatalf("run of built-in types without cairn-full: %s", r)
	}
	r := runBin(t, alone, home, "server", "--addr", "127.0.0.1:0")
	if r.code != 1 || !strings.Contains(r.stderr, "cairn server: the web server is in the full build, cairn-full, and this is the lean one: there is no cairn-full beside "+alone+": install both binaries") {
		t.Errorf("server without cairn-full: %s", r)
	}
	if r := runBin(t, alone, home, "plugins", "list"); r.code != 1 || !strings.Contains(r.stderr, "there is no cairn-full beside") {
		t.Errorf("plugins list without cairn-full: %s", r)
	}
	// Help, completion and a bad flag are the lean build's own.
	for _, c := range []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"server", "--help"}, 0, "usage: cairn server "},
		{[]string{"help", "plugins"}, 0, "usage: cairn plugins "},
		{[]string{"completion", "bash"}, 0, "--insecure-no-auth"},
		{[]string{"server", "--bogus"}, 2, ""},
		{[]string{"plugins", "list", "--jsn"}, 2, ""},
	} {
		r := runBin(t, alone, home, c.args...)
		if r.code != c.code || !strings.Contains(r.stdout, c.out) || strings.Contains(r.stderr, fullBuildName) {
			t.Errorf("%s without cairn-full: %s", strings.Join(c.args, " "), r)
		}
	}

	// A home with plugins: a workflow of built-in types still runs here
	// (its types are all built in: the plugins could add none of them);
	// one that needs a plugin's type is refused before the database exists.
	ph := t.TempDir()
	if err := os.MkdirAll(filepath.Join(ph, "plugins"), 0o700); err != nil {
		t.Fatal(err)
	}
	copyFile(t, alone, filepath.Join(ph, "plugins", "kmeans"), 0o755)
	if r := runBin(t, alone, ph, "run", wf, "--quiet"); r.code != 0 {
		t.Fatalf("run of built-in types in a home with plugins, without cairn-full: %s", r)
	}
	if err := os.Remove(filepath.Join(ph, "cairn.db")); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"cairn.db-wal", "cairn.db-shm"} {
		os.Remove(filepath.Join(ph, f))
	}
	r = runBin(t, alone, ph, "run", "../../workflows/examples/iris-kmeans.yaml", "--quiet")
	if r.code != 1 || !strings.Contains(r.stderr, "and the plugins' task types cannot be read: the plugin host (the plugins folder "+filepath.Join(ph, "plugins")+" holds kmeans) is in the full build, cairn-full") ||
		!strings.Contains(r.stderr, `unknown task type "kmeans"`) {
		t.Errorf("run of a plugin's type without cairn-full: %s", r)
	}
	if _, err := os.Stat(filepath.Join(ph, "cairn.db")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the refused run left a database: %v", err)
	}
	for _, args := range [][]string{{"types"}, {"validate", "../../workflows/examples/iris-kmeans.yaml"}, {"graph", "../../workflows/examples/iris-kmeans.yaml"}} {
		if r := runBin(t, alone, ph, args...); r.code != 1 || !strings.Contains(r.stderr, "holds kmeans) is in the full build") {
			t.Errorf("%s in a home with plugins, without cairn-full: %s", args[0], r)
		}
	}
	// A file of built-in types is validated and drawn without them.
	for _, args := range [][]string{{"validate", wf}, {"graph", wf}} {
		if r := runBin(t, alone, ph, args...); r.code != 0 || r.stderr != "" {
			t.Errorf("%s of built-in types in a home with plugins, without cairn-full: %s", args[0], r)
		}
	}

	// A file the built-in types cannot read for other reasons than a type
	// is refused as it is, whatever the plugins could add.
	bad := writeWorkflow(t, "bad.yaml", "name: bad\ntasks:\n  - id: a\n    type: noop\n    nedds: []\n")
	if r := runBin(t, alone, ph, "run", bad); r.code != 2 || !strings.Contains(r.stderr, "nedds") || strings.Contains(r.stderr, fullBuildName) {
		t.Errorf("run of a bad file in a home with plugins, without cairn-full: %s", r)
	}
	// A cairn-full that is a lean build too is refused, not handed to again.
	copyFile(t, lean, filepath.Join(dir, fullBuildName), 0o755)
	r = runBin(t, alone, home, "server", "--addr", "127.0.0.1:0")
	if r.code != 1 || !strings.Contains(r.stderr, "was itself started by a hand-off (CAIRN_HANDED_OFF=") || !strings.Contains(r.stderr, "it was handed to is a lean build too") {
		t.Errorf("server with a lean cairn-full: %s", r)
	}
}

// TestLeanRunsAPluginsType: a workflow of a plugin's type, run and
// validated through the lean build, runs in the full build (with its
// warnings, none of the lean build's).
func TestLeanRunsAPluginsType(t *testing.T) {
	t.Parallel()
	leanPair(t)
	e := &env{t: t, home: pluginHome(t)}
	r := e.must(0, "validate", "../../workflows/examples/iris-kmeans.yaml")
	if !strings.Contains(r.stdout, ": ok: workflow ") || r.stderr != "" {
		t.Errorf("validate: %s", r)
	}
	r = e.must(0, "run", "../../workflows/examples/iris-kmeans.yaml", "--quiet")
	if strings.Contains(r.stderr, "lean") || strings.Contains(r.stderr, fullBuildName) {
		t.Errorf("the hand-off showed: %s", r)
	}
	if r := e.must(0, "types", "kmeans"); !strings.HasPrefix(r.stdout, "kmeans: ") {
		t.Errorf("types kmeans: %s", r)
	}
}

// TestLeanKeepsASignal: a SIGTERM that reaches the lean build before it
// hands off (here while it parses a large file that needs a plugin's type)
// ends the command as it would have ended it in cairn-full: exit 143 (or
// the signal itself, in the moment before the exec), no run created.
func TestLeanKeepsASignal(t *testing.T) {
	t.Parallel()
	leanPair(t)
	e := &env{t: t, home: pluginHome(t)}
	// The example of a plugin's type, with 30,000 noop tasks more.
	src, err := os.ReadFile("../../workflows/examples/iris-kmeans.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir, err := filepath.Abs("../../workflows/examples")
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	sb.WriteString(strings.ReplaceAll(string(src), "${{ workflow.dir }}", dir))
	for i := 0; i < 30000; i++ {
		fmt.Fprintf(&sb, "\n  - id: t%d\n    type: noop", i)
	}
	wf := writeWorkflow(t, "big.yaml", sb.String()+"\n")
	for _, delay := range []time.Duration{50 * time.Millisecond, 150 * time.Millisecond} {
		p := e.startWith(nil, "run", wf, "--quiet")
		time.Sleep(delay)
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		select {
		case <-p.done:
		case <-time.After(cmdTimeout):
			t.Fatal("the run did not end after SIGTERM")
		}
		st := p.cmd.ProcessState
		ws, _ := st.Sys().(syscall.WaitStatus)
		if st.ExitCode() != 143 && !(ws.Signaled() && ws.Signal() == syscall.SIGTERM) {
			t.Errorf("SIGTERM %v after the start: %v\n%s", delay, st, p.stderr.String())
		}
	}
	if r := e.cairn("runs", "--json"); r.code == 0 && strings.Contains(r.stdout, `"state": "succeeded"`) {
		t.Errorf("a run ended by SIGTERM succeeded:\n%s", r.stdout)
	}
}
