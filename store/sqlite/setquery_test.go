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
	vColumn := regexp.MustCompile(`\bv\.[a-z_]+\b`)
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
		if strings.Contains(one, "WITH v(") || vColumn.MatchString(one) || strings.Contains(one, "FROM v") {
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

// replaceVColumns finds what the regular expression \bv\.[a-z_]+\b finds,
// in every set-based statement's text and at the edges of words.
func TestReplaceVColumnsAsRegexp(t *testing.T) {
	re := regexp.MustCompile(`\bv\.[a-z_]+\b`)
	texts := []string{
		"", "v", "v.", "v.a", " v.a", "v.a ", "(v.run_id)", "v.a,v.b_c", "uv.a", "_v.a", "v.a1", "v.aB", "v.a_",
		"v.a.b", "v.v.a", "xv.a v.b", "v._", "v.A", "v.a-v.b", "v.\nv.c", "é v.a", "v.aé", "1v.a", "v..a",
		"UPDATE task_runs SET x = v.x FROM v WHERE run_id = v.run_id AND task_id = v.task_id",
	}
	for _, q := range []func(int) string{
		func(n int) string { return completeManyQuery(n, leaseLive) },
		func(n int) string { return completeManyQuery(n, leaseAny) },
		func(n int) string { return endAttemptsQuery(n, leaseExpired) },
		claimReadyQuery, readyChangeQuery, endChangeQuery, leaseChangeQuery, endAttemptQuery,
	} {
		texts = append(texts, q(2))
	}
	mark := func(m string) string { return "<" + m + ">" }
	for _, text := range texts {
		want := re.ReplaceAllStringFunc(text, func(m string) string { return mark(m[2:]) })
		if got := replaceVColumns(text, mark); got != want {
			t.Errorf("replaceVColumns(%q) = %q, want %q", text, got, want)
		}
	}
}
