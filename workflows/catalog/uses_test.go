package catalog_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairnml/cairn/workflows/catalog"
)

// A workflow of the folder that uses a sub-workflow in a folder below is
// read again when the sub-workflow changes (it is not one of the folder's
// files), and one whose sub-workflow was missing when the folder changes.
func TestCatalogSubworkflows(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "steps"), 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, dir, "main.yaml", "name: main\ntasks:\n  - {id: prep, uses: steps/prep.yaml}\n")
	write(t, dir, "steps/prep.yaml", "name: prep\ntasks:\n  - {id: a, type: noop}\n")
	write(t, dir, "later.yaml", "name: later\ntasks:\n  - {id: x, uses: new.yaml}\n")
	c, err := catalog.New(dir, catalog.Options{Types: registry(t)})
	if err != nil {
		t.Fatal(err)
	}
	e, ok := c.Lookup("main")
	if !ok || !e.OK() || e.Workflow.Task("prep:a") == nil {
		t.Fatalf("main: %+v", e)
	}
	before := e.Workflow.Digest
	// The sub-workflow changes (another size, a later time).
	write(t, dir, "steps/prep.yaml", "name: prep\ntasks:\n  - {id: a, type: noop}\n  - {id: b, type: noop}\n")
	future := time.Now().Add(time.Minute)
	if err := os.Chtimes(filepath.Join(dir, "steps/prep.yaml"), future, future); err != nil {
		t.Fatal(err)
	}
	changed, err := c.Reload()
	if err != nil || !changed {
		t.Fatalf("Reload = %v, %v after a sub-workflow changed", changed, err)
	}
	e, _ = c.Lookup("main")
	if !e.OK() || e.Workflow.Digest == before || e.Workflow.Task("prep:b") == nil {
		t.Fatalf("main was not read again: %+v", e)
	}
	// later.yaml could not use new.yaml; once it is there, it can.
	l := entry(t, c, "later.yaml")
	if l.OK() || !strings.Contains(l.Problems[0].String(), "new.yaml") {
		t.Fatalf("later.yaml: %+v", l)
	}
	write(t, dir, "new.yaml", "name: new\ntasks:\n  - {id: y, type: noop}\n")
	if _, err := c.Reload(); err != nil {
		t.Fatal(err)
	}
	if l := entry(t, c, "later.yaml"); !l.OK() {
		t.Fatalf("later.yaml still refused: %+v", l.Problems)
	}
}

func entry(t *testing.T, c *catalog.Catalog, file string) catalog.Entry {
	t.Helper()
	for _, e := range c.Entries() {
		if e.File == file {
			return e
		}
	}
	t.Fatalf("no entry %s", file)
	return catalog.Entry{}
}

// A problem of a sub-workflow file is named by that file (relative to the
// folder), not as the file that uses it.
func TestCatalogSubworkflowProblemsNamed(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "steps"), 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, dir, "main.yaml", "name: main\ntasks:\n  - {id: prep, uses: steps/prep.yaml}\n")
	write(t, dir, "steps/prep.yaml", "name: prep\ntasks:\n  - {id: a, type: nosuchtype}\n")
	c, err := catalog.New(dir, catalog.Options{Types: registry(t)})
	if err != nil {
		t.Fatal(err)
	}
	e := entry(t, c, "main.yaml")
	var own, child bool
	for _, p := range e.Problems {
		switch {
		case p.File == "steps/prep.yaml" && strings.Contains(p.Message, "nosuchtype"):
			child = true
		case p.File == "main.yaml" && strings.Contains(p.Message, "is not valid"):
			own = true
		case strings.Contains(p.Message, "nosuchtype"):
			t.Errorf("the sub-workflow's problem is named %s: %s", p.File, p)
		}
	}
	if !own || !child {
		t.Errorf("problems %v: want main.yaml's uses line and steps/prep.yaml's unknown type", e.Problems)
	}
}
