package main

// /metrics of the real `cairn server` binary: the loopback --metrics-addr
// without a token, /metrics on --addr behind the same authorization as
// the UI, a scrape that promtool accepts after a run, and the server's
// JSON log naming the run in its attributes.

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// jsonLog returns the JSON lines of a server's stderr.
func jsonLog(p *proc) []map[string]any {
	var out []map[string]any
	for _, text := range strings.Split(p.stderr.String(), "\n") {
		var l map[string]any
		if strings.HasPrefix(text, "{") && json.Unmarshal([]byte(text), &l) == nil {
			out = append(out, l)
		}
	}
	return out
}

// logValue waits for a log line with message msg and returns its
// attribute key.
func logValue(t *testing.T, p *proc, msg, key string) string {
	t.Helper()
	var v string
	waitFor(t, 30*time.Second, "the server to log "+msg, func() bool {
		if p.exited() {
			t.Fatalf("cairn server exited:\n%s", p.stderr.String())
		}
		for _, l := range jsonLog(p) {
			if l["msg"] == msg {
				v, _ = l[key].(string)
				return true
			}
		}
		return false
	})
	return v
}

func httpGet(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp, string(b)
}

// sampleValue returns the value of the sample series ("name{labels}" as
// written) in an exposition.
func sampleValue(t *testing.T, text, series string) float64 {
	t.Helper()
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	t.Fatalf("no sample %s in:\n%s", series, text)
	return 0
}

func TestServerMetrics(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	srv := e.start("server", "--addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0", "--log-format", "json")
	addr := logValue(t, srv, "cairn server ready", "addr")
	metricsURL := logValue(t, srv, "serving /metrics without a token on a loopback address", "metrics")
	if !strings.HasPrefix(metricsURL, "http://127.0.0.1:") || !strings.HasSuffix(metricsURL, "/metrics") {
		t.Fatalf("metrics served at %q", metricsURL)
	}

	wf := filepath.Join(t.TempDir(), "two.yaml")
	if err := os.WriteFile(wf, []byte("name: two\ntasks:\n  - {id: a, type: noop}\n  - {id: b, type: noop, needs: [a]}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := e.must(0, "run", "--detach", wf)
	id := strings.TrimSpace(r.stdout)
	waitFor(t, 30*time.Second, "run "+id+" to succeed", func() bool {
		s := e.show(id)
		if s.State.Terminal() && s.State != "succeeded" {
			t.Fatalf("run %s ended %s", id, s.State)
		}
		return s.State == "succeeded"
	})
	// The run's end is counted once the service let it go.
	var text string
	waitFor(t, 30*time.Second, "the scrape to count the run's end", func() bool {
		resp, body := httpGet(t, metricsURL)
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain; version=0.0.4") {
			t.Fatalf("GET %s: %s %q\n%s", metricsURL, resp.Status, resp.Header.Get("Content-Type"), body)
		}
		text = body
		return strings.Contains(body, "\ncairn_runs_ended_total{state=\"succeeded\"} 1\n")
	})
	promtoolCheck(t, text)
	for series, want := range map[string]float64{
		`cairn_runs{state="succeeded"}`: 1,
		`cairn_runs{state="running"}`:   0,
		`cairn_runs_owned`:              0,
		`cairn_queue_depth`:             0,
		`cairn_database_up`:             1,
		`cairn_leader`:                  1, // the only server on its database leads it
		`cairn_task_attempt_duration_seconds_count{type="noop",outcome="succeeded"}`: 2,
	} {
		if got := sampleValue(t, text, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	if !strings.Contains(text, `goversion="`+runtime.Version()+`"} 1`) {
		t.Errorf("no cairn_build_info with this Go version in:\n%s", text)
	}
	now := float64(time.Now().UnixNano()) / 1e9
	if start := sampleValue(t, text, "cairn_process_start_time_seconds"); start > now || start < now-3600 {
		t.Errorf("cairn_process_start_time_seconds %v is not this server's start", start)
	}

	// On --addr, /metrics is read access, denied without a token.
	resp, body := httpGet(t, "http://"+strings.TrimPrefix(addr, "http://")+"/metrics")
	if resp.StatusCode != http.StatusUnauthorized || strings.Contains(body, "cairn_runs") {
		t.Errorf("GET /metrics on --addr without a token: %s\n%s", resp.Status, body)
	}

	// GET /api/v1/server: this server, and that it leads (the only one
	// on its database); read access.
	serverURL := "http://" + strings.TrimPrefix(addr, "http://") + "/api/v1/server"
	if resp, body := httpGet(t, serverURL); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /api/v1/server without a token: %s\n%s", resp.Status, body)
	}
	token := strings.TrimSpace(e.must(0, "tokens", "create", "--role", "viewer").stdout)
	status, body := request(t, &http.Client{Timeout: 10 * time.Second}, http.MethodGet, serverURL, "Authorization", "Bearer "+token)
	var info struct {
		Owner   string `json:"owner"`
		Leading bool   `json:"leading"`
		Leader  *struct {
			Holder string `json:"holder"`
			Epoch  int64  `json:"epoch"`
			Live   bool   `json:"live"`
		} `json:"leader"`
	}
	if err := json.Unmarshal([]byte(body), &info); status != http.StatusOK || err != nil {
		t.Fatalf("GET /api/v1/server: %d %v\n%s", status, err, body)
	}
	if owner := logValue(t, srv, "cairn server ready", "owner"); info.Owner != owner || !info.Leading || info.Leader == nil ||
		info.Leader.Holder != owner || info.Leader.Epoch != 1 || !info.Leader.Live {
		t.Errorf("GET /api/v1/server = %s; want this server (%s) leading at epoch 1", body, owner)
	}

	// Every log line that names the run has its id as the run attribute.
	named := 0
	for _, l := range jsonLog(srv) {
		b, _ := json.Marshal(l)
		if strings.Contains(string(b), id) {
			named++
			if l["run"] != id {
				t.Errorf("log line names run %s without it as the run attribute: %s", id, b)
			}
		}
	}
	if named < 2 {
		t.Errorf("%d log lines name the run, want its start and its end:\n%s", named, srv.stderr.String())
	}

	if err := srv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := srv.wait(30 * time.Second); code != 143 {
		t.Fatalf("cairn server exited %d after SIGTERM, want 143:\n%s", code, srv.stderr.String())
	}
}

// --metrics-addr serves without a token, so only on a loopback address.
func TestServerMetricsAddrLoopbackOnly(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, addr := range []string{"0.0.0.0:0", ":9464", "[::]:0", "example.com:9464", "9464"} {
		r := e.must(2, "server", "--addr", "127.0.0.1:0", "--metrics-addr", addr)
		if !strings.Contains(r.stderr, "--metrics-addr") || !strings.Contains(r.stderr, "127.0.0.1:9464") {
			t.Errorf("--metrics-addr %s: stderr does not say what to give:\n%s", addr, r.stderr)
		}
	}
}

// promtoolCheck runs `promtool check metrics` (Debian's prometheus
// package, installed by make deps) on an exposition.
func promtoolCheck(t *testing.T, text string) {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		path, err = exec.LookPath("../../bin/deps/promtool") // where make deps puts it
	}
	if err != nil {
		t.Log("promtool is not installed (make deps takes it out of Debian's prometheus package into bin/deps): the scrape is not linted")
		return
	}
	cmd := exec.Command(path, "check", "metrics")
	cmd.Stdin = strings.NewReader(text)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s\nthe scrape:\n%s", err, out, text)
	}
}
