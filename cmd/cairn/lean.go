//go:build lean

package main

import (
	"context"
	"fmt"
	"os"
	"syscall"

	"github.com/cairnml/cairn/tasks"
)

// buildKind names this build in 'cairn version' (handoff.go).
const buildKind = "lean (cairn server, cairn plugins and plugin task types: " + fullBuildName + ")"

// pluginHost: the lean build opens no plugin host.
type pluginHost struct{}

func (a *app) closePlugins() {}

// taskTypes is the built-in types when the plugin host would add nothing
// to them (pluginsInUse); otherwise the command is handed off to the full
// build, which opens the plugins.
func (a *app) taskTypes(ctx context.Context) (*tasks.Registry, error) {
	dir, lockFile, err := a.pluginPaths()
	if err != nil {
		return nil, err
	}
	if why := pluginsInUse(dir, lockFile); why != "" {
		return nil, a.handOff(ctx, fmt.Sprintf("the plugin host (%s)", why))
	}
	return registry()
}

// cmdServer is cairn server, the full build's: its flags are parsed here
// (--help, a bad flag answered without it), then the command is handed off.
func cmdServer(ctx context.Context, a *app, args []string) error {
	fs, _ := a.serverFlagSet()
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	return a.handOff(ctx, "the web server")
}

// cmdPlugins is cairn plugins, the full build's, as cmdServer is.
func cmdPlugins(ctx context.Context, a *app, args []string) error {
	fs, _ := a.pluginsFlagSet()
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	return a.handOff(ctx, "the plugin host")
}

// handOff replaces this process by the full build beside it, with the
// same arguments, environment (and envHandedOff) and open files; what
// says what the command needs of it. It returns only when it does not
// hand off: cairn-full is missing, not executable, or a lean build too;
// or a signal caught before ends the command (interrupted).
func (a *app) handOff(ctx context.Context, what string) error {
	if handedOff {
		return fmt.Errorf("%s is in the full build, %s, but this lean build was itself started by a hand-off (%s=%q in its environment): the %s it was handed to is a lean build too; reinstall it from 'make build' (bin/%s)", what, fullBuildName, envHandedOff, handedOffBy, fullBuildName, fullBuildName)
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("%s is in the full build, %s, and this is the lean one: find this binary: %w", what, fullBuildName, err)
	}
	full, err := fullBuildBeside(exe)
	if err != nil {
		return fmt.Errorf("%s is in the full build, %s, and this is the lean one: %w", what, fullBuildName, err)
	}
	// A Ctrl-C or SIGTERM caught so far ends the command here, as it would
	// have ended it in cairn-full; from here one ends the process at once.
	if s := stopSignals(); s != 0 {
		return interrupted{s}
	}
	// argv[0] as this process was given it: ps shows the command the user
	// typed (its executable, /proc/PID/exe, is cairn-full).
	err = syscall.Exec(full, os.Args, append(os.Environ(), envHandedOff+"="+implVersion()))
	return fmt.Errorf("%s is in the full build: start %s: %w", what, full, err)
}
