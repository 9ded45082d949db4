package jsoncheck

import (
	"encoding/json"
	"testing"
)

func TestLoneSurrogate(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int
	}{
		{`{"a":"b"}`, -1},
		{`{"a":"\ud83d\ude00"}`, -1}, // a pair: 😀
		{`{"a":"\u00e9\n\\ud800"}`, -1},
		{`"\\\ud800"`, 3},
		{`{"a":"\ud800"}`, 6},
		{`{"a":"\ud800x"}`, 6},
		{`{"a":"\ud800\u0041"}`, 6},
		{`{"a":"\udc00\ud800"}`, 6},
		{`{"a":"ok\uDBFF"}`, 8},
		{`["\ud83d\ude00\ude00"]`, 14},
	} {
		if got := LoneSurrogate([]byte(c.in)); got != c.want {
			t.Errorf("LoneSurrogate(%s) = %d, want %d", c.in, got, c.want)
		}
		// What encoding/json does of it: a pair decodes to a rune of its
		// own, a lone half to U+FFFD.
		var v any
		if err := json.Unmarshal([]byte(c.in), &v); err != nil {
			t.Fatalf("%s: %v", c.in, err)
		}
	}
}

func TestCheck(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`{"params":{"seed":1},"no_cache":true}`, ""},
		{`{"params":{"seed":1},"params":{"seed":2}}`, `key "params" given twice: give each key once`},
		{`{"params":{"seed":1,"seed":2}}`, `params: key "seed" given twice: give each key once`},
		{`{"params":{"m":[{"a":1},{"a":2,"a":3}]}}`, `params.m[1]: key "a" given twice: give each key once`},
		{`{"params":{"d":"\ud800"}}`, `the string escape \ud800 at byte 16 is half of a UTF-16 surrogate pair: JSON text must be valid Unicode (send the character itself, or both halves of its pair)`},
		{`{"a":1,"b":{"a":2}}`, ""},
		{`not json`, ""},
		{`{"a":1,"a"`, `key "a" given twice: give each key once`},
	} {
		got := ""
		if err := Check([]byte(c.in)); err != nil {
			got = err.Error()
		}
		if got != c.want {
			t.Errorf("Check(%s) = %q, want %q", c.in, got, c.want)
		}
	}
}

// A Problem's Offset is where it is in the text: the opening quote of the
// key given the second time, or the backslash of the lone escape.
func TestCheckOffset(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int
	}{
		{`{"a":1,"a":2}`, 7},
		{"{\n  \"a\": 1,\n  \"a\" : 2\n}", 14},
		{`{"x\"y":1,"x\"y":2}`, 10},
		{`{"x\\":1,"x\\":2}`, 9},
		{`{"p":{"s":1,"s":2}}`, 12},
		{`{"a":"\ud800"}`, 6},
	} {
		err := Check([]byte(c.in))
		p, ok := err.(*Problem)
		if !ok {
			t.Errorf("Check(%s) = %v, want a *Problem", c.in, err)
			continue
		}
		if p.Offset != c.want {
			t.Errorf("Check(%s).Offset = %d, want %d (%q)", c.in, p.Offset, c.want, c.in[p.Offset:])
		}
	}
}
