package plugins_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// goBlocks returns the fenced ```go blocks of a Markdown text.
func goBlocks(md string) []string {
	var blocks []string
	for _, part := range strings.Split(md, "```go\n")[1:] {
		if end := strings.Index(part, "```"); end >= 0 {
			blocks = append(blocks, part[:end])
		}
	}
	return blocks
}

// The hello-world plugin of docs/plugins.md compiles, runs as a real
// plugin through the host, and its test example passes. The files are
// laid over the module with go's -overlay, so nothing is written into the
// source tree.
func TestDocsHelloWorld(t *testing.T) {
	md, err := os.ReadFile("../docs/plugins.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := goBlocks(string(md))
	if len(blocks) != 2 {
		t.Fatalf("docs/plugins.md has %d go blocks, want the plugin and its test", len(blocks))
	}
	if n := strings.Count(strings.TrimSpace(blocks[0]), "\n") + 1; n > 35 {
		t.Errorf("the hello-world plugin is %d lines", n)
	}
	here, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	pkg := filepath.Join(here, "internal", "doctest", "hello") // exists only in the overlay
	test := "package main\n\nimport (\n\t\"testing\"\n\n\t\"github.com/cairnml/cairn/plugins/sdk/sdktest\"\n\t\"github.com/cairnml/cairn/tasks/tasktest\"\n)\n\n" + blocks[1]
	overlay := map[string]map[string]string{"Replace": {}}
	for name, src := range map[string]string{"main.go": blocks[0], "main_test.go": test} {
		f := filepath.Join(tmp, name)
		if err := os.WriteFile(f, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		overlay["Replace"][filepath.Join(pkg, name)] = f
	}
	ov, _ := json.Marshal(overlay)
	ovFile := filepath.Join(tmp, "overlay.json")
	if err := os.WriteFile(ovFile, ov, 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(tmp, "plugins")
	if out, err := exec.Command("go", "build", "-overlay", ovFile, "-o", filepath.Join(dir, "hello"), "./internal/doctest/hello").CombinedOutput(); err != nil {
		t.Fatalf("build the docs' hello plugin: %v\n%s", err, out)
	}
	testBin := filepath.Join(tmp, "hello.test")
	if out, err := exec.Command("go", "test", "-c", "-vet=off", "-overlay", ovFile, "-o", testBin, "./internal/doctest/hello").CombinedOutput(); err != nil {
		t.Fatalf("build the docs' test of the hello plugin: %v\n%s", err, out)
	}
	run := exec.Command(testBin, "-test.run", "TestHello", "-test.v")
	run.Dir = tmp
	if out, err := run.CombinedOutput(); err != nil || !strings.Contains(string(out), "--- PASS: TestHello") {
		t.Fatalf("the docs' test of the hello plugin: %v\n%s", err, out)
	}
	o := folder(t)
	o.Dir = dir
	if _, err := pluginsLock(o); err != nil {
		t.Fatal(err)
	}
	h := open(t, o)
	res, err, log := attempt(t, context.Background(), lookup(t, h, "hello"), `{"name":"Ada"}`)
	if err != nil || string(res.Outputs["greeting"]) != `"hello, Ada"` || !strings.HasSuffix(log, "greeting Ada\n") {
		t.Fatalf("hello: %v, %v, log %q", res.Outputs, err, log)
	}
}
