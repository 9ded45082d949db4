package main

import (
	"bytes"
	"context"
	"fmt"
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

// A run keeps the sub-workflow files it started with: killed (-9) while
// its sub-workflow runs, it resumes after the file was edited, and after
// the whole folder was removed, running the tasks as they were; retry and
// reproduce read the same stored files.
func TestSubworkflowResumeReadsStoredFiles(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dir := t.TempDir()
	gate := filepath.Join(t.TempDir(), "go")
	files := map[string]string{
		"main.yaml": `name: kept
params:
  gate: {type: string}
tasks:
  - id: step
    uses: steps/step.yaml
    with: {gate: "${{ params.gate }}"}
  - id: after
    type: shell
    needs: [step]
    with: {argv: [echo, after]}
`,
		"steps/step.yaml": `name: step
params:
  gate: {type: string}
tasks:
  - id: hold
    type: shell
    with:
      env: {GATE: "${{ params.gate }}"}
      script: 'while [ ! -e "$GATE" ]; do sleep 0.05; done; echo ORIGINAL-CHILD'
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
	p := e.start("run", filepath.Join(dir, "main.yaml"), "-p", "gate="+gate, "--progress", "lines")
	id := p.runID()
	waitTask(t, e, p, id, "step:hold", "running")
	p.kill9()

	// The child changes on disk: what it runs and its shape.
	edited := strings.Replace(files["steps/step.yaml"], "echo ORIGINAL-CHILD", "echo EDITED-CHILD", 1) +
		"  - id: extra\n    type: noop\n"
	if err := os.WriteFile(filepath.Join(dir, "steps/step.yaml"), []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	e.must(0, "resume", id)
	s := e.show(id)
	if s.State != "succeeded" {
		t.Fatalf("resumed run %s, want succeeded", s.State)
	}
	if taskByIDOK(s, "step:extra") {
		t.Errorf("the resumed run has the edited child's task step:extra")
	}
	logs := e.must(0, "logs", id, "step:hold")
	if !strings.Contains(logs.stdout, "ORIGINAL-CHILD") || strings.Contains(logs.stdout, "EDITED-CHILD") {
		t.Errorf("step:hold printed %q, want the child as the run started (ORIGINAL-CHILD)", logs.stdout)
	}

	// The folder is gone: reproduce still reads the run's own files.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	r := e.must(0, "reproduce", id)
	if !strings.Contains(r.stdout+r.stderr, "SUCCEEDED") {
		t.Errorf("reproduce without the folder:\n%s", r)
	}
}

// taskByIDOK reports whether run s has task id.
func taskByIDOK(s runJSON, id string) bool {
	for _, tr := range s.Tasks {
		if tr.ID == id {
			return true
		}
	}
	return false
}

// A for_each inside a sub-workflow gives its items their item, index and
// the sub-workflow's params (its items failed: "item: only known in the
// items of a task with for_each"), and the fan-in reaches the parent.
func TestSubworkflowForEach(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dir := t.TempDir()
	for name, src := range map[string]string{
		"main.yaml": `name: parent
tasks:
  - id: a
    uses: steps/child.yaml
    with: {n: 5}
  - id: g
    type: shell
    with: {argv: [echo, "codes=${{ tasks.a.outputs.codes }}"]}
`,
		"steps/child.yaml": `name: child
params:
  n: {type: int}
outputs:
  codes: "${{ tasks.fan.outputs.exit_code }}"
tasks:
  - id: fan
    type: shell
    for_each: [x, y]
    with:
      env: {I: "${{ item_index }}"}
      script: 'echo "item=${{ item }} index=$I n=${{ params.n }}"'
`,
	} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r := e.must(0, "run", filepath.Join(dir, "main.yaml"), "--progress", "lines")
	m := regexp.MustCompile(`run (\S+) SUCCEEDED`).FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("no success:\n%s", r)
	}
	for i, want := range []string{"item=x index=0 n=5", "item=y index=1 n=5"} {
		if logs := e.must(0, "logs", m[1], fmt.Sprintf("a:fan[%d]", i)); !strings.Contains(logs.stdout, want) {
			t.Errorf("a:fan[%d] printed %q, want %q", i, logs.stdout, want)
		}
	}
	if logs := e.must(0, "logs", m[1], "g"); !strings.Contains(logs.stdout, "codes=[0,0]") {
		t.Errorf("g printed %q, want the fan-in codes=[0,0]", logs.stdout)
	}
}

// A fan-in (the outputs of a for_each task, a list) given whole where the
// task type wants a string is refused by validate at FILE:LINE:COL, not
// only when the task runs; spliced into a script it is text and fine.
func TestFanInTypedAtValidate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	bad := writeWorkflow(t, "fanin.yaml", `name: faninenv
tasks:
  - id: a
    type: shell
    for_each: [1, 2]
    with: {script: "echo ${{ item }}"}
  - id: b
    type: shell
    with:
      env: {ALL: "${{ tasks.a.outputs.exit_code }}"}
      script: 'echo "$ALL"'
`)
	r := e.cairn("validate", bad)
	if r.code == 0 || !strings.Contains(r.stderr, "fanin.yaml:10:18: with.env: ALL is a list") {
		t.Errorf("validate of a fan-in under env:\n%s", r)
	}
	good := writeWorkflow(t, "spliced.yaml", `name: spliced
tasks:
  - id: a
    type: shell
    for_each: [1, 2]
    with: {script: "echo ${{ item }}"}
  - id: b
    type: shell
    with: {script: 'echo "codes ${{ tasks.a.outputs.exit_code }}"'}
`)
	e.must(0, "validate", good)
}
