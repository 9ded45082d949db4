package artifacts_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/artifacts"
)

// blob is n bytes of c.
func blob(c byte, n int) []byte { return bytes.Repeat([]byte{c}, n) }

// has reports whether d's folder holds the blob of ref (its file).
func has(t *testing.T, d *artifacts.Dir, ref cairn.ArtifactRef) bool {
	t.Helper()
	_, err := d.Stat(ref.Digest)
	return err == nil
}

// A cache bounded to 2,500 bytes, with blobs of 1,000, on real files: the
// least recently used blob goes once the bound is passed, never one being
// read (its reader open) or stored (until its release), however old; a
// blob used again (opened) is kept over one used less recently; what is
// held may pass the bound until it is released; 0 is no bound.
func TestCacheBounded(t *testing.T) {
	ctx := context.Background()
	d, err := artifacts.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c, err := artifacts.NewCache(d, 2500)
	if err != nil {
		t.Fatal(err)
	}
	put := func(b byte) cairn.ArtifactRef {
		t.Helper()
		ref, release, err := c.Put(ctx, "application/octet-stream", bytes.NewReader(blob(b, 1000)))
		if err != nil {
			t.Fatal(err)
		}
		release()
		return ref
	}
	read := func(ref cairn.ArtifactRef) io.ReadCloser {
		t.Helper()
		rc, err := c.Open(ctx, ref)
		if err != nil {
			t.Fatal(err)
		}
		if b, err := io.ReadAll(rc); err != nil || len(b) != int(ref.Size) {
			t.Fatalf("read %d bytes, %v", len(b), err)
		}
		return rc
	}
	a := put('a')
	b := put('b')
	held := read(a) // a, the oldest, is being read
	cc := put('c')  // 3,000 bytes: b goes, not a
	if !has(t, d, a) || has(t, d, b) || !has(t, d, cc) || c.Size() != 2000 {
		t.Fatalf("after c with a read: a %v b %v c %v, %d bytes; want b evicted, 2000 bytes", has(t, d, a), has(t, d, b), has(t, d, cc), c.Size())
	}
	held.Close()
	read(cc).Close() // c used after a
	e := put('e')    // a, now least recently used and free, goes
	if has(t, d, a) || !has(t, d, cc) || !has(t, d, e) {
		t.Fatalf("after e: a %v c %v e %v; want a evicted", has(t, d, a), has(t, d, cc), has(t, d, e))
	}

	// A blob being stored (before its release: uploaded meanwhile) stays,
	// even when it alone passes the bound; released, it goes first.
	big, release, err := c.Put(ctx, "application/octet-stream", bytes.NewReader(blob('x', 3000)))
	if err != nil {
		t.Fatal(err)
	}
	if !has(t, d, big) || has(t, d, cc) || has(t, d, e) {
		t.Fatalf("with a 3,000-byte blob held: big %v c %v e %v; want big kept, the others evicted", has(t, d, big), has(t, d, cc), has(t, d, e))
	}
	rc, err := c.Open(ctx, big)
	if err != nil {
		t.Fatal(err)
	}
	release()
	if !has(t, d, big) {
		t.Fatal("a blob being read was evicted when its store was released")
	}
	rc.Close()
	if has(t, d, big) || c.Size() != 0 {
		t.Fatalf("big %v, %d bytes after its reader closed; want it evicted", has(t, d, big), c.Size())
	}

	// A digest held before it lands (a download) is kept once it lands.
	want := cairn.ArtifactRef{Digest: b.Digest, Size: 1000}
	hold := c.Hold(want.Digest)
	got, rel, err := c.PutExpected(ctx, want, bytes.NewReader(blob('b', 1000)))
	if err != nil || got.Digest != b.Digest {
		t.Fatalf("PutExpected = %v, %v", got, err)
	}
	rel()
	put('y')
	put('z')
	put('w') // y, then z, evicted as the oldest: b, older still, is held
	if !has(t, d, b) {
		t.Fatal("a held download was evicted")
	}
	hold()
	put('v') // b, released, is the least recently used
	if has(t, d, b) || c.Size() != 2000 {
		t.Fatalf("after the hold's release and v: b %v, %d bytes; want b evicted, 2000 bytes", has(t, d, b), c.Size())
	}

	// Reopened, the cache reads what the folder holds and trims it to a
	// smaller bound by the files' modification times (their last use).
	var refs []cairn.ArtifactRef
	if err := d.Blobs(func(bl artifacts.Blob) error {
		refs = append(refs, cairn.ArtifactRef{Digest: bl.Digest, Size: bl.Size})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(refs) != 2 {
		t.Fatalf("%d blobs left, want 2", len(refs))
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(blobPath(t, d, refs[0]), old, old); err != nil {
		t.Fatal(err)
	}
	c2, err := artifacts.NewCache(d, 1500)
	if err != nil {
		t.Fatal(err)
	}
	if has(t, d, refs[0]) || !has(t, d, refs[1]) || c2.Size() != 1000 {
		t.Fatalf("reopened at 1,500 bytes: the older %v, the newer %v, %d bytes", has(t, d, refs[0]), has(t, d, refs[1]), c2.Size())
	}
	unbounded, err := artifacts.NewCache(d, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, ch := range []byte("pqrs") {
		_, rel, err := unbounded.Put(ctx, "application/octet-stream", bytes.NewReader(blob(ch, 1000)))
		if err != nil {
			t.Fatal(err)
		}
		rel()
	}
	if unbounded.Size() != 5000 {
		t.Fatalf("no bound: %d bytes, want all 5,000 kept", unbounded.Size())
	}
}

func blobPath(t *testing.T, d *artifacts.Dir, ref cairn.ArtifactRef) string {
	t.Helper()
	p, err := d.Path(ref)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
