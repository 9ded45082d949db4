package workflows

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/cairnml/cairn"
)

// Integers beyond 2^53 (and beyond int64 and uint64) are kept to the last
// digit: in params and with: values, in the canonical form and its digest,
// in templates and in when: comparisons (issue 15); through -p, up to
// 2^64-1, the most an int param holds.
func TestBigIntegersKeptExactly(t *testing.T) {
	src := `name: big
params:
  big: {type: int, default: 9007199254740993}
  huge: {type: list, default: [18446744073709551617, -18446744073709551617]}
tasks:
  - id: a
    type: shell
    with: {argv: [echo, 18446744073709551615], env: {N: 9007199254740993}}
  - id: b
    type: noop
    when: "params.big == 9007199254740992"
  - id: c
    type: noop
    when: "params.big > 9007199254740992"
`
	w, err := Parse("big.yaml", []byte(src), opts())
	if err != nil {
		t.Fatal(err)
	}
	c := string(w.Canonical())
	for _, digits := range []string{`"default":9007199254740993`, `[18446744073709551617,-18446744073709551617]`,
		`"echo",18446744073709551615`, `"N":9007199254740993`, `== 9007199254740992`} {
		if !strings.Contains(c, digits) {
			t.Errorf("canonical form lacks %s:\n%s", digits, c)
		}
	}
	again, err := Parse("big.json", w.Canonical(), opts())
	if err != nil || again.Digest != w.Digest {
		t.Fatalf("canonical form re-parses to %v, %v", again, err)
	}

	params, err := w.BindParams(map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	sc := fakeScope{params: params}
	if ok, err := w.Task("b").EvalWhen(sc); err != nil || ok {
		t.Errorf("9007199254740993 == 9007199254740992 is %v (%v), want false", ok, err)
	}
	if ok, err := w.Task("c").EvalWhen(sc); err != nil || !ok {
		t.Errorf("9007199254740993 > 9007199254740992 is %v (%v), want true", ok, err)
	}
	with, err := w.Task("a").ResolveWith(sc)
	if err != nil || !strings.Contains(string(with), `"echo",18446744073709551615`) || !strings.Contains(string(with), `"N":9007199254740993`) {
		t.Errorf("resolved with: %s, %v", with, err)
	}

	bound, err := w.BindParams(map[string]string{"big": "18446744073709551615"})
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := json.Marshal(bound["big"]); string(b) != "18446744073709551615" {
		t.Errorf("-p big=18446744073709551615 bound as %s", b)
	}
	// An int param holds a 64-bit integer (int64 or uint64): beyond, no
	// task could take it as one, and the run used to be made and fail at
	// task time with "got 1.8446744073709552e+19" (found by the trial).
	for _, v := range []string{"18446744073709551616", "-9223372036854775809", "99999999999999999999999", strings.Repeat("9", 300)} {
		_, err := w.BindParams(map[string]string{"big": v})
		if err == nil || !strings.Contains(err.Error(), "want an int from -9223372036854775808 to 18446744073709551615") {
			t.Errorf("-p big=%.30s: %v, want refused naming the range", v, err)
		}
	}
	for _, v := range []string{"-9223372036854775808", "+9223372036854775808", " 42 "} {
		if _, err := w.BindParams(map[string]string{"big": v}); err != nil {
			t.Errorf("-p big=%q: %v", v, err)
		}
	}
	if _, err := w.BindParams(map[string]string{"big": "1.5"}); err == nil {
		t.Error("-p big=1.5 bound to an int param")
	}
}

// A -p value that is not valid UTF-8 is refused, not altered (JSON would
// turn the bad bytes into U+FFFD) (issue 15).
func TestBindParamsRefusesInvalidUTF8(t *testing.T) {
	w, err := Parse("p.yaml", []byte("name: p\nparams:\n  name: {type: string, default: x}\n  tags: {type: list, default: []}\ntasks: [{id: a, type: noop}]\n"), opts())
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.BindParams(map[string]string{"name": "caf\xe9", "tags": "[\"\xff\"]"})
	var pe *ParamsError
	if !errors.As(err, &pe) || len(pe.Problems) != 2 {
		t.Fatalf("got %v, want two problems", err)
	}
	for _, p := range pe.Problems {
		if !strings.Contains(p, "not valid UTF-8") || !strings.Contains(p, "iconv") {
			t.Errorf("problem %q does not say the value is not UTF-8 and what to do", p)
		}
	}
	if got, err := w.BindParams(map[string]string{"name": "café"}); err != nil || got["name"] != "café" {
		t.Errorf("valid UTF-8: %v, %v", got, err)
	}
}

// A 300-digit integer, beyond every integer type and a float64's 17
// significant digits, is kept to the last digit too.
func TestLongIntegerKept(t *testing.T) {
	digits := "1" + strings.Repeat("0", 298) + "1"
	src := "name: h\nparams:\n  n: {type: list, default: [" + digits + "]}\ntasks: [{id: a, type: noop}]\n"
	w, err := Parse("h.yaml", []byte(src), opts())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(w.Canonical()), "["+digits+"]") {
		t.Fatalf("canonical form rounds the integer:\n%s", w.Canonical())
	}
}

// A plain number too large for a float64 (YAML reads 1e400 as a string)
// is refused as the number it is, wherever it is (a list's or a map's
// value included: it never becomes the text "1e400"); a quoted one is a
// string. So is one in -p's or the API's value of a list or map param.
func TestOutOfRangeNumberNamed(t *testing.T) {
	for src, want := range map[string]string{
		"name: x\nparams:\n  n: {type: int, default: 1e400}\ntasks:\n  - {id: a, type: noop}\n":       `x.yaml:3:27: param "n" default: number 1e400 out of range`,
		"name: x\nparams:\n  l: {type: list, default: [1e400]}\ntasks:\n  - {id: a, type: noop}\n":    `x.yaml:3:29: param "l" default: number 1e400 out of range`,
		"name: x\nparams:\n  m: {type: map, default: {a: -2e999}}\ntasks:\n  - {id: a, type: noop}\n": `x.yaml:3:31: param "m" default: number -2e999 out of range`,
		"name: x\nparams:\n  n: {type: int, default: \"1e400\"}\ntasks:\n  - {id: a, type: noop}\n":   `must be an int, not a string ("1e400")`,
		"name: x\ntasks:\n  - {id: a, type: shell, with: {script: 'true', env: {X: 1e400}}}\n":        `number 1e400 out of range`,
	} {
		_, err := Parse("x.yaml", []byte(src), opts())
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse: %v, want %q", err, want)
		}
	}
	for _, k := range []cairn.ParamKind{cairn.KindList, cairn.KindMap} {
		v := map[cairn.ParamKind]string{cairn.KindList: "[1, 1e400]", cairn.KindMap: `{"a": 1e400}`}[k]
		if got, err := parseParamValue(k, v); err == nil || !strings.Contains(err.Error(), "number 1e400 out of range") {
			t.Errorf("-p of a %s %s: %v, %v; want refused as out of range", k, v, got, err)
		}
	}
	if got, err := parseParamValue(cairn.KindList, `["1e400"]`); err != nil || got.([]any)[0] != "1e400" {
		t.Errorf("a quoted 1e400 in a list: %v, %v; want the string", got, err)
	}
}
