package ui

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/ui/core"
	"github.com/cairnml/cairn/ui/runjson"
	"github.com/cairnml/cairn/workflows"
)

// queuedRuns creates n runs of a one-task workflow named name, queued,
// created a millisecond apart from t0; it returns their ids, oldest first.
func (f *fixture) queuedRuns(t *testing.T, name string, n int, t0 time.Time) []string {
	t.Helper()
	wf, err := workflows.Parse(name+".yaml", []byte("name: "+name+"\ntasks:\n  - id: only\n    type: noop\n"), workflows.Options{Types: f.reg})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := 0; i < n; i++ {
		run, trs := wf.NewRun(nil, t0.Add(time.Duration(i)*time.Millisecond))
		if err := f.st.CreateRun(context.Background(), run, trs); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, run.ID)
	}
	return ids
}

func TestAPIRunsPages(t *testing.T) {
	f := newFixture(t)
	t0 := time.Now().Add(-time.Hour)
	a := f.queuedRuns(t, "alpha", 5, t0)
	b := f.queuedRuns(t, "beta", 3, t0.Add(time.Second))
	// Newest first, three per page, the cursor through to the last page.
	var got []string
	path := "/api/v1/runs?limit=3"
	for pages := 0; ; pages++ {
		var page runjson.Page
		f.getJSON(t, path, http.StatusOK, &page)
		if len(page.Runs) > 3 || pages > 5 {
			t.Fatalf("page %d of %s: %d runs", pages, path, len(page.Runs))
		}
		for _, r := range page.Runs {
			got = append(got, r.ID)
		}
		if page.Next == nil {
			break
		}
		path = "/api/v1/runs?limit=3&before=" + *page.Next
	}
	want := append(append([]string{}, b[2], b[1], b[0]), a[4], a[3], a[2], a[1], a[0])
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("runs %v, want newest first %v", got, want)
	}
	var page runjson.Page
	f.getJSON(t, "/api/v1/runs?workflow=beta&state=Queued", http.StatusOK, &page)
	if len(page.Runs) != 3 || page.Runs[0].Workflow != "beta" || page.Next != nil {
		t.Errorf("workflow=beta: %+v", page)
	}
	f.getJSON(t, "/api/v1/runs?state=failed", http.StatusOK, &page)
	if len(page.Runs) != 0 || page.Next != nil {
		t.Errorf("state=failed: %+v", page)
	}
	// The empty page is "runs": [], not null.
	if _, body := f.get(t, "/api/v1/runs?state=failed"); !strings.Contains(body, `"runs": []`) || !strings.Contains(body, `"next": null`) {
		t.Errorf("an empty page: %s", body)
	}
	for _, c := range []struct{ query, code, says string }{
		{"state=orphaned", "bad_input", "state=running lists the orphaned runs"},
		{"state=bogus", "bad_input", "unknown run state"},
		{"limit=0", "bad_input", "limit"},
		{"limit=501", "bad_input", "limit"},
		{"before=zzzzzzzz", "bad_input", "names no run"},
		{"before=01", "bad_input", "too short"},
		// Go drops a pair with a ';' from the query it parses: the filter
		// was ignored and every run listed.
		{"workflow=beta;x", "bad_input", "query"},
		{"state=failed&workflow=%zz", "bad_input", "query"},
	} {
		var e apiError
		f.getJSON(t, "/api/v1/runs?"+c.query, http.StatusBadRequest, &e)
		if e.Code != c.code || !strings.Contains(e.Message, c.says) {
			t.Errorf("%s: %+v, want code %s saying %q", c.query, e, c.code, c.says)
		}
	}
}

func TestAPIRunAndLogs(t *testing.T) {
	f := newFixture(t)
	run := f.run(t, pipelineWF, map[string]string{"greeting": "bonjour"})
	if run.State != cairn.RunFailed {
		t.Fatalf("run %s, want failed", run.State)
	}
	var got runjson.Run
	f.getJSON(t, "/api/v1/runs/"+run.ID[:8], http.StatusOK, &got) // a prefix will do
	if got.ID != run.ID || got.State != cairn.RunFailed || got.Params["greeting"] != "bonjour" || got.Orphaned {
		t.Errorf("run: %+v", got)
	}
	states := map[string]cairn.TaskState{}
	attempts := map[string]int{}
	for _, tk := range got.Tasks {
		states[tk.ID] = tk.State
		attempts[tk.ID] = len(tk.Attempt)
	}
	want := map[string]cairn.TaskState{"hello": cairn.TaskSucceeded, "fails": cairn.TaskFailed, "after": cairn.TaskUpstreamFailed, "side": cairn.TaskSucceeded}
	for id, s := range want {
		if states[id] != s {
			t.Errorf("task %s %s, want %s", id, states[id], s)
		}
	}
	if attempts["fails"] != 2 || attempts["after"] != 0 {
		t.Errorf("attempts %v, want fails 2, after 0", attempts)
	}
	var atts struct{ Attempts []runjson.Attempt }
	f.getJSON(t, "/api/v1/runs/"+run.ID+"/tasks/fails/attempts", http.StatusOK, &atts)
	if len(atts.Attempts) != 2 || atts.Attempts[0].State != cairn.TaskRetrying || atts.Attempts[1].State != cairn.TaskFailed ||
		atts.Attempts[1].ExitCode == nil || *atts.Attempts[1].ExitCode != 3 {
		t.Errorf("attempts of fails: %+v", atts)
	}

	// Logs: the latest attempt by default, any by number, the tail.
	resp, body := f.get(t, "/api/v1/runs/"+run.ID+"/tasks/fails/log")
	if resp.StatusCode != 200 || !strings.Contains(body, "attempt 2 starting") || !strings.Contains(body, "the data is bad") ||
		!strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Errorf("log: %d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if _, body := f.get(t, "/api/v1/runs/"+run.ID+"/tasks/fails/log?attempt=1"); !strings.Contains(body, "attempt 1 starting") {
		t.Errorf("log of attempt 1: %q", body)
	}
	if _, body := f.get(t, "/api/v1/runs/"+run.ID+"/tasks/hello/log"); body != "bonjour from hello\n" {
		t.Errorf("log of hello: %q", body)
	}
	if resp, body := f.get(t, "/api/v1/runs/"+run.ID+"/tasks/fails/log?tail=20"); !strings.HasSuffix(body, "\n") || len(body) > 20 || resp.Header.Get("X-Log-Skipped") == "0" {
		t.Errorf("tail=20: %q (skipped %s)", body, resp.Header.Get("X-Log-Skipped"))
	}
	for path, code := range map[string]int{
		"/api/v1/runs/" + run.ID + "/tasks/after/log":                 404, // never ran
		"/api/v1/runs/" + run.ID + "/tasks/fails/log?attempt=9":       404,
		"/api/v1/runs/" + run.ID + "/tasks/fails/log?attempt=x":       400,
		"/api/v1/runs/" + run.ID + "/tasks/fails/log?tail=-1":         400,
		"/api/v1/runs/" + run.ID + "/tasks/nope/attempts":             404,
		"/api/v1/runs/zzzzzzzzzzzzzzzz":                               404,
		"/api/v1/runs/" + run.ID + "/tasks/fails/log?follow=1&from=x": 400,
	} {
		var e apiError
		f.getJSON(t, path, code, &e)
		if e.Message == "" {
			t.Errorf("%s: no message", path)
		}
	}

	// Following a finished attempt: its lines, then the end.
	resp, body = f.get(t, "/api/v1/runs/"+run.ID+"/tasks/fails/log?follow=1")
	if resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Errorf("follow: Content-Type %q", resp.Header.Get("Content-Type"))
	}
	if !strings.HasPrefix(body, "event: log\ndata: attempt 2 starting\ndata: the data is bad\n") || !strings.HasSuffix(body, "event: end\ndata: failed\n\n") {
		t.Errorf("follow a finished attempt:\n%s", body)
	}
}

// TestAPIFollowRunning follows the log of an attempt while it runs: the
// lines it has printed come at once, the later ones as they are written,
// then the end event once it finished.
func TestAPIFollowRunning(t *testing.T) {
	f := newFixture(t)
	gate := filepath.Join(f.dir, "go-on")
	src := `name: slow
tasks:
  - id: wait
    type: shell
    with:
      script: |
        echo "before the gate"
        while [ ! -e "` + gate + `" ]; do sleep 0.05; done
        echo "after the gate"
`
	run, trs, wf := f.prepare(t, src, nil)
	type result struct {
		run *cairn.Run
		err error
	}
	done := make(chan result, 1)
	if err := f.st.CreateRun(context.Background(), run, trs); err != nil {
		t.Fatal(err)
	}
	go func() {
		r, err := f.driveStored(t, run, wf)
		done <- result{r, err}
	}()
	var runID string
	deadline := time.Now().Add(time.Minute)
	for runID == "" {
		var page runjson.Page
		f.getJSON(t, "/api/v1/runs?workflow=slow", http.StatusOK, &page)
		if len(page.Runs) == 1 {
			runID = page.Runs[0].ID
		}
		if time.Now().After(deadline) {
			t.Fatal("the run never appeared")
		}
		time.Sleep(20 * time.Millisecond)
	}
	var resp *http.Response
	for {
		req, _ := http.NewRequest(http.MethodGet, f.srv.URL+"/api/v1/runs/"+runID+"/tasks/wait/log", nil)
		req.Header.Set("Accept", "text/event-stream")
		var err error
		resp, err = f.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode == 200 {
			break
		}
		resp.Body.Close() // no attempt yet
		if time.Now().After(deadline) {
			t.Fatalf("the attempt never started: %d", resp.StatusCode)
		}
		time.Sleep(20 * time.Millisecond)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	next := func(want string) {
		t.Helper()
		for sc.Scan() {
			if sc.Text() == want {
				return
			}
		}
		t.Fatalf("the stream ended before %q: %v", want, sc.Err())
	}
	next("data: before the gate")
	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	next("data: after the gate")
	next("event: end")
	next("data: succeeded")
	if r := <-done; r.err != nil || r.run.State != cairn.RunSucceeded {
		t.Errorf("run: %+v", r)
	}
}

func TestAPIErrorsAsJSON(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.MaxBodyBytes = 100 })
	for _, c := range []struct {
		method, path string
		body         string
		status       int
		code         string
	}{
		{"GET", "/api/v1/nope", "", 404, "not_found"},
		{"GET", "/api", "", 404, "not_found"},
		{"GET", "/api/v2/runs", "", 404, "not_found"},
		{"DELETE", "/api/v1/runs", "", 405, "method_not_allowed"},
		{"POST", "/api/v1/runs/abcdabcd/cancel", "", 501, "not_implemented"},
		{"POST", "/api/v1/workflows/w/runs", `{"params": {}}`, 501, "not_implemented"},
		{"POST", "/api/v1/workflows/w/runs", `{"params": {"x": "` + strings.Repeat("a", 200) + `"}}`, 413, "too_large"},
		{"POST", "/api/v1/workflows/w/runs", `{"parms": {}}`, 400, "bad_input"},
	} {
		var body *strings.Reader
		if c.body != "" {
			body = strings.NewReader(c.body)
		} else {
			body = strings.NewReader("")
		}
		resp, got := f.do(t, c.method, c.path, body)
		if resp.StatusCode != c.status || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") ||
			!strings.Contains(got, `"code": "`+c.code+`"`) || !strings.Contains(got, `"message": "`) {
			t.Errorf("%s %s: %d %s\n%s", c.method, c.path, resp.StatusCode, resp.Header.Get("Content-Type"), got)
		}
	}
	// A body without a length that grows past the limit: 413 too.
	pr, pw := io.Pipe()
	go func() {
		for i := 0; i < 50; i++ {
			pw.Write([]byte(`{"params": {"x": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa`))
		}
		pw.Close()
	}()
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL+"/api/v1/workflows/w/runs", pr)
	req.ContentLength = -1
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("a chunked body past the limit: %d", resp.StatusCode)
	}
	// Pages answer with an HTML page, not JSON.
	resp, body := f.get(t, "/no/such/page")
	if resp.StatusCode != 404 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(body, "no such page") {
		t.Errorf("a missing page: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

func TestStatusMapping(t *testing.T) {
	for _, c := range []struct {
		err    error
		status int
	}{
		{fmt.Errorf("get run x: %w", cairn.ErrNotFound), 404},
		{fmt.Errorf("x: %w", cairn.ErrAmbiguous), 400},
		{core.BadInput("no"), 400},
		{fmt.Errorf("trigger: %w: unknown param", core.ErrBadInput), 400},
		{fmt.Errorf("cancel: %w", cairn.ErrTerminal), 409},
		{fmt.Errorf("retry: %w", cairn.ErrConflict), 409},
		{cairn.ErrRunOwned, 409},
		{ErrUnauthenticated, 401},
		{fmt.Errorf("token: %w", ErrForbidden), 403},
		{&http.MaxBytesError{Limit: 1}, 413},
		{core.ErrNotImplemented, 501},
		{errors.New("disk on fire"), 500},
	} {
		if got, _ := Status(c.err); got != c.status {
			t.Errorf("Status(%v) = %d, want %d", c.err, got, c.status)
		}
	}
}

// fakeActions records what the write routes asked for.
type fakeActions struct {
	calls []string
	err   error
}

func (a *fakeActions) Trigger(_ context.Context, wf string, params map[string]string, o core.RunOptions) (string, error) {
	call := fmt.Sprintf("trigger %s %v", wf, params)
	if o.NoCache {
		call += " no_cache"
	}
	a.calls = append(a.calls, call)
	return "01newrun00000000", a.err
}
func (a *fakeActions) Cancel(_ context.Context, id string) error {
	a.calls = append(a.calls, "cancel "+id)
	return a.err
}
func (a *fakeActions) Retry(_ context.Context, id, task string) error {
	a.calls = append(a.calls, "retry "+id+" "+task)
	return a.err
}
func (a *fakeActions) Resume(_ context.Context, id string) error {
	a.calls = append(a.calls, "resume "+id)
	return a.err
}
func (a *fakeActions) Submit(_ context.Context, file string, src []byte, params map[string]string, o core.RunOptions) (string, error) {
	call := fmt.Sprintf("submit %s %d %v", file, len(src), params)
	if o.NoCache {
		call += " no_cache"
	}
	a.calls = append(a.calls, call)
	return "01newrun00000001", a.err
}

// TestActionsSeam: the write routes hand over to Options.Actions and
// answer its errors with the one mapping.
func TestActionsSeam(t *testing.T) {
	acts := &fakeActions{}
	f := newFixture(t, func(o *Options) { o.Actions = acts })
	id := f.queuedRuns(t, "w", 1, time.Now())[0]
	resp, body := f.do(t, "POST", "/api/v1/workflows/w/runs", strings.NewReader(`{"params": {"k": "v"}}`))
	if resp.StatusCode != 201 || resp.Header.Get("Location") != "/api/v1/runs/01newrun00000000" || !strings.Contains(body, `"id": "01newrun00000000"`) {
		t.Errorf("trigger: %d %s %s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	f.do(t, "POST", "/api/v1/runs/"+id[:6]+"/cancel", strings.NewReader(""))
	f.do(t, "POST", "/api/v1/runs/"+id+"/retry", strings.NewReader(`{"task": "only"}`))
	f.do(t, "POST", "/api/v1/runs/"+id+"/resume", nil)
	if resp, body := f.do(t, "POST", "/api/v1/runs", strings.NewReader(`{"file": "x.yaml", "source": "name: x", "params": {"n": 7, "b": true, "l": [1, 2], "s": "t"}}`)); resp.StatusCode != 201 {
		t.Errorf("submit: %d %s", resp.StatusCode, body)
	}
	want := []string{"trigger w map[k:v]", "cancel " + id, "retry " + id + " only", "resume " + id, "submit x.yaml 7 map[b:true l:[1,2] n:7 s:t]"}
	if strings.Join(acts.calls, "|") != strings.Join(want, "|") {
		t.Errorf("calls %q, want %q", acts.calls, want)
	}
	acts.err = fmt.Errorf("run %s already succeeded: %w", id, cairn.ErrTerminal)
	if resp, body := f.do(t, "POST", "/api/v1/runs/"+id+"/cancel", nil); resp.StatusCode != 409 || !strings.Contains(body, "already succeeded") {
		t.Errorf("cancel of a finished run: %d %s", resp.StatusCode, body)
	}
	acts.err = fmt.Errorf("%w: unknown param \"kk\" (did you mean \"k\"?)", core.ErrBadInput)
	if resp, body := f.do(t, "POST", "/api/v1/workflows/w/runs", strings.NewReader(`{"params": {"kk": "v"}}`)); resp.StatusCode != 400 || !strings.Contains(body, `unknown param \"kk\"`) {
		t.Errorf("trigger with a bad param: %d %s", resp.StatusCode, body)
	}
	if resp, _ := f.do(t, "POST", "/api/v1/runs/zzzzzzzz/cancel", nil); resp.StatusCode != 404 {
		t.Errorf("cancel of no run: %d", resp.StatusCode)
	}
}

// TestAuthorizeSeam: with Options.Authorize set, every route above Open
// asks it, with the access the route needs; the static assets do not.
func TestAuthorizeSeam(t *testing.T) {
	var asked []core.Access
	f := newFixture(t, func(o *Options) {
		o.Authorize = func(r *http.Request, need core.Access) (*http.Request, error) {
			asked = append(asked, need)
			switch r.Header.Get("X-Test-Role") {
			case "":
				return nil, ErrUnauthenticated
			case "viewer":
				if need > core.Read {
					return nil, fmt.Errorf("a viewer may not %s: %w", need, ErrForbidden)
				}
			}
			// As a bearer token does: no CSRF token is asked for (its
			// check is TestCSRF*'s).
			return r.WithContext(core.WithCaller(r.Context(), core.Caller{Actor: "test", Bearer: true})), nil
		}
	})
	routes := f.h.Routes()
	if len(routes) < 10 {
		t.Fatalf("routes: %v", routes)
	}
	for _, rt := range routes {
		path := strings.NewReplacer(":id", "abcdabcd", ":task", "t", ":name", "w").Replace(rt.Path)
		resp, _ := f.do(t, rt.Method, path, strings.NewReader(""))
		switch {
		case rt.Access == core.Open && resp.StatusCode == 401:
			t.Errorf("%s %s is open but answered 401", rt.Method, rt.Path)
		case rt.Access > core.Open && resp.StatusCode != 401:
			t.Errorf("%s %s needs %s but answered %d without credentials", rt.Method, rt.Path, rt.Access, resp.StatusCode)
		}
		resp, _ = f.do(t, rt.Method, path, strings.NewReader(""), "X-Test-Role", "viewer")
		if rt.Access > core.Read && resp.StatusCode != 403 {
			t.Errorf("%s %s needs %s but answered %d to a viewer", rt.Method, rt.Path, rt.Access, resp.StatusCode)
		}
		if rt.Access <= core.Read && (resp.StatusCode == 401 || resp.StatusCode == 403) {
			t.Errorf("%s %s answered %d to a viewer", rt.Method, rt.Path, resp.StatusCode)
		}
	}
	if len(asked) == 0 {
		t.Error("Authorize was never asked")
	}
}
