package main

// End-to-end tests of how runs, show and the run summary look and what
// they say: colour, time formats, plurals, orphaned runs, pagination and
// the shape of --json.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal pair; the test skips where the system
// has none.
func openPTY(t *testing.T) (master, tty *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		m.Close()
		t.Skipf("unlock pseudo-terminal: %v", err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		m.Close()
		t.Skipf("pseudo-terminal number: %v", err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		t.Skipf("open pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { s.Close(); m.Close() })
	return m, s
}

// onTTY runs cairn with its stdout on a terminal and returns what it
// printed there; extra is added to its environment.
func (e *env) onTTY(extra []string, args ...string) string {
	e.t.Helper()
	master, tty := openPTY(e.t)
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	cmd := e.command(ctx, args...)
	cmd.Env = append(cmd.Env, extra...)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = tty, &stderr
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	tty.Close() // the child holds its copy; the master sees EOF (EIO) when it exits
	var out bytes.Buffer
	_, _ = io.Copy(&out, master)
	if err := cmd.Wait(); err != nil {
		e.t.Fatalf("cairn %s on a terminal: %v\n%s%s", strings.Join(args, " "), err, out.String(), stderr.String())
	}
	return out.String()
}

// States are coloured on a terminal (failed red, succeeded green), and not
// with NO_COLOR or in a pipe.
func TestColourOnATerminalOnly(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alpha := testdata(t, "alpha.yaml")
	ok := runIDOf(t, e.must(0, "run", alpha).stderr)
	bad := runIDOf(t, e.must(1, "run", alpha, "-p", "code=3").stderr)

	const red, green = "\x1b[31mfailed\x1b[0m", "\x1b[32msucceeded\x1b[0m"
	tty := e.onTTY(nil, "runs")
	if !strings.Contains(tty, red) || !strings.Contains(tty, green) {
		t.Errorf("runs on a terminal: no red failed or green succeeded:\n%q", tty)
	}
	// The colour codes do not shift the columns: CREATED starts at the
	// same place on the header line and on each run's line.
	unpaint := strings.NewReplacer("\x1b[31m", "", "\x1b[32m", "", "\x1b[39m", "", "\x1b[0m", "")
	lines := strings.Split(unpaint.Replace(strings.TrimSpace(strings.ReplaceAll(tty, "\r", ""))), "\n")
	col := strings.Index(lines[0], "CREATED")
	if col < 2 || len(lines) != 3 {
		t.Fatalf("runs on a terminal:\n%s", strings.Join(lines, "\n"))
	}
	for _, l := range lines[1:] {
		if len(l) <= col || l[col-2:col] != "  " || l[col] == ' ' {
			t.Errorf("column CREATED at %d of the header is not where it is in %q", col, l)
		}
	}
	for _, id := range []string{ok, bad} {
		if s := e.onTTY(nil, "show", id); !strings.Contains(s, "\x1b[3") {
			t.Errorf("show %s on a terminal has no colour:\n%q", id, s)
		}
	}
	if s := e.onTTY([]string{"NO_COLOR=1"}, "runs"); strings.Contains(s, "\x1b[") {
		t.Errorf("runs with NO_COLOR has colour:\n%q", s)
	}
	for _, args := range [][]string{{"runs"}, {"show", bad}, {"run", alpha, "-p", "code=3"}} {
		r := e.cairn(args...)
		if strings.Contains(r.stdout, "\x1b[") || strings.Contains(r.stderr, "\x1b[") {
			t.Errorf("cairn %s in a pipe has colour:\n%s", strings.Join(args, " "), r)
		}
	}
}

// A run whose process was killed (kill -9) is shown as orphaned, with the
// resume command, at once: its owner was a process of this host that no
// longer exists (no need to wait for the claim to expire).
func TestOrphanedRunSaysSo(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p, id, _ := startSleeper(t, e)
	if s := e.show(id); s.State != "running" || s.Orphaned {
		t.Fatalf("a run its process drives: state %s, orphaned %v", s.State, s.Orphaned)
	}
	if r := e.must(0, "runs"); strings.Contains(r.stdout, "orphaned") || strings.Contains(r.stderr, "resume") {
		t.Fatalf("a live run is not orphaned:\n%s", r)
	}
	p.kill9()

	r := e.must(0, "runs")
	if !regexp.MustCompile(`(?m)^` + id + `\s+sleeper\s+orphaned\s`).MatchString(r.stdout) {
		t.Errorf("runs: want %s orphaned in the state column:\n%s", id, r)
	}
	if !strings.Contains(r.stderr, "cairn resume "+id+"\n") {
		t.Errorf("runs: no resume hint:\n%s", r)
	}
	page := e.runsPage()
	if len(page.Runs) != 1 || !page.Runs[0].Orphaned || page.Runs[0].State != "running" {
		t.Errorf("runs --json: want state running and orphaned true: %+v", page.Runs)
	}
	r = e.must(0, "show", id)
	if !strings.Contains(r.stdout, "state     orphaned") || !strings.Contains(r.stdout, "cairn resume "+id+"\n") {
		t.Errorf("show: want orphaned and the resume command:\n%s", r)
	}
	if s := e.show(id); !s.Orphaned || s.State != "running" {
		t.Errorf("show --json: state %s, orphaned %v", s.State, s.Orphaned)
	}
	// The duration stops at the owner's last sign of life: no "…" that grows.
	if regexp.MustCompile(`duration  .*…`).MatchString(r.stdout) {
		t.Errorf("show: an orphaned run's duration still grows:\n%s", r.stdout)
	}
}

// The more: hint repeats the filters and --limit and shows only when
// another page follows; --json carries the cursor; a cursor naming no
// run is an error; --state ignores case; an empty page says "no runs".
func TestRunsPagination(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alpha := testdata(t, "alpha.yaml")
	r := e.must(0, "runs")
	if r.stdout != "" || r.stderr != "no runs\n" {
		t.Errorf("no runs at all:\n%s", r)
	}
	if r := e.must(2, "runs", "--before", "01m8x26qzdet6gq5"); !strings.Contains(r.stderr, "names no run") {
		t.Errorf("a cursor before anything ran:\n%s", r)
	}
	var ids []string // newest first
	for range 3 {
		ids = append([]string{runIDOf(t, e.must(0, "run", alpha, "--progress", "none").stderr)}, ids...)
	}
	failed := runIDOf(t, e.must(1, "run", alpha, "-p", "code=3", "--progress", "none").stderr)

	r = e.must(0, "runs", "--workflow", "alpha", "--state", "SUCCEEDED", "--limit", "2")
	want := "more: cairn runs --workflow alpha --state succeeded --limit 2 --before " + ids[1] + "\n"
	if r.stderr != want || strings.Contains(r.stdout, failed) || strings.Contains(r.stdout, ids[2]) {
		t.Fatalf("first page: want only %v and %q\n%s", ids[:2], want, r)
	}
	// The hint is a command that prints the next page, which is the last.
	next := strings.Fields(strings.TrimPrefix(strings.TrimSpace(r.stderr), "more: cairn "))
	r = e.must(0, next...)
	if !strings.Contains(r.stdout, ids[2]) || strings.Contains(r.stdout, ids[1]) || strings.Contains(r.stdout, failed) {
		t.Errorf("the page the hint prints:\n%s", r)
	}
	if strings.Contains(r.stderr, "more:") {
		t.Errorf("the last page has a more: hint:\n%s", r)
	}
	// A page exactly as long as what is left has no hint either.
	if r = e.must(0, "runs", "--limit", "4"); strings.Contains(r.stderr, "more:") {
		t.Errorf("all four runs on one page, yet a hint:\n%s", r)
	}

	page := e.runsPage("--limit", "3")
	if page.Next == nil || *page.Next != ids[1] || len(page.Runs) != 3 {
		t.Errorf("runs --json --limit 3: next %v, %d runs; want next %s", page.Next, len(page.Runs), ids[1])
	}
	page = e.runsPage("--limit", "3", "--before", *page.Next)
	if page.Next != nil || len(page.Runs) != 1 || page.Runs[0].ID != ids[2] {
		t.Errorf("last page: next %v, runs %v", page.Next, runIDs(page.Runs))
	}
	if out := e.must(0, "runs", "--json", "--workflow", "nope").stdout; out != "{\n  \"runs\": [],\n  \"next\": null\n}\n" {
		t.Errorf("runs --json of nothing: %q", out)
	}

	r = e.must(2, "runs", "--before", "zzzzzzzzzzzzzzzz")
	if !strings.Contains(r.stderr, `--before "zzzzzzzzzzzzzzzz" names no run`) || r.stdout != "" {
		t.Errorf("an unknown cursor:\n%s", r)
	}
	if r := e.must(2, "runs", "--before", "0000"); !strings.Contains(r.stderr, "names no run") {
		t.Errorf("a prefix of no run:\n%s", r)
	}
	if got := runIDs(e.runs("--before", ids[0][:10])); !slicesEqual(got, []string{ids[1], ids[2]}) {
		t.Errorf("--before a prefix: %v", got)
	}
	if got := runIDs(e.runs("--state", "Failed")); !slicesEqual(got, []string{failed}) {
		t.Errorf("--state Failed: %v", got)
	}
	for _, args := range [][]string{{"--workflow", "nope"}, {"--state", "cancelled"}, {"--before", ids[2]}, {"--state", "queued", "--workflow", "alpha"}} {
		r := e.must(0, append([]string{"runs"}, args...)...)
		if r.stdout != "" || r.stderr != "no runs\n" {
			t.Errorf("runs %s: want only \"no runs\":\n%s", strings.Join(args, " "), r)
		}
	}
	r = e.must(2, "runs", "--state", "orphaned")
	if !strings.Contains(r.stderr, "--state running") {
		t.Errorf("--state orphaned should point to --state running:\n%s", r)
	}
}

// An evaluation whose gate did not pass succeeded as a task: the run
// summary and show say that its gate did not, and which condition failed.
func TestGateThatDidNotPassIsShown(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.must(0, "run", testdata(t, "gate.yaml"), "--progress", "none")
	id := runIDOf(t, r.stderr)
	const why = "f1 is 0.9153, want > 1"
	if !strings.Contains(r.stdout, "  evaluate succeeded, but its gate did not pass: "+why+"\n") {
		t.Errorf("the summary does not say the gate did not pass:\n%s", r)
	}
	if strings.Contains(r.stdout, "accuracy is") {
		t.Errorf("the summary names a condition that held:\n%s", r)
	}
	r = e.must(0, "show", id)
	if !regexp.MustCompile(`(?m)^evaluate\s+evaluate\s+succeeded\s.*gate did not pass$`).MatchString(r.stdout) ||
		!strings.Contains(r.stdout, "  gate    the task succeeded, its gate did not pass: "+why+"\n") {
		t.Errorf("show does not say the gate did not pass:\n%s", r)
	}
	s := e.show(id)
	if ev := taskByID(t, s, "evaluate"); ev.GatePassed == nil || *ev.GatePassed {
		t.Errorf("show --json: evaluate gate_passed %v, want false", ev.GatePassed)
	}
	if tr := taskByID(t, s, "train"); tr.GatePassed != nil {
		t.Errorf("show --json: train has no gate, gate_passed %v", *tr.GatePassed)
	}
}

// jsonBlock returns the JSON example that follows heading in docs/cli.md.
func jsonBlock(t *testing.T, heading string) map[string]any {
	t.Helper()
	doc, err := os.ReadFile("../../docs/cli.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(doc), "\n"+heading+"\n")
	if !ok {
		t.Fatalf("docs/cli.md has no heading %q", heading)
	}
	_, after, ok = strings.Cut(after, "```json\n")
	block, _, ok2 := strings.Cut(after, "```")
	if !ok || !ok2 {
		t.Fatalf("docs/cli.md: no JSON example under %q", heading)
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(block), &v); err != nil {
		t.Fatalf("docs/cli.md: the example under %q: %v", heading, err)
	}
	return v
}

// sameKeys fails unless got has exactly the keys of the documented doc.
func sameKeys(t *testing.T, what string, doc, got map[string]any) {
	t.Helper()
	for k := range doc {
		if _, ok := got[k]; !ok {
			t.Errorf("%s: documented key %q is missing", what, k)
		}
	}
	for k := range got {
		if _, ok := doc[k]; !ok {
			t.Errorf("%s: key %q is not documented in docs/cli.md", what, k)
		}
	}
}

// The --json shapes of runs and show are the ones docs/cli.md documents:
// every key present on every run, task and attempt, null when empty, and
// times in RFC 3339 UTC.
func TestJSONShapesAreTheDocumentedOnes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	wf := filepath.Join(t.TempDir(), "shape.yaml")
	if err := os.WriteFile(wf, []byte(`name: shape
params:
  code: {type: int, default: 3}
tasks:
  - id: make
    type: shell
    with: {script: "echo data > out.txt", outputs: {data: out.txt}}
  - id: use
    type: shell
    inputs: {data: "${{ tasks.make.outputs.data }}"}
    with: {env: {CODE: "${{ params.code }}"}, script: 'exit "$CODE"'}
  - id: never
    type: noop
    needs: [use]
`), 0o644); err != nil {
		t.Fatal(err)
	}
	failed := runIDOf(t, e.must(1, "run", wf, "--progress", "none").stderr)
	gated := runIDOf(t, e.must(0, "run", testdata(t, "gate.yaml"), "--progress", "none").stderr)

	docRuns := jsonBlock(t, "### `cairn runs --json`")
	var page map[string]any
	if err := json.Unmarshal([]byte(e.must(0, "runs", "--json", "--limit", "1").stdout), &page); err != nil {
		t.Fatal(err)
	}
	sameKeys(t, "runs --json", docRuns, page)
	docRun := docRuns["runs"].([]any)[0].(map[string]any)
	for _, r := range page["runs"].([]any) {
		sameKeys(t, "a run of runs --json", docRun, r.(map[string]any))
	}

	docShow := jsonBlock(t, "### `cairn show RUN --json`")
	docTask := docShow["tasks"].([]any)[0].(map[string]any)
	docAttempt := docTask["attempt_history"].([]any)[0].(map[string]any)
	utc := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$`)
	checkTimes := func(what string, m map[string]any) {
		for _, k := range []string{"created_at", "started_at", "finished_at"} {
			if v, ok := m[k].(string); ok && !utc.MatchString(v) {
				t.Errorf("%s: %s = %q, want RFC 3339 UTC", what, k, v)
			}
		}
	}
	shows := map[string]map[string]any{}
	for _, id := range []string{failed, gated} {
		var show map[string]any
		if err := json.Unmarshal([]byte(e.must(0, "show", id, "--json").stdout), &show); err != nil {
			t.Fatal(err)
		}
		shows[id] = show
		sameKeys(t, "show --json", docShow, show)
		checkTimes("run "+id, show)
		for _, tk := range show["tasks"].([]any) {
			task := tk.(map[string]any)
			sameKeys(t, "task "+task["id"].(string), docTask, task)
			checkTimes("task "+task["id"].(string), task)
			if hist, ok := task["attempt_history"].([]any); ok {
				for _, at := range hist {
					sameKeys(t, "an attempt of "+task["id"].(string), docAttempt, at.(map[string]any))
					checkTimes("an attempt of "+task["id"].(string), at.(map[string]any))
				}
			}
		}
	}

	// Null when empty, a value when there is one.
	tasks := map[string]map[string]any{}
	for _, show := range shows {
		for _, tk := range show["tasks"].([]any) {
			tasks[tk.(map[string]any)["id"].(string)] = tk.(map[string]any)
		}
	}
	for task, nulls := range map[string][]string{
		"never":    {"params", "inputs", "outputs", "metrics", "gate_passed", "started_at", "duration_ms", "attempt_history"},
		"make":     {"error", "inputs", "metrics", "gate_passed"},
		"use":      {"outputs", "gate_passed"},
		"evaluate": {"error"},
	} {
		for _, k := range nulls {
			if v := tasks[task][k]; v != nil {
				t.Errorf("task %s: %s = %v, want null", task, k, v)
			}
		}
	}
	if tasks["never"]["state"] != "upstream_failed" || tasks["never"]["error"] != "upstream use failed" {
		t.Errorf("task never: %v: %v", tasks["never"]["state"], tasks["never"]["error"])
	}
	use := tasks["use"]
	in, _ := use["inputs"].(map[string]any)["data"].(map[string]any)
	if d, _ := in["digest"].(string); !strings.HasPrefix(d, "sha256:") {
		t.Errorf("task use: inputs %v, want the artifact digest of data", use["inputs"])
	}
	if p, _ := use["params"].(map[string]any); p == nil || fmt.Sprint(p["env"].(map[string]any)["CODE"]) != "3" {
		t.Errorf("task use: params %v, want the resolved env CODE=3", use["params"])
	}
	at := use["attempt_history"].([]any)[0].(map[string]any)
	if at["exit_code"] != 3.0 || at["error"] == nil || at["stack"] != nil || at["plugin"] != nil {
		t.Errorf("attempt of use: %v", at)
	}
	if shows[failed]["error"] == nil || shows[gated]["error"] != nil || shows[failed]["owner"] != nil {
		t.Errorf("run error/owner: failed %v/%v, gated %v", shows[failed]["error"], shows[failed]["owner"], shows[gated]["error"])
	}
	if g := tasks["evaluate"]["gate_passed"]; g != false {
		t.Errorf("evaluate gate_passed = %v, want false", g)
	}
}

// A task's error is shown once with the task's name, not stuttered
// ("train failed: train train: input train: …").
func TestErrorsDoNotStutter(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	wf := filepath.Join(t.TempDir(), "badtrain.yaml")
	if err := os.WriteFile(wf, []byte(`name: badtrain
tasks:
  - id: notcsv
    type: shell
    with: {script: "printf 'a,b\\n\"unterminated' > out.csv", outputs: {data: out.csv}}
  - id: train
    type: train
    inputs: {train: "${{ tasks.notcsv.outputs.data }}"}
    with: {model: logistic_regression, label: b}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	r := e.must(1, "run", wf, "--progress", "lines")
	id := runIDOf(t, r.stderr)
	const want = "input train is not a readable CSV data set"
	if !strings.Contains(r.stdout, "  train failed after 1 attempt: "+want) {
		t.Errorf("summary:\n%s", r)
	}
	if !strings.Contains(r.stderr, "task train failed (attempt 1): "+want) {
		t.Errorf("progress:\n%s", r)
	}
	show := e.must(0, "show", id).stdout
	if tr := taskByID(t, e.show(id), "train"); !strings.HasPrefix(tr.Error, want) || !strings.HasPrefix(tr.Attempt[0].Error, want) {
		t.Errorf("show --json: task error %q, attempt error %q; want them to start with %q", tr.Error, tr.Attempt[0].Error, want)
	}
	for _, out := range []string{r.stdout, r.stderr, show} {
		if strings.Contains(out, "train train") {
			t.Errorf("the error stutters:\n%s", out)
		}
	}
}

// runs --json -q is a usage error, not one of the two chosen in silence,
// whichever order the flags come in; each alone still works.
func TestRunsJSONAndQuietConflict(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, args := range [][]string{{"runs", "--json", "-q"}, {"runs", "-q", "--json"}} {
		r := e.must(2, args...)
		if !strings.Contains(r.stderr, "--json and -q cannot be used together") || r.stdout != "" {
			t.Errorf("%v:\n%s", args, r)
		}
	}
	e.must(0, "runs", "--json")
	e.must(0, "runs", "-q")
}

// show prints a param's value as it was given: '<', '>' and '&' are
// themselves, not JSON's HTML escapes (\u003c).
func TestShowParamsAsWritten(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	wf := filepath.Join(t.TempDir(), "p.yaml")
	if err := os.WriteFile(wf, []byte("name: p\nparams:\n  expr: {type: string}\ntasks:\n  - id: a\n    type: noop\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := e.must(0, "run", wf, "-p", "expr=a<b && c>d", "--progress", "none")
	id := runIDOf(t, r.stderr)
	if show := e.must(0, "show", id).stdout; !strings.Contains(show, `params    expr="a<b && c>d"`) {
		t.Errorf("show:\n%s", show)
	}
}
