package lineage_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/lineage"
	"github.com/cairnml/cairn/lineage/lineagetest"
	"github.com/cairnml/cairn/store/sqlite"
)

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func openStore(t testing.TB) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "cairn.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func chain(t testing.TB, s *sqlite.Store, n int) *lineagetest.Chain {
	t.Helper()
	c, err := lineagetest.Write(context.Background(), s, nil, "churn", n, t0)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func text(t *testing.T, g *lineage.Graph) string {
	t.Helper()
	var b bytes.Buffer
	if err := lineage.WriteText(&b, g); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestUpstreamOfModel: the lineage of a model ten runs deep, as a graph,
// a tree, JSON and DOT.
func TestUpstreamOfModel(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	c := chain(t, s, 10)
	g, err := lineage.Read(ctx, s, lineage.Query{Ref: "model:churn@10"})
	if err != nil {
		t.Fatal(err)
	}
	model := c.Ref(9, "train", "model")
	if g.Root.Artifact != model.Digest || g.Root.Model == nil || g.Root.Model.Version != 10 || g.Root.String() != "model:churn@10" {
		t.Fatalf("root %+v", g.Root)
	}
	// train, then split and collect of every run.
	if len(g.Attempts) != 21 || g.Truncated {
		t.Fatalf("%d attempts, truncated %v", len(g.Attempts), g.Truncated)
	}
	if a := g.Attempts[0]; a.ID != c.Runs[9]+"/train#1" || a.Level != 1 || a.Workflow != "churn" || a.Type != "train" || a.Version != "cairn test" ||
		a.Inputs["train"] != c.Ref(9, "split", "train").Digest || a.Outputs["model"] != model.Digest {
		t.Fatalf("first attempt %+v", a)
	}
	last := g.Attempts[len(g.Attempts)-1]
	if last.ID != c.Runs[0]+"/collect#1" || last.Level != 21 {
		t.Fatalf("last attempt %+v", last)
	}
	// The production version is model:churn, the tenth.
	g2, err := lineage.Read(ctx, s, lineage.Query{Ref: "model:churn"})
	if err != nil || g2.Root.Artifact != model.Digest {
		t.Fatalf("model:churn: %v %v", g2, err)
	}

	out := text(t, g)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if !strings.HasPrefix(lines[0], lineage.Short(model.Digest)+"  ") || !strings.Contains(lines[0], "[model:churn@10 production]") ||
		!strings.Contains(lines[0], "application/vnd.cairn.model+json") {
		t.Fatalf("root line %q", lines[0])
	}
	if want := "└── " + c.Runs[9] + "/train#1  train cairn test  succeeded  wrote it as model"; lines[1] != want {
		t.Fatalf("line 2\n got %q\nwant %q", lines[1], want)
	}
	if !strings.HasPrefix(lines[2], "    └── train  "+lineage.Short(c.Ref(9, "split", "train").Digest)) {
		t.Fatalf("line 3 %q", lines[2])
	}
	// A tree of 42 lines: the root, 21 attempts and the 20 inputs they
	// read (the first collect read none).
	if len(lines) != 1+21+20 {
		t.Fatalf("%d lines:\n%s", len(lines), out)
	}

	var b bytes.Buffer
	if err := lineage.WriteJSON(&b, g); err != nil {
		t.Fatal(err)
	}
	var back lineage.Graph
	if err := json.Unmarshal(b.Bytes(), &back); err != nil || back.Schema != lineage.Schema || len(back.Attempts) != 21 {
		t.Fatalf("JSON round trip: %v %+v", err, back.Root)
	}
	if !bytes.Contains(b.Bytes(), []byte(`"direction": "upstream"`)) || !bytes.Contains(b.Bytes(), []byte(`"writer_count": 1`)) {
		t.Fatalf("JSON shape:\n%.600s", b.String())
	}
	b.Reset()
	if err := lineage.WriteDot(&b, g); err != nil {
		t.Fatal(err)
	}
	dot := b.String()
	edge := `"d:` + c.Ref(9, "split", "train").Digest + `" -> "a:` + c.Runs[9] + `/train#1" [label="train"];`
	if !strings.HasPrefix(dot, "digraph lineage {") || !strings.Contains(dot, edge) || strings.Count(dot, "shape=box") != 21 {
		t.Fatalf("dot:\n%s", dot)
	}
}

func TestDepthAndDownstream(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	c := chain(t, s, 3)
	g, err := lineage.Read(ctx, s, lineage.Query{Ref: "model:churn@3", Depth: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Attempts) != 2 || !g.Truncated || g.Depth != 2 {
		t.Fatalf("depth 2: %d attempts, truncated %v", len(g.Attempts), g.Truncated)
	}
	out := text(t, g)
	if !strings.Contains(out, "… "+c.Runs[2]+"/collect#1 (past --depth)") || !strings.HasSuffix(out, "(cut at --depth 2)\n") {
		t.Fatalf("depth 2 text:\n%s", out)
	}

	// Downstream of the first collect's data: everything but that collect.
	g, err = lineage.Read(ctx, s, lineage.Query{Ref: c.Ref(0, "collect", "data").Digest, Direction: lineage.Downstream})
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Attempts) != 14 {
		t.Fatalf("downstream: %d attempts", len(g.Attempts))
	}
	out = text(t, g)
	for _, want := range []string{"read it as data", "[model:churn@1 archived]", "[model:churn@3 production]", c.Runs[2] + "/deploy#1"} {
		if !strings.Contains(out, want) {
			t.Fatalf("downstream text lacks %q:\n%s", want, out)
		}
	}
	// From a task: RUN/TASK is its last attempt, upstream its inputs.
	g, err = lineage.Read(ctx, s, lineage.Query{Ref: c.Runs[1][:10] + "/split"})
	if err != nil {
		t.Fatal(err)
	}
	if g.Root.Attempt != c.Runs[1]+"/split#1" || len(g.Attempts) != 4 || g.Attempts[0].Level != 0 {
		t.Fatalf("from a task: %+v, %d attempts", g.Root, len(g.Attempts))
	}
	// Its outputs, not on the way upstream, are still described.
	known := map[string]bool{}
	for _, a := range g.Artifacts {
		known[a.Digest] = a.MediaType == "text/csv"
	}
	if !known[c.Ref(1, "split", "test").Digest] {
		t.Fatalf("the root attempt's output is not described: %+v", g.Artifacts)
	}
	g, err = lineage.Read(ctx, s, lineage.Query{Ref: c.Runs[1] + "/split#1", Direction: lineage.Downstream, Depth: 1})
	if err != nil || len(g.Attempts) != 4 || !g.Truncated { // split, train, evaluate, the next run's collect
		t.Fatalf("from a task, downstream: %v %d", err, len(g.Attempts))
	}
}

func TestResolveErrors(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	c := chain(t, s, 1)
	// Two artifacts whose digests share their first 12 hex digits.
	a := cairn.ArtifactRef{Digest: "sha256:abcdef012345" + strings.Repeat("0", 52), Size: 3, MediaType: "text/plain"}
	b := cairn.ArtifactRef{Digest: "sha256:abcdef012345" + strings.Repeat("1", 52), Size: 4}
	if _, err := lineagetest.Run(ctx, s, "twins", t0.Add(time.Hour), lineagetest.Step{Task: "make", Type: "shell",
		End: cairn.Completion{State: cairn.TaskSucceeded, Outputs: map[string]json.RawMessage{"a": a.JSON(), "b": b.JSON()}}}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ref  string
		is   error
		want string
	}{
		{"", lineage.ErrBadRef, "empty"},
		{"sha256:abc", lineage.ErrBadRef, "at least 8 hex digits"},
		{"not a digest!", lineage.ErrBadRef, "is not a digest"},
		{"sha256:" + strings.Repeat("a", 65), lineage.ErrBadRef, "longer than"},
		{"abcdef012345", cairn.ErrAmbiguous, a.Digest + "  3 B  text/plain  from "},
		{"ffffffffff", cairn.ErrNotFound, "no artifact has a digest starting sha256:ffffffffff"},
		{"model:churn@7", cairn.ErrNotFound, "model churn has no version 7 (cairn models show churn lists its versions)"},
		{c.Runs[0], lineage.ErrBadRef, `"` + c.Runs[0] + `" is a run: lineage starts from one of its tasks, ` + c.Runs[0] + `/TASK (it has collect, split, train, evaluate, deploy)`},
		{"model:nope", cairn.ErrNotFound, `no model is named "nope" (cairn models list shows the registry)`},
		{"model:nope@1", cairn.ErrNotFound, `no model is named "nope"`},
		{"model:../x", lineage.ErrBadRef, "model name"},
		{c.Runs[0] + "/trian", cairn.ErrNotFound, "has no task \"trian\" (it has collect, split, train, evaluate, deploy)"},
		{c.Runs[0] + "/train#2", cairn.ErrNotFound, "no finished attempt 2"},
		{c.Runs[0] + "/train#x", lineage.ErrBadRef, "whole number"},
		{"zzzzzzzz/train", cairn.ErrNotFound, `no run "zzzzzzzz" (see 'cairn runs')`},
		{"01/train", lineage.ErrBadRef, "at least 4 characters"},
		{"/train", lineage.ErrBadRef, "RUN/TASK"},
	} {
		_, err := lineage.Resolve(ctx, s, tc.ref)
		if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Resolve(%q) = %v; want %v containing %q", tc.ref, err, tc.is, tc.want)
		}
	}
	// Upper case and a bare prefix resolve.
	m := c.Ref(0, "train", "model")
	r, err := lineage.Resolve(ctx, s, strings.ToUpper(m.Hex()[:10]))
	if err != nil || r.Root.Artifact != m.Digest {
		t.Fatalf("upper-case prefix: %+v %v", r, err)
	}
	if _, err := lineage.Read(ctx, s, lineage.Query{Ref: m.Digest, Direction: "sideways"}); !errors.Is(err, lineage.ErrBadRef) {
		t.Fatalf("bad direction: %v", err)
	}
}

// TestCycleAndWriters: an attempt that writes the bytes it read, and the
// same bytes written by several attempts: each node is drawn once.
func TestCycleAndWriters(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	x := cairn.ArtifactRef{Digest: "sha256:" + strings.Repeat("ab", 32), Size: 10, MediaType: "text/csv"}
	out := cairn.Completion{State: cairn.TaskSucceeded, Outputs: map[string]json.RawMessage{"out": x.JSON()}}
	run, err := lineagetest.Run(ctx, s, "loop", t0,
		lineagetest.Step{Task: "make", Type: "shell", End: out},
		lineagetest.Step{Task: "copy", Type: "shell", In: map[string]cairn.ArtifactRef{"in": x}, End: out},
		lineagetest.Step{Task: "again", Type: "shell", End: out},
		lineagetest.Step{Task: "bad", Type: "shell", In: map[string]cairn.ArtifactRef{"in": x},
			End: cairn.Completion{State: cairn.TaskFailed, Error: "exit status 3\n\x1b[31mred\x1b[0m"}})
	if err != nil {
		t.Fatal(err)
	}
	g, err := lineage.Read(ctx, s, lineage.Query{Ref: x.Digest, Direction: lineage.Downstream})
	if err != nil {
		t.Fatal(err)
	}
	txt := text(t, g)
	if !strings.Contains(txt, "out  "+lineage.Short(x.Digest)+"  10 B  text/csv") || !strings.Contains(txt, "(shown above)") {
		t.Fatalf("cycle:\n%s", txt)
	}
	if !strings.Contains(txt, "(also written by 2 other attempts: "+run+"/copy#1, "+run+"/again#1)") {
		t.Fatalf("writers:\n%s", txt)
	}
	if !strings.Contains(txt, run+"/bad#1  shell  failed  read it as in  error: exit status 3") || strings.Contains(txt, "\x1b") {
		t.Fatalf("failed reader:\n%q", txt)
	}
	g, err = lineage.Read(ctx, s, lineage.Query{Ref: x.Digest})
	if err != nil || len(g.Attempts) != 1 || g.Attempts[0].Task != "make" {
		t.Fatalf("upstream of x: the first producer only: %v %+v", err, g.Attempts)
	}
}

func TestRunUUID(t *testing.T) {
	u := lineage.RunUUID("attempt:r/t#1")
	if len(u) != 36 || u[14] != '5' || !strings.ContainsAny(u[19:20], "89ab") {
		t.Fatalf("not a version 5 UUID: %s", u)
	}
	if u != lineage.RunUUID("attempt:r/t#1") || u == lineage.RunUUID("attempt:r/t#2") {
		t.Fatal("RunUUID is not a function of its name")
	}
}

func TestCSVHeader(t *testing.T) {
	h, err := lineage.CSVHeader(strings.NewReader("a,\"b,c\",d\n1,2,3\n"))
	if err != nil || strings.Join(h, "|") != "a|b,c|d" {
		t.Fatalf("header %q %v", h, err)
	}
	if h, err := lineage.CSVHeader(strings.NewReader("")); h != nil || err != nil {
		t.Fatalf("empty: %q %v", h, err)
	}
	if _, err := lineage.CSVHeader(strings.NewReader(strings.Repeat("x", lineage.MaxHeaderBytes+10))); err == nil {
		t.Fatal("an endless header was read")
	}
}

// TestTextOfDeepChainStaysNarrow: a tree deeper than MaxTextLevels goes on
// at the left margin, so its output grows with the chain, not with its
// square, and every attempt is still drawn once.
func TestTextOfDeepChainStaysNarrow(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	c := chain(t, s, 40)
	g, err := lineage.Read(ctx, s, lineage.Query{Ref: "model:churn@40"})
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Attempts) != 81 {
		t.Fatalf("%d attempts, want 81", len(g.Attempts))
	}
	out := text(t, g)
	folds := strings.Count(out, "levels: ")
	if folds < 2 {
		t.Errorf("%d folds to the margin in a tree of %d attempts:\n%s", folds, len(g.Attempts), out)
	}
	for _, l := range strings.Split(out, "\n") {
		prefix := strings.TrimLeft(l, "│ ├└─")
		if w := utf8.RuneCountInString(l) - utf8.RuneCountInString(prefix); w > 4*(lineage.MaxTextLevels+1) {
			t.Fatalf("a line indented %d columns:\n%s", w, l)
		}
	}
	for _, a := range g.Attempts {
		if n := strings.Count(out, a.ID+"  "); n != 1 {
			t.Errorf("%s drawn %d times", a.ID, n)
		}
	}
	if !strings.Contains(out, c.Runs[0]+"/collect#1") {
		t.Errorf("the first run's collect is missing")
	}
}

// TestWebhookParamsRedacted: a deploy's alerts: webhook, often its
// receiver's credential, is cut to its scheme, host and first path
// segment in every format of the lineage, as the run pages cut it.
func TestWebhookParamsRedacted(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	m := cairn.ArtifactRef{Digest: "sha256:" + strings.Repeat("cd", 32), Size: 10, MediaType: "application/json"}
	run, err := lineagetest.Run(ctx, s, "hook", t0, lineagetest.Step{Task: "deploy", Type: "deploy", In: map[string]cairn.ArtifactRef{"model": m},
		Params: []byte(`{"name":"m","alerts":[{"on":"p99_latency_above","bound":1,"webhook":"https://hooks.example.com/services/T0SECRET/B1SECRET"}]}`),
		End:    cairn.Completion{State: cairn.TaskSucceeded}})
	if err != nil {
		t.Fatal(err)
	}
	g, err := lineage.Read(ctx, s, lineage.Query{Ref: run + "/deploy"})
	if err != nil {
		t.Fatal(err)
	}
	var js, ol bytes.Buffer
	if err := lineage.WriteJSON(&js, g); err != nil {
		t.Fatal(err)
	}
	if err := lineage.WriteOpenLineage(&ol, g, lineage.OLOptions{Namespace: "cairn://test"}); err != nil {
		t.Fatal(err)
	}
	for name, out := range map[string]string{"json": js.String(), "openlineage": ol.String(), "text": text(t, g)} {
		if strings.Contains(out, "SECRET") {
			t.Errorf("%s shows the webhook whole:\n%s", name, out)
		}
	}
	if !strings.Contains(js.String(), `https://hooks.example.com/services/…`) {
		t.Errorf("json lost the webhook's redacted form:\n%s", js.String())
	}
}
