package main

import (
	"strings"
	"testing"
	"time"

	"github.com/cairnml/cairn"
)

func TestTimelineBar(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	run := &cairn.Run{StartedAt: t0, FinishedAt: at(32)}
	atts := []*cairn.Attempt{
		{Number: 1, State: cairn.TaskRetrying, StartedAt: at(0), FinishedAt: at(4)},
		{Number: 2, State: cairn.AttemptInterrupted, StartedAt: at(6), FinishedAt: at(8)},
		{Number: 3, State: cairn.TaskSucceeded, StartedAt: at(16), FinishedAt: at(32)},
	}
	tl := newTimeline(run, atts, at(100))
	want := strings.Repeat("▒", 5) + "·" + strings.Repeat("▒", 3) + strings.Repeat("·", 7) + strings.Repeat("█", 16)
	if got := tl.bar(atts); got != want {
		t.Fatalf("bar\n got %s\nwant %s", got, want)
	}
	if got := tl.bar(nil); got != strings.Repeat("·", timelineWidth) {
		t.Fatalf("bar of a task that never ran: %s", got)
	}
	if h := tl.header(); !strings.HasPrefix(h, "0 … 32s") || len([]rune(h)) != timelineWidth {
		t.Fatalf("header %q", h)
	}
	// A run still going ends its axis now; a running attempt reaches it.
	live := &cairn.Run{StartedAt: t0}
	running := []*cairn.Attempt{{Number: 1, State: cairn.TaskRunning, StartedAt: at(16)}}
	tl = newTimeline(live, running, at(32))
	if got := tl.bar(running); got != strings.Repeat("·", 16)+strings.Repeat("░", 16) {
		t.Fatalf("running bar %s", got)
	}
}
