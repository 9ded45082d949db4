package artifacts

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/cairnml/cairn"
)

// Blob is one stored artifact as the folder holds it.
type Blob struct {
	Digest  string // "sha256:<hex>"
	Size    int64
	ModTime time.Time // when it was last stored (Put replaces it) or Touched
	Path    string
}

// Blobs calls fn for every blob in the store, in no set order, and for
// nothing else (temporary files of a Put in progress live apart). A
// missing store has none.
func (d *Dir) Blobs(fn func(Blob) error) error {
	root := filepath.Join(d.root, "sha256")
	err := filepath.WalkDir(root, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && path == root {
				return fs.SkipAll
			}
			return err
		}
		if e.IsDir() || !e.Type().IsRegular() {
			return nil
		}
		ref := cairn.ArtifactRef{Digest: "sha256:" + e.Name()}
		if ref.Validate() != nil || filepath.Base(filepath.Dir(path)) != e.Name()[:2] {
			return nil // not a blob of ours
		}
		info, err := e.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed meanwhile
			}
			return err
		}
		return fn(Blob{Digest: ref.Digest, Size: info.Size(), ModTime: info.ModTime(), Path: path})
	})
	if err != nil {
		return fmt.Errorf("list artifacts in %s: %w", d.root, err)
	}
	return nil
}

// Touch marks the blob of ref as used now (its modification time), so
// that a garbage collection that spares recent blobs spares it: what
// reuses an old artifact (a cache hit) touches it first.
func (d *Dir) Touch(ref cairn.ArtifactRef) error {
	now := time.Now()
	if err := os.Chtimes(d.blobPath(ref.Hex()), now, now); err != nil {
		return fmt.Errorf("touch artifact %s: %w", ref.Digest, err)
	}
	return nil
}

// RemoveIfOlder removes the blob of digest unless it was stored or
// touched at or after notBefore; it reports whether it removed it.
func (d *Dir) RemoveIfOlder(digest string, notBefore time.Time) (bool, error) {
	ref := cairn.ArtifactRef{Digest: digest}
	if err := ref.Validate(); err != nil {
		return false, err
	}
	path := d.blobPath(ref.Hex())
	info, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("remove artifact %s: %w", digest, err)
	}
	if !info.ModTime().Before(notBefore) {
		return false, nil
	}
	if afterLook != nil {
		afterLook()
	}
	// A reuse touches the blob, then reads it (Touch): one that touched
	// it since the look above must keep it. The blob is moved aside, out
	// of every reader's way, and its time read again there: touched, it
	// is put back; else it is removed. A reuse that comes later finds no
	// blob and does not reuse it.
	aside := filepath.Join(d.tmp, "gc-"+ref.Hex())
	err = os.Rename(path, aside)
	if errors.Is(err, fs.ErrNotExist) {
		if _, serr := os.Lstat(path); errors.Is(serr, fs.ErrNotExist) {
			return false, nil // gone meanwhile
		}
		if err = os.MkdirAll(d.tmp, 0o700); err == nil {
			err = os.Rename(path, aside)
		}
	}
	if err != nil {
		return false, fmt.Errorf("remove artifact %s: %w", digest, err)
	}
	if info, err := os.Lstat(aside); err == nil && !info.ModTime().Before(notBefore) {
		if err := os.Rename(aside, path); err != nil {
			return false, fmt.Errorf("remove artifact %s: put back the blob a reuse touched: %w", digest, err)
		}
		return false, nil
	}
	if err := os.Remove(aside); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("remove artifact %s: %w", digest, err)
	}
	return true, nil
}

// afterLook, when set (by tests), runs in RemoveIfOlder between its look
// at a blob's time and the blob's removal.
var afterLook func()

// RemoveStaleTemps removes what a Put that never finished left behind
// (its process died) before notBefore; it returns the files and bytes
// removed.
func (d *Dir) RemoveStaleTemps(notBefore time.Time) (n int, bytes int64, err error) {
	entries, err := os.ReadDir(d.tmp)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, fmt.Errorf("list %s: %w", d.tmp, err)
	}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || !info.Mode().IsRegular() || !info.ModTime().Before(notBefore) {
			continue
		}
		if os.Remove(filepath.Join(d.tmp, e.Name())) == nil {
			n++
			bytes += info.Size()
		}
	}
	return n, bytes, nil
}
