//go:build !lean

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/cairnml/cairn/plugins"
)

func cmdPlugins(ctx context.Context, a *app, args []string) error {
	fs, asJSON := a.pluginsFlagSet()
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{"want a subcommand: list or lock"}
	}
	o, err := a.pluginOptions()
	if err != nil {
		return err
	}
	switch pos[0] {
	case "list":
	case "lock":
		entries, err := plugins.LockFolder(ctx, o.Dir, o.LockFile)
		if err != nil {
			return err
		}
		n := 0
		for _, e := range entries {
			if e.Err == nil {
				n++
			}
		}
		fmt.Fprintf(a.stderr, "pinned %d plugin binaries of %s in %s\n", n, o.Dir, o.LockFile)
	default:
		return usageError{fmt.Sprintf("unknown subcommand %q: want list or lock", pos[0])}
	}
	return a.listPlugins(ctx, *asJSON)
}

// listPlugins starts the pinned plugins and prints what each provides.
func (a *app) listPlugins(ctx context.Context, asJSON bool) error {
	h, err := a.openPlugins(ctx)
	if err != nil {
		return err
	}
	reg, err := registry()
	if err != nil {
		return err
	}
	problems := append(h.Problems(), h.Compose(reg)...)
	list := h.Plugins()
	if asJSON {
		type jsonPlugin struct {
			Name     string   `json:"name"`
			Path     string   `json:"path"`
			SHA256   string   `json:"sha256,omitempty"`
			Version  string   `json:"version,omitempty"`
			Protocol int      `json:"protocol,omitempty"`
			Types    []string `json:"types"`
			Error    string   `json:"error,omitempty"`
		}
		out := struct {
			Plugins  []jsonPlugin `json:"plugins"`
			Problems []string     `json:"problems"`
		}{Plugins: []jsonPlugin{}, Problems: []string{}}
		for _, p := range list {
			jp := jsonPlugin{Name: p.Name, Path: p.Path, SHA256: p.SHA256, Version: p.Version, Protocol: p.Protocol, Types: []string{}}
			for _, t := range p.Types {
				jp.Types = append(jp.Types, t.Name)
			}
			if p.Err != nil {
				jp.Error = p.Err.Error()
			}
			out.Plugins = append(out.Plugins, jp)
		}
		for _, p := range problems {
			out.Problems = append(out.Problems, p.Error())
		}
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return err
		}
	} else {
		if len(list) == 0 {
			o, _ := a.pluginOptions()
			fmt.Fprintf(a.stdout, "no plugins in %s\n", o.Dir)
		} else {
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "PLUGIN\tVERSION\tPROTOCOL\tSHA256\tTYPES")
			for _, p := range list {
				var types []string
				for _, t := range p.Types {
					types = append(types, t.Name)
				}
				version, protocol, typeList := p.Version, fmt.Sprint(p.Protocol), strings.Join(types, ", ")
				if p.Err != nil {
					version, protocol, typeList = "-", "-", "(not loaded)"
				}
				sum := p.SHA256
				if sum == "" {
					sum = "-"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", printable(p.Name), printable(version), protocol, sum, typeList)
			}
			tw.Flush()
		}
		for _, p := range problems {
			fmt.Fprintf(a.stderr, "problem: %s\n", printableLines(p.Error()))
		}
	}
	if len(problems) > 0 {
		return exitError{exitFailed, errors.New("")}
	}
	return nil
}
