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
	if used, _ := pluginsInUse(dir, lockFile); used {
		return nil, a.handOff(fmt.Sprintf("the plugin host (the plugins folder %s holds plugins)", dir))
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
	return a.handOff("the web server")
}

// cmdPlugins is cairn plugins, the full build's, as cmdServer is.
func cmdPlugins(ctx context.Context, a *app, args []string) error {
	fs, _ := a.pluginsFlagSet()
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	return a.handOff("the plugin host")
}

// handOff replaces this process by the full build beside it, with the
// same arguments, environment (and envHandedOff) and open files; what
// says what the command needs of it. It returns only when it cannot:
// cairn-full is missing, or is a lean build too.
func (a *app) handOff(what string) error {
	if handedOff {
		return fmt.Errorf("%s is in the full build, %s, but the %s this command was handed to is a lean build too: reinstall it from 'make build' (bin/%s)", what, fullBuildName, fullBuildName, fullBuildName)
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("%s is in the full build, %s, and this is the lean one: find this binary: %w", what, fullBuildName, err)
	}
	full, err := fullBuildBeside(exe)
	if err != nil {
		return fmt.Errorf("%s is in the full build, %s, and this is the lean one: %w", what, fullBuildName, err)
	}
	argv := append([]string{full}, os.Args[1:]...)
	err = syscall.Exec(full, argv, append(os.Environ(), envHandedOff+"="+implVersion()))
	return fmt.Errorf("%s is in the full build: start %s: %w", what, full, err)
}
