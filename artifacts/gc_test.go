package artifacts_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/artifacts"
)

// RemoveIfOlder removes an old blob, and keeps one that is recent — or
// that a reuse touched after gc looked at its time and before it removed
// it (a reuse touches, then reads: had the blob gone, the reuse would
// have been recorded with bytes no longer stored; found by the audit of
// issue #19).
func TestRemoveIfOlderKeepsWhatIsTouchedMeanwhile(t *testing.T) {
	d := openDir(t)
	ctx := context.Background()
	old := time.Now().Add(-2 * time.Hour)
	put := func(s string) (string, string) {
		ref, err := d.Put(ctx, "text/plain", strings.NewReader(s))
		if err != nil {
			t.Fatal(err)
		}
		p, err := d.Path(ref)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
		return ref.Digest, p
	}
	notBefore := time.Now().Add(-time.Hour)

	// Untouched: removed, and nothing is left aside.
	digest, p := put("old")
	if removed, err := d.RemoveIfOlder(digest, notBefore); err != nil || !removed {
		t.Fatalf("RemoveIfOlder of an old blob = %v, %v", removed, err)
	}
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Fatalf("the old blob is still there: %v", err)
	}

	// Touched by a reuse between the look and the removal: kept, whole.
	digest, p = put("reused")
	ref, err := d.Stat(digest)
	if err != nil {
		t.Fatal(err)
	}
	defer artifacts.SetAfterLook(func() {
		if err := d.Touch(ref); err != nil {
			t.Error(err)
		}
	})()
	if removed, err := d.RemoveIfOlder(digest, notBefore); err != nil || removed {
		t.Fatalf("RemoveIfOlder of a blob touched meanwhile = %v, %v; want it kept", removed, err)
	}
	if b, err := os.ReadFile(p); err != nil || string(b) != "reused" {
		t.Fatalf("the touched blob: %q, %v", b, err)
	}
	if n, _, err := d.RemoveStaleTemps(time.Now().Add(time.Hour)); err != nil || n != 0 {
		t.Fatalf("%d files left aside, %v", n, err)
	}
}

// TouchVerified touches a blob and checks its bytes, hashing them once
// while the file stays as it was: a server reusing a cached artifact run
// after run does not read it each time; any change to the file (its bytes
// rewritten, even with its size and modification time put back) is hashed
// again and found, and a blob gone is not found.
func TestTouchVerifiedHashesOnceUntilTheFileChanges(t *testing.T) {
	d := openDir(t)
	ctx := context.Background()
	ref, err := d.Put(ctx, "text/plain", strings.NewReader("hello"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := d.Path(ref)
	if err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-48 * time.Hour)
	if err := os.Chtimes(p, old, old); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := d.TouchVerified(ctx, ref); err != nil {
			t.Fatalf("TouchVerified #%d: %v", i+1, err)
		}
	}
	if n := d.Hashed(); n != 1 {
		t.Errorf("three reuses of an unchanged blob hashed it %d times, want once", n)
	}
	if fi, err := os.Stat(p); err != nil || fi.ModTime().Before(time.Now().Add(-time.Hour)) {
		t.Errorf("the blob was not touched: %v %v", fi.ModTime(), err)
	}

	// Damaged in place, its size and times put back as they were.
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	mode := fi.Mode()
	if err := os.Chmod(p, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("HELLO"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	if err := d.TouchVerified(ctx, ref); !errors.Is(err, artifacts.ErrCorrupt) || !strings.Contains(err.Error(), ref.Digest) {
		t.Fatalf("TouchVerified of a damaged blob = %v, want ErrCorrupt naming %s", err, ref.Digest)
	}
	if err := d.TouchVerified(ctx, ref); !errors.Is(err, artifacts.ErrCorrupt) {
		t.Fatalf("TouchVerified of a damaged blob, again = %v, want ErrCorrupt", err)
	}

	// Gone.
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if err := d.TouchVerified(ctx, ref); !errors.Is(err, cairn.ErrNotFound) {
		t.Fatalf("TouchVerified of a blob gone = %v, want ErrNotFound", err)
	}
}

// A blob this Dir stored was hashed as it was written: a reuse of it
// (TouchVerified) does not hash it again, and Remembered vouches for it —
// also after the same bytes were stored again (another file: an uncached
// run between two cached ones); not once the file changed.
func TestPutBlobsAreRemembered(t *testing.T) {
	d := openDir(t)
	ctx := context.Background()
	for i := range 2 {
		ref, err := d.Put(ctx, "text/plain", strings.NewReader("hello"))
		if err != nil {
			t.Fatal(err)
		}
		if !d.Remembered(ref) {
			t.Errorf("put #%d: the blob just stored is not remembered", i+1)
		}
		if err := d.TouchVerified(ctx, ref); err != nil {
			t.Fatal(err)
		}
		if n := d.Hashed(); n != 0 {
			t.Errorf("put #%d: a reuse of a blob just stored hashed it (%d)", i+1, n)
		}
	}
	ref, err := d.Stat("sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824")
	if err != nil {
		t.Fatal(err)
	}
	p, err := d.Path(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("HELLO"), 0o600); err != nil {
		t.Fatal(err)
	}
	if d.Remembered(ref) {
		t.Error("a blob rewritten since it was stored is still remembered")
	}
	if err := d.TouchVerified(ctx, ref); !errors.Is(err, artifacts.ErrCorrupt) {
		t.Errorf("TouchVerified of a blob rewritten since it was stored = %v, want ErrCorrupt", err)
	}
}
