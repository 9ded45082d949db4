package artifacts_test

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/cairnml/cairn/artifacts"
)

// pseudoText is n bytes of numbered lines, so that any cut shows.
func pseudoText(n int) []byte {
	var b strings.Builder
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "line %d\n", i)
	}
	return []byte(b.String()[:n])
}

// A log past its limit keeps the output's first limit − tail bytes and its
// last tail bytes, exactly, with a line counting the bytes dropped between
// them, whatever the sizes of the writes; the closing note is not cut.
func TestLogLimitKeepsHeadAndTail(t *testing.T) {
	const limit = 64 << 10 // tail: 32 KiB
	out := pseudoText(1<<20 + 12345)
	rng := rand.New(rand.NewPCG(1, 2))
	for _, maxWrite := range []int{1, 100, 40 << 10, 3 << 20} {
		l := openLogs(t).WithLimit(limit)
		w, err := l.Create("r", "t", 1)
		if err != nil {
			t.Fatal(err)
		}
		for rest := out; len(rest) > 0; {
			n := min(1+rng.IntN(maxWrite), len(rest))
			if maxWrite == 1 && len(rest) > 70000 { // keep the byte-by-byte case short
				n = len(rest) - 70000
			}
			if got, err := w.Write(rest[:n]); err != nil || got != n {
				t.Fatalf("Write(%d bytes) = %d, %v", n, got, err)
			}
			rest = rest[n:]
		}
		note := "\ncairn: attempt 1 failed: " + strings.Repeat("x", 100<<10) + "\n"
		if err := w.(*artifacts.LogWriter).CloseWithNote(note); err != nil {
			t.Fatal(err)
		}
		got := readLog(t, l, "r", "t", 1)
		dropped := len(out) - limit
		want := string(out[:limit/2]) +
			fmt.Sprintf("\n[cairn: %d bytes dropped: the log keeps the first 32 KiB and the last 32 KiB of an attempt's output (cairn run --log-limit)]\n", dropped) +
			string(out[len(out)-limit/2:]) + note
		if got != want {
			t.Fatalf("writes of up to %d bytes: log of %d bytes differs from the %d expected (head, marker, tail, note)", maxWrite, len(got), len(want))
		}
	}
}

// Under its limit a log is the output as written, without a marker; the
// default limit is 64 MiB with a 1 MiB tail.
func TestLogUnderLimitIsWhole(t *testing.T) {
	l := openLogs(t)
	if l.Limit() != artifacts.DefaultLogLimit || artifacts.DefaultLogLimit != 64<<20 {
		t.Fatalf("default limit %d", l.Limit())
	}
	l = l.WithLimit(1000)
	w, _ := l.Create("r", "t", 1)
	out := pseudoText(1000) // exactly the limit: head 500 to the file, 500 in the window
	w.Write(out)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got := readLog(t, l, "r", "t", 1); got != string(out) {
		t.Fatalf("log of %d bytes at its limit = %q", len(out), got)
	}
	// No limit.
	l = openLogs(t).WithLimit(0)
	w, _ = l.Create("r", "t", 1)
	big := pseudoText(3 << 20)
	w.Write(big)
	w.Close()
	if got := readLog(t, l, "r", "t", 1); got != string(big) {
		t.Fatalf("unlimited log: %d bytes, want %d", len(got), len(big))
	}
}

// The marker says "1 byte", not "1 bytes", for a tiny limit; the count of
// bytes dropped is the exact number of bytes, never rounded to KiB.
func TestLogLimitMarkerPlural(t *testing.T) {
	for _, c := range []struct {
		limit int64
		out   string
		want  string
	}{
		{1, "abc", "a\n[cairn: 2 bytes dropped: the log keeps the first 1 byte and the last 0 bytes of an attempt's output (cairn run --log-limit)]\n"},
		{2, "abc", "a\n[cairn: 1 byte dropped: the log keeps the first 1 byte and the last 1 byte of an attempt's output (cairn run --log-limit)]\nc"},
		{4, "abcdef", "ab\n[cairn: 2 bytes dropped: the log keeps the first 2 bytes and the last 2 bytes of an attempt's output (cairn run --log-limit)]\nef"},
		{2048, strings.Repeat("x", 3072), strings.Repeat("x", 1024) + "\n[cairn: 1024 bytes dropped: the log keeps the first 1 KiB and the last 1 KiB of an attempt's output (cairn run --log-limit)]\n" + strings.Repeat("x", 1024)},
	} {
		l := openLogs(t).WithLimit(c.limit)
		w, err := l.Create("r", "t", 1)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(c.out))
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if got := readLog(t, l, "r", "t", 1); got != c.want {
			t.Errorf("limit %d, output %d bytes: log\n%q\nwant\n%q", c.limit, len(c.out), got, c.want)
		}
	}
}

// The limit is the attempt's: a log written again (a worker that sends
// its log stream once more, a restarted worker) counts what the file
// holds, so that no number of writers makes it grow past the limit and a
// marker line (a trial: five PUTs of 200 KB to one attempt's log with a
// limit of 64 KiB left 328 KB).
func TestLogLimitHoldsAcrossWriters(t *testing.T) {
	const limit = 64 << 10
	l := openLogs(t).WithLimit(limit)
	out := pseudoText(200 << 10)
	for i := range 5 {
		w, err := l.Create("r", "t", 1)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(out); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		got := readLog(t, l, "r", "t", 1)
		if len(got) > limit+200 {
			t.Fatalf("after writer %d the log holds %d bytes, over the limit of %d and a marker line", i+1, len(got), limit)
		}
		if !strings.HasPrefix(got, string(out[:limit/2])) {
			t.Fatalf("after writer %d the log does not begin with the first writer's head", i+1)
		}
	}
	// Below the limit, a second writer adds within what is left.
	l2 := openLogs(t).WithLimit(limit)
	for _, part := range [][]byte{out[:40<<10], out[40<<10 : 100<<10]} {
		w, err := l2.Create("r", "t", 1)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(part)
		w.Close()
	}
	if got := readLog(t, l2, "r", "t", 1); len(got) > limit+200 || !strings.HasPrefix(got, string(out[:40<<10])) {
		t.Fatalf("two writers under and over the limit: %d bytes", len(got))
	}
}
