package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/store/sqlite"
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
	last     string // the latest task that changed, for the bar
	drawn    time.Time
	barShown bool
	stop     chan struct{} // ends the bar's clock
	stopped  chan struct{}
}

func newProgress(w io.Writer, mode string, quiet bool, total int) *progress {
	if quiet {
		mode = "none"
	}
	if mode == "auto" {
		mode = "lines"
		if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			mode = "bar"
		}
	}
	p := &progress{w: w, mode: mode, total: total, start: time.Now(),
		state: map[string]cairn.TaskState{}, counts: map[cairn.TaskState]int{}}
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

// seed loads the states the run already has (a resumed run).
func (p *progress) seed(ctx context.Context, st *sqlite.Store, id string) error {
	trs, err := st.ListTaskRuns(ctx, id)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, tr := range trs {
		p.state[tr.TaskID] = tr.State
		p.counts[tr.State]++
	}
	return nil
}

// observe is the broker's and driver's observer.
func (p *progress) observe(e scheduler.Event) {
	if p.mode == "none" {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if e.Run != "" {
		if p.mode == "lines" {
			fmt.Fprintf(p.w, "%s run %s\n", stamp(e.At), e.Run)
		}
		return
	}
	if old, ok := p.state[e.TaskID]; ok {
		p.counts[old]--
	}
	p.state[e.TaskID] = e.To
	p.counts[e.To]++
	p.last = e.TaskID + " " + string(e.To)
	switch p.mode {
	case "lines":
		line := fmt.Sprintf("%s task %s %s", stamp(e.At), e.TaskID, e.To)
		if e.Attempt > 0 && (e.To.Active() || e.To == cairn.TaskRetrying || e.To == cairn.TaskFailed) {
			line += fmt.Sprintf(" (attempt %d)", e.Attempt)
		}
		if e.Error != "" && e.To != cairn.TaskCancelled {
			line += ": " + oneLine(e.Error)
		}
		fmt.Fprintln(p.w, line)
	case "bar":
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

func (p *progress) clear() {
	if p.barShown {
		fmt.Fprint(p.w, "\r\033[K")
	}
}

// draw renders the bar: done/total, a gauge, what is running and failed.
func (p *progress) draw() {
	done := 0
	for s, n := range p.counts {
		if s.Terminal() {
			done += n
		}
	}
	const width = 30
	filled := 0
	if p.total > 0 {
		filled = done * width / p.total
	}
	bar := strings.Repeat("█", filled) + strings.Repeat("░", width-filled)
	line := fmt.Sprintf("%s %d/%d  %d running", bar, done, p.total, p.counts[cairn.TaskRunning]+p.counts[cairn.TaskLeased])
	if n := p.counts[cairn.TaskFailed]; n > 0 {
		line += fmt.Sprintf("  %d failed", n)
	}
	line += fmt.Sprintf("  %s  %s", time.Since(p.start).Round(time.Second), p.last)
	p.clear()
	fmt.Fprint(p.w, line)
	p.barShown = true
	p.drawn = time.Now()
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
}
