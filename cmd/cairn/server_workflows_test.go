package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// post sends a JSON body to the server and returns the status and body.
func (s *server) post(path, body string) (int, string) {
	s.t.Helper()
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Post("http://"+s.addr+path, "application/json", strings.NewReader(body))
	if err != nil {
		s.t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatalf("POST %s: %v", path, err)
	}
	return resp.StatusCode, string(b)
}

// TestServerWorkflowsFolder: cairn server --workflows DIR serves the
// folder's good workflows and logs the problems of a bad one at
// FILE:LINE:COL; a workflow triggered through the API runs, typed params
// and all, with its audit entry; a fix to the bad file is seen without a
// restart; a retry through the API runs the failed task again.
func TestServerWorkflowsFolder(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dir := t.TempDir()
	marker := filepath.Join(t.TempDir(), "marker")
	write := func(name, src string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("count.yaml", `name: count
params:
  n: {type: int, default: 1}
tasks:
  - id: check
    type: shell
    with:
      script: 'test ${{ params.n }} -eq 5 || { [ -e "`+marker+`" ] || { touch "`+marker+`"; exit 4; }; }'
`)
	write("bad.yaml", "name: bad\ntasks:\n  - {id: a, type: nosuch}\n")
	s := e.startServer(nil, "--workflows", dir, "--insecure-no-auth")
	l := s.waitLog(10*time.Second, "workflow file has problems; it is not served", nil)
	if !strings.Contains(l.str("problems"), "bad.yaml:3:19: unknown task type \"nosuch\"") {
		t.Errorf("the problems logged: %q", l.str("problems"))
	}
	s.waitLog(10*time.Second, "workflow loaded", map[string]string{"workflow": "count"})

	status, body := s.get("/api/v1/workflows")
	var list struct {
		Workflows []struct {
			Name  *string `json:"name"`
			File  string  `json:"file"`
			Error *string `json:"error"`
		} `json:"workflows"`
	}
	if err := json.Unmarshal([]byte(body), &list); status != 200 || err != nil || len(list.Workflows) != 2 ||
		list.Workflows[0].Error == nil || list.Workflows[1].Name == nil || *list.Workflows[1].Name != "count" {
		t.Fatalf("GET /api/v1/workflows: %d %s", status, body)
	}

	status, body = s.post("/api/v1/workflows/count/runs", `{"params": {"n": 5}}`)
	var out struct{ ID string }
	if err := json.Unmarshal([]byte(body), &out); status != 201 || err != nil || out.ID == "" {
		t.Fatalf("trigger: %d %s", status, body)
	}
	if r := e.waitRunState(30*time.Second, out.ID, "succeeded"); r.Params["n"] != float64(5) {
		t.Errorf("the run's params: %v", r.Params)
	}
	if r := e.must(0, "audit", "--run", out.ID); !strings.Contains(r.stdout, "insecure-no-auth") || !strings.Contains(r.stdout, "trigger") {
		t.Errorf("cairn audit of the triggered run:\n%s", r)
	}

	// A failed run, retried through the API: the task runs again.
	status, body = s.post("/api/v1/workflows/count/runs", `{}`)
	if err := json.Unmarshal([]byte(body), &out); status != 201 || err != nil {
		t.Fatalf("trigger: %d %s", status, body)
	}
	e.waitRunState(30*time.Second, out.ID, "failed")
	if status, body := s.post("/api/v1/runs/"+out.ID+"/retry", `{"task": "check"}`); status != 202 {
		t.Fatalf("retry: %d %s", status, body)
	}
	r := e.waitRunState(30*time.Second, out.ID, "succeeded")
	if tj := taskByID(t, r, "check"); tj.Attempts != 2 {
		t.Errorf("check ran %d attempts, want 2", tj.Attempts)
	}

	// The bad file fixed: served within the folder's next look.
	write("bad.yaml", "name: fixed\ntasks:\n  - {id: a, type: noop}\n")
	waitFor(t, 30*time.Second, "the fixed workflow to be served", func() bool {
		status, _ := s.get("/api/v1/workflows/fixed")
		return status == 200
	})
	status, body = s.post("/api/v1/workflows/fixed/runs", `{}`)
	if err := json.Unmarshal([]byte(body), &out); status != 201 || err != nil {
		t.Fatalf("trigger of the fixed workflow: %d %s", status, body)
	}
	e.waitRunState(30*time.Second, out.ID, "succeeded")
}

// TestServerWorkflowsFolderMissing: a --workflows folder that cannot be
// read stops the server before it listens, saying what to give.
func TestServerWorkflowsFolderMissing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.must(1, "server", "--addr", "127.0.0.1:0", "--workflows", filepath.Join(t.TempDir(), "nope"))
	if !strings.Contains(r.stderr, "give an existing folder to --workflows") {
		t.Errorf("a missing folder:\n%s", r)
	}
}
