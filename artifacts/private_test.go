package artifacts_test

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/cairnml/cairn/artifacts"
)

// Blobs, logs and their folders are private to the user whatever the
// umask: folders 0700, blobs 0400, logs 0600.
func TestFilesArePrivate(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	root := t.TempDir()
	d, err := artifacts.Open(filepath.Join(root, "artifacts"))
	if err != nil {
		t.Fatal(err)
	}
	ref, err := d.Put(context.Background(), "text/plain", bytes.NewReader([]byte("model weights")))
	if err != nil {
		t.Fatal(err)
	}
	blob, err := d.Path(ref)
	if err != nil {
		t.Fatal(err)
	}
	logs, err := artifacts.OpenLogs(filepath.Join(root, "logs"))
	if err != nil {
		t.Fatal(err)
	}
	w, _ := logs.Create("r1", "train", 1)
	if _, err := w.Write([]byte("token=hunter2\n")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	log, _ := logs.Path("r1", "train", 1)
	want := map[string]fs.FileMode{
		filepath.Join(root, "artifacts"):           0o700,
		filepath.Join(root, "artifacts", "sha256"): 0o700,
		filepath.Dir(blob):                         0o700,
		blob:                                       0o400,
		filepath.Join(root, "logs"):                0o700,
		filepath.Join(root, "logs", "r1"):          0o700,
		filepath.Dir(log):                          0o700,
		log:                                        0o600,
	}
	for p, m := range want {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != m {
			rel, _ := filepath.Rel(root, p)
			t.Errorf("%s: mode %v, want %v", rel, fi.Mode().Perm(), m)
		}
	}
}

// The openers create nothing: the read-only ones never, the others not
// before the first blob or log (a run whose tasks store and print nothing
// makes no folder).
func TestOpenersCreateNothing(t *testing.T) {
	root := filepath.Join(t.TempDir(), "home")
	if _, err := artifacts.OpenReadOnly(filepath.Join(root, "artifacts")); err != nil {
		t.Fatal(err)
	}
	if _, err := artifacts.OpenLogsReadOnly(filepath.Join(root, "logs")); err != nil {
		t.Fatal(err)
	}
	d, err := artifacts.Open(filepath.Join(root, "artifacts"))
	if err != nil {
		t.Fatal(err)
	}
	logs, err := artifacts.OpenLogs(filepath.Join(root, "logs"))
	if err != nil {
		t.Fatal(err)
	}
	w, err := logs.Create("r1", "quiet", 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(root); err == nil {
		t.Fatalf("openers created %s", root)
	}
	// The first Put makes the folders it needs.
	if _, err := d.Put(context.Background(), "text/plain", bytes.NewReader([]byte("x"))); err != nil {
		t.Fatalf("first Put into a store whose folder does not exist yet: %v", err)
	}
}
