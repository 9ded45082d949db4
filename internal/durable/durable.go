// Package durable makes what was just written last across a crash of the
// machine: a file's bytes, or the names just made or renamed in a folder.
package durable

import (
	"fmt"
	"os"
)

// Sync opens path, a file or a folder, and syncs it: a file's bytes, or a
// folder's entries (a rename into it, a file made in it), reach the disk.
func Sync(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", path, err)
	}
	return nil
}
