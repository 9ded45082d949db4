package durable

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSync(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{p, dir} {
		if err := Sync(path); err != nil {
			t.Errorf("Sync(%s): %v", path, err)
		}
	}
	missing := filepath.Join(dir, "missing")
	if err := Sync(missing); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Errorf("Sync of a missing path: %v, want not-exist naming it", err)
	}
}
