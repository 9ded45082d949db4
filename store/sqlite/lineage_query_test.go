package sqlite_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/lineage/lineagetest"
)

func attemptSet(g *cairn.LineageGraph) []string {
	var out []string
	for _, a := range g.Attempts {
		out = append(out, a.RunID+"/"+a.TaskID)
	}
	slices.Sort(out)
	return out
}

// TestLineageClosure: the closure of a model three runs deep, upstream
// and downstream, bounded and not, in one read.
func TestLineageClosure(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "l.db"))
	c, err := lineagetest.Write(ctx, s, nil, "churn", 3, cancelT0)
	if err != nil {
		t.Fatal(err)
	}
	model := c.Ref(2, "train", "model")
	g, err := s.LineageClosure(ctx, []string{model.Digest}, cairn.LineageIn, 0)
	if err != nil {
		t.Fatal(err)
	}
	// train ← split ← collect ← split (run 1) ← collect ← split (run 0) ← collect.
	want := []string{c.Runs[0] + "/collect", c.Runs[0] + "/split", c.Runs[1] + "/collect", c.Runs[1] + "/split",
		c.Runs[2] + "/collect", c.Runs[2] + "/split", c.Runs[2] + "/train"}
	slices.Sort(want)
	if got := attemptSet(g); !slices.Equal(got, want) {
		t.Fatalf("upstream attempts\n got %v\nwant %v", got, want)
	}
	if len(g.Runs) != 3 || g.Runs[0].Workflow != "churn" {
		t.Fatalf("runs %+v", g.Runs)
	}
	if len(g.Models) != 1 || g.Models[0].Version != 3 || g.Models[0].Model.Digest != model.Digest {
		t.Fatalf("models %+v", g.Models)
	}
	// Every edge's artifact is known, with its first producer.
	known := map[string]*cairn.ArtifactRecord{}
	for _, a := range g.Artifacts {
		known[a.Digest] = a
	}
	for _, e := range g.Edges {
		if known[e.Digest] == nil {
			t.Fatalf("edge %+v names an artifact the graph lacks", e)
		}
	}
	if p := known[model.Digest].Producer; p.RunID != c.Runs[2] || p.TaskID != "train" {
		t.Fatalf("producer of the model: %v", p)
	}
	if w := g.Writers[model.Digest]; g.WriterCount[model.Digest] != 1 || len(w) != 1 || w[0].TaskID != "train" {
		t.Fatalf("writers of the model: %v %d", w, g.WriterCount[model.Digest])
	}

	// One level: train and what made its input (split, one level more).
	g, err = s.LineageClosure(ctx, []string{model.Digest}, cairn.LineageIn, 1)
	if err != nil {
		t.Fatal(err)
	}
	if got := attemptSet(g); !slices.Equal(got, []string{c.Runs[2] + "/split", c.Runs[2] + "/train"}) {
		t.Fatalf("depth 1: %v", got)
	}

	// Downstream of run 0's training set: run 0's train, evaluate and
	// deploy, and everything of runs 1 and 2 (their collects read it, in
	// a chain).
	g, err = s.LineageClosure(ctx, []string{c.Ref(0, "split", "train").Digest}, cairn.LineageOut, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := attemptSet(g); len(got) != 3+5+5 || slices.Contains(got, c.Runs[0]+"/split") {
		t.Fatalf("downstream attempts: %v", got)
	}
	if len(g.Models) != 3 {
		t.Fatalf("downstream models: %d", len(g.Models))
	}
	if _, err := s.LineageClosure(ctx, []string{model.Digest}, "sideways", 0); err == nil {
		t.Fatal("a bad direction was accepted")
	}
}

// TestLineageClosureCycle: an attempt that writes the bytes it read
// makes a cycle in the graph of artifacts; the closure still ends, and
// identical bytes written by several attempts are counted, the first
// producer first.
func TestLineageClosureCycle(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "c.db"))
	x := testRef("same bytes")
	at := cancelT0
	run := &cairn.Run{ID: cairn.NewRunID(at), Workflow: "wf", State: cairn.RunQueued, CreatedAt: at}
	trs := []*cairn.TaskRun{
		{TaskID: "make", Type: "shell", State: cairn.TaskReady, Params: []byte(`{}`)},
		{TaskID: "copy", Type: "shell", State: cairn.TaskReady, Params: []byte(`{}`), Inputs: map[string]cairn.ArtifactRef{"in": x}},
		{TaskID: "again", Type: "shell", State: cairn.TaskReady, Params: []byte(`{}`)},
	}
	if err := s.CreateRun(ctx, run, trs); err != nil {
		t.Fatal(err)
	}
	items, err := s.Lease(ctx, cairn.LeaseRequest{Worker: "w", RunID: run.ID, Max: 3}, at, time.Hour)
	if err != nil || len(items) != 3 {
		t.Fatalf("lease: %v %v", items, err)
	}
	out := cairn.Completion{State: cairn.TaskSucceeded, Outputs: map[string]json.RawMessage{"out": x.JSON()}}
	for i, task := range []string{"make", "copy", "again"} {
		for _, it := range items {
			if it.Lease.TaskID == task {
				if _, err := s.Complete(ctx, it.Lease, out, at.Add(time.Duration(i+1)*time.Second)); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	// copy read x and wrote it: x's first producer is make, so the
	// upstream closure is make alone.
	g, err := s.LineageClosure(ctx, []string{x.Digest}, cairn.LineageIn, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := attemptSet(g); !slices.Equal(got, []string{run.ID + "/make"}) {
		t.Fatalf("upstream: %v", got)
	}
	if n, w := g.WriterCount[x.Digest], g.Writers[x.Digest]; n != 3 || len(w) != 3 || w[0].TaskID != "make" || w[1].TaskID != "copy" {
		t.Fatalf("writers: %d %v", n, w)
	}
	// Downstream: copy read x and wrote x, which copy read: a cycle.
	g, err = s.LineageClosure(ctx, []string{x.Digest}, cairn.LineageOut, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := attemptSet(g); !slices.Equal(got, []string{run.ID + "/copy"}) {
		t.Fatalf("downstream: %v", got)
	}
	for _, depth := range []int{50, 1_000_000} { // past 64 levels, the whole closure (a row per level on a cycle would not end soon)
		g, err = s.LineageClosure(ctx, []string{x.Digest}, cairn.LineageOut, depth)
		if err != nil || len(g.Attempts) != 1 {
			t.Fatalf("downstream to depth %d: %v %v", depth, attemptSet(g), err)
		}
	}
}

func TestArtifactsByPrefix(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "p.db"))
	c, err := lineagetest.Write(ctx, s, nil, "churn", 1, cancelT0)
	if err != nil {
		t.Fatal(err)
	}
	m := c.Ref(0, "train", "model")
	got, err := s.ArtifactsByPrefix(ctx, m.Hex()[:8], 10)
	if err != nil || len(got) != 1 || got[0].Digest != m.Digest || got[0].Producer.TaskID != "train" {
		t.Fatalf("by prefix: %+v %v", got, err)
	}
	all, err := s.ArtifactsByPrefix(ctx, "", 100)
	if err != nil || len(all) != 5 {
		t.Fatalf("every artifact: %d %v", len(all), err)
	}
	if got, err := s.ArtifactsByPrefix(ctx, strings.Repeat("f", 64), 10); err != nil || len(got) != 0 {
		t.Fatalf("no match: %+v %v", got, err)
	}
	if _, err := s.ArtifactsByPrefix(ctx, "ABC' OR 1=1", 10); err == nil {
		t.Fatal("a prefix that is not hex was accepted")
	}
	ms, err := s.ModelsOf(ctx, m.Digest)
	if err != nil || len(ms) != 1 || ms[0].Name != "churn" {
		t.Fatalf("models of the model: %+v %v", ms, err)
	}
}
