package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/artifacts"
	"github.com/cairnml/cairn/plugins"
	"github.com/cairnml/cairn/store/sqlite"
	"github.com/cairnml/cairn/store/sqlsource"
	"github.com/cairnml/cairn/tasks"
	"github.com/cairnml/cairn/tasks/clean"
	"github.com/cairnml/cairn/tasks/collect"
	"github.com/cairnml/cairn/tasks/evaluate"
	"github.com/cairnml/cairn/tasks/noop"
	"github.com/cairnml/cairn/tasks/predict"
	"github.com/cairnml/cairn/tasks/shell"
	"github.com/cairnml/cairn/tasks/split"
	"github.com/cairnml/cairn/tasks/train"
	"github.com/cairnml/cairn/tasks/tune"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailed  = 1 // the run did not succeed, or an operation failed
	exitBadFile = 2 // bad workflow file or bad usage
)

// usageError is bad command-line usage: exit 2 with the command's help.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// exitError carries a specific exit code out of a command.
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string { return e.err.Error() }

// app is the state shared by every command: where things live and the
// output streams.
type app struct {
	stdout, stderr io.Writer
	home           string // $CAIRN_HOME
	dbPath         string
	pluginsDir     string        // --plugins-dir; "" means HOME/plugins
	plugins        *plugins.Host // opened by taskTypes, closed when the command ends
}

type command struct {
	name, args, summary string
	run                 func(ctx context.Context, a *app, args []string) error
}

func commands() []command {
	return []command{
		{"run", "FILE [-p key=value]...", "run a workflow in the foreground, with live progress", cmdRun},
		{"validate", "FILE...", "check workflow files and print every problem", cmdValidate},
		{"graph", "FILE [--format mermaid|dot]", "print a workflow's DAG as Mermaid or Graphviz DOT", cmdGraph},
		{"runs", "[--workflow W] [--state S] [--limit N] [--before ID] [--json]", "list runs, newest first", cmdRuns},
		{"show", "RUN [--json]", "show a run and every task: state, attempts, duration, error, outputs, metrics", cmdShow},
		{"logs", "RUN TASK [--attempt N] [-f]", "print a task attempt's log (the latest by default); -f follows it", cmdLogs},
		{"artifact", "RUN TASK [OUTPUT] [-o FILE]", "write a task's artifact output (data, model, report, plot) to stdout or a file", cmdArtifact},
		{"cancel", "RUN", "cancel a run (its running tasks are stopped)", cmdCancel},
		{"resume", "RUN", "finish a run whose process died; succeeded tasks are not run again", cmdResume},
		{"migrate", "", "create or upgrade the database schema", cmdMigrate},
		{"types", "", "list the task types this binary knows and their params", cmdTypes},
		{"plugins", "list|lock [--json]", "list the plugins and their task types; pin their sha256 in the lock file", cmdPlugins},
	}
}

func usage(w io.Writer) {
	fmt.Fprintf(w, `cairn — an ML workflow orchestrator

Usage:
  cairn [--home DIR] [--db FILE] COMMAND [ARGS]

Commands:
`)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, `
Global flags (before the command):
  --home DIR   state folder (default $CAIRN_HOME, else ~/.cairn): database, artifacts, logs
  --db FILE    SQLite database file (default HOME/cairn.db)
  --plugins-dir DIR  plugin binaries (default HOME/plugins), pinned in HOME/plugins.lock (see 'cairn plugins')

Run 'cairn COMMAND --help' for a command's flags.
Exit status: 0 success, 1 a run or operation failed, 2 a bad workflow file or bad usage,
130 or 143 ended by Ctrl-C (SIGINT) or SIGTERM.
`)
}

// run is main without the process: it parses global flags, dispatches to a
// command and maps its error to an exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	a := &app{stdout: stdout, stderr: stderr}
	fs := flag.NewFlagSet("cairn", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { usage(stderr) }
	fs.StringVar(&a.home, "home", os.Getenv("CAIRN_HOME"), "state folder")
	fs.StringVar(&a.dbPath, "db", "", "SQLite database file")
	fs.StringVar(&a.pluginsDir, "plugins-dir", "", "plugins folder")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitBadFile
	}
	if fs.NArg() == 0 {
		usage(stderr)
		return exitBadFile
	}
	name, rest := fs.Arg(0), fs.Args()[1:]
	if name == "help" || name == "-h" {
		usage(stdout)
		return exitOK
	}
	for _, c := range commands() {
		if c.name != name {
			continue
		}
		err := c.run(ctx, a, rest)
		a.closePlugins()
		var ue usageError
		var ee exitError
		switch {
		case err == nil:
			return exitOK
		case errors.Is(err, flag.ErrHelp):
			return exitOK
		case errors.As(err, &ue):
			fmt.Fprintf(stderr, "cairn %s: %s\nusage: cairn %s %s\n", c.name, ue.msg, c.name, c.args)
			return exitBadFile
		case errors.As(err, &ee):
			if ee.err.Error() != "" {
				fmt.Fprintf(stderr, "cairn %s: %v\n", c.name, ee.err)
			}
			return ee.code
		default:
			fmt.Fprintf(stderr, "cairn %s: %v\n", c.name, err)
			return exitFailed
		}
	}
	fmt.Fprintf(stderr, "cairn: unknown command %q%s\n", name, suggest(name, commandNames()))
	usage(stderr)
	return exitBadFile
}

func commandNames() []string {
	var names []string
	for _, c := range commands() {
		names = append(names, c.name)
	}
	return names
}

// suggest returns ` (did you mean "x"?)` for the nearest of names, if close.
func suggest(s string, names []string) string {
	if n := tasks.Nearest(s, names); n != "" {
		return fmt.Sprintf(" (did you mean %q?)", n)
	}
	return ""
}

// newFlags returns a flag set for a command whose --help prints its usage.
func (a *app) newFlags(name, args, help string) *flag.FlagSet {
	fs := flag.NewFlagSet("cairn "+name, flag.ContinueOnError)
	fs.SetOutput(a.stderr)
	fs.Usage = func() {
		fmt.Fprintf(a.stderr, "usage: cairn %s %s\n\n%s\n", name, args, help)
		var any bool
		fs.VisitAll(func(*flag.Flag) { any = true })
		if any {
			fmt.Fprintln(a.stderr, "\nflags:")
			fs.PrintDefaults()
		}
	}
	return fs
}

// parseFlags parses args allowing flags after positional arguments
// (`cairn show RUN --json`), which the flag package alone does not.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, exitError{exitBadFile, err} // bad usage; fs printed the usage
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func (a *app) homeDir() (string, error) {
	if a.home != "" {
		return a.home, nil
	}
	h, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find home folder (set CAIRN_HOME or --home): %w", err)
	}
	return filepath.Join(h, ".cairn"), nil
}

func (a *app) databasePath() (string, error) {
	if a.dbPath != "" {
		return a.dbPath, nil
	}
	home, err := a.homeDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(home, "cairn.db"), nil
}

// openStore opens (creating and migrating) the database.
func (a *app) openStore(ctx context.Context) (*sqlite.Store, error) {
	path, err := a.databasePath()
	if err != nil {
		return nil, err
	}
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	return st, nil
}

// stores opens the artifact store and the log folder.
func (a *app) stores() (*artifacts.Dir, *artifacts.Logs, error) {
	home, err := a.homeDir()
	if err != nil {
		return nil, nil, err
	}
	arts, err := artifacts.Open(filepath.Join(home, "artifacts"))
	if err != nil {
		return nil, nil, fmt.Errorf("open artifact store: %w", err)
	}
	logs, err := artifacts.OpenLogs(filepath.Join(home, "logs"))
	if err != nil {
		return nil, nil, fmt.Errorf("open log folder: %w", err)
	}
	return arts, logs, nil
}

// registry is the set of task types this binary runs: built in explicitly
// here, never by init-time registration.
func registry() (*tasks.Registry, error) {
	return tasks.NewRegistry(shell.New(), noop.New(), clean.New(), split.New(),
		collect.New(collect.Options{SQL: sqlsource.New()}), tune.New(), train.New(), evaluate.New(), predict.New())
}

// pluginOptions says where the plugins and their lock file are.
func (a *app) pluginOptions() (plugins.Options, error) {
	home, err := a.homeDir()
	if err != nil {
		return plugins.Options{}, err
	}
	dir := a.pluginsDir
	if dir == "" {
		dir = filepath.Join(home, "plugins")
	}
	return plugins.Options{Dir: dir, LockFile: filepath.Join(home, "plugins.lock")}, nil
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
			fmt.Fprintf(a.stderr, "cairn: warning: %v\n", p)
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

// oneRun parses args with fs, wants exactly one positional argument — a
// run id or a unique prefix of one — and opens the store on that run. The
// caller closes the store.
func (a *app) oneRun(ctx context.Context, fs *flag.FlagSet, args []string) (*sqlite.Store, *cairn.Run, error) {
	pos, err := parseFlags(fs, args)
	if err != nil {
		return nil, nil, err
	}
	if len(pos) != 1 {
		return nil, nil, usageError{"want exactly one run id"}
	}
	return a.openRun(ctx, pos[0])
}

// openRun opens the store and reads the run that arg (an id or a unique
// prefix of one) names. The caller closes the store.
func (a *app) openRun(ctx context.Context, arg string) (*sqlite.Store, *cairn.Run, error) {
	st, err := a.openStore(ctx)
	if err != nil {
		return nil, nil, err
	}
	id, err := resolveRun(ctx, st, arg)
	if err == nil {
		var r *cairn.Run
		if r, err = st.GetRun(ctx, id); err == nil {
			return st, r, nil
		}
	}
	st.Close()
	return nil, nil, err
}

// resolveRun expands a run id prefix, with a helpful error.
func resolveRun(ctx context.Context, st *sqlite.Store, prefix string) (string, error) {
	id, err := st.ResolveRunID(ctx, prefix)
	switch {
	case errors.Is(err, cairn.ErrNotFound):
		return "", fmt.Errorf("no run %q (see 'cairn runs')", prefix)
	case errors.Is(err, cairn.ErrAmbiguous):
		return "", fmt.Errorf("run id %q matches several runs; give more characters", prefix)
	case err != nil:
		return "", err
	}
	return id, nil
}

func sortedKeys[M ~map[string]V, V any](m M) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i] + " …"
	}
	return s
}
