package catalog_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairnml/cairn/tasks"
	"github.com/cairnml/cairn/tasks/noop"
	"github.com/cairnml/cairn/workflows/catalog"
)

func registry(t *testing.T) *tasks.Registry {
	t.Helper()
	reg, err := tasks.NewRegistry(noop.New())
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

func write(t *testing.T, dir, name, src string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
}

const good = `name: good
description: does nothing, well
params:
  n: {type: int, default: 3}
tasks:
  - {id: a, type: noop}
`

// The folder's good files are served, a bad one is kept with its
// problems at FILE:LINE:COL, two files of one name are both refused
// naming each other, and what is not a workflow file is not read.
func TestCatalog(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "good.yaml", good)
	write(t, dir, "bad.yml", "name: bad\ntasks:\n  - {id: a, type: nosuch}\n")
	write(t, dir, "twin1.yaml", "# first\nname: twin\ntasks:\n  - {id: a, type: noop}\n")
	write(t, dir, "twin2.yaml", "name: twin\ntasks:\n  - {id: b, type: noop}\n")
	write(t, dir, "notes.txt", "name: x\n")
	write(t, dir, ".hidden.yaml", "name: hidden\ntasks:\n  - {id: a, type: noop}\n")
	if err := os.Mkdir(filepath.Join(dir, "sub.yaml"), 0o755); err != nil {
		t.Fatal(err)
	}
	c, err := catalog.New(dir, catalog.Options{Types: registry(t)})
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, e := range c.Entries() {
		files = append(files, e.File)
	}
	if got := strings.Join(files, " "); got != "bad.yml good.yaml twin1.yaml twin2.yaml" {
		t.Fatalf("entries %s", got)
	}
	e, ok := c.Lookup("good")
	if !ok || !e.OK() || e.Workflow.Description != "does nothing, well" || e.Path != filepath.Join(dir, "good.yaml") {
		t.Fatalf("good: %+v, %v", e, ok)
	}
	bad := c.Entries()[0]
	if bad.OK() || bad.Name != "" || len(bad.Problems) != 1 || bad.Problems[0].Line != 3 || bad.Problems[0].Col != 19 ||
		!strings.Contains(bad.Problems[0].String(), `bad.yml:3:19: unknown task type "nosuch"`) {
		t.Fatalf("bad.yml: %+v", bad)
	}
	tw, ok := c.Lookup("twin")
	if !ok || tw.OK() {
		t.Fatalf("twin is served: %+v", tw)
	}
	for i, other := range map[int]string{2: "twin2.yaml", 3: "twin1.yaml"} {
		p := c.Entries()[i].Problems
		if len(p) != 1 || !strings.Contains(p[0].Message, `"twin" is also declared by `+other) {
			t.Errorf("%s: %+v", c.Entries()[i].File, p)
		}
	}
	if p := c.Entries()[2].Problems[0]; p.Line != 2 {
		t.Errorf("twin1's problem is on line %d, want 2 (its name:)", p.Line)
	}
	if _, ok := c.Lookup("hidden"); ok {
		t.Error("a hidden file was read")
	}
	if changed, err := c.Reload(); err != nil || changed {
		t.Errorf("Reload of an unchanged folder: %v, %v", changed, err)
	}

	// Fix one twin, break the good one, add a file: all seen at the next
	// reload; the broken file keeps its last name.
	write(t, dir, "twin2.yaml", "name: twin-two\ntasks:\n  - {id: b, type: noop}\n")
	write(t, dir, "good.yaml", good+"  - {id: a, type: noop}\n")
	write(t, dir, "new.yaml", "name: new\ntasks:\n  - {id: a, type: noop}\n")
	if changed, err := c.Reload(); err != nil || !changed {
		t.Fatalf("Reload after changes: %v, %v", changed, err)
	}
	for _, name := range []string{"twin", "twin-two", "new"} {
		if e, ok := c.Lookup(name); !ok || !e.OK() {
			t.Errorf("%s after the reload: %+v, %v", name, e, ok)
		}
	}
	g, ok := c.Lookup("good")
	if !ok || g.OK() || len(g.Problems) == 0 || !strings.Contains(g.Problems[0].String(), "good.yaml:7:") {
		t.Errorf("good, broken: %+v, %v", g, ok)
	}
	if err := os.Remove(filepath.Join(dir, "new.yaml")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Lookup("new"); ok {
		t.Error("a removed file is still served")
	}

	wf, problems := c.Check("up.yaml", []byte("name: up\ntasks:\n  - {id: a, type: noop, with: {x: 1}}\n"))
	if wf != nil || len(problems) != 1 || problems[0].File != "up.yaml" || problems[0].Line != 3 {
		t.Errorf("Check of a bad file: %v, %+v", wf, problems)
	}
	if wf, problems := c.Check("up.yaml", []byte(good)); wf == nil || problems != nil {
		t.Errorf("Check of a good file: %v, %+v", wf, problems)
	}
}

// Watch sees a file change without being asked.
func TestWatch(t *testing.T) {
	dir := t.TempDir()
	c, err := catalog.New(dir, catalog.Options{Types: registry(t), Interval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Watch(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	write(t, dir, "good.yaml", good)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, ok := c.Lookup("good"); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Watch did not see the new file")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A folder that does not exist is refused, saying what to give.
func TestMissingFolder(t *testing.T) {
	_, err := catalog.New(filepath.Join(t.TempDir(), "nope"), catalog.Options{})
	if err == nil || !strings.Contains(err.Error(), "give an existing folder to --workflows") {
		t.Fatalf("New of a missing folder: %v", err)
	}
}

// A file of the folder that is a symbolic link leading out of it is not
// read (its problem quotes nothing of it), as a sub-workflow's may not;
// a link to a file inside the folder, and a folder given through a link,
// are served.
func TestSymlinkOutOfFolder(t *testing.T) {
	outside := t.TempDir()
	write(t, outside, "secret.yaml", "name: \"secret-token-ABC123: x\"\n")
	write(t, outside, "real.yaml", "name: real\ntasks:\n  - {id: a, type: noop}\n")
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, dir, "sub/inner.yaml", "name: inner\ntasks:\n  - {id: a, type: noop}\n")
	for link, target := range map[string]string{
		"leak.yaml":   filepath.Join("..", filepath.Base(outside), "secret.yaml"),
		"abs.yaml":    filepath.Join(outside, "real.yaml"),
		"inner.yaml":  filepath.Join("sub", "inner.yaml"),
		"sneaky.yaml": filepath.Join("sub", "..", "..", filepath.Base(outside), "real.yaml"),
	} {
		if err := os.Symlink(target, filepath.Join(dir, link)); err != nil {
			t.Fatal(err)
		}
	}
	viaLink := filepath.Join(t.TempDir(), "wf")
	if err := os.Symlink(dir, viaLink); err != nil {
		t.Fatal(err)
	}
	c, err := catalog.New(viaLink, catalog.Options{Types: registry(t)})
	if err != nil {
		t.Fatal(err)
	}
	if e, ok := c.Lookup("inner"); !ok || !e.OK() {
		t.Errorf("a link inside the folder: %+v, %v", e, ok)
	}
	if _, ok := c.Lookup("real"); ok {
		t.Error("a file outside the folder is served through a link")
	}
	bad := map[string]bool{}
	for _, e := range c.Entries() {
		for _, p := range e.Problems {
			if strings.Contains(p.String(), "secret-token") || strings.Contains(p.String(), outside) {
				t.Errorf("%s: the problem tells what is outside: %s", e.File, p)
			}
			if strings.Contains(p.Message, "leads out of the workflows folder") {
				bad[e.File] = true
			}
		}
	}
	if len(bad) != 3 || !bad["leak.yaml"] || !bad["abs.yaml"] || !bad["sneaky.yaml"] {
		t.Errorf("files refused as leading out: %v, want leak.yaml, abs.yaml and sneaky.yaml", bad)
	}
}
