package plugins

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cairnml/cairn/internal/durable"
)

// cacheDirName is the folder, next to the lock file, that holds the
// copies of the pinned binaries the host executes.
const cacheDirName = ".plugin-cache"

// cache holds one copy of each pinned binary, named by its sha256, in a
// folder only cairn's user can write. The host never executes a file of
// the plugins folder: hashing a path and executing the path again leaves a
// gap in which a rename or a retargeted symlink would run bytes nobody
// pinned. It executes the copy instead, whose bytes are the ones that were
// hashed while they were copied (and that go-plugin's SecureConfig hashes
// again at every start).
type cache struct{ dir string }

// openCache makes (or checks) the cache folder next to lockFile: a
// directory, not a symlink, owned by this user and closed to others.
func openCache(lockFile string) (*cache, error) {
	lockDir, err := filepath.Abs(filepath.Dir(lockFile))
	if err != nil {
		return nil, fmt.Errorf("plugin cache: %w", err)
	}
	dir := filepath.Join(lockDir, cacheDirName)
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("plugin cache: %w", err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return nil, fmt.Errorf("plugin cache: %w", err)
	}
	switch {
	case !fi.IsDir():
		return nil, fmt.Errorf("plugin cache %s is not a directory (%s): remove it, cairn makes it again", dir, fi.Mode().Type())
	case !ownedByMe(fi):
		return nil, fmt.Errorf("plugin cache %s belongs to another user: remove it, cairn makes it again", dir)
	case fi.Mode().Perm() != 0o700:
		if err := os.Chmod(dir, 0o700); err != nil {
			return nil, fmt.Errorf("plugin cache: %w", err)
		}
	}
	return &cache{dir: dir}, nil
}

// path is where the copy of the binary with sha256 sum lives.
func (c *cache) path(sum string) string { return filepath.Join(c.dir, sum) }

// has reports whether the copy of sum is in place: a regular file (not a
// symlink) of this user that nobody can write. Its bytes are checked by
// SecureConfig when it is executed.
func (c *cache) has(sum string) bool {
	fi, err := os.Lstat(c.path(sum))
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o222 == 0 && ownedByMe(fi)
}

// copyIn copies r into the cache while hashing it, and returns the sha256
// of the bytes copied. They are kept (fsync'd, read-only, renamed into
// place as the copy of want) only when that sha256 is want.
func (c *cache) copyIn(r io.Reader, want string) (string, error) {
	tmp, err := os.CreateTemp(c.dir, ".tmp-*")
	if err != nil {
		return "", fmt.Errorf("plugin cache: %w", err)
	}
	defer os.Remove(tmp.Name()) // after the rename, nothing is there
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(tmp, h), r); err != nil {
		tmp.Close()
		return "", fmt.Errorf("hash: %w", err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if sum != want {
		tmp.Close()
		return sum, nil
	}
	err = tmp.Chmod(0o500)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), c.path(sum))
	}
	if err != nil {
		return "", fmt.Errorf("plugin cache: copy %s: %w", sum, err)
	}
	durable.Sync(c.dir) // the rename survives a crash; a lost one is copied again
	return sum, nil
}

// materialize puts the copy of the binary at src, pinned as want, in the
// cache unless it is there. A src whose bytes are not want is refused.
func (c *cache) materialize(src, want string) error {
	if c.has(want) {
		return nil
	}
	os.Remove(c.path(want)) // whatever is there is not a good copy
	f, err := openBinary(src)
	if err != nil {
		return err
	}
	defer f.Close()
	sum, err := c.copyIn(f, want)
	if err != nil {
		return err
	}
	if sum != want {
		return errChanged
	}
	return nil
}

// errChanged is a binary whose bytes are no longer the pinned ones.
var errChanged = errors.New("the binary no longer matches its pin")

// prune removes the copies no pin of the lock names, and temporary files
// left by a copy that did not finish (old enough not to be another cairn
// command's copy in progress).
func (c *cache) prune(lock Lock) {
	pinned := map[string]bool{}
	for _, sum := range lock {
		pinned[sum] = true
	}
	des, err := os.ReadDir(c.dir)
	if err != nil {
		return
	}
	for _, de := range des {
		name := de.Name()
		if strings.HasPrefix(name, ".tmp-") {
			if fi, err := de.Info(); err == nil && time.Since(fi.ModTime()) > time.Hour {
				os.Remove(filepath.Join(c.dir, name))
			}
			continue
		}
		if !pinned[name] {
			// A command still running under an older lock has its
			// processes; should it need a new one, it finds the copy
			// gone and copies its binary again if that still matches.
			os.Remove(filepath.Join(c.dir, name))
		}
	}
}
