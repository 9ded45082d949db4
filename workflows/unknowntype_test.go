package workflows

import (
	"errors"
	"testing"
)

// TestErrUnknownType: the problem naming a type the Types do not know has
// ErrUnknownType as its cause — what tells the command line that a plugin
// might provide it — and no other problem has.
func TestErrUnknownType(t *testing.T) {
	for _, c := range []struct {
		name, src string
		unknown   bool
	}{
		{"unknown type", "name: x\ntasks:\n  - id: a\n    type: kmeans\n", true},
		{"unknown type among other problems", "name: x\ntasks:\n  - id: a\n    type: kmeans\n  - id: b\n    type: noop\n    nedds: [a]\n", true},
		{"misspelt key", "name: x\ntasks:\n  - id: a\n    type: noop\n    nedds: []\n", false},
		{"YAML syntax", "name: x\ntasks:\n  - id: a\n    type: [noop\n", false},
		{"cycle", "name: x\ntasks:\n  - id: a\n    type: noop\n    needs: [b]\n  - id: b\n    type: noop\n    needs: [a]\n", false},
		{"no type", "name: x\ntasks:\n  - id: a\n", false},
	} {
		_, err := Parse("x.yaml", []byte(c.src), opts())
		if err == nil {
			t.Errorf("%s: parsed", c.name)
			continue
		}
		var list ErrorList
		if !errors.As(err, &list) {
			t.Errorf("%s: %T, not an ErrorList: %v", c.name, err, err)
		}
		if got := errors.Is(err, ErrUnknownType); got != c.unknown {
			t.Errorf("%s: errors.Is(err, ErrUnknownType) = %v, want %v:\n%v", c.name, got, c.unknown, err)
		}
		for _, e := range list {
			if errors.Is(e, ErrUnknownType) != (e.Msg == `unknown task type "kmeans"`) {
				t.Errorf("%s: problem %q has cause %v", c.name, e.Msg, e.Err)
			}
		}
	}
}
