package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/lineage"
)

const lineageHelp = "Print where an artifact came from: the attempts that made it, what each read, back to the\n" +
	"first inputs (upstream, the default), or with --downstream everything made from it. ARTIFACT is a\n" +
	"digest (sha256:…) or a prefix of one with 8 hex digits or more; model:NAME@VERSION names a\n" +
	"registered model version (model:NAME, the one in production); RUN/TASK the task's last attempt\n" +
	"(RUN/TASK#N attempt N; RUN may be a prefix).\n\n" +
	"Formats: text (a tree: each attempt with its type, version and state, each artifact by port with\n" +
	"its short digest, size, media type and the model versions registered from it), json (the shape\n" +
	"docs/lineage.md describes), dot (Graphviz: cairn lineage X --format dot | dot -Tsvg > l.svg) and\n" +
	"openlineage (OpenLineage 2-0-2 run events, one a line: START and COMPLETE, FAIL or ABORT per\n" +
	"attempt). An artifact that several attempts wrote (identical bytes, a cache's reuse) is traced\n" +
	"through the first; the others are named. With --server, a cairn server's lineage."

func cmdLineage(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags("lineage", "ARTIFACT|model:NAME[@VERSION]|RUN/TASK[#N] [--downstream] [--depth N] [--format text|json|dot|openlineage]", lineageHelp)
	down := fs.Bool("downstream", false, "what was made from it, instead of what made it")
	depth := fs.Int("depth", 0, "at most this many attempts away (0: no bound)")
	format := fs.String("format", "text", "text, json, dot or openlineage")
	namespace := fs.String("namespace", "", "the OpenLineage namespace of the jobs (default cairn://HOST/HOME; a server uses its own)")
	rf := a.remoteFlags(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	rf.resolve(fs)
	if len(pos) != 1 {
		return usageError{"want one artifact digest (or prefix), model:NAME[@VERSION] or RUN/TASK[#N]"}
	}
	switch *format {
	case "text", "json", "dot", "openlineage":
	default:
		return usageError{fmt.Sprintf("unknown format %q: want text, json, dot or openlineage", *format)}
	}
	if *depth < 0 || *depth > lineage.MaxDepth {
		return usageError{fmt.Sprintf("--depth %d: want a whole number from 0 (no bound) to %d", *depth, lineage.MaxDepth)}
	}
	q := lineage.Query{Ref: pos[0], Direction: lineage.Upstream, Depth: *depth}
	if *down {
		q.Direction = lineage.Downstream
	}
	var (
		g      *lineage.Graph
		fields func(*lineage.Artifact) []string
	)
	if rf.remote() {
		if *namespace != "" {
			return usageError{"--namespace: with --server the server names its jobs"}
		}
		c, err := a.client(rf)
		if err != nil {
			return err
		}
		if *format == "openlineage" {
			rc, err := c.LineageEvents(ctx, q)
			if err != nil {
				return err
			}
			defer rc.Close()
			_, err = io.Copy(a.stdout, rc)
			return err
		}
		if g, err = c.Lineage(ctx, q); err != nil {
			return err
		}
	} else {
		st, err := a.openStore(ctx)
		if err != nil {
			return err
		}
		defer st.Close()
		g, err = lineage.Read(ctx, st, q)
		if err != nil {
			return lineageError(err)
		}
		if *format == "openlineage" {
			if arts, _, err := a.stores(); err == nil {
				fields = func(x *lineage.Artifact) []string {
					if !lineage.IsCSV(x.MediaType) {
						return nil
					}
					rc, err := arts.Open(ctx, x.Ref())
					if err != nil {
						return nil
					}
					defer rc.Close()
					cols, _ := lineage.CSVHeader(rc)
					return cols
				}
			}
			if *namespace == "" {
				if *namespace, err = a.lineageNamespace(); err != nil {
					return err
				}
			}
		}
	}
	switch *format {
	case "json":
		return lineage.WriteJSON(a.stdout, g)
	case "dot":
		return lineage.WriteDot(a.stdout, g)
	case "openlineage":
		return lineage.WriteOpenLineage(a.stdout, g, lineage.OLOptions{Namespace: *namespace, Fields: fields})
	}
	return lineage.WriteText(a.stdout, g)
}

// lineageError says what is wrong with a reference without the
// sentinels' words: a reference that reads as nothing is bad usage.
func lineageError(err error) error {
	msg := err.Error()
	for _, s := range []error{cairn.ErrNotFound, cairn.ErrAmbiguous} {
		if errors.Is(err, s) {
			return errors.New(strings.TrimSuffix(msg, ": "+s.Error()))
		}
	}
	if errors.Is(err, lineage.ErrBadRef) {
		return usageError{strings.TrimPrefix(msg, lineage.ErrBadRef.Error()+": ")}
	}
	return err
}

// lineageNamespace is the OpenLineage namespace of the home's jobs:
// cairn://HOST/ABSOLUTE-HOME.
func (a *app) lineageNamespace() (string, error) {
	home, err := a.homeDir()
	if err != nil {
		return "", err
	}
	if abs, err := filepath.Abs(home); err == nil {
		home = abs
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	return "cairn://" + host + filepath.ToSlash(home), nil
}
