package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// A workflow that uses a sub-workflow runs its tasks under prefixed ids,
// its params bound from with:, its outputs read downstream; show groups
// them, and a value stays apart from a script's text.
func TestSubworkflowRun(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"main.yaml": `name: main
params:
  n: {type: int, default: 3}
tasks:
  - id: prep
    uses: steps/prep.yaml
    with:
      rows: "${{ params.n }}"
      word: "a; echo INJECTED"
  - id: report
    type: shell
    inputs: {data: "${{ tasks.prep.outputs.data }}"}
    with:
      script: 'echo "lines=$(wc -l < "$CAIRN_INPUT_DATA") code=${{ tasks.prep.outputs.code }}"'
`,
		"steps/prep.yaml": `name: prep
params:
  rows: {type: int}
  word: {type: string, default: x}
outputs:
  data: "${{ tasks.head.outputs.out }}"
  code: "${{ tasks.head.outputs.exit_code }}"
tasks:
  - id: gen
    type: shell
    with:
      script: "seq 1 10 > all.txt"
      outputs: {all: all.txt}
  - id: head
    type: shell
    inputs: {src: "${{ tasks.gen.outputs.all }}"}
    with:
      script: 'head -n ${{ params.rows }} "$CAIRN_INPUT_SRC" > out.txt; echo "dir=${{ workflow.dir }} word=${{ params.word }}"'
      outputs: {out: out.txt}
`,
	}
	for name, src := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	home := t.TempDir()
	cli := func(args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		if code := run(context.Background(), append([]string{"--home", home}, args...), &out, &errOut); code != 0 {
			t.Fatalf("cairn %s: exit %d\n%s%s", strings.Join(args, " "), code, out.String(), errOut.String())
		}
		return out.String()
	}
	out := cli("run", filepath.Join(dir, "main.yaml"), "-p", "n=4")
	m := regexp.MustCompile(`run (\S+) SUCCEEDED`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no success in\n%s", out)
	}
	id := m[1]
	show := cli("show", id)
	for _, want := range []string{"\nprep ", "uses", "2 tasks: 2 succeeded", "\n  prep:gen ", "\n  prep:head ", "\nreport "} {
		if !strings.Contains(show, want) {
			t.Errorf("show lacks %q:\n%s", want, show)
		}
	}
	if got := cli("logs", id, "prep:head"); !strings.Contains(got, "dir="+filepath.Join(dir, "steps")+" word=a; echo INJECTED") || strings.Contains(got, "\nINJECTED") {
		t.Errorf("prep:head log %q", got)
	}
	if got := cli("logs", id, "report"); !strings.Contains(got, "lines=4 code=0") {
		t.Errorf("report log %q", got)
	}
	graph := cli("graph", filepath.Join(dir, "main.yaml"))
	if !strings.Contains(graph, `subgraph g0["prep<br/><i>uses steps/prep.yaml</i>"]`) {
		t.Errorf("graph:\n%s", graph)
	}
	// A changed sub-workflow is a changed workflow: resume refuses.
	if err := os.WriteFile(filepath.Join(dir, "steps/prep.yaml"), []byte(strings.Replace(files["steps/prep.yaml"], "seq 1 10", "seq 1 20", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	var o, e bytes.Buffer
	if code := run(context.Background(), []string{"--home", home, "validate", filepath.Join(dir, "main.yaml")}, &o, &e); code != 0 {
		t.Fatalf("validate after change: %d %s", code, e.String())
	}
	if strings.Contains(o.String(), strings.TrimSpace(strings.Split(strings.Split(show, "(")[1], ")")[0])) {
		t.Errorf("the digest did not change with the sub-workflow:\n%s", o.String())
	}
}
