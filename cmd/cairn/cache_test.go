package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/artifacts"
	"github.com/cairnml/cairn/store/sqlite"
)

// cachedTasks returns the tasks of run r whose outputs came from the
// cache, each with the attempt it reused, and checks that the task's
// shape agrees with its attempt history.
func cachedTasks(t *testing.T, r runJSON) map[string]cairn.AttemptRef {
	t.Helper()
	out := map[string]cairn.AttemptRef{}
	for _, tj := range r.Tasks {
		if tj.CachedFrom == nil {
			continue
		}
		out[tj.ID] = *tj.CachedFrom
		if n := len(tj.Attempt); n == 0 || tj.Attempt[n-1].CachedFrom == nil || *tj.Attempt[n-1].CachedFrom != *tj.CachedFrom {
			t.Errorf("run %s task %s: cached_from %v, but its last attempt says otherwise: %+v", r.ID, tj.ID, tj.CachedFrom, tj.Attempt)
		}
	}
	return out
}

func keys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// TestCacheBreastCancer: a second run of the breast cancer example with
// nothing changed reuses every task from the first (collect by the digest
// of the file it reads), and its outputs are the first's, to
// the byte; a changed param runs exactly the tasks downstream of it; a
// damaged artifact is never reused (the task runs and repairs it);
// --no-cache runs everything; cairn show RUN TASK says why each ran.
func TestCacheBreastCancer(t *testing.T) {
	t.Parallel()
	path, err := filepath.Abs("../../workflows/examples/breast-cancer.yaml")
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	run := func(args ...string) (runJSON, result) {
		t.Helper()
		r := e.must(0, append([]string{"run", path, "--progress", "none"}, args...)...)
		return e.show(runIDOf(t, r.stderr)), r
	}
	first, _ := run()
	if c := cachedTasks(t, first); len(c) != 0 {
		t.Fatalf("the first run took %v from an empty cache", c)
	}
	story := e.must(0, "show", first.ID, "train").stdout
	if !strings.Contains(story, "cache     on; no earlier run of workflow breast-cancer has a success of task train") {
		t.Errorf("show TASK of a first run:\n%s", story)
	}

	second, res := run()
	cached := cachedTasks(t, second)
	want := []string{"clean", "collect", "evaluate", "score", "split", "train", "tune"}
	if got := keys(cached); !reflect.DeepEqual(got, want) {
		t.Fatalf("the second run reused %v, want %v", got, want)
	}
	for id, from := range cached {
		if from != (cairn.AttemptRef{RunID: first.ID, TaskID: id, Number: 1}) {
			t.Errorf("task %s reused %v, want %s/%s#1", id, from, first.ID, id)
		}
	}
	if !strings.Contains(res.stdout, "8 succeeded (7 from cache)") {
		t.Errorf("the summary does not count the reused tasks:\n%s", res.stdout)
	}
	for i, a := range first.Tasks {
		b := second.Tasks[i]
		if !reflect.DeepEqual(outputsText(a.Outputs), outputsText(b.Outputs)) || !reflect.DeepEqual(a.Metrics, b.Metrics) {
			t.Errorf("task %s: outputs or metrics differ:\n%v %v\n%v %v", a.ID, outputsText(a.Outputs), a.Metrics, outputsText(b.Outputs), b.Metrics)
		}
	}
	if !taskByID(t, second, "collect").Cache || !taskByID(t, second, "train").Cache {
		t.Error("collect from a file or train is not cached by default")
	}
	// The bytes a reused output names are the first run's.
	m1 := e.must(0, "artifact", first.ID, "train", "model").stdout
	m2 := e.must(0, "artifact", second.ID, "train", "model").stdout
	if m1 == "" || m1 != m2 {
		t.Errorf("the reused model's bytes differ (%d and %d bytes)", len(m1), len(m2))
	}
	text := e.must(0, "show", second.ID).stdout
	if !strings.Contains(text, "cache (from "+first.ID+"/tune#1)") {
		t.Errorf("show does not mark the reused tasks:\n%s", text)
	}
	story = e.must(0, "show", second.ID, "deploy").stdout
	if !strings.Contains(story, "cache     off: type deploy is never cached") {
		t.Errorf("show TASK of deploy:\n%s", story)
	}
	story = e.must(0, "show", second.ID, "tune").stdout
	if !strings.Contains(story, "reused the outputs of "+first.ID+"/tune#1: not run") {
		t.Errorf("show TASK of a reused task:\n%s", story)
	}
	log := e.must(0, "logs", second.ID, "tune").stdout
	if !strings.Contains(log, "cairn: not run: reused the outputs of "+first.ID+"/tune#1") {
		t.Errorf("the reused attempt's log does not say so:\n%s", log)
	}
	// It wrote none (nothing ran): logs says the reuse in its place, and
	// so does -f, which has nothing to wait for.
	if _, err := os.Stat(filepath.Join(e.home, "logs", second.ID, "tune")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the reused attempt made a log folder: %v", err)
	}
	if log := e.must(0, "logs", second.ID, "tune", "-f").stdout; log != "cairn: not run: reused the outputs of "+first.ID+"/tune#1\n" {
		t.Errorf("logs -f of a reused attempt: %q", log)
	}
	// So does -f started before the task had an attempt (it follows the
	// attempt to come, from the first, and meets its end without a log).
	{
		st, err := sqlite.Open(t.Context(), filepath.Join(e.home, "cairn.db"), sqlite.ReadOnly())
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		logs, err := artifacts.OpenLogs(filepath.Join(e.home, "logs"))
		if err != nil {
			t.Fatal(err)
		}
		var out, notes strings.Builder
		if err := followLocalLog(t.Context(), st, logs, second.ID, "tune", 0, false, &out, &notes); err != nil {
			t.Fatal(err)
		}
		if want := "cairn: not run: reused the outputs of " + first.ID + "/tune#1\n"; out.String() != want {
			t.Errorf("logs -f begun before a reused attempt: %q (notes %q), want %q", out.String(), notes.String(), want)
		}
	}

	// A param changed: split and all after it run; collect and clean are
	// reused.
	third, _ := run("-p", "test_size=0.3")
	if got := keys(cachedTasks(t, third)); !reflect.DeepEqual(got, []string{"clean", "collect"}) {
		t.Errorf("with test_size changed the run reused %v, want [clean collect]", got)
	}
	story = e.must(0, "show", third.ID, "split").stdout
	if !strings.Contains(story, "differs\n            params: test_size (0.2 → 0.3)\n") {
		t.Errorf("show TASK does not name the param that changed:\n%s", story)
	}
	story = e.must(0, "show", third.ID, "tune").stdout
	if !strings.Contains(story, "            input train: sha256:") || strings.Contains(story, "params:") {
		t.Errorf("show TASK does not name the input that changed (and only it):\n%s", story)
	}

	// A damaged artifact of a success is never reused: train runs again
	// (and its fresh bytes repair the blob); what follows it is reused.
	var model cairn.ArtifactRef
	if err := json.Unmarshal(taskByID(t, first, "train").Outputs["model"], &model); err != nil {
		t.Fatal(err)
	}
	blob := filepath.Join(e.home, "artifacts", "sha256", model.Hex()[:2], model.Hex())
	if err := os.Chmod(blob, 0o600); err != nil {
		t.Fatal(err)
	}
	bad := bytes.Repeat([]byte("x"), int(model.Size)) // the same size: only the hash tells
	if err := os.WriteFile(blob, bad, 0o600); err != nil {
		t.Fatal(err)
	}
	fourth, _ := run()
	if got := keys(cachedTasks(t, fourth)); !reflect.DeepEqual(got, []string{"clean", "collect", "evaluate", "score", "split", "tune"}) {
		t.Errorf("with the model damaged the run reused %v, want all but train", got)
	}
	log = e.must(0, "logs", fourth.ID, "train").stdout
	if !strings.Contains(log, "cairn: not reusing "+first.ID+"/train#1: output model: read artifact "+model.Digest) {
		t.Errorf("train's log does not say why the cached model was not reused:\n%s", log)
	}
	if got, _ := os.ReadFile(blob); string(got) != m1 {
		t.Errorf("the damaged blob was not repaired by the task that ran")
	}
	if !reflect.DeepEqual(taskByID(t, fourth, "train").Outputs["model"], taskByID(t, first, "train").Outputs["model"]) {
		t.Error("train made another model")
	}
	story = e.must(0, "show", fourth.ID, "train").stdout
	if !strings.Contains(story, "cache     on; it ran: "+first.ID+"/train#1 has the same cache key, but its outputs were not reused (missing or corrupt artifacts") {
		t.Errorf("show TASK of a task whose cached outputs were damaged:\n%s", story)
	}

	// --no-cache: everything runs, and nothing of it is offered later.
	fifth, res := run("--no-cache")
	if c := cachedTasks(t, fifth); len(c) != 0 {
		t.Errorf("--no-cache reused %v", c)
	}
	if strings.Contains(res.stdout, "from cache") {
		t.Errorf("the summary of a --no-cache run:\n%s", res.stdout)
	}
	for _, tj := range fifth.Tasks {
		if tj.Cache {
			t.Errorf("task %s of a --no-cache run has cache on", tj.ID)
		}
	}
	story = e.must(0, "show", fifth.ID, "train").stdout
	if !strings.Contains(story, "cache     off: the run was started with --no-cache (else: type train is cached by default)") {
		t.Errorf("show TASK of a --no-cache run:\n%s", story)
	}
	var js struct {
		Task  taskJSON
		Cache struct {
			On   bool
			Why  string
			Hit  *cairn.AttemptRef
			Last *cairn.AttemptRef
		}
	}
	if err := json.Unmarshal([]byte(e.must(0, "show", second.ID, "train", "--json").stdout), &js); err != nil {
		t.Fatal(err)
	}
	if js.Task.ID != "train" || !js.Cache.On || js.Cache.Hit == nil || *js.Cache.Hit != (cairn.AttemptRef{RunID: first.ID, TaskID: "train", Number: 1}) {
		t.Errorf("show RUN TASK --json: %+v", js)
	}
}

// TestCachePerType: noop is never cached (cache: true on it is refused,
// naming the line), shell only with cache: true, and cache: must be a
// boolean.
func TestCachePerType(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.must(2, "run", writeWorkflow(t, "n.yaml", "name: n\ntasks:\n  - id: a\n    type: noop\n    cache: true\n"))
	if !strings.Contains(r.stderr, "n.yaml:5:12: task \"a\": type \"noop\" is never cached") {
		t.Errorf("cache: true on noop:\n%s", r.stderr)
	}
	r = e.must(2, "validate", writeWorkflow(t, "m.yaml", "name: m\ntasks:\n  - id: a\n    type: shell\n    cache: yes please\n    with: {argv: [\"true\"]}\n"))
	if !strings.Contains(r.stderr, "m.yaml:5:12: cache must be true or false") {
		t.Errorf("cache: not a boolean:\n%s", r.stderr)
	}
	wf := writeWorkflow(t, "s.yaml", `name: s
tasks:
  - id: opted
    type: shell
    cache: true
    with: {script: "date +%s%N > \"$CAIRN_OUTPUT_T\"", outputs: {t: t.txt}}
  - id: plain
    type: shell
    with: {script: "date +%s%N > \"$CAIRN_OUTPUT_T\"", outputs: {t: t.txt}}
  - id: idle
    type: noop
`)
	ids := [2]string{}
	for i := range ids {
		ids[i] = runIDOf(t, e.must(0, "run", wf, "--progress", "none").stderr)
	}
	a, b := e.show(ids[0]), e.show(ids[1])
	if got := keys(cachedTasks(t, b)); !reflect.DeepEqual(got, []string{"opted"}) {
		t.Fatalf("the second run reused %v, want [opted]", got)
	}
	if !reflect.DeepEqual(taskByID(t, a, "opted").Outputs, taskByID(t, b, "opted").Outputs) {
		t.Error("the reused shell task's outputs differ")
	}
	if reflect.DeepEqual(taskByID(t, a, "plain").Outputs, taskByID(t, b, "plain").Outputs) {
		t.Error("a shell task without cache: true was reused (or the clock stood still)")
	}
	for id, want := range map[string]string{
		"plain": "off: type shell is cached only with cache: true",
		"idle":  "off: type noop is never cached",
	} {
		if s := e.must(0, "show", ids[1], id).stdout; !strings.Contains(s, want) {
			t.Errorf("show TASK %s: want %q:\n%s", id, want, s)
		}
	}
}

// TestCacheFileSource: collect from a file is reused while the file's
// bytes are the same, and runs again when they change (whatever its
// params); show TASK says so.
func TestCacheFileSource(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "d.csv")
	if err := os.WriteFile(data, []byte("x,y\n1,a\n2,b\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	wf := writeWorkflow(t, "f.yaml", "name: f\ntasks:\n  - id: c\n    type: collect\n    with: {source: \"file://"+data+"\"}\n"+
		"  - id: k\n    type: clean\n    inputs: {data: \"${{ tasks.c.outputs.data }}\"}\n")
	run := func() runJSON {
		t.Helper()
		return e.show(runIDOf(t, e.must(0, "run", wf, "--progress", "none").stderr))
	}
	first := run()
	if got := keys(cachedTasks(t, run())); !reflect.DeepEqual(got, []string{"c", "k"}) {
		t.Fatalf("the file unchanged: reused %v, want [c k]", got)
	}
	if err := os.WriteFile(data, []byte("x,y\n1,a\n3,b\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	third := run()
	if got := keys(cachedTasks(t, third)); len(got) != 0 {
		t.Errorf("the file changed: reused %v", got)
	}
	if reflect.DeepEqual(taskByID(t, first, "c").Outputs["data"], taskByID(t, third, "c").Outputs["data"]) {
		t.Error("the changed file was not read again")
	}
	story := e.must(0, "show", third.ID, "c").stdout
	if !strings.Contains(story, "has the same type, version, params and inputs, but what it read from outside (collect: the bytes of its file) changed") {
		t.Errorf("show TASK of a collect whose file changed:\n%s", story)
	}
	story = e.must(0, "show", third.ID, "k").stdout
	if !strings.Contains(story, "input data: sha256:") {
		t.Errorf("show TASK of the task after it:\n%s", story)
	}
}

// TestCacheStoryOverServer: show RUN TASK --server tells a task's cache
// story as the home does, byte for byte (the server explains it from its
// store, GET /api/v1/runs/{id}/tasks/{task}/cache): a reuse, a miss with
// the param and input that changed, caching off by a type's default and by
// cache: false; with --json too.
func TestCacheStoryOverServer(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	wf := writeWorkflow(t, "story.yaml", `name: story
params:
  seed: {type: int, default: 1}
tasks:
  - id: data
    type: collect
    with: {source: synthetic, rows: 50, features: 2, seed: "${{ params.seed }}", label: y}
  - id: split
    type: split
    inputs: {data: "${{ tasks.data.outputs.data }}"}
    with: {label: y, test_size: 0.3, seed: 1}
  - id: uncached
    type: split
    cache: false
    inputs: {data: "${{ tasks.data.outputs.data }}"}
    with: {label: y, test_size: 0.3, seed: 1}
  - id: idle
    type: noop
`)
	var ids []string
	for _, seed := range []string{"1", "1", "2"} {
		ids = append(ids, runIDOf(t, e.must(0, "run", wf, "-p", "seed="+seed, "--progress", "none").stderr))
	}
	api := e.apiServer()
	for _, c := range []struct {
		run, task, want string
	}{
		{ids[1], "data", "reused the outputs of " + ids[0] + "/data#1"},
		{ids[2], "data", "params: seed (1 → 2)"},
		{ids[2], "split", "input data: sha256:"},
		{ids[2], "uncached", "off: the task says cache: false"},
		{ids[2], "idle", "off: type noop is never cached"},
	} {
		l := e.must(0, "show", c.run, c.task)
		r := e.must(0, "show", c.run, c.task, "--server", api)
		if !strings.Contains(l.stdout, c.want) || l.stdout != r.stdout {
			t.Errorf("show %s %s: want %q, the same from the server:\n--- home:\n%s--- server:\n%s", c.run, c.task, c.want, l.stdout, r.stdout)
		}
		lj := e.must(0, "show", c.run, c.task, "--json")
		if rj := e.must(0, "show", c.run, c.task, "--json", "--server", api); lj.stdout != rj.stdout {
			t.Errorf("show %s %s --json differs from the server's:\n--- home:\n%s--- server:\n%s", c.run, c.task, lj.stdout, rj.stdout)
		}
	}
}
