package draw

import (
	"bytes"
	"strings"
	"testing"

	"github.com/cairnml/cairn/lineage"
)

func lineageFixture() *lineage.Graph {
	d := func(c byte) string { return "sha256:" + strings.Repeat(string(c), 64) }
	return &lineage.Graph{Schema: lineage.Schema, Direction: lineage.Upstream, Root: lineage.Root{Artifact: d('c')},
		Attempts: []*lineage.Attempt{
			{ID: "r1/train#1", Run: "r1", Task: "train", Number: 1, Type: "train", State: "succeeded", Level: 1,
				Inputs: map[string]string{"train": d('b')}, Outputs: map[string]string{"model": d('c')}},
			{ID: "r1/split#2", Run: "r1", Task: "split", Number: 2, Type: `<script>alert("x")</script>`, State: "succeeded", Level: 2,
				Inputs: map[string]string{"data": d('a')}, Outputs: map[string]string{"train": d('b')}, CachedFrom: "r0/split#1"},
		},
		Artifacts: []*lineage.Artifact{
			{Digest: d('a'), Size: 10, MediaType: `text/csv"><script>`},
			{Digest: d('b'), Size: 2048, MediaType: "text/csv"},
			{Digest: d('c'), Size: 99, MediaType: "application/vnd.cairn.model+json",
				Models: []lineage.ModelRef{{Ref: "model:churn@3", Name: "churn", Version: 3, Stage: "production"}}},
		}}
}

// TestLineageSVG: nodes for every attempt and artifact, edges along the
// data, links, the root marked, every text escaped, the same bytes twice.
func TestLineageSVG(t *testing.T) {
	g := lineageFixture()
	opts := LineageOptions{
		AttemptHref:  func(a *lineage.Attempt) string { return "/runs/" + a.Run + "/tasks/" + a.Task + "?x=1&y=2" },
		ArtifactHref: func(a *lineage.Artifact) string { return "/artifacts/" + a.Digest },
	}
	var a, b bytes.Buffer
	if err := Lineage(&a, g, opts); err != nil {
		t.Fatal(err)
	}
	if err := Lineage(&b, g, opts); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("two drawings of one graph differ")
	}
	if strings.Contains(a.String(), "<script") {
		t.Fatalf("unescaped text:\n%s", a.String())
	}
	els := parseSVG(t, a.Bytes())
	var attempts, artifacts, edges int
	links := map[string]string{}
	for _, e := range els {
		switch {
		case e.Attr["class"] == "node lineage-attempt":
			attempts++
			links[e.Attr["data-attempt"]] = e.Attr["href"]
		case e.Attr["class"] == "node lineage-artifact":
			artifacts++
			links[e.Attr["data-digest"]] = e.Attr["href"]
		case e.Attr["class"] == "edge":
			edges++
		}
	}
	if attempts != 2 || artifacts != 3 || edges != 4 {
		t.Fatalf("%d attempts, %d artifacts, %d edges", attempts, artifacts, edges)
	}
	if links["r1/train#1"] != "/runs/r1/tasks/train?x=1&y=2" || links[g.Root.Artifact] != "/artifacts/"+g.Root.Artifact {
		t.Fatalf("links %v", links)
	}
	if !strings.Contains(a.String(), `stroke-width="3.2"`) || !strings.Contains(a.String(), ">model:churn@3<") {
		t.Fatal("the root is not marked, or its model not named")
	}
	// A cycle (an attempt writing what it read) is drawn, not looped on.
	g.Attempts[0].Outputs["again"] = g.Attempts[0].Inputs["train"]
	b.Reset()
	if err := Lineage(&b, g, opts); err != nil || len(parseSVG(t, b.Bytes())) == 0 {
		t.Fatal(err)
	}
}
