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
		want      bool
	}{
		{"no folder, no lock", filepath.Join(root, "none"), lock, false},
		{"empty folder", mkdir(filepath.Join(root, "empty")), lock, false},
		{"dot files only", filepath.Dir(write(filepath.Join(root, "dots", ".cache"), 0o600)), lock, false},
		{"a plugin", filepath.Dir(write(filepath.Join(root, "one", "kmeans"), 0o755)), lock, true},
		{"a file the host would refuse", filepath.Dir(write(filepath.Join(root, "bad", "notes.txt"), 0o600)), lock, true},
		{"a folder that is a file", write(filepath.Join(root, "file"), 0o600), lock, true},
		{"a lock file, no folder", filepath.Join(root, "none"), write(filepath.Join(root, "l", "plugins.lock"), 0o600), true},
		{"a lock file that is a folder", filepath.Join(root, "none"), mkdir(filepath.Join(root, "lockdir")), true},
	} {
		got, err := pluginsInUse(c.dir, c.lock)
		if err != nil || got != c.want {
			t.Errorf("%s: pluginsInUse = %v, %v; want %v", c.name, got, err, c.want)
		}
	}
	// Many dot files, then a plugin: names are read past the first batch.
	many := mkdir(filepath.Join(root, "many"))
	for i := 0; i < 200; i++ {
		write(filepath.Join(many, "."+strconv.Itoa(i)), 0o600)
	}
	if got, _ := pluginsInUse(many, lock); got {
		t.Errorf("200 dot files: in use")
	}
	write(filepath.Join(many, "zz"), 0o755)
	if got, _ := pluginsInUse(many, lock); !got {
		t.Errorf("200 dot files and a plugin: not in use")
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
}

// TestTakeHandedOff: the mark of a hand-off is read once and taken out of
// the environment, so that no process this one starts inherits it.
// (Not parallel: it sets the environment.)
func TestTakeHandedOff(t *testing.T) {
	defer func(was bool) { handedOff = was }(handedOff)
	defer func(was string) { handedOffBy = was }(handedOffBy)
	handedOff, handedOffBy = false, ""
	if err := checkHandOff("cairn 1.0"); err != nil {
		t.Errorf("checkHandOff of a command not handed off: %v", err)
	}
	t.Setenv(envHandedOff, "cairn 1.0")
	takeHandedOff()
	_, still := os.LookupEnv(envHandedOff)
	if still || !handedOff || handedOffBy != "cairn 1.0" {
		t.Errorf("after takeHandedOff: handedOff %v by %q, %s still set: %v", handedOff, handedOffBy, envHandedOff, still)
	}
	if err := checkHandOff("cairn 1.0"); err != nil {
		t.Errorf("checkHandOff of the same version: %v", err)
	}
	if err := checkHandOff("cairn 1.1"); err == nil || !strings.Contains(err.Error(), "by a cairn of another version (cairn 1.0): install both binaries of one 'make build'") {
		t.Errorf("checkHandOff of another version: %v", err)
	}
}
