package workflows

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// writeFiles writes files (name → content) under a new folder and returns it.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, src := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const usesChild = `name: prep
params:
  rows: {type: int}
  label: {type: string, default: species}
outputs:
  data: "${{ tasks.clean.outputs.data }}"
  rc: "${{ tasks.clean.outputs.exit_code }}"
tasks:
  - id: load
    type: shell
    with:
      script: "head -n ${{ params.rows }} in.csv > data.csv"
      outputs: {data: data.csv}
  - id: clean
    type: shell
    when: "${{ params.rows }} > 0"
    inputs: {raw: "${{ tasks.load.outputs.data }}"}
    with:
      argv: [clean, "${{ params.label }}", "--dir=${{ workflow.dir }}"]
      outputs: {data: clean.csv}
`

const usesParent = `name: main
params:
  n: {type: int, default: 10}
tasks:
  - id: fetch
    type: noop
  - id: prep
    uses: steps/prep.yaml
    needs: [fetch]
    with:
      rows: "${{ params.n }}"
  - id: train
    type: train
    inputs: {train: "${{ tasks.prep.outputs.data }}"}
    with:
      model: tree
      seed: 1
  - id: report
    type: noop
    needs: [prep]
`

func TestUsesExpands(t *testing.T) {
	dir := writeFiles(t, map[string]string{"main.yaml": usesParent, "steps/prep.yaml": usesChild})
	w, err := ParseFile(filepath.Join(dir, "main.yaml"), opts())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, tk := range w.Tasks {
		ids = append(ids, tk.ID)
	}
	if want := []string{"fetch", "prep:load", "prep:clean", "train", "report"}; !slices.Equal(ids, want) {
		t.Fatalf("tasks %v, want %v", ids, want)
	}
	if up := w.Task("prep:load").Upstream; !slices.Equal(up, []string{"fetch"}) {
		t.Errorf("prep:load upstream %v, want [fetch]", up)
	}
	if up := w.Task("prep:clean").Upstream; !slices.Equal(up, []string{"prep:load"}) {
		t.Errorf("prep:clean upstream %v", up)
	}
	if got := w.Task("prep:clean").Inputs["raw"]; got != "${{ tasks.prep:load.outputs.data }}" {
		t.Errorf("prep:clean input %q", got)
	}
	tr := w.Task("train")
	if got := tr.Inputs["train"]; got != "${{ tasks.prep:clean.outputs.data }}" {
		t.Errorf("train input %q", got)
	}
	if !slices.Equal(tr.Upstream, []string{"prep:clean"}) {
		t.Errorf("train upstream %v", tr.Upstream)
	}
	if r := w.Task("report"); !slices.Equal(r.Upstream, []string{"prep:clean"}) || !slices.Equal(r.Needs, []string{"prep:clean"}) {
		t.Errorf("report upstream %v needs %v", r.Upstream, r.Needs)
	}
	if f := w.Task("prep:load").File; f != "steps/prep.yaml" {
		t.Errorf("File %q", f)
	}
	if len(w.Uses) != 1 || w.Uses[0].Path != "steps/prep.yaml" || w.Uses[0].Task != "prep" {
		t.Errorf("Uses %+v", w.Uses)
	}
	if got := w.TopoOrder(); !slices.Equal(got, []string{"fetch", "prep:load", "prep:clean", "train", "report"}) {
		t.Errorf("order %v", got)
	}

	// The params resolve through the binding: the run's n, the child's default.
	sc := usesScope{params: map[string]any{"n": 7}, meta: map[string]string{"workflow.dir": "/w"},
		outputs: map[string]json.RawMessage{"prep:load.data": json.RawMessage(`{"artifact":"x"}`)}}
	with, err := w.Task("prep:clean").ResolveWith(sc)
	if err != nil {
		t.Fatal(err)
	}
	if want := `"argv":["clean","species","--dir=/w/steps"]`; !strings.Contains(string(with), want) {
		t.Errorf("with %s, want %s", with, want)
	}
	ok, err := w.Task("prep:clean").EvalWhen(sc)
	if err != nil || !ok {
		t.Errorf("when = %v, %v", ok, err)
	}
	sc.params["n"] = 0
	if ok, _ := w.Task("prep:clean").EvalWhen(sc); ok {
		t.Errorf("when holds with rows 0")
	}
	with, err = w.Task("prep:load").ResolveWith(sc)
	if err != nil {
		t.Fatal(err)
	}
	if want := `"script":"head -n 0 in.csv \u003e data.csv"`; !strings.Contains(string(with), want) {
		t.Errorf("with %s, want %s", with, want)
	}
}

type usesScope struct {
	params  map[string]any
	meta    map[string]string
	outputs map[string]json.RawMessage
}

func (s usesScope) Param(name string) (any, bool)  { v, ok := s.params[name]; return v, ok }
func (s usesScope) Meta(key string) (string, bool) { v, ok := s.meta[key]; return v, ok }
func (s usesScope) Output(task, name string) (json.RawMessage, bool) {
	v, ok := s.outputs[task+"."+name]
	return v, ok
}

func TestUsesDigestCoversChild(t *testing.T) {
	dir := writeFiles(t, map[string]string{"main.yaml": usesParent, "steps/prep.yaml": usesChild})
	w1, err := ParseFile(filepath.Join(dir, "main.yaml"), opts())
	if err != nil {
		t.Fatal(err)
	}
	// Layout and comments of the child do not change the digest ...
	if err := os.WriteFile(filepath.Join(dir, "steps/prep.yaml"), []byte("# a comment\n"+usesChild), 0o644); err != nil {
		t.Fatal(err)
	}
	w2, err := ParseFile(filepath.Join(dir, "main.yaml"), opts())
	if err != nil {
		t.Fatal(err)
	}
	if w1.Digest != w2.Digest {
		t.Errorf("a comment changed the digest")
	}
	// ... what it does does.
	changed := strings.Replace(usesChild, "default: species", "default: kind", 1)
	if err := os.WriteFile(filepath.Join(dir, "steps/prep.yaml"), []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	w3, err := ParseFile(filepath.Join(dir, "main.yaml"), opts())
	if err != nil {
		t.Fatal(err)
	}
	if w3.Digest == w1.Digest {
		t.Errorf("a changed child file kept the digest")
	}
}

func TestUsesNested(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"main.yaml": `name: main
tasks:
  - id: a
    uses: mid.yaml
    with: {x: 3}
  - id: after
    type: noop
    when: "${{ tasks.a.outputs.rc }} == 0"
`,
		"mid.yaml": `name: mid
params: {x: {type: int}}
outputs: {rc: "${{ tasks.b.outputs.code }}"}
tasks:
  - id: b
    uses: sub/leaf.yaml
    with: {y: "${{ params.x }}"}
`,
		"sub/leaf.yaml": `name: leaf
params: {y: {type: int}}
outputs: {code: "${{ tasks.run.outputs.exit_code }}"}
tasks:
  - id: run
    type: shell
    with: {argv: [echo, "${{ params.y }}", "${{ workflow.dir }}"]}
`,
	})
	w, err := ParseFile(filepath.Join(dir, "main.yaml"), opts())
	if err != nil {
		t.Fatal(err)
	}
	leaf := w.Task("a:b:run")
	if leaf == nil {
		t.Fatalf("no task a:b:run among %v", w.TopoOrder())
	}
	if got := w.Task("after").When; got != "${{ tasks.a:b:run.outputs.exit_code }} == 0" {
		t.Errorf("when %q", got)
	}
	with, err := leaf.ResolveWith(usesScope{meta: map[string]string{"workflow.dir": "/w"}})
	if err != nil {
		t.Fatal(err)
	}
	if want := `"argv":["echo",3,"/w/sub"]`; !strings.Contains(string(with), want) {
		t.Errorf("with %s, want %s", with, want)
	}
	if len(w.Uses) != 2 || w.Uses[1].Task != "a:b" || w.Uses[1].Path != "sub/leaf.yaml" {
		t.Errorf("Uses %+v", w.Uses)
	}
}

func TestUsesErrors(t *testing.T) {
	child := `name: c
params: {rows: {type: int}, token: {type: string, secret: true, required: false}}
outputs: {out: "${{ tasks.x.outputs.exit_code }}"}
tasks:
  - {id: x, type: shell, with: {argv: [echo]}}
`
	cases := []struct {
		name  string
		files map[string]string
		want  []string
	}{
		{"missing file", map[string]string{"main.yaml": "name: m\ntasks:\n  - id: a\n    uses: nope.yaml\n"},
			[]string{"main.yaml:4:11: uses \"nope.yaml\": sub-workflow file", "does not exist"}},
		{"dotdot", map[string]string{"main.yaml": "name: m\ntasks:\n  - id: a\n    uses: ../x.yaml\n"},
			[]string{"main.yaml:4:11: uses \"../x.yaml\": leaves the workflow's folder"}},
		{"absolute", map[string]string{"main.yaml": "name: m\ntasks:\n  - id: a\n    uses: /etc/x.yaml\n"},
			[]string{"main.yaml:4:11: uses \"/etc/x.yaml\": must be a relative path"}},
		{"not yaml", map[string]string{"main.yaml": "name: m\ntasks:\n  - id: a\n    uses: x.txt\n"},
			[]string{"main.yaml:4:11: uses \"x.txt\": a sub-workflow is a .yaml or .yml file"}},
		{"cycle", map[string]string{
			"main.yaml":  "name: m\ntasks:\n  - id: a\n    uses: b.yaml\n",
			"b.yaml":     "name: b\ntasks:\n  - id: c\n    uses: sub/c.yaml\n",
			"sub/c.yaml": "name: c\ntasks:\n  - id: d\n    uses: ../main.yaml\n"},
			[]string{"leaves the workflow's folder"}},
		{"cycle in folder", map[string]string{
			"main.yaml": "name: m\ntasks:\n  - id: a\n    uses: b.yaml\n",
			"b.yaml":    "name: b\ntasks:\n  - id: c\n    uses: c.yaml\n",
			"c.yaml":    "name: c\ntasks:\n  - id: d\n    uses: b.yaml\n"},
			[]string{"c.yaml:4:11: sub-workflow cycle: b.yaml -> c.yaml -> b.yaml", "main.yaml:4:11: uses \"b.yaml\": sub-workflow"}},
		{"self", map[string]string{"main.yaml": "name: m\ntasks:\n  - id: a\n    uses: main.yaml\n"},
			[]string{"main.yaml:4:11: sub-workflow cycle: main.yaml -> main.yaml"}},
		{"bad child", map[string]string{"main.yaml": "name: m\ntasks:\n  - id: a\n    uses: c.yaml\n",
			"c.yaml": "name: c\ntasks:\n  - id: x\n    type: nosuch\n"},
			[]string{"c.yaml:4:11: unknown task type \"nosuch\"", "main.yaml:4:11: uses \"c.yaml\": sub-workflow"}},
		{"unknown and missing param", map[string]string{"main.yaml": "name: m\ntasks:\n  - id: a\n    uses: c.yaml\n    with: {rwos: 3}\n", "c.yaml": child},
			[]string{"main.yaml:5:12: sub-workflow c.yaml has no param \"rwos\"", "did you mean \"rows\"?", "main.yaml:5:5: task \"a\": sub-workflow c.yaml needs param \"rows\""}},
		{"bad param type", map[string]string{"main.yaml": "name: m\ntasks:\n  - id: a\n    uses: c.yaml\n    with: {rows: many}\n", "c.yaml": child},
			[]string{"main.yaml:5:18: param \"rows\" of sub-workflow c.yaml must be an int, not a string"}},
		{"fan-in to an int param", map[string]string{"main.yaml": "name: m\ntasks:\n  - {id: w, type: shell, for_each: [1, 2], with: {argv: [echo]}}\n  - id: a\n    uses: c.yaml\n    with: {rows: \"${{ tasks.w.outputs.exit_code }}\"}\n", "c.yaml": child},
			[]string{"main.yaml:6:18: param \"rows\" of sub-workflow c.yaml is an int, but tasks.w.outputs.exit_code is a fan-in (a list"}},
		{"fan-in to a string param", map[string]string{"main.yaml": "name: m\ntasks:\n  - {id: w, type: shell, for_each: [1, 2], with: {argv: [echo]}}\n  - id: a\n    uses: s.yaml\n    with: {name: \"${{ tasks.w.outputs.exit_code }}\"}\n",
			"s.yaml": "name: s\nparams: {name: {type: string}}\ntasks:\n  - {id: e, type: shell, with: {argv: [echo], env: {NAME: \"${{ params.name }}\"}}}\n"},
			[]string{"main.yaml:6:18: param \"name\" of sub-workflow s.yaml is a string, but tasks.w.outputs.exit_code is a fan-in"}},
		{"secret literal", map[string]string{"main.yaml": "name: m\ntasks:\n  - id: a\n    uses: c.yaml\n    with: {rows: 1, token: hunter2}\n", "c.yaml": child},
			[]string{"main.yaml:5:28: param \"token\" of sub-workflow c.yaml is secret"}},
		{"unknown output", map[string]string{"main.yaml": "name: m\ntasks:\n  - id: a\n    uses: c.yaml\n    with: {rows: 1}\n  - id: b\n    type: noop\n    when: \"${{ tasks.a.outputs.outt }} == 0\"\n", "c.yaml": child},
			[]string{"main.yaml:8:16: task \"a\" (uses c.yaml) has no output \"outt\"", "did you mean \"out\"?"}},
		{"type and uses", map[string]string{"main.yaml": "name: m\ntasks:\n  - id: a\n    type: noop\n    uses: c.yaml\n    retries: 2\n    with: {rows: 1}\n", "c.yaml": child},
			[]string{"main.yaml:4:5: type cannot be set on a task with uses:", "main.yaml:6:5: retries cannot be set on a task with uses:"}},
		{"bad outputs", map[string]string{"main.yaml": "name: m\noutputs: {x: \"${{ params.p }}\", y: \"${{ tasks.nope.outputs.z }}\"}\ntasks:\n  - {id: a, type: noop}\n"},
			[]string{"main.yaml:2:14: output \"x\" must be a single ${{ }} reference to a task's output", "main.yaml:2:37: reference to unknown task \"nope\""}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := writeFiles(t, c.files)
			_, err := ParseFile(filepath.Join(dir, "main.yaml"), opts())
			if err == nil {
				t.Fatal("parsed")
			}
			msg := strings.ReplaceAll(err.Error(), dir+string(filepath.Separator), "")
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error\n%s\nwants %q", msg, w)
				}
			}
		})
	}
}

// TestUsesLargeSubWorkflowErrors: a sub-workflow of several batches (see
// parseInChunks), with a problem in a file it uses in turn, is read
// whole after the read in chunks found the problem — and
// must find its uses: state as it was before that read: the problems of
// the file it uses listed under that file's name, and nothing counted
// twice. (The read in chunks marked the bad file listed "once", the
// listing thrown away with it.)
func TestUsesLargeSubWorkflowErrors(t *testing.T) {
	var big strings.Builder
	big.WriteString("name: big\ntasks:\n  - id: first\n    uses: bad.yaml\n")
	for i := 0; big.Len() < 300<<10; i++ {
		fmt.Fprintf(&big, "  - id: t%d\n    type: noop\n", i)
	}
	dir := writeFiles(t, map[string]string{
		"main.yaml": "name: m\ntasks:\n  - id: a\n    uses: big.yaml\n",
		"big.yaml":  big.String(),
		"bad.yaml":  "name: bad\ntasks:\n  - id: x\n    type: nosuch\n",
	})
	_, err := ParseFile(filepath.Join(dir, "main.yaml"), opts())
	if err == nil {
		t.Fatal("parsed")
	}
	msg := strings.ReplaceAll(err.Error(), dir+string(filepath.Separator), "")
	for _, w := range []string{"bad.yaml:4:11: unknown task type \"nosuch\"", "big.yaml:4:11: uses \"bad.yaml\": sub-workflow bad.yaml is not valid",
		"main.yaml:4:11: uses \"big.yaml\": sub-workflow big.yaml is not valid"} {
		if !strings.Contains(msg, w) {
			t.Errorf("error\n%s\nwants %q", msg, w)
		}
	}
	if strings.Contains(msg, "listed under its own name, once") {
		t.Errorf("error\n%s\nsays the problems were listed once, before", msg)
	}
}

// TestUsesNestedBadFileReadOnce: files nested as deep as allowed, the
// deepest not valid. Each file is read in chunks, finds a problem (its
// sub-workflow's) and is read whole; the whole read must take what its
// sub-workflows' reads found, not read them again — level by level, that
// doubled (2^8 reads of the deepest file).
func TestUsesNestedBadFileReadOnce(t *testing.T) {
	files := map[string]string{}
	for i := range MaxUsesDepth {
		var b strings.Builder
		fmt.Fprintf(&b, "name: l%d\ntasks:\n  - id: a\n    uses: l%d.yaml\n", i, i+1)
		for j := range 200 {
			fmt.Fprintf(&b, "  - id: t%d\n    type: noop\n", j)
		}
		files[fmt.Sprintf("l%d.yaml", i)] = b.String()
	}
	files[fmt.Sprintf("l%d.yaml", MaxUsesDepth)] = "name: deep\ntasks:\n  - id: x\n    type: nosuch\n"
	dir := writeFiles(t, files)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := ParseFile(filepath.Join(dir, "l0.yaml"), opts())
	runtime.ReadMemStats(&after)
	if err == nil {
		t.Fatal("parsed")
	}
	msg := strings.ReplaceAll(err.Error(), dir+string(filepath.Separator), "")
	deepest := fmt.Sprintf("l%d.yaml:4:11: unknown task type \"nosuch\"", MaxUsesDepth)
	if strings.Count(msg, deepest) != 1 {
		t.Errorf("want %q once:\n%s", deepest, msg)
	}
	grew := after.TotalAlloc - before.TotalAlloc
	t.Logf("allocated %d KB", grew>>10)
	if grew > 40<<20 {
		t.Errorf("allocated %d MB, want under 40 MB (each file read in chunks and whole once)", grew>>20)
	}
}

func TestUsesCycleError(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"main.yaml": "name: m\ntasks:\n  - id: a\n    uses: b.yaml\n",
		"b.yaml":    "name: b\ntasks:\n  - id: c\n    uses: main.yaml\n"})
	_, err := ParseFile(filepath.Join(dir, "main.yaml"), opts())
	var ce *UsesCycleError
	if !errors.As(err, &ce) || !slices.Equal(ce.Files, []string{"main.yaml", "b.yaml", "main.yaml"}) {
		t.Fatalf("err %v, want a UsesCycleError main.yaml -> b.yaml -> main.yaml", err)
	}
}

func TestUsesSymlinkOut(t *testing.T) {
	outside := writeFiles(t, map[string]string{"secret.yaml": "name: s\ntasks:\n  - {id: a, type: noop}\n"})
	dir := writeFiles(t, map[string]string{"main.yaml": "name: m\ntasks:\n  - id: a\n    uses: link.yaml\n"})
	if err := os.Symlink(filepath.Join(outside, "secret.yaml"), filepath.Join(dir, "link.yaml")); err != nil {
		t.Skip(err)
	}
	_, err := ParseFile(filepath.Join(dir, "main.yaml"), opts())
	if err == nil || !strings.Contains(err.Error(), "outside the workflow's folder") {
		t.Fatalf("err %v, want outside the workflow's folder", err)
	}
}

// A workflow named by a path relative to the working directory, as
// `cairn run main.yaml` names it, finds its sub-workflows as an absolute
// path does.
func TestUsesRelativePath(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"main.yaml":       "name: m\ntasks:\n  - id: a\n    uses: steps/b.yaml\n",
		"steps/b.yaml":    "name: b\ntasks:\n  - {id: x, type: noop}\n",
		"loop.yaml":       "name: l\ntasks:\n  - id: a\n    uses: steps/back.yaml\n",
		"steps/back.yaml": "name: back\ntasks:\n  - id: c\n    uses: ../loop.yaml\n",
	})
	t.Chdir(dir)
	wf, err := ParseFile("main.yaml", opts())
	if err != nil {
		t.Fatalf("main.yaml from its own folder: %v", err)
	}
	if ids := wf.TaskIDs(); !slices.Contains(ids, "a:x") {
		t.Errorf("tasks %v, want a:x", ids)
	}
	t.Chdir(filepath.Join(dir, "steps"))
	if _, err := ParseFile("../main.yaml", opts()); err != nil {
		t.Fatalf("../main.yaml from a sub-folder: %v", err)
	}
}

func TestUsesDepth(t *testing.T) {
	files := map[string]string{}
	for i := 0; i <= MaxUsesDepth+1; i++ {
		name := "main.yaml"
		if i > 0 {
			name = "l" + string(rune('a'+i)) + ".yaml"
		}
		next := "l" + string(rune('a'+i+1)) + ".yaml"
		files[name] = "name: x\ntasks:\n  - id: a\n    uses: " + next + "\n"
	}
	files["l"+string(rune('a'+MaxUsesDepth+2))+".yaml"] = "name: x\ntasks:\n  - {id: a, type: noop}\n"
	dir := writeFiles(t, files)
	_, err := ParseFile(filepath.Join(dir, "main.yaml"), opts())
	if err == nil || !strings.Contains(err.Error(), "sub-workflows nested more than 8 levels deep") {
		t.Fatalf("err %v", err)
	}
}

// A file sent to a server (NoUses) cannot refer to ${{ workflow.dir }}
// either: it is refused at FILE:LINE:COL, not when its task runs (trial
// finding 7s); a file read from its folder can.
func TestNoUsesNoWorkflowDir(t *testing.T) {
	src := []byte("name: m\ntasks:\n  - id: a\n    type: shell\n    with: {argv: [cat, \"${{ workflow.dir }}/x.csv\"]}\n")
	_, err := Parse("main.yaml", src, Options{NoUses: true, NoUsesWhy: "send no such file"})
	if err == nil || !strings.Contains(err.Error(), "main.yaml:5:25: ${{ workflow.dir }} is not known for a file sent to a server") {
		t.Fatalf("err %v", err)
	}
	if _, err := Parse("main.yaml", src, opts()); err != nil {
		t.Fatalf("a file of a folder: %v", err)
	}
}

func TestNoUses(t *testing.T) {
	_, err := Parse("main.yaml", []byte("name: m\ntasks:\n  - id: a\n    uses: b.yaml\n"), Options{NoUses: true, NoUsesWhy: "send no such file"})
	if err == nil || !strings.Contains(err.Error(), "main.yaml:4:11: uses: is not available for this file") {
		t.Fatalf("err %v", err)
	}
}

// A file that uses a file many times, nested, is refused by its size before
// its tasks are made; a file used twice is read once.
func TestUsesMultiplied(t *testing.T) {
	var b, m strings.Builder
	b.WriteString("name: b\ntasks:\n")
	m.WriteString("name: m\ntasks:\n")
	for i := range 10 {
		b.WriteString("  - {id: c" + string(rune('a'+i)) + ", uses: c.yaml}\n")
		m.WriteString("  - {id: b" + string(rune('a'+i)) + ", uses: b.yaml}\n")
	}
	dir := writeFiles(t, map[string]string{"main.yaml": m.String(), "b.yaml": b.String(),
		"c.yaml": "name: c\ntasks:\n  - {id: x, type: noop}\n"})
	o := opts()
	o.MaxTasks = 50
	_, err := ParseFile(filepath.Join(dir, "main.yaml"), o)
	// Refused at the uses: that went past the limit (the sixth: 6 × 10
	// tasks), the rest of its uses: not read.
	if err == nil || !strings.Contains(err.Error(), `main.yaml:8:20: uses "b.yaml": with its sub-workflows so far the workflow has more than 60 tasks, over the limit of 50 tasks`) {
		t.Fatalf("err %v", err)
	}
	o.MaxTasks = 100
	w, err := ParseFile(filepath.Join(dir, "main.yaml"), o)
	if err != nil {
		t.Fatal(err)
	}
	if len(w.Tasks) != 100 || w.Task("bj:cj:x") == nil || len(w.Uses) != 110 {
		t.Errorf("%d tasks, %d uses", len(w.Tasks), len(w.Uses))
	}
}

// A workflow keeps the bytes of every file it uses (SubSources), and
// re-read from them (Options.SubSource) it is the same workflow even after
// the files changed on disk or where they are gone; a file the stored set
// lacks is an error at the task that uses it.
func TestUsesStoredSources(t *testing.T) {
	nested := map[string]string{
		"main.yaml": `name: main
tasks:
  - id: a
    uses: mid.yaml
    with: {x: 3}
  - id: c
    uses: sub/leaf.yaml
    with: {y: 4}
`,
		"mid.yaml": `name: mid
params: {x: {type: int}}
tasks:
  - id: b
    uses: sub/leaf.yaml
    with: {y: "${{ params.x }}"}
`,
		"sub/leaf.yaml": `name: leaf
params: {y: {type: int}}
tasks:
  - id: run
    type: shell
    with: {argv: [echo, "${{ params.y }}"]}
`,
	}
	dir := writeFiles(t, nested)
	main := filepath.Join(dir, "main.yaml")
	w, err := ParseFile(main, opts())
	if err != nil {
		t.Fatal(err)
	}
	if got := slices.Sorted(func(yield func(string) bool) {
		for k := range w.SubSources {
			if !yield(k) {
				return
			}
		}
	}); !slices.Equal(got, []string{"mid.yaml", "sub/leaf.yaml"}) {
		t.Fatalf("SubSources hold %v, want mid.yaml and sub/leaf.yaml", got)
	}
	for rel, src := range w.SubSources {
		if string(src) != nested[rel] {
			t.Errorf("SubSources[%s] = %q, want the file's bytes", rel, src)
		}
	}

	// The files change on disk, then the folder goes: the stored bytes
	// give the workflow the run started with.
	if err := os.WriteFile(filepath.Join(dir, "sub/leaf.yaml"), []byte(strings.Replace(nested["sub/leaf.yaml"], "echo", "printf", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if changed, err := ParseFile(main, opts()); err != nil || changed.Digest == w.Digest {
		t.Fatalf("the changed file: %v, digest unchanged %v", err, changed != nil && changed.Digest == w.Digest)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	stored := opts()
	var asked []string
	stored.SubSource = func(rel string) ([]byte, bool, error) {
		asked = append(asked, rel)
		src, ok := w.SubSources[rel]
		return src, ok, nil
	}
	again, err := Parse(main, w.Source, stored)
	if err != nil {
		t.Fatalf("re-read from the stored files: %v", err)
	}
	if again.Digest != w.Digest {
		t.Errorf("re-read from the stored files, digest %s, want %s", again.Digest, w.Digest)
	}
	if len(again.SubSources) != 2 {
		t.Errorf("re-read SubSources %v", again.SubSources)
	}
	if len(asked) == 0 {
		t.Error("SubSource was never asked")
	}

	// A file missing from the stored set is named at the task using it.
	stored.SubSource = func(rel string) ([]byte, bool, error) {
		if rel == "sub/leaf.yaml" {
			return nil, false, nil
		}
		return w.SubSources[rel], true, nil
	}
	_, err = Parse(main, w.Source, stored)
	var list ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("a stored set without sub/leaf.yaml: %v, want an ErrorList", err)
	}
	if msg := list.Error(); !strings.Contains(msg, "sub-workflow sub/leaf.yaml is not stored with the run") || !strings.Contains(msg, "main.yaml:7:") {
		t.Errorf("error %q, want the missing file named at main.yaml:7", msg)
	}
	// A cycle among stored files is still found.
	cyc := map[string][]byte{"mid.yaml": []byte("name: mid\ntasks:\n  - id: b\n    uses: main.yaml\n")}
	stored.SubSource = func(rel string) ([]byte, bool, error) {
		if rel == "main.yaml" {
			return w.Source, true, nil
		}
		src, ok := cyc[rel]
		return src, ok, nil
	}
	_, err = Parse(main, []byte("name: main\ntasks:\n  - id: a\n    uses: mid.yaml\n"), stored)
	var ce *UsesCycleError
	if !errors.As(err, &ce) || !slices.Equal(ce.Files, []string{"main.yaml", "mid.yaml", "main.yaml"}) {
		t.Errorf("a stored cycle: %v, want main.yaml → mid.yaml → main.yaml", err)
	}
}

// Declared finds the task an item stands for, and nothing for an item of
// a task without for_each or of no task.
func TestDeclared(t *testing.T) {
	w, err := Parse("w.yaml", []byte("name: w\ntasks:\n  - {id: a, type: noop, for_each: [1, 2]}\n  - {id: b, type: noop}\n"), opts())
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]string{"a": "a", "a[1]": "a", "b": "b", "b[0]": "", "c[0]": "", "a[x]": ""} {
		got := ""
		if task := w.Declared(id); task != nil {
			got = task.ID
		}
		if got != want {
			t.Errorf("Declared(%q) = %q, want %q", id, got, want)
		}
	}
}

// The sub-workflow files of one workflow are held together to the limit
// of one workflow file (each run stores them): several files each under
// it are refused when their sum is over.
func TestUsesTotalBytes(t *testing.T) {
	pad := "# " + strings.Repeat("x", 600) + "\n"
	child := "name: c\ntasks:\n  - {id: a, type: noop}\n" + pad
	dir := writeFiles(t, map[string]string{
		"main.yaml": "name: main\ntasks:\n  - {id: p, uses: a.yaml}\n  - {id: q, uses: b.yaml}\n  - {id: r, uses: a.yaml}\n",
		"a.yaml":    child,
		"b.yaml":    child,
	})
	o := opts()
	o.MaxBytes = int64(len(child)) + 100 // each file fits; both do not
	_, err := ParseFile(filepath.Join(dir, "main.yaml"), o)
	if err == nil || !strings.Contains(err.Error(), `uses "b.yaml": the sub-workflow files of this workflow are`) {
		t.Fatalf("two files over the limit together: %v", err)
	}
	// The same file used twice counts once.
	if err := os.WriteFile(filepath.Join(dir, "main.yaml"), []byte("name: main\ntasks:\n  - {id: p, uses: a.yaml}\n  - {id: r, uses: a.yaml}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ParseFile(filepath.Join(dir, "main.yaml"), o); err != nil {
		t.Errorf("one file used twice: %v", err)
	}
}

// Wide sub-workflows nested (a file of 120 uses: of a file of 120 uses:
// ..., 4 levels: billions of tasks) are refused at the uses: that goes
// past the limit of tasks, and every file is read once: a file that is
// not valid was read again at each of its uses, its problems repeated
// each time (the trial's 30 KB of files: 413 s and 580 MB for
// `cairn validate`).
func TestUsesWideNestedRefusedEarly(t *testing.T) {
	const n = 120
	files := map[string]string{}
	for i := range 4 {
		var b strings.Builder
		fmt.Fprintf(&b, "name: f%d\ntasks:\n", i)
		for j := range n {
			fmt.Fprintf(&b, "  - id: x%d\n    uses: f%d.yaml\n", j, i+1)
		}
		files[fmt.Sprintf("f%d.yaml", i)] = b.String()
	}
	var b strings.Builder
	b.WriteString("name: f4\ntasks:\n")
	for j := range n {
		fmt.Fprintf(&b, "  - id: n%d\n    type: noop\n", j)
	}
	files["f4.yaml"] = b.String()
	dir := writeFiles(t, files)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := ParseFile(filepath.Join(dir, "f0.yaml"), opts())
	runtime.ReadMemStats(&after)
	if err == nil {
		t.Fatal("billions of tasks were accepted")
	}
	msg := err.Error()
	if !strings.Contains(msg, `f2.yaml:`) || !strings.Contains(msg, `over the limit of 1,000,000 tasks in one workflow (its further uses: are not read)`) ||
		strings.Count(msg, "over the limit of 1,000,000 tasks") != 1 {
		t.Errorf("want the limit said once, at f2.yaml's uses: that crossed it; got %d lines:\n%.2000s", strings.Count(msg, "\n"), msg)
	}
	// 24 MB when each file is read once; 84 MB when a file read in chunks
	// and then whole read the files it uses again, level by level.
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 60<<20 {
		t.Errorf("refusing it allocated %d MB, want under 60 MB (each file read once)", grew>>20)
	}
	t.Logf("allocated %d MB", (after.TotalAlloc-before.TotalAlloc)>>20)
}
