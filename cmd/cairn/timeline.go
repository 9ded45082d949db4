package main

import (
	"strings"
	"time"

	"github.com/cairnml/cairn"
)

// timelineWidth is the number of cells of a task's bar in `cairn show`.
const timelineWidth = 32

// timeline draws each task's attempts as a bar on the run's time axis (a
// Gantt chart in text): █ an attempt that succeeded, ▒ one that failed or
// was interrupted, ░ one still running or cancelled.
type timeline struct {
	start, end time.Time
}

func newTimeline(r *cairn.Run, atts []*cairn.Attempt, now time.Time) timeline {
	tl := timeline{start: r.StartedAt, end: r.FinishedAt}
	for _, a := range atts {
		if tl.start.IsZero() || a.StartedAt.Before(tl.start) {
			tl.start = a.StartedAt
		}
	}
	if tl.end.IsZero() {
		tl.end = now
	}
	for _, a := range atts {
		if a.FinishedAt.After(tl.end) {
			tl.end = a.FinishedAt
		}
	}
	return tl
}

// header labels the axis with the run's span.
func (tl timeline) header() string {
	span := tl.end.Sub(tl.start)
	if tl.start.IsZero() || span <= 0 {
		return "TIMELINE"
	}
	label := "0 … " + span.Round(time.Millisecond).String()
	return label + strings.Repeat(" ", max(0, timelineWidth-len([]rune(label))))
}

// bar draws a task's attempts, oldest first; a later attempt overwrites
// the cells of an earlier one.
func (tl timeline) bar(atts []*cairn.Attempt) string {
	span := tl.end.Sub(tl.start)
	cells := []rune(strings.Repeat("·", timelineWidth))
	if tl.start.IsZero() || span <= 0 {
		return string(cells)
	}
	cell := func(t time.Time) int {
		i := int(float64(t.Sub(tl.start)) / float64(span) * timelineWidth)
		return min(max(i, 0), timelineWidth-1)
	}
	for _, a := range atts {
		end := a.FinishedAt
		if end.IsZero() {
			end = tl.end
		}
		mark := '░'
		switch a.State {
		case cairn.TaskSucceeded:
			mark = '█'
		case cairn.TaskFailed, cairn.TaskRetrying, cairn.TaskUpstreamFailed, cairn.AttemptInterrupted:
			mark = '▒'
		}
		for i := cell(a.StartedAt); i <= cell(end); i++ {
			cells[i] = mark
		}
	}
	return string(cells)
}
