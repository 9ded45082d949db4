package tasks

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/cairnml/cairn"
)

func TestValues(t *testing.T) {
	if !IsRef("x ${{ params.a }}") || IsRef("plain") || IsRef(3) {
		t.Error("IsRef")
	}
	for _, c := range []struct {
		v    any
		f    float64
		ok   bool
		i    int64
		iok  bool
		seed uint64
		sok  bool
		desc string
	}{
		{3, 3, true, 3, true, 3, true, "3"},
		{-2.0, -2, true, -2, true, 0, false, "-2"},
		{2.5, 2.5, true, 0, false, 0, false, "2.5"},
		{json.Number("18446744073709551615"), 18446744073709551615, true, 0, false, 18446744073709551615, true, "1.8446744073709552e+19"},
		{json.Number("9007199254740993"), 9007199254740992, true, 9007199254740993, true, 9007199254740993, true, "9007199254740993"},
		{json.Number("1e3"), 1000, true, 1000, true, 1000, true, "1000"},
		{math.NaN(), 0, false, 0, false, 0, false, "NaN"},
		{math.Inf(1), 0, false, 0, false, 0, false, "+Inf"},
		{"7", 0, false, 0, false, 0, false, `"7"`},
		{nil, 0, false, 0, false, 0, false, "null"},
		{true, 0, false, 0, false, 0, false, "true"},
		{[]any{1}, 0, false, 0, false, 0, false, "a list"},
		{map[string]any{}, 0, false, 0, false, 0, false, "a map"},
	} {
		if f, ok := Number(c.v); ok != c.ok || (ok && f != c.f) {
			t.Errorf("Number(%#v) = %v, %v; want %v, %v", c.v, f, ok, c.f, c.ok)
		}
		if i, ok := Integer(c.v); ok != c.iok || (ok && i != c.i) {
			t.Errorf("Integer(%#v) = %v, %v; want %v, %v", c.v, i, ok, c.i, c.iok)
		}
		if s, ok := Seed(c.v); ok != c.sok || (ok && s != c.seed) {
			t.Errorf("Seed(%#v) = %v, %v; want %v, %v", c.v, s, ok, c.seed, c.sok)
		}
		if d := Describe(c.v); d != c.desc {
			t.Errorf("Describe(%#v) = %q, want %q", c.v, d, c.desc)
		}
	}
}

func TestDecodeMapAndParamsError(t *testing.T) {
	m, err := Request{TaskID: "t", Params: json.RawMessage(`{"seed": 9007199254740993, "a": "x"}`)}.DecodeMap("x")
	if err != nil || m["seed"] != json.Number("9007199254740993") || m["a"] != "x" {
		t.Errorf("DecodeMap = %v, %v", m, err)
	}
	if m, err := (Request{}).DecodeMap("x"); err != nil || len(m) != 0 {
		t.Errorf("empty params: %v, %v", m, err)
	}
	if _, err := (Request{TaskID: "t", Params: json.RawMessage(`[1]`)}).DecodeMap("x"); err == nil || cairn.IsRetryable(err) {
		t.Errorf("a list as params: %v, want a permanent error", err)
	}
	if ParamsError("x", "t", nil) != nil {
		t.Error("no errors gave an error")
	}
	err = ParamsError("x", "t", []ParamError{{Key: "k", Msg: "bad", Hint: "fix it"}, {Msg: "whole"}})
	if err == nil || cairn.IsRetryable(err) || err.Error() != "x t: params: k: bad (fix it); whole" {
		t.Errorf("ParamsError = %v", err)
	}
}

func TestPlural(t *testing.T) {
	for n, want := range map[int]string{0: "0 rows", 1: "1 row", 2: "2 rows", -1: "-1 rows"} {
		if got := Plural(n, "row"); got != want {
			t.Errorf("Plural(%d) = %q, want %q", n, got, want)
		}
	}
}
