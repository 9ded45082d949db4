package actions_test

import (
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// page GETs a page (with the cookies given) and returns its status and text.
func (s *server) page(path string, cookies ...*http.Cookie) (int, string) {
	s.t.Helper()
	req, err := http.NewRequest("GET", s.srv.URL+path, nil)
	if err != nil {
		s.t.Fatal(err)
	}
	for _, c := range cookies {
		req.AddCookie(c)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

var csrfInput = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf is the CSRF token a page's forms carry.
func (s *server) csrf(text string) string {
	s.t.Helper()
	m := csrfInput.FindStringSubmatch(text)
	if m == nil {
		s.t.Fatal("the page has no form with a CSRF token")
	}
	return m[1]
}

// form posts a page's form and returns the answer (not followed).
func (s *server) form(path string, values url.Values) *http.Response {
	s.t.Helper()
	req, err := http.NewRequest("POST", s.srv.URL+path, strings.NewReader(values.Encode()))
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := s.client.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	return resp
}

func flashOf(resp *http.Response) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == "cairn_flash" && c.Value != "" {
			return c
		}
	}
	return nil
}

// The workflows pages list the folder, and the Trigger form makes a run:
// a refused param is shown beside its input, with what was typed, and
// nothing is made; a good form sends the browser to the new run's page,
// which says it was triggered. A form without the page's CSRF token is
// refused.
func TestTriggerForm(t *testing.T) {
	s := newServer(t, serverOptions{})
	s.workflow("greet.yaml", greetWF)
	s.workflow("bad.yaml", "name: bad\ntasks:\n  - {id: a, type: nope}\n")
	code, text := s.page("/workflows")
	if code != 200 || !strings.Contains(text, `href="/workflows/greet"`) || !strings.Contains(text, "says hello") ||
		!strings.Contains(text, `bad.yaml:3:19: unknown task type &#34;nope&#34;`) {
		t.Fatalf("workflows page: %d\n%s", code, text)
	}
	code, text = s.page("/workflows/greet")
	for _, want := range []string{`id="trigger"`, `name="param.who"`, `type="number" step="1" id="param.times" name="param.times" value="1"`,
		`<option value="false" selected>false</option>`, `name="param.tags"`, `CAIRN_PARAM_TOKEN`, `class="picture dag-box"`} {
		if !strings.Contains(text, want) {
			t.Errorf("the workflow page lacks %s", want)
		}
	}
	if strings.Contains(text, `name="param.token"`) {
		t.Error("the form has an input for a secret param")
	}
	token := s.csrf(text)
	before := s.runCount()

	resp := s.form("/workflows/greet/trigger", url.Values{"csrf": {token}, "param.who": {"you"}, "param.times": {"lots"}, "param.loud": {"true"}})
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if body := string(b); resp.StatusCode != 400 || !strings.Contains(body, `id="error-times"`) || !strings.Contains(body, `want an int, got &#34;lots&#34;`) ||
		!strings.Contains(body, `value="you"`) || !strings.Contains(body, `<option value="true" selected>true</option>`) {
		t.Errorf("a refused trigger: %d\n%s", resp.StatusCode, body)
	}
	resp = s.form("/workflows/greet/trigger", url.Values{"param.who": {"you"}})
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Errorf("a trigger without the CSRF token: %d", resp.StatusCode)
	}
	if s.runCount() != before {
		t.Fatal("a refused trigger made a run")
	}

	resp = s.form("/workflows/greet/trigger", url.Values{"csrf": {token}, "param.who": {"<you>"}, "param.times": {"2"}, "param.tags": {`["x"]`}})
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != 303 || !strings.HasPrefix(loc, "/runs/") || flashOf(resp) == nil {
		t.Fatalf("a trigger: %d to %q", resp.StatusCode, loc)
	}
	id := strings.TrimPrefix(loc, "/runs/")
	r := s.waitState(id, "succeeded")
	if r.Params["who"] != "<you>" || r.Params["times"] != float64(2) || r.Params["loud"] != false {
		t.Errorf("the form's run has params %v", r.Params)
	}
	_, text = s.page(loc, flashOf(resp))
	if !strings.Contains(text, `id="flash"`) || !strings.Contains(text, "Run "+id+" of greet triggered.") {
		t.Errorf("the run page does not say the run was triggered:\n%s", text)
	}
	if _, text = s.page(loc); strings.Contains(text, `id="flash"`) {
		t.Error("the flash message is shown again without its cookie")
	}
}

// The run page shows the buttons that apply: Cancel while a run runs,
// Retry (the run's, and each failed task's) once it failed; each form
// sends the browser back to the run with a message.
func TestRunButtons(t *testing.T) {
	s := newServer(t, serverOptions{})
	marker, gate := filepath.Join(t.TempDir(), "marker"), filepath.Join(t.TempDir(), "gate")
	s.workflow("flaky.yaml", flakyWF(marker))
	s.workflow("gated.yaml", gateWF(gate))
	failed := s.trigger("flaky", `{}`)
	s.waitState(failed, "failed")
	_, text := s.page("/runs/" + failed)
	if !strings.Contains(text, `id="retry-run"`) || !strings.Contains(text, `class="small retry-task" data-task="flaky"`) ||
		strings.Contains(text, `data-task="after">Retry`) || strings.Contains(text, `id="cancel-run"`) {
		t.Errorf("the failed run's buttons:\n%s", text)
	}
	_, task := s.page("/runs/" + failed + "/tasks/flaky")
	if !strings.Contains(task, `id="retry-task"`) {
		t.Error("the failed task's page has no Retry button")
	}
	token := s.csrf(text)
	resp := s.form("/runs/"+failed+"/retry", url.Values{"csrf": {token}, "task": {"flaky"}})
	resp.Body.Close()
	if resp.StatusCode != 303 || resp.Header.Get("Location") != "/runs/"+failed {
		t.Fatalf("retry form: %d to %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	_, text = s.page("/runs/"+failed, flashOf(resp))
	if !strings.Contains(text, "Retrying task flaky of run "+failed) {
		t.Errorf("no message after the retry:\n%s", text)
	}
	s.waitState(failed, "succeeded")

	running := s.trigger("gated", `{}`)
	s.waitTask(running, "wait", "running")
	_, text = s.page("/runs/" + running)
	if !strings.Contains(text, `id="cancel-run"`) || strings.Contains(text, `id="retry-run"`) {
		t.Errorf("the running run's buttons:\n%s", text)
	}
	// A form the action refuses comes back with the error as the message.
	resp = s.form("/runs/"+running+"/retry", url.Values{"csrf": {token}})
	resp.Body.Close()
	_, text = s.page("/runs/"+running, flashOf(resp))
	if resp.StatusCode != 303 || !strings.Contains(text, `flash-error`) || !strings.Contains(text, "can be retried once it has finished") {
		t.Errorf("a refused retry form: %d\n%s", resp.StatusCode, text)
	}
	resp = s.form("/runs/"+running+"/cancel", url.Values{"csrf": {token}})
	resp.Body.Close()
	if resp.StatusCode != 303 {
		t.Fatalf("cancel form: %d", resp.StatusCode)
	}
	s.waitState(running, "cancelled")
	_, text = s.page("/runs/" + running)
	if strings.Contains(text, `id="cancel-run"`) || !strings.Contains(text, `id="retry-run"`) {
		t.Errorf("the cancelled run's buttons:\n%s", text)
	}
}

// The workflows page says what a row lacks: a file with problems is "not
// served" (was "unknown", as if its name were the problem), and a
// workflow without runs has "none yet" (was an empty cell).
func TestWorkflowsPageEmptyCells(t *testing.T) {
	s := newServer(t, serverOptions{})
	s.workflow("greet.yaml", greetWF)
	s.workflow("bad.yaml", "name: bad\ntasks:\n  - {id: a, type: nope}\n")
	code, text := s.page("/workflows")
	if code != 200 || !strings.Contains(text, `>not served</span>`) || !strings.Contains(text, `<span class="empty">none yet</span>`) ||
		strings.Contains(text, ">unknown<") {
		t.Errorf("workflows page: %d\n%s", code, text)
	}
}

// A run's page links its workflow's page when the server offers that
// workflow, where it can be triggered again; a run of a file sent by a
// client (no such workflow here) names it without a link.
func TestRunPageLinksItsWorkflow(t *testing.T) {
	s := newServer(t, serverOptions{})
	s.workflow("greet.yaml", greetWF)
	id := s.trigger("greet", `{"who": "x"}`)
	if _, text := s.page("/runs/" + id); !strings.Contains(text, `<a href="/workflows/greet" id="workflow-link"`) {
		t.Errorf("the run page of a served workflow has no link to it:\n%s", text)
	}
	var out struct{ ID string }
	s.want(201, "POST", "/api/v1/runs", `{"file": "other.yaml", "source": "name: other\ntasks:\n  - {id: a, type: noop}\n"}`, &out)
	if _, text := s.page("/runs/" + out.ID); strings.Contains(text, `id="workflow-link"`) {
		t.Errorf("the run page of a workflow this server does not offer links it:\n%s", text)
	}
}
