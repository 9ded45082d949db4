package artifacts_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/artifacts"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func openDir(t *testing.T) *artifacts.Dir {
	t.Helper()
	d, err := artifacts.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func readAll(t *testing.T, d *artifacts.Dir, ref cairn.ArtifactRef) ([]byte, error) {
	t.Helper()
	rc, err := d.Open(context.Background(), ref)
	if err != nil {
		t.Fatalf("open %s: %v", ref.Digest, err)
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

func TestDirRoundTrip(t *testing.T) {
	d := openDir(t)
	ctx := context.Background()
	data := make([]byte, 1<<20+17) // spans several copy buffers
	rand.Read(data)
	sum := sha256.Sum256(data)

	ref, err := d.Put(ctx, "application/octet-stream", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	want := cairn.ArtifactRef{Digest: "sha256:" + hex.EncodeToString(sum[:]), Size: int64(len(data)), MediaType: "application/octet-stream"}
	if ref != want {
		t.Fatalf("ref = %+v, want %+v", ref, want)
	}
	got, err := readAll(t, d, ref)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("read back different bytes")
	}

	p, err := d.Path(ref)
	if err != nil {
		t.Fatal(err)
	}
	if wantP := filepath.Join(d.Root(), "sha256", ref.Hex()[:2], ref.Hex()); p != wantP {
		t.Fatalf("path = %s, want %s", p, wantP)
	}
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm()&0o222 != 0 {
		t.Fatalf("stored blob is writable: %v", st.Mode())
	}
	tmps, _ := os.ReadDir(filepath.Join(d.Root(), "tmp"))
	if len(tmps) != 0 {
		t.Fatalf("temporary files left behind: %d", len(tmps))
	}
}

func TestDirEmptyBlob(t *testing.T) {
	d := openDir(t)
	ref, err := d.Put(context.Background(), "", strings.NewReader(""))
	if err != nil {
		t.Fatal(err)
	}
	if ref.Digest != "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" || ref.Size != 0 {
		t.Fatalf("ref = %+v", ref)
	}
	if got, err := readAll(t, d, ref); err != nil || len(got) != 0 {
		t.Fatalf("read = %q, %v", got, err)
	}
}

func TestDirCorruptionDetected(t *testing.T) {
	ctx := context.Background()
	data := bytes.Repeat([]byte("cairn artifact "), 10000)
	for _, tc := range []struct {
		name    string
		corrupt func(p string) error
	}{
		{"flipped byte", func(p string) error {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			b[len(b)/2] ^= 0x01
			return os.WriteFile(p, b, 0o444)
		}},
		{"appended byte", func(p string) error {
			f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				return err
			}
			f.Write([]byte{'x'})
			return f.Close()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := openDir(t)
			ref, err := d.Put(ctx, "text/plain", bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			p, _ := d.Path(ref)
			if err := os.Chmod(p, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := tc.corrupt(p); err != nil {
				t.Fatal(err)
			}
			// Open streams and verifies: a wrong size is caught up front, wrong
			// bytes at the end of the stream.
			rc, err := d.Open(ctx, ref)
			if err == nil {
				_, err = io.ReadAll(rc)
				rc.Close()
			}
			if !errors.Is(err, artifacts.ErrCorrupt) {
				t.Fatalf("read corrupted blob: err = %v, want ErrCorrupt", err)
			}
			// A fresh Put of the right bytes repairs the blob.
			if _, err := d.Put(ctx, "text/plain", bytes.NewReader(data)); err != nil {
				t.Fatal(err)
			}
			if got, err := readAll(t, d, ref); err != nil || !bytes.Equal(got, data) {
				t.Fatalf("after repair: %d bytes, %v", len(got), err)
			}
		})
	}
}

func TestDirPutIdempotent(t *testing.T) {
	d := openDir(t)
	ctx := context.Background()
	a, err := d.Put(ctx, "text/plain", strings.NewReader("same bytes"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := d.Put(ctx, "text/plain", strings.NewReader("same bytes"))
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Fatalf("second put = %+v, first %+v", b, a)
	}
	entries, _ := os.ReadDir(filepath.Join(d.Root(), "sha256", a.Hex()[:2]))
	if len(entries) != 1 {
		t.Fatalf("%d blobs stored, want 1", len(entries))
	}
}

func TestDirConcurrentPutsSameContent(t *testing.T) {
	d := openDir(t)
	ctx := context.Background()
	data := bytes.Repeat([]byte{0xab}, 300<<10)
	const n = 16
	refs := make([]cairn.ArtifactRef, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { refs[i], errs[i] = d.Put(ctx, "", bytes.NewReader(data)) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("put %d: %v", i, errs[i])
		}
		if refs[i] != refs[0] {
			t.Fatalf("put %d = %+v, put 0 = %+v", i, refs[i], refs[0])
		}
	}
	got, err := readAll(t, d, refs[0])
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back: %d bytes, %v", len(got), err)
	}
	tmps, _ := os.ReadDir(filepath.Join(d.Root(), "tmp"))
	if len(tmps) != 0 {
		t.Fatalf("temporary files left behind: %d", len(tmps))
	}
}

func TestDirNotFound(t *testing.T) {
	d := openDir(t)
	ref := cairn.ArtifactRef{Digest: "sha256:" + strings.Repeat("0", 64), Size: 3}
	if _, err := d.Open(context.Background(), ref); !errors.Is(err, cairn.ErrNotFound) {
		t.Fatalf("Open: err = %v, want ErrNotFound", err)
	}
	if _, err := d.Path(ref); !errors.Is(err, cairn.ErrNotFound) {
		t.Fatalf("Path: err = %v, want ErrNotFound", err)
	}
	bad := cairn.ArtifactRef{Digest: "sha256:../../etc/passwd"}
	if _, err := d.Open(context.Background(), bad); err == nil || errors.Is(err, cairn.ErrNotFound) {
		t.Fatalf("Open of a malformed ref: err = %v, want a validation error", err)
	}
}

type failingReader struct{ n int }

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, errors.New("disk on fire")
	}
	r.n--
	return copy(p, "abc"), nil
}

func TestDirPutFailureStoresNothing(t *testing.T) {
	d := openDir(t)
	if _, err := d.Put(context.Background(), "", &failingReader{n: 3}); err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("err = %v, want the reader's error", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := d.Put(ctx, "", strings.NewReader("x")); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	for _, sub := range []string{"tmp", "sha256"} {
		entries, _ := os.ReadDir(filepath.Join(d.Root(), sub))
		if len(entries) != 0 {
			t.Fatalf("%s holds %d entries after failed puts", sub, len(entries))
		}
	}
}

func TestDirPutFile(t *testing.T) {
	d := openDir(t)
	src := filepath.Join(t.TempDir(), "model.json")
	if err := os.WriteFile(src, []byte(`{"w":[1,2]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	ref, err := d.PutFile(context.Background(), "application/json", src)
	if err != nil {
		t.Fatal(err)
	}
	got, err := readAll(t, d, ref)
	if err != nil || string(got) != `{"w":[1,2]}` || ref.MediaType != "application/json" {
		t.Fatalf("got %q, %v, ref %+v", got, err, ref)
	}
	if _, err := d.PutFile(context.Background(), "", filepath.Join(t.TempDir(), "absent")); err == nil {
		t.Fatal("PutFile of a missing file succeeded")
	}
}

// PutExpected keeps bytes only when they are the ones named: the wrong
// digest, too few or too many bytes leave nothing behind.
func TestPutExpected(t *testing.T) {
	ctx := context.Background()
	d, err := artifacts.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	other, err := artifacts.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	want, err := other.Put(ctx, "text/plain", strings.NewReader("the real bytes"))
	if err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{
		"other bytes": "the fake bytes", "fewer": "the real", "more": "the real bytes and then some", "none": "",
	} {
		_, err := d.PutExpected(ctx, want, strings.NewReader(body))
		if !errors.Is(err, artifacts.ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", name, err)
		}
		if _, err := d.Open(ctx, want); !errors.Is(err, cairn.ErrNotFound) {
			t.Errorf("%s: kept: %v", name, err)
		}
	}
	entries, _ := os.ReadDir(filepath.Join(d.Root(), "tmp"))
	if len(entries) != 0 {
		t.Errorf("left in tmp: %v", entries)
	}
	got, err := d.PutExpected(ctx, want, strings.NewReader("the real bytes"))
	if err != nil || got != want {
		t.Fatalf("PutExpected = %v, %v; want %v", got, err, want)
	}
	if _, err := d.PutExpected(ctx, cairn.ArtifactRef{Digest: "sha256:nope"}, strings.NewReader("")); err == nil {
		t.Error("a malformed digest was taken")
	}
}

// BenchmarkVerifiedPath32MB hashes a 32 MiB blob the Dir has not checked
// yet, as a shell task's input is before the command sees its path.
func BenchmarkVerifiedPath32MB(b *testing.B) {
	data := bytes.Repeat([]byte("0123456789abcdef"), 2<<20)
	for range b.N {
		b.StopTimer()
		d, err := artifacts.Open(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		ref, err := d.Put(context.Background(), "blob", bytes.NewReader(data))
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := d.VerifiedPath(context.Background(), ref); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(data)))
}

// TestDirReadAtVerifiesAgain: a blob's reader, read to its verified end,
// reads its bytes again through ReadAt (as dataset.ReadCSV does, in
// order from 0 through an io.SectionReader) and verifies them again: the
// same bytes read to io.EOF, from the start or past a prefix; bytes
// written over in place since Read verified them (same size: only a hash
// tells; in the prefix too), or cut short, fail with ErrCorrupt by the
// end rather than be read as the artifact's.
func TestDirReadAtVerifiesAgain(t *testing.T) {
	ctx := context.Background()
	data := bytes.Repeat([]byte("cairn,artifact\n"), 10000)
	for _, tc := range []struct {
		name    string
		change  func(p string) error
		corrupt bool
	}{
		{"unchanged", func(string) error { return nil }, false},
		{"a byte written over", func(p string) error {
			f, err := os.OpenFile(p, os.O_WRONLY, 0)
			if err != nil {
				return err
			}
			if _, err := f.WriteAt([]byte{'X'}, 500); err != nil {
				return err
			}
			return f.Close()
		}, true},
		{"cut short", func(p string) error { return os.Truncate(p, int64(len(data)-10)) }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := openDir(t)
			ref, err := d.Put(ctx, "text/csv", bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			rc, err := d.Open(ctx, ref)
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			if _, err := io.Copy(io.Discard, rc); err != nil {
				t.Fatalf("first read: %v", err)
			}
			p, err := d.Path(ref)
			if err != nil {
				t.Fatal(err)
			}
			if err := tc.change(p); err != nil {
				t.Fatal(err)
			}
			// From the start, and past a prefix (as a caller that Read
			// some bytes before ReadCSV began): the bytes before the
			// prefix are verified too.
			for _, from := range []int64{0, 1000} {
				got, err := io.ReadAll(io.NewSectionReader(rc.(io.ReaderAt), from, ref.Size-from))
				if tc.corrupt {
					if !errors.Is(err, artifacts.ErrCorrupt) {
						t.Fatalf("read again from %d after %s: %d bytes, %v; want ErrCorrupt", from, tc.name, len(got), err)
					}
					continue
				}
				if err != nil || !bytes.Equal(got, data[from:]) {
					t.Fatalf("read again from %d: %d bytes, %v", from, len(got), err)
				}
			}
		})
	}
}
