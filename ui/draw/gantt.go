package draw

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/cairnml/cairn"
)

// GanttOptions say what Gantt draws.
type GanttOptions struct {
	// Start and End are the ends of the time axis: the run's start and
	// its end (now while it runs). A zero Start is the first attempt's
	// start; a zero End the last attempt's end (or start).
	Start, End time.Time
	// Href returns the link of an attempt's bar (its page); nil or "":
	// no link.
	Href func(taskID string, attempt int) string
}

// Gantt geometry in user units.
const (
	labelW       = 180.0 // the task ids' column
	plotW        = 660.0
	rowH         = 22.0
	barH         = 14.0
	axisH        = 28.0
	ganttLabel   = 24  // runes of a task id in the label column
	errorInTitle = 300 // runes of an attempt's error in its bar's title
	minBarW      = 2.0
)

// niceSteps are the tick intervals the time axis chooses from.
var niceSteps = []time.Duration{
	time.Millisecond, 2 * time.Millisecond, 5 * time.Millisecond, 10 * time.Millisecond, 20 * time.Millisecond,
	50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond, 500 * time.Millisecond,
	time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second, 30 * time.Second,
	time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour,
}

// tickStep is the smallest nice step giving at most 8 intervals over d.
func tickStep(d time.Duration) time.Duration {
	for _, s := range niceSteps {
		if d/s <= 8 {
			return s
		}
	}
	day := 24 * time.Hour
	return (d/(8*day) + 1) * day
}

// Gantt writes the attempts of a run's tasks as an SVG chart: one row per
// task of tasks, in their order, labelled with its id; one bar per
// attempt from its lease to its end (to opts.End while it runs), coloured
// and titled by how it ended (running while it has not); a time axis
// from opts.Start with ticks at round intervals.
func Gantt(w io.Writer, tasks []*cairn.TaskRun, attempts []*cairn.Attempt, opts GanttOptions) error {
	start, end := opts.Start, opts.End
	for _, a := range attempts {
		if start.IsZero() || (!a.StartedAt.IsZero() && a.StartedAt.Before(start)) {
			start = a.StartedAt
		}
	}
	if opts.End.IsZero() {
		for _, a := range attempts {
			for _, t := range []time.Time{a.StartedAt, a.FinishedAt} {
				if t.After(end) {
					end = t
				}
			}
		}
	}
	switch { // no attempt, no run start: an axis of a second at the end
	case start.IsZero():
		start = end
	case end.IsZero() || end.Before(start):
		end = start
	}
	total := end.Sub(start)
	if total <= 0 {
		total = time.Second
	}
	x := func(t time.Time) float64 {
		f := float64(t.Sub(start)) / float64(total)
		return labelW + plotW*min(max(f, 0), 1)
	}
	byTask := map[string][]*cairn.Attempt{}
	type span struct{ from, to time.Time }
	spans := map[string]span{} // a for_each task's: its items' first start to last end
	for _, a := range attempts {
		byTask[a.TaskID] = append(byTask[a.TaskID], a)
		if parent, _, ok := cairn.ParseItemID(a.TaskID); ok {
			to := a.FinishedAt
			if to.IsZero() {
				to = end
			}
			sp, seen := spans[parent]
			if !seen || a.StartedAt.Before(sp.from) {
				sp.from = a.StartedAt
			}
			if to.After(sp.to) {
				sp.to = to
			}
			spans[parent] = sp
		}
	}
	width := labelW + plotW + margin
	height := axisH + rowH*float64(len(tasks)) + 6
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" class="gantt" viewBox="0 0 %s %s" width="%s" height="%s" font-family="sans-serif" font-size="11" role="img" aria-label="attempts over time">`+"\n",
		num(width), num(height), num(width), num(height))
	// Axis: ticks and their grid lines.
	step := tickStep(total)
	b.WriteString(`<g class="axis" fill="#333333">` + "\n")
	for i := time.Duration(0); i <= 16 && i*step <= total; i++ {
		t := i * step
		tx := x(start.Add(t))
		fmt.Fprintf(&b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#e5e5e5"/>`+"\n", num(tx), num(axisH-6), num(tx), num(height))
		fmt.Fprintf(&b, `<text x="%s" y="%s" text-anchor="middle">%s</text>`+"\n", num(tx), num(axisH-10), esc(t.String()))
	}
	b.WriteString("</g>\n")
	for i, tr := range tasks {
		y := axisH + rowH*float64(i)
		if i%2 == 1 {
			fmt.Fprintf(&b, `<rect x="0" y="%s" width="%s" height="%s" fill="#f7f7f7"/>`+"\n", num(y), num(width), num(rowH))
		}
		fmt.Fprintf(&b, `<text x="%s" y="%s" text-anchor="end" fill="#1a1a1a">%s<title>%s</title></text>`+"\n",
			num(labelW-8), num(y+rowH/2+4), esc(clipText(tr.TaskID, ganttLabel)), esc(tr.TaskID))
		if sp, ok := spans[tr.TaskID]; ok && len(byTask[tr.TaskID]) == 0 {
			// A for_each task has no attempt of its own: a thin bar spans its items'.
			x0, x1 := x(sp.from), x(sp.to)
			fmt.Fprintf(&b, `<rect class="span" data-task="%s" x="%s" y="%s" width="%s" height="%s" rx="2" fill="%s"><title>%s</title></rect>`+"\n",
				esc(tr.TaskID), num(x0), num(y+(rowH-barH/2)/2), num(max(x1-x0, minBarW)), num(barH/2), StyleOf(tr.State).Stroke,
				esc(fmt.Sprintf("%s: %d items, %s", tr.TaskID, tr.Items, sp.to.Sub(sp.from).Round(time.Millisecond))))
		}
		for _, a := range byTask[tr.TaskID] {
			state := a.State
			endAt := a.FinishedAt
			if endAt.IsZero() {
				state, endAt = cairn.TaskRunning, end
			}
			st := StyleOf(state)
			x0, x1 := x(a.StartedAt), x(endAt)
			bw := max(x1-x0, minBarW)
			href := ""
			if opts.Href != nil {
				href = opts.Href(tr.TaskID, a.Number)
			}
			if href != "" {
				fmt.Fprintf(&b, `<a href="%s">`, esc(href))
			}
			title := fmt.Sprintf("%s attempt %d: %s", tr.TaskID, a.Number, state)
			if !a.FinishedAt.IsZero() {
				title += ", " + a.FinishedAt.Sub(a.StartedAt).Round(time.Millisecond).String()
			}
			if a.Error != "" {
				title += "\n" + clipText(a.Error, errorInTitle)
			}
			// Bars are solid in the state's strong colour: they carry no text.
			fmt.Fprintf(&b, `<rect class="bar" data-task="%s" data-attempt="%d" data-state="%s" x="%s" y="%s" width="%s" height="%s" rx="2" fill="%s"><title>%s</title></rect>`,
				esc(tr.TaskID), a.Number, esc(string(state)), num(x0), num(y+(rowH-barH)/2), num(bw), num(barH), st.Stroke, esc(title))
			if href != "" {
				b.WriteString("</a>")
			}
			b.WriteString("\n")
		}
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// Marker returns a small SVG (16 × 16) of state s's marker on its fill,
// for a legend.
func Marker(s cairn.TaskState) string {
	st := StyleOf(s)
	dash := ""
	if st.Dashed {
		dash = ` stroke-dasharray="3 2"`
	}
	return `<svg xmlns="http://www.w3.org/2000/svg" class="marker" viewBox="0 0 16 16" width="16" height="16" aria-hidden="true">` +
		`<rect x="0.5" y="0.5" width="15" height="15" rx="3" fill="` + st.Fill + `" stroke="` + st.Stroke + `"` + dash + `/>` +
		marker(st.Marker, 8, 8, st.Stroke) + `</svg>`
}
