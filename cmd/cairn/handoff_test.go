package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestPluginsInUse(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	write := func(p string, mode os.FileMode) string {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	mkdir := func(p string) string {
		t.Helper()
		if err := os.MkdirAll(p, 0o700); err != nil {
			t.Fatal(err)
		}
		return p
	}
	lock := filepath.Join(root, "plugins.lock")
	for _, c := range []struct {
		name      string
		dir, lock string
		want      string // "" or the start of the reason
	}{
		{"no folder, no lock", filepath.Join(root, "none"), lock, ""},
		{"empty folder", mkdir(filepath.Join(root, "empty")), lock, ""},
		{"dot files only", filepath.Dir(write(filepath.Join(root, "dots", ".cache"), 0o600)), lock, ""},
		{"a plugin", filepath.Dir(write(filepath.Join(root, "one", "kmeans"), 0o755)), lock, "the plugins folder " + filepath.Join(root, "one") + " holds kmeans"},
		{"a file the host would refuse", filepath.Dir(write(filepath.Join(root, "bad", "notes.txt"), 0o600)), lock, "the plugins folder " + filepath.Join(root, "bad") + " holds notes.txt"},
		{"a folder that is a file", write(filepath.Join(root, "file"), 0o600), lock, "the plugins folder " + filepath.Join(root, "file") + " cannot be read: "},
		{"a lock file, no folder", filepath.Join(root, "none"), write(filepath.Join(root, "l", "plugins.lock"), 0o600), "the lock file " + filepath.Join(root, "l", "plugins.lock") + " exists"},
		{"a lock file that is a folder", filepath.Join(root, "none"), mkdir(filepath.Join(root, "lockdir")), "the lock file " + filepath.Join(root, "lockdir") + " exists"},
		{"a lock file past a file", filepath.Join(root, "none"), filepath.Join(root, "file", "plugins.lock"), "the lock file " + filepath.Join(root, "file", "plugins.lock") + " cannot be read: "},
	} {
		got := pluginsInUse(c.dir, c.lock)
		if c.want == "" && got != "" || c.want != "" && !strings.HasPrefix(got, c.want) {
			t.Errorf("%s: pluginsInUse = %q; want %q", c.name, got, c.want)
		}
	}
	// Many dot files, then a plugin: names are read past the first batch.
	many := mkdir(filepath.Join(root, "many"))
	for i := 0; i < 200; i++ {
		write(filepath.Join(many, "."+strconv.Itoa(i)), 0o600)
	}
	if got := pluginsInUse(many, lock); got != "" {
		t.Errorf("200 dot files: %q", got)
	}
	write(filepath.Join(many, "zz"), 0o755)
	if got := pluginsInUse(many, lock); got != "the plugins folder "+many+" holds zz" {
		t.Errorf("200 dot files and a plugin: %q", got)
	}
}

func TestFullBuildBeside(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	exe := filepath.Join(dir, "cairn")
	if _, err := fullBuildBeside(exe); err == nil || !strings.Contains(err.Error(), "there is no cairn-full beside "+exe+": install both binaries 'make build' makes") {
		t.Errorf("missing: %v", err)
	}
	full := filepath.Join(dir, fullBuildName)
	if err := os.WriteFile(full, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := fullBuildBeside(exe); err == nil || !strings.Contains(err.Error(), "is not an executable file") {
		t.Errorf("not executable: %v", err)
	}
	if err := os.Chmod(full, 0o755); err != nil {
		t.Fatal(err)
	}
	if got, err := fullBuildBeside(exe); err != nil || got != full {
		t.Errorf("fullBuildBeside = %q, %v; want %q", got, err, full)
	}
	if err := os.Remove(full); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(full, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := fullBuildBeside(exe); err == nil || !strings.Contains(err.Error(), "is not an executable file") {
		t.Errorf("a folder: %v", err)
	}
	if err := os.Remove(full); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "gone"), full); err != nil {
		t.Fatal(err)
	}
	if _, err := fullBuildBeside(exe); err == nil || !strings.Contains(err.Error(), full+" is a symbolic link to "+filepath.Join(dir, "gone")+", which does not exist") {
		t.Errorf("a dangling link: %v", err)
	}
}

// TestTakeHandedOff: the mark of a hand-off is read once and taken out of
// the environment, so that no process this one starts inherits it.
// (Not parallel: it sets the environment.)
func TestTakeHandedOff(t *testing.T) {
	defer func(was bool) { handedOff = was }(handedOff)
	defer func(was string) { handedOffBy = was }(handedOffBy)
	handedOff, handedOffBy = false, ""
	if err := checkHandOff(func() string { return "cairn 1.0" }); err != nil {
		t.Errorf("checkHandOff of a command not handed off: %v", err)
	}
	t.Setenv(envHandedOff, "cairn 1.0")
	takeHandedOff()
	_, still := os.LookupEnv(envHandedOff)
	if still || !handedOff || handedOffBy != "cairn 1.0" {
		t.Errorf("after takeHandedOff: handedOff %v by %q, %s still set: %v", handedOff, handedOffBy, envHandedOff, still)
	}
	if err := checkHandOff(func() string { return "cairn 1.0" }); err != nil {
		t.Errorf("checkHandOff of the same version: %v", err)
	}
	if err := checkHandOff(func() string { return "cairn 1.1" }); err == nil || !strings.Contains(err.Error(), `by a cairn of another version (CAIRN_HANDED_OFF="cairn 1.0" in the environment): install both binaries of one 'make build'`) {
		t.Errorf("checkHandOff of another version: %v", err)
	}
}
