package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
	"unicode"

	"golang.org/x/term"

	"github.com/cairnml/cairn/tasks"
)

// style is how the commands' text looks on one writer: colour on a
// terminal, plain text in a pipe, a file or with NO_COLOR set
// (https://no-color.org: any non-empty value) or TERM=dumb. Every command
// takes its style from newStyle, so that the rules live here.
type style struct{ color bool }

// newStyle returns the style for text written to w.
func newStyle(w io.Writer) style {
	return styleOf(isTerminal(w), os.Getenv("NO_COLOR"), os.Getenv("TERM"))
}

// styleOf decides colour from its inputs: a terminal, NO_COLOR and TERM.
func styleOf(tty bool, noColor, termName string) style {
	return style{color: tty && noColor == "" && termName != "dumb"}
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// SGR colour codes. Every code is two digits, so that every painted cell
// carries the same number of escape bytes: text/tabwriter counts them as
// width, and a column whose cells are all painted (its header with
// colorPlain) stays aligned.
const (
	colorRed    = "31"
	colorGreen  = "32"
	colorYellow = "33"
	colorCyan   = "36"
	colorPlain  = "39" // the terminal's own colour
)

// paint wraps text in colour code when the style has colour.
func (s style) paint(code, text string) string {
	if !s.color {
		return text
	}
	return "\x1b[" + code + "m" + text + "\x1b[0m"
}

// stateColor is the colour of a run or task state (or the display state
// orphaned): failures red, success green, work that needs a look yellow.
func stateColor(state string) string {
	switch state {
	case "failed", "upstream_failed":
		return colorRed
	case "succeeded":
		return colorGreen
	case "orphaned", "retrying", "cancelled":
		return colorYellow
	}
	return colorPlain
}

// state paints a state name (run, task or "orphaned"). Any other text —
// a column header — is painted plain, which keeps the column aligned.
func (s style) state(state string) string { return s.paint(stateColor(state), state) }

// localTime is the one format of a time in the commands' text: local
// time with its zone, to the second; "-" for a zero time.
func localTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05 MST")
}

// plural returns "1 task", "2 tasks", "0 tasks": n and the noun, with an
// s unless n is 1 (tasks.Plural, which task logs use too). Nouns whose
// plural is not noun+s use pluralOf.
func plural(n int, noun string) string { return tasks.Plural(n, noun) }

// pluralOf returns n and one or many: pluralOf(2, "entry", "entries").
func pluralOf(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}

// printable returns s with its control characters (but tab) written as
// Go escapes (\x1b, \u009b, \u202e): text that came from a task, a plugin or a
// server — an error, say — can then not move the cursor, retitle or
// clear the user's terminal when a command prints it.
func printable(s string) string {
	if !strings.ContainsFunc(s, isControl) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case !isControl(r):
			b.WriteRune(r)
		case r < 0x100:
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			fmt.Fprintf(&b, `\u%04x`, r)
		}
	}
	return b.String()
}

// printableLines is printable for text of several lines (an error with
// its hints): each line escaped, the line breaks kept.
func printableLines(s string) string {
	if !strings.ContainsFunc(s, func(r rune) bool { return r != '\n' && isControl(r) }) {
		return s
	}
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = printable(l)
	}
	return strings.Join(lines, "\n")
}

// isControl reports a control character other than tab, or a bidi
// control (which can make text read in another order than it runs).
func isControl(r rune) bool {
	return r != '\t' && (unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r))
}
