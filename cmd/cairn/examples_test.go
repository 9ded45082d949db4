package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every shipped example workflow is valid for this binary: `cairn validate`
// accepts it, so the docs never point at a broken file. The home has the
// example plugin installed and pinned, for the workflows that use it.
func TestExamplesValidate(t *testing.T) {
	files, err := filepath.Glob("../../workflows/examples/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no example workflows found (%v)", err)
	}
	home := pluginHome(t)
	for _, f := range files {
		var out, errOut bytes.Buffer
		if code := run(context.Background(), []string{"--home", home, "validate", f}, &out, &errOut); code != 0 {
			t.Errorf("cairn validate %s: exit %d\n%s", f, code, errOut.String())
		}
	}
}

// The workflows shown in the README and docs/workflows.md are valid: the
// docs' examples can be copied and run.
func TestDocExamplesValidate(t *testing.T) {
	for _, doc := range []string{"../../README.md", "../../docs/workflows.md"} {
		src, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		blocks := yamlBlocks(string(src))
		if len(blocks) == 0 {
			t.Fatalf("%s has no yaml example", doc)
		}
		// A block whose first line is a comment naming a file ("# main.yaml",
		// "# steps/prep.yaml: ...") is written under that name in a folder
		// the doc's named blocks share, so that a file can use another
		// (sub-workflows); the others each in a folder of its own.
		shared := t.TempDir()
		names := make([]string, len(blocks))
		for i, b := range blocks {
			first, _, _ := strings.Cut(b, "\n")
			if name, ok := strings.CutPrefix(first, "# "); ok {
				name, _, _ = strings.Cut(name, ":")
				if name = strings.TrimSpace(name); strings.HasSuffix(name, ".yaml") && !strings.Contains(name, " ") {
					names[i] = filepath.Join(shared, filepath.FromSlash(name))
					if err := os.MkdirAll(filepath.Dir(names[i]), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(names[i], []byte(b), 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		for i, b := range blocks {
			f := names[i]
			if f == "" {
				f = filepath.Join(t.TempDir(), fmt.Sprintf("example%d.yaml", i))
				if err := os.WriteFile(f, []byte(b), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			var out, errOut bytes.Buffer
			if code := run(context.Background(), []string{"--home", t.TempDir(), "validate", f}, &out, &errOut); code != 0 {
				t.Errorf("%s, yaml block %d: exit %d\n%s\n%s", doc, i+1, code, errOut.String(), b)
			}
		}
	}
}

// yamlBlocks returns the fenced ```yaml blocks of a Markdown text.
func yamlBlocks(md string) []string {
	var blocks []string
	for _, part := range strings.Split(md, "```yaml\n")[1:] {
		if end := strings.Index(part, "```"); end >= 0 {
			blocks = append(blocks, part[:end])
		}
	}
	return blocks
}
