// Package smalldisk gives tests a disk that fills up: a tmpfs of a given
// size, mounted for the test's duration (Linux, as root). It is for
// tests only.
package smalldisk

import (
	"os"
	"path/filepath"
	"testing"
)

// Mount mounts a tmpfs of size (as mount(8) takes it: "3m") on a new
// folder "small" under parent, unmounted when the test ends, and returns
// it. The test is skipped where one cannot be mounted (not root, not
// Linux), covered saying what covers its logic then (": ..." or "").
func Mount(t testing.TB, parent, size, covered string) string {
	t.Helper()
	dir := filepath.Join(parent, "small")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := mount(dir, size); err != nil {
		t.Skipf("cannot mount a small tmpfs here (%v)%s", err, covered)
	}
	t.Cleanup(func() { unmount(dir) })
	return dir
}

// Fill writes to a file in dir until its disk is full; the returned
// function removes it, giving the space back.
func Fill(t testing.TB, dir string) (free func()) {
	t.Helper()
	return FillLeaving(t, dir, 0)
}

// FillLeaving is Fill, then gives back leave bytes (a whole number of the
// disk's pages, for a write that finds room for part of itself).
func FillLeaving(t testing.TB, dir string, leave int64) (free func()) {
	t.Helper()
	p := filepath.Join(dir, "filler")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 4096)
	for {
		if _, err := f.Write(b); err != nil {
			break
		}
	}
	if leave > 0 {
		st, err := f.Stat()
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Truncate(max(0, st.Size()-leave)); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
	return func() {
		if err := os.Remove(p); err != nil {
			t.Error(err)
		}
	}
}
