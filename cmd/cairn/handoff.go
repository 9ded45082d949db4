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

// envHandedOff marks a process started by a hand-off, with the version of
// the lean build that handed it (implVersion): a cairn-full of another
// version refuses the command (checkHandOff: a run's attempts and cache
// keys name the version that ran them), and a cairn-full that is itself a
// lean build refuses it rather than hand it off again. main takes it out
// of the environment (takeHandedOff): the processes this one starts do
// not inherit it.
const envHandedOff = "CAIRN_HANDED_OFF"

// handedOff is whether this process was started by a hand-off, and
// handedOffBy the version of the build that handed it.
var (
	handedOff   bool
	handedOffBy string
)

// takeHandedOff reads envHandedOff into handedOff and handedOffBy and
// removes it from the environment.
func takeHandedOff() {
	if v, ok := os.LookupEnv(envHandedOff); ok {
		handedOff, handedOffBy = true, v
		os.Unsetenv(envHandedOff)
	}
}

// checkHandOff refuses a command handed to this binary by a build of
// another version: both must come from one 'make build'.
func checkHandOff(self string) error {
	if handedOff && handedOffBy != self {
		exe, _ := os.Executable()
		return fmt.Errorf("this command was handed to %s (%s) by a cairn of another version (%s): install both binaries of one 'make build', cairn and %s, in one folder", exe, self, handedOffBy, fullBuildName)
	}
	return nil
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
