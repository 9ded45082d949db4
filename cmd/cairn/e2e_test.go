package main

// End-to-end tests of the real cairn binary: TestMain builds it once, and
// every test runs it as a subprocess against its own --home.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
)

var cairnBin string // the binary under test, built by TestMain

// TestMain builds the binaries under test as users install them: the
// lean build as cairn and the full one beside it as cairn-full (handoff.go),
// each with a plain go build, so that every test through cairnBin that
// needs the server or a plugin goes through the hand-off. With
// CAIRN_TEST_BIN set, the tests run that binary instead, and the
// cairn-full beside it if there is one (make build's, which are linked
// statically on Linux: CAIRN_TEST_BIN=$PWD/bin/cairn).
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "cairn-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cairnBin = filepath.Join(dir, "cairn")
	full := filepath.Join(dir, fullBuildName)
	builds := []*exec.Cmd{exec.Command("go", "build", "-tags", "lean", "-o", cairnBin, "."), exec.Command("go", "build", "-o", full, ".")}
	if bin := os.Getenv("CAIRN_TEST_BIN"); bin != "" {
		builds = []*exec.Cmd{exec.Command("cp", bin, cairnBin)}
		if beside := filepath.Join(filepath.Dir(bin), fullBuildName); func() bool { _, err := os.Stat(beside); return err == nil }() {
			builds = append(builds, exec.Command("cp", beside, full))
		}
	}
	for _, build := range builds {
		if out, err := build.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build cairn: %v\n%s", err, out)
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// cmdTimeout bounds every foreground invocation, so that a hang fails the
// test instead of stalling the suite.
const cmdTimeout = 60 * time.Second

// env is one isolated cairn installation: a state folder of its own.
type env struct {
	t    *testing.T
	home string
	db   string // CAIRN_DB of every command ("": the home's cairn.db)
	bin  string // the binary ("": cairnBin)
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return &env{t: t, home: t.TempDir()}
}

func (e *env) command(ctx context.Context, args ...string) *exec.Cmd {
	bin := cairnBin
	if e.bin != "" {
		bin = e.bin
	}
	cmd := exec.CommandContext(ctx, bin, append([]string{"--home", e.home}, args...)...)
	// Never let the binary near the user's real state, nor their server.
	cmd.Env = append(testEnviron(), "CAIRN_HOME="+e.home)
	if e.db != "" {
		cmd.Env = append(cmd.Env, "CAIRN_DB="+e.db)
	}
	return cmd
}

// testEnviron is the test's environment without a server or a database
// the user may have set: a command talks to one only when a test says so.
func testEnviron() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CAIRN_SERVER=") && !strings.HasPrefix(kv, "CAIRN_TOKEN=") && !strings.HasPrefix(kv, "CAIRN_DB=") {
			out = append(out, kv)
		}
	}
	return out
}

type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout:\n%s--- stderr:\n%s", r.code, r.stdout, r.stderr)
}

// cairnIn runs the binary to its end in dir ("" for the test's own folder).
func (e *env) cairnIn(dir string, args ...string) result {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	cmd := e.command(ctx, args...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ee.Exited():
		r.code = ee.ExitCode()
	default:
		e.t.Fatalf("cairn %s: %v\n%s", strings.Join(args, " "), err, r)
	}
	return r
}

// cairn runs the binary to its end.
func (e *env) cairn(args ...string) result {
	e.t.Helper()
	return e.cairnIn("", args...) // "": the test's own folder
}

// must runs the binary and fails the test unless it exits with want.
func (e *env) must(want int, args ...string) result {
	e.t.Helper()
	r := e.cairn(args...)
	if r.code != want {
		e.t.Fatalf("cairn %s: want exit %d, got %s", strings.Join(args, " "), want, r)
	}
	return r
}

func (e *env) show(id string) runJSON {
	e.t.Helper()
	r := e.must(0, "show", id, "--json")
	var out runJSON
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		e.t.Fatalf("show --json: %v\n%s", err, r.stdout)
	}
	return out
}

func (e *env) runs(args ...string) []runJSON {
	e.t.Helper()
	return e.runsPage(args...).Runs
}

// runsPage is the page of runs --json prints: its runs and the next cursor.
func (e *env) runsPage(args ...string) runsJSON {
	e.t.Helper()
	r := e.must(0, append([]string{"runs", "--json"}, args...)...)
	var out runsJSON
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || out.Runs == nil {
		e.t.Fatalf("runs --json: %v\n%s", err, r.stdout)
	}
	return out
}

func runIDs(runs []runJSON) []string {
	ids := make([]string, len(runs))
	for i, r := range runs {
		ids[i] = r.ID
	}
	return ids
}

func taskByID(t *testing.T, r runJSON, id string) taskJSON {
	t.Helper()
	for _, tj := range r.Tasks {
		if tj.ID == id {
			return tj
		}
	}
	t.Fatalf("run %s has no task %s", r.ID, id)
	return taskJSON{}
}

// testdata returns the absolute path of a workflow under testdata/.
func testdata(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var runHeader = regexp.MustCompile(`(?m)^(?:run|resume) ([0-9a-z]{16}) `)

// runIDOf finds the run id in the header cairn run prints on stderr.
func runIDOf(t *testing.T, stderr string) string {
	t.Helper()
	m := runHeader.FindStringSubmatch(stderr)
	if m == nil {
		t.Fatalf("no run id in output:\n%s", stderr)
	}
	return m[1]
}

// syncBuffer is a bytes.Buffer safe for a writer and concurrent readers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// proc is a cairn process running in the background.
type proc struct {
	t              *testing.T
	cmd            *exec.Cmd
	stdout, stderr syncBuffer
	done           chan struct{}
	err            error // set when done is closed
}

// start starts cairn in the background; the test's cleanup kills it if it
// is still running.
func (e *env) start(args ...string) *proc {
	e.t.Helper()
	return e.startWith(nil, args...)
}

// startWith is start with extra environment variables.
func (e *env) startWith(env []string, args ...string) *proc {
	e.t.Helper()
	p := &proc{t: e.t, done: make(chan struct{})}
	p.cmd = e.command(context.Background(), args...)
	p.cmd.Env = append(p.cmd.Env, env...)
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	if err := p.cmd.Start(); err != nil {
		e.t.Fatalf("start cairn: %v", err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	e.t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// wait waits up to d for the process to exit and returns its exit status
// (-1 if killed by a signal).
func (p *proc) wait(d time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(d):
		p.t.Fatalf("cairn did not exit within %s\n--- stderr:\n%s", d, p.stderr.String())
	}
	if p.err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode()
	}
	p.t.Fatalf("wait: %v", p.err)
	return 0
}

// kill9 kills the process with SIGKILL and waits for it.
func (p *proc) kill9() {
	p.t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// runID waits for the run header on stderr and returns the run id.
func (p *proc) runID() string {
	p.t.Helper()
	var id string
	waitFor(p.t, 10*time.Second, "the run header", func() bool {
		if m := runHeader.FindStringSubmatch(p.stderr.String()); m != nil {
			id = m[1]
			return true
		}
		return p.exited()
	})
	if id == "" {
		p.t.Fatalf("cairn exited without a run header:\n%s", p.stderr.String())
	}
	return id
}

// waitFor polls cond until it holds, failing the test after d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// alive reports whether process pid exists and is not a zombie (PID 1 in
// a container may never reap the orphans it inherits).
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil {
		return !errors.Is(err, syscall.ESRCH)
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return !errors.Is(err, os.ErrNotExist)
	}
	// pid (comm) STATE ...; comm may hold spaces and parentheses.
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z'
	}
	return true
}

// readPid reads a pid a task wrote.
func readPid(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("pid file %s: %v", path, err)
	}
	return pid
}

// killGroupOnCleanup makes sure a task's process group, started by a
// cairn we may have killed, does not outlive the test. It kills only the
// process it saw now: pids are reused fast (pid_max is 32768 on some
// machines, and the suite starts many thousands of processes), and a
// cleanup that killed whatever holds the number by then would kill
// another test's processes.
func killGroupOnCleanup(t *testing.T, pid int) {
	start := startTicks(pid)
	t.Cleanup(func() {
		if pid > 0 && start != 0 && startTicks(pid) == start && alive(pid) {
			_ = syscall.Kill(-pid, syscall.SIGKILL)
		}
	})
}

// startTicks is when process pid started (field 22 of /proc/PID/stat, in
// clock ticks since boot), which tells it apart from a later process with
// the same pid; 0 when there is no such process.
func startTicks(pid int) int64 {
	start, ok := procStart(pid)
	if !ok {
		return 0
	}
	n, _ := strconv.ParseInt(start, 10, 64)
	return n
}

// hasEnv reports whether process pid's environment holds entry
// ("NAME=value").
func hasEnv(pid int, entry string) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		return false
	}
	for _, e := range bytes.Split(b, []byte{0}) {
		if string(e) == entry {
			return true
		}
	}
	return false
}

func expectGone(t *testing.T, pid int, what string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Errorf("%s (pid %d) is still running", what, pid)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// --- 1. validation and bad input -------------------------------------------

// TestValidateEscapesFileNames: a file name's control characters (an
// OSC sequence that retitles the terminal or writes its clipboard) are
// printed escaped, by validate's ok line and problems and by run's error.
func TestValidateEscapesFileNames(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dir := t.TempDir()
	good := filepath.Join(dir, "x\x1b]0;TITLE\x07y.yaml")
	bad := filepath.Join(dir, "e\x1b[31mvil.yaml")
	if err := os.WriteFile(good, []byte("name: fn\ntasks:\n  - id: x\n    type: noop\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("name: fn\ntasks:\n  - id: x\n    type: nope\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := e.must(2, "validate", good, bad)
	if strings.ContainsRune(r.stdout+r.stderr, 0x1b) || strings.ContainsRune(r.stdout, 0x07) {
		t.Fatalf("validate printed a control character raw:\n%q", r)
	}
	if !strings.Contains(r.stdout, `x\x1b]0;TITLE\x07y.yaml: ok`) || !strings.Contains(r.stderr, `e\x1b[31mvil.yaml:4:11: unknown task type "nope"`) {
		t.Errorf("validate's lines do not name the files escaped:\n%s", r)
	}
	if r := e.must(2, "run", bad); strings.ContainsRune(r.stderr, 0x1b) || !strings.Contains(r.stderr, `e\x1b[31mvil.yaml:4:11`) {
		t.Errorf("run's error names the file raw:\n%q", r.stderr)
	}
}

// manyProblemsFile writes a workflow of 40 tasks in dir, each with the
// same unknown key, and returns its path.
func manyProblemsFile(t *testing.T, dir string) string {
	t.Helper()
	var src strings.Builder
	src.WriteString("name: many\ntasks:\n")
	for i := range 40 {
		fmt.Fprintf(&src, "  - id: t%d\n    type: noop\n    depends_on: [x]\n", i)
	}
	path := filepath.Join(dir, "many.yaml")
	if err := os.WriteFile(path, []byte(src.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestValidateAll: a key misspelt in each of 40 tasks prints three of
// its problems and a count of the rest, with run as with validate;
// validate --all prints all 40.
func TestValidateAll(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	bad := manyProblemsFile(t, e.home)
	problem := regexp.MustCompile(regexp.QuoteMeta(bad) + `:\d+:5: unknown key "depends_on"\n`)
	const more = `... and 37 more problems: unknown key "depends_on" (37) ('cairn validate --all' lists every one)`
	for _, args := range [][]string{{"validate", bad}, {"run", bad}} {
		r := e.must(2, args...)
		if n := len(problem.FindAllString(r.stderr, -1)); n != 3 || !strings.Contains(r.stderr, more+"\n") || strings.Count(r.stderr, "hint: known keys") != 1 {
			t.Errorf("%s: %d problems printed, want 3, one hint and the rest counted:\n%s", args[0], n, r.stderr)
		}
	}
	r := e.must(2, "validate", "--all", bad)
	if n := len(problem.FindAllString(r.stderr, -1)); n != 40 || strings.Contains(r.stderr, "more problems") {
		t.Errorf("validate --all: %d problems printed, want 40:\n%s", n, r.stderr)
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	good := testdata(t, "alpha.yaml")
	r := e.must(0, "validate", good, testdata(t, "semantics.yaml"))
	if !strings.Contains(r.stdout, good+": ok: workflow alpha, 3 tasks, sha256:") {
		t.Errorf("validate of a good file: %s", r)
	}

	bad := testdata(t, "bad.yaml")
	r = e.must(2, "validate", good, bad)
	// Every problem, each at the position of its YAML node.
	for _, want := range []string{
		bad + `:4:11: unknown task type "shel"`,
		bad + `:5:5: unknown key "retires"`,
		bad + `:8:13: needs unknown task "zzz"`,
	} {
		if !strings.Contains(r.stderr, want+"\n") {
			t.Errorf("validate: missing %q in\n%s", want, r.stderr)
		}
	}
	problems := regexp.MustCompile(`(?m)^`+regexp.QuoteMeta(bad)+`:\d+:\d+: `).FindAllString(r.stderr, -1)
	if len(problems) != 3 {
		t.Errorf("want 3 problems as FILE:LINE:COL, got %d:\n%s", len(problems), r.stderr)
	}
	if !strings.Contains(r.stdout, good+": ok") {
		t.Errorf("the good file is still checked and reported alongside the bad one:\n%s", r)
	}
	if !strings.Contains(r.stderr, "1 file with problems") {
		t.Errorf("no summary line:\n%s", r.stderr)
	}
	e.must(2, "validate")                                     // no file: usage
	e.must(2, "validate", filepath.Join(e.home, "nope.yaml")) // missing file

	// run refuses a bad file, unknown params and ill-typed params before
	// creating anything.
	r = e.must(2, "run", bad)
	if !strings.Contains(r.stderr, bad+`:5:5: unknown key "retires"`) || !strings.Contains(r.stderr, "nothing was run") {
		t.Errorf("run of a bad file:\n%s", r)
	}
	iris := irisPath(t)
	data := irisData(t)
	r = e.must(2, "run", iris, "-p", "data="+data, "-p", "unknown=1")
	if !strings.Contains(r.stderr, `unknown param "unknown"`) {
		t.Errorf("unknown param:\n%s", r)
	}
	r = e.must(2, "run", iris, "-p", "data="+data, "-p", "min_rows=abc")
	if !strings.Contains(r.stderr, `"min_rows"`) || !strings.Contains(r.stderr, "int") {
		t.Errorf("ill-typed param:\n%s", r)
	}
	r = e.must(2, "run", iris) // the required param data is missing
	if !strings.Contains(r.stderr, "data") {
		t.Errorf("missing required param:\n%s", r)
	}
	e.must(2, "run", iris, "-p", "data") // not key=value
	e.must(2, "run", iris, "-p", "data=1", "-p", "data=2")
	e.must(2, "run") // no file

	if runs := e.runs(); len(runs) != 0 {
		t.Errorf("refused commands created runs: %v", runIDs(runs))
	}
}

func irisPath(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs("../../workflows/examples/iris-shell.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// irisData is the iris examples' data param: the name of a CSV of their
// data folder (never a path: a server runs them with what an operator
// gives).
func irisData(t *testing.T) string {
	t.Helper()
	return "iris.csv"
}

// --- 2. successful runs and inspecting them ----------------------------------

// TestRunQuiet: --quiet prints the summary on stdout and nothing on
// stderr — not the run's header line either — for a run that succeeds and
// one that fails.
func TestRunQuiet(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alpha := testdata(t, "alpha.yaml")
	e.must(0, "run", alpha) // the home made private, which its first run says
	for _, c := range []struct {
		code int
		args []string
		want string
	}{
		{0, nil, "SUCCEEDED"},
		{1, []string{"-p", "code=3"}, "final failed after 1 attempt"},
	} {
		r := e.must(c.code, append([]string{"run", alpha, "--quiet"}, c.args...)...)
		if r.stderr != "" || !strings.Contains(r.stdout, c.want) || !strings.Contains(r.stdout, "details: cairn show ") {
			t.Errorf("run --quiet %v:\n%s", c.args, r)
		}
	}
}

func TestRunAndInspect(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alpha := testdata(t, "alpha.yaml")

	// Four runs, in order: alpha ok, alpha failing, iris ok, alpha ok.
	var created []string
	r := e.must(0, "run", alpha)
	created = append(created, runIDOf(t, r.stderr))
	if !regexp.MustCompile(`run [0-9a-z]{16} SUCCEEDED in .*: 3 succeeded`).MatchString(r.stdout) {
		t.Errorf("summary:\n%s", r)
	}
	r = e.must(1, "run", alpha, "-p", "code=3")
	created = append(created, runIDOf(t, r.stderr))
	if !strings.Contains(r.stdout, "FAILED") || !strings.Contains(r.stdout, "final failed after 1 attempt: ") {
		t.Errorf("summary of a failed run:\n%s", r)
	}
	r = e.must(0, "run", irisPath(t), "-p", "data="+irisData(t))
	iris := runIDOf(t, r.stderr)
	created = append(created, iris)
	r = e.must(0, "run", alpha, "--progress", "none")
	created = append(created, runIDOf(t, r.stderr))
	if strings.Contains(r.stderr, "task hello") {
		t.Errorf("--progress none printed progress:\n%s", r.stderr)
	}
	newest := []string{created[3], created[2], created[1], created[0]}

	// runs: newest first, filters, pagination.
	all := e.runs()
	if got := runIDs(all); !slicesEqual(got, newest) {
		t.Fatalf("runs: want newest first %v, got %v", newest, got)
	}
	for i := 1; i < len(all); i++ {
		if all[i].CreatedAt.After(all[i-1].CreatedAt) {
			t.Errorf("runs not newest first by created_at: %v then %v", all[i-1].CreatedAt, all[i].CreatedAt)
		}
	}
	for _, rj := range all {
		if rj.StartedAt == nil || rj.FinishedAt == nil || rj.Digest == "" || rj.SourcePath == "" {
			t.Errorf("run %s lacks times, digest or source: %+v", rj.ID, rj)
		}
	}
	if all[2].State != "failed" || all[2].Params["code"] != float64(3) {
		t.Errorf("the failing run: %+v", all[2])
	}
	if got := runIDs(e.runs("--workflow", "alpha")); !slicesEqual(got, []string{created[3], created[1], created[0]}) {
		t.Errorf("--workflow alpha: %v", got)
	}
	if got := runIDs(e.runs("--workflow", "iris-shell")); !slicesEqual(got, []string{iris}) {
		t.Errorf("--workflow iris-shell: %v", got)
	}
	if got := runIDs(e.runs("--workflow", "nope")); len(got) != 0 {
		t.Errorf("--workflow nope: %v", got)
	}
	if got := runIDs(e.runs("--state", "failed")); !slicesEqual(got, []string{created[1]}) {
		t.Errorf("--state failed: %v", got)
	}
	if got := runIDs(e.runs("--state", "succeeded", "--workflow", "alpha")); !slicesEqual(got, []string{created[3], created[0]}) {
		t.Errorf("--state succeeded --workflow alpha: %v", got)
	}
	page1 := runIDs(e.runs("--limit", "2"))
	page2 := runIDs(e.runs("--limit", "2", "--before", page1[len(page1)-1]))
	page3 := runIDs(e.runs("--limit", "2", "--before", page2[len(page2)-1]))
	if !slicesEqual(page1, newest[:2]) || !slicesEqual(page2, newest[2:]) || len(page3) != 0 {
		t.Errorf("pages: %v %v %v, want %v", page1, page2, page3, newest)
	}
	r = e.must(0, "runs", "--limit", "2")
	if !strings.Contains(r.stderr, "more: cairn runs --limit 2 --before "+newest[1]+"\n") {
		t.Errorf("a full page should say how to get the next:\n%s", r)
	}
	if !strings.Contains(r.stdout, newest[0]) || strings.Contains(r.stdout, newest[2]) {
		t.Errorf("runs --limit 2 table:\n%s", r)
	}
	e.must(2, "runs", "--state", "bogus")
	e.must(2, "runs", "--limit", "0")

	// show: every task, its state, attempts and outputs.
	s := e.show(iris)
	if s.ID != iris || s.State != "succeeded" || s.Workflow != "iris-shell" || len(s.Tasks) != 5 {
		t.Fatalf("show iris: %+v", s)
	}
	for _, tj := range s.Tasks {
		if tj.State != "succeeded" || tj.Attempts < 1 || len(tj.Attempt) != tj.Attempts || tj.DurationMS == nil {
			t.Errorf("task %s: %+v", tj.ID, tj)
		}
		if string(tj.Outputs["exit_code"]) != "0" {
			t.Errorf("task %s: exit_code output %s", tj.ID, tj.Outputs["exit_code"])
		}
		for i, at := range tj.Attempt {
			if at.Number != i+1 || at.Worker == "" || at.StartedAt.IsZero() || at.FinishedAt == nil {
				t.Errorf("task %s attempt %d: %+v", tj.ID, i+1, at)
			}
		}
	}
	for _, id := range []string{"collect", "profile"} {
		var ref struct {
			Digest string `json:"digest"`
		}
		out := taskByID(t, s, id).Outputs
		key := map[string]string{"collect": "data", "profile": "profile"}[id]
		if err := json.Unmarshal(out[key], &ref); err != nil || !strings.HasPrefix(ref.Digest, "sha256:") {
			t.Errorf("task %s: output %s is not an artifact: %s", id, key, out[key])
		}
	}
	flaky := taskByID(t, s, "flaky-fetch")
	if flaky.Attempts != 2 || flaky.Attempt[0].State != "retrying" || !strings.Contains(flaky.Attempt[0].Error, "exit code 75") ||
		flaky.Attempt[1].State != "succeeded" {
		t.Errorf("flaky-fetch: %+v", flaky)
	}

	// show takes a unique prefix, and says when one is ambiguous or unknown.
	if p := e.show(iris[:12]); p.ID != iris {
		t.Errorf("show %s: got run %s", iris[:12], p.ID)
	}
	r = e.must(1, "show", iris[:4])
	if !strings.Contains(r.stderr, "several runs") {
		t.Errorf("ambiguous prefix:\n%s", r)
	}
	r = e.must(1, "show", "zzzzzzzz")
	if !strings.Contains(r.stderr, `no run "zzzzzzzz"`) {
		t.Errorf("unknown run:\n%s", r)
	}
	r = e.must(0, "show", iris[:12])
	for _, want := range []string{"state     succeeded", "flaky-fetch", "output  data = "} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("show (text) lacks %q:\n%s", want, r.stdout)
		}
	}

	// logs: the latest attempt by default, any attempt with --attempt.
	r = e.must(0, "logs", iris, "profile")
	if !strings.Contains(r.stdout, "species,rows,mean_petal_length_cm\nsetosa,50,1.462\nversicolor,50,4.260\nvirginica,50,5.552\nrows: 150\n") {
		t.Errorf("logs profile:\n%s", r)
	}
	r = e.must(0, "logs", iris[:12], "flaky-fetch")
	if !strings.Contains(r.stdout, "fetched on attempt 2") || strings.Contains(r.stdout, "transient error") {
		t.Errorf("logs flaky-fetch (latest):\n%s", r)
	}
	r = e.must(0, "logs", iris, "flaky-fetch", "--attempt", "1")
	if !strings.Contains(r.stdout, "transient error, try again") || strings.Contains(r.stdout, "fetched on attempt") ||
		!strings.Contains(r.stdout, "attempt 1 failed") {
		t.Errorf("logs flaky-fetch --attempt 1:\n%s", r)
	}
	r = e.must(1, "logs", iris, "flaky-fetch", "--attempt", "3")
	if !strings.Contains(r.stderr, "attempts 1 to 2") {
		t.Errorf("logs of a missing attempt:\n%s", r)
	}
	r = e.must(1, "logs", iris, "profil")
	if !strings.Contains(r.stderr, `did you mean "profile"`) {
		t.Errorf("logs of an unknown task:\n%s", r)
	}
	e.must(2, "logs", iris)

	// 7 (second half). A finished run cannot be resumed.
	r = e.must(1, "resume", iris)
	if !strings.Contains(r.stderr, "already succeeded") || !strings.Contains(r.stderr, "cairn run") {
		t.Errorf("resume of a finished run:\n%s", r)
	}
	if s := e.show(iris); s.State != "succeeded" || s.FinishedAt == nil || !s.FinishedAt.Equal(*all[1].FinishedAt) {
		t.Errorf("refused resume changed the run: %+v", s)
	}
}

func slicesEqual(a, b []string) bool {
	return strings.Join(a, ",") == strings.Join(b, ",")
}

// --- 3. failure semantics ------------------------------------------------------

func TestFailureSemantics(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	pids := t.TempDir()
	start := time.Now()
	r := e.must(1, "run", testdata(t, "semantics.yaml"), "-p", "pids="+pids)
	took := time.Since(start)
	id := runIDOf(t, r.stderr)
	if !strings.Contains(r.stdout, "FAILED") {
		t.Errorf("summary:\n%s", r)
	}
	s := e.show(id)
	if s.State != "failed" {
		t.Errorf("run state %s, want failed", s.State)
	}

	type want struct {
		state    string
		attempts int
		err      string // in the task's error
	}
	for task, w := range map[string]want{
		"ok":                 {"succeeded", 1, ""},
		"broken":             {"failed", 1, "exit code 3"},
		"after-broken":       {"upstream_failed", 0, "broken"},
		"after-after-broken": {"upstream_failed", 0, "after-broken"},
		"skipped":            {"skipped", 0, ""},
		"after-skipped":      {"skipped", 0, ""},
		"flaky":              {"succeeded", 3, ""},
		"slow":               {"failed", 1, "timed out after 500ms"},
		"missing":            {"failed", 1, "not found"}, // permanent: not retried despite retries: 3
		"boom":               {"failed", 2, "panic"},     // a panic is a retryable failure
		"after-boom":         {"upstream_failed", 0, "boom"},
		"independent":        {"succeeded", 1, ""},
	} {
		tj := taskByID(t, s, task)
		if string(tj.State) != w.state || tj.Attempts != w.attempts || len(tj.Attempt) != w.attempts ||
			!strings.Contains(tj.Error, w.err) || (w.err == "" && w.state == "succeeded" && tj.Error != "") {
			t.Errorf("task %s: want %s after %d attempt(s) with error %q, got %s after %d (%d in history): %q",
				task, w.state, w.attempts, w.err, tj.State, tj.Attempts, len(tj.Attempt), tj.Error)
		}
		for i, at := range tj.Attempt {
			if at.Number != i+1 {
				t.Errorf("task %s: attempt %d numbered %d", task, i+1, at.Number)
			}
			wantState := "retrying"
			if i == len(tj.Attempt)-1 {
				wantState = w.state
			}
			if string(at.State) != wantState {
				t.Errorf("task %s attempt %d: state %s, want %s", task, at.Number, at.State, wantState)
			}
		}
	}

	// Retries wait their backoff: 100ms, then 200ms (factor 2 by default),
	// at least 100ms in any case.
	flaky := taskByID(t, s, "flaky")
	for i := 1; i < len(flaky.Attempt); i++ {
		prev, cur := flaky.Attempt[i-1], flaky.Attempt[i]
		if prev.FinishedAt == nil {
			t.Fatalf("flaky attempt %d has no finish time", prev.Number)
		}
		if gap := cur.StartedAt.Sub(*prev.FinishedAt); gap < 100*time.Millisecond {
			t.Errorf("flaky attempt %d started %s after attempt %d failed, before its 100ms backoff", cur.Number, gap, prev.Number)
		}
		if !strings.Contains(prev.Error, "exit code 1") {
			t.Errorf("flaky attempt %d error: %q", prev.Number, prev.Error)
		}
	}
	for n, want := range map[string]string{"1": "flaky failure 1", "2": "flaky failure 2", "3": "flaky ok on attempt 3"} {
		r := e.must(0, "logs", id, "flaky", "--attempt", n)
		if !strings.Contains(r.stdout, want) {
			t.Errorf("logs flaky --attempt %s: want %q in\n%s", n, want, r.stdout)
		}
	}

	// The timed-out task's process was killed, not left behind.
	slowPid := readPid(t, filepath.Join(pids, "slow.pid"))
	killGroupOnCleanup(t, slowPid)
	expectGone(t, slowPid, "the timed-out task's process")
	if d := *taskByID(t, s, "slow").DurationMS; d < 450 || d > 5000 {
		t.Errorf("slow ran %dms; its timeout is 500ms", d)
	}

	// A panic fails the attempt with its stack; the process lives on and
	// finishes the run (independent, which outlasts the panics, succeeded).
	for _, at := range taskByID(t, s, "boom").Attempt {
		if !strings.Contains(at.Stack, "goroutine") || !strings.Contains(at.Stack, "noop") {
			t.Errorf("boom attempt %d: no stack in the attempt history: %q", at.Number, at.Stack)
		}
	}
	r = e.must(0, "logs", id, "boom", "--attempt", "1")
	if !strings.Contains(r.stdout, "panic requested by params") {
		t.Errorf("logs boom:\n%s", r)
	}
	r = e.must(0, "logs", id, "broken")
	if !strings.Contains(r.stdout, "about to fail") {
		t.Errorf("logs broken:\n%s", r)
	}
	r = e.must(1, "logs", id, "skipped")
	if !strings.Contains(r.stderr, "no attempts (it is skipped)") {
		t.Errorf("logs of a skipped task:\n%s", r)
	}
	if took > 20*time.Second {
		t.Errorf("the run took %s", took)
	}
}

// --- 8. help and unknown commands ---------------------------------------------

func TestHelp(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, c := range commands() {
		for _, flag := range []string{"--help", "-h"} {
			r := e.cairn(c.name, flag)
			if r.code != 0 || !strings.Contains(r.stdout, "usage: cairn "+c.name) {
				t.Errorf("cairn %s %s: want usage on stdout and exit 0, got %s", c.name, flag, r)
			}
		}
	}
	r := e.must(0, "run", "--help")
	if !strings.Contains(r.stdout, "-p KEY=VALUE") || !strings.Contains(r.stdout, "Ctrl-C") {
		t.Errorf("run --help lacks its flags:\n%s", r)
	}
	for _, args := range [][]string{{"--help"}, {"help"}, {"-h"}} {
		r := e.must(0, args...)
		for _, c := range commands() {
			if !c.hidden && !strings.Contains(r.stdout, "  "+c.name+" ") {
				t.Errorf("cairn %v: command %s missing from the usage:\n%s", args, c.name, r)
			}
		}
	}
	// A flag's placeholder is the command's own: backfill's --from and
	// --to take times, not migrate's database URLs.
	r = e.must(0, "backfill", "--help")
	if !strings.Contains(r.stdout, "--from TIME ") || !strings.Contains(r.stdout, "--to TIME ") || strings.Contains(r.stdout, "DSN") {
		t.Errorf("backfill --help: --from and --to do not take a TIME:\n%s", r)
	}
	// alerts' --before is an alert id, not a run's.
	if r = e.must(0, "alerts", "--help"); !strings.Contains(r.stdout, "--before ID ") {
		t.Errorf("alerts --help: --before does not take an ID:\n%s", r)
	}
	r = e.must(2)
	if !strings.Contains(r.stderr, "Commands:") {
		t.Errorf("cairn with no command:\n%s", r)
	}
	for typo, want := range map[string]string{"rnu": "run", "reusme": "resume", "shwo": "show", "valdate": "validate", "cancle": "cancel"} {
		r := e.must(2, typo)
		if !strings.Contains(r.stderr, fmt.Sprintf("unknown command %q (did you mean %q?)", typo, want)) {
			t.Errorf("cairn %s:\n%s", typo, r)
		}
	}
	r = e.must(2, "frobnicate")
	if !strings.Contains(r.stderr, `unknown command "frobnicate"`) || strings.Contains(r.stderr, "did you mean") {
		t.Errorf("cairn frobnicate:\n%s", r)
	}
	r = e.must(0, "types")
	if !strings.Contains(r.stdout, "shell") || !strings.Contains(r.stdout, "with.argv") {
		t.Errorf("types:\n%s", r)
	}
	e.must(2, "show", "--bogus-flag")
}
