package workflows

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/cairnml/cairn"
)

// fakeScope resolves params from a map and outputs from "task.name" keys.
type fakeScope struct {
	params  map[string]any
	outputs map[string]string
}

func (s fakeScope) Param(name string) (any, bool) {
	v, ok := s.params[name]
	return v, ok
}

func (s fakeScope) Meta(key string) (string, bool) {
	v, ok := map[string]string{"workflow.dir": "/srv/flows", "workflow.name": "churn", "run.id": "01abc"}[key]
	return v, ok
}

func (s fakeScope) Output(task, name string) (json.RawMessage, bool) {
	v, ok := s.outputs[task+"."+name]
	return json.RawMessage(v), ok
}

var scope = fakeScope{
	params: map[string]any{"seed": 42, "lr": 0.5, "name": "churn", "on": true, "tags": []any{"a", "b"}},
	outputs: map[string]string{
		"train.score":  "0.93",
		"train.best":   `{"depth": 3, "l2": 0.1}`,
		"train.model":  `{"digest":"sha256:` + strings.Repeat("ab", 32) + `","size":12}`,
		"train.label":  `"good"`,
		"train.passed": "true",
		"train.zero":   "0",
		"train.null":   "null",
	},
}

func TestResolveWith(t *testing.T) {
	task := &Task{ID: "x", With: map[string]any{
		"seed":  "${{ params.seed }}",
		"seed2": "${{params.seed}}",
		"best":  "${{ tasks.train.outputs.best }}",
		"msg":   "seed=${{ params.seed }} best=${{ tasks.train.outputs.best }} label=${{ tasks.train.outputs.label }}",
		"list":  []any{"${{ params.tags }}", 1, map[string]any{"n": "${{ params.name }}"}},
		"lit":   "costs $${{ 5 }}",
		"plain": 3.5,
		"src":   "file://${{ workflow.dir }}/data.csv",
		"meta":  "${{ workflow.name }}-${{ run.id }}",
	}}
	got, err := task.ResolveWith(scope)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"best":{"depth":3,"l2":0.1},"list":[["a","b"],1,{"n":"churn"}],"lit":"costs ${{ 5 }}",` +
		`"meta":"churn-01abc","msg":"seed=42 best={\"depth\":3,\"l2\":0.1} label=good","plain":3.5,"seed":42,"seed2":42,` +
		`"src":"file:///srv/flows/data.csv"}`
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if got, err := (&Task{}).ResolveWith(scope); err != nil || string(got) != "{}" {
		t.Errorf("empty with: %s, %v", got, err)
	}
	for _, bad := range []string{"${{ params.nope }}", "${{ tasks.train.outputs.nope }}", "${{ tasks.other.outputs.x }}", "${{ params.seed"} {
		if _, err := (&Task{ID: "x", With: map[string]any{"k": []any{bad}}}).ResolveWith(scope); err == nil {
			t.Errorf("%s resolved", bad)
		}
	}
}

func TestResolveInputs(t *testing.T) {
	task := &Task{ID: "x", Inputs: map[string]string{"model": "${{ tasks.train.outputs.model }}"}}
	got, err := task.ResolveInputs(scope)
	if err != nil {
		t.Fatal(err)
	}
	if want := (cairn.ArtifactRef{Digest: "sha256:" + strings.Repeat("ab", 32), Size: 12}); got["model"] != want {
		t.Errorf("got %+v", got)
	}
	for _, bad := range []string{"${{ tasks.train.outputs.score }}", "${{ tasks.train.outputs.best }}", "x ${{ tasks.train.outputs.model }}", "${{ tasks.train.outputs.gone }}"} {
		if _, err := (&Task{ID: "x", Inputs: map[string]string{"in": bad}}).ResolveInputs(scope); err == nil {
			t.Errorf("%s resolved to an artifact", bad)
		}
	}
}

func TestEvalWhen(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want bool
	}{
		{"", true},
		{"true", true},
		{"false", false},
		{"${{ tasks.train.outputs.passed }}", true},
		{"tasks.train.outputs.score >= 0.9", true},
		{"${{ tasks.train.outputs.score }} < 0.9", false},
		{"${{ tasks.train.outputs.score >= 0.95 }}", false},
		{"params.seed == 42", true},
		{"params.seed == 42.0", true},
		{"params.name == 'churn'", true},
		{`params.name != "churn"`, false},
		{"tasks.train.outputs.label > 'bad'", true},
		{"false && false || true", true},   // && binds tighter than ||
		{"true || true && false", true},    // so this is true || (true && false)
		{"(true || true) && false", false}, // parentheses win
		{"!false && false", false},         // ! binds tightest
		{"!(false && false)", true},
		{"1 < 2 == true", true}, // comparison before equality
		{"tasks.train.outputs.best == tasks.train.outputs.best", true},
		{"false && tasks.missing.outputs.x", false}, // short circuit: never resolved
		{"'it''s' == \"it's\"", true},
	} {
		got, err := (&Task{ID: "x", When: tc.expr}).EvalWhen(scope)
		if err != nil || got != tc.want {
			t.Errorf("%q = %v, %v; want %v", tc.expr, got, err, tc.want)
		}
	}
	// A value where a condition is wanted must be a boolean: anything else
	// fails, naming it, rather than a guess at its truth (trial finding 18).
	for expr, says := range map[string]string{
		"tasks.train.outputs.zero":              "${{ tasks.train.outputs.zero }} is a number 0, not true or false",
		"tasks.train.outputs.null":              "${{ tasks.train.outputs.null }} is null, not true or false",
		"params.name":                           `${{ params.name }} is a string "churn", not true or false`,
		"''":                                    `'' is a string "", not true or false`,
		"params.tags":                           `${{ params.tags }} is a list ["a","b"], not true or false`,
		"!params.name":                          `${{ params.name }} is a string "churn"`,
		"true && params.seed":                   "${{ params.seed }} is a number 42",
		"false || tasks.train.outputs.zero":     "${{ tasks.train.outputs.zero }} is a number 0",
		"params.name == 'churn' && params.name": `${{ params.name }} is a string "churn"`,
	} {
		got, err := (&Task{ID: "x", When: expr}).EvalWhen(scope)
		if err == nil || got || !strings.Contains(err.Error(), says) || !strings.Contains(err.Error(), "a condition must be a boolean") {
			t.Errorf("%q = %v, %v; want an error saying %s", expr, got, err, says)
		}
	}
	for _, bad := range []string{"params.name < 1", "tasks.gone.outputs.x", "params.seed ==", "(true", "a.b"} {
		if _, err := (&Task{ID: "x", When: bad}).EvalWhen(scope); err == nil {
			t.Errorf("%q evaluated without error", bad)
		}
	}
}

func TestPrepare(t *testing.T) {
	src := `name: p
params: {go: true, n: 3}
tasks:
  - id: a
    type: noop
  - id: b
    type: noop
    when: params.go && params.n > 5
  - id: c
    type: shell
    with: {argv: [echo], env: {N: "${{ params.n }}"}}
`
	w, err := Parse("p.yaml", []byte(src), opts())
	if err != nil {
		t.Fatal(err)
	}
	sc := fakeScope{params: map[string]any{"go": true, "n": 3}}
	if p, err := w.Prepare("b", sc); err != nil || p.Run {
		t.Errorf("b: %+v, %v; want skipped", p, err)
	}
	if p, err := w.Prepare("c", sc); err != nil || !p.Run || string(p.Params) != `{"argv":["echo"],"env":{"N":3}}` {
		t.Errorf("c: %+v, %v", p, err)
	}
	if _, err := w.Prepare("zz", sc); err == nil {
		t.Error("unknown task prepared")
	}
}

func TestBindParams(t *testing.T) {
	src := `name: p
params:
  seed: 42
  lr: {type: float, default: 0.1}
  model: {type: string}
  debug: {type: bool, required: false}
  cols: {type: list, default: [a]}
  opts: {type: map, default: {}}
tasks: [{id: a, type: noop}]
`
	w, err := Parse("p.yaml", []byte(src), opts())
	if err != nil {
		t.Fatal(err)
	}
	got, err := w.BindParams(map[string]string{"model": "rf", "lr": "1", "cols": "[x, y]", "opts": `{"k": 1}`})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"seed": 42, "lr": 1.0, "model": "rf", "debug": false,
		"cols": []any{"x", "y"}, "opts": map[string]any{"k": 1}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %#v\nwant %#v", got, want)
	}
	_, err = w.BindParams(map[string]string{"sed": "1", "lr": "fast", "cols": "{a: 1}", "debug": "maybe"})
	var pe *ParamsError
	if !errors.As(err, &pe) {
		t.Fatalf("got %v", err)
	}
	wantProblems := []string{
		`param "cols": want a list, got "{a: 1}"`,
		`param "debug": want true or false, got "maybe"`,
		`param "lr": want a float, got "fast"`,
		`unknown param "sed" (did you mean "seed"?)`,
		`param "model" (string) is required: pass -p model=VALUE`,
	}
	if !reflect.DeepEqual(pe.Problems, wantProblems) {
		t.Errorf("problems:\n%s", strings.Join(pe.Problems, "\n"))
	}
}

// TestResolveWithStatic: a parsed task whose with: holds no reference
// answers the params it made once, whatever the scope, each call a copy of
// its own; one with a reference — an escaped one included — or a for_each
// item's is resolved against each scope.
func TestResolveWithStatic(t *testing.T) {
	src := `name: s
params:
  seed: {type: int, default: 1}
tasks:
  - id: fixed
    type: shell
    with: {argv: [/bin/echo, "a b", {k: [1, 2.5, true, null]}], env: {X: "1"}}
  - id: ref
    type: shell
    with: {argv: [/bin/echo, "${{ params.seed }}"]}
  - id: escaped
    type: shell
    with: {argv: [/bin/echo, "$${{ params.seed }}"]}
  - id: items
    type: shell
    for_each: [a, b]
    with: {argv: [/bin/echo, "${{ item }}"]}
`
	w, err := Parse("s.yaml", []byte(src), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		id     string
		static bool
	}{{"fixed", true}, {"ref", false}, {"escaped", false}, {"items", false}} {
		task := w.Task(c.id)
		if (task.static != nil) != c.static {
			t.Errorf("%s: kept static: %v, want %v", c.id, task.static != nil, c.static)
		}
		// What it answers is what resolving it answers.
		made, merr := task.resolveWith(scope)
		got, err := task.ResolveWith(scope)
		if string(got) != string(made) || (err == nil) != (merr == nil) {
			t.Errorf("%s: ResolveWith %s, %v; resolved %s, %v", c.id, got, err, made, merr)
		}
	}
	fixed := w.Task("fixed")
	a, _ := fixed.ResolveWith(scope)
	want := string(a)
	a[0] = 'x'
	b, err := fixed.ResolveWith(fakeScope{})
	if err != nil || string(b) != want {
		t.Errorf("fixed, after its first answer was changed and in another scope: %s, %v; want %s", b, err, want)
	}
	ref := w.Task("ref")
	one, err1 := ref.ResolveWith(fakeScope{params: map[string]any{"seed": 1}})
	two, err2 := ref.ResolveWith(fakeScope{params: map[string]any{"seed": 2}})
	if err1 != nil || err2 != nil || string(one) == string(two) {
		t.Errorf("ref in two scopes: %s, %v; %s, %v", one, err1, two, err2)
	}
}
