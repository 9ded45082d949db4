package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/client"
	"github.com/cairnml/cairn/store/sqlite"
	"github.com/cairnml/cairn/ui"
	"github.com/cairnml/cairn/ui/core"
	"github.com/cairnml/cairn/ui/runjson"
	"github.com/cairnml/cairn/workflows"
)

func TestParseURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:8080":             "http://127.0.0.1:8080",
		"https://cairn.example.com/":        "https://cairn.example.com",
		" https://h/prefix/ ":               "https://h/prefix",
		"http://[::1]:8080":                 "http://[::1]:8080",
		"localhost:8080":                    "error: write its scheme",
		"ftp://h":                           "error: want an http:// or https:// URL",
		"http://user:pw@h":                  "error: holds credentials",
		"http://h/?token=x":                 "error: without a query",
		"http:///path":                      "error: has no host",
		"":                                  "error: no server URL",
		"http://h:8080/a%20b":               "http://h:8080/a%20b",
		"https://cairn.example.com:443/api": "https://cairn.example.com:443/api",
	} {
		u, err := client.ParseURL(in)
		got := ""
		if err != nil {
			got = "error: " + err.Error()
			if strings.Contains(got, "pw") {
				t.Errorf("ParseURL(%q) repeats the password: %s", in, got)
			}
		} else {
			got = u.String()
		}
		if !strings.HasPrefix(want, "error: ") && got != want || strings.HasPrefix(want, "error: ") && !strings.Contains(got, strings.TrimPrefix(want, "error: ")) {
			t.Errorf("ParseURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestClearText(t *testing.T) {
	for in, want := range map[string]bool{
		"http://127.0.0.1:8080": false, "http://127.3.4.5": false, "http://localhost:1": false, "http://[::1]:8080": false,
		"http://a.localhost": false, "https://10.0.0.5": false, "http://10.0.0.5:8080": true, "http://cairn.example.com": true,
		"http://0.0.0.0:8080": true,
	} {
		u, err := url.Parse(in)
		if err != nil {
			t.Fatal(err)
		}
		if got := client.ClearText(u); got != want {
			t.Errorf("ClearText(%s) = %v, want %v", in, got, want)
		}
	}
}

// recorder is a server that answers every request with status and body
// and remembers what it was asked.
type recorder struct {
	mu     sync.Mutex
	reqs   []*http.Request
	bodies []string
	answer func(w http.ResponseWriter, r *http.Request)
}

func (rc *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	rc.reqs = append(rc.reqs, r)
	rc.bodies = append(rc.bodies, string(b))
	rc.mu.Unlock()
	rc.answer(w, r)
}

func serve(t *testing.T, h http.Handler) *httptest.Server {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func jsonAnswer(status int, v any) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(v)
	}
}

// The token goes in the Authorization header and nowhere else, and never
// to where a redirect points.
func TestTokenOnlyInHeader(t *testing.T) {
	const token = "tok-123-secret"
	elsewhere := &recorder{answer: jsonAnswer(200, runjson.Page{Runs: []runjson.Run{}})}
	other := serve(t, elsewhere)
	rc := &recorder{answer: func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/v1/runs" {
			jsonAnswer(200, runjson.Page{Runs: []runjson.Run{}})(w, r)
			return
		}
		http.Redirect(w, r, other.URL+r.URL.Path, http.StatusFound)
	}}
	srv := serve(t, rc)
	c, err := client.New(srv.URL+"/", client.Options{Token: token, UserAgent: "cairn/test"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := c.Runs(ctx, client.RunsQuery{Workflow: "a b", State: "failed", Limit: 3, Before: "01m8"}); err != nil {
		t.Fatal(err)
	}
	r := rc.reqs[0]
	if got := r.Header.Get("Authorization"); got != "Bearer "+token {
		t.Errorf("Authorization = %q", got)
	}
	if r.URL.RawQuery != "before=01m8&limit=3&state=failed&workflow=a+b" || r.Header.Get("User-Agent") != "cairn/test" {
		t.Errorf("query %q, user agent %q", r.URL.RawQuery, r.Header.Get("User-Agent"))
	}
	_, err = c.Run(ctx, "01m8x0t6q2yphmef")
	var ce *client.Error
	if !errors.As(err, &ce) || ce.Status != http.StatusFound || !strings.Contains(err.Error(), "not an answer of the cairn API") {
		t.Errorf("a redirect: %v", err)
	}
	if len(elsewhere.reqs) != 0 {
		t.Errorf("the client followed a redirect to %s", other.URL)
	}
	for _, r := range rc.reqs {
		if strings.Contains(r.URL.String(), token) {
			t.Errorf("the token is in a URL: %s", r.URL)
		}
	}
	if strings.Contains(fmt.Sprint(err), token) {
		t.Errorf("the token is in an error: %v", err)
	}
}

func TestAnswerErrors(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		status int
		body   any
		token  string
		is     []error
		want   string
	}{
		{401, map[string]string{"code": "unauthenticated", "message": "authentication required"}, "",
			[]error{client.ErrUnauthenticated}, "wants a token and none was given"},
		{401, map[string]string{"code": "unauthenticated", "message": "unknown token"}, "t",
			[]error{client.ErrUnauthenticated}, "does not accept the token"},
		{403, map[string]string{"code": "forbidden", "message": "viewer tokens only read"}, "t",
			[]error{client.ErrForbidden}, "needs a token with the operator role (403: viewer tokens only read)"},
		{404, map[string]string{"code": "not_found", "message": `no run "abcd"`}, "t",
			[]error{cairn.ErrNotFound}, `cancel run abcd: no run "abcd"`},
		{409, map[string]string{"code": "terminal", "message": "run abcd already succeeded"}, "t",
			[]error{cairn.ErrConflict, cairn.ErrTerminal}, "already succeeded"},
		{409, map[string]string{"code": "conflict", "message": "still running"}, "t",
			[]error{cairn.ErrConflict}, "still running"},
		{400, map[string]string{"code": "ambiguous", "message": "matches several"}, "t",
			[]error{client.ErrBadInput, cairn.ErrAmbiguous}, "matches several"},
		{413, map[string]string{"code": "too_large", "message": "http: request body too large"}, "t",
			nil, "request body too large"},
		{501, map[string]string{"code": "not_implemented", "message": "read-only"}, "t",
			[]error{client.ErrNotImplemented}, "does not do this (501: read-only)"},
		{500, map[string]string{"code": "internal", "message": "internal error: the server's log has the cause"}, "t",
			nil, "failed (500 internal"},
		{502, "<html>bad \x1b[2J gateway</html>", "t", nil, "answered 502 Bad Gateway, not an answer of the cairn API: <html>bad  [2J gateway</html>"},
	} {
		var answer func(http.ResponseWriter, *http.Request)
		if s, ok := c.body.(string); ok {
			answer = func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/html")
				w.WriteHeader(c.status)
				io.WriteString(w, s)
			}
		} else {
			answer = jsonAnswer(c.status, c.body)
		}
		srv := serve(t, &recorder{answer: answer})
		cl, err := client.New(srv.URL, client.Options{Token: c.token})
		if err != nil {
			t.Fatal(err)
		}
		_, err = cl.Cancel(ctx, "abcd")
		var ce *client.Error
		if !errors.As(err, &ce) || ce.Status != c.status {
			t.Errorf("%d: %v", c.status, err)
			continue
		}
		for _, target := range c.is {
			if !errors.Is(err, target) {
				t.Errorf("%d: %v is not %v", c.status, err, target)
			}
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%d: %q lacks %q", c.status, err, c.want)
		}
	}
}

func TestUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c, err := client.New("http://"+addr, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Runs(context.Background(), client.RunsQuery{})
	var ue *client.UnreachableError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "list runs: cannot reach the server at http://"+addr+": connection refused") {
		t.Errorf("a closed port: %v", err)
	}
	// A server that never answers: the call's timeout ends it.
	stuck := make(chan struct{})
	srv := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-stuck:
		case <-r.Context().Done():
		}
	}))
	defer close(stuck)
	c, err = client.New(srv.URL, client.Options{Timeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Run(context.Background(), "abcd")
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "no answer within 50ms") {
		t.Errorf("a server that does not answer: %v", err)
	}
}

// sse writes Server-Sent Events as ui's log route does.
func sse(w http.ResponseWriter, events ...string) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(200)
	for _, e := range events {
		io.WriteString(w, e)
		w.(http.Flusher).Flush()
	}
}

// FollowLog rebuilds the log's bytes from the events (a last line
// without a newline stays without), and takes a broken stream up again
// from the offset it reached.
func TestFollowLogProtocol(t *testing.T) {
	var mu sync.Mutex
	var froms []string
	srv := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		froms = append(froms, r.URL.Query().Get("from"))
		n := len(froms)
		mu.Unlock()
		if r.Header.Get("Accept") != "text/event-stream" || r.URL.Query().Get("follow") != "1" || r.URL.Query().Get("attempt") != "2" {
			t.Errorf("follow request: %s %v", r.URL, r.Header)
		}
		switch n {
		case 1: // two lines, then the connection breaks mid-event
			sse(w, "event: log\ndata: one\ndata: \ndata: three\nid: 11\n\n", ": a comment\n\nevent: log\ndata: fo")
		case 2: // from 11: a line, a partial last line, the end
			sse(w, "event: log\r\ndata: four\r\nid: 16\r\n\r\n", "event: log\ndata: five, no newline\nid: 32\n\n", "event: end\ndata: succeeded\n\n")
		}
	}))
	c, err := client.New(srv.URL, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	state, off, err := c.FollowLog(context.Background(), "01m8x0t6q2yphmef", "train", 2, 0, &out)
	if err != nil {
		t.Fatal(err)
	}
	if want := "one\n\nthree\nfour\nfive, no newline"; out.String() != want || state != "succeeded" || off != 32 {
		t.Errorf("FollowLog: %q %q %d, want %q succeeded 32", out.String(), state, off, want)
	}
	if strings.Join(froms, ",") != "0,11" {
		t.Errorf("the stream was asked from %v, want 0 then 11", froms)
	}
	// An error event ends it with the server's words.
	srv2 := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sse(w, "event: error\ndata: disk \x1b[31mgone\n\n")
	}))
	c2, _ := client.New(srv2.URL, client.Options{})
	if _, _, err := c2.FollowLog(context.Background(), "r", "t", 1, 0, io.Discard); err == nil || !strings.Contains(err.Error(), "the server could not read it: disk  [31mgone") {
		t.Errorf("an error event: %v", err)
	}
}

// TestAgainstTheUI runs the client against the server's own handler over
// a real SQLite store: the runs it reads are the documents the API
// wrote, and what it sends the write routes is what they decode.
func TestAgainstTheUI(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "cairn.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	wf, err := workflows.Parse("w.yaml", []byte("name: w\nparams: {seed: {type: int, default: 1}}\ntasks:\n  - id: only\n    type: noop\n    with: {a: [1, 2]}\n"), workflows.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := 0; i < 3; i++ {
		bound, err := wf.BindParams(map[string]string{"seed": fmt.Sprint(9007199254740993 + i)})
		if err != nil {
			t.Fatal(err)
		}
		run, trs := wf.NewRun(bound, time.Now().Add(time.Duration(i)*time.Millisecond))
		if err := st.CreateRun(ctx, run, trs); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, run.ID)
	}
	acts := &actions{}
	h, err := ui.New(ui.Options{Store: st, Actions: acts})
	if err != nil {
		t.Fatal(err)
	}
	srv := serve(t, h)
	c, err := client.New(srv.URL, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	get := func(path string) []byte {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return b
	}
	indent := func(v any) []byte {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetIndent("", "  ")
		if err := enc.Encode(v); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	page, err := c.Runs(ctx, client.RunsQuery{Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := indent(page), get("/api/v1/runs?limit=2"); !bytes.Equal(got, want) {
		t.Errorf("a page read and written again:\n%s\n--- the API wrote:\n%s", got, want)
	}
	if page.Next == nil || *page.Next != ids[1] {
		t.Errorf("next cursor %v, want %s", page.Next, ids[1])
	}
	r, err := c.Run(ctx, ids[0][:12])
	if err != nil {
		t.Fatal(err)
	}
	if got, want := indent(r), get("/api/v1/runs/"+ids[0]); !bytes.Equal(got, want) {
		t.Errorf("a run read and written again:\n%s\n--- the API wrote:\n%s", got, want)
	}
	if n, ok := r.Params["seed"].(json.Number); !ok || n.String() != "9007199254740993" {
		t.Errorf("an integer param past 2^53 came back as %#v", r.Params["seed"])
	}
	if _, err := c.Run(ctx, "zzzzzzzzzzzz"); !errors.Is(err, cairn.ErrNotFound) {
		t.Errorf("an unknown run: %v", err)
	}
	// The write routes decode what the client sends.
	if id, err := c.Trigger(ctx, "w", map[string]string{"seed": "7"}, client.RunOptions{NoCache: true}); err != nil || id != "01newrun00000000" {
		t.Errorf("trigger: %q %v", id, err)
	}
	if id, err := c.Cancel(ctx, ids[0][:12]); err != nil || id != ids[0] {
		t.Errorf("cancel: %q %v", id, err)
	}
	if _, err := c.Retry(ctx, ids[1], "only"); err != nil {
		t.Errorf("retry: %v", err)
	}
	if _, err := c.Retry(ctx, ids[1], ""); err != nil {
		t.Errorf("retry all: %v", err)
	}
	if _, err := c.Resume(ctx, ids[2]); err != nil {
		t.Errorf("resume: %v", err)
	}
	want := []string{"trigger w map[seed:7] no_cache=true", "cancel " + ids[0], "retry " + ids[1] + " only", "retry " + ids[1] + " ", "resume " + ids[2]}
	if fmt.Sprint(acts.calls) != fmt.Sprint(want) {
		t.Errorf("the server was asked %q, want %q", acts.calls, want)
	}
}

// actions records what the write routes ask of it.
type actions struct {
	mu    sync.Mutex
	calls []string
}

func (a *actions) add(s string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls = append(a.calls, s)
}

func (a *actions) Trigger(ctx context.Context, workflow string, params map[string]string, o core.RunOptions) (string, error) {
	a.add(fmt.Sprintf("trigger %s %v no_cache=%t", workflow, params, o.NoCache))
	return "01newrun00000000", nil
}
func (a *actions) Cancel(ctx context.Context, id string) error { a.add("cancel " + id); return nil }
func (a *actions) Retry(ctx context.Context, id, task string) error {
	a.add("retry " + id + " " + task)
	return nil
}
func (a *actions) Resume(ctx context.Context, id string) error { a.add("resume " + id); return nil }
func (a *actions) Submit(ctx context.Context, file string, src []byte, params map[string]string, o core.RunOptions) (string, error) {
	a.add(fmt.Sprintf("submit %s %v no_cache=%t", file, params, o.NoCache))
	return "01newrun00000001", nil
}

func TestProblemString(t *testing.T) {
	for _, c := range []struct {
		p    client.Problem
		want string
	}{
		{client.Problem{File: "wf.yaml", Line: 3, Col: 5, Message: "unknown type", Hint: "did you mean shell?"}, "wf.yaml:3:5: unknown type\n\thint: did you mean shell?"},
		{client.Problem{File: "wf.yaml", Message: "the file is empty"}, "wf.yaml: the file is empty"},
		{client.Problem{Line: 1, Col: 1, Message: "x"}, "1:1: x"},
	} {
		if got := c.p.String(); got != c.want {
			t.Errorf("%+v: %q, want %q", c.p, got, c.want)
		}
	}
}

// An error whose message already says what failed is not prefixed with
// it again ("roll back model x: roll back model x: ..."); one that does
// not is.
func TestErrorSaysWhatOnce(t *testing.T) {
	said := &client.Error{What: "roll back model churn", Status: 409, Code: "conflict",
		Message: "roll back model churn: version 1 is in production and no version before it can be put back"}
	if got := said.Error(); got != said.Message {
		t.Errorf("Error() = %q, want the message alone", got)
	}
	bare := &client.Error{What: "roll back model churn", Status: 409, Code: "conflict", Message: "version 1 is in production"}
	if got, want := bare.Error(), "roll back model churn: version 1 is in production"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}
