package collect_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cairnml/cairn/tasks"
	"github.com/cairnml/cairn/tasks/collect"
)

// TestSourceDigestRemembered: a file source unchanged since a Task read
// it (a second or more after its last change) is not read again for the
// cache key; one rewritten since (the same size, other bytes) is, and
// gives its new digest; a file changed within the last second is read
// every time.
func TestSourceDigestRemembered(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "d.csv")
	if err := os.WriteFile(path, []byte("a,b\n1,2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	task := collect.New(collect.Options{})
	params, _ := json.Marshal(map[string]any{"source": "file://" + path})
	req := tasks.Request{RunID: "r", TaskID: "collect", Attempt: 1, Params: params}
	digest := func() string {
		t.Helper()
		d, ok := task.SourceDigest(context.Background(), req)
		if !ok || d == "" {
			t.Fatalf("SourceDigest: %q, %v", d, ok)
		}
		return d
	}
	known := func() (string, bool) { return task.KnownSourceDigest(req) }
	if d, ok := known(); ok {
		t.Fatalf("KnownSourceDigest of a file never read: %q, want not known", d)
	}
	// Just written: read at each ask.
	d1 := digest()
	if d := digest(); d != d1 || task.Hashed() != 2 {
		t.Fatalf("a file changed just now: digests %s %s, read %d times, want the same, read twice", d1, d, task.Hashed())
	}
	time.Sleep(1100 * time.Millisecond)
	if d := digest(); d != d1 || task.Hashed() != 3 {
		t.Fatalf("settled: %s, read %d times in all, want %s, 3", d, task.Hashed(), d1)
	}
	for range 3 {
		if d := digest(); d != d1 {
			t.Fatalf("remembered: %s, want %s", d, d1)
		}
	}
	if d, ok := known(); !ok || d != d1 {
		t.Errorf("KnownSourceDigest of a file unchanged since it was read: %q, %v; want %s", d, ok, d1)
	}
	if task.Hashed() != 3 {
		t.Errorf("a file unchanged since it was read was read %d more times, want none", task.Hashed()-3)
	}
	// Rewritten, the same size: not known, read again.
	if err := os.WriteFile(path, []byte("a,b\n3,4\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if d, ok := known(); ok {
		t.Errorf("KnownSourceDigest of a file rewritten since it was read: %q, want not known", d)
	}
	if d := digest(); d == d1 || task.Hashed() != 4 {
		t.Errorf("a rewritten file: digest %s (before %s), read %d times in all; want another digest, read once more", d, d1, task.Hashed())
	}
}

// A source other than a file has nothing to digest: known without
// reading anything.
func TestKnownSourceDigestOfSynthetic(t *testing.T) {
	params, _ := json.Marshal(map[string]any{"source": "synthetic", "rows": 10})
	d, ok := collect.New(collect.Options{}).KnownSourceDigest(tasks.Request{RunID: "r", TaskID: "c", Attempt: 1, Params: params})
	if !ok || d != "" {
		t.Errorf("KnownSourceDigest of a synthetic source: %q, %v; want \"\", true", d, ok)
	}
}
