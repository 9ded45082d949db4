package workflows

import (
	"regexp"
	"strings"
	"testing"
)

// TestNameChecks: the loops that check names (no regexp compiled at
// start) accept exactly what the patterns the docs give accept, within
// their length bounds: every string of up to three bytes over an
// alphabet of each class's edges and neighbours, and longer ones around
// the bounds.
func TestNameChecks(t *testing.T) {
	checks := []struct {
		name  string
		re    *regexp.Regexp
		max   int
		check func(string) bool
	}{
		{"workflow name", regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]*$`), 128, validName},
		{"param name", regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`), 64, validParamName},
		{"task id", regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]*$`), 64, validTaskID},
	}
	alphabet := []byte("aAzZ09_.-/ @[`{:\xc3")
	var words []string
	var grow func(prefix string, n int)
	grow = func(prefix string, n int) {
		words = append(words, prefix)
		if n == 0 {
			return
		}
		for _, c := range alphabet {
			grow(prefix+string(c), n-1)
		}
	}
	grow("", 3)
	for _, n := range []int{63, 64, 65, 127, 128, 129} {
		words = append(words, strings.Repeat("a", n), "a"+strings.Repeat("_", n-1), strings.Repeat("a", n-1)+".")
	}
	for _, c := range checks {
		for _, w := range words {
			want := c.re.MatchString(w) && len(w) <= c.max
			if got := c.check(w); got != want {
				t.Errorf("%s %q: %v, want %v", c.name, w, got, want)
			}
		}
	}
}
