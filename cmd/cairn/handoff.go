package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// The lean build (`go build -tags lean`, what `make build` installs as
// bin/cairn) leaves out the web server (`cairn server`) and the plugin host
// (`cairn plugins`, and the task types of plugins): their libraries (gin,
// gRPC, protobuf, go-plugin) are two thirds of the binary and most of
// every start's work before main — package initialisation and the page
// faults of touching their code (docs/architecture.md, "Two builds").
// What needs them it hands off to the full build, cairn-full, installed
// beside it: the process execs cairn-full with the same arguments,
// environment and open files, before it has changed anything (handoff_lean.go).

// fullBuildName is the full build's file name, beside the lean one.
const fullBuildName = "cairn-full"

// envHandedOff marks a process started by a hand-off, so that a cairn-full
// that is itself a lean build is refused rather than handed off to again.
// main takes it out of the environment (takeHandedOff): the tasks a run
// starts, which may run cairn themselves, do not inherit it.
const envHandedOff = "CAIRN_HANDED_OFF"

// handedOff is whether this process was started by a hand-off.
var handedOff bool

// takeHandedOff reads envHandedOff into handedOff and removes it from
// the environment.
func takeHandedOff() {
	if _, ok := os.LookupEnv(envHandedOff); ok {
		handedOff = true
		os.Unsetenv(envHandedOff)
	}
}

// fullBuildBeside is the path of the full build beside the executable exe
// (a resolved path: os.Executable's), and an error saying what to do when
// there is no executable file there.
func fullBuildBeside(exe string) (string, error) {
	full := filepath.Join(filepath.Dir(exe), fullBuildName)
	fi, err := os.Stat(full)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("there is no %s beside %s: install both binaries 'make build' makes (bin/cairn and bin/%s) in one folder, or use a full build ('go install ./cmd/cairn')", fullBuildName, exe, fullBuildName)
	case err != nil:
		return "", fmt.Errorf("find the full build: %w", err)
	case !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0:
		return "", fmt.Errorf("%s is not an executable file: reinstall it from 'make build' (bin/%s)", full, fullBuildName)
	}
	return full, nil
}

// pluginsInUse reports whether the plugin host would have anything to do
// with the plugins folder dir and the lock file lockFile: the folder holds
// an entry the host looks at (any name not starting with a dot), or the
// lock file exists (a pinned plugin missing from the folder is a warning
// of the host's), or either cannot be read (the host says why). When it
// reports false, the host would serve no type and report no problem: the
// built-in types alone are what the full build would use.
func pluginsInUse(dir, lockFile string) (bool, error) {
	if _, err := os.Lstat(lockFile); err == nil || !errors.Is(err, fs.ErrNotExist) {
		return true, nil
	}
	f, err := os.Open(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return true, nil
	}
	defer f.Close()
	for {
		names, err := f.Readdirnames(64)
		for _, n := range names {
			if !strings.HasPrefix(n, ".") {
				return true, nil
			}
		}
		if err != nil {
			// io.EOF: every name read; another error: the host says.
			return !errors.Is(err, io.EOF), nil
		}
	}
}
