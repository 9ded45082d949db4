package workflows

import (
	"encoding/json"
	"strings"
	"testing"
)

// FuzzExpr feeds arbitrary text to the `when:` language and to `${{ }}`
// templates: parsing never panics and reports an error with an offset
// inside the text; an expression that parses prints in a normal form that
// parses back to the same normal form; evaluation against any output value
// (valid JSON or not) never panics; a template resolves or fails, never
// panics.
func FuzzExpr(f *testing.F) {
	for _, s := range []string{
		"", "true", "!params.on", "params.seed == 42 && tasks.train.outputs.score >= 0.9",
		"${{ tasks.train.outputs.passed }}", "(params.name != 'churn') || 1 < 2.5e3",
		`"it''s" == 'it''s'`, "${{ params.tags }} == null", "tasks.a.outputs.b <= -1",
		"((((true))))", "1 < 'a'", "${{ ${{ x }} }}", "params.", "'unterminated", "&& ||",
	} {
		f.Add(s, "0.93")
		f.Add(s, `{"a": [1, "x", null]}`)
	}
	f.Add("tasks.train.outputs.score > 1e308", "1e309")
	f.Add("tasks.train.outputs.x == 'é'", "\"\\ud800\"")
	f.Fuzz(func(t *testing.T, src, output string) {
		n, perr := parseExpr(src)
		if perr != nil {
			if perr.msg == "" || perr.off < 0 || perr.off > len(src) {
				t.Fatalf("parse %q: error %+v", src, perr)
			}
		} else {
			norm := formatExpr(n)
			again, perr := parseExpr(norm)
			if perr != nil {
				t.Fatalf("normal form %q of %q does not parse: %s", norm, src, perr.msg)
			}
			if got := formatExpr(again); got != norm {
				t.Fatalf("normal form of %q is %q, which prints as %q", src, norm, got)
			}
			sc := fuzzScope{output: output}
			v, err := eval(n, sc)
			if err == nil {
				if _, cerr := condition(n, v); (cerr == nil) != (v == true || v == false) {
					t.Fatalf("condition of %q's value %v: %v", src, v, cerr)
				}
			}
			task := &Task{ID: "x", When: src}
			_, _ = task.EvalWhen(sc)
		}
		task := &Task{ID: "x", With: map[string]any{"k": src, "l": []any{src, map[string]any{"m": src}}}}
		if raw, err := task.ResolveWith(fuzzScope{output: output}); err == nil && !json.Valid(raw) {
			t.Fatalf("template %q resolved to invalid JSON %q", src, raw)
		}
	})
}

// fuzzScope answers every param and output reference with the same value.
type fuzzScope struct{ output string }

func (s fuzzScope) Param(name string) (any, bool) {
	var v any
	if err := json.Unmarshal([]byte(s.output), &v); err != nil {
		return s.output, !strings.HasPrefix(name, "missing")
	}
	return v, !strings.HasPrefix(name, "missing")
}

// Output is the output as JSON; text that is not JSON is a JSON string,
// as the store only ever holds valid JSON.
func (s fuzzScope) Output(task, name string) (json.RawMessage, bool) {
	if json.Valid([]byte(s.output)) {
		return json.RawMessage(s.output), task != "missing"
	}
	b, _ := json.Marshal(s.output)
	return b, task != "missing"
}

func (s fuzzScope) Meta(key string) (string, bool) { return s.output, key != "run.id" }
