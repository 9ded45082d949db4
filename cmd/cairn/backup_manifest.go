package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/cairnml/cairn/internal/durable"
)

// manifestName is the file a backup writes last, once everything else in
// it is copied and synced: what it holds, file by file. A folder without
// it is a backup that did not finish (killed, a full disk), which restore
// refuses rather than put back a fraction of the home and say nothing.
const manifestName = "backup.json"

// backupManifest is what manifestName holds.
type backupManifest struct {
	Format   int            `json:"format"` // 1
	Made     time.Time      `json:"made"`
	Cairn    string         `json:"cairn,omitempty"` // the version that made it
	Home     string         `json:"home"`
	Database string         `json:"database"` // "sqlite" (cairn.db is in it) or "postgres" (it is not)
	Files    []manifestFile `json:"files"`
}

// manifestFile is one file of a backup.
type manifestFile struct {
	Path string `json:"path"` // slash-separated, relative to the backup folder
	Size int64  `json:"size"`
	// SHA256 is the database's digest (artifacts are named by theirs,
	// and restore checks them as it copies them).
	SHA256 string `json:"sha256,omitempty"`
}

// writeManifest lists the regular files of the finished backup dir of
// home and writes the list, through a synced temporary file renamed into
// place and a synced folder, as the backup's last act.
func writeManifest(dir, home, database string) error {
	m := backupManifest{Format: 1, Made: time.Now().UTC(), Cairn: version, Home: home, Database: database, Files: []manifestFile{}}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if rel == manifestName {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		f := manifestFile{Path: rel, Size: fi.Size()}
		if rel == "cairn.db" {
			if f.SHA256, err = fileSHA256(p); err != nil {
				return err
			}
		}
		m.Files = append(m.Files, f)
		return nil
	})
	if err != nil {
		return fmt.Errorf("list the backup %s: %w", dir, err)
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, manifestName+".tmp")
	if err := writeSynced(tmp, append(b, '\n')); err != nil {
		return fmt.Errorf("write the backup's %s: %w", manifestName, err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, manifestName)); err != nil {
		return fmt.Errorf("write the backup's %s: %w", manifestName, err)
	}
	return durable.Sync(dir)
}

// checkManifest checks that the backup dir is whole: its manifest is
// there, and every file it lists is, at its size (the database at its
// digest). It returns the manifest.
func checkManifest(dir string) (*backupManifest, error) {
	b, err := os.ReadFile(filepath.Join(dir, manifestName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s has no %s: the backup did not finish (killed, or its disk full), or a Cairn older than the manifest made it; "+
			"back up again, or restore it as it is, unchecked, with 'cairn restore --unchecked %s'", dir, manifestName, dir)
	}
	if err != nil {
		return nil, err
	}
	var m backupManifest
	if err := json.Unmarshal(b, &m); err != nil || m.Format != 1 {
		return nil, fmt.Errorf("%s's %s is not a backup manifest of this Cairn (format %d, %v): restore it unchecked with --unchecked, or back up again",
			dir, manifestName, m.Format, err)
	}
	for i, f := range m.Files {
		if f.Path == "" || strings.HasPrefix(f.Path, "/") || slices.Contains(strings.Split(f.Path, "/"), "..") {
			return nil, fmt.Errorf("%s's %s names %q, which is not a file in it", dir, manifestName, f.Path)
		}
		p := filepath.Join(dir, filepath.FromSlash(f.Path))
		fi, err := os.Stat(p)
		switch {
		case err != nil:
			return nil, fmt.Errorf("the backup %s is not whole: %s is missing (file %d of the %d its %s lists): %v", dir, f.Path, i+1, len(m.Files), manifestName, err)
		case fi.Size() != f.Size:
			return nil, fmt.Errorf("the backup %s is not whole: %s holds %d bytes, its %s says %d", dir, f.Path, fi.Size(), manifestName, f.Size)
		}
		if f.SHA256 != "" {
			got, err := fileSHA256(p)
			if err != nil {
				return nil, err
			}
			if got != f.SHA256 {
				return nil, fmt.Errorf("the backup %s is not whole: %s hashes to sha256:%s, its %s says sha256:%s", dir, f.Path, got, manifestName, f.SHA256)
			}
		}
	}
	return &m, nil
}

func fileSHA256(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("read %s: %w", p, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// writeSynced writes b to a new file p, 0600, and syncs it.
func writeSynced(p string, b []byte) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
