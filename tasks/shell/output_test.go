package shell

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// An output that is not a regular file is named for what it is (found by
// the trial: a folder was "not a regular file (d---------)").
func TestOutputNotRegularSaysWhat(t *testing.T) {
	wd := t.TempDir()
	if err := os.Mkdir(filepath.Join(wd, "d"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(wd, "p"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"d": "d is a directory: an output is one file",
		"p": "p is a named pipe",
	} {
		f, err := openOutput(wd, name)
		if err == nil {
			f.Close()
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("output %s: %v, want …%s…", name, err, want)
		}
	}
}
