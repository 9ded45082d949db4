package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestGraph(t *testing.T) {
	src := `name: g
tasks:
  - id: fetch-data
    type: shell
    with: {argv: [cp, a, b], outputs: {d: b}}
  - id: warm
    type: noop
  - id: use
    type: shell
    needs: [warm]
    inputs: {d: "${{ tasks.fetch-data.outputs.d }}"}
    with: {argv: ["true"]}
  - id: gate
    type: noop
    needs: [use]
    when: "${{ tasks.use.outputs.exit_code }} == 0"
`
	f := filepath.Join(t.TempDir(), "g.yaml")
	if err := os.WriteFile(f, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	graph := func(args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		if code := run(context.Background(), append([]string{"--home", t.TempDir(), "graph", f}, args...), &out, &errOut); code != 0 {
			t.Fatalf("graph %v: exit %d: %s", args, code, errOut.String())
		}
		return out.String()
	}
	mm := graph()
	for _, want := range []string{
		"flowchart TD", `t0["fetch-data<br/><i>shell</i>"]`, `t3{"gate<br/><i>noop</i>"}`,
		"t0 --> t2",  // use reads fetch-data's output
		"t1 -.-> t2", // use only needs warm
		"t2 --> t3",  // gate's when: reads use's output (needs: too)
	} {
		if !strings.Contains(mm, want) {
			t.Errorf("mermaid output lacks %q:\n%s", want, mm)
		}
	}
	dot := graph("--format", "dot")
	for _, want := range []string{`digraph "g"`, `"gate" [label="gate\nnoop", shape=diamond]`,
		`"fetch-data" -> "use";`, `"warm" -> "use" [style=dashed];`} {
		if !strings.Contains(dot, want) {
			t.Errorf("dot output lacks %q:\n%s", want, dot)
		}
	}
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"graph", f, "--format", "png"}, &out, &errOut); code != exitBadFile {
		t.Errorf("unknown format: exit %d, want %d", code, exitBadFile)
	}
}
