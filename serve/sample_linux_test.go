//go:build linux

package serve

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestSampleFullDiskTmpfs: on a real full file system (a tiny tmpfs; the
// test needs root and mount, and is skipped without them) the log keeps
// whole lines only, and once there is space again the next lines follow
// them.
func TestSampleFullDiskTmpfs(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=64k"); err != nil {
		t.Skipf("cannot mount a small tmpfs here (%v): TestSampleShortWriteCutBack covers the logic", err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, 0) })
	s := newSampler(dir, 1<<20, 1<<20, slog.New(slog.NewTextHandler(io.Discard, nil)), func(Event) {})
	defer func() {
		s.closeFiles()
	}()
	full := false
	for i := 0; i < 100 && !full; i++ {
		err := s.write("m", sampleLines(i*1000, 997)) // an odd size, so that the disk fills mid-line
		switch {
		case errors.Is(err, syscall.ENOSPC):
			full = true
		case err != nil:
			t.Fatal(err)
		}
	}
	if !full {
		t.Fatal("the 64 KiB tmpfs never filled")
	}
	path := filepath.Join(dir, "m", SampleFile)
	before := checkWholeLines(t, path)
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_REMOUNT, "size=1m"); err != nil {
		t.Fatalf("grow the tmpfs: %v", err)
	}
	if err := s.write("m", sampleLines(-5, 2)); err != nil {
		t.Fatalf("write with space again: %v", err)
	}
	after := checkWholeLines(t, path)
	if len(after) != len(before)+2 || after[len(after)-2] != -5 || after[len(after)-1] != -4 {
		t.Fatalf("after the disk had space again: %d lines ending %v, want %d ending [-5 -4]", len(after), after[max(len(after)-3, 0):], len(before)+2)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
}
