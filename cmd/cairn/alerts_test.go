package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairnml/cairn/alerts"
	"github.com/cairnml/cairn/ui/runjson"
)

// hookReceiver is a loopback webhook: each path answers from a script of
// statuses (the last repeated); hold, if set, keeps the first request
// without an answer until it is closed.
type hookReceiver struct {
	mu     sync.Mutex
	script map[string][]int
	got    map[string][]hookCall
	hold   chan struct{}
	srv    *httptest.Server
}

type hookCall struct {
	key  string
	body []byte
}

func newHookReceiver(t *testing.T, script map[string][]int) *hookReceiver {
	h := &hookReceiver{script: script, got: map[string][]hookCall{}}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.got[r.URL.Path] = append(h.got[r.URL.Path], hookCall{key: r.Header.Get("Idempotency-Key"), body: b})
		n, sts, hold := len(h.got[r.URL.Path]), h.script[r.URL.Path], h.hold
		h.mu.Unlock()
		if hold != nil && n == 1 {
			select {
			case <-hold:
			case <-r.Context().Done():
			}
		}
		st := http.StatusOK
		if len(sts) > 0 {
			st = sts[min(n, len(sts))-1]
		}
		w.WriteHeader(st)
	}))
	t.Cleanup(func() {
		h.mu.Lock()
		if h.hold != nil {
			select {
			case <-h.hold:
			default:
				close(h.hold)
			}
		}
		h.mu.Unlock()
		h.srv.Close()
	})
	return h
}

func (h *hookReceiver) calls(path string) []hookCall {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hookCall(nil), h.got[path]...)
}

func notifyWorkflow(t *testing.T, hooks string) string {
	t.Helper()
	src := "name: nightly\nnotify:\n" + hooks + `tasks:
  - id: boom
    type: shell
    with: {script: "exit 3"}
    retries: 0
`
	path := filepath.Join(t.TempDir(), "nightly.yaml")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestAlertsOfAForegroundRun: a failing run's alerts reach a loopback
// receiver before cairn run exits — one retried after a 503 and sent
// once with the same key, one refused with a 404 and recorded failed —
// and cairn alerts list (here and through a server) says so.
func TestAlertsOfAForegroundRun(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rcv := newHookReceiver(t, map[string][]int{"/flaky": {503, 200}, "/gone": {404}})
	wf := notifyWorkflow(t, "  - {on: failure, webhook: \""+rcv.srv.URL+"/flaky\"}\n"+
		"  - {on: [success, failure], webhook: \""+rcv.srv.URL+"/gone\", format: slack}\n"+
		"  - {on: success, webhook: \""+rcv.srv.URL+"/never\"}\n")
	r := e.cairnEnv([]string{envPublicURL + "=https://cairn.example.com", envTestAlertTimeout + "=5s"}, "run", wf, "--progress", "none")
	if r.code != 1 {
		t.Fatalf("a failing run: %s", r)
	}
	id := runIDOf(t, r.stderr)
	flaky := rcv.calls("/flaky")
	if len(flaky) != 2 || flaky[0].key == "" || flaky[0].key != flaky[1].key || !strings.HasPrefix(flaky[0].key, id) {
		t.Fatalf("/flaky got %+v", flaky)
	}
	var b alerts.Body
	if err := json.Unmarshal(flaky[1].body, &b); err != nil {
		t.Fatal(err)
	}
	if b.Workflow != "nightly" || b.RunID != id || b.Event != "failure" || b.IdempotencyKey != flaky[0].key ||
		b.Link == nil || *b.Link != "https://cairn.example.com/runs/"+id || !strings.Contains(b.Detail, "boom") {
		t.Errorf("the alert's body: %s", flaky[1].body)
	}
	if gone := rcv.calls("/gone"); len(gone) != 1 || !strings.Contains(string(gone[0].body), `"text":"Cairn: run failed of workflow nightly: <https://cairn.example.com/runs/`+id) {
		t.Errorf("/gone got %+v", gone)
	}
	if n := len(rcv.calls("/never")); n != 0 {
		t.Errorf("a success alert sent for a failed run: %d", n)
	}
	page := decodeJSON[runjson.AlertPage](t, e.must(0, "alerts", "list", "--run", id, "--json"))
	if len(page.Alerts) != 2 {
		t.Fatalf("alerts list: %+v", page)
	}
	failed, sent := page.Alerts[0], page.Alerts[1]
	if sent.State != "sent" || sent.Attempts != 2 || !strings.Contains(sent.LastError, "HTTP 503") || sent.Webhook != rcv.srv.URL+"/flaky" {
		t.Errorf("the sent alert: %+v", sent)
	}
	if failed.State != "failed" || failed.Attempts != 1 || failed.LastError != "HTTP 404" || failed.Format != "slack" {
		t.Errorf("the failed alert: %+v", failed)
	}
	// A sent alert's earlier failure is marked as before the send (found
	// by the trial: "sent … HTTP 503" read as if the send failed).
	if text := e.must(0, "alerts", "list", "--state", "sent").stdout; !strings.Contains(text, "before: HTTP 503") {
		t.Errorf("alerts list --state sent:\n%s", text)
	}
	text := e.must(0, "alerts", "list", "--state", "failed").stdout
	if !strings.Contains(text, "LAST ERROR") || !strings.Contains(text, "HTTP 404") || strings.Contains(text, "HTTP 503") {
		t.Errorf("alerts list --state failed:\n%s", text)
	}
	// The next page's command keeps the home and the filters it was given
	// (here without CAIRN_HOME, so --home is what names the home).
	r = e.cairnEnv([]string{"CAIRN_HOME="}, "alerts", "list", "--run", id, "--limit", "1")
	if r.code != 0 || !strings.Contains(r.stderr, "more: cairn --home "+shellQuote(e.home)+" alerts list --run "+id+" --limit 1 --before ") {
		t.Errorf("alerts list --limit 1 without CAIRN_HOME:\n%s", r)
	}
	api := e.apiServer()
	if r := e.must(0, "alerts", "list", "--run", id, "--json", "--server", api); r.stdout != e.must(0, "alerts", "list", "--run", id, "--json").stdout {
		t.Errorf("the server lists otherwise:\n%s", r.stdout)
	}
	if r := e.must(2, "alerts", "list", "--state", "lost"); !strings.Contains(r.stderr, "want pending, sent or failed") {
		t.Errorf("a bad state: %s", r)
	}
}

// TestAlertSurvivesKill: cairn run is killed (-9) while its alert's
// webhook has not answered — the run's end and its alert committed, the
// delivery not recorded. A server started on the home afterwards takes
// the alert over once its claim lapses and delivers it: the receiver has
// it once or twice, every copy with the same idempotency key, and the
// alert is recorded sent.
func TestAlertSurvivesKill(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rcv := newHookReceiver(t, nil)
	rcv.hold = make(chan struct{})
	wf := notifyWorkflow(t, "  - {on: failure, webhook: \""+rcv.srv.URL+"/hook\"}\n")
	env := []string{envTestAlertTimeout + "=8s"}
	p := e.startWith(env, "run", wf, "--progress", "none")
	id := p.runID()
	waitFor(t, 60*time.Second, "the webhook's first request", func() bool { return len(rcv.calls("/hook")) == 1 || p.exited() })
	if p.exited() {
		t.Fatalf("cairn run exited before its alert was sent:\n%s", p.stderr.String())
	}
	p.kill9()
	first := rcv.calls("/hook")[0]
	if !strings.HasPrefix(first.key, id+"/failure/") {
		t.Fatalf("the first copy's key: %q", first.key)
	}
	page := decodeJSON[runjson.AlertPage](t, e.must(0, "alerts", "list", "--json"))
	if len(page.Alerts) != 1 || page.Alerts[0].State != "pending" || page.Alerts[0].Attempts != 1 {
		t.Fatalf("after the kill: %+v", page.Alerts)
	}
	srv := e.startServer(env, "--insecure-no-auth")
	defer srv.term()
	waitFor(t, 60*time.Second, "the alert delivered by the server", func() bool {
		page = decodeJSON[runjson.AlertPage](t, e.must(0, "alerts", "list", "--json"))
		return page.Alerts[0].State == "sent"
	})
	calls := rcv.calls("/hook")
	if len(calls) < 1 || len(calls) > 2 {
		t.Fatalf("the receiver has %d copies, want 1 or 2", len(calls))
	}
	for _, c := range calls {
		if c.key != first.key {
			t.Errorf("a copy with key %q, want %q", c.key, first.key)
		}
	}
	if page.Alerts[0].Attempts != 2 {
		t.Errorf("attempts: %+v", page.Alerts[0])
	}
}
