package serve

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// failingHandle writes only room bytes of what it is given, then fails
// as a full disk does; truncFails makes cutting back fail too.
type failingHandle struct {
	*os.File
	room       int
	truncFails bool
}

func (h *failingHandle) Write(b []byte) (int, error) {
	if len(b) <= h.room {
		h.room -= len(b)
		return h.File.Write(b)
	}
	n, _ := h.File.Write(b[:h.room])
	h.room = 0
	return n, &os.PathError{Op: "write", Path: h.Name(), Err: syscall.ENOSPC}
}

func (h *failingHandle) Truncate(size int64) error {
	if h.truncFails {
		return errors.New("truncate: input/output error")
	}
	return h.File.Truncate(size)
}

func sampleLines(from, n int) []byte {
	var b []byte
	for i := from; i < from+n; i++ {
		b = fmt.Appendf(b, "{\"cairn_time\":\"2030-01-02T15:04:05Z\",\"x\":%d}\n", i)
	}
	return b
}

// checkWholeLines fails unless every line of path is a JSON object and
// the file ends with a newline; it returns the x of each line.
func checkWholeLines(t *testing.T, path string) []int {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) > 0 && raw[len(raw)-1] != '\n' {
		t.Fatalf("%s ends in the middle of a line: %q", path, raw[max(len(raw)-60, 0):])
	}
	var xs []int
	for i, l := range bytes.Split(bytes.TrimSuffix(raw, []byte("\n")), []byte("\n")) {
		if len(l) == 0 {
			continue
		}
		var v struct{ X int }
		if err := json.Unmarshal(l, &v); err != nil {
			t.Fatalf("%s line %d is not one JSON object (%v): %q", path, i+1, err, l)
		}
		xs = append(xs, v.X)
	}
	return xs
}

// TestSampleShortWriteCutBack: a write that fails part way through (a
// full disk) leaves no part of a line in the log, whether the writer can
// cut the file back at once or only when it opens the file again; the
// lines written later are whole lines after the earlier whole ones.
func TestSampleShortWriteCutBack(t *testing.T) {
	for _, truncFails := range []bool{false, true} {
		t.Run(fmt.Sprintf("truncFails=%v", truncFails), func(t *testing.T) {
			dir := t.TempDir()
			s := newSampler(dir, 1<<20, 1<<20, slog.New(slog.NewTextHandler(io.Discard, nil)), func(Event) {})
			if err := s.write("m", sampleLines(0, 3)); err != nil {
				t.Fatal(err)
			}
			f, err := s.file("m")
			if err != nil {
				t.Fatal(err)
			}
			f.f = &failingHandle{File: f.f.(*os.File), room: 70, truncFails: truncFails} // one line and a half
			if err := s.write("m", sampleLines(3, 4)); !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("write on a full disk: %v, want ENOSPC", err)
			}
			if _, kept := s.files["m"]; kept == truncFails {
				t.Fatalf("handle kept: %v, want %v (dropped only when it cannot be cut back)", kept, !truncFails)
			}
			if g, ok := s.files["m"]; ok {
				g.f = g.f.(*failingHandle).File // space again
			}
			if err := s.write("m", sampleLines(10, 2)); err != nil {
				t.Fatal(err)
			}
			// Cut back at once, the failed write leaves nothing (its rows
			// are counted dropped); cut back at the next open, the whole
			// line it wrote before the disk filled stays.
			want := "[0 1 2 10 11]"
			if truncFails {
				want = "[0 1 2 3 10 11]"
			}
			got := fmt.Sprint(checkWholeLines(t, filepath.Join(dir, "m", SampleFile)))
			if got != want {
				t.Fatalf("lines %s, want %s", got, want)
			}
			s.closeFiles()
		})
	}
}

// TestSampleTwoWritersOneLog: two servers on one home (two samplers on
// one folder) write and rotate one log by turns: every row of the newest
// files is kept, in order, the rotated file is the one before the
// current one, and nothing is lost to a writer that appended to a file
// the other had rotated (trial finding 16: ~70,000 rows lost).
func TestSampleTwoWritersOneLog(t *testing.T) {
	dir := t.TempDir()
	discard := slog.New(slog.NewTextHandler(io.Discard, nil))
	const lineLen = 47 // a line of sampleLines(x) for 1000 <= x < 10000
	a := newSampler(dir, 100*lineLen, 1<<20, discard, func(Event) {})
	b := newSampler(dir, 100*lineLen, 1<<20, discard, func(Event) {})
	x := 1000
	for round := 0; round < 10; round++ {
		for _, s := range []*sampler{b, a, a, b, b, a} {
			if err := s.write("m", sampleLines(x, 17)); err != nil {
				t.Fatal(err)
			}
			x += 17
		}
	}
	old := checkWholeLines(t, filepath.Join(dir, "m", SampleRotatedFile))
	cur := checkWholeLines(t, filepath.Join(dir, "m", SampleFile))
	all := append(old, cur...)
	for i := 1; i < len(all); i++ {
		if all[i] != all[i-1]+1 {
			t.Fatalf("rows %d then %d: rows lost or out of order between the files (rotated %d rows %v..., current %d rows)",
				all[i-1], all[i], len(old), old[:min(3, len(old))], len(cur))
		}
	}
	if all[len(all)-1] != x-1 || len(old) < 100-17 || len(old) > 100 || len(cur) > 100 {
		t.Fatalf("kept rows up to %d (want %d); %d rotated, %d current (want each at most 100, the rotated one nearly full)", all[len(all)-1], x-1, len(old), len(cur))
	}
	a.closeFiles()
	b.closeFiles()
}
