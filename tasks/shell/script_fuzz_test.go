package shell

import (
	"strings"
	"testing"
)

// The lexer never panics, and gives every reference of a script it
// accepts exactly one context that expands it.
func FuzzRefContexts(f *testing.F) {
	for _, s := range []string{
		"echo \"[\x00]\"", "echo '\x00'", "cat <<EOF\n\x00\nEOF\n", "cat <<'E'\n\x00\nE", "$(( \x00 ))",
		"${X:-\x00}", "\"${X:-\x00}\"", "`echo \x00`", "\"`echo \x00`\"", "# \x00\n\x00", "\\\x00", "$\x00",
		"case \x00 in a) \x00;; esac", "<<\x00", "$'\x00'", "${\x00}", "\"$(\x00)\"", "((\x00))", "<<-E\n\t\x00\n\tE\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ctxs, err := refContexts(s)
		if err != nil {
			return
		}
		if len(ctxs) != strings.Count(s, string(refMark)) {
			t.Fatalf("%d contexts for %d references", len(ctxs), strings.Count(s, string(refMark)))
		}
		for _, c := range ctxs {
			if _, _, refused := refusal(c); refused || c == 0 {
				t.Fatalf("accepted a reference in context %d", c)
			}
		}
	})
}
