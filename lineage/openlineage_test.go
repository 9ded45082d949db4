package lineage_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/lineage"
	"github.com/cairnml/cairn/lineage/lineagetest"
)

// specDir finds the OpenLineage 2-0-2 schemas (the spec/ folder of the
// OpenLineage repository, Apache License 2.0), kept beside the project
// rather than in it: $CAIRN_OPENLINEAGE_SPEC, or shared/spec/openlineage
// in a folder above this one.
func specDir(t *testing.T) string {
	if d := os.Getenv("CAIRN_OPENLINEAGE_SPEC"); d != "" {
		return d
	}
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		d := filepath.Join(dir, "shared", "spec", "openlineage")
		if _, err := os.Stat(filepath.Join(d, "OpenLineage.json")); err == nil {
			return d
		}
		up := filepath.Dir(dir)
		if up == dir {
			t.Skip("the OpenLineage schemas are not here: set CAIRN_OPENLINEAGE_SPEC to a folder holding OpenLineage.json and its facets")
		}
		dir = up
	}
}

// validator compiles every schema of dir, each under its own $id.
type validator struct {
	c     *jsonschema.Compiler
	cache map[string]*jsonschema.Schema
}

func newValidator(t *testing.T) *validator {
	dir := specDir(t)
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(files) < 8 {
		t.Fatalf("schemas in %s: %v %v", dir, files, err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		id, _ := doc.(map[string]any)["$id"].(string)
		if id == "" {
			t.Fatalf("%s has no $id", f)
		}
		if err := c.AddResource(id, doc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
	return &validator{c: c, cache: map[string]*jsonschema.Schema{}}
}

func (v *validator) check(t *testing.T, url string, doc any) {
	t.Helper()
	sch := v.cache[url]
	if sch == nil {
		var err error
		if sch, err = v.c.Compile(url); err != nil {
			t.Fatalf("compile %s: %v", url, err)
		}
		v.cache[url] = sch
	}
	if err := sch.Validate(doc); err != nil {
		b, _ := json.Marshal(doc)
		t.Fatalf("not valid against %s: %v\n%s", url, err, b)
	}
}

// facets validates each facet of a facets object against the schema its
// _schemaURL names, if it is one of OpenLineage's; it returns their names.
func (v *validator) facets(t *testing.T, fs any) []string {
	t.Helper()
	m, _ := fs.(map[string]any)
	var names []string
	for name, f := range m {
		names = append(names, name)
		url, _ := f.(map[string]any)["_schemaURL"].(string)
		if !strings.HasPrefix(url, "https://openlineage.io/spec/") {
			if !strings.HasPrefix(name, "cairn_") {
				t.Fatalf("facet %s names no OpenLineage schema: %q", name, url)
			}
			continue
		}
		v.check(t, url, f)
	}
	return names
}

// TestOpenLineageValid: every event of a graph with successes, a failure
// and CSV data sets validates against the RunEvent schema of OpenLineage
// 2-0-2, and each facet against its own schema.
func TestOpenLineageValid(t *testing.T) {
	v := newValidator(t)
	ctx := context.Background()
	s := openStore(t)
	c := chain(t, s, 2)
	model := c.Ref(1, "train", "model")
	if _, err := lineagetest.Run(ctx, s, "score", t0.Add(1e12), lineagetest.Step{Task: "predict", Type: "predict",
		In: map[string]cairn.ArtifactRef{"model": model}, End: cairn.Completion{State: cairn.TaskFailed, Error: "column \"age\" is missing"}}); err != nil {
		t.Fatal(err)
	}
	var events []lineage.RunEvent
	for _, q := range []lineage.Query{{Ref: "model:churn@2"}, {Ref: model.Digest, Direction: lineage.Downstream}} {
		g, err := lineage.Read(ctx, s, q)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		err = lineage.WriteOpenLineage(&b, g, lineage.OLOptions{Namespace: "/home/me/.cairn", Fields: func(a *lineage.Artifact) []string {
			if lineage.IsCSV(a.MediaType) {
				return []string{"age", "income", "churned"}
			}
			return nil
		}})
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(&b)
		sc.Buffer(nil, 1<<20)
		n := 0
		for sc.Scan() {
			n++
			doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(sc.Bytes()))
			if err != nil {
				t.Fatal(err)
			}
			v.check(t, lineage.OLRunEventSchema, doc)
			ev := doc.(map[string]any)
			run, job := ev["run"].(map[string]any), ev["job"].(map[string]any)
			v.facets(t, run["facets"])
			v.facets(t, job["facets"])
			for _, side := range []string{"inputs", "outputs"} {
				for _, d := range ev[side].([]any) {
					v.facets(t, d.(map[string]any)["facets"])
				}
			}
			var e lineage.RunEvent
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				t.Fatal(err)
			}
			events = append(events, e)
		}
		if n != 2*len(g.Attempts) {
			t.Fatalf("%d events for %d attempts", n, len(g.Attempts))
		}
	}
	var sawFail, sawSchema, sawParent bool
	for _, e := range events {
		if e.Job.Namespace != "/home/me/.cairn" || !strings.Contains(e.Job.Name, ".") {
			t.Fatalf("job %+v", e.Job)
		}
		if e.EventType == "FAIL" {
			sawFail = true
			em, _ := e.Run.Facets["errorMessage"].(map[string]any)
			if e.Job.Name != "score.predict" || em["message"] != `column "age" is missing` {
				t.Fatalf("the failure's event: %+v", e)
			}
		}
		if p, ok := e.Run.Facets["parent"].(map[string]any); ok {
			sawParent = p["job"].(map[string]any)["name"] != ""
		}
		for _, d := range append(e.Inputs, e.Outputs...) {
			if d.Namespace != lineage.DatasetNamespace || !strings.HasPrefix(d.Name, "sha256:") {
				t.Fatalf("data set %+v", d)
			}
			if _, ok := d.Facets["schema"]; ok {
				sawSchema = true
			}
		}
	}
	if !sawFail || !sawSchema || !sawParent {
		t.Fatalf("fail %v, schema %v, parent %v", sawFail, sawSchema, sawParent)
	}
	// The events' run ids are the attempts', the same at every export.
	found := false
	for _, e := range events {
		found = found || e.Run.RunID == lineage.RunUUID("attempt:"+c.Runs[0]+"/collect#1") && e.Job.Name == "churn.collect"
	}
	if !found {
		t.Fatal("no event of the first collect")
	}
	// The validator does refuse: a run id that is no UUID, a facet
	// without its required field.
	bad, _ := jsonschema.UnmarshalJSON(strings.NewReader(`{"eventTime":"2030-01-01T00:00:00Z","producer":"https://x","schemaURL":"https://x",
		"run":{"runId":"not-a-uuid"},"job":{"namespace":"n","name":"j"}}`))
	if err := v.cache[lineage.OLRunEventSchema].Validate(bad); err == nil {
		t.Fatal("the RunEvent schema took a run id that is not a UUID")
	}
	noMsg, _ := jsonschema.UnmarshalJSON(strings.NewReader(`{"_producer":"https://x","_schemaURL":"https://x","programmingLanguage":"GO"}`))
	if err := v.c.MustCompile("https://openlineage.io/spec/facets/1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet").Validate(noMsg); err == nil {
		t.Fatal("the error facet's schema took a facet without its message")
	}
	if _, err := lineage.OpenLineage(&lineage.Graph{}, lineage.OLOptions{}); err == nil {
		t.Fatal("no namespace was accepted")
	}
}
