package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/remote"
	"github.com/cairnml/cairn/store/sqlite"
)

// --- remote workers (cairn worker) against a real server, over loopback -------------

// workerProc is a `cairn worker` running in the background, logging JSON.
type workerProc struct {
	*proc
	id, home string
}

// startWorker starts `cairn worker` with a home of its own against srv
// (http://ADDR unless url is given), with the worker token in
// CAIRN_WORKER_TOKEN, and waits for its ready line.
func (e *env) startWorker(srv *server, token string, extraEnv []string, args ...string) *workerProc {
	e.t.Helper()
	p := e.startWorkerNoWait(srv, token, extraEnv, args...)
	waitFor(e.t, 30*time.Second, "the worker's ready line", func() bool {
		if p.exited() {
			e.t.Fatalf("cairn worker exited:\n%s", p.stderr.String())
		}
		l, ok := (&server{proc: p.proc}).find("cairn worker ready", nil)
		if ok {
			p.id = l.str("worker")
		}
		return ok
	})
	return p
}

func (e *env) startWorkerNoWait(srv *server, token string, extraEnv []string, args ...string) *workerProc {
	e.t.Helper()
	return e.startWorkerAt(e.t.TempDir(), srv, token, extraEnv, args...)
}

// startWorkerAt is startWorkerNoWait with the worker's home at home.
func (e *env) startWorkerAt(home string, srv *server, token string, extraEnv []string, args ...string) *workerProc {
	e.t.Helper()
	url := "http://" + srv.addr
	for i := 0; i+1 < len(args); i++ {
		if args[i] == "--server" {
			url = ""
		}
	}
	full := []string{"--home", home, "worker", "--log-format", "json"}
	if url != "" {
		full = append(full, "--server", url)
	}
	p := e.startWith(append([]string{"CAIRN_WORKER_TOKEN=" + token}, extraEnv...), append(full, args...)...)
	return &workerProc{proc: p, home: home}
}

// token makes a token of role on the env's home.
func (e *env) token(role string) (id, text string) {
	e.t.Helper()
	r := e.must(0, "tokens", "create", "--role", role)
	text = strings.TrimSpace(r.stdout)
	id = strings.Split(text, "_")[1]
	return id, text
}

// attemptsOf reads a task's attempts from the env's database.
func (e *env) attemptsOf(runID, taskID string) []*cairn.Attempt {
	e.t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(e.home, "cairn.db"), sqlite.ReadOnly())
	if err != nil {
		e.t.Fatal(err)
	}
	defer st.Close()
	as, err := st.ListAttempts(context.Background(), runID, taskID)
	if err != nil {
		e.t.Fatal(err)
	}
	return as
}

// api calls the worker API of srv as a worker would, and returns the
// status and the decoded body.
func api(t *testing.T, srv *server, method, path, token, worker string, body any, hdr ...string) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, "http://"+srv.addr+remote.Prefix+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(remote.HeaderProtocol, fmt.Sprint(cairn.WorkerProtocol))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if worker != "" {
		req.Header.Set(remote.HeaderWorker, worker)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	c := http.Client{Timeout: 60 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out := map[string]any{}
	b, _ := io.ReadAll(resp.Body)
	if len(bytes.TrimSpace(b)) > 0 {
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatalf("%s %s: %d, not JSON: %s", method, path, resp.StatusCode, b)
		}
	}
	return resp.StatusCode, out
}

const shellRemote = `
name: remote-shell
tasks:
  - id: hello
    type: shell
    with: {argv: ["sh", "-c", "echo hello from $CAIRN_TASK_ID; echo to stderr >&2"]}
  - id: count
    type: shell
    needs: [hello]
    with: {argv: ["sh", "-c", "for i in 1 2 3; do echo line $i; done"]}
`

// Two worker processes run the breast cancer example and a shell workflow
// for a server that runs no task itself (--workers 0): every attempt is
// theirs, the logs are on the server, the example's outputs are what the
// in-process run gives.
func TestRemoteWorkersRunExamples(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, tok := e.token("worker")
	srv := e.startServer(nil, "--workers", "0")
	w1 := e.startWorker(srv, tok, nil, "--concurrency", "2", "--name", "one")
	w2 := e.startWorker(srv, tok, nil, "--concurrency", "2", "--name", "two")
	ours := map[string]bool{w1.id: true, w2.id: true}

	example, _ := filepath.Abs("../../workflows/examples/breast-cancer.yaml")
	id, _ := e.detach(example)
	run := e.waitRunState(90*time.Second, id, "succeeded")
	if len(run.Tasks) != 8 {
		t.Fatalf("%d tasks, want 8", len(run.Tasks))
	}
	for _, tk := range run.Tasks {
		for _, a := range e.attemptsOf(id, tk.ID) {
			if !ours[a.Worker] {
				t.Errorf("%s attempt %d ran on %q, not on a remote worker", tk.ID, a.Number, a.Worker)
			}
		}
	}
	// The same run in process gives the same model, byte for byte.
	local := e.must(0, "run", "--no-cache", example, "--progress", "lines")
	localID := runIDOf(t, local.stderr)
	if got, want := taskByID(t, e.show(id), "train").Outputs["model"], taskByID(t, e.show(localID), "train").Outputs["model"]; string(got) != string(want) {
		t.Errorf("the remote model %s differs from the in-process one %s", got, want)
	}

	shell := writeWorkflow(t, "remote-shell.yaml", shellRemote)
	id, _ = e.detach(shell)
	e.waitRunState(60*time.Second, id, "succeeded")
	if got := e.must(0, "logs", id, "hello").stdout; !strings.Contains(got, "hello from hello") || !strings.Contains(got, "to stderr") {
		t.Errorf("the server has the log of hello as:\n%s", got)
	}
	if got := e.must(0, "logs", id, "count").stdout; got != "line 1\nline 2\nline 3\n" {
		t.Errorf("the server has the log of count as %q", got)
	}
	// The inputs the workers fetched are in their caches, by digest.
	var cached int
	for _, w := range []*workerProc{w1, w2} {
		m, _ := filepath.Glob(filepath.Join(w.home, "cache", "sha256", "*", "*"))
		cached += len(m)
	}
	if cached == 0 {
		t.Error("no artifact in the workers' caches")
	}
	// SIGTERM: each worker drains and deregisters.
	for _, w := range []*workerProc{w1, w2} {
		if err := w.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if code := w.wait(30 * time.Second); code != 143 {
			t.Errorf("worker exited %d after SIGTERM, want 143\n%s", code, w.stderr.String())
		}
		if !strings.Contains(w.stderr.String(), `"msg":"stopped"`) {
			t.Errorf("the worker did not deregister:\n%s", w.stderr.String())
		}
	}
	srv.waitLog(10*time.Second, "worker stopped", map[string]string{"worker": w1.id})
}

// A worker killed with -9 in the middle of a task: once the lease TTL
// passed without a call from it, it is marked lost, its attempt ends
// interrupted naming it, and the task runs again at once on the other
// worker, without spending a retry; what the dead worker would send
// afterwards is refused and changes nothing.
func TestRemoteWorkerKilled(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, tok := e.token("worker")
	srv := e.startServer(nil, "--workers", "0", "--lease-ttl", "2s")
	ledger := filepath.Join(t.TempDir(), "ledger")
	wf := writeWorkflow(t, "victim.yaml", fmt.Sprintf(`
name: victim
tasks:
  - id: long
    type: shell
    retries: 0
    with: {argv: ["sh", "-c", "echo $CAIRN_ATTEMPT >> %s; if [ $CAIRN_ATTEMPT = 1 ]; then sleep 120; fi"]}
`, ledger))
	a := e.startWorker(srv, tok, nil, "--concurrency", "1", "--name", "victim")
	id, _ := e.detach(wf)
	waitFor(t, 60*time.Second, "attempt 1 to start on the first worker", func() bool {
		b, _ := os.ReadFile(ledger)
		return string(b) == "1\n"
	})
	b := e.startWorker(srv, tok, nil, "--concurrency", "1", "--name", "spare")
	killed := time.Now()
	a.kill9()
	run := e.waitRunState(60*time.Second, id, "succeeded")
	took := time.Since(killed)
	as := e.attemptsOf(id, "long")
	if len(as) != 2 {
		t.Fatalf("%d attempts, want 2: %+v", len(as), as)
	}
	wantErr := "worker victim (" + a.id + ") lost: no heartbeat since "
	if as[0].Worker != a.id || as[0].State != cairn.AttemptInterrupted || !strings.HasPrefix(as[0].Error, wantErr) {
		t.Errorf("attempt 1: %s by %s: %q; want interrupted by %s: %q…", as[0].State, as[0].Worker, as[0].Error, a.id, wantErr)
	}
	if as[1].Worker != b.id || as[1].State != cairn.TaskSucceeded {
		t.Errorf("attempt 2: %s by %s, want succeeded by %s", as[1].State, as[1].Worker, b.id)
	}
	if tk := taskByID(t, run, "long"); tk.Interrupted != 1 {
		t.Errorf("long: %d interruptions, want 1 (retries: 0, and it still ran again)", tk.Interrupted)
	}
	t.Logf("killed → run succeeded again elsewhere: %s (lease TTL 2s)", took)
	srv.waitLog(5*time.Second, "worker lost: no call within the lease TTL", map[string]string{"worker": a.id})

	// The dead worker's late words: refused, nothing changes.
	before := e.must(0, "show", id, "--json").stdout
	lease := map[string]any{"run_id": id, "task_id": "long", "attempt": 1, "token": "00000000000000000000000000000000", "worker": a.id}
	for _, c := range []struct {
		path string
		body any
	}{
		{"heartbeat", map[string]any{"leases": []any{lease}}},
		{"complete", map[string]any{"lease": lease, "completion": map[string]any{}}},
		{"lease", map[string]any{"max": 1}},
	} {
		if status, body := api(t, srv, "POST", c.path, tok, a.id, c.body); status != http.StatusGone || body["code"] != remote.CodeWorkerLost {
			t.Errorf("the lost worker's %s: %d %v, want 410 worker_lost", c.path, status, body)
		}
	}
	if after := e.must(0, "show", id, "--json").stdout; after != before {
		t.Errorf("the lost worker's late calls changed the run:\n%s\n---\n%s", before, after)
	}
}

// SIGTERM drains: a task still running at --drain-timeout is stopped and
// handed back, and runs again at once on another worker (not after the
// lease TTL), recorded interrupted, not failed.
func TestRemoteWorkerDrainHandsBack(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, tok := e.token("worker")
	srv := e.startServer(nil, "--workers", "0", "--lease-ttl", "30s")
	ledger := filepath.Join(t.TempDir(), "ledger")
	wf := writeWorkflow(t, "handback.yaml", fmt.Sprintf(`
name: handback
tasks:
  - id: long
    type: shell
    retries: 0
    with: {argv: ["sh", "-c", "echo $CAIRN_ATTEMPT >> %s; if [ $CAIRN_ATTEMPT = 1 ]; then sleep 120; fi"]}
`, ledger))
	a := e.startWorker(srv, tok, nil, "--concurrency", "1", "--drain-timeout", "1s", "--stop-grace", "3s")
	id, _ := e.detach(wf)
	waitFor(t, 60*time.Second, "attempt 1 to start", func() bool {
		b, _ := os.ReadFile(ledger)
		return string(b) == "1\n"
	})
	b := e.startWorker(srv, tok, nil, "--concurrency", "1")
	termed := time.Now()
	if err := a.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := a.wait(30 * time.Second); code != 143 {
		t.Errorf("the drained worker exited %d, want 143\n%s", code, a.stderr.String())
	}
	e.waitRunState(20*time.Second, id, "succeeded")
	if took := time.Since(termed); took > 20*time.Second {
		t.Errorf("the task ran again %s after SIGTERM: not at once", took)
	}
	as := e.attemptsOf(id, "long")
	if len(as) != 2 || as[0].State != cairn.AttemptInterrupted || as[0].Worker != a.id || as[1].Worker != b.id || as[1].State != cairn.TaskSucceeded {
		t.Fatalf("attempts %+v: want the drained worker's interrupted, then the other's succeeded", as)
	}
	if !strings.Contains(as[0].Error, "the worker stopped") {
		t.Errorf("attempt 1's error %q does not say the worker stopped it", as[0].Error)
	}
}

// The worker API's refusals: no token, a bad, revoked or user token
// (401/403, no lease); a worker token on the user API (403); another
// protocol (400 naming both, and a worker binary of another protocol
// exits saying so); another worker's lease (403, nothing changes); an
// upload whose bytes are not its digest's (422, not kept).
func TestWorkerAPIRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, tok := e.token("worker")
	revokedID, revoked := e.token("worker")
	_, viewer := e.token("viewer")
	srv := e.startServer(nil, "--workers", "0")
	reg := map[string]any{"name": "probe", "host": "h", "version": "v", "concurrency": 1}
	e.must(0, "tokens", "revoke", revokedID)
	for name, c := range map[string]struct {
		token  string
		status int
		want   string
	}{
		"no token":      {"", 401, "needs a worker token"},
		"bad token":     {"cairn_0123456789abcdef_" + strings.Repeat("a", 52), 401, "not accepted"},
		"revoked token": {revoked, 401, "revoked"},
		"viewer token":  {viewer, 403, "only a worker token may call the worker API"},
	} {
		status, body := api(t, srv, "POST", "register", c.token, "", reg)
		if status != c.status || !strings.Contains(fmt.Sprint(body["message"]), c.want) {
			t.Errorf("%s: %d %v, want %d saying %q", name, status, body, c.status, c.want)
		}
	}
	if status, _ := srv.getAuth(t, "/api/v1/runs", tok); status != 403 {
		t.Errorf("a worker token on the user API: %d, want 403", status)
	}
	// Another protocol.
	req, _ := http.NewRequest("POST", "http://"+srv.addr+remote.Prefix+"register", strings.NewReader(`{}`))
	req.Header.Set(remote.HeaderProtocol, "99")
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var pm map[string]any
	json.NewDecoder(resp.Body).Decode(&pm)
	resp.Body.Close()
	if resp.StatusCode != 400 || pm["code"] != remote.CodeProtocol || !strings.Contains(fmt.Sprint(pm["message"]), "speaks worker protocol 1; the worker speaks 99") {
		t.Errorf("protocol 99: %d %v", resp.StatusCode, pm)
	}
	old := e.startWorkerNoWait(srv, tok, []string{"CAIRN_TEST_WORKER_PROTOCOL=7"})
	if code := old.wait(30 * time.Second); code != 1 || !strings.Contains(old.stderr.String(), "speaks worker protocol 1; the worker speaks 7") {
		t.Errorf("a worker of protocol 7: exit %d\n%s", code, old.stderr.String())
	}
	bad := e.startWorkerNoWait(srv, revoked, nil)
	if code := bad.wait(30 * time.Second); code != 1 || !strings.Contains(bad.stderr.String(), "revoked") || !strings.Contains(bad.stderr.String(), "cairn tokens create --role worker") {
		t.Errorf("a worker with a revoked token: exit %d\n%s", code, bad.stderr.String())
	}

	// Two workers; one leases, the other tries to act on its lease.
	register := func() string {
		status, body := api(t, srv, "POST", "register", tok, "", reg)
		if status != 200 {
			t.Fatalf("register: %d %v", status, body)
		}
		return body["worker_id"].(string)
	}
	mine, other := register(), register()
	id, _ := e.detach(writeWorkflow(t, "one.yaml", "name: one\ntasks:\n  - {id: t, type: noop}\n"))
	var item map[string]any
	waitFor(t, 30*time.Second, "a lease", func() bool {
		status, body := api(t, srv, "POST", "lease", tok, mine, map[string]any{"max": 1, "wait_ms": 2000, "start": true})
		if status != 200 {
			t.Fatalf("lease: %d %v", status, body)
		}
		items := body["items"].([]any)
		if len(items) == 1 {
			item = items[0].(map[string]any)
		}
		return item != nil
	})
	lease := item["lease"].(map[string]any)
	before := e.must(0, "show", id, "--json").stdout
	forged := map[string]any{}
	for k, v := range lease {
		forged[k] = v
	}
	forged["worker"] = other // claimed as its own: still another's
	for _, l := range []any{lease, forged} {
		status, body := api(t, srv, "POST", "complete", tok, other, map[string]any{"lease": l, "completion": map[string]any{}})
		if status != 403 || body["code"] != remote.CodeForbidden {
			t.Errorf("another worker's completion: %d %v, want 403", status, body)
		}
		status, body = api(t, srv, "POST", "heartbeat", tok, other, map[string]any{"leases": []any{l}})
		rs, _ := body["results"].([]any)
		if status != 200 || len(rs) != 1 || rs[0].(map[string]any)["code"] != remote.CodeForbidden {
			t.Errorf("another worker's heartbeat: %d %v, want its lease refused", status, body)
		}
	}
	// A worker id with another token (a viewer's cannot even ask).
	_, tok2 := e.token("worker")
	if status, body := api(t, srv, "POST", "heartbeat", tok2, mine, map[string]any{"leases": []any{}}); status != 403 {
		t.Errorf("worker %s with another token: %d %v, want 403", mine, status, body)
	}
	if after := e.must(0, "show", id, "--json").stdout; after != before {
		t.Errorf("refused calls changed the run:\n%s\n---\n%s", before, after)
	}
	if status, body := api(t, srv, "POST", "complete", tok, mine, map[string]any{"lease": lease, "completion": map[string]any{}}); status != 200 {
		t.Errorf("the holder's completion: %d %v", status, body)
	}
	e.waitRunState(30*time.Second, id, "succeeded")

	// An upload whose bytes are not its digest's.
	sum := sha256.Sum256([]byte("the real bytes"))
	digest := "sha256:" + hex.EncodeToString(sum[:])
	status, body := api(t, srv, "PUT", "artifacts/"+digest, tok, mine, []byte("the fake bytes"))
	if status != 422 || body["code"] != remote.CodeDigest {
		t.Errorf("a mismatched upload: %d %v, want 422", status, body)
	}
	if status, _ := api(t, srv, "HEAD", "artifacts/"+digest, tok, mine, nil); status != 404 {
		t.Errorf("the mismatched upload was kept: HEAD %d", status)
	}
	if status, body := api(t, srv, "PUT", "artifacts/"+digest, tok, mine, []byte("the real bytes")); status != 204 {
		t.Errorf("the right upload: %d %v", status, body)
	}
	if status, _ := api(t, srv, "HEAD", "artifacts/"+digest, tok, mine, nil); status != 200 {
		t.Errorf("the right upload is not there: HEAD %d", status)
	}
}

// A worker reaches an HTTPS server through --ca; without it, the
// server's certificate is not trusted and the worker says so.
func TestRemoteWorkerTLS(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, tok := e.token("worker")
	cert, key, _ := selfSignedCert(t)
	srv := e.startServer(nil, "--workers", "0", "--tls-cert", cert, "--tls-key", key)
	url := "https://" + strings.TrimPrefix(srv.addr, "https://")
	srv.addr = strings.TrimPrefix(srv.addr, "https://")
	untrusted := e.startWorkerNoWait(srv, tok, nil, "--server", url)
	if code := untrusted.wait(30 * time.Second); code != 1 || !strings.Contains(untrusted.stderr.String(), "not trusted: give the certificate authority that signed it with --ca") {
		t.Errorf("a worker without --ca: exit %d\n%s", code, untrusted.stderr.String())
	}
	e.startWorker(srv, tok, nil, "--server", url, "--ca", cert)
	id, _ := e.detach(writeWorkflow(t, "tls.yaml", shellRemote))
	e.waitRunState(60*time.Second, id, "succeeded")
}

// A run's secret params reach a remote worker's task with the lease and
// are never written: not in the server's log of the attempt, nor in any
// file of the server's or the worker's home; the attempt's cache key is
// the one the server's own pool records (made from the placeholder, not
// the value).
func TestRemoteWorkerSecrets(t *testing.T) {
	t.Parallel()
	wf := writeWorkflow(t, "secret.yaml", strings.Replace(secretDetachedWorkflow, "    type: shell\n", "    type: shell\n    cache: true\n", 1))
	out := filepath.Join(t.TempDir(), "out")
	vars := []string{"CAIRN_PARAM_TOKEN=" + secretValue}
	keyOf := func(e *env, id string) string {
		as := e.attemptsOf(id, "use")
		if len(as) != 1 || as[0].CacheKey == "" {
			t.Fatalf("attempts %+v: want one with a cache key", as)
		}
		return as[0].CacheKey
	}

	e := newEnv(t)
	_, tok := e.token("worker")
	srv := e.startServer(vars, "--workers", "0")
	w := e.startWorker(srv, tok, nil)
	id, _ := e.detach(wf, "-p", "out="+out)
	e.waitRunState(60*time.Second, id, "succeeded")
	if b, _ := os.ReadFile(out); string(b) != secretValue {
		t.Errorf("the remote task got the token %q, want %q", b, secretValue)
	}
	if as := e.attemptsOf(id, "use"); as[0].Worker != w.id {
		t.Fatalf("use ran on %q, not the remote worker", as[0].Worker)
	}
	remoteKey := keyOf(e, id)
	w.cmd.Process.Signal(syscall.SIGTERM)
	w.wait(30 * time.Second)
	srv.term()
	srv.wait(30 * time.Second)
	grepTree(t, e.home, secretValue)
	grepTree(t, w.home, secretValue)
	if strings.Contains(w.stderr.String(), secretValue) || strings.Contains(srv.stderr.String(), secretValue) {
		t.Error("a log line holds the secret")
	}

	local := newEnv(t)
	srv2 := local.startServer(vars, "--workers", "2")
	id2, _ := local.detach(wf, "-p", "out="+out)
	local.waitRunState(60*time.Second, id2, "succeeded")
	if k := keyOf(local, id2); k != remoteKey {
		t.Errorf("cache key %s on the remote worker, %s in the server's pool: the secret's value went into one", remoteKey, k)
	}
	srv2.term()
	srv2.wait(30 * time.Second)
}

// TestWorkerLabelsSyntax: cairn worker takes the labels and queues a
// workflow can name, and refuses the others before it calls any server
// (a worker offering a label no task can require would never match one).
func TestWorkerLabelsSyntax(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, c := range []struct{ flag, value, want string }{
		{"--labels", "gpu=yes please", "gpu"},
		{"--labels", "gpu", "KEY=VALUE"},
		{"--labels", "gpu=true,gpu=false", "twice"},
		{"--queues", "fast lane", "fast lane"},
	} {
		r := e.must(2, "worker", "--server", "http://127.0.0.1:1", "--token", "x", c.flag, c.value)
		if !strings.Contains(r.stderr, c.flag) || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%s %q: the message names neither the flag nor %q:\n%s", c.flag, c.value, c.want, r)
		}
	}
}

// TestRetrainOnRemoteWorker: retrain reads the model registry and lineage
// (the production version, its training data, the prediction log); on a
// remote worker it reads them through the worker API, and decides as it
// does in process: the 10th of the example's drifting data is due for
// retraining, and the lineage of the retrain names what it read.
func TestRetrainOnRemoteWorker(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	boot, _ := filepath.Abs("../../workflows/examples/retrain-bootstrap.yaml")
	e.must(0, "run", boot, "--progress", "none")
	_, tok := e.token("worker")
	srv := e.startServer(nil, "--workers", "0")
	w := e.startWorker(srv, tok, nil, "--concurrency", "2")
	wf, _ := filepath.Abs("../../workflows/examples/retrain.yaml")
	id := strings.TrimSpace(e.must(0, "backfill", wf, "--from", "2024-01-10", "--to", "2024-01-10", "--quiet").stdout)
	done := e.waitRunState(120*time.Second, id, "succeeded")
	if d := taskByID(t, done, "drift"); string(d.Outputs["should_retrain"]) != "true" {
		t.Errorf("day 10 on a remote worker: should_retrain %s", d.Outputs["should_retrain"])
	}
	for _, a := range e.attemptsOf(id, "drift") {
		if a.Worker != w.id {
			t.Errorf("drift attempt %d ran on %q, not on the remote worker %s", a.Number, a.Worker, w.id)
		}
	}
	lin := e.must(0, "lineage", id+"/drift").stdout
	for _, want := range []string{"├── data ", "├── production_model ", "└── reference "} {
		if !strings.Contains(lin, want) {
			t.Errorf("lineage of the remote retrain lacks %q:\n%s", want, lin)
		}
	}
}

// TestRemoteWorkerTypes: a worker is leased only the task types it said it
// can run at registration; a task the workers of its labels cannot run
// waits, and show says for what; a real `cairn worker` says its types
// (built in, here), listed by `cairn workers --json`; a registration of
// bad types is refused.
func TestRemoteWorkerTypes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, tok := e.token("worker")
	srv := e.startServer(nil, "--workers", "0")
	register := func(name string, types []string) string {
		t.Helper()
		status, body := api(t, srv, "POST", "register", tok, "", map[string]any{"name": name, "host": "h", "version": "v",
			"concurrency": 4, "labels": map[string]string{"x": "1"}, "types": types})
		if status != 200 {
			t.Fatalf("register %s: %d %v", name, status, body)
		}
		return body["worker_id"].(string)
	}
	lease := func(worker string) []string {
		t.Helper()
		var ids []string
		status, body := api(t, srv, "POST", "lease", tok, worker, map[string]any{"max": 4, "wait_ms": 1500, "start": true})
		if status != 200 {
			t.Fatalf("lease: %d %v", status, body)
		}
		for _, it := range body["items"].([]any) {
			ids = append(ids, it.(map[string]any)["lease"].(map[string]any)["task_id"].(string))
		}
		return ids
	}
	sh := register("shell-box", []string{"shell"})
	id, _ := e.detach(writeWorkflow(t, "typed.yaml", `name: typed
tasks:
  - {id: a, type: shell, labels: {x: "1"}, with: {argv: ["true"]}}
  - {id: b, type: noop, labels: {x: "1"}}
`))
	var got []string
	waitFor(t, 30*time.Second, "the shell task leased", func() bool {
		got = append(got, lease(sh)...)
		return len(got) > 0
	})
	if len(got) != 1 || got[0] != "a" {
		t.Fatalf("the shell worker leased %v, want [a] (not the noop task)", got)
	}
	if more := lease(sh); len(more) != 0 {
		t.Fatalf("the shell worker leased %v too", more)
	}
	show := e.must(0, "show", id).stdout
	if !strings.Contains(show, "waiting: no live worker has x=1 and runs type noop (1 live worker: shell-box)") {
		t.Errorf("show does not say the noop task waits for a worker of its type:\n%s", show)
	}
	nw := register("noop-box", []string{"noop"})
	waitFor(t, 30*time.Second, "the noop task leased", func() bool {
		ids := lease(nw)
		if len(ids) > 0 && (len(ids) != 1 || ids[0] != "b") {
			t.Fatalf("the noop worker leased %v, want [b]", ids)
		}
		return len(ids) == 1
	})

	// Bad types are refused.
	for name, types := range map[string][]string{
		"unsorted": {"shell", "noop"},
		"twice":    {"noop", "noop"},
		"empty":    {""},
		"control":  {"no\x1bop"},
		"too many": func() []string {
			var ts []string
			for i := range 257 {
				ts = append(ts, fmt.Sprintf("t%03d", i))
			}
			return ts
		}(),
	} {
		status, body := api(t, srv, "POST", "register", tok, "", map[string]any{"name": "bad", "concurrency": 1, "types": types})
		if status != 400 || !strings.Contains(fmt.Sprint(body["message"]), "task types") {
			t.Errorf("types %s: %d %v, want 400 about task types", name, status, body)
		}
	}

	// A real worker says its types: every built-in one.
	w := e.startWorker(srv, tok, nil)
	var list struct {
		Workers []struct {
			ID    string   `json:"id"`
			Types []string `json:"types"`
		} `json:"workers"`
	}
	if err := json.Unmarshal([]byte(e.must(0, "workers", "--json").stdout), &list); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, lw := range list.Workers {
		if lw.ID == w.id {
			found = true
			for _, typ := range []string{"noop", "shell", "train", "evaluate", "deploy"} {
				if !slices.Contains(lw.Types, typ) {
					t.Errorf("the worker's types %v lack %s", lw.Types, typ)
				}
			}
		}
	}
	if !found {
		t.Errorf("cairn workers --json does not list worker %s", w.id)
	}
}
