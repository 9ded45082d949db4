package main

// Tests of the commands that change a server's runs — run --server,
// trigger, retry, resume, cancel — against a real `cairn server` on the
// test's home, which runs the tasks.

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cairnml/cairn"
)

// writeAPI starts `cairn server` on env e's home, offering the workflow
// files of dir, without authentication (on loopback), and returns its URL.
func (e *env) writeAPI(dir string) string {
	e.t.Helper()
	srv := e.startServer(nil, "--workflows", dir, "--insecure-no-auth")
	return "http://" + srv.addr
}

// TestRunOnServer: run --server sends a file, follows the run there with
// the progress and summary of a local run, and exits as it ended; a bad
// file is refused with its problems where they are.
func TestRunOnServer(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	api := e.writeAPI(t.TempDir())
	r := e.must(0, "run", testdata(t, "alpha.yaml"), "--server", api, "--progress", "lines")
	id := runIDOf(t, r.stderr)
	for _, want := range []string{"run " + id + "  workflow alpha  3 tasks  (sha256:", "  on " + api + "\n", "task hello running", "task final succeeded", "run succeeded"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("run --server's progress lacks %q:\n%s", want, r.stderr)
		}
	}
	if !strings.HasPrefix(r.stdout, "run "+id+" SUCCEEDED in ") || !strings.Contains(r.stdout, "3 succeeded\n") ||
		!strings.HasSuffix(r.stdout, "details: cairn show "+id+" --server "+api+"\n") {
		t.Errorf("run --server's summary:\n%s", r.stdout)
	}
	// A run that fails: exit 1, the failed task and its log's command.
	r = e.must(1, "run", testdata(t, "alpha.yaml"), "-p", "code=3", "--server", api, "--quiet")
	id = runIDOf(t, r.stdout) // --quiet: the summary names it
	if !strings.Contains(r.stdout, "final failed after 1 attempt: ") || !strings.Contains(r.stdout, "log: cairn logs "+id+" final --server "+api) {
		t.Errorf("a failed run's summary:\n%s", r.stdout)
	}
	if got := e.show(id); got.State != cairn.RunFailed {
		t.Errorf("the run is %s in the home's database", got.State)
	}
	// --detach: the id alone on stdout.
	r = e.must(0, "run", testdata(t, "alpha.yaml"), "--server", api, "--detach", "--quiet")
	if !detachedID.MatchString(r.stdout) || r.stderr != "" {
		t.Errorf("run --server --detach --quiet:\n%s", r)
	}
	// A bad file: every problem, in the file as named, and nothing made.
	before := len(e.runs())
	r = e.must(2, "run", testdata(t, "bad.yaml"), "--server", api)
	if !strings.Contains(r.stderr, testdata(t, "bad.yaml")+":") || !strings.HasSuffix(r.stderr, "nothing was run\n") {
		t.Errorf("a bad file sent to the server:\n%s", r)
	}
	// Each problem's hint on a line of its own, as a local run prints it
	// (not escaped as \x0a).
	if !strings.Contains(r.stderr, `unknown key "retires"`+"\n\thint: did you mean \"retries\"?\n") || strings.Contains(r.stderr, `\x0a`) {
		t.Errorf("a bad file's problems from the server, not as a local run prints them:\n%s", r)
	}
	if after := len(e.runs()); after != before {
		t.Errorf("a bad file made a run")
	}
	// Many problems alike: some, and the rest counted, as a local run.
	many := manyProblemsFile(t, t.TempDir())
	local := e.must(2, "run", many)
	if r := e.must(2, "run", many, "--server", api); r.stderr != local.stderr || !strings.Contains(r.stderr, "... and 37 more problems") {
		t.Errorf("40 problems from the server:\n%s\nnot as a local run prints them:\n%s", r.stderr, local.stderr)
	}
	// A param the workflow does not have: 400, exit 2.
	r = e.must(2, "run", testdata(t, "alpha.yaml"), "-p", "nope=1", "--server", api)
	if !strings.Contains(r.stderr, "nope") {
		t.Errorf("an unknown param:\n%s", r)
	}
}

// TestTriggerFollow: trigger prints the id of a run of the server's
// workflow; with --follow it follows it to its end.
func TestTriggerFollow(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dir := t.TempDir()
	src, err := os.ReadFile(testdata(t, "alpha.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "alpha.yaml"), src, 0o600); err != nil {
		t.Fatal(err)
	}
	api := e.writeAPI(dir)
	r := e.must(0, "trigger", "alpha", "--server", api)
	if !detachedID.MatchString(r.stdout) || !strings.Contains(r.stderr, "follow it with: cairn show ") {
		t.Fatalf("trigger:\n%s", r)
	}
	id := strings.TrimSpace(r.stdout)
	e.waitRunState(30*time.Second, id, "succeeded")
	r = e.must(0, "trigger", "alpha", "--follow", "--server", api, "--progress", "none")
	if !strings.Contains(r.stdout, " SUCCEEDED in ") || strings.Contains(r.stdout, "\n"+runIDOf(t, r.stderr)+"\n") {
		t.Errorf("trigger --follow of a run that succeeds (the id is in its first line, not alone on stdout):\n%s", r)
	}
	r = e.must(1, "trigger", "alpha", "-p", "code=2", "--follow", "--progress", "lines", "--server", api)
	if !strings.Contains(r.stderr, "task final failed") || !strings.Contains(r.stdout, " FAILED in ") || r.stdout == "" {
		t.Errorf("trigger --follow of a failing run:\n%s", r)
	}
	r = e.must(1, "trigger", "nosuch", "--server", api)
	if !strings.Contains(r.stderr, `the server at `+api+` has no workflow "nosuch": its page `+api+`/workflows lists those it has`) ||
		strings.Count(r.stderr, "no workflow") != 1 {
		t.Errorf("trigger of an unknown workflow:\n%s", r)
	}
}

// TestRunOnServerInterrupted: Ctrl-C while run --server follows a run
// asks the server to cancel it, waits for the end, and exits 130.
func TestRunOnServerInterrupted(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	api := e.writeAPI(t.TempDir())
	pidfile := filepath.Join(t.TempDir(), "nap.pid")
	p := e.start("run", testdata(t, "sleeper.yaml"), "-p", "pidfile="+pidfile, "--server", api, "--progress", "lines")
	waitFor(t, 30*time.Second, "the task to run", func() bool {
		return strings.Contains(p.stderr.String(), "task nap running")
	})
	id := p.runID()
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(30 * time.Second); code != 130 {
		t.Fatalf("run --server after Ctrl-C: exit %d, want 130\n%s", code, p.stderr.String())
	}
	if !strings.Contains(p.stderr.String(), "cancelling run "+id+" on the server") {
		t.Errorf("no word of the cancellation:\n%s", p.stderr.String())
	}
	if !strings.Contains(p.stdout.String(), "CANCELLED") {
		t.Errorf("the summary does not say cancelled:\n%s", p.stdout.String())
	}
	if s := e.show(id); s.State != cairn.RunCancelled {
		t.Errorf("the run is %s", s.State)
	}
	// cancel --server of the finished run: it says so.
	r := e.must(1, "cancel", id, "--server", api)
	if !strings.Contains(r.stderr, "run "+id+" already cancelled") {
		t.Errorf("cancel of a cancelled run:\n%s", r)
	}
}

// flaky fails its first attempt in each home and succeeds after.
const flaky = `name: flaky
params:
  mark: {type: string}
tasks:
  - id: first
    type: noop
  - id: shaky
    type: shell
    needs: [first]
    with:
      env: {MARK: "${{ params.mark }}"}
      script: |
        if [ -e "$MARK" ]; then echo second time lucky; exit 0; fi
        touch "$MARK"; echo first time unlucky; exit 1
  - id: after
    type: noop
    needs: [shaky]
`

// TestRetryOnServer: retry --server retries a failed run into the same
// run and follows it to its end; a run still running is refused.
func TestRetryOnServer(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	api := e.writeAPI(t.TempDir())
	wf := writeWorkflow(t, "flaky.yaml", flaky)
	r := e.must(1, "run", wf, "-p", "mark="+filepath.Join(t.TempDir(), "mark"), "--server", api, "--quiet")
	id := runIDOf(t, r.stdout) // --quiet: the summary names it
	r = e.must(0, "retry", id[:12], "--server", api, "--progress", "lines")
	for _, want := range []string{"run " + id + ": the server at " + api + " retries its failed tasks", "retry " + id + "  workflow flaky",
		"task shaky running (attempt 2)", "task after succeeded", "run succeeded"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("retry --server lacks %q:\n%s", want, r.stderr)
		}
	}
	if !strings.Contains(r.stdout, "run "+id+" SUCCEEDED") {
		t.Errorf("retry --server's summary:\n%s", r.stdout)
	}
	if l := e.must(0, "logs", id, "shaky", "--server", api); l.stdout != "second time lucky\n" {
		t.Errorf("the retried attempt's log: %q", l.stdout)
	}
	// A run still running: 409, and what to do.
	pidfile := filepath.Join(t.TempDir(), "nap.pid")
	id2, _ := e.detach(testdata(t, "sleeper.yaml"), "-p", "pidfile="+pidfile)
	e.waitRunState(30*time.Second, id2, "running")
	r = e.must(1, "retry", id2, "--server", api)
	if !strings.Contains(r.stderr, "run "+id2+" is running: retry it once it has ended (or cancel it first: cairn cancel "+id2+" --server "+api+")") {
		t.Errorf("retry of a running run:\n%s", r.stderr)
	}
	// resume --server of a run the server drives: it follows it (to its
	// end, here cancelled).
	resume := e.start("resume", id2, "--server", api, "--progress", "lines")
	waitFor(t, 10*time.Second, "resume to follow the run", func() bool {
		return strings.Contains(resume.stderr.String(), "resume "+id2+"  workflow sleeper")
	})
	if !strings.Contains(resume.stderr.String(), "run "+id2+" is driven already (the server says: ") {
		t.Errorf("resume --server of a run the server drives:\n%s", resume.stderr.String())
	}
	if r := e.must(0, "cancel", id2, "--server", api); !strings.Contains(r.stdout, "run "+id2+": cancellation requested; the server at "+api+" is stopping it") {
		t.Errorf("cancel --server:\n%s", r)
	}
	if code := resume.wait(30 * time.Second); code != 1 || !strings.Contains(resume.stdout.String(), "run "+id2+" CANCELLED") {
		t.Errorf("resume --server of a run cancelled meanwhile: exit %d\n%s\n%s", code, resume.stdout.String(), resume.stderr.String())
	}
	e.waitRunState(30*time.Second, id2, "cancelled")
	if r := e.must(1, "resume", id2, "--server", api); !strings.Contains(r.stderr, "run "+id2+" already cancelled") ||
		!strings.Contains(r.stderr, "cairn retry "+id2+" --server "+api) {
		t.Errorf("resume --server of a finished run:\n%s", r)
	}
}

// TestRemoteSummaryCountsItems: run and retry --server print the summary
// a local run prints: a for_each task counted through its items, not once
// more beside them, and a retry "retried in" (found by the trial).
func TestRemoteSummaryCountsItems(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	api := e.writeAPI(t.TempDir())
	wf := writeWorkflow(t, "fanflaky.yaml", `name: fanflaky
params:
  mark: {type: string}
tasks:
  - id: w
    type: shell
    for_each: [1, 2, 3, 4]
    with:
      env: {MARK: "${{ params.mark }}", ITEM: "${{ item }}"}
      script: |
        if [ "$ITEM" = 3 ] && [ ! -e "$MARK" ]; then touch "$MARK"; exit 1; fi
  - {id: after, type: noop, needs: [w]}
`)
	r := e.must(1, "run", wf, "-p", "mark="+filepath.Join(t.TempDir(), "mark"), "--server", api, "--quiet")
	id := runIDOf(t, r.stdout) // --quiet: the summary names it
	if !strings.Contains(r.stdout, ": 3 succeeded, 1 failed, 1 upstream_failed") {
		t.Errorf("run --server's summary:\n%s", r.stdout)
	}
	r = e.must(0, "retry", id, "--server", api, "--progress", "none")
	if !strings.Contains(r.stdout, "SUCCEEDED retried in ") || !strings.Contains(r.stdout, ": 5 succeeded") {
		t.Errorf("retry --server's summary:\n%s", r.stdout)
	}
}
