package main

// Tests of the commands with --server: the same database read through a
// server's API gives the same output as read from the home, and what goes
// wrong on the way is said in words a user can act on.

import (
	"context"
	"errors"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/ui/runjson"
)

// apiServer starts `cairn server` on env e's home without authentication
// (on loopback) and returns its URL.
func (e *env) apiServer() string {
	e.t.Helper()
	return e.writeAPI(e.t.TempDir())
}

// TestRemoteReadsAsLocal: runs, show, show --json and logs print the same
// bytes read from a server as from the home, for the same database.
func TestRemoteReadsAsLocal(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ok := runIDOf(t, e.must(0, "run", testdata(t, "alpha.yaml"), "--progress", "none").stderr)
	bad := runIDOf(t, e.must(1, "run", testdata(t, "alpha.yaml"), "-p", "code=3", "--progress", "none").stderr)
	chatty := runIDOf(t, e.must(0, "run", testdata(t, "chatty.yaml"), "--progress", "none").stderr)
	api := e.apiServer()
	remote := func(args ...string) []string { return append(args, "--server", api) }
	same := func(want int, args ...string) {
		t.Helper()
		l, r := e.must(want, args...), e.must(want, remote(args...)...)
		if l.stdout != r.stdout {
			t.Errorf("cairn %s: the server's answer prints otherwise:\n--- local:\n%s--- remote:\n%s", strings.Join(args, " "), l.stdout, r.stdout)
		}
	}
	same(0, "runs")
	same(0, "runs", "--json")
	same(0, "runs", "-q")
	same(0, "runs", "--state", "failed", "--json")
	same(0, "runs", "--workflow", "chatty")
	same(0, "runs", "--limit", "1", "--before", ok, "--json")
	for _, id := range []string{ok, bad, chatty} {
		same(0, "show", id)
		same(0, "show", id, "--json")
		same(0, "show", id[:13])
	}
	same(0, "logs", ok, "hello")
	same(0, "logs", bad, "final")
	same(0, "logs", chatty, "talk")
	same(0, "logs", chatty, "talk", "--attempt", "1")
	same(0, "logs", chatty, "talk", "-f")
	same(0, "logs", chatty, "talk", "--attempt", "1", "-f")
	// Pages of more runs than one API page holds, and the cursor's hint.
	r := e.must(0, remote("runs", "--limit", "2")...)
	if !strings.Contains(r.stderr, "more: cairn runs --limit 2 --before ") || !strings.HasSuffix(r.stderr, " --server "+api+"\n") {
		t.Errorf("runs --limit 2 --server: the next page's command:\n%s", r.stderr)
	}
	// Errors, as a local command says them.
	for _, args := range [][]string{
		{"show", "zzzzzzzz"},
		{"logs", ok, "nope"},
		{"logs", ok, "hello", "--attempt", "5"},
	} {
		l, r := e.cairn(args...), e.cairn(remote(args...)...)
		if l.code != r.code || r.code == 0 {
			t.Errorf("cairn %s: exit %d here, %d from the server:\n%s", strings.Join(args, " "), l.code, r.code, r)
		}
	}
	r = e.must(2, remote("runs", "--before", "zzzzzzzz")...)
	if !strings.Contains(r.stderr, `--before "zzzzzzzz" names no run`) {
		t.Errorf("runs --before an unknown cursor: %s", r)
	}
}

// TestRemoteGateDetail: a gate that did not pass is explained from the
// task's params and metrics, since the server does not serve its report.
func TestRemoteGateDetail(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := runIDOf(t, e.must(0, "run", testdata(t, "gate.yaml"), "--progress", "none").stderr)
	api := e.apiServer()
	r := e.must(0, "show", id, "--server", api)
	if !strings.Contains(r.stdout, "the task succeeded, its gate did not pass: f1 > 1 (its value is in the task's report)") {
		t.Errorf("show --server of a failed gate:\n%s", r.stdout)
	}
	if l := e.must(0, "show", id, "--json"); l.stdout != e.must(0, "show", id, "--json", "--server", api).stdout {
		t.Errorf("show --json differs from the server")
	}
}

// TestRemoteLogsFollow: logs -f from a server prints a running task's
// output as it comes, through its retry, and ends with the task.
func TestRemoteLogsFollow(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	run, id, openGate := e.startChatty(t)
	api := e.apiServer()
	follow := e.start("logs", id, "talk", "-f", "--server", api)
	firstLineOnly(t, follow)
	openGate()
	if code := follow.wait(20 * time.Second); code != 0 {
		t.Fatalf("logs -f --server: exit %d\n%s", code, follow.stderr.String())
	}
	if code := run.wait(20 * time.Second); code != 0 {
		t.Fatalf("run: exit %d\n%s", code, run.stderr.String())
	}
	// Both attempts' logs, whole, in order: what the home's logs hold.
	want := e.must(0, "logs", id, "talk", "--attempt", "1").stdout + e.must(0, "logs", id, "talk", "--attempt", "2").stdout
	if !strings.HasSuffix(want, "attempt 2 ends\n") {
		t.Fatalf("the logs of the two attempts:\n%s", want)
	}
	if got := follow.stdout.String(); got != want {
		t.Fatalf("logs -f --server printed %q, want %q", got, want)
	}
	if !strings.Contains(follow.stderr.String(), "--- attempt 2 ---") {
		t.Fatalf("logs -f --server did not mark the second attempt: %q", follow.stderr.String())
	}
}

// TestRemoteErrors: an unreachable server, a missing, refused or too weak
// token and an unknown run each say what is wrong and what to do; the
// token is never printed.
func TestRemoteErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := runIDOf(t, e.must(0, "run", testdata(t, "alpha.yaml"), "--progress", "none").stderr)
	// A server with tokens: a viewer's reads, nobody else's.
	token := strings.TrimSpace(e.must(0, "tokens", "create", "--role", "viewer").stdout)
	api := "http://" + e.startServer(nil).addr
	// A port nothing listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()
	for _, c := range []struct {
		args []string
		env  []string
		code int
		want []string
	}{
		{[]string{"runs", "--server", closed}, nil, 1, []string{"cannot reach the server at " + closed, "connection refused", "--server or CAIRN_SERVER"}},
		{[]string{"runs"}, []string{"CAIRN_SERVER=" + closed}, 1, []string{"cannot reach the server at " + closed}},
		{[]string{"runs", "--server", api}, nil, 1, []string{"wants a token and none was given", "--token or CAIRN_TOKEN"}},
		{[]string{"show", id, "--server", api, "--token", "wrong"}, nil, 1, []string{"does not accept the token", "--token or CAIRN_TOKEN"}},
		{[]string{"cancel", id, "--server", api}, []string{"CAIRN_TOKEN=" + token}, 1, []string{"the token's role may not do this", "operator token"}},
		{[]string{"show", "0000000000000000", "--server", api, "--token", token}, nil, 1, []string{`no run "0000000000000000" on the server at ` + api}},
		{[]string{"runs", "--server", "localhost:8080"}, nil, 2, []string{"write its scheme, such as http://localhost:8080"}},
		{[]string{"runs", "--server", "http://cairn.invalid:8080", "--token", token}, nil, 1, []string{"the token travels in clear text", `no such host "cairn.invalid"`}},
		{[]string{"trigger", "alpha"}, nil, 2, []string{"give --server URL (or set CAIRN_SERVER)"}},
		{[]string{"run", testdata(t, "alpha.yaml"), "--server", api, "--workers", "2"}, nil, 2, []string{"--workers tune(s) the tasks this process runs"}},
	} {
		r := e.cairnEnv(c.env, c.args...)
		if r.code != c.code {
			t.Errorf("cairn %s: want exit %d, got %s", strings.Join(c.args, " "), c.code, r)
		}
		for _, w := range c.want {
			if !strings.Contains(r.stderr, w) {
				t.Errorf("cairn %s: stderr lacks %q:\n%s", strings.Join(c.args, " "), w, r.stderr)
			}
		}
		if strings.Contains(r.stdout+r.stderr, token) {
			t.Errorf("cairn %s printed the token:\n%s", strings.Join(c.args, " "), r)
		}
	}
	// With the token, it reads; --server '' reads the home despite CAIRN_SERVER.
	if r := e.cairnEnv([]string{"CAIRN_TOKEN=" + token}, "runs", "-q", "--server", api); r.code != 0 || strings.TrimSpace(r.stdout) != id {
		t.Errorf("runs with a viewer token: %s", r)
	}
	if r := e.cairnEnv([]string{"CAIRN_SERVER=" + closed}, "runs", "-q", "--server", ""); r.code != 0 || strings.TrimSpace(r.stdout) != id {
		t.Errorf("runs --server '' with CAIRN_SERVER set: %s", r)
	}
}

// cairnEnv runs the binary to its end with extra environment variables.
func (e *env) cairnEnv(vars []string, args ...string) result {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	cmd := e.command(ctx, args...)
	cmd.Env = append(cmd.Env, vars...)
	var stdout, stderr strings.Builder
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

// TestRemoteCompletion: with --server on the line (or CAIRN_SERVER), the
// completion offers the server's run and task ids.
func TestRemoteCompletion(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	e := newEnv(t)
	id := runIDOf(t, e.must(0, "run", testdata(t, "alpha.yaml"), "--progress", "none").stderr)
	api := e.apiServer()
	script := `source <("$CAIRN_BIN" completion bash) || exit 1
t() { COMP_WORDS=("$CAIRN_BIN" "$@"); COMP_CWORD=$#; _cairn; echo "${COMPREPLY[*]}"; }
t show --server "$URL" ""
t logs --server="$URL" ` + id + ` ""
CAIRN_SERVER="$URL" t cancel ""
t show --server http://127.0.0.1:1 ""
`
	cmd := exec.Command("bash", "--norc", "--noprofile", "-c", script)
	// A home with no database: the ids can only come from the server.
	cmd.Env = append(testEnviron(), "CAIRN_BIN="+cairnBin, "URL="+api, "CAIRN_HOME="+filepath.Join(t.TempDir(), "none"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("bash: %v\n%s", err, out)
	}
	if want := id + "\nhello write final\n" + id + "\n\n"; string(out) != want {
		t.Errorf("completion from a server:\n%s--- want:\n%s", out, want)
	}
}

// TestRemoteTLS: a server on HTTPS is read with its certificate trusted
// (SSL_CERT_FILE here); an untrusted certificate and http:// to the TLS
// port each say what to do.
func TestRemoteTLS(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := runIDOf(t, e.must(0, "run", testdata(t, "alpha.yaml"), "--progress", "none").stderr)
	certFile, keyFile, _ := selfSignedCert(t)
	token := strings.TrimSpace(e.must(0, "tokens", "create", "--role", "viewer").stdout)
	p := e.startWith(nil, "server", "--addr", "127.0.0.1:0", "--log-format", "json", "--tls-cert", certFile, "--tls-key", keyFile)
	s := &server{proc: p}
	addr := strings.TrimPrefix(s.waitLog(30*time.Second, "cairn server ready", nil).str("addr"), "https://")
	auth := "CAIRN_TOKEN=" + token
	if r := e.cairnEnv([]string{auth, "SSL_CERT_FILE=" + certFile}, "runs", "-q", "--server", "https://"+addr); r.code != 0 || strings.TrimSpace(r.stdout) != id {
		t.Errorf("runs over HTTPS with the certificate trusted: %s", r)
	}
	r := e.cairnEnv([]string{auth}, "runs", "--server", "https://"+addr)
	if r.code != 1 || !strings.Contains(r.stderr, "certificate") || !strings.Contains(r.stderr, "SSL_CERT_FILE") {
		t.Errorf("runs over HTTPS with an unknown certificate: %s", r)
	}
	r = e.cairnEnv([]string{auth}, "runs", "--server", "http://"+addr)
	if r.code == 0 || !strings.Contains(r.stderr, "give its URL as https://") {
		t.Errorf("runs over http:// to the TLS port: %s", r)
	}
	for _, out := range []string{r.stdout, r.stderr} {
		if strings.Contains(out, token) {
			t.Errorf("the token was printed: %s", out)
		}
	}
}

// TestServerAnswersChecked: a run from a server is printed only if its
// ids and states are what cairn makes (the text commands print them as
// they are).
func TestServerAnswersChecked(t *testing.T) {
	ok := func() runjson.Run {
		return runjson.Run{ID: "01m8x0t6q2yphmef", Workflow: "alpha", State: cairn.RunSucceeded,
			Tasks: []runjson.Task{{ID: "hello", Type: "shell", State: cairn.TaskSucceeded,
				Attempt: []runjson.Attempt{{Number: 1, State: cairn.AttemptInterrupted}, {Number: 2, State: cairn.TaskSucceeded}}}}}
	}
	j := ok()
	if d, err := detailFromJSON(&j); err != nil || len(d.all) != 2 || d.atts["hello"][1].TaskID != "hello" {
		t.Fatalf("a good run: %v %+v", err, d)
	}
	j = ok()
	from := cairn.AttemptRef{RunID: "01m8x0t6q2yphmeg", TaskID: "hello", Number: 1}
	j.Tasks[0].Attempt[1].CachedFrom = &from
	if d, err := detailFromJSON(&j); err != nil || d.atts["hello"][1].CachedFrom != from || d.cached() != 1 {
		t.Fatalf("a good run with a reused task: %v %+v", err, d)
	}
	for name, spoil := range map[string]func(*runjson.Run){
		"run id":        func(r *runjson.Run) { r.ID = "\x1b[2J0000000000" },
		"run state":     func(r *runjson.Run) { r.State = "done" },
		"workflow":      func(r *runjson.Run) { r.Workflow = "a\u202eb" },
		"task id":       func(r *runjson.Run) { r.Tasks[0].ID = "x\ny" },
		"empty task":    func(r *runjson.Run) { r.Tasks[0].ID = "" },
		"task type":     func(r *runjson.Run) { r.Tasks[0].Type = "\x07" },
		"task state":    func(r *runjson.Run) { r.Tasks[0].State = "interrupted" },
		"attempt state": func(r *runjson.Run) { r.Tasks[0].Attempt[1].State = "won" },
		"cached from run": func(r *runjson.Run) {
			r.Tasks[0].Attempt[1].CachedFrom = &cairn.AttemptRef{RunID: "\x1b]0;x\x07000000000", TaskID: "hello", Number: 1}
		},
		"cached from task": func(r *runjson.Run) {
			r.Tasks[0].Attempt[1].CachedFrom = &cairn.AttemptRef{RunID: "01m8x0t6q2yphmef", TaskID: "a\x1b[2Jb", Number: 1}
		},
		"cached from attempt": func(r *runjson.Run) {
			r.Tasks[0].Attempt[1].CachedFrom = &cairn.AttemptRef{RunID: "01m8x0t6q2yphmef", TaskID: "hello", Number: 0}
		},
	} {
		j := ok()
		spoil(&j)
		if _, err := detailFromJSON(&j); err == nil {
			t.Errorf("%s: a spoiled run was taken", name)
		}
	}
}
