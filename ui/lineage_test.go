package ui

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/lineage"
	"github.com/cairnml/cairn/lineage/lineagetest"
)

var lineageT0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// hostileArtifacts stores a CSV data set whose header and cells are
// markup, with 30 rows, and an HTML page, each written by a task.
func hostileArtifacts(t *testing.T, f *fixture) (csv, page cairn.ArtifactRef) {
	t.Helper()
	ctx := context.Background()
	var b bytes.Buffer
	b.WriteString("<b>name</b>,\"<script>alert(1)</script>\",n\n")
	for i := 0; i < 30; i++ {
		fmt.Fprintf(&b, "row%d,\"<img src=x onerror=alert(%d)>\",%d\n", i, i, i)
	}
	csv, err := f.arts.Put(ctx, "text/csv", &b)
	if err != nil {
		t.Fatal(err)
	}
	page, err = f.arts.Put(ctx, "text/html", strings.NewReader("<html><script>alert(document.cookie)</script></html>"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lineagetest.Run(ctx, f.st, "hostile", lineageT0, lineagetest.Step{Task: "make", Type: "shell",
		End: cairn.Completion{State: cairn.TaskSucceeded, Outputs: map[string]json.RawMessage{"data": csv.JSON(), "page": page.JSON()}}}); err != nil {
		t.Fatal(err)
	}
	return csv, page
}

// TestLineageAPI: the lineage of a model as JSON and OpenLineage events;
// an artifact's metadata and bytes (its type only when safe to serve);
// bad references.
func TestLineageAPI(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c, err := lineagetest.Write(ctx, f.st, f.arts, "churn", 3, lineageT0)
	if err != nil {
		t.Fatal(err)
	}
	resp, body := f.do(t, "GET", "/api/v1/lineage?ref=model:churn@3", nil)
	var g lineage.Graph
	if err := json.Unmarshal([]byte(body), &g); err != nil || resp.StatusCode != 200 || len(g.Attempts) != 7 {
		t.Fatalf("lineage: %d %v %d attempts\n%.300s", resp.StatusCode, err, len(g.Attempts), body)
	}
	resp, body = f.do(t, "GET", "/api/v1/lineage?ref="+url.QueryEscape(c.Runs[0]+"/split")+"&direction=down&depth=1&format=openlineage", nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("openlineage: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	lines := strings.Split(strings.TrimSpace(body), "\n")
	if len(lines) != 2*4 || !strings.Contains(body, `"namespace":"cairn://test"`) || !strings.Contains(body, `{"name":"age","ordinal_position":1}`) {
		t.Fatalf("openlineage: %d events\n%.1000s", len(lines), body)
	}

	model := c.Ref(2, "train", "model")
	resp, body = f.do(t, "GET", "/api/v1/artifacts/"+model.Hex()[:12], nil)
	var meta artifactJSON
	if err := json.Unmarshal([]byte(body), &meta); err != nil || resp.StatusCode != 200 {
		t.Fatalf("artifact: %d %v", resp.StatusCode, err)
	}
	if meta.Digest != model.Digest || meta.Producer != c.Runs[2]+"/train#1" || len(meta.Consumers) != 2 || len(meta.Models) != 1 || meta.Models[0].Stage != "production" {
		t.Fatalf("artifact %+v", meta)
	}
	resp, body = f.do(t, "GET", meta.Content, nil)
	if resp.StatusCode != 200 || body != `{"format":"cairn-model","run":2}` || resp.Header.Get("Content-Type") != "application/vnd.cairn.model+json" ||
		!strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment; filename=") {
		t.Fatalf("content: %d %v %q", resp.StatusCode, resp.Header, body)
	}

	_, page := hostileArtifacts(t, f)
	resp, body = f.do(t, "GET", "/api/v1/artifacts/"+page.Digest+"/content", nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/octet-stream" ||
		!strings.Contains(resp.Header.Get("Content-Security-Policy"), "sandbox") || resp.Header.Get("Content-Disposition") != "attachment; filename="+page.Hex()[:12]+".bin" {
		t.Fatalf("an HTML artifact is served as %d %v", resp.StatusCode, resp.Header)
	}

	// A corrupt file is never served whole.
	path := filepath.Join(f.arts.Root(), "sha256", model.Hex()[:2], model.Hex())
	os.Chmod(path, 0o644)
	if err := os.WriteFile(path, []byte(`{"format":"cairn-model","run":9}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if resp, body = f.do(t, "GET", meta.Content, nil); resp.StatusCode != 500 || strings.Contains(body, "run\":9") {
		t.Fatalf("a corrupt artifact: %d %s", resp.StatusCode, body)
	}
	// A removed one is not found.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if resp, body = f.do(t, "GET", meta.Content, nil); resp.StatusCode != 404 {
		t.Fatalf("a removed artifact: %d %s", resp.StatusCode, body)
	}
	// A large one is cut short: the client never gets all its bytes.
	big, err := f.arts.Put(ctx, "text/csv", bytes.NewReader(bytes.Repeat([]byte("a,b\n"), 100_000)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lineagetest.Run(ctx, f.st, "big", lineageT0, lineagetest.Step{Task: "make", Type: "shell",
		End: cairn.Completion{State: cairn.TaskSucceeded, Outputs: map[string]json.RawMessage{"data": big.JSON()}}}); err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(f.arts.Root(), "sha256", big.Hex()[:2], big.Hex())
	os.Chmod(path, 0o644)
	if err := os.WriteFile(path, bytes.Repeat([]byte("a,c\n"), 100_000), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := f.srv.Client().Get(f.srv.URL + "/api/v1/artifacts/" + big.Digest + "/content")
	if err == nil {
		n, rerr := io.Copy(io.Discard, r.Body)
		r.Body.Close()
		if rerr == nil {
			t.Fatalf("a corrupt large artifact was served whole: %d, %d bytes", r.StatusCode, n)
		}
	}

	for _, tc := range []struct {
		path   string
		status int
		want   string
	}{
		{"/api/v1/lineage", 400, "ref is required"},
		{"/api/v1/lineage?ref=abc", 400, "at least 8 hex digits"},
		{"/api/v1/lineage?ref=model:churn@9", 404, "model churn has no version 9"},
		{"/api/v1/lineage?ref=model:churn&format=xml", 400, "want json or openlineage"},
		{"/api/v1/lineage?ref=model:churn&depth=-2", 400, "depth"},
		{"/api/v1/lineage?ref=model:churn&depth=100000000", 400, "want a whole number from 0 (no bound) to 1000000"},
		{"/api/v1/lineage?ref=model:churn&sort=x", 400, "unknown query parameter"},
		{"/api/v1/artifacts/sha256:" + strings.Repeat("0", 64), 404, "no artifact"},
		{"/api/v1/artifacts/model:churn", 400, "not an artifact digest"},
		{"/api/v1/artifacts/zz", 400, "not a digest"},
		{"/artifacts/" + strings.Repeat("0", 64), 404, "no artifact"},
		{"/lineage?ref=%3Cscript%3E", 400, "&lt;script&gt;"},
		{"/api/v1/lineage?ref=" + strings.Repeat("a", 5000), 400, "a reference of 5000 bytes"},
	} {
		resp, body := f.do(t, "GET", tc.path, nil)
		if resp.StatusCode != tc.status || !strings.Contains(body, tc.want) {
			t.Errorf("GET %s: %d, want %d with %q:\n%.300s", tc.path, resp.StatusCode, tc.status, tc.want, body)
		}
	}
}

// TestArtifactPagePreview: a data set's first 20 rows as text, however
// much markup they hold.
func TestArtifactPagePreview(t *testing.T) {
	f := newFixture(t)
	csv, _ := hostileArtifacts(t, f)
	resp, body := f.do(t, "GET", "/artifacts/"+csv.Digest, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("%d\n%s", resp.StatusCode, body)
	}
	if strings.Contains(body, "<script>alert") || strings.Contains(body, "<img src=x") || !strings.Contains(body, "&lt;img src=x onerror=alert(19)&gt;") ||
		strings.Contains(body, "alert(20)") || !strings.Contains(body, `id="preview-more"`) {
		t.Fatalf("the preview:\n%s", body)
	}
	if n := strings.Count(body, "<tr><td>row"); n != 20 {
		t.Fatalf("%d rows shown, want 20", n)
	}
}

// TestLineagePageTooLarge: a graph past what the page draws says so and
// links to a bounded one, which is drawn.
func TestLineagePageTooLarge(t *testing.T) {
	f := newFixture(t)
	c, err := lineagetest.Write(context.Background(), f.st, nil, "churn", 81, lineageT0)
	if err != nil {
		t.Fatal(err)
	}
	resp, body := f.do(t, "GET", "/lineage?direction=down&ref="+c.Ref(0, "collect", "data").Digest, nil)
	if resp.StatusCode != 200 || !strings.Contains(body, `id="lineage-too-large"`) || strings.Contains(body, "<svg") {
		t.Fatalf("%d:\n%.2000s", resp.StatusCode, body)
	}
	resp, body = f.do(t, "GET", "/lineage?depth=3&direction=down&ref="+c.Ref(0, "collect", "data").Digest, nil)
	if resp.StatusCode != 200 || !strings.Contains(body, `<svg`) || !strings.Contains(body, "cut at depth 3") {
		t.Fatalf("depth 3: %d:\n%.2000s", resp.StatusCode, body)
	}
}
