package main

// End-to-end tests of `cairn server` and `cairn run --detach` (issue 16):
// the real binary, a server process and the commands beside it on one
// home.

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// server is a `cairn server` running in the background, logging JSON lines.
type server struct {
	*proc
	addr  string // host:port of /healthz and /readyz
	owner string // the name it claims runs under (host:pid:nonce)
}

// startServer starts `cairn server` on the env's home, on a free port,
// with extra environment variables and flags, and waits for its ready line.
func (e *env) startServer(extraEnv []string, args ...string) *server {
	e.t.Helper()
	p := e.startWith(extraEnv, append([]string{"server", "--addr", "127.0.0.1:0", "--log-format", "json"}, args...)...)
	s := &server{proc: p}
	waitFor(e.t, 30*time.Second, "the server's ready line", func() bool {
		if p.exited() {
			e.t.Fatalf("cairn server exited:\n%s", p.stderr.String())
		}
		if l, ok := s.find("cairn server ready", nil); ok {
			s.addr = strings.TrimPrefix(l.str("addr"), "http://")
			s.owner = l.str("owner")
			return true
		}
		return false
	})
	if s.addr == "" || !strings.Contains(s.owner, fmt.Sprintf(":%d:", p.pid())) {
		e.t.Fatalf("the ready line names no address or another process: %q %q", s.addr, s.owner)
	}
	return s
}

// logLine is one JSON line of the server's log.
type logLine map[string]any

func (l logLine) str(key string) string {
	s, _ := l[key].(string)
	return s
}

// lines returns the server's log lines so far (stderr's other lines, such
// as the home made private, are not JSON and left out).
func (s *server) lines() []logLine {
	var out []logLine
	for _, text := range strings.Split(s.stderr.String(), "\n") {
		var l logLine
		if strings.HasPrefix(text, "{") && json.Unmarshal([]byte(text), &l) == nil {
			out = append(out, l)
		}
	}
	return out
}

// find returns the first log line with message msg whose keys hold the
// values of attrs.
func (s *server) find(msg string, attrs map[string]string) (logLine, bool) {
	for _, l := range s.lines() {
		if l.str("msg") != msg {
			continue
		}
		ok := true
		for k, v := range attrs {
			if fmt.Sprint(l[k]) != v {
				ok = false
			}
		}
		if ok {
			return l, true
		}
	}
	return nil, false
}

// waitLog waits for a log line as find matches it.
func (s *server) waitLog(d time.Duration, msg string, attrs map[string]string) logLine {
	s.t.Helper()
	var l logLine
	waitFor(s.t, d, fmt.Sprintf("the server to log %q %v", msg, attrs), func() bool {
		var ok bool
		l, ok = s.find(msg, attrs)
		return ok || s.exited()
	})
	if l == nil {
		s.t.Fatalf("the server exited without logging %q %v:\n%s", msg, attrs, s.stderr.String())
	}
	return l
}

// get fetches path from the server and returns the status and body.
func (s *server) get(path string) (int, string) {
	s.t.Helper()
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get("http://" + s.addr + path)
	if err != nil {
		s.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatalf("GET %s: %v", path, err)
	}
	return resp.StatusCode, string(b)
}

func (s *server) term() {
	s.t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		s.t.Fatal(err)
	}
}

// writeWorkflow writes a workflow file into a folder of the test's own.
func writeWorkflow(t *testing.T, name, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

var detachedID = regexp.MustCompile(`^[0-9a-z]{16}\n$`)

// detach queues a run with `cairn run --detach` and returns its id, the
// only thing it prints on stdout.
func (e *env) detach(args ...string) (string, result) {
	e.t.Helper()
	r := e.must(0, append([]string{"run", "--detach"}, args...)...)
	if !detachedID.MatchString(r.stdout) {
		e.t.Fatalf("run --detach printed more than the run id on stdout:\n%s", r)
	}
	return strings.TrimSpace(r.stdout), r
}

// waitRunState polls the run until it is in state, failing at once if it
// ends in another.
func (e *env) waitRunState(d time.Duration, id, state string) runJSON {
	e.t.Helper()
	var s runJSON
	waitFor(e.t, d, fmt.Sprintf("run %s %s", id, state), func() bool {
		s = e.show(id)
		if s.State.Terminal() && string(s.State) != state {
			e.t.Fatalf("run %s ended %s (%s), want %s", id, s.State, s.Error, state)
		}
		return string(s.State) == state
	})
	return s
}

// --- kill -9 of a foreground run: the server finishes it --------------------------

// A foreground `cairn run` killed with -9 while a server runs on the same
// home: the server takes the run over — at once, the owner's pid being
// gone on this host — and finishes it, well within 30 s of the kill;
// nothing that succeeded runs again, and the interrupted attempt is
// retried by the server's own workers.
func TestServerFinishesKilledForegroundRun(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	srv := e.startServer(nil)
	ledger := filepath.Join(t.TempDir(), "ledger")
	killLedgerGroupsOnCleanup(t, ledger)
	p := e.start("run", testdata(t, "ledger.yaml"), "-p", "ledger="+ledger, "-p", "hold=300", "--progress", "lines")
	id := p.runID()
	fg := fmt.Sprintf(":%d:", p.pid())
	waitFor(t, 20*time.Second, "a, b, f1-f3 succeeded and c's script started", func() bool {
		if p.exited() {
			t.Fatalf("cairn run exited:\n%s", p.stderr.String())
		}
		if b, _ := os.ReadFile(ledger); !strings.Contains(string(b), "start c 1 ") {
			return false
		}
		for _, tj := range e.show(id).Tasks {
			if want := map[string]string{"c": "running", "j": "pending"}[tj.ID]; string(tj.State) != cmp.Or(want, "succeeded") {
				return false
			}
		}
		return true
	})
	if s := e.show(id); !strings.Contains(s.Owner, fg) {
		t.Fatalf("the foreground run is owned by %q, not by its process (pid %d): the server took it while it ran", s.Owner, p.pid())
	}
	p.kill9()
	killed := time.Now()

	s := e.waitRunState(30*time.Second, id, "succeeded")
	t.Logf("the server finished the run %s after the kill", time.Since(killed).Round(time.Millisecond))
	l := srv.waitLog(5*time.Second, "taking over run", map[string]string{"run": id})
	if !strings.Contains(l.str("from"), fg) || (l.str("why") != "its process is gone" && l.str("why") != "its claim expired") {
		t.Errorf("takeover line: %v; want it to name the killed process and why", l)
	}
	s, repeated := checkLedgerRun(t, e, id, ledger, ledgerDeps)
	if repeated != 0 {
		t.Errorf("%d completions repeated", repeated)
	}
	for _, tj := range s.Tasks {
		want := 1
		if tj.ID == "c" {
			want = 2
		}
		if tj.Attempts != want || len(tj.Attempt) != want {
			t.Errorf("task %s: %d attempts, want %d", tj.ID, tj.Attempts, want)
			continue
		}
		// Who ran each attempt: the killed process until the kill, the
		// server after it.
		for _, at := range tj.Attempt {
			byServer := tj.ID == "j" || (tj.ID == "c" && at.Number == 2)
			if byServer && at.Worker != srv.owner || !byServer && !strings.Contains(at.Worker, fg) {
				t.Errorf("task %s attempt %d ran on %s (server %s, killed run pid %d)", tj.ID, at.Number, at.Worker, srv.owner, p.pid())
			}
		}
	}
	if c := taskByID(t, s, "c"); c.Interrupted != 1 || c.Attempt[0].State != "interrupted" {
		t.Errorf("c: %d interrupted, first attempt %s; want it interrupted", c.Interrupted, c.Attempt[0].State)
	}
	srv.waitLog(5*time.Second, "run ended", map[string]string{"run": id, "state": "succeeded"})
}

// --- run --detach, followed by runs, show and logs -f -----------------------------

const gatedWorkflow = `name: gated
params:
  gate: {type: string, description: the task waits for this file}
tasks:
  - id: talk
    type: shell
    with:
      env: {GATE: "${{ params.gate }}"}
      script: |
        echo "one $CAIRN_RUN_ID"
        while [ ! -e "$GATE" ]; do sleep 0.05; done
        echo "two $CAIRN_RUN_ID"
  - {id: after, type: noop, needs: [talk]}
`

// `cairn run --detach` prints only the run id on stdout and says on
// stderr whether a server will start it; a server started later runs it,
// and `runs`, `show` and `logs -f` follow it as they follow a foreground
// run.
func TestDetachedRunFollowed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	wf := writeWorkflow(t, "gated.yaml", gatedWorkflow)
	gate := filepath.Join(t.TempDir(), "gate")

	id, r := e.detach(wf, "-p", "gate="+gate)
	for _, want := range []string{"queued run " + id + " (workflow gated, 2 tasks)",
		"no cairn server runs on this home: start one ('cairn server') and it starts the run; or cancel it: cairn cancel " + id} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("run --detach without a server does not say %q:\n%s", want, r)
		}
	}
	if s := e.show(id); s.State != "queued" || s.Owner != "" || s.StartedAt != nil || taskByID(t, s, "talk").State != "pending" {
		t.Errorf("a queued run: %+v", s)
	}
	if out := e.must(0, "runs").stdout; !regexp.MustCompile(`(?m)^` + id + `\s+gated\s+queued\s`).MatchString(out) {
		t.Errorf("runs does not list the queued run:\n%s", out)
	}
	// --quiet: the id and nothing else; the foreground's own flags are refused.
	quiet, r := e.detach(wf, "-p", "gate="+gate, "--quiet")
	if r.stderr != "" {
		t.Errorf("run --detach --quiet printed on stderr:\n%s", r)
	}
	if r := e.must(0, "cancel", quiet); !strings.Contains(r.stdout, "run "+quiet+" cancelled") {
		t.Errorf("cancel of a queued run with no server:\n%s", r)
	}
	r = e.must(2, "run", "--detach", wf, "-p", "gate="+gate, "--workers", "2", "--stop-grace", "1s")
	if !strings.Contains(r.stderr, "--stop-grace, --workers: only for a run in the foreground; a detached run runs with the flags of 'cairn server'") {
		t.Errorf("run --detach --workers:\n%s", r)
	}

	srv := e.startServer(nil)
	follow := e.start("logs", id, "talk", "-f")
	waitFor(t, 20*time.Second, "logs -f to print the task's first line", func() bool {
		if follow.exited() {
			t.Fatalf("logs -f exited:\n%s", follow.stderr.String())
		}
		return strings.Contains(follow.stdout.String(), "one "+id)
	})
	s := e.show(id)
	if s.State != "running" || s.Owner != srv.owner || taskByID(t, s, "talk").State != "running" {
		t.Errorf("the server's run: state %s owner %q (server %s), talk %s", s.State, s.Owner, srv.owner, taskByID(t, s, "talk").State)
	}
	if out := e.must(0, "runs").stdout; !regexp.MustCompile(`(?m)^` + id + `\s+gated\s+running\s`).MatchString(out) {
		t.Errorf("runs does not list the running run:\n%s", out)
	}
	if out := e.must(0, "show", id).stdout; !regexp.MustCompile(`(?m)^talk\s+shell\s+running\s+1\s`).MatchString(out) {
		t.Errorf("show does not show the running task:\n%s", out)
	}
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if code := follow.wait(20 * time.Second); code != 0 {
		t.Errorf("logs -f exited %d:\n%s", code, follow.stderr.String())
	}
	if got, want := follow.stdout.String(), "one "+id+"\ntwo "+id+"\n"; got != want {
		t.Errorf("logs -f printed %q, want %q", got, want)
	}
	s = e.waitRunState(20*time.Second, id, "succeeded")
	if s.Owner != "" || taskByID(t, s, "after").State != "succeeded" {
		t.Errorf("finished run: owner %q, after %s", s.Owner, taskByID(t, s, "after").State)
	}
	if l := srv.waitLog(5*time.Second, "run started", map[string]string{"run": id}); l.str("workflow") != "gated" || l.str("state") != "queued" {
		t.Errorf("run started line: %v", l)
	}
	srv.waitLog(5*time.Second, "run ended", map[string]string{"run": id, "state": "succeeded"})

	// With the server up, --detach names it.
	id2, r := e.detach(wf, "-p", "gate="+gate)
	if want := fmt.Sprintf("cairn server (pid %d, %s) starts it; follow it with: cairn show %s", srv.pid(), srv.addr, id2); !strings.Contains(r.stderr, want) {
		t.Errorf("run --detach with a server up does not say %q:\n%s", want, r)
	}
	e.waitRunState(20*time.Second, id2, "succeeded")
}

// --- secret params of detached runs -----------------------------------------------

const secretDetachedWorkflow = `name: secret-detached
params:
  token: {type: string, secret: true, description: an API token}
  out: {type: string}
tasks:
  - id: use
    type: shell
    with:
      env: {TOKEN: "${{ params.token }}", OUT: "${{ params.out }}"}
      script: |
        printf '%s' "$TOKEN" > "$OUT"
        printf '%s' "${CAIRN_PARAM_TOKEN:-unset}" > "$OUT.env"
        echo "token is $TOKEN"
`

// A secret param never travels with --detach: -p refuses it and says to
// give it to the server. A server started with CAIRN_PARAM_<NAME> runs
// the detached run with the value (which reaches the task, not the
// task's environment, and is written nowhere in the home); one without
// it fails the queued run with a message that names the variable.
func TestDetachedRunSecrets(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	wf := writeWorkflow(t, "secret.yaml", secretDetachedWorkflow)
	out := filepath.Join(t.TempDir(), "out")

	r := e.must(2, "run", "--detach", wf, "-p", "token="+secretValue, "-p", "out="+out)
	if !strings.Contains(r.stderr, "-p token: secret params cannot travel with --detach") || !strings.Contains(r.stderr, "CAIRN_PARAM_TOKEN=VALUE") ||
		r.stdout != "" || strings.Contains(r.stderr, secretValue) {
		t.Errorf("run --detach with a secret -p:\n%s", r)
	}
	if runs := e.runs(); len(runs) != 0 {
		t.Errorf("the refused run was queued: %+v", runs)
	}

	// A server without the variable fails the run, naming it.
	bare := e.startServer(nil)
	id, _ := e.detach(wf, "-p", "out="+out)
	s := e.waitRunState(20*time.Second, id, "failed")
	if !strings.Contains(s.Error, "CAIRN_PARAM_TOKEN") || !strings.Contains(s.Error, "start the server with") {
		t.Errorf("the run failed with %q; want it to name CAIRN_PARAM_TOKEN", s.Error)
	}
	if use := taskByID(t, s, "use"); use.State != "failed" || use.Attempts != 0 {
		t.Errorf("use: %s after %d attempts, want failed without running", use.State, use.Attempts)
	}
	if l := bare.waitLog(5*time.Second, "run failed: it cannot be planned", map[string]string{"run": id}); !strings.Contains(l.str("err"), "CAIRN_PARAM_TOKEN") {
		t.Errorf("the server's line: %v", l)
	}
	bare.term()
	if code := bare.wait(30 * time.Second); code != 143 {
		t.Errorf("the server exited %d after SIGTERM, want 143:\n%s", code, bare.stderr.String())
	}

	// A server with it runs the run.
	srv := e.startServer([]string{"CAIRN_PARAM_TOKEN=" + secretValue})
	id, _ = e.detach(wf, "-p", "out="+out)
	e.waitRunState(20*time.Second, id, "succeeded")
	if b, _ := os.ReadFile(out); string(b) != secretValue {
		t.Errorf("the task got the token %q, want %q", b, secretValue)
	}
	if b, _ := os.ReadFile(out + ".env"); string(b) != "unset" {
		t.Errorf("the task's environment has CAIRN_PARAM_TOKEN=%q: the server must not pass it on", b)
	}
	if logs := e.must(0, "logs", id, "use").stdout; logs != "token is «secret:token»\n" {
		t.Errorf("the task's log: %q", logs)
	}
	if strings.Contains(srv.stderr.String(), secretValue) {
		t.Errorf("the server logged the secret:\n%s", srv.stderr.String())
	}
	// Nothing in the home holds it: the database and its WAL, the logs,
	// the artifacts, the server's info file.
	grepTree(t, e.home, secretValue)
}

// --- SIGTERM: drain ---------------------------------------------------------------

const drainWorkflow = `name: drain
params:
  dir: {type: string, description: the folder of the task's ledger and gate}
tasks:
  - id: work
    type: shell
    with:
      env: {DIR: "${{ params.dir }}"}
      script: |
        echo "start $CAIRN_ATTEMPT" >> "$DIR/ledger"
        echo $$ > "$DIR/pid.tmp"; mv "$DIR/pid.tmp" "$DIR/pid"
        if [ "$CAIRN_ATTEMPT" -eq 1 ]; then
          while [ ! -e "$DIR/gate" ]; do sleep 0.05; done
        fi
        echo "done $CAIRN_ATTEMPT" >> "$DIR/ledger"
  - id: after
    type: shell
    needs: [work]
    with:
      env: {DIR: "${{ params.dir }}"}
      script: echo "after $CAIRN_ATTEMPT" >> "$DIR/ledger"
`

// startDrainRun starts a server with flags, queues a run of drainWorkflow
// and waits until its task's first attempt runs; it returns the server,
// the run id, the task's folder and its pid.
func startDrainRun(t *testing.T, e *env, flags ...string) (*server, string, string, int) {
	t.Helper()
	wf := writeWorkflow(t, "drain.yaml", drainWorkflow)
	dir := t.TempDir()
	srv := e.startServer(nil, flags...)
	id, _ := e.detach(wf, "-p", "dir="+dir)
	waitFor(t, 20*time.Second, "the task's pid file", func() bool {
		if srv.exited() {
			t.Fatalf("the server exited:\n%s", srv.stderr.String())
		}
		_, err := os.Stat(filepath.Join(dir, "pid"))
		return err == nil
	})
	pid := readPid(t, filepath.Join(dir, "pid"))
	killGroupOnCleanup(t, pid)
	return srv, id, dir, pid
}

const drainTimeoutLine = "drain timeout passed: the tasks still running were stopped and recorded interrupted; they run again, without using a retry, when their runs resume"

// SIGTERM with a drain timeout longer than the running task: the server
// stops taking work (/readyz says 503 draining, /healthz still answers),
// lets the task finish, starts nothing more, and exits 143 saying which
// runs it left; the next server start resumes them by itself.
func TestServerDrainLetsTasksFinish(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	srv, id, dir, _ := startDrainRun(t, e, "--drain-timeout", "1m")
	info := filepath.Join(e.home, "cairn.db.server.json")
	if b, err := os.ReadFile(info); err != nil || !strings.Contains(string(b), srv.owner) || !strings.Contains(string(b), srv.addr) {
		t.Errorf("the server info file %s: %q, %v", info, b, err)
	}
	// Health answers without a token; the UI and the API do not.
	for path, want := range map[string]string{"/healthz": "ok\n", "/readyz": "ready\n"} {
		if code, body := srv.get(path); code != 200 || body != want {
			t.Errorf("GET %s: %d %q, want 200 %q", path, code, body, want)
		}
	}
	for _, path := range []string{"/", "/api/v1/runs"} {
		if code, _ := srv.get(path); code != http.StatusUnauthorized {
			t.Errorf("GET %s without a token: %d, want 401", path, code)
		}
	}

	srv.term()
	srv.waitLog(10*time.Second, "draining", map[string]string{"runs": "1", "timeout": "1m0s"})
	if code, body := srv.get("/readyz"); code != http.StatusServiceUnavailable || body != "draining\n" {
		t.Errorf("GET /readyz while draining: %d %q, want 503 \"draining\"", code, body)
	}
	if code, body := srv.get("/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("GET /healthz while draining: %d %q, want 200", code, body)
	}
	if srv.exited() {
		t.Fatalf("the server exited while its task ran and the drain timeout had not passed:\n%s", srv.stderr.String())
	}
	// A draining server starts nothing more: a run queued now waits for
	// the next server, and --detach does not say this one starts it.
	lateDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(lateDir, "gate"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	late, lr := e.detach(writeWorkflow(t, "late.yaml", drainWorkflow), "-p", "dir="+lateDir)
	if !strings.Contains(lr.stderr, "no cairn server runs on this home") {
		t.Errorf("run --detach beside a draining server:\n%s", lr)
	}
	// The server reads new runs every 200 ms: give it a few chances to
	// take this one (it must not).
	for end := time.Now().Add(time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if s := e.show(late); s.State != "queued" {
			t.Fatalf("the draining server took the run queued during the drain: %s, owner %q", s.State, s.Owner)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "gate"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if code := srv.wait(30 * time.Second); code != 143 {
		t.Errorf("the server exited %d after SIGTERM, want 143\n%s", code, srv.stderr.String())
	}
	if l, ok := srv.find("stopped; runs left to resume (the next cairn server resumes them)", map[string]string{"runs": "1", "ids": id}); !ok {
		t.Errorf("no line saying which run is left to resume:\n%s", srv.stderr.String())
	} else if l.str("level") != "INFO" {
		t.Errorf("stopped line: %v", l)
	}
	if _, ok := srv.find(drainTimeoutLine, nil); ok {
		t.Errorf("the server says its drain timed out:\n%s", srv.stderr.String())
	}
	if _, err := os.Stat(info); !os.IsNotExist(err) {
		t.Errorf("the server info file is still there after the server stopped: %v", err)
	}
	s := e.show(id)
	work, after := taskByID(t, s, "work"), taskByID(t, s, "after")
	if s.State != "running" || s.Owner != "" || work.State != "succeeded" || work.Attempts != 1 || after.Attempts != 0 {
		t.Errorf("after the drain: run %s owner %q, work %s after %d attempts, after %s after %d; want work finished and nothing started",
			s.State, s.Owner, work.State, work.Attempts, after.State, after.Attempts)
	}
	// Until a server runs again, nothing drives the run: it says so.
	if !s.Orphaned {
		t.Errorf("show --json: a run the stopped server let go is not orphaned")
	}
	r := e.must(0, "runs")
	if !regexp.MustCompile(`(?m)^`+id+`\s+drain\s+orphaned\s`).MatchString(r.stdout) ||
		!strings.Contains(r.stderr, "run "+id+" is orphaned (the process driving it let it go; a cairn server takes it over): cairn resume "+id+"\n") {
		t.Errorf("runs after the drain:\n%s", r)
	}
	if out := e.must(0, "show", id).stdout; !strings.Contains(out, "state     orphaned (the process driving it let it go; the store says running)\n") ||
		!strings.Contains(out, "resume    a cairn server takes it over, or: cairn resume "+id+"\n") {
		t.Errorf("show after the drain:\n%s", out)
	}

	if s := e.show(late); s.State != "queued" || s.Owner != "" || s.Orphaned {
		t.Errorf("the run queued during the drain: %s, owner %q, orphaned %v; want it queued for the next server", s.State, s.Owner, s.Orphaned)
	}
	if _, ok := srv.find("run started", map[string]string{"run": late}); ok {
		t.Errorf("the draining server started a run:\n%s", srv.stderr.String())
	}

	next := e.startServer(nil)
	e.waitRunState(20*time.Second, id, "succeeded")
	if l := next.waitLog(5*time.Second, "taking over run", map[string]string{"run": id}); l.str("why") != "its scheduler let it go" {
		t.Errorf("takeover line: %v", l)
	}
	e.waitRunState(20*time.Second, late, "succeeded")
	if b, _ := os.ReadFile(filepath.Join(dir, "ledger")); string(b) != "start 1\ndone 1\nafter 1\n" {
		t.Errorf("ledger:\n%s\nwant work once, then after once", b)
	}
}

// A second SIGTERM while the server drains stops it at once (exit 143),
// its running task with it; the run is left as after kill -9 — its owner
// gone, the server info file stale — and the next server takes it over at
// once, recording the attempt interrupted.
func TestServerSecondSIGTERMStopsAtOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	srv, id, dir, pid := startDrainRun(t, e, "--drain-timeout", "10m")
	srv.term()
	srv.waitLog(10*time.Second, "draining", map[string]string{"timeout": "10m0s"})
	srv.term()
	if code := srv.wait(30 * time.Second); code != 143 {
		t.Errorf("the server exited %d after a second SIGTERM, want 143\n%s", code, srv.stderr.String())
	}
	if !strings.Contains(srv.stderr.String(), "cairn: SIGTERM again: stopping now") {
		t.Errorf("the server does not say it stops at once:\n%s", srv.stderr.String())
	}
	expectGone(t, pid, "the task of the server stopped at once")
	if s := e.show(id); s.State != "running" || !strings.Contains(s.Owner, srv.owner) || !s.Orphaned {
		t.Errorf("after the forced stop: run %s owner %q orphaned %v; want the dead server's orphan", s.State, s.Owner, s.Orphaned)
	}
	// The info file the server could not remove names a dead process: a
	// detached run is told that no server runs.
	wf := writeWorkflow(t, "again.yaml", drainWorkflow)
	queued, r := e.detach(wf, "-p", "dir="+t.TempDir())
	if !strings.Contains(r.stderr, "no cairn server runs on this home") {
		t.Errorf("run --detach beside a dead server's info file:\n%s", r)
	}
	e.must(0, "cancel", queued)

	next := e.startServer(nil)
	if err := os.WriteFile(filepath.Join(dir, "gate"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	s := e.waitRunState(20*time.Second, id, "succeeded")
	if l := next.waitLog(5*time.Second, "taking over run", map[string]string{"run": id}); l.str("from") != srv.owner || l.str("why") != "its process is gone" {
		t.Errorf("takeover line: %v", l)
	}
	if work := taskByID(t, s, "work"); work.Attempts != 2 || work.Interrupted != 1 || work.Attempt[0].State != "interrupted" {
		t.Errorf("work: %d attempts (%d interrupted): %+v", work.Attempts, work.Interrupted, work.Attempt)
	}
}

// SIGTERM with a drain timeout shorter than the running task: the task is
// stopped when the timeout passes and its attempt recorded interrupted —
// not failed, not cancelled, none of its retries (it has none) used —
// and the next server start runs it again and finishes the run.
func TestServerDrainTimeoutInterrupts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	srv, id, dir, pid := startDrainRun(t, e, "--drain-timeout", "300ms")
	srv.term()
	if code := srv.wait(30 * time.Second); code != 143 {
		t.Errorf("the server exited %d after SIGTERM, want 143\n%s", code, srv.stderr.String())
	}
	expectGone(t, pid, "the task the drain stopped")
	srv.waitLog(time.Second, "draining", map[string]string{"runs": "1", "timeout": "300ms"})
	srv.waitLog(time.Second, "stopped; runs left to resume (the next cairn server resumes them)", map[string]string{"ids": id})
	if l := srv.waitLog(time.Second, drainTimeoutLine, nil); l.str("level") != "WARN" {
		t.Errorf("drain timeout line: %v", l)
	}
	s := e.show(id)
	work := taskByID(t, s, "work")
	if s.State != "running" || s.CancelRequested || work.Attempts != 1 || work.Interrupted != 1 || len(work.Attempt) != 1 ||
		work.Attempt[0].State != "interrupted" || !strings.Contains(work.Attempt[0].Error, "worker stopped") {
		t.Fatalf("after the drain timeout: run %s, work %s after %d attempts (%d interrupted): %+v; want the attempt interrupted",
			s.State, work.State, work.Attempts, work.Interrupted, work.Attempt)
	}

	e.startServer(nil)
	s = e.waitRunState(20*time.Second, id, "succeeded")
	if work := taskByID(t, s, "work"); work.Attempts != 2 || work.Interrupted != 1 || work.Attempt[1].State != "succeeded" {
		t.Errorf("work after the restart: %d attempts (%d interrupted): %+v", work.Attempts, work.Interrupted, work.Attempt)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "ledger")); string(b) != "start 1\nstart 2\ndone 2\nafter 1\n" {
		t.Errorf("ledger:\n%s", b)
	}
}

// --- active-run limits ------------------------------------------------------------

// napWorkflow is a workflow of one task that records when it starts and
// ends in the file given as param log, and sleeps about a second between.
func napWorkflow(name, extra string) string {
	return `name: ` + name + `
` + extra + `params:
  log: {type: string}
tasks:
  - id: nap
    type: shell
    with:
      env: {LOG: "${{ params.log }}"}
      script: |
        echo "start $CAIRN_RUN_ID" >> "$LOG"
        sleep 1
        echo "end $CAIRN_RUN_ID" >> "$LOG"
`
}

// checkActive checks finished runs (in creation order) against a cap on
// runs active at once: never more than limit at once, and the cap used (as
// many at once as the limit allows); the ledger shows the same of the
// runs' tasks. started, the runs in the order the server logged it started
// them, must be the creation order.
func checkActive(t *testing.T, e *env, ids []string, limit int, ledger string, started []string) {
	t.Helper()
	type edge struct {
		at    time.Time
		delta int
	}
	var edges []edge
	for _, id := range ids {
		s := e.show(id)
		if s.State != "succeeded" || s.StartedAt == nil || s.FinishedAt == nil {
			t.Fatalf("run %s: %s", id, s.State)
		}
		edges = append(edges, edge{*s.StartedAt, +1}, edge{*s.FinishedAt, -1})
	}
	sort.SliceStable(edges, func(i, j int) bool {
		if !edges[i].at.Equal(edges[j].at) {
			return edges[i].at.Before(edges[j].at)
		}
		return edges[i].delta < edges[j].delta // an end before a start at the same instant
	})
	most, n := 0, 0
	for _, e := range edges {
		n += e.delta
		most = max(most, n)
	}
	if most != limit {
		t.Errorf("at most %d runs were active at once, want %d", most, limit)
	}
	b, err := os.ReadFile(ledger)
	if err != nil {
		t.Fatal(err)
	}
	n, most = 0, 0
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if strings.HasPrefix(l, "start ") {
			n++
		} else {
			n--
		}
		most = max(most, n)
	}
	if most > limit {
		t.Errorf("%d tasks ran at once, want at most %d:\n%s", most, limit, b)
	}
	if !slices.Equal(started, ids) {
		t.Errorf("the server started the runs in the order %v, want their creation order %v", started, ids)
	}
}

// startedOrder returns the runs among ids in the order the server logged
// that it started them.
func (s *server) startedOrder(ids []string) []string {
	var out []string
	for _, l := range s.lines() {
		if l.str("msg") == "run started" && slices.Contains(ids, l.str("run")) {
			out = append(out, l.str("run"))
		}
	}
	return out
}

// A workflow's max_active_runs: 2 holds five queued runs of it to two at
// once, started in the order they were queued.
func TestServerMaxActiveRunsPerWorkflow(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	wf := writeWorkflow(t, "capped.yaml", napWorkflow("capped", "max_active_runs: 2\n"))
	free := writeWorkflow(t, "free.yaml", napWorkflow("free", ""))
	ledger := filepath.Join(t.TempDir(), "ledger")
	var ids []string
	for range 5 {
		id, _ := e.detach(wf, "-p", "log="+ledger)
		ids = append(ids, id)
	}
	// Another workflow's runs are not held back by this one's cap.
	other, _ := e.detach(free, "-p", "log="+filepath.Join(t.TempDir(), "free-ledger"))
	srv := e.startServer(nil)
	for _, id := range ids {
		e.waitRunState(30*time.Second, id, "succeeded")
	}
	o := e.show(other)
	if o.State != "succeeded" || o.StartedAt == nil || !o.StartedAt.Before(*e.show(ids[2]).StartedAt) {
		t.Errorf("the uncapped workflow's run %s waited for the capped ones (started %v)", o.State, o.StartedAt)
	}
	checkActive(t, e, ids, 2, ledger, srv.startedOrder(ids))
}

// --max-active-runs 2 holds the runs of all workflows to two at once.
func TestServerMaxActiveRunsGlobal(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := writeWorkflow(t, "a.yaml", napWorkflow("nap-a", ""))
	b := writeWorkflow(t, "b.yaml", napWorkflow("nap-b", ""))
	ledger := filepath.Join(t.TempDir(), "ledger")
	var ids []string
	for _, wf := range []string{a, b, a, b} {
		id, _ := e.detach(wf, "-p", "log="+ledger)
		ids = append(ids, id)
	}
	srv := e.startServer(nil, "--max-active-runs", "2")
	if l := srv.waitLog(time.Second, "cairn server ready", nil); fmt.Sprint(l["max_active_runs"]) != "2" {
		t.Errorf("ready line: %v", l)
	}
	for _, id := range ids {
		e.waitRunState(30*time.Second, id, "succeeded")
	}
	checkActive(t, e, ids, 2, ledger, srv.startedOrder(ids))
}

// --- a foreground run beside a server ---------------------------------------------

// busyWorkflow keeps a server's workers leasing: two tasks that fail and
// are retried every 10 ms until the file given as param stop exists.
const busyWorkflow = `name: busy
params:
  stop: {type: string}
defaults:
  retries: 100000
  retry_backoff: {delay: 10ms, factor: 1}
tasks:
  - {id: spin1, type: shell, with: {env: {STOP: "${{ params.stop }}"}, script: '[ -e "$STOP" ]'}}
  - {id: spin2, type: shell, with: {env: {STOP: "${{ params.stop }}"}, script: '[ -e "$STOP" ]'}}
`

// `cairn run` in the foreground beside a server on the same home runs its
// own tasks and finishes normally: the server, whose workers lease all
// the while for a run of its own, never leases one of them, though the
// foreground run is down to one worker and has three tasks ready at once;
// nor does it take the run.
func TestForegroundRunBesideServer(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	srv := e.startServer(nil)
	stop := filepath.Join(t.TempDir(), "stop")
	busy, _ := e.detach(writeWorkflow(t, "busy.yaml", busyWorkflow), "-p", "stop="+stop)
	waitFor(t, 20*time.Second, "the server's run to retry", func() bool {
		return taskByID(t, e.show(busy), "spin1").Attempts > 1
	})

	ledger := filepath.Join(t.TempDir(), "ledger")
	killLedgerGroupsOnCleanup(t, ledger)
	p := e.start("run", testdata(t, "ledger.yaml"), "-p", "ledger="+ledger, "-p", "nap=1", "-p", "hold=1", "--workers", "1", "--progress", "lines")
	id := p.runID()
	if code := p.wait(60 * time.Second); code != 0 {
		t.Fatalf("the foreground run exited %d:\n%s", code, p.stderr.String())
	}
	if !strings.Contains(p.stdout.String(), "SUCCEEDED") {
		t.Errorf("summary:\n%s", p.stdout.String())
	}
	if err := os.WriteFile(stop, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	s, repeated := checkLedgerRun(t, e, id, ledger, ledgerDeps)
	if repeated != 0 {
		t.Errorf("%d completions repeated", repeated)
	}
	fg := fmt.Sprintf(":%d:", p.pid())
	for _, tj := range s.Tasks {
		for _, at := range tj.Attempt {
			if !strings.Contains(at.Worker, fg) {
				t.Errorf("task %s attempt %d ran on %s, not in the foreground run (pid %d; the server is %s)", tj.ID, at.Number, at.Worker, p.pid(), srv.owner)
			}
		}
	}
	for _, l := range srv.lines() {
		if l.str("run") == id {
			t.Errorf("the server logged about the foreground run: %v", l)
		}
	}
	// The server leased all along: its attempts started while the
	// foreground run ran.
	b := e.waitRunState(20*time.Second, busy, "succeeded")
	during := 0
	for _, tj := range b.Tasks {
		for _, at := range tj.Attempt {
			if at.Worker != srv.owner {
				t.Errorf("the server's run: %s attempt %d ran on %s", tj.ID, at.Number, at.Worker)
			}
			if !at.StartedAt.Before(*s.StartedAt) && !at.StartedAt.After(*s.FinishedAt) {
				during++
			}
		}
	}
	if during < 4 {
		t.Fatalf("the server leased %d times during the foreground run: the test shows nothing", during)
	}
	t.Logf("the server leased %d attempts of its own during the foreground run", during)
}

// --- cancel -----------------------------------------------------------------------

// `cairn cancel` of a run the server drives: the server reads the cancel
// request at once, records the run cancelled and stops the running task.
func TestCancelServerRun(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	srv := e.startServer(nil)
	pidfile := filepath.Join(t.TempDir(), "nap.pid")
	id, _ := e.detach(testdata(t, "sleeper.yaml"), "-p", "pidfile="+pidfile)
	waitTask(t, e, srv.proc, id, "nap", "running")
	waitFor(t, 10*time.Second, "the task's pid file", func() bool {
		_, err := os.Stat(pidfile)
		return err == nil
	})
	pid := readPid(t, pidfile)
	killGroupOnCleanup(t, pid)

	start := time.Now()
	r := e.must(0, "cancel", id)
	if want := "run " + id + ": cancellation requested; " + srv.owner + " is stopping it"; !strings.Contains(r.stdout, want) {
		t.Errorf("cancel of a server's run does not say %q:\n%s", want, r)
	}
	s := e.waitRunState(15*time.Second, id, "cancelled")
	took := time.Since(start)
	t.Logf("the server cancelled the run %s after cairn cancel", took.Round(time.Millisecond))
	if took > 5*time.Second {
		t.Errorf("the run took %s to be cancelled", took)
	}
	expectGone(t, pid, "the cancelled task's process")
	for task, want := range map[string]string{"first": "succeeded", "nap": "cancelled", "after": "cancelled"} {
		if got := string(taskByID(t, s, task).State); got != want {
			t.Errorf("task %s: %s, want %s", task, got, want)
		}
	}
	if nap := taskByID(t, s, "nap"); len(nap.Attempt) != 1 || nap.Attempt[0].State != "cancelled" {
		t.Errorf("nap's attempts: %+v", nap.Attempt)
	}
	srv.waitLog(5*time.Second, "run ended", map[string]string{"run": id, "state": "cancelled"})
	if srv.exited() {
		t.Errorf("the server exited:\n%s", srv.stderr.String())
	}
}
