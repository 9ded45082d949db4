package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"golang.org/x/term"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
)

// progress shows a run as it goes: a bar redrawn in place on a terminal,
// or one plain line per state change otherwise.
type progress struct {
	w     io.Writer
	mode  string // bar, lines, none
	total int
	start time.Time

	mu       sync.Mutex
	state    map[string]cairn.TaskState
	counts   map[cairn.TaskState]int
	fanned   map[string]bool // for_each tasks whose items the bar counts in their place
	cached   atomic.Int64    // attempts that reused an earlier success, counted in every mode
	last     string          // the latest task that changed, for the bar
	drawn    time.Time
	barShown bool
	stop     chan struct{} // ends the bar's clock
	stopped  chan struct{}
	width    func() int // the terminal's columns; nil: read them from w

	// In lines mode the lines go through buf, written out at most
	// lineFlush after the first one that waits in it, when it fills, and
	// at once by say and finish: a fan of 10,000 tasks makes some 30,000
	// lines, each a write(2) of its own unbuffered — about 4 % of the
	// run's CPU.
	buf     *bufio.Writer
	flushAt *time.Timer // pending, while buf holds lines
}

// lineFlush is how long a progress line waits in the buffer at most.
const lineFlush = 20 * time.Millisecond

// progressMode is the --progress flag, checked as it is parsed.
type progressMode string

func (m *progressMode) String() string {
	if m == nil {
		return ""
	}
	return string(*m)
}

func (m *progressMode) Set(s string) error {
	switch s {
	case "auto", "bar", "lines", "none":
		*m = progressMode(s)
		return nil
	}
	return fmt.Errorf("want auto, bar, lines or none")
}

func newProgress(w io.Writer, mode string, quiet bool, total int) *progress {
	mode = displayMode(w, mode, quiet)
	p := &progress{w: w, mode: mode, total: total, start: time.Now(),
		state: map[string]cairn.TaskState{}, counts: map[cairn.TaskState]int{}}
	if mode == "lines" {
		p.buf = bufio.NewWriterSize(w, 32<<10)
		p.w = p.buf
	}
	if mode == "bar" {
		// Redraw every second so that the clock moves while nothing changes.
		p.stop, p.stopped = make(chan struct{}), make(chan struct{})
		go func() {
			defer close(p.stopped)
			t := time.NewTicker(time.Second)
			defer t.Stop()
			for {
				select {
				case <-p.stop:
					return
				case <-t.C:
					p.mu.Lock()
					p.draw()
					p.mu.Unlock()
				}
			}
		}()
	}
	return p
}

// seed loads the states the run already has (a resumed run). Only the
// bar counts tasks by state: the other displays keep no state per task
// (for a run of 100,000 tasks, a map of some 6 MB).
func (p *progress) seed(trs []*cairn.TaskRun) {
	if p.mode != "bar" {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, tr := range trs {
		p.count(tr.TaskID, tr.State)
	}
}

// count records task id's state for the bar. A for_each task's items
// take its place in the count: its first item seen, the task leaves the
// total and the items join it one by one, as they are first seen (those
// waiting behind max_parallel are not yet).
func (p *progress) count(id string, st cairn.TaskState) {
	if p.fanned[id] {
		return
	}
	old, seen := p.state[id]
	if !seen {
		if parent, _, ok := cairn.ParseItemID(id); ok {
			p.total++
			if !p.fanned[parent] {
				if p.fanned == nil {
					p.fanned = map[string]bool{}
				}
				p.fanned[parent] = true
				p.total--
				if pst, ok := p.state[parent]; ok {
					p.counts[pst]--
					delete(p.state, parent)
				}
			}
		}
	} else {
		p.counts[old]--
	}
	p.state[id] = st
	p.counts[st]++
}

// displayMode is the display --progress and --quiet ask for on w: auto
// is a bar on a terminal, lines otherwise.
func displayMode(w io.Writer, mode string, quiet bool) string {
	if quiet {
		return "none"
	}
	if mode == "auto" {
		mode = "lines"
		if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			mode = "bar"
		}
	}
	return mode
}

// observe is the broker's and driver's observer.
func (p *progress) observe(e scheduler.Event) {
	if !e.CachedFrom.IsZero() {
		p.cached.Add(1)
	}
	if p.mode == "none" {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if e.Run != "" {
		if p.mode == "lines" {
			fmt.Fprintf(p.w, "%s run %s\n", stamp(e.At), e.Run)
			p.flushSoon()
		}
		return
	}
	switch p.mode {
	case "lines":
		line := fmt.Sprintf("%s task %s %s", stamp(e.At), e.TaskID, e.To)
		if !e.CachedFrom.IsZero() {
			line += " (cache: from " + e.CachedFrom.String() + ")"
		}
		if e.Attempt > 0 && (e.To.Active() || e.To == cairn.TaskRetrying || e.To == cairn.TaskFailed) {
			line += fmt.Sprintf(" (attempt %d)", e.Attempt)
		}
		if e.Error != "" && e.To != cairn.TaskCancelled {
			line += ": " + oneLine(e.Error)
		}
		fmt.Fprintln(p.w, line)
		p.flushSoon()
	case "bar":
		p.count(e.TaskID, e.To)
		p.last = e.TaskID + " " + string(e.To)
		if !e.CachedFrom.IsZero() {
			p.last += " (cache)"
		}
		if e.To == cairn.TaskFailed || e.To == cairn.TaskRetrying {
			p.clear()
			fmt.Fprintf(p.w, "%s %s (attempt %d): %s\n", e.TaskID, e.To, e.Attempt, oneLine(e.Error))
			p.draw()
			return
		}
		if time.Since(p.drawn) >= 100*time.Millisecond {
			p.draw()
		}
	}
}

func stamp(t time.Time) string { return t.Format("15:04:05.000") }

// flushSoon makes sure the lines in the buffer are written out within
// lineFlush. p.mu is held.
func (p *progress) flushSoon() {
	if p.flushAt != nil || p.buf.Buffered() == 0 {
		return
	}
	p.flushAt = time.AfterFunc(lineFlush, func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.flushAt = nil
		p.flush()
	})
}

// flush writes out the lines in the buffer, if any. p.mu is held.
func (p *progress) flush() {
	if p.buf == nil {
		return
	}
	if p.flushAt != nil {
		p.flushAt.Stop()
		p.flushAt = nil
	}
	p.buf.Flush() // a display: a failed write to it is not the run's error
}

func (p *progress) clear() {
	if p.barShown {
		fmt.Fprint(p.w, "\r\033[K")
	}
}

// draw renders the bar: a gauge, done/total, what is running and failed,
// the clock and the latest change, all on one line that fits the terminal.
func (p *progress) draw() {
	done := 0
	for s, n := range p.counts {
		if s.Terminal() {
			done += n
		}
	}
	stats := fmt.Sprintf(" %d/%d  %d running", done, p.total, p.counts[cairn.TaskRunning]+p.counts[cairn.TaskLeased])
	if n := p.counts[cairn.TaskFailed]; n > 0 {
		stats += fmt.Sprintf("  %d failed", n)
	}
	if n := p.cached.Load(); n > 0 {
		stats += fmt.Sprintf("  %d from cache", n)
	}
	stats += "  " + time.Since(p.start).Round(time.Second).String()
	p.clear()
	fmt.Fprint(p.w, barLine(p.columns(), done, p.total, stats, p.last))
	p.barShown = true
	p.drawn = time.Now()
}

// Widths of the bar's parts, in columns.
const (
	gaugeMax  = 30 // the gauge when there is room
	gaugeMin  = 6  // a narrower gauge is left out
	latestMin = 12 // the room kept for the latest change before the gauge shrinks
)

// barLine lays the bar out in cols-1 columns, so that the terminal never
// wraps it (a wrapped bar cannot be redrawn in place): the gauge shrinks
// first, then the latest change is cut in the middle with an ellipsis,
// then left out; the counts and clock stay whole while they fit.
func barLine(cols, done, total int, stats, latest string) string {
	room := cols - 1
	free := room - runeLen(stats)
	gauge := min(gaugeMax, free-2-latestMin)
	if gauge < gaugeMin {
		gauge = 0
	}
	line := stats
	if gauge > 0 {
		filled := 0
		if total > 0 {
			filled = min(done, total) * gauge / total
		}
		line = strings.Repeat("█", filled) + strings.Repeat("░", gauge-filled) + stats
		free -= gauge
	} else {
		line = strings.TrimPrefix(stats, " ")
		free++
	}
	if latest != "" && free-2 >= latestMin/2 {
		line += "  " + cutMiddle(latest, free-2)
	}
	return cutEnd(line, room)
}

func runeLen(s string) int { return utf8.RuneCountInString(s) }

// cutMiddle shortens s to n runes by replacing its middle with "…", so
// that both ends of a long task id stay readable.
func cutMiddle(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	if n < 1 {
		return ""
	}
	head := (n - 1) / 2
	return string(r[:head]) + "…" + string(r[len(r)-(n-1-head):])
}

// cutEnd shortens s to n runes, ending it with "…" when it cut.
func cutEnd(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	if n < 1 {
		return ""
	}
	return string(r[:n-1]) + "…"
}

// columns is the width of the terminal the bar is drawn on, read at every
// draw so that a resized window is followed: the terminal's own size, else
// $COLUMNS, else 80.
func (p *progress) columns() int {
	if p.width != nil {
		return p.width()
	}
	if f, ok := p.w.(*os.File); ok {
		if w, _, err := term.GetSize(int(f.Fd())); err == nil && w > 0 {
			return w
		}
	}
	if n, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && n > 0 {
		return n
	}
	return 80
}

// finish draws the final bar and ends its line.
func (p *progress) finish() {
	if p.stop != nil {
		close(p.stop)
		<-p.stopped
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mode == "bar" {
		p.draw()
		fmt.Fprintln(p.w)
	}
	p.flush()
}
