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
// environment and open files, before it has changed anything (lean.go).

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

// checkHandOff refuses, in the full build, a command handed to it by a
// build of another version than self's (implVersion, called only then):
// both must come from one 'make build'.
func checkHandOff(self func() string) error {
	if buildKind != "full" || !handedOff {
		return nil
	}
	if v := self(); handedOffBy != v {
		exe, _ := os.Executable()
		return fmt.Errorf("this command was handed to %s (%s) by a cairn of another version (%s=%q in the environment): install both binaries of one 'make build', cairn and %s, in one folder", exe, v, envHandedOff, handedOffBy, fullBuildName)
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
		if to, lerr := os.Readlink(full); lerr == nil {
			return "", fmt.Errorf("%s is a symbolic link to %s, which does not exist: install both binaries 'make build' makes (bin/cairn and bin/%s) in one folder", full, to, fullBuildName)
		}
		return "", fmt.Errorf("there is no %s beside %s: install both binaries 'make build' makes (bin/cairn and bin/%s) in one folder, or use a full build ('go install ./cmd/cairn')", fullBuildName, exe, fullBuildName)
	case err != nil:
		return "", fmt.Errorf("find the full build: %w", err)
	case !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0:
		return "", fmt.Errorf("%s is not an executable file: reinstall it from 'make build' (bin/%s)", full, fullBuildName)
	}
	return full, nil
}

// pluginsInUse says why the plugin host would have something to do with
// the plugins folder dir and the lock file lockFile, "" when it would not:
// the lock file exists (a pinned plugin missing from the folder is a
// warning of the host's), or the folder holds an entry the host looks at
// (any name not starting with a dot), or either cannot be read (the host
// says why). When it says "", the host would serve no type and report no
// problem: the built-in types alone are what the full build would use.
func pluginsInUse(dir, lockFile string) string {
	if _, err := os.Lstat(lockFile); err == nil {
		return "the lock file " + lockFile + " exists"
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Sprintf("the lock file %s cannot be read: %v", lockFile, err)
	}
	f, err := os.Open(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return ""
	}
	if err != nil {
		return fmt.Sprintf("the plugins folder %s cannot be read: %v", dir, err)
	}
	defer f.Close()
	for {
		names, err := f.Readdirnames(64)
		for _, n := range names {
			if !strings.HasPrefix(n, ".") {
				return fmt.Sprintf("the plugins folder %s holds %s", dir, n)
			}
		}
		if errors.Is(err, io.EOF) {
			return ""
		}
		if err != nil {
			return fmt.Sprintf("the plugins folder %s cannot be read: %v", dir, err)
		}
	}
}
