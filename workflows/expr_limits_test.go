package workflows

import (
	"runtime"
	"strings"
	"testing"
)

// A hostile expression is refused while it is read, at the limit it
// breaks, for about what the limit allows: a viewer's 1 MB validate
// request of 520,000 nested brackets took 230 MB and 3.5 s of the server
// before it was refused at column 115, because every token was built
// before the parser's depth check.
func TestExprLimitsAreReadLimits(t *testing.T) {
	const n = 520000
	for _, c := range []struct {
		name, src, want string
		at              int
	}{
		{"nested", "${{ " + strings.Repeat("(", n) + "true" + strings.Repeat(")", n) + " }}", "nested too deeply", 4 + maxExprDepth - 1},
		{"long", "${{ " + strings.Repeat("true && ", n/2) + "true }}", "expression too long", 4 + 8*(maxExprTokens/2-1) + 5},
		{"negations", "${{ " + strings.Repeat("!", n) + "true }}", "", -1},
	} {
		t.Run(c.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			_, err := parseExpr(c.src)
			runtime.ReadMemStats(&after)
			if err == nil {
				t.Fatalf("an expression of %d bytes past the limits was accepted", len(c.src))
			}
			if c.want != "" && (!strings.Contains(err.msg, c.want) || err.off != c.at) {
				t.Errorf("error %q at %d, want %q at %d", err.msg, err.off, c.want, c.at)
			}
			// Each names its limit and says what to do.
			if !strings.Contains(err.msg, "more than") || err.hint == "" {
				t.Errorf("error %q (hint %q) does not name its limit or say what to do", err.msg, err.hint)
			}
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 4<<20 {
				t.Errorf("refusing it allocated %d bytes, want at most 4 MiB", grew)
			}
		})
	}
	// At the limits, it is accepted.
	ok := "${{ " + strings.Repeat("(", maxExprDepth-2) + "true" + strings.Repeat(")", maxExprDepth-2) + " }}"
	if _, err := parseExpr(ok); err != nil {
		t.Errorf("%d nested brackets: %v", maxExprDepth-2, err.msg)
	}
}
