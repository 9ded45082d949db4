// Package draw makes the pictures of a run for the web UI as deterministic
// SVG: the DAG of its tasks coloured by state (DAG) and a Gantt chart of
// its attempts (Gantt). Like tasks/ml/plot (whose ROC charts the UI shows
// beside them) it does no I/O beyond the writer it is given, reads no
// clock, and gives the same bytes for the same input every time. Every
// piece of text it writes (task ids, types, errors, links) is escaped, so
// an SVG may be inlined in an HTML page whatever a task is called.
//
// Standard library and the cairn vocabulary only.
package draw

import (
	"html"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/cairnml/cairn"
)

// Style is how one state is drawn: a fill, a stroke and a marker, so that
// states differ in shape as well as colour (colour-blind readers, grey
// print). The colours follow Okabe and Ito's colour-blind-safe palette,
// the fills light enough for dark text.
type Style struct {
	Fill, Stroke string
	// Marker names the shape drawn at a node's left (see marker): circle,
	// dot, half, play, ring, check, cross, dash, warn, slash.
	Marker string
	// Dashed draws the node's border dashed (a task that will not run).
	Dashed bool
}

// styles is the one palette of task (and attempt) states.
var styles = map[cairn.TaskState]Style{
	cairn.TaskPending:        {Fill: "#f2f2f2", Stroke: "#8c8c8c", Marker: "circle"},
	cairn.TaskReady:          {Fill: "#e3f2fb", Stroke: "#56b4e9", Marker: "dot"},
	cairn.TaskLeased:         {Fill: "#d9e8f5", Stroke: "#0072b2", Marker: "half"},
	cairn.TaskRunning:        {Fill: "#c6dff2", Stroke: "#0072b2", Marker: "play"},
	cairn.TaskRetrying:       {Fill: "#fcefd2", Stroke: "#e69f00", Marker: "ring"},
	cairn.TaskSucceeded:      {Fill: "#d2f0e4", Stroke: "#009e73", Marker: "check"},
	cairn.TaskFailed:         {Fill: "#f9d9c5", Stroke: "#d55e00", Marker: "cross"},
	cairn.TaskSkipped:        {Fill: "#ffffff", Stroke: "#999999", Marker: "dash", Dashed: true},
	cairn.TaskUpstreamFailed: {Fill: "#f5e1ec", Stroke: "#cc79a7", Marker: "warn", Dashed: true},
	cairn.TaskCancelled:      {Fill: "#e0e0e0", Stroke: "#555555", Marker: "slash"},
	// An attempt (never a task) that its process's end interrupted.
	cairn.AttemptInterrupted: {Fill: "#f5e1ec", Stroke: "#cc79a7", Marker: "warn"},
}

// unknownStyle draws a state this package does not know (a newer store).
var unknownStyle = Style{Fill: "#ffffff", Stroke: "#000000", Marker: "circle"}

// StyleOf returns how state s is drawn.
func StyleOf(s cairn.TaskState) Style {
	if st, ok := styles[s]; ok {
		return st
	}
	return unknownStyle
}

// States lists the states of the palette in lifecycle order (the task
// states, then an attempt's interrupted), for a legend or a stylesheet.
func States() []cairn.TaskState {
	return append(append([]cairn.TaskState(nil), cairn.TaskStates...), cairn.AttemptInterrupted)
}

// marker returns the SVG of marker name centred on (cx, cy), radius 6.
func marker(name string, cx, cy float64, stroke string) string {
	x, y := num(cx), num(cy)
	c := func(dx, dy float64) string { return num(cx+dx) + "," + num(cy+dy) }
	s := `stroke="` + stroke + `" stroke-width="1.6"`
	switch name {
	case "dot":
		return `<circle cx="` + x + `" cy="` + y + `" r="5.5" fill="none" ` + s + `/><circle cx="` + x + `" cy="` + y + `" r="2.2" fill="` + stroke + `"/>`
	case "half":
		return `<circle cx="` + x + `" cy="` + y + `" r="5.5" fill="none" ` + s + `/><path d="M` + c(0, -5.5) + ` A5.5,5.5 0 0 1 ` + c(0, 5.5) + ` Z" fill="` + stroke + `"/>`
	case "play":
		return `<path d="M` + c(-4, -6) + ` L` + c(6, 0) + ` L` + c(-4, 6) + ` Z" fill="` + stroke + `"/>`
	case "ring":
		return `<path d="M` + c(5.2, -1.5) + ` A5.5,5.5 0 1 0 ` + c(3.9, 3.9) + `" fill="none" ` + s + `/><path d="M` + c(2.6, -3) + ` L` + c(5.6, -0.6) + ` L` + c(7, -4.4) + `" fill="none" ` + s + `/>`
	case "check":
		return `<path d="M` + c(-5, 0) + ` L` + c(-1.5, 4) + ` L` + c(5.5, -4.5) + `" fill="none" stroke="` + stroke + `" stroke-width="2.4"/>`
	case "cross":
		return `<path d="M` + c(-4.5, -4.5) + ` L` + c(4.5, 4.5) + ` M` + c(4.5, -4.5) + ` L` + c(-4.5, 4.5) + `" fill="none" stroke="` + stroke + `" stroke-width="2.4"/>`
	case "dash":
		return `<path d="M` + c(-5, 0) + ` L` + c(5, 0) + `" fill="none" stroke="` + stroke + `" stroke-width="2.4"/>`
	case "warn":
		return `<path d="M` + c(0, -6) + ` L` + c(6, 5) + ` L` + c(-6, 5) + ` Z" fill="none" ` + s + `/><path d="M` + c(0, -2) + ` L` + c(0, 1.5) + `" ` + s + `/><circle cx="` + x + `" cy="` + num(cy+3.4) + `" r="0.9" fill="` + stroke + `"/>`
	case "slash":
		return `<circle cx="` + x + `" cy="` + y + `" r="5.5" fill="none" ` + s + `/><path d="M` + c(-3.9, 3.9) + ` L` + c(3.9, -3.9) + `" ` + s + `/>`
	}
	return `<circle cx="` + x + `" cy="` + y + `" r="5.5" fill="none" ` + s + `/>`
}

// esc escapes s for SVG (XML) text and attribute values: & < > " '.
func esc(s string) string { return html.EscapeString(s) }

// clipText shortens s to at most n runes, ending it with … when cut.
func clipText(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// num formats a coordinate with two decimals and no trailing zeros (as
// tasks/ml/plot does), so that the bytes depend only on the input.
func num(v float64) string {
	s := strconv.FormatFloat(v, 'f', 2, 64)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	if s == "-0" {
		s = "0"
	}
	return s
}
