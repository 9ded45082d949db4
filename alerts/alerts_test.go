package alerts

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/store/sqlite"
)

// receiver is a loopback webhook that answers from a script of statuses
// (the last one repeated) and records every request.
type receiver struct {
	mu       sync.Mutex
	statuses []int
	got      []request
	srv      *httptest.Server
}

type request struct {
	key, ctype string
	body       []byte
}

func newReceiver(t *testing.T, statuses ...int) *receiver {
	r := &receiver{statuses: statuses}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, request{key: req.Header.Get("Idempotency-Key"), ctype: req.Header.Get("Content-Type"), body: b})
		st := r.statuses[min(len(r.got)-1, len(r.statuses)-1)]
		r.mu.Unlock()
		w.WriteHeader(st)
		io.WriteString(w, http.StatusText(st))
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) requests() []request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]request(nil), r.got...)
}

// failedRun stores a run of workflow wf with one target and ends it failed.
func failedRun(t *testing.T, st *sqlite.Store, hook, format string, at time.Time) *cairn.Run {
	t.Helper()
	ctx := context.Background()
	run := &cairn.Run{ID: cairn.NewRunID(at), Workflow: "nightly", Digest: "sha256:" + strings.Repeat("0", 64), Source: []byte("x"),
		State: cairn.RunQueued, CreatedAt: at,
		Notify: []cairn.NotifyTarget{{On: []cairn.AlertEvent{cairn.AlertFailure}, Webhook: hook, Format: format}}}
	if err := st.CreateRun(ctx, run, nil); err != nil {
		t.Fatal(err)
	}
	for _, c := range []scheduler.RunChange{{FromVersion: 1, From: cairn.RunQueued, To: cairn.RunRunning, At: at},
		{FromVersion: 2, From: cairn.RunRunning, To: cairn.RunFailed, Error: "task train failed", At: at}} {
		if err := st.ApplyPlan(ctx, &scheduler.Plan{RunID: run.ID, Run: &c}); err != nil {
			t.Fatal(err)
		}
	}
	return run
}

func open(t *testing.T) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "cairn.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestRetriedThenSentOnce(t *testing.T) {
	st := open(t)
	rcv := newReceiver(t, 503, 500, 200)
	run := failedRun(t, st, rcv.srv.URL+"/hook", cairn.AlertJSON, time.Now())
	s, err := New(Options{Store: st, Owner: "test:1:a", PublicURL: "https://cairn.example.com/", Backoff: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	left, err := s.DrainRun(context.Background(), run.ID, time.Now().Add(10*time.Second))
	if err != nil || left != 0 {
		t.Fatalf("DrainRun: %d left, %v", left, err)
	}
	got := rcv.requests()
	if len(got) != 3 {
		t.Fatalf("%d requests, want 3 (503, 500, then 200)", len(got))
	}
	var b Body
	if err := json.Unmarshal(got[2].body, &b); err != nil {
		t.Fatal(err)
	}
	if b.Workflow != "nightly" || b.RunID != run.ID || b.Event != cairn.AlertFailure || b.Detail != "task train failed" ||
		b.Link == nil || *b.Link != "https://cairn.example.com/runs/"+run.ID || b.IdempotencyKey == "" {
		t.Errorf("body: %s", got[2].body)
	}
	for _, r := range got {
		if r.key != b.IdempotencyKey || r.ctype != "application/json" {
			t.Errorf("a delivery with key %q (%s), want %q", r.key, r.ctype, b.IdempotencyKey)
		}
	}
	as, err := st.ListAlerts(context.Background(), cairn.AlertFilter{})
	if err != nil || len(as) != 1 || as[0].State != cairn.AlertSent || as[0].Attempts != 3 || !strings.Contains(as[0].LastError, "HTTP 500") {
		t.Errorf("the alert as recorded: %+v, %v", as, err)
	}
	// Sent: nothing more goes out.
	if n, err := s.Deliver(context.Background(), ""); n != 0 || err != nil {
		t.Errorf("a sent alert delivered again: %d, %v", n, err)
	}
}

func TestClientErrorFails(t *testing.T) {
	st := open(t)
	rcv := newReceiver(t, 404)
	run := failedRun(t, st, rcv.srv.URL+"/gone", cairn.AlertSlack, time.Now())
	s, err := New(Options{Store: st, Owner: "test:1:a"})
	if err != nil {
		t.Fatal(err)
	}
	if left, err := s.DrainRun(context.Background(), run.ID, time.Now().Add(5*time.Second)); err != nil || left != 0 {
		t.Fatalf("DrainRun: %d left, %v", left, err)
	}
	got := rcv.requests()
	if len(got) != 1 {
		t.Fatalf("%d requests, want 1: a 4xx is not retried", len(got))
	}
	var slack map[string]string
	if err := json.Unmarshal(got[0].body, &slack); err != nil || !strings.Contains(slack["text"], "run failed of workflow nightly: "+run.ID) || len(slack) != 1 {
		t.Errorf("slack body: %s", got[0].body)
	}
	as, _ := st.ListAlerts(context.Background(), cairn.AlertFilter{State: cairn.AlertFailed})
	if len(as) != 1 || as[0].LastError != "HTTP 404: Not Found" || as[0].Attempts != 1 {
		t.Errorf("failed alerts: %+v", as)
	}
}

func TestGivesUpAndDrainIsBounded(t *testing.T) {
	st := open(t)
	// Nothing listens here: connection refused, retried.
	dead := httptest.NewServer(http.NotFoundHandler())
	hook := dead.URL + "/x/secret-token"
	dead.Close()
	run := failedRun(t, st, hook, cairn.AlertJSON, time.Now())
	s, err := New(Options{Store: st, Owner: "test:1:a", Backoff: time.Hour, MaxAttempts: 2})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	left, err := s.DrainRun(context.Background(), run.ID, time.Now().Add(2*time.Second))
	if err != nil || left != 1 {
		t.Fatalf("DrainRun: %d left, %v", left, err)
	}
	if time.Since(start) > 2*time.Second+500*time.Millisecond {
		t.Errorf("DrainRun waited %v for a retry due in an hour", time.Since(start))
	}
	as, _ := st.ListAlerts(context.Background(), cairn.AlertFilter{})
	if len(as) != 1 || as[0].State != cairn.AlertPending || !strings.Contains(as[0].LastError, "connection refused") ||
		strings.Contains(as[0].LastError, "secret-token") {
		t.Fatalf("after one refused attempt: %+v", as)
	}
	// The second attempt is the last: failed, saying so.
	s2, _ := New(Options{Store: st, Owner: "test:2:b", MaxAttempts: 2, Now: func() time.Time { return time.Now().Add(2 * time.Hour) }})
	if n, err := s2.Deliver(context.Background(), ""); n != 1 || err != nil {
		t.Fatalf("Deliver: %d, %v", n, err)
	}
	as, _ = st.ListAlerts(context.Background(), cairn.AlertFilter{})
	if as[0].State != cairn.AlertFailed || !strings.HasPrefix(as[0].LastError, "gave up after 2 attempts: ") {
		t.Errorf("after the last attempt: %+v", as[0])
	}
}

func TestStartStop(t *testing.T) {
	st := open(t)
	rcv := newReceiver(t, 200)
	failedRun(t, st, rcv.srv.URL, cairn.AlertJSON, time.Now())
	s, _ := New(Options{Store: st, Owner: "server:1:a", Poll: 20 * time.Millisecond})
	s.Start(context.Background())
	deadline := time.Now().Add(10 * time.Second)
	for len(rcv.requests()) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	s.Stop()
	s.Stop() // twice is fine
	if len(rcv.requests()) != 1 {
		t.Errorf("%d requests", len(rcv.requests()))
	}
}

// Text from data (a drifted column's name, a detail) is escaped in a
// Slack body: never a <!channel> ping or a disguised <URL|label> link;
// Cairn's own link to the run or model stays a link.
func TestSlackBodyEscapesData(t *testing.T) {
	s := &Sender{o: Options{PublicURL: "https://cairn.example.com"}}
	hostile := "drifted features: <!channel>, <https://evil.example/login|Cairn: sign in again> & more"
	for _, a := range []cairn.Alert{
		{Format: cairn.AlertSlack, Workflow: "w<@U1>", RunID: "01abc", Event: cairn.AlertDrift, TaskID: "r", Detail: hostile},
		{Format: cairn.AlertSlack, Model: "churn", Version: 2, Event: cairn.AlertLiveMetricBelow, Detail: hostile},
	} {
		b, err := s.body(a)
		if err != nil {
			t.Fatal(err)
		}
		var slack map[string]string
		if err := json.Unmarshal(b, &slack); err != nil {
			t.Fatal(err)
		}
		text := slack["text"]
		for _, bad := range []string{"<!channel>", "<https://evil", "<@U1>", " & more"} {
			if strings.Contains(text, bad) {
				t.Errorf("slack text %q holds %q unescaped", text, bad)
			}
		}
		if !strings.Contains(text, "&lt;!channel&gt;") || !strings.Contains(text, "&amp; more") || !strings.Contains(text, "<https://cairn.example.com/") {
			t.Errorf("slack text %q: want the data escaped and Cairn's own link kept", text)
		}
	}
}

// TestHangingReceiverDelaysOnlyItsOwn: a receiver that accepts and never
// answers holds back its own alert (until the timeout), not another
// run's: Start's rounds do not wait for the sends of the rounds before.
func TestHangingReceiverDelaysOnlyItsOwn(t *testing.T) {
	st := open(t)
	hang := make(chan struct{})
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	defer hung.Close()
	defer close(hang)
	rcv := newReceiver(t, 200)
	failedRun(t, st, hung.URL, cairn.AlertJSON, time.Now())
	s, _ := New(Options{Store: st, Owner: "server:1:a", Poll: 20 * time.Millisecond, Timeout: 30 * time.Second})
	s.Start(context.Background())
	defer s.Stop()
	time.Sleep(200 * time.Millisecond) // the hanging send under way
	start := time.Now()
	failedRun(t, st, rcv.srv.URL, cairn.AlertJSON, time.Now())
	deadline := start.Add(10 * time.Second)
	for len(rcv.requests()) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if len(rcv.requests()) != 1 {
		t.Fatalf("the answering receiver got %d requests in %s while another hung", len(rcv.requests()), time.Since(start))
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("delivered after %s: it waited for the hanging receiver", took)
	}
}
