package tasks_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/cairnml/cairn/artifacts"
	"github.com/cairnml/cairn/tasks"
	"github.com/cairnml/cairn/tasks/ml/dataset"
)

// TestContextReaderKeepsReadAt: over a bytes.Reader the context reader
// is an io.ReaderAt and an io.Seeker, whose ReadAt fails with the
// cancellation once the context is done; over a plain reader it is
// neither; over a regular file, its Size is the file's.
func TestContextReaderKeepsReadAt(t *testing.T) {
	ctx, cancel := context.WithCancelCause(context.Background())
	r := tasks.ContextReader(ctx, bytes.NewReader([]byte("hello")))
	ra, ok := r.(io.ReaderAt)
	if _, isSeeker := r.(io.Seeker); !ok || !isSeeker {
		t.Fatalf("%T over a bytes.Reader: ReaderAt %v", r, ok)
	}
	p := make([]byte, 3)
	if n, err := ra.ReadAt(p, 1); n != 3 || err != nil || string(p) != "ell" {
		t.Fatalf("ReadAt = %d, %v, %q", n, err, p)
	}
	stop := errors.New("stopped")
	cancel(stop)
	if _, err := ra.ReadAt(p, 0); !errors.Is(err, stop) {
		t.Fatalf("ReadAt after cancel: %v", err)
	}
	if _, err := r.Read(p); !errors.Is(err, stop) {
		t.Fatalf("Read after cancel: %v", err)
	}
	if _, ok := tasks.ContextReader(context.Background(), strings.NewReader("x")).(io.ReaderAt); !ok {
		t.Error("not a ReaderAt over a strings.Reader")
	}
	if _, ok := tasks.ContextReader(context.Background(), io.MultiReader(strings.NewReader("x"))).(io.ReaderAt); ok {
		t.Error("a ReaderAt over a reader that is not one")
	}
	// Over a regular file: its size.
	path := filepath.Join(t.TempDir(), "f.csv")
	if err := os.WriteFile(path, []byte("a\n1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if s, ok := tasks.ContextReader(context.Background(), f).(interface{ Size() int64 }); !ok || s.Size() != 4 {
		t.Errorf("over a 4-byte file: Size %v", s)
	}
}

// textAtTheEnd is a CSV whose column b holds numbers but on its last row,
// so that dataset.ReadCSV reads b a second time, as text.
func textAtTheEnd(rows int) []byte {
	var sb bytes.Buffer
	sb.WriteString("a,b\n")
	for i := range rows {
		fmt.Fprintf(&sb, "%d.25,%d\n", i, i*3)
	}
	sb.WriteString("1,n/a\n")
	return sb.Bytes()
}

// TestReadCSVReadsAnArtifactAgain: a task's CSV input (an artifact read
// through a cache and ContextReader, as train and split read theirs)
// whose column turns to text is read again from the blob, not kept in
// memory, with its columns sized by the blob's size, and reads as the
// bytes do; the blob's reader reads again only what it has verified, and
// does not seek.
func TestReadCSVReadsAnArtifactAgain(t *testing.T) {
	ctx := context.Background()
	dir, err := artifacts.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cache, err := artifacts.NewCache(dir, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	src := textAtTheEnd(200_000)
	ref, release, err := cache.Put(ctx, "text/csv", bytes.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	want, err := dataset.ReadCSV(bytes.NewReader(src), dataset.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want.Columns[1].Kind != dataset.Categorical {
		t.Fatalf("column b is %s", want.Columns[1].Kind)
	}

	rc, err := cache.Open(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rc.(io.ReaderAt).ReadAt(make([]byte, 1), 0); err == nil {
		t.Error("the blob's reader reads again before it has verified the bytes")
	}
	if _, err := rc.(io.Seeker).Seek(1, io.SeekStart); err == nil {
		t.Error("the blob's reader seeks")
	}
	// What ReadCSV asks of it, through ContextReader: where it is, its
	// size.
	cr := tasks.ContextReader(ctx, rc)
	if at, err := cr.(io.Seeker).Seek(0, io.SeekCurrent); at != 0 || err != nil {
		t.Errorf("Seek(0, io.SeekCurrent) = %d, %v", at, err)
	}
	if size := cr.(interface{ Size() int64 }).Size(); size != int64(len(src)) {
		t.Errorf("Size() = %d, want %d", size, len(src))
	}
	rc.Close()

	read := func(hide bool) (*dataset.Frame, uint64) {
		rc, err := cache.Open(ctx, ref)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		var r io.Reader = rc
		if hide {
			r = struct{ io.Reader }{rc}
		}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		f, err := dataset.ReadCSV(tasks.ContextReader(ctx, r), dataset.ReadOptions{})
		runtime.ReadMemStats(&after)
		if err != nil {
			t.Fatal(err)
		}
		return f, after.TotalAlloc - before.TotalAlloc
	}
	again, allocAgain := read(false)
	kept, allocKept := read(true)
	for _, f := range []*dataset.Frame{again, kept} {
		if f.Rows() != want.Rows() || f.Columns[1].Kind != dataset.Categorical || f.Columns[1].Str[7] != "21" || f.Columns[1].Str[want.Rows()-1] != "n/a" {
			t.Fatalf("read %d rows, b %s", f.Rows(), f.Columns[1].Kind)
		}
	}
	t.Logf("a %d-byte artifact: %d bytes allocated reading it again (sized), %d keeping it (a reader of no size)", len(src), allocAgain, allocKept)
	if raceEnabled {
		return
	}
	if allocAgain+uint64(len(src))*3/4 > allocKept {
		t.Errorf("reading the artifact again allocated %d bytes, keeping it %d: want at least three quarters of its %d fewer",
			allocAgain, allocKept, len(src))
	}
}
