package plugins

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
)

// Lock is the set of plugin binaries an operator has pinned: file name in
// the plugins folder → lowercase hex sha256. Its file has sha256sum's
// format ("<hex>  <name>" per line, sorted by name), so that
// `cd PLUGINS && sha256sum -c LOCKFILE` checks it too.
type Lock map[string]string

var lockLineRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^([0-9a-f]{64}) [ *]([^/\x00]+)$`) })

// ReadLock reads a lock file. A missing file is an error that wraps
// fs.ErrNotExist; a malformed line is reported with its number.
func ReadLock(path string) (Lock, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read plugin lock file: %w", err)
	}
	l := Lock{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		m := lockLineRE().FindStringSubmatch(line)
		if m == nil {
			return nil, fmt.Errorf("%s:%d: want \"<64 hex digits>  <file name>\" (sha256sum's format), got %q; fix the line or rewrite the file with 'cairn plugins lock'", path, n, line)
		}
		if _, dup := l[m[2]]; dup {
			return nil, fmt.Errorf("%s:%d: %s is pinned twice", path, n, m[2])
		}
		l[m[2]] = m[1]
	}
	return l, sc.Err()
}

// Write writes the lock to path atomically (a temporary file renamed over
// it).
func (l Lock) Write(path string) error {
	names := make([]string, 0, len(l))
	for n := range l {
		names = append(names, n)
	}
	sort.Strings(names)
	var b bytes.Buffer
	for _, n := range names {
		fmt.Fprintf(&b, "%s  %s\n", l[n], n)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write plugin lock file: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".plugins.lock-*")
	if err != nil {
		return fmt.Errorf("write plugin lock file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b.Bytes()); err != nil {
		tmp.Close()
		return fmt.Errorf("write plugin lock file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write plugin lock file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write plugin lock file: %w", err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("write plugin lock file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write plugin lock file: %w", err)
	}
	return nil
}

// Entry is one file of the plugins folder, before anything is started.
type Entry struct {
	Name string // file name in the folder
	Path string
	// SHA256 is the file's lowercase hex sha256 ("" when Err is set).
	SHA256 string
	// Err says why the entry cannot be a plugin (not a regular file, not
	// executable, unreadable).
	Err error
}

// Scan lists the plugins folder dir, sorted by name, hashing every
// executable regular file; each Entry.Path is absolute. Names starting with "." are skipped (editors'
// and the lock writer's temporary files). A missing folder is empty.
func Scan(ctx context.Context, dir string) ([]Entry, error) {
	return scan(ctx, dir, func(_ string, r io.Reader) (string, error) { return hashOf(r) })
}

// scan is Scan with hash reading each binary (the caller may copy the
// bytes as it hashes them).
func scan(ctx context.Context, dir string, hash func(name string, r io.Reader) (string, error)) ([]Entry, error) {
	// Entry.Path is absolute: a bare name such as filepath.Join(".",
	// "alpha") would be looked up in $PATH by whoever executes it.
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("read plugins folder: %w", err)
	}
	des, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read plugins folder: %w", err)
	}
	var out []Entry
	for _, de := range des {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		name := de.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		e := Entry{Name: name, Path: filepath.Join(dir, name)}
		if f, err := openBinary(e.Path); err != nil {
			e.Err = fmt.Errorf("plugin %s: %w", name, err)
		} else {
			e.SHA256, err = hash(name, f)
			f.Close()
			if err != nil {
				e.Err = fmt.Errorf("plugin %s: %w", name, err)
			}
		}
		out = append(out, e)
	}
	return out, nil
}

// openBinary opens the plugin binary at path, following a symlink; the
// checks are on the file opened, so a rename cannot slip another in.
func openBinary(path string) (*os.File, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		// Not opened: a FIFO would block.
		return nil, notBinary(fi)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	if fi, err = f.Stat(); err != nil {
		f.Close()
		return nil, err
	}
	if err := notBinary(fi); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// notBinary says why fi cannot be a plugin binary, or returns nil.
func notBinary(fi os.FileInfo) error {
	switch {
	case !fi.Mode().IsRegular():
		return fmt.Errorf("not a regular file (%s); the plugins folder holds plugin binaries only", fi.Mode().Type())
	case fi.Mode().Perm()&0o111 == 0:
		return fmt.Errorf("not executable (mode %s): if it is a plugin, chmod +x it and run 'cairn plugins lock'; otherwise remove it from the plugins folder", fi.Mode().Perm())
	}
	return nil
}

func hashOf(r io.Reader) (string, error) {
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		return "", fmt.Errorf("hash: %w", err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// LockFolder pins every executable file of the plugins folder dir by its
// sha256 and writes the lock to path, replacing what it held. It returns
// the folder's entries (those with Err set are not pinned).
func LockFolder(ctx context.Context, dir, path string) ([]Entry, error) {
	entries, err := Scan(ctx, dir)
	if err != nil {
		return nil, err
	}
	l := Lock{}
	for _, e := range entries {
		if e.Err == nil {
			l[e.Name] = e.SHA256
		}
	}
	if err := l.Write(path); err != nil {
		return nil, err
	}
	return entries, nil
}

// writableByOthers says who besides the owner may write fi ("" when
// nobody): a lock file or folder others may write lets them choose the
// code cairn runs.
func writableByOthers(fi os.FileInfo) string {
	switch m := fi.Mode().Perm(); {
	case m&0o002 != 0:
		return "everyone"
	case m&0o020 != 0:
		return "its group"
	}
	return ""
}

// checkLockPerms refuses a lock file that others may write, or that sits
// in a folder where others may replace it (writable without the sticky
// bit), and one that another user owns, or whose folder another user owns
// (its owner may rewrite or replace it whatever the mode, the sticky bit
// included): whoever can write the lock pins the binaries cairn runs.
// Root may own either.
func checkLockPerms(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return nil // reported by ReadLock
	}
	if who := otherOwner(fi); who != "" {
		return fmt.Errorf("the lock file %s belongs to another user (%s), who could pin a binary of their own that would run as you: no plugin is started until it is yours ('cairn plugins lock' writes one of your own, or chown it)", path, who)
	}
	if who := writableByOthers(fi); who != "" {
		return fmt.Errorf("the lock file %s is writable by %s (mode %04o), who could pin a binary of their own: no plugin is started until you run 'chmod go-w %s'", path, who, fi.Mode().Perm(), path)
	}
	dir := filepath.Dir(path)
	di, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("the lock file's folder %s: %w", dir, err)
	}
	if who := otherOwner(di); who != "" {
		return fmt.Errorf("the lock file's folder %s belongs to another user (%s), who could replace the lock file: no plugin is started from a home another user owns", dir, who)
	}
	if who := writableByOthers(di); who != "" && di.Mode()&os.ModeSticky == 0 {
		return fmt.Errorf("the lock file's folder %s is writable by %s (mode %04o), who could replace the lock file: no plugin is started until you run 'chmod go-w %s'", dir, who, di.Mode().Perm(), dir)
	}
	return nil
}

// folderWarning is a warning about a plugins folder others may write: they
// cannot get a binary run (the lock pins every one by its sha256), but can
// add, remove or replace binaries and so stop plugins from loading.
func folderWarning(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return nil
	}
	if who := writableByOthers(fi); who != "" {
		return fmt.Errorf("warning: the plugins folder %s is writable by %s (mode %04o): the lock still decides what runs, but they can remove or swap binaries so that plugins fail to load; run 'chmod go-w %s'", dir, who, fi.Mode().Perm(), dir)
	}
	return nil
}
