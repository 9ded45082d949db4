package dataset

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// allocatedBy returns the bytes the process allocated while fn ran,
// after a collection.
func allocatedBy(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// turnsToText is a CSV whose column y holds numbers but for its last
// row, so that ReadCSV reads y a second time, as text.
func turnsToText(rows int) []byte {
	var b bytes.Buffer
	b.WriteString("x,y,z\n")
	for i := range rows {
		fmt.Fprintf(&b, "%d.5,%d,%d\n", i, i*7, i%3)
	}
	b.WriteString("1,unknown,2\n")
	return b.Bytes()
}

// TestReadCSVReadsItsSourceAgain: a column that turns to text is read
// again from a re-readable source, from where the source was when ReadCSV
// began (a bytes.Reader and a regular file, each past a prefix; the
// bytes.Reader also from a section of a larger one), with the frame the
// reference reads; a pipe, which cannot be read again, is kept.
func TestReadCSVReadsItsSourceAgain(t *testing.T) {
	src := turnsToText(5000)
	want, err := readCSVRef(bytes.NewReader(src), ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want.Columns[1].Kind != Categorical || want.Columns[0].Kind != Numeric {
		t.Fatalf("the input does not turn y to text: %s %s", want.Columns[0].Kind, want.Columns[1].Kind)
	}
	prefix := []byte("skipped line\n")
	withPrefix := append(bytes.Clone(prefix), src...)
	path := filepath.Join(t.TempDir(), "in.csv")
	if err := os.WriteFile(path, withPrefix, 0o600); err != nil {
		t.Fatal(err)
	}
	sources := map[string]func(t *testing.T) io.Reader{
		"bytes.Reader past a prefix": func(t *testing.T) io.Reader {
			r := bytes.NewReader(withPrefix)
			if _, err := r.Read(make([]byte, len(prefix))); err != nil {
				t.Fatal(err)
			}
			return r
		},
		"a section": func(t *testing.T) io.Reader {
			return io.NewSectionReader(bytes.NewReader(append(bytes.Clone(withPrefix), "x,y,z\n1,2,3\n"...)), int64(len(prefix)), int64(len(src)))
		},
		"file past a prefix": func(t *testing.T) io.Reader {
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { f.Close() })
			if _, err := f.Seek(int64(len(prefix)), io.SeekStart); err != nil {
				t.Fatal(err)
			}
			return f
		},
		"pipe": func(t *testing.T) io.Reader {
			pr, pw, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { pr.Close() })
			go func() {
				pw.Write(src)
				pw.Close()
			}()
			if _, _, ok := rereadable(pr); ok {
				t.Error("a pipe is taken as re-readable")
			}
			return pr
		},
	}
	for name, open := range sources {
		t.Run(name, func(t *testing.T) {
			r := open(t)
			got, err := ReadCSV(r, ReadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if d := strictDiff(got, want); d != "" {
				t.Fatal(d)
			}
		})
	}
}

// TestReadCSVDoesNotKeepARereadableInput: inferring kinds, ReadCSV of a
// re-readable source allocates about the frame, not the frame and the
// input as it does when it must keep the input.
func TestReadCSVDoesNotKeepARereadableInput(t *testing.T) {
	if raceEnabled {
		t.Skip("allocations are not measured under the race detector")
	}
	src := turnsToText(200_000)
	allocated := func(r io.Reader) uint64 {
		return allocatedBy(func() {
			f, err := ReadCSV(r, ReadOptions{})
			if err != nil || f.Rows() != 200_001 {
				t.Errorf("ReadCSV: %v, %v", err, f)
			}
		})
	}
	again, kept := allocated(bytes.NewReader(src)), allocated(onlyReader{bytes.NewReader(src)})
	t.Logf("input %d bytes; allocated reading it again %d, keeping it %d", len(src), again, kept)
	if again+uint64(len(src))*3/4 > kept {
		t.Errorf("reading the input again allocated %d bytes, keeping it %d: want at least three quarters of the input's %d fewer",
			again, kept, len(src))
	}
}

// changingSource reads first as Read gives first's bytes, then, through
// ReadAt, second's (or fails with err).
type changingSource struct {
	first  *bytes.Reader
	second []byte
	err    error
	readAt int
}

func (c *changingSource) Read(p []byte) (int, error) { return c.first.Read(p) }

func (c *changingSource) Seek(off int64, whence int) (int64, error) {
	if off != 0 || whence != io.SeekCurrent {
		return 0, errors.New("changingSource: only tells where it is")
	}
	return c.first.Seek(0, io.SeekCurrent)
}

func (c *changingSource) ReadAt(p []byte, off int64) (int, error) {
	c.readAt++
	if c.err != nil {
		return 0, c.err
	}
	return bytes.NewReader(c.second).ReadAt(p, off)
}

// TestReadCSVInputChangedWhileRead: a source whose bytes differ when a
// column is read again gives an error wrapping ErrChanged — the same
// shape with a digit changed, a row losing a field, the input cut short
// — and a source whose ReadAt fails gives its error; one appended to is
// read again as far as it was read the first time (a file being
// written at its end reads as it was); a source that no column needs
// read again is read once.
func TestReadCSVInputChangedWhileRead(t *testing.T) {
	src := turnsToText(300)
	replace := func(old, new string) []byte {
		if !bytes.Contains(src, []byte(old)) {
			t.Fatalf("%q is not in the input", old)
		}
		return bytes.Replace(src, []byte(old), []byte(new), 1)
	}
	cases := map[string][]byte{
		"a digit":       replace("\n17.5,119,2\n", "\n17.5,118,2\n"),
		"a field fewer": replace("\n17.5,119,2\n", "\n17.5,119\n"),
		"a text value":  replace("unknown", "unknowx"),
		"cut short":     src[:len(src)-40],
		"all gone":      nil,
	}
	for name, second := range cases {
		t.Run(name, func(t *testing.T) {
			c := &changingSource{first: bytes.NewReader(src), second: second}
			_, err := ReadCSV(c, ReadOptions{})
			if !errors.Is(err, ErrChanged) || c.readAt == 0 {
				t.Fatalf("ReadCSV: %v after %d ReadAt calls, want an error wrapping ErrChanged", err, c.readAt)
			}
			if !strings.Contains(err.Error(), "the input changed while it was read") {
				t.Errorf("the message does not say what happened: %v", err)
			}
		})
	}
	for name, second := range map[string][]byte{"the same bytes": src, "appended to": append(bytes.Clone(src), "2,3,4\n"...)} {
		t.Run(name, func(t *testing.T) {
			c := &changingSource{first: bytes.NewReader(src), second: second}
			f, err := ReadCSV(c, ReadOptions{})
			if err != nil || c.readAt == 0 || f.Rows() != 301 {
				t.Fatalf("ReadCSV: %v after %d ReadAt calls", err, c.readAt)
			}
		})
	}
	t.Run("ReadAt fails", func(t *testing.T) {
		c := &changingSource{first: bytes.NewReader(src), err: errReaderFailed}
		_, err := ReadCSV(c, ReadOptions{})
		if !errors.Is(err, errReaderFailed) || errors.Is(err, ErrChanged) {
			t.Fatalf("ReadCSV: %v, want the source's error", err)
		}
	})
	t.Run("nothing to read again", func(t *testing.T) {
		numbers := turnsToText(300)
		numbers = numbers[:bytes.LastIndex(numbers[:len(numbers)-1], []byte("\n"))+1]
		c := &changingSource{first: bytes.NewReader(numbers), second: nil}
		f, err := ReadCSV(c, ReadOptions{})
		if err != nil || c.readAt != 0 || f.Columns[1].Kind != Numeric {
			t.Fatalf("ReadCSV: %v after %d ReadAt calls", err, c.readAt)
		}
	})
}

// TestSizeHint: the bytes a reader holds from where it is, when it says:
// a bytes.Reader's Len, a regular file's size, a section's Size less
// where it is; 0 for a reader that does not say.
func TestSizeHint(t *testing.T) {
	sec := io.NewSectionReader(strings.NewReader("0123456789"), 2, 6)
	if _, err := sec.Read(make([]byte, 4)); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, []byte("abcdefg"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, c := range []struct {
		name string
		r    io.Reader
		want int64
	}{
		{"bytes.Reader", bytes.NewReader([]byte("abc")), 3},
		{"section, 4 of 6 read", sec, 2},
		{"file", f, 7},
		{"plain reader", onlyReader{strings.NewReader("abc")}, 0},
	} {
		if got := sizeHint(c.r); got != c.want {
			t.Errorf("%s: sizeHint = %d, want %d", c.name, got, c.want)
		}
	}
}

// TestReadCSVSectionBeyondItsBytes: a section whose limit is past the
// bytes under it ("to the end": math.MaxInt64, or just large) reads as
// its bytes do, promptly and without room reserved for the rows its
// Size would hold: a first chunk of size+1 bytes overflowed (a negative
// chunk, fill looping forever) and the reserve took the limit for the
// input's size.
func TestReadCSVSectionBeyondItsBytes(t *testing.T) {
	small := turnsToText(50)
	big := turnsToText(400_000) // over ReadCSV's largest chunk
	if len(big) <= 4<<20 {
		t.Fatalf("the big input is only %d bytes", len(big))
	}
	for _, c := range []struct {
		name  string
		src   []byte
		limit int64
	}{
		{"small, MaxInt64", small, math.MaxInt64},
		{"small, MaxInt64-1", small, math.MaxInt64 - 1},
		{"small, 1<<40", small, 1 << 40},
		{"big, MaxInt64", big, math.MaxInt64},
		{"big, 1<<40", big, 1 << 40},
	} {
		t.Run(c.name, func(t *testing.T) {
			want, err := readCSVRef(bytes.NewReader(c.src), ReadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			type result struct {
				f     *Frame
				err   error
				alloc uint64
			}
			done := make(chan result, 1)
			go func() {
				var res result
				res.alloc = allocatedBy(func() {
					res.f, res.err = ReadCSV(io.NewSectionReader(bytes.NewReader(c.src), 0, c.limit), ReadOptions{})
				})
				done <- res
			}()
			select {
			case res := <-done:
				if res.err != nil {
					t.Fatalf("ReadCSV: %v", res.err)
				}
				if d := strictDiff(res.f, want); d != "" {
					t.Fatal(d)
				}
				if limit := uint64(len(c.src))*8 + 16<<20; res.alloc > limit {
					t.Errorf("read %d bytes with %d bytes allocated, want at most %d", len(c.src), res.alloc, limit)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("ReadCSV still reading after 20 s")
			}
		})
	}
	// A section whose bytes are all there is sized by its Size.
	sec := io.NewSectionReader(bytes.NewReader(small), 3, int64(len(small)-3))
	if got := sizeHint(sec); got != int64(len(small)-3) {
		t.Errorf("sizeHint of a whole section = %d, want %d", got, len(small)-3)
	}
}

// TestReadCSVFirstChunkWithinMaxBytes: the first chunk of a source that
// says its size is no larger than MaxBytes lets it be: a 4 MiB input
// refused at 100 bytes does not take 4 MiB to say so.
func TestReadCSVFirstChunkWithinMaxBytes(t *testing.T) {
	if raceEnabled {
		t.Skip("allocations are not measured under the race detector")
	}
	src := turnsToText(300_000)
	var err error
	got := allocatedBy(func() { _, err = ReadCSV(bytes.NewReader(src), ReadOptions{MaxBytes: 100}) })
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("ReadCSV of %d bytes with MaxBytes 100: %v", len(src), err)
	}
	if got > 64<<10 {
		t.Errorf("refusing %d bytes at MaxBytes 100 allocated %d bytes", len(src), got)
	}
}
