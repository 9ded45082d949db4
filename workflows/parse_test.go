package workflows

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cairnml/cairn"
)

var update = flag.Bool("update", false, "rewrite golden files")

func opts() Options { return Options{Types: newFakeTypes()} }

// golden compares got with the file at path, or rewrites it with -update.
func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs:\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func TestValidFiles(t *testing.T) {
	files, _ := filepath.Glob("testdata/valid/*.yaml")
	if len(files) == 0 {
		t.Fatal("no testdata/valid files")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			w, err := ParseFile(f, opts())
			if err != nil {
				t.Fatalf("ParseFile: %v", err)
			}
			golden(t, strings.TrimSuffix(f, ".yaml")+".canonical.json", append(w.Canonical(), '\n'))
			if !strings.HasPrefix(w.Digest, "sha256:") || len(w.Digest) != 71 {
				t.Errorf("digest %q", w.Digest)
			}
			src, _ := os.ReadFile(f)
			if !bytes.Equal(w.Source, src) || w.Path != f {
				t.Errorf("Source/Path not kept")
			}
			// The canonical form is a workflow file with the same digest.
			w2, err := Parse("canonical.json", w.Canonical(), opts())
			if err != nil {
				t.Fatalf("canonical form does not parse: %v", err)
			}
			if w2.Digest != w.Digest {
				t.Errorf("canonical form re-parses to digest %s, want %s", w2.Digest, w.Digest)
			}
		})
	}
}

func TestFullWorkflow(t *testing.T) {
	w, err := ParseFile("testdata/valid/full.yaml", opts())
	if err != nil {
		t.Fatal(err)
	}
	if w.Name != "churn.model-v2" || w.MaxActive != 4 || w.Description == "" {
		t.Errorf("top level: %+v", w)
	}
	var names []string
	for _, p := range w.Params {
		names = append(names, p.Name)
	}
	if want := []string{"seed", "lr", "model", "deploy", "tags"}; !reflect.DeepEqual(names, want) {
		t.Errorf("params %v, want file order %v", names, want)
	}
	seed, _ := w.Param("seed")
	lr, _ := w.Param("lr")
	model, _ := w.Param("model")
	if seed.Type != cairn.KindInt || seed.Default != 42 || seed.Required {
		t.Errorf("seed %+v", seed)
	}
	if lr.Type != cairn.KindFloat || lr.Default != 1.0 || lr.Description != "learning rate" {
		t.Errorf("lr %+v", lr)
	}
	if !model.Required || model.Default != nil {
		t.Errorf("model %+v", model)
	}
	s := w.Schedule
	if s == nil || s.Cron != "0 3 * * *" || s.Timezone != "Europe/Paris" || s.Catchup != CatchupLatest {
		t.Fatalf("schedule %+v", s)
	}
	next, err := s.Next(time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC))
	if err != nil || !next.Equal(time.Date(2024, 6, 2, 1, 0, 0, 0, time.UTC)) {
		t.Errorf("Next = %v, %v; want 03:00 Paris = 01:00 UTC", next, err)
	}
	def := cairn.RetryPolicy{Retries: 2, Backoff: 5 * time.Second, Factor: 2, MaxBackoff: 10 * time.Minute}
	if w.Defaults.Retry != def || w.Defaults.Timeout != 10*time.Minute {
		t.Errorf("defaults %+v", w.Defaults)
	}
	fetch, train, report, ship := w.Task("fetch"), w.Task("train"), w.Task("report"), w.Task("ship")
	if fetch == nil || train == nil || report == nil || ship == nil || w.Task("nope") != nil {
		t.Fatal("Task lookup")
	}
	if fetch.Retry != def || fetch.Timeout != 10*time.Minute || fetch.Line != 22 || fetch.Col != 5 {
		t.Errorf("fetch %+v", fetch)
	}
	if train.Retry != (cairn.RetryPolicy{Retries: 2, Backoff: time.Second, Factor: 3, MaxBackoff: time.Minute}) || train.Timeout != time.Hour {
		t.Errorf("train retry %+v timeout %v", train.Retry, train.Timeout)
	}
	if report.Type != "shell" || report.Retry.Retries != 1 {
		t.Errorf("merge key not applied: %+v", report)
	}
	if !reflect.DeepEqual(train.Upstream, []string{"fetch"}) || !reflect.DeepEqual(report.Upstream, []string{"train"}) ||
		!reflect.DeepEqual(ship.Upstream, []string{"report", "train"}) || len(fetch.Upstream) != 0 {
		t.Errorf("upstreams: %v %v %v", train.Upstream, report.Upstream, ship.Upstream)
	}
	if !reflect.DeepEqual(ship.Needs, []string{"report"}) {
		t.Errorf("needs shorthand: %v", ship.Needs)
	}
	if want := []string{"fetch", "train", "report", "ship"}; !reflect.DeepEqual(w.TaskIDs(), want) {
		t.Errorf("TaskIDs %v", w.TaskIDs())
	}
	if got := train.With["hyperparams"]; !reflect.DeepEqual(got, map[string]any{"depth": 3, "notes": "seed=${{ params.seed }}"}) {
		t.Errorf("with.hyperparams %#v", got)
	}
}

func TestTypesNotChecked(t *testing.T) {
	src := "name: x\ntasks:\n  - {id: a, type: anything, with: {whatever: 1}}\n  - {id: b, type: other, with: {v: '${{ tasks.a.outputs.any }}'}}\n"
	w, err := Parse("x.yaml", []byte(src), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(w.Task("b").Upstream, []string{"a"}) {
		t.Errorf("upstream %v", w.Task("b").Upstream)
	}
	if _, err := Parse("x.yaml", []byte(src), opts()); err == nil {
		t.Error("unknown types accepted with a TypeSet")
	}
}

func TestErrorFiles(t *testing.T) {
	files, _ := filepath.Glob("testdata/errors/*.yaml")
	if len(files) < 20 {
		t.Fatalf("only %d error files", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			w, err := ParseFile(f, opts())
			if err == nil {
				t.Fatalf("parsed without error: %s", w.Canonical())
			}
			var list ErrorList
			if !errors.As(err, &list) || len(list) == 0 {
				t.Fatalf("error %T is not an ErrorList: %v", err, err)
			}
			for i, e := range list {
				if e.Line < 1 || e.Col < 1 || e.File != f {
					t.Errorf("bad position %s:%d:%d", e.File, e.Line, e.Col)
				}
				if i > 0 && (list[i-1].Line > e.Line || list[i-1].Line == e.Line && list[i-1].Col > e.Col) {
					t.Errorf("not sorted: %v before %v", list[i-1], e)
				}
			}
			golden(t, strings.TrimSuffix(f, ".yaml")+".golden", []byte(err.Error()+"\n"))
		})
	}
}

func TestManyProblemsReported(t *testing.T) {
	_, err := ParseFile("testdata/errors/many.yaml", opts())
	var list ErrorList
	if !errors.As(err, &list) || len(list) < 8 {
		t.Fatalf("want at least 8 problems, got %v", err)
	}
}

func TestCycleError(t *testing.T) {
	_, err := ParseFile("testdata/errors/cycle.yaml", opts())
	var ce *CycleError
	if !errors.As(err, &ce) {
		t.Fatalf("no CycleError in %v", err)
	}
	if want := []string{"a", "b", "c", "a"}; !reflect.DeepEqual(ce.Path, want) {
		t.Errorf("cycle path %v, want %v", ce.Path, want)
	}
}

func TestErrorFormat(t *testing.T) {
	e := &Error{File: "f.yaml", Line: 3, Col: 7, Msg: `unknown key "retires"`, Hint: `did you mean "retries"?`}
	if got, want := e.Error(), "f.yaml:3:7: unknown key \"retires\"\n\thint: did you mean \"retries\"?"; got != want {
		t.Errorf("got %q want %q", got, want)
	}
	e.Hint = ""
	if got := e.Error(); got != `f.yaml:3:7: unknown key "retires"` {
		t.Errorf("got %q", got)
	}
}

func TestMaxBytes(t *testing.T) {
	big := bytes.Repeat([]byte("# padding\n"), 7_000_000) // 66.8 MiB
	const hint = "\n\thint: split the workflow into several files, or keep large data and scripts in files that its tasks read"
	_, err := Parse("big.yaml", big, Options{})
	if err == nil || err.Error() != "big.yaml:1:1: file is 66.8 MiB, over the 64 MiB limit of a workflow file"+hint {
		t.Errorf("got %v", err)
	}
	_, err = Parse("small.yaml", []byte("name: x\ntasks: [{id: a, type: t}]\n"), Options{MaxBytes: 10})
	if err == nil || !strings.Contains(err.Error(), "file is 34 bytes, over the 10 bytes limit of a workflow file") {
		t.Errorf("got %v", err)
	}
	path := filepath.Join(t.TempDir(), "big.yaml")
	// Sparse: ParseFile refuses it by its size, before reading it.
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, int64(len(big))); err != nil {
		t.Fatal(err)
	}
	_, err = ParseFile(path, Options{})
	if err == nil || !strings.HasSuffix(err.Error(), "big.yaml:1:1: file is 66.8 MiB, over the 64 MiB limit of a workflow file"+hint) {
		t.Errorf("ParseFile: %v", err)
	}
	// A byte over: the size in bytes, not "64.0 MiB, over the 64 MiB".
	if err := os.Truncate(path, DefaultMaxBytes+1); err != nil {
		t.Fatal(err)
	}
	_, err = ParseFile(path, Options{})
	if err == nil || !strings.HasSuffix(err.Error(), "big.yaml:1:1: file is 67108865 bytes, 1 over the 64 MiB (67108864 bytes) limit of a workflow file"+hint) {
		t.Errorf("ParseFile of a byte over the limit: %v", err)
	}
	if _, err := ParseFile(filepath.Join(t.TempDir(), "missing.yaml"), Options{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestBillionLaughs(t *testing.T) {
	var b strings.Builder
	b.WriteString("name: lol\nx-a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n")
	prev := "a"
	for _, c := range "bcdefghi" {
		name := string(c)
		b.WriteString("x-" + name + ": &" + name + " [")
		for i := 0; i < 10; i++ {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("*" + prev)
		}
		b.WriteString("]\n")
		prev = name
	}
	b.WriteString("tasks:\n  - id: a\n    type: shell\n    with: {argv: *i}\n")
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		_, err := Parse("lol.yaml", []byte(b.String()), opts())
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "lol.yaml:2:25: aliases expand to more than 1,000,000 YAML nodes, over the limit of what aliases may add") {
			t.Fatalf("got %v", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("took %v", d)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Parse did not return")
	}
}

func TestNotUTF8(t *testing.T) {
	_, err := Parse("bad.yaml", []byte("name: x\ndescription: caf\xe9 au lait\n"), Options{})
	if err == nil || err.Error() != "bad.yaml:2:17: file is not valid UTF-8 (byte 0xe9)" {
		t.Errorf("got %v", err)
	}
}

// A file saved as UTF-16 (an editor's "Unicode") is named as such, with
// how to save it as UTF-8, not as a bad byte.
func TestUTF16FileNamed(t *testing.T) {
	for bom, enc := range map[string]string{"\xff\xfe": "UTF-16LE", "\xfe\xff": "UTF-16BE"} {
		src := []byte(bom)
		for _, r := range "name: x\n" {
			if enc == "UTF-16LE" {
				src = append(src, byte(r), 0)
			} else {
				src = append(src, 0, byte(r))
			}
		}
		_, err := Parse("u16.yaml", src, Options{})
		if err == nil || !strings.Contains(err.Error(), "u16.yaml:1:1: file is "+enc+" text (it starts with a UTF-16 byte-order mark)") ||
			!strings.Contains(err.Error(), "iconv -f "+enc+" -t UTF-8") {
			t.Errorf("%s: got %v", enc, err)
		}
	}
}

func TestYAMLSyntaxPositions(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"name: x\ntasks:\n\t- id: a\n", "f:3:1: invalid YAML: found character that cannot start any token"},
		{"name: x\ntasks: a: b\n", "f:2:1: invalid YAML: mapping values are not allowed in this context"},
		{"name: x\ntasks:\n  - id: a\n    type: *nope\n", "f:4:11: invalid YAML: unknown anchor 'nope' referenced"},
		{"name: [x,\n", "f:1:1: invalid YAML: did not find expected node content"},
	} {
		_, err := Parse("f", []byte(tc.src), Options{})
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%q:\n got %v\nwant %s", tc.src, err, tc.want)
		}
	}
}

// TestErrorListShowsTheFirstProblems: a mistake made in every task of a
// large file prints its first ShownAlike problems, those of another kind
// after them all the same, each hint once, and a count of the rest by
// message; Format(0) prints every one.
func TestErrorListShowsTheFirstProblems(t *testing.T) {
	var src strings.Builder
	src.WriteString("name: many\ntasks:\n")
	for i := range 500 {
		fmt.Fprintf(&src, "  - id: t%d\n    type: noop\n    depends_on: [x]\n", i)
		if i%100 == 0 {
			fmt.Fprintf(&src, "    retires: 2\n")
		}
	}
	_, err := Parse("many.yaml", []byte(src.String()), opts())
	var list ErrorList
	if !errors.As(err, &list) || len(list) != 505 {
		t.Fatalf("want 505 problems, got %d: %v", len(list), err)
	}
	text := err.Error()
	lines := strings.Split(text, "\n")
	shownAs := func(key string) int {
		return len(regexp.MustCompile(`(?m)^many\.yaml:\d+:\d+: unknown key "`+key+`"$`).FindAllString(text, -1))
	}
	if got := shownAs("depends_on"); got != ShownAlike {
		t.Errorf("%d depends_on problems printed, want %d:\n%s", got, ShownAlike, text)
	}
	if got := shownAs("retires"); got != ShownAlike {
		t.Errorf("%d retires problems printed, want %d (after the others):\n%s", got, ShownAlike, text)
	}
	if !strings.Contains(text, "many.yaml:608:5: unknown key \"retires\"") {
		t.Errorf("the third retires (line 608) not printed:\n%s", text)
	}
	if got := strings.Count(text, "\thint: known keys"); got != 1 {
		t.Errorf("the known keys' hint printed %d times, want once:\n%s", got, text)
	}
	if got := strings.Count(text, "\thint: did you mean \"retries\"?"); got != 1 {
		t.Errorf("the retries hint printed %d times, want once:\n%s", got, text)
	}
	want := `... and 499 more problems: unknown key "depends_on" (497), unknown key "retires" (2) ('cairn validate --all' lists every one)`
	if last := lines[len(lines)-1]; last != want {
		t.Errorf("last line\n%s\nwant\n%s", last, want)
	}
	all := list.Format(0)
	if got := strings.Count(all, "many.yaml:"); got != 505 {
		t.Errorf("Format(0) printed %d problems, want 505", got)
	}
	if strings.Contains(all, "more problems") {
		t.Error("Format(0) counts problems it left out")
	}
	if short := list[:3].Error(); strings.Contains(short, "more problems") || strings.Count(short, "many.yaml:") != 3 {
		t.Errorf("three problems: %s", short)
	}

	// Many kinds: ShownProblems in all, the rest counted by kind.
	var kinds ErrorList
	for i := range 30 {
		kinds = append(kinds, &Error{File: "k.yaml", Line: i + 1, Col: 1, Msg: fmt.Sprintf("problem %02d", i)})
	}
	text = kinds.Error()
	if got := strings.Count(text, "k.yaml:"); got != ShownProblems {
		t.Errorf("%d problems printed, want %d", got, ShownProblems)
	}
	if !strings.HasSuffix(text, "\n... and 10 more problems: problem 20 (1), problem 21 (1), problem 22 (1), 7 others ('cairn validate --all' lists every one)") {
		t.Errorf("many kinds:\n%s", text)
	}
}
