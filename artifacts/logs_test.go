package artifacts_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/artifacts"
)

func openLogs(t *testing.T) *artifacts.Logs {
	t.Helper()
	l, err := artifacts.OpenLogs(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func readLog(t *testing.T, l *artifacts.Logs, run, task string, attempt int) string {
	t.Helper()
	rc, err := l.Open(run, task, attempt)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestLogsRoundTripAndAppend(t *testing.T) {
	l := openLogs(t)
	w, err := l.Create("run1", "train", 1)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "hello\n")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := w.Write([]byte("late")); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("Write after Close: %v", err)
	}
	// Re-creating the same attempt's log appends.
	w, err = l.Create("run1", "train", 1)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "again\n")
	w.Close()
	if got := readLog(t, l, "run1", "train", 1); got != "hello\nagain\n" {
		t.Fatalf("log = %q", got)
	}
	if _, err := l.Open("run1", "train", 2); !errors.Is(err, cairn.ErrNotFound) {
		t.Fatalf("Open of a missing attempt: %v", err)
	}
}

func TestLogsRejectUnsafeComponents(t *testing.T) {
	l := openLogs(t)
	for _, c := range []struct {
		run, task string
		attempt   int
	}{
		{"..", "t", 1}, {"r", "..", 1}, {"a/b", "t", 1}, {"r", "a/b", 1}, {"", "t", 1},
		{"r", "", 1}, {".", "t", 1}, {"r", `a\b`, 1}, {"r", "t\x00", 1}, {"r", "t", 0}, {"r", "t", -1},
	} {
		if _, err := l.Create(c.run, c.task, c.attempt); err == nil {
			t.Errorf("Create(%q, %q, %d) succeeded", c.run, c.task, c.attempt)
		}
		if _, err := l.Open(c.run, c.task, c.attempt); err == nil || errors.Is(err, cairn.ErrNotFound) {
			t.Errorf("Open(%q, %q, %d): err = %v, want a validation error", c.run, c.task, c.attempt, err)
		}
	}
}

func TestLogsConcurrentWriters(t *testing.T) {
	l := openLogs(t)
	w, err := l.Create("r", "t", 1)
	if err != nil {
		t.Fatal(err)
	}
	const writers, lines = 4, 2000
	var wg sync.WaitGroup
	for i := range writers {
		line := bytes.Repeat([]byte{byte('a' + i)}, 99)
		line = append(line, '\n')
		wg.Go(func() {
			for range lines {
				w.Write(line)
			}
		})
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got := readLog(t, l, "r", "t", 1)
	all := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
	if len(all) != writers*lines {
		t.Fatalf("%d lines, want %d", len(all), writers*lines)
	}
	for i, line := range all {
		if len(line) != 99 || strings.Count(line, line[:1]) != 99 {
			t.Fatalf("line %d torn: %q", i, line)
		}
	}
}

func TestLogWriterCreatesFileOnFirstWrite(t *testing.T) {
	l := openLogs(t)
	wc, err := l.Create("r", "t", 1)
	if err != nil {
		t.Fatal(err)
	}
	p, err := l.Path("r", "t", 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("log file exists before any write: %v", err)
	}
	if _, err := wc.Write(nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("an empty write created the log file: %v", err)
	}
	io.WriteString(wc, "hello\n")
	if err := wc.Close(); err != nil {
		t.Fatal(err)
	}
	if got := readLog(t, l, "r", "t", 1); got != "hello\n" {
		t.Fatalf("log = %q", got)
	}
	silent, _ := l.Create("r", "t", 2)
	if err := silent.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Open("r", "t", 2); !errors.Is(err, cairn.ErrNotFound) {
		t.Fatalf("log of a silent attempt: %v, want ErrNotFound", err)
	}
}
