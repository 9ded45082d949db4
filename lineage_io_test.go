package cairn

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestEndedIO(t *testing.T) {
	ref := func(c string) ArtifactRef { return ArtifactRef{Digest: "sha256:" + strings.Repeat(c, 64), Size: 1} }
	in := map[string]ArtifactRef{"train": ref("a"), "data": ref("b")}
	read := map[string]ArtifactRef{"model": ref("c"), "data": ref("d")}
	out := map[string]json.RawMessage{"rows": json.RawMessage("3"), "note": json.RawMessage(`{"digest":"not one"}`),
		"model": ref("e").JSON(), "data": ref("f").JSON()}
	want := []AttemptIO{{LineageIn, "data", ref("b")}, {LineageIn, "train", ref("a")}, {LineageIn, "model", ref("c")},
		{LineageOut, "data", ref("f")}, {LineageOut, "model", ref("e")}}
	if got := EndedIO(true, in, read, out); !reflect.DeepEqual(got, want) {
		t.Fatalf("a success:\n got %v\nwant %v", got, want)
	}
	// A failure records what it was given, nothing it read or wrote.
	if got := EndedIO(false, in, read, out); !reflect.DeepEqual(got, want[:2]) {
		t.Fatalf("a failure: %v", got)
	}
	if got := EndedIO(true, nil, nil, nil); len(got) != 0 {
		t.Fatalf("nothing read or written: %v", got)
	}
}
