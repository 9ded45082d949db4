package workflows

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/cairnml/cairn/tasks"
)

// Error is one problem in a workflow file, at the 1-based line and column of
// the YAML node at fault.
type Error struct {
	File string
	Line int
	Col  int
	Msg  string
	Hint string // "" when there is nothing useful to add
	// Err is the typed cause, when callers may need its data (a
	// *CycleError for a dependency cycle); nil otherwise.
	Err error
}

// Error formats e as "FILE:LINE:COL: message" ("FILE: message" for a
// problem of the whole file, at line 0), followed by "\n\thint: ..." when
// e has a hint.
func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteByte(':')
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, "%d:%d:", e.Line, e.Col)
	}
	if b.Len() > 0 {
		b.WriteByte(' ')
	}
	b.WriteString(e.Msg)
	if e.Hint != "" {
		b.WriteString("\n\thint: ")
		b.WriteString(e.Hint)
	}
	return b.String()
}

// Unwrap returns the typed cause, if any.
func (e *Error) Unwrap() error { return e.Err }

// ErrUnknownType is the cause (Error.Err) of a problem that names a task
// type the Options' Types do not know: what a plugin may provide.
var ErrUnknownType = errors.New("unknown task type")

// ErrorList is every problem found in a workflow file, sorted by position.
// Parse returns one (never empty) when the file is not valid.
type ErrorList []*Error

// ShownProblems is how many problems ErrorList.Error prints at most, and
// ShownAlike how many of them may share a message; it counts the rest. A
// mistake made the same way in every task of a large file (a misspelt
// key) would otherwise print a screen per hundred tasks, and hide the
// problems of another kind after them.
const (
	ShownProblems = 20
	ShownAlike    = 3
)

// Error prints some problems, then how many more there are by message
// (see Format).
func (l ErrorList) Error() string { return l.Format(ShownProblems) }

// Format prints problems one per line, in order: all of them when max <=
// 0; otherwise at most max, and of those sharing a message the first
// ShownAlike. Each hint is printed once: a problem whose hint an earlier
// one printed does not print it again. A last line counts the problems
// left out, by message, the most frequent first.
func (l ErrorList) Format(max int) string {
	var b strings.Builder
	hints := map[string]bool{}
	alike := map[string]int{}
	count := map[string]int{} // of the problems left out, by message
	var left []string         // their messages, in order of first appearance
	shown, rest := 0, 0
	for _, e := range l {
		if max > 0 && (shown == max || alike[e.Msg] == ShownAlike) {
			if count[e.Msg] == 0 {
				left = append(left, e.Msg)
			}
			count[e.Msg]++
			rest++
			continue
		}
		alike[e.Msg]++
		if shown > 0 {
			b.WriteByte('\n')
		}
		shown++
		c := *e
		if hints[c.Hint] {
			c.Hint = ""
		} else if c.Hint != "" {
			hints[c.Hint] = true
		}
		b.WriteString(c.Error())
	}
	if rest == 0 {
		return b.String()
	}
	sort.SliceStable(left, func(i, j int) bool { return count[left[i]] > count[left[j]] })
	fmt.Fprintf(&b, "\n... and %d more problems: ", rest)
	for i, m := range left {
		if i == 3 {
			fmt.Fprintf(&b, ", %d others", rest-counted(count, left[:3]))
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s (%d)", m, count[m])
	}
	b.WriteString(" ('cairn validate --all' lists every one)")
	return b.String()
}

// counted sums count over msgs.
func counted(count map[string]int, msgs []string) int {
	n := 0
	for _, m := range msgs {
		n += count[m]
	}
	return n
}

// Unwrap lets errors.As and errors.Is look at each problem.
func (l ErrorList) Unwrap() []error {
	errs := make([]error, len(l))
	for i, e := range l {
		errs[i] = e
	}
	return errs
}

// sorted returns l ordered by line, column and message, without exact
// duplicates (a node reached through several aliases is reported once).
func (l ErrorList) sorted() ErrorList {
	sort.SliceStable(l, func(i, j int) bool {
		a, b := l[i], l[j]
		if a.File != b.File {
			// A sub-workflow's problems (see uses.go) come after those of
			// the file that uses it.
			return len(a.File) > 0 && a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.Col != b.Col {
			return a.Col < b.Col
		}
		return a.Msg < b.Msg
	})
	out := l[:0]
	for i, e := range l {
		if i > 0 {
			p := out[len(out)-1]
			if p.Line == e.Line && p.Col == e.Col && p.Msg == e.Msg && p.Hint == e.Hint {
				continue
			}
		}
		out = append(out, e)
	}
	return out
}

// CycleError is the cause of the Error reported for a dependency cycle.
type CycleError struct {
	// Path lists the task ids around the cycle; the first is repeated
	// at the end.
	Path []string
}

func (e *CycleError) Error() string {
	return "dependency cycle: " + strings.Join(e.Path, " -> ")
}

// didYouMean is the hint for a misspelt name, or "".
func didYouMean(name string, candidates []string) string {
	if s := tasks.Nearest(name, candidates); s != "" {
		return fmt.Sprintf("did you mean %q?", s)
	}
	return ""
}

// quoteList renders names as `"a", "b", "c"`.
func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}
