package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
)

// longID is a task id of 61 characters: with its state, longer than an
// 80-column terminal leaves for it.
const longID = "collect-the-nightly-customer-transactions-from-the-warehouse1"

func TestBarLineFitsEveryWidth(t *testing.T) {
	if len(longID) != 61 {
		t.Fatalf("longID has %d characters", len(longID))
	}
	stats := []string{" 0/3  0 running  0s", " 12/1000  8 running  3 failed  1h2m3s"}
	latest := []string{"", "a succeeded", longID + " running", strings.Repeat("é", 70)}
	for cols := 1; cols <= 200; cols++ {
		for _, st := range stats {
			for _, l := range latest {
				line := barLine(cols, 5, 12, st, l)
				if n := runeLen(line); n > max(cols-1, 0) {
					t.Fatalf("%d columns: the bar takes %d: %q", cols, n, line)
				}
			}
		}
	}
	line := barLine(80, 1, 3, " 1/3  1 running  2s", longID+" running")
	if runeLen(line) != 79 || !strings.Contains(line, "…") || !strings.HasSuffix(line, "house1 running") ||
		!strings.HasPrefix(line, strings.Repeat("█", 10)+strings.Repeat("░", 20)+" 1/3") || !strings.Contains(line, "  collect-the-") {
		t.Errorf("80 columns, a 61-character task id: %q", line)
	}
	// Narrow: the gauge goes first, then the task; the counts stay.
	if line := barLine(30, 1, 3, " 1/3  1 running  2s", longID+" running"); strings.ContainsAny(line, "█░") || !strings.HasPrefix(line, "1/3  1 running  2s") {
		t.Errorf("30 columns: %q", line)
	}
}

func TestCutMiddle(t *testing.T) {
	for _, tc := range []struct {
		s    string
		n    int
		want string
	}{
		{"abcdef", 6, "abcdef"}, {"abcdef", 5, "ab…ef"}, {"abcdefg", 4, "a…fg"}, {"abc", 1, "…"}, {"abc", 0, ""},
	} {
		if got := cutMiddle(tc.s, tc.n); got != tc.want {
			t.Errorf("cutMiddle(%q, %d) = %q, want %q", tc.s, tc.n, got, tc.want)
		}
	}
}

// barSegments splits what the bar wrote into the lines a terminal shows:
// at newlines and at the carriage returns of each redraw, without the
// escape sequences.
func barSegments(out string) []string {
	out = regexp.MustCompile(`\x1b\[[0-9;]*[A-Za-z]`).ReplaceAllString(out, "")
	var segs []string
	for _, line := range strings.Split(out, "\n") {
		segs = append(segs, strings.Split(line, "\r")...)
	}
	return segs
}

func TestProgressBarTakesColumnsFromTheEnvironment(t *testing.T) {
	t.Setenv("COLUMNS", "50")
	var buf bytes.Buffer
	p := newProgress(&buf, "bar", false, 2)
	now := time.Now()
	p.observe(scheduler.Event{TaskID: longID, To: cairn.TaskRunning, Attempt: 1, At: now})
	p.observe(scheduler.Event{TaskID: longID, To: cairn.TaskSucceeded, Attempt: 1, At: now})
	p.finish()
	var bars int
	for _, s := range barSegments(buf.String()) {
		if runeLen(s) > 49 {
			t.Errorf("a line of %d columns in 50: %q", runeLen(s), s)
		}
		if strings.Contains(s, "░") || strings.Contains(s, "█") {
			bars++
		}
	}
	if bars == 0 || !strings.Contains(buf.String(), "…") {
		t.Errorf("no bar with a shortened id drawn:\n%q", buf.String())
	}
}

// TestProgressBarFitsARealTerminal runs cairn under a pseudo-terminal of
// 80 columns (script(1); skipped without it) with COLUMNS saying 200: the
// terminal's own width wins and no bar line is wider than 79.
func TestProgressBarFitsARealTerminal(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("script"); err != nil {
		t.Skip("no script(1) to give cairn a terminal")
	}
	e := newEnv(t)
	wf := filepath.Join(t.TempDir(), "wide.yaml")
	if err := os.WriteFile(wf, []byte("name: wide\ntasks:\n  - id: "+longID+"\n    type: shell\n    with: {argv: [echo, hi]}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	inner := "stty cols 80 rows 24; exec " + sq(cairnBin) + " --home " + sq(e.home) + " run " + sq(wf)
	cmd := exec.CommandContext(ctx, "script", "-qec", inner, "/dev/null")
	cmd.Env = append(os.Environ(), "COLUMNS=200", "NO_COLOR=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("cairn run under script: %v\n%s", err, out)
	}
	var bars int
	for _, s := range barSegments(string(out)) {
		if !strings.Contains(s, "░") && !strings.Contains(s, "█") {
			continue
		}
		bars++
		if n := runeLen(s); n > 79 {
			t.Errorf("a bar of %d columns on an 80-column terminal: %q", n, s)
		}
	}
	if bars == 0 || !strings.Contains(string(out), "…") {
		t.Errorf("no bar with a shortened task id:\n%q", out)
	}
}

// The bar counts a for_each task through its items: one task before it,
// the task itself pending, then its three items ending: 4 of 4 done, not
// 5 of 2; a resumed run's seed counts the same.
func TestProgressBarCountsItems(t *testing.T) {
	now := time.Now()
	events := []scheduler.Event{
		{TaskID: "prep", To: cairn.TaskSucceeded, At: now},
		{TaskID: "train", To: cairn.TaskPending, At: now},
	}
	for k := range 3 {
		events = append(events, scheduler.Event{TaskID: cairn.ItemID("train", k), To: cairn.TaskReady, At: now},
			scheduler.Event{TaskID: cairn.ItemID("train", k), To: cairn.TaskSucceeded, At: now})
	}
	events = append(events, scheduler.Event{TaskID: "train", To: cairn.TaskSucceeded, At: now})
	p := newProgress(&bytes.Buffer{}, "bar", false, 2)
	for _, e := range events {
		p.observe(e)
	}
	p.finish()
	done := p.counts[cairn.TaskSucceeded]
	if p.total != 4 || done != 4 {
		t.Errorf("bar at %d/%d, want 4/4", done, p.total)
	}

	seeded := newProgress(&bytes.Buffer{}, "bar", false, 2)
	seeded.seed([]*cairn.TaskRun{{TaskID: "prep", State: cairn.TaskSucceeded}, {TaskID: "train", State: cairn.TaskPending, Expanded: true, Items: 3},
		{TaskID: "train[0]", State: cairn.TaskSucceeded}, {TaskID: "train[1]", State: cairn.TaskRunning}, {TaskID: "train[2]", State: cairn.TaskReady}})
	seeded.finish()
	if seeded.total != 4 || seeded.counts[cairn.TaskSucceeded] != 2 || seeded.counts[cairn.TaskPending] != 0 {
		t.Errorf("seeded bar: total %d, counts %v; want 4, 2 succeeded and nothing pending", seeded.total, seeded.counts)
	}
}

// countingBuffer is a bytes.Buffer safe for the progress's flush timer and
// the test to use at once, counting the writes it gets.
type countingBuffer struct {
	mu     sync.Mutex
	b      bytes.Buffer
	writes int
}

func (s *countingBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes++
	return s.b.Write(p)
}

func (s *countingBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// The plain lines are buffered, yet live: a burst of changes is written
// in a few writes, each line within lineFlush of its change without
// waiting for the run to end, and every line by finish, in order.
func TestProgressLinesBufferedButLive(t *testing.T) {
	out := &countingBuffer{}
	p := newProgress(out, "lines", false, 1000)
	now := time.Now()
	for i := range 1000 {
		p.observe(scheduler.Event{TaskID: fmt.Sprintf("t%04d", i), To: cairn.TaskSucceeded, At: now})
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "task t0999 succeeded") {
		if time.Now().After(deadline) {
			t.Fatalf("the last line was not written within 10 s of its change (lineFlush %s) without finish", lineFlush)
		}
		time.Sleep(time.Millisecond)
	}
	p.observe(scheduler.Event{TaskID: "last", To: cairn.TaskFailed, Attempt: 2, Error: "exit status 1", At: now})
	p.finish()
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 1001 || !strings.HasSuffix(lines[0], "task t0000 succeeded") || !strings.HasSuffix(lines[1000], "task last failed (attempt 2): exit status 1") {
		t.Fatalf("%d lines, first %q, last %q; want 1001 in order, the failure last", len(lines), lines[0], lines[len(lines)-1])
	}
	out.mu.Lock()
	writes := out.writes
	out.mu.Unlock()
	if writes > 10 {
		t.Errorf("1,001 lines took %d writes, want a few (buffered)", writes)
	}
}

// A table cell never carries a control or bidi character to the
// terminal, whole or cut: a webhook receiver's answer stored as an
// alert's last error (trial: OSC 52 and a screen clear reached the
// terminal through cairn alerts list) is shown escaped.
func TestCellEscapesControls(t *testing.T) {
	hostile := "HTTP 500: oops \x1b]52;c;ZWNobyBwd25lZA==\x07 \x1b[2J\x1b[1;1H FAKE OK \u202e" + strings.Repeat("x", 60)
	got := cell(hostile)
	if strings.ContainsFunc(got, isControl) {
		t.Fatalf("cell(%q) = %q: a control character reaches the terminal", hostile, got)
	}
	if !strings.HasPrefix(got, `HTTP 500: oops \x1b]52;c;`) || !strings.HasSuffix(got, "…") {
		t.Errorf("cell = %q, want the text escaped, then cut", got)
	}
}
