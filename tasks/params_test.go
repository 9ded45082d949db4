package tasks

import (
	"encoding/json"
	"testing"

	"github.com/cairnml/cairn"
)

// TestDecodeParams: params without keys leave a struct as the decoder
// would (its fields as they were), without the decoder; anything else is
// decoded as before — an empty object into a map is an empty map, not
// nil; unknown keys and a nil pointer are refused.
func TestDecodeParams(t *testing.T) {
	type p struct {
		N int    `json:"n"`
		S string `json:"s"`
	}
	for _, raw := range []string{"", "{}", " {} ", `{"n": 0}`} {
		got, want := p{N: 7, S: "kept"}, p{N: 7, S: "kept"}
		if raw == `{"n": 0}` {
			want.N = 0
		}
		if err := (Request{Params: json.RawMessage(raw)}).DecodeParams(&got); err != nil {
			t.Fatalf("%q: %v", raw, err)
		}
		if got != want {
			t.Errorf("%q: decoded %+v, want %+v", raw, got, want)
		}
	}
	var m map[string]any
	if err := (Request{Params: json.RawMessage("{}")}).DecodeParams(&m); err != nil || m == nil || len(m) != 0 {
		t.Errorf("{} into a map: %v, %v; want an empty map", m, err)
	}
	err := (Request{TaskID: "x", Params: json.RawMessage(`{"nope": 1}`)}).DecodeParams(&p{})
	if err == nil || cairn.IsRetryable(err) {
		t.Errorf("an unknown key: %v, want a permanent error", err)
	}
	var nilp *p
	if err := (Request{Params: json.RawMessage("{}")}).DecodeParams(nilp); err == nil {
		t.Error("{} into a nil pointer: no error")
	}
	if err := (Request{Params: json.RawMessage("{}")}).DecodeParams(p{}); err == nil {
		t.Error("{} into a struct value (not a pointer): no error")
	}
}
