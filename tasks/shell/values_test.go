package shell_test

import (
	"strings"
	"testing"

	"github.com/cairnml/cairn/tasks/shell"
	"github.com/cairnml/cairn/tasks/tasktest"
)

// values: files of JSON read back as value outputs, compacted; a file
// that is missing, not JSON, over the limit or a link fails the attempt
// for good; a name may not be both a file output and a value.
func TestValues(t *testing.T) {
	outputIs := func(name, want string) func(*testing.T, tasktest.Attempt) {
		return func(t *testing.T, a tasktest.Attempt) {
			t.Helper()
			if got := string(a.Result.Outputs[name]); got != want {
				t.Errorf("output %s = %s, want %s", name, got, want)
			}
		}
	}
	errHas := func(want string) func(*testing.T, tasktest.Attempt) {
		return func(t *testing.T, a tasktest.Attempt) {
			t.Helper()
			if a.Err == nil || !strings.Contains(a.Err.Error(), want) {
				t.Errorf("err = %v, want it to say %q", a.Err, want)
			}
		}
	}
	tasktest.Run(t, shell.New(),
		tasktest.Case{Name: "a list", Params: map[string]any{
			"script": `printf '[ "a", 2,\n {"k": true} ]\n' > "$CAIRN_VALUE_ITEMS"`,
			"values": map[string]any{"items": "out/items.json"},
		}, Check: outputIs("items", `["a",2,{"k":true}]`)},
		tasktest.Case{Name: "beside a file output", Params: map[string]any{
			"script":  `echo 0.93 > score.json; echo x > model.bin`,
			"values":  map[string]any{"score": "score.json"},
			"outputs": map[string]any{"model": "model.bin"},
		}, Check: outputIs("score", `0.93`)},
		tasktest.Case{Name: "missing", Params: map[string]any{
			"script": "true", "values": map[string]any{"items": "items.json"},
		}, Want: tasktest.FailsPermanent, Check: errHas("declared value items: file items.json does not exist")},
		tasktest.Case{Name: "not JSON", Params: map[string]any{
			"script": "echo '[1, 2' > items.json", "values": map[string]any{"items": "items.json"},
		}, Want: tasktest.FailsPermanent, Check: errHas("does not hold one JSON value")},
		tasktest.Case{Name: "two values", Params: map[string]any{
			"script": "echo '1 2' > items.json", "values": map[string]any{"items": "items.json"},
		}, Want: tasktest.FailsPermanent, Check: errHas("does not hold one JSON value")},
		tasktest.Case{Name: "empty", Params: map[string]any{
			"script": ": > items.json", "values": map[string]any{"items": "items.json"},
		}, Want: tasktest.FailsPermanent, Check: errHas("does not hold one JSON value")},
		tasktest.Case{Name: "over 1 MiB", Params: map[string]any{
			"script": `head -c 1100000 /dev/zero | tr '\0' 1 > items.json`, "values": map[string]any{"items": "items.json"},
		}, Want: tasktest.FailsPermanent, Check: errHas("over 1048576 bytes")},
		tasktest.Case{Name: "not UTF-8", Params: map[string]any{
			"script": `printf '"a\377b"' > a.json`, "values": map[string]any{"a": "a.json"},
		}, Want: tasktest.FailsPermanent, Check: errHas("a.json is not valid UTF-8 (byte 0xFF at offset 2)")},
		tasktest.Case{Name: "a key twice", Params: map[string]any{
			"script": `printf '{\n "a": 1,\n "b": {"c": 1, "c": 2}}' > d.json`, "values": map[string]any{"d": "d.json"},
		}, Want: tasktest.FailsPermanent, Check: errHas(`d.json, line 3, offset 26: b: key "c" given twice`)},
		tasktest.Case{Name: "a lone surrogate", Params: map[string]any{
			"script": `printf '%s' '"a\ud800b"' > s.json`, "values": map[string]any{"s": "s.json"},
		}, Want: tasktest.FailsPermanent, Check: errHas(`s.json, line 1, offset 2: the string escape \ud800 at byte 2 is half of a UTF-16 surrogate pair`)},
		tasktest.Case{Name: "a surrogate pair", Params: map[string]any{
			"script": `printf '%s' '{"e":"\ud83d\ude00","a":{"e":1}}' > s.json`, "values": map[string]any{"s": "s.json"},
		}, Check: outputIs("s", `{"e":"\ud83d\ude00","a":{"e":1}}`)},
		tasktest.Case{Name: "a link", Params: map[string]any{
			"script": "ln -s /etc/passwd items.json", "values": map[string]any{"items": "items.json"},
		}, Want: tasktest.FailsPermanent, Check: errHas("symbolic link")},
	)
	for _, tc := range []struct {
		params map[string]any
		want   string
	}{
		{map[string]any{"script": "true", "values": map[string]any{"x": "x.json"}, "outputs": map[string]any{"x": "x.bin"}}, "x is also in outputs"},
		{map[string]any{"script": "true", "values": map[string]any{"x": "../x.json"}}, "must be relative and stay inside workdir"},
		{map[string]any{"script": "true", "values": map[string]any{"exit_code": "x.json"}}, "exit_code is the task's own output"},
		{map[string]any{"script": "true", "values": []any{"x.json"}}, "want a map of output names to file paths"},
	} {
		errs := shell.New().ValidateParams(tc.params)
		if len(errs) != 1 || errs[0].Key != "values" || !strings.Contains(errs[0].Msg, tc.want) {
			t.Errorf("ValidateParams(%v) = %v, want one error on values saying %q", tc.params, errs, tc.want)
		}
	}
}
