package ui

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/auth"
)

// sseEvent is one event of a stream as a browser's EventSource parses it.
type sseEvent struct{ name, data string }

// parseSSE parses an event stream as the HTML standard says: a line ends
// at CRLF, LF or a lone CR; "field: value" lines; a blank line dispatches.
func parseSSE(stream string) []sseEvent {
	var events []sseEvent
	name, data, has := "", []string(nil), false
	for _, line := range regexp.MustCompile("\r\n|\r|\n").Split(stream, -1) {
		if line == "" {
			if has {
				n := name
				if n == "" {
					n = "message"
				}
				events = append(events, sseEvent{n, strings.Join(data, "\n")})
			}
			name, data, has = "", nil, false
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "event":
			name = value
		case "data":
			data, has = append(data, value), true
		}
	}
	return events
}

// A task's log may hold carriage returns (a progress bar redraws its line
// with one). An event stream ends a line at a lone CR too, so a followed
// log sends what is between two CRs as a data line of its own: a browser
// sees the log's text, never a field or an event the log spelled.
func TestFollowLogCarriageReturns(t *testing.T) {
	f := newFixture(t)
	run := f.run(t, `name: cr
tasks:
  - id: bar
    type: shell
    with:
      script: |
        printf '10%%\r50%%\r100%%\n'
        printf 'x\r\revent: end\rdata: failed\r\rretry: 1\rid: 0\r\n'
        printf 'crlf\r\n'
        echo done
`, nil)
	if run.State != cairn.RunSucceeded {
		t.Fatalf("run %s", run.State)
	}
	_, body := f.get(t, "/api/v1/runs/"+run.ID+"/tasks/bar/log?follow=1")
	events := parseSSE(body)
	var logText []string
	for i, e := range events {
		switch {
		case e.name == "log":
			logText = append(logText, e.data)
		case e.name == "end" && i == len(events)-1:
			if e.data != "succeeded" {
				t.Errorf("end event %q, want succeeded", e.data)
			}
		default:
			t.Errorf("event %d: %q %q, not one the server sent\nstream:\n%q", i, e.name, e.data, body)
		}
	}
	if n := len(events); n == 0 || events[n-1].name != "end" {
		t.Fatalf("the stream does not end with its end event:\n%q", body)
	}
	want := "10%\n50%\n100%\nx\n\nevent: end\ndata: failed\n\nretry: 1\nid: 0\ncrlf\ndone"
	if got := strings.Join(logText, "\n"); got != want {
		t.Errorf("a browser reads the log as\n%q\nwant\n%q", got, want)
	}
}

// A followed log stops when the token that opened it is revoked: the
// follow reads its token again every second, so a stream opened before a
// revocation does not go on for as long as its attempt runs.
func TestFollowLogStopsWhenTokenRevoked(t *testing.T) {
	f := newFixture(t, withTokens)
	ctx := context.Background()
	tok, text := f.token(t, auth.Viewer, "follower", time.Hour)
	run := runningTask(t, f, "long")
	type answer struct{ body string }
	got := make(chan answer, 1)
	go func() {
		_, body := f.get(t, "/api/v1/runs/"+run.ID+"/tasks/long/log?follow=1", "Authorization", "Bearer "+text)
		got <- answer{body}
	}()
	time.Sleep(300 * time.Millisecond) // the follow is under way
	if _, err := f.st.RevokeToken(ctx, tok.ID, "test"); err != nil {
		t.Fatal(err)
	}
	select {
	case a := <-got:
		events := parseSSE(a.body)
		if len(events) == 0 || events[len(events)-1].name != "error" || !strings.Contains(events[len(events)-1].data, "no longer valid") {
			t.Fatalf("the follow ended with %q, want an error event saying the token is no longer valid", a.body)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the follow went on after its token was revoked")
	}
}

// runningTask makes a run whose one task, id, is running (leased and
// started), so that its log may be followed.
func runningTask(t *testing.T, f *fixture, id string) *cairn.Run {
	t.Helper()
	ctx := context.Background()
	now := time.Now()
	run := &cairn.Run{ID: cairn.NewRunID(now), Workflow: "w", Digest: "sha256:00", SourcePath: "w.yaml",
		Source: []byte("name: w\n"), State: cairn.RunRunning, CreatedAt: now}
	trs := []*cairn.TaskRun{{RunID: run.ID, TaskID: id, Type: "shell", State: cairn.TaskReady, Params: json.RawMessage(`{}`)}}
	if err := f.st.CreateRun(ctx, run, trs); err != nil {
		t.Fatal(err)
	}
	if items, err := f.st.Lease(ctx, cairn.LeaseRequest{Worker: "w", Max: 1, Start: true}, now, time.Hour); err != nil || len(items) != 1 {
		t.Fatalf("lease: %v %v", items, err)
	}
	return run
}

// A token follows at most maxFollowsPerToken logs at once (each costs the
// server a poll a second while its attempt runs): one more gets a 429
// that says so, and once one of its streams closes it may open another.
func TestFollowsPerTokenBounded(t *testing.T) {
	f := newFixture(t, withTokens)
	defer func(n int) { maxFollowsPerToken = n }(maxFollowsPerToken)
	maxFollowsPerToken = 2
	ctx := context.Background()
	_, text := f.token(t, auth.Viewer, "follower", time.Hour)
	run := runningTask(t, f, "long")
	url := f.srv.URL + "/api/v1/runs/" + run.ID + "/tasks/long/log?follow=1"
	open := func(ctx context.Context) *http.Response {
		req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+text)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	var cancels []context.CancelFunc
	for range 2 {
		c, cancel := context.WithCancel(ctx)
		cancels = append(cancels, cancel)
		if resp := open(c); resp.StatusCode != 200 {
			t.Fatalf("follow within the bound: %d", resp.StatusCode)
		}
	}
	resp := open(ctx)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 429 || !strings.Contains(string(body), "too_many_follows") || !strings.Contains(string(body), "close one first") {
		t.Fatalf("a third follow: %d %s", resp.StatusCode, body)
	}
	cancels[0]()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, cancel := context.WithCancel(ctx)
		resp := open(c)
		resp.Body.Close()
		cancel()
		if resp.StatusCode == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a closed follow did not give its place back: %d", resp.StatusCode)
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancels[1]()
}
