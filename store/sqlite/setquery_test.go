package sqlite

import (
	"regexp"
	"strings"
	"testing"
)

// Every set-based statement's one-row text is plain — no list, no v.COL
// left, every value numbered — and takes as many values as its list form
// for one row (the conformance suite runs both forms: one row and many).
func TestSetQueryOneRow(t *testing.T) {
	bare := regexp.MustCompile(`\?(\D|$)`)
	numbered := regexp.MustCompile(`\?(\d+)`)
	for name, text := range map[string]func(int) string{
		"complete":     func(n int) string { return completeManyQuery(n, leaseLive) },
		"complete any": func(n int) string { return completeManyQuery(n, leaseAny) },
		"end attempts": func(n int) string { return endAttemptsQuery(n, leaseExpired) },
		"claim ready":  claimReadyQuery,
		"ready change": readyChangeQuery,
		"end change":   endChangeQuery,
		"lease change": leaseChangeQuery,
		"end attempt":  endAttemptQuery,
	} {
		one, two := text(1), text(2)
		if strings.Contains(one, "WITH v(") || vColumn().MatchString(one) || strings.Contains(one, "FROM v") {
			t.Errorf("%s: one-row text still names the list:\n%s", name, one)
		}
		if bare.MatchString(one) {
			t.Errorf("%s: one-row text has an unnumbered value:\n%s", name, one)
		}
		// The list form binds cols values per row, then its own; the
		// one-row form numbers them all.
		cols := strings.Count(two[:strings.Index(two, ") AS (VALUES")], ",") + 1
		own := strings.Count(two[strings.Index(two, ")\n"):], "?")
		high := 0
		for _, m := range numbered.FindAllStringSubmatch(one, -1) {
			n := 0
			for _, c := range m[1] {
				n = n*10 + int(c-'0')
			}
			high = max(high, n)
		}
		if high != cols+own {
			t.Errorf("%s: one-row text takes %d values, the list form %d for a row:\n%s", name, high, cols+own, one)
		}
	}
}
