package artifacts_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

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
