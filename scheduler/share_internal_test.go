package scheduler

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"unsafe"

	"github.com/cairnml/cairn"
)

// share leaves a task run read back from the store equal to what it was,
// its values that equal the snapshot's now the snapshot's own memory, and
// a nil map never replaced by an empty one nor the other way round.
func TestShareKeepsValuesAndSharesMemory(t *testing.T) {
	clone := func(s string) string { return strings.Clone(s) }
	old := &cairn.TaskRun{RunID: "01run", TaskID: "t1", Type: "noop", Params: json.RawMessage(`{"a":1}`),
		Inputs: map[string]cairn.ArtifactRef{}, Labels: map[string]string{"gpu": "true"}, State: cairn.TaskReady, Version: 2}
	read := &cairn.TaskRun{RunID: clone("01run"), TaskID: clone("t1"), Type: clone("noop"), Params: json.RawMessage(`{"a":1}`),
		Inputs: map[string]cairn.ArtifactRef{}, Labels: map[string]string{"gpu": "true"}, State: cairn.TaskSucceeded, Version: 4,
		Error: "", Outputs: map[string]json.RawMessage{"x": json.RawMessage(`1`)}}
	want := *read
	share(read, old)
	if !reflect.DeepEqual(*read, want) {
		t.Fatalf("share changed the task run:\n%+v\nwant\n%+v", *read, want)
	}
	same := func(a, b string) bool { return unsafe.StringData(a) == unsafe.StringData(b) }
	if !same(read.RunID, old.RunID) || !same(read.TaskID, old.TaskID) || !same(read.Type, old.Type) ||
		&read.Params[0] != &old.Params[0] || reflect.ValueOf(read.Inputs).Pointer() != reflect.ValueOf(old.Inputs).Pointer() ||
		reflect.ValueOf(read.Labels).Pointer() != reflect.ValueOf(old.Labels).Pointer() {
		t.Errorf("equal values not shared with the snapshot's")
	}

	// A value that differs, or a nil map against an empty one, stays the
	// read one.
	read = &cairn.TaskRun{RunID: "01run", TaskID: "t1", Type: "shell", Params: json.RawMessage(`{"a":2}`)}
	share(read, old)
	if read.Type != "shell" || string(read.Params) != `{"a":2}` || read.Inputs != nil || read.Labels != nil {
		t.Errorf("share replaced values that differ: %+v", *read)
	}
}
