//go:build !lean

package main

import (
	"context"
	"fmt"

	"github.com/cairnml/cairn/plugins"
	"github.com/cairnml/cairn/tasks"
)

// buildKind names this build in 'cairn version': the full build, with the
// web server and the plugin host (handoff.go).
const buildKind = "full"

// pluginHost is the plugin host a command opened (the lean build has
// none: lean.go).
type pluginHost = plugins.Host

// pluginOptions says where the plugins and their lock file are.
func (a *app) pluginOptions() (plugins.Options, error) {
	dir, lockFile, err := a.pluginPaths()
	if err != nil {
		return plugins.Options{}, err
	}
	return plugins.Options{Dir: dir, LockFile: lockFile}, nil
}

// openPlugins starts the plugin host once per command: it verifies and
// starts the pinned plugins of the plugins folder and keeps them running
// until the command ends. Problems with single plugins are printed as
// warnings; the other plugins and the built-in types still work.
func (a *app) openPlugins(ctx context.Context) (*plugins.Host, error) {
	if a.plugins != nil {
		return a.plugins, nil
	}
	o, err := a.pluginOptions()
	if err != nil {
		return nil, err
	}
	h, err := plugins.Open(ctx, o)
	if err != nil {
		return nil, fmt.Errorf("load plugins: %w", err)
	}
	a.plugins = h
	return h, nil
}

// taskTypes is the registry of built-in types composed with the plugins'
// types; a plugin type that clashes with a built-in one is reported and
// left out.
func (a *app) taskTypes(ctx context.Context) (*tasks.Registry, error) {
	reg, err := registry()
	if err != nil {
		return nil, err
	}
	fresh := a.plugins == nil
	h, err := a.openPlugins(ctx)
	if err != nil {
		return nil, err
	}
	problems := append(h.Problems(), h.Compose(reg)...)
	if fresh {
		for _, p := range problems {
			fmt.Fprintf(a.stderr, "cairn: warning: %s\n", printableLines(p.Error()))
		}
	}
	return reg, nil
}

// closePlugins stops every plugin process the command started.
func (a *app) closePlugins() {
	if a.plugins != nil {
		a.plugins.Close()
		a.plugins = nil
	}
}
