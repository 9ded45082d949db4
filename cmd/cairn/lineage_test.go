package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cairnml/cairn/lineage"
)

// cairn lineage on the breast cancer example, from the home and from a
// server: the same tree, JSON, DOT and OpenLineage events; bad
// references say what is wrong; the API serves an artifact's metadata
// and its bytes as a download.
func TestLineageCommand(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	wf, err := filepath.Abs("../../workflows/examples/breast-cancer.yaml")
	if err != nil {
		t.Fatal(err)
	}
	id := runIDOf(t, e.must(0, "run", wf, "--progress", "none").stderr)

	text := e.must(0, "lineage", id+"/score").stdout
	for _, want := range []string{id + "/score#1  predict ", "├── data  sha256:", "└── model  sha256:", "wrote it as model",
		id + "/collect#1  collect ", "(shown above)", "application/vnd.cairn.model+json"} {
		if !strings.Contains(text, want) {
			t.Errorf("lineage text lacks %q:\n%s", want, text)
		}
	}
	var g lineage.Graph
	if err := json.Unmarshal([]byte(e.must(0, "lineage", id[:8]+"/score#1", "--format", "json").stdout), &g); err != nil {
		t.Fatal(err)
	}
	if g.Schema != lineage.Schema || g.Root.Attempt != id+"/score#1" || len(g.Attempts) != 4 { // score, split, train, and collect (whose bytes clean wrote again)
		var ids []string
		for _, a := range g.Attempts {
			ids = append(ids, a.ID)
		}
		t.Errorf("json: root %+v, attempts %v", g.Root, ids)
	}
	model := ""
	for _, a := range g.Attempts {
		if a.Task == "train" {
			model = a.Outputs["model"]
		}
	}
	// A prefix, downstream, as DOT.
	dot := e.must(0, "lineage", strings.TrimPrefix(model, "sha256:")[:10], "--downstream", "--format", "dot").stdout
	if !strings.HasPrefix(dot, "digraph lineage {") || !strings.Contains(dot, `"d:`+model+`" -> "a:`+id+`/evaluate#1" [label="model"];`) {
		t.Errorf("dot:\n%s", dot)
	}
	events := e.must(0, "lineage", id+"/evaluate", "--format", "openlineage", "--namespace", "test-ns").stdout
	n, csvSchema := 0, false
	sc := bufio.NewScanner(strings.NewReader(events))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var ev lineage.RunEvent
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("event %d: %v", n, err)
		}
		if ev.Job.Namespace != "test-ns" || ev.SchemaURL != lineage.OLRunEventSchema {
			t.Errorf("event %+v", ev)
		}
		for _, d := range ev.Inputs {
			if f, ok := d.Facets["schema"]; ok {
				b, _ := json.Marshal(f)
				csvSchema = csvSchema || strings.Contains(string(b), `"name":"mean_radius"`)
			}
		}
		n++
	}
	if n == 0 || n%2 != 0 || !csvSchema {
		t.Errorf("%d events, CSV schema facet %v:\n%.2000s", n, csvSchema, events)
	}

	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"lineage", "sha256:abc"}, 2, "needs at least 8 hex digits"},
		{[]string{"lineage", "model:nope"}, 1, `no model is named "nope" (cairn models list shows the registry)`},
		{[]string{"lineage", id + "/trian"}, 1, `has no task "trian"`},
		{[]string{"lineage", "zzzzzzzz/train"}, 1, `no run "zzzzzzzz" (see 'cairn runs')` + "\n"},
		{[]string{"lineage", "0123456789"}, 1, "no artifact has a digest starting sha256:0123456789\n"},
		{[]string{"lineage", model, "--format", "svg"}, 2, `unknown format "svg"`},
		{[]string{"lineage", model, "--depth", "-1"}, 2, "--depth -1"},
		{[]string{"lineage"}, 2, "want one artifact digest"},
	} {
		r := e.cairn(c.args...)
		if r.code != c.code || !strings.Contains(r.stderr, c.want) {
			t.Errorf("cairn %s: want exit %d and %q, got %s", strings.Join(c.args, " "), c.code, c.want, r)
		}
	}

	// The same through a server, with a viewer's token.
	token := strings.TrimSpace(e.must(0, "tokens", "create", "--role", "viewer").stdout)
	srv := e.startServer(nil)
	url := "http://" + srv.addr
	remote := e.cairnEnv([]string{"CAIRN_TOKEN=" + token}, "lineage", id+"/score", "--server", url)
	if remote.code != 0 || remote.stdout != text {
		t.Errorf("lineage --server differs from the home's:\n%s\n--- home:\n%s", remote, text)
	}
	r := e.cairnEnv([]string{"CAIRN_TOKEN=" + token}, "lineage", id+"/evaluate", "--server", url, "--format", "openlineage")
	if r.code != 0 || strings.Count(r.stdout, "\n") != n || !strings.Contains(r.stdout, `"namespace":"cairn://`) {
		t.Errorf("openlineage --server: %d lines, want %d: %s", strings.Count(r.stdout, "\n"), n, r)
	}
	r = e.cairnEnv([]string{"CAIRN_TOKEN=" + token}, "lineage", "model:nope", "--server", url)
	if r.code != 1 || !strings.Contains(r.stderr, `no model is named "nope"`) {
		t.Errorf("a missing model through the server: %s", r)
	}

	get := func(path string) *http.Response {
		req, err := http.NewRequest(http.MethodGet, url+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	data := ""
	for _, a := range g.Attempts {
		if a.ID == g.Root.Attempt {
			data = a.Inputs["data"]
		}
	}
	resp := get("/api/v1/artifacts/" + data[:20])
	var meta struct {
		Digest    string
		MediaType string `json:"media_type"`
		Producer  string
		Consumers []struct{ Attempt, Port string }
		Content   string
	}
	if err := json.NewDecoder(resp.Body).Decode(&meta); err != nil || resp.StatusCode != 200 {
		t.Fatalf("artifact metadata: %d %v", resp.StatusCode, err)
	}
	if meta.Digest != data || meta.MediaType != "text/csv" || meta.Producer != id+"/split#1" || len(meta.Consumers) != 2 {
		t.Errorf("artifact metadata %+v", meta)
	}
	resp = get(meta.Content)
	body, _ := io.ReadAll(resp.Body)
	sum := sha256.Sum256(body)
	if resp.StatusCode != 200 || "sha256:"+hex.EncodeToString(sum[:]) != data || resp.Header.Get("Content-Type") != "text/csv" ||
		resp.Header.Get("Content-Disposition") != `attachment; filename=`+data[7:19]+`.csv` {
		t.Errorf("content: %d %v, %d bytes", resp.StatusCode, resp.Header, len(body))
	}
	if resp := get("/api/v1/lineage?ref=" + data + "&direction=sideways"); resp.StatusCode != 400 {
		t.Errorf("a bad direction: %d", resp.StatusCode)
	}
}
