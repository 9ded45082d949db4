package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/cairnml/cairn"
)

// TestReproduce: a run of the breast cancer example reproduces exactly,
// from its record, even after its data file changed; read again, the
// changed file is the first difference; a task that is not deterministic
// is named.
func TestReproduce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dir := t.TempDir()
	src, err := os.ReadFile(filepath.Join("..", "..", "workflows", "examples", "breast-cancer.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join("..", "..", "workflows", "examples", "data", "breast_cancer.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	csv := filepath.Join(dir, "data", "breast_cancer.csv")
	wf := filepath.Join(dir, "bc.yaml")
	if err := os.WriteFile(csv, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(wf, src, 0o644); err != nil {
		t.Fatal(err)
	}
	orig := runIDOf(t, e.must(0, "run", wf, "--progress", "none").stderr)

	// The file on disk changes: data and workflow both.
	lines := strings.Split(string(data), "\n")
	if err := os.WriteFile(csv, []byte(strings.Join(lines[:len(lines)/2], "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(wf, []byte(strings.Replace(string(src), "default: 42", "default: 7", 1)), 0o644); err != nil {
		t.Fatal(err)
	}

	r := e.must(0, "reproduce", orig, "--progress", "none")
	for _, want := range []string{"reproduction ", "of run " + orig, "ok    collect   recorded outputs used (collect from file://",
		"ok    train     same (1 artifact, 5 values, 5 metrics)", "ok    evaluate  same (2 artifacts, "} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("reproduce's report lacks %q:\n%s", want, r)
		}
	}
	if strings.Contains(r.stdout, "DIFF") {
		t.Fatalf("an unchanged run differs:\n%s", r)
	}
	// The new run is a run of its own that says what it reproduces, and
	// its artifacts are the original's.
	runs := e.runs()
	if len(runs) != 2 {
		t.Fatalf("%d runs, want the original and its reproduction", len(runs))
	}
	origRun, repro := e.show(orig), e.show(runs[0].ID)
	if runs[0].ID == orig {
		repro = e.show(runs[1].ID)
	}
	if repro.Digest != origRun.Digest {
		t.Fatalf("the reproduction ran workflow %s, the original %s", repro.Digest, origRun.Digest)
	}
	model := func(j runJSON) string {
		return string(taskByID(t, j, "train").Outputs["model"])
	}
	if model(repro) == "" || model(repro) != model(origRun) {
		t.Fatalf("train's model: %s, originally %s", model(repro), model(origRun))
	}
	// The deploy registered version 1 the first time; the reproduction's
	// deploy applied no effect: no version output, no registration.
	if v := string(taskByID(t, origRun, "deploy").Outputs["version"]); v != "1" {
		t.Fatalf("the original deploy's version: %q", v)
	}
	if v, ok := taskByID(t, repro, "deploy").Outputs["version"]; ok && string(v) != "null" {
		t.Fatalf("the reproduction's deploy registered version %s", v)
	}
	if !strings.Contains(r.stdout, "ok    deploy    same (1 artifact") {
		t.Errorf("the deploy's model is compared by digest:\n%s", r.stdout)
	}

	// Read again, the changed file is the first difference: exit 1 naming
	// collect, and nothing before it.
	r = e.must(1, "reproduce", orig, "--reread", "--progress", "none")
	if !strings.Contains(r.stderr, "does not reproduce run "+orig+": task collect output data is sha256:") ||
		!strings.Contains(r.stdout, "DIFF  collect") {
		t.Fatalf("a changed source read again:\n%s", r)
	}

	// A recorded output that is gone: reproduce says what to do instead,
	// for the task it chose not to run again (collect reads a file) and
	// for the one --pin named.
	blob := func(task, output string) string {
		ref, ok := cairn.AsArtifactRef(taskByID(t, origRun, task).Outputs[output])
		if !ok {
			t.Fatalf("%s's output %s is not an artifact", task, output)
		}
		return filepath.Join(e.home, "artifacts", "sha256", ref.Hex()[:2], ref.Hex())
	}
	if err := os.Remove(blob("split", "train")); err != nil {
		t.Fatal(err)
	}
	r = e.must(1, "reproduce", orig, "--pin", "split", "--progress", "none")
	if !strings.Contains(r.stderr, "task split's recorded output train: ") || !strings.Contains(r.stderr, "(or leave out --pin split to run it again)") {
		t.Errorf("a pinned task's output gone:\n%s", r)
	}
	if err := os.Remove(blob("collect", "data")); err != nil {
		t.Fatal(err)
	}
	r = e.must(1, "reproduce", orig, "--progress", "none")
	if !strings.Contains(r.stderr, "task collect's recorded output data: ") || !strings.Contains(r.stderr, "(or --reread to read the source again)") {
		t.Errorf("a collect's output gone:\n%s", r)
	}
	// cairn artifact, asked for an output that is gone, gives the same
	// advice: --reread, as the recorded source is gone too.
	r = e.must(1, "artifact", orig, "split", "train")
	if !strings.Contains(r.stderr, "'cairn reproduce "+orig+" --reread' runs the run again, reading its sources again (the recorded output of collect, which reads outside Cairn, is gone too)") {
		t.Errorf("cairn artifact of an output gone, with the run's source gone too:\n%s", r)
	}

	// A run that is still going, or not there, is refused.
	e.must(1, "reproduce", "nosuchrun", "--progress", "none")
}

// TestReproduceNamesNondeterministicTask: the first task whose output
// differs is named, and the exit status says so.
func TestReproduceNamesNondeterministicTask(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	wf := filepath.Join(t.TempDir(), "rand.yaml")
	src := `name: rand
tasks:
  - id: fixed
    type: shell
    with: {script: "echo same > out.txt", outputs: {out: out.txt}}
  - id: noisy
    type: shell
    needs: [fixed]
    with: {script: "head -c 16 /dev/urandom > out.bin", outputs: {out: out.bin}}
  - id: after
    type: shell
    needs: [noisy]
    with: {script: "head -c 16 /dev/urandom > x.bin", outputs: {x: x.bin}}
`
	if err := os.WriteFile(wf, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	orig := runIDOf(t, e.must(0, "run", wf, "--progress", "none").stderr)
	r := e.must(1, "reproduce", orig, "--progress", "none")
	if !strings.Contains(r.stderr, "task noisy output out is sha256:") || !strings.Contains(r.stdout, "ok    fixed") ||
		!strings.Contains(r.stdout, "DIFF  noisy") {
		t.Fatalf("want noisy named as the first difference:\n%s", r)
	}
	// --pin uses the recorded output instead: then after is the first.
	r = e.must(1, "reproduce", orig, "--pin", "noisy", "--progress", "none")
	if !strings.Contains(r.stderr, "task after output x is") || !strings.Contains(r.stdout, "ok    noisy  recorded outputs used (--pin)") {
		t.Fatalf("with noisy pinned, want after named:\n%s", r)
	}
	e.must(2, "reproduce", orig, "--pin", "nope", "--progress", "none")
}

// TestReproduceComparesValues: a value output (and a metric) that
// differs is a difference, named, like an artifact's: a task whose only
// outputs are values is not "the same" whatever they hold.
func TestReproduceComparesValues(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	wf := filepath.Join(t.TempDir(), "nondet.yaml")
	src := `name: nondet
tasks:
  - id: fixed
    type: shell
    with: {script: "echo 7 > v.json", values: {n: v.json}}
  - id: roll
    type: shell
    needs: [fixed]
    with:
      script: "od -An -N4 -tu4 /dev/urandom | tr -d ' ' > v.json"
      values: {n: v.json}
`
	if err := os.WriteFile(wf, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	orig := runIDOf(t, e.must(0, "run", wf, "--progress", "none").stderr)
	r := e.must(1, "reproduce", orig, "--progress", "none")
	if !strings.Contains(r.stdout, "ok    fixed  same (2 values)") || !strings.Contains(r.stdout, "DIFF  roll   output n is ") ||
		!strings.Contains(r.stderr, "task roll output n is ") {
		t.Fatalf("want roll's value named as the first difference:\n%s", r)
	}
}

// TestReproduceUsesRecordedItems: a for_each task takes the items its
// original run recorded, not its list resolved again — here a list whose
// first item is the run's own id, which the reproduction's would change.
func TestReproduceUsesRecordedItems(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	wf := writeWorkflow(t, "items.yaml", `name: items
tasks:
  - id: each
    type: shell
    for_each: ["${{ run.id }}", "b"]
    with: {script: 'printf %s "${{ item }}" > out.txt', outputs: {out: out.txt}}
  - id: after
    type: shell
    with: {script: 'echo ${{ tasks.each.outputs.exit_code }} > all.txt', outputs: {all: all.txt}}
`)
	orig := runIDOf(t, e.must(0, "run", wf, "--progress", "none").stderr)
	r := e.must(0, "reproduce", orig, "--progress", "none")
	for _, want := range []string{"ok    each[0]", "ok    each[1]"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("reproduce lacks %q:\n%s", want, r)
		}
	}
	m := regexp.MustCompile(`as run ([0-9a-z]{16})`).FindStringSubmatch(r.stderr)
	if m == nil {
		t.Fatalf("no reproduction's id:\n%s", r)
	}
	if tj := taskByID(t, e.show(m[1]), "each[0]"); !strings.Contains(string(tj.Item), orig) {
		t.Errorf("the reproduction's each[0] holds %s, want the original's item %q", tj.Item, orig)
	}
}
