package workflows

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// Champion/challenger: a when: compares a key of two tasks' object
// outputs (evaluate's metrics), tasks.ID.outputs.NAME.KEY.
func TestOutputKeyRefs(t *testing.T) {
	sc := fakeScope{outputs: map[string]string{
		"challenger.metrics": `{"accuracy": 0.91, "rmse": 2, "nested": {"deep": 1e-3}}`,
		"champion.metrics":   `{"accuracy": 0.885, "rmse": 2.5}`,
		"champion.label":     `"x"`,
	}}
	for _, tc := range []struct {
		expr string
		want bool
	}{
		{"${{ tasks.challenger.outputs.metrics.accuracy }} > ${{ tasks.champion.outputs.metrics.accuracy }}", true},
		{"tasks.challenger.outputs.metrics.rmse < tasks.champion.outputs.metrics.rmse", true},
		{"tasks.challenger.outputs.metrics.accuracy <= 0.9", false},
		{"tasks.challenger.outputs.metrics.nested.deep == 0.001", true},
		{"tasks.challenger.outputs.metrics.nested == tasks.challenger.outputs.metrics.nested", true},
	} {
		got, err := (&Task{ID: "deploy", When: tc.expr}).EvalWhen(sc)
		if err != nil || got != tc.want {
			t.Errorf("%q = %v, %v; want %v", tc.expr, got, err, tc.want)
		}
	}
	for expr, want := range map[string]string{
		"tasks.champion.outputs.metrics.f1 > 0":          `tasks.champion.outputs.metrics has no key "f1" (it has accuracy, rmse)`,
		"tasks.champion.outputs.label.x == 1":            `tasks.champion.outputs.label is string, not an object, so it has no key "x"`,
		"tasks.challenger.outputs.metrics.rmse.x == 1":   `tasks.challenger.outputs.metrics.rmse is number, not an object`,
		"tasks.challenger.outputs.missing.accuracy == 1": `task "challenger" has no output "missing"`,
	} {
		_, err := (&Task{ID: "deploy", When: expr}).EvalWhen(sc)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", expr, err, want)
		}
	}
	// Under with:, a key is a value like any other.
	got, err := (&Task{ID: "x", With: map[string]any{"acc": "${{ tasks.champion.outputs.metrics.accuracy }}",
		"msg": "was ${{ tasks.champion.outputs.metrics.rmse }}"}}).ResolveWith(sc)
	if err != nil || string(got) != `{"acc":0.885,"msg":"was 2.5"}` {
		t.Errorf("with: %s, %v", got, err)
	}
}

// A key reference is checked like the output it reads (the task and the
// output must exist) and is refused as an input; its canonical form keeps
// the keys.
func TestOutputKeyRefsChecked(t *testing.T) {
	good := `name: w
tasks:
  - {id: t, type: train, with: {model: m}, inputs: {train: "${{ tasks.s.outputs.data }}"}}
  - id: s
    type: shell
    with: {argv: [x], outputs: {data: out.csv}}
  - id: d
    type: noop
    when: ${{ tasks.t.outputs.score.best }} > ${{ tasks.t.outputs.score.base }}
`
	w, err := Parse("w.yaml", []byte(good), opts())
	if err != nil {
		t.Fatal(err)
	}
	if got := w.Tasks[2].When; !strings.Contains(got, "${{ tasks.t.outputs.score.best }} > ${{ tasks.t.outputs.score.base }}") {
		t.Errorf("canonical when: %q", got)
	}
	if deps := w.Upstream("d"); len(deps) != 1 || deps[0] != "t" {
		t.Errorf("d needs %v, want [t]", deps)
	}
	var canon map[string]any
	if err := json.Unmarshal(w.Canonical(), &canon); err != nil {
		t.Fatal(err)
	}
	for src, want := range map[string]string{
		`  - {id: d, type: noop, when: "${{ tasks.t.outputs.scor.best }} > 1"}`:                              `task "t" (type "train") has no output "scor"`,
		`  - {id: d, type: train, with: {model: m}, inputs: {train: "${{ tasks.t.outputs.model.digest }}"}}`: `names a key inside output "model", so it cannot be an input`,
		`  - {id: d, type: noop, when: "${{ tasks.t.outputs.score. }} > 1"}`:                                 `malformed reference`,
	} {
		_, err := Parse("w.yaml", []byte(good[:strings.Index(good, "  - id: d")]+src+"\n"), opts())
		var list ErrorList
		if !errors.As(err, &list) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", src, err, want)
		}
	}
}
